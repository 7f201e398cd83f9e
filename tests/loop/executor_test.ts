/**
 * Executors: `runInExecutor()` with the default pool of Web Workers
 * (`WorkerPoolExecutor`), `setDefaultExecutor()`, `shutdownDefaultExecutor()`
 * and `workerFunction()`. Ported from the checks of CPython's
 * `test_base_events.py` (`run_in_executor`, `shutdown_default_executor`,
 * `close`) and `concurrent.futures`' tests (results, exceptions, ordering,
 * concurrency, shutdown), plus what a worker adds: refusing what it cannot
 * run, errors crossing threads, workers that die. Workers synchronise with the
 * tests through `SharedArrayBuffer`s, never through sleeps.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  CancelledError,
  EventLoop,
  Future,
  run,
  RuntimeError,
  sleep,
  workerFunction,
  WorkerPoolExecutor,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { captureLogger, loopTest } from "../_util.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/**
 * Shared cells between the test and its jobs: [0] the gate (0 closed, 1
 * open), [1] jobs running now, [2] the most that ran at once, [3] jobs that
 * ever started, [4..] free for the test.
 */
class Cells {
  readonly sab = new SharedArrayBuffer(64);
  readonly cells = new Int32Array(this.sab);

  open(): void {
    Atomics.store(this.cells, 0, 1);
    Atomics.notify(this.cells, 0);
  }

  /** Resolves once cell `index` is at least `value` (woken by notify). */
  async reach(index: number, value: number): Promise<void> {
    for (;;) {
      const seen = Atomics.load(this.cells, index);
      if (seen >= value) return;
      const wait = Atomics.waitAsync(this.cells, index, seen, 10_000);
      if (wait.async && (await wait.value) === "timed-out") {
        throw new Error(`cell ${index} never reached ${value}`);
      }
    }
  }
}

/**
 * A job that counts itself in, blocks until the gate opens (or 10 s pass),
 * counts itself out and returns `tag`. Self-contained: it runs in a worker.
 */
const gated = (sab: SharedArrayBuffer, tag: string) => {
  const c = new Int32Array(sab);
  const now = Atomics.add(c, 1, 1) + 1;
  Atomics.add(c, 3, 1);
  for (;;) {
    const max = Atomics.load(c, 2);
    if (max >= now || Atomics.compareExchange(c, 2, max, now) === max) break;
  }
  Atomics.notify(c, 1);
  Atomics.notify(c, 3);
  const opened = Atomics.wait(c, 0, 0, 10_000) !== "timed-out";
  Atomics.sub(c, 1, 1);
  return opened ? tag : `${tag}: the gate never opened`;
};

function defaultPool(loop: AbstractEventLoop): WorkerPoolExecutor | null {
  return (loop as Loose)._defaultExecutor;
}

// ---- results ----------------------------------------------------------------

loopTest(
  "runInExecutor(null) runs the function in a worker and returns a Future of its result",
  async ({ loop }) => {
    assert.equal(defaultPool(loop), null, "the pool is created lazily");
    const fut = loop.runInExecutor(
      null,
      (a: number, b: { c: number[] }) => a + b.c.reduce((x, y) => x + y, 0),
      1,
      { c: [2, 3] },
    );
    assert.ok(fut instanceof Future);
    assert.equal(await loop.runUntilComplete(fut), 6);
    const pool = defaultPool(loop);
    assert.ok(pool instanceof WorkerPoolExecutor);
    assert.equal(
      pool.maxWorkers,
      Math.max(1, navigator.hardwareConcurrency || 1),
    );
    // The same pool serves the next call.
    const isWorker = await loop.runUntilComplete(
      loop.runInExecutor(null, () => typeof (globalThis as Loose).document),
    );
    assert.equal(isWorker, "undefined");
    assert.equal(defaultPool(loop), pool);
    assert.equal(pool.workers, 1);
  },
);

loopTest(
  "runInExecutor() awaits a promise the function returns, in the worker",
  async ({ loop }) => {
    const value = await loop.runUntilComplete(
      loop.runInExecutor(
        null,
        (x: number) => new Promise((resolve) => setTimeout(resolve, 1, x + 1)),
        41,
      ),
    );
    assert.equal(value, 42);
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, () => Promise.reject(new RangeError("no"))),
      ),
      { name: "RangeError", message: "no" },
    );
  },
);

