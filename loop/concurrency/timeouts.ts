/**
 * `Timeout`, `timeout()` and `timeoutAt()`: a deadline around a block of code,
 * after CPython's `Lib/asyncio/timeouts.py` (3.12/3.13).
 *
 * Python writes `async with asyncio.timeout(10) as cm: ...`. JavaScript has no
 * `async with` whose exit sees the body's exception (`await using` disposal
 * cannot observe, replace or suppress the error thrown by the block), so the
 * block is a callback: `await timeout(10).run(async (cm) => ...)`. `run()` is
 * `__aenter__`, the body, and `__aexit__` with the body's outcome, and it
 * returns the body's result.
 *
 * The rules are CPython's. On entry the Timeout remembers the task's
 * `cancelling()` count. At the deadline it cancels the task. On exit, if it
 * fired, it calls `task.uncancel()`; only when the count is then back to (or
 * below) the one it remembered, and the body ended with `CancelledError`, is
 * the cancellation its own, and it becomes a `TimeoutError`. A cancellation
 * from anyone else (an outer timeout, `task.cancel()`, a TaskGroup) passes
 * through unchanged, so nested timeouts and task groups compose.
 *
 * @module
 */
import {
  CancelledError,
  RuntimeError,
  TimeoutError,
} from "../base/exceptions.ts";
import type { Handle } from "../core/handles.ts";
import { getRunningLoop } from "../core/running.ts";
import { currentTask, type Task } from "../core/tasks.ts";

const CREATED = "created";
const ENTERED = "active";
const EXPIRING = "expiring";
const EXPIRED = "expired";
const EXITED = "finished";
type TimeoutState =
  | typeof CREATED
  | typeof ENTERED
  | typeof EXPIRING
  | typeof EXPIRED
  | typeof EXITED;

const inspect = Symbol.for("Deno.customInspect");

/** Throws unless `value` is null/undefined or a number that is not NaN (package-internal). */
export function checkOptionalSeconds(
  value: unknown,
  fn: string,
  what: string,
): void {
  if (value == null) return;
  if (typeof value !== "number") {
    throw new TypeError(
      `${fn}() ${what} must be a number of seconds or null, got ${typeof value}`,
    );
  }
  if (Number.isNaN(value)) {
    throw new RangeError(`${fn}() ${what} must not be NaN`);
  }
}

/**
 * A deadline for a block of code run with `run()`. Mirrors
 * `asyncio.Timeout`: `when()`, `reschedule(when)`, `expired()`.
 * Make one with `timeout(delay)` or `timeoutAt(when)`.
 *
 * The block is a callback, `await timeout(1).run(async (cm) => ...)`, because
 * JavaScript's `await using` cannot see or replace the error the block throws,
 * which is the whole job of asyncio's `__aexit__` here. A Timeout runs one
 * block, once.
 *
 * @example Giving up on slow work
 * ```ts
 * import { run, sleep, timeout, TimeoutError } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const cm = timeout(0.01);
 *   await assert.rejects(cm.run(() => sleep(3600)), TimeoutError);
 *   assert.equal(cm.expired(), true);
 * });
 * ```
 */
export class Timeout {
  #state: TimeoutState = CREATED;
  #when: number | null;
  #handle: Handle | null = null;
  #task: Task<unknown> | null = null;
  #cancelling = 0;

  /**
   * A Timeout that fires at loop time `when` (`null`: never; in the past: on
   * the loop's next iteration after entry). `timeout()` and `timeoutAt()` are
   * the usual ways to make one.
   *
   * @param when Loop time (as `loop.time()`), or null.
   * @throws {TypeError} if `when` is neither a number nor null.
   * @throws {RangeError} if `when` is NaN.
   */
  constructor(when: number | null) {
    checkOptionalSeconds(when, "Timeout", "when");
    this.#when = when ?? null;
  }

  /**
   * The deadline, in loop time, or null for none. Mirrors `Timeout.when()`.
   *
   * @example
   * ```ts
   * import { timeoutAt } from "@aio/loop";
   * import assert from "node:assert/strict";
   * assert.equal(timeoutAt(123).when(), 123);
   * assert.equal(timeoutAt(null).when(), null);
   * ```
   */
  when(): number | null {
    return this.#when;
  }

