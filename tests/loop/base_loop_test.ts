/**
 * Behaviour of the loop core (`BaseEventLoop` through `EventLoop` and
 * `VirtualTimeEventLoop`): running and stopping, scheduling callbacks and
 * timers, the exception handler, debug mode, task factories, async generator
 * and executor shutdown. Ported from the checks of CPython's
 * `test_base_events.py` and `test_events.py`; every loop-level test runs on
 * both loops the package ships, with strict teardown (see `loopTest`).
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  allTasks,
  CancelledError,
  Context,
  EventLoop,
  type ExceptionContext,
  Future,
  getRunningLoop,
  Handle,
  RuntimeError,
  sleep,
  Task,
  TimerHandle,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { captureLogger, gcUntil, loopTest } from "../_util.ts";

/** Schedules `loop.stop()` for the next iteration. */
function stopSoon(loop: AbstractEventLoop): void {
  loop.callSoon(() => loop.stop());
}

/**
 * A safety net for tests that wait on an outside event: if the loop is still
 * running after `ms`, records "watchdog" and stops it, so a loop that failed
 * to wake fails the test instead of hanging it.
 */
function watchdog(
  loop: AbstractEventLoop,
  events: string[],
  ms = 2000,
): Disposable {
  const id = setTimeout(() => {
    events.push("watchdog");
    loop.stop();
  }, ms);
  return { [Symbol.dispose]: () => clearTimeout(id) };
}

// deno-lint-ignore no-explicit-any
type Loose = any;

// ---- running and stopping ---------------------------------------------------

loopTest(
  "runForever() runs callbacks until stop() and reports isRunning()",
  async ({ loop }) => {
    const seen: boolean[] = [];
    assert.equal(loop.isRunning(), false);
    loop.callSoon(() => {
      seen.push(loop.isRunning());
      loop.callSoon(() => {
        seen.push(loop.isRunning());
        loop.stop();
      });
    });
    await loop.runForever();
    assert.deepEqual(seen, [true, true]);
    assert.equal(loop.isRunning(), false);
  },
);

loopTest(
  "stop() before runForever() runs one iteration of already-scheduled callbacks",
  async ({ loop }) => {
    const seen: string[] = [];
    loop.callSoon(() => {
      seen.push("a");
      loop.callSoon(() => seen.push("scheduled by a"));
    });
    loop.callSoon(() => seen.push("b"));
    loop.stop();
    await loop.runForever();
    assert.deepEqual(seen, ["a", "b"]);
    // What that iteration scheduled runs on the next run.
    loop.stop();
    await loop.runForever();
    assert.deepEqual(seen, ["a", "b", "scheduled by a"]);
  },
);

loopTest(
  "stop() before runForever() runs due timers but does not wait for later ones",
  async ({ loop }) => {
    const seen: string[] = [];
    const start = loop.time();
    loop.callLater(0, () => seen.push("due"));
    const later = loop.callLater(3600, () => seen.push("later"));
    loop.stop();
    await loop.runForever();
    assert.deepEqual(seen, ["due"]);
    if (loop instanceof VirtualTimeEventLoop) assert.equal(loop.time(), start);
    later.cancel();
  },
);

loopTest(
  "stop() during a run finishes the current batch; what it scheduled runs next run",
  async ({ loop }) => {
    const seen: number[] = [];
    loop.callSoon(() => {
      seen.push(1);
      loop.stop();
      loop.callSoon(() => seen.push(3));
    });
    loop.callSoon(() => seen.push(2));
    await loop.runForever();
    assert.deepEqual(seen, [1, 2]);
    // The stop request was consumed: the next run lasts until the next stop().
    loop.callSoon(() => loop.callSoon(() => loop.callSoon(() => loop.stop())));
    await loop.runForever();
    assert.deepEqual(seen, [1, 2, 3]);
  },
);

loopTest(
  "stop() from a coroutine ends runForever() after the current iteration",
  async ({ loop }) => {
    const steps: string[] = [];
    const task = loop.createTask(async () => {
      steps.push("started");
      loop.stop();
      await sleep(0);
      steps.push("resumed");
    });
    await loop.runForever();
    assert.deepEqual(steps, ["started"]);
    assert.equal(task.done(), false);
    await loop.runUntilComplete(task);
    assert.deepEqual(steps, ["started", "resumed"]);
  },
);

loopTest(
  "runForever() rejects with RuntimeError when the loop is already running",
  async ({ loop }) => {
    let nested: Promise<void> | undefined;
    loop.callSoon(() => {
      nested = loop.runForever();
      loop.stop();
    });
    await loop.runForever();
    await assert.rejects(nested!, (e) => {
      assert.ok(e instanceof RuntimeError);
      assert.match((e as Error).message, /already running/);
      return true;
    });
    assert.equal(loop.isRunning(), false);
  },
);

loopTest(
  "runForever() rejects with RuntimeError while another loop runs",
  async ({ loop, make }) => {
    using other = make();
    let nested: Promise<void> | undefined;
    loop.callSoon(() => {
      nested = other.runForever();
      loop.stop();
    });
    await loop.runForever();
    await assert.rejects(nested!, (e) => {
      assert.ok(e instanceof RuntimeError);
      assert.match((e as Error).message, /another loop is running/);
      return true;
    });
    assert.equal(other.isRunning(), false);
    // The other loop is fine once the first one stopped.
    assert.equal(await other.runUntilComplete(async () => "other"), "other");
  },
);

loopTest(
  "runUntilComplete() rejects with RuntimeError when called from a running loop",
  async ({ loop }) => {
    let innerStarted = false;
    const outcome = await loop.runUntilComplete(async () => {
      try {
        await loop.runUntilComplete(async () => {
          innerStarted = true;
        });
        return "no error";
      } catch (e) {
        return e;
      }
    });
    assert.ok(outcome instanceof RuntimeError);
    assert.equal(innerStarted, false);
  },
);

