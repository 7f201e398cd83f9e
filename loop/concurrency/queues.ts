/**
 * `Queue`, `PriorityQueue` and `LifoQueue`: queues for producer and consumer
 * tasks, after CPython's `Lib/asyncio/queues.py` (3.13, with `shutdown()`),
 * and the errors `QueueEmpty`, `QueueFull` and `QueueShutDown`.
 *
 * The rules are asyncio's. `put()` waits while the queue is full, `get()`
 * while it is empty; each waiter is a loop future in a FIFO line, and the
 * operation that makes room (or brings an item) wakes the first waiter still
 * pending. A woken waiter checks again, so a waiter that was cancelled after
 * it was woken passes its turn to the next one: a cancelled `get()` loses no
 * item and a cancelled `put()` inserts nothing. A queue is bound to the loop
 * of its first wait (asyncio's `_LoopBoundMixin`); a wait from another loop is
 * a `RuntimeError`.
 *
 * Speed: items live in a ring buffer (a binary heap for `PriorityQueue`, an
 * array stack for `LifoQueue`), waiters in ring buffers, so no operation
 * shifts an array. `put()` and `get()` that need not wait run synchronously
 * and allocate nothing beyond the promise they return (`put()` returns one
 * shared resolved promise); only a wait makes a future and an async frame.
 *
 * @module
 */
import { labelWait } from "../core/wait_labels.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import { RuntimeError } from "../base/exceptions.ts";
import { describe } from "../base/format.ts";
import type { Future } from "../core/futures.ts";
import { getRunningLoop } from "../core/running.ts";

const inspect = Symbol.for("Deno.customInspect");

/** What a `put()` that did not wait returns: one promise for all. */
const RESOLVED: Promise<void> = Promise.resolve();

/** The end of a `for await` over a queue. */
const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
}) as IteratorReturnResult<undefined>;

/** The hook by which each queue class makes its item container. */
const makeItems = Symbol("makeItems");

/** Items shown by `toString()` before it abbreviates. */
const SHOWN_ITEMS = 8;

// ---- errors ---------------------------------------------------------------

/**
 * `getNowait()` was called on an empty queue. Mirrors `asyncio.QueueEmpty`.
 *
 * @example
 * ```ts
 * import { Queue, QueueEmpty } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => new Queue().getNowait(), QueueEmpty);
 * ```
 */
export class QueueEmpty extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "QueueEmpty";
  }
}

/**
 * `putNowait()` was called on a full queue. Mirrors `asyncio.QueueFull`.
 *
 * @example
 * ```ts
 * import { Queue, QueueFull } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<number>({ maxsize: 1 });
 * q.putNowait(1);
 * assert.throws(() => q.putNowait(2), QueueFull);
 * ```
 */
export class QueueFull extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "QueueFull";
  }
}

/**
 * A put on a shut-down queue, or a get on a shut-down queue with nothing left
 * in it. Mirrors `asyncio.QueueShutDown` (3.13).
 *
 * @example
 * ```ts
 * import { Queue, QueueShutDown } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const q = new Queue<string>();
 * q.shutdown();
 * assert.throws(() => q.putNowait("late"), QueueShutDown);
 * ```
 */
export class QueueShutDown extends Error {
  /** Creates the error. */
  constructor(message?: string) {
    super(message ?? "");
    this.name = "QueueShutDown";
  }
}

// ---- containers -------------------------------------------------------------

/**
 * Where a queue keeps its items (package-internal): asyncio's `_init`,
 * `_put`, `_get` and `qsize` as one object per ordering.
 */
interface ItemStore<T> {
  /** The number of items. */
  readonly size: number;
  /** Adds an item; throws, leaving the store unchanged, if it cannot. */
  push(item: T): void;
  /** Removes and returns the next item (the store is not empty); throws, leaving the store unchanged, if it cannot. */
  take(): T;
  /** Drops every item. */
  clear(): void;
  /** Up to `limit` items, in storage order (for `toString()`). */
  peekSome(limit: number): T[];
}

/** Below this capacity a ring never shrinks. */
const RING_MIN_SHRINK = 1024;

