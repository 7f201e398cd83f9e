/**
 * `Task`: a coroutine driven by the loop, and the module functions around it
 * (`createTask`, `ensureFuture`, `currentTask`, `allTasks`, `sleep`).
 *
 * A task drives a native async function. Its coroutine runs inside an async
 * context that names the task, so `currentTask()` works after every `await`,
 * and every loop future it awaits learns (in `Future.then`) that this task
 * waits on it. `task.cancel()` cancels that future, which rejects the `await`
 * with `CancelledError`; when the task is between awaits, or awaiting a plain
 * promise, the cancellation is delivered at its next await of a loop future or
 * `sleep()`. Cancellation counting (`cancelling`/`uncancel`) follows CPython.
 *
 * The lazy form, `createTask(() => work())`, is the normal one: the coroutine
 * starts on the loop, inside the task's context. An already-started promise is
 * adopted: its awaits began outside the task, so they are not attributed to it
 * and a cancellation can only complete the task once the promise settles.
 *
 * Eager tasks (`eagerTaskFactory`, `createEagerTaskFactory`, the `eagerStart`
 * option) run their first step inside `createTask()`, as asyncio 3.12's do. A
 * coroutine that never suspends leaves its promise already settled; Deno's
 * internal `core.getPromiseDetails` reads that at once, so such a task is done
 * when `createTask()` returns. Without the hook (standard JavaScript cannot
 * read a promise's state) the task is done one microtask later, before the
 * loop runs anything else.
 *
 * @module
 */
import {
  captureFrame,
  type Context,
  contextOf,
  denoCore,
  type Frame,
  frameOf,
  frameWithTask,
  keepContext,
  runInFrame,
} from "../base/context.ts";
import {
  CancelledError,
  InvalidStateError,
  KeyboardInterrupt,
  RuntimeError,
} from "../base/exceptions.ts";
import { describe } from "../base/format.ts";
import {
  captured,
  captureResolvers,
  Future,
  isFuture,
  PENDING,
} from "./futures.ts";
import { labelWait } from "./wait_labels.ts";
import {
  _getEventLoop,
  contextTask,
  getRunningLoop,
  noRunningLoop,
  state,
  stepSuspended,
} from "./running.ts";
import type { AbstractEventLoop, TaskFactory } from "./abstract_loop.ts";

/**
 * A coroutine: a promise (an async function's result), or a zero-argument
 * function returning one — the lazy form, which starts on the loop.
 */
export type Coroutine<T> = PromiseLike<T> | (() => PromiseLike<T>);

/** Options of the `Task` constructor. */
export interface TaskOptions {
  /** The loop to run on (default: the running or current loop). */
  loop?: AbstractEventLoop;
  /** The task's name (default: `Task-<n>`). */
  name?: string | null;
  /** The async context to run the coroutine in (default: the current one). */
  context?: Context | null;
  /**
   * Run the first step at once, inside the constructor (asyncio's
   * `eager_start=True`), when the loop is running; otherwise the task starts
   * on the loop as usual. A subclass's first step runs once its own
   * constructor has finished, so only `createEagerTaskFactory(Subclass)` runs
   * it eagerly (a subclass built directly with this option starts on the loop).
   */
  eagerStart?: boolean;
}

let taskCounter = 0;

/** Whether `value` has a callable `then` (a promise or any thenable). @internal */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Whether `value` is accepted where a coroutine is expected. */
export function isCoroutine(value: unknown): value is Coroutine<unknown> {
  return typeof value === "function" || (isThenable(value) && !isFuture(value));
}

/**
 * A coroutine scheduled on the loop. Mirrors `asyncio.Task`: a `Future` with
 * a name, `cancel(msg)`, `cancelling()`, `uncancel()`, `getCoro()`,
 * `getContext()`, plus an `AbortSignal` (`signal`) that aborts when the task
 * is asked to cancel, for Deno APIs that take one.
 *
 * @typeParam T The coroutine's result type.
 * @example Cancelling a sleeping task
 * ```ts
 * import { CancelledError, createTask, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const task = createTask(() => sleep(3600));
 *   await sleep(0);
 *   task.cancel("enough");
 *   await assert.rejects(async () => await task, CancelledError);
 *   assert.equal(task.cancelled(), true);
 * });
 * ```
 */
