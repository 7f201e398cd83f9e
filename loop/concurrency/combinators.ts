/**
 * asyncio's high-level task functions: `gather`, `shield`, `wait`,
 * `waitFor` and `asCompleted`, after CPython's `Lib/asyncio/tasks.py`
 * (3.12/3.13).
 *
 * "An awaitable" here is what asyncio accepts: a `Future` (or `Task`), or a
 * coroutine — a promise, or the lazy form, a zero-argument function returning
 * one. Where asyncio wraps a coroutine in a task (`gather`, `shield`,
 * `asCompleted`, `waitFor` with a timeout of 0 or less) the lazy form starts
 * on the loop inside the new task; a promise has already started and is
 * adopted (see `Task`), except by `waitFor()` in a task, which awaits it as
 * with any other timeout (see there).
 *
 * Bad arguments fail before anything is scheduled: the functions that return
 * a future or an iterator throw, the async ones (`wait`, `waitFor`) reject.
 *
 * **Room `loop/concurrency`**: built on the loop's public API: the task
 * functions (`gather`, `wait`, `waitFor`, `timeout`, `TaskGroup`), locks,
 * events, semaphores, barriers and queues. It may import `loop` and every
 * room below it.
 *
 * @module
 */
import { labelWait } from "../core/wait_labels.ts";
import { CancelledError, TimeoutError } from "../base/exceptions.ts";
import { describe } from "../base/format.ts";
import { Future, isFuture } from "../core/futures.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import type { Handle } from "../core/handles.ts";
import {
  _getEventLoop,
  _getRunningLoop,
  getRunningLoop,
} from "../core/running.ts";
import {
  type Coroutine,
  currentTask,
  ensureFuture,
  isCoroutine,
  Task,
} from "../core/tasks.ts";
import { checkOptionalSeconds, timeout as makeTimeout } from "./timeouts.ts";

/**
 * A future (or task), or a coroutine: a promise or a function returning one.
 *
 * @example
 * ```ts
 * import { type Awaitable, gather, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const lazy: Awaitable<number> = async () => 1; // started by the loop
 * const started: Awaitable<number> = Promise.resolve(2); // already running
 * assert.deepEqual(await run(() => gather(lazy, started)), [1, 2]);
 * ```
 */
export type Awaitable<T> = Future<T> | Coroutine<T>;

/**
 * The result type of an awaitable.
 *
 * @example
 * ```ts
 * import { type AwaitableResult, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const job = async () => 1;
 * const n: AwaitableResult<typeof job> = await run(job); // number
 * assert.equal(n, 1);
 * ```
 */
export type AwaitableResult<A> = A extends () => PromiseLike<infer R> ? R
  : A extends PromiseLike<infer R> ? R
  : never;

/**
 * The results of a list of awaitables, position by position (what `gather()`
 * resolves with).
 *
 * @example
 * ```ts
 * import { type AwaitableResults, gather, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const jobs = [async () => 1, Promise.resolve("a")] as const;
 * const results: AwaitableResults<typeof jobs> = await run(() => gather(...jobs));
 * assert.deepEqual(results, [1, "a"]); // [number, string]
 * ```
 */
export type AwaitableResults<A extends readonly unknown[]> = {
  -readonly [K in keyof A]: AwaitableResult<A[K]>;
};

function isAwaitable(value: unknown): value is Awaitable<unknown> {
  return isFuture(value) || isCoroutine(value);
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return value != null && typeof value !== "string" &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] ===
      "function";
}

/**
 * The error a done, not-cancelled future holds, if any (boxed, as a task may
 * have thrown `null`). `exception()` marks it retrieved.
 */
function failureOf(fut: Future<unknown>): { error: unknown } | null {
  const error = fut.exception();
  if (fut instanceof Future) return fut._failed ? { error } : null;
  return error === null ? null : { error };
}

function cancelledErrorOf(fut: Future<unknown>): CancelledError {
  return fut instanceof Future
    ? fut._makeCancelledError()
    : new CancelledError();
}

// ---- gather ------------------------------------------------------------------

/**
 * Options of `gather()`, given as its last argument.
 *
 * @example
 * ```ts
 * import { gather, type GatherOptions, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const options: GatherOptions = { returnExceptions: true };
 * const [e] = await run(() => gather(async () => { throw new Error("x"); }, options));
 * assert(e instanceof Error);
 * ```
 */
