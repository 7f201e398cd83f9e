/**
 * Checks asyncio's documented behaviour of futures and tasks that the other
 * suites leave out: state errors and their texts, cancel messages seen
 * through `result()`/`exception()`, done-callback bookkeeping, descriptions,
 * cancellation corner cases, and a few combinator cases (`gather`, `wait`),
 * on every loop kind.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  CancelledError,
  createTask,
  currentTask,
  ensureFuture,
  FIRST_COMPLETED,
  Future,
  gather,
  InvalidStateError,
  sleep,
  Task,
  wait,
} from "../../mod.ts";
import { loopTest } from "../_util.ts";

/** Runs the loop until every task created so far has taken its first step. */
function runOnce(loop: AbstractEventLoop): Promise<void> {
  return loop.runUntilComplete(() => sleep(0));
}

/** A validator for `assert.throws`/`rejects`: a CancelledError with `msg`. */
function cancelledWith(msg: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CancelledError, `not cancelled: ${error}`);
    assert.equal(error.message, msg);
    return true;
  };
}

// ---- Future state transitions ---------------------------------------------

loopTest(
  "Future.result() and exception() while pending say what is missing",
  ({ loop }) => {
    const fut = loop.createFuture();
    assert.throws(() => fut.result(), (e) => {
      assert.ok(e instanceof InvalidStateError);
      assert.equal(e.message, "Result is not ready.");
      return true;
    });
    assert.throws(() => fut.exception(), (e) => {
      assert.ok(e instanceof InvalidStateError);
      assert.equal(e.message, "Exception is not set.");
      return true;
    });
    fut.cancel();
  },
);

loopTest(
  "Future.setResult() and setException() after cancel() throw InvalidStateError naming the state",
  ({ loop }) => {
    const fut = loop.createFuture<number>();
    assert.equal(fut.cancel(), true);
    assert.equal(fut.cancelled(), true);
    assert.equal(fut.done(), true);
    for (
      const attempt of [
        () => fut.setResult(1),
        () => fut.setException(new Error("late")),
      ]
    ) {
      assert.throws(attempt, (e) => {
        assert.ok(e instanceof InvalidStateError, String(e));
        assert.equal(e.message, "CANCELLED: <Future cancelled>");
        return true;
      });
    }
    assert.equal(fut.cancel(), false);
    assert.equal(fut.cancelled(), true);
  },
);

loopTest(
  "Future.setException() after setResult() names the finished state and keeps the result",
  ({ loop }) => {
    const fut = loop.createFuture<number>();
    fut.setResult(4);
    assert.throws(() => fut.setException(new Error("late")), (e) => {
      assert.ok(e instanceof InvalidStateError, String(e));
      assert.equal(e.message, "FINISHED: <Future finished result=4>");
      return true;
    });
    assert.equal(fut.cancel(), false);
    assert.equal(fut.cancelled(), false);
    assert.equal(fut.result(), 4);
    assert.equal(fut.exception(), null);
  },
);

loopTest(
  "Future that failed refuses cancel() and setResult(); result() rethrows the same error",
  ({ loop }) => {
    const fut = loop.createFuture<number>();
    const error = new RangeError("boom");
    fut.setException(error);
    assert.equal(fut.cancel(), false);
    assert.equal(fut.cancelled(), false);
    assert.throws(() => fut.setResult(1), InvalidStateError);
    assert.throws(() => fut.result(), (e) => e === error);
    assert.throws(() => fut.result(), (e) => e === error);
    assert.equal(fut.exception(), error);
  },
);

loopTest(
  "Future.result() and exception() of a cancelled future throw a fresh CancelledError with the message each time",
  ({ loop }) => {
    const fut = loop.createFuture();
    fut.cancel("stop here");
    const seen: unknown[] = [];
    for (const read of [() => fut.result(), () => fut.exception()]) {
      for (let i = 0; i < 2; i++) {
        assert.throws(read, (e) => {
          seen.push(e);
          return cancelledWith("stop here")(e);
        });
      }
    }
    assert.equal(new Set(seen).size, 4, "a new error per call");
  },
);

