/**
 * Further checks of the task functions (`gather`, `shield`, `wait`,
 * `asCompleted`, `sleep`, `ensureFuture`, `currentTask`, `allTasks`) against
 * asyncio's documented behaviour, covering what combinators_test.ts and
 * tasks_test.ts leave out. Every loop kind; exact times on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  allTasks,
  asCompleted,
  CancelledError,
  createTask,
  currentTask,
  ensureFuture,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  gather,
  shield,
  sleep,
  Task,
  TimeoutError,
  wait,
} from "../../mod.ts";
import { inTask, loopTest } from "../_util.ts";

/** Lets the loop run `n` iterations. */
async function iterations(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await sleep(0);
}

// ---- gather ------------------------------------------------------------------

loopTest(
  "gather() of gathers resolves with the nested results in argument order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const first = gather(() => sleep(0.02, 1), () => sleep(0.01, 2));
      const second = gather(() => sleep(0.01, "x"));
      const outer = gather(first, second, () => sleep(0, true));
      assert.deepEqual(await outer, [[1, 2], ["x"], true]);
    });
  },
);

loopTest(
  "gather() of gathers: cancelling the outer one cancels every grandchild",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = createTask(() => sleep(10, "a"));
      const b = createTask(() => sleep(10, "b"));
      const c = loop.createFuture<string>();
      const first = gather(a, b);
      const second = gather(c);
      const outer = gather(first, second);
      await iterations(1);
      assert.equal(outer.cancel("stop"), true);
      assert.equal(c.cancelled(), true);
      await assert.rejects(async () => await outer, CancelledError);
      await assert.rejects(async () => await first, CancelledError);
      await assert.rejects(async () => await second, CancelledError);
      assert.equal(a.cancelled(), true);
      assert.equal(b.cancelled(), true);
    });
  },
);

loopTest(
  "gather() of gathers: an inner failure fails the outer and cancels nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const c = loop.createFuture<number>();
      const first = gather(a, b);
      const outer = gather(first, c);
      const error = new RangeError("a failed");
      a.setException(error);
      await iterations(2);
      assert.equal(first.done(), true);
      assert.equal(outer.done(), true);
      assert.equal(outer.exception(), error);
      assert.equal(b.done(), false, "a sibling is not cancelled");
      assert.equal(c.done(), false, "a cousin is not cancelled");
      b.setResult(2);
      c.setResult(3);
      await iterations(2);
      assert.equal(outer.exception(), error);
    });
  },
);

loopTest(
  "gather() of one promise given twice wraps it in one task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const promise = (async () => {
        await sleep(0.01);
        return "p";
      })();
      const before = allTasks().size;
      const outer = gather(promise, promise);
      assert.equal(allTasks().size, before + 1);
      assert.deepEqual(await outer, ["p", "p"]);
    });
  },
);

loopTest(
  "gather().cancel() fails the gather even if its child swallows the cancel",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const returnExceptions of [false, true]) {
        const stubborn = createTask(async () => {
          try {
            await sleep(10);
          } catch {
            return "kept";
          }
          return "slept";
        });
        await iterations(1);
        const outer = gather(stubborn, { returnExceptions });
        assert.equal(outer.cancel(), true);
        await assert.rejects(
          async () => await outer,
          CancelledError,
          `returnExceptions: ${returnExceptions}`,
        );
        assert.equal(stubborn.cancelled(), false);
        assert.equal(stubborn.result(), "kept");
      }
    });
  },
);

loopTest(
  "gather(returnExceptions) with a child cancelled on its own is not cancelled",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cancelledChild = createTask(() => sleep(10, 0));
      const fine = createTask(() => sleep(0.01, 1));
      const outer = gather(cancelledChild, fine, { returnExceptions: true });
      await iterations(1);
      cancelledChild.cancel("by itself");
      const results = await outer;
      assert.equal(outer.cancelled(), false);
      assert.ok(results[0] instanceof CancelledError);
      assert.equal(results[1], 1);
    });
  },
);

// ---- shield ------------------------------------------------------------------

loopTest(
  "shield() of a future already failed or cancelled returns that future",
  ({ loop }) => {
    const failed = loop.createFuture<number>();
    const error = new RangeError("done badly");
    failed.setException(error);
    assert.equal(shield(failed), failed);
    assert.equal(failed.exception(), error);
    const cancelled = loop.createFuture<number>();
    cancelled.cancel();
    assert.equal(shield(cancelled), cancelled);
  },
);