export interface GatherOptions {
  /**
   * Put errors (and `CancelledError`s of cancelled children) in the results
   * instead of failing with the first one (default false).
   */
  returnExceptions?: boolean;
}

/**
 * The future `gather()` returns. Mirrors asyncio's `_GatheringFuture`:
 * cancelling it cancels every child that is not done, and the gather then
 * fails with `CancelledError` whatever `returnExceptions` says.
 */
class GatheringFuture<T> extends Future<T> {
  /** @internal */ _children: Future<unknown>[];
  /** @internal */ _cancelRequested = false;

  constructor(children: Future<unknown>[], loop: AbstractEventLoop) {
    super({ loop });
    this._children = children;
  }

  override cancel(msg?: string): boolean {
    if (this.done()) return false;
    let cancelled = false;
    for (const child of this._children) {
      if (child.cancel(msg)) cancelled = true;
    }
    // Only if a child was actually cancelled is the request carried through
    // (to a CancelledError), even with returnExceptions.
    if (cancelled) this._cancelRequested = true;
    return cancelled;
  }
}

function isGatherOptions(value: unknown): value is GatherOptions {
  return value !== null && typeof value === "object" && !isFuture(value) &&
    typeof (value as { then?: unknown }).then !== "function";
}

/**
 * Runs awaitables concurrently; the future it returns resolves with their
 * results, in argument order. Mirrors `asyncio.gather()`.
 *
 * Coroutines are wrapped in tasks; an awaitable given twice runs once (its
 * result appears twice). If one fails, the gather fails with that error at
 * once and the others keep running; with `{ returnExceptions: true }` as the
 * last argument, errors are results instead. Cancelling the returned future
 * cancels every child still running (and the gather then fails with
 * `CancelledError`); a child cancelled on its own fails the gather with
 * `CancelledError` (or, with `returnExceptions`, puts one in the results).
 * With no awaitables, the result is an already-done future of `[]`.
 *
 * @param args Awaitables, optionally followed by the options object.
 * @returns A future of the results array.
 * @throws {TypeError} if an argument is not awaitable or an option is
 * unknown (nothing is scheduled then).
 * @throws {RangeError} if futures belong to different loops.
 * @example
 * ```ts
 * import { gather, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const [a, b] = await gather(() => sleep(0.02, "a"), () => sleep(0.01, 2));
 *   assert.deepEqual([a, b], ["a", 2]);
 *
 *   const results = await gather(
 *     async () => 1,
 *     async () => { throw new Error("no"); },
 *     { returnExceptions: true },
 *   );
 *   assert.equal(results[0], 1);
 *   assert.ok(results[1] instanceof Error);
 * });
 * ```
 */
export function gather<A extends readonly Awaitable<unknown>[]>(
  ...awaitables: A
): Future<AwaitableResults<A>>;
/**
 * `gather()` with options last, `returnExceptions` false: results are typed
 * as the awaitables' results.
 *
 * @example
 * ```ts
 * import { gather, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [n] = await run(() => gather(async () => 1, { returnExceptions: false }));
 * assert.equal(n, 1);
 * ```
 */
export function gather<A extends readonly Awaitable<unknown>[]>(
  ...args: [...A, GatherOptions & { returnExceptions?: false }]
): Future<AwaitableResults<A>>;
/**
 * `gather()` with options last and `returnExceptions` possibly true: a
 * result may be an error, so results are `unknown`.
 *
 * @example
 * ```ts
 * import { gather, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [e] = await run(() =>
 *   gather(async () => { throw new Error("x"); }, { returnExceptions: true })
 * );
 * assert(e instanceof Error);
 * ```
 */
