/**
 * The event loop behaves as asyncio's documentation says: argument checks of
 * the scheduling calls, what one iteration runs, running and stopping, the
 * exception handler, executors, signal handlers, and `TimerHandle`s. These
 * complement `base_loop_test.ts` and `handles_test.ts`; each test runs on
 * every loop kind (or on the virtual clock where time matters) with strict
 * teardown (see `loopTest`).
 */
import assert from "node:assert/strict";
import {
  AbstractEventLoop,
  BaseEventLoop,
  type ExceptionContext,
  KeyboardInterrupt,
  NotImplementedError,
  RuntimeError,
  sleep,
  type TimerHandle,
} from "../../mod.ts";
import type { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { captureLogger, loopTest } from "../_util.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** Busy-waits `ms` real milliseconds (a callback that is slow on purpose). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

/** The iteration the loop is in (its `metrics().iterations` count). */
function iteration(loop: AbstractEventLoop): number {
  return loop.metrics().iterations;
}

// ---- argument checks ----------------------------------------------------------

loopTest(
  "callSoon(), callSoonThreadsafe(), callLater(), callAt() and runInExecutor() refuse coroutines with TypeError",
  async ({ loop }) => {
    async function work() {}
    const promise = work();
    const inline = {
      submit: (fn: () => unknown) => Promise.resolve(fn()),
      shutdown: () => {},
    };
    const schedulers: [string, (cb: Loose) => unknown][] = [
      ["callSoon", (cb) => loop.callSoon(cb)],
      ["callSoonThreadsafe", (cb) => loop.callSoonThreadsafe(cb)],
      ["callLater", (cb) => loop.callLater(60, cb)],
      ["callAt", (cb) => loop.callAt(loop.time() + 60, cb)],
      ["runInExecutor", (cb) => loop.runInExecutor(inline, cb)],
    ];
    for (const [method, schedule] of schedulers) {
      for (const coroutine of [work, promise]) {
        assert.throws(
          () => schedule(coroutine),
          (e) => e instanceof TypeError && e.message.includes(`${method}()`),
          `${method}(${typeof coroutine})`,
        );
      }
    }
    await promise;
    const metrics = loop.metrics();
    assert.equal(metrics.ready, 0, "a refused callback was queued");
    assert.equal(metrics.timers, 0, "a refused timer was queued");
  },
);

loopTest(
  "callLater() and callAt() with null or undefined time throw TypeError and schedule nothing",
  ({ loop }) => {
    const tick = () => {};
    for (const missing of [null, undefined]) {
      assert.throws(() => loop.callLater(missing as Loose, tick), TypeError);
      assert.throws(() => loop.callAt(missing as Loose, tick), TypeError);
    }
    assert.equal(loop.metrics().timers, 0);
  },
);

// ---- what one iteration runs ------------------------------------------------------

loopTest(
  "callSoon() from a running callback runs in the next iteration; callbacks ready together share one",
  async ({ loop }) => {
    const seen: [string, number][] = [];
    loop.callSoon(() => {
      seen.push(["first", iteration(loop)]);
      loop.callSoon(() => {
        seen.push(["scheduled while running", iteration(loop)]);
        loop.stop();
      });
    });
    loop.callSoon(() => seen.push(["second", iteration(loop)]));
    await loop.runForever();
    assert.deepEqual(seen.map(([name]) => name), [
      "first",
      "second",
      "scheduled while running",
    ]);
    const [[, a], [, b], [, c]] = seen;
    assert.equal(a, b, "callbacks ready together ran in different iterations");
    assert.equal(c, a + 1, "a callback scheduled while running ran too early");
  },
);

loopTest(
  "a due timer's callback that calls callSoon() gets it run in the next iteration",
  async ({ loop }) => {
    const seen: [string, number][] = [];
    loop.callLater(-1, () => {
      seen.push(["timer", iteration(loop)]);
      loop.callSoon(() => {
        seen.push(["soon", iteration(loop)]);
        loop.stop();
      });
    });
    loop.callLater(-1, () => seen.push(["same time", iteration(loop)]));
    await loop.runForever();
    assert.deepEqual(seen.map(([name]) => name), [
      "timer",
      "same time",
      "soon",
    ]);
    assert.equal(seen[1][1], seen[0][1]);
    assert.equal(seen[2][1], seen[0][1] + 1);
  },
);

loopTest(
  "sleep() with delays below a millisecond does not spin the loop",
  async ({ loop }) => {
    loop.resetMetrics();
    await loop.runUntilComplete(async () => {
      for (const delay of [1e-2, 1e-4, 1e-6, 1e-8, 1e-10]) await sleep(delay);
    });
    const { iterations } = loop.metrics();
    assert.ok(iterations <= 20, `${iterations} iterations for five sleeps`);
  },
);

loopTest(
  "a timer due within the clock's resolution runs without the clock moving",
  async ({ loop }) => {
    const virtual = loop as VirtualTimeEventLoop;
    virtual.advance(10);
    const start = loop.time();
    let ranAt = -1;
    loop.callAt(start + 1e-10, () => {
      ranAt = loop.time();
      loop.stop();
    });
    await loop.runForever();
    assert.equal(ranAt, start);
  },
  { virtualOnly: true },
);

loopTest(
  "a timer that cancels itself while it runs leaves the pending timer count right",
  async ({ loop }) => {
    const later = loop.callLater(10, () => {});
    const self: TimerHandle = loop.callLater(0, () => self.cancel());
    assert.equal(loop.metrics().timers, 2);
    await loop.runUntilComplete(() => sleep(0.001));
    assert.equal(self.cancelled(), true);
    assert.equal(loop.metrics().timers, 1);
    later.cancel();
    later.cancel();
    assert.equal(loop.metrics().timers, 0);
  },
);

// ---- running and stopping -----------------------------------------------------

loopTest(
  "runUntilComplete() after stop() runs one iteration: a future done in it is returned, else RuntimeError",
  async ({ loop }) => {
    loop.stop();
    assert.equal(
      await loop.runUntilComplete(async () => "first step"),
      "first step",
    );
    loop.stop();
    const never = loop.createFuture();
    await assert.rejects(loop.runUntilComplete(never), {
      name: "RuntimeError",
      message: "Event loop stopped before Future completed.",
    });
    never.cancel();
  },
);

loopTest(
  "runUntilComplete() stopped early leaves no stop behind for when its future completes later",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    loop.stop();
    await assert.rejects(loop.runUntilComplete(fut), RuntimeError);
    const seen: string[] = [];
    loop.callSoon(() => fut.setResult(1));
    loop.callSoon(() =>
      loop.callSoon(() =>
        loop.callSoon(() => {
          seen.push("three iterations later");
          loop.stop();
        })
      )
    );
    await loop.runForever();
    assert.deepEqual(seen, ["three iterations later"]);
  },
);

