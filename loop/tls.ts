/**
 * TLS for the loop's stream methods (package-internal): the `ssl=` argument
 * rules of `createConnection`/`createServer`/... and `startTls`, the
 * handshake and its timeout, and the two ways a connection becomes TLS.
 *
 * - **Native**: Deno's own TLS (`Deno.listenTls` for TCP servers,
 *   `Deno.startTls` on a fresh TCP connection for clients). Fastest; the
 *   `Deno.TlsConn` tells only the negotiated ALPN protocol, so `peercert`
 *   and `cipher` are null there.
 * - **Engine**: a `node:tls` socket over an in-memory stream that rides on a
 *   plain transport, as asyncio's `SSLProtocol` rides on one. Used for what
 *   Deno's own TLS cannot do: server-side TLS over an accepted connection
 *   (Unix servers, `sock=` servers, `connectAcceptedSocket`), Unix clients,
 *   clients with a client certificate or a bound local address, and
 *   `startTls` on either side (`Deno.startTls` is client-only and refuses
 *   a connection with a read pending, which a transport always has). It
 *   reports `peercert` and `cipher`.
 *
 * @module
 */
import tls from "node:tls";
import { Duplex } from "node:stream";
import { isIP } from "node:net";
import type { BaseEventLoop } from "./base_loop.ts";
import type { Future } from "./futures.ts";
import { logger } from "./log.ts";
import {
  connNames,
  fromDenoAddr,
  type Socket,
  type StreamConn,
} from "./socket.ts";
import { NodeConn } from "./bound_conn.ts";
import { SSLContext } from "./ssl_context.ts";
import { Protocol } from "../protocols/protocol.ts";
import type { BaseProtocol } from "../protocols/protocol.ts";
import { SocketTransport } from "../transports/socket_transport.ts";
import {
  type TlsConnectionOwner,
  TlsTransport,
} from "../transports/tls_transport.ts";
import type { Transport } from "../transports/transport.ts";

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

/** What `Deno.listenTls` needs for a server context. */
export function listenTlsOptions(
  params: TlsParams,
): { cert: string; key: string; alpnProtocols?: string[] } {
  const { ctx } = params;
  const options: { cert: string; key: string; alpnProtocols?: string[] } = {
    cert: ctx.cert!,
    key: ctx.key!,
  };
  if (ctx.alpnProtocols !== null) options.alpnProtocols = ctx.alpnProtocols;
  return options;
}

// ---- waiting on Deno promises from the loop --------------------------------

/** A loop future settled by `promise`, counted as I/O waiting on a peer. */
function onLoop<T>(loop: BaseEventLoop, promise: Promise<T>): Future<T> {
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
 * Runs `handshake` with the timeout; on timeout (or `abort`), `cancel`
 * tears the connection down and the result is a `ConnectionAborted`.
 */
async function withTimeout<T>(
  loop: BaseEventLoop,
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
    throw failure ?? tlsError(error, params);
  } finally {
    timer.cancel();
  }
}

/** Names the failure; certificate errors say so, as asyncio's log does. */
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
    const wrapped = new Deno.errors.InvalidData(
      `${what}${
        params.serverSide
          ? ""
          : ` (server ${JSON.stringify(params.serverHostname)})`
      }: ${text}`,
    );
    (wrapped as { cause?: unknown }).cause = error;
    return wrapped;
  }
  return error;
}

// ---- native: Deno's own TLS ------------------------------------------------

/** Whether `conn` is a plain `Deno.TcpConn` that `Deno.startTls` can take. */
function startTlsCapable(sock: Socket, params: TlsParams): boolean {
  const conn = sock._conn;
  return conn !== null && conn.constructor?.name === "TcpConn" &&
    sock._pending === null && sock._rbytes === 0 && !sock._eof &&
    params.ctx.cert === null;
}

function isTlsConn(conn: StreamConn | null): conn is Deno.TlsConn {
  return conn !== null && conn.constructor?.name === "TlsConn";
}

