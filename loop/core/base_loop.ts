/**
 * `BaseEventLoop`: the ready queue, the timer heap, one iteration
 * (`_runOnce`), run/stop/close, tasks, and error handling. Mirrors CPython's
 * `base_events.BaseEventLoop`.
 *
 * JavaScript cannot block, so the step and the wait are split (as Trio and
 * Tokio do): `_runBatch()` is synchronous and is the only code that calls
 * callbacks; `runForever()` is a small async driver that alternates
 * iterations with a wait. A task's step is a microtask continuation: when a
 * callback resumes a task, the batch pauses and goes on from the microtask
 * queue once the task has suspended again, so each step runs in its place
 * among the callbacks, as asyncio's `Task.__step` does. The driver only arms
 * a host timer when there is truly nothing to do; a `callSoon` made while it waits
 * (from a microtask, a promise callback or an I/O completion) wakes it. To let
 * Deno deliver I/O and timers during a long busy stretch it also yields to the
 * host every few thousand callbacks.
 *
 * @module
 */
import { emptyArray } from "../base/arrays.ts";
import { AbstractEventLoop } from "./abstract_loop.ts";
import type {
  Callback,
  CreateTaskOptions,
  ExceptionHandler,
  LagStats,
  LoopMetrics,
  TaskFactory,
} from "./abstract_loop.ts";
import {
  Context,
  FAST_CONTEXT,
  type Frame,
  runInFrame,
  setFrame,
  swapFrame,
} from "../base/context.ts";
import { Dispatcher, type Registration } from "./dispatcher.ts";
import { RuntimeError } from "../base/exceptions.ts";
import type { ExceptionContext } from "../base/exception_context.ts";
import { type Executor, isExecutor } from "../executors/executor.ts";
import { describe } from "../base/format.ts";
import { Future, isFuture, reportUnretrieved } from "./futures.ts";
import {
  Handle,
  type ReadyItem,
  reportingHandle,
  TimerHandle,
} from "./handles.ts";
import { logger } from "../base/log.ts";
import { state } from "./running.ts";
import { type Coroutine, ensureFuture, Task } from "./tasks.ts";
import { TimerHeap } from "./timer_heap.ts";
import { WorkerPoolExecutor } from "../executors/worker_pool.ts";
import { useNetBackend } from "../net/backend.ts";
import type { NetBackend } from "../net/types.ts";

/** Rebuild the heap when more than half of at least this many are cancelled. */
const MIN_SCHEDULED_TIMER_HANDLES = 100;
/** Callbacks run between host yields while the loop stays busy. */
const CALLBACKS_PER_HOST_YIELD = 4096;
/** Below this (seconds) a wait polls with setImmediate instead of a timer. */
const TIMER_GRANULARITY = 0.001;
/** The longest single host timer (ms). */
const MAX_TIMER_MS = 0x7fffffff;
/**
 * Microtask hops a resumed task gets to reach its next suspension; past this
 * it is awaiting something outside the loop (a Deno promise) and the batch
 * goes on.
 */
const MAX_STEP_HOPS = 16;
/**
 * How many of its later steps a task found waiting outside the loop gets a
 * watcher for (each step that suspends on the loop counts one down).
 */
const FOREIGN_STEPS = 8;
const EMPTY_BATCH: ReadyItem[] = [];

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const AsyncGeneratorFunction =
  Object.getPrototypeOf(async function* () {}).constructor;
const AsyncGeneratorPrototype = Object.getPrototypeOf(
  (async function* () {}).prototype,
) as { next: (...args: unknown[]) => unknown };
const originalAsyncGenNext = AsyncGeneratorPrototype.next;

/** Throws `TypeError` unless `callback` is a plain function. @internal */
/** Throws `TypeError` unless `factory` is a function (a protocol factory). */
export function checkFactory(factory: unknown, method: string): void {
  if (typeof factory !== "function") {
    throw new TypeError(
      `${method}(): protocolFactory must be a function, got ${
        describe(factory)
      }`,
    );
  }
}

export function checkCallback(callback: unknown, method: string): void {
  if (typeof callback !== "function") {
    throw new TypeError(
      `a function was expected by ${method}(), got ${describe(callback)}`,
    );
  }
  const ctor = callback.constructor;
  if (ctor === AsyncFunction || ctor === AsyncGeneratorFunction) {
    throw new TypeError(
      `coroutines cannot be used with ${method}(): schedule it with createTask(${
        callback.name || "fn"
      }) instead`,
    );
  }
}

function checkTime(value: unknown, method: string, what: string): void {
  if (typeof value !== "number") {
    throw new TypeError(
      `${method}() ${what} must be a number of seconds, got ${typeof value}`,
    );
  }
  if (Number.isNaN(value)) {
    throw new RangeError(`${method}() ${what} must not be NaN`);
  }
}

/** Splits a trailing `{ context }` options object off variadic args. */
function takeContext(args: unknown[]): Context | null {
  const last = args[args.length - 1];
  if (
    last !== null && typeof last === "object" &&
    Object.getPrototypeOf(last) === Object.prototype &&
    "context" in last
  ) {
    const keys = Object.keys(last);
    const context = (last as { context: unknown }).context;
    if (
      keys.length === 1 && (context == null || context instanceof Context)
    ) {
      args.pop();
      return context as Context | null;
    }
  }
  return null;
}

function readDebugFromEnv(): boolean {
  for (const variable of ["AIOLOOP_DEBUG", "PYTHONASYNCIODEBUG"]) {
    try {
      const status = Deno.permissions.querySync({ name: "env", variable });
      if (status.state !== "granted") continue;
      if (Deno.env.get(variable)) return true;
    } catch {
      // No permission API or no access: debug stays off.
    }
  }
  return false;
}

function runUntilCompleteCallback(fut: Future<unknown>): void {
  const loop = fut.getLoop() as BaseEventLoop;
  // The task's KeyboardInterrupt ended the run already (see
  // `_interruptRun`): a stop() now would end the next run at once.
  if (loop._interruptedBy === fut) {
    loop._interruptedBy = null;
    return;
  }
  loop.stop();
}

const realClock = (): number => performance.now() / 1000;

/**
 * The scheduling core of every loop in this package. Mirrors
 * `asyncio.BaseEventLoop`. Use `EventLoop` (which adds Deno I/O) or
 * `newEventLoop()`; subclass this to build a loop with other backends.
 *
 * @example Running callbacks and a coroutine
 * ```ts
 * import { BaseEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = new BaseEventLoop();
 * const order: number[] = [];
 * loop.callSoon(() => order.push(1));
 * const result = await loop.runUntilComplete(async () => {
 *   order.push(2);
 *   return "ok";
 * });
 * assert.deepEqual(order, [1, 2]);
 * assert.equal(result, "ok");
 * loop.close();
 * ```
 */
