/**
 * The TLS stream transport: what `createConnection(..., { ssl })`,
 * `createServer(..., { ssl })`, the Unix variants, `connectAcceptedSocket`
 * and `startTls` hand to protocols once the handshake is done. Mirrors
 * asyncio's `_SSLProtocolTransport` (the app-facing side of `SSLProtocol`).
 *
 * It drives a TLS connection that already speaks plaintext on its near side
 * (the package's wrapper of a `node:tls` socket) the way
 * the socket transport drives a `Deno.Conn` (transports/stream_transport.ts
 * holds what they share): one read in flight, the next started when it
 * completes, one write in flight draining a buffer; every completion reaches
 * the protocol through the loop's dispatcher. What TLS changes, as in
 * asyncio: no half-close (`canWriteEof()` is false, `writeEof()` throws,
 * `eofReceived()` returning true is ignored with a warning); writes after
 * `close()` are dropped; `close()` flushes, sends close_notify and waits up
 * to `sslShutdownTimeout` for the peer's, after which `connectionLost` gets a
 * `TimeoutError`.
 *
 * @module
 */
import type { TransportLoop } from "./transport_loop.ts";
import { NotImplementedError, TimeoutError } from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import type { TimerHandle } from "../core/handles.ts";
import { logger } from "../base/log.ts";
import type { Socket, StreamConn } from "../net/socket.ts";
import type { BaseProtocol } from "../../protocols/protocol.ts";
import { type ConnectionOwner, StreamTransport } from "./stream_transport.ts";
import { DEFAULT_TLS_HIGH } from "../../transports/flow_control.ts";

/** The read buffer (one TLS record of plaintext at most): it does not grow. */
const READ_SIZE = 16 * 1024;

/** What errors report (asyncio's `SSLProtocol` says "Error calling ..."). */
const MESSAGES = {
  read: "Fatal read error on TLS transport",
  write: "Fatal write error on TLS transport",
  eofReceived: "Error calling eofReceived()",
  writeAfterClose: "SSL connection is closed",
};

/** What a server tracks about its connections (package-internal). */
export type TlsConnectionOwner = ConnectionOwner;

/** How a `TlsTransport` is set up (package-internal). */
export interface TlsTransportInit {
  /** The TLS connection, handshake done; the transport owns it. */
  conn: StreamConn;
  /** The package socket behind it, closed with the transport, if any. */
  sock: Socket | null;
  /** Values for `getExtraInfo` (the TLS keys, peername, sockname, ...). */
  extra: Record<string, unknown>;
  /** Seconds to wait for the peer's close_notify after ours. */
  shutdownTimeout: number;
  /** Completed once `connectionMade` has run. */
  waiter?: Future<null> | null;
  /** The server the connection belongs to, if any. */
  server?: TlsConnectionOwner | null;
  /** Whether to call `connectionMade` (not after `startTls`). */
  callConnectionMade?: boolean;
  /**
   * Closes what lies beneath the TLS connection; `connectionLost` waits
   * for the returned future.
   */
  closeUnderlying?: (() => Future<null>) | null;
}

/**
 * A TLS stream transport. Mirrors asyncio's SSL transport: the protocol
 * sees plaintext; `getExtraInfo` answers `sslcontext`, `peercert`,
 * `cipher`, `compression` (null), `ssl_object` (also `sslObject`: the
 * `node:tls` socket), `alpnProtocol`, `serverSide`,
 * `serverHostname`, and the socket keys (`peername`, `sockname`, `socket`).
 * Writing, flow control, pausing and `abort()` (which skips the TLS
 * shutdown) work as in `SocketTransport`.
 *
 * @example An echo over TLS
 * ```ts
 * import { createDefaultContext, newEventLoop, Protocol, type Transport } from "@aio/loop";
 * import { TlsTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * // Test-only certificates from this repository's tests/fixtures/tls/.
 * const pem = (name: string) =>
 *   Deno.readTextFileSync(new URL(`../../tests/fixtures/tls/${name}`, import.meta.url));
 * const serverSsl = createDefaultContext({ purpose: "clientAuth", cert: pem("server.pem"), key: pem("server.key") });
 * const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
 * const loop = newEventLoop();
 * const reply = loop.createFuture<string>();
 * const lost = loop.createFuture<Error | null>();
 * class Echo extends Protocol {
 *   transport!: Transport;
 *   override connectionMade(t: Transport) { this.transport = t; }
 *   override dataReceived(data: Uint8Array) { this.transport.write(data); }
 * }
 * class Client extends Protocol {
 *   override dataReceived(data: Uint8Array) { reply.setResult(new TextDecoder().decode(data)); }
 *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
 * }
 * await loop.runUntilComplete(async () => {
 *   await using server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, { ssl: serverSsl });
 *   const [host, port] = server.sockets[0].getsockname();
 *   const [transport] = await loop.createConnection(() => new Client(), host, port, { ssl: clientSsl });
 *   assert(transport instanceof TlsTransport);
 *   transport.write(new TextEncoder().encode("hello over TLS"));
 *   assert.equal(await reply, "hello over TLS");
 *   transport.close();
 *   assert.equal(await lost, null);
 * });
 * loop.close();
 * ```
 */
