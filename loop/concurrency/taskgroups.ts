/**
 * `TaskGroup`: structured concurrency, after CPython's
 * `Lib/asyncio/taskgroups.py` (3.13).
 *
 * Python writes `async with asyncio.TaskGroup() as tg: ...`. JavaScript has no
 * `async with` whose exit sees the body's exception (`await using` disposal
 * cannot observe, replace or suppress it), so the body is a callback:
 * `await new TaskGroup().run(async (tg) => { tg.createTask(...) })`. `run()` is
 * `__aenter__`, the body, and `__aexit__` with the body's outcome.
 *
 * The cancellation bookkeeping is CPython's, step for step: a failing child
 * cancels its siblings and the parent task once (remembering that it did), the
 * exit waits for every child even while being cancelled, and calls
 * `parent.uncancel()` for its own cancellation so that an outer timeout or an
 * outer `cancel()` is neither lost nor invented.
 *
 * @module
 */
import { labelWait } from "../core/wait_labels.ts";
import type { Context } from "../base/context.ts";
import { ExceptionGroup } from "../base/exception_group.ts";
import {
  CancelledError,
  KeyboardInterrupt,
  RuntimeError,
} from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import { getRunningLoop } from "../core/running.ts";
import { type Coroutine, currentTask, type Task } from "../core/tasks.ts";

const inspect = Symbol.for("Deno.customInspect");

/**
 * Options of `TaskGroup.createTask()`.
 *
 * @example
 * ```ts
 * import { run, TaskGroup, type TaskGroupCreateTaskOptions } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const options: TaskGroupCreateTaskOptions = { name: "worker" };
 * const name = await run(() =>
 *   new TaskGroup().run((tg) => tg.createTask(async () => {}, options).getName())
 * );
 * assert.equal(name, "worker");
 * ```
 */
export interface TaskGroupCreateTaskOptions {
  /** The task's name (default: `Task-<n>`). */
  name?: string | null;
  /** The async context to run the coroutine in (default: the current one). */
  context?: Context | null;
}

/**
 * A group of tasks whose lifetime is a block: `run(body)` returns only when
 * the body and every task created in the group are done. Mirrors
 * `asyncio.TaskGroup`.
 *
 * If a task of the group fails (with anything but `CancelledError`), the
 * other tasks and the body are cancelled, and once everything has finished
 * `run()` rejects with an `ExceptionGroup` of every error (the body's own
 * error included). A cancellation of the task running `run()` cancels the
 * group's tasks too and then propagates as `CancelledError`. A
 * `KeyboardInterrupt` (the body's or a task's) is not grouped: once every
 * task has finished, `run()` rejects with it alone, and the tasks' other
 * errors go to the loop's exception handler.
 *
 * The block is a callback, `await new TaskGroup().run(async (tg) => ...)`,
 * because JavaScript's `await using` cannot see or replace the error the
 * block throws. `run()` resolves with the body's result. A TaskGroup runs one
 * block, once.
 *
 * @example Running tasks side by side
 * ```ts
 * import { run, sleep, TaskGroup } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const results = await run(async () => {
 *   return await new TaskGroup().run((tg) => {
 *     const a = tg.createTask(() => sleep(0.02, "a"));
 *     const b = tg.createTask(() => sleep(0.01, "b"));
 *     return [a, b];
 *   });
 * });
 * assert.deepEqual(results.map((t) => t.result()), ["a", "b"]);
 * ```
 */
export class TaskGroup {
  #entered = false;
  #exiting = false;
  #aborting = false;
  #loop: AbstractEventLoop | null = null;
  #parentTask: Task<unknown> | null = null;
  #parentCancelRequested = false;
  #tasks = new Set<Task<unknown>>();
  #errors: unknown[] = [];
  /** The first `KeyboardInterrupt` of the body or a task (`_base_error`). */
  #baseError: { error: unknown } | null = null;
  #onCompletedFut: Future<boolean> | null = null;

