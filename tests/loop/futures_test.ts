/**
 * Behaviour of `Future`, after CPython's Lib/test/test_asyncio/test_futures.py,
 * on every loop kind.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  CancelledError,
  Context,
  Future,
  getRunningLoop,
  InvalidStateError,
  isFuture,
  RuntimeError,
  sleep,
} from "../../mod.ts";
import { gcUntil, loopTest } from "../_util.ts";

/** A validator for `assert.throws`/`rejects`: a CancelledError with `msg`. */
function cancelledWith(msg: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CancelledError, `not cancelled: ${error}`);
    assert.equal(error.message, msg);
    return true;
  };
}

// ---- state ---------------------------------------------------------------

loopTest("Future starts pending and bound to its loop", ({ loop }) => {
  const fut = new Future({ loop });
  assert.equal(fut.done(), false);
  assert.equal(fut.cancelled(), false);
  assert.equal(fut.getLoop(), loop);
  assert.equal(loop.createFuture().getLoop(), loop);
  assert.equal(fut.cancel(), true);
  assert.equal(fut.cancelled(), true);
  assert.equal(fut.done(), true);
});

loopTest(
  "Future constructed without a loop binds to the running loop",
  async ({ loop }) => {
    // Wrapped: an async function returning a thenable adopts it.
    const { fut } = await loop.runUntilComplete(async () => {
      await sleep(0);
      return { fut: new Future<number>() };
    });
    assert.equal(fut.getLoop(), loop);
    fut.cancel();
  },
);

loopTest(
  "Future.result() and Future.exception() throw InvalidStateError while pending",
  ({ loop }) => {
    const fut = loop.createFuture();
    assert.throws(() => fut.result(), InvalidStateError);
    assert.throws(() => fut.exception(), InvalidStateError);
    assert.equal(fut.done(), false);
    fut.cancel();
  },
);

loopTest(
  "Future.setResult() completes it; exception() is null and cancel() is refused",
  ({ loop }) => {
    const fut = loop.createFuture<number>();
    fut.setResult(42);
    assert.equal(fut.done(), true);
    assert.equal(fut.cancelled(), false);
    assert.equal(fut.result(), 42);
    assert.equal(fut.exception(), null);
    assert.equal(fut.cancel(), false);
    assert.equal(fut.cancelled(), false);
    assert.equal(fut.result(), 42);
  },
);

loopTest(
  "Future.setResult() twice throws InvalidStateError and keeps the first result",
  ({ loop }) => {
    const fut = loop.createFuture<string>();
    fut.setResult("first");
    assert.throws(() => fut.setResult("second"), InvalidStateError);
    assert.throws(() => fut.setException(new Error("late")), InvalidStateError);
    assert.equal(fut.result(), "first");
  },
);

loopTest(
  "Future.setException() with an instance: result() throws it, exception() returns it",
  ({ loop }) => {
    const error = new RangeError("boom");
    const fut = loop.createFuture<number>();
    assert.throws(() => fut.exception(), InvalidStateError);
    fut.setException(error);
    assert.equal(fut.done(), true);
    assert.equal(fut.cancelled(), false);
    assert.throws(() => fut.result(), (e) => e === error);
    assert.equal(fut.exception(), error);
    assert.throws(() => fut.setResult(1), InvalidStateError);
    assert.throws(() => fut.setException(new Error("x")), InvalidStateError);
    assert.equal(fut.cancel(), false);
  },
);

loopTest("Future.setException() instantiates an Error class", ({ loop }) => {
  const fut = loop.createFuture();
  fut.setException(RangeError);
  const error = fut.exception();
  assert.ok(error instanceof RangeError);
  assert.throws(() => fut.result(), (e) => e === error);
});

loopTest(
  "Future.setException() rejects a non-error with TypeError and stays pending",
  ({ loop }) => {
    const fut = loop.createFuture();
    for (const bad of [42, "boom", null, undefined, { message: "x" }]) {
      assert.throws(() => fut.setException(bad), TypeError, String(bad));
    }
    // Documented: a CancelledError is refused too (use cancel()), as asyncio
    // refuses StopIteration.
    assert.throws(() => fut.setException(new CancelledError()), TypeError);
    assert.equal(fut.done(), false);
    fut.setResult(1);
    assert.equal(fut.result(), 1);
  },
);