loopTest(
  "runForever() and runUntilComplete() reject with RuntimeError on a closed loop",
  async ({ loop }) => {
    loop.close();
    let started = false;
    await assert.rejects(loop.runForever(), {
      name: "RuntimeError",
      message: "Event loop is closed",
    });
    await assert.rejects(
      loop.runUntilComplete(async () => {
        started = true;
      }),
      RuntimeError,
    );
    assert.equal(started, false);
    assert.equal(loop.isRunning(), false);
  },
);

loopTest(
  "close() throws RuntimeError while running and the loop keeps running",
  async ({ loop }) => {
    let error: unknown;
    const seen: string[] = [];
    loop.callSoon(() => {
      try {
        loop.close();
      } catch (e) {
        error = e;
      }
      // Stop first, so that a close() that wrongly succeeds cannot hang us.
      loop.stop();
    });
    loop.callSoon(() => seen.push("same batch"));
    await loop.runForever();
    assert.ok(error instanceof RuntimeError);
    assert.match((error as Error).message, /running/);
    assert.equal(loop.isClosed(), false);
    loop.callSoon(() => seen.push("next run"));
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["same batch", "next run"]);
  },
);

loopTest("close() is idempotent and isClosed() reports it", ({ loop }) => {
  assert.equal(loop.isClosed(), false);
  loop.close();
  assert.equal(loop.isClosed(), true);
  loop.close();
  assert.equal(loop.isClosed(), true);
});

loopTest(
  "a closed loop refuses callSoon, callSoonThreadsafe, callLater, callAt and createTask",
  ({ loop }) => {
    loop.close();
    let started = false;
    const closed = { name: "RuntimeError", message: "Event loop is closed" };
    assert.throws(() => loop.callSoon(() => {}), closed);
    assert.throws(() => loop.callSoonThreadsafe(() => {}), closed);
    assert.throws(() => loop.callLater(1, () => {}), closed);
    assert.throws(() => loop.callAt(1, () => {}), closed);
    assert.throws(
      () =>
        loop.createTask(async () => {
          started = true;
        }),
      closed,
    );
    assert.equal(started, false);
  },
);

loopTest(
  "close() drops pending callbacks and timers without running them",
  async ({ loop }) => {
    const seen: unknown[] = [];
    const collected: string[] = [];
    const registry = new FinalizationRegistry<string>((name) =>
      collected.push(name)
    );
    // Scheduled from a plain function, so that no suspended frame of this
    // async test keeps the arguments alive.
    const schedule = (): void => {
      const soonArg = {};
      const laterArg = {};
      registry.register(soonArg, "soon");
      registry.register(laterArg, "later");
      loop.callSoon((x: unknown) => seen.push(x), soonArg);
      loop.callLater(10, (x: unknown) => seen.push(x), laterArg);
    };
    schedule();
    loop.close();
    assert.deepEqual(seen, []);
    assert.ok(
      await gcUntil(() => collected.length === 2),
      "the closed loop still holds its callbacks' arguments",
    );
    assert.deepEqual(collected.sort(), ["later", "soon"]);
  },
);

loopTest(
  "runUntilComplete() resolves with a future's result set by a callback",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    loop.callSoon(() => fut.setResult("value"));
    assert.equal(await loop.runUntilComplete(fut), "value");
    assert.equal(loop.isRunning(), false);
  },
);

loopTest(
  "runUntilComplete() returns an already-done future's result",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    fut.setResult(7);
    assert.equal(await loop.runUntilComplete(fut), 7);
  },
);

loopTest(
  "runUntilComplete() runs a lazy coroutine function on the loop",
  async ({ loop }) => {
    let runningAtStart: boolean | undefined;
    let loopAtStart: AbstractEventLoop | undefined;
    const lazy = async () => {
      runningAtStart = loop.isRunning();
      loopAtStart = getRunningLoop();
      await sleep(0);
      return 42;
    };
    assert.equal(await loop.runUntilComplete(lazy), 42);
    assert.equal(runningAtStart, true);
    assert.equal(loopAtStart, loop);
  },
);

loopTest(
  "runUntilComplete() accepts a coroutine's promise",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    loop.callLater(0.001, () => fut.setResult("from a timer"));
    const coro = (async () => `${await fut}!`)();
    assert.equal(await loop.runUntilComplete(coro), "from a timer!");
  },
);

loopTest(
  "runUntilComplete() rejects with the coroutine's exception",
  async ({ loop }) => {
    const error = new TypeError("bad");
    await assert.rejects(
      loop.runUntilComplete(async () => {
        await sleep(0);
        throw error;
      }),
      (e) => e === error,
    );
    assert.equal(loop.isRunning(), false);
  },
);

loopTest(
  "runUntilComplete() rejects with a cancelled future's CancelledError",
  async ({ loop }) => {
    const fut = loop.createFuture();
    loop.callSoon(() => fut.cancel());
    await assert.rejects(loop.runUntilComplete(fut), CancelledError);
  },
);

loopTest(
  "runUntilComplete() rejects 'Event loop stopped before Future completed.' when stopped early",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    stopSoon(loop);
    await assert.rejects(loop.runUntilComplete(fut), {
      name: "RuntimeError",
      message: "Event loop stopped before Future completed.",
    });
    assert.equal(fut.done(), false);
    // The future is still usable on a later run.
    loop.callSoon(() => fut.setResult(5));
    assert.equal(await loop.runUntilComplete(fut), 5);
  },
);

loopTest(
  "runUntilComplete() of a coroutine that stops the loop rejects and its task is not reported",
  async ({ loop }) => {
    const never = loop.createFuture();
    await assert.rejects(
      loop.runUntilComplete(async () => {
        loop.stop();
        await never;
      }),
      { message: "Event loop stopped before Future completed." },
    );
    // The task stays pending; close() (by the fixture) must not report it,
    // as asyncio does not for run_until_complete()'s own task.
    assert.equal(allTasks(loop).size, 1);
  },
);