export function gather(
  ...args: [...Awaitable<unknown>[], GatherOptions]
): Future<unknown[]>;
export function gather(...args: unknown[]): Future<unknown[]> {
  let returnExceptions = false;
  if (args.length > 0 && isGatherOptions(args[args.length - 1])) {
    const options = args.pop() as Record<string, unknown>;
    for (const key of Object.keys(options)) {
      if (key !== "returnExceptions") {
        throw new TypeError(
          `gather(): unknown option "${key}" (the last argument, a plain object, is read as the options; only returnExceptions exists)`,
        );
      }
    }
    const value = options.returnExceptions;
    if (value !== undefined && typeof value !== "boolean") {
      throw new TypeError(
        `gather(): returnExceptions must be a boolean, got ${typeof value}`,
      );
    }
    returnExceptions = value === true;
  }
  if (args.length === 0) {
    const outer = _getEventLoop().createFuture<unknown[]>();
    outer.setResult([]);
    return outer;
  }
  for (let i = 0; i < args.length; i++) {
    if (!isAwaitable(args[i])) {
      throw new TypeError(
        `gather(): argument ${
          i + 1
        } is not awaitable (a future, a promise or a function returning one): ${
          describe(args[i])
        }`,
      );
    }
  }
  const first = args[0];
  const loop = isFuture(first) ? first.getLoop() : _getEventLoop();
  for (const arg of args) {
    if (isFuture(arg) && arg.getLoop() !== loop) {
      throw new RangeError(
        `gather(): ${arg} belongs to a different loop than the other awaitables`,
      );
    }
  }

  const argToFut = new Map<unknown, Future<unknown>>();
  const children: Future<unknown>[] = [];
  const doneFuts: Future<unknown>[] = [];
  let nfuts = 0;
  let nfinished = 0;
  let outer: GatheringFuture<unknown[]> | null = null;

  const onChildDone = (fut: Future<unknown>): void => {
    nfinished += 1;
    if (outer === null || outer.done()) {
      // Mark the exception retrieved: the gather no longer reports it.
      if (!fut.cancelled()) fut.exception();
      return;
    }
    if (!returnExceptions) {
      if (fut.cancelled()) {
        // A CancelledError as the exception: awaiting the gather raises
        // it, though the gather itself is not cancelled.
        outer._setExceptionUnchecked(cancelledErrorOf(fut));
        return;
      }
      const failure = failureOf(fut);
      if (failure !== null) {
        outer._setExceptionUnchecked(failure.error);
        return;
      }
    }
    if (nfinished === nfuts) {
      const results: unknown[] = [];
      for (const child of children) {
        if (child.cancelled()) {
          results.push(
            new CancelledError(
              child instanceof Future ? child._cancelMessage ?? "" : "",
            ),
          );
        } else {
          const failure = failureOf(child);
          results.push(failure !== null ? failure.error : child.result());
        }
      }
      if (outer._cancelRequested) {
        // The gather was cancelled: that wins over returnExceptions. As
        // CPython, the error comes from the last child.
        outer._setExceptionUnchecked(
          cancelledErrorOf(children[children.length - 1]),
        );
      } else {
        outer.setResult(results);
      }
    }
  };

  for (const arg of args) {
    let fut = argToFut.get(arg);
    if (fut === undefined) {
      fut = ensureFuture(arg as Awaitable<unknown>, { loop });
      // A task made here is out of the caller's reach: do not report it
      // as destroyed while pending.
      if (fut !== arg && fut instanceof Task) fut._logDestroyPending = false;
      nfuts += 1;
      argToFut.set(arg, fut);
      if (fut.done()) doneFuts.push(fut);
      else fut.addDoneCallback(onChildDone);
    }
    children.push(fut);
  }
  outer = new GatheringFuture<unknown[]>(children, loop);
  labelWait(outer, `gather(${children.length})`, () => children);
  // Children already done are accounted for now: if all were, the gather
  // is done before it is returned.
  for (const fut of doneFuts) onChildDone(fut);
  return outer;
}

// ---- shield --------------------------------------------------------------------

/**
 * Protects an awaitable from cancellation: cancelling the returned future
 * (for instance by cancelling the task awaiting it) does not cancel the
 * inner one, which runs on. Mirrors `asyncio.shield()`. A coroutine is
 * wrapped in a task; an inner future already done is returned as is.
 *
 * @param awaitable A future, task, or coroutine.
 * @returns A future that follows the inner one unless cancelled itself.
 * @throws {TypeError} if `awaitable` is not awaitable.
 * @example
 * ```ts
 * import { CancelledError, createTask, run, shield, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const inner = createTask(() => sleep(0.01, "saved"));
 *   const waiter = createTask(() => shield(inner));
 *   await sleep(0); // the waiter starts waiting
 *   waiter.cancel();
 *   await assert.rejects(async () => await waiter, CancelledError);
 *   assert.equal(await inner, "saved"); // the inner task was not cancelled
 * });
 * ```
 */