loopTest(
  "Future.cancel() makes result() and exception() throw CancelledError",
  ({ loop }) => {
    const fut = loop.createFuture();
    assert.equal(fut.cancel(), true);
    assert.equal(fut.cancelled(), true);
    assert.equal(fut.done(), true);
    assert.throws(() => fut.result(), CancelledError);
    assert.throws(() => fut.exception(), CancelledError);
    assert.throws(() => fut.setResult(1), InvalidStateError);
    assert.throws(() => fut.setException(new Error("x")), InvalidStateError);
    assert.equal(fut.cancel(), false);
  },
);

loopTest(
  "Future.cancel() passes its message to CancelledError",
  async ({ loop }) => {
    const fut = loop.createFuture();
    fut.cancel("my message");
    assert.throws(() => fut.result(), cancelledWith("my message"));
    assert.throws(() => fut.exception(), cancelledWith("my message"));
    await assert.rejects(
      loop.runUntilComplete(fut),
      cancelledWith("my message"),
    );
  },
);

// ---- done callbacks ------------------------------------------------------

loopTest(
  "Future.addDoneCallback() callbacks run through the loop, not synchronously",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    const seen: string[] = [];
    fut.addDoneCallback((f) => {
      assert.equal(getRunningLoop(), loop);
      seen.push(f.result());
    });
    fut.setResult("foo");
    assert.deepEqual(seen, []);
    await loop.runUntilComplete(fut);
    assert.deepEqual(seen, ["foo"]);
  },
);

loopTest(
  "Future done callbacks run in FIFO order and receive the future",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    const bag: [number, Future<number>][] = [];
    for (const n of [42, 17, 100]) fut.addDoneCallback((f) => bag.push([n, f]));
    fut.setResult(7);
    await loop.runUntilComplete(fut);
    assert.deepEqual(bag.map(([n]) => n), [42, 17, 100]);
    for (const [, f] of bag) assert.equal(f, fut);
  },
);

loopTest(
  "Future done callbacks run on setException() and on cancel()",
  async ({ loop }) => {
    const failed = loop.createFuture();
    const cancelled = loop.createFuture();
    const bag: string[] = [];
    failed.addDoneCallback(() => bag.push("failed"));
    cancelled.addDoneCallback(() => bag.push("cancelled"));
    const error = new Error("bad");
    failed.setException(error);
    cancelled.cancel();
    assert.deepEqual(bag, []);
    await assert.rejects(loop.runUntilComplete(cancelled), CancelledError);
    assert.deepEqual(bag, ["failed", "cancelled"]);
    assert.equal(failed.exception(), error);
  },
);

loopTest(
  "Future.addDoneCallback() on a done future schedules the callback",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    fut.setResult(3);
    const seen: Future<number>[] = [];
    fut.addDoneCallback((f) => seen.push(f));
    assert.deepEqual(seen, []);
    await loop.runUntilComplete(fut);
    assert.equal(seen.length, 1);
    assert.equal(seen[0], fut);
  },
);

loopTest(
  "Future.removeDoneCallback() removes every registration and returns the count",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const bag: number[] = [];
    const cb1 = () => bag.push(1);
    const cb2 = () => bag.push(2);
    const cb3 = () => bag.push(3);
    fut.addDoneCallback(cb1);
    fut.addDoneCallback(cb2);
    assert.equal(fut.removeDoneCallback(cb2), 1);
    assert.equal(fut.removeDoneCallback(cb3), 0);
    fut.addDoneCallback(cb2);
    for (let i = 0; i < 5; i++) fut.addDoneCallback(cb1);
    assert.equal(fut.removeDoneCallback(cb1), 6);
    assert.equal(fut.removeDoneCallback(cb1), 0);
    fut.setResult("foo");
    await loop.runUntilComplete(fut);
    assert.deepEqual(bag, [2]);
    assert.equal(fut.result(), "foo");
  },
);

loopTest(
  "Future.removeDoneCallback() keeps the other callbacks in order",
  async ({ loop }) => {
    const cases: [number[], number[]][] = [
      [[0], [17, 100]],
      [[0, 1], [100]],
      [[2], [42, 17]],
      [[1], [42, 100]],
    ];
    for (const [remove, expected] of cases) {
      const fut = loop.createFuture();
      const bag: number[] = [];
      const cbs = [42, 17, 100].map((n) => () => bag.push(n));
      for (const cb of cbs) fut.addDoneCallback(cb);
      for (const i of remove) assert.equal(fut.removeDoneCallback(cbs[i]), 1);
      fut.setResult(null);
      await loop.runUntilComplete(fut);
      assert.deepEqual(bag, expected, `removing ${remove}`);
    }
  },
);