loopTest(
  "runUntilComplete() with a non-awaitable throws TypeError; the loop stays usable",
  async ({ loop }) => {
    await assert.rejects(loop.runUntilComplete(42 as Loose), TypeError);
    await assert.rejects(loop.runUntilComplete("blah" as Loose), TypeError);
    assert.equal(loop.isRunning(), false);
    assert.equal(await loop.runUntilComplete(async () => "ok"), "ok");
  },
);

loopTest(
  "runUntilComplete() with another loop's future rejects with RangeError",
  async ({ loop, make }) => {
    using other = make();
    const foreign = other.createFuture();
    await assert.rejects(loop.runUntilComplete(foreign), RangeError);
    assert.equal(loop.isRunning(), false);
    foreign.cancel();
  },
);

loopTest(
  "runForever() with nothing scheduled stays alive until stopped from outside",
  async ({ loop }) => {
    const events: string[] = [];
    const outside = setTimeout(() => {
      events.push("outside");
      loop.callSoonThreadsafe(() => {
        events.push("stop");
        loop.stop();
      });
    }, 5);
    using _watchdog = watchdog(loop, events);
    const start = loop.time();
    try {
      await loop.runForever();
    } finally {
      clearTimeout(outside);
    }
    assert.deepEqual(events, ["outside", "stop"]);
    if (loop instanceof VirtualTimeEventLoop) assert.equal(loop.time(), start);
  },
);

loopTest(
  "callSoon() from a host callback wakes a waiting loop",
  async ({ loop }) => {
    const events: string[] = [];
    const outside = setTimeout(() => {
      events.push("outside");
      loop.callSoon(() => {
        events.push("woken");
        loop.stop();
      });
    }, 1);
    using _watchdog = watchdog(loop, events);
    try {
      await loop.runForever();
    } finally {
      clearTimeout(outside);
    }
    assert.deepEqual(events, ["outside", "woken"]);
  },
);

loopTest(
  "callSoonThreadsafe() from a promise callback wakes the loop and runs in FIFO order",
  async ({ loop }) => {
    const seen: unknown[] = [];
    const events: string[] = [];
    const fut = loop.createFuture<void>();
    let handle: unknown;
    // A plain promise that settles outside the loop's callbacks.
    const outside = new Promise<void>((resolve) => setTimeout(resolve, 1));
    const chained = outside.then(() => {
      handle = loop.callSoonThreadsafe((n: number) => seen.push(n), 1);
      loop.callSoonThreadsafe((n: number) => seen.push(n), 2);
      loop.callSoonThreadsafe(() => fut.setResult());
    });
    using _watchdog = watchdog(loop, events);
    await loop.runUntilComplete(fut);
    await chained;
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(events, []);
    assert.ok(handle instanceof Handle);
  },
);

loopTest(
  "getRunningLoop() returns the loop in callbacks and coroutines and throws outside",
  async ({ loop }) => {
    const seen: AbstractEventLoop[] = [];
    assert.throws(() => getRunningLoop(), RuntimeError);
    loop.callSoon(() => seen.push(getRunningLoop()));
    await loop.runUntilComplete(async () => {
      seen.push(getRunningLoop());
      await sleep(0.001);
      seen.push(getRunningLoop());
    });
    assert.deepEqual(seen, [loop, loop, loop]);
    assert.throws(() => getRunningLoop(), RuntimeError);
  },
);

// ---- scheduling callbacks -------------------------------------------------

loopTest(
  "callSoon() runs callbacks in FIFO order with their arguments",
  async ({ loop }) => {
    const seen: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      loop.callSoon((a: number, b: string) => seen.push([a, b]), i, "x");
    }
    loop.callSoon((...args: unknown[]) => seen.push(args));
    loop.callSoon((...args: unknown[]) => seen.push(args), 1, 2, 3, 4);
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, [
      [0, "x"],
      [1, "x"],
      [2, "x"],
      [3, "x"],
      [4, "x"],
      [],
      [1, 2, 3, 4],
    ]);
  },
);

loopTest(
  "callSoon() passes a trailing plain object through as an argument",
  async ({ loop }) => {
    const seen: unknown[] = [];
    const options = { a: 1 };
    loop.callSoon((x: unknown) => seen.push(x), options);
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, [options]);
    assert.equal(seen[0], options);
  },
);

loopTest(
  "callSoon() returns a Handle whose cancel() keeps the callback from running",
  async ({ loop }) => {
    const seen: string[] = [];
    loop.callSoon(() => seen.push("a"));
    const handle = loop.callSoon(() => seen.push("cancelled"));
    loop.callSoon(() => seen.push("c"));
    assert.ok(handle instanceof Handle);
    assert.ok(!(handle instanceof TimerHandle));
    handle.cancel();
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["a", "c"]);
    assert.equal(handle.cancelled(), true);
  },
);

loopTest(
  "Handle.cancel() from an earlier callback of the same batch skips the callback",
  async ({ loop }) => {
    const seen: string[] = [];
    const handles: Handle[] = [];
    loop.callSoon(() => handles[0].cancel());
    handles.push(loop.callSoon(() => seen.push("victim")));
    loop.callSoon(() => seen.push("after"));
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["after"]);
  },
);

loopTest(
  "callSoon() with a non-function throws TypeError; the loop stays usable",
  async ({ loop }) => {
    for (const bad of [42, "f", null, undefined, {}]) {
      assert.throws(() => loop.callSoon(bad as Loose), TypeError);
    }
    assert.equal(await loop.runUntilComplete(async () => "usable"), "usable");
  },
);

loopTest(
  "callSoon(), callLater() and callAt() refuse async functions with TypeError",
  async ({ loop }) => {
    const seen: string[] = [];
    async function work() {
      seen.push("async ran");
    }
    async function* gen() {}
    assert.throws(() => loop.callSoon(work), {
      name: "TypeError",
      message: /coroutines cannot be used with callSoon\(\)/,
    });
    assert.throws(() => loop.callSoon(gen), TypeError);
    assert.throws(() => loop.callSoonThreadsafe(work), TypeError);
    assert.throws(() => loop.callLater(0, work), TypeError);
    assert.throws(() => loop.callAt(0, work), TypeError);
    loop.callSoon(() => seen.push("sync ran"));
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["sync ran"]);
  },
);