  /**
   * Runs `body` with this group (asyncio's `async with tg:`), then waits
   * for every task of the group; resolves with the body's result. Must be
   * called from a task, once.
   *
   * @param body Called with this TaskGroup; may be async.
   * @returns A promise of the body's result.
   * @throws {ExceptionGroup} (rejects) with every error of the tasks and the
   * body, if any failed.
   * @throws {KeyboardInterrupt} (rejects) as itself, if the body or a task
   * raised one.
   * @throws {CancelledError} (rejects) if the task running the group was
   * cancelled from outside and no task failed.
   * @throws {RuntimeError} (rejects) outside a task, or if the group was
   * already used.
   * @throws {TypeError} (rejects) if `body` is not a function.
   * @example
   * ```ts
   * import { run, TaskGroup } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const sum = await run(() =>
   *   new TaskGroup().run(async (tg) => {
   *     const parts = [1, 2, 3].map((n) => tg.createTask(async () => n * 10));
   *     let total = 0;
   *     for (const part of parts) total += await part;
   *     return total;
   *   })
   * );
   * assert.equal(sum, 60);
   * ```
   */
  async run<T>(body: (group: TaskGroup) => T | PromiseLike<T>): Promise<T> {
    if (typeof body !== "function") {
      throw new TypeError(
        `TaskGroup.run() expects a function (the block to run), got ${typeof body}`,
      );
    }
    this.#enter();
    let result: T | undefined;
    let failed = false;
    let error: unknown;
    try {
      result = await body(this);
    } catch (e) {
      failed = true;
      error = e;
    }
    try {
      await this.#exit(failed, error);
    } finally {
      // As CPython, drop what the group no longer needs (errors hold stacks).
      this.#parentTask = null;
      this.#errors = [];
      this.#baseError = null;
    }
    // #exit returned: the body's error (a cancellation of ours) is
    // suppressed, as `__aexit__` returning True does.
    return result as T;
  }

  /** asyncio's `__aenter__`. */
  #enter(): void {
    if (this.#entered) {
      throw new RuntimeError(`TaskGroup ${this} has already been entered`);
    }
    if (this.#loop === null) this.#loop = getRunningLoop();
    const parent = currentTask(this.#loop);
    if (parent === null) {
      throw new RuntimeError(
        `TaskGroup ${this} cannot determine the parent task`,
      );
    }
    this.#parentTask = parent;
    this.#entered = true;
  }

  /** asyncio's `__aexit__`: returns to suppress the body's error. */
  async #exit(failed: boolean, error: unknown): Promise<void> {
    this.#exiting = true;
    if (failed && isBaseError(error) && this.#baseError === null) {
      this.#baseError = { error };
    }
    const bodyCancelled = failed && error instanceof CancelledError;
    let propagateCancellation: unknown = bodyCancelled ? error : null;
    if (failed && !this.#aborting) {
      // The body failed or its task is being cancelled: stop the children.
      this.#abort();
    }
    // A loop, because the wait can be cancelled several times (the parent
    // cancelled repeatedly, or once while our own abort is under way).
    while (this.#tasks.size > 0) {
      if (this.#onCompletedFut === null) {
        this.#onCompletedFut = labelWait(
          this.#loop!.createFuture<boolean>(),
          () => `TaskGroup (${this.#tasks.size} tasks)`,
          () => this.#tasks,
        );
      }
      try {
        await this.#onCompletedFut;
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
        if (!this.#aborting) {
          // The parent task is cancelled from outside while children run.
          propagateCancellation = e;
          this.#abort();
        }
      }
      this.#onCompletedFut = null;
    }

