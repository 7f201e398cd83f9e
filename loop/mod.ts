/**
 * The loop core: handles, futures, tasks, the event loop classes, errors and
 * the running-loop functions. Mirrors asyncio's `events`, `base_events`,
 * `futures` and `tasks` modules.
 *
 * @example
 * ```ts
 * import { EventLoop } from "@aio/loop/loop";
 * const loop = new EventLoop();
 * console.assert((await loop.runUntilComplete(async () => 1)) === 1);
 * loop.close();
 * ```
 *
 * @module
 */
export {
  AbstractEventLoop,
  type Callback,
  type CreateTaskOptions,
  type ExceptionHandler,
  type TaskFactory,
} from "./abstract_loop.ts";
export { BaseEventLoop } from "./base_loop.ts";
export { Context } from "./context.ts";
export { EventLoop } from "./event_loop.ts";
export type { ExceptionContext } from "./exception_context.ts";
export {
  CancelledError,
  IncompleteReadError,
  InvalidStateError,
  LimitOverrunError,
  NotImplementedError,
  RuntimeError,
  SendfileNotAvailableError,
  TimeoutError,
} from "./exceptions.ts";
export type { Executor } from "./executor.ts";
export {
  type DoneCallback,
  type DoneCallbackOptions,
  Future,
  type FutureOptions,
  isFuture,
} from "./futures.ts";
export { Handle, TimerHandle } from "./handles.ts";
export { type Logger, logger } from "./log.ts";
export { getRunningLoop } from "./running.ts";
export {
  allTasks,
  type Coroutine,
  createTask,
  currentTask,
  ensureFuture,
  sleep,
  Task,
  type TaskOptions,
} from "./tasks.ts";