loopTest(
  "callLater() and callAt() with a non-number time throw TypeError; NaN throws RangeError",
  async ({ loop }) => {
    const seen: string[] = [];
    assert.throws(() => loop.callLater("1" as Loose, () => {}), TypeError);
    assert.throws(
      () => loop.callLater(undefined as Loose, () => {}),
      TypeError,
    );
    assert.throws(() => loop.callLater(NaN, () => {}), RangeError);
    assert.throws(() => loop.callAt("1" as Loose, () => {}), TypeError);
    assert.throws(() => loop.callAt(NaN, () => {}), RangeError);
    assert.throws(() => loop.callLater(0, 5 as Loose), TypeError);
    loop.callLater(0.001, () => seen.push("timer"));
    loop.callLater(0.002, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["timer"]);
  },
);

loopTest(
  "callLater() and callAt() run timers in time order, equal times in scheduling order",
  async ({ loop }) => {
    const seen: string[] = [];
    const start = loop.time();
    const handles = [
      ["c1", loop.callAt(start + 0.03, () => seen.push("c1"))],
      ["a", loop.callLater(0.01, () => seen.push("a"))],
      ["c2", loop.callAt(start + 0.03, () => seen.push("c2"))],
      ["b", loop.callLater(0.02, () => seen.push("b"))],
      ["c3", loop.callAt(start + 0.03, () => seen.push("c3"))],
    ] as const;
    loop.callAt(start + 0.1, () => loop.stop());
    await loop.runForever();
    // A busy machine may delay a callLater() past a callAt(): the order
    // that counts is the handles' when(), ties in scheduling order.
    const expected = handles
      .map(([name, handle], index) => ({ name, when: handle.when(), index }))
      .sort((x, y) => x.when - y.when || x.index - y.index)
      .map((entry) => entry.name);
    assert.deepEqual(seen, expected);
    assert.deepEqual(
      [...seen].sort(),
      ["a", "b", "c1", "c2", "c3"],
    );
    assert.deepEqual(seen.filter((name) => name.startsWith("c")), [
      "c1",
      "c2",
      "c3",
    ]);
  },
);

loopTest(
  "callLater(0) runs after callbacks already scheduled with callSoon()",
  async ({ loop }) => {
    const seen: string[] = [];
    loop.callSoon(() => seen.push("soon 1"));
    loop.callLater(0, () => seen.push("later 0"));
    loop.callSoon(() => seen.push("soon 2"));
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["soon 1", "soon 2", "later 0"]);
  },
);

loopTest(
  "callLater() with a negative delay runs soon, earliest time first",
  async ({ loop }) => {
    const seen: string[] = [];
    loop.callSoon(() => seen.push("soon"));
    loop.callLater(0.001, () => seen.push("positive"));
    loop.callLater(-1, () => seen.push("-1"));
    loop.callLater(-2, () => seen.push("-2"));
    loop.callLater(0.002, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["soon", "-2", "-1", "positive"]);
  },
);

loopTest(
  "a timer never runs before its time",
  async ({ loop }) => {
    const late: number[] = [];
    const handles: TimerHandle[] = [];
    for (const delay of [0.001, 0.005, 0.01]) {
      const handle: TimerHandle = loop.callLater(delay, () => {
        late.push(loop.time() - handle.when());
      });
      handles.push(handle);
    }
    loop.callLater(0.015, () => loop.stop());
    await loop.runForever();
    assert.equal(late.length, 3);
    // asyncio allows the clock's resolution as slack.
    for (const d of late) assert.ok(d >= -1e-6, `ran ${-d} s early`);
  },
);

loopTest(
  "a cancelled timer never runs, even when cancelled by a timer due at the same time",
  async ({ loop }) => {
    const seen: string[] = [];
    const at = loop.time() + 0.002;
    const handles: TimerHandle[] = [];
    loop.callAt(at, () => {
      seen.push("first");
      handles[0].cancel();
    });
    const victim = loop.callAt(at, () => seen.push("victim"));
    handles.push(victim);
    const early = loop.callLater(0.001, () => seen.push("cancelled early"));
    early.cancel();
    loop.callAt(at, () => seen.push("third"));
    loop.callLater(0.005, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["first", "third"]);
    assert.equal(victim.cancelled(), true);
    assert.equal(early.cancelled(), true);
  },
);

loopTest(
  "many cancelled timers are cleaned up and the live ones still run",
  async ({ loop }) => {
    const fired: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const handle = loop.callLater(0.001 * (i % 10), () => fired.push(i));
      if (i % 4 !== 0) handle.cancel();
    }
    // Cancel more while the loop runs, after the heap has been cleaned once.
    const lateCancelled: TimerHandle[] = [];
    loop.callSoon(() => {
      for (let i = 0; i < 200; i++) {
        lateCancelled.push(loop.callLater(0.003, () => fired.push(-1)));
      }
      for (const handle of lateCancelled) handle.cancel();
    });
    loop.callLater(0.02, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(
      [...fired].sort((a, b) => a - b),
      Array.from({ length: 250 }, (_, k) => 4 * k),
    );
  },
);

// ---- async context ------------------------------------------------------------

loopTest(
  "callbacks run in the async context current when they were scheduled",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const record = () => seen.push(store.getStore());
    store.run("soon", () => loop.callSoon(record));
    loop.callSoon(record);
    store.run("later", () => loop.callLater(0, record));
    store.run("at", () => loop.callAt(loop.time(), record));
    store.run("threadsafe", () => loop.callSoonThreadsafe(record));
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["soon", undefined, "threadsafe", "later", "at"]);
  },
);