export function shield<T>(awaitable: Awaitable<T>): Future<T> {
  if (!isAwaitable(awaitable)) {
    throw new TypeError(
      `shield() expects a future, a promise or a function returning one, got ${
        describe(awaitable)
      }`,
    );
  }
  const inner = ensureFuture(awaitable);
  if (inner.done()) return inner;
  const outer = (inner as Future<unknown>).getLoop().createFuture<T>();
  labelWait(outer, "shield", () => [inner]);
  const onInnerDone = (): void => {
    if (outer.cancelled()) {
      // Nobody will look at the inner outcome through the shield.
      if (!inner.cancelled()) inner.exception();
      return;
    }
    if (inner.cancelled()) {
      outer.cancel();
      return;
    }
    const failure = failureOf(inner as Future<unknown>);
    if (failure !== null) {
      (outer as Future<unknown>)._setExceptionUnchecked(failure.error);
    } else outer.setResult(inner.result());
  };
  const onOuterDone = (): void => {
    if (!inner.done()) inner.removeDoneCallback(onInnerDone);
  };
  inner.addDoneCallback(onInnerDone);
  outer.addDoneCallback(onOuterDone);
  return outer;
}

// ---- wait -----------------------------------------------------------------------

/**
 * `wait()` returns when any future finishes or is cancelled. Mirrors
 * `asyncio.FIRST_COMPLETED`.
 *
 * @example
 * ```ts
 * import { createTask, FIRST_COMPLETED, run, sleep, wait } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const t = createTask(() => sleep(0.01));
 *   const [done] = await wait([t], { returnWhen: FIRST_COMPLETED });
 *   assert(done.has(t));
 * });
 * ```
 */
export const FIRST_COMPLETED = "FIRST_COMPLETED";
/**
 * `wait()` returns when any future fails (else when all are done). Mirrors
 * `asyncio.FIRST_EXCEPTION`.
 *
 * @example
 * ```ts
 * import { createTask, FIRST_EXCEPTION, run, sleep, wait } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const bad = createTask(async () => { throw new Error("x"); });
 *   const slow = createTask(() => sleep(3600));
 *   const [done] = await wait([bad, slow], { returnWhen: FIRST_EXCEPTION });
 *   assert(done.has(bad));
 *   assert(!done.has(slow));
 *   bad.exception();
 *   slow.cancel();
 * });
 * ```
 */
export const FIRST_EXCEPTION = "FIRST_EXCEPTION";
/**
 * `wait()` returns when every future is done (the default). Mirrors
 * `asyncio.ALL_COMPLETED`.
 *
 * @example
 * ```ts
 * import { ALL_COMPLETED, createTask, run, wait } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const t = createTask(async () => 1);
 *   const [, pending] = await wait([t], { returnWhen: ALL_COMPLETED });
 *   assert.equal(pending.size, 0);
 * });
 * ```
 */
export const ALL_COMPLETED = "ALL_COMPLETED";

/**
 * When `wait()` returns: one of the three constants.
 *
 * @example
 * ```ts
 * import { ALL_COMPLETED, createTask, type ReturnWhen, run, wait } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const returnWhen: ReturnWhen = ALL_COMPLETED; // or FIRST_COMPLETED, FIRST_EXCEPTION
 * const [done] = await run(() => wait([createTask(async () => 1)], { returnWhen }));
 * assert.equal(done.size, 1);
 * ```
 */
export type ReturnWhen =
  | typeof FIRST_COMPLETED
  | typeof FIRST_EXCEPTION
  | typeof ALL_COMPLETED;

/**
 * Options of `wait()`.
 *
 * @example
 * ```ts
 * import { createTask, run, sleep, wait, type WaitOptions } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const options: WaitOptions = { timeout: 0.01 };
 * await run(async () => {
 *   const slow = createTask(() => sleep(3600));
 *   const [done, pending] = await wait([slow], options);
 *   assert.equal(done.size, 0); // timing out is not an error for wait()
 *   assert.deepEqual([...pending], [slow]);
 *   slow.cancel();
 * });
 * ```
 */
