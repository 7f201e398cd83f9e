/**
 * TLS for the loop's stream methods (package-internal): the `ssl=` argument
 * rules of `createConnection`/`createServer`/... and `startTls`, the
 * handshake and its timeout, and the two ways a connection becomes TLS.
 * Both use `node:tls`, whose socket can be destroyed at any time: a
 * `Deno.TlsConn` closed while its handshake is pending keeps its TCP socket
 * open until the peer acts (Deno's handshake task owns it), which would let
 * a silent peer outlive any handshake timeout.
 *
 * - **Over the connection**: a fresh connection (every TCP and Unix client,
 *   every connection a TLS server accepts) is read and written by the
 *   `node:tls` socket directly. A failed, timed-out or cancelled handshake
 *   closes the connection at once.
 * - **Over a transport**: `startTls` on either side, or a socket that
 *   already holds received bytes: the `node:tls` socket rides on the plain
 *   transport (asyncio's `SSLProtocol` rides on one the same way).
 *
 * Either way the transport reports `peercert` and `cipher`.
 *
 * @module
 */
import type * as tls from "node:tls";
import type { Duplex } from "node:stream";
import { nodeBuiltin } from "./base/node_builtins.ts";
import type { TransportLoop } from "./transports/transport_loop.ts";
import { concat } from "./base/bytes.ts";
import type { Future } from "./core/futures.ts";
import { logger } from "./base/log.ts";
import { closeQuietly } from "./base/resources.ts";
import { checkOptionKeys, optionKeys } from "./base/options.ts";
import { isIPv4, isIPv6 } from "./net/addrinfo.ts";
import { connNames, type Socket, type StreamConn } from "./net/socket.ts";
import { NodeConn } from "./net/node_conn.ts";
import { SSLContext } from "./net/ssl_context.ts";
import { Protocol } from "../protocols/protocol.ts";
import type { BaseProtocol } from "../protocols/protocol.ts";
import { SocketTransport } from "./transports/socket_transport.ts";
import {
  type TlsConnectionOwner,
  TlsTransport,
} from "./transports/tls_transport.ts";
import { connectionMade, type Transport } from "../transports/transport.ts";

/** `node:tls` and `node:stream`, loaded by the first TLS use. */
const nodeTls = () => nodeBuiltin<typeof tls>("node:tls");
const nodeStream = () => nodeBuiltin<{ Duplex: typeof Duplex }>("node:stream");

/** asyncio's defaults, in seconds. */
const HANDSHAKE_TIMEOUT = 60;
const SHUTDOWN_TIMEOUT = 30;

/** The `ssl`-related options of the stream methods. */
export interface TlsArgs {
  ssl?: unknown;
  serverHostname?: string | null;
  sslHandshakeTimeout?: number | null;
  sslShutdownTimeout?: number | null;
}

/** Checked TLS settings of one connection. */
export interface TlsParams {
  ctx: SSLContext;
  serverSide: boolean;
  /** The name to check and send (SNI); "" means: no hostname check. */
  serverHostname: string;
  handshakeTimeout: number;
  shutdownTimeout: number;
}

