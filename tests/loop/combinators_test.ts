/**
 * Behaviour of `gather`, `shield`, `wait`, `waitFor` and `asCompleted`, after
 * CPython's Lib/test/test_asyncio/test_tasks.py and test_waitfor.py (3.12/
 * 3.13), on every loop kind (checks of exact times on the virtual clock only).
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  ALL_COMPLETED,
  asCompleted,
  CancelledError,
  createTask,
  currentTask,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  type Future,
  gather,
  RuntimeError,
  shield,
  sleep,
  type Task,
  TimeoutError,
  wait,
  waitFor,
} from "../../mod.ts";
import { gcUntil, inTask, loopTest, near } from "../_util.ts";

/** Lets the loop run `n` iterations. */
async function iterations(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await sleep(0);
}

// ---- gather ------------------------------------------------------------------

loopTest(
  "gather() resolves with the results in argument order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<string>();
      const c = loop.createFuture<boolean>();
      const outer = gather(a, b, c);
      c.setResult(true);
      b.setResult("b");
      await iterations(2);
      assert.equal(outer.done(), false);
      a.setResult(1);
      const results: [number, string, boolean] = await outer;
      assert.deepEqual(results, [1, "b", true]);
    });
  },
);

loopTest(
  "gather() wraps coroutines (lazy or promises) in tasks on the loop",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let started = false;
      const lazy = async () => {
        started = true;
        await sleep(0.02);
        return "lazy";
      };
      const outer = gather(lazy, sleep(0.01, 2));
      assert.equal(started, false, "the lazy form starts on the loop");
      const [x, y] = await outer;
      assert.equal(x, "lazy");
      assert.equal(y, 2);
      assert.equal(started, true);
    });
  },
);

loopTest(
  "gather() of futures already done is done at once",
  async ({ loop }) => {
    const a = loop.createFuture<number>();
    const b = loop.createFuture<number>();
    a.setResult(1);
    b.setResult(2);
    const outer = gather(a, b);
    assert.equal(outer.done(), true);
    assert.deepEqual(outer.result(), [1, 2]);
    const failed = loop.createFuture<number>();
    const error = new RangeError("done already");
    failed.setException(error);
    const outer2 = gather(a, failed);
    assert.equal(outer2.done(), true);
    assert.equal(outer2.exception(), error);
  },
);

loopTest(
  "gather() with no awaitables is a done future of []",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const outer = gather();
      assert.equal(outer.done(), true);
      assert.deepEqual(outer.result(), []);
      assert.equal(outer.getLoop(), loop);
      const withOptions = gather({ returnExceptions: true });
      assert.deepEqual(await withOptions, []);
    });
  },
);

loopTest(
  "gather() runs an awaitable given twice once and repeats its result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let runs = 0;
      const work = async () => {
        runs += 1;
        await sleep(0);
        return "same";
      };
      const fut = loop.createFuture<number>();
      fut.setResult(7);
      assert.deepEqual(await gather(work, work, fut, fut), [
        "same",
        "same",
        7,
        7,
      ]);
      assert.equal(runs, 1);
    });
  },
);

loopTest(
  "gather() fails with the first error and the others keep running",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(() =>
        loop.createFuture<number>()
      );
      const outer = gather(a, b, c, d, e);
      const seen: Future<unknown>[] = [];
      outer.addDoneCallback((f) => seen.push(f));
      const error = new RangeError("b failed");
      a.setResult(1);
      b.setException(error);
      await iterations(2);
      assert.equal(outer.done(), true);
      assert.deepEqual(seen, [outer]);
      assert.equal(outer.exception(), error);
      // The rest finish later without effect on the gather.
      c.setResult(3);
      d.cancel();
      e.setException(new TypeError("e"));
      await iterations(2);
      assert.equal(outer.exception(), error);
    });
  },
);

loopTest(
  "gather() marks later errors retrieved once it has failed",
  async (fx) => {
    const { loop } = fx;
    await inTask(loop, async () => {
      const a = loop.createFuture<void>();
      const b = loop.createFuture<void>();
      const inner = async (f: Future<void>) => {
        await f;
        throw new RangeError("should not be ignored");
      };
      const outer = loop.createTask(async () => {
        await gather(() => inner(a), () => inner(b));
      });
      await iterations(1);
      a.setResult();
      await iterations(2);
      b.setResult();
      await iterations(2);
      assert.ok(outer.exception() instanceof RangeError);
    });
    // The second child's error was never looked at by anyone but the
    // gather; it must not be reported as never retrieved.
    const reported = await gcUntil(() => fx.errors.length > 0, 10);
    assert.equal(
      reported,
      false,
      JSON.stringify(fx.errors.map((e) => e.message)),
    );
  },
);