export interface WaitOptions {
  /** Seconds to wait at most (null: no limit); no error when it passes. */
  timeout?: number | null;
  /** `FIRST_COMPLETED`, `FIRST_EXCEPTION` or `ALL_COMPLETED` (default). */
  returnWhen?: ReturnWhen;
}

/**
 * Waits for futures and tasks until `returnWhen` holds or `timeout` passes,
 * and returns `[done, pending]`, two sets of the futures given. Mirrors
 * `asyncio.wait()`: nothing is cancelled and no `TimeoutError` is raised
 * when the timeout passes (the unfinished futures are in `pending`).
 * `returnWhen` is `FIRST_COMPLETED`, `FIRST_EXCEPTION` or `ALL_COMPLETED`
 * (the default). As since Python 3.11, coroutines are refused: wrap them in
 * tasks first.
 *
 * @param fs An iterable (array, set, ...) of futures and tasks.
 * @param options `timeout` (seconds or null), `returnWhen`.
 * @returns A promise of `[done, pending]`.
 * @throws {TypeError} (rejects) if `fs` is not an iterable of futures (a
 * coroutine in it included), or `timeout` is not a number.
 * @throws {RangeError} (rejects) if `fs` is empty, `returnWhen` is not one of
 * the constants (null included, as asyncio refuses `None`), or `timeout`
 * is NaN.
 * @throws {RuntimeError} (rejects) if no loop is running.
 * @example
 * ```ts
 * import { createTask, FIRST_COMPLETED, run, sleep, wait } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const fast = createTask(() => sleep(0.01, "fast"));
 *   const slow = createTask(() => sleep(3600, "slow"));
 *   const [done, pending] = await wait([fast, slow], {
 *     returnWhen: FIRST_COMPLETED,
 *   });
 *   assert.deepEqual([...done], [fast]);
 *   assert.deepEqual([...pending], [slow]);
 *   slow.cancel();
 * });
 * ```
 */
export async function wait<T>(
  fs: Iterable<Future<T>>,
  options?: WaitOptions,
): Promise<[Set<Future<T>>, Set<Future<T>>]> {
  if (isAwaitable(fs) || !isIterable(fs)) {
    throw new TypeError(
      `wait() expects an iterable of futures, not ${describe(fs)}`,
    );
  }
  const set = new Set<unknown>(fs);
  if (set.size === 0) {
    throw new RangeError("wait(): the set of tasks/futures is empty");
  }
  // Left out (undefined) is the default; null, like asyncio's None, is no
  // valid value.
  const given = options?.returnWhen;
  const returnWhen = given === undefined ? ALL_COMPLETED : given;
  if (
    returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION &&
    returnWhen !== ALL_COMPLETED
  ) {
    throw new RangeError(
      `wait(): invalid returnWhen value ${
        describe(returnWhen)
      }: use FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED`,
    );
  }
  for (const f of set) {
    if (isFuture(f)) continue;
    throw new TypeError(
      isCoroutine(f)
        ? "wait(): passing coroutines is forbidden, use tasks explicitly (createTask())"
        : `wait() expects futures or tasks, got ${describe(f)}`,
    );
  }
  const delay = options?.timeout;
  checkOptionalSeconds(delay, "wait", "timeout");
  const loop = getRunningLoop();
  return await waitFutures(
    set as Set<Future<T>>,
    delay ?? null,
    returnWhen,
    loop,
  );
}

function releaseWaiter(waiter: Future<unknown>): void {
  if (!waiter.done()) waiter.setResult(undefined);
}

/** Mirrors asyncio's `_wait`. */
async function waitFutures<T>(
  fs: Set<Future<T>>,
  delay: number | null,
  returnWhen: ReturnWhen,
  loop: AbstractEventLoop,
): Promise<[Set<Future<T>>, Set<Future<T>>]> {
  const waiter = loop.createFuture<void>();
  labelWait(waiter, `wait(${fs.size})`, () => fs);
  const timeoutHandle: Handle | null = delay === null
    ? null
    : loop.callLater(delay, releaseWaiter, waiter);
  let counter = fs.size;
  const onCompletion = (f: Future<T>): void => {
    counter -= 1;
    if (
      counter <= 0 || returnWhen === FIRST_COMPLETED ||
      (returnWhen === FIRST_EXCEPTION && !f.cancelled() &&
        failureOf(f as Future<unknown>) !== null)
    ) {
      timeoutHandle?.cancel();
      releaseWaiter(waiter);
    }
  };
  for (const f of fs) f.addDoneCallback(onCompletion);
  try {
    await waiter;
  } finally {
    timeoutHandle?.cancel();
    for (const f of fs) f.removeDoneCallback(onCompletion);
  }
  const done = new Set<Future<T>>();
  const pending = new Set<Future<T>>();
  for (const f of fs) (f.done() ? done : pending).add(f);
  return [done, pending];
}

