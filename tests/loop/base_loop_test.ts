import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  Context,
  type ExceptionContext,
  getRunningLoop,
  logger,
  newEventLoop,
  RuntimeError,
  sleep,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing.ts";
import { assertNoErrors, strictLoop, testEach } from "../_util.ts";

testEach(
  "callSoon() runs callbacks in FIFO order with their arguments",
  async (factory) => {
    using loop = strictLoop(factory);
    const seen: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      loop.callSoon(
        (a: number, b: string) => seen.push([a, b]),
        i,
        "x",
      );
    }
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, [[0, "x"], [1, "x"], [2, "x"], [3, "x"], [4, "x"]]);
    assertNoErrors(loop);
  },
);

testEach(
  "stop() before runForever() runs one iteration, then returns",
  async (factory) => {
    using loop = strictLoop(factory);
    const seen: string[] = [];
    loop.callSoon(() => {
      seen.push("a");
      loop.callSoon(() => seen.push("b"));
    });
    loop.stop();
    await loop.runForever();
    assert.deepEqual(seen, ["a"]);
    // The callback scheduled by the batch runs on the next run.
    loop.stop();
    await loop.runForever();
    assert.deepEqual(seen, ["a", "b"]);
  },
);

testEach(
  "stop() during a run finishes the current batch only",
  async (factory) => {
    using loop = strictLoop(factory);
    const seen: number[] = [];
    loop.callSoon(() => {
      seen.push(1);
      loop.stop();
      loop.callSoon(() => seen.push(3));
    });
    loop.callSoon(() => seen.push(2));
    await loop.runForever();
    assert.deepEqual(seen, [1, 2]);
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, [1, 2, 3]);
  },
);

testEach(
  "runForever() rejects while running; close() throws while running",
  async (factory) => {
    using loop = strictLoop(factory);
    const errors: unknown[] = [];
    loop.callSoon(() => {
      loop.runForever().catch((e) => errors.push(e));
      try {
        loop.close();
      } catch (e) {
        errors.push(e);
      }
      loop.stop();
    });
    await loop.runForever();
    assert.equal(errors.length, 2);
    for (const e of errors) assert.ok(e instanceof RuntimeError);
    assert.equal(loop.isRunning(), false);
  },
);

testEach("runForever() rejects while another loop runs", async (factory) => {
  using a = strictLoop(factory);
  using b = strictLoop(factory);
  let error: unknown;
  a.callSoon(() => {
    b.runForever().catch((e) => (error = e));
    a.stop();
  });
  await a.runForever();
  await Promise.resolve();
  assert.ok(error instanceof RuntimeError);
  assert.match((error as Error).message, /another loop is running/);
});

testEach(
  "close() is idempotent and makes scheduling throw RuntimeError",
  async (factory) => {
    const loop = factory();
    loop.close();
    loop.close();
    assert.equal(loop.isClosed(), true);
    assert.throws(() => loop.callSoon(() => {}), RuntimeError);
    assert.throws(() => loop.callLater(1, () => {}), RuntimeError);
    assert.throws(() => loop.callAt(1, () => {}), RuntimeError);
    assert.throws(() => loop.createTask(async () => {}), RuntimeError);
    await assert.rejects(loop.runForever(), RuntimeError);
    await assert.rejects(loop.runUntilComplete(async () => {}), RuntimeError);
  },
);

testEach(
  "bad arguments throw typed errors and leave the loop usable",
  async (factory) => {
    using loop = strictLoop(factory);
    // deno-lint-ignore no-explicit-any
    const anyLoop = loop as any;
    assert.throws(() => anyLoop.callSoon(42), TypeError);
    assert.throws(() => loop.callSoon(async () => {}), TypeError);
    assert.throws(() => anyLoop.callLater("1", () => {}), TypeError);
    assert.throws(() => loop.callLater(NaN, () => {}), RangeError);
    assert.throws(() => anyLoop.callAt(undefined, () => {}), TypeError);
    assert.throws(() => anyLoop.setExceptionHandler(5), TypeError);
    assert.throws(() => anyLoop.setTaskFactory("f"), TypeError);
    assert.throws(() => anyLoop.createTask(42), TypeError);
    assert.equal(
      await loop.runUntilComplete(async () => "still fine"),
      "still fine",
    );
    assertNoErrors(loop);
  },
);

testEach(
  "a throwing callback reaches the exception handler and the loop keeps running",
  async (factory) => {
    using loop = strictLoop(factory);
    const boom = new Error("boom");
    let after = false;
    const handle = loop.callSoon(function exploding() {
      throw boom;
    });
    loop.callSoon(() => (after = true));
    loop.callSoon(() => loop.stop());
    await loop.runForever();
    assert.equal(after, true);
    assert.equal(loop.errors.length, 1);
    const [ctx] = loop.errors;
    assert.match(ctx.message, /^Exception in callback exploding\(\)/);
    assert.equal(ctx.exception, boom);
    assert.equal(ctx.handle, handle);
  },
);