loopTest(
  "the trailing { context } option runs a callback in that Context",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const ctx = store.run("given", () => Context.current());
    const seen: unknown[] = [];
    const record = (...args: unknown[]) => seen.push([store.getStore(), args]);
    store.run("ambient", () => {
      loop.callSoon(record, { context: ctx });
      loop.callSoon(record, 1, 2, { context: ctx });
      loop.callLater(0, record, "t", { context: ctx });
      loop.callAt(loop.time(), record, { context: ctx });
      loop.callSoonThreadsafe(record, { context: ctx });
      loop.callSoon(record, "no option");
    });
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, [
      ["given", []],
      ["given", [1, 2]],
      ["given", []],
      ["ambient", ["no option"]],
      ["given", ["t"]],
      ["given", []],
    ]);
  },
);

loopTest(
  "callbacks scheduled by a task run in the task's async context",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    await loop.runUntilComplete(async () => {
      await store.run("task value", async () => {
        await sleep(0);
        const done = loop.createFuture<void>();
        loop.callSoon(() => {
          seen.push(store.getStore());
          done.setResult();
        });
        await done;
      });
    });
    assert.deepEqual(seen, ["task value"]);
  },
);

// ---- exception handling -----------------------------------------------------

loopTest(
  "a throwing callback reaches the exception handler and the loop keeps running",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("boom");
    const seen: string[] = [];
    const handle = loop.callSoon(function exploding(n: number) {
      seen.push(`exploding ${n}`);
      throw boom;
    }, 1);
    loop.callSoon(() => seen.push("after"));
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["exploding 1", "after"]);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    // Without debug mode the arguments are left out, as asyncio does.
    assert.equal(errors[0].message, "Exception in callback exploding()");
    assert.equal(errors[0].exception, boom);
    assert.equal(errors[0].handle, handle);
  },
);

loopTest(
  "a throwing timer callback reports its TimerHandle; non-Error throws are kept",
  async (fx) => {
    const { loop } = fx;
    const timer = loop.callLater(0, function tick() {
      throw "a string";
    });
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /^Exception in callback tick\(\)/);
    assert.equal(errors[0].exception, "a string");
    assert.equal(errors[0].handle, timer);
  },
);

loopTest(
  "setExceptionHandler() handlers get (loop, context); getExceptionHandler() returns them",
  async ({ loop }) => {
    const calls: [AbstractEventLoop, ExceptionContext][] = [];
    const handler = (l: AbstractEventLoop, c: ExceptionContext) => {
      calls.push([l, c]);
    };
    loop.setExceptionHandler(handler);
    assert.equal(loop.getExceptionHandler(), handler);
    const boom = new Error("boom");
    loop.callSoon(() => {
      throw boom;
    });
    stopSoon(loop);
    await loop.runForever();
    assert.equal(calls.length, 1);
    assert.equal(calls[0][0], loop);
    assert.equal(calls[0][1].exception, boom);
  },
);

loopTest(
  "setExceptionHandler() with a non-function throws TypeError and keeps the handler",
  ({ loop }) => {
    const before = loop.getExceptionHandler();
    assert.notEqual(before, null);
    for (const bad of [5, "handler", {}, true]) {
      assert.throws(() => loop.setExceptionHandler(bad as Loose), TypeError);
    }
    assert.equal(loop.getExceptionHandler(), before);
  },
);

loopTest(
  "setExceptionHandler(null) restores the default handler, which logs via logger.error",
  async ({ loop }) => {
    loop.setExceptionHandler(null);
    assert.equal(loop.getExceptionHandler(), null);
    using log = captureLogger();
    const boom = new Error("boom");
    loop.callSoon(function exploding() {
      throw boom;
    });
    stopSoon(loop);
    await loop.runForever();
    assert.equal(log.errors.length, 1);
    const [{ message, exception }] = log.errors;
    assert.match(message, /^Exception in callback exploding\(\)/);
    assert.match(message, /\nhandle: <Handle exploding\(\)>/);
    assert.equal(exception, boom);
    assert.deepEqual(log.warnings, []);
  },
);

loopTest(
  "defaultExceptionHandler() logs the message, the other keys, and the exception",
  ({ loop }) => {
    using log = captureLogger();
    const error = new Error("inner");
    loop.defaultExceptionHandler({
      message: "custom message",
      exception: error,
      future: "the future",
    });
    loop.defaultExceptionHandler({ message: "" });
    assert.equal(log.errors.length, 2);
    assert.match(log.errors[0].message, /^custom message\n/);
    assert.match(log.errors[0].message, /future: "the future"/);
    assert.doesNotMatch(log.errors[0].message, /exception:/);
    assert.equal(log.errors[0].exception, error);
    assert.equal(log.errors[1].message, "Unhandled exception in event loop");
    assert.equal(log.errors[1].exception, undefined);
  },
);

loopTest(
  "a throwing exception handler is reported through the default handler",
  async ({ loop }) => {
    using log = captureLogger();
    const broken = new Error("handler broke");
    loop.setExceptionHandler(() => {
      throw broken;
    });
    const seen: string[] = [];
    loop.callSoon(() => {
      throw new Error("first");
    });
    loop.callSoon(() => seen.push("still running"));
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["still running"]);
    assert.equal(log.errors.length, 1);
    assert.match(
      log.errors[0].message,
      /^Unhandled error in exception handler/,
    );
    assert.equal(log.errors[0].exception, broken);
  },
);

loopTest(
  "a throwing defaultExceptionHandler() is logged, not thrown",
  ({ loop }) => {
    using log = captureLogger();
    const defaultBroke = new Error("default broke");
    loop.defaultExceptionHandler = () => {
      throw defaultBroke;
    };
    loop.setExceptionHandler(null);
    loop.callExceptionHandler({ message: "one" });
    const customBroke = new Error("custom broke");
    loop.setExceptionHandler(() => {
      throw customBroke;
    });
    loop.callExceptionHandler({ message: "two" });
    assert.deepEqual(log.errors.map((e) => e.message), [
      "Exception in default exception handler",
      "Exception in default exception handler while handling an unexpected error in custom exception handler",
    ]);
    assert.equal(log.errors[0].exception, defaultBroke);
    assert.equal(log.errors[1].exception, defaultBroke);
  },
);

