/**
 * Behaviour of `Task`, `createTask`, `currentTask`, `allTasks`, `ensureFuture`
 * and `sleep`, after CPython's Lib/test/test_asyncio/test_tasks.py, on every
 * loop kind.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  allTasks,
  CancelledError,
  Context,
  createTask,
  currentTask,
  ensureFuture,
  type Future,
  gather,
  getRunningLoop,
  isFuture,
  RuntimeError,
  sleep,
  Task,
} from "../../mod.ts";
import { gcUntil, loopTest } from "../_util.ts";

/** A validator for `assert.throws`/`rejects`: a CancelledError with `msg`. */
function cancelledWith(msg: string | undefined) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof CancelledError, `not cancelled: ${error}`);
    if (msg !== undefined) assert.equal(error.message, msg);
    return true;
  };
}

/** Runs the loop until every task created so far has taken its first step. */
function runOnce(loop: AbstractEventLoop): Promise<void> {
  return loop.runUntilComplete(() => sleep(0));
}

// ---- creation ---------------------------------------------------------------

loopTest(
  "Task from createTask(fn) starts on the loop, not at the call",
  async ({ loop }) => {
    let started = false;
    const work = async () => {
      started = true;
      await sleep(0);
      return "done";
    };
    const task = loop.createTask(work);
    assert.equal(started, false);
    assert.ok(task instanceof Task);
    assert.equal(task.getLoop(), loop);
    assert.equal(task.getCoro(), work);
    assert.equal(task.done(), false);
    assert.equal(await loop.runUntilComplete(task), "done");
    assert.equal(started, true);
    assert.equal(task.result(), "done");
  },
);

loopTest(
  "Task from createTask(promise) adopts the promise's result",
  async ({ loop }) => {
    const gate = loop.createFuture<number>();
    const promise = (async () => (await gate) * 2)();
    const task = loop.createTask(promise);
    assert.equal(task.getCoro(), promise);
    loop.callSoon(() => gate.setResult(21));
    assert.equal(await loop.runUntilComplete(task), 42);
  },
);

loopTest(
  "Task from createTask(promise) adopts a rejection as its exception",
  async ({ loop }) => {
    const error = new RangeError("adopted");
    const promise = Promise.reject(error);
    const task = loop.createTask(promise);
    await assert.rejects(loop.runUntilComplete(task), (e) => e === error);
    assert.equal(task.exception(), error);
  },
);

loopTest("Task names default to Task-N with N increasing", async ({ loop }) => {
  const a = loop.createTask(async () => {});
  const b = loop.createTask(async () => {});
  const na = /^Task-(\d+)$/.exec(a.getName());
  const nb = /^Task-(\d+)$/.exec(b.getName());
  assert.ok(na && nb, `${a.getName()} / ${b.getName()}`);
  assert.equal(Number(nb[1]), Number(na[1]) + 1);
  await loop.runUntilComplete(async () => {
    await a;
    await b;
  });
});

loopTest("Task name option and setName() name the task", async ({ loop }) => {
  const named = loop.createTask(async () => {}, { name: "worker" });
  assert.equal(named.getName(), "worker");
  assert.match(String(named), /name="worker"/);
  named.setName(123);
  assert.equal(named.getName(), "123");
  const unnamed = loop.createTask(async () => {}, { name: null });
  assert.match(unnamed.getName(), /^Task-\d+$/);
  await loop.runUntilComplete(async () => {
    await named;
    await unnamed;
  });
});

loopTest(
  "createTask() rejects a non-coroutine with TypeError at the call",
  (fx) => {
    const { loop } = fx;
    const fut = loop.createFuture();
    const bad: unknown[] = [42, null, "work", { not: "a promise" }, fut];
    for (const value of bad) {
      assert.throws(
        () => loop.createTask(value as () => Promise<void>),
        TypeError,
        String(value),
      );
      assert.throws(
        () => new Task(value as () => Promise<void>, { loop }),
        TypeError,
        String(value),
      );
    }
    assert.equal(allTasks(loop).size, 0);
    fut.cancel();
  },
);

loopTest(
  "Task from a lazy function returning a non-promise fails with TypeError",
  async ({ loop }) => {
    const task = loop.createTask(
      (() => 42) as unknown as () => Promise<number>,
    );
    await assert.rejects(loop.runUntilComplete(task), TypeError);
    assert.ok(task.exception() instanceof TypeError);
  },
);

loopTest(
  "Task from a lazy function that throws synchronously fails with that error",
  async ({ loop }) => {
    const error = new Error("sync throw");
    const task = loop.createTask((): Promise<void> => {
      throw error;
    });
    await assert.rejects(loop.runUntilComplete(task), (e) => e === error);
    assert.equal(task.exception(), error);
  },
);

loopTest("createTask() on a closed loop throws RuntimeError", (fx) => {
  const closed = fx.make();
  closed.close();
  let ran = false;
  assert.throws(
    () =>
      closed.createTask(async () => {
        ran = true;
      }),
    RuntimeError,
  );
  assert.equal(ran, false);
});

Deno.test("createTask() without a running loop throws RuntimeError", () => {
  assert.throws(() => createTask(async () => {}), RuntimeError);
});

