/**
 * `AbstractEventLoop`: the interface every loop of this package implements.
 *
 * As in asyncio, every method of the base class raises `NotImplementedError`;
 * `BaseEventLoop` implements scheduling, running and error handling, and the
 * concrete `EventLoop` adds Deno I/O.
 *
 * @module
 */
import { NotImplementedError } from "./exceptions.ts";
import type { Context, Frame } from "./context.ts";
import type { ExceptionContext } from "./exception_context.ts";
import type { Executor } from "./executor.ts";
import type { Future } from "./futures.ts";
import type { Handle, TimerHandle } from "./handles.ts";
import type { Coroutine, Task } from "./tasks.ts";

/** A loop exception handler: `(loop, context) => void`. */
export type ExceptionHandler = (
  loop: AbstractEventLoop,
  context: ExceptionContext,
) => void;

/** A task factory: `(loop, coro, { context }) => Future`. */
export type TaskFactory = <T>(
  loop: AbstractEventLoop,
  coro: Coroutine<T>,
  options?: { context?: Context | null },
) => Future<T>;

/** Options of `createTask`. */
export interface CreateTaskOptions {
  /** The task's name. */
  name?: string | null;
  /** The async context to run the coroutine in. */
  context?: Context | null;
}

/** A callback scheduled on a loop: any function; its result is ignored. */
// deno-lint-ignore no-explicit-any
export type Callback = (...args: any[]) => unknown;

function notImplemented(name: string): never {
  throw new NotImplementedError(
    `${name}() is not implemented by this event loop class`,
  );
}

/**
 * The abstract event loop. Mirrors `asyncio.AbstractEventLoop`: subclass it
 * to write a loop of your own; use `EventLoop` (or `newEventLoop()`) to get
 * a working one.
 *
 * @example Checking that an object is a loop
 * ```ts
 * import { AbstractEventLoop, newEventLoop } from "@aio/loop";
 * const loop = newEventLoop();
 * console.assert(loop instanceof AbstractEventLoop);
 * loop.close();
 * ```
 */
export class AbstractEventLoop {
  /**
   * Callbacks that take longer than this (seconds) are logged in debug mode.
   * Mirrors `loop.slow_callback_duration`.
   */
  slowCallbackDuration = 0.1;

  /** Runs until `stop()` is called. Mirrors `loop.run_forever()`. */
  runForever(): Promise<void> {
    return notImplemented("runForever");
  }

  /** Runs until `future` is done; resolves with its result. */
  runUntilComplete<T>(_future: Future<T> | Coroutine<T>): Promise<T> {
    return notImplemented("runUntilComplete");
  }

  /** Stops the loop after the current batch of callbacks. */
  stop(): void {
    notImplemented("stop");
  }

  /** Whether the loop is running. */
  isRunning(): boolean {
    return notImplemented("isRunning");
  }

  /** Whether the loop was closed. */
  isClosed(): boolean {
    return notImplemented("isClosed");
  }

  /** Closes the loop. */
  close(): void {
    notImplemented("close");
  }

  /** Closes the loop at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes all open asynchronous generators. */
  shutdownAsyncgens(): Promise<void> {
    return notImplemented("shutdownAsyncgens");
  }

  /** Shuts down the default executor. */
  shutdownDefaultExecutor(_timeout?: number | null): Promise<void> {
    return notImplemented("shutdownDefaultExecutor");
  }

  /** Schedules `callback(...args)` for the next iteration. */
  callSoon(_callback: Callback, ..._args: unknown[]): Handle {
    return notImplemented("callSoon");
  }

  /** `callSoon` for use from outside the loop's callbacks and tasks. */
  callSoonThreadsafe(_callback: Callback, ..._args: unknown[]): Handle {
    return notImplemented("callSoonThreadsafe");
  }

  /** Schedules `callback(...args)` after `delay` seconds. */
  callLater(
    _delay: number,
    _callback: Callback,
    ..._args: unknown[]
  ): TimerHandle {
    return notImplemented("callLater");
  }

  /** Schedules `callback(...args)` at loop time `when`. */
  callAt(_when: number, _callback: Callback, ..._args: unknown[]): TimerHandle {
    return notImplemented("callAt");
  }

  /** The loop's monotonic time, in seconds. */
  time(): number {
    return notImplemented("time");
  }

  /** Creates a future bound to this loop. */
  createFuture<T = unknown>(): Future<T> {
    return notImplemented("createFuture");
  }

  /** Schedules a coroutine as a task. */
  createTask<T>(
    _coro: Coroutine<T>,
    _options?: CreateTaskOptions,
  ): Task<T> {
    return notImplemented("createTask");
  }

  /** Sets the task factory (null restores the default). */
  setTaskFactory(_factory: TaskFactory | null): void {
    notImplemented("setTaskFactory");
  }

  /** The task factory, or null for the default. */
  getTaskFactory(): TaskFactory | null {
    return notImplemented("getTaskFactory");
  }

  /** Sets the exception handler (null restores the default). */
  setExceptionHandler(_handler: ExceptionHandler | null): void {
    notImplemented("setExceptionHandler");
  }

  /** The exception handler, or null for the default. */
  getExceptionHandler(): ExceptionHandler | null {
    return notImplemented("getExceptionHandler");
  }

  /** The default exception handler: logs the context. */
  defaultExceptionHandler(_context: ExceptionContext): void {
    notImplemented("defaultExceptionHandler");
  }

  /** Calls the current exception handler with `context`. */
  callExceptionHandler(_context: ExceptionContext): void {
    notImplemented("callExceptionHandler");
  }

  /** Whether debug mode is on. */
  getDebug(): boolean {
    return notImplemented("getDebug");
  }

  /** Turns debug mode on or off. */
  setDebug(_enabled: boolean): void {
    notImplemented("setDebug");
  }

  /** Runs `func(...args)` in an executor; a future of its result. */
  runInExecutor<T>(
    _executor: Executor | null,
    _func: (...args: never[]) => T | PromiseLike<T>,
    ..._args: unknown[]
  ): Future<Awaited<T>> {
    return notImplemented("runInExecutor");
  }

  /** Sets the executor `runInExecutor(null, ...)` uses. */
  setDefaultExecutor(_executor: Executor): void {
    notImplemented("setDefaultExecutor");
  }

  /** @internal Schedules a callback in a given frame (no validation). */
  _callSoonFrame(_callback: Callback, _args: unknown[], _frame: Frame): void {
    notImplemented("_callSoonFrame");
  }

  /** @internal Appends an already-built handle to the ready queue. */
  _pushHandle(_handle: Handle): void {
    notImplemented("_pushHandle");
  }

  /** @internal Holds a strong reference to a live task. */
  _registerTask(_task: Task<unknown>): void {
    notImplemented("_registerTask");
  }

  /** @internal Drops the reference to a finished task. */
  _unregisterTask(_task: Task<unknown>): void {
    notImplemented("_unregisterTask");
  }

  /** @internal The live tasks. */
  _allTasks(): Iterable<Task<unknown>> {
    return notImplemented("_allTasks");
  }

  /** @internal Bookkeeping for a cancelled timer. */
  _timerHandleCancelled(_handle: TimerHandle): void {
    notImplemented("_timerHandleCancelled");
  }
}