loopTest(
  "Future.removeDoneCallback() after completion removes nothing",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const bag: number[] = [];
    const cb = () => bag.push(1);
    fut.addDoneCallback(cb);
    fut.setResult(null);
    // The callback is already scheduled, as in asyncio.
    assert.equal(fut.removeDoneCallback(cb), 0);
    await loop.runUntilComplete(fut);
    assert.deepEqual(bag, [1]);
  },
);

loopTest(
  "Future.addDoneCallback() rejects a non-function with TypeError",
  ({ loop }) => {
    const fut = loop.createFuture();
    for (const bad of [null, 1, "cb", {}]) {
      assert.throws(
        () => fut.addDoneCallback(bad as unknown as () => void),
        TypeError,
      );
    }
    fut.cancel();
  },
);

loopTest(
  "Future.addDoneCallback() runs the callback in the context option",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const ctx = store.run("given", () => Context.current());
    const fut = loop.createFuture();
    const seen: (string | undefined)[] = [];
    store.run("ambient", () => {
      fut.addDoneCallback(() => seen.push(store.getStore()), { context: ctx });
      fut.addDoneCallback(() => seen.push(store.getStore()));
    });
    fut.addDoneCallback(() => seen.push(store.getStore()));
    fut.setResult(null);
    await store.run("runner", () => loop.runUntilComplete(fut));
    assert.deepEqual(seen, ["given", "ambient", undefined]);
  },
);

loopTest(
  "Future.addDoneCallback() on a done future honours the context option",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<number>();
    const fut = loop.createFuture();
    fut.setResult(null);
    const seen: (number | undefined)[] = [];
    const ctx = store.run(1, () => Context.current());
    store.run(2, () => {
      fut.addDoneCallback(() => seen.push(store.getStore()), { context: ctx });
      fut.addDoneCallback(() => seen.push(store.getStore()));
    });
    await loop.runUntilComplete(fut);
    assert.deepEqual(seen, [1, 2]);
  },
);

loopTest(
  "Future done callback that throws is reported and the others still run",
  async (fx) => {
    const { loop } = fx;
    const fut = loop.createFuture();
    const error = new Error("callback failed");
    const bag: string[] = [];
    fut.addDoneCallback(function failing() {
      throw error;
    });
    fut.addDoneCallback(() => bag.push("after"));
    fut.setResult(null);
    await loop.runUntilComplete(fut);
    assert.deepEqual(bag, ["after"]);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /^Exception in callback/);
    assert.equal(errors[0].exception, error);
  },
);

// ---- toString -------------------------------------------------------------

loopTest(
  "Future.toString() describes pending, finished and cancelled futures",
  ({ loop }) => {
    const pending = loop.createFuture();
    assert.equal(String(pending), "<Future pending>");
    pending.cancel();
    assert.equal(String(pending), "<Future cancelled>");

    const result = loop.createFuture<number>();
    result.setResult(4);
    assert.equal(String(result), "<Future finished result=4>");

    const failed = loop.createFuture();
    failed.setException(new RangeError("out"));
    assert.match(String(failed), /^<Future finished exception=RangeError/);
    assert.match(String(failed), /out/);
    assert.ok(failed.exception() instanceof RangeError);
  },
);

loopTest(
  "Future.toString() lists pending done callbacks by name",
  ({ loop }) => {
    const fut = loop.createFuture();
    fut.addDoneCallback(function firstCb() {});
    fut.addDoneCallback(function lastCb() {});
    assert.match(String(fut), /^<Future pending cb=\[firstCb, lastCb\]>$/);
    fut.cancel();
    assert.equal(String(fut), "<Future cancelled>");
  },
);

// ---- await ----------------------------------------------------------------

loopTest("await of a Future returns its result", async ({ loop }) => {
  const value = await loop.runUntilComplete(async () => {
    const fut = loop.createFuture<number>();
    loop.callSoon(() => fut.setResult(42));
    return await fut;
  });
  assert.equal(value, 42);
});

loopTest("await of a Future throws its exception", async ({ loop }) => {
  const error = new TypeError("nope");
  const caught = await loop.runUntilComplete(async () => {
    const fut = loop.createFuture<number>();
    loop.callSoon(() => fut.setException(error));
    try {
      await fut;
    } catch (e) {
      return e;
    }
    return "not thrown";
  });
  assert.equal(caught, error);
});