export class Task<T = unknown> extends Future<T> {
  /** @ignore */ _coro: Coroutine<T>;
  /** @ignore The name, or null for the default `Task-<_number>`. */
  _name: string | null = null;
  /** @ignore The number in the default name. */
  _number: number;
  /** @ignore Neighbours in the loop's list of live tasks. */
  _prevTask: Task<unknown> | null = null;
  /** @ignore */ _nextTask: Task<unknown> | null = null;
  /** @ignore Whether the task is in that list. */
  _listed = false;
  /**
   * @ignore How many more steps the loop watches with microtask hops: set
   * when a step was found waiting on something outside the loop.
   */
  _foreignSteps = 0;
  /** @ignore */ _numCancelsRequested = 0;
  /** @ignore */ _mustCancel = false;
  /**
   * @ignore The eager first step left the coroutine at an `await` that
   * JavaScript registers one microtask later: until then the task counts
   * as suspended there, and a cancellation requested meanwhile is delivered
   * at that `await` even if its future is done by then.
   */
  _eagerAwait = false;
  /** @ignore The loop future the coroutine is awaiting, if known. */
  _futWaiter: Future<unknown> | null = null;
  /** @ignore The task's own async context (it names the task). */
  _frame: Frame;
  /** @ignore Report the task if its loop closes while it is pending. */
  _logDestroyPending = true;
  /** @ignore */ _abort: AbortController | null = null;
  /** @ignore Promise form: whether the first step ran, and the outcome. */
  _started = false;
  /** @ignore */ _outcome: { ok: boolean; value: unknown } | null = null;
  /**
   * @ignore As an item of the ready queue (resuming its `sleep(0)`), a task
   * is never cancelled: a cancellation is delivered by the resumption.
   */
  _cancelled = false;
  /** @ignore The pending `sleep(0)`: its resolvers and value. */
  _yieldResolve: ((value: unknown) => void) | null = null;
  /** @ignore */ _yieldReject: ((reason: unknown) => void) | null = null;
  /** @ignore */ _yieldValue: unknown = undefined;

  /**
   * Wraps a coroutine in a task and schedules its first step;
   * `loop.createTask()` / `createTask()` are the usual ways.
   *
   * @param coro A promise or a zero-argument function returning one.
   * @param options `loop`, `name`, `context`.
   * @throws {TypeError} if `coro` is not a coroutine (or is a Future).
   * @throws {RuntimeError} if the loop is closed.
   */
  constructor(coro: Coroutine<T>, options?: TaskOptions) {
    super({ loop: options?.loop ?? _getEventLoop() });
    if (!isCoroutine(coro)) {
      this._logDestroyPending = false;
      throw new TypeError(
        `a coroutine was expected (a promise or a function returning one), got ${
          isFuture(coro) ? String(coro) : describe(coro)
        }${isFuture(coro) ? ": use ensureFuture() for futures" : ""}`,
      );
    }
    this._coro = coro;
    this._number = ++taskCounter;
    if (options?.name != null) this._name = String(options.name);
    const context = options?.context;
    let base: Frame;
    if (context == null) base = captureFrame();
    else {
      base = frameOf(context);
      keepContext(this, context);
    }
    this._frame = frameWithTask(base, this);
    if (typeof coro !== "function") {
      coro.then(
        (value) => this._adopted(true, value),
        (error) => this._adopted(false, error),
      );
    }
    if (options?.eagerStart === true && this._loop.isRunning()) {
      this._loop._registerTask(this);
      if (new.target === Task) {
        eagerStep(this);
      } else {
        // A subclass's fields and constructor body come after this: its
        // factory runs the step once they have (see runDeferredEagerStep).
        deferredEager.add(this);
        this._loop._callSoonFrame(stepDeferred, [this], this._frame);
      }
      return;
    }
    // The task is its own ready item: its first step costs no handle.
    this._loop._pushHandle(this);
    this._loop._registerTask(this);
  }

  /**
   * The coroutine (promise or function) the task wraps. Mirrors
   * `Task.get_coro()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const work = async () => 1;
   * const task = loop.createTask(work);
   * assert.equal(task.getCoro(), work);
   * await loop.runUntilComplete(task);
   * loop.close();
   * ```
   */
  getCoro(): Coroutine<T> {
    return this._coro;
  }

  /**
   * The async context the coroutine runs in. Mirrors `Task.get_context()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => 1);
   * assert.equal(task.getContext().run(() => 2), 2);
   * await loop.runUntilComplete(task);
   * loop.close();
   * ```
   */
  getContext(): Context {
    return contextOf(this, this._frame);
  }

