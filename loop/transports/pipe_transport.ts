/**
 * Read and write pipe transports: what `connectReadPipe` /
 * `connectWritePipe` hand to protocols, and what a child's PIPE streams
 * are. Mirrors asyncio's `_UnixReadPipeTransport` and
 * `_UnixWritePipeTransport`, over web streams instead of descriptors.
 *
 * A pipe is a `ReadableStream<Uint8Array>` / `WritableStream<Uint8Array>`,
 * or anything with `.readable` / `.writable` (`Deno.FsFile`, `Deno.stdin`,
 * `Deno.stdout`, a child's pipes). The transport locks the stream for its
 * lifetime; closing the transport cancels (read) or closes (write) it,
 * which for a file or a child's pipe closes the descriptor, as asyncio
 * closes the pipe.
 *
 * Reading keeps one `read()` in flight and reads ahead at most two chunks
 * while the loop delivers them (as a kernel keeps receiving); a paused
 * transport starts no read, so a fast writer fills the OS pipe and blocks
 * instead of filling memory. Writing keeps one `write()` in flight, buffers the rest, and
 * calls `pauseWriting()` / `resumeWriting()` on the water marks. Every
 * completion reaches the protocol through the loop's dispatcher.
 *
 * @module
 */
import { checkFactory } from "../core/base_loop.ts";
import type { TransportLoop } from "./transport_loop.ts";
import { concat } from "../base/bytes.ts";
import type { Registration } from "../core/dispatcher.ts";
import type { ProtocolFactory } from "../../protocols/protocol.ts";
import { describe } from "../base/format.ts";
import type { Future } from "../core/futures.ts";
import { logger } from "../base/log.ts";
import { isOsError } from "../net/node_errors.ts";
import {
  readableOf,
  type ReadablePipe,
  writableOf,
  type WritablePipe,
} from "../process/process.ts";
import { checkBytes, detachedWriteError, isDetached } from "../net/socket.ts";
import type { BaseProtocol, Protocol } from "../../protocols/protocol.ts";
import {
  LOG_THRESHOLD_FOR_CONNLOST_WRITES,
  WriteFlowControl,
} from "../../transports/flow_control.ts";
import {
  completeSoon,
  connectionMade,
  protocolCall,
  ReadTransport,
  WriteTransport,
} from "../../transports/transport.ts";

/** Completed reads a read pipe may hold ahead of its protocol. */
const READ_AHEAD = 2;
/** Queued chunks are joined into one write up to this size. */
const JOIN_LIMIT = 256 * 1024;

/** What each kind of pipe is, and who else may hold its stream. */
const PIPES = {
  read: {
    is:
      "a ReadableStream<Uint8Array> or an object with .readable (Deno.FsFile, Deno.stdin, a child's stdout)",
    user: "reader",
  },
  write: {
    is:
      "a WritableStream<Uint8Array> or an object with .writable (Deno.FsFile, Deno.stdout, a child's stdin)",
    user: "writer",
  },
};

/**
 * A pipe's stream, checked: throws a `TypeError` when there is none and a
 * `RangeError` when another reader or writer holds it.
 */
function unlocked<S extends { locked: boolean }>(
  stream: S | null,
  kind: "read" | "write",
): S {
  if (stream === null) {
    throw new TypeError(`a ${kind} pipe is ${PIPES[kind].is}`);
  }
  if (stream.locked) {
    throw new RangeError(
      `the pipe's stream is locked: another ${PIPES[kind].user} is using it`,
    );
  }
  return stream;
}

interface ReadOutcome {
  result: ReadableStreamReadResult<Uint8Array> | null;
  error: unknown;
}

function reportFatal(
  loop: TransportLoop,
  error: unknown,
  message: string,
  transport: object,
  protocol: BaseProtocol,
): void {
  // OS errors (a closed peer, a broken pipe) are the pipe's normal ending:
  // asyncio logs them in debug mode only.
  if (isOsError(error)) {
    if (loop.getDebug()) logger.debug(`${transport}: ${message}: ${error}`);
    return;
  }
  loop.callExceptionHandler({
    message,
    exception: error,
    transport,
    protocol,
  });
}