loopTest(
  "runInExecutor() runs a function a worker sees for the first time and then again from cache",
  async ({ loop }) => {
    const square = (x: number) => x * x;
    const results = await loop.runUntilComplete(async () =>
      await Promise.all(
        [1, 2, 3, 4].map((x) => loop.runInExecutor(null, square, x)),
      )
    );
    assert.deepEqual(results, [1, 4, 9, 16]);
  },
);

// ---- exceptions -------------------------------------------------------------

loopTest(
  "runInExecutor() gives the worker's error to the future: class, name, message, stack, cause, properties",
  async ({ loop }) => {
    const error: Loose = await loop.runUntilComplete(async () => {
      try {
        await loop.runInExecutor(null, function failing(code: number) {
          class QuotaError extends Error {
            code = code;
            constructor(message: string) {
              super(message, { cause: new TypeError("root cause") });
              this.name = "QuotaError";
            }
          }
          throw new QuotaError("over quota");
        }, 7);
      } catch (error) {
        return error as Loose;
      }
      throw new Error("no error");
    });
    assert.equal(error instanceof Error, true);
    assert.equal(error.name, "QuotaError");
    assert.equal(error.message, "over quota");
    assert.equal(error.code, 7);
    assert.match(error.stack, /QuotaError: over quota/);
    assert.match(error.stack, /failing/, "the worker's frames are kept");
    assert.ok(error.cause instanceof TypeError);
    assert.equal(error.cause.message, "root cause");

    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, () => {
          throw new TypeError("typed");
        }),
      ),
      (e) => e instanceof TypeError && e.message === "typed",
    );
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(
          null,
          (path: string) => Deno.readTextFileSync(path),
          "/definitely/not/here",
        ),
      ),
      (e) => e instanceof Deno.errors.NotFound,
    );
    // A thrown value that is not an error comes back as it was.
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, () => {
          throw { code: 3 };
        }),
      ),
      (e) => (e as Loose).code === 3,
    );
  },
);

// ---- ordering and concurrency -------------------------------------------------

loopTest(
  "WorkerPoolExecutor starts jobs in submission order",
  async ({ loop }) => {
    await using pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    const cells = new Cells();
    const job = (sab: SharedArrayBuffer, tag: number) => {
      const c = new Int32Array(sab);
      const slot = Atomics.add(c, 4, 1);
      Atomics.store(c, 5 + slot, tag);
      return slot;
    };
    const slots = await loop.runUntilComplete(async () =>
      await Promise.all(
        [10, 11, 12, 13, 14].map((tag) =>
          loop.runInExecutor(pool, job, cells.sab, tag)
        ),
      )
    );
    assert.deepEqual(slots, [0, 1, 2, 3, 4]);
    assert.deepEqual([...cells.cells.slice(5, 10)], [10, 11, 12, 13, 14]);
  },
);

loopTest(
  "WorkerPoolExecutor runs up to maxWorkers jobs at once and queues the rest",
  async ({ loop }) => {
    await using pool = new WorkerPoolExecutor({ maxWorkers: 2 });
    const cells = new Cells();
    const results = await loop.runUntilComplete(async () => {
      const futs = ["a", "b", "c", "d"].map((tag) =>
        loop.runInExecutor(pool, gated, cells.sab, tag)
      );
      await cells.reach(1, 2);
      assert.equal(pool.workers, 2);
      assert.equal(pool.pending, 4, "two running, two queued");
      assert.equal(Atomics.load(cells.cells, 3), 2, "only two started");
      cells.open();
      return await Promise.all(futs);
    });
    assert.deepEqual(results, ["a", "b", "c", "d"]);
    assert.equal(Atomics.load(cells.cells, 2), 2, "at most two at once");
    assert.equal(pool.pending, 0);
  },
);

// ---- the loop keeps going ---------------------------------------------------------