  /**
   * Moves the deadline to loop time `when` (null: no deadline; in the past:
   * fire on the next iteration). Mirrors `Timeout.reschedule()`.
   *
   * @param when Loop time (as `loop.time()`), or null.
   * @throws {RuntimeError} unless the block is running and the Timeout has not
   * fired.
   * @throws {TypeError} if `when` is neither a number nor null.
   * @throws {RangeError} if `when` is NaN.
   * @example Extending the deadline from inside the block (on the virtual clock)
   * ```ts
   * import { getRunningLoop, run, sleep, timeout } from "@aio/loop";
   * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   *
   * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
   * const result = await run(() =>
   *   timeout(1).run(async (cm) => {
   *     cm.reschedule(getRunningLoop().time() + 10);
   *     return await sleep(5, "done"); // past the first deadline, within the second
   *   })
   * );
   * assert.equal(result, "done");
   * ```
   */
  reschedule(when: number | null): void {
    checkOptionalSeconds(when, "reschedule", "when");
    if (this.#state !== ENTERED) {
      if (this.#state === CREATED) {
        throw new RuntimeError("Timeout has not been entered");
      }
      throw new RuntimeError(`Cannot change state of ${this.#state} Timeout`);
    }
    this.#when = when ?? null;
    this.#handle?.cancel();
    this.#handle = null;
    if (when == null || when === Infinity) return; // Infinity: never fires
    const loop = this.#task!._loop;
    this.#handle = when <= loop.time()
      ? loop.callSoon(this.#onTimeout)
      : loop.callAt(when, this.#onTimeout);
  }

  /**
   * Whether the deadline passed while the block ran (the Timeout cancelled
   * the task). Mirrors `Timeout.expired()`.
   *
   * @example
   * ```ts
   * import { run, timeout } from "@aio/loop";
   * import assert from "node:assert/strict";
   * await run(async () => {
   *   const cm = timeout(1);
   *   await cm.run(async () => {});
   *   assert(!cm.expired());
   * });
   * ```
   */
  expired(): boolean {
    return this.#state === EXPIRING || this.#state === EXPIRED;
  }

  /**
   * Runs `body` under the deadline (asyncio's `async with cm:`) and resolves
   * with its result. At the deadline the current task is cancelled; if the
   * body then ends with that `CancelledError`, `run()` rejects with
   * `TimeoutError` (its `cause` is the `CancelledError`). Any other outcome
   * of the body passes through: its result, its own error, or a cancellation
   * that came from elsewhere. Must be called from a task, once.
   *
   * @param body Called with this Timeout; may be async.
   * @returns A promise of the body's result.
   * @throws {TimeoutError} (rejects) when the deadline cut the body short.
   * @throws {RuntimeError} (rejects) outside a task, or if this Timeout was
   * already used.
   * @throws {TypeError} (rejects) if `body` is not a function.
   * @example
   * ```ts
   * import { run, sleep, timeout } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const value = await run(() => timeout(1).run(() => sleep(0.01, "in time")));
   * assert.equal(value, "in time");
   * ```
   */
  async run<T>(body: (timeout: Timeout) => T | PromiseLike<T>): Promise<T> {
    if (typeof body !== "function") {
      throw new TypeError(
        `Timeout.run() expects a function (the block to run), got ${typeof body}`,
      );
    }
    if (this.#state !== CREATED) {
      throw new RuntimeError("Timeout has already been entered");
    }
    const task = currentTask();
    if (task === null) {
      throw new RuntimeError("Timeout should be used inside a task");
    }
    this.#state = ENTERED;
    this.#task = task;
    this.#cancelling = task.cancelling();
    this.reschedule(this.#when);
    let result: T;
    try {
      result = await body(this);
    } catch (error) {
      this.#exit(true, error);
      throw error;
    }
    this.#exit(false, undefined);
    return result;
  }

  /** asyncio's `__aexit__`: throws `TimeoutError` in place of our cancel. */
  #exit(failed: boolean, error: unknown): void {
    this.#handle?.cancel();
    this.#handle = null;
    if (this.#state === EXPIRING) {
      this.#state = EXPIRED;
      if (
        this.#task!.uncancel() <= this.#cancelling && failed &&
        error instanceof CancelledError
      ) {
        // No cancellation is pending beyond ours: this one is ours.
        const timeoutError = new TimeoutError();
        timeoutError.cause = error;
        throw timeoutError;
      }
    } else if (this.#state === ENTERED) {
      this.#state = EXITED;
    }
  }

  readonly #onTimeout = (): void => {
    this.#task!.cancel();
    this.#state = EXPIRING;
    this.#handle = null;
  };

  /** A description like `<Timeout [active] when=12.5>` (asyncio's repr). */
  toString(): string {
    let info = "";
    if (this.#state === ENTERED) {
      const when = this.#when === null
        ? "null"
        : String(Math.round(this.#when * 1000) / 1000);
      info = ` when=${when}`;
    }
    return `<Timeout [${this.#state}]${info}>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/**
 * A `Timeout` that fires `delay` seconds from now (null: never; 0 or less:
 * on the loop's next iteration after the block starts). Mirrors
 * `asyncio.timeout()`. Run the block with `run()`; the innermost timeout
 * whose own cancellation ended the block turns it into `TimeoutError`.
 *
 * @param delay Seconds, or null for no deadline.
 * @throws {TypeError} if `delay` is neither a number nor null.
 * @throws {RangeError} if `delay` is NaN.
 * @throws {RuntimeError} if no loop is running.
 * @example
 * ```ts
 * import { run, sleep, timeout, TimeoutError } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const outcome = await run(async () => {
 *   try {
 *     await timeout(0.05).run(async () => {
 *       await sleep(3600);
 *     });
 *     return "finished";
 *   } catch (e) {
 *     if (e instanceof TimeoutError) return "timed out";
 *     throw e;
 *   }
 * });
 * assert.equal(outcome, "timed out");
 * ```
 */
export function timeout(delay: number | null): Timeout {
  checkOptionalSeconds(delay, "timeout", "delay");
  const loop = getRunningLoop();
  return new Timeout(delay == null ? null : loop.time() + delay);
}

/**
 * A `Timeout` that fires at loop time `when` (as `loop.time()`; null: never;
 * in the past: on the loop's next iteration after the block starts). Mirrors
 * `asyncio.timeout_at()`.
 *
 * @param when Loop time, or null for no deadline.
 * @throws {TypeError} if `when` is neither a number nor null.
 * @throws {RangeError} if `when` is NaN.
 * @example
 * ```ts
 * import { getRunningLoop, run, sleep, timeoutAt } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const deadline = getRunningLoop().time() + 1;
 *   const cm = timeoutAt(deadline);
 *   await cm.run(() => sleep(0.01));
 *   assert.equal(cm.when(), deadline);
 *   assert(!cm.expired());
 * });
 * ```
 */
export function timeoutAt(when: number | null): Timeout {
  return new Timeout(when);
}
