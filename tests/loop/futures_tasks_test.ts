import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  CancelledError,
  createTask,
  currentTask,
  ensureFuture,
  type Future,
  InvalidStateError,
  isFuture,
  RuntimeError,
  sleep,
  Task,
} from "../../mod.ts";
import { assertNoErrors, strictLoop, testEach } from "../_util.ts";

testEach(
  "Future.result() and exception() follow asyncio's state rules",
  (factory) => {
    using loop = strictLoop(factory);
    const fut = loop.createFuture<number>();
    assert.throws(() => fut.result(), InvalidStateError);
    assert.throws(() => fut.exception(), InvalidStateError);
    fut.setResult(1);
    assert.equal(fut.result(), 1);
    assert.equal(fut.exception(), null);
    assert.throws(() => fut.setResult(2), InvalidStateError);
    assert.throws(() => fut.setException(new Error("x")), InvalidStateError);
    assert.equal(fut.cancel(), false);
    assert.match(String(fut), /<Future finished result=1>/);
  },
);

testEach("Future.cancel() passes its message to CancelledError", (factory) => {
  using loop = strictLoop(factory);
  const fut = loop.createFuture();
  assert.equal(fut.cancel("why"), true);
  assert.equal(fut.cancelled(), true);
  assert.throws(
    () => fut.result(),
    (e) => e instanceof CancelledError && e.message === "why",
  );
  assert.throws(() => fut.exception(), CancelledError);
  assert.match(String(fut), /cancelled/);
});

testEach(
  "Future.setException() instantiates classes and rejects non-errors",
  (factory) => {
    using loop = strictLoop(factory);
    const a = loop.createFuture();
    a.setException(RangeError);
    assert.ok(a.exception() instanceof RangeError);
    const b = loop.createFuture();
    assert.throws(() => b.setException("nope"), TypeError);
    assert.equal(b.done(), false);
    b.cancel();
  },
);

testEach(
  "done callbacks run through the loop, in order, with the future",
  async (factory) => {
    using loop = strictLoop(factory);
    const fut = loop.createFuture<string>();
    const seen: string[] = [];
    const cb = (f: Future<string>) => seen.push(`cb:${f.result()}`);
    fut.addDoneCallback(cb);
    fut.addDoneCallback(() => seen.push("second"));
    fut.addDoneCallback(cb);
    assert.equal(fut.removeDoneCallback(cb), 2);
    fut.addDoneCallback(cb);
    fut.setResult("v");
    assert.equal(seen.length, 0); // not synchronous
    await loop.runUntilComplete(async () => {
      await sleep(0);
      fut.addDoneCallback(() => seen.push("late"));
      await sleep(0);
    });
    assert.deepEqual(seen, ["second", "cb:v", "late"]);
    assertNoErrors(loop);
  },
);

testEach(
  "await of a future returns its result or throws its exception",
  async (factory) => {
    using loop = strictLoop(factory);
    const ok = loop.createFuture<number>();
    const bad = loop.createFuture<number>();
    const err = new Error("bad");
    loop.callSoon(() => ok.setResult(5));
    loop.callSoon(() => bad.setException(err));
    const result = await loop.runUntilComplete(async () => {
      const value = await ok;
      try {
        await bad;
      } catch (e) {
        return [value, e];
      }
    });
    assert.deepEqual(result, [5, err]);
    assert.ok(isFuture(ok));
    assert.ok(!isFuture(Promise.resolve()));
    assertNoErrors(loop);
  },
);

testEach(
  "an unretrieved future exception is reported when collected",
  async (factory) => {
    using loop = strictLoop(factory);
    (() => {
      loop.createFuture().setException(new Error("lost"));
      const kept = loop.createFuture();
      kept.setException(new Error("retrieved"));
      kept.exception();
    })();
    for (let i = 0; i < 50 && loop.errors.length === 0; i++) {
      (globalThis as unknown as { gc(): void }).gc();
      await new Promise((r) => setTimeout(r, 0));
    }
    assert.equal(loop.errors.length, 1);
    assert.equal(
      loop.errors[0].message,
      "Future exception was never retrieved",
    );
    assert.equal((loop.errors[0].exception as Error).message, "lost");
  },
);