loopTest(
  "Future.cancel() without a message gives CancelledError with an empty message",
  async ({ loop }) => {
    const fut = loop.createFuture();
    fut.cancel();
    assert.throws(() => fut.result(), cancelledWith(""));
    await assert.rejects(loop.runUntilComplete(fut), cancelledWith(""));
  },
);

// ---- done callbacks --------------------------------------------------------

loopTest(
  "Future done callbacks are scheduled at completion: removing one from an earlier callback does not stop it",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    const order: string[] = [];
    const removed: number[] = [];
    const later = () => order.push("later");
    fut.addDoneCallback(() => {
      order.push("first");
      removed.push(fut.removeDoneCallback(later));
    });
    fut.addDoneCallback(later);
    fut.addDoneCallback(later);
    fut.setResult("x");
    assert.deepEqual(order, []);
    await runOnce(loop);
    assert.deepEqual(order, ["first", "later", "later"]);
    assert.deepEqual(removed, [0]);
  },
);

loopTest(
  "Future.removeDoneCallback() counts across removals and re-additions",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
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
    fut.addDoneCallback(cb3);
    fut.setResult("foo");
    await runOnce(loop);
    assert.deepEqual(bag, [2, 3]);
    assert.equal(fut.result(), "foo");
  },
);

loopTest(
  "Future done callbacks run in the context each was registered in",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const fut = loop.createFuture<number>();
    const seen: (string | undefined)[] = [];
    const record = () => seen.push(store.getStore());
    store.run("a", () => fut.addDoneCallback(record));
    fut.addDoneCallback(record);
    store.run("b", () => fut.addDoneCallback(record));
    store.run("c", () => fut.setResult(1));
    await runOnce(loop);
    assert.deepEqual(seen, ["a", undefined, "b"]);
  },
);

loopTest(
  "Future done callbacks of a future cancelled from a callback see it cancelled",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const seen: boolean[] = [];
    fut.addDoneCallback((f) => seen.push(f.cancelled()));
    loop.callSoon(() => fut.cancel("from callback"));
    await assert.rejects(
      loop.runUntilComplete(fut),
      cancelledWith("from callback"),
    );
    await runOnce(loop);
    assert.deepEqual(seen, [true]);
  },
);

// ---- descriptions ----------------------------------------------------------

loopTest(
  "Future.toString() names its callbacks; a cancelled future lists none",
  ({ loop }) => {
    function firstCb() {}
    function lastCb() {}
    const one = loop.createFuture();
    one.addDoneCallback(firstCb);
    assert.equal(String(one), "<Future pending cb=[firstCb]>");
    one.addDoneCallback(() => {});
    assert.equal(String(one), "<Future pending cb=[firstCb, <cb>]>");
    assert.equal(one.removeDoneCallback(firstCb), 1);
    one.addDoneCallback(lastCb);
    assert.equal(String(one), "<Future pending cb=[<cb>, lastCb]>");
    one.cancel();
    assert.equal(String(one), "<Future cancelled>");
  },
);

loopTest(
  "Future.toString() shows the result, or the exception with its message",
  ({ loop }) => {
    const ok = loop.createFuture<number>();
    ok.setResult(4);
    assert.equal(String(ok), "<Future finished result=4>");
    const failed = loop.createFuture();
    const error = new RangeError("bad");
    failed.setException(error);
    assert.equal(
      String(failed),
      '<Future finished exception=RangeError("bad")>',
    );
    assert.equal(failed.exception(), error);
  },
);

loopTest(
  "Task.toString() of a task whose result describes the task does not recurse",
  async ({ loop }) => {
    const task = loop.createTask(async () => {
      await sleep(0);
      return result;
    });
    const result = { toString: (): string => `holder of ${task}` };
    await loop.runUntilComplete(task);
    const text = String(task);
    assert.match(text, /^<Task finished /);
    assert.match(text, /result=holder of \.\.\.>$/);
  },
);