loopTest(
  "Task runs its coroutine in the context option, else the creating context",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const probe = async () => {
      await sleep(0);
      return store.getStore();
    };
    const ctx = store.run("given", () => Context.current());
    const given = loop.createTask(probe, { context: ctx });
    const inherited = store.run("creator", () => loop.createTask(probe));
    const none = loop.createTask(probe);
    const results = await loop.runUntilComplete(async () => [
      await given,
      await inherited,
      await none,
    ]);
    assert.deepEqual(results, ["given", "creator", undefined]);
    assert.equal(given.getContext().run(() => store.getStore()), "given");
  },
);

loopTest(
  "AsyncLocalStorage.run inside a task keeps the task, and a task created there keeps the store",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: unknown[] = [];
    const outer = loop.createTask(async () => {
      const self = currentTask();
      await store.run("inner", async () => {
        await sleep(0);
        seen.push(store.getStore(), currentTask() === self);
        const child: Task<unknown[]> = loop.createTask(async () => {
          await sleep(0);
          return [store.getStore(), currentTask() === child];
        });
        seen.push(...await child);
      });
      await sleep(0);
      seen.push(store.getStore(), currentTask() === self);
    });
    await loop.runUntilComplete(outer);
    assert.deepEqual(seen, ["inner", true, "inner", true, undefined, true]);
  },
);

loopTest(
  "A task whose coroutine throws undefined or null fails with that value",
  async ({ loop }) => {
    for (const thrown of [undefined, null]) {
      const task = loop.createTask(async () => {
        await sleep(0);
        throw thrown;
      });
      await loop.runUntilComplete(async () => {
        try {
          await task;
          assert.fail("awaiting the task did not throw");
        } catch (error) {
          assert.equal(error, thrown);
        }
      });
      assert.equal(task.done(), true);
      assert.equal(task.cancelled(), false);
      assert.equal(task.exception(), thrown);
      assert.throws(() => task.result(), (error) => error === thrown);
      assert.match(String(task), /exception=/);
    }
  },
);

// ---- currentTask / allTasks -------------------------------------------------

loopTest(
  "currentTask() is the running task after every kind of await",
  async ({ loop }) => {
    const seen: (Task | null)[] = [];
    const fut = loop.createFuture<number>();
    const helper = loop.createTask(async () => {
      await sleep(0);
      return 1;
    });
    const task = loop.createTask(async () => {
      seen.push(currentTask());
      await sleep(0);
      seen.push(currentTask());
      loop.callSoon(() => fut.setResult(1));
      await fut;
      seen.push(currentTask());
      await Promise.resolve();
      seen.push(currentTask());
      await sleep(0.01);
      seen.push(currentTask());
      await helper;
      seen.push(currentTask());
    });
    await loop.runUntilComplete(task);
    assert.equal(seen.length, 6);
    for (const t of seen) assert.equal(t, task);
  },
);

loopTest(
  "currentTask() is null in a callSoon callback and in a done callback",
  async ({ loop }) => {
    const seen: unknown[] = [];
    const fut = loop.createFuture();
    await loop.runUntilComplete(async () => {
      loop.callSoon(() => seen.push(currentTask()));
      fut.addDoneCallback(() => seen.push(currentTask()));
      fut.setResult(null);
      await sleep(0);
    });
    assert.deepEqual(seen, [null, null]);
  },
);

loopTest(
  "currentTask() keeps interleaved tasks apart",
  async ({ loop }) => {
    const fut1 = loop.createFuture();
    const fut2 = loop.createFuture();
    const checks: boolean[] = [];
    const task1: Task<void> = loop.createTask(async () => {
      checks.push(currentTask() === task1);
      await fut1;
      checks.push(currentTask() === task1);
      fut2.setResult(true);
    });
    const task2: Task<void> = loop.createTask(async () => {
      checks.push(currentTask() === task2);
      fut1.setResult(true);
      await fut2;
      checks.push(currentTask() === task2);
    });
    await loop.runUntilComplete(async () => {
      await task1;
      await task2;
    });
    assert.deepEqual(checks, [true, true, true, true]);
  },
);

Deno.test("currentTask() without a running loop throws RuntimeError", () => {
  assert.throws(() => currentTask(), RuntimeError);
});

loopTest(
  "currentTask(loop) of a loop that is not running is null",
  ({ loop }) => {
    assert.equal(currentTask(loop), null);
  },
);

loopTest(
  "allTasks() lists the loop's pending tasks only",
  async ({ loop }) => {
    const gate = loop.createFuture();
    const quick = loop.createTask(async () => {});
    const slow = loop.createTask(async () => await gate);
    assert.deepEqual(allTasks(loop), new Set([quick, slow]));
    await loop.runUntilComplete(async () => {
      await quick;
      const main = currentTask();
      assert.deepEqual(allTasks(), new Set([slow, main]));
      gate.setResult(null);
      await slow;
      assert.deepEqual(allTasks(), new Set([main]));
    });
    assert.equal(allTasks(loop).size, 0);
  },
);

Deno.test("allTasks() without a running loop throws RuntimeError", () => {
  assert.throws(() => allTasks(), RuntimeError);
});