  /**
   * The task's name. Mirrors `Task.get_name()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => {}, { name: "worker" });
   * assert.equal(task.getName(), "worker");
   * await loop.runUntilComplete(task);
   * loop.close();
   * ```
   */
  getName(): string {
    return this._name ?? `Task-${this._number}`;
  }

  /**
   * Renames the task. Mirrors `Task.set_name()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => {});
   * task.setName("renamed");
   * assert.equal(task.getName(), "renamed");
   * await loop.runUntilComplete(task);
   * loop.close();
   * ```
   */
  setName(value: unknown): void {
    this._name = String(value);
  }

  /**
   * An `AbortSignal` that aborts (with a `CancelledError`) when the task is
   * asked to cancel; pass it to Deno APIs such as `fetch`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => {});
   * task.cancel();
   * assert(task.signal.aborted);
   * await loop.runUntilComplete(async () => {}).catch(() => {});
   * loop.close();
   * ```
   */
  get signal(): AbortSignal {
    if (this._abort === null) {
      this._abort = new AbortController();
      if (this._numCancelsRequested > 0 || this.cancelled()) {
        this._abort.abort(new CancelledError(this._cancelMessage));
      }
    }
    return this._abort.signal;
  }

  /** Tasks cannot be resolved from outside. @throws {RuntimeError} always. */
  override setResult(_result: T): never {
    throw new RuntimeError("Task does not support setResult operation");
  }

  /** Tasks cannot be failed from outside. @throws {RuntimeError} always. */
  override setException(_exception: unknown): never {
    throw new RuntimeError("Task does not support setException operation");
  }

  /**
   * Requests cancellation: the coroutine sees `CancelledError` at its
   * current (or next) await. Returns false if the task is already done.
   * Increments the count of cancellation requests. Mirrors `Task.cancel()`.
   *
   * @param msg The message of the `CancelledError`.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => {});
   * assert.equal(task.cancel(), true);
   * assert.equal(task.cancelling(), 1);
   * await loop.runUntilComplete(async () => {}).catch(() => {});
   * loop.close();
   * ```
   */
  override cancel(msg?: string): boolean {
    this._clearLogTraceback();
    if (this._state !== PENDING) return false;
    this._numCancelsRequested += 1;
    const message = msg == null ? undefined : String(msg);
    if (this._abort !== null && !this._abort.signal.aborted) {
      this._abort.abort(new CancelledError(message));
    }
    if (this._futWaiter !== null && this._futWaiter.cancel(message)) {
      // Keep _futWaiter: it may be a task that ignores the cancellation.
      return true;
    }
    this._mustCancel = true;
    this._cancelMessage = message;
    return true;
  }

  /**
   * The number of pending cancellation requests. Mirrors
   * `Task.cancelling()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => {});
   * assert.equal(task.cancelling(), 0);
   * await loop.runUntilComplete(task);
   * loop.close();
   * ```
   */
  cancelling(): number {
    return this._numCancelsRequested;
  }

  /**
   * Decrements the count of cancellation requests and returns it; when it
   * reaches zero a not-yet-delivered cancellation is withdrawn. Mirrors
   * `Task.uncancel()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => 1);
   * task.cancel();
   * assert.equal(task.uncancel(), 0);
   * assert.equal(await loop.runUntilComplete(task), 1);
   * loop.close();
   * ```
   */
  uncancel(): number {
    if (this._numCancelsRequested > 0) {
      this._numCancelsRequested -= 1;
      if (this._numCancelsRequested === 0) this._mustCancel = false;
    }
    return this._numCancelsRequested;
  }

  /** @ignore Why the coroutine may not await `fut`, or null. */
  _checkAwait(fut: Future<unknown>): Error | null {
    if (fut === this) {
      return new RuntimeError(`Task cannot await on itself: ${this}`);
    }
    if (fut._loop !== this._loop) {
      return new RuntimeError(
        `Task ${this} got Future ${fut} attached to a different loop`,
      );
    }
    return null;
  }

  /** @ignore Called by `Future.then` when the coroutine awaits `fut`. */
  _onAwait(fut: Future<unknown>): void {
    this._futWaiter = fut;
    if (this._mustCancel && fut.cancel(this._cancelMessage)) {
      this._mustCancel = false;
    }
  }