/**
 * The read end of a pipe. Mirrors asyncio's `_UnixReadPipeTransport`:
 * `dataReceived` for each chunk (the protocol owns the chunk), then
 * `eofReceived()` and `connectionLost(null)` at the end of the stream.
 *
 * @example Read a web stream
 * ```ts
 * import { newEventLoop, Protocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const text = await loop.runUntilComplete(async () => {
 *   const done = loop.createFuture<string>();
 *   let got = "";
 *   class Collect extends Protocol {
 *     override dataReceived(data: Uint8Array) { got += new TextDecoder().decode(data); }
 *     override connectionLost() { done.setResult(got); }
 *   }
 *   const stream = ReadableStream.from([new TextEncoder().encode("hi")]);
 *   await loop.connectReadPipe(() => new Collect(), stream);
 *   return await done;
 * });
 * assert.equal(text, "hi");
 * loop.close();
 * ```
 */
export class ReadPipeTransport extends ReadTransport {
  #loop: TransportLoop;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #protocol: BaseProtocol;
  #registration: Registration;
  /** A `read()` is in flight. */
  #reading = false;
  /** Completed reads not yet delivered (at most READ_AHEAD). */
  #queue: ReadOutcome[] = [];
  /** The stream's end (or an error) is queued: read no more. */
  #ended = false;
  #paused = false;
  #closing = false;
  #closed = false;

  /**
   * Wraps the read end of a pipe; `loop.connectReadPipe()` is the usual way
   * to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param pipe A readable stream, or an object with `.readable`.
   * @param protocol The protocol to call.
   * @param waiter Completed (with null) once `connectionMade` has run.
   * @param extra Extra information besides `pipe`.
   * @throws {TypeError} when `pipe` is not a readable pipe.
   * @throws {RangeError} when its stream is locked (already being read).
   */
  constructor(
    loop: TransportLoop,
    pipe: ReadablePipe,
    protocol: BaseProtocol,
    waiter: Future<null> | null = null,
    extra: Record<string, unknown> | null = null,
  ) {
    const stream = unlocked(readableOf(pipe), "read");
    super({ ...extra, pipe });
    this.#loop = loop;
    this.#protocol = protocol;
    this.#reader = stream.getReader();
    this.#registration = loop._dispatcher.register("read pipe");
    this.#registration.onLoopClose = () => {
      // The loop closed with the pipe open: let the descriptor go, without
      // the protocol (see Registration.onLoopClose).
      if (this.#closed) return;
      this.#closed = this.#closing = true;
      this.#queue = [];
      this.#reader.cancel().catch(() => {});
    };
    loop.callSoon(
      protocolCall(
        this,
        "connectionMade",
        () => this.#protocol.connectionMade(this),
      ),
    );
    loop.callSoon(this.#readMore);
    completeSoon(loop, waiter);
  }

  readonly #readMore = (): void => {
    if (
      this.#reading || this.#paused || this.#closing || this.#ended ||
      this.#queue.length >= READ_AHEAD
    ) return;
    this.#reading = true;
    this.#registration.beginWait();
    this.#reader.read().then(this.#onRead, this.#onReadError);
  };

  readonly #onRead = (result: ReadableStreamReadResult<Uint8Array>): void => {
    this.#registration.endWait();
    this.#reading = false;
    if (this.#closing) return;
    this.#queue.push({ result, error: null });
    if (result.done) this.#ended = true;
    // Read ahead while the loop delivers this chunk (as a kernel keeps
    // receiving), up to READ_AHEAD chunks; never while paused.
    else this.#readMore();
    this.#registration.post(this.#readDone);
  };