loopTest(
  "gather({ returnExceptions: true }) puts errors in the results",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const c = loop.createFuture<number>();
      const d = loop.createFuture<number>();
      const outer = gather(a, b, c, d, { returnExceptions: true });
      const e1 = new RangeError("e1");
      const e2 = new TypeError("e2");
      a.setResult(3);
      b.setException(e1);
      c.setException(e2);
      d.cancel("stop");
      const results = await outer;
      assert.equal(results[0], 3);
      assert.equal(results[1], e1);
      assert.equal(results[2], e2);
      assert.ok(results[3] instanceof CancelledError);
      assert.equal((results[3] as CancelledError).message, "stop");
    });
  },
);

loopTest(
  "gather() of a child cancelled on its own fails with CancelledError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const outer = gather(a, b);
      a.setResult(1);
      b.cancel("b off");
      await iterations(2);
      assert.equal(outer.done(), true);
      assert.equal(outer.cancelled(), false, "the gather was not cancelled");
      const error = outer.exception();
      assert.ok(error instanceof CancelledError);
      assert.equal(error.message, "b off");
      await assert.rejects(async () => await outer, CancelledError);
    });
  },
);

loopTest(
  "gather().cancel() cancels the children and then fails the gather",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const returnExceptions of [false, true]) {
        const a = loop.createFuture<number>();
        const b = createTask(() => sleep(10, 2));
        const done = loop.createFuture<number>();
        done.setResult(0);
        const outer = gather(a, b, done, { returnExceptions });
        assert.equal(outer.cancel("enough"), true);
        assert.equal(a.cancelled(), true);
        await assert.rejects(
          async () => await outer,
          (e) => e instanceof CancelledError,
        );
        assert.equal(b.cancelled(), true);
        assert.equal(outer.cancel(), false, "already done");
      }
    });
  },
);

loopTest(
  "gather().cancel() is false when every child is already done",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const outer = gather(a, b);
      a.setResult(1);
      b.setResult(2);
      // The gather hears of it only on the next iteration.
      assert.equal(outer.cancel(), false);
      assert.deepEqual(await outer, [1, 2]);
    });
  },
);

loopTest(
  "gather(): cancelling the awaiting task cancels the children",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const child1 = createTask(() => sleep(10));
      const child2 = createTask(() => sleep(10));
      const waiter = createTask(() => gather(child1, child2));
      await iterations(2);
      waiter.cancel();
      await assert.rejects(async () => await waiter, CancelledError);
      assert.equal(child1.cancelled(), true);
      assert.equal(child2.cancelled(), true);
      assert.equal(waiter.cancelled(), true);
    });
  },
);

loopTest(
  "gather(returnExceptions) in a cancelled task carries the cancel message",
  async ({ loop }) => {
    // Python's test_cancel_gather_2: the cancellation wins over
    // returnExceptions, with the message given to task.cancel().
    const task = loop.createTask(async () => {
      let time = 0;
      for (let i = 0; i < 100; i++) {
        time += 0.05;
        await gather(() => sleep(time), { returnExceptions: true });
      }
      return "never cancelled";
    });
    await inTask(loop, async () => {
      await sleep(0.2);
      task.cancel("my message");
      await assert.rejects(
        async () => await task,
        (e) => e instanceof CancelledError && e.message === "my message",
      );
    });
  },
);

loopTest(
  "gather() of shields: cancelling it cancels the shields, not the children",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const child1 = loop.createFuture<number>();
      const child2 = loop.createFuture<number>();
      const inner1 = shield(child1);
      const inner2 = shield(child2);
      const parent = gather(inner1, inner2);
      await iterations(1);
      parent.cancel();
      await iterations(2);
      assert.ok(parent.exception() instanceof CancelledError);
      assert.equal(inner1.cancelled(), true);
      assert.equal(inner2.cancelled(), true);
      assert.equal(child1.cancelled(), false);
      child1.setResult(1);
      child2.setResult(2);
      await iterations(1);
    });
  },
);