loopTest(
  "Task.toString() shows what the task waits for before its done callbacks",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    const task = loop.createTask(async function work() {
      return await fut;
    }, { name: "waiter" });
    task.addDoneCallback(function onDone() {});
    await runOnce(loop);
    assert.equal(
      String(task),
      '<Task pending name="waiter" coro=work ' +
        "wait_for=<Future pending cb=[Task.wakeup]> cb=[onDone]>",
    );
    fut.setResult(1);
    assert.equal(await loop.runUntilComplete(task), 1);
    assert.equal(
      String(task),
      '<Task finished name="waiter" coro=work result=1>',
    );
  },
);

loopTest(
  "Task.toString() after uncancel() to zero no longer says cancelling",
  async ({ loop }) => {
    const task = loop.createTask(async () => {
      try {
        await sleep(10);
      } catch (e) {
        currentTask()!.uncancel();
        await sleep(10);
        throw e;
      }
    });
    await runOnce(loop);
    assert.doesNotMatch(String(task), / cancelling /);
    assert.equal(task.cancel(), true);
    assert.match(String(task), /^<Task cancelling /);
    await runOnce(loop);
    assert.match(String(task), /^<Task pending /);
    assert.equal(task.cancelling(), 0);
    assert.equal(task.cancel(), true);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
  },
);

// ---- Task cancellation -----------------------------------------------------

loopTest(
  "Task.cancel(msg) while sleeping: result() and exception() after wait() throw with the message",
  async ({ loop }) => {
    for (const read of ["result", "exception"] as const) {
      const outer = loop.createTask(async () => {
        const inner = createTask(() => sleep(10));
        await sleep(0);
        inner.cancel("my message");
        const [done, pending] = await wait([inner]);
        assert.deepEqual([...done], [inner]);
        assert.equal(pending.size, 0);
        inner[read]();
      });
      await assert.rejects(
        loop.runUntilComplete(outer),
        cancelledWith("my message"),
      );
      assert.equal(outer.cancelled(), true);
    }
  },
);

loopTest(
  "Task.cancel(msg) before the task started: exception() after wait() throws with the message",
  async ({ loop }) => {
    let started = false;
    const outer = loop.createTask(async () => {
      const inner = createTask(async () => {
        started = true;
        await sleep(10);
      });
      inner.cancel("before start");
      await wait([inner]);
      inner.exception();
    });
    await assert.rejects(
      loop.runUntilComplete(outer),
      cancelledWith("before start"),
    );
    assert.equal(started, false);
  },
);

loopTest(
  "Task.cancel(msg) of a task that returns right after: the task ends cancelled with the message",
  async ({ loop }) => {
    const task = loop.createTask(async () => {
      currentTask()!.cancel("at the end");
      return 12;
    });
    await assert.rejects(
      loop.runUntilComplete(task),
      cancelledWith("at the end"),
    );
    assert.equal(task.cancelled(), true);
    assert.equal(task.cancel(), false);
    assert.throws(() => task.result(), cancelledWith("at the end"));
  },
);

loopTest(
  "Task that turns its CancelledError into another error ends with that error, not cancelled",
  async ({ loop }) => {
    let inner: Task<unknown>;
    const outer = loop.createTask(async () => {
      inner = createTask(() => sleep(10));
      await sleep(0);
      loop.callSoon(() => inner.cancel("msg"));
      try {
        await inner;
      } catch (e) {
        throw new RangeError("cancelled", { cause: e });
      }
    });
    await assert.rejects(loop.runUntilComplete(outer), (e) => {
      assert.ok(e instanceof RangeError);
      assert.ok((e as Error).cause instanceof CancelledError);
      assert.equal(((e as Error).cause as Error).message, "msg");
      return true;
    });
    assert.equal(outer.cancelled(), false);
    assert.ok(outer.exception() instanceof RangeError);
    assert.equal(inner!.cancelled(), true);
  },
);

loopTest(
  "Task.cancel() of a task whose awaited future was already cancelled still ends it cancelled",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const task = loop.createTask(async () => {
      await fut;
      return 12;
    });
    await runOnce(loop);
    assert.equal(fut.cancel(), true);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 1);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.done(), true);
    assert.equal(task.cancelled(), true);
    assert.equal(fut.cancelled(), true);
  },
);

