/**
 * Further checks of `waitFor()`, `timeout()`/`timeoutAt()`, the async context
 * (`contextvars`) seen by the exception handler, and the corners of the locks
 * and queues that locks_test.ts, queues_test.ts, sync_parity_test.ts,
 * timeouts_test.ts and combinators_test.ts leave out, against asyncio's
 * documented behaviour (CPython 3.12/3.13). Every loop kind; exact times on
 * the virtual clock.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  Barrier,
  CancelledError,
  createTask,
  Queue,
  QueueEmpty,
  QueueShutDown,
  sleep,
  timeout,
  TimeoutError,
  waitFor,
} from "../../mod.ts";
import {
  assertCancelled,
  caught,
  exact,
  inGuardedTask,
  inTask,
  loopTest,
} from "../_util.ts";

// ---- waitFor -----------------------------------------------------------------

loopTest(
  "waitFor() of a coroutine that returns at once does not swallow a later cancel",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      let reachedEnd = false;
      const task = createTask(async () => {
        await waitFor(async () => {}, 100);
        await sleep(1);
        reachedEnd = true;
      });
      await sleep(0);
      assert.equal(task.done(), false);
      task.cancel();
      await assertCancelled(task);
      assert.equal(reachedEnd, false);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 waits for a slow cancellation; TimeoutError's cause is the CancelledError",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      let innerDone = false;
      const inner = createTask(async () => {
        try {
          await sleep(10);
        } catch (error) {
          await sleep(0.25); // the cancellation takes time
          throw error;
        } finally {
          innerDone = true;
        }
      });
      await sleep(0.5);
      const t0 = loop.time();
      const error = await caught(() => waitFor(inner, 0));
      assert.ok(error instanceof TimeoutError, String(error));
      assert.ok(error.cause instanceof CancelledError, "cause");
      assert.equal(innerDone, true);
      assert.equal(inner.cancelled(), true);
      if (exact(loop)) assert.equal(loop.time() - t0, 0.25);
    });
  },
);

loopTest(
  "waitFor() in a task cancelled before it starts leaves the awaited task alone",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      let cancels = 0;
      const inner = createTask(async () => {
        try {
          await sleep(0.3);
        } catch {
          cancels++;
          await sleep(0.3);
        }
        return 42;
      });
      const t0 = loop.time();
      const wait = createTask(() => waitFor(inner, 0.1));
      wait.cancel();
      await assertCancelled(wait);
      assert.equal(inner.done(), false);
      assert.equal(await inner, 42);
      assert.equal(cancels, 0);
      if (exact(loop)) assert.equal(loop.time() - t0, 0.3);
    });
  },
);

loopTest(
  "waitFor() of a future resolved by a timer before the deadline returns at that time",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const fut = loop.createFuture<string>();
      const t0 = loop.time();
      loop.callLater(0.1, () => fut.setResult("ok"));
      assert.equal(await waitFor(fut, 0.2), "ok");
      if (exact(loop)) assert.equal(loop.time() - t0, 0.1);
      // The deadline's timer went with the block: nothing fires at 0.2.
      await sleep(0.2);
      assert.equal(fut.result(), "ok");
    });
  },
);

// ---- timeout -----------------------------------------------------------------

loopTest(
  "timeout(0) and timeout(-11) have when() at the loop time they were made at, minus the delay",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      await sleep(0.5);
      for (const delay of [0, -11]) {
        const t0 = loop.time();
        const cm = timeout(delay);
        const error = await caught(() => cm.run(() => sleep(0)));
        const t1 = loop.time();
        assert.ok(error instanceof TimeoutError, String(error));
        assert.equal(cm.expired(), true);
        const when = cm.when()!;
        assert.ok(t0 + delay <= when && when <= t1 + delay, `when=${when}`);
        if (exact(loop)) assert.equal(when, 0.5 + delay);
      }
    });
  },
);

loopTest(
  "Timeout that the body leaves with its own error is not expired and keeps its deadline",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cm = timeout(0.01);
      const deadline = cm.when();
      const error = new RangeError("the body's own");
      assert.equal(
        await caught(() =>
          cm.run(() => {
            throw error;
          })
        ),
        error,
      );
      assert.equal(cm.expired(), false);
      assert.equal(cm.when(), deadline);
      assert.equal(String(cm), "<Timeout [finished]>");
      await sleep(0.02); // the deadline passes: nothing is cancelled
    });
  },
);

// ---- the async context of the exception handler --------------------------------

loopTest(
  "the exception handler reports a task's unretrieved error in the task's context",
  async ({ loop }) => {
    const name = new AsyncLocalStorage<string>();
    const seen: [string, string | undefined][] = [];
    loop.setExceptionHandler((_loop, context) =>
      seen.push([context.message, name.getStore()])
    );
    await inTask(loop, async () => {
      name.run("bar", () =>
        createTask(async () => {
          throw new RangeError("task failed");
        }));
      await sleep(0);
    });
    loop.close(); // reports the error nobody retrieved
    assert.deepEqual(seen, [["Task exception was never retrieved", "bar"]]);
  },
);

loopTest(
  "the exception handler sees the context a failing callback left, its own changes included",
  async ({ loop }) => {
    const name = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    loop.setExceptionHandler((_loop, context) => {
      seen.push(name.getStore());
      if (context.handle === undefined) throw new Error("no handle reported");
    });
    await inTask(loop, async () => {
      const done = loop.createFuture<null>();
      name.run("foo", () =>
        loop.callSoon(() => {
          name.enterWith("bar");
          done.setResult(null);
          throw new RangeError("callback failed");
        }));
      await done;
      await sleep(0);
    });
    assert.deepEqual(seen, ["bar"]);
  },
);

// ---- Barrier, Queue ------------------------------------------------------------

loopTest(
  "Barrier is draining for every party's block but the last to leave",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const draining: boolean[] = [];
      const parties = [1, 2, 3].map(() =>
        createTask(() =>
          barrier.run(() => {
            draining.push(String(barrier).includes("draining"));
          })
        )
      );
      for (const party of parties) await party;
      assert.deepEqual(draining, [true, true, false]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
      assert.equal(String(barrier), "<Barrier [filling, waiters:0/3]>");
    });
  },
);

loopTest(
  "Queue.shutdown() fails a waiting putter and keeps the items for gets",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 2 });
      q.putNowait("a");
      q.putNowait("b");
      const putter = createTask(() => q.put("c"));
      await sleep(0);
      assert.equal(putter.done(), false);
      q.shutdown();
      await assert.rejects(async () => await putter, QueueShutDown);
      assert.equal(q.qsize(), 2);
      assert.throws(() => q.putNowait("d"), QueueShutDown);
      assert.equal(q.getNowait(), "a");
      assert.equal(await q.get(), "b");
      assert.throws(() => q.getNowait(), QueueShutDown);
      assert.throws(
        () => q.getNowait(),
        (e) => !(e instanceof QueueEmpty),
      );
      await assert.rejects(q.get(), QueueShutDown);
    });
  },
);