// ---- waitFor ----------------------------------------------------------------------

async function cancelAndWait(fut: Future<unknown>): Promise<void> {
  const waiter = getRunningLoop().createFuture<void>();
  const onDone = () => releaseWaiter(waiter);
  fut.addDoneCallback(onDone);
  try {
    fut.cancel();
    // Not `await fut`: this wait must stay cancellable even if `fut`
    // ignores its cancellation.
    await waiter;
  } finally {
    fut.removeDoneCallback(onDone);
  }
}

/**
 * Whether `awaitable` is a coroutine that has already started (a promise,
 * not a future) in the current task. Such a coroutine ran up to its first
 * suspension when it was made, so `waitFor()` with no time left cannot keep
 * it from starting, as asyncio's does with a coroutine: the effects of that
 * first step (a lock taken, an item taken from a queue, a waiter queued)
 * have happened, and a task wrapped around the promise could neither report
 * them nor cancel the wait it is in (that wait belongs to the current task).
 * So it is awaited under `timeout(0)`, as asyncio treats a task that is
 * already running: a settled promise gives its outcome, a pending one has
 * its wait cancelled (the lock waiter or queue getter withdrawn) and is
 * waited for.
 */
function startedInTask(awaitable: Awaitable<unknown>): boolean {
  if (typeof awaitable === "function" || isFuture(awaitable)) return false;
  const loop = _getRunningLoop();
  return loop !== null && currentTask(loop) !== null;
}

function startInline<T>(awaitable: Awaitable<T>): PromiseLike<T> {
  if (typeof awaitable !== "function") return awaitable;
  const promise: unknown = awaitable();
  if (
    promise === null ||
    (typeof promise !== "object" && typeof promise !== "function") ||
    typeof (promise as { then?: unknown }).then !== "function"
  ) {
    throw new TypeError(
      `waitFor(): the function returned ${
        describe(promise)
      }, not a promise (pass an async function)`,
    );
  }
  return promise as PromiseLike<T>;
}

/**
 * Waits for an awaitable with a time limit. Mirrors `asyncio.wait_for()` as
 * of Python 3.12, which is `timeout(delay)` around `await awaitable`:
 * when the time is up the current task is cancelled, which cancels what it
 * awaits (a task given here is cancelled, and waited for until it is done),
 * and the call rejects with `TimeoutError`. A coroutine runs inside the
 * calling task, as `await` would run it. With `timeout` 0 or less a future
 * (or task) is returned from if done, else cancelled and waited for; a
 * coroutine function is wrapped in a task that is cancelled before it
 * starts; a promise, a coroutine already started, is awaited as under
 * `timeout(0)`: its outcome if it has settled (the item a `q.get()` took,
 * the lock a `lock.acquire()` took), else its wait is cancelled (no getter
 * or lock waiter stays behind). `null` waits without a limit. If the awaitable
 * swallows the cancellation and returns a value, that value is returned.
 *
 * @param awaitable A future, task, or coroutine.
 * @param timeout Seconds, or null for no limit.
 * @returns A promise of the awaitable's result.
 * @throws {TimeoutError} (rejects) when the time is up.
 * @throws {TypeError} (rejects) if `awaitable` is not awaitable or `timeout`
 * is neither a number nor null.
 * @throws {RangeError} (rejects) if `timeout` is NaN.
 * @throws {RuntimeError} (rejects) outside a task (with a timeout above 0).
 * @example
 * ```ts
 * import { run, sleep, TimeoutError, waitFor } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   assert.equal(await waitFor(() => sleep(0.01, "quick"), 1), "quick");
 *   await assert.rejects(waitFor(() => sleep(3600), 0.01), TimeoutError);
 * });
 * ```
 */