/**
 * A growable circular buffer with a power-of-two capacity (package-internal):
 * FIFO item storage and waiter lines. `push`/`shift` are O(1) and allocate
 * only to grow; it halves itself once a quarter full, past 1024 slots.
 */
class Ring<T> implements ItemStore<T> {
  #buf: (T | undefined)[];
  #mask: number;
  #head = 0;
  size = 0;

  constructor(capacity = 8) {
    this.#buf = new Array<T | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  push(item: T): void {
    if (this.size > this.#mask) this.#resize((this.#mask + 1) * 2);
    this.#buf[(this.#head + this.size) & this.#mask] = item;
    this.size++;
  }

  take(): T {
    return this.shift();
  }

  /** Removes and returns the oldest item (the ring is not empty). */
  shift(): T {
    const buf = this.#buf;
    const head = this.#head;
    const item = buf[head] as T;
    buf[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    if (--this.size * 4 <= this.#mask && this.#mask >= RING_MIN_SHRINK) {
      this.#resize((this.#mask + 1) / 2);
    }
    return item;
  }

  /** Removes the first occurrence of `item`; returns whether it was there. */
  remove(item: T): boolean {
    const buf = this.#buf;
    const mask = this.#mask;
    const head = this.#head;
    const n = this.size;
    let i = 0;
    while (i < n && buf[(head + i) & mask] !== item) i++;
    if (i === n) return false;
    // Close the gap from the nearer end.
    if (i < n / 2) {
      for (let j = i; j > 0; j--) {
        buf[(head + j) & mask] = buf[(head + j - 1) & mask];
      }
      buf[head] = undefined;
      this.#head = (head + 1) & mask;
    } else {
      for (let j = i; j < n - 1; j++) {
        buf[(head + j) & mask] = buf[(head + j + 1) & mask];
      }
      buf[(head + n - 1) & mask] = undefined;
    }
    this.size = n - 1;
    return true;
  }

  clear(): void {
    this.#buf.fill(undefined);
    this.#head = 0;
    this.size = 0;
  }

  peekSome(limit: number): T[] {
    const out: T[] = [];
    const n = Math.min(limit, this.size);
    for (let i = 0; i < n; i++) {
      out.push(this.#buf[(this.#head + i) & this.#mask] as T);
    }
    return out;
  }

  #resize(capacity: number): void {
    const old = this.#buf;
    const buf = new Array<T | undefined>(capacity).fill(undefined);
    for (let i = 0; i < this.size; i++) {
      buf[i] = old[(this.#head + i) & this.#mask];
    }
    this.#buf = buf;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

/** Last in, first out: a plain array used as a stack. */
class Stack<T> implements ItemStore<T> {
  #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    return this.#items.pop() as T;
  }

  clear(): void {
    this.#items.length = 0;
  }

  peekSome(limit: number): T[] {
    return this.#items.slice(0, limit);
  }
}

/**
 * A binary min-heap ordered by `compare` (asyncio uses `heapq`). Each
 * operation first finds where things go, comparing without moving anything,
 * then moves: a `compare` that throws leaves the heap as it was.
 */
class Heap<T> implements ItemStore<T> {
  #items: T[] = [];
  #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const heap = this.#items;
    const compare = this.#compare;
    const n = heap.length;
    let pos = n;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (!(compare(item, heap[parent]) < 0)) break;
      pos = parent;
    }
    // Shift the parents on the path from the new slot down one level.
    let p = n;
    while (p > pos) {
      const parent = (p - 1) >> 1;
      heap[p] = heap[parent];
      p = parent;
    }
    heap[pos] = item;
  }

  take(): T {
    const heap = this.#items;
    const compare = this.#compare;
    const top = heap[0];
    const m = heap.length - 1;
    if (m === 0) {
      heap.length = 0;
      return top;
    }
    // Where the last item lands once the top is gone (heap[0..m-1] holds
    // the candidates; nothing moves yet).
    const last = heap[m];
    let pos = 0;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= m) break;
      const right = child + 1;
      if (right < m && compare(heap[right], heap[child]) < 0) child = right;
      if (!(compare(heap[child], last) < 0)) break;
      pos = child;
    }
    // Lift each item on the path from `pos` up one level, dropping the top.
    let carry = heap[pos];
    let p = pos;
    while (p > 0) {
      const parent = (p - 1) >> 1;
      const up = heap[parent];
      heap[parent] = carry;
      carry = up;
      p = parent;
    }
    heap[pos] = last;
    heap.length = m;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }

  peekSome(limit: number): T[] {
    return this.#items.slice(0, limit);
  }
}

/** A name for a value's kind in a comparison error. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "object") {
    return (value as object).constructor?.name ?? "object";
  }
  return typeof value;
}

/**
 * `PriorityQueue`'s default order, Python's `<` for what JavaScript has:
 * numbers (and bigints) by value, strings by code unit, arrays element by
 * element with a shorter prefix first (as tuples). Anything else, or a mix,
 * is a TypeError, as Python's `'<' not supported between instances`.
 */
function defaultCompare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const ta = typeof a;
  const tb = typeof b;
  if (
    (ta === "number" || ta === "bigint") && (tb === "number" || tb === "bigint")
  ) {
    return (a as number) < (b as number)
      ? -1
      : (a as number) > (b as number)
      ? 1
      : 0;
  }
  if (ta === "string" && tb === "string") {
    return (a as string) < (b as string)
      ? -1
      : (a as string) > (b as string)
      ? 1
      : 0;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      // As Python's tuples: equal (here: identical) elements are skipped
      // without an ordering test.
      if (a[i] === b[i]) continue;
      const c = defaultCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  throw new TypeError(
    `PriorityQueue cannot order ${kindOf(a)} and ${kindOf(b)}: ` +
      "the default order takes numbers, strings or arrays of them " +
      "(pass { compare } for anything else)",
  );
}

// ---- queues -------------------------------------------------------------------

/** Options of the `Queue` and `LifoQueue` constructors. */
export interface QueueOptions {
  /**
   * How many items the queue holds before `put()` waits (default 0; 0 or
   * less: no limit). As in asyncio a fraction rounds up (1.5 holds 2).
   */
  maxsize?: number;
}

/** Options of the `PriorityQueue` constructor. */
export interface PriorityQueueOptions<T> extends QueueOptions {
  /**
   * The order: `compare(a, b) < 0` puts `a` first, as for
   * `Array.prototype.sort`. The default orders numbers, strings, and arrays
   * element by element with a shorter prefix first, as Python's tuples.
   */
  compare?: (a: T, b: T) => number;
}

function checkOptions(
  options: unknown,
  who: string,
): Record<string, unknown> | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${who}() takes an options object such as { maxsize: 10 }, got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  return options as Record<string, unknown>;
}

