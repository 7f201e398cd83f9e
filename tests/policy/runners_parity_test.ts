/**
 * asyncio's documented runner behaviour, the parts the other runner tests
 * leave out: what the main coroutine raising `KeyboardInterrupt` does,
 * cancellation that is not a Ctrl-C, Ctrl-C reaching a main task that is
 * already cancelled, the order of `run()`'s shutdown steps, leftover tasks
 * that take several steps to finish, and a runner used again after a
 * failure.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  CancelledError,
  createTask,
  currentTask,
  EventLoop,
  type ExceptionContext,
  getRunningLoop,
  KeyboardInterrupt,
  run,
  Runner,
  RuntimeError,
  sleep,
  type Task,
} from "../../mod.ts";

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

/** A task that sleeps until cancelled and logs its cancellation. */
function sleeper(log: string[], name: string): Task<void> {
  return createTask(async () => {
    try {
      await sleep(3600);
    } catch (error) {
      if (error instanceof CancelledError) log.push(`${name} cancelled`);
      throw error;
    }
  });
}

Deno.test("run() rejects with a KeyboardInterrupt its coroutine raises, after cancelling leftover tasks and closing the loop", async () => {
  const made = recordingFactory();
  const interrupt = new KeyboardInterrupt("raised by main");
  const log: string[] = [];
  let leftover: Task<void> | undefined;
  await assert.rejects(
    run(async () => {
      leftover = sleeper(log, "leftover");
      await sleep(0);
      throw interrupt;
    }, { loopFactory: made.factory }),
    (error) => error === interrupt,
  );
  assert.deepEqual(log, ["leftover cancelled"]);
  assert.equal(leftover!.cancelled(), true);
  assert.equal(made.loops.length, 1);
  assert.equal(made.loops[0].isClosed(), true);
  assert.deepEqual(made.errors, []);
});

Deno.test("run() waits for leftover tasks that need several steps to finish cancelling", async () => {
  const made = recordingFactory();
  const log: string[] = [];
  let leftover: Task<void> | undefined;
  const result = await run(async () => {
    leftover = createTask(async () => {
      try {
        await sleep(3600);
      } finally {
        for (let step = 1; step <= 3; step++) {
          await sleep(0);
          log.push(`cleanup ${step}`);
        }
      }
    });
    await sleep(0);
    return "main";
  }, { loopFactory: made.factory });
  assert.equal(result, "main");
  assert.deepEqual(log, ["cleanup 1", "cleanup 2", "cleanup 3"]);
  assert.equal(leftover!.cancelled(), true);
  assert.deepEqual(made.errors, []);
});

Deno.test("run() shuts down in asyncio's order: leftover tasks, then async generators, then the default executor", async () => {
  const made = recordingFactory();
  const log: string[] = [];
  async function* ticks() {
    try {
      for (let i = 0;; i++) yield i;
    } finally {
      log.push("generator closed");
    }
  }
  await run(async () => {
    getRunningLoop().setDefaultExecutor({
      submit: (fn, ...args) => Promise.resolve(fn(...args)),
      shutdown: (wait) => {
        log.push(`executor shut down (wait: ${wait})`);
      },
    });
    const gen = ticks();
    assert.deepEqual(await gen.next(), { value: 0, done: false });
    sleeper(log, "leftover");
    await sleep(0);
  }, { loopFactory: made.factory });
  assert.deepEqual(log, [
    "leftover cancelled",
    "generator closed",
    "executor shut down (wait: true)",
  ]);
  assert.equal(made.loops[0].isClosed(), true);
});

Deno.test("run() called from a plain callback of a running loop rejects with RuntimeError", async () => {
  const made = recordingFactory();
  let innerStarted = false;
  const error = await run(async () => {
    const loop = getRunningLoop();
    const outcome = loop.createFuture<unknown>();
    loop.callSoon(() => {
      run(async () => {
        innerStarted = true;
      }).then(
        () => outcome.setResult("resolved"),
        (e) => outcome.setResult(e),
      );
    });
    return await outcome;
  }, { loopFactory: made.factory });
  assert.ok(error instanceof RuntimeError, `got ${error}`);
  assert.match(error.message, /cannot be called from a running event loop/);
  assert.equal(innerStarted, false);
  assert.equal(made.loops.length, 1, "no loop made for the refused call");
});

Deno.test("Runner.run() after a run that failed uses the same, still open loop", async () => {
  const made = recordingFactory();
  await using runner = new Runner({ loopFactory: made.factory });
  const spam = new RangeError("spam");
  await assert.rejects(
    runner.run(async () => {
      await sleep(0);
      throw spam;
    }),
    (error) => error === spam,
  );
  const interrupt = new KeyboardInterrupt();
  await assert.rejects(
    runner.run(async () => {
      throw interrupt;
    }),
    (error) => error === interrupt,
  );
  const loop = runner.getLoop();
  assert.equal(loop.isClosed(), false);
  assert.equal(await runner.run(async () => getRunningLoop()), loop);
  assert.equal(made.loops.length, 1);
});

Deno.test("Runner.run() whose main task another task cancels rejects with CancelledError, not KeyboardInterrupt", async () => {
  const made = recordingFactory();
  await using runner = new Runner({ loopFactory: made.factory });
  let cleanup = false;
  await assert.rejects(
    runner.run(async () => {
      const main = currentTask()!;
      createTask(async () => {
        main.cancel();
      });
      try {
        await sleep(3600);
      } finally {
        cleanup = true;
      }
    }),
    (error) => error instanceof CancelledError,
  );
  assert.equal(cleanup, true);
  assert.equal(await runner.run(async () => "still usable"), "still usable");
});

Deno.test("Ctrl-C reaching a main task that was already cancelled: run() rejects with CancelledError, not KeyboardInterrupt (child process)", async () => {
  const mod = new URL("../../mod.ts", import.meta.url).href;
  // The main task cancels itself and absorbs that, then signals itself:
  // run()'s Ctrl-C cancels it again, so it ends cancelled with a
  // cancellation of its own still counted.
  const program = `
    import { currentTask, getRunningLoop, run, sleep } from ${
    JSON.stringify(mod)
  };
    const main = async () => {
      currentTask().cancel();
      try {
        await sleep(0);
      } catch {
        console.log("self-cancelled");
      }
      const loop = getRunningLoop();
      const signalled = loop.createFuture();
      const listener = () => {
        if (!signalled.done()) signalled.setResult(null);
      };
      Deno.addSignalListener("SIGINT", listener);
      try {
        Deno.kill(Deno.pid, "SIGINT");
        await signalled;
        await sleep(0);
        return "not cancelled";
      } finally {
        Deno.removeSignalListener("SIGINT", listener);
      }
    };
    try {
      console.log("resolved:", await run(main));
    } catch (error) {
      console.log("rejected:", error.name);
    }
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", program],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(stdout, "self-cancelled\nrejected: CancelledError\n", stderr);
  assert.equal(output.code, 0, stderr);
});