Deno.test("runInExecutor() a CPU-bound worker does not stall the loop's timers [EventLoop]", async () => {
  using loop = new EventLoop();
  const cells = new Cells();
  const spin = (sab: SharedArrayBuffer) => {
    const c = new Int32Array(sab);
    Atomics.store(c, 3, 1);
    Atomics.notify(c, 3);
    const start = Date.now();
    let spins = 0;
    while (Atomics.load(c, 0) === 0) {
      spins++;
      if (Date.now() - start > 10_000) return "never released";
    }
    return spins > 0 ? "released" : "never spun";
  };
  const outcome = await loop.runUntilComplete(async () => {
    const job = loop.runInExecutor(null, spin, cells.sab);
    await cells.reach(3, 1); // the worker is spinning
    const ticks: number[] = [];
    const t0 = loop.time();
    for (const delay of [0.005, 0.01, 0.02]) {
      loop.callLater(delay, () => ticks.push(loop.time() - t0));
    }
    await sleep(0.03);
    assert.equal(ticks.length, 3, "the timers fired while the worker spun");
    cells.open();
    return await job;
  });
  assert.equal(outcome, "released");
});

loopTest(
  "runInExecutor() a job in flight holds the virtual clock",
  async ({ loop }) => {
    let fired = -1;
    loop.callLater(100, () => fired = loop.time());
    const cells = new Cells();
    const at = await loop.runUntilComplete(async () => {
      // The job takes 30 real milliseconds; the clock must not jump meanwhile.
      await loop.runInExecutor(null, (sab: SharedArrayBuffer) => {
        Atomics.wait(new Int32Array(sab), 0, 0, 30);
        return "done";
      }, cells.sab);
      const at = loop.time();
      await sleep(100);
      return at;
    });
    assert.equal(at, 0);
    assert.equal(fired, 100);
  },
  { virtualOnly: true },
);

// ---- refusals ---------------------------------------------------------------------

loopTest(
  "runInExecutor() refuses at the call what a worker cannot run, without starting a worker",
  async ({ loop }) => {
    const pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    try {
      const refuse = (fn: unknown, pattern: RegExp) =>
        assert.throws(
          () => loop.runInExecutor(pool, fn as () => unknown),
          (e) => e instanceof TypeError && pattern.test(e.message),
        );
      refuse(Math.max, /built-in function max cannot run in a worker/);
      refuse((() => 1).bind(null), /bound function cannot run in a worker/);
      refuse(class Job {}, /class cannot run in a worker/);
      const methods = {
        compute(x: number) {
          return x;
        },
      };
      refuse(methods.compute, /compute\(\) cannot run in a worker.*method/);
      refuse(async () => 1, /coroutines cannot be used with runInExecutor/);
      refuse("() => 1", /a function was expected/);
      assert.throws(
        () => pool.submit(Math.max),
        (e) => e instanceof TypeError && /workerFunction/.test(e.message),
      );
      assert.equal(pool.workers, 0, "nothing was sent to a worker");
      assert.equal(pool.pending, 0);
    } finally {
      await pool.shutdown();
    }
  },
);

loopTest(
  "runInExecutor() explains that a function closing over a variable must be self-contained",
  async ({ loop }) => {
    const outer = 21;
    const error: Loose = await loop.runUntilComplete(async () => {
      try {
        await loop.runInExecutor(null, function double() {
          return outer * 2;
        });
      } catch (error) {
        return error as Loose;
      }
      throw new Error("no error");
    });
    assert.ok(error instanceof ReferenceError);
    assert.match(error.message, /double\(\) uses "outer"/);
    assert.match(error.message, /must be self-contained/);
    assert.match(error.message, /workerFunction\(moduleUrl, exportName\)/);
    assert.ok(error.cause instanceof ReferenceError);
    assert.equal(error.cause.message, "outer is not defined");
  },
);

loopTest(
  "runInExecutor() fails with DataCloneError when arguments or the result cannot be cloned",
  async ({ loop }) => {
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, (f: unknown) => typeof f, () => 1),
      ),
      (e) =>
        e instanceof DOMException && e.name === "DataCloneError" &&
        /arguments .* cannot be sent to a worker/.test(e.message),
    );
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, function makeFn() {
          return () => 1;
        }),
      ),
      (e) =>
        e instanceof DOMException && e.name === "DataCloneError" &&
        /result of makeFn\(\) cannot be sent back/.test(e.message),
    );
    // The pool is still usable.
    assert.equal(
      await loop.runUntilComplete(loop.runInExecutor(null, () => "ok")),
      "ok",
    );
  },
);

// ---- workers that die ----------------------------------------------------------

