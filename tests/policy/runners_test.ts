/**
 * `run()` and `Runner`. Ported from the checks of CPython's
 * `test_runners.py`. Every test runs under a policy of its own (restored on
 * exit) and checks that the loops it caused to be made were closed.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  CancelledError,
  Context,
  createTask,
  currentTask,
  DefaultEventLoopPolicy,
  EventLoop,
  type ExceptionContext,
  getEventLoopPolicy,
  getRunningLoop,
  run,
  Runner,
  RuntimeError,
  sleep,
} from "../../mod.ts";
import { useEventLoopPolicy, VirtualTimeEventLoop } from "../../testing/mod.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** A default policy that records the loops it makes and how it is used. */
class SpyPolicy extends DefaultEventLoopPolicy {
  calls: string[] = [];
  loops: AbstractEventLoop[] = [];
  override newEventLoop(): AbstractEventLoop {
    this.calls.push("newEventLoop");
    const loop = super.newEventLoop();
    this.loops.push(loop);
    return loop;
  }
  override setEventLoop(loop: AbstractEventLoop | null): void {
    this.calls.push(loop === null ? "setEventLoop(null)" : "setEventLoop");
    super.setEventLoop(loop);
  }
}

/**
 * A loop factory whose loops record exception-handler calls in `errors`;
 * `loops` lists every loop it made.
 */
function recordingFactory() {
  const made = {
    errors: [] as ExceptionContext[],
    loops: [] as AbstractEventLoop[],
    factory: (): AbstractEventLoop => {
      const loop = new EventLoop();
      loop.setExceptionHandler((_loop, context) => made.errors.push(context));
      made.loops.push(loop);
      return loop;
    },
  };
  return made;
}

/** Installs a fresh `SpyPolicy` until disposed. */
function spyPolicy(): SpyPolicy & Disposable {
  const policy = new SpyPolicy();
  const restore = useEventLoopPolicy(policy);
  return Object.assign(policy, {
    [Symbol.dispose]: () => {
      restore[Symbol.dispose]();
      for (const loop of policy.loops) {
        assert.equal(loop.isClosed(), true, "a loop was left open");
      }
    },
  });
}

// ---- run() --------------------------------------------------------------------