loopTest(
  "gather() refuses bad arguments before scheduling anything",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let ran = false;
      const work = async () => {
        ran = true;
      };
      assert.throws(
        () => gather(work, 42 as unknown as () => Promise<void>),
        /argument 2/,
      );
      assert.throws(
        () => gather(work, null as unknown as () => Promise<void>),
        TypeError,
      );
      assert.throws(
        () => gather(work, { returnExceptions: true, extra: 1 } as never),
        /unknown option "extra"/,
      );
      assert.throws(
        () => gather({ not: "awaitable" } as never),
        TypeError,
      );
      assert.throws(
        () => gather(work, { returnExceptions: "yes" } as never),
        TypeError,
      );
      const other = loop.createFuture<number>();
      const elsewhere = new (loop.constructor as new () => AbstractEventLoop)();
      try {
        const foreign = elsewhere.createFuture<number>();
        assert.throws(() => gather(work, other, foreign), RangeError);
      } finally {
        elsewhere.close();
      }
      await iterations(2);
      assert.equal(ran, false);
      other.cancel();
    });
  },
);

// ---- shield ------------------------------------------------------------------

loopTest(
  "shield() passes the inner result or error through",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const inner = loop.createFuture<number>();
      const outer = shield(inner);
      assert.notEqual(outer, inner);
      inner.setResult(42);
      assert.equal(await outer, 42);

      const failing = loop.createFuture<number>();
      const outer2 = shield(failing);
      const error = new RangeError("inner failed");
      failing.setException(error);
      await assert.rejects(async () => await outer2, (e) => e === error);
    });
  },
);

loopTest("shield() of a done future returns that future", async ({ loop }) => {
  const fut = loop.createFuture<number>();
  fut.setResult(1);
  assert.equal(shield(fut), fut);
});

loopTest("shield(): a cancelled inner cancels the outer", async ({ loop }) => {
  await inTask(loop, async () => {
    const inner = loop.createFuture<number>();
    const outer = shield(inner);
    await iterations(1);
    inner.cancel();
    await iterations(2);
    assert.equal(outer.cancelled(), true);
  });
});

loopTest(
  "shield(): cancelling the outer leaves the inner running",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const finish of ["result", "error"] as const) {
        const inner = loop.createFuture<number>();
        const outer = shield(inner);
        await iterations(1);
        assert.equal(outer.cancel(), true);
        await iterations(1);
        assert.equal(outer.cancelled(), true);
        assert.equal(inner.cancelled(), false);
        // The outer's own callback took the inner's back.
        assert.equal(String(inner), "<Future pending>");
        if (finish === "result") inner.setResult(1);
        else inner.setException(new RangeError("nobody listens"));
        await iterations(1);
        // Nothing looks through the cancelled shield: the inner outcome is
        // ours to retrieve (else closing the loop reports it).
        if (finish === "error") {
          assert.ok(inner.exception() instanceof RangeError);
        } else assert.equal(inner.result(), 1);
      }
    });
  },
);

loopTest(
  "shield(): an inner error after the outer was cancelled is still reported",
  async (fx) => {
    const { loop } = fx;
    await inTask(loop, async () => {
      // In a function of its own, so that nothing here keeps the inner alive.
      (() => {
        const inner = createTask(async () => {
          await sleep(0.01);
          throw new RangeError("shielded");
        });
        shield(inner).cancel();
      })();
      await sleep(0.05);
    });
    // The outer let go of the inner: nobody retrieved its error.
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    assert.deepEqual(fx.takeErrors().map((e) => e.message), [
      "Task exception was never retrieved",
    ]);
  },
);

loopTest(
  "shield(): an inner error in the iteration of the outer's cancel is retrieved",
  async (fx) => {
    const { loop } = fx;
    await inTask(loop, async () => {
      (() => {
        const gate = loop.createFuture<void>();
        const outer = shield(createTask(async () => {
          await gate;
          throw new RangeError("shielded");
        }));
        loop.callSoon(() => {
          gate.setResult(); // the inner fails on the next iteration...
          loop.callSoon(() => outer.cancel()); // ...and the outer is cancelled
        });
      })();
      await sleep(0.05);
    });
    // Both done callbacks ran in one iteration: the shield's marked the
    // inner error retrieved, as asyncio's _inner_done_callback does.
    const reported = await gcUntil(() => fx.errors.length > 0, 10);
    assert.equal(
      reported,
      false,
      JSON.stringify(fx.errors.map((e) => e.message)),
    );
  },
);