/**
 * A first in, first out queue for coordinating producer and consumer tasks.
 * Mirrors `asyncio.Queue` (3.13): `put()` waits while the queue is full,
 * `get()` while it is empty, waiters are served in FIFO order; `taskDone()` and
 * `join()` track the work on items taken out; `shutdown()` ends it all; and
 * `for await (const item of queue)` takes items until the queue is shut
 * down and drained.
 *
 * A queue can be made anywhere; it binds to the loop of its first wait, and a
 * wait from another loop is a `RuntimeError`. `get()` resolves with the item,
 * so, as any promise, it adopts an item that is itself a promise or a future
 * (awaits it): take such items with `getNowait()` or `for await`, which
 * hand them over as they are.
 *
 * @typeParam T The items' type.
 * @example A producer and two workers
 * ```ts
 * import { createTask, Queue, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const total = await run(async () => {
 *   const q = new Queue<number>({ maxsize: 2 });
 *   let sum = 0;
 *   const worker = async () => {
 *     for await (const n of q) {
 *       sum += n;
 *       q.taskDone();
 *     }
 *   };
 *   const workers = [createTask(worker), createTask(worker)];
 *   for (let i = 1; i <= 10; i++) await q.put(i);
 *   await q.join(); // every item taken and marked done
 *   q.shutdown(); // ends the workers' loops
 *   for (const w of workers) await w;
 *   return sum;
 * });
 * assert.equal(total, 55);
 * ```
 */