loopTest(
  "shield() of a coroutine that fails rejects with the same error",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const error = new TypeError("inside");
      const outer = shield(async () => {
        await sleep(0);
        throw error;
      });
      await assert.rejects(async () => await outer, (e) => e === error);
    });
  },
);

loopTest(
  "shield(): the outer cancelled while a wrapped coroutine goes on to finish",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let finished = false;
      const outer = shield(async () => {
        await sleep(0.01);
        finished = true;
        return "done";
      });
      await iterations(1);
      assert.equal(outer.cancel(), true);
      await assert.rejects(async () => await outer, CancelledError);
      assert.equal(finished, false);
      await sleep(0.02);
      assert.equal(finished, true, "the inner task was not cancelled");
      assert.equal(outer.cancelled(), true);
    });
  },
);

// ---- wait --------------------------------------------------------------------

loopTest(
  "wait(FIRST_COMPLETED) with a timeout that passes first returns nothing done",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(1, "a"));
      const b = loop.createFuture<string>();
      const [done, pending] = await wait([a, b], {
        returnWhen: FIRST_COMPLETED,
        timeout: 0.5,
      });
      assert.equal(done.size, 0);
      assert.deepEqual(pending, new Set([a, b]));
      assert.equal(loop.time() - t0, 0.5);
      assert.equal(a.cancelled(), false);
      assert.equal(b.cancelled(), false);
      assert.equal(await a, "a");
      b.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_EXCEPTION) with a timeout that passes first cancels nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const ok = createTask(() => sleep(0.1, "ok"));
      const failing = createTask(async () => {
        await sleep(1);
        throw new RangeError("late");
      });
      const [done, pending] = await wait([ok, failing], {
        returnWhen: FIRST_EXCEPTION,
        timeout: 0.5,
      });
      assert.deepEqual(done, new Set([ok]));
      assert.deepEqual(pending, new Set([failing]));
      await assert.rejects(async () => await failing, RangeError);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_COMPLETED) counts a cancelled future as completed",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      loop.callSoon(() => a.cancel());
      const [done, pending] = await wait([a, b], {
        returnWhen: FIRST_COMPLETED,
      });
      assert.deepEqual(done, new Set([a]));
      assert.deepEqual(pending, new Set([b]));
      b.cancel();
    });
  },
);

loopTest(
  "wait() refuses returnWhen values other than the three constants",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const fut = loop.createFuture<number>();
      // null is asyncio's None, no valid value; only a left-out (undefined)
      // returnWhen is the default.
      for (const bad of ["first_completed", "ANY", 0, 1, true, null]) {
        await assert.rejects(
          wait([fut], { returnWhen: bad as never }),
          RangeError,
          String(bad),
        );
      }
      assert.equal(String(fut), "<Future pending>", "nothing was attached");
      fut.setResult(1);
      const [done] = await wait([fut], { returnWhen: undefined });
      assert.deepEqual([...done], [fut]);
    });
  },
);

// ---- asCompleted ---------------------------------------------------------------

loopTest(
  "asCompleted() with a timeout rejects every remaining wait and cancels nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const quick = createTask(() => sleep(0.1, "quick"));
      const slow = createTask(() => sleep(1, "slow"));
      const never = loop.createFuture<string>();
      const outcomes: unknown[] = [];
      for (const next of asCompleted([slow, never, quick], { timeout: 0.5 })) {
        try {
          outcomes.push(await next);
        } catch (e) {
          outcomes.push(e);
        }
      }
      assert.equal(outcomes.length, 3);
      assert.equal(outcomes[0], "quick");
      assert.ok(outcomes[1] instanceof TimeoutError);
      assert.ok(outcomes[2] instanceof TimeoutError);
      assert.equal(loop.time() - t0, 0.5);
      assert.equal(slow.cancelled(), false);
      assert.equal(never.cancelled(), false);
      assert.equal(await slow, "slow", "finishing late changes nothing");
      never.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "asCompleted() with for await throws TimeoutError after the results in time",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const slow = createTask(() => sleep(1, "slow"));
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (
          const value of asCompleted([slow, () => sleep(0.1, "quick")], {
            timeout: 0.5,
          })
        ) {
          seen.push(value);
        }
      }, TimeoutError);
      assert.deepEqual(seen, ["quick"]);
      assert.equal(slow.cancelled(), false);
      slow.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "asCompleted() yields a future already done before the pending ones",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const pending = loop.createFuture<string>();
      const done = loop.createFuture<string>();
      done.setResult("done");
      loop.callSoon(() => pending.setResult("later"));
      const values: string[] = [];
      function* inputs() {
        yield pending;
        yield done;
      }
      for (const next of asCompleted(inputs())) values.push(await next);
      assert.deepEqual(values, ["done", "later"]);
    });
  },
);