function checkTimeout(
  value: unknown,
  name: string,
  fallback: number,
): number {
  if (value == null) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `${name} must be a number of seconds, got ${typeof value}`,
    );
  }
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${name} should be a positive number, got ${value}`);
  }
  return value;
}

/** The handshake and shutdown timeouts of `args`, checked, or the defaults. */
function checkTimeouts(
  args: TlsArgs,
): Pick<TlsParams, "handshakeTimeout" | "shutdownTimeout"> {
  return {
    handshakeTimeout: checkTimeout(
      args.sslHandshakeTimeout,
      "sslHandshakeTimeout",
      HANDSHAKE_TIMEOUT,
    ),
    shutdownTimeout: checkTimeout(
      args.sslShutdownTimeout,
      "sslShutdownTimeout",
      SHUTDOWN_TIMEOUT,
    ),
  };
}

function wantsTls(ssl: unknown): boolean {
  return ssl != null && ssl !== false;
}

/** Refuses TLS-only options without `ssl`. */
function checkNoTlsOptions(args: TlsArgs, client: boolean): void {
  if (client && args.serverHostname != null) {
    throw new RangeError("serverHostname is only meaningful with ssl");
  }
  if (args.sslHandshakeTimeout != null) {
    throw new RangeError("sslHandshakeTimeout is only meaningful with ssl");
  }
  if (args.sslShutdownTimeout != null) {
    throw new RangeError("sslShutdownTimeout is only meaningful with ssl");
  }
}

/**
 * The client-side TLS settings of `createConnection`/`createUnixConnection`
 * (asyncio's rules), or null without `ssl`.
 *
 * @param host The host connected to (the default server name), or null.
 * @param unix Unix connections need an explicit `serverHostname`.
 */
export function clientTls(
  method: string,
  args: TlsArgs,
  host: string | null | undefined,
  unix = false,
): TlsParams | null {
  if (!wantsTls(args.ssl)) {
    checkNoTlsOptions(args, true);
    return null;
  }
  let ctx: SSLContext;
  if (args.ssl === true) ctx = new SSLContext();
  else if (args.ssl instanceof SSLContext) ctx = args.ssl;
  else {
    throw new TypeError(
      `${method}: ssl must be true, false, null or an SSLContext (see createDefaultContext()), got ${typeof args
        .ssl}`,
    );
  }
  let name = args.serverHostname;
  if (name != null && typeof name !== "string") {
    throw new TypeError(
      `${method}: serverHostname must be a string, got ${typeof name}`,
    );
  }
  if (name == null) {
    if (unix) {
      throw new RangeError(
        `${method}: you have to pass serverHostname when using ssl over a Unix socket`,
      );
    }
    if (!host) {
      throw new RangeError(
        `${method}: you must set serverHostname when using ssl without a host (pass "" to skip the hostname check)`,
      );
    }
    name = host;
  }
  return {
    ctx,
    serverSide: false,
    serverHostname: name,
    ...checkTimeouts(args),
  };
}

function serverContext(method: string, ssl: unknown): SSLContext {
  if (!(ssl instanceof SSLContext)) {
    throw new TypeError(
      `${method}: ssl must be an SSLContext with a certificate (createDefaultContext({ purpose: "clientAuth", cert, key })), got ${
        ssl === true ? "true" : typeof ssl
      }`,
    );
  }
  if (ssl.cert === null || ssl.key === null) {
    throw new RangeError(
      `${method}: the SSLContext has no certificate: pass cert and key, or call loadCertChain()`,
    );
  }
  return ssl;
}

/**
 * The server-side TLS settings of `createServer`/`createUnixServer`/
 * `connectAcceptedSocket`, or null without `ssl`.
 */
export function serverTls(method: string, args: TlsArgs): TlsParams | null {
  if (!wantsTls(args.ssl)) {
    checkNoTlsOptions(args, false);
    return null;
  }
  return {
    ctx: serverContext(method, args.ssl),
    serverSide: true,
    serverHostname: "",
    ...checkTimeouts(args),
  };
}

// ---- waiting on Deno promises from the loop --------------------------------

/** A loop future settled by `promise`, counted as I/O waiting on a peer. */
function onLoop<T>(loop: TransportLoop, promise: Promise<T>): Future<T> {
  const future = loop.createFuture<T>();
  const registration = loop._dispatcher.register("tls");
  registration.beginWait();
  promise.then(
    (value) => {
      registration.endWait();
      registration.post(() => {
        registration.close();
        if (!future.done()) future.setResult(value);
      });
    },
    (error) => {
      registration.endWait();
      registration.post(() => {
        registration.close();
        if (!future.done()) future._setExceptionUnchecked(error);
      });
    },
  );
  return future;
}

function handshakeTimeoutError(seconds: number): Error {
  return new Deno.errors.ConnectionAborted(
    `SSL handshake is taking longer than ${seconds} seconds: aborting the connection`,
  );
}

/**
 * Runs `handshake` with the timeout. Whatever ends it other than success
 * (the timeout, `abort`, the handshake's own error, the task's
 * cancellation) calls `cancel`, which tears the connection down at once; a
 * timeout or an abort then fails with `ConnectionAborted`.
 */
async function withTimeout<T>(
  loop: TransportLoop,
  handshake: Promise<T>,
  params: TlsParams,
  cancel: () => void,
  aborter?: { abort?: () => void },
): Promise<T> {
  const result = onLoop(loop, handshake);
  let failure: Error | null = null;
  const stop = (error: Error) => {
    if (result.done()) return;
    failure = error;
    cancel();
  };
  const timer = loop.callLater(
    params.handshakeTimeout,
    () => stop(handshakeTimeoutError(params.handshakeTimeout)),
  );
  if (aborter !== undefined) {
    aborter.abort = () =>
      stop(
        new Deno.errors.ConnectionAborted(
          "the connection was closed during the TLS handshake",
        ),
      );
  }
  try {
    return await result;
  } catch (error) {
    cancel();
    throw failure ?? tlsError(error, params);
  } finally {
    timer.cancel();
    if (aborter !== undefined) aborter.abort = undefined;
  }
}

/**
 * Names the failure; certificate errors say so, as asyncio's log does, with
 * `node:tls`'s code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ...).
 */
function tlsError(error: unknown, params: TlsParams): unknown {
  if (!(error instanceof Error)) return error;
  const text = error.message;
  const code = (error as { code?: unknown }).code;
  if (error instanceof Deno.errors.InvalidData || typeof code === "string") {
    const certificate = /certif|altname|self.signed|issuer|verify/i.test(
      text + String(code ?? ""),
    );
    const what = certificate
      ? "SSL handshake failed on verifying the certificate"
      : "SSL handshake failed";
    let reason = text;
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID" && !params.serverSide) {
      reason = `certificate is not valid for name ${
        JSON.stringify(params.serverHostname)
      } (${text})`;
    } else if (certificate && typeof code === "string") {
      reason = `${text} (${code})`;
    }
    const wrapped = new Deno.errors.InvalidData(
      `${what}${
        params.serverSide
          ? ""
          : ` (server ${JSON.stringify(params.serverHostname)})`
      }: ${reason}`,
    );
    (wrapped as { cause?: unknown }).cause = error;
    return wrapped;
  }
  return error;
}

// ---- node:tls ---------------------------------------------------------------

/** A context made for one setting of an `SSLContext` (PEM parsing is slow). */
interface MadeContext {
  serverSide: boolean;
  cert: string | null;
  key: string | null;
  caCerts: string[];
  context: tls.SecureContext;
}

const madeContexts = new WeakMap<SSLContext, MadeContext>();

/** The `node:tls` context of `ctx` for one side, made again if it changed. */
function secureContext(
  ctx: SSLContext,
  serverSide: boolean,
): tls.SecureContext {
  const made = madeContexts.get(ctx);
  if (
    made !== undefined && made.serverSide === serverSide &&
    made.cert === ctx.cert && made.key === ctx.key &&
    made.caCerts.length === ctx.caCerts.length &&
    made.caCerts.every((ca, i) => ca === ctx.caCerts[i])
  ) {
    return made.context;
  }
  const options: tls.SecureContextOptions = {};
  if (ctx.cert !== null) {
    options.cert = ctx.cert;
    options.key = ctx.key!;
  }
  // As Python's create_default_context(cadata=...): given CAs replace the
  // default roots. (Adding Node's ~140 roots to them would also cost
  // ~15 ms per handshake: Deno's node:tls parses its `ca` list each time.)
  if (!serverSide && ctx.caCerts.length > 0) options.ca = [...ctx.caCerts];
  const context = nodeTls().createSecureContext(options);
  madeContexts.set(ctx, {
    serverSide,
    cert: ctx.cert,
    key: ctx.key,
    caCerts: [...ctx.caCerts],
    context,
  });
  return context;
}

/**
 * The `node:tls` socket of `params`' side over `stream`, and a promise
 * settled by its handshake.
 *
 * @param peername The peer's address: the name checked when
 * `serverHostname` is "".
 */
function tlsSocket(
  stream: Duplex,
  params: TlsParams,
  peername: unknown,
): { socket: tls.TLSSocket; ready: Promise<void> } {
  const { ctx } = params;
  let socket: tls.TLSSocket;
  let ready: Promise<void>;
  if (params.serverSide) {
    socket = new (nodeTls().TLSSocket)(stream, {
      isServer: true,
      secureContext: secureContext(ctx, true),
      ALPNProtocols: ctx.alpnProtocols ?? undefined,
    });
    ready = settled(socket, "secure");
  } else {
    let host = params.serverHostname;
    if (host === "") {
      host = Array.isArray(peername) ? String(peername[0]) : "localhost";
    }
    const options: tls.ConnectionOptions = {
      socket: stream,
      host,
      rejectUnauthorized: true,
      secureContext: secureContext(ctx, false),
    };
    if (!isIPv4(host) && !isIPv6(host)) options.servername = host;
    if (ctx.alpnProtocols !== null) options.ALPNProtocols = ctx.alpnProtocols;
    if (!ctx.checkHostname || params.serverHostname === "") {
      options.checkServerIdentity = () => undefined;
    }
    socket = nodeTls().connect(options);
    ready = settled(socket, "secureConnect");
  }
  // Errors after the first are reported by reads and writes, not thrown.
  socket.on("error", () => {});
  // Deno's node:tls does not pass on an error of the stream beneath (a
  // reset, a broken pipe): without this, the TLS socket's pending read
  // would wait forever for a peer that is gone.
  stream.on("error", (error: Error) => {
    if (!socket.destroyed) socket.destroy(error);
  });
  return { socket, ready };
}

/** A TLS transport's extra info once `socket`'s handshake is done. */
function tlsExtra(
  socket: tls.TLSSocket,
  params: TlsParams,
  names: { sockname: unknown; peername: unknown },
  sock: unknown,
): Record<string, unknown> {
  const alpn = socket.alpnProtocol;
  return {
    socket: sock,
    sockname: names.sockname,
    peername: names.peername,
    sslcontext: params.ctx,
    peercert: peercertOf(socket),
    cipher: cipherOf(socket),
    compression: null,
    ssl_object: socket,
    sslObject: socket,
    alpnProtocol: typeof alpn === "string" ? alpn : null,
    serverSide: params.serverSide,
    serverHostname: params.serverSide ? null : params.serverHostname,
  };
}

// ---- over the connection ---------------------------------------------------

/** Ciphertext asked of the connection per read. */
const CIPHERTEXT_READ = 64 * 1024;

/** Whether `sock`'s connection is untouched: no read started, none landed. */
function fresh(sock: Socket): boolean {
  return sock._conn !== null && sock._pending === null &&
    sock._rbytes === 0 && !sock._eof;
}

async function writeAll(conn: StreamConn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await conn.write(data.subarray(offset));
  }
}

/**
 * The ciphertext side of a `node:tls` socket: a stream over `conn` itself.
 * Ending it sends nothing (TLS may still receive the peer's close_notify);
 * destroying it closes `conn`.
 */
function connStream(conn: StreamConn): Duplex {
  const buffer = new Uint8Array(CIPHERTEXT_READ);
  const stream: Duplex = new (nodeStream().Duplex)({
    read() {
      conn.read(buffer).then(
        (n) => {
          if (!stream.destroyed) {
            stream.push(n === null ? null : buffer.slice(0, n));
          }
        },
        (error) => stream.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), callback);
    },
    writev(chunks: { chunk: Uint8Array }[], callback) {
      const data = concat(
        chunks.map((c) => c.chunk),
        chunks.reduce((n, c) => n + c.chunk.length, 0),
      );
      writeAll(conn, data).then(() => callback(), callback);
    },
    final: (callback) => callback(),
    destroy: (error, callback) => {
      closeQuietly(conn);
      callback(error);
    },
  });
  return stream;
}

/**
 * A `node:tls` socket over a connection, seen as a `StreamConn`: closing it
 * closes the connection too, and the TCP options go to the connection.
 */
class TlsOverConn extends NodeConn {
  /** Settled once the connection beneath is closed. */
  readonly closed: Promise<null>;
  /** Whether the connection beneath is closed. */
  rawClosed = false;
  readonly #raw: StreamConn;
  readonly #flushSeconds: number;
  #markClosed!: (value: null) => void;
  #closing = false;

  /**
   * @param flushSeconds How long `close()` may wait for a close_notify on
   * its way out to reach the connection.
   */
  constructor(socket: tls.TLSSocket, raw: StreamConn, flushSeconds: number) {
    super(socket, raw.localAddr, raw.remoteAddr);
    this.#raw = raw;
    this.#flushSeconds = flushSeconds;
    this.closed = new Promise((resolve) => this.#markClosed = resolve);
  }

  /**
   * Closes the TLS socket and the connection; if the TLS socket is still
   * sending its close_notify (after `closeWrite()`, or its answer to the
   * peer's), once that is out.
   */
  override close(): void {
    if (this.#closing) return;
    this.#closing = true;
    const socket = this.socket;
    if (
      socket.destroyed || !socket.writableEnded || socket.writableFinished
    ) {
      this.#finish();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      socket.off("finish", done);
      socket.off("close", done);
      this.#finish();
    };
    const timer = setTimeout(done, this.#flushSeconds * 1000);
    // As the connection itself, the wait does not keep the process alive.
    (timer as { unref?: () => void }).unref?.();
    socket.once("finish", done);
    socket.once("close", done);
  }

  #finish(): void {
    super.close();
    closeQuietly(this.#raw);
    this.rawClosed = true;
    this.#markClosed(null);
  }

  override setNoDelay(noDelay = true): void {
    this.#raw.setNoDelay?.(noDelay);
  }

  override setKeepAlive(keepAlive = true): void {
    this.#raw.setKeepAlive?.(keepAlive);
  }
}

/**
 * Runs a `node:tls` handshake that reads and writes `sock`'s connection
 * (fresh: see `fresh`). On success the socket's connection becomes the TLS
 * one (closing the socket closes both). Any failure closes the socket at
 * once.
 */
async function connHandshake(
  loop: TransportLoop,
  sock: Socket,
  params: TlsParams,
  aborter?: { abort?: () => void },
): Promise<
  { conn: TlsOverConn; sock: Socket; extra: Record<string, unknown> }
> {
  const raw = sock._conn!;
  const names = connNames(raw);
  const { socket, ready } = tlsSocket(connStream(raw), params, names.peername);
  await withTimeout(loop, ready, params, () => {
    socket.destroy();
    sock.close();
  }, aborter);
  const conn = new TlsOverConn(socket, raw, params.shutdownTimeout);
  sock._conn = conn;
  return { conn, sock, extra: tlsExtra(socket, params, names, sock) };
}

/** A TLS transport over `connHandshake`'s connection. */
function connTransport(
  loop: TransportLoop,
  protocol: BaseProtocol,
  done: { conn: TlsOverConn; sock: Socket; extra: Record<string, unknown> },
  params: TlsParams,
  waiter: Future<null> | null,
  server: TlsConnectionOwner | null,
): TlsTransport {
  const { conn } = done;
  return new TlsTransport(loop, protocol, {
    conn,
    sock: done.sock,
    extra: done.extra,
    shutdownTimeout: params.shutdownTimeout,
    waiter,
    server,
    closeUnderlying: () => {
      if (!conn.rawClosed) return onLoop(loop, conn.closed);
      const closed = loop.createFuture<null>();
      closed.setResult(null);
      return closed;
    },
  });
}

// ---- over a transport -----------------------------------------------------

/**
 * The plain transport's protocol while TLS rides on it: bytes go into an
 * in-memory stream that a `node:tls` socket reads, and what that socket
 * writes goes to the transport (asyncio's `SSLProtocol`, transport side).
 */
class Carrier extends Protocol {
  readonly stream: Duplex;
  transport: Transport | null = null;
  #writePaused = false;
  #waiting: ((error?: Error | null) => void)[] = [];
  readonly lost: Future<null>;

  constructor(loop: TransportLoop) {
    super();
    this.lost = loop.createFuture<null>();
    this.stream = new (nodeStream().Duplex)({
      read: () => this.transport?.resumeReading(),
      write: (chunk: Uint8Array, _encoding, callback) => {
        const transport = this.transport;
        if (transport === null || transport.isClosing()) {
          callback(new Deno.errors.BrokenPipe("the connection is closed"));
          return;
        }
        transport.write(new Uint8Array(chunk));
        if (this.#writePaused) this.#waiting.push(callback);
        else callback();
      },
      final: (callback) => callback(),
      destroy: (error, callback) => {
        this.transport?.close();
        callback(error);
      },
    });
  }

  override connectionMade(transport: object): void {
    this.transport = transport as Transport;
  }

  override dataReceived(data: Uint8Array): void {
    if (!this.stream.push(data)) this.transport?.pauseReading();
  }

  override eofReceived(): boolean {
    this.stream.push(null);
    // Stay open: TLS may still send its close_notify. A transport that
    // cannot half-close (TLS beneath TLS) closes whatever this returns, and
    // warns when asked to stay open: don't ask it.
    return this.transport?.canWriteEof() ?? true;
  }

  override pauseWriting(): void {
    this.#writePaused = true;
  }

  override resumeWriting(): void {
    this.#writePaused = false;
    for (const callback of this.#waiting.splice(0)) callback();
  }

  override connectionLost(error: Error | null): void {
    for (const callback of this.#waiting.splice(0)) {
      callback(error ?? new Deno.errors.BrokenPipe("the connection is lost"));
    }
    if (!this.stream.destroyed) {
      this.stream.push(null);
      this.stream.destroy(error ?? undefined);
    }
    if (!this.lost.done()) this.lost.setResult(null);
  }
}

const LONG_NAMES: Record<string, string> = {
  CN: "commonName",
  O: "organizationName",
  OU: "organizationalUnitName",
  C: "countryName",
  ST: "stateOrProvinceName",
  L: "localityName",
  emailAddress: "emailAddress",
};

/** `getPeerCertificate()` in the shape of Python's `getpeercert()`. */
function peercertOf(socket: tls.TLSSocket): Record<string, unknown> | null {
  const cert = socket.getPeerCertificate() as unknown as
    | Record<string, unknown>
    | null;
  if (cert == null || Object.keys(cert).length === 0) return null;
  const rdn = (value: unknown) =>
    Object.entries((value ?? {}) as Record<string, unknown>).map((
      [key, v],
    ) => [[LONG_NAMES[key] ?? key, String(v)]]);
  const san = typeof cert.subjectaltname === "string"
    ? cert.subjectaltname.split(/,\s*/).filter((s) => s.length > 0).map(
      (entry) => {
        const i = entry.indexOf(":");
        return [entry.slice(0, i), entry.slice(i + 1)];
      },
    )
    : [];
  return {
    subject: rdn(cert.subject),
    issuer: rdn(cert.issuer),
    serialNumber: cert.serialNumber ?? null,
    notBefore: cert.valid_from ?? null,
    notAfter: cert.valid_to ?? null,
    subjectAltName: san,
    fingerprint256: cert.fingerprint256 ?? null,
  };
}

/** `getCipher()` as Python's `cipher()`: `[name, protocol, secret bits]`. */
function cipherOf(
  socket: tls.TLSSocket,
): [string, string, number | null] | null {
  const cipher = socket.getCipher() as
    | { name?: string; version?: string }
    | null;
  if (cipher == null || typeof cipher.name !== "string") return null;
  const bits = /256|CHACHA20/.test(cipher.name)
    ? 256
    : /128/.test(cipher.name)
    ? 128
    : null;
  return [cipher.name, cipher.version ?? "", bits];
}

function denoAddr(value: unknown): Deno.Addr {
  if (typeof value === "string") return { transport: "unix", path: value };
  if (Array.isArray(value)) {
    return {
      transport: "tcp",
      hostname: String(value[0]),
      port: Number(value[1]),
    };
  }
  return { transport: "tcp", hostname: "", port: 0 };
}

/**
 * Runs a `node:tls` handshake over `transport` (taking it over with a
 * carrier protocol, as asyncio's `start_tls` does) and returns what a
 * `TlsTransport` needs. Any failure aborts the transport at once.
 */
async function engineHandshake(
  loop: TransportLoop,
  transport: Transport,
  params: TlsParams,
  aborter?: { abort?: () => void },
): Promise<{
  conn: NodeConn;
  extra: Record<string, unknown>;
  carrier: Carrier;
}> {
  const carrier = new Carrier(loop);
  transport.pauseReading();
  transport.setProtocol(carrier);
  // node:tls writes its first flight at once: the carrier needs the
  // transport now, not when the loop gets to connectionMade.
  carrier.connectionMade(transport);
  loop.callSoon(() => transport.resumeReading());
  const names = {
    sockname: transport.getExtraInfo("sockname"),
    peername: transport.getExtraInfo("peername"),
  };
  const { socket, ready } = tlsSocket(carrier.stream, params, names.peername);
  try {
    await withTimeout(loop, ready, params, () => {
      socket.destroy();
      transport.abort();
    }, aborter);
  } catch (error) {
    await carrier.lost;
    throw error;
  }
  const conn = new NodeConn(
    socket,
    denoAddr(names.sockname),
    denoAddr(names.peername),
  );
  return {
    conn,
    carrier,
    extra: tlsExtra(socket, params, names, transport.getExtraInfo("socket")),
  };
}

/** Resolves on `event`; rejects on an error or an early close. */
function settled(socket: tls.TLSSocket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      socket.off("error", failed);
      socket.off("close", closed);
      socket.off("end", closed);
      resolve();
    };
    const failed = (error: Error) => {
      socket.off(event, done);
      reject(error);
    };
    const closed = () => {
      socket.off(event, done);
      reject(
        new Deno.errors.ConnectionReset(
          "the peer closed the connection during the TLS handshake",
        ),
      );
    };
    socket.once(event, done);
    socket.once("error", failed);
    socket.once("close", closed);
    socket.once("end", closed);
  });
}

/** A TLS transport over an engine handshake. */
function engineTransport(
  loop: TransportLoop,
  protocol: BaseProtocol,
  done: Awaited<ReturnType<typeof engineHandshake>>,
  params: TlsParams,
  waiter: Future<null> | null,
  server: TlsConnectionOwner | null,
  callConnectionMade: boolean,
): TlsTransport {
  const { conn, carrier } = done;
  return new TlsTransport(loop, protocol, {
    conn,
    sock: null,
    extra: done.extra,
    shutdownTimeout: params.shutdownTimeout,
    waiter,
    server,
    callConnectionMade,
    closeUnderlying: () => {
      carrier.transport?.close();
      return carrier.lost;
    },
  });
}

// ---- the loop's entry points -----------------------------------------------

/**
 * The client side of `createConnection`/`createUnixConnection` over a
 * connected socket: handshake, then a `TlsTransport` and its protocol. On
 * any failure, cancellation included, the socket is closed at once.
 */
export async function tlsConnect<P extends BaseProtocol>(
  loop: TransportLoop,
  sock: Socket,
  protocolFactory: () => P,
  params: TlsParams,
): Promise<[Transport, P]> {
  let transport: TlsTransport;
  let protocol: P;
  const waiter = loop.createFuture<null>();
  if (fresh(sock)) {
    let done: Awaited<ReturnType<typeof connHandshake>>;
    try {
      done = await connHandshake(loop, sock, params);
      protocol = protocolFactory();
    } catch (error) {
      sock.close();
      throw error;
    }
    transport = connTransport(loop, protocol, done, params, waiter, null);
  } else {
    const plain = new SocketTransport(loop, sock, new Protocol());
    const done = await engineHandshake(loop, plain, params);
    try {
      protocol = protocolFactory();
    } catch (error) {
      done.conn.close();
      plain.abort();
      throw error;
    }
    transport = engineTransport(
      loop,
      protocol,
      done,
      params,
      waiter,
      null,
      true,
    );
  }
  return await connectionMade(transport, protocol, waiter, () => {
    transport.abort();
  });
}

/**
 * The server side: a connection accepted by a TLS server (or handed to
 * `connectAcceptedSocket`). A failed handshake closes the connection at
 * once; as in asyncio it is logged in debug mode and goes to the exception
 * handler only in debug mode, and the server carries on.
 *
 * @returns the transport, or rejects with the handshake's error.
 */
export async function tlsAccept(
  loop: TransportLoop,
  sock: Socket,
  protocol: BaseProtocol,
  params: TlsParams,
  server: TlsConnectionOwner | null,
  waiter: Future<null> | null,
): Promise<TlsTransport> {
  // While the handshake runs, the server can close the connection.
  const aborter: { abort?: () => void } = {};
  const pending = {
    close: () => aborter.abort?.(),
    abort: () => aborter.abort?.(),
  };
  server?._attach(pending);
  try {
    if (fresh(sock)) {
      const done = await connHandshake(loop, sock, params, aborter);
      return connTransport(loop, protocol, done, params, waiter, server);
    }
    const plain = new SocketTransport(loop, sock, new Protocol());
    const done = await engineHandshake(loop, plain, params, aborter);
    return engineTransport(loop, protocol, done, params, waiter, server, true);
  } catch (error) {
    sock.close();
    throw error;
  } finally {
    server?._detach(pending);
  }
}

/** A server's accept path: hands the connection over, reports failures. */
export function serveTls(
  loop: TransportLoop,
  sock: Socket,
  protocol: BaseProtocol,
  params: TlsParams,
  server: TlsConnectionOwner,
): void {
  tlsAccept(loop, sock, protocol, params, server, null).catch((error) => {
    if (loop.getDebug()) {
      logger.debug(`TLS handshake failed on an incoming connection: ${error}`);
      loop.callExceptionHandler({
        message: "Error on transport creation for incoming connection",
        exception: error,
        protocol,
      });
    }
  });
}

import type { StartTlsOptions } from "./core/options.ts";
export type { StartTlsOptions };

/** The options `startTls` takes. */
const START_TLS_OPTIONS = optionKeys<StartTlsOptions>({
  serverSide: true,
  serverHostname: true,
  sslHandshakeTimeout: true,
  sslShutdownTimeout: true,
});

/** `loop.startTls()`: see `EventLoop.startTls`. */
export async function startTls(
  loop: TransportLoop,
  transport: Transport,
  protocol: BaseProtocol,
  sslcontext: SSLContext,
  options: StartTlsOptions = {},
): Promise<TlsTransport | null> {
  if (options === null || typeof options !== "object") {
    throw new TypeError("startTls(): options must be an object");
  }
  checkOptionKeys(options, START_TLS_OPTIONS, "startTls");
  if (!(sslcontext instanceof SSLContext)) {
    throw new TypeError(
      `startTls(): sslcontext must be an SSLContext (see createDefaultContext()), got ${typeof sslcontext}`,
    );
  }
  if (
    !(transport instanceof SocketTransport) &&
    !(transport instanceof TlsTransport)
  ) {
    throw new TypeError(
      `startTls(): transport ${
        String(transport)
      } is not supported (a stream transport of this package is needed)`,
    );
  }
  if (protocol === null || typeof protocol !== "object") {
    throw new TypeError("startTls(): protocol must be a protocol object");
  }
  const serverSide = options.serverSide ?? false;
  if (typeof serverSide !== "boolean") {
    throw new TypeError("startTls(): serverSide must be a boolean");
  }
  let params: TlsParams;
  if (serverSide) {
    if (options.serverHostname != null) {
      throw new RangeError(
        "startTls(): serverHostname is only meaningful on the client side",
      );
    }
    params = serverTls("startTls()", { ...options, ssl: sslcontext })!;
  } else {
    const name = options.serverHostname;
    if (name != null && typeof name !== "string") {
      throw new TypeError("startTls(): serverHostname must be a string");
    }
    if (name == null && sslcontext.checkHostname) {
      throw new RangeError(
        'startTls(): checking the hostname needs serverHostname (pass "" to skip the check)',
      );
    }
    params = clientTls(
      "startTls()",
      { ...options, ssl: sslcontext, serverHostname: name ?? "" },
      null,
    )!;
  }
  if (transport.isClosing()) return null;
  const done = await engineHandshake(loop, transport, params);
  return engineTransport(loop, protocol, done, params, null, null, false);
}
