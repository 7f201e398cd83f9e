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
 * import { TimeoutError } from "@aio/loop";
 * const err = new TimeoutError("took too long");
 * console.assert(err.name === "TimeoutError");
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
 * import { NotImplementedError } from "@aio/loop";
 * const err = new NotImplementedError("subclass must override");
 * console.assert(err instanceof Error);
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
 * const err = new KeyboardInterrupt();
 * console.assert(err.name === "KeyboardInterrupt");
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
 * import { SendfileNotAvailableError } from "@aio/loop";
 * console.assert(new SendfileNotAvailableError("no fast path") instanceof Error);
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
 * import { IncompleteReadError } from "@aio/loop";
 * const err = new IncompleteReadError(new Uint8Array([1, 2]), 4);
 * console.assert(err.partial.length === 2 && err.expected === 4);
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
 * import { LimitOverrunError } from "@aio/loop";
 * const err = new LimitOverrunError("separator not found", 65536);
 * console.assert(err.consumed === 65536);
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