loopTest(
  "shield(): cancelling the task awaiting it keeps the inner task running",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const gate = loop.createFuture<void>();
      let proof = 0;
      const inner = createTask(async () => {
        await gate;
        proof += 1;
        return "inner";
      });
      const outer = createTask(async () => {
        await shield(inner);
        proof += 100;
      });
      await iterations(2);
      outer.cancel();
      await assert.rejects(async () => await outer, CancelledError);
      gate.setResult();
      assert.equal(await inner, "inner");
      assert.equal(proof, 1);
    });
  },
);

loopTest(
  "shield() wraps a coroutine in a task and protects a gather",
  async ({ loop }) => {
    await inTask(loop, async () => {
      assert.equal(await shield(() => sleep(0.01, "wrapped")), "wrapped");
      const child1 = loop.createFuture<number>();
      const child2 = loop.createFuture<number>();
      const parent = gather(child1, child2);
      const outer = shield(parent);
      await iterations(1);
      outer.cancel();
      await iterations(1);
      assert.equal(outer.cancelled(), true);
      child1.setResult(1);
      child2.setResult(2);
      assert.deepEqual(await parent, [1, 2]);
    });
  },
);

loopTest("shield() refuses what is not awaitable", ({ loop }) => {
  for (const bad of [1, "x", null, { then: 1 }]) {
    assert.throws(() => shield(bad as never), TypeError);
  }
  assert.equal(loop.isClosed(), false);
});

// ---- wait --------------------------------------------------------------------

loopTest(
  "wait() returns [done, pending] when all are done (the default)",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(0.1, "a"));
      const b = createTask(() => sleep(0.15, "b"));
      const [done, pending] = await wait([b, a]);
      assert.deepEqual(done, new Set([a, b]));
      assert.equal(pending.size, 0);
      near(loop.time(), t0 + 0.15);
      const again = await wait(new Set([a, b]), { returnWhen: ALL_COMPLETED });
      assert.deepEqual(again[0], new Set([a, b]));
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_COMPLETED) returns after the first one",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(10, "a"));
      const b = createTask(() => sleep(0.1, "b"));
      const [done, pending] = await wait([b, a], {
        returnWhen: FIRST_COMPLETED,
      });
      assert.deepEqual(done, new Set([b]));
      assert.deepEqual(pending, new Set([a]));
      assert.equal(a.done(), false, "nothing is cancelled");
      near(loop.time(), t0 + 0.1);
      a.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_COMPLETED) with futures already done returns them all",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const c = loop.createFuture<number>();
      a.setResult(1);
      b.setResult(2);
      const [done, pending] = await wait([a, b, c], {
        returnWhen: FIRST_COMPLETED,
      });
      assert.deepEqual(done, new Set([a, b]));
      assert.deepEqual(pending, new Set([c]));
    });
  },
);

loopTest(
  "wait(FIRST_EXCEPTION) returns at the first error",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(10));
      const b = createTask(async () => {
        await sleep(0.1);
        throw new RangeError("b");
      });
      const [done, pending] = await wait([a, b], {
        returnWhen: FIRST_EXCEPTION,
      });
      assert.deepEqual(done, new Set([b]));
      assert.deepEqual(pending, new Set([a]));
      near(loop.time(), t0 + 0.1);
      assert.ok(b.exception() instanceof RangeError);
      a.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_EXCEPTION) without errors (or with cancels) waits for all",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(0.1, "a"));
      const b = createTask(() => sleep(0.2, "b"));
      const c = createTask(() => sleep(10));
      loop.callLater(0.05, () => c.cancel());
      const [done, pending] = await wait([a, b, c], {
        returnWhen: FIRST_EXCEPTION,
      });
      assert.deepEqual(done, new Set([a, b, c]));
      assert.equal(pending.size, 0);
      near(loop.time(), t0 + 0.2);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait(FIRST_EXCEPTION) with an error already there returns at once",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const failed = loop.createFuture<number>();
      failed.setException(new RangeError("early"));
      const slow = createTask(() => sleep(10, 1));
      const [done, pending] = await wait([slow, failed], {
        returnWhen: FIRST_EXCEPTION,
      });
      assert.deepEqual(done, new Set([failed]));
      assert.deepEqual(pending, new Set([slow]));
      slow.cancel();
      failed.exception();
    });
  },
);