function nativeExtra(
  sock: Socket,
  conn: Deno.TlsConn,
  params: TlsParams,
  alpnProtocol: string | null,
): Record<string, unknown> {
  return {
    socket: sock,
    ...connNames(conn),
    sslcontext: params.ctx,
    // Deno.TlsConn exposes neither the peer's certificate nor the cipher.
    peercert: null,
    cipher: null,
    compression: null,
    ssl_object: conn,
    sslObject: conn,
    alpnProtocol,
    serverSide: params.serverSide,
    serverHostname: params.serverSide ? null : params.serverHostname,
  };
}

async function nativeClient(
  loop: BaseEventLoop,
  sock: Socket,
  params: TlsParams,
): Promise<{ conn: Deno.TlsConn; alpn: string | null }> {
  const tcp = sock._conn as Deno.TcpConn;
  const { ctx } = params;
  let hostname = params.serverHostname;
  if (hostname === "") {
    const peer = fromDenoAddr(tcp.remoteAddr);
    hostname = Array.isArray(peer) ? peer[0] : "localhost";
  }
  const options: Deno.StartTlsOptions = { hostname };
  if (ctx.caCerts.length > 0) options.caCerts = ctx.caCerts;
  if (ctx.alpnProtocols !== null) options.alpnProtocols = ctx.alpnProtocols;
  if (!ctx.checkHostname || params.serverHostname === "") {
    options.unsafelyDisableHostnameVerification = true;
  }
  const conn = await onLoop(loop, Deno.startTls(tcp, options));
  sock._conn = conn;
  const info = await withTimeout(
    loop,
    conn.handshake(),
    params,
    () => sock.close(),
  );
  return { conn, alpn: info.alpnProtocol };
}