loopTest(
  "callExceptionHandler() passes the context object, custom keys included",
  (fx) => {
    const context: ExceptionContext = {
      message: "custom",
      exception: new RangeError("x"),
      extra: 1,
    };
    fx.loop.callExceptionHandler(context);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0], context);
    assert.equal(errors[0].extra, 1);
  },
);

loopTest(
  "the exception handler runs in the async context of the failing callback",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    loop.setExceptionHandler(() => seen.push(store.getStore()));
    store.run("callback context", () =>
      loop.callSoon(() => {
        throw new Error("x");
      }));
    const ctx = store.run("given context", () => Context.current());
    loop.callSoon(() => {
      throw new Error("y");
    }, { context: ctx });
    stopSoon(loop);
    await loop.runForever();
    assert.deepEqual(seen, ["callback context", "given context"]);
  },
);

// ---- debug mode -----------------------------------------------------------------

loopTest("setDebug() and getDebug() toggle debug mode", ({ loop }) => {
  loop.setDebug(true);
  assert.equal(loop.getDebug(), true);
  loop.setDebug(false);
  assert.equal(loop.getDebug(), false);
  assert.equal(loop.slowCallbackDuration, 0.1);
});

loopTest(
  "debug mode adds where a failing callback was scheduled to the exception context",
  async (fx) => {
    const { loop } = fx;
    loop.callSoon(() => {
      throw new Error("plain");
    });
    stopSoon(loop);
    await loop.runForever();
    loop.setDebug(true);
    loop.callSoon(function scheduledInDebug() {
      throw new Error("debug");
    });
    stopSoon(loop);
    await loop.runForever();
    const errors = fx.takeErrors();
    assert.equal(errors.length, 2);
    assert.equal(errors[0].sourceTraceback, undefined);
    assert.equal(typeof errors[1].sourceTraceback, "string");
    assert.match(errors[1].sourceTraceback as string, /base_loop_test\.ts/);
  },
);

Deno.test("getDebug() defaults from the AIOLOOP_DEBUG environment variable", async () => {
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const code = `import { newEventLoop } from "${mod}";
const loop = newEventLoop();
console.log(loop.getDebug());
loop.close();`;
  const baseEnv: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) baseEnv[name] = value;
  }
  /** `deno eval` (all permissions) or `deno run -` with the given flags. */
  const debugIn = async (
    how: { eval: true } | { eval: false; flags: string[] },
    variables: Record<string, string>,
  ): Promise<string> => {
    const args = how.eval
      ? ["eval", code]
      : ["run", "--allow-read", ...how.flags, "-"];
    const child = new Deno.Command(Deno.execPath(), {
      args,
      env: { ...baseEnv, ...variables },
      clearEnv: true,
      stdin: how.eval ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (!how.eval) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(code));
      await writer.close();
    }
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  };
  const results = await Promise.all([
    debugIn({ eval: true }, { AIOLOOP_DEBUG: "1" }),
    debugIn({ eval: true }, {}),
    debugIn({ eval: true }, { AIOLOOP_DEBUG: "" }),
    debugIn({ eval: false, flags: ["--allow-env"] }, { AIOLOOP_DEBUG: "1" }),
    debugIn({ eval: false, flags: [] }, { AIOLOOP_DEBUG: "1" }),
  ]);
  assert.deepEqual(results, ["true", "false", "false", "true", "false"]);
});

Deno.test("debug mode logs callbacks slower than slowCallbackDuration", async () => {
  using loop = new EventLoop();
  loop.slowCallbackDuration = 0.001;
  using log = captureLogger();
  const busy = () => {
    const end = performance.now() + 5;
    while (performance.now() < end) { /* a measured 5 ms */ }
  };
  // Debug off: nothing is measured.
  loop.callSoon(function slowQuiet() {
    busy();
  });
  stopSoon(loop);
  await loop.runForever();
  assert.deepEqual(log.warnings, []);
  loop.setDebug(true);
  loop.callSoon(function slow() {
    busy();
  });
  loop.callSoon(function fast() {});
  stopSoon(loop);
  await loop.runForever();
  assert.equal(log.warnings.length, 1);
  assert.match(
    log.warnings[0],
    /^Executing <Handle slow\(\) created at \S+base_loop_test\.ts:\d+:\d+> took \d+\.\d{3} seconds$/,
  );
  assert.deepEqual(log.errors, []);
});

// ---- futures, tasks, task factory --------------------------------------------

loopTest(
  "createFuture() makes a pending future bound to the loop",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    assert.ok(fut instanceof Future);
    assert.equal(fut.getLoop(), loop);
    assert.equal(fut.done(), false);
    loop.callSoon(() => fut.setResult("set"));
    assert.equal(await loop.runUntilComplete(fut), "set");
  },
);

loopTest(
  "createTask() schedules the coroutine on the loop with a name",
  async ({ loop }) => {
    const steps: string[] = [];
    const task = loop.createTask(async () => {
      steps.push("ran");
      return 3;
    }, { name: "worker" });
    assert.ok(task instanceof Task);
    assert.equal(task.getName(), "worker");
    assert.deepEqual(steps, [], "a lazy coroutine starts on the loop");
    assert.equal(await loop.runUntilComplete(task), 3);
    assert.deepEqual(steps, ["ran"]);
  },
);