export class BaseEventLoop extends AbstractEventLoop {
  /** @ignore Callbacks ready to run (appended to during a batch). */
  _ready: ReadyItem[] = [];
  /** @ignore The previous batch's array, reused. */
  _spare: ReadyItem[] = [];
  /** @ignore */ _scheduled: TimerHeap = new TimerHeap();
  /** @ignore */ _timerCancelledCount = 0;
  /** @ignore */ _closed = false;
  /** @ignore */ _stopping = false;
  /** @ignore */ _running = false;
  /** @ignore */ _debug: boolean;
  /** @ignore */ _exceptionHandler: ExceptionHandler | null = null;
  /** @ignore */ _taskFactory: TaskFactory | null = null;
  /**
   * @ignore The network this loop's sockets use while it runs (null: Deno's
   * own); the simulated network's loops set theirs.
   */
  _netBackend: NetBackend | null = null;
  /**
   * @ignore The live tasks, oldest first (strong references): an intrusive
   * list through the tasks, so registering and unregistering cost no
   * hashing.
   */
  _firstTask: Task<unknown> | null = null;
  /** @ignore */ _lastTask: Task<unknown> | null = null;
  /** @ignore */ _asyncgens: Set<WeakRef<object>> = new Set();
  /** @ignore */ _asyncgensSeen: WeakSet<object> = new WeakSet();
  /** @ignore */ _asyncgensShutdownCalled = false;
  /** @ignore */ _defaultExecutor: Executor | null = null;
  /** @ignore */ _executorShutdownCalled = false;
  /** @ignore Smallest time difference the clock can tell apart. */
  _clockResolution = 1e-6;
  /** @ignore The readiness dispatcher every backend posts to. */
  readonly _dispatcher: Dispatcher;
  /** @ignore Resolves the driver's current wait; null when not waiting. */
  _wakeResolve: (() => void) | null = null;
  /** @ignore */ _sinceHostYield = 0;
  /** @ignore Waits that want a host turn each iteration (`_yieldToHostUntil`). */
  _hostTurnsWanted = 0;
  /** @ignore Iterations run (for `metrics()`). */
  _iterations = 0;
  /** @ignore Callbacks taken from the ready queue, cancelled ones included. */
  _dispatched = 0;
  /** @ignore Cancelled callbacks skipped. */
  _skipped = 0;
  /** @ignore The lag probe, while lag measuring is on. */
  _lagProbe: LagProbe | null = null;
  /** @ignore The batch being run, where it is, and its length. */
  _batch: ReadyItem[] = EMPTY_BATCH;
  /** @ignore */ _batchIndex = 0;
  /** @ignore */ _batchLength = 0;
  #timerId: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #immediate: unknown = null;
  #keepAlive: ReturnType<typeof setInterval> | null = null;
  readonly #wakeBound = () => this._wake();
  readonly #timerFired = () => {
    this.#timerId = null;
    this.#timerAt = Infinity;
    this._wake();
  };
  readonly #immediateFired = () => {
    this.#immediate = null;
    this._wake();
  };

  /** Creates a loop; debug mode defaults from `AIOLOOP_DEBUG`. */
  constructor() {
    super();
    this._debug = readDebugFromEnv();
    this._dispatcher = new Dispatcher(this.#wakeBound);
  }

  // ---- running and stopping -------------------------------------------

  /**
   * Runs the loop until `stop()` is called. Mirrors `loop.run_forever()`: if
   * `stop()` was called before, it runs one iteration (the callbacks already
   * scheduled and those posted by I/O) and returns. With nothing scheduled it
   * keeps the process alive until stopped.
   *
   * @returns A promise that resolves when the loop stops; it rejects with
   * `RuntimeError` if the loop is closed or already running, or another loop
   * is running.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const seen: string[] = [];
   * loop.callSoon(() => seen.push("soon"));
   * loop.callLater(0.01, () => {
   *   seen.push("later");
   *   loop.stop();
   * });
   * await loop.runForever(); // until stop()
   * assert.deepEqual(seen, ["soon", "later"]);
   * loop.close();
   * ```
   */
  override async runForever(): Promise<void> {
    this._checkClosed();
    this._checkRunning();
    this._running = true;
    state.runningLoop = this;
    const net = useNetBackend(this._netBackend);
    const hooks = this.#installAsyncgenHooks();
    // A ref'd timer keeps the process alive while the loop waits on nothing.
    this.#keepAlive = setInterval(noop, MAX_TIMER_MS);
    try {
      for (;;) {
        this._startBatch();
        if (!this._runBatch()) {
          // A callback resumed a task: its step runs as microtasks. The rest
          // of the batch goes on from the microtask queue, each callback
          // after the step before it has suspended (see #continueBatch);
          // after the batch's last callback, hop until the step suspends.
          await new Promise<void>(this.#startChain);
        }
        if (this._stopping) break;
        if (this._ready.length !== 0 || this._dispatcher.hasEvents) {
          if (
            this._sinceHostYield < CALLBACKS_PER_HOST_YIELD &&
            this._hostTurnsWanted === 0
          ) {
            await undefined;
          } else {
            await this.#hostYield();
          }
        } else {
          // Task continuations run as microtasks and usually schedule more
          // work: give them one hop before arming a wait.
          await undefined;
          if (
            !this._stopping && this._ready.length === 0 &&
            !this._dispatcher.hasEvents
          ) {
            if (this.#backstop !== null) {
              // Nothing is paused for the batch's backstop to find: left
              // armed, it would cost the idle loop a turn of the runtime's
              // event loop. (A busy loop keeps it: re-arming costs more.)
              clearImmediate(this.#backstop);
              this.#backstop = null;
            }
            await this._wait(this.#timeout());
          }
        }
        // A coroutine (a microtask) may have stopped the loop: like a
        // callback that calls stop(), that ends the run after this iteration.
        if (this._stopping) break;
      }
      if (this.#interrupt !== null) throw this.#interrupt.error;
    } finally {
      // The interrupting task's stop() is skipped once, in the next run
      // (see runUntilCompleteCallback); after that it is forgotten.
      if (this.#interrupt === null) this._interruptedBy = null;
      this.#interrupt = null;
      if (this._batch !== EMPTY_BATCH) {
        // A KeyboardInterrupt (a callback's, or a task step's) ended the run
        // mid-batch: the callbacks after it run first next time, as asyncio
        // leaves them in its ready queue, and the batch's array is free
        // again.
        const batch = this._batch;
        if (this._batchIndex < this._batchLength) {
          this._ready.unshift(
            ...batch.slice(this._batchIndex, this._batchLength),
          );
        }
        emptyArray(batch);
        this._spare = batch;
        this._batch = EMPTY_BATCH;
        this._batchLength = this._batchIndex = 0;
      }
      this._stopping = false;
      this._running = false;
      state.runningLoop = null;
      state.stepping = null;
      state.batchResume = null;
      this.#chainResolve = this.#chainReject = null;
      if (this.#backstop !== null) {
        clearImmediate(this.#backstop);
        this.#backstop = null;
      }
      this._wakeResolve = null;
      this._clearWaitTimers();
      clearInterval(this.#keepAlive!);
      this.#keepAlive = null;
      hooks();
      useNetBackend(net);
    }
  }

  /**
   * Runs the loop until `future` is done and resolves with its result (or
   * rejects with its exception). A coroutine is wrapped in a task first.
   * Mirrors `loop.run_until_complete()`.
   *
   * @param future A future, a promise, or (preferred) a zero-argument async
   * function.
   * @example
   * ```ts
   * import { newEventLoop, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const value = await loop.runUntilComplete(async () => {
   *   await sleep(0.001);
   *   return 7;
   * });
   * assert.equal(value, 7);
   * loop.close();
   * ```
   */
  override async runUntilComplete<T>(
    future: Future<T> | Coroutine<T>,
  ): Promise<T> {
    this._checkClosed();
    this._checkRunning();
    const newTask = !isFuture(future);
    const fut = ensureFuture(future, { loop: this });
    if (newTask) (fut as Task<T>)._logDestroyPending = false;
    fut.addDoneCallback(runUntilCompleteCallback);
    try {
      await this.runForever();
    } catch (error) {
      // The caller gets the error: a new task's (or the future's own
      // KeyboardInterrupt, which ended the run) counts as retrieved.
      if (
        fut.done() && !fut.cancelled() &&
        (newTask || this._interruptedBy === fut)
      ) fut.exception();
      throw error;
    } finally {
      fut.removeDoneCallback(runUntilCompleteCallback);
    }
    if (!fut.done()) {
      throw new RuntimeError("Event loop stopped before Future completed.");
    }
    return fut.result();
  }

  /**
   * Stops the loop once the current batch of callbacks has run. Mirrors
   * `loop.stop()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const seen: string[] = [];
   * loop.callSoon(() => loop.stop());
   * loop.callSoon(() => seen.push("same iteration")); // still runs
   * await loop.runForever();
   * assert.deepEqual(seen, ["same iteration"]);
   * assert.equal(loop.isRunning(), false);
   * loop.close();
   * ```
   */
  override stop(): void {
    this._stopping = true;
    if (this._wakeResolve !== null) this._wake();
  }

  /** The `KeyboardInterrupt` a task's coroutine threw during this run. */
  #interrupt: { error: unknown } | null = null;

  /**
   * @ignore A task's coroutine threw `KeyboardInterrupt` (package-internal).
   * asyncio's task step records it and raises it on, out of the running
   * loop: the run ends with it, and callbacks the current batch has not
   * reached stay queued for the next run.
   */
  _interruptRun(task: unknown, error: unknown): void {
    if (!this._running || this.#interrupt !== null) return;
    this.#interrupt = { error };
    this._interruptedBy = task;
    this.stop();
  }

  /** @ignore The task whose KeyboardInterrupt ended the last run. */
  _interruptedBy: unknown = null;

  /**
   * Whether the loop is running. Mirrors `loop.is_running()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * assert(!loop.isRunning());
   * loop.close();
   * ```
   */
  override isRunning(): boolean {
    return this._running;
  }

  /**
   * Whether the loop was closed. Mirrors `loop.is_closed()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * loop.close();
   * assert(loop.isClosed());
   * ```
   */
  override isClosed(): boolean {
    return this._closed;
  }

  /**
   * Closes the loop: drops pending callbacks and timers, shuts down the
   * default executor without waiting, releases every registration. Tasks
   * still pending are reported ("Task was destroyed but it is pending!").
   * Idempotent. Mirrors `loop.close()`.
   *
   * @throws {RuntimeError} if the loop is running.
   * @example
   * ```ts
   * import { newEventLoop, RuntimeError } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * loop.close();
   * loop.close(); // no effect
   * assert.equal(loop.isClosed(), true);
   * assert.throws(() => loop.callSoon(() => {}), RuntimeError);
   * ```
   */
  override close(): void {
    if (this._running) {
      throw new RuntimeError(
        "Cannot close a running event loop: call stop() and await runForever() first",
      );
    }
    if (this._closed) return;
    if (this._debug) logger.debug(`Close ${this}`);
    reportUnretrieved(this);
    this._closed = true;
    this._lagProbe?.stop();
    for (const task of this._allTasks()) {
      if (!task.done() && task._logDestroyPending) {
        const context: ExceptionContext = {
          message: "Task was destroyed but it is pending!",
          task,
        };
        if (task._sourceTraceback !== undefined) {
          context.sourceTraceback = task._sourceTraceback;
        }
        this.callExceptionHandler(context);
      }
    }
    for (const task of this._allTasks()) this._unregisterTask(task);
    this._ready = [];
    this._spare = [];
    for (const handle of this._scheduled.handles()) handle._scheduled = false;
    this._scheduled.clear();
    this._timerCancelledCount = 0;
    this._executorShutdownCalled = true;
    const executor = this._defaultExecutor;
    if (executor !== null) {
      this._defaultExecutor = null;
      Promise.resolve(executor.shutdown(false)).catch((error) =>
        logger.error("Error shutting down the default executor", error)
      );
    }
    for (const error of this._dispatcher.close()) {
      logger.error("Error releasing a resource when the loop closed", error);
    }
  }

  /**
   * Closes every asynchronous generator first iterated while this loop ran
   * (`aclose()`), reporting failures to the exception handler. Afterwards, a
   * newly iterated generator is logged as a warning. Mirrors
   * `loop.shutdown_asyncgens()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * let closed = false;
   * async function* numbers() {
   *   try {
   *     for (let i = 0;; i++) yield i;
   *   } finally {
   *     closed = true;
   *   }
   * }
   * const gen = numbers();
   * await loop.runUntilComplete(async () => void await gen.next()); // left open
   * await loop.runUntilComplete(() => loop.shutdownAsyncgens());
   * assert.equal(closed, true);
   * loop.close();
   * ```
   */
  override async shutdownAsyncgens(): Promise<void> {
    this._asyncgensShutdownCalled = true;
    const generators: AsyncGenerator[] = [];
    for (const ref of this._asyncgens) {
      const generator = ref.deref();
      if (generator !== undefined) generators.push(generator as AsyncGenerator);
    }
    this._asyncgens.clear();
    if (generators.length === 0) return;
    const results = await Promise.allSettled(
      generators.map((generator) => generator.return(undefined)),
    );
    results.forEach((result, i) => {
      if (result.status === "rejected") {
        this.callExceptionHandler({
          message:
            `an error occurred during closing of asynchronous generator ${
              generators[i]
            }`,
          exception: result.reason,
          asyncgen: generators[i],
        });
      }
    });
  }

  /**
   * Shuts down the default executor and waits (at most `timeout` seconds)
   * for its work to finish; afterwards the default executor refuses work.
   * Mirrors `loop.shutdown_default_executor()`.
   *
   * @param timeout Seconds to wait, or null to wait as long as it takes.
   * @example
   * ```ts
   * import { newEventLoop, RuntimeError } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   assert.equal(await loop.runInExecutor(null, () => 6 * 7), 42); // starts the pool
   *   await loop.shutdownDefaultExecutor(); // its workers finish and stop
   *   assert.throws(() => loop.runInExecutor(null, () => 0), RuntimeError);
   * });
   * loop.close();
   * ```
   */
  override async shutdownDefaultExecutor(
    timeout: number | null = null,
  ): Promise<void> {
    if (timeout !== null && timeout !== undefined) {
      checkTime(timeout, "shutdownDefaultExecutor", "timeout");
    }
    this._executorShutdownCalled = true;
    const executor = this._defaultExecutor;
    if (executor === null) return;
    const joined = Promise.resolve(executor.shutdown(true));
    if (timeout === null || timeout === undefined) {
      await joined;
    } else {
      const timer = this.createFuture<boolean>();
      const handle = this.callLater(timeout, () => {
        if (!timer.done()) timer.setResult(false);
      });
      joined.then(
        () => !timer.done() && timer.setResult(true),
        () => !timer.done() && timer.setResult(true),
      );
      const finished = await timer;
      handle.cancel();
      if (!finished) {
        logger.warning(
          `The executor did not finish its work within ${timeout} seconds; it was shut down without waiting.`,
        );
        await executor.shutdown(false);
      } else {
        await joined;
      }
    }
    this._defaultExecutor = null;
  }

  /**
   * Runs `func(...args)` in `executor` (null: the default executor) and
   * returns a future of its result, completed on the loop. Mirrors
   * `loop.run_in_executor()`. While the work is in flight the virtual clock
   * does not jump. Cancelling the future cancels the job if it has not
   * started (when the executor's promise has `cancel()`, as
   * `WorkerPoolExecutor`'s has).
   *
   * The default executor is a `WorkerPoolExecutor` (Web Workers, as many as
   * `navigator.hardwareConcurrency`), created on first use: `func` runs in a
   * worker, so it must be self-contained (it is sent as source text) or a
   * module export named by `workerFunction(moduleUrl, exportName)`, and its
   * arguments and result must be structured-cloneable. A function a worker
   * cannot run is refused (see `WorkerPoolExecutor`), never run on the loop.
   *
   * @param executor An executor, or null for the default one.
   * @param func The function to run.
   * @param args Its arguments.
   * @throws {TypeError} if `func` is not a function, is an async function, or
   * cannot run in a worker (native, bound, a class or a method), or
   * `executor` is not an executor.
   * @throws {RuntimeError} if the loop is closed, or the default executor
   * was shut down ("Executor shutdown has been called").
   * @example Off the loop in the default pool of workers
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * try {
   *   const digest = await loop.runUntilComplete(
   *     loop.runInExecutor(null, (n: number) => {
   *       let x = 0;
   *       for (let i = 0; i < n; i++) x = (x * 31 + i) >>> 0;
   *       return x;
   *     }, 1_000_000),
   *   );
   *   assert.equal(typeof digest, "number");
   * } finally {
   *   loop.close(); // terminates the default pool's workers
   * }
   * ```
   * @example With an executor of your own
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import type { Executor } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const inline: Executor = {
   *   submit: (fn, ...args) => Promise.resolve().then(() => fn(...args)),
   *   shutdown: () => {},
   * };
   * const loop = newEventLoop();
   * const sum = await loop.runUntilComplete(
   *   loop.runInExecutor(inline, (a: number, b: number) => a + b, 2, 3),
   * );
   * assert.equal(sum, 5);
   * loop.close();
   * ```
   */
  override runInExecutor<T>(
    executor: Executor | null,
    func: (...args: never[]) => T | PromiseLike<T>,
    ...args: unknown[]
  ): Future<Awaited<T>> {
    this._checkClosed();
    checkCallback(func, "runInExecutor");
    if (executor == null) {
      if (this._executorShutdownCalled) {
        throw new RuntimeError(
          "Executor shutdown has been called: the default executor takes no new work",
        );
      }
      executor = this._defaultExecutor;
      if (executor === null) {
        executor = this._defaultExecutor = new WorkerPoolExecutor();
      }
    } else if (!isExecutor(executor)) {
      throw new TypeError(
        "executor must have submit(fn, ...args) and shutdown(wait) methods",
      );
    }
    const submitted = executor.submit(
      func as (...args: unknown[]) => unknown,
      ...args,
    );
    const fut = this.createFuture<Awaited<T>>();
    const cancel = (submitted as { cancel?: unknown }).cancel;
    if (typeof cancel === "function") {
      fut.addDoneCallback((done) => {
        if (done.cancelled()) cancel.call(submitted);
      });
    }
    const registration = this._dispatcher.register("executor");
    registration.begin();
    Promise.resolve(submitted).then(
      (value) => settleExecutorFuture(registration, fut, true, value),
      (error) => settleExecutorFuture(registration, fut, false, error),
    );
    return fut;
  }

  /**
   * Sets the executor used by `runInExecutor(null, ...)`. Mirrors
   * `loop.set_default_executor()`.
   *
   * @throws {TypeError} if `executor` lacks `submit` and `shutdown`.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const submitted: string[] = [];
   * loop.setDefaultExecutor({
   *   submit: (fn, ...args) => {
   *     submitted.push(fn.name);
   *     return Promise.resolve().then(() => fn(...args));
   *   },
   *   shutdown: () => {},
   * });
   * const double = (n: number) => n * 2;
   * assert.equal(await loop.runUntilComplete(loop.runInExecutor(null, double, 21)), 42);
   * assert.deepEqual(submitted, ["double"]);
   * loop.close();
   * ```
   */
  override setDefaultExecutor(executor: Executor): void {
    if (!isExecutor(executor)) {
      throw new TypeError(
        "executor must have submit(fn, ...args) and shutdown(wait) methods",
      );
    }
    this._defaultExecutor = executor;
  }

  // ---- scheduling -----------------------------------------------------

  /**
   * Schedules `callback(...args)` to run on the next iteration, in FIFO
   * order, in the current async context (or a trailing `{ context }`).
   * Mirrors `loop.call_soon()`.
   *
   * @throws {TypeError} if `callback` is not a function, or is async.
   * @throws {RuntimeError} if the loop is closed.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const greetings: string[] = [];
   * loop.callSoon((who: string) => greetings.push(`hello ${who}`), "world");
   * loop.callSoon(() => loop.stop());
   * await loop.runForever();
   * assert.deepEqual(greetings, ["hello world"]);
   * loop.close();
   * ```
   */
  override callSoon(callback: Callback, ...args: unknown[]): Handle {
    if (this._closed) this._checkClosed();
    checkCallback(callback, "callSoon");
    const context = args.length === 0 ? null : takeContext(args);
    const handle = new Handle(callback, args, this, context);
    this._ready.push(handle);
    if (this._wakeResolve !== null) this._wake();
    return handle;
  }

  /**
   * `callSoon` for code outside the loop's callbacks and tasks (a plain
   * promise callback, an event listener, a signal): it wakes a waiting loop.
   * Mirrors `loop.call_soon_threadsafe()`.
   *
   * @throws {RuntimeError} if the loop is closed.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * let got = "";
   * // A timer callback runs outside the loop, as another thread would:
   * setTimeout(() => {
   *   loop.callSoonThreadsafe((value: string) => {
   *     got = value;
   *     loop.stop();
   *   }, "from outside");
   * }, 1);
   * await loop.runForever(); // sleeps until woken
   * assert.equal(got, "from outside");
   * loop.close();
   * ```
   */
  override callSoonThreadsafe(callback: Callback, ...args: unknown[]): Handle {
    if (this._closed) this._checkClosed();
    checkCallback(callback, "callSoonThreadsafe");
    const context = args.length === 0 ? null : takeContext(args);
    const handle = new Handle(callback, args, this, context);
    this._ready.push(handle);
    this._wake();
    return handle;
  }

  /**
   * Schedules `callback(...args)` to run after `delay` seconds. Mirrors
   * `loop.call_later()`.
   *
   * @throws {TypeError} for a non-number delay or a non-function callback.
   * @throws {RangeError} for a NaN delay.
   * @throws {RuntimeError} if the loop is closed.
   * @example On the virtual clock (the real one works the same, in real time)
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
   * const loop = newEventLoop();
   * const calls: [string, number][] = [];
   * loop.callLater(2, (what: string) => calls.push([what, loop.time()]), "later");
   * loop.callLater(1, (what: string) => calls.push([what, loop.time()]), "sooner");
   * loop.callLater(3, () => loop.stop());
   * await loop.runForever();
   * assert.deepEqual(calls, [["sooner", 1], ["later", 2]]);
   * loop.close();
   * ```
   */
  override callLater(
    delay: number,
    callback: Callback,
    ...args: unknown[]
  ): TimerHandle {
    checkTime(delay, "callLater", "delay");
    return this.#schedule(this.time() + delay, callback, args, "callLater");
  }

  /**
   * Schedules `callback(...args)` at loop time `when` (as `loop.time()`).
   * Mirrors `loop.call_at()`.
   *
   * @throws {TypeError} for a non-number time or a non-function callback.
   * @throws {RangeError} for NaN.
   * @throws {RuntimeError} if the loop is closed.
   * @example On the virtual clock (the real one works the same, in real time)
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
   * const loop = newEventLoop();
   * const deadline = loop.time() + 5;
   * let firedAt = -1;
   * loop.callAt(deadline, () => {
   *   firedAt = loop.time();
   *   loop.stop();
   * });
   * await loop.runForever();
   * assert.equal(firedAt, deadline);
   * loop.close();
   * ```
   */
  override callAt(
    when: number,
    callback: Callback,
    ...args: unknown[]
  ): TimerHandle {
    checkTime(when, "callAt", "when");
    return this.#schedule(when, callback, args, "callAt");
  }

  #schedule(
    when: number,
    callback: Callback,
    args: unknown[],
    method: string,
  ): TimerHandle {
    if (this._closed) this._checkClosed();
    checkCallback(callback, method);
    const context = args.length === 0 ? null : takeContext(args);
    const timer = new TimerHandle(when, callback, args, this, context);
    this._scheduled.push(timer);
    timer._scheduled = true;
    if (this._wakeResolve !== null && when < this.#timerAt) this._wake();
    return timer;
  }

  /**
   * The loop's clock: monotonic seconds. Mirrors `loop.time()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const t0 = loop.time();
   * assert(loop.time() >= t0);
   * loop.close();
   * ```
   */
  override time(): number {
    return performance.now() / 1000;
  }

  /**
   * Creates a future bound to this loop. Mirrors `loop.create_future()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<string>();
   * assert(!fut.done());
   * loop.close();
   * ```
   */
  override createFuture<T = unknown>(): Future<T> {
    return new Future<T>({ loop: this });
  }

  /**
   * Schedules a coroutine as a task (through the task factory, if set).
   * Mirrors `loop.create_task()`.
   *
   * @param coro A zero-argument async function (preferred) or a promise.
   * @param options `name`, `context`.
   * @throws {TypeError} if `coro` is not a coroutine.
   * @throws {RuntimeError} if the loop is closed.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const task = loop.createTask(async () => 42, { name: "answer" });
   * assert.equal(await loop.runUntilComplete(task), 42);
   * loop.close();
   * ```
   */
  override createTask<T>(
    coro: Coroutine<T>,
    options?: CreateTaskOptions,
  ): Task<T> {
    this._checkClosed();
    const name = options?.name;
    const context = options?.context;
    if (this._taskFactory === null) {
      return new Task<T>(coro, { loop: this, name, context });
    }
    // The name goes to the factory too (asyncio 3.14), so an eager task's
    // first step already runs under it; set again for factories that drop it.
    const task = context == null
      ? name == null
        ? this._taskFactory(this, coro)
        : this._taskFactory(this, coro, { name })
      : this._taskFactory(
        this,
        coro,
        name == null ? { context } : { name, context },
      );
    if (name != null && typeof (task as Task<T>).setName === "function") {
      (task as Task<T>).setName(name);
    }
    return task as Task<T>;
  }

  /**
   * Sets the factory `createTask` uses; null restores the default. Mirrors
   * `loop.set_task_factory()`.
   *
   * @throws {TypeError} if `factory` is neither a function nor null.
   * @example
   * ```ts
   * import { newEventLoop, Task } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const made: string[] = [];
   * loop.setTaskFactory((loop, coro, opts) => {
   *   const task = new Task(coro, { loop, ...opts });
   *   made.push(task.getName());
   *   return task;
   * });
   * const task = loop.createTask(async () => "done", { name: "job" });
   * assert.equal(await loop.runUntilComplete(task), "done");
   * assert.deepEqual(made, ["job"]);
   * loop.setTaskFactory(null); // back to plain tasks
   * loop.close();
   * ```
   */
  override setTaskFactory(factory: TaskFactory | null): void {
    if (factory != null && typeof factory !== "function") {
      throw new TypeError("task factory must be a function or null");
    }
    this._taskFactory = factory ?? null;
  }

  /**
   * The task factory, or null when the default is used. Mirrors
   * `loop.get_task_factory()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * assert.equal(loop.getTaskFactory(), null);
   * loop.close();
   * ```
   */
  override getTaskFactory(): TaskFactory | null {
    return this._taskFactory;
  }

  // ---- error handling -------------------------------------------------

  /**
   * Sets the exception handler, called as `handler(loop, context)`; null
   * restores the default. Mirrors `loop.set_exception_handler()`.
   *
   * @throws {TypeError} if `handler` is neither a function nor null.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const messages: string[] = [];
   * loop.setExceptionHandler((_loop, ctx) => messages.push(ctx.message));
   * loop.callSoon(() => { throw new Error("boom"); });
   * loop.callSoon(() => loop.stop());
   * await loop.runForever();
   * assert.equal(messages.length, 1);
   * loop.close();
   * ```
   */
  override setExceptionHandler(handler: ExceptionHandler | null): void {
    if (handler != null && typeof handler !== "function") {
      throw new TypeError(
        `an exception handler must be a function or null, got ${
          describe(handler)
        }`,
      );
    }
    this._exceptionHandler = handler ?? null;
  }

  /**
   * The exception handler, or null for the default. Mirrors
   * `loop.get_exception_handler()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * assert.equal(loop.getExceptionHandler(), null);
   * loop.close();
   * ```
   */
  override getExceptionHandler(): ExceptionHandler | null {
    return this._exceptionHandler;
  }

  /**
   * Logs `context` through the package `logger`: the message, then each
   * other key, with the exception last. Mirrors
   * `loop.default_exception_handler()`.
   *
   * @example
   * ```ts
   * import { logger, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const saved = logger.error;
   * let logged = "";
   * logger.error = (message) => { logged = message; };
   * loop.defaultExceptionHandler({ message: "something broke" });
   * logger.error = saved;
   * assert(logged.startsWith("something broke"));
   * loop.close();
   * ```
   */
  override defaultExceptionHandler(context: ExceptionContext): void {
    const message = context.message || "Unhandled exception in event loop";
    const lines = [message];
    for (const key of Object.keys(context).sort()) {
      if (key === "message" || key === "exception") continue;
      const value = context[key];
      if (value === undefined) continue;
      if (key === "sourceTraceback" || key === "handleTraceback") {
        const title = key === "sourceTraceback"
          ? "Object created at (most recent call last):"
          : "Handle created at (most recent call last):";
        lines.push(`${title}\n${value}`);
      } else {
        lines.push(`${key}: ${describe(value)}`);
      }
    }
    logger.error(lines.join("\n"), context.exception);
  }

  /**
   * Calls the current exception handler (or the default) with `context`; a
   * handler that throws is itself reported by the default handler. Mirrors
   * `loop.call_exception_handler()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * let seen: unknown;
   * loop.setExceptionHandler((_l, ctx) => { seen = ctx.exception; });
   * const err = new Error("x");
   * loop.callExceptionHandler({ message: "m", exception: err });
   * assert.equal(seen, err);
   * loop.close();
   * ```
   */
  override callExceptionHandler(context: ExceptionContext): void {
    const handler = this._exceptionHandler;
    if (handler === null) {
      try {
        this.defaultExceptionHandler(context);
      } catch (error) {
        logger.error("Exception in default exception handler", error);
      }
      return;
    }
    try {
      // In the context of what the report is about, as asyncio's: the
      // task, else the future (a task has a context), else the handle. A
      // handle reporting its own callback's error runs in that callback's
      // context already, with whatever the callback changed in it.
      const owner = (context.task ?? context.future ?? context.handle) as
        | { _frame?: Frame }
        | undefined;
      if (owner?._frame !== undefined && owner !== reportingHandle()) {
        runInFrame(owner._frame, handler, [this, context]);
      } else {
        handler(this, context);
      }
    } catch (error) {
      try {
        this.defaultExceptionHandler({
          message: "Unhandled error in exception handler",
          exception: error,
          context,
        });
      } catch (inner) {
        logger.error(
          "Exception in default exception handler while handling an unexpected error in custom exception handler",
          inner,
        );
      }
    }
  }

  // ---- debug ------------------------------------------------------------

  /**
   * Whether debug mode is on. Defaults to true when the `AIOLOOP_DEBUG` (or
   * `PYTHONASYNCIODEBUG`) environment variable is non-empty and readable
   * (`--allow-env`). Mirrors `loop.get_debug()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * loop.setDebug(true);
   * assert(loop.getDebug());
   * loop.close();
   * ```
   */
  override getDebug(): boolean {
    return this._debug;
  }

  /**
   * Turns debug mode on or off: slow callbacks (over
   * `slowCallbackDuration`) are logged and handles record where they were
   * created. Mirrors `loop.set_debug()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * loop.setDebug(true);
   * assert.equal(loop.getDebug(), true);
   * loop.slowCallbackDuration = 0.05; // log callbacks that take over 50 ms
   * loop.close();
   * ```
   */
  override setDebug(enabled: boolean): void {
    this._debug = Boolean(enabled);
  }

  // ---- internals ------------------------------------------------------

  /** @ignore */
  override _callSoonFrame(
    callback: Callback,
    args: unknown[],
    frame: Frame,
  ): void {
    if (this._closed) this._checkClosed();
    const handle = new Handle(callback, args, this, null);
    handle._frame = frame;
    this._ready.push(handle);
    if (this._wakeResolve !== null) this._wake();
  }

  /** @ignore */
  override _pushHandle(handle: ReadyItem): void {
    if (this._closed) this._checkClosed();
    this._ready.push(handle);
    if (this._wakeResolve !== null) this._wake();
  }

  /** @ignore */
  override _registerTask(task: Task<unknown>): void {
    if (task._listed) return;
    task._listed = true;
    const last = this._lastTask;
    task._prevTask = last;
    task._nextTask = null;
    if (last === null) this._firstTask = task;
    else last._nextTask = task;
    this._lastTask = task;
  }

  /** @ignore */
  override _unregisterTask(task: Task<unknown>): void {
    if (!task._listed) return;
    task._listed = false;
    const prev = task._prevTask;
    const next = task._nextTask;
    if (prev === null) this._firstTask = next;
    else prev._nextTask = next;
    if (next === null) this._lastTask = prev;
    else next._prevTask = prev;
    task._prevTask = task._nextTask = null;
  }

  /** @ignore The live tasks, oldest first (a snapshot). */
  override _allTasks(): Iterable<Task<unknown>> {
    const tasks: Task<unknown>[] = [];
    for (let task = this._firstTask; task !== null; task = task._nextTask) {
      tasks.push(task);
    }
    return tasks;
  }

  /** @ignore */
  override _timerHandleCancelled(handle: TimerHandle): void {
    if (handle._scheduled) this._timerCancelledCount++;
  }

  /** @ignore Throws if the loop is closed. */
  _checkClosed(): void {
    if (this._closed) throw new RuntimeError("Event loop is closed");
  }

  /** @ignore Throws if this or another loop is running. */
  _checkRunning(): void {
    if (this._running) {
      throw new RuntimeError("This event loop is already running");
    }
    if (state.runningLoop !== null) {
      throw new RuntimeError(
        "Cannot run the event loop while another loop is running",
      );
    }
  }

  /** @ignore Wakes the driver if it is waiting. */
  _wake(): void {
    const resolve = this._wakeResolve;
    if (resolve !== null) {
      this._wakeResolve = null;
      resolve();
    }
  }

  /** @ignore Earliest live timer's time (drops cancelled tops). */
  _nextTimerWhen(): number {
    const heap = this._scheduled;
    for (;;) {
      const top = heap.peek();
      if (top === undefined) return Infinity;
      if (!top._cancelled) return top._when;
      heap.pop();
      top._scheduled = false;
      this._timerCancelledCount--;
    }
  }

  /** Seconds until the next timer (0 if due, Infinity if none). */
  #timeout(): number {
    const when = this._nextTimerWhen();
    if (when === Infinity) return Infinity;
    return Math.max(0, when - this.time());
  }

  /**
   * @ignore The wait between iterations: resolves when a callback is
   * scheduled, an event is posted, `stop()` is called, or `timeout` seconds
   * pass. Subclasses (the virtual clock) override it.
   */
  _wait(timeout: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this._wakeResolve = resolve;
      if (timeout === Infinity) return;
      if (timeout < TIMER_GRANULARITY) {
        if (this.#immediate === null) {
          this.#immediate = setImmediate(this.#immediateFired);
        }
        return;
      }
      const at = this.time() + timeout;
      if (this.#timerId !== null) {
        if (this.#timerAt <= at) return; // an earlier wake-up is armed
        clearTimeout(this.#timerId);
      }
      this.#timerAt = at;
      this.#timerId = setTimeout(
        this.#timerFired,
        Math.min(Math.ceil(timeout * 1000), MAX_TIMER_MS),
      );
    });
  }

  #chainResolve: (() => void) | null = null;
  #chainReject: ((error: unknown) => void) | null = null;
  /** Counts pauses, so a watcher knows whether its pause is still on. */
  #pauses = 0;
  #backstop: ReturnType<typeof setImmediate> | null = null;
  /**
   * Debug mode: when the callback whose task step the batch paused for
   * started (`realClock()`), or -1. The step is timed to its end.
   */
  #debugStepStart = -1;
  /** Debug mode: the task of that step. */
  #debugStepTask: unknown = null;

  readonly #startChain = (
    resolve: () => void,
    reject: (error: unknown) => void,
  ): void => {
    this.#chainResolve = resolve;
    this.#chainReject = reject;
    this.#paused();
  };

  /**
   * The batch paused because a callback resumed a task (`state.stepping`):
   * its step runs as microtasks. The step's next suspension on the loop (a
   * `sleep(0)`, an awaited future, the coroutine's end) calls
   * `state.batchResume`, which runs the next callbacks at once, up to the
   * next one that resumes a task. A step therefore runs exactly between the
   * callbacks before and after it, for one microtask per step.
   *
   * A step may instead suspend on something outside the loop (a Deno
   * promise). A task known to do that gets a watcher that hops along the
   * microtask queue and goes on after MAX_STEP_HOPS hops; for the others a
   * host callback (which runs only once the microtask queue is empty, so
   * only when nothing moves) goes on, and marks the task.
   */
  #paused(): void {
    state.batchResume = this.#resumeBatch;
    const task = state.stepping!;
    const pause = ++this.#pauses;
    if (task._foreignSteps > 0) this.#watch(pause);
    else this.#backstop ??= setImmediate(this.#stalled);
  }

  /** Runs the rest of a paused batch (through `state.batchResume`). */
  readonly #resumeBatch = (): void => {
    state.batchResume = null;
    if (this.#interrupt !== null && this.#chainReject !== null) {
      // The step that just ended threw KeyboardInterrupt: the run ends
      // here, and runForever() puts the rest of the batch back.
      const reject = this.#chainReject;
      this.#chainResolve = this.#chainReject = null;
      reject(this.#interrupt.error);
      return;
    }
    if (this.#debugStepStart >= 0) this.#logSlowStep();
    let done: boolean;
    try {
      done = this._runBatch();
    } catch (error) {
      // A callback's KeyboardInterrupt (Handle._run reports anything else),
      // or a failure of the machinery itself: runForever() rejects with it.
      const reject = this.#chainReject;
      this.#chainResolve = this.#chainReject = null;
      reject?.(error);
      return;
    }
    if (!done) {
      this.#paused();
      return;
    }
    const resolve = this.#chainResolve;
    this.#chainResolve = this.#chainReject = null;
    resolve?.();
  };

  async #watch(pause: number): Promise<void> {
    for (let hops = 0; hops < MAX_STEP_HOPS; hops++) {
      await undefined;
      if (this.#pauses !== pause || state.batchResume === null) return;
    }
    this.#goOn();
  }

  readonly #stalled = (): void => {
    this.#backstop = null;
    if (state.batchResume !== null) this.#goOn();
  };

  /** The paused step is waiting on something outside the loop: go on. */
  #goOn(): void {
    const task = state.stepping;
    if (task !== null) task._foreignSteps = FOREIGN_STEPS;
    state.stepping = null;
    this.#resumeBatch();
  }

  /**
   * @ignore Until `pending` settles, every iteration ends with a turn of the
   * runtime's event loop (where Deno settles its I/O), however busy the
   * loop is: for a wait on Deno itself that asyncio's would see in an
   * iteration or two (a closed listener's release).
   */
  _yieldToHostUntil(pending: Promise<unknown>): void {
    this._hostTurnsWanted++;
    const done = () => {
      this._hostTurnsWanted--;
    };
    pending.then(done, done);
  }

  #hostYield(): Promise<void> {
    this._sinceHostYield = 0;
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** @ignore Cancels host timers armed by `_wait` (the loop stopped). */
  _clearWaitTimers(): void {
    if (this.#timerId !== null) {
      clearTimeout(this.#timerId);
      this.#timerId = null;
      this.#timerAt = Infinity;
    }
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate as ReturnType<typeof setImmediate>);
      this.#immediate = null;
    }
  }

  #installAsyncgenHooks(): () => void {
    const seen = this._asyncgensSeen;
    const firstiter = (generator: object) => this._asyncgenFirstiter(generator);
    AsyncGeneratorPrototype.next = function (this: object, ...args: unknown[]) {
      if (!seen.has(this)) {
        seen.add(this);
        firstiter(this);
      }
      return originalAsyncGenNext.apply(this, args);
    };
    return () => {
      AsyncGeneratorPrototype.next = originalAsyncGenNext;
    };
  }

  /** @ignore Mirrors asyncio's `firstiter` async generator hook. */
  _asyncgenFirstiter(generator: object): void {
    if (this._asyncgensShutdownCalled) {
      logger.warning(
        `asynchronous generator ${generator} was scheduled after loop.shutdownAsyncgens() call`,
      );
    }
    if (this._asyncgens.size > 64) {
      for (const ref of this._asyncgens) {
        if (ref.deref() === undefined) this._asyncgens.delete(ref);
      }
    }
    this._asyncgens.add(new WeakRef(generator));
  }

  /**
   * Starts one iteration: takes posted events, moves due timers to the ready
   * queue, and makes the callbacks ready now the batch `_runBatch()` runs.
   * Mirrors the first half of `BaseEventLoop._run_once()`.
   * @ignore
   */
  _startBatch(): void {
    this._dispatcher.drain(this.#scheduleEvent, this.#scheduleItem);
    const heap = this._scheduled;
    if (heap.size !== 0) {
      if (
        heap.size > MIN_SCHEDULED_TIMER_HANDLES &&
        this._timerCancelledCount * 2 > heap.size
      ) {
        heap.filter((handle) => {
          if (!handle._cancelled) return true;
          handle._scheduled = false;
          return false;
        });
        this._timerCancelledCount = 0;
      }
      // A timer due now is ready even where the resolution is below the
      // float spacing of now (far virtual times).
      const now = this.time();
      const end = now + this._clockResolution;
      const ready = this._ready;
      for (;;) {
        const when = heap.peekWhen();
        if (!(when < end || when <= now)) break;
        const top = heap.pop()!;
        top._scheduled = false;
        if (top._cancelled) this._timerCancelledCount--;
        else ready.push(top);
      }
    }
    const batch = this._ready;
    this._batch = batch;
    this._batchIndex = 0;
    this._batchLength = batch.length;
    this._ready = this._spare;
    this._sinceHostYield += batch.length;
    this._iterations++;
    this._dispatched += batch.length;
  }

  /**
   * Runs the current batch, the only place callbacks are called. Returns
   * false when it paused because a callback resumed a task: the driver lets
   * the task's step (microtasks) run until it suspends, then calls again, so
   * a step runs exactly between the callbacks before and after it.
   * @ignore
   */
  _runBatch(): boolean {
    const batch = this._batch;
    const n = this._batchLength;
    let i = this._batchIndex;
    if (i < n) {
      state.inCallback = true;
      let outer: Frame = undefined;
      let swapped = false;
      try {
        if (this._debug) i = this.#runBatchDebug(batch, i, n);
        else if (FAST_CONTEXT) {
          outer = swapFrame(batch[i]._frame);
          swapped = true;
          while (i < n) {
            const handle = batch[i++];
            if (handle._cancelled) {
              this._skipped++;
              continue;
            }
            // Set before each callback, even one scheduled in the same
            // context as the last: that callback may have changed the live
            // context (`enterWith()`), and its change is its own.
            setFrame(handle._frame);
            handle._run();
            if (state.stepping !== null) break;
          }
        } else {
          while (i < n) {
            const handle = batch[i++];
            if (handle._cancelled) {
              this._skipped++;
              continue;
            }
            runInFrame(handle._frame, runHandle, [handle]);
            if (state.stepping !== null) break;
          }
        }
      } finally {
        if (swapped) swapFrame(outer);
        state.inCallback = false;
        // The debug loop keeps its own place, even when a callback's
        // KeyboardInterrupt leaves it (this `i` is then behind it).
        if (i > this._batchIndex) this._batchIndex = i;
      }
    }
    if (state.stepping !== null) return false;
    emptyArray(batch);
    this._spare = batch;
    this._batch = EMPTY_BATCH;
    this._batchLength = this._batchIndex = 0;
    return true;
  }

  #runBatchDebug(batch: ReadyItem[], i: number, n: number): number {
    while (i < n) {
      const handle = batch[i++];
      // Kept as it goes: a callback's KeyboardInterrupt may leave the loop.
      this._batchIndex = i;
      if (handle._cancelled) {
        this._skipped++;
        continue;
      }
      const t0 = realClock();
      runInFrame(handle._frame, runHandle, [handle]);
      if (state.stepping !== null) {
        // A task step goes on in microtasks: timed until the batch resumes.
        this.#debugStepStart = t0;
        this.#debugStepTask = state.stepping;
        break;
      }
      const dt = realClock() - t0;
      if (dt >= this.slowCallbackDuration) {
        logger.warning(`Executing ${handle} took ${dt.toFixed(3)} seconds`);
      }
    }
    return i;
  }

  /** Debug mode: logs the task step the batch paused for, if slow. */
  #logSlowStep(): void {
    const dt = realClock() - this.#debugStepStart;
    const task = this.#debugStepTask;
    this.#debugStepStart = -1;
    this.#debugStepTask = null;
    if (dt >= this.slowCallbackDuration) {
      logger.warning(`Executing ${task} took ${dt.toFixed(3)} seconds`);
    }
  }

  readonly #scheduleItem = (item: ReadyItem): void => {
    this._ready.push(item);
  };

  readonly #scheduleEvent = (
    callback: Callback,
    args: unknown[],
    frame: Frame,
  ): void => {
    const handle = new Handle(callback, args, this, null);
    handle._frame = frame;
    this._ready.push(handle);
  };

  /**
   * What the loop has done and holds now: iterations and callbacks run
   * since the last `resetMetrics()`, the ready queue's depth, the timers
   * pending, the I/O operations in flight by kind, and (while
   * `measureLag()` is on) how late timers and callbacks ran.
   *
   * @example
   * ```ts
   * import { newEventLoop, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * loop.measureLag(true);
   * await loop.runUntilComplete(async () => {
   *   for (let i = 0; i < 5; i++) await sleep(0.01);
   * });
   * const m = loop.metrics();
   * assert(m.iterations >= 5 && m.callbacks >= 5);
   * assert(m.lag !== null && m.lag.samples > 0 && m.lag.max >= m.lag.min);
   * loop.close();
   * ```
   */
  override metrics(): LoopMetrics {
    const io: Record<string, { inFlight: number; waiting: number }> = {};
    for (const [kind, counts] of this._dispatcher.byKind()) io[kind] = counts;
    return {
      iterations: this._iterations,
      callbacks: this._dispatched - this._skipped,
      ready: this._ready.length,
      timers: this._scheduled.size - this._timerCancelledCount,
      io,
      lag: this._lagProbe?.stats() ?? null,
    };
  }

  /**
   * Starts the counts of `metrics()` (and the lag samples) again from zero.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {});
   * loop.resetMetrics();
   * assert.equal(loop.metrics().iterations, 0);
   * loop.close();
   * ```
   */
  override resetMetrics(): void {
    this._iterations = 0;
    // The rest of a batch under way still runs, and counts.
    this._dispatched = this._batchLength - this._batchIndex;
    this._skipped = 0;
    this._lagProbe?.reset();
  }

  /**
   * Turns lag measuring on or off. While on, a host timer due every
   * `interval` seconds (0.01) records how late it fired (how long the
   * thread was busy), and a callback it schedules on the loop records how
   * long it waited in the ready queue; `metrics()` reports their min, mean,
   * p50, p99 and max (in real seconds, on any clock). The probe adds
   * nothing to the loop's timers and does not keep the process alive. Off
   * (the default), nothing is measured and nothing is scheduled.
   *
   * @throws {RangeError} for an interval that is not a positive number.
   * @example
   * ```ts
   * import { newEventLoop, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * loop.measureLag(true, 0.005);
   * await loop.runUntilComplete(() => sleep(0.05));
   * assert(loop.metrics().lag!.samples >= 2);
   * loop.measureLag(false);
   * assert.equal(loop.metrics().lag, null);
   * loop.close();
   * ```
   */
  override measureLag(on: boolean, interval = 0.01): void {
    if (!(typeof interval === "number" && interval > 0)) {
      throw new RangeError(
        `measureLag(): interval must be a positive number of seconds, got ${interval}`,
      );
    }
    this._lagProbe?.stop();
    this._lagProbe = on ? new LagProbe(this, interval) : null;
  }

  /** A description like `<EventLoop running=false closed=false debug=false>`. */
  override toString(): string {
    return `<${this.constructor.name} running=${this._running} closed=${this._closed} debug=${this._debug}>`;
  }
}