loopTest(
  "Task that cancels itself and then awaits a nested task cancels that task and what it awaits",
  async ({ loop }) => {
    const fut = loop.createFuture();
    let nested!: Task<unknown>;
    const task = loop.createTask(async () => {
      nested = createTask(async () => {
        await fut;
      });
      await sleep(0);
      currentTask()!.cancel();
      await nested;
    });
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.cancelled(), true);
    assert.equal(nested.cancelled(), true);
    assert.equal(fut.cancelled(), true);
  },
);

loopTest(
  "Task.cancel() twice before the first step: both return true and the count is 2",
  async ({ loop }) => {
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
      await sleep(10);
    });
    assert.equal(task.cancelling(), 0);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 2);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(ran, false);
    assert.equal(task.cancel(), false);
    assert.equal(
      task.cancelling(),
      2,
      "cancel() of a done task counts nothing",
    );
  },
);

loopTest(
  "Task.cancel() from a timer while another task awaits it: the awaiter catches CancelledError",
  async ({ loop }) => {
    const t0 = loop.time();
    const outcome = await loop.runUntilComplete(async () => {
      const sleeper = createTask(() => sleep(5000));
      loop.callLater(0.1, () => sleeper.cancel());
      try {
        await sleeper;
        return "slept in";
      } catch (e) {
        assert.ok(e instanceof CancelledError);
        return "cancelled";
      }
    });
    assert.equal(outcome, "cancelled");
    assert.ok(Math.abs(loop.time() - t0 - 0.1) < 1e-9, `${loop.time()}`);
  },
  { virtualOnly: true },
);

loopTest(
  "Task.cancel() of a task awaiting a coroutine cancels the innermost future; the coroutine sees it first",
  async ({ loop }) => {
    const waiter = loop.createFuture();
    const proof: string[] = [];
    const inner = async () => {
      try {
        await waiter;
        proof.push("inner went on");
      } catch (e) {
        proof.push("inner");
        throw e;
      }
    };
    const task = loop.createTask(async () => {
      try {
        await inner();
        proof.push("outer went on");
      } catch (e) {
        assert.ok(e instanceof CancelledError);
        proof.push("outer");
      }
    });
    await runOnce(loop);
    assert.equal(task.cancel(), true);
    await loop.runUntilComplete(task);
    assert.deepEqual(proof, ["inner", "outer"]);
    assert.equal(waiter.cancelled(), true);
    assert.equal(task.cancelled(), false);
  },
);

// ---- Task results and awaiting ---------------------------------------------

loopTest(
  "await of a failed task throws the same error every time",
  async ({ loop }) => {
    const error = new TypeError("42");
    const task = loop.createTask(async () => {
      throw error;
    });
    const caught = await loop.runUntilComplete(async () => {
      const seen: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        try {
          await task;
        } catch (e) {
          seen.push(e);
        }
      }
      return seen;
    });
    assert.equal(caught.length, 5);
    for (const e of caught) assert.equal(e, error);
  },
);

loopTest(
  "Task of a custom thenable (not a promise) takes the value it resolves with",
  async ({ loop }) => {
    const thenable = {
      then(resolve: (value: string) => void) {
        resolve("ok");
      },
    } as unknown as PromiseLike<string>;
    const viaEnsure = ensureFuture(thenable, { loop });
    assert.ok(viaEnsure instanceof Task);
    const viaCreate = loop.createTask(thenable);
    assert.ok(viaCreate instanceof Task);
    assert.equal(await loop.runUntilComplete(viaEnsure), "ok");
    assert.equal(await loop.runUntilComplete(viaCreate), "ok");
  },
);

