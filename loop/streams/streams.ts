/**
 * Streams: `StreamReader`, `StreamWriter` and the protocols that feed them.
 * Mirrors `asyncio.streams`, with asyncio's semantics: a reader buffers
 * what its transport delivers and pauses the transport when the buffer
 * holds more than twice its limit (64 KiB by default); a writer's
 * `drain()` waits while the transport's write buffer is over its high-water
 * mark.
 *
 * @module
 */
import { emptyArray } from "../base/arrays.ts";
import { labelWait, type WaitInfo } from "../core/wait_labels.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import { concat } from "../base/bytes.ts";
import {
  IncompleteReadError,
  LimitOverrunError,
  RuntimeError,
} from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import type { SSLContext } from "../net/ssl_context.ts";
import { _getEventLoop } from "../core/running.ts";
import { isThenable, sleep, type Task } from "../core/tasks.ts";
import { checkBytes } from "../net/socket.ts";
import type { AnyTransport } from "../../protocols/protocol.ts";
import { Protocol } from "../../protocols/protocol.ts";
import type { BaseTransport, Transport } from "../../transports/transport.ts";

/** The default buffer limit of a `StreamReader` (asyncio's `_DEFAULT_LIMIT`). */
export const DEFAULT_LIMIT = 64 * 1024;

const NEWLINE = new Uint8Array([10]);
/** What a drain with nothing to wait for returns. */
const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);

/** What a `StreamReader` needs of its transport: flow control. */
export interface PausableTransport {
  /** Stop delivering data. */
  pauseReading(): void;
  /** Deliver data again. */
  resumeReading(): void;
}

/** What a `StreamWriter` needs of its transport. */
export interface WritableTransport extends BaseTransport {
  /** Queues bytes. */
  write(data: Uint8Array): void;
  /** Closes the write end after flushing. */
  writeEof(): void;
  /** Whether `writeEof()` is supported. */
  canWriteEof(): boolean;
}

function indexOf(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let i = haystack.indexOf(first, from); i !== -1 && i <= last;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = haystack.indexOf(first, i + 1);
  }
  return -1;
}

/**
 * A buffered reader of a byte stream. Mirrors `asyncio.StreamReader`:
 * `read`, `readline`, `readexactly`, `readuntil`, `atEof`, and async
 * iteration over lines (`for await (const line of reader)`).
 *
 * @example Feed a reader by hand
 * ```ts
 * import { newEventLoop, StreamReader } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const lines = await loop.runUntilComplete(async () => {
 *   const reader = new StreamReader();
 *   reader.feedData(new TextEncoder().encode("one\ntwo\n"));
 *   reader.feedEof();
 *   const out: string[] = [];
 *   for await (const line of reader) out.push(new TextDecoder().decode(line));
 *   return out;
 * });
 * assert.deepEqual(lines, ["one\n", "two\n"]);
 * loop.close();
 * ```
 */