loopTest(
  "setTaskFactory() factories get (loop, coro, { name, context }) and make createTask()'s result",
  async ({ loop }) => {
    class MyTask<T> extends Task<T> {}
    const calls: unknown[][] = [];
    const factory = (
      l: AbstractEventLoop,
      coro: () => PromiseLike<unknown>,
      options?: { name?: string | null; context?: Context | null },
    ) => {
      calls.push([l, coro, options]);
      return new MyTask(coro, { loop: l, context: options?.context });
    };
    loop.setTaskFactory(factory as Loose);
    assert.equal(loop.getTaskFactory(), factory);
    const store = new AsyncLocalStorage<string>();
    const ctx = store.run("ctx", () => Context.current());
    const coro = async () => store.getStore();
    const task = loop.createTask(coro, { context: ctx, name: "named" });
    assert.ok(task instanceof MyTask);
    assert.equal(task.getName(), "named");
    const plain = async () => "plain";
    const second = loop.createTask(plain);
    assert.equal(await loop.runUntilComplete(task), "ctx");
    assert.equal(await loop.runUntilComplete(second), "plain");
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[0], [loop, coro, { name: "named", context: ctx }]);
    assert.equal(calls[1][0], loop);
    assert.equal(calls[1][1], plain);
    assert.equal(calls[1][2], undefined);
  },
);

loopTest(
  "runUntilComplete() of a coroutine goes through the task factory",
  async ({ loop }) => {
    let made = 0;
    loop.setTaskFactory((l, coro, options) => {
      made++;
      return new Task(coro, { loop: l, ...options });
    });
    assert.equal(await loop.runUntilComplete(async () => "x"), "x");
    assert.equal(made, 1);
  },
);

loopTest(
  "setTaskFactory(null) restores the default; a non-function throws TypeError",
  async ({ loop }) => {
    let made = 0;
    const factory = (l: AbstractEventLoop, coro: Loose) => {
      made++;
      return new Task(coro, { loop: l });
    };
    loop.setTaskFactory(factory as Loose);
    for (const bad of [1, "factory", {}]) {
      assert.throws(() => loop.setTaskFactory(bad as Loose), TypeError);
    }
    assert.equal(loop.getTaskFactory(), factory);
    loop.setTaskFactory(null);
    assert.equal(loop.getTaskFactory(), null);
    await loop.runUntilComplete(loop.createTask(async () => {}));
    assert.equal(made, 0);
  },
);

loopTest("time() is monotonic, in seconds", async ({ loop }) => {
  let previous = loop.time();
  assert.equal(typeof previous, "number");
  for (let i = 0; i < 1000; i++) {
    const now = loop.time();
    assert.ok(now >= previous);
    previous = now;
  }
  const start = loop.time();
  const fut = loop.createFuture<number>();
  loop.callLater(0.005, () => fut.setResult(loop.time()));
  const at = await loop.runUntilComplete(fut);
  assert.ok(at - start >= 0.005 - 1e-6, `only ${at - start} s passed`);
  if (!(loop instanceof VirtualTimeEventLoop)) {
    // Seconds, not milliseconds: the loop's clock tracks performance.now().
    assert.ok(Math.abs(loop.time() - performance.now() / 1000) < 1);
  }
});

// ---- closing: pending tasks, async generators, the executor ------------------

loopTest(
  "close() reports each pending task to the exception handler",
  async (fx) => {
    const { loop } = fx;
    const pending = loop.createTask(() => sleep(3600), { name: "pending" });
    const finished = loop.createTask(async () => "done");
    await loop.runUntilComplete(finished);
    loop.close();
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "Task was destroyed but it is pending!");
    assert.equal(errors[0].task, pending);
  },
);

loopTest(
  "shutdownAsyncgens() closes async generators first iterated while the loop ran",
  async ({ loop }) => {
    const log: string[] = [];
    async function* numbers(name: string) {
      try {
        for (let i = 0;; i++) yield i;
      } finally {
        log.push(`${name} closed`);
      }
    }
    const viaNext = numbers("next");
    const viaForAwait = numbers("for await");
    const blocker = loop.createFuture();
    const consumer = loop.createTask(async () => {
      for await (const _ of viaForAwait) await blocker;
    });
    await loop.runUntilComplete(async () => {
      assert.equal((await viaNext.next()).value, 0);
      await sleep(0);
    });
    assert.deepEqual(log, []);
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
    assert.deepEqual(log.sort(), ["for await closed", "next closed"]);
    assert.deepEqual(await viaNext.next(), { value: undefined, done: true });
    consumer.cancel();
    await assert.rejects(loop.runUntilComplete(consumer), CancelledError);
  },
);

loopTest(
  "shutdownAsyncgens() leaves generators first iterated outside the loop alone",
  async ({ loop }) => {
    const log: string[] = [];
    async function* gen() {
      try {
        yield 1;
        yield 2;
      } finally {
        log.push("closed");
      }
    }
    const outside = gen();
    assert.equal((await outside.next()).value, 1);
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
    assert.deepEqual(log, []);
    assert.equal((await outside.next()).value, 2);
    await outside.return(undefined);
    assert.deepEqual(log, ["closed"]);
  },
);

loopTest(
  "shutdownAsyncgens() reports a generator that throws while closing",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("cleanup failed");
    async function* bad() {
      try {
        yield 1;
      } finally {
        // deno-lint-ignore no-unsafe-finally
        throw boom;
      }
    }
    const gen = bad();
    await loop.runUntilComplete(async () => {
      await gen.next();
    });
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(
      errors[0].message,
      /^an error occurred during closing of asynchronous generator/,
    );
    assert.equal(errors[0].exception, boom);
    assert.equal(errors[0].asyncgen, gen);
  },
);

loopTest(
  "an async generator first iterated after shutdownAsyncgens() logs a warning",
  async ({ loop }) => {
    async function* late() {
      yield 1;
    }
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
    using log = captureLogger();
    const gen = late();
    await loop.runUntilComplete(async () => {
      await gen.next();
      await gen.next(); // a second step is not a new generator
    });
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0], /after loop\.shutdownAsyncgens\(\) call/);
  },
);