testEach(
  "createTask() starts the lazy form on the loop, with a default name",
  async (factory) => {
    using loop = strictLoop(factory);
    const order: string[] = [];
    const task = loop.createTask(async () => {
      order.push("started");
      return currentTask()!.getName();
    });
    order.push("created");
    assert.match(task.getName(), /^Task-\d+$/);
    assert.equal(await loop.runUntilComplete(task), task.getName());
    assert.deepEqual(order, ["created", "started"]);
    const named = loop.createTask(async () => {}, { name: "worker" });
    named.setName("renamed");
    assert.equal(named.getName(), "renamed");
    await loop.runUntilComplete(named);
  },
);

testEach(
  "currentTask() follows the task across awaits and is null in callbacks",
  async (factory) => {
    using loop = strictLoop(factory);
    let inCallback: unknown = "unset";
    await loop.runUntilComplete(async () => {
      const me = currentTask();
      assert.ok(me instanceof Task);
      await sleep(0.001);
      assert.equal(currentTask(), me);
      loop.callSoon(() => (inCallback = currentTask()));
      const other = createTask(async () => {
        await sleep(0);
        return currentTask()!.getName();
      }, { name: "other" });
      assert.equal(await other, "other");
      assert.equal(currentTask(), me);
    });
    assert.equal(inCallback, null);
  },
);

testEach(
  "Task.cancel() before the task starts means its coroutine never runs",
  async (factory) => {
    using loop = strictLoop(factory);
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
    });
    assert.equal(task.cancel("early"), true);
    await assert.rejects(
      loop.runUntilComplete(task),
      (e) => e instanceof CancelledError && e.message === "early",
    );
    assert.equal(ran, false);
    assert.equal(task.cancelled(), true);
    assert.equal(task.cancel(), false);
  },
);

testEach(
  "Task.cancel() throws CancelledError at the await, and the task may catch it",
  async (factory) => {
    using loop = strictLoop(factory);
    const log: string[] = [];
    const result = await loop.runUntilComplete(async () => {
      const fut = loop.createFuture();
      const sleeper = createTask(async () => {
        try {
          await fut;
        } catch (e) {
          log.push(`caught ${(e as Error).name}: ${(e as Error).message}`);
          return "recovered";
        }
      });
      await sleep(0);
      sleeper.cancel("stop it");
      assert.equal(fut.cancelled(), true);
      return await sleeper;
    });
    assert.equal(result, "recovered");
    assert.deepEqual(log, ["caught CancelledError: stop it"]);
  },
);

testEach(
  "Task.cancel() during sleep(0) is delivered when it resumes",
  async (factory) => {
    using loop = strictLoop(factory);
    await loop.runUntilComplete(async () => {
      const t = createTask(async () => {
        for (;;) await sleep(0);
      });
      await sleep(0);
      await sleep(0);
      t.cancel();
      await assert.rejects(async () => await t, CancelledError);
      assert.equal(t.cancelled(), true);
    });
  },
);

testEach(
  "cancelling()/uncancel() count requests as CPython does",
  async (factory) => {
    using loop = strictLoop(factory);
    const task = loop.createTask(async () => {
      await sleep(0);
      return "done";
    });
    assert.equal(task.cancelling(), 0);
    task.cancel();
    task.cancel();
    assert.equal(task.cancelling(), 2);
    assert.equal(task.uncancel(), 1);
    assert.equal(task.uncancel(), 0);
    assert.equal(task.uncancel(), 0);
    // Uncancelled to zero before delivery: the cancellation is withdrawn.
    assert.equal(await loop.runUntilComplete(task), "done");
  },
);

testEach(
  "a task cancelled while awaiting another task cancels that task",
  async (factory) => {
    using loop = strictLoop(factory);
    await loop.runUntilComplete(async () => {
      const inner = createTask(() => sleep(100));
      const outer = createTask(async () => await inner);
      await sleep(0);
      await sleep(0);
      outer.cancel();
      await assert.rejects(async () => await outer, CancelledError);
      assert.equal(inner.cancelled(), true);
    });
  },
);

testEach(
  "a task that awaits itself fails with RuntimeError",
  async (factory) => {
    using loop = strictLoop(factory);
    const holder: { task?: Task<unknown> } = {};
    holder.task = loop.createTask(async () => {
      await sleep(0);
      await holder.task;
    });
    await assert.rejects(loop.runUntilComplete(holder.task), RuntimeError);
  },
);