export class StreamReader {
  #limit: number;
  #loop: AbstractEventLoop;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #eof = false;
  #waiter: Future<null> | null = null;
  #exception: Error | null = null;
  #transport: PausableTransport | null = null;
  /** What a wait for data is, for the task tree. */
  readonly #waitLabel = (): string => {
    const info = (this.#transport as {
      getExtraInfo?(name: string): unknown;
    } | null)?.getExtraInfo?.("peername");
    return Array.isArray(info)
      ? `StreamReader data from ${info[0]}:${info[1]}`
      : "StreamReader data";
  };
  /** The label every wait for data carries (one object per reader). */
  readonly #waitInfo: WaitInfo = { label: this.#waitLabel };
  #paused = false;

  /**
   * Creates a reader.
   *
   * @param limit The buffer limit (default 64 KiB): the longest line
   *   `readline` accepts, and half the buffer size that pauses the
   *   transport.
   * @param options `loop`: the loop (default: the running loop, else the
   *   current event loop, as asyncio's `events.get_event_loop()`).
   * @throws {TypeError} when `limit` is not a number.
   * @throws {RangeError} unless `limit` is positive.
   * @throws {RuntimeError} when no loop is given, none is running and no
   *   current loop is set.
   */
  constructor(
    limit: number = DEFAULT_LIMIT,
    options: { loop?: AbstractEventLoop } = {},
  ) {
    if (typeof limit !== "number") {
      throw new TypeError(`limit must be a number, got ${typeof limit}`);
    }
    if (!(limit > 0)) {
      throw new RangeError(`limit must be a positive number, got ${limit}`);
    }
    this.#limit = limit;
    this.#loop = options.loop ?? _getEventLoop();
  }

  /** The buffer limit. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * The error set by `setException`, or null. Mirrors `exception()`.
   *
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const reader = new StreamReader();
   *   assert.equal(reader.exception(), null);
   *   const error = new Error("connection reset");
   *   reader.setException(error);
   *   assert.equal(reader.exception(), error);
   *   await assert.rejects(reader.read(), /connection reset/);
   * });
   * ```
   */
  exception(): Error | null {
    return this.#exception;
  }

  /**
   * Makes every pending and future read fail with `exc`. Mirrors
   * `set_exception()`.
   *
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const reader = new StreamReader();
   *   const pending = reader.readline(); // waits for data
   *   reader.setException(new Error("connection reset"));
   *   await assert.rejects(pending, /connection reset/);
   * });
   * ```
   */
  setException(exc: Error): void {
    this.#exception = exc;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      if (!waiter.cancelled()) waiter.setException(exc);
    }
  }

  #wakeupWaiter(): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      if (!waiter.cancelled()) waiter.setResult(null);
    }
  }

  /**
   * Attaches the transport to pause and resume. Mirrors `set_transport()`.
   *
   * @throws {RuntimeError} when a transport is already set.
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const calls: string[] = [];
   * await run(async () => {
   *   const reader = new StreamReader(4);
   *   reader.setTransport({
   *     pauseReading: () => calls.push("pause"),
   *     resumeReading: () => calls.push("resume"),
   *   });
   *   reader.feedData(new Uint8Array(9)); // over twice the limit: pause
   *   assert.equal((await reader.read(9)).length, 9); // drained: resume
   * });
   * assert.deepEqual(calls, ["pause", "resume"]);
   * ```
   */
  setTransport(transport: PausableTransport): void {
    if (this.#transport !== null) {
      throw new RuntimeError("Transport already set");
    }
    this.#transport = transport;
  }

  /** @ignore The connection moved to a new transport (TLS upgrade). */
  _replaceTransport(transport: PausableTransport): void {
    this.#transport = transport;
  }

  #maybeResumeTransport(): void {
    if (this.#paused && this.#size <= this.#limit) {
      this.#paused = false;
      this.#transport!.resumeReading();
    }
  }

  /**
   * Marks the end of the stream. Mirrors `feed_eof()`.
   *
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const text = await run(async () => {
   *   const reader = new StreamReader();
   *   const all = reader.read(); // everything until EOF
   *   reader.feedData(new TextEncoder().encode("last words"));
   *   reader.feedEof();
   *   return new TextDecoder().decode(await all);
   * });
   * assert.equal(text, "last words");
   * ```
   */
  feedEof(): void {
    this.#eof = true;
    this.#wakeupWaiter();
  }

  /**
   * Whether the stream ended and the buffer is empty. Mirrors `at_eof()`.
   *
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new Uint8Array([1, 2]));
   *   reader.feedEof();
   *   assert.equal(reader.atEof(), false); // two bytes are still buffered
   *   assert.deepEqual(await reader.read(), new Uint8Array([1, 2]));
   *   assert.equal(reader.atEof(), true);
   * });
   * ```
   */
  atEof(): boolean {
    return this.#eof && this.#size === 0;
  }

  /**
   * Adds bytes to the buffer (the reader keeps `data`); pauses the
   * transport when the buffer exceeds twice the limit. Mirrors
   * `feed_data()`.
   *
   * @throws {RuntimeError} after `feedEof()`.
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const decode = (data: Uint8Array) => new TextDecoder().decode(data);
   * await run(async () => {
   *   const reader = new StreamReader();
   *   const line = reader.readline();
   *   reader.feedData(new TextEncoder().encode("hel"));
   *   reader.feedData(new TextEncoder().encode("lo\nrest"));
   *   assert.equal(decode(await line), "hello\n");
   *   assert.equal(decode(await reader.read(4)), "rest");
   * });
   * ```
   */
  feedData(data: Uint8Array): void {
    checkBytes(data, "feedData()");
    if (this.#eof) throw new RuntimeError("feedData() after feedEof()");
    if (data.length === 0) return;
    this.#chunks.push(data);
    this.#size += data.length;
    this.#wakeupWaiter();
    if (
      this.#transport !== null && !this.#paused &&
      this.#size > 2 * this.#limit
    ) {
      try {
        this.#transport.pauseReading();
        this.#paused = true;
      } catch {
        // A transport that cannot pause: stop trying (asyncio's choice).
        this.#transport = null;
      }
    }
  }

  /**
   * The future that `feedData()` or `feedEof()` completes. Not an async
   * function: a read that waits awaits the future itself, one promise
   * fewer per wait. A waiter left behind by a cancelled read is done, and
   * gives way to the next.
   */
  #waitForData(funcName: string): Future<null> {
    const pending = this.#waiter;
    if (pending !== null) {
      if (!pending.done()) {
        throw new RuntimeError(
          `${funcName}() called while another coroutine is already waiting for incoming data`,
        );
      }
      this.#waiter = null;
    }
    if (this.#eof) throw new RuntimeError("_waitForData after EOF");
    // A paused transport with a buffer below the limit would never wake us.
    if (this.#paused) {
      this.#paused = false;
      this.#transport!.resumeReading();
    }
    const waiter = this.#loop.createFuture<null>();
    this.#waiter = waiter;
    labelWait(waiter, this.#waitInfo);
    return waiter;
  }

  /** The buffer as one array (joins chunks when needed). */
  #flat(): Uint8Array {
    if (this.#chunks.length === 0) return EMPTY;
    if (this.#chunks.length > 1) {
      this.#chunks = [concat(this.#chunks, this.#size)];
    }
    return this.#chunks[0];
  }

  /** Removes and returns the first `n` bytes of the buffer. */
  #take(n: number): Uint8Array {
    if (n === 0) return EMPTY;
    if (n >= this.#size) {
      const all = concat(this.#chunks, this.#size);
      emptyArray(this.#chunks);
      this.#size = 0;
      this.#maybeResumeTransport();
      return all;
    }
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first.length > n) {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    } else {
      const flat = this.#flat();
      out = flat.subarray(0, n);
      this.#chunks[0] = flat.subarray(n);
    }
    if (this.#chunks[0].length === 0) this.#chunks.shift();
    this.#size -= n;
    this.#maybeResumeTransport();
    return out;
  }

  /**
   * Reads a line (up to and including `\n`). At EOF returns what is left,
   * possibly an empty array. Mirrors `readline()`.
   *
   * @throws {RangeError} when the line is longer than the limit (asyncio's
   *   `ValueError`); the line is dropped from the buffer.
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lines = await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new TextEncoder().encode("first\nsecond"));
   *   reader.feedEof();
   *   const out: string[] = [];
   *   for (let i = 0; i < 3; i++) {
   *     out.push(new TextDecoder().decode(await reader.readline()));
   *   }
   *   return out;
   * });
   * assert.deepEqual(lines, ["first\n", "second", ""]);
   * ```
   */
  readline(): Promise<Uint8Array> {
    // readuntil(NEWLINE) with its errors turned into readline's, written
    // out for the one-byte separator (the common case of line protocols),
    // and without an async function's frame: a line buffered now, or the
    // waiter's outcome handed straight on.
    try {
      const line = this.#lineNow();
      if (line !== null) return Promise.resolve(line);
      return this.#waitForData("readuntil").then(this.#lineAfterWait);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readonly #lineAfterWait = (): Uint8Array | Promise<Uint8Array> => {
    const line = this.#lineNow();
    if (line !== null) return line;
    return this.#lineAfterWaits();
  };

  /**
   * A line that needs more than one wait. This handler runs as a loop
   * callback, where a future's `then()` is not tied to the reading task, so
   * cancelling the task could not cancel a wait chained here: the task would
   * stay pending and the line, once complete, would be consumed and lost.
   * An `await` in an async function registers from the task's own step, as
   * asyncio's `readline()` does, and the partial line stays buffered.
   */
  async #lineAfterWaits(): Promise<Uint8Array> {
    for (;;) {
      await this.#waitForData("readuntil");
      const line = this.#lineNow();
      if (line !== null) return line;
    }
  }

  /** A whole line (or what is left at EOF) if buffered, else null. */
  #lineNow(): Uint8Array | null {
    if (this.#exception !== null) throw this.#exception;
    const size = this.#size;
    if (size > 0) {
      const at = this.#flat().indexOf(10);
      if (at !== -1) {
        if (at > this.#limit) {
          this.#take(at + 1);
          throw new RangeError(
            "Separator is found, but chunk is longer than limit",
          );
        }
        return this.#take(at + 1);
      }
      if (size > this.#limit) {
        this.#take(size);
        throw new RangeError(
          "Separator is not found, and chunk exceed the limit",
        );
      }
    }
    if (this.#eof) return this.#take(this.#size);
    return null;
  }

  /**
   * Reads up to and including `separator` (default `\n`). Given an array
   * of separators, returns the shortest chunk that ends with any of them
   * (the shorter separator wins when two end at the same byte, and is the
   * one `LimitOverrunError` measures). Mirrors `readuntil()`.
   *
   * @throws {IncompleteReadError} at EOF before the separator (`partial`
   *   holds what was read; the buffer is emptied).
   * @throws {LimitOverrunError} when more than `limit` bytes precede the
   *   separator (the data stays in the buffer).
   * @throws {RangeError} for an empty separator.
   * @example
   * ```ts
   * import { IncompleteReadError, run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const crlf = new TextEncoder().encode("\r\n");
   * await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new TextEncoder().encode("HTTP/1.1 200 OK\r\nrest"));
   *   reader.feedEof();
   *   const status = await reader.readuntil(crlf);
   *   assert.equal(new TextDecoder().decode(status), "HTTP/1.1 200 OK\r\n");
   *   await assert.rejects(reader.readuntil(crlf), (error) =>
   *     error instanceof IncompleteReadError &&
   *     new TextDecoder().decode(error.partial) === "rest");
   * });
   * ```
   */
  async readuntil(
    separator: Uint8Array | Uint8Array[] = NEWLINE,
  ): Promise<Uint8Array> {
    const separators = Array.isArray(separator) ? separator : [separator];
    if (separators.length === 0) {
      throw new RangeError("Separator should contain at least one element");
    }
    for (const sep of separators) {
      checkBytes(sep, "readuntil()");
      if (sep.length === 0) {
        throw new RangeError("Separator should be at least one-byte string");
      }
    }
    if (this.#exception !== null) throw this.#exception;
    const minLen = Math.min(...separators.map((s) => s.length));
    const maxLen = Math.max(...separators.map((s) => s.length));
    let offset = 0;
    let match = -1;
    let matchLen = 0;
    for (;;) {
      const size = this.#size;
      if (size - offset >= minLen) {
        const flat = this.#flat();
        // asyncio returns the shortest chunk that ends with a separator:
        // the earliest match end wins, and the shorter separator on a tie.
        for (const sep of separators) {
          const at = indexOf(flat, sep, offset);
          if (at === -1) continue;
          const end = at + sep.length;
          const best = match + matchLen;
          if (
            match === -1 || end < best ||
            (end === best && sep.length < matchLen)
          ) {
            match = at;
            matchLen = sep.length;
          }
        }
        if (match !== -1) break;
        offset = Math.max(0, size + 1 - maxLen);
        if (offset > this.#limit) {
          throw new LimitOverrunError(
            "Separator is not found, and chunk exceed the limit",
            offset,
          );
        }
      }
      if (this.#eof) {
        const partial = this.#take(this.#size);
        throw new IncompleteReadError(partial, null);
      }
      await this.#waitForData("readuntil");
      if (this.#exception !== null) throw this.#exception;
    }
    if (match > this.#limit) {
      throw new LimitOverrunError(
        "Separator is found, but chunk is longer than limit",
        match,
      );
    }
    return this.#take(match + matchLen);
  }

  /**
   * Reads up to `n` bytes; with `n` < 0 (the default), everything until
   * EOF. Returns an empty array at EOF. Mirrors `read()`.
   *
   * @throws {TypeError} unless `n` is an integer (or `±Infinity`): a
   *   fraction of a byte is as meaningless here as a float is to asyncio.
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new Uint8Array([1, 2, 3, 4, 5]));
   *   reader.feedEof();
   *   assert.deepEqual(await reader.read(2), new Uint8Array([1, 2])); // at most 2
   *   assert.deepEqual(await reader.read(), new Uint8Array([3, 4, 5])); // to EOF
   *   assert.deepEqual(await reader.read(), new Uint8Array(0)); // at EOF
   * });
   * ```
   */
  read(n: number = -1): Promise<Uint8Array> {
    // The common case, a bounded read, without an async function's frame:
    // what is buffered now, or the waiter's outcome handed straight on.
    if (Number.isInteger(n) && n > 0 && this.#exception === null) {
      if (this.#size > 0) {
        return Promise.resolve(this.#take(Math.min(n, this.#size)));
      }
      if (!this.#eof) {
        let waiter: Future<null>;
        try {
          waiter = this.#waitForData("read");
        } catch (error) {
          return Promise.reject(error);
        }
        return waiter.then(() => this.#takeAfterWait(n));
      }
    }
    return this.#read(n);
  }

  /** What a bounded read returns once its wait is over. */
  #takeAfterWait(n: number): Uint8Array {
    if (this.#exception !== null) throw this.#exception;
    return this.#take(Math.min(n, this.#size));
  }

  async #read(n: number): Promise<Uint8Array> {
    // A fractional size would split a byte in the buffer's bookkeeping.
    if (!Number.isInteger(n) && n !== Infinity && n !== -Infinity) {
      throw new TypeError(
        `read(): n must be an integer, got ${
          typeof n === "number" ? n : typeof n
        }`,
      );
    }
    if (this.#exception !== null) throw this.#exception;
    if (n === 0) return new Uint8Array(0);
    if (n < 0) {
      // Take whatever is buffered each time (consuming resumes a paused
      // transport), until EOF.
      const blocks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        if (this.#size > 0) {
          total += this.#size;
          blocks.push(...this.#chunks);
          this.#chunks = [];
          this.#size = 0;
          this.#maybeResumeTransport();
        }
        if (this.#eof) break;
        await this.#waitForData("read");
        if (this.#exception !== null) throw this.#exception;
      }
      return concat(blocks, total);
    }
    if (this.#size === 0 && !this.#eof) {
      await this.#waitForData("read");
      if (this.#exception !== null) throw this.#exception;
    }
    return this.#take(Math.min(n, this.#size));
  }

  /**
   * Reads exactly `n` bytes. Mirrors `readexactly()`.
   *
   * @throws {IncompleteReadError} when EOF comes first (`partial` holds
   *   what was read).
   * @throws {RangeError} for a negative `n`.
   * @example
   * ```ts
   * import { IncompleteReadError, run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new Uint8Array([0, 3, 7, 8, 9]));
   *   reader.feedEof();
   *   const [high, low] = await reader.readexactly(2); // a 2-byte length prefix
   *   const body = await reader.readexactly(high * 256 + low);
   *   assert.deepEqual(body, new Uint8Array([7, 8, 9]));
   *   await assert.rejects(reader.readexactly(1), IncompleteReadError); // EOF first
   * });
   * ```
   */
  async readexactly(n: number): Promise<Uint8Array> {
    if (typeof n !== "number" || !Number.isInteger(n)) {
      throw new TypeError(`readexactly(): n must be an integer, got ${n}`);
    }
    if (n < 0) {
      throw new RangeError("readexactly size can not be less than zero");
    }
    if (this.#exception !== null) throw this.#exception;
    if (n === 0) return new Uint8Array(0);
    while (this.#size < n) {
      if (this.#eof) {
        const partial = this.#take(this.#size);
        throw new IncompleteReadError(partial, n);
      }
      await this.#waitForData("readexactly");
      if (this.#exception !== null) throw this.#exception;
    }
    return this.#take(n);
  }

  /**
   * Iterates over lines until EOF. Mirrors `__aiter__`/`__anext__`.
   *
   * @example
   * ```ts
   * import { run, StreamReader } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lines = await run(async () => {
   *   const reader = new StreamReader();
   *   reader.feedData(new TextEncoder().encode("a\nb\nc"));
   *   reader.feedEof();
   *   const out: string[] = [];
   *   for await (const line of reader) out.push(new TextDecoder().decode(line));
   *   return out;
   * });
   * assert.deepEqual(lines, ["a\n", "b\n", "c"]);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /** A description like `<StreamReader 10 bytes eof>`. */
  toString(): string {
    const info = ["StreamReader"];
    if (this.#size > 0) info.push(`${this.#size} bytes`);
    if (this.#eof) info.push("eof");
    if (this.#limit !== DEFAULT_LIMIT) info.push(`limit=${this.#limit}`);
    if (this.#waiter !== null && !this.#waiter.done()) info.push("waiter");
    if (this.#exception !== null) info.push(`exception=${this.#exception}`);
    if (this.#transport !== null) info.push(`transport=${this.#transport}`);
    if (this.#paused) info.push("paused");
    return `<${info.join(" ")}>`;
  }
}

/**
 * Write flow control for stream protocols: `drain()` waits while the
 * transport has paused writing. Mirrors asyncio's `FlowControlMixin`.
 *
 * @example
 * ```ts
 * import { FlowControlMixin, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const protocol = new FlowControlMixin();
 *   protocol.pauseWriting(); // the transport's buffer is full
 *   let drained = false;
 *   const drain = protocol._drainHelper().then(() => (drained = true));
 *   assert.equal(drained, false);
 *   protocol.resumeWriting(); // it drained: waiting writers go on
 *   await drain;
 *   assert.equal(drained, true);
 * });
 * ```
 */
export class FlowControlMixin extends Protocol {
  /** @ignore */ protected _loop: AbstractEventLoop;
  #paused = false;
  #drainWaiters: Future<null>[] = [];
  #connectionLost = false;

  /**
   * Creates the protocol.
   *
   * @param loop The loop (default: the running loop, else the current
   *   event loop, as asyncio's).
   * @throws {RuntimeError} when no loop is given, none is running and no
   *   current loop is set.
   */
  constructor(loop?: AbstractEventLoop | null) {
    super();
    this._loop = loop ?? _getEventLoop();
  }

  /** The transport's buffer is full: `drain()` waits. */
  override pauseWriting(): void {
    this.#paused = true;
  }

  /** The transport's buffer drained: waiting `drain()`s return. */
  override resumeWriting(): void {
    this.#paused = false;
    for (const waiter of this.#drainWaiters) {
      if (!waiter.done()) waiter.setResult(null);
    }
  }

  /** The connection is gone: waiting `drain()`s fail with `exc`, if any. */
  override connectionLost(exc: Error | null): void {
    this.#connectionLost = true;
    if (!this.#paused) return;
    for (const waiter of this.#drainWaiters) {
      if (!waiter.done()) {
        if (exc === null) waiter.setResult(null);
        else waiter.setException(exc);
      }
    }
  }

  /** @ignore What `StreamWriter.drain()` awaits. */
  _drainHelper(): Promise<void> {
    if (!this.#connectionLost && !this.#paused) return RESOLVED;
    return this.#waitDrained();
  }

  async #waitDrained(): Promise<void> {
    if (this.#connectionLost) {
      throw new Deno.errors.ConnectionReset("Connection lost");
    }
    if (!this.#paused) return;
    const waiter = this._loop.createFuture<null>();
    this.#drainWaiters.push(waiter);
    try {
      await waiter;
    } finally {
      this.#drainWaiters.splice(this.#drainWaiters.indexOf(waiter), 1);
    }
  }

  /** @ignore The future `StreamWriter.waitClosed()` awaits. */
  _getCloseWaiter(_stream: StreamWriter): Future<null> {
    throw new RuntimeError("this protocol has no close waiter");
  }
}

/**
 * The writing half of a stream. Mirrors `asyncio.StreamWriter`: `write`
 * never blocks; `await drain()` after writing waits for the transport's
 * buffer to drain (and reports a lost connection).
 *
 * @example An echo round trip
 * ```ts
 * import { openConnection, run, startServer } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const reply = await run(async () => {
 *   await using server = await startServer(async (reader, writer) => {
 *     writer.write(await reader.readline()); // echo one line
 *     await writer.drain();
 *     writer.close();
 *   }, "127.0.0.1", 0);
 *   const [host, port] = server.sockets[0].getsockname();
 *   const [reader, writer] = await openConnection(host, port);
 *   writer.write(new TextEncoder().encode("ping\n"));
 *   await writer.drain();
 *   const line = new TextDecoder().decode(await reader.readline());
 *   writer.close();
 *   await writer.waitClosed();
 *   return line;
 * });
 * assert.equal(reply, "ping\n");
 * ```
 */
export class StreamWriter {
  #transport: WritableTransport;
  #protocol: FlowControlMixin;
  #reader: StreamReader | null;
  #loop: AbstractEventLoop;

  /**
   * Wraps a transport; stream helpers create these.
   *
   * @param transport The transport to write to.
   * @param protocol Its protocol (flow control and the close waiter).
   * @param reader The reader of the same connection, if any.
   * @param loop The loop.
   */
  constructor(
    transport: WritableTransport,
    protocol: FlowControlMixin,
    reader: StreamReader | null,
    loop: AbstractEventLoop,
  ) {
    this.#transport = transport;
    this.#protocol = protocol;
    this.#reader = reader;
    this.#loop = loop;
  }

  /** The transport. */
  get transport(): WritableTransport {
    return this.#transport;
  }

  /**
   * Queues bytes (see the transport's `write`). Mirrors `write()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const reply = await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     writer.write(await reader.read()); // echo everything, after EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [reader, writer] = await openConnection(host, port);
   *   writer.write(new TextEncoder().encode("hello"));
   *   writer.writeEof();
   *   const echoed = new TextDecoder().decode(await reader.read());
   *   writer.close();
   *   await writer.waitClosed();
   *   return echoed;
   * });
   * assert.equal(reply, "hello");
   * ```
   */
  write(data: Uint8Array): void {
    this.#transport.write(data);
  }

  /**
   * Queues several byte arrays. Mirrors `writelines()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const reply = await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     writer.write(await reader.read()); // echo everything, after EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [reader, writer] = await openConnection(host, port);
   *   const enc = new TextEncoder();
   *   writer.writelines([enc.encode("one\n"), enc.encode("two\n")]);
   *   writer.writeEof();
   *   const echoed = new TextDecoder().decode(await reader.read());
   *   writer.close();
   *   await writer.waitClosed();
   *   return echoed;
   * });
   * assert.equal(reply, "one\ntwo\n");
   * ```
   */
  writelines(data: Iterable<Uint8Array>): void {
    for (const chunk of data) this.#transport.write(chunk);
  }

  /**
   * Closes the write end after flushing. Mirrors `write_eof()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const reply = await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     writer.write(await reader.read()); // echo everything, after EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [reader, writer] = await openConnection(host, port);
   *   writer.write(new TextEncoder().encode("over"));
   *   writer.writeEof(); // the peer sees EOF; this side can still read
   *   const echoed = new TextDecoder().decode(await reader.read());
   *   writer.close();
   *   await writer.waitClosed();
   *   return echoed;
   * });
   * assert.equal(reply, "over");
   * ```
   */
  writeEof(): void {
    this.#transport.writeEof();
  }

  /**
   * Whether the transport supports `writeEof()`. Mirrors `can_write_eof()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     await reader.read();
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [, writer] = await openConnection(host, port);
   *   assert.equal(writer.canWriteEof(), true); // TCP can half-close
   *   writer.close();
   *   await writer.waitClosed();
   * });
   * ```
   */
  canWriteEof(): boolean {
    return this.#transport.canWriteEof();
  }

  /**
   * Closes the transport. Mirrors `close()`; `await waitClosed()` after.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const received = await run(async () => {
   *   const got = Promise.withResolvers<string>();
   *   await using server = await startServer(async (reader, writer) => {
   *     got.resolve(new TextDecoder().decode(await reader.read())); // until EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [, writer] = await openConnection(host, port);
   *   writer.write(new TextEncoder().encode("bye"));
   *   writer.close(); // flushes, then closes: the peer gets "bye" and EOF
   *   await writer.waitClosed();
   *   return await got.promise;
   * });
   * assert.equal(received, "bye");
   * ```
   */
  close(): void {
    this.#transport.close();
  }

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const received = await run(async () => {
   *   const got = Promise.withResolvers<string>();
   *   await using server = await startServer(async (reader, writer) => {
   *     got.resolve(new TextDecoder().decode(await reader.read())); // until EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [, writer] = await openConnection(host, port);
   *   writer.write(new TextEncoder().encode("bye"));
   *   assert.equal(writer.isClosing(), false);
   *   writer.close();
   *   assert.equal(writer.isClosing(), true);
   *   await writer.waitClosed();
   *   return await got.promise;
   * });
   * assert.equal(received, "bye");
   * ```
   */
  isClosing(): boolean {
    return this.#transport.isClosing();
  }

  /**
   * Waits until the transport is closed. Mirrors `wait_closed()`.
   *
   * @throws the error that closed it, if any (e.g. `Deno.errors.BrokenPipe`).
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const received = await run(async () => {
   *   const got = Promise.withResolvers<string>();
   *   await using server = await startServer(async (reader, writer) => {
   *     got.resolve(new TextDecoder().decode(await reader.read())); // until EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [, writer] = await openConnection(host, port);
   *   writer.write(new TextEncoder().encode("bye"));
   *   writer.close();
   *   await writer.waitClosed(); // resolves once the connection is closed
   *   assert.equal(writer.transport.isClosing(), true);
   *   return await got.promise;
   * });
   * assert.equal(received, "bye");
   * ```
   */
  async waitClosed(): Promise<void> {
    await this.#protocol._getCloseWaiter(this);
  }

  /**
   * Transport information. Mirrors `get_extra_info()`.
   *
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     await reader.read();
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [, writer] = await openConnection(host, port);
   *   assert.deepEqual(writer.getExtraInfo("peername"), ["127.0.0.1", port]);
   *   assert.equal(writer.getExtraInfo("no such key", "default"), "default");
   *   writer.close();
   *   await writer.waitClosed();
   * });
   * ```
   */
  getExtraInfo(name: string, defaultValue: unknown = null): unknown {
    return this.#transport.getExtraInfo(name, defaultValue);
  }

  /**
   * Waits until the write buffer is below its high-water mark. Mirrors
   * `drain()`.
   *
   * @throws the reader's error, the error that closed the connection, or
   *   `Deno.errors.ConnectionReset` once it is lost.
   * @example
   * ```ts
   * import { openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const reply = await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     const data = await reader.read(); // until EOF
   *     writer.write(new TextEncoder().encode(`${data.length} bytes`));
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [reader, writer] = await openConnection(host, port);
   *   writer.write(new Uint8Array(1 << 20)); // far over the high-water mark
   *   await writer.drain(); // waits until the buffer is below it again
   *   writer.writeEof();
   *   const text = new TextDecoder().decode(await reader.read());
   *   writer.close();
   *   await writer.waitClosed();
   *   return text;
   * });
   * assert.equal(reply, "1048576 bytes");
   * ```
   */
  drain(): Promise<void> {
    // The common case, nothing to wait for, takes no async function.
    if (
      (this.#reader === null || this.#reader.exception() === null) &&
      !this.#transport.isClosing()
    ) {
      return this.#protocol._drainHelper();
    }
    return this.#drainSlowly();
  }

  async #drainSlowly(): Promise<void> {
    if (this.#reader !== null) {
      const exc = this.#reader.exception();
      if (exc !== null) throw exc;
    }
    if (this.#transport.isClosing()) {
      // Let connectionLost() run first: it tells drain() what happened.
      await sleep(0);
    }
    await this.#protocol._drainHelper();
  }

  /**
   * Upgrades the connection to TLS in place: drains what is buffered, runs
   * the handshake (as the server when the writer came from `startServer`),
   * and from then on the reader and this writer go through the TLS
   * transport. Mirrors `StreamWriter.start_tls()`.
   *
   * @param sslcontext The TLS configuration (see `createDefaultContext`).
   * @param options `serverHostname`, `sslHandshakeTimeout`,
   *   `sslShutdownTimeout` (as `loop.startTls`).
   * @throws {TypeError} if `sslcontext` is not an `SSLContext`.
   * @throws {RuntimeError} if the writer has no stream protocol to upgrade.
   * @throws {Deno.errors.ConnectionReset} if the connection closed first.
   * @example
   * ```ts
   * import { createDefaultContext, openConnection, run, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * // Test-only certificates from this repository's tests/fixtures/tls/.
   * const pem = (name: string) =>
   *   Deno.readTextFileSync(new URL(`../../tests/fixtures/tls/${name}`, import.meta.url));
   * const enc = (text: string) => new TextEncoder().encode(text);
   * const reply = await run(async () => {
   *   await using server = await startServer(async (reader, writer) => {
   *     await reader.readline(); // "STARTTLS\n"
   *     writer.write(enc("GO\n"));
   *     await writer.startTls(createDefaultContext({
   *       purpose: "clientAuth", cert: pem("server.pem"), key: pem("server.key"),
   *     }));
   *     writer.write(await reader.readline()); // echoed over TLS
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [reader, writer] = await openConnection(host, port);
   *   writer.write(enc("STARTTLS\n"));
   *   await reader.readline(); // "GO\n"
   *   await writer.startTls(createDefaultContext({ caCerts: [pem("ca.pem")] }), {
   *     serverHostname: "localhost",
   *   });
   *   writer.write(enc("secret\n"));
   *   const line = new TextDecoder().decode(await reader.readline());
   *   writer.close();
   *   await writer.waitClosed();
   *   return line;
   * });
   * assert.equal(reply, "secret\n");
   * ```
   */
  async startTls(
    sslcontext: SSLContext,
    options: {
      serverHostname?: string | null;
      sslHandshakeTimeout?: number | null;
      sslShutdownTimeout?: number | null;
    } = {},
  ): Promise<void> {
    const protocol = this.#protocol;
    if (!(protocol instanceof StreamReaderProtocol)) {
      throw new RuntimeError(
        "startTls() needs a writer made by openConnection() or startServer()",
      );
    }
    await this.drain();
    const transport = await this.#loop.startTls(
      this.#transport as unknown as Transport,
      protocol,
      sslcontext,
      { ...options, serverSide: protocol._serverSide },
    );
    if (transport === null) {
      throw new Deno.errors.ConnectionReset(
        "startTls(): the connection closed before the TLS handshake",
      );
    }
    this.#transport = transport as unknown as WritableTransport;
    protocol._replaceTransport(transport);
  }

  /** A description like `<StreamWriter transport=...>`. */
  toString(): string {
    const info = ["StreamWriter", `transport=${this.#transport}`];
    if (this.#reader !== null) info.push(`reader=${this.#reader}`);
    void this.#loop;
    return `<${info.join(" ")}>`;
  }
}

/**
 * A server's per-connection callback: `(reader, writer)`. An async function
 * runs as a task; a plain function is called when the connection is made.
 */
export type ClientConnectedCallback = (
  reader: StreamReader,
  writer: StreamWriter,
) => unknown;

const AsyncFunction = (async () => {}).constructor;

/**
 * The protocol between a stream transport and a `StreamReader` (and a
 * `StreamWriter` for `clientConnectedCb`). Mirrors
 * `asyncio.StreamReaderProtocol`.
 *
 * @example Read a pipe through a StreamReader
 * ```ts
 * import { newEventLoop, StreamReader, StreamReaderProtocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const text = await loop.runUntilComplete(async () => {
 *   const reader = new StreamReader();
 *   const stream = ReadableStream.from([new TextEncoder().encode("a line\n")]);
 *   await loop.connectReadPipe(() => new StreamReaderProtocol(reader), stream);
 *   return new TextDecoder().decode(await reader.readline());
 * });
 * assert.equal(text, "a line\n");
 * loop.close();
 * ```
 */
export class StreamReaderProtocol extends FlowControlMixin {
  #reader: StreamReader | null;
  #clientConnectedCb: ClientConnectedCallback | null;
  #writer: StreamWriter | null = null;
  #closed: Future<null>;
  #task: Task<unknown> | null = null;
  #overSsl = false;

  /**
   * Creates the protocol.
   *
   * @param streamReader The reader to feed.
   * @param clientConnectedCb Called with `(reader, writer)` on connection;
   *   a returned promise runs as a task.
   * @param loop The loop (default: the running loop, else the current
   *   event loop, as asyncio's).
   */
  constructor(
    streamReader: StreamReader,
    clientConnectedCb: ClientConnectedCallback | null = null,
    loop?: AbstractEventLoop | null,
  ) {
    super(loop);
    this.#reader = streamReader;
    this.#clientConnectedCb = clientConnectedCb;
    this.#closed = this._loop.createFuture<null>();
  }

  /**
   * Attaches the reader to the transport and, for a server connection, calls
   * `clientConnectedCb(reader, writer)`: an async function runs as a task
   * (as asyncio runs a coroutine callback), a plain one is called at once.
   * When the task fails, the error goes to the loop's exception handler and
   * the transport is closed; when it is cancelled, the transport is closed.
   */
  override connectionMade(transport: AnyTransport): void {
    const t = transport as BaseTransport & PausableTransport;
    if (typeof t.pauseReading === "function") this.#reader?.setTransport(t);
    this.#overSsl = t.getExtraInfo?.("sslcontext") != null;
    const callback = this.#clientConnectedCb;
    const reader = this.#reader;
    if (callback === null || reader === null) return;
    const writer = new StreamWriter(
      transport as WritableTransport,
      this,
      reader,
      this._loop,
    );
    this.#writer = writer;
    let task: Task<unknown>;
    if (callback instanceof AsyncFunction) {
      task = this._loop.createTask(() =>
        callback(reader, writer) as Promise<unknown>
      );
    } else {
      const result = callback(reader, writer);
      if (!isThenable(result)) return;
      task = this._loop.createTask(result);
    }
    this.#task = task;
    task.addDoneCallback(() => {
      if (task.cancelled()) {
        t.close();
        return;
      }
      const exception = task.exception();
      if (exception !== null) {
        this._loop.callExceptionHandler({
          message: "Unhandled exception in client_connected_cb",
          exception,
          transport: t,
        });
        t.close();
      }
    });
  }

  /** @ignore Whether this is a server's connection (it has a callback). */
  get _serverSide(): boolean {
    return this.#clientConnectedCb !== null;
  }

  /** @ignore `StreamWriter.startTls` moved the connection to `transport`. */
  _replaceTransport(transport: AnyTransport): void {
    const t = transport as BaseTransport & PausableTransport;
    this.#reader?._replaceTransport(t);
    this.#overSsl = t.getExtraInfo("sslcontext") != null;
  }

  /** Feeds EOF (or the error) to the reader and completes `waitClosed`. */
  override connectionLost(exc: Error | null): void {
    const reader = this.#reader;
    if (reader !== null) {
      if (exc === null) reader.feedEof();
      else reader.setException(exc);
    }
    if (!this.#closed.done()) {
      if (exc === null) this.#closed.setResult(null);
      else {
        this.#closed.setException(exc);
        this.#closed.exception(); // retrieved: nobody has to await it
      }
    }
    super.connectionLost(exc);
    this.#reader = null;
    this.#writer = null;
    this.#task = null;
  }

  /** Feeds bytes to the reader. */
  override dataReceived(data: Uint8Array): void {
    this.#reader?.feedData(data);
  }

  /**
   * Feeds EOF to the reader; keeps the transport open for writing, except
   * over TLS (which cannot half-close).
   */
  override eofReceived(): boolean {
    this.#reader?.feedEof();
    return !this.#overSsl;
  }

  /** @ignore */
  override _getCloseWaiter(_stream: StreamWriter): Future<null> {
    return this.#closed;
  }
}