function settleExecutorFuture(
  registration: Registration,
  fut: Future<unknown>,
  ok: boolean,
  value: unknown,
): void {
  registration.post(copyOutcome, fut, ok, value);
  registration.end();
  registration.close();
}

function copyOutcome(fut: Future<unknown>, ok: boolean, value: unknown): void {
  if (fut.done()) return;
  if (ok) fut.setResult(value);
  else fut._setExceptionUnchecked(value);
}

function runHandle(handle: Handle): void {
  handle._run();
}

function noop(): void {}

/** The most lateness samples kept between resets (the oldest go first). */
const MAX_LAG_SAMPLES = 100_000;

/**
 * Measures loop lag, as Node's `monitorEventLoopDelay` does: a host timer
 * due every `interval` records how late it fired (how long the thread was
 * busy), and a callback it schedules on the loop records how long that
 * waited in the ready queue. The timer is not the loop's (no timer is
 * added to the loop's heap) and does not keep the process alive.
 */
class LagProbe {
  #loop: BaseEventLoop;
  #interval: number;
  #samples: number[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #due = 0;
  #soonAt = 0;

  constructor(loop: BaseEventLoop, interval: number) {
    this.#loop = loop;
    this.#interval = interval;
    this.#arm();
  }

  #arm(): void {
    this.#due = realClock() + this.#interval;
    this.#timer = setTimeout(this.#fired, this.#interval * 1000);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  readonly #fired = (): void => {
    const loop = this.#loop;
    if (loop.isClosed()) {
      this.#timer = null;
      return;
    }
    if (loop.isRunning()) {
      const now = realClock();
      this.#record(Math.max(0, now - this.#due));
      this.#soonAt = now;
      loop.callSoon(this.#ran);
    }
    this.#arm();
  };

  readonly #ran = (): void => {
    this.#record(Math.max(0, realClock() - this.#soonAt));
  };

  #record(lateness: number): void {
    if (this.#samples.length >= MAX_LAG_SAMPLES) this.#samples.shift();
    this.#samples.push(lateness);
  }

  stats(): LagStats | null {
    const n = this.#samples.length;
    if (n === 0) return null;
    const sorted = Float64Array.from(this.#samples).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))];
    return {
      samples: n,
      min: sorted[0],
      mean: sum / n,
      p50: at(0.5),
      p99: at(0.99),
      max: sorted[n - 1],
    };
  }

  reset(): void {
    this.#samples = [];
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