export class Queue<T = unknown> implements AsyncIterable<T> {
  #items: ItemStore<T>;
  #maxsize: number;
  /** `maxsize` as a bound on `size` (Infinity when unbounded). */
  #limit: number;
  #getters = new Ring<Future<void>>(4);
  #putters = new Ring<Future<void>>(4);
  /** `join()` waiters (asyncio's `_finished` Event). */
  #joiners: Future<void>[] = [];
  #unfinished = 0;
  #shutdown = false;
  #loop: AbstractEventLoop | null = null;

  /**
   * Creates an empty queue.
   *
   * @param options `maxsize`: how many items it holds before `put()` waits
   * (0, the default, or less: no limit).
   * @throws {TypeError} if `options` is not an object or `maxsize` not a
   * number.
   * @throws {RangeError} if `maxsize` is NaN.
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Queue().maxsize, 0);
   * assert.equal(new Queue({ maxsize: 5 }).maxsize, 5);
   * ```
   */
  constructor(options?: QueueOptions) {
    const who = new.target?.name ?? "Queue";
    const opts = checkOptions(options, who);
    const maxsize = opts?.maxsize === undefined ? 0 : opts.maxsize;
    if (typeof maxsize !== "number") {
      throw new TypeError(
        `${who}() maxsize must be a number, got ${describe(maxsize)}`,
      );
    }
    if (Number.isNaN(maxsize)) {
      throw new RangeError(`${who}() maxsize must not be NaN`);
    }
    this.#maxsize = maxsize;
    this.#limit = maxsize > 0 ? maxsize : Infinity;
    this.#items = this[makeItems](opts);
  }

  /**
   * Makes the item container (asyncio's `_init`); subclasses pick their
   * ordering here. Called by the constructor.
   *
   * @ignore
   */
  [makeItems](_options: Record<string, unknown> | undefined): ItemStore<T> {
    return new Ring<T>(8);
  }

  /**
   * How many items the queue holds before `put()` waits (0 or less: no
   * limit). Mirrors `Queue.maxsize`.
   *
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Queue({ maxsize: 3 }).maxsize, 3);
   * ```
   */
  get maxsize(): number {
    return this.#maxsize;
  }

  /**
   * The number of items in the queue. Mirrors `Queue.qsize()`.
   *
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<string>();
   * q.putNowait("a");
   * q.putNowait("b");
   * assert.equal(q.qsize(), 2);
   * ```
   */
  qsize(): number {
    return this.#items.size;
  }

  /**
   * Whether the queue holds no items. Mirrors `Queue.empty()`.
   *
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * assert.equal(q.empty(), true);
   * q.putNowait(1);
   * assert.equal(q.empty(), false);
   * ```
   */
  empty(): boolean {
    return this.#items.size === 0;
  }

  /**
   * Whether the queue holds `maxsize` items (never, when unbounded). Mirrors
   * `Queue.full()`.
   *
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>({ maxsize: 1 });
   * q.putNowait(1);
   * assert.equal(q.full(), true);
   * assert.equal(new Queue().full(), false);
   * ```
   */
  full(): boolean {
    return this.#items.size >= this.#limit;
  }

  /**
   * Puts an item in, first waiting while the queue is full. Mirrors
   * `Queue.put()`. If the wait is cancelled, nothing is put.
   *
   * @param item The item.
   * @returns A promise that resolves once the item is in.
   * @throws {QueueShutDown} (rejects) if the queue is shut down, also while
   * waiting.
   * @throws {RuntimeError} (rejects) if it must wait and the queue is bound
   * to another loop, or no loop is running.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled.
   * @example A full queue makes the producer wait
   * ```ts
   * import { createTask, Queue, run, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const q = new Queue<string>({ maxsize: 1 });
   *   await q.put("first");
   *   const second = createTask(() => q.put("second"));
   *   await sleep(0); // let it run
   *   assert.equal(second.done(), false); // waiting for room
   *   assert.equal(await q.get(), "first");
   *   await second;
   *   assert.equal(await q.get(), "second");
   * });
   * ```
   */
  put(item: T): Promise<void> {
    if (!this.#shutdown && this.#items.size < this.#limit) {
      try {
        this.#putItem(item);
      } catch (error) {
        return Promise.reject(error);
      }
      return RESOLVED;
    }
    return this.#putWait(item);
  }