loopTest(
  "await of a cancelled Future throws CancelledError with its message",
  async ({ loop }) => {
    const caught = await loop.runUntilComplete(async () => {
      const fut = loop.createFuture();
      loop.callSoon(() => fut.cancel("stop"));
      try {
        await fut;
      } catch (e) {
        return e;
      }
      return "not thrown";
    });
    cancelledWith("stop")(caught);
  },
);

loopTest(
  "await of one Future in two tasks resumes both with the result",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    const a = loop.createTask(async () => `a:${await fut}`);
    const b = loop.createTask(async () => `b:${await fut}`);
    loop.callSoon(() => fut.setResult("x"));
    const both = await loop.runUntilComplete(async () => [await a, await b]);
    assert.deepEqual(both, ["a:x", "b:x"]);
  },
);

loopTest(
  "a task awaiting a Future and done callbacks added around it run in registration order",
  async ({ loop }) => {
    const log: string[] = [];
    const fut = loop.createFuture<string>();
    fut.addDoneCallback(() => log.push("first callback"));
    const task = loop.createTask(async () => {
      log.push(`task got ${await fut}`);
    });
    await loop.runUntilComplete(async () => {
      await sleep(0); // the task is now awaiting fut
      assert.match(String(fut), /cb=\[<cb>, Task\.wakeup\]/);
      fut.addDoneCallback(() => log.push("second callback"));
      const extra = () => log.push("removed");
      fut.addDoneCallback(extra);
      assert.equal(fut.removeDoneCallback(extra), 1);
      fut.addDoneCallback(function last() {});
      // More than two: the first and the last named, the rest counted.
      assert.match(String(fut), /cb=\[<cb>, <2 more>, last\]/);
      fut.setResult("x");
      await task;
    });
    assert.deepEqual(log, ["first callback", "task got x", "second callback"]);
  },
);

loopTest(
  "a Future awaited by one task: removeDoneCallback finds nothing to remove, and the task still wakes",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    const task = loop.createTask(async () => (await fut) * 2);
    const result = await loop.runUntilComplete(async () => {
      await sleep(0);
      assert.match(String(fut), /cb=\[Task\.wakeup\]/);
      assert.equal(fut.removeDoneCallback(() => {}), 0);
      // A callback added after the task's wait runs after the task's wake-up.
      const order: string[] = [];
      fut.addDoneCallback(() => order.push("callback"));
      task.addDoneCallback(() => order.push("task done"));
      fut.setResult(21);
      const value = await task;
      await sleep(0);
      assert.deepEqual(order, ["callback", "task done"]);
      return value;
    });
    assert.equal(result, 42);
  },
);

loopTest(
  "cancelling a task that awaits a Future with other callbacks cancels the Future and runs them",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    const seen: boolean[] = [];
    const task = loop.createTask(async () => await fut);
    await loop.runUntilComplete(async () => {
      await sleep(0); // the task alone awaits fut; then two callbacks join
      fut.addDoneCallback((f) => seen.push(f.cancelled()));
      fut.addDoneCallback((f) => seen.push(f.cancelled()));
      task.cancel("enough");
      await assert.rejects(async () => await task, cancelledWith("enough"));
    });
    assert.equal(fut.cancelled(), true);
    assert.deepEqual(seen, [true, true]);
  },
);

loopTest(
  "await of a done Future continues without yielding to the loop",
  async ({ loop }) => {
    // asyncio's Future.__await__ returns at once when the future is done, so
    // the task goes on before a callback scheduled for the next iteration.
    const log: string[] = [];
    await loop.runUntilComplete(async () => {
      const fut = loop.createFuture<number>();
      fut.setResult(1);
      await sleep(0);
      loop.callSoon(() => log.push("next iteration"));
      log.push(`got ${await fut}`);
      await sleep(0);
      await sleep(0);
    });
    assert.deepEqual(log, ["got 1", "next iteration"]);
  },
);

loopTest(
  "Future interoperates with promises (then, catch, finally, Promise.all)",
  async ({ loop }) => {
    const a = loop.createFuture<number>();
    const b = loop.createFuture<number>();
    const c = loop.createFuture<number>();
    const error = new Error("c failed");
    const doubled = a.then((v) => v * 2);
    const caught = c.catch((e) => e);
    let finallyRan = false;
    const viaFinally = b.finally(() => {
      finallyRan = true;
    });
    loop.callSoon(() => {
      a.setResult(21);
      b.setResult(5);
      c.setException(error);
    });
    const out = await loop.runUntilComplete(async () => [
      await doubled,
      await caught,
      await viaFinally,
      await Promise.all([a, b]),
    ]);
    assert.deepEqual(out, [42, error, 5, [21, 5]]);
    assert.equal(finallyRan, true);
  },
);