  readonly #onReadError = (error: unknown): void => {
    this.#registration.endWait();
    this.#reading = false;
    if (this.#closing) return;
    this.#ended = true;
    this.#queue.push({
      result: null,
      error: error ?? new Error("read failed"),
    });
    this.#registration.post(this.#readDone);
  };

  /** Delivers completed reads in order, until paused or closing. */
  readonly #readDone = (): void => {
    while (this.#queue.length > 0 && !this.#paused && !this.#closing) {
      const { result, error } = this.#queue.shift()!;
      if (result === null) {
        this.#fatalError(error, "Fatal read error on pipe transport");
        return;
      }
      if (result.done) {
        this.#onEof();
        return;
      }
      const data = result.value;
      if (!(data instanceof Uint8Array)) {
        this.#fatalError(
          new TypeError(
            `a read pipe must yield Uint8Array chunks, got ${typeof data}`,
          ),
          "Fatal read error on pipe transport",
        );
        return;
      }
      if (data.length === 0) continue;
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
    this.#readMore();
  };

  #onEof(): void {
    if (this.#loop.getDebug()) logger.debug(`${this} was closed by peer`);
    this.#closing = true;
    // The stream is closed: the reader holds nothing. (Releasing it would
    // build a TypeError for its closed promise, a stack trace per pipe.)
    try {
      (this.#protocol as Protocol).eofReceived?.();
    } catch (error) {
      this.#loop.callExceptionHandler({
        message: "Fatal error: protocol.eofReceived() call failed.",
        exception: error,
        transport: this,
        protocol: this.#protocol,
      });
    }
    this.#loop.callSoon(
      protocolCall(
        this,
        "connectionLost",
        () => this.#callConnectionLost(null),
        () => [null],
      ),
    );
  }

  /**
   * Whether the transport is receiving. Mirrors `is_reading()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectReadPipe(() => new Collect(), stream);
   *   assert.equal(transport.isReading(), true);
   *   pipe.enqueue(new TextEncoder().encode("data"));
   *   pipe.close(); // EOF: the transport closes
   *   assert.equal(await done, "data");
   *   assert.equal(transport.isReading(), false);
   * });
   * loop.close();
   * ```
   */
  override isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  /**
   * Stops reading: no more is pulled from the stream (so the writer
   * blocks) and `dataReceived` is not called until `resumeReading()`.
   * Mirrors `pause_reading()`; a no-op when paused or closing.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectReadPipe(() => new Collect(), stream);
   *   transport.pauseReading(); // dataReceived() waits for resumeReading()
   *   assert.equal(transport.isReading(), false);
   *   pipe.enqueue(new TextEncoder().encode("later"));
   *   pipe.close();
   *   transport.resumeReading(); // now the data and EOF are delivered
   *   assert.equal(await done, "later");
   * });
   * loop.close();
   * ```
   */
  override pauseReading(): void {
    if (!this.isReading()) return;
    this.#paused = true;
    if (this.#loop.getDebug()) logger.debug(`${this} pauses reading`);
  }

  /**
   * Resumes reading. Mirrors `resume_reading()`; a no-op unless paused.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectReadPipe(() => new Collect(), stream);
   *   transport.pauseReading();
   *   pipe.enqueue(new TextEncoder().encode("held"));
   *   pipe.close();
   *   transport.resumeReading();
   *   assert.equal(transport.isReading(), true);
   *   assert.equal(await done, "held");
   * });
   * loop.close();
   * ```
   */
  override resumeReading(): void {
    if (this.#closing || !this.#paused) return;
    this.#paused = false;
    this.#loop.callSoon(this.#readDone);
    if (this.#loop.getDebug()) logger.debug(`${this} resumes reading`);
  }

  /**
   * @ignore Chunks pulled from the stream and not yet delivered, plus a
   * read in flight: tests use it to check a paused transport stays bounded.
   */
  get _pulledAhead(): number {
    return this.#queue.length + (this.#reading ? 1 : 0);
  }

  /**
   * Switches the protocol. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport, first] = await loop.connectReadPipe(() => new Protocol(), stream);
   *   const second = new Collect();
   *   transport.setProtocol(second); // data from now on goes to `second`
   *   assert.notEqual(transport.getProtocol(), first);
   *   pipe.enqueue(new TextEncoder().encode("for the second"));
   *   pipe.close();
   *   assert.equal(await done, "for the second");
   * });
   * loop.close();
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport, protocol] = await loop.connectReadPipe(() => new Collect(), stream);
   *   assert.equal(transport.getProtocol(), protocol);
   *   pipe.close();
   *   assert.equal(await done, "");
   * });
   * loop.close();
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<string>();
   * class Collect extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override connectionLost() { done.setResult(this.text); }
   * }
   * let pipe!: ReadableStreamDefaultController<Uint8Array>;
   * const stream = new ReadableStream<Uint8Array>({ start(c) { pipe = c; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectReadPipe(() => new Collect(), stream);
   *   assert.equal(transport.isClosing(), false);
   *   pipe.close(); // EOF
   *   await done;
   *   assert.equal(transport.isClosing(), true);
   * });
   * loop.close();
   * ```
   */
  override isClosing(): boolean {
    return this.#closing;
  }

  /**
   * Stops reading and closes the pipe (cancels its stream); the protocol's
   * `connectionLost(null)` follows. Mirrors `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * let cancelled = false;
   * const stream = new ReadableStream<Uint8Array>({ cancel() { cancelled = true; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectReadPipe(() => new P(), stream);
   *   transport.close();
   *   assert.equal(transport.isClosing(), true);
   *   assert.equal(await lost, null); // connectionLost(null) once the pipe is closed
   * });
   * assert.equal(cancelled, true);
   * loop.close();
   * ```
   */
  override close(): void {
    if (!this.#closing) this.#close(null);
  }

  #fatalError(error: unknown, message: string): void {
    reportFatal(this.#loop, error, message, this, this.#protocol);
    this.#close(error);
  }

  #close(error: unknown): void {
    this.#closing = true;
    this.#queue = [];
    // Cancelling releases the descriptor behind the stream; the protocol
    // hears of it once that is done, so nothing is left open after
    // connectionLost().
    this.#registration.begin();
    // A read in flight holds the descriptor until Deno drops the cancelled
    // read, a turn of its own event loop after cancel() settles; waiting
    // for that turn lets the descriptor go before connectionLost(), as
    // asyncio's pipe is closed by then (a child writing to a pipe whose
    // transport was closed gets EPIPE at once).
    const reading = this.#reading;
    this.#reader.cancel().catch(() => {}).then(() =>
      reading ? new Promise((resolve) => setTimeout(resolve, 0)) : undefined
    ).then(() => {
      this.#registration.end();
      this.#registration.post(
        protocolCall(
          this,
          "connectionLost",
          () => this.#callConnectionLost(error),
          () => [error ?? null],
        ),
      );
    });
  }

  #callConnectionLost(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#protocol.connectionLost((error ?? null) as Error | null);
    } finally {
      this.#registration.close();
    }
  }

  /** A description like `<ReadPipeTransport polling>`. */
  override toString(): string {
    const state = this.#closed
      ? "closed"
      : this.#closing
      ? "closing"
      : this.#paused
      ? "idle"
      : "polling";
    return `<ReadPipeTransport ${state}>`;
  }
}