    const parent = this.#parentTask!;
    if (this.#baseError !== null) {
      // A KeyboardInterrupt propagates as itself, never in a group. Unlike
      // CPython (where it stops the loop anyway), take back our own cancel
      // first: here a caller may catch it and go on in the same task.
      const { error: baseError } = this.#baseError;
      if (this.#parentCancelRequested) parent.uncancel();
      // The other errors of the tasks would vanish: report them.
      for (const suppressed of this.#errors) {
        if (suppressed === baseError) continue;
        this.#loop!.callExceptionHandler({
          message: "TaskGroup task exception was not propagated because " +
            "the TaskGroup body is being closed with a KeyboardInterrupt",
          exception: suppressed,
          taskGroup: this,
        });
      }
      throw baseError;
    }
    if (this.#parentCancelRequested) {
      // We cancelled the parent: take that back. Only when no other
      // cancellation is pending is the CancelledError ours to swallow.
      if (parent.uncancel() === 0) propagateCancellation = null;
    }
    // Errors take priority over a cancellation.
    if (propagateCancellation !== null && this.#errors.length === 0) {
      throw propagateCancellation;
    }
    if (failed && !bodyCancelled) this.#errors.push(error);
    if (this.#errors.length > 0) {
      // Cancelled from outside as well: un-cancel and re-cancel, which keeps
      // the count and delivers the cancellation at the parent's next await.
      if (parent.cancelling() > 0) {
        parent.uncancel();
        parent.cancel();
      }
      throw new ExceptionGroup(
        "unhandled errors in a TaskGroup",
        this.#errors,
      );
    }
  }

  /**
   * Creates a task in this group and returns it (as `createTask()`). Mirrors
   * `TaskGroup.create_task()`; like it, allowed from the body, from the
   * group's tasks, and while `run()` waits for them, but not once the group
   * has finished or is shutting down after a failure.
   *
   * @param coro A zero-argument async function (preferred) or a promise.
   * @param options `name`, `context`.
   * @throws {RuntimeError} if the group has not started, has finished, or is
   * shutting down.
   * @throws {TypeError} if `coro` is not a coroutine.
   * @example
   * ```ts
   * import { run, TaskGroup } from "@aio/loop";
   * import assert from "node:assert/strict";
   * await run(() =>
   *   new TaskGroup().run((tg) => {
   *     const task = tg.createTask(async () => 1, { name: "one" });
   *     assert.equal(task.getName(), "one");
   *   })
   * );
   * ```
   */
  createTask<T>(
    coro: Coroutine<T>,
    options?: TaskGroupCreateTaskOptions,
  ): Task<T> {
    if (!this.#entered) {
      throw new RuntimeError(`TaskGroup ${this} has not been entered`);
    }
    if (this.#exiting && this.#tasks.size === 0) {
      throw new RuntimeError(`TaskGroup ${this} is finished`);
    }
    if (this.#aborting) {
      throw new RuntimeError(`TaskGroup ${this} is shutting down`);
    }
    const task = this.#loop!.createTask(coro, {
      name: options?.name,
      context: options?.context,
    });
    this.#tasks.add(task as Task<unknown>);
    task.addDoneCallback(this.#onTaskDone as (t: Future<T>) => void);
    return task;
  }

  #abort(): void {
    this.#aborting = true;
    for (const task of this.#tasks) {
      if (!task.done()) task.cancel();
    }
  }

  readonly #onTaskDone = (task: Task<unknown>): void => {
    this.#tasks.delete(task);
    const waiter = this.#onCompletedFut;
    if (waiter !== null && this.#tasks.size === 0 && !waiter.done()) {
      waiter.setResult(true);
    }
    if (task.cancelled()) return;
    task.exception(); // marks the error retrieved: the group reports it
    // `_failed`, not exception(): a task may have thrown null or undefined.
    if (!task._failed) return;
    const error = task._exception;
    this.#errors.push(error);
    if (isBaseError(error) && this.#baseError === null) {
      this.#baseError = { error };
    }
    const parent = this.#parentTask;
    if (parent === null || parent.done()) {
      // Should not happen (the parent waits for its children), but a child
      // error must never vanish silently.
      this.#loop!.callExceptionHandler({
        message: `Task ${task} has errored out but its parent task ${
          parent ?? "<finished>"
        } is already completed`,
        exception: error,
        task,
      });
      return;
    }
    if (!this.#aborting && !this.#parentCancelRequested) {
      // Cancel the parent once so that whatever the body awaits now is
      // interrupted; the exit takes that cancellation back (uncancel).
      this.#abort();
      this.#parentCancelRequested = true;
      parent.cancel();
    }
  };

  /** A description like `<TaskGroup tasks=2 entered>` (asyncio's repr). */
  toString(): string {
    const info = [""];
    if (this.#tasks.size > 0) info.push(`tasks=${this.#tasks.size}`);
    if (this.#errors.length > 0) info.push(`errors=${this.#errors.length}`);
    if (this.#aborting) info.push("cancelling");
    else if (this.#entered) info.push("entered");
    return `<TaskGroup${info.join(" ")}>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/**
 * Whether `error` ends the group as itself rather than in an
 * `ExceptionGroup`: asyncio's `_is_base_error` (`KeyboardInterrupt`,
 * `SystemExit`; JavaScript has only the former).
 */
function isBaseError(error: unknown): boolean {
  return error instanceof KeyboardInterrupt;
}