loopTest(
  "shutdownDefaultExecutor() waits for the executor's shutdown(true)",
  async ({ loop }) => {
    const events: string[] = [];
    loop.setDefaultExecutor({
      submit: (fn, ...args) => Promise.resolve(fn(...args)),
      shutdown: (wait) => {
        events.push(`shutdown(${wait})`);
        const joined = loop.createFuture<void>();
        loop.callLater(0.002, () => {
          events.push("joined");
          joined.setResult();
        });
        return joined;
      },
    });
    await loop.runUntilComplete(async () => {
      await loop.shutdownDefaultExecutor();
      events.push("returned");
    });
    assert.deepEqual(events, ["shutdown(true)", "joined", "returned"]);
  },
);

loopTest(
  "shutdownDefaultExecutor() with no default executor resolves",
  async ({ loop }) => {
    const start = loop.time();
    assert.equal(
      await loop.runUntilComplete(() => loop.shutdownDefaultExecutor()),
      undefined,
    );
    await loop.runUntilComplete(() => loop.shutdownDefaultExecutor(60));
    // Nothing to wait for: no timeout was armed and waited out.
    if (loop instanceof VirtualTimeEventLoop) assert.equal(loop.time(), start);
  },
);

loopTest(
  "shutdownDefaultExecutor(timeout) logs a warning and calls shutdown(false) when it expires",
  async ({ loop }) => {
    const calls: unknown[] = [];
    loop.setDefaultExecutor({
      submit: () => Promise.resolve(),
      shutdown: (wait) => {
        calls.push(wait);
        return wait ? new Promise<void>(() => {}) : undefined;
      },
    });
    using log = captureLogger();
    const start = loop.time();
    await loop.runUntilComplete(() => loop.shutdownDefaultExecutor(5));
    assert.deepEqual(calls, [true, false]);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0], /5 seconds/);
    assert.equal(loop.time() - start, 5);
  },
  { virtualOnly: true },
);

loopTest(
  "runInExecutor() with the default executor throws RuntimeError after shutdownDefaultExecutor()",
  async ({ loop }) => {
    const submitted: unknown[] = [];
    loop.setDefaultExecutor({
      submit: (fn, ...args) => {
        submitted.push(fn);
        return Promise.resolve(fn(...args));
      },
      shutdown: () => {},
    });
    await loop.runUntilComplete(() => loop.shutdownDefaultExecutor());
    const runInExecutor = (loop as Loose).runInExecutor;
    assert.equal(typeof runInExecutor, "function", "loop.runInExecutor");
    assert.throws(
      () => runInExecutor.call(loop, null, () => 1),
      RuntimeError,
    );
    assert.deepEqual(submitted, []);
  },
);

loopTest(
  "setDefaultExecutor() refuses objects without submit and shutdown",
  ({ loop }) => {
    assert.throws(() => loop.setDefaultExecutor({} as Loose), TypeError);
    assert.throws(
      () => loop.setDefaultExecutor({ submit() {} } as Loose),
      TypeError,
    );
    assert.throws(() => loop.setDefaultExecutor(null as Loose), TypeError);
  },
);

loopTest(
  "close() shuts the default executor down without waiting",
  ({ loop }) => {
    const calls: unknown[] = [];
    loop.setDefaultExecutor({
      submit: () => Promise.resolve(),
      shutdown: (wait) => {
        calls.push(wait);
      },
    });
    loop.close();
    assert.deepEqual(calls, [false]);
    loop.close();
    assert.deepEqual(calls, [false]);
  },
);

// ---- runInExecutor ----------------------------------------------------------

/** An executor whose work finishes when the test says so. */
function manualExecutor() {
  const pending: { run: () => void }[] = [];
  const executor = {
    submit: (fn: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      new Promise((resolve, reject) => {
        pending.push({
          run: () => {
            try {
              resolve(fn(...args));
            } catch (e) {
              reject(e);
            }
          },
        });
      }),
    shutdown: () => {},
  };
  return { executor, pending };
}

loopTest(
  "runInExecutor() resolves the loop future with the function's result",
  async ({ loop }) => {
    const { executor, pending } = manualExecutor();
    const fut = loop.runInExecutor(
      executor,
      (a: number, b: number) => a * b,
      6,
      7,
    );
    assert.ok(fut instanceof Future);
    assert.equal(fut.getLoop(), loop);
    assert.equal(fut.done(), false);
    assert.equal(pending.length, 1);
    pending[0].run();
    assert.equal(await loop.runUntilComplete(fut), 42);
  },
);

loopTest(
  "runInExecutor() passes the function's error to the future",
  async ({ loop }) => {
    const { executor, pending } = manualExecutor();
    const error = new RangeError("worker failed");
    const fut = loop.runInExecutor(executor, () => {
      throw error;
    });
    pending[0].run();
    await assert.rejects(loop.runUntilComplete(fut), (e) => e === error);
  },
);

loopTest(
  "runInExecutor() work in flight holds the virtual clock",
  async ({ loop }) => {
    const { executor, pending } = manualExecutor();
    const order: string[] = [];
    loop.callLater(100, () => order.push("timer"));
    const fut = loop.runInExecutor(executor, () => "work");
    fut.addDoneCallback(() => order.push("work"));
    // Finish the work from the host once the loop had a chance to wait.
    setTimeout(() => pending[0].run(), 5);
    await loop.runUntilComplete(fut);
    await loop.runUntilComplete(() => sleep(0));
    assert.deepEqual(order, ["work"]);
    assert.ok(loop.time() < 100);
  },
  { virtualOnly: true },
);

loopTest(
  "runInExecutor() rejects bad input at the call and the loop stays usable",
  async ({ loop }) => {
    const { executor } = manualExecutor();
    assert.throws(
      () => loop.runInExecutor(executor, "nope" as unknown as () => void),
      TypeError,
    );
    assert.throws(
      () => loop.runInExecutor({} as never, () => 1),
      TypeError,
    );
    const inline = {
      submit: (fn: () => unknown) => Promise.resolve(fn()),
      shutdown: () => {},
    };
    const fut = loop.runInExecutor(inline, () => "still fine");
    assert.equal(await loop.runUntilComplete(fut), "still fine");
    loop.close();
    assert.throws(() => loop.runInExecutor(inline, () => 1), RuntimeError);
  },
);