  async #putWait(item: T): Promise<void> {
    while (this.#items.size >= this.#limit) {
      if (this.#shutdown) throw this.#shutDownError("put()");
      await this.#waitForRoom();
    }
    this.putNowait(item);
  }

  /** One wait in line for room (asyncio's loop body in `put()`). */
  #waitForRoom(): Promise<void> {
    const putter = this.#bindLoop().createFuture<void>();
    labelWait(putter, () => `Queue.put() on ${this}`);
    this.#putters.push(putter);
    return putter.then(undefined, (error) => {
      this.#abandonPutter(putter);
      throw error;
    });
  }

  /**
   * Puts an item in without waiting. Mirrors `Queue.put_nowait()`.
   *
   * @param item The item.
   * @throws {QueueShutDown} if the queue is shut down.
   * @throws {QueueFull} if the queue is full.
   * @example
   * ```ts
   * import { Queue, QueueFull } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>({ maxsize: 2 });
   * q.putNowait(1);
   * q.putNowait(2);
   * assert.throws(() => q.putNowait(3), QueueFull);
   * assert.equal(q.qsize(), 2);
   * ```
   */
  putNowait(item: T): void {
    if (this.#shutdown) throw this.#shutDownError("putNowait()");
    if (this.#items.size >= this.#limit) {
      throw new QueueFull(
        `putNowait() on a full queue (maxsize=${this.#maxsize})`,
      );
    }
    this.#putItem(item);
  }

  #putItem(item: T): void {
    this.#items.push(item);
    this.#unfinished++;
    if (this.#getters.size !== 0) wakeNext(this.#getters);
  }

  /**
   * Takes the next item out, first waiting while the queue is empty. Mirrors
   * `Queue.get()`. If the wait is cancelled, no item is lost: it stays in
   * the queue or goes to the next waiting `get()`.
   *
   * @returns A promise of the item.
   * @throws {QueueShutDown} (rejects) if the queue is shut down and empty,
   * also while waiting.
   * @throws {RuntimeError} (rejects) if it must wait and the queue is bound
   * to another loop, or no loop is running.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled.
   * @example A consumer waits for the producer
   * ```ts
   * import { getRunningLoop, Queue, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const item = await run(async () => {
   *   const q = new Queue<string>();
   *   getRunningLoop().callLater(0.01, () => q.putNowait("hello"));
   *   return await q.get();
   * });
   * assert.equal(item, "hello");
   * ```
   */
  get(): Promise<T> {
    if (this.#items.size !== 0) {
      let item: T;
      try {
        item = this.#takeItem();
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(item);
    }
    return this.#getWait();
  }

  async #getWait(): Promise<T> {
    while (this.#items.size === 0) {
      if (this.#shutdown) throw this.#shutDownError("get()");
      await this.#waitForItem();
    }
    return this.#takeItem();
  }

  /** One wait in line for an item (asyncio's loop body in `get()`). */
  #waitForItem(): Promise<void> {
    const getter = this.#bindLoop().createFuture<void>();
    labelWait(getter, () => `Queue.get() on ${this}`);
    this.#getters.push(getter);
    return getter.then(undefined, (error) => {
      this.#abandonGetter(getter);
      throw error;
    });
  }

  /**
   * Takes the next item out without waiting. Mirrors `Queue.get_nowait()`.
   *
   * @returns The item.
   * @throws {QueueShutDown} if the queue is shut down and empty.
   * @throws {QueueEmpty} if the queue is empty.
   * @example
   * ```ts
   * import { Queue, QueueEmpty } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * q.putNowait(7);
   * assert.equal(q.getNowait(), 7);
   * assert.throws(() => q.getNowait(), QueueEmpty);
   * ```
   */
  getNowait(): T {
    if (this.#items.size === 0) {
      if (this.#shutdown) throw this.#shutDownError("getNowait()");
      throw new QueueEmpty("getNowait() on an empty queue");
    }
    return this.#takeItem();
  }

  #takeItem(): T {
    const item = this.#items.take();
    if (this.#putters.size !== 0) wakeNext(this.#putters);
    return item;
  }

  /**
   * Marks one item taken out as processed. Mirrors `Queue.task_done()`:
   * every `put` counts one unfinished task and every `taskDone()` ends one;
   * when none are left, `join()` returns.
   *
   * @throws {RangeError} if called more times than items were put.
   * @example
   * ```ts
   * import { Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * q.getNowait();
   * q.taskDone();
   * assert.throws(() => q.taskDone(), RangeError);
   * ```
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new RangeError(
        "taskDone() called more times than items were put in the queue",
      );
    }
    if (--this.#unfinished === 0) this.#releaseJoiners();
  }

  /**
   * Waits until every item put in has been taken out and marked done with
   * `taskDone()`. Mirrors `Queue.join()`.
   *
   * @returns A promise that resolves when no task is unfinished.
   * @throws {RuntimeError} (rejects) if it must wait and the queue is bound
   * to another loop, or no loop is running.
   * @throws {CancelledError} (rejects) if the waiting task is cancelled.
   * @example
   * ```ts
   * import { createTask, Queue, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * await run(async () => {
   *   const q = new Queue<string>();
   *   q.putNowait("job");
   *   const done: string[] = [];
   *   createTask(async () => {
   *     done.push(await q.get());
   *     q.taskDone();
   *   });
   *   await q.join();
   *   assert.deepEqual(done, ["job"]);
   * });
   * ```
   */
  join(): Promise<void> {
    if (this.#unfinished === 0) return RESOLVED;
    return this.#joinWait();
  }

  async #joinWait(): Promise<void> {
    const joiner = this.#bindLoop().createFuture<void>();
    labelWait(joiner, () => `Queue.join() on ${this}`);
    this.#joiners.push(joiner);
    try {
      await joiner;
    } finally {
      const i = this.#joiners.indexOf(joiner);
      if (i !== -1) this.#joiners.splice(i, 1);
    }
  }

  #releaseJoiners(): void {
    const joiners = this.#joiners;
    if (joiners.length === 0) return;
    this.#joiners = [];
    for (const joiner of joiners) {
      if (!joiner.done()) joiner.setResult(undefined);
    }
  }

  /**
   * Shuts the queue down. Mirrors `Queue.shutdown()` (3.13): from now on
   * `put()` and `putNowait()` throw `QueueShutDown`; `get()` and
   * `getNowait()` still take the items left, then throw `QueueShutDown`.
   * Every waiting `put()` and `get()` is woken to see it. With `immediate`,
   * the items left are dropped at once, each counting as done for `join()`
   * (which returns if no unfinished task is left).
   *
   * @param immediate Drop the items left (default false).
   * @throws {TypeError} if `immediate` is not a boolean.
   * @example Draining, then stopping
   * ```ts
   * import { Queue, QueueShutDown } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * q.shutdown();
   * assert.equal(q.getNowait(), 1);
   * assert.throws(() => q.getNowait(), QueueShutDown);
   * ```
   * @example Dropping what is left
   * ```ts
   * import { Queue, QueueShutDown } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new Queue<number>();
   * q.putNowait(1);
   * q.shutdown(true);
   * assert.equal(q.qsize(), 0);
   * assert.throws(() => q.getNowait(), QueueShutDown);
   * await q.join(); // the dropped item counts as done
   * ```
   */
  shutdown(immediate: boolean = false): void {
    if (typeof immediate !== "boolean") {
      throw new TypeError(
        `shutdown() immediate must be a boolean, got ${describe(immediate)}`,
      );
    }
    this.#shutdown = true;
    if (immediate) {
      const dropped = this.#items.size;
      this.#items.clear();
      this.#unfinished = Math.max(0, this.#unfinished - dropped);
      if (this.#unfinished === 0) this.#releaseJoiners();
    }
    // Every waiter checks again and finds the shutdown.
    wakeAll(this.#getters);
    wakeAll(this.#putters);
  }

  /**
   * Iterates over the items as `get()` takes them, waiting while the queue
   * is empty, until the queue is shut down and drained: `for await (const
   * item of queue)`. Breaking out of the loop takes nothing more.
   *
   * @returns An async iterator of the items.
   * @throws {RuntimeError} (rejects, from `next()`) as `get()`.
   * @throws {CancelledError} (rejects, from `next()`) if the waiting task is
   * cancelled.
   * @example
   * ```ts
   * import { createTask, Queue, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const seen = await run(async () => {
   *   const q = new Queue<string>();
   *   const reader = createTask(async () => {
   *     const got: string[] = [];
   *     for await (const word of q) got.push(word);
   *     return got;
   *   });
   *   for (const word of ["a", "b", "c"]) await q.put(word);
   *   q.shutdown();
   *   return await reader;
   * });
   * assert.deepEqual(seen, ["a", "b", "c"]);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    const iterator: AsyncIterableIterator<T> = {
      next: () => this.#next(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  #next(): Promise<IteratorResult<T>> {
    if (this.#items.size !== 0) {
      let value: T;
      try {
        value = this.#takeItem();
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#shutdown) return Promise.resolve(DONE);
    return this.#nextWait();
  }

  async #nextWait(): Promise<IteratorResult<T>> {
    while (this.#items.size === 0) {
      if (this.#shutdown) return DONE;
      await this.#waitForItem();
    }
    return { value: this.#takeItem(), done: false };
  }

  /** asyncio's `_get_loop()`: binds to the running loop on first use. */
  #bindLoop(): AbstractEventLoop {
    const loop = getRunningLoop();
    if (this.#loop === null) this.#loop = loop;
    else if (this.#loop !== loop) {
      throw new RuntimeError(
        `${this} is bound to a different event loop (its first wait was on another loop)`,
      );
    }
    return loop;
  }

  /**
   * A getter's wait ended in an error (a cancellation): leave the line, and
   * if it had been woken, pass the turn on.
   */
  #abandonGetter(getter: Future<void>): void {
    getter.cancel(); // in case it is still pending
    this.#getters.remove(getter);
    // Woken, then cancelled before it could take the item: pass the turn.
    if (this.#items.size !== 0 && !getter.cancelled()) wakeNext(this.#getters);
  }

  /** As `#abandonGetter`, for a putter. */
  #abandonPutter(putter: Future<void>): void {
    putter.cancel(); // in case it is still pending
    this.#putters.remove(putter);
    if (this.#items.size < this.#limit && !putter.cancelled()) {
      wakeNext(this.#putters);
    }
  }

  #shutDownError(what: string): QueueShutDown {
    return new QueueShutDown(`${what} on a shut-down queue`);
  }

  /**
   * A description like `<Queue maxsize=0 _queue=[1, 2] _getters[1] tasks=2>`
   * (asyncio's repr; `shutdown` at the end once shut down).
   */
  toString(): string {
    let text = `maxsize=${this.#maxsize}`;
    const size = this.#items.size;
    if (size !== 0) {
      const shown = this.#items.peekSome(SHOWN_ITEMS).map(describe);
      if (size > SHOWN_ITEMS) shown.push(`... ${size - SHOWN_ITEMS} more`);
      text += ` _queue=[${shown.join(", ")}]`;
    }
    if (this.#getters.size !== 0) text += ` _getters[${this.#getters.size}]`;
    if (this.#putters.size !== 0) text += ` _putters[${this.#putters.size}]`;
    if (this.#unfinished !== 0) text += ` tasks=${this.#unfinished}`;
    if (this.#shutdown) text += " shutdown";
    return `<${this.constructor.name} ${text}>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/** Wakes the first waiter still pending (asyncio's `_wakeup_next`). */
function wakeNext(waiters: Ring<Future<void>>): void {
  while (waiters.size !== 0) {
    const waiter = waiters.shift();
    if (!waiter.done()) {
      waiter.setResult(undefined);
      return;
    }
  }
}

/** Wakes every waiter still pending, emptying the line. */
function wakeAll(waiters: Ring<Future<void>>): void {
  while (waiters.size !== 0) {
    const waiter = waiters.shift();
    if (!waiter.done()) waiter.setResult(undefined);
  }
}

/**
 * A queue that hands out the smallest item first. Mirrors
 * `asyncio.PriorityQueue`: a `Queue` (same methods, waits and shutdown) kept
 * as a binary heap. Items are typically `[priority, data]` arrays.
 *
 * The order is `compare(a, b) < 0` puts `a` first, as for
 * `Array.prototype.sort`. The default orders numbers, strings, and arrays
 * element by element with a shorter prefix first, as Python's tuples;
 * items it cannot order (a mix of kinds, or objects) make `put` throw
 * `TypeError` and stay out, as Python's `'<' not supported`. Equal items
 * come out in no particular order.
 *
 * @typeParam T The items' type.
 * @example Jobs by priority
 * ```ts
 * import { PriorityQueue } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const q = new PriorityQueue<[number, string]>();
 * q.putNowait([2, "write"]);
 * q.putNowait([1, "read"]);
 * q.putNowait([1, "open"]);
 * assert.deepEqual(
 *   [q.getNowait(), q.getNowait(), q.getNowait()],
 *   [[1, "open"], [1, "read"], [2, "write"]],
 * );
 * ```
 * @example A custom order
 * ```ts
 * import { PriorityQueue } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const q = new PriorityQueue<{ due: number }>({
 *   compare: (a, b) => a.due - b.due,
 * });
 * q.putNowait({ due: 30 });
 * q.putNowait({ due: 10 });
 * assert.equal(q.getNowait().due, 10);
 * ```
 */
export class PriorityQueue<T = unknown> extends Queue<T> {
  /**
   * Creates an empty priority queue.
   *
   * @param options `maxsize` as for `Queue`; `compare`, the order.
   * @throws {TypeError} if `options` is not an object, `maxsize` not a
   * number, or `compare` not a function.
   * @throws {RangeError} if `maxsize` is NaN.
   * @example
   * ```ts
   * import { PriorityQueue, Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new PriorityQueue<number>({ maxsize: 10 });
   * assert.ok(q instanceof Queue);
   * assert.equal(q.maxsize, 10);
   * ```
   */
  constructor(options?: PriorityQueueOptions<T>) {
    super(options);
  }

  /**
   * A heap in the given order (asyncio's `_init`).
   *
   * @ignore
   */
  override [makeItems](
    options: Record<string, unknown> | undefined,
  ): ItemStore<T> {
    const compare = options?.compare;
    if (compare !== undefined && typeof compare !== "function") {
      throw new TypeError(
        `PriorityQueue() compare must be a function, got ${describe(compare)}`,
      );
    }
    return new Heap<T>(
      (compare as ((a: T, b: T) => number) | undefined) ?? defaultCompare,
    );
  }
}

/**
 * A queue that hands out the most recently added item first. Mirrors
 * `asyncio.LifoQueue`: a `Queue` (same methods, waits and shutdown) kept as
 * a stack.
 *
 * @typeParam T The items' type.
 * @example
 * ```ts
 * import { LifoQueue } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const q = new LifoQueue<number>();
 * for (const n of [1, 2, 3]) q.putNowait(n);
 * assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [3, 2, 1]);
 * ```
 */
export class LifoQueue<T = unknown> extends Queue<T> {
  /**
   * Creates an empty LIFO queue.
   *
   * @param options `maxsize` as for `Queue`.
   * @throws {TypeError} if `options` is not an object or `maxsize` not a
   * number.
   * @throws {RangeError} if `maxsize` is NaN.
   * @example
   * ```ts
   * import { LifoQueue, Queue } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const q = new LifoQueue<string>({ maxsize: 2 });
   * assert.ok(q instanceof Queue);
   * assert.equal(q.maxsize, 2);
   * ```
   */
  constructor(options?: QueueOptions) {
    super(options);
  }

  /**
   * A stack (asyncio's `_init`).
   *
   * @ignore
   */
  override [makeItems](): ItemStore<T> {
    return new Stack<T>();
  }
}