loopTest(
  "runUntilComplete() of a coroutine that raises KeyboardInterrupt rejects with it; nothing is reported and the loop runs on",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    await assert.rejects(
      loop.runUntilComplete(async () => {
        throw interrupt;
      }),
      (e) => e === interrupt,
    );
    let called = false;
    loop.callSoon(() =>
      loop.callSoon(() => {
        called = true;
        loop.stop();
      })
    );
    await loop.runForever();
    assert.equal(called, true);
    loop.close();
  },
);

loopTest(
  "close() from a coroutine rejects runUntilComplete() with RuntimeError and leaves the loop usable",
  async ({ loop }) => {
    await assert.rejects(
      loop.runUntilComplete(async () => {
        loop.close();
      }),
      (e) => e instanceof RuntimeError && /running/.test(e.message),
    );
    assert.equal(loop.isClosed(), false);
    assert.equal(loop.isRunning(), false);
    assert.equal(await loop.runUntilComplete(async () => "again"), "again");
    loop.close();
    loop.stop();
    assert.equal(loop.isClosed(), true);
    assert.equal(loop.isRunning(), false);
  },
);

Deno.test("AbstractEventLoop methods throw NotImplementedError", () => {
  const loop = new AbstractEventLoop() as Loose;
  const calls: [string, unknown[]][] = [
    ["runForever", []],
    ["runUntilComplete", [null]],
    ["stop", []],
    ["isRunning", []],
    ["isClosed", []],
    ["close", []],
    ["createTask", [null]],
    ["callLater", [1, () => {}]],
    ["callAt", [1, () => {}]],
    ["callSoon", [() => {}]],
    ["callSoonThreadsafe", [() => {}]],
    ["time", []],
    ["setDefaultExecutor", [null]],
    ["addReader", [1, () => {}]],
    ["removeReader", [1]],
    ["addWriter", [1, () => {}]],
    ["removeWriter", [1]],
    ["addSignalHandler", ["SIGINT", () => {}]],
    ["removeSignalHandler", ["SIGINT"]],
    ["setExceptionHandler", [null]],
    ["defaultExceptionHandler", [{ message: "m" }]],
    ["callExceptionHandler", [{ message: "m" }]],
    ["getDebug", []],
    ["setDebug", [true]],
  ];
  for (const [method, args] of calls) {
    assert.equal(typeof loop[method], "function", method);
    assert.throws(
      () => loop[method](...args),
      (e) => e instanceof NotImplementedError && e.message.includes(method),
      method,
    );
  }
});