loopTest(
  "wait() with a timeout returns what is done, without an error",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(0.1, "a"));
      const b = createTask(() => sleep(0.15, "b"));
      const [done, pending] = await wait([a, b], { timeout: 0.11 });
      assert.deepEqual(done, new Set([a]));
      assert.deepEqual(pending, new Set([b]));
      near(loop.time(), t0 + 0.11);
      assert.equal(b.cancelled(), false, "nothing is cancelled");
      assert.equal(await b, "b");
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait() with a timeout of 0 or less polls once",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const timeout of [0, -1]) {
        const t0 = loop.time();
        const a = loop.createFuture<number>();
        a.setResult(1);
        const b = createTask(() => sleep(1));
        const [done, pending] = await wait([a, b], { timeout });
        assert.deepEqual(done, new Set([a]));
        assert.deepEqual(pending, new Set([b]));
        assert.equal(loop.time(), t0);
        b.cancel();
      }
    });
  },
  { virtualOnly: true },
);

loopTest(
  "wait() cancelled while waiting removes its callbacks and cancels nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      const b = loop.createFuture<number>();
      const waiter = createTask(() => wait([a, b]));
      await iterations(2);
      assert.match(String(a), /cb=\[/);
      waiter.cancel();
      await assert.rejects(async () => await waiter, CancelledError);
      assert.equal(String(a), "<Future pending>");
      assert.equal(String(b), "<Future pending>");
      a.cancel();
      b.cancel();
    });
  },
);

loopTest(
  "wait() takes any iterable and counts a future given twice once",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<number>();
      a.setResult(1);
      function* futures() {
        yield a;
        yield a;
      }
      const [done, pending] = await wait(futures());
      assert.deepEqual(done, new Set([a]));
      assert.equal(pending.size, 0);
    });
  },
);

loopTest(
  "wait() refuses coroutines, empty input and bad options",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let ran = false;
      const work = async () => {
        ran = true;
      };
      const fut = loop.createFuture<void>();
      await assert.rejects(wait([]), RangeError);
      await assert.rejects(wait(new Set<Future<void>>()), /empty/);
      await assert.rejects(wait(fut as never), /iterable of futures/);
      await assert.rejects(wait(42 as never), TypeError);
      await assert.rejects(wait([work] as never), /coroutines is forbidden/);
      const promise = Promise.resolve(1);
      await assert.rejects(wait([promise] as never), TypeError);
      await assert.rejects(wait([fut, 3] as never), TypeError);
      await assert.rejects(
        wait([fut], { returnWhen: "SOMETIMES" as never }),
        RangeError,
      );
      await assert.rejects(wait([fut], { timeout: "1" as never }), TypeError);
      await assert.rejects(wait([fut], { timeout: NaN }), RangeError);
      assert.equal(ran, false);
      assert.equal(String(fut), "<Future pending>");
      fut.setResult();
      const [done] = await wait([fut]);
      assert.deepEqual(done, new Set([fut]));
    });
  },
);

Deno.test("wait() without a running loop rejects with RuntimeError", async () => {
  const { EventLoop } = await import("../../mod.ts");
  const loop = new EventLoop();
  try {
    const fut = loop.createFuture<number>();
    await assert.rejects(wait([fut]), RuntimeError);
  } finally {
    loop.close();
  }
});

// ---- waitFor -------------------------------------------------------------------