Deno.test("run() returns the coroutine's result and closes its loop", async () => {
  using policy = spyPolicy();
  let loop: AbstractEventLoop | undefined;
  const result = await run(async () => {
    loop = getRunningLoop();
    await sleep(0);
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(policy.loops, [loop]);
  assert.equal(loop!.isClosed(), true);
});

Deno.test("run() rejects with the coroutine's exception and closes its loop", async () => {
  using policy = spyPolicy();
  const spam = new RangeError("spam");
  await assert.rejects(
    run(async () => {
      await sleep(0);
      throw spam;
    }),
    (e) => e === spam,
  );
  assert.equal(policy.loops.length, 1);
  assert.equal(policy.loops[0].isClosed(), true);
});

Deno.test("run() starts a lazy coroutine inside its main task on the loop", async () => {
  using _policy = spyPolicy();
  const seen = await run(async () => ({
    running: getRunningLoop().isRunning(),
    task: currentTask(),
  }));
  assert.equal(seen.running, true);
  assert.notEqual(seen.task, null);
  assert.equal(seen.task!.done(), true);
});

Deno.test("run() accepts a coroutine's promise", async () => {
  using _policy = spyPolicy();
  const coro = (async () => {
    await null;
    return "from a promise";
  })();
  assert.equal(await run(coro), "from a promise");
});

Deno.test("run(main()): a promise that needed the loop before it existed says to pass main", async () => {
  using _policy = spyPolicy();
  async function main() {
    await sleep(0.01);
    return 1;
  }
  async function usesLoop() {
    getRunningLoop();
    return 2;
  }
  for (const started of [main(), usesLoop()]) {
    await assert.rejects(run(started), (error) => {
      assert.ok(error instanceof RuntimeError);
      assert.match(
        error.message,
        /needs a running event loop|no running event loop/,
      );
      assert.match(
        error.message,
        /run\(main\) or run\(\(\) => main\(\)\), not run\(main\(\)\)/,
      );
      assert.ok(error.cause instanceof RuntimeError);
      return true;
    });
  }
  // Passing the function itself works, and a plain failure inside a
  // function is not rewritten.
  assert.equal(await run(main), 1);
  await assert.rejects(
    run(async () => {
      getRunningLoop();
      throw new RuntimeError("mine");
    }),
    (error) => error instanceof RuntimeError && error.message === "mine",
  );
});

Deno.test("run() with a non-coroutine rejects with TypeError and makes no loop", async () => {
  using policy = spyPolicy();
  for (const bad of [123, "main", null, { then: 5 }]) {
    await assert.rejects(run(bad as Loose), TypeError);
  }
  using other = new EventLoop();
  await assert.rejects(run(other.createFuture() as Loose), TypeError);
  assert.deepEqual(policy.calls, []);
});

Deno.test("run() inside a running loop rejects with RuntimeError", async () => {
  using _policy = spyPolicy();
  let innerStarted = false;
  const error = await run(async () => {
    try {
      await run(async () => {
        innerStarted = true;
      });
    } catch (e) {
      return e;
    }
  });
  assert.ok(error instanceof RuntimeError);
  assert.match(error.message, /cannot be called from a running event loop/);
  assert.equal(innerStarted, false);
});

Deno.test("run() cancels leftover tasks and their CancelledError handling runs", async () => {
  using _policy = spyPolicy();
  const log: string[] = [];
  let leftover: ReturnType<typeof createTask> | undefined;
  const result = await run(async () => {
    leftover = createTask(async () => {
      try {
        await sleep(3600);
        log.push("slept");
      } catch (e) {
        log.push(e instanceof CancelledError ? "cancelled" : `other ${e}`);
        throw e;
      }
    });
    await sleep(0);
    return 123;
  });
  assert.equal(result, 123);
  assert.deepEqual(log, ["cancelled"]);
  assert.equal(leftover!.cancelled(), true);
});

Deno.test("run() reports an exception a leftover task raises while being cancelled", async () => {
  const made = recordingFactory();
  const cleanup = new Error("cleanup failed");
  let leftover: ReturnType<typeof createTask> | undefined;
  assert.equal(
    await run(async () => {
      leftover = createTask(async () => {
        try {
          await sleep(3600);
        } catch {
          throw cleanup;
        }
      });
      await sleep(0);
      return "main";
    }, { loopFactory: made.factory }),
    "main",
  );
  assert.equal(leftover!.done(), true);
  assert.equal(made.errors.length, 1);
  const [context] = made.errors;
  assert.match(context.message, /run\(\).*shutdown/);
  assert.equal(context.exception, cleanup);
  assert.equal(context.task, leftover);
  assert.equal(made.loops[0].isClosed(), true);
});

Deno.test("run() closes async generators left open, after cancelling leftover tasks", async () => {
  const made = recordingFactory();
  const log: string[] = [];
  class FancyExit extends Error {}
  async function* ticker(name: string) {
    try {
      for (;;) {
        yield 1;
        await sleep(1);
      }
    } finally {
      log.push(`${name} closed`);
    }
  }
  const suspended = ticker("suspended");
  let spinner: ReturnType<typeof createTask> | undefined;
  await assert.rejects(
    run(async () => {
      await suspended.next();
      spinner = createTask(async () => {
        try {
          for await (const _ of ticker("spinning")) { /* spin */ }
        } catch (e) {
          log.push(e instanceof CancelledError ? "spinner cancelled" : "?");
          throw new Error("raised while cancelled");
        }
      });
      await sleep(0);
      throw new FancyExit();
    }, { loopFactory: made.factory }),
    FancyExit,
  );
  assert.equal(spinner!.done(), true);
  assert.deepEqual(log, [
    "spinning closed",
    "spinner cancelled",
    "suspended closed",
  ]);
  assert.deepEqual(made.errors.map((e) => e.exception instanceof Error), [
    true,
  ]);
  assert.deepEqual(await suspended.next(), { value: undefined, done: true });
});

Deno.test("run() shuts down the default executor, waiting for it", async () => {
  using _policy = spyPolicy();
  const calls: unknown[] = [];
  await run(async () => {
    getRunningLoop().setDefaultExecutor({
      submit: (fn, ...args) => Promise.resolve(fn(...args)),
      shutdown: (wait) => {
        calls.push(wait);
      },
    });
  });
  assert.deepEqual(calls, [true]);
});

Deno.test("run({ debug }) sets the loop's debug mode", async () => {
  using _policy = spyPolicy();
  const debugOf = async (options: { debug?: boolean }) =>
    await run(async () => getRunningLoop().getDebug(), options);
  assert.equal(await debugOf({ debug: true }), true);
  assert.equal(await debugOf({ debug: false }), false);
  const debugLoop = () => {
    const loop = new EventLoop();
    loop.setDebug(true);
    return loop;
  };
  assert.equal(
    await run(async () => getRunningLoop().getDebug(), {
      debug: false,
      loopFactory: debugLoop,
    }),
    false,
  );
  assert.equal(
    await run(async () => getRunningLoop().getDebug(), {
      loopFactory: debugLoop,
    }),
    true,
    "without debug the loop keeps its own setting",
  );
});

Deno.test("run({ loopFactory }) runs on the factory's loop and leaves the policy alone", async () => {
  using policy = spyPolicy();
  const loops: AbstractEventLoop[] = [];
  const factory = () => {
    const loop = new VirtualTimeEventLoop();
    loops.push(loop);
    return loop;
  };
  const elapsed = await run(async () => {
    const loop = getRunningLoop();
    const start = loop.time();
    await sleep(60);
    return loop.time() - start;
  }, { loopFactory: factory });
  assert.equal(elapsed, 60);
  assert.equal(loops.length, 1);
  assert.equal(loops[0].isClosed(), true);
  assert.deepEqual(policy.calls, []);
});

Deno.test("run() without a loopFactory makes the policy's loop current while it runs", async () => {
  using policy = spyPolicy();
  const current = await run(async () => getEventLoopPolicy().getEventLoop());
  assert.equal(policy.loops.length, 1);
  assert.equal(current, policy.loops[0]);
  assert.deepEqual(policy.calls, [
    "newEventLoop",
    "setEventLoop",
    "setEventLoop(null)",
  ]);
  assert.throws(() => policy.getEventLoop(), RuntimeError);
});

// ---- Runner -------------------------------------------------------------------

Deno.test("Runner.run() twice runs on the same loop; tasks carry over", async () => {
  using _policy = spyPolicy();
  const runner = new Runner();
  try {
    let background: ReturnType<typeof createTask<string>> | undefined;
    const first = await runner.run(async () => {
      background = createTask(async () => {
        await sleep(0.001);
        return "background";
      });
      return getRunningLoop();
    });
    const second = await runner.run(async () => {
      assert.equal(background!.done(), false);
      return [getRunningLoop(), await background!] as const;
    });
    assert.equal(first, runner.getLoop());
    assert.equal(second[0], first);
    assert.equal(second[1], "background");
  } finally {
    await runner.close();
  }
});

Deno.test("Runner.getLoop() makes the loop lazily, once, with the debug option", async () => {
  const made = recordingFactory();
  const runner = new Runner({ debug: true, loopFactory: made.factory });
  assert.equal(made.loops.length, 0);
  const loop = runner.getLoop();
  assert.equal(runner.getLoop(), loop);
  assert.deepEqual(made.loops, [loop]);
  assert.equal(loop.getDebug(), true);
  await runner.close();
  assert.equal(loop.isClosed(), true);
  const quiet = new Runner({ debug: false, loopFactory: made.factory });
  assert.equal(quiet.getLoop().getDebug(), false);
  await quiet.close();
});

Deno.test("Runner.close() closes the loop and is idempotent; getLoop() and run() then throw RuntimeError", async () => {
  const made = recordingFactory();
  const runner = new Runner({ loopFactory: made.factory });
  assert.equal(await runner.run(async () => "done"), "done");
  const loop = runner.getLoop();
  await runner.close();
  assert.equal(loop.isClosed(), true);
  await runner.close();
  assert.equal(made.loops.length, 1);
  assert.throws(() => runner.getLoop(), {
    name: "RuntimeError",
    message: /Runner is closed/,
  });
  let started = false;
  await assert.rejects(
    runner.run(async () => {
      started = true;
    }),
    { name: "RuntimeError", message: /Runner is closed/ },
  );
  assert.equal(started, false);
  assert.deepEqual(made.errors, []);
});

Deno.test("Runner.close() before any run makes no loop and closes the runner", async () => {
  const made = recordingFactory();
  const runner = new Runner({ loopFactory: made.factory });
  await runner.close();
  assert.equal(made.loops.length, 0);
  assert.throws(() => runner.getLoop(), RuntimeError);
});

Deno.test("Runner closes at the end of an `await using` block", async () => {
  const made = recordingFactory();
  const ret: number[] = [];
  let runner: Runner | undefined;
  {
    await using scoped = new Runner({ loopFactory: made.factory });
    runner = scoped;
    await scoped.run(async () => {
      ret.push(1);
    });
    assert.equal(made.loops[0].isClosed(), false);
  }
  assert.equal(made.loops[0].isClosed(), true);
  await assert.rejects(
    runner.run(async () => {
      ret.push(2);
    }),
    RuntimeError,
  );
  assert.deepEqual(ret, [1]);
});

Deno.test("Runner.run() with a non-coroutine rejects with TypeError; the runner stays usable", async () => {
  const made = recordingFactory();
  await using runner = new Runner({ loopFactory: made.factory });
  await assert.rejects(runner.run(123 as Loose), TypeError);
  await assert.rejects(
    runner.run(runner.getLoop().createFuture() as Loose),
    TypeError,
  );
  assert.equal(await runner.run(async () => "usable"), "usable");
});

Deno.test("Runner.run() from a running loop rejects with RuntimeError", async () => {
  const made = recordingFactory();
  await using runner = new Runner({ loopFactory: made.factory });
  let innerStarted = false;
  const error = await runner.run(async () => {
    try {
      await runner.run(async () => {
        innerStarted = true;
      });
    } catch (e) {
      return e;
    }
  });
  assert.ok(error instanceof RuntimeError);
  assert.match(
    error.message,
    /Runner\.run\(\) cannot be called from a running event loop/,
  );
  assert.equal(innerStarted, false);
});

Deno.test("Runner.close() cancels tasks left over by run()", async () => {
  const made = recordingFactory();
  const runner = new Runner({ loopFactory: made.factory });
  const log: string[] = [];
  await runner.run(async () => {
    createTask(async () => {
      try {
        await sleep(3600);
      } catch (e) {
        log.push(e instanceof CancelledError ? "cancelled" : "other");
        throw e;
      }
    });
    await sleep(0);
  });
  assert.deepEqual(log, []);
  await runner.close();
  assert.deepEqual(log, ["cancelled"]);
  assert.deepEqual(made.errors, []);
});

Deno.test("Runner with a loopFactory leaves the policy's current loop alone; without one it sets it and unsets it on close", async () => {
  using policy = spyPolicy();
  using mine = new EventLoop();
  policy.setEventLoop(mine);
  policy.calls.length = 0;

  const made = recordingFactory();
  const withFactory = new Runner({ loopFactory: made.factory });
  await withFactory.run(async () => {});
  assert.equal(policy.getEventLoop(), mine);
  await withFactory.close();
  assert.equal(policy.getEventLoop(), mine);
  assert.deepEqual(policy.calls, []);

  const withPolicy = new Runner();
  const loop = withPolicy.getLoop();
  assert.deepEqual(policy.loops, [loop]);
  assert.equal(policy.getEventLoop(), loop);
  await withPolicy.run(async () => {});
  assert.equal(policy.getEventLoop(), loop);
  await withPolicy.close();
  assert.deepEqual(policy.calls, [
    "newEventLoop",
    "setEventLoop",
    "setEventLoop(null)",
  ]);
  assert.throws(() => policy.getEventLoop(), RuntimeError);
});

Deno.test("Runner.run() runs each task in the runner's context unless given one", async () => {
  const made = recordingFactory();
  const store = new AsyncLocalStorage<string>();
  const runner = new Runner({ loopFactory: made.factory });
  try {
    const read = async () => {
      await sleep(0);
      return store.getStore();
    };
    // The runner's context is captured when its loop is made.
    store.run("at init", () => runner.getLoop());
    assert.equal(await store.run("caller", () => runner.run(read)), "at init");
    assert.equal(await runner.run(read), "at init");
    const given = store.run("given", () => Context.current());
    assert.equal(await runner.run(read, { context: given }), "given");
  } finally {
    await runner.close();
  }
});

Deno.test("new Runner() with a non-function loopFactory throws TypeError", () => {
  assert.throws(() => new Runner({ loopFactory: 5 as Loose }), TypeError);
  assert.throws(() => new Runner({ loopFactory: {} as Loose }), TypeError);
});