testEach(
  "Task exceptions propagate; setResult/setException are refused",
  async (factory) => {
    using loop = strictLoop(factory);
    const err = new Error("inside");
    const task = loop.createTask(async () => {
      await sleep(0);
      throw err;
    });
    assert.throws(() => task.setResult(1 as never), RuntimeError);
    assert.throws(() => task.setException(new Error()), RuntimeError);
    await assert.rejects(loop.runUntilComplete(task), (e) => e === err);
    assert.equal(task.exception(), err);
    assertNoErrors(loop);
  },
);

testEach(
  "createTask() refuses non-coroutines; a lazy non-promise fails the task",
  async (factory) => {
    using loop = strictLoop(factory);
    // deno-lint-ignore no-explicit-any
    assert.throws(() => loop.createTask(42 as any), TypeError);
    const fut = loop.createFuture();
    // deno-lint-ignore no-explicit-any
    assert.throws(() => loop.createTask(fut as any), TypeError);
    fut.cancel();
    // deno-lint-ignore no-explicit-any
    const task = loop.createTask((() => 5) as any);
    await assert.rejects(loop.runUntilComplete(task), TypeError);
  },
);

testEach("the promise form is adopted as a task", async (factory) => {
  using loop = strictLoop(factory);
  const value = await loop.runUntilComplete(async () => {
    const t = createTask((async () => {
      await sleep(0);
      return 7;
    })());
    return await t;
  });
  assert.equal(value, 7);
});

testEach(
  "Task.signal aborts with CancelledError on cancel()",
  async (factory) => {
    using loop = strictLoop(factory);
    const task = loop.createTask(() => sleep(10));
    const signal = task.signal;
    assert.equal(signal.aborted, false);
    task.cancel("bye");
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof CancelledError);
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
  },
);

testEach(
  "ensureFuture() returns futures and wraps coroutines",
  async (factory) => {
    using loop = strictLoop(factory);
    const other = strictLoop(factory);
    const fut = loop.createFuture();
    assert.equal(ensureFuture(fut, { loop }), fut);
    assert.throws(() => ensureFuture(fut, { loop: other }), RangeError);
    // deno-lint-ignore no-explicit-any
    assert.throws(() => ensureFuture(1 as any, { loop }), TypeError);
    assert.equal(
      await loop.runUntilComplete(ensureFuture(async () => 3, { loop })),
      3,
    );
    fut.cancel();
    other.close();
  },
);

testEach(
  "sleep() resolves with its result; bad delays reject",
  async (factory) => {
    using loop = strictLoop(factory);
    assert.equal(await loop.runUntilComplete(() => sleep(0.001, "r")), "r");
    await loop.runUntilComplete(() =>
      assert.rejects(sleep("1" as unknown as number), TypeError)
    );
    await loop.runUntilComplete(() => assert.rejects(sleep(NaN), RangeError));
    await assert.rejects(sleep(1), RuntimeError);
  },
);

testEach(
  "tasks alternating with sleep(0) interleave deterministically",
  async (factory) => {
    using loop = strictLoop(factory);
    const log: string[] = [];
    await loop.runUntilComplete(async () => {
      const worker = (name: string) => async () => {
        for (let i = 0; i < 3; i++) {
          log.push(`${name}${i}`);
          await sleep(0);
        }
      };
      const a = createTask(worker("a"));
      const b = createTask(worker("b"));
      await a;
      await b;
    });
    assert.deepEqual(log, ["a0", "b0", "a1", "b1", "a2", "b2"]);
  },
);

testEach(
  "tasks run in a copy of the context they were created in",
  async (factory) => {
    using loop = strictLoop(factory);
    const store = new AsyncLocalStorage<string>();
    const value = await store.run(
      "outer",
      () =>
        loop.runUntilComplete(async () => {
          await sleep(0);
          return store.getStore();
        }),
    );
    assert.equal(value, "outer");
  },
);

testEach(
  "an unstored task still runs to completion (strong references)",
  async (factory) => {
    using loop = strictLoop(factory);
    let finished = false;
    await loop.runUntilComplete(async () => {
      loop.createTask(async () => {
        await sleep(0.001);
        finished = true;
      });
      (globalThis as unknown as { gc(): void }).gc();
      await sleep(0.01);
    });
    assert.equal(finished, true);
  },
);