loopTest(
  "waitFor() times out, cancels the task and waits until it is done",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let running: boolean | null = null;
      const fut = createTask(async () => {
        running = true;
        try {
          await sleep(10);
        } finally {
          running = false;
        }
        return "done";
      });
      const t0 = loop.time();
      const error = await waitFor(fut, 0.1).catch((e) => e);
      assert.ok(error instanceof TimeoutError, `${error}`);
      assert.ok(error.cause instanceof CancelledError);
      near(loop.time(), t0 + 0.1);
      assert.equal(fut.cancelled(), true);
      assert.equal(running, false);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

loopTest("waitFor() returns the result when in time", async ({ loop }) => {
  await inTask(loop, async () => {
    const fut = loop.createFuture<string>();
    loop.callLater(0.01, () => fut.setResult("ok"));
    assert.equal(await waitFor(fut, 0.2), "ok");
    assert.equal(await waitFor(async () => "done", null), "done");
    assert.equal(await waitFor(sleep(0.01, "promise"), 1), "promise");
    assert.equal(await waitFor(() => sleep(0.01, "lazy"), 1), "lazy");
  });
});

loopTest("waitFor(x, null) waits without a limit", async ({ loop }) => {
  await inTask(loop, async () => {
    const t0 = loop.time();
    assert.equal(await waitFor(() => sleep(3600, "late"), null), "late");
    near(loop.time(), t0 + 3600);
  });
}, { virtualOnly: true });

loopTest(
  "waitFor() runs a coroutine inside the calling task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const me = currentTask();
      const [seen] = await waitFor(async () => {
        await sleep(0);
        return [currentTask()]; // boxed: a returned task would be awaited
      }, 1);
      assert.equal(seen, me);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 or less returns a done future's result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const fut = loop.createFuture<string>();
      fut.setResult("done");
      const t0 = loop.time();
      assert.equal(await waitFor(fut, 0), "done");
      assert.equal(await waitFor(fut, -1), "done");
      assert.ok(loop.time() - t0 < 0.1);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 never starts a coroutine",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let started = false;
      const foo = async () => {
        started = true;
      };
      await assert.rejects(waitFor(foo, 0), TimeoutError);
      assert.equal(started, false);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 or less cancels a running task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const timeout of [0, -1]) {
        let running: boolean | null = null;
        const started = loop.createFuture<void>();
        const fut = createTask(async () => {
          running = true;
          started.setResult();
          try {
            await sleep(10);
          } finally {
            running = false;
          }
          return "done";
        });
        await started;
        const t0 = loop.time();
        await assert.rejects(waitFor(fut, timeout), TimeoutError);
        assert.ok(loop.time() - t0 < 0.1);
        assert.equal(fut.cancelled(), true);
        assert.equal(running, false);
      }
    });
  },
);

loopTest(
  "waitFor() returns the value of a coroutine that swallows the cancel",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const inner = async () => {
        await assert.rejects(sleep(1), CancelledError);
        return 1;
      };
      assert.equal(await waitFor(inner, 0.01), 1);
      const returns42 = async () => {
        try {
          await sleep(10);
        } catch {
          return 42;
        }
      };
      assert.equal(await waitFor(returns42, 0.1), 42);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "waitFor() waits for the task's cancellation to finish",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const timeout of [0.0001, 0]) {
        let taskDone = false;
        const inner = createTask(async () => {
          try {
            await sleep(10);
          } catch (e) {
            await sleep(0.0001);
            throw e;
          } finally {
            taskDone = true;
          }
        });
        await sleep(0.0001);
        const error = await waitFor(inner, timeout).catch((e) => e);
        assert.ok(error instanceof TimeoutError, `${timeout}: ${error}`);
        assert.ok(error.cause instanceof CancelledError);
        assert.equal(taskDone, true);
      }
    });
  },
);

loopTest(
  "waitFor() passes on an error raised during the cancellation",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const inner = createTask(async () => {
        try {
          await sleep(0.2);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new SyntaxError("foo");
        }
      });
      await assert.rejects(waitFor(inner, 0.0001), SyntaxError);
    });
  },
);

loopTest(
  "waitFor() of a task that ignores cancels while waiting: as CPython 3.12",
  async ({ loop }) => {
    // The task swallows the deadline's cancel and the outer one, then
    // returns: waitFor (timeout() around `await task`) returns its value,
    // the outer cancel having been absorbed by the inner task.
    const inner = loop.createTask(async () => {
      try {
        await sleep(0.3);
      } catch {
        try {
          await sleep(0.3);
        } catch {
          await sleep(0.3);
        }
      }
      return 42;
    });
    const waiting = loop.createTask(() => waitFor(inner, 0.1));
    await inTask(loop, async () => {
      await sleep(0.2);
      waiting.cancel();
      assert.equal(await waiting, 42);
      assert.equal(await inner, 42);
      assert.equal(waiting.cancelling(), 1);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "waitFor(): a slow coroutine that ignores cancels keeps its own time",
  async ({ loop }) => {
    // Python's SlowTask: sleeps until its own deadline, ignoring cancels.
    const slow = async (state: { exited: boolean }) => {
      const exitAt = loop.time() + 0.2;
      for (;;) {
        const left = exitAt - loop.time();
        if (left <= 0) break;
        try {
          await sleep(left);
        } catch {
          // ignored
        }
      }
      state.exited = true;
    };
    await inTask(loop, async () => {
      const byTimeout = { exited: false };
      await waitFor(() => slow(byTimeout), 0.1);
      assert.equal(byTimeout.exited, true);
      const byCancel = { exited: false };
      const task = createTask(() => waitFor(() => slow(byCancel), 0.4));
      await sleep(0);
      task.cancel();
      await wait([task]);
      assert.equal(byCancel.exited, true);
    });
  },
);

loopTest(
  "waitFor(): cancelling the waiting task cancels the awaited task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const timeout of [null, 60]) {
        const blocked = createTask(() => loop.createFuture<void>());
        const waiting = createTask(() => waitFor(blocked, timeout));
        loop.callSoon(() => waiting.cancel());
        await assert.rejects(async () => await waiting, CancelledError);
        assert.equal(blocked.cancelled(), true);
      }
    });
  },
);