Deno.test("BaseEventLoop leaves reader and writer watching to the loops with I/O", () => {
  using loop = new BaseEventLoop();
  for (const method of ["addReader", "addWriter"] as const) {
    assert.throws(() => loop[method](1, () => {}), NotImplementedError);
  }
  for (const method of ["removeReader", "removeWriter"] as const) {
    assert.throws(() => loop[method](1), NotImplementedError);
  }
});

// ---- debug mode -------------------------------------------------------------------

loopTest(
  "debug mode logs a slow timer callback and a slow first step of a task",
  async ({ loop }) => {
    using log = captureLogger();
    loop.setDebug(true);
    loop.slowCallbackDuration = 0.002;
    loop.callLater(0, function slowTimer() {
      busy(5);
    });
    await loop.runUntilComplete(async function slowFirstStep() {
      busy(5);
    });
    assert.equal(log.warnings.length, 2, log.warnings.join("\n"));
    const timerLine = log.warnings.find((line) => line.includes("slowTimer"));
    const taskLine = log.warnings.find((line) =>
      line.includes("slowFirstStep")
    );
    assert.match(
      timerLine ?? "",
      /^Executing <TimerHandle when=\S+ slowTimer\(\) created at \S+loop_parity_test\.ts:\d+:\d+> took \d+\.\d{3} seconds$/,
    );
    assert.match(
      taskLine ?? "",
      /^Executing <Task .*slowFirstStep.*> took \d+\.\d{3} seconds$/,
    );
    loop.slowCallbackDuration = 60;
    loop.callSoon(function notSlowEnough() {
      busy(5);
    });
    await loop.runUntilComplete(() => sleep(0));
    assert.equal(log.warnings.length, 2);
  },
);

loopTest(
  "debug mode logs a slow later step of a task, once, and not its quick steps",
  async ({ loop }) => {
    using log = captureLogger();
    loop.setDebug(true);
    loop.slowCallbackDuration = 0.02;
    await loop.runUntilComplete(async function slowLaterStep() {
      await sleep(0);
      busy(40); // the second step is the slow one
      await sleep(0);
      await sleep(0);
    });
    assert.equal(log.warnings.length, 1, log.warnings.join("\n"));
    assert.match(
      log.warnings[0],
      /^Executing <Task .*slowLaterStep.*> took \d+\.\d{3} seconds$/,
    );
  },
);

// ---- the exception handler ------------------------------------------------------------

loopTest(
  "callExceptionHandler() with only a message: the default handler logs just the message",
  ({ loop }) => {
    loop.setExceptionHandler(null);
    using log = captureLogger();
    loop.callExceptionHandler({ message: "only a message" });
    assert.deepEqual(log.errors, [
      { message: "only a message", exception: undefined },
    ]);
  },
);

loopTest(
  "a failing callback's context holds message, exception and handle, and where it was scheduled in debug mode",
  async (fx) => {
    const { loop } = fx;
    const plain = loop.callSoon(function zeroError() {
      throw new RangeError("plain");
    });
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    loop.setDebug(true);
    const debug = loop.callLater(0, function zeroErrorDebug() {
      throw new RangeError("debug");
    });
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    const [first, second, ...rest] = fx.takeErrors();
    assert.deepEqual(rest, []);
    assert.deepEqual(Object.keys(first).sort(), [
      "exception",
      "handle",
      "message",
    ]);
    assert.match(first.message, /^Exception in callback zeroError\(\)/);
    assert.equal(first.handle, plain);
    assert.deepEqual(Object.keys(second).sort(), [
      "exception",
      "handle",
      "message",
      "sourceTraceback",
    ]);
    assert.match(second.message, /^Exception in callback zeroErrorDebug\(\)/);
    assert.equal(second.handle, debug);
    assert.equal((second.exception as Error).message, "debug");
  },
);

loopTest(
  "a custom handler that throws: the default handler gets its error and the original context",
  async ({ loop }) => {
    const defaultCalls: ExceptionContext[] = [];
    loop.defaultExceptionHandler = (context) => defaultCalls.push(context);
    const broken = new TypeError("handler broke");
    loop.setExceptionHandler(() => {
      throw broken;
    });
    const original = new RangeError("callback broke");
    const handle = loop.callSoon(() => {
      throw original;
    });
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    assert.equal(defaultCalls.length, 1);
    const [report] = defaultCalls;
    assert.equal(report.message, "Unhandled error in exception handler");
    assert.equal(report.exception, broken);
    const context = report.context as ExceptionContext;
    assert.equal(context.exception, original);
    assert.equal(context.handle, handle);
  },
);

// ---- executors ------------------------------------------------------------------