loopTest(
  "Task whose coroutine settles after its loop closed records the outcome without scheduling",
  async (fx) => {
    const { loop } = fx;
    let release!: (value: string) => void;
    const gate = new Promise<string>((resolve) => release = resolve);
    const seen: string[] = [];
    const task = loop.createTask(async () => await gate);
    task.addDoneCallback(() => seen.push("callback"));
    await runOnce(loop);
    loop.close();
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.message), [
      "Task was destroyed but it is pending!",
    ]);
    release("late");
    await gate;
    // The coroutine's own continuation and the task's watcher are microtasks.
    for (let i = 0; i < 5 && !task.done(); i++) await null;
    assert.equal(task.done(), true);
    assert.equal(task.result(), "late");
    assert.deepEqual(seen, []);
  },
);

loopTest(
  "currentTask(loop) is the task inside it and null before and after",
  async ({ loop }) => {
    const task: Task<void> = loop.createTask(async (): Promise<void> => {
      assert.equal(currentTask(), task);
      assert.equal(currentTask(loop), task);
      await sleep(0);
      assert.equal(currentTask(undefined), task);
    });
    assert.equal(currentTask(loop), null);
    await loop.runUntilComplete(task);
    assert.equal(currentTask(loop), null);
  },
);

loopTest(
  "Future.prototype.setResult() forced on a task: the task keeps that result and the step reports the clash",
  async (fx) => {
    const { loop } = fx;
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
      await sleep(0.1);
      return 10;
    });
    Future.prototype.setResult.call(task, "spam");
    assert.equal(await loop.runUntilComplete(task), "spam");
    await runOnce(loop);
    assert.equal(ran, false);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.ok(errors[0].exception instanceof InvalidStateError);
    assert.match(String(errors[0].exception), /already done/);
  },
);

// ---- combinators -----------------------------------------------------------

loopTest(
  "gather({ returnExceptions: true }) puts CancelledErrors of cancelled children in the results",
  async ({ loop }) => {
    const futs = Array.from({ length: 6 }, () => loop.createFuture<unknown>());
    const [a, b, c, d, e, f] = futs;
    const all = gather(...futs, { returnExceptions: true });
    const zde = new RangeError("zero");
    a.setResult(1);
    b.setException(zde);
    c.cancel();
    await runOnce(loop);
    assert.equal(all.done(), false);
    d.setResult(3);
    e.cancel("e off");
    const rte = new TypeError("rte");
    f.setException(rte);
    const results = await loop.runUntilComplete(all);
    assert.equal(results[0], 1);
    assert.equal(results[1], zde);
    assert.ok(results[2] instanceof CancelledError);
    assert.equal(results[3], 3);
    assert.ok(results[4] instanceof CancelledError);
    assert.equal((results[4] as Error).message, "e off");
    assert.equal(results[5], rte);
    assert.equal(all.cancelled(), false);
  },
);

loopTest(
  "gather(): cancelling the awaiting task cancels the children; the gather then refuses cancel()",
  async ({ loop }) => {
    const waiter = loop.createFuture();
    let proof = 0;
    const inner = async () => {
      await waiter;
      proof += 1;
    };
    const child1 = loop.createTask(inner);
    const child2 = loop.createTask(inner);
    let gatherer!: Future<unknown[]>;
    const outer = loop.createTask(async () => {
      gatherer = gather(child1, child2);
      await gatherer;
      proof += 100;
    });
    await runOnce(loop);
    assert.equal(outer.cancel(), true);
    await assert.rejects(loop.runUntilComplete(outer), CancelledError);
    assert.equal(gatherer.cancel(), false);
    assert.equal(waiter.cancelled(), true);
    assert.equal(child1.cancelled(), true);
    assert.equal(child2.cancelled(), true);
    await runOnce(loop);
    assert.equal(proof, 0);
  },
);

loopTest(
  "wait(FIRST_COMPLETED) returns every task done by the time it wakes",
  async ({ loop }) => {
    const a = loop.createTask(async () => {
      await sleep(0);
    });
    const b = loop.createTask(async () => {
      await sleep(0);
      await sleep(0);
    });
    const [done, pending] = await loop.runUntilComplete(() =>
      wait([b, a], { returnWhen: FIRST_COMPLETED })
    );
    assert.deepEqual(new Set(done), new Set([a, b]));
    assert.equal(pending.size, 0);
    assert.equal(a.result(), undefined);
    assert.equal(b.result(), undefined);
  },
);