  /** @ignore The coroutine settled. Mirrors the end of `Task.__step`. */
  _finish(ok: boolean, value: unknown): void {
    if (this._state !== PENDING) {
      stepSuspended(this);
      return;
    }
    this._futWaiter = null;
    // A coroutine can outlive its loop (JavaScript runs it to its end): its
    // task still records the outcome, but nothing can be scheduled on a
    // closed loop.
    if (this._loop.isClosed()) this._callbacks = null;
    if (ok) {
      if (this._mustCancel) {
        this._mustCancel = false;
        Future.prototype.cancel.call(this, this._cancelMessage);
      } else {
        Future.prototype.setResult.call(this, value as T);
      }
    } else if (value instanceof CancelledError) {
      this._cancelledExc = value;
      Future.prototype.cancel.call(this);
    } else {
      this._setExceptionUnchecked(value);
      // asyncio's step raises a KeyboardInterrupt on out of the loop; an
      // eager first step raises it out of createTask() instead.
      if (value instanceof KeyboardInterrupt) {
        if (eagerStepping === this) eagerInterrupt = value;
        else {
          (this._loop as {
            _interruptRun?(task: unknown, error: unknown): void;
          })._interruptRun?.(this, value);
        }
      }
    }
    this._loop._unregisterTask(this);
    stepSuspended(this);
  }

  /**
   * @ignore The task as a ready item: its first step, then the resumption
   * of each pending `sleep(0)`.
   */
  _run(): void {
    if (this._started) resumeTaskYield(this);
    else stepTask(this);
  }

  /** @ignore An adopted promise settled. */
  _adopted(ok: boolean, value: unknown): void {
    if (this._started) this._finish(ok, value);
    else this._outcome = { ok, value };
  }

  /** @ignore */
  protected override _reprInfo(): string[] {
    const info = super._reprInfo();
    if (this._state === PENDING && this._numCancelsRequested > 0) {
      info[0] = "cancelling";
    }
    info.splice(1, 0, `name=${JSON.stringify(this.getName())}`);
    const coro = this._coro as { name?: string };
    const coroName = typeof this._coro === "function"
      ? (coro.name || "<anonymous>")
      : "<promise>";
    info.splice(2, 0, `coro=${coroName}`);
    // asyncio's order: what it waits for comes before its done callbacks.
    if (this._futWaiter !== null) {
      info.splice(3, 0, `wait_for=${this._futWaiter}`);
    }
    return info;
  }
}

/** The error of a coroutine function that returned no promise. */
function notACoroutine(value: unknown): TypeError {
  return new TypeError(
    `a coroutine was expected: the function given to createTask() returned ${
      describe(value)
    }, not a promise (pass an async function)`,
  );
}

/**
 * Finishes `task` when its coroutine's promise settles. A native promise's
 * handlers run in the context current now, the task's own, so shared
 * handlers find the task there and no closure is made per task.
 */
function watchCoroutine(
  task: Task<unknown>,
  promise: PromiseLike<unknown>,
): void {
  if (promise instanceof Promise && contextTask() === task) {
    promise.then(coroutineReturned, coroutineFailed);
  } else {
    promise.then(
      (value) => task._finish(true, value),
      (error) => task._finish(false, error),
    );
  }
}

function coroutineReturned(value: unknown): void {
  contextTask()!._finish(true, value);
}

function coroutineFailed(error: unknown): void {
  contextTask()!._finish(false, error);
}

/** The first step of a task: start (or adopt) its coroutine. */
function stepTask(task: Task<unknown>): void {
  if (task._state !== PENDING) {
    reportStepOfDoneTask(task);
    return;
  }
  if (task._mustCancel) {
    // Cancelled before it started: the coroutine never runs.
    task._mustCancel = false;
    task._started = true;
    task._finish(false, task._makeCancelledError());
    return;
  }
  task._started = true;
  const coro = task._coro;
  if (typeof coro !== "function") {
    const outcome = task._outcome;
    if (outcome !== null) {
      task._outcome = null;
      task._finish(outcome.ok, outcome.value);
    }
    return;
  }
  let promise: unknown;
  state.inCallback = false;
  state.stepping = task;
  try {
    promise = coro();
    if (!isThenable(promise)) {
      task._finish(false, notACoroutine(promise));
      return;
    }
    watchCoroutine(task, promise);
  } catch (error) {
    task._finish(false, error);
  } finally {
    state.inCallback = true;
  }
}