/**
 * The write end of a pipe. Mirrors asyncio's `_UnixWritePipeTransport`:
 * buffered `write()`, flow control on the water marks, and `writeEof()` /
 * `close()` closing the pipe once the buffer is written, followed by
 * `connectionLost(null)`. A write error (a broken pipe: the reader went
 * away) ends it with `connectionLost(error)`.
 *
 * Deno cannot watch a write-only pipe for its reader going away, so, unlike
 * asyncio, that is only noticed on the next write (or, for a child's stdin,
 * when the child exits).
 *
 * @example Write into a web stream
 * ```ts
 * import { BaseProtocol, newEventLoop, type WriteTransport } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const got: string[] = [];
 * const sink = new WritableStream<Uint8Array>({
 *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
 * });
 * await loop.runUntilComplete(async () => {
 *   const lost = loop.createFuture<null>();
 *   class P extends BaseProtocol {
 *     override connectionLost() { lost.setResult(null); }
 *   }
 *   const [t] = await loop.connectWritePipe(() => new P(), sink);
 *   (t as WriteTransport).write(new TextEncoder().encode("hello"));
 *   t.close();
 *   await lost;
 * });
 * assert.deepEqual(got, ["hello"]);
 * loop.close();
 * ```
 */
export class WritePipeTransport extends WriteTransport {
  #loop: TransportLoop;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #protocol: BaseProtocol;
  #registration: Registration;
  #chunks: Uint8Array[] = [];
  /** Bytes queued or being written. */
  #size = 0;
  #writing = false;
  #inFlight = 0;
  #flow: WriteFlowControl;
  #closing = false;
  #connLost = 0;
  /**
   * asyncio's `_conn_lost` count, which decides when dropped writes warn: a
   * failed write and each write dropped afterwards count; an `abort()` or a
   * reader going away does not (asyncio's pipe `_close()` leaves it alone).
   */
  #lostWrites = 0;
  #closed = false;
  #ending = false;
  /** `_readerGone()` was called: the pipe has no reader any more. */
  #readerGone = false;