loopTest(
  "asCompleted() refuses a future of another loop before scheduling anything",
  async (fx) => {
    const other = fx.make();
    try {
      await inTask(fx.loop, async () => {
        let ran = false;
        const foreign = other.createFuture<number>();
        assert.throws(
          () =>
            asCompleted([async () => {
              ran = true;
              return 1;
            }, foreign]),
          RangeError,
        );
        await iterations(2);
        assert.equal(ran, false);
        foreign.cancel();
      });
    } finally {
      other.close();
    }
  },
);

// ---- sleep -------------------------------------------------------------------

loopTest(
  "sleep(0) and a negative sleep yield to the loop exactly once",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const delay of [0, -1, -Infinity]) {
        const order: string[] = [];
        loop.callSoon(() => {
          order.push("first");
          loop.callSoon(() => order.push("second"));
        });
        const t0 = loop.time();
        const value = await sleep(delay, delay);
        order.push("resumed");
        assert.equal(value, delay);
        assert.equal(loop.time(), t0, `delay ${delay}`);
        await iterations(1);
        assert.deepEqual(order, ["first", "resumed", "second"], `${delay}`);
      }
    });
  },
  { virtualOnly: true },
);

// ---- ensureFuture ------------------------------------------------------------

loopTest(
  "ensureFuture() wraps a thenable that is not a promise in a task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const fulfilling: PromiseLike<number> = {
        then(onFulfilled) {
          loop.callSoon(() => onFulfilled?.(5));
          return undefined as never;
        },
      };
      const task = ensureFuture(fulfilling);
      assert.ok(task instanceof Task);
      assert.equal(task.getLoop(), loop);
      assert.equal(await task, 5);

      const error = new RangeError("thenable failed");
      const rejecting: PromiseLike<number> = {
        then(_onFulfilled, onRejected) {
          loop.callSoon(() => onRejected?.(error));
          return undefined as never;
        },
      };
      const failed = ensureFuture(rejecting);
      await assert.rejects(async () => await failed, (e) => e === error);
    });
  },
);

loopTest(
  "ensureFuture() refuses a future of another loop given with { loop }, else returns it",
  async (fx) => {
    const other = fx.make();
    try {
      const foreign = other.createFuture<number>();
      await inTask(fx.loop, async () => {
        assert.throws(
          () => ensureFuture(foreign, { loop: fx.loop }),
          RangeError,
        );
        assert.equal(ensureFuture(foreign), foreign);
        assert.equal(ensureFuture(foreign, { loop: other }), foreign);
      });
      foreign.cancel();
    } finally {
      other.close();
    }
  },
);

// ---- currentTask / allTasks --------------------------------------------------

loopTest(
  "currentTask() and allTasks() are per loop; done tasks are left out",
  async (fx) => {
    const { loop } = fx;
    const other = fx.make();
    try {
      const elsewhere = other.createTask(() => sleep(10));
      const failed = loop.createTask(async () => {
        throw new RangeError("failed");
      });
      const cancelled = loop.createTask(() => sleep(10));
      cancelled.cancel();
      const finished = loop.createTask(async () => "ok");
      await inTask(loop, async () => {
        const main = currentTask();
        assert.ok(main !== null);
        assert.equal(currentTask(loop), main);
        assert.equal(currentTask(other), null);
        await iterations(2);
        assert.equal(
          failed.done() && cancelled.done() && finished.done(),
          true,
        );
        assert.deepEqual(allTasks(), new Set([main]));
        assert.deepEqual(allTasks(loop), new Set([main]));
        assert.deepEqual(allTasks(other), new Set([elsewhere]));
        let seen: unknown = undefined;
        const inner = createTask(async () => {
          assert.equal(currentTask(other), null);
          seen = currentTask();
        });
        await inner;
        assert.equal(seen, inner);
        assert.equal(allTasks().has(inner), false);
      });
      assert.ok(failed.exception() instanceof RangeError);
      assert.equal(allTasks(loop).size, 0);
      elsewhere.cancel();
      await assert.rejects(other.runUntilComplete(elsewhere), CancelledError);
      assert.equal(allTasks(other).size, 0);
    } finally {
      other.close();
    }
  },
);