/**
 * The first step found the task done already: only `Future.prototype`'s
 * `setResult`/`setException`/`cancel` called on the task can do that. As
 * asyncio's step, report it (the coroutine never runs).
 */
function reportStepOfDoneTask(task: Task<unknown>): void {
  task._started = true;
  task._loop._unregisterTask(task);
  task._loop.callExceptionHandler({
    message: "Exception in callback Task.step()",
    exception: new InvalidStateError(`step(): already done: ${task}`),
    task,
  });
}

// ---- eager tasks ----------------------------------------------------------

/** A native promise's state, read at once: 0 pending, 1 fulfilled, 2 rejected. */
type PromiseDetails = (promise: Promise<unknown>) => [number, unknown];

/**
 * Deno's `core.getPromiseDetails`, if present and behaving as expected (a
 * self-test at load); null otherwise, and eager tasks use the standard path.
 */
function findPromiseDetails(): PromiseDetails | null {
  try {
    const read = denoCore()?.getPromiseDetails;
    if (typeof read !== "function") return null;
    const details = read as PromiseDetails;
    const error = new Error("probe");
    const rejected = Promise.reject(error);
    rejected.catch(ignore);
    const [a, x] = details((async () => 7)());
    const [b, y] = details(rejected);
    const [c] = details(new Promise(ignore));
    return a === 1 && x === 7 && b === 2 && y === error && c === 0
      ? details
      : null;
  } catch {
    return null;
  }
}

function ignore(): void {}

/**
 * @internal How an eager step reads its coroutine's promise: Deno's hook, so
 * a coroutine that never suspends gives a task done when `createTask()`
 * returns; null for the standard path, where it is done one microtask later
 * (tests switch the hook off to cover that path).
 */
export const eagerHook: { details: PromiseDetails | null } = {
  details: findPromiseDetails(),
};

/** Subclass tasks whose eager first step waits for their constructor. */
const deferredEager = new WeakSet<Task<unknown>>();

/** The task whose eager first step runs now (its own finish is in it). */
let eagerStepping: Task<unknown> | null = null;
/** A `KeyboardInterrupt` that task's first step ended with. */
let eagerInterrupt: KeyboardInterrupt | null = null;

/**
 * The first step of a task built with `eagerStart`, run at once. As in
 * asyncio, a `KeyboardInterrupt` that ends it is raised on out of
 * `createTask()` (the task keeps it too).
 */
function eagerStep(task: Task<unknown>): void {
  const prevStepping = state.stepping;
  const prevInCallback = state.inCallback;
  // The eager step runs inside the caller's step (or callback): its own
  // suspension must not run the rest of a paused batch.
  const batchResume = state.batchResume;
  state.batchResume = null;
  state.inCallback = false;
  state.stepping = task;
  const prevEager = eagerStepping;
  eagerStepping = task;
  try {
    runInFrame(task._frame, eagerFirstStep, [task]);
  } finally {
    eagerStepping = prevEager;
    state.inCallback = prevInCallback;
    state.batchResume = batchResume;
    // Hand the running-task slot back to the caller. When no step was in
    // progress (createTask() from a plain callback) and the new task's step
    // goes on in microtasks (an await not yet registered with a future, or
    // the standard path's pending completion), the task keeps the slot: the
    // loop lets that step finish before the next callback, as it does for a
    // task that a callback resumed.
    if (
      prevStepping !== null || state.stepping !== task ||
      task._state !== PENDING
    ) {
      state.stepping = prevStepping;
    }
    if (
      task._state === PENDING && task._futWaiter === null &&
      task._yieldResolve === null
    ) task._eagerAwait = true;
  }
  const interrupt = eagerInterrupt;
  if (interrupt !== null) {
    eagerInterrupt = null;
    task._logTraceback = false; // raised to the caller: retrieved
    throw interrupt;
  }
}

/** Mirrors `Task.__eager_start()`'s step, inside the task's context. */
function eagerFirstStep(task: Task<unknown>): void {
  task._started = true;
  if (task._mustCancel) {
    task._mustCancel = false;
    task._finish(false, task._makeCancelledError());
    return;
  }
  const coro = task._coro;
  let promise: unknown;
  if (typeof coro !== "function") {
    // An adopted promise: the constructor watches it already.
    promise = coro;
  } else {
    try {
      promise = coro();
    } catch (error) {
      task._finish(false, error);
      return;
    }
    if (!isThenable(promise)) {
      task._finish(false, notACoroutine(promise));
      return;
    }
  }
  const details = eagerHook.details;
  if (details !== null && promise instanceof Promise) {
    const [status, value] = details(promise);
    if (status === 1) {
      task._finish(true, value);
      return;
    }
    if (status === 2) {
      promise.then(undefined, ignore); // handled: the task holds the error
      task._finish(false, value);
      return;
    }
  }
  if (typeof coro === "function") {
    watchCoroutine(task, promise as PromiseLike<unknown>);
  }
}