  /**
   * Wraps the write end of a pipe; `loop.connectWritePipe()` is the usual
   * way to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param pipe A writable stream, or an object with `.writable`.
   * @param protocol The protocol to call.
   * @param waiter Completed (with null) once `connectionMade` has run.
   * @param extra Extra information besides `pipe`.
   * @throws {TypeError} when `pipe` is not a writable pipe.
   * @throws {RangeError} when its stream is locked.
   */
  constructor(
    loop: TransportLoop,
    pipe: WritablePipe,
    protocol: BaseProtocol,
    waiter: Future<null> | null = null,
    extra: Record<string, unknown> | null = null,
  ) {
    const stream = unlocked(writableOf(pipe), "write");
    super({ ...extra, pipe });
    this.#loop = loop;
    this.#flow = new WriteFlowControl(loop, this);
    this.#protocol = protocol;
    this.#writer = stream.getWriter();
    this.#registration = loop._dispatcher.register("write pipe");
    this.#registration.onLoopClose = () => {
      // The loop closed with the pipe open: let the descriptor go, without
      // the protocol (see Registration.onLoopClose); unsent bytes are
      // reported.
      if (this.#closed) return;
      this.#closed = this.#closing = true;
      const unsent = this.#size;
      this.#chunks = [];
      this.#size = 0;
      if (unsent > 0) {
        logger.warning(
          `${this} was still open when its loop closed: closed with ${unsent} bytes unsent`,
        );
      }
      if (!this.#ending) {
        this.#ending = true;
        this.#writer.abort().catch(() => {});
      }
    };
    loop.callSoon(
      protocolCall(
        this,
        "connectionMade",
        () => this.#protocol.connectionMade(this),
      ),
    );
    completeSoon(loop, waiter);
  }

  /**
   * Queues bytes to write; never blocks. Mirrors `write()`: after the pipe
   * is closed or lost, writes are dropped (with a warning after a few).
   * The array is not copied: don't modify it after `write()`.
   *
   * @throws {TypeError} for a string or other non-bytes.
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   transport.write(new TextEncoder().encode("hello"));
   *   transport.close(); // once the buffer is written
   *   await lost;
   * });
   * assert.deepEqual(got, ["hello"]);
   * loop.close();
   * ```
   */
  override write(data: Uint8Array): void {
    checkBytes(data, "write()");
    if (data.length === 0) return;
    if (this.#connLost > 0 || this.#closing) {
      if (this.#lostWrites >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        logger.warning(
          "pipe closed by peer or os.write(pipe, data) raised exception.",
        );
      }
      // Counted apart from #connLost: a write after close() must not stop
      // the flush of what was queued before it.
      this.#lostWrites++;
      return;
    }
    this.#chunks.push(data);
    this.#size += data.length;
    if (!this.#writing) this.#flush();
    this.#maybePauseProtocol();
  }