// ---- cancellation -----------------------------------------------------------

loopTest(
  "Task.cancel() before the first step: the coroutine never runs",
  async ({ loop }) => {
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
    });
    assert.equal(task.cancel("too early"), true);
    assert.equal(task.cancelled(), false); // not until the loop runs it
    await assert.rejects(
      loop.runUntilComplete(task),
      cancelledWith("too early"),
    );
    assert.equal(ran, false);
    assert.equal(task.cancelled(), true);
    assert.equal(task.cancelling(), 1);
  },
);

loopTest(
  "Task.cancel() while awaiting a future throws CancelledError at the await",
  async ({ loop }) => {
    const fut = loop.createFuture();
    let caught: unknown;
    const task = loop.createTask(async () => {
      try {
        await fut;
      } catch (e) {
        caught = e;
        throw e;
      }
    });
    await runOnce(loop);
    assert.equal(task.cancel("my message"), true);
    assert.equal(fut.cancelled(), true);
    await assert.rejects(
      loop.runUntilComplete(task),
      cancelledWith("my message"),
    );
    cancelledWith("my message")(caught);
    assert.equal(task.cancelled(), true);
    assert.equal(task.cancelling(), 1);
  },
);

loopTest(
  "Task.cancel() while awaiting sleep(0) throws CancelledError at the sleep",
  async ({ loop }) => {
    const log: string[] = [];
    const task = loop.createTask(async () => {
      log.push("before");
      try {
        await sleep(0);
      } catch (e) {
        log.push(`caught ${(e as Error).message}`);
        throw e;
      }
      log.push("after");
    });
    loop.callSoon(() => task.cancel("now"));
    await assert.rejects(loop.runUntilComplete(task), cancelledWith("now"));
    assert.deepEqual(log, ["before", "caught now"]);
    assert.equal(task.cancelled(), true);
  },
);

loopTest(
  "Task.cancel() while awaiting sleep(10) ends the task without waiting",
  async ({ loop }) => {
    const t0 = loop.time();
    const task = loop.createTask(() => sleep(10, "slept"));
    loop.callSoon(() => task.cancel());
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.ok(loop.time() - t0 < 10, `took ${loop.time() - t0}s`);
  },
);

loopTest(
  "Task that catches CancelledError and returns a value is not cancelled",
  async ({ loop }) => {
    const task = loop.createTask(async () => {
      try {
        await sleep(10);
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
        return "caught";
      }
      return "slept";
    });
    await runOnce(loop);
    task.cancel();
    assert.equal(await loop.runUntilComplete(task), "caught");
    assert.equal(task.cancelled(), false);
    assert.equal(task.cancelling(), 1);
  },
);

loopTest(
  "Task.cancel() returns false once the task is done",
  async ({ loop }) => {
    const task = loop.createTask(async () => 1);
    await loop.runUntilComplete(task);
    assert.equal(task.cancel(), false);
    assert.equal(task.cancelling(), 0);
    assert.equal(task.cancelled(), false);
    assert.equal(task.result(), 1);
  },
);

loopTest(
  "Task cancelled by itself before an await gets CancelledError there",
  async ({ loop }) => {
    const t0 = loop.time();
    const task: Task<number> = loop.createTask(async () => {
      task.cancel();
      await sleep(100);
      return 12;
    });
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.cancelled(), true);
    assert.ok(loop.time() - t0 < 100);
  },
);

loopTest(
  "Task cancelled by itself that returns without awaiting ends cancelled",
  async ({ loop }) => {
    const task: Task<number> = loop.createTask(async () => {
      task.cancel("at end");
      return 12;
    });
    await assert.rejects(loop.runUntilComplete(task), cancelledWith("at end"));
    assert.equal(task.cancelled(), true);
  },
);

loopTest(
  "Task with a pending cancellation is not interrupted by awaiting a done future",
  async ({ loop }) => {
    const done = loop.createFuture<string>();
    done.setResult("value");
    const log: string[] = [];
    const task = loop.createTask(async () => {
      currentTask()!.cancel();
      log.push(await done);
      try {
        await sleep(0);
      } catch (e) {
        log.push("cancelled at sleep");
        throw e;
      }
      log.push("not reached");
    });
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.deepEqual(log, ["value", "cancelled at sleep"]);
  },
);

loopTest(
  "Task.cancel() while awaiting a plain promise is delivered at the next loop await",
  async ({ loop }) => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => open = resolve);
    const log: string[] = [];
    const task = loop.createTask(async () => {
      await gate;
      log.push("promise resolved");
      try {
        await sleep(0);
      } catch (e) {
        log.push("cancelled");
        throw e;
      }
    });
    await runOnce(loop);
    assert.equal(task.cancel(), true);
    assert.equal(task.signal.aborted, true);
    open();
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.deepEqual(log, ["promise resolved", "cancelled"]);
  },
);

loopTest(
  "Task awaiting a future cancelled from outside ends cancelled, cancelling() stays 0",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const task = loop.createTask(async () => await fut);
    await runOnce(loop);
    fut.cancel("external");
    await assert.rejects(
      loop.runUntilComplete(task),
      cancelledWith("external"),
    );
    assert.equal(task.cancelled(), true);
    assert.equal(task.cancelling(), 0);
  },
);