loopTest(
  "runInExecutor() fails the job of a worker that dies, and the pool replaces the worker",
  async ({ loop }) => {
    const deaths: [() => unknown, RegExp][] = [
      [() => {
        (globalThis as Loose).close();
        return "after close";
      }, /self\.close\(\)/],
      [() => Deno.exit(3), /Deno\.exit\(3\)/],
      [() => {
        setTimeout(() => {
          throw new Error("stray");
        });
        return new Promise(() => {});
      }, /an error escaped it uncaught/],
      [() => {
        Promise.reject(new Error("ignored"));
        return new Promise(() => {});
      }, /promise rejection went unhandled/],
    ];
    for (const [die, how] of deaths) {
      await assert.rejects(
        loop.runUntilComplete(loop.runInExecutor(null, die)),
        (e) =>
          e instanceof RuntimeError &&
          /died before returning a result/.test(e.message) &&
          how.test(e.message),
      );
      assert.equal(defaultPool(loop)!.workers, 0, "the dead worker is gone");
      assert.equal(
        await loop.runUntilComplete(loop.runInExecutor(null, () => "alive")),
        "alive",
      );
      assert.equal(defaultPool(loop)!.workers, 1, "a new worker took over");
    }
  },
);

// ---- cancellation ----------------------------------------------------------------

loopTest(
  "runInExecutor() cancelling the future takes back a job no worker has started",
  async ({ loop }) => {
    await using pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    const cells = new Cells();
    const first = await loop.runUntilComplete(async () => {
      const first = loop.runInExecutor(pool, gated, cells.sab, "first");
      const second = loop.runInExecutor(pool, gated, cells.sab, "second");
      await cells.reach(1, 1);
      assert.equal(pool.pending, 2);
      second.cancel();
      await assert.rejects(async () => await second, CancelledError);
      assert.equal(pool.pending, 1, "the queued job was taken back");
      cells.open();
      return await first;
    });
    assert.equal(first, "first");
    assert.equal(Atomics.load(cells.cells, 3), 1, "the second never started");
  },
);

// ---- default executor, shutdown, close ---------------------------------------------

loopTest(
  "setDefaultExecutor() makes runInExecutor(null) use the given executor",
  async ({ loop }) => {
    await using pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    loop.setDefaultExecutor(pool);
    const fut = loop.runInExecutor(null, () => 5);
    assert.equal(pool.pending, 1);
    assert.equal(await loop.runUntilComplete(fut), 5);
  },
);

loopTest(
  "shutdownDefaultExecutor() waits for running jobs; then runInExecutor(null) raises RuntimeError",
  async ({ loop }) => {
    const cells = new Cells();
    const [result, pool] = await loop.runUntilComplete(async () => {
      const job = loop.runInExecutor(null, gated, cells.sab, "finished");
      const pool = defaultPool(loop)!;
      await cells.reach(1, 1);
      const shutdown = loop.createTask(() => loop.shutdownDefaultExecutor());
      for (let i = 0; i < 5; i++) await sleep(0);
      assert.equal(shutdown.done(), false, "shutdown waits for the job");
      assert.equal(pool.workers, 1);
      assert.throws(
        () => loop.runInExecutor(null, () => 1),
        (e) =>
          e instanceof RuntimeError &&
          /Executor shutdown has been called/.test(e.message),
      );
      cells.open();
      await shutdown;
      assert.equal(job.done(), true);
      return [job.result(), pool] as const;
    });
    assert.equal(result, "finished");
    assert.equal(pool.workers, 0, "the workers were terminated");
    assert.throws(
      () => loop.runInExecutor(null, () => 1),
      /Executor shutdown has been called/,
    );
  },
);

Deno.test("shutdownDefaultExecutor(timeout) warns and terminates a job that outlives the timeout [EventLoop]", async () => {
  using log = captureLogger();
  using loop = new EventLoop();
  const cells = new Cells();
  const [job] = await loop.runUntilComplete(async () => {
    const job = loop.runInExecutor(null, gated, cells.sab, "late");
    await cells.reach(1, 1);
    await loop.shutdownDefaultExecutor(0.02);
    try {
      await job;
    } catch {
      // inspected below
    }
    return [job]; // (an async function would unwrap a bare future)
  });
  assert.equal(log.warnings.length, 1);
  assert.match(log.warnings[0], /did not finish its work within 0\.02 seconds/);
  assert.ok(job.exception() instanceof RuntimeError);
  assert.match(
    (job.exception() as Error).message,
    /shut down before gated\(\) finished/,
  );
  cells.open();
});