testEach(
  "a throwing exception handler is reported by the default handler",
  async (factory) => {
    using loop = factory();
    const logged: string[] = [];
    const saved = logger.error;
    logger.error = (message) => logged.push(message);
    try {
      loop.setExceptionHandler(() => {
        throw new Error("handler broke");
      });
      loop.callSoon(() => {
        throw new Error("first");
      });
      loop.callSoon(() => loop.stop());
      await loop.runForever();
    } finally {
      logger.error = saved;
    }
    assert.equal(logged.length, 1);
    assert.match(logged[0], /^Unhandled error in exception handler/);
    loop.setExceptionHandler(null);
    assert.equal(loop.getExceptionHandler(), null);
  },
);

testEach(
  "callLater() runs timers in time order, equal times in scheduling order",
  async (factory) => {
    using loop = strictLoop(factory);
    const seen: string[] = [];
    const start = loop.time();
    loop.callAt(start + 0.03, () => seen.push("c1"));
    loop.callLater(0.01, () => seen.push("a"));
    loop.callAt(start + 0.03, () => seen.push("c2"));
    loop.callLater(0.02, () => seen.push("b"));
    const cancelled = loop.callLater(0.015, () => seen.push("never"));
    cancelled.cancel();
    loop.callLater(-1, () => seen.push("negative delay runs first"));
    loop.callAt(start + 0.04, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["negative delay runs first", "a", "b", "c1", "c2"]);
    assert.ok(loop.time() - start >= 0.04);
    assert.equal(cancelled.cancelled(), true);
  },
);

testEach(
  "many cancelled timers are cleaned up and the live ones still run",
  async (factory) => {
    using loop = strictLoop(factory);
    const fired: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const handle = loop.callLater(0.001 * (i % 10), () => fired.push(i));
      if (i % 4 !== 0) handle.cancel();
    }
    loop.callLater(0.02, () => loop.stop());
    await loop.runForever();
    assert.equal(fired.length, 250);
    assert.ok(fired.every((i) => i % 4 === 0));
  },
);

testEach("TimerHandle.when() is the scheduled loop time", (factory) => {
  using loop = strictLoop(factory);
  const handle = loop.callAt(123.5, () => {});
  assert.equal(handle.when(), 123.5);
  assert.match(String(handle), /when=123.5/);
  handle.cancel();
  assert.match(String(handle), /cancelled/);
});

testEach(
  "callbacks run in the async context they were scheduled in",
  async (factory) => {
    using loop = strictLoop(factory);
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    store.run("a", () => loop.callSoon(() => seen.push(store.getStore())));
    loop.callSoon(() => seen.push(store.getStore()));
    const ctx = store.run("b", () => Context.current());
    loop.callSoon(() => seen.push(store.getStore()), { context: ctx });
    store.run("c", () => loop.callLater(0, () => seen.push(store.getStore())));
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["a", undefined, "b", "c"]);
  },
);

testEach(
  "runUntilComplete() rejects when the loop stops before the future is done",
  async (factory) => {
    using loop = strictLoop(factory);
    const fut = loop.createFuture();
    loop.callSoon(() => loop.stop());
    await assert.rejects(loop.runUntilComplete(fut), {
      name: "RuntimeError",
      message: "Event loop stopped before Future completed.",
    });
    fut.cancel();
  },
);

testEach(
  "runUntilComplete() rejects with the coroutine's exception",
  async (factory) => {
    using loop = strictLoop(factory);
    const err = new TypeError("bad");
    await assert.rejects(
      loop.runUntilComplete(async () => {
        await sleep(0);
        throw err;
      }),
      (e) => e === err,
    );
    assertNoErrors(loop);
  },
);

Deno.test("runForever() with nothing scheduled stays alive until stopped from outside", async () => {
  using loop = strictLoop(() => newEventLoop());
  let iterations = 0;
  const outside = setTimeout(
    () => loop.callSoonThreadsafe(() => loop.stop()),
    20,
  );
  const started = performance.now();
  loop.callSoon(() => iterations++);
  await loop.runForever();
  clearTimeout(outside);
  assert.equal(iterations, 1);
  assert.ok(performance.now() - started >= 15);
});

testEach("setTaskFactory() is used by createTask()", async (factory) => {
  using loop = strictLoop(factory);
  const calls: unknown[] = [];
  const { Task } = await import("../../mod.ts");
  loop.setTaskFactory((l, coro, opts) => {
    calls.push(opts?.context ?? null);
    return new Task(coro, { loop: l, ...opts });
  });
  assert.notEqual(loop.getTaskFactory(), null);
  const ctx = Context.current();
  assert.equal(
    await loop.runUntilComplete(
      loop.createTask(async () => 5, { context: ctx }),
    ),
    5,
  );
  assert.deepEqual(calls, [ctx]);
  loop.setTaskFactory(null);
  assert.equal(loop.getTaskFactory(), null);
});