loopTest(
  "await of a Future from a different loop in a task throws RuntimeError",
  async (fx) => {
    const { loop } = fx;
    const other = fx.make();
    const foreign = other.createFuture<number>();
    // If the error never arrives, stop the loop instead of hanging.
    const watchdog = loop.callLater(0.25, () => loop.stop());
    try {
      const caught = await loop.runUntilComplete(async () => {
        try {
          await foreign;
        } catch (e) {
          return e;
        }
        return "not thrown";
      });
      assert.ok(caught instanceof RuntimeError, String(caught));
      assert.match((caught as Error).message, /different loop/);
    } finally {
      watchdog.cancel();
      foreign.cancel();
      other.close();
    }
  },
);

// ---- isFuture -------------------------------------------------------------

loopTest(
  "isFuture() recognises futures, tasks and duck-typed futures only",
  async ({ loop }) => {
    const fut = loop.createFuture();
    assert.equal(isFuture(fut), true);
    const task = loop.createTask(async () => 1);
    assert.equal(isFuture(task), true);
    class Duck {
      _asyncioFutureBlocking = false;
      addDoneCallback() {}
    }
    assert.equal(isFuture(new Duck()), true);
    assert.equal(isFuture(Duck), false);
    assert.equal(isFuture(Future), false);
    assert.equal(isFuture(Promise.resolve(1)), false);
    assert.equal(isFuture({ then() {} }), false);
    assert.equal(isFuture(1), false);
    assert.equal(isFuture(null), false);
    assert.equal(isFuture(undefined), false);
    fut.cancel();
    assert.equal(await loop.runUntilComplete(task), 1);
  },
);

// ---- unretrieved exceptions ----------------------------------------------

/** Fails a future and drops it without looking at its exception. */
function abandonFailedFuture(loop: AbstractEventLoop, error: Error): void {
  loop.createFuture().setException(error);
}

loopTest(
  "Future exception never retrieved is reported to the exception handler after GC",
  async (fx) => {
    const error = new Error("never retrieved");
    abandonFailedFuture(fx.loop, error);
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "Future exception was never retrieved");
    assert.equal(errors[0].exception, error);
  },
);

loopTest(
  "Future exception created in a callback that holds the future is still reported after GC",
  async (fx) => {
    // The error's stack frames reach the callback, its handle and so the
    // future: the report must not depend on the future being unreachable
    // from its own exception.
    (() => {
      const fut = fx.loop.createFuture();
      fx.loop.callSoon(() => fut.setException(new Error("from a callback")));
    })();
    await fx.loop.runUntilComplete(() => sleep(0));
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "Future exception was never retrieved");
    assert.equal((errors[0].exception as Error).message, "from a callback");
  },
);

/** Futures whose exception was retrieved (or that never had one). */
async function abandonRetrievedFutures(loop: AbstractEventLoop): Promise<void> {
  const viaException = loop.createFuture();
  viaException.setException(new Error("exception()"));
  viaException.exception();

  const viaResult = loop.createFuture();
  viaResult.setException(new Error("result()"));
  assert.throws(() => viaResult.result());

  const viaCancel = loop.createFuture();
  viaCancel.setException(new Error("cancel()"));
  assert.equal(viaCancel.cancel(), false);

  const withResult = loop.createFuture();
  withResult.setResult(42);

  const cancelled = loop.createFuture();
  cancelled.cancel();

  const viaAwait = loop.createFuture();
  await loop.runUntilComplete(async () => {
    loop.callSoon(() => viaAwait.setException(new Error("await")));
    await assert.rejects(async () => await viaAwait, /await/);
  });
}

loopTest(
  "Future exception retrieved (exception(), result(), cancel(), await) is not reported after GC",
  async (fx) => {
    await abandonRetrievedFutures(fx.loop);
    // A control future that is reported shows that collection happened.
    const control = new Error("control");
    abandonFailedFuture(fx.loop, control);
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    // Let any other pending finalizer run as well.
    await gcUntil(() => false, 3);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.exception), [control]);
  },
);