loopTest(
  "Task.cancel() keeps the task going when the coroutine ignores the cancellation",
  async ({ loop }) => {
    // CPython's test_cancel_task_ignoring.
    const fut1 = loop.createFuture();
    const fut2 = loop.createFuture();
    const fut3 = loop.createFuture<number>();
    const task = loop.createTask(async () => {
      await fut1;
      try {
        await fut2;
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
      }
      return await fut3;
    });
    await runOnce(loop);
    fut1.setResult(null);
    await loop.runUntilComplete(fut1);
    await runOnce(loop);
    assert.equal(task.cancel(), true);
    assert.equal(fut2.cancelled(), true);
    await runOnce(loop);
    fut3.setResult(42);
    assert.equal(await loop.runUntilComplete(task), 42);
    assert.equal(fut3.cancelled(), false);
    assert.equal(task.cancelled(), false);
  },
);

loopTest(
  "Task cancelled twice while awaiting sees one CancelledError and may finish",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const caught: unknown[] = [];
    const task = loop.createTask(async () => {
      try {
        await fut;
      } catch (e) {
        caught.push(e);
      }
      await sleep(0);
      return "finished";
    });
    await runOnce(loop);
    assert.equal(task.cancel("first"), true);
    assert.equal(task.cancel("second"), true);
    assert.equal(task.cancelling(), 2);
    assert.equal(await loop.runUntilComplete(task), "finished");
    assert.equal(caught.length, 1);
    cancelledWith("first")(caught[0]);
    assert.equal(task.cancelled(), false);
    assert.equal(task.cancelling(), 2);
  },
);

loopTest(
  "Task.cancelling() counts cancel() calls and uncancel() counts down to zero",
  async ({ loop }) => {
    const task = loop.createTask(async () => "ran");
    assert.equal(task.cancelling(), 0);
    assert.doesNotMatch(String(task), / cancelling /);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 1);
    assert.match(String(task), / cancelling /);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 2);
    assert.equal(task.uncancel(), 1);
    assert.equal(task.cancelling(), 1);
    assert.equal(task.uncancel(), 0);
    assert.equal(task.uncancel(), 0);
    assert.equal(task.cancelling(), 0);
    // Back to zero: the cancellation that was not delivered yet is withdrawn.
    assert.equal(await loop.runUntilComplete(task), "ran");
    assert.equal(task.cancelled(), false);
  },
);

loopTest(
  "Task.uncancel() above zero keeps the pending cancellation",
  async ({ loop }) => {
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
    });
    task.cancel();
    task.cancel();
    assert.equal(task.uncancel(), 1);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(ran, false);
    assert.equal(task.cancelled(), true);
  },
);

loopTest(
  "Task.uncancel() to zero withdraws a cancel requested after its future completed",
  async ({ loop }) => {
    // CPython's test_uncancel_resets_must_cancel (3.13+).
    const fut = loop.createFuture();
    const task = loop.createTask(async () => {
      await fut;
      return 42;
    });
    await runOnce(loop);
    fut.setResult(null); // the task is runnable but has not resumed
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 1);
    assert.equal(task.uncancel(), 0);
    assert.equal(await loop.runUntilComplete(task), 42);
  },
);

loopTest(
  "Task.cancel() after its awaited future completed still cancels the task",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    let resumed = false;
    const task = loop.createTask(async () => {
      await fut;
      resumed = true;
    });
    await runOnce(loop);
    fut.setResult(1);
    assert.equal(task.cancel("late"), true);
    await assert.rejects(loop.runUntilComplete(task), cancelledWith("late"));
    assert.equal(resumed, false);
    assert.equal(task.cancelled(), true);
    assert.equal(fut.result(), 1);
  },
);

loopTest(
  "Task.uncancel() in a catch block lets the task go on until cancelled again",
  async ({ loop }) => {
    // CPython's test_uncancel_basic.
    const sleeping = loop.createFuture();
    const recovered = loop.createFuture();
    const task = loop.createTask(async () => {
      try {
        sleeping.setResult(null);
        await sleep(10);
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
        currentTask()!.uncancel();
        recovered.setResult(null);
        await sleep(10);
      }
    });
    await loop.runUntilComplete(sleeping);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 1);
    assert.equal(task.cancelled(), false);
    await loop.runUntilComplete(recovered);
    assert.equal(task.cancelling(), 0);
    assert.equal(task.cancelled(), false);
    assert.equal(task.cancel(), true);
    assert.equal(task.cancelling(), 1);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.cancelled(), true);
    task.uncancel(); // no effect on a done task's state
    assert.equal(task.cancelled(), true);
    assert.equal(task.done(), true);
  },
);

