/**
 * The TLS stream transport: what `createConnection(..., { ssl })`,
 * `createServer(..., { ssl })`, the Unix variants, `connectAcceptedSocket`
 * and `startTls` hand to protocols once the handshake is done. Mirrors
 * asyncio's `_SSLProtocolTransport` (the app-facing side of `SSLProtocol`).
 *
 * It drives a TLS connection that already speaks plaintext on its near side
 * (a `Deno.TlsConn`, or the package's wrapper of a `node:tls` socket) the way
 * the socket transport drives a `Deno.Conn`: one read in flight, the next
 * started when it completes, one write in flight draining a buffer; every
 * completion reaches the protocol through the loop's dispatcher. What TLS
 * changes, as in asyncio: no half-close (`canWriteEof()` is false,
 * `writeEof()` throws, `eofReceived()` returning true is ignored with a
 * warning); `close()` flushes, sends close_notify and waits up to
 * `sslShutdownTimeout` for the peer's, after which `connectionLost` gets a
 * `TimeoutError`.
 *
 * @module
 */
import type { BaseEventLoop } from "../loop/base_loop.ts";
import type { Registration } from "../loop/dispatcher.ts";
import {
  NotImplementedError,
  RuntimeError,
  TimeoutError,
} from "../loop/exceptions.ts";
import type { Future } from "../loop/futures.ts";
import type { TimerHandle } from "../loop/handles.ts";
import { logger } from "../loop/log.ts";
import { checkBytes, type Socket, type StreamConn } from "../loop/socket.ts";
import type {
  BaseProtocol,
  BufferedProtocol,
  Protocol,
} from "../protocols/protocol.ts";
import { WriteFlowControl } from "./flow_control.ts";
import { Transport } from "./transport.ts";

/** The first read buffer (one TLS record of plaintext at most). */
const READ_SIZE = 16 * 1024;
/** Reads up to this size are copied into a shared pool. */
const POOLED_READ = 4 * 1024;
const POOL_SIZE = 120 * 1024;
let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;

/** A copy of `buffer[0:n]` in the pool: a small read costs no allocation. */
function pooledCopy(buffer: Uint8Array, n: number): Uint8Array {
  if (poolOffset + n > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    poolOffset = 0;
  }
  const start = poolOffset;
  pool.set(buffer.subarray(0, n), start);
  poolOffset = (start + n + 7) & ~7;
  return pool.subarray(start, start + n);
}

const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;

/** Errors that mean the peer went away or TLS failed: asyncio's OSError. */
function isOsError(error: unknown): boolean {
  for (const Class of Object.values(Deno.errors)) {
    if (error instanceof Class) return true;
  }
  return false;
}

/** What a server tracks about its connections (package-internal). */
export interface TlsConnectionOwner {
  _attach(client: { close(): void; abort(): void }): void;
  _detach(client: { close(): void; abort(): void }): void;
}

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
 * `Deno.TlsConn` or `node:tls` socket), `alpnProtocol`, `serverSide`,
 * `serverHostname`, and the socket keys (`peername`, `sockname`, `socket`).
 *
 * @example An echo over TLS (see examples/tls_echo.ts for a runnable one)
 * ```ts
 * import { TlsTransport } from "@aio/loop";
 * console.assert(TlsTransport.prototype.canWriteEof() === false);
 * ```
 */
export class TlsTransport extends Transport {
  /** @internal `loop.sendfile()` reads and writes through TLS (asyncio's). */
  readonly _sendfileCompatible = "fallback";
  #loop: BaseEventLoop;
  #conn: StreamConn;
  #sock: Socket | null;
  #protocol: BaseProtocol;
  #buffered: boolean;
  #server: TlsConnectionOwner | null;
  #closeUnderlying: (() => Future<null>) | null;
  #registration: Registration;
  #shutdownTimeout: number;
  // Reading.
  #readBuffer: Uint8Array | null = null;
  #protocolBuffer: ArrayBufferLike | null = null;
  #reading = false;
  #paused = false;
  #held = false;
  #readResult: number | null = 0;
  #readFailed: unknown = null;
  #eofSeen = false;
  // Writing.
  #writeChunks: Uint8Array[] = [];
  #writeSize = 0;
  #writing = false;
  #writeChunk: Uint8Array | null = null;
  #writeResult = 0;
  #flow: WriteFlowControl;
  // Closing: open → closing (flushing) → shutdown (close_notify sent,
  // waiting for the peer's) → closed.
  #closing = false;
  #shuttingDown = false;
  #shutdownTimer: TimerHandle | null = null;
  #connLost = 0;
  #closed = false;