loopTest(
  "waitFor(): a result due with the deadline loses to it, as in CPython",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const fut = loop.createFuture<string>();
      const deadline = loop.time() + 0.1;
      loop.callAt(deadline, () => fut.setResult("late"));
      await assert.rejects(waitFor(fut, 0.1), TimeoutError);
      assert.equal(fut.result(), "late");
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

loopTest("waitFor() refuses bad arguments", async ({ loop }) => {
  await inTask(loop, async () => {
    let ran = false;
    const work = async () => {
      ran = true;
    };
    await assert.rejects(waitFor(5 as never, 1), TypeError);
    await assert.rejects(waitFor(work, "1" as never), TypeError);
    await assert.rejects(waitFor(work, NaN), RangeError);
    await assert.rejects(
      waitFor((() => 3) as never, 1),
      /not a promise/,
    );
    assert.equal(ran, false);
    assert.equal(currentTask()!.cancelling(), 0);
    assert.equal(await waitFor(work, 1), undefined);
    assert.equal(ran, true);
  });
});

// ---- asCompleted -----------------------------------------------------------------

loopTest(
  "asCompleted() yields the results in completion order (for ... of)",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const times: number[] = [];
      const values: string[] = [];
      for (
        const next of asCompleted([
          () => sleep(0.1, "a"),
          () => sleep(0.05, "b"),
          () => sleep(0.15, "c"),
        ])
      ) {
        values.push(await next);
        times.push(loop.time() - t0);
      }
      assert.deepEqual(values, ["b", "a", "c"]);
      near(times[0], 0.05);
      near(times[1], 0.1);
      near(times[2], 0.15);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "asCompleted(): the first awaitable awaited gets the first result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const nexts = [...asCompleted([sleep(0.05, "a"), sleep(0.1, "b")])];
      assert.equal(nexts.length, 2);
      assert.equal(await nexts[1], "a");
      near(loop.time(), t0 + 0.05);
      assert.equal(await nexts[0], "b");
      near(loop.time(), t0 + 0.1);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "asCompleted() with for await yields the results in completion order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const slow = createTask(() => sleep(0.02, "slow"));
      const fast = loop.createFuture<string>();
      loop.callLater(0.01, () => fast.setResult("fast"));
      const lazy = () => sleep(0.03, "lazy");
      const results: string[] = [];
      for await (const result of asCompleted([slow, fast, lazy])) {
        results.push(result);
      }
      assert.deepEqual(results, ["fast", "slow", "lazy"]);
      // A failure ends the loop with its error.
      const failing = createTask(async () => {
        await sleep(0.01);
        throw new RangeError("bad");
      });
      const later = createTask(() => sleep(0.02, "later"));
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (const result of asCompleted([later, failing])) {
          seen.push(result);
        }
      }, RangeError);
      assert.deepEqual(seen, []);
      assert.equal(await later, "later");
    });
  },
);

loopTest(
  "asCompleted() passes errors and cancellations on at the await",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const failing = loop.createFuture<number>();
      const cancelled = loop.createFuture<number>();
      const fine = loop.createFuture<number>();
      loop.callSoon(() => failing.setException(new RangeError("bad")));
      loop.callLater(0.01, () => cancelled.cancel());
      loop.callLater(0.02, () => fine.setResult(3));
      const it = asCompleted([failing, cancelled, fine])[Symbol.iterator]();
      await assert.rejects(async () => await it.next().value!, RangeError);
      await assert.rejects(async () => await it.next().value!, CancelledError);
      assert.equal(await it.next().value!, 3);
      assert.equal(it.next().done, true);
    });
  },
);

loopTest(
  "asCompleted() with a timeout raises TimeoutError for what is left",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const a = createTask(() => sleep(0.1, "a"));
      const b = createTask(() => sleep(10, "b"));
      const got: unknown[] = [];
      for (const next of asCompleted([a, b], { timeout: 0.12 })) {
        try {
          got.push(await next);
        } catch (e) {
          got.push(e);
        }
      }
      assert.equal(got[0], "a");
      assert.ok(got[1] instanceof TimeoutError);
      near(loop.time(), t0 + 0.12);
      assert.equal(b.cancelled(), false, "nothing is cancelled");
      b.cancel();
    });
  },
  { virtualOnly: true },
);