export async function waitFor<T>(
  awaitable: Awaitable<T>,
  timeout: number | null,
): Promise<T> {
  if (!isAwaitable(awaitable)) {
    throw new TypeError(
      `waitFor() expects a future, a promise or a function returning one, got ${
        describe(awaitable)
      }`,
    );
  }
  checkOptionalSeconds(timeout, "waitFor", "timeout");
  if (timeout != null && timeout <= 0 && !startedInTask(awaitable)) {
    // No time at all: a coroutine must not start (with a timeout block it
    // would run up to its first suspension).
    const fut = ensureFuture(awaitable);
    if (fut.done()) return fut.result();
    await cancelAndWait(fut as Future<unknown>);
    try {
      return fut.result();
    } catch (error) {
      if (!(error instanceof CancelledError)) throw error;
      const timeoutError = new TimeoutError();
      timeoutError.cause = error;
      throw timeoutError;
    }
  }
  return await makeTimeout(timeout ?? null).run(() => startInline(awaitable));
}

// ---- asCompleted -------------------------------------------------------------------

/**
 * What `asCompleted()` returns: an iterable of one awaitable per input, each
 * resolving to the result (or rejecting with the error) of the next input to
 * finish, in the order they are awaited. `for (const next of it)` then
 * `await next` is asyncio's plain iteration; `for await (const result of
 * it)` awaits each in turn (JavaScript's `for await` over an iterable of
 * awaitables) and so yields the results in completion order.
 *
 * @typeParam T The results' type.
 * @example
 * ```ts
 * import { asCompleted, run, sleep } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy()); // exact timers
 * await run(async () => {
 *   const order: string[] = [];
 *   for (const next of asCompleted([() => sleep(2, "b"), () => sleep(1, "a")])) {
 *     order.push(await next);
 *   }
 *   assert.deepEqual(order, ["a", "b"]);
 * });
 * ```
 */
export interface AsCompletedIterator<T> extends Iterable<PromiseLike<T>> {
  /** One awaitable per input, each resolving to the next result. */
  [Symbol.iterator](): Iterator<PromiseLike<T>>;
}

/** An awaitable that starts its wait when first awaited (as a coroutine). */
class LazyResult<T> implements PromiseLike<T> {
  #start: () => Promise<T>;
  #promise: Promise<T> | null = null;
  constructor(start: () => Promise<T>) {
    this.#start = start;
  }
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#promise ??= this.#start();
    return this.#promise.then(onFulfilled, onRejected);
  }
}

/** Mirrors asyncio's `_AsCompletedIterator` (3.13). */
class AsCompleted<T> implements AsCompletedIterator<T> {
  #loop: AbstractEventLoop;
  /** Finished futures, and null for each one the timeout gave up on. */
  #done: (Future<T> | null)[] = [];
  #getters: Future<void>[] = [];
  #todo: Set<Future<T>>;
  #todoLeft: number;
  #timeoutHandle: Handle | null = null;