  /**
   * Wraps a TLS connection whose handshake is done; the loop's TLS methods
   * are the way to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param protocol The protocol to call.
   * @param init The connection and its settings.
   */
  constructor(
    loop: BaseEventLoop,
    protocol: BaseProtocol,
    init: TlsTransportInit,
  ) {
    super({ ...init.extra });
    this.#loop = loop;
    this.#flow = new WriteFlowControl(loop, this);
    this.#conn = init.conn;
    this.#sock = init.sock;
    if (this.#sock !== null) this.#sock._owner = this;
    this.#protocol = protocol;
    this.#buffered = typeof (protocol as BufferedProtocol).getBuffer ===
      "function";
    this.#server = init.server ?? null;
    this.#closeUnderlying = init.closeUnderlying ?? null;
    this.#shutdownTimeout = init.shutdownTimeout;
    this.#registration = loop._dispatcher.register("transport");
    this.#server?._attach(this);
    const waiter = init.waiter ?? null;
    loop.callSoon(() => {
      if (this.#closed || init.callConnectionMade === false) return;
      try {
        this.#protocol.connectionMade(this);
      } catch (error) {
        this.#fatalError(error, "Error calling connectionMade()");
      }
    });
    loop.callSoon(() => this.#readMore());
    if (waiter !== null) {
      loop.callSoon(() => {
        if (!waiter.done()) waiter.setResult(null);
      });
    }
  }

  // ---- reading ----------------------------------------------------------

  #readMore(): void {
    if (this.#reading || this.#closed || this.#eofSeen) return;
    if (!this.#shuttingDown && (this.#paused || this.#closing)) return;
    let buffer: Uint8Array;
    if (this.#buffered && !this.#shuttingDown) {
      try {
        buffer = (this.#protocol as BufferedProtocol).getBuffer(-1);
        if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
          throw new RuntimeError(
            "getBuffer() returned an empty buffer or not a Uint8Array",
          );
        }
        this.#protocolBuffer = buffer.buffer;
      } catch (error) {
        this.#fatalError(
          error,
          "Fatal error: protocol.getBuffer() call failed.",
        );
        return;
      }
    } else {
      buffer = this.#readBuffer ??= new Uint8Array(READ_SIZE);
    }
    this.#reading = true;
    this.#registration.beginWait();
    this.#conn.read(buffer).then(this.#onRead, this.#onReadError);
  }

  readonly #onRead = (n: number | null): void => {
    this.#registration.endWait();
    this.#readResult = n;
    this.#registration.post(this.#readDone);
  };

  readonly #onReadError = (error: unknown): void => {
    this.#registration.endWait();
    this.#readFailed = error ?? new Error("read failed");
    this.#registration.post(this.#readDone);
  };

  readonly #readDone = (): void => {
    if (this.#closed) return;
    if (this.#paused && !this.#closing) {
      this.#held = true;
      return;
    }
    this.#reading = false;
    const failed = this.#readFailed;
    const n = this.#readResult;
    this.#readFailed = null;
    if (this.#shuttingDown) {
      // Waiting for the peer's close_notify: what comes first is dropped.
      if (failed !== null || n === null) this.#finish(null);
      else this.#readMore();
      return;
    }
    if (this.#closing) return;
    if (failed !== null) {
      this.#fatalError(failed, "Fatal read error on TLS transport");
      return;
    }
    if (n === null) {
      this.#onEof();
      return;
    }
    if (this.#buffered) {
      try {
        (this.#protocol as BufferedProtocol).bufferUpdated(n);
      } catch (error) {
        this.#fatalError(
          error,
          "Fatal error: protocol.bufferUpdated() call failed.",
        );
        return;
      }
    } else {
      const buffer = this.#readBuffer!;
      let data: Uint8Array;
      if (n <= POOLED_READ) data = pooledCopy(buffer, n);
      else {
        // A large read is handed over; the next read needs a new buffer.
        data = buffer.subarray(0, n);
        this.#readBuffer = null;
      }
      try {
        (this.#protocol as Protocol).dataReceived(data);
      } catch (error) {
        this.#fatalError(
          error,
          "Fatal error: protocol.dataReceived() call failed.",
        );
        return;
      }
    }
    // As the socket transport: read again once the answer is written (the
    // peer's next bytes are then usually there), or next iteration.
    if (!this.#writing) this.#readMore();
    else this.#loop.callSoon(this.#readMoreLater);
  };

  readonly #readMoreLater = (): void => this.#readMore();

  #onEof(): void {
    this.#eofSeen = true;
    if (this.#loop.getDebug()) logger.debug(`${this} received EOF`);
    let keepOpen: unknown;
    try {
      keepOpen = (this.#protocol as Protocol).eofReceived?.();
    } catch (error) {
      this.#fatalError(error, "Error calling eofReceived()");
      return;
    }
    if (keepOpen) {
      logger.warning(
        "returning true from eofReceived() has no effect when using ssl",
      );
    }
    this.close();
  }

  /**
   * Whether the transport is receiving. Mirrors `is_reading()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.isReading === "function");
   * ```
   */
  override isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  /**
   * Stops calling `dataReceived` until `resumeReading()`. Mirrors
   * `pause_reading()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.pauseReading === "function");
   * ```
   */
  override pauseReading(): void {
    if (this.#closing || this.#paused) return;
    this.#paused = true;
  }

  /**
   * Resumes receiving. Mirrors `resume_reading()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.resumeReading === "function");
   * ```
   */
  override resumeReading(): void {
    if (this.#closing || !this.#paused) return;
    this.#paused = false;
    if (this.#held) {
      this.#held = false;
      this.#loop.callSoon(this.#readDone);
    } else this.#loop.callSoon(this.#readMoreLater);
  }

  // ---- writing ----------------------------------------------------------

  /**
   * Queues plaintext to send; never blocks. Mirrors `write()`. The bytes are
   * kept (not copied) until sent: don't modify the array afterwards.
   *
   * @throws {TypeError} for a string or other non-bytes.
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.write === "function");
   * ```
   */
  override write(data: Uint8Array): void {
    checkBytes(data, "write()");
    if (data.length === 0) return;
    if (this.#connLost > 0 || this.#closing) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        logger.warning("socket.send() raised exception.");
      }
      this.#connLost++;
      return;
    }
    this.#writeChunks.push(
      data.buffer === this.#protocolBuffer ? data.slice() : data,
    );
    this.#writeSize += data.length;
    if (!this.#writing) this.#flush();
    this.#maybePauseProtocol();
  }

  /**
   * Queues several byte arrays. Mirrors `writelines()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.writelines === "function");
   * ```
   */
  override writelines(listOfData: Iterable<Uint8Array>): void {
    for (const data of listOfData) this.write(data);
  }

  #flush(): void {
    const chunks = this.#writeChunks;
    if (chunks.length === 0) return;
    let chunk: Uint8Array;
    if (chunks.length === 1) chunk = chunks[0];
    else {
      chunk = new Uint8Array(this.#writeSize);
      let offset = 0;
      for (const c of chunks) {
        chunk.set(c, offset);
        offset += c.length;
      }
    }
    this.#writeChunks = [];
    this.#writeChunk = chunk;
    this.#writing = true;
    this.#registration.begin();
    this.#conn.write(chunk).then(this.#onWritten, this.#onWriteError);
  }

  readonly #onWritten = (n: number): void => {
    this.#registration.end();
    this.#writeResult = n;
    if (
      !this.#closing && !this.#flow.paused &&
      n === this.#writeChunk!.length
    ) {
      this.#writeDone();
      return;
    }
    this.#registration.post(this.#writeDone);
  };

  readonly #onWriteError = (error: unknown): void => {
    this.#registration.end();
    this.#registration.post(() => {
      this.#writing = false;
      if (this.#closed) return;
      this.#writeChunks = [];
      this.#writeSize = 0;
      this.#writeChunk = null;
      this.#fatalError(error, "Fatal write error on TLS transport");
    });
  };

  readonly #writeDone = (): void => {
    this.#writing = false;
    if (this.#closed) return;
    if (!this.#reading) this.#readMore();
    const chunk = this.#writeChunk!;
    const n = this.#writeResult;
    this.#writeSize -= n;
    if (n < chunk.length) this.#writeChunks.unshift(chunk.subarray(n));
    this.#writeChunk = null;
    if (this.#writeChunks.length > 0) {
      this.#flush();
      this.#maybeResumeProtocol();
      return;
    }
    this.#maybeResumeProtocol();
    if (this.#closing && this.#connLost === 0) this.#startShutdown();
  };

  /**
   * Always throws: TLS transports cannot half-close. Mirrors asyncio's SSL
   * transport.
   *
   * @throws {NotImplementedError} always.
   * @example
   * ```ts
   * import { NotImplementedError, TlsTransport } from "@aio/loop";
   * try {
   *   TlsTransport.prototype.writeEof.call(null);
   * } catch (error) {
   *   console.assert(error instanceof NotImplementedError);
   * }
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
   * import { TlsTransport } from "@aio/loop";
   * console.assert(TlsTransport.prototype.canWriteEof() === false);
   * ```
   */
  override canWriteEof(): boolean {
    return false;
  }

  /**
   * Plaintext bytes queued and not yet written. Mirrors
   * `get_write_buffer_size()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.getWriteBufferSize === "function");
   * ```
   */
  override getWriteBufferSize(): number {
    return this.#writeSize;
  }

  /**
   * `[low, high]` water marks. Mirrors `get_write_buffer_limits()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.getWriteBufferLimits === "function");
   * ```
   */
  override getWriteBufferLimits(): [number, number] {
    return [this.#flow.low, this.#flow.high];
  }

  /**
   * Sets the water marks (asyncio's defaults and rules). Mirrors
   * `set_write_buffer_limits()`.
   *
   * @throws {RangeError} unless high >= low >= 0.
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.setWriteBufferLimits === "function");
   * ```
   */
  override setWriteBufferLimits(
    high?: number | null,
    low?: number | null,
  ): void {
    this.#flow.setLimits(high, low);
    this.#maybePauseProtocol();
  }

  #maybePauseProtocol(): void {
    this.#flow.maybePause(this.#writeSize, this.#protocol);
  }

  #maybeResumeProtocol(): void {
    this.#flow.maybeResume(this.#writeSize, this.#protocol);
  }

  // ---- closing ----------------------------------------------------------

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.isClosing === "function");
   * ```
   */
  override isClosing(): boolean {
    return this.#closing;
  }

  /**
   * Flushes buffered data, sends close_notify and waits for the peer's (at
   * most `sslShutdownTimeout` seconds); then `connectionLost(null)`, or
   * `connectionLost(TimeoutError)` when the peer never answered. Mirrors
   * `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.close === "function");
   * ```
   */
  override close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#held) {
      this.#held = false;
      this.#loop.callSoon(this.#readDone);
    }
    if (!this.#writing && this.#writeChunks.length === 0) {
      this.#loop.callSoon(() => this.#startShutdown());
    }
  }

  #startShutdown(): void {
    if (this.#shuttingDown || this.#closed || this.#connLost > 0) return;
    this.#shuttingDown = true;
    this.#shutdownTimer = this.#loop.callLater(
      this.#shutdownTimeout,
      () => {
        this.#shutdownTimer = null;
        this.#finish(new TimeoutError("SSL shutdown timed out"));
      },
    );
    this.#registration.begin();
    Promise.resolve()
      .then(() => this.#conn.closeWrite())
      .then(
        () => this.#registration.end(),
        () => this.#registration.end(),
      );
    if (this.#eofSeen) {
      this.#registration.post(() => this.#finish(null));
    } else if (!this.#reading) this.#readMore();
  }

  /**
   * Closes at once without the TLS shutdown, dropping buffered data;
   * `connectionLost(null)` follows. Mirrors `abort()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.abort === "function");
   * ```
   */
  override abort(): void {
    this.#forceClose(null);
  }

  #fatalError(error: unknown, message: string): void {
    if (isOsError(error)) {
      if (this.#loop.getDebug()) logger.debug(`${this}: ${message}: ${error}`);
    } else {
      this.#loop.callExceptionHandler({
        message,
        exception: error,
        transport: this,
        protocol: this.#protocol,
      });
    }
    this.#forceClose(error);
  }

  #forceClose(error: unknown): void {
    if (this.#connLost > 0 || this.#closed) return;
    this.#writeChunks = [];
    this.#writeSize = 0;
    this.#closing = true;
    this.#connLost++;
    this.#loop.callSoon(() => this.#finish(error ?? null));
  }

  #finish(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (this.#connLost === 0) this.#connLost = 1;
    this.#shutdownTimer?.cancel();
    this.#shutdownTimer = null;
    if (this.#sock !== null) {
      this.#sock._owner = null;
      this.#sock.close();
    } else {
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#registration.close();
    const lost = () => {
      try {
        this.#protocol.connectionLost(error as Error | null);
      } finally {
        this.#server?._detach(this);
      }
    };
    const underlying = this.#closeUnderlying?.() ?? null;
    if (underlying === null || underlying.done()) lost();
    else underlying.addDoneCallback(lost);
  }

  // ---- protocol ---------------------------------------------------------

  /**
   * Switches the protocol that receives data. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.setProtocol === "function");
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
    this.#buffered = typeof (protocol as BufferedProtocol).getBuffer ===
      "function";
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { TlsTransport } from "@aio/loop";
   * console.assert(typeof TlsTransport.prototype.getProtocol === "function");
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  /** A description like `<TlsTransport peer=["127.0.0.1",443] write=<idle, bufsize=0>>`. */
  override toString(): string {
    const state = this.#closed
      ? " closed"
      : this.#shuttingDown
      ? " shutting-down"
      : this.#closing
      ? " closing"
      : "";
    return `<TlsTransport peer=${
      JSON.stringify(this._extra.peername ?? null)
    }${state} write=<${
      this.#writing ? "polling" : "idle"
    }, bufsize=${this.#writeSize}>>`;
  }
}
