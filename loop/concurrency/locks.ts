/**
 * Synchronization primitives for tasks: `Lock`, `Event`, `Condition`,
 * `Semaphore`, `BoundedSemaphore` and `Barrier` (with `BrokenBarrierError`),
 * after CPython 3.13's `Lib/asyncio/locks.py` and `mixins.py`.
 *
 * They are not thread-safe (nothing here is), and they hold no loop when
 * made: as asyncio's `_LoopBoundMixin`, a primitive binds to the running loop
 * the first time it has to wait, and a later wait on another loop is a
 * `RuntimeError`. A primitive can therefore be made at module level, before
 * any loop exists.
 *
 * Every blocked call waits on a loop future of its own, queued FIFO, so that
 * `task.cancel()` reaches it. The rules that keep the queue fair are
 * CPython's: a waiter that is cancelled, even after it was chosen, passes its
 * turn to the next one; a newcomer never takes a lock or a permit while an
 * earlier waiter that is not cancelled still queues; and `Condition.wait()`
 * holds the lock again before it returns or throws, however often it is
 * cancelled meanwhile. The uncontended paths stay cheap: `acquire()` creates
 * no future and no promise (it returns one shared resolved promise), and
 * `run()` only the promise it returns.
 *
 * Python writes `async with lock: ...`. JavaScript has no `async with` whose
 * exit runs on every way out of the block, so the block is a callback:
 * `await lock.run(async () => ...)` acquires, runs the block, releases however
 * it ends, and resolves with the block's result, as `timeout().run()` and
 * `TaskGroup.run()` do.
 *
 * @module
 */
import { labelWait } from "../core/wait_labels.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import { CancelledError, RuntimeError } from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import { getRunningLoop } from "../core/running.ts";

const inspect = Symbol.for("Deno.customInspect");

/** What every uncontended acquire returns: no allocation on the fast path. */
const RESOLVED_TRUE: Promise<true> = Promise.resolve(true);

// ---- internals ---------------------------------------------------------------

/** A waiter's place in a queue (a doubly linked node, so removal is O(1)). */
interface Waiter<T> {
  fut: Future<T>;
  prev: Waiter<T> | null;
  next: Waiter<T> | null;
}

/**
 * The FIFO of futures a primitive's blocked callers wait on. Each caller
 * removes its own node when its wait ends (however it ends), as CPython's
 * `self._waiters.remove(fut)` in a `finally`.
 */
class WaiterQueue<T> {
  head: Waiter<T> | null = null;
  tail: Waiter<T> | null = null;
  size = 0;

  push(fut: Future<T>): Waiter<T> {
    const node: Waiter<T> = { fut, prev: this.tail, next: null };
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
    this.size++;
    return node;
  }

  remove(node: Waiter<T>): void {
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
    this.size--;
  }

  /** Whether some waiter is still waiting its turn (not cancelled). */
  hasLive(): boolean {
    for (let node = this.head; node !== null; node = node.next) {
      if (!node.fut.cancelled()) return true;
    }
    return false;
  }
}

/**
 * The loop a primitive bound to `bound` may wait on now: the running loop,
 * which it binds to if it is not bound yet. Mirrors `_LoopBoundMixin._get_loop`.
 */
function loopFor(
  bound: AbstractEventLoop | null,
  primitive: object,
): AbstractEventLoop {
  const loop = getRunningLoop();
  if (bound !== null && bound !== loop) {
    throw new RuntimeError(
      `${primitive} is bound to a different event loop: a primitive waits on the loop it first waited on`,
    );
  }
  return loop;
}

/** The error for a `run()` given something other than a function. */
function notABlock(fn: unknown, owner: string): TypeError {
  return new TypeError(
    `${owner}.run() expects a function (the block to run), got ${typeof fn}`,
  );
}

/**
 * Runs a block that already holds its primitive and releases it when the block
 * settles, however it ends; the promise settles as `async () => { try {
 * return await fn(); } finally { release(); } }` would. This is the
 * uncontended `run()`: a reaction on the block's own promise, with the
 * primitive's two reusable callbacks, costs less than an async function.
 */
function runHolding<T>(
  fn: () => T | PromiseLike<T>,
  released: (value: unknown) => unknown,
  releasedAfterError: (error: unknown) => never,
): Promise<T> {
  let result: T | PromiseLike<T>;
  try {
    result = fn();
  } catch (error) {
    // Released at once, as a `finally` would; its own error wins.
    let failure = error;
    try {
      releasedAfterError(error);
    } catch (thrown) {
      failure = thrown;
    }
    return Promise.reject(failure);
  }
  const promise = result instanceof Promise ? result : Promise.resolve(result);
  return promise.then(released, releasedAfterError) as Promise<T>;
}

