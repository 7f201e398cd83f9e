/**
 * The corners of asyncio's locks and queues that a method-by-method sweep of
 * CPython's lock and queue suites found unchecked by locks_test.ts,
 * queues_test.ts, sync_parity_test.ts and timeouts_parity_test.ts: awaiting a
 * primitive itself (instead of `acquire()`/`wait()`) takes nothing, and a
 * putter blocked at `maxsize` resumes in the iteration a timer makes room.
 * Every loop kind; exact times on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  Barrier,
  BoundedSemaphore,
  Condition,
  createTask,
  Event,
  Lock,
  Queue,
  Semaphore,
  sleep,
} from "../../mod.ts";
import { exact, inGuardedTask, loopTest, steps } from "../_util.ts";

loopTest(
  "Lock, Condition, Semaphore, BoundedSemaphore and Barrier awaited themselves take nothing and wait for nothing",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const cond = new Condition();
      const sem = new Semaphore();
      const bounded = new BoundedSemaphore();
      for (const primitive of [lock, cond, sem, bounded]) {
        await sleep(0.01);
        // Not a thenable: `await` hands the object back, acquiring nothing.
        assert.equal(await (primitive as unknown), primitive);
        assert.equal(primitive.locked(), false, String(primitive));
      }
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
      // The permits are all still there: each acquire() passes at once.
      for (const primitive of [lock, cond, sem, bounded]) {
        assert.equal(await primitive.acquire(), true);
        assert.equal(primitive.locked(), true);
        primitive.release();
      }
      const barrier = new Barrier(2);
      assert.equal(await (barrier as unknown), barrier);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
      assert.match(String(barrier), /filling/);
      // Nobody entered the barrier: two waits are still needed to trip it.
      const first = createTask(() => barrier.wait());
      await steps(1);
      assert.equal(barrier.nWaiting, 1);
      assert.equal(first.done(), false);
      assert.equal(await barrier.wait(), 1);
      assert.equal(await first, 0);
      // An Event awaited itself does not wait for set().
      const event = new Event();
      assert.equal(await (event as unknown), event);
      assert.equal(event.isSet(), false);
      if (exact(loop)) assert.equal(loop.time(), 0.04);
    });
  },
);

loopTest(
  "Queue.put() blocked at maxsize resumes in the iteration a timer's getNowait() makes room",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 1 });
      const started = new Event();
      let finished = false;
      const t0 = loop.time();
      let resumedAt = -1;
      const putter = createTask(async () => {
        started.set();
        await q.put(1); // room: no wait
        await q.put(2); // full: waits for the timer below
        resumedAt = loop.time();
        finished = true;
      });
      loop.callLater(0.01, () => assert.equal(q.getNowait(), 1));
      await started.wait();
      assert.equal(finished, false);
      assert.equal(q.full(), true);
      await putter;
      assert.equal(finished, true);
      assert.deepEqual([q.qsize(), q.getNowait()], [1, 2]);
      assert.ok(resumedAt - t0 >= 0.01 - 1e-9, `${resumedAt - t0}`);
      if (exact(loop)) assert.equal(resumedAt, 0.01);
    });
  },
);