testEach("close() reports a task that is still pending", async (factory) => {
  const loop = strictLoop(factory);
  const task = loop.createTask(() => sleep(10));
  await loop.runUntilComplete(async () => {
    await sleep(0);
  });
  loop.close();
  assert.equal(loop.errors.length, 1);
  assert.equal(loop.errors[0].message, "Task was destroyed but it is pending!");
  assert.equal(loop.errors[0].task, task);
});

testEach(
  "shutdownAsyncgens() closes generators iterated while the loop ran",
  async (factory) => {
    using loop = strictLoop(factory);
    const log: string[] = [];
    async function* numbers() {
      try {
        for (let i = 0;; i++) yield i;
      } finally {
        log.push("closed");
      }
    }
    const gen = numbers();
    await loop.runUntilComplete(async () => {
      assert.equal((await gen.next()).value, 0);
    });
    assert.deepEqual(log, []);
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
    assert.deepEqual(log, ["closed"]);
    const warnings: string[] = [];
    const saved = logger.warning;
    logger.warning = (m) => warnings.push(m);
    try {
      await loop.runUntilComplete(async () => {
        await numbers().next();
      });
    } finally {
      logger.warning = saved;
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /after loop.shutdownAsyncgens\(\) call/);
    await loop.runUntilComplete(() => loop.shutdownAsyncgens());
  },
);

testEach(
  "shutdownDefaultExecutor() waits for the executor's shutdown",
  async (factory) => {
    using loop = strictLoop(factory);
    const calls: unknown[] = [];
    loop.setDefaultExecutor({
      submit: (fn, ...args) => Promise.resolve(fn(...args)),
      shutdown: (wait) => {
        calls.push(wait);
      },
    });
    await loop.runUntilComplete(() => loop.shutdownDefaultExecutor());
    assert.deepEqual(calls, [true]);
    assert.throws(() => loop.setDefaultExecutor({} as never), TypeError);
  },
);

Deno.test("shutdownDefaultExecutor(timeout) gives up after the timeout (virtual clock)", async () => {
  using loop = strictLoop(() => new VirtualTimeEventLoop());
  const calls: unknown[] = [];
  const warnings: string[] = [];
  loop.setDefaultExecutor({
    submit: () => Promise.resolve(),
    shutdown: (wait) => {
      calls.push(wait);
      return wait ? new Promise<void>(() => {}) : undefined;
    },
  });
  const saved = logger.warning;
  logger.warning = (m) => warnings.push(m);
  try {
    await loop.runUntilComplete(() => loop.shutdownDefaultExecutor(5));
  } finally {
    logger.warning = saved;
  }
  assert.deepEqual(calls, [true, false]);
  assert.equal(warnings.length, 1);
  assert.equal(loop.time(), 5);
});

Deno.test("debug mode logs slow callbacks", async () => {
  using loop = strictLoop(() => newEventLoop());
  loop.setDebug(true);
  assert.equal(loop.getDebug(), true);
  loop.slowCallbackDuration = 0.001;
  const warnings: string[] = [];
  const saved = logger.warning;
  logger.warning = (m) => warnings.push(m);
  try {
    loop.callSoon(function slow() {
      const end = performance.now() + 5;
      while (performance.now() < end) { /* busy */ }
    });
    loop.callSoon(() => loop.stop());
    await loop.runForever();
  } finally {
    logger.warning = saved;
  }
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /^Executing <Handle slow\(\)> took \d+\.\d{3} seconds$/,
  );
});

Deno.test("getDebug() defaults from AIOLOOP_DEBUG when --allow-env grants it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/debug.ts`;
    const mod = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { newEventLoop } from "${mod}";\nconst l = newEventLoop();\nconsole.log(l.getDebug());\nl.close();\n`,
    );
    const runWith = async (allowEnv: boolean, value: string | undefined) => {
      const env: Record<string, string> = { NO_COLOR: "1" };
      if (value !== undefined) env.AIOLOOP_DEBUG = value;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          ...(allowEnv ? ["--allow-env"] : []),
          script,
        ],
        env,
        clearEnv: true,
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    };
    assert.equal(await runWith(true, "1"), "true");
    assert.equal(await runWith(true, undefined), "false");
    assert.equal(await runWith(false, "1"), "false");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

testEach(
  "getRunningLoop() returns the loop inside callbacks and throws outside",
  async (factory) => {
    using loop = strictLoop(factory);
    let inside: unknown;
    loop.callSoon(() => {
      inside = getRunningLoop();
      loop.stop();
    });
    await loop.runForever();
    assert.equal(inside, loop);
    assert.throws(() => getRunningLoop(), RuntimeError);
  },
);

testEach(
  "callExceptionHandler() passes the context to the handler",
  (factory) => {
    using loop = strictLoop(factory);
    const context: ExceptionContext = { message: "custom", extra: 1 };
    loop.callExceptionHandler(context);
    assert.deepEqual(loop.errors, [context]);
  },
);