/** Throws unless `value` is an integer of at least `min`. */
function checkCount(value: unknown, what: string, min: number): number {
  if (typeof value !== "number") {
    throw new TypeError(`${what} must be a number, got ${typeof value}`);
  }
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${what} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

function waitersInfo(size: number): string {
  return size > 0 ? `, waiters:${size}` : "";
}

// ---- Lock --------------------------------------------------------------------

/**
 * A mutual-exclusion lock for tasks. Mirrors `asyncio.Lock`.
 *
 * `acquire()` takes the lock, waiting while another holder has it; waiters
 * take it in the order they asked (FIFO). `release()` hands it to the first
 * waiter. The lock is not owned by a task: any code may release it.
 * `run(fn)` is `async with lock:` — acquire, run the block, release on every
 * exit. A waiter cancelled at any point, even after `release()` picked it,
 * never takes the lock: the next waiter gets it.
 *
 * @example Serializing a critical section
 * ```ts
 * import { createTask, Lock, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * const log: string[] = [];
 * async function worker(name: string) {
 *   await lock.run(async () => {
 *     log.push(`${name} in`);
 *     await sleep(0.01);
 *     log.push(`${name} out`);
 *   });
 * }
 * await run(async () => {
 *   const tasks = ["a", "b"].map((name) => createTask(() => worker(name)));
 *   for (const task of tasks) await task;
 * });
 * assert.deepEqual(log, ["a in", "a out", "b in", "b out"]);
 * ```
 */
export class Lock {
  #locked = false;
  #waiters = new WaiterQueue<true>();
  #loop: AbstractEventLoop | null = null;

  /**
   * Whether the lock is held. Mirrors `Lock.locked()`.
   *
   * @example
   * ```ts
   * import { Lock } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * assert.equal(lock.locked(), false);
   * await lock.acquire();
   * assert.equal(lock.locked(), true);
   * ```
   */
  locked(): boolean {
    return this.#locked;
  }

  /**
   * Takes the lock and resolves with `true`, waiting (FIFO) while it is held
   * or while earlier waiters queue. Mirrors `Lock.acquire()`. An uncontended
   * acquire needs no loop and does not wait for one.
   *
   * @returns A promise of `true`.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled; the
   * lock then goes to the next waiter.
   * @throws {RuntimeError} (rejects) if it must wait and no loop is running,
   * or the lock is bound to another loop.
   * @example
   * ```ts
   * import { Lock, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * await run(async () => {
   *   assert.equal(await lock.acquire(), true);
   *   lock.release();
   * });
   * ```
   */
  acquire(): Promise<true> {
    if (!this.#locked && !this.#waiters.hasLive()) {
      // Nobody queues (or every waiter is cancelled): no turn to wait for.
      this.#locked = true;
      return RESOLVED_TRUE;
    }
    return this.#acquireSlow();
  }

  async #acquireSlow(): Promise<true> {
    const loop = loopFor(this.#loop, this);
    this.#loop = loop;
    const waiters = this.#waiters;
    const fut = loop.createFuture<true>();
    labelWait(fut, () => `Lock.acquire() on ${this}`);
    const node = waiters.push(fut);
    try {
      try {
        await fut;
      } finally {
        waiters.remove(node);
      }
    } catch (error) {
      // Chosen by release() and cancelled before running, or cancelled
      // while the lock is free: pass the turn on, or nobody would wake.
      if (!this.#locked) this.#wakeUpFirst();
      throw error;
    }
    this.#locked = true;
    return true;
  }

  /**
   * Releases the lock and lets the first waiter (if any) take it. Mirrors
   * `Lock.release()`.
   *
   * @throws {RuntimeError} if the lock is not held.
   * @example
   * ```ts
   * import { Lock, RuntimeError } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * await lock.acquire();
   * lock.release();
   * assert.equal(lock.locked(), false);
   * assert.throws(() => lock.release(), RuntimeError);
   * ```
   */
  release(): void {
    if (!this.#locked) {
      throw new RuntimeError(
        "Lock is not acquired: release() without acquire()",
      );
    }
    this.#locked = false;
    this.#wakeUpFirst();
  }

  /** Makes sure the first waiter will wake (a done future already will). */
  #wakeUpFirst(): void {
    const first = this.#waiters.head;
    if (first !== null && !first.fut.done()) first.fut.setResult(true);
  }

  /**
   * Runs `fn` holding the lock (asyncio's `async with lock:`): acquires,
   * calls `fn`, releases however `fn` ends, and resolves with its result.
   * When the lock is free, `fn` starts at once, before `run()` returns.
   *
   * @param fn The block; may be async.
   * @returns A promise of `fn`'s result.
   * @throws {TypeError} (rejects) if `fn` is not a function.
   * @throws {CancelledError} (rejects) if the task is cancelled while it
   * waits for the lock (`fn` does not run).
   * @throws {RuntimeError} (rejects) as `acquire()`, or if `fn` released the
   * lock itself.
   * @example
   * ```ts
   * import { Lock, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const value = await run(() => lock.run(async () => lock.locked() && 42));
   * assert.equal(value, 42);
   * assert.equal(lock.locked(), false);
   * ```
   */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== "function") {
      return Promise.reject(notABlock(fn, "Lock"));
    }
    if (!this.#locked && !this.#waiters.hasLive()) {
      this.#locked = true;
      return runHolding(fn, this.#released, this.#releasedAfterError);
    }
    return this.#runAfterAcquire(fn);
  }

  readonly #released = (value: unknown): unknown => {
    this.release();
    return value;
  };

  readonly #releasedAfterError = (error: unknown): never => {
    this.release();
    throw error;
  };

  async #runAfterAcquire<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.#acquireSlow();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** A description like `<Lock [locked, waiters:2]>` (asyncio's repr). */
  toString(): string {
    const state = this.#locked ? "locked" : "unlocked";
    return `<Lock [${state}${waitersInfo(this.#waiters.size)}]>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

// ---- Event -------------------------------------------------------------------

/**
 * A flag tasks can wait for. Mirrors `asyncio.Event`.
 *
 * `set()` raises the flag and wakes every waiter; `wait()` resolves at once
 * while the flag is up; `clear()` lowers it. A waiter woken by `set()` still
 * returns `true` if the flag is cleared before it runs.
 *
 * @example Waiting for a signal from another task
 * ```ts
 * import { createTask, Event, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const ready = new Event();
 * const order: string[] = [];
 * await run(async () => {
 *   const waiter = createTask(async () => {
 *     await ready.wait();
 *     order.push("woke");
 *   });
 *   await sleep(0); // the waiter runs up to its wait()
 *   order.push("set");
 *   ready.set();
 *   await waiter;
 * });
 * assert.deepEqual(order, ["set", "woke"]);
 * ```
 */
export class Event {
  #value = false;
  #waiters = new WaiterQueue<true>();
  #loop: AbstractEventLoop | null = null;

  /**
   * Whether the flag is up. Mirrors `Event.is_set()`.
   *
   * @example
   * ```ts
   * import { Event } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * assert.equal(event.isSet(), false);
   * event.set();
   * assert.equal(event.isSet(), true);
   * ```
   */
  isSet(): boolean {
    return this.#value;
  }

  /**
   * Raises the flag and wakes every task waiting for it. Mirrors
   * `Event.set()`.
   *
   * @example
   * ```ts
   * import { Event, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * assert.equal(await run(() => event.wait()), true);
   * ```
   */
  set(): void {
    if (this.#value) return;
    this.#value = true;
    for (let node = this.#waiters.head; node !== null; node = node.next) {
      if (!node.fut.done()) node.fut.setResult(true);
    }
  }

  /**
   * Lowers the flag: later `wait()` calls block until the next `set()`.
   * Mirrors `Event.clear()`.
   *
   * @example
   * ```ts
   * import { Event } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * event.clear();
   * assert.equal(event.isSet(), false);
   * ```
   */
  clear(): void {
    this.#value = false;
  }

  /**
   * Resolves with `true` once the flag is up (at once if it is). Mirrors
   * `Event.wait()`.
   *
   * @returns A promise of `true`.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled.
   * @throws {RuntimeError} (rejects) if it must wait and no loop is running,
   * or the event is bound to another loop.
   * @example
   * ```ts
   * import { Event, getRunningLoop, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * const result = await run(async () => {
   *   getRunningLoop().callLater(0.01, () => event.set());
   *   return await event.wait();
   * });
   * assert.equal(result, true);
   * ```
   */
  wait(): Promise<true> {
    if (this.#value) return RESOLVED_TRUE;
    return this.#waitSlow();
  }

  async #waitSlow(): Promise<true> {
    const loop = loopFor(this.#loop, this);
    this.#loop = loop;
    const fut = loop.createFuture<true>();
    labelWait(fut, () => `Event.wait() on ${this}`);
    const node = this.#waiters.push(fut);
    try {
      await fut;
      return true;
    } finally {
      this.#waiters.remove(node);
    }
  }

  /** A description like `<Event [unset, waiters:1]>` (asyncio's repr). */
  toString(): string {
    const state = this.#value ? "set" : "unset";
    return `<Event [${state}${waitersInfo(this.#waiters.size)}]>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

// ---- Condition ---------------------------------------------------------------

/**
 * A condition variable: tasks wait, holding a lock, until another task
 * notifies them. Mirrors `asyncio.Condition`.
 *
 * `acquire()`, `release()`, `locked()` and `run(fn)` are those of the
 * underlying `Lock` (a new one unless given). `wait()` releases the lock,
 * waits for `notify()`/`notifyAll()`, and takes the lock again before it
 * returns — and before it throws, even when it is cancelled (repeatedly)
 * while taking it back. A wait may end without a matching notify (a
 * "spurious wakeup", allowed as in asyncio), so re-check the state, or use
 * `waitFor(predicate)`.
 *
 * @example A producer and a consumer
 * ```ts
 * import { Condition, createTask, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const cond = new Condition();
 * const items: number[] = [];
 * const got = await run(async () => {
 *   const consumer = createTask(() =>
 *     cond.run(async () => {
 *       await cond.waitFor(() => items.length > 0);
 *       return items.shift();
 *     })
 *   );
 *   await cond.run(() => {
 *     items.push(7);
 *     cond.notify();
 *   });
 *   return await consumer;
 * });
 * assert.equal(got, 7);
 * ```
 */
export class Condition {
  #lock: Lock;
  #waiters = new WaiterQueue<boolean>();
  #loop: AbstractEventLoop | null = null;

  /**
   * A condition over `lock`, or over a new `Lock`.
   *
   * @param lock The lock to share (several conditions may use one lock).
   * @throws {TypeError} if `lock` is given and is not a `Lock`.
   */
  constructor(lock?: Lock | null) {
    if (lock == null) lock = new Lock();
    else if (!(lock instanceof Lock)) {
      throw new TypeError(
        `Condition() expects a Lock (or nothing), got ${typeof lock}`,
      );
    }
    this.#lock = lock;
  }

  /**
   * Takes the underlying lock. Mirrors `Condition.acquire()` (the lock's).
   *
   * @returns A promise of `true`.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled.
   * @throws {RuntimeError} (rejects) as `Lock.acquire()`.
   * @example
   * ```ts
   * import { Condition } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * assert.equal(await cond.acquire(), true);
   * assert.equal(cond.locked(), true);
   * ```
   */
  acquire(): Promise<true> {
    return this.#lock.acquire();
  }

  /**
   * Releases the underlying lock. Mirrors `Condition.release()`.
   *
   * @throws {RuntimeError} if the lock is not held.
   * @example
   * ```ts
   * import { Condition } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * await cond.acquire();
   * cond.release();
   * assert.equal(cond.locked(), false);
   * ```
   */
  release(): void {
    this.#lock.release();
  }

  /**
   * Whether the underlying lock is held. Mirrors `Condition.locked()`.
   *
   * @example
   * ```ts
   * import { Condition, Lock } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const cond = new Condition(lock);
   * await lock.acquire();
   * assert.equal(cond.locked(), true);
   * ```
   */
  locked(): boolean {
    return this.#lock.locked();
  }

  /**
   * Runs `fn` holding the underlying lock (asyncio's `async with cond:`),
   * as `Lock.run()`.
   *
   * @param fn The block; may be async.
   * @returns A promise of `fn`'s result.
   * @throws {TypeError} (rejects) if `fn` is not a function.
   * @throws {CancelledError} (rejects) if cancelled while waiting for the
   * lock.
   * @throws {RuntimeError} (rejects) as `Lock.run()`.
   * @example
   * ```ts
   * import { Condition, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * assert.equal(await run(() => cond.run(() => cond.locked())), true);
   * assert.equal(cond.locked(), false);
   * ```
   */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== "function") {
      return Promise.reject(notABlock(fn, "Condition"));
    }
    return this.#lock.run(fn);
  }

  /**
   * Releases the lock, waits until notified, takes the lock back, and
   * resolves with `true`. Mirrors `Condition.wait()` (3.13): the lock is
   * held again whenever this settles, also when the task was cancelled,
   * even several times over; the `CancelledError` then propagates. If the
   * wait ends in an error after a notify chose this waiter, the notify
   * passes to another waiter.
   *
   * @returns A promise of `true`.
   * @throws {RuntimeError} (rejects) if the lock is not held (nothing
   * changes then), or the condition is bound to another loop.
   * @throws {CancelledError} (rejects) if the task is cancelled; the lock is
   * held again.
   * @example
   * ```ts
   * import { Condition, createTask, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * await run(async () => {
   *   await cond.acquire();
   *   createTask(() => cond.run(() => cond.notify()));
   *   assert.equal(await cond.wait(), true);
   *   assert.equal(cond.locked(), true); // held again
   *   cond.release();
   * });
   * ```
   */
  async wait(): Promise<true> {
    if (!this.locked()) {
      throw new RuntimeError(
        "cannot wait on an un-acquired lock: acquire the condition first",
      );
    }
    const loop = loopFor(this.#loop, this);
    this.#loop = loop;
    const fut = loop.createFuture<boolean>();
    labelWait(fut, () => `Condition.wait() on ${this}`);
    this.release();
    let failure: { error: unknown } | null = null;
    const node = this.#waiters.push(fut);
    try {
      await fut;
    } catch (error) {
      failure = { error };
    } finally {
      this.#waiters.remove(node);
    }
    try {
      // Take the lock back before leaving, whatever happened. Only a
      // cancellation is retried (any other failure would spin); the last
      // one wins over the wait's own error.
      for (;;) {
        try {
          await this.acquire();
          break;
        } catch (error) {
          if (!(error instanceof CancelledError)) throw error;
          failure = { error };
        }
      }
      if (failure !== null) throw failure.error;
      return true;
    } catch (error) {
      // This waiter may have been the one a notify() chose: hand that
      // wakeup to another waiter (a spurious wakeup at worst).
      this.#notify(1);
      throw error;
    }
  }

  /**
   * Waits until `predicate()` returns a truthy value and resolves with that
   * value; checks first, then after each wakeup. The lock must be held
   * (unless the predicate holds at once) and is held when this settles.
   * Mirrors `Condition.wait_for()`.
   *
   * @param predicate Called with the lock held; its result is tested for
   * truthiness.
   * @returns A promise of the predicate's last (truthy) result.
   * @throws {TypeError} (rejects) if `predicate` is not a function.
   * @throws {RuntimeError} (rejects) as `wait()`.
   * @throws {CancelledError} (rejects) as `wait()`.
   * @example
   * ```ts
   * import { Condition, createTask, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * let count = 0;
   * const seen = await run(async () => {
   *   const counter = createTask(async () => {
   *     for (let i = 0; i < 3; i++) {
   *       await sleep(0.001);
   *       await cond.run(() => {
   *         count++;
   *         cond.notifyAll();
   *       });
   *     }
   *   });
   *   const value = await cond.run(() => cond.waitFor(() => count >= 3 && count));
   *   await counter;
   *   return value;
   * });
   * assert.equal(seen, 3);
   * ```
   */
  async waitFor<T>(
    predicate: () => T,
  ): Promise<Exclude<T, false | 0 | "" | null | undefined>> {
    if (typeof predicate !== "function") {
      throw new TypeError(
        `Condition.waitFor() expects a function (the predicate), got ${typeof predicate}`,
      );
    }
    let result = predicate();
    while (!result) {
      await this.wait();
      result = predicate();
    }
    return result as Exclude<T, false | 0 | "" | null | undefined>;
  }

  /**
   * Wakes up to `n` tasks waiting on this condition (FIFO); each returns
   * from `wait()` once it has the lock back, so release the lock after
   * notifying. Mirrors `Condition.notify()`.
   *
   * @param n How many waiters to wake (0 or less: none).
   * @throws {RuntimeError} if the lock is not held.
   * @throws {TypeError} if `n` is not a number.
   * @throws {RangeError} if `n` is NaN.
   * @example
   * ```ts
   * import { Condition, createTask, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * const woken: number[] = [];
   * await run(async () => {
   *   const waiters = [1, 2, 3].map((id) =>
   *     createTask(() => cond.run(async () => {
   *       await cond.wait();
   *       woken.push(id);
   *     }))
   *   );
   *   await sleep(0);
   *   await cond.run(() => cond.notify(2));
   *   await waiters[0];
   *   await waiters[1];
   *   assert.deepEqual(woken, [1, 2]); // the third still waits
   *   await cond.run(() => cond.notify());
   *   await waiters[2];
   * });
   * assert.deepEqual(woken, [1, 2, 3]);
   * ```
   */
  notify(n = 1): void {
    if (typeof n !== "number") {
      throw new TypeError(
        `Condition.notify() expects a number of waiters, got ${typeof n}`,
      );
    }
    if (Number.isNaN(n)) {
      throw new RangeError("Condition.notify() count must not be NaN");
    }
    if (!this.locked()) {
      throw new RuntimeError(
        "cannot notify on an un-acquired lock: acquire the condition first",
      );
    }
    this.#notify(n);
  }

  #notify(n: number): void {
    let woken = 0;
    for (let node = this.#waiters.head; node !== null; node = node.next) {
      if (woken >= n) break;
      if (!node.fut.done()) {
        woken++;
        node.fut.setResult(false);
      }
    }
  }

  /**
   * Wakes every task waiting on this condition. Mirrors
   * `Condition.notify_all()`.
   *
   * @throws {RuntimeError} if the lock is not held.
   * @example
   * ```ts
   * import { Condition, createTask, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const cond = new Condition();
   * let woken = 0;
   * await run(async () => {
   *   const waiters = [0, 1, 2].map(() =>
   *     createTask(() => cond.run(async () => {
   *       await cond.wait();
   *       woken++;
   *     }))
   *   );
   *   await sleep(0);
   *   await cond.run(() => cond.notifyAll());
   *   for (const waiter of waiters) await waiter;
   * });
   * assert.equal(woken, 3);
   * ```
   */
  notifyAll(): void {
    this.notify(this.#waiters.size);
  }

  /** A description like `<Condition [locked, waiters:1]>` (asyncio's repr). */
  toString(): string {
    const state = this.locked() ? "locked" : "unlocked";
    return `<Condition [${state}${waitersInfo(this.#waiters.size)}]>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

// ---- Semaphore ---------------------------------------------------------------

let semaphoreValue: (semaphore: Semaphore) => number;

/**
 * A counter of permits: `acquire()` takes one, waiting while none is left;
 * `release()` gives one back. Mirrors `asyncio.Semaphore` (3.13).
 *
 * Waiters are served FIFO, and a newcomer never takes a permit while an
 * earlier waiter that is not cancelled still queues, even if permits are
 * free at that moment (they are on their way to the waiters). `release()`
 * may raise the count above the initial value; `BoundedSemaphore` forbids
 * that. `run(fn)` is `async with sem:`.
 *
 * @example Limiting concurrency to two
 * ```ts
 * import { createTask, run, Semaphore, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const sem = new Semaphore(2);
 * let active = 0;
 * let peak = 0;
 * await run(async () => {
 *   const tasks = [0, 1, 2, 3, 4].map(() =>
 *     createTask(() =>
 *       sem.run(async () => {
 *         peak = Math.max(peak, ++active);
 *         await sleep(0.01);
 *         active--;
 *       })
 *     )
 *   );
 *   for (const task of tasks) await task;
 * });
 * assert.equal(peak, 2);
 * ```
 */
export class Semaphore {
  #value: number;
  #waiters = new WaiterQueue<true>();
  #loop: AbstractEventLoop | null = null;

  static {
    semaphoreValue = (semaphore) => semaphore.#value;
  }

  /**
   * A semaphore holding `value` permits.
   *
   * @param value The initial number of permits (default 1).
   * @throws {TypeError} if `value` is not a number.
   * @throws {RangeError} if `value` is negative or not an integer.
   */
  constructor(value = 1) {
    this.#value = checkCount(value, "Semaphore initial value", 0);
  }

  /**
   * Whether `acquire()` would have to wait: no permit is left, or earlier
   * waiters (not cancelled) still queue. Mirrors `Semaphore.locked()`.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const sem = new Semaphore(1);
   * assert.equal(sem.locked(), false);
   * await sem.acquire();
   * assert.equal(sem.locked(), true);
   * ```
   */
  locked(): boolean {
    return this.#value === 0 || this.#waiters.hasLive();
  }

  /**
   * Takes a permit and resolves with `true`, waiting (FIFO) while none is
   * free to take. Mirrors `Semaphore.acquire()`.
   *
   * @returns A promise of `true`.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled; a
   * permit it was given passes to the next waiter.
   * @throws {RuntimeError} (rejects) if it must wait and no loop is running,
   * or the semaphore is bound to another loop.
   * @example
   * ```ts
   * import { Semaphore } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const sem = new Semaphore(2);
   * assert.equal(await sem.acquire(), true);
   * assert.equal(await sem.acquire(), true);
   * assert.equal(sem.locked(), true);
   * ```
   */
  acquire(): Promise<true> {
    if (this.#value > 0 && !this.#waiters.hasLive()) {
      this.#value--;
      return RESOLVED_TRUE;
    }
    return this.#acquireSlow();
  }

  async #acquireSlow(): Promise<true> {
    const loop = loopFor(this.#loop, this);
    this.#loop = loop;
    const waiters = this.#waiters;
    const fut = loop.createFuture<true>();
    labelWait(fut, () => `Semaphore.acquire() on ${this}`);
    const node = waiters.push(fut);
    try {
      try {
        await fut;
      } finally {
        waiters.remove(node);
      }
    } catch (error) {
      // Given a permit (by #wakeUpNext) but not taking it: give it back.
      if (fut.done() && !fut.cancelled()) this.#value++;
      throw error;
    } finally {
      // Waiters that queued behind us while permits were free (FIFO made
      // them wait): wake as many as there are permits.
      while (this.#value > 0 && this.#wakeUpNext());
    }
    return true;
  }

  /**
   * Gives a permit back and wakes the first waiter, if any. Mirrors
   * `Semaphore.release()`.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const sem = new Semaphore(0);
   * assert.equal(sem.locked(), true);
   * sem.release();
   * assert.equal(sem.locked(), false);
   * ```
   */
  release(): void {
    this.#value++;
    this.#wakeUpNext();
  }

  /** Hands a permit to the first waiter not yet woken; false if none. */
  #wakeUpNext(): boolean {
    for (let node = this.#waiters.head; node !== null; node = node.next) {
      if (!node.fut.done()) {
        this.#value--;
        node.fut.setResult(true);
        return true;
      }
    }
    return false;
  }

  /**
   * Runs `fn` holding a permit (asyncio's `async with sem:`): acquires,
   * calls `fn`, releases however `fn` ends, and resolves with its result.
   *
   * @param fn The block; may be async.
   * @returns A promise of `fn`'s result.
   * @throws {TypeError} (rejects) if `fn` is not a function.
   * @throws {CancelledError} (rejects) if cancelled while waiting for a
   * permit (`fn` does not run).
   * @throws {RuntimeError} (rejects) as `acquire()`.
   * @throws {RangeError} (rejects) from a `BoundedSemaphore` whose permit
   * `fn` already gave back.
   * @example
   * ```ts
   * import { run, Semaphore } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const sem = new Semaphore(1);
   * assert.equal(await run(() => sem.run(() => sem.locked())), true);
   * assert.equal(sem.locked(), false);
   * ```
   */
  run<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== "function") {
      return Promise.reject(notABlock(fn, this.constructor.name));
    }
    if (this.#value > 0 && !this.#waiters.hasLive()) {
      this.#value--;
      return runHolding(fn, this.#released, this.#releasedAfterError);
    }
    return this.#runAfterAcquire(fn);
  }

  // `this.release()`, so that BoundedSemaphore's check applies.
  readonly #released = (value: unknown): unknown => {
    this.release();
    return value;
  };

  readonly #releasedAfterError = (error: unknown): never => {
    this.release();
    throw error;
  };

  async #runAfterAcquire<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    await this.#acquireSlow();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /**
   * A description like `<Semaphore [unlocked, value:2]>` or
   * `<Semaphore [locked, waiters:1]>` (asyncio's repr).
   */
  toString(): string {
    const state = this.locked() ? "locked" : `unlocked, value:${this.#value}`;
    return `<${this.constructor.name} [${state}${
      waitersInfo(this.#waiters.size)
    }]>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/**
 * A `Semaphore` that refuses to be released more often than acquired: a
 * `release()` that would raise the count above the initial value is a
 * `RangeError` (Python's `ValueError`) and changes nothing. Mirrors
 * `asyncio.BoundedSemaphore`.
 *
 * @example Catching an unbalanced release
 * ```ts
 * import { BoundedSemaphore } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const sem = new BoundedSemaphore(1);
 * await sem.acquire();
 * sem.release();
 * assert.throws(() => sem.release(), RangeError);
 * assert.equal(sem.locked(), false);
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  #bound: number;

  /**
   * A bounded semaphore holding (at most) `value` permits.
   *
   * @param value The initial and largest number of permits (default 1).
   * @throws {TypeError} if `value` is not a number.
   * @throws {RangeError} if `value` is negative or not an integer.
   */
  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  /**
   * Gives a permit back, as `Semaphore.release()`. Mirrors
   * `BoundedSemaphore.release()`.
   *
   * @throws {RangeError} if every permit is already back (released more
   * often than acquired).
   * @example
   * ```ts
   * import { BoundedSemaphore } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const sem = new BoundedSemaphore(2);
   * await sem.acquire();
   * sem.release();
   * assert.throws(() => sem.release(), RangeError);
   * ```
   */
  override release(): void {
    if (semaphoreValue(this) >= this.#bound) {
      throw new RangeError(
        `BoundedSemaphore released too many times (its bound is ${this.#bound})`,
      );
    }
    super.release();
  }
}

// ---- Barrier -----------------------------------------------------------------

/**
 * A `Barrier` was aborted, or reset while a task waited at it. Mirrors
 * `asyncio.BrokenBarrierError` (a `RuntimeError`, as in Python).
 *
 * @example
 * ```ts
 * import { Barrier, BrokenBarrierError, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const barrier = new Barrier(2);
 * await run(async () => {
 *   await barrier.abort();
 *   await assert.rejects(barrier.wait(), BrokenBarrierError);
 * });
 * ```
 */
export class BrokenBarrierError extends RuntimeError {
  /** Creates the error. */
  constructor(message?: string) {
    super(message);
    this.name = "BrokenBarrierError";
  }
}

const FILLING = "filling";
const DRAINING = "draining";
const RESETTING = "resetting";
const BROKEN = "broken";
type BarrierState =
  | typeof FILLING
  | typeof DRAINING
  | typeof RESETTING
  | typeof BROKEN;

/**
 * A meeting point for a fixed number of tasks: each `wait()` blocks until
 * `parties` tasks are waiting, then all of them go on together, each with a
 * distinct index from 0 to `parties - 1`. The barrier is then reusable. Tasks
 * arriving while the previous round is still leaving wait for the next
 * round. Mirrors `asyncio.Barrier` (built, as CPython's, on a `Condition`).
 *
 * `reset()` sends the waiting tasks `BrokenBarrierError` and refills
 * afterwards; `abort()` breaks the barrier for good (every present and future
 * `wait()` fails). A waiting task that is cancelled leaves the barrier (one
 * fewer is waiting). `run(fn)` is `async with barrier as i:`.
 *
 * @example Three tasks meeting
 * ```ts
 * import { Barrier, createTask, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const barrier = new Barrier(3);
 * const log: string[] = [];
 * await run(async () => {
 *   const tasks = ["a", "b", "c"].map((name) =>
 *     createTask(async () => {
 *       log.push(`${name} arrives`);
 *       await barrier.wait();
 *       log.push(`${name} leaves`);
 *     })
 *   );
 *   for (const task of tasks) await task;
 * });
 * assert.deepEqual(log.slice(0, 3).sort(), ["a arrives", "b arrives", "c arrives"]);
 * assert.equal(log.length, 6);
 * ```
 */
export class Barrier {
  #cond = new Condition();
  #parties: number;
  #state: BarrierState = FILLING;
  /** Tasks inside `wait()`: filling, or leaving after the barrier tripped. */
  #count = 0;

  /**
   * A barrier for `parties` tasks.
   *
   * @param parties How many tasks must wait before all go on (at least 1).
   * @throws {TypeError} if `parties` is not a number.
   * @throws {RangeError} if `parties` is below 1 or not an integer.
   */
  constructor(parties: number) {
    this.#parties = checkCount(parties, "Barrier parties", 1);
  }

  /**
   * Waits until `parties` tasks wait, then resolves with this task's index
   * (0 to `parties - 1`, in arrival order; the last to arrive trips the
   * barrier). Mirrors `Barrier.wait()`.
   *
   * @returns A promise of the index.
   * @throws {BrokenBarrierError} (rejects) if the barrier is broken, or is
   * reset or aborted while waiting.
   * @throws {CancelledError} (rejects) if the task is cancelled (it leaves
   * the barrier).
   * @throws {RuntimeError} (rejects) if no loop is running, or the barrier
   * is bound to another loop.
   * @example
   * ```ts
   * import { Barrier, createTask, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * const indices = await run(async () => {
   *   const first = createTask(() => barrier.wait());
   *   const second = createTask(() => barrier.wait());
   *   return [await first, await second];
   * });
   * assert.deepEqual(indices, [0, 1]);
   * ```
   */
  wait(): Promise<number> {
    return this.#cond.run(async () => {
      await this.#block();
      const index = this.#count++;
      try {
        if (index + 1 === this.#parties) this.#trip();
        else await this.#waitForTrip();
        return index;
      } finally {
        this.#count--;
        this.#exit();
      }
    });
  }

  /** Waits while the previous round drains or resets; throws if broken. */
  async #block(): Promise<void> {
    await this.#cond.waitFor(() =>
      this.#state !== DRAINING && this.#state !== RESETTING
    );
    if (this.#state === BROKEN) {
      throw new BrokenBarrierError("Barrier aborted");
    }
  }

  /** The last party arrived: let everyone go. */
  #trip(): void {
    this.#state = DRAINING;
    this.#cond.notifyAll();
  }

  /** Waits for the trip; a reset or abort meanwhile breaks the wait. */
  async #waitForTrip(): Promise<void> {
    await this.#cond.waitFor(() => this.#state !== FILLING);
    if (this.#state === BROKEN || this.#state === RESETTING) {
      throw new BrokenBarrierError("Abort or reset of barrier");
    }
  }

  /** The last task out of a round (or of a reset) refills the barrier. */
  #exit(): void {
    if (this.#count === 0) {
      if (this.#state === RESETTING || this.#state === DRAINING) {
        this.#state = FILLING;
      }
      this.#cond.notifyAll();
    }
  }

  /**
   * Waits at the barrier, then runs `fn` with this task's index and resolves
   * with its result (asyncio's `async with barrier as i:`; leaving the block
   * does nothing more).
   *
   * @param fn Called with the index; may be async.
   * @returns A promise of `fn`'s result.
   * @throws {TypeError} (rejects) if `fn` is not a function.
   * @throws {BrokenBarrierError} (rejects) as `wait()`.
   * @throws {CancelledError} (rejects) as `wait()`.
   * @example
   * ```ts
   * import { Barrier, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(1);
   * assert.equal(await run(() => barrier.run((i) => `index ${i}`)), "index 0");
   * ```
   */
  async run<T>(fn: (index: number) => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== "function") throw notABlock(fn, "Barrier");
    return await fn(await this.wait());
  }

  /**
   * Returns the barrier to its empty, filling state; tasks waiting at it
   * get `BrokenBarrierError`. Takes effect once the barrier's internal lock
   * is free. Mirrors `Barrier.reset()` (a coroutine in asyncio too).
   *
   * @returns A promise that resolves once the reset is made.
   * @throws {RuntimeError} (rejects) if it must wait and no loop is running,
   * or the barrier is bound to another loop.
   * @example
   * ```ts
   * import { Barrier, BrokenBarrierError, createTask, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(3);
   * await run(async () => {
   *   const early = createTask(() => barrier.wait());
   *   await sleep(0);
   *   await barrier.reset();
   *   await assert.rejects(async () => await early, BrokenBarrierError);
   * });
   * assert.equal(barrier.broken, false);
   * ```
   */
  async reset(): Promise<void> {
    await this.#cond.run(() => {
      if (this.#count > 0) {
        // Waiters leave with BrokenBarrierError; the last one refills.
        this.#state = RESETTING;
      } else {
        this.#state = FILLING;
      }
      this.#cond.notifyAll();
    });
  }

  /**
   * Breaks the barrier: tasks waiting at it, and every later `wait()`, get
   * `BrokenBarrierError` (until `reset()`). Mirrors `Barrier.abort()` (a
   * coroutine in asyncio too).
   *
   * @returns A promise that resolves once the barrier is broken.
   * @throws {RuntimeError} (rejects) if it must wait and no loop is running,
   * or the barrier is bound to another loop.
   * @example
   * ```ts
   * import { Barrier, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * await run(() => barrier.abort());
   * assert.equal(barrier.broken, true);
   * ```
   */
  async abort(): Promise<void> {
    await this.#cond.run(() => {
      this.#state = BROKEN;
      this.#cond.notifyAll();
    });
  }

  /**
   * How many tasks must wait for the barrier to trip. Mirrors
   * `Barrier.parties`.
   *
   * @example
   * ```ts
   * import { Barrier } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Barrier(4).parties, 4);
   * ```
   */
  get parties(): number {
    return this.#parties;
  }

  /**
   * How many tasks are waiting for the barrier to trip (0 while a tripped
   * round drains or a reset completes). Mirrors `Barrier.n_waiting`.
   *
   * @example
   * ```ts
   * import { Barrier, createTask, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * await run(async () => {
   *   const first = createTask(() => barrier.wait());
   *   await sleep(0);
   *   assert.equal(barrier.nWaiting, 1);
   *   await barrier.wait();
   *   await first;
   * });
   * assert.equal(barrier.nWaiting, 0);
   * ```
   */
  get nWaiting(): number {
    return this.#state === FILLING ? this.#count : 0;
  }

  /**
   * Whether the barrier is broken (aborted). Mirrors `Barrier.broken`.
   *
   * @example
   * ```ts
   * import { Barrier, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * assert.equal(barrier.broken, false);
   * await run(() => barrier.abort());
   * assert.equal(barrier.broken, true);
   * ```
   */
  get broken(): boolean {
    return this.#state === BROKEN;
  }

  /**
   * A description like `<Barrier [filling, waiters:1/3]>` or
   * `<Barrier [broken]>` (asyncio's repr).
   */
  toString(): string {
    const waiting = this.#state === BROKEN
      ? ""
      : `, waiters:${this.nWaiting}/${this.#parties}`;
    return `<Barrier [${this.#state}${waiting}]>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}
