/**
 * Per-thread loop state: the running loop, the task whose coroutine is
 * executing, and the hook through which the policy layer supplies
 * `getEventLoop()` to code below it.
 *
 * A Worker has its own module instances, hence its own state, as a Python
 * thread has its own running loop.
 *
 * @module
 */
import { RuntimeError } from "../base/exceptions.ts";
import type { AbstractEventLoop } from "./abstract_loop.ts";
import { taskInContext } from "../base/context.ts";
import type { Task } from "./tasks.ts";

/** Mutable module state (package-internal). */
export const state: {
  runningLoop: AbstractEventLoop | null;
  /** True while `runOnce` runs plain callbacks (no task is current then). */
  inCallback: boolean;
  /**
   * The task a callback just resumed, until it suspends again: the loop
   * pauses its batch while this is set (see `BaseEventLoop._runBatch`).
   */
  stepping: Task<unknown> | null;
  /**
   * Set while the running loop's batch is paused on `stepping`: runs the
   * rest of the batch. The step's suspension calls it (see `stepSuspended`).
   */
  batchResume: (() => void) | null;
  eventLoopFallback: (() => AbstractEventLoop) | null;
} = {
  runningLoop: null,
  inCallback: false,
  stepping: null,
  batchResume: null,
  eventLoopFallback: null,
};

/**
 * `task`'s step suspended on the loop (it awaits a loop future, yields, or
 * its coroutine ended): if the running loop's batch was paused on that step,
 * the batch goes on now (package-internal).
 */
export function stepSuspended(task: Task<unknown>): void {
  if (state.stepping !== task) return;
  state.stepping = null;
  if (task._foreignSteps > 0) task._foreignSteps--;
  const resume = state.batchResume;
  if (resume !== null) resume();
}

/** The task named by the current async context (package-internal). */
export const contextTask = taskInContext as () => Task<unknown> | undefined;

/**
 * Returns the running event loop. Mirrors `asyncio.get_running_loop()`.
 *
 * @throws {RuntimeError} when no loop is running.
 * @example
 * ```ts
 * import { getRunningLoop, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   assert(getRunningLoop().isRunning());
 * });
 * ```
 */
export function getRunningLoop(): AbstractEventLoop {
  const loop = state.runningLoop;
  if (loop === null) {
    throw noRunningLoop(
      "no running event loop: call this from a coroutine or a callback run by a loop",
    );
  }
  return loop;
}

const NO_RUNNING_LOOP = Symbol("noRunningLoop");

/**
 * The `RuntimeError` of a call that needs a running loop and found none,
 * marked so that `run()` can tell a coroutine started before its loop
 * (package-internal).
 */
export function noRunningLoop(message: string): RuntimeError {
  const error = new RuntimeError(message);
  Object.defineProperty(error, NO_RUNNING_LOOP, { value: true });
  return error;
}

/** Whether `error` came from `noRunningLoop()` (package-internal). */
export function isNoRunningLoop(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    NO_RUNNING_LOOP in error;
}

/** The running loop or null (package-internal, mirrors `_get_running_loop`). */
export function _getRunningLoop(): AbstractEventLoop | null {
  return state.runningLoop;
}

/** The running loop, else the policy's current loop (package-internal). */
export function _getEventLoop(): AbstractEventLoop {
  const loop = state.runningLoop;
  if (loop !== null) return loop;
  if (state.eventLoopFallback === null) {
    throw new RuntimeError(
      "no running event loop and no event loop policy loaded: pass { loop } explicitly",
    );
  }
  return state.eventLoopFallback();
}