export class TlsTransport extends StreamTransport {
  /** @ignore `loop.sendfile()` reads and writes through TLS (asyncio's). */
  readonly _sendfileCompatible = "fallback";
  #closeUnderlying: (() => Future<null>) | null;
  #shutdownTimeout: number;
  #callConnectionMade: boolean;
  // Closing: open → closing (flushing) → shutdown (close_notify sent,
  // waiting for the peer's) → closed.
  #shuttingDown = false;
  #shutdownTimer: TimerHandle | null = null;

  /**
   * Wraps a TLS connection whose handshake is done; the loop's TLS methods
   * are the way to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param protocol The protocol to call.
   * @param init The connection and its settings.
   */
  constructor(
    loop: TransportLoop,
    protocol: BaseProtocol,
    init: TlsTransportInit,
  ) {
    super(loop, protocol, {
      conn: init.conn,
      sock: init.sock,
      extra: { ...init.extra },
      waiter: init.waiter ?? null,
      server: init.server ?? null,
      readSize: READ_SIZE,
      maxReadSize: READ_SIZE,
      messages: MESSAGES,
      dropWritesOnClose: true,
    });
    this.#closeUnderlying = init.closeUnderlying ?? null;
    this.#shutdownTimeout = init.shutdownTimeout;
    this.#callConnectionMade = init.callConnectionMade !== false;
    this.setWriteBufferLimits();
  }

  /**
   * Sets the write buffer's water marks. Mirrors asyncio's SSL transport,
   * whose defaults are larger than a socket's: high 512 KiB, low a quarter
   * of high (`getWriteBufferLimits()` is `[131072, 524288]` until changed).
   *
   * @param high The high-water mark in bytes (default 512 KiB, or 4 × low).
   * @param low The low-water mark in bytes (default high / 4).
   * @throws {RangeError} unless high >= low >= 0.
   */
  override setWriteBufferLimits(
    high?: number | null,
    low?: number | null,
  ): void {
    super.setWriteBufferLimits(
      high == null && low == null ? DEFAULT_TLS_HIGH : high,
      low,
    );
  }

