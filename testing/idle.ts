/**
 * Test helpers that wait for the loop to be idle: `waitAllTasksBlocked()`
 * (after trio's `wait_all_tasks_blocked`) and `runUntilIdle()`. Neither
 * moves the clock: on the virtual clock they return before the next timer.
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import type { BaseEventLoop } from "../loop/core/base_loop.ts";
import type { Future } from "../loop/core/futures.ts";
import { getRunningLoop } from "../loop/core/running.ts";

/** Whether a timer is due now (it would run on the next iteration). */
function timerDue(loop: BaseEventLoop): boolean {
  return loop._scheduled.size !== 0 &&
    loop._scheduled.peekWhen() <= loop.time() + loop._clockResolution;
}

/**
 * Resolves once every other task is waiting (on a future, a lock, a
 * queue, a socket, a timer not yet due, or a promise from outside the loop)
 * and nothing is ready to run: a watcher callback, which looks again each
 * iteration, was the only callback of an iteration that scheduled nothing,
 * with no I/O event queued and no timer due. Several tasks may wait at
 * once; they are released together. It never moves the clock. Mirrors
 * trio's `wait_all_tasks_blocked()`.
 *
 * @throws {RuntimeError} when no loop is running.
 * @example Checking that a consumer is parked on an empty queue
 * ```ts
 * import { createTask, Queue, run } from "@aio/loop";
 * import { waitAllTasksBlocked } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const queue = new Queue<number>();
 *   const seen: number[] = [];
 *   const consumer = createTask(async () => {
 *     for (;;) seen.push(await queue.get());
 *   });
 *   queue.putNowait(1);
 *   queue.putNowait(2);
 *   await waitAllTasksBlocked();
 *   assert.deepEqual(seen, [1, 2]); // it took both and waits for more
 *   consumer.cancel();
 * });
 * ```
 */
export async function waitAllTasksBlocked(): Promise<void> {
  const loop = getRunningLoop() as BaseEventLoop;
  let idle = watchers.get(loop);
  if (idle === undefined) {
    // One watcher per loop, whoever asks: a callback that looks again each
    // iteration until it was the only one, then releases every waiter.
    const fut = loop.createFuture<null>();
    idle = fut;
    watchers.set(loop, fut);
    const check = (): void => {
      if (
        loop._batchLength === 1 && loop._ready.length === 0 &&
        !loop._dispatcher.hasEvents && !timerDue(loop)
      ) {
        watchers.delete(loop);
        fut.setResult(null);
      } else loop.callSoon(check);
    };
    loop.callSoon(check);
  }
  await idle;
}

/** The idle watcher of each loop, while some task waits for idleness. */
const watchers = new WeakMap<BaseEventLoop, Future<null>>();

/**
 * Runs `loop` (which must not be running) until it is idle, as
 * `waitAllTasksBlocked()` defines it, without moving its clock: what is
 * ready runs, and so does what that schedules, but no timer that is not
 * yet due.
 *
 * @example
 * ```ts
 * import { VirtualTimeEventLoop, runUntilIdle } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * const loop = new VirtualTimeEventLoop();
 * const seen: string[] = [];
 * loop.callSoon(() => {
 *   seen.push("soon");
 *   loop.callSoon(() => seen.push("then"));
 * });
 * loop.callLater(10, () => seen.push("later"));
 * await runUntilIdle(loop);
 * assert.deepEqual(seen, ["soon", "then"]);
 * assert.equal(loop.time(), 0); // the clock did not move
 * loop.close();
 * ```
 */
export async function runUntilIdle(loop: AbstractEventLoop): Promise<void> {
  await loop.runUntilComplete(waitAllTasksBlocked);
}