  /**
   * Queues several byte arrays. Mirrors `writelines()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   const enc = new TextEncoder();
   *   transport.writelines([enc.encode("one\n"), enc.encode("two\n")]);
   *   transport.close();
   *   await lost;
   * });
   * assert.equal(got.join(""), "one\ntwo\n");
   * loop.close();
   * ```
   */
  override writelines(listOfData: Iterable<Uint8Array>): void {
    for (const data of listOfData) this.write(data);
  }

  #flush(): void {
    const chunks = this.#chunks;
    for (const queued of chunks) {
      if (isDetached(queued)) {
        // A queued array was detached after write() took it: its bytes
        // cannot go out, and the loss must not pass for a clean close.
        this.#fatalError(
          detachedWriteError(this.#size),
          "Fatal write error on pipe transport",
        );
        return;
      }
    }
    let chunk = chunks[0];
    let taken = 1;
    if (chunks.length > 1 && chunk.length < JOIN_LIMIT) {
      let total = chunk.length;
      while (
        taken < chunks.length && total + chunks[taken].length <= JOIN_LIMIT
      ) {
        total += chunks[taken++].length;
      }
      if (taken > 1) chunk = concat(chunks.slice(0, taken), total);
    }
    chunks.splice(0, taken);
    this.#writing = true;
    this.#inFlight = chunk.length;
    this.#registration.begin();
    this.#writer.write(chunk).then(this.#onWritten, this.#onWriteError);
  }

  readonly #onWritten = (): void => {
    this.#registration.end();
    this.#writing = false;
    if (this.#closed || this.#connLost > 0) return;
    this.#size -= this.#inFlight;
    this.#inFlight = 0;
    // Keep the pipe busy without a loop trip; only protocol calls and the
    // close go through the loop.
    if (this.#chunks.length > 0) this.#flush();
    else if (this.#readerGone) {
      // The reader left while this write was in flight (it was accepted
      // just before): with nothing left to write, close now.
      this.#registration.post(() => this._readerGone());
      return;
    }
    if (
      (this.#flow.paused && this.#size <= this.#flow.low) ||
      (this.#closing && this.#size === 0)
    ) {
      this.#registration.post(this.#afterWrite);
    }
  };

  readonly #afterWrite = (): void => {
    if (this.#closed || this.#connLost > 0) return;
    this.#maybeResumeProtocol();
    if (this.#closing && this.#size === 0) this.#end(null, false);
  };

  readonly #onWriteError = (error: unknown): void => {
    this.#registration.end();
    this.#registration.post(() => {
      this.#writing = false;
      if (this.#closed || this.#connLost > 0) return;
      this.#fatalError(error, "Fatal write error on pipe transport");
    });
  };

  /**
   * Bytes queued and not yet written. Mirrors `get_write_buffer_size()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   transport.write(new TextEncoder().encode("hello"));
   *   assert.equal(transport.getWriteBufferSize(), 5); // not written yet
   *   transport.close();
   *   await lost;
   *   assert.equal(transport.getWriteBufferSize(), 0);
   * });
   * assert.deepEqual(got, ["hello"]);
   * loop.close();
   * ```
   */
  override getWriteBufferSize(): number {
    return this.#size;
  }

  /**
   * `[low, high]` water marks. Mirrors `get_write_buffer_limits()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   assert.deepEqual(transport.getWriteBufferLimits(), [16384, 65536]);
   *   transport.setWriteBufferLimits(1000); // low defaults to high / 4
   *   assert.deepEqual(transport.getWriteBufferLimits(), [250, 1000]);
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  override getWriteBufferLimits(): [number, number] {
    return [this.#flow.low, this.#flow.high];
  }

  /**
   * Sets the water marks (defaults: high 64 KiB, low high / 4). Mirrors
   * `set_write_buffer_limits()`.
   *
   * @throws {RangeError} unless high >= low >= 0.
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * const events: string[] = [];
   * class P extends BaseProtocol {
   *   override pauseWriting() { events.push("pause"); }
   *   override resumeWriting() { events.push("resume"); }
   *   override connectionLost() { lost.setResult(null); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), new WritableStream());
   *   transport.setWriteBufferLimits(4, 0); // high 4 bytes, low 0
   *   transport.write(new Uint8Array(10)); // over the high mark: pauseWriting()
   *   transport.close(); // written: resumeWriting(), then connectionLost()
   *   await lost;
   * });
   * assert.deepEqual(events, ["pause", "resume"]);
   * loop.close();
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
    this.#flow.maybePause(this.#size, this.#protocol);
  }

  #maybeResumeProtocol(): void {
    this.#flow.maybeResume(this.#size, this.#protocol);
  }

  /**
   * True: closing the write end is the reader's EOF. Mirrors
   * `can_write_eof()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   assert.equal(transport.canWriteEof(), true);
   *   transport.write(new TextEncoder().encode("all"));
   *   transport.writeEof(); // the reader sees the end of the stream
   *   await lost;
   * });
   * assert.deepEqual(got, ["all"]);
   * loop.close();
   * ```
   */
  override canWriteEof(): boolean {
    return true;
  }

  /**
   * Closes the pipe once the buffer is written (the reader sees EOF); the
   * protocol's `connectionLost(null)` follows. Mirrors `write_eof()`: for
   * a pipe this is the same as `close()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * let closed = false;
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   *   close() { closed = true; },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   transport.write(new TextEncoder().encode("last"));
   *   transport.writeEof(); // closes the pipe once "last" is written
   *   await lost;
   * });
   * assert.deepEqual(got, ["last"]);
   * assert.equal(closed, true);
   * loop.close();
   * ```
   */
  override writeEof(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#size === 0) {
      this.#loop.callSoon(() => this.#end(null, false));
    }
  }

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * let closed = false;
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   *   close() { closed = true; },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   assert.equal(transport.isClosing(), false);
   *   transport.close();
   *   assert.equal(transport.isClosing(), true);
   *   await lost;
   * });
   * assert.equal(closed, true);
   * loop.close();
   * ```
   */
  override isClosing(): boolean {
    return this.#closing;
  }

  /**
   * Closes after buffered data is written. Mirrors `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * let closed = false;
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   *   close() { closed = true; },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   transport.write(new TextEncoder().encode("flushed"));
   *   transport.close(); // writes what is buffered, then closes the stream
   *   await lost;
   * });
   * assert.deepEqual(got, ["flushed"]);
   * assert.equal(closed, true);
   * loop.close();
   * ```
   */
  override close(): void {
    if (!this.#closing) this.writeEof();
  }

  /**
   * Closes at once, dropping buffered data; `connectionLost(null)` follows.
   * Mirrors `abort()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends BaseProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * let aborted = false;
   * const sink = new WritableStream<Uint8Array>({ abort() { aborted = true; } });
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new P(), sink);
   *   transport.write(new Uint8Array(100));
   *   transport.abort(); // drops the buffer and aborts the stream
   *   assert.equal(transport.getWriteBufferSize(), 0);
   *   assert.equal(await lost, null);
   * });
   * assert.equal(aborted, true);
   * loop.close();
   * ```
   */
  override abort(): void {
    this.#forceClose(null);
  }

  /**
   * @ignore The reader went away (a child exited): close now if idle, as
   * asyncio does when the pipe's read end closes; a pending write fails
   * with a broken pipe on its own, or, if it was accepted just before,
   * the transport closes once it completes.
   */
  _readerGone(): void {
    this.#readerGone = true;
    if (this.#closed || this.#connLost > 0 || this.#writing) return;
    if (this.#size === 0) this.#forceClose(null);
  }

  #fatalError(error: unknown, message: string): void {
    reportFatal(this.#loop, error, message, this, this.#protocol);
    if (this.#connLost === 0 && !this.#closed) this.#lostWrites++;
    this.#forceClose(error);
  }

  #forceClose(error: unknown): void {
    if (this.#connLost > 0 || this.#closed) return;
    this.#closing = true;
    this.#connLost++;
    this.#chunks = [];
    this.#size = 0;
    this.#end(error, true);
  }

  /** Closes (or aborts) the stream, then tells the protocol. */
  #end(error: unknown, abort: boolean): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#registration.begin();
    const writer = this.#writer;
    const done = abort ? writer.abort(error ?? undefined) : writer.close();
    done.catch(() => {}).then(() => {
      this.#registration.end();
      this.#registration.post(
        protocolCall(
          this,
          "connectionLost",
          () => this.#callConnectionLost(error),
          () => [error ?? null],
        ),
      );
    });
  }

  #callConnectionLost(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#protocol.connectionLost((error ?? null) as Error | null);
    } finally {
      this.#registration.close();
    }
  }

  /**
   * Switches the protocol. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<string>();
   * class Named extends BaseProtocol {
   *   constructor(readonly name: string) { super(); }
   *   override connectionLost() { lost.setResult(this.name); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.connectWritePipe(() => new Named("first"), new WritableStream());
   *   transport.setProtocol(new Named("second"));
   *   transport.close();
   *   assert.equal(await lost, "second"); // the new protocol is called
   * });
   * loop.close();
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<null>();
   * class P extends BaseProtocol {
   *   override connectionLost() { lost.setResult(null); }
   * }
   * const got: string[] = [];
   * const sink = new WritableStream<Uint8Array>({
   *   write(chunk) { got.push(new TextDecoder().decode(chunk)); },
   * });
   * await loop.runUntilComplete(async () => {
   *   const [transport, protocol] = await loop.connectWritePipe(() => new P(), sink);
   *   assert.equal(transport.getProtocol(), protocol);
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  /** A description like `<WritePipeTransport idle bufsize=0>`. */
  override toString(): string {
    const state = this.#closed
      ? "closed"
      : this.#closing
      ? "closing"
      : this.#writing
      ? "polling"
      : "idle";
    return `<WritePipeTransport ${state} bufsize=${this.#size}>`;
  }
}