loopTest(
  "asCompleted() with an unused timeout finishes normally",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const values: string[] = [];
      const it = asCompleted([() => sleep(0.01, "a")], { timeout: 10 });
      for await (const value of it) values.push(value);
      assert.deepEqual(values, ["a"]);
    });
  },
);

loopTest(
  "asCompleted() counts duplicates once and yields nothing for nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const work = () => sleep(0, "x");
      const values = [];
      for (const next of asCompleted([work, work])) values.push(await next);
      assert.deepEqual(values, ["x"]);
      assert.deepEqual([...asCompleted([])], []);
      for await (const _ of asCompleted([])) assert.fail("nothing to yield");
      for (const _ of asCompleted([], { timeout: 1 })) assert.fail("nothing");
    });
  },
);

loopTest(
  "asCompleted(): two tasks awaiting concurrently each get one result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const nexts = [...asCompleted([sleep(0.02, "x"), sleep(0.01, "y")])];
      const results = await gather(() => nexts[0], () => nexts[1]);
      assert.deepEqual(results.sort(), ["x", "y"]);
    });
  },
);

loopTest(
  "asCompleted(): a cancelled waiter does not lose a result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<string>();
      const b = loop.createFuture<string>();
      const [n1, n2] = [...asCompleted([a, b])];
      const waiter = createTask(async () => await n1);
      await iterations(2);
      waiter.cancel();
      a.setResult("a"); // completes in the same iteration as the cancel
      await assert.rejects(async () => await waiter, CancelledError);
      assert.equal(await n2, "a");
      b.setResult("b");
      await iterations(1);
    });
  },
);

loopTest(
  "asCompleted(): a waiter woken then cancelled hands the result on",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const a = loop.createFuture<string>();
      const b = loop.createFuture<string>();
      const [n1, n2] = [...asCompleted([a, b])];
      const w1 = createTask(async () => await n1);
      const w2 = createTask(async () => await n2);
      await iterations(2);
      loop.callSoon(() => {
        a.setResult("a"); // wakes w1's wait on the next iteration...
        loop.callSoon(() => w1.cancel()); // ...just before w1 runs
      });
      await iterations(4);
      assert.equal(w1.cancelled(), true);
      assert.equal(w2.done(), true, "w2 was woken in w1's place");
      assert.equal(w2.result(), "a");
      b.setResult("b");
      await iterations(1);
    });
  },
);

loopTest("asCompleted() refuses bad arguments", async ({ loop }) => {
  await inTask(loop, async () => {
    let ran = false;
    const work = async () => {
      ran = true;
    };
    const fut = loop.createFuture<number>();
    assert.throws(() => asCompleted(fut as never), /iterable of awaitables/);
    assert.throws(() => asCompleted(work as never), TypeError);
    assert.throws(() => asCompleted(Promise.resolve([]) as never), TypeError);
    assert.throws(() => asCompleted(3 as never), TypeError);
    assert.throws(() => asCompleted([work, 4] as never), TypeError);
    assert.throws(
      () => asCompleted([work], { timeout: "1" as never }),
      TypeError,
    );
    assert.throws(() => asCompleted([work], { timeout: NaN }), RangeError);
    await iterations(2);
    assert.equal(ran, false);
    fut.cancel();
  });
});

// ---- typing (compile-time) ------------------------------------------------------

loopTest(
  "gather() types its results position by position",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const task: Task<number> = createTask(async () => 1);
      const [n, s, b]: [number, string, boolean] = await gather(
        task,
        () => sleep(0, "s"),
        Promise.resolve(true),
      );
      assert.deepEqual([n, s, b], [1, "s", true]);
      const mixed: unknown[] = await gather(task, { returnExceptions: true });
      assert.deepEqual(mixed, [1]);
    });
  },
);

loopTest("gather() fails with a child's thrown null", async ({ loop }) => {
  await inTask(loop, async () => {
    const outer = gather(async () => {
      throw null;
    }, () => sleep(0.01));
    await assert.rejects(async () => await outer, (e) => e === null);
    const kept = await gather(async () => {
      throw null;
    }, { returnExceptions: true });
    assert.deepEqual(kept, [null]);
  });
});