loopTest(
  "Task.toString() says cancelling while a cancellation is pending",
  async ({ loop }) => {
    // CPython's test_uncancel_basic: the status is "cancelling" whenever
    // cancelling() > 0 and the task is not done, also after the awaited
    // future was already cancelled.
    const sleeping = loop.createFuture();
    const recovered = loop.createFuture();
    const task = loop.createTask(async () => {
      try {
        sleeping.setResult(null);
        await sleep(10);
      } catch {
        currentTask()!.uncancel();
        recovered.setResult(null);
        await sleep(10);
      }
    });
    await loop.runUntilComplete(sleeping);
    assert.doesNotMatch(String(task), / cancelling /);
    task.cancel();
    assert.match(String(task), /^<Task cancelling /);
    await loop.runUntilComplete(recovered);
    assert.doesNotMatch(String(task), / cancelling /);
    task.cancel();
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.match(String(task), /^<Task cancelled /);
  },
);

loopTest(
  "Task awaiting a task that gets cancelled sees its CancelledError",
  async ({ loop }) => {
    const inner = loop.createTask(() => sleep(10));
    const outer = loop.createTask(async () => {
      try {
        await inner;
      } catch (e) {
        return e;
      }
      return "not thrown";
    });
    await runOnce(loop);
    inner.cancel("stop");
    const caught = await loop.runUntilComplete(outer);
    cancelledWith("stop")(caught);
    assert.equal(inner.cancelled(), true);
    assert.equal(outer.cancelled(), false);
    assert.equal(outer.cancelling(), 0);
  },
);

loopTest(
  "Task.cancel() of a task awaiting another task cancels the inner task too",
  async ({ loop }) => {
    const inner = loop.createTask(() => sleep(10));
    const outer = loop.createTask(async () => await inner);
    await runOnce(loop);
    assert.equal(outer.cancel("both"), true);
    await assert.rejects(loop.runUntilComplete(outer), cancelledWith("both"));
    assert.equal(inner.cancelled(), true);
    assert.equal(outer.cancelled(), true);
    assert.equal(inner.cancelling(), 1);
    assert.equal(outer.cancelling(), 1);
  },
);

loopTest(
  "Task.cancel() of an outer task whose inner task swallows it gets the inner result",
  async ({ loop }) => {
    const inner = loop.createTask(async () => {
      try {
        await sleep(10);
      } catch (e) {
        if (!(e instanceof CancelledError)) throw e;
      }
      return 42;
    });
    const outer = loop.createTask(async () => await inner);
    await runOnce(loop);
    outer.cancel();
    assert.equal(await loop.runUntilComplete(outer), 42);
    assert.equal(outer.cancelled(), false);
    assert.equal(inner.cancelled(), false);
  },
);

loopTest(
  "Task.signal aborts with CancelledError when the task is cancelled",
  async ({ loop }) => {
    const task = loop.createTask(() => sleep(10));
    const signal = task.signal;
    assert.equal(signal.aborted, false);
    await runOnce(loop);
    assert.equal(signal.aborted, false);
    task.cancel("why");
    assert.equal(signal.aborted, true);
    cancelledWith("why")(signal.reason);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);

    const late = loop.createTask(async () => {});
    late.cancel();
    assert.equal(late.signal.aborted, true);
    await assert.rejects(loop.runUntilComplete(late), CancelledError);

    const finished = loop.createTask(async () => 1);
    const kept = finished.signal;
    await loop.runUntilComplete(finished);
    assert.equal(kept.aborted, false);
  },
);

// ---- awaiting and errors ---------------------------------------------------

loopTest(
  "Task that awaits itself gets RuntimeError at the await",
  async ({ loop }) => {
    const task: Task<unknown> = loop.createTask(async () => {
      try {
        await task;
      } catch (e) {
        return e;
      }
      return "not thrown";
    });
    const caught = await loop.runUntilComplete(task);
    assert.ok(caught instanceof RuntimeError, String(caught));
    assert.match((caught as Error).message, /itself/);
  },
);

loopTest(
  "Task exception propagates to result(), exception(), await and runUntilComplete()",
  async ({ loop }) => {
    const error = new TypeError("failed in task");
    const task = loop.createTask(async () => {
      await sleep(0);
      throw error;
    });
    const awaited = await loop.runUntilComplete(async () => {
      try {
        await task;
      } catch (e) {
        return e;
      }
      return "not thrown";
    });
    assert.equal(awaited, error);
    assert.equal(task.done(), true);
    assert.equal(task.cancelled(), false);
    assert.equal(task.exception(), error);
    assert.throws(() => task.result(), (e) => e === error);
    await assert.rejects(loop.runUntilComplete(task), (e) => e === error);
  },
);

loopTest(
  "runUntilComplete() with a task that raises rejects with that error",
  async ({ loop }) => {
    const error = new Error("raised");
    const task = loop.createTask(async () => {
      await sleep(0);
      throw error;
    });
    await assert.rejects(loop.runUntilComplete(task), (e) => e === error);
    assert.equal(task.exception(), error);
    const lazy = new Error("lazy");
    await assert.rejects(
      loop.runUntilComplete(async () => {
        await sleep(0);
        throw lazy;
      }),
      (e) => e === lazy,
    );
  },
);

loopTest(
  "Task.setResult() and Task.setException() throw RuntimeError",
  async ({ loop }) => {
    const task = loop.createTask(async () => "own");
    assert.throws(() => task.setResult("forced"), RuntimeError);
    assert.throws(() => task.setException(new Error("forced")), RuntimeError);
    assert.equal(task.done(), false);
    assert.equal(await loop.runUntilComplete(task), "own");
  },
);