/**
 * `loop.connectReadPipe()`'s work: a read transport over `pipe` with a
 * protocol from `protocolFactory`, once `connectionMade` has run.
 */
export async function connectReadPipe<P extends BaseProtocol>(
  loop: TransportLoop,
  protocolFactory: ProtocolFactory<P>,
  pipe: ReadablePipe,
): Promise<[ReadPipeTransport, P]> {
  checkFactory(protocolFactory, "connectReadPipe");
  if (readableOf(pipe) === null) {
    throw new TypeError(
      `connectReadPipe(): pipe must be ${PIPES.read.is}, got ${describe(pipe)}`,
    );
  }
  const protocol = protocolFactory();
  const waiter = loop.createFuture<null>();
  const transport = new ReadPipeTransport(loop, pipe, protocol, waiter);
  return await connectionMade(transport, protocol, waiter, () => {
    transport.close();
  });
}

/**
 * `loop.connectWritePipe()`'s work: a write transport over `pipe` with a
 * protocol from `protocolFactory`, once `connectionMade` has run.
 */
export async function connectWritePipe<P extends BaseProtocol>(
  loop: TransportLoop,
  protocolFactory: ProtocolFactory<P>,
  pipe: WritablePipe,
): Promise<[WritePipeTransport, P]> {
  checkFactory(protocolFactory, "connectWritePipe");
  if (writableOf(pipe) === null) {
    throw new TypeError(
      `connectWritePipe(): pipe must be ${PIPES.write.is}, got ${
        describe(pipe)
      }`,
    );
  }
  const protocol = protocolFactory();
  const waiter = loop.createFuture<null>();
  const transport = new WritePipeTransport(loop, pipe, protocol, waiter);
  return await connectionMade(transport, protocol, waiter, () => {
    transport.abort();
  });
}