  constructor(
    todo: Set<Future<T>>,
    delay: number | null,
    loop: AbstractEventLoop,
  ) {
    this.#loop = loop;
    this.#todo = todo;
    this.#todoLeft = todo.size;
    for (const f of todo) f.addDoneCallback(this.#onCompletion);
    if (todo.size > 0 && delay !== null) {
      this.#timeoutHandle = loop.callLater(delay, this.#onTimeout);
    }
  }

  [Symbol.iterator](): Iterator<PromiseLike<T>> {
    const iterator: Iterator<PromiseLike<T>> = {
      next: () => {
        if (this.#todoLeft === 0) return { done: true, value: undefined };
        this.#todoLeft -= 1;
        return {
          done: false,
          value: new LazyResult(async () =>
            (await this.#waitForOne())[0].result()
          ),
        };
      },
    };
    return iterator;
  }

  readonly #onTimeout = (): void => {
    for (const f of this.#todo) {
      f.removeDoneCallback(this.#onCompletion);
      this.#put(null);
    }
    this.#todo.clear();
  };

  readonly #onCompletion = (f: Future<T>): void => {
    if (this.#todo.size === 0) return; // the timeout came first
    this.#todo.delete(f);
    this.#put(f);
    if (this.#todo.size === 0) this.#timeoutHandle?.cancel();
  };

  #put(item: Future<T> | null): void {
    this.#done.push(item);
    this.#wakeupNext();
  }

  #wakeupNext(): void {
    while (this.#getters.length > 0) {
      const getter = this.#getters.shift()!;
      if (!getter.done()) {
        getter.setResult(undefined);
        break;
      }
    }
  }

  /**
   * The next finished future (asyncio's `Queue.get` on `_done`), boxed: an
   * async function returning a future would resolve to its result instead.
   */
  async #waitForOne(): Promise<[Future<T>]> {
    while (this.#done.length === 0) {
      const getter = this.#loop.createFuture<void>();
      this.#getters.push(getter);
      try {
        await getter;
      } catch (error) {
        getter.cancel();
        const i = this.#getters.indexOf(getter);
        if (i >= 0) this.#getters.splice(i, 1);
        // Woken but cancelled before taking the item: wake the next one.
        if (this.#done.length > 0 && !getter.cancelled()) {
          this.#wakeupNext();
        }
        throw error;
      }
    }
    const f = this.#done.shift()!;
    if (f === null) throw new TimeoutError();
    return [f];
  }
}

/**
 * Runs awaitables concurrently and hands them back in the order they
 * finish. Mirrors `asyncio.as_completed()`: `for (const next of
 * asCompleted(fs)) { const result = await next; }` — the first awaitable
 * awaited gets the earliest result, as each starts waiting only when
 * awaited. `for await (const result of asCompleted(fs))` yields the results
 * themselves in completion order (and throws at the first failure).
 * Coroutines are wrapped in tasks; duplicates count once. When `timeout`
 * seconds pass before all are done, each remaining wait rejects with
 * `TimeoutError` (nothing is cancelled).
 *
 * Python 3.13's `async for` yields the finished futures instead; here
 * `for await` yields results because JavaScript's `for await` (and
 * TypeScript's typing of it) treats a yielded future as the value it
 * resolves to. To know which input finished, wrap each in a task that
 * returns what you need, or use `wait(..., { returnWhen: FIRST_COMPLETED })`.
 *
 * @param fs An iterable of futures, tasks or coroutines.
 * @param options `timeout`: seconds, or null for no limit.
 * @returns An iterable usable with `for ... of` and `for await ... of`.
 * @throws {TypeError} if `fs` is itself awaitable or not iterable, an item
 * is not awaitable, or `timeout` is not a number.
 * @throws {RangeError} if `timeout` is NaN or futures belong to another loop.
 * @example
 * ```ts
 * import { asCompleted, createTask, run, sleep } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy()); // exact timers
 * await run(async () => {
 *   const slow = createTask(() => sleep(2, "slow"));
 *   const fast = createTask(() => sleep(1, "fast"));
 *   const finished: string[] = [];
 *   for await (const result of asCompleted([slow, fast])) finished.push(result);
 *   assert.deepEqual(finished, ["fast", "slow"]);
 * });
 * ```
 */
export function asCompleted<T>(
  fs: Iterable<Awaitable<T>>,
  options?: { timeout?: number | null },
): AsCompletedIterator<T> {
  if (isAwaitable(fs) || !isIterable(fs)) {
    throw new TypeError(
      `asCompleted() expects an iterable of awaitables, not ${describe(fs)}`,
    );
  }
  const delay = options?.timeout;
  checkOptionalSeconds(delay, "asCompleted", "timeout");
  const unique = new Set<unknown>(fs);
  for (const aw of unique) {
    if (!isAwaitable(aw)) {
      throw new TypeError(
        `asCompleted(): not awaitable (a future, a promise or a function returning one): ${
          describe(aw)
        }`,
      );
    }
  }
  const loop = _getEventLoop();
  for (const aw of unique) {
    if (isFuture(aw) && aw.getLoop() !== loop) {
      throw new RangeError(
        `asCompleted(): ${aw} belongs to a different loop than the current one`,
      );
    }
  }
  const todo = new Set<Future<T>>();
  for (const aw of unique) {
    todo.add(ensureFuture(aw as Awaitable<T>, { loop }));
  }
  return new AsCompleted(todo, delay ?? null, loop);
}