loopTest(
  "Task done callbacks run after completion and receive the task",
  async ({ loop }) => {
    const task = loop.createTask(async () => "r");
    const seen: [Future<string>, string][] = [];
    task.addDoneCallback((t) => seen.push([t, t.result()]));
    await loop.runUntilComplete(task);
    assert.equal(seen.length, 1);
    assert.equal(seen[0][0], task);
    assert.equal(seen[0][1], "r");
  },
);

loopTest(
  "Task.toString() shows the name, the coroutine and what it waits for",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    const task = loop.createTask(async function work() {
      return await fut;
    }, { name: "worker" });
    assert.match(String(task), /^<Task pending name="worker" coro=work/);
    await runOnce(loop);
    assert.match(String(task), /wait_for=<Future pending/);
    fut.setResult(5);
    await loop.runUntilComplete(task);
    assert.match(String(task), /^<Task finished name="worker" coro=work/);
    assert.match(String(task), /result=5/);
    assert.doesNotMatch(String(task), /wait_for/);
  },
);

loopTest(
  "loop.close() reports a task that is still pending",
  async (fx) => {
    const { loop } = fx;
    const never = loop.createFuture();
    const task = loop.createTask(async () => await never, { name: "stuck" });
    await runOnce(loop);
    loop.close();
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "Task was destroyed but it is pending!");
    assert.equal(errors[0].task, task);
  },
);

// ---- unretrieved exceptions and references ---------------------------------

/** Runs a task that fails and drops it without looking at its exception. */
async function abandonFailedTask(
  loop: AbstractEventLoop,
  error: Error,
): Promise<void> {
  const finished = loop.createFuture();
  loop.createTask(async () => {
    await sleep(0);
    throw error;
  }).addDoneCallback(() => finished.setResult(null));
  await loop.runUntilComplete(finished);
}

loopTest(
  "Task exception never retrieved is reported to the exception handler after GC",
  async (fx) => {
    const error = new Error("task never retrieved");
    await abandonFailedTask(fx.loop, error);
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "Task exception was never retrieved");
    assert.equal(errors[0].exception, error);
  },
);

/** Failed tasks whose exceptions were retrieved in the usual ways. */
async function abandonRetrievedTasks(loop: AbstractEventLoop): Promise<void> {
  const fail = (message: string) => async () => {
    await sleep(0);
    throw new Error(message);
  };
  await assert.rejects(loop.runUntilComplete(loop.createTask(fail("ruc"))));
  const viaException = loop.createTask(fail("exception()"));
  const viaCancel = loop.createTask(fail("cancel()"));
  const viaAwait = loop.createTask(fail("await"));
  await loop.runUntilComplete(async () => {
    await assert.rejects(async () => await viaAwait);
    await assert.rejects(async () => await viaException);
    await assert.rejects(async () => await viaCancel);
  });
  // (Awaiting retrieved them already; these calls must not re-arm anything.)
  assert.ok(viaException.exception() instanceof Error);
  assert.equal(viaCancel.cancel(), false);
}

loopTest(
  "Task exception retrieved (runUntilComplete, await) is not reported after GC",
  async (fx) => {
    await abandonRetrievedTasks(fx.loop);
    const control = new Error("control");
    await abandonFailedTask(fx.loop, control);
    assert.ok(await gcUntil(() => fx.errors.length > 0), "no report");
    await gcUntil(() => false, 3);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.exception), [control]);
  },
);

/** Starts a task without keeping a reference to it. */
function spawnUnreferenced(
  loop: AbstractEventLoop,
  done: Future<string>,
): void {
  loop.createTask(async () => {
    await sleep(0);
    await sleep(0.01);
    done.setResult("orphan finished");
  }, { name: "orphan" });
}

loopTest(
  "Task that nobody references still runs to completion (the loop holds it)",
  async ({ loop }) => {
    const done = loop.createFuture<string>();
    const result = await loop.runUntilComplete(async () => {
      spawnUnreferenced(loop, done);
      (globalThis as { gc?: () => void }).gc?.();
      await sleep(0);
      (globalThis as { gc?: () => void }).gc?.();
      const names = [...allTasks()].map((t) => t.getName());
      assert.ok(names.includes("orphan"), String(names));
      return await done;
    });
    assert.equal(result, "orphan finished");
  },
);

// ---- ensureFuture -----------------------------------------------------------

loopTest(
  "ensureFuture() returns futures, tasks and duck-typed futures unchanged",
  async ({ loop }) => {
    const fut = loop.createFuture();
    assert.equal(ensureFuture(fut), fut);
    assert.equal(ensureFuture(fut, { loop }), fut);
    const task = loop.createTask(async () => 1);
    assert.equal(ensureFuture(task, { loop }), task);
    const duck = {
      _asyncioFutureBlocking: false,
      addDoneCallback() {},
      then() {},
    };
    assert.equal(ensureFuture(duck as unknown as Future<void>), duck);
    fut.cancel();
    await loop.runUntilComplete(task);
  },
);