  /** @ignore Not after `startTls`; a failing `connectionMade` is fatal. */
  protected override _connectionMade(): void {
    if (this._closed || !this.#callConnectionMade) return;
    try {
      this.getProtocol().connectionMade(this);
    } catch (error) {
      this._fatalError(error, "Error calling connectionMade()");
    }
  }

  /** @ignore TLS cannot half-close: the transport closes regardless. */
  protected override _afterEofReceived(keepOpen: unknown): void {
    if (keepOpen) {
      logger.warning(
        "returning true from eofReceived() has no effect when using ssl",
      );
    }
    this.close();
  }

  /**
   * Always throws: TLS transports cannot half-close. Mirrors asyncio's SSL
   * transport.
   *
   * @throws {NotImplementedError} always.
   * @example
   * ```ts
   * import { createDefaultContext, newEventLoop, NotImplementedError, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * // Test-only certificates from this repository's tests/fixtures/tls/.
   * const pem = (name: string) =>
   *   Deno.readTextFileSync(new URL(`../../tests/fixtures/tls/${name}`, import.meta.url));
   * const serverSsl = createDefaultContext({ purpose: "clientAuth", cert: pem("server.pem"), key: pem("server.key") });
   * const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { ssl: serverSsl });
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port, { ssl: clientSsl });
   *   assert.throws(() => transport.writeEof(), NotImplementedError);
   *   transport.close(); // sends close_notify instead
   *   assert.equal(await lost, null);
   * });
   * loop.close();
   * ```
   */
  override writeEof(): void {
    throw new NotImplementedError(
      "TLS doesn't support half-closes: use close() (it sends close_notify)",
    );
  }

  /**
   * False: TLS transports cannot half-close. Mirrors `can_write_eof()`.
   *
   * @example
   * ```ts
   * import { createDefaultContext, newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * // Test-only certificates from this repository's tests/fixtures/tls/.
   * const pem = (name: string) =>
   *   Deno.readTextFileSync(new URL(`../../tests/fixtures/tls/${name}`, import.meta.url));
   * const serverSsl = createDefaultContext({ purpose: "clientAuth", cert: pem("server.pem"), key: pem("server.key") });
   * const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { ssl: serverSsl });
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port, { ssl: clientSsl });
   *   assert.equal(transport.canWriteEof(), false); // no half-close over TLS
   *   transport.close();
   *   assert.equal(await lost, null);
   * });
   * loop.close();
   * ```
   */
  override canWriteEof(): boolean {
    return false;
  }

  // ---- closing ----------------------------------------------------------

  /**
   * Flushes buffered data, sends close_notify and waits for the peer's (at
   * most `sslShutdownTimeout` seconds); then `connectionLost(null)`, or
   * `connectionLost(TimeoutError)` when the peer never answered. Mirrors
   * `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { createDefaultContext, newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * // Test-only certificates from this repository's tests/fixtures/tls/.
   * const pem = (name: string) =>
   *   Deno.readTextFileSync(new URL(`../../tests/fixtures/tls/${name}`, import.meta.url));
   * const serverSsl = createDefaultContext({ purpose: "clientAuth", cert: pem("server.pem"), key: pem("server.key") });
   * const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { ssl: serverSsl });
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port, { ssl: clientSsl });
   *   transport.write(new TextEncoder().encode("bye"));
   *   transport.close(); // flushes, then the close_notify exchange
   *   assert.equal(transport.isClosing(), true);
   *   assert.equal(await lost, null); // the peer answered: a clean close
   * });
   * loop.close();
   * ```
   */
  override close(): void {
    if (this.isClosing()) return;
    if (this._beginClose()) this._loop.callSoon(() => this.#startShutdown());
  }

  /** @ignore Flushed: the TLS shutdown starts. */
  protected override _flushedOnClose(): void {
    this.#startShutdown();
  }

  /** Sends close_notify, then waits for the peer's (or the timeout). */
  #startShutdown(): void {
    if (!this._drainToEof()) return;
    this.#shuttingDown = true;
    this.#shutdownTimer = this._loop.callLater(
      this.#shutdownTimeout,
      () => {
        this.#shutdownTimer = null;
        this._callConnectionLost(new TimeoutError("SSL shutdown timed out"));
      },
    );
  }

  /**
   * @ignore The connection closes first, then what lies beneath it; the
   * protocol's `connectionLost` follows once that is closed too.
   */
  protected override _callConnectionLost(error: unknown): void {
    if (!this._closeConnection()) return;
    this.#shutdownTimer?.cancel();
    this.#shutdownTimer = null;
    const underlying = this.#closeUnderlying?.() ?? null;
    if (underlying === null || underlying.done()) this._reportLost(error);
    else underlying.addDoneCallback(() => this._reportLost(error));
  }

  /** A description like `<TlsTransport peer=["127.0.0.1",443] write=<idle, bufsize=0>>`. */
  override toString(): string {
    const state = this._closed
      ? " closed"
      : this.#shuttingDown
      ? " shutting-down"
      : this.isClosing()
      ? " closing"
      : "";
    return `<TlsTransport peer=${
      JSON.stringify(this._extra.peername ?? null)
    }${state} ${this._describeWrite()}>`;
  }
}