// ---- engine: node:tls over a plain transport -------------------------------

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

  constructor(loop: BaseEventLoop) {
    super();
    this.lost = loop.createFuture<null>();
    this.stream = new Duplex({
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
    // Stay open: TLS may still send its close_notify.
    return true;
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
 * `TlsTransport` needs.
 */
async function engineHandshake(
  loop: BaseEventLoop,
  transport: Transport,
  params: TlsParams,
  aborter?: { abort?: () => void },
): Promise<{
  conn: NodeConn;
  extra: Record<string, unknown>;
  carrier: Carrier;
}> {
  const { ctx } = params;
  const carrier = new Carrier(loop);
  transport.pauseReading();
  transport.setProtocol(carrier);
  // node:tls writes its first flight at once: the carrier needs the
  // transport now, not when the loop gets to connectionMade.
  carrier.connectionMade(transport);
  loop.callSoon(() => transport.resumeReading());
  const peername = transport.getExtraInfo("peername");
  const sockname = transport.getExtraInfo("sockname");
  let socket: tls.TLSSocket;
  let ready: Promise<void>;
  if (params.serverSide) {
    socket = new tls.TLSSocket(carrier.stream, {
      isServer: true,
      secureContext: tls.createSecureContext({
        cert: ctx.cert!,
        key: ctx.key!,
      }),
      ALPNProtocols: ctx.alpnProtocols ?? undefined,
    });
    ready = settled(socket, "secure");
  } else {
    let host = params.serverHostname;
    if (host === "") {
      host = Array.isArray(peername) ? String(peername[0]) : "localhost";
    }
    const options: tls.ConnectionOptions = {
      socket: carrier.stream,
      host,
      rejectUnauthorized: true,
    };
    if (isIP(host) === 0) options.servername = host;
    if (ctx.caCerts.length > 0) options.ca = [...roots(), ...ctx.caCerts];
    if (ctx.cert !== null) {
      options.cert = ctx.cert;
      options.key = ctx.key!;
    }
    if (ctx.alpnProtocols !== null) options.ALPNProtocols = ctx.alpnProtocols;
    if (!ctx.checkHostname || params.serverHostname === "") {
      options.checkServerIdentity = () => undefined;
    }
    socket = tls.connect(options);
    ready = settled(socket, "secureConnect");
  }
  // Errors after the first are reported by reads and writes, not thrown.
  socket.on("error", () => {});
  carrier.stream.on("error", () => {});
  try {
    await withTimeout(loop, ready, params, () => {
      socket.destroy();
      transport.abort();
    }, aborter);
  } catch (error) {
    socket.destroy();
    transport.abort();
    await carrier.lost;
    throw error;
  }
  const conn = new NodeConn(socket, denoAddr(sockname), denoAddr(peername));
  const alpn = socket.alpnProtocol;
  return {
    conn,
    carrier,
    extra: {
      socket: transport.getExtraInfo("socket"),
      sockname,
      peername,
      sslcontext: ctx,
      peercert: peercertOf(socket),
      cipher: cipherOf(socket),
      compression: null,
      ssl_object: socket,
      sslObject: socket,
      alpnProtocol: typeof alpn === "string" ? alpn : null,
      serverSide: params.serverSide,
      serverHostname: params.serverSide ? null : params.serverHostname,
    },
  };
}

/**
 * The default roots `caCerts` are added to (as with Deno's own TLS). Node's
 * list needs `--allow-sys`; without it only `caCerts` are trusted.
 */
function roots(): string[] {
  try {
    return [...tls.rootCertificates];
  } catch {
    return [];
  }
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
  loop: BaseEventLoop,
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
 * connected socket: handshake, then a `TlsTransport` and its protocol.
 */
export async function tlsConnect<P extends BaseProtocol>(
  loop: BaseEventLoop,
  sock: Socket,
  protocolFactory: () => P,
  params: TlsParams,
): Promise<[Transport, P]> {
  if (startTlsCapable(sock, params)) {
    let result: { conn: Deno.TlsConn; alpn: string | null };
    try {
      result = await nativeClient(loop, sock, params);
    } catch (error) {
      sock.close();
      throw error;
    }
    const protocol = protocolFactory();
    const waiter = loop.createFuture<null>();
    const transport = new TlsTransport(loop, protocol, {
      conn: result.conn,
      sock,
      extra: nativeExtra(sock, result.conn, params, result.alpn),
      shutdownTimeout: params.shutdownTimeout,
      waiter,
    });
    await waiter;
    return [transport, protocol];
  }
  const plain = new SocketTransport(loop, sock, new Protocol());
  const done = await engineHandshake(loop, plain, params);
  const protocol = protocolFactory();
  const waiter = loop.createFuture<null>();
  const transport = engineTransport(
    loop,
    protocol,
    done,
    params,
    waiter,
    null,
    true,
  );
  await waiter;
  return [transport, protocol];
}

/**
 * The server side: a connection accepted by a TLS server (or handed to
 * `connectAcceptedSocket`). A failed handshake closes the connection; as
 * in asyncio it is logged in debug mode and goes to the exception handler
 * only in debug mode, and the server carries on.
 *
 * @returns the transport, or rejects with the handshake's error.
 */
export async function tlsAccept(
  loop: BaseEventLoop,
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
    if (isTlsConn(sock._conn)) {
      const conn = sock._conn;
      const info = await withTimeout(
        loop,
        conn.handshake(),
        params,
        () => sock.close(),
        aborter,
      );
      return new TlsTransport(loop, protocol, {
        conn,
        sock,
        extra: nativeExtra(sock, conn, params, info.alpnProtocol),
        shutdownTimeout: params.shutdownTimeout,
        waiter,
        server,
      });
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
  loop: BaseEventLoop,
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

/** Options of `startTls`. */
export interface StartTlsOptions {
  /** Upgrade the server side of the connection (default false). */
  serverSide?: boolean;
  /** The name to check the server's certificate against ("" skips it). */
  serverHostname?: string | null;
  /** Seconds the handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}

/** `loop.startTls()`: see `EventLoop.startTls`. */
export async function startTls(
  loop: BaseEventLoop,
  transport: Transport,
  protocol: BaseProtocol,
  sslcontext: SSLContext,
  options: StartTlsOptions = {},
): Promise<TlsTransport | null> {
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
  if (options === null || typeof options !== "object") {
    throw new TypeError("startTls(): options must be an object");
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
