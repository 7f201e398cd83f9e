/**
 * asyncio's exception classes, under asyncio's names.
 *
 * `CancelledError` deliberately does not extend a user-facing error family
 * other than `Error`: as in Python, where it derives from `BaseException`, code
 * that catches "ordinary" failures should test for it explicitly.
 *
 * @module
 */

/**
 * Raised (and rejected) when a `Future` or `Task` is cancelled.
 * Mirrors `asyncio.CancelledError`.
 *
 * @example Catching a cancellation
 * ```ts
 * import { CancelledError, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const fut = loop.createFuture<number>();
 * fut.cancel("stop");
 * assert.throws(() => fut.result(), CancelledError);
 * loop.close();
 * ```
 */
export class CancelledError extends Error {
  /** Creates the error; the message is the one given to `cancel(msg)`. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "CancelledError";
  }
}

/**
 * An operation was attempted on a `Future` in the wrong state (a result set
 * twice, a result read before it exists). Mirrors `asyncio.InvalidStateError`.
 *
 * @example
 * ```ts
 * import { InvalidStateError, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const fut = loop.createFuture<number>();
 * assert.throws(() => fut.result(), InvalidStateError);
 * loop.close();
 * ```
 */
export class InvalidStateError extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "InvalidStateError";
  }
}

/**
 * An operation exceeded its deadline. Mirrors `asyncio.TimeoutError` (which is
 * the builtin `TimeoutError` since Python 3.11).
 *
 * @example
 * ```ts
 * import { run, sleep, TimeoutError, waitFor } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await assert.rejects(run(() => waitFor(() => sleep(3600), 0.01)), TimeoutError);
 * ```
 */
export class TimeoutError extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "TimeoutError";
  }
}

/**
 * A call was made in the wrong state: the loop is closed, already running, or
 * there is no running loop. Mirrors Python's `RuntimeError` as asyncio raises it.
 *
 * @example
 * ```ts
 * import { newEventLoop, RuntimeError } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * loop.close();
 * assert.throws(() => loop.callSoon(() => {}), RuntimeError);
 * ```
 */
export class RuntimeError extends Error {
  /** Creates the error; `options.cause` names the error behind it. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message ?? "", options);
    this.name = "RuntimeError";
  }
}

/**
 * An abstract method was called on a class that does not implement it.
 * Mirrors Python's `NotImplementedError`.
 *
 * @example
 * ```ts
 * import { AbstractEventLoop, NotImplementedError } from "@aio/loop";
 * import assert from "node:assert/strict";
 * // The abstract loop only declares the methods a concrete loop implements.
 * assert.throws(() => new AbstractEventLoop().time(), NotImplementedError);
 * ```
 */
export class NotImplementedError extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "NotImplementedError";
  }
}

/**
 * Ctrl-C (SIGINT) interrupted `run()` or `Runner.run()`: the main task was
 * cancelled and did not swallow the cancellation. Mirrors Python's
 * `KeyboardInterrupt`. A second Ctrl-C while the task is still cleaning up
 * exits the process at once with status 130, as the default Ctrl-C does.
 *
 * @example
 * ```ts
 * import { KeyboardInterrupt } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const err = new KeyboardInterrupt();
 * assert.equal(err.name, "KeyboardInterrupt");
 * ```
 */
export class KeyboardInterrupt extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "interrupted by SIGINT (Ctrl-C)");
    this.name = "KeyboardInterrupt";
  }
}

/**
 * `sendfile` has no fast path for this transport or file and `fallback` was
 * false. Mirrors `asyncio.SendfileNotAvailableError`.
 *
 * @example
 * ```ts
 * import { newEventLoop, SendfileNotAvailableError, socketpair } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const path = await Deno.makeTempFile();
 * const loop = newEventLoop();
 * const [a, b] = socketpair();
 * using file = await Deno.open(path);
 * await assert.rejects(
 *   loop.runUntilComplete(() => loop.sockSendfile(a, file, 0, null, { fallback: false })),
 *   SendfileNotAvailableError, // there is no zero-copy path, and no fallback was allowed
 * );
 * a.close();
 * b.close();
 * loop.close();
 * await Deno.remove(path);
 * ```
 */
export class SendfileNotAvailableError extends RuntimeError {
  /** Creates the error. */
  constructor(message?: string) {
    super(message);
    this.name = "SendfileNotAvailableError";
  }
}

/**
 * A read ended before the expected number of bytes arrived.
 * Mirrors `asyncio.IncompleteReadError`.
 *
 * @example
 * ```ts
 * import { IncompleteReadError, run, StreamReader } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const reader = new StreamReader();
 *   reader.feedData(new Uint8Array([1, 2]));
 *   reader.feedEof();
 *   await assert.rejects(reader.readexactly(4), (err) => {
 *     assert(err instanceof IncompleteReadError);
 *     assert.deepEqual(err.partial, new Uint8Array([1, 2])); // what there was
 *     assert.equal(err.expected, 4);
 *     return true;
 *   });
 * });
 * ```
 */
export class IncompleteReadError extends Error {
  /** The bytes read before the stream ended. */
  readonly partial: Uint8Array;
  /** The number of bytes expected, or null when reading to a separator. */
  readonly expected: number | null;
  /** Creates the error from what was read and what was expected. */
  constructor(partial: Uint8Array, expected: number | null) {
    super(
      `${partial.length} bytes read on a total of ${
        expected === null ? "undefined" : expected
      } expected bytes`,
    );
    this.name = "IncompleteReadError";
    this.partial = partial;
    this.expected = expected;
  }
}

/**
 * A buffer limit was reached while looking for a separator.
 * Mirrors `asyncio.LimitOverrunError`.
 *
 * @example
 * ```ts
 * import { LimitOverrunError, run, StreamReader } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const reader = new StreamReader(4); // a 4-byte limit
 *   reader.feedData(new TextEncoder().encode("too long\n"));
 *   await assert.rejects(reader.readuntil(), (err) => {
 *     assert(err instanceof LimitOverrunError);
 *     assert.equal(err.consumed, 8); // the bytes before the separator stay buffered
 *     return true;
 *   });
 * });
 * ```
 */
export class LimitOverrunError extends Error {
  /** The number of bytes to be consumed. */
  readonly consumed: number;
  /** Creates the error. */
  constructor(message: string, consumed: number) {
    super(message);
    this.name = "LimitOverrunError";
    this.consumed = consumed;
  }
}