loopTest(
  "setDefaultExecutor() with a bad executor throws TypeError and keeps the one set before",
  async ({ loop }) => {
    const submitted: string[] = [];
    loop.setDefaultExecutor({
      submit: (fn, ...args) => {
        submitted.push(fn.name);
        return Promise.resolve(fn(...args));
      },
      shutdown: () => {},
    });
    for (const bad of [{}, { submit() {} }, () => {}, "executor"]) {
      assert.throws(() => loop.setDefaultExecutor(bad as Loose), TypeError);
    }
    const triple = (n: number) => n * 3;
    assert.equal(
      await loop.runUntilComplete(loop.runInExecutor(null, triple, 4)),
      12,
    );
    assert.deepEqual(submitted, ["triple"]);
  },
);

loopTest(
  "runInExecutor(): a future cancelled before close() stays cancelled when its job ends afterwards",
  async ({ loop }) => {
    let finish!: (value: unknown) => void;
    const executor = {
      submit: () =>
        new Promise((resolve) => {
          finish = resolve;
        }),
      shutdown: () => {},
    };
    const fut = loop.runInExecutor(executor, () => 1);
    fut.cancel();
    await loop.runUntilComplete(() => sleep(0));
    loop.close();
    finish(5);
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(fut.cancelled(), true);
  },
);

loopTest(
  "shutdownDefaultExecutor() twice shuts the executor down once",
  async ({ loop }) => {
    const calls: unknown[] = [];
    loop.setDefaultExecutor({
      submit: () => Promise.resolve(),
      shutdown: (wait) => {
        calls.push(wait);
      },
    });
    await loop.runUntilComplete(async () => {
      await loop.shutdownDefaultExecutor();
      await loop.shutdownDefaultExecutor();
    });
    loop.close();
    assert.deepEqual(calls, [true]);
  },
);

// ---- signal handlers ----------------------------------------------------------------

loopTest(
  "addSignalHandler() returns undefined; removeSignalHandler() refuses numbers outside the signal range",
  ({ loop }) => {
    for (const bad of [-1, 65]) {
      assert.throws(
        () => loop.removeSignalHandler(bad),
        (e) => e instanceof RangeError && e.message.includes(String(bad)),
      );
    }
    assert.equal(loop.addSignalHandler("SIGUSR2", () => {}), undefined);
    assert.equal(loop.removeSignalHandler("SIGUSR2"), true);
    assert.equal(loop.removeSignalHandler("SIGUSR2"), false);
  },
);

// ---- TimerHandle --------------------------------------------------------------------

loopTest(
  "TimerHandle compares by when() under <, <=, > and >=",
  ({ loop }) => {
    const tick = () => {};
    const early: Loose = loop.callAt(9, tick);
    const late: Loose = loop.callAt(10, tick);
    const twin: Loose = loop.callAt(9, tick);
    assert.equal(early < late, true);
    assert.equal(late < early, false);
    assert.equal(early <= late, true);
    assert.equal(late <= early, false);
    assert.equal(early > late, false);
    assert.equal(late > early, true);
    assert.equal(early >= late, false);
    assert.equal(late >= early, true);
    assert.equal(early < twin, false);
    assert.equal(twin < early, false);
    assert.equal(early <= twin, true);
    assert.equal(early >= twin, true);
    assert.equal(+early, 9);
    assert.notEqual(early, twin, "distinct handles stay distinct");
    const sorted = [late, twin, early].sort((a, b) => a - b);
    assert.deepEqual(sorted.map((h: TimerHandle) => h.when()), [9, 9, 10]);
    // In a string context a timer is still its description.
    assert.equal(`${early}`, "<TimerHandle when=9 tick()>");
    assert.equal("" + early, "<TimerHandle when=9 tick()>");
    assert.equal(String(early), early.toString());
    for (const handle of [early, late, twin]) handle.cancel();
    assert.equal(early < late, true, "cancelled timers still order by when()");
  },
);

loopTest(
  "TimerHandle.toString() in debug mode keeps the callback after cancel()",
  ({ loop }) => {
    loop.setDebug(true);
    const timer = loop.callAt(123, function noop(..._args: unknown[]) {}, 1);
    assert.match(
      timer.toString(),
      /^<TimerHandle when=123 noop\(1\) created at \S+loop_parity_test\.ts:\d+:\d+>$/,
    );
    timer.cancel();
    timer.cancel();
    assert.match(
      timer.toString(),
      /^<TimerHandle cancelled when=123 noop\(1\) created at \S+loop_parity_test\.ts:\d+:\d+>$/,
    );
    assert.equal(timer.when(), 123);
    assert.equal(timer.cancelled(), true);
  },
);