loopTest(
  "close() terminates the default pool's workers without waiting for their jobs",
  async ({ loop }) => {
    const cells = new Cells();
    const [job] = await loop.runUntilComplete(async () => {
      const job = loop.runInExecutor(null, gated, cells.sab, "never");
      await cells.reach(1, 1);
      return [job];
    });
    const pool = defaultPool(loop)!;
    assert.equal(pool.workers, 1);
    loop.close();
    assert.equal(pool.workers, 0);
    assert.equal(job.done(), false, "a closed loop completes nothing");
    assert.throws(() => pool.submit(() => 1), RuntimeError);
    cells.open();
  },
);

Deno.test("run() shuts the default pool down before it returns", async () => {
  let pool: WorkerPoolExecutor | null = null;
  const value = await run(async () => {
    const value = await (await import("../../mod.ts")).getRunningLoop()
      .runInExecutor(null, () => 3);
    pool = defaultPool((await import("../../mod.ts")).getRunningLoop());
    return value;
  });
  assert.equal(value, 3);
  assert.ok(pool !== null);
  assert.equal((pool as WorkerPoolExecutor).workers, 0);
});

// ---- WorkerPoolExecutor and workerFunction --------------------------------------------

Deno.test("WorkerPoolExecutor() validates maxWorkers", () => {
  assert.throws(() => new WorkerPoolExecutor({ maxWorkers: 0 }), RangeError);
  assert.throws(() => new WorkerPoolExecutor({ maxWorkers: 1.5 }), RangeError);
  assert.throws(
    () => new WorkerPoolExecutor({ maxWorkers: "2" as unknown as number }),
    TypeError,
  );
  assert.equal(new WorkerPoolExecutor({ maxWorkers: 3 }).maxWorkers, 3);
});

Deno.test("WorkerPoolExecutor.submit() works without a loop and refuses work after shutdown()", async () => {
  const pool = new WorkerPoolExecutor({ maxWorkers: 1 });
  assert.equal(await pool.submit((s: string) => s.repeat(2), "ab"), "abab");
  const draining = pool.shutdown();
  assert.throws(
    () => pool.submit(() => 1),
    (e) =>
      e instanceof RuntimeError &&
      /cannot schedule new futures after shutdown/.test(e.message),
  );
  await draining;
  assert.equal(pool.workers, 0);
});

loopTest(
  "workerFunction() runs a module export in a worker, with its module's imports and variables",
  async ({ loop }) => {
    const module = new URL("./_executor_module.ts", import.meta.url);
    const greet = workerFunction<[string], string>(module, "greet");
    const later = workerFunction<[number], number>(module, "later");
    assert.equal(
      await loop.runUntilComplete(loop.runInExecutor(null, greet, "deno")),
      "hello from a module, deno (SIGINT)",
    );
    assert.equal(
      await loop.runUntilComplete(loop.runInExecutor(null, later, 21)),
      42,
    );
    // Called directly, it runs here.
    assert.equal(await greet("here"), "hello from a module, here (SIGINT)");
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, workerFunction(module, "missing")),
      ),
      (e) =>
        e instanceof TypeError &&
        /no exported function named "missing"/.test(e.message),
    );
    await assert.rejects(
      loop.runUntilComplete(
        loop.runInExecutor(null, workerFunction(module, "notAFunction")),
      ),
      TypeError,
    );
  },
);

Deno.test("workerFunction() needs an absolute module URL", () => {
  assert.throws(
    () => workerFunction("./relative.ts", "x"),
    (e) => e instanceof TypeError && /absolute URL/.test(e.message),
  );
  assert.equal(
    typeof workerFunction(new URL("https://example.com/x.ts")),
    "function",
  );
});

Deno.test("runInExecutor() on a VirtualTimeEventLoop resolves in virtual time 0", async () => {
  using loop = new VirtualTimeEventLoop();
  const value = await loop.runUntilComplete(loop.runInExecutor(null, () => 1));
  assert.equal(value, 1);
  assert.equal(loop.time(), 0);
});