/** The lazy start of a subclass task built with `eagerStart` directly. */
function stepDeferred(task: Task<unknown>): void {
  if (deferredEager.delete(task)) stepTask(task);
}

/** Runs a subclass task's deferred eager step, now it is constructed. */
function runDeferredEagerStep(task: Task<unknown>): void {
  // Otherwise (done already, say) the scheduled stepDeferred() sees to it.
  if (task._state === PENDING && deferredEager.delete(task)) eagerStep(task);
}

/**
 * A class (or constructor function) that builds a task: called with `new`,
 * the coroutine and `{ loop, name, context, eagerStart }`. `Task` and its
 * subclasses are such constructors.
 */
export type TaskConstructor = new <T>(
  coro: Coroutine<T>,
  options: TaskOptions,
) => Future<T>;

/**
 * Returns a task factory for `loop.setTaskFactory()` that builds tasks with
 * `taskConstructor` and `eagerStart: true`: each task's first step runs inside
 * `createTask()` while the loop is running. Mirrors
 * `asyncio.create_eager_task_factory()`.
 *
 * A subclass's first step runs right after its constructor returns (its
 * fields are set by then), still inside `createTask()`. The factory passes
 * the `name` and `context` given to `createTask()` on to the constructor.
 *
 * @param taskConstructor `Task`, a subclass, or a function usable with `new`
 * that takes `(coro, { loop, name, context, eagerStart })`.
 * @returns A task factory.
 * @throws {TypeError} if `taskConstructor` is not a function.
 * @example A factory that builds a Task subclass eagerly
 * ```ts
 * import {
 *   createEagerTaskFactory,
 *   currentTask,
 *   getRunningLoop,
 *   run,
 *   Task,
 * } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * class TracedTask<T> extends Task<T> {
 *   readonly trace: string[] = [];
 * }
 *
 * await run(async () => {
 *   const loop = getRunningLoop();
 *   loop.setTaskFactory(createEagerTaskFactory(TracedTask));
 *   const task = loop.createTask(async () => {
 *     (currentTask() as TracedTask<number>).trace.push("first step");
 *     return 42;
 *   }) as TracedTask<number>;
 *   assert.ok(task instanceof TracedTask);
 *   assert.deepEqual(task.trace, ["first step"]); // ran inside createTask()
 *   assert.equal(await task, 42);
 * });
 * ```
 */
export function createEagerTaskFactory(
  taskConstructor: TaskConstructor,
): TaskFactory {
  if (typeof taskConstructor !== "function") {
    throw new TypeError(
      `createEagerTaskFactory() expects a task class such as Task, got ${
        describe(taskConstructor)
      }`,
    );
  }
  return function eagerFactory<T>(
    loop: AbstractEventLoop,
    coro: Coroutine<T>,
    options?: { name?: string | null; context?: Context | null },
  ): Future<T> {
    const task = new taskConstructor<T>(coro, {
      eagerStart: true,
      ...options,
      loop,
    });
    if (task instanceof Task) runDeferredEagerStep(task as Task<unknown>);
    return task;
  };
}