loopTest(
  "ensureFuture() wraps a coroutine function or a promise in a task",
  async ({ loop }) => {
    const fromFn = ensureFuture(async () => "fn", { loop });
    assert.ok(fromFn instanceof Task);
    assert.equal(fromFn.getLoop(), loop);
    const promise = (async () => "promise")();
    const fromPromise = ensureFuture(promise, { loop });
    assert.ok(fromPromise instanceof Task);
    assert.equal((fromPromise as Task<string>).getCoro(), promise);
    const inside = await loop.runUntilComplete(async () => {
      const t = ensureFuture(async () => "inside");
      assert.equal(t.getLoop(), loop);
      return await t;
    });
    assert.deepEqual(
      [
        await loop.runUntilComplete(fromFn),
        await loop.runUntilComplete(fromPromise),
        inside,
      ],
      ["fn", "promise", "inside"],
    );
  },
);

loopTest(
  "ensureFuture() rejects a non-awaitable with TypeError",
  ({ loop }) => {
    for (const bad of [42, null, "x", { a: 1 }]) {
      assert.throws(
        () => ensureFuture(bad as unknown as Future<void>, { loop }),
        TypeError,
        String(bad),
      );
    }
    assert.equal(allTasks(loop).size, 0);
  },
);

loopTest(
  "ensureFuture() with a future of another loop throws RangeError",
  (fx) => {
    const other = fx.make();
    try {
      const foreign = other.createFuture();
      assert.throws(() => ensureFuture(foreign, { loop: fx.loop }), RangeError);
      assert.equal(isFuture(foreign), true);
      foreign.cancel();
    } finally {
      other.close();
    }
  },
);

// ---- sleep ------------------------------------------------------------------

loopTest("sleep(delay, result) resolves with the result", async ({ loop }) => {
  const results = await loop.runUntilComplete(async () => [
    await sleep(0, "zero"),
    await sleep(0.01, { n: 1 }),
    await sleep(-1, "negative"),
    await sleep(0.01),
  ]);
  assert.deepEqual(results, ["zero", { n: 1 }, "negative", undefined]);
});

loopTest(
  "sleep() on the virtual clock advances time by exactly the delay",
  async ({ loop }) => {
    const times = await loop.runUntilComplete(async () => {
      const t: number[] = [loop.time()];
      await sleep(0.5);
      t.push(loop.time());
      await sleep(3600);
      t.push(loop.time());
      await sleep(0);
      t.push(loop.time());
      return t;
    });
    assert.deepEqual(times, [0, 0.5, 3600.5, 3600.5]);
  },
  { virtualOnly: true },
);

loopTest(
  "sleep() with a non-number delay rejects with TypeError",
  async ({ loop }) => {
    await loop.runUntilComplete(async () => {
      for (const bad of ["1", null, undefined, 1n]) {
        const promise = sleep(bad as unknown as number);
        await assert.rejects(promise, TypeError, String(bad));
      }
    });
  },
);

loopTest("sleep(NaN) rejects with RangeError", async ({ loop }) => {
  await loop.runUntilComplete(async () => {
    await assert.rejects(sleep(NaN), RangeError);
  });
});

Deno.test("sleep() outside a running loop rejects with RuntimeError", async () => {
  await assert.rejects(sleep(0), RuntimeError);
  await assert.rejects(sleep(1, "x"), RuntimeError);
});

// ---- ordering ---------------------------------------------------------------

loopTest(
  "Task resumed in the loop's last iteration runs while the loop is running",
  async ({ loop }) => {
    // asyncio runs a task's step as a loop callback: a task woken in the
    // same iteration that stops the loop still sees the running loop.
    const fut = loop.createFuture();
    const seen: unknown[] = [];
    const task = loop.createTask(async () => {
      await fut;
      try {
        seen.push(getRunningLoop() === loop, currentTask() === task);
      } catch (e) {
        seen.push(e);
      }
    });
    await runOnce(loop);
    fut.setResult(null);
    await loop.runUntilComplete(fut); // [wake task, stop] in one iteration
    await loop.runUntilComplete(task);
    assert.deepEqual(seen, [true, true]);
  },
);

loopTest(
  "Tasks alternating with sleep(0) interleave deterministically",
  async ({ loop }) => {
    const log: string[] = [];
    const worker = (name: string) => async () => {
      for (let i = 0; i < 3; i++) {
        log.push(`${name}${i}`);
        await sleep(0);
      }
    };
    const a = loop.createTask(worker("a"));
    const b = loop.createTask(worker("b"));
    const c = loop.createTask(worker("c"));
    await loop.runUntilComplete(async () => {
      await a;
      await b;
      await c;
    });
    assert.deepEqual(log, [
      "a0",
      "b0",
      "c0",
      "a1",
      "b1",
      "c1",
      "a2",
      "b2",
      "c2",
    ]);
  },
);

loopTest(
  "Task woken by a future and a task woken by sleep(0) resume in wake order",
  async ({ loop }) => {
    const fut = loop.createFuture();
    const log: string[] = [];
    const a = loop.createTask(async () => {
      log.push("a0");
      await fut;
      log.push("a1");
    });
    const b = loop.createTask(async () => {
      log.push("b0");
      fut.setResult(null);
      await sleep(0);
      log.push("b1");
    });
    await loop.runUntilComplete(async () => {
      await a;
      await b;
    });
    assert.deepEqual(log, ["a0", "b0", "a1", "b1"]);
  },
);