/**
 * The task factory of eager tasks: give it to `loop.setTaskFactory()` and
 * every `createTask()` runs the coroutine's first step at once, up to its
 * first suspension; a coroutine that never suspends gives a task that is
 * already done. Mirrors `asyncio.eager_task_factory`.
 *
 * The first step runs with the new task as `currentTask()`, in its context
 * (the `context` option, else the caller's), and it is in `allTasks()` while
 * it runs. What the step throws goes to the task; a `KeyboardInterrupt`
 * is also raised on out of `createTask()`, as asyncio's step raises it. If
 * the loop is not running, tasks start on the loop as usual.
 *
 * "Never suspends" means returns without reaching an `await`: in JavaScript
 * every `await` resumes in a microtask, even on a done future, so such a
 * step ends in those microtasks, as a normal task's step does. Created from
 * a plain callback, the loop lets it end before it runs the next callback.
 *
 * @example Tasks that finish without suspending are done at once
 * ```ts
 * import { eagerTaskFactory, getRunningLoop, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const loop = getRunningLoop();
 *   loop.setTaskFactory(eagerTaskFactory);
 *   const cache = new Map([["a", 1]]);
 *   const lookup = async (key: string) => cache.get(key) ?? await sleep(0.01, 0);
 *
 *   const hit = loop.createTask(() => lookup("a"));
 *   assert.equal(hit.done(), true); // never suspended
 *   assert.equal(hit.result(), 1);
 *
 *   const miss = loop.createTask(() => lookup("b"));
 *   assert.equal(miss.done(), false); // suspended in sleep(): a normal task now
 *   assert.equal(await miss, 0);
 * });
 * ```
 */
export const eagerTaskFactory: TaskFactory = createEagerTaskFactory(Task);

/**
 * @internal Runs one of the package's own coroutines (a connect, say) as a
 * task and returns that task, typed as the promise the method declares.
 * JavaScript starts an async function at its call, so a plain promise
 * handed to `waitFor()` or `timeout()` could not be cancelled; a task can:
 * cancelling whoever waits on it (a task awaiting it, `waitFor`, a timeout)
 * cancels the operation inside, which then releases what it opened. The
 * task bypasses the loop's task factory: it is the method's machinery, not
 * a task the program made.
 */
export function cancellableOperation<T>(
  loop: AbstractEventLoop,
  name: string,
  body: () => Promise<T>,
): Promise<T> {
  if (loop.isClosed()) {
    return Promise.reject(new RuntimeError("Event loop is closed"));
  }
  return new Task(body, { loop, name }) as unknown as Promise<T>;
}

/**
 * Schedules a coroutine on the running loop and returns its task. Mirrors
 * `asyncio.create_task()`.
 *
 * @param coro A zero-argument async function (preferred) or a promise.
 * @param options `name`, `context`.
 * @throws {RuntimeError} if no loop is running.
 * @example
 * ```ts
 * import { createTask, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const total = await run(async () => {
 *   const a = createTask(async () => 1);
 *   const b = createTask(async () => 2, { name: "second" });
 *   return (await a) + (await b);
 * });
 * assert.equal(total, 3);
 * ```
 */
export function createTask<T>(
  coro: Coroutine<T>,
  options?: { name?: string | null; context?: Context | null },
): Task<T> {
  return getRunningLoop().createTask(coro, options);
}

/**
 * Returns `obj` if it is a future, else wraps a coroutine or awaitable in a
 * task. Mirrors `asyncio.ensure_future()`.
 *
 * @throws {TypeError} if `obj` is neither.
 * @throws {RangeError} if a future belongs to a different loop than `loop`.
 * @example
 * ```ts
 * import { ensureFuture, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * const fut = loop.createFuture();
 * assert.equal(ensureFuture(fut, { loop }), fut);
 * const task = ensureFuture(async () => 5, { loop });
 * assert.equal(await loop.runUntilComplete(task), 5);
 * loop.close();
 * ```
 */
export function ensureFuture<T>(
  obj: Future<T> | Coroutine<T>,
  options?: { loop?: AbstractEventLoop },
): Future<T> {
  const loop = options?.loop;
  if (isFuture(obj)) {
    if (loop !== undefined && loop !== obj._loop) {
      throw new RangeError(
        "The future belongs to a different loop than the one specified as the loop argument",
      );
    }
    return obj as Future<T>;
  }
  if (isCoroutine(obj)) {
    return (loop ?? _getEventLoop()).createTask(obj as Coroutine<T>);
  }
  throw new TypeError(
    `An asyncio Future, a coroutine or an awaitable is required, got ${
      describe(obj)
    }`,
  );
}

/**
 * The task whose coroutine is running, or null in a plain callback.
 * Mirrors `asyncio.current_task()`.
 *
 * @param loop The loop to ask about (default: the running loop).
 * @throws {RuntimeError} if no loop is given and none is running.
 * @example
 * ```ts
 * import { currentTask, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   assert.notEqual(currentTask(), null);
 * }, {});
 * ```
 */
export function currentTask(loop?: AbstractEventLoop): Task<unknown> | null {
  const target = loop ?? getRunningLoop();
  if (state.inCallback) return null;
  const task = contextTask();
  return task !== undefined && task._loop === target &&
      task._state === PENDING
    ? task
    : null;
}

/**
 * The set of not-yet-done tasks of a loop. Mirrors `asyncio.all_tasks()`.
 *
 * @param loop The loop (default: the running loop).
 * @example
 * ```ts
 * import { allTasks, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   assert.equal(allTasks().size, 1); // the main task
 * });
 * ```
 */
export function allTasks(loop?: AbstractEventLoop): Set<Task<unknown>> {
  const target = loop ?? getRunningLoop();
  const tasks = new Set<Task<unknown>>();
  for (const task of target._allTasks()) {
    if (task._state === PENDING) tasks.add(task);
  }
  return tasks;
}

/** Resumes a `sleep(0)` made outside a task. */
function resumeYield<T>(resolve: (value: T) => void, value: T): void {
  resolve(value);
}

/** Resumes a task's `sleep(0)`, or delivers a pending cancellation. */
function resumeTaskYield(task: Task<unknown>): void {
  const resolve = task._yieldResolve!;
  const reject = task._yieldReject!;
  const value = task._yieldValue;
  task._yieldResolve = task._yieldReject = null;
  task._yieldValue = undefined;
  state.stepping = task;
  if (task._mustCancel) {
    task._mustCancel = false;
    reject(task._makeCancelledError());
  } else {
    resolve(value);
  }
}

/**
 * `sleep(0)`: a native promise resolved by a callback one iteration later
 * (asyncio's bare `yield`). A native promise keeps `await` on V8's fast path.
 * Inside a task, the task's own reusable handle carries the resumption, so a
 * yield allocates only the promise.
 */
function yieldOnce<T>(loop: AbstractEventLoop, value: T): Promise<T> {
  const task = state.inCallback ? undefined : contextTask();
  if (
    task === undefined || task._state !== PENDING || task._loop !== loop ||
    task._yieldResolve !== null
  ) {
    return new Promise<T>((resolve) => {
      loop._callSoonFrame(resumeYield, [resolve, value], ROOT);
    });
  }
  task._futWaiter = null;
  const promise = new Promise(captureResolvers) as Promise<T>;
  task._yieldResolve = captured.resolve;
  task._yieldReject = captured.reject;
  task._yieldValue = value;
  captured.resolve = captured.reject = null;
  loop._pushHandle(task);
  stepSuspended(task);
  return promise;
}

/** The frame internal resumptions run in: any will do, they only resolve. */
const ROOT = captureFrame();

function setResultUnlessCancelled<T>(fut: Future<T>, result: T): void {
  if (!fut.done()) fut.setResult(result);
}

async function sleepFor<T>(
  loop: AbstractEventLoop,
  delay: number,
  result: T,
): Promise<T> {
  const fut = loop.createFuture<T>();
  const handle = loop.callLater(delay, setResultUnlessCancelled, fut, result);
  labelWait(fut, () => `sleep(${delay}) until t=${handle.when().toFixed(3)}`);
  try {
    return await fut;
  } finally {
    handle.cancel();
  }
}

/**
 * Suspends the current task for `delay` seconds and resolves with `result`.
 * `sleep(0)` yields to the loop for exactly one iteration. Mirrors
 * `asyncio.sleep()`; on a virtual-clock loop it takes no real time.
 *
 * @param delay Seconds (a number; 0 or less yields once).
 * @param result The value to resolve with.
 * @returns A promise; it rejects with `TypeError` for a non-number delay,
 * `RangeError` for NaN, `RuntimeError` when no loop is running.
 * @example
 * ```ts
 * import { run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const value = await run(async () => await sleep(0.01, "done"));
 * assert.equal(value, "done");
 * ```
 */
export function sleep<T = undefined>(delay: number, result?: T): Promise<T> {
  if (typeof delay !== "number") {
    return Promise.reject(
      new TypeError(
        `sleep() delay must be a number of seconds, got ${typeof delay}`,
      ),
    );
  }
  if (Number.isNaN(delay)) {
    return Promise.reject(new RangeError("sleep() delay must not be NaN"));
  }
  const loop = state.runningLoop;
  if (loop === null) {
    return Promise.reject(
      noRunningLoop(
        "sleep() needs a running event loop: await it inside a coroutine the loop runs",
      ),
    );
  }
  if (delay <= 0) return yieldOnce(loop, result as T);
  return sleepFor(loop, delay, result as T);
}