loopTest(
  "Task steps and callSoon callbacks run in the order they were scheduled",
  async ({ loop }) => {
    // In asyncio each task step is a callback in the ready queue, so a step
    // runs between the callbacks scheduled before and after it.
    const log: string[] = [];
    loop.callSoon(() => log.push("cb1"));
    const task = loop.createTask(async () => {
      log.push("a1");
      await sleep(0);
      log.push("a2");
      await sleep(0);
      log.push("a3");
    });
    loop.callSoon(() => {
      log.push("cb2");
      loop.callSoon(() => log.push("cb3"));
    });
    await loop.runUntilComplete(task);
    assert.deepEqual(log, ["cb1", "a1", "cb2", "a2", "cb3", "a3"]);
  },
);

loopTest(
  "A task cancelled by the step before its own, in one iteration, sees CancelledError at that await",
  async ({ loop }) => {
    // asyncio: b's step is already in the ready queue when a's step cancels
    // it, so the cancellation is thrown in at b's pending sleep(0), even
    // though the yield itself completed.
    const log: string[] = [];
    let b: Task<void> | null = null;
    const a = loop.createTask(async () => {
      await sleep(0);
      log.push("a cancels b");
      b!.cancel("from a");
    });
    b = loop.createTask(async () => {
      try {
        await sleep(0);
        log.push("b resumed");
      } catch (error) {
        log.push(`b: ${(error as Error).message}`);
        throw error;
      }
    });
    await loop.runUntilComplete(a);
    await assert.rejects(
      loop.runUntilComplete(b),
      cancelledWith("from a"),
    );
    assert.deepEqual(log, ["a cancels b", "b: from a"]);
  },
);

loopTest(
  "A task woken by a done future and cancelled by the step before its own sees CancelledError",
  async ({ loop }) => {
    const futA = loop.createFuture<string>();
    const futB = loop.createFuture<string>();
    let b: Task<string> | null = null;
    const a = loop.createTask(async () => {
      await futA;
      b!.cancel("late");
    });
    b = loop.createTask(async () => await futB);
    await runOnce(loop);
    loop.callSoon(() => {
      futA.setResult("a");
      futB.setResult("b");
    });
    await loop.runUntilComplete(a);
    await assert.rejects(loop.runUntilComplete(b), cancelledWith("late"));
    assert.equal(futB.result(), "b");
  },
);

loopTest(
  "A step of many microtask hops runs whole before the next callback",
  async ({ loop }) => {
    const log: string[] = [];
    const task = loop.createTask(async () => {
      log.push("start");
      for (let i = 0; i < 200; i++) await Promise.resolve();
      log.push("end");
    });
    loop.callSoon(() => log.push("cb"));
    await loop.runUntilComplete(task);
    assert.deepEqual(log, ["start", "end", "cb"]);
  },
);

loopTest(
  "A step waiting on a promise from outside the loop lets the callbacks after it run",
  async ({ loop }) => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const task = loop.createTask(async () => {
      log.push("waits");
      await gate;
      log.push("released");
    });
    // Only this callback, after the task's first step, opens the gate.
    loop.callSoon(() => {
      log.push("cb");
      release();
    });
    await loop.runUntilComplete(task);
    assert.deepEqual(log, ["waits", "cb", "released"]);
  },
);

loopTest(
  "A task that keeps waiting on plain promises resolved by callbacks interleaves with them in order",
  async ({ loop }) => {
    const log: string[] = [];
    const worker = loop.createTask(async () => {
      for (let i = 0; i < 30; i++) {
        await new Promise<void>((resolve) =>
          loop.callSoon(() => {
            log.push(`cb${i}`);
            resolve();
          })
        );
        log.push(`step${i}`);
      }
    });
    const ticker = loop.createTask(async () => {
      for (let i = 0; i < 30; i++) {
        log.push(`tick${i}`);
        await sleep(0);
      }
    });
    await loop.runUntilComplete(gather(worker, ticker));
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) expected.push(`cb${i}`, `step${i}`);
    assert.deepEqual(log.filter((e) => !e.startsWith("tick")), expected);
    assert.equal(log.filter((e) => e.startsWith("tick")).length, 30);
  },
);

loopTest(
  "A step that takes several microtask hops still runs before the next callback",
  async ({ loop }) => {
    const log: string[] = [];
    const done = loop.createFuture<null>();
    done.setResult(null);
    const task = loop.createTask(async () => {
      await sleep(0);
      // Awaiting done futures and resolved promises does not yield to the
      // loop: the whole stretch is one step.
      await done;
      await Promise.resolve();
      await done;
      log.push("a1");
      await sleep(0);
      log.push("a2");
    });
    loop.callSoon(() => {
      log.push("cb1");
      loop.callSoon(() => log.push("cb2"));
    });
    await loop.runUntilComplete(task);
    assert.deepEqual(log, ["cb1", "a1", "cb2", "a2"]);
  },
);
