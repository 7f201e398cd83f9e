/**
 * Checks the behaviour that a sweep of asyncio's context and coroutine checks
 * (its `contextvars` tests of tasks, the per-task decimal context and the
 * PEP 492 coroutine tests) found no other suite here checking. An
 * `AsyncLocalStorage` plays a `ContextVar`: `enterWith()` is `set()`,
 * `getStore()` is `get()`, and `Context.run(() => store.getStore())` is
 * `ctx.get(var)`. Checked: a task sees its creator's context as it was when
 * the task was made and neither side sees the other's later changes; a done
 * callback's changes reach neither the task that registered it nor the
 * callback after it; many interleaved tasks each keep their own value; a task
 * given `{ context }` starts in that `Context` and keeps what it sets to
 * itself, the `Context` being an immutable snapshot here (through
 * `new Task()`, `createTask()` and `loop.createTask()`), and
 * `getContext()` returns that very `Context`; coroutines run by `gather()`
 * keep their own values across their sleeps; nested coroutines return their
 * results with and without debug mode; a generator is not taken for a
 * coroutine. Every test runs on every loop kind; times are exact on the
 * virtual clock.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  Context,
  createTask,
  gather,
  RuntimeError,
  sleep,
  Task,
} from "../../mod.ts";
import { exact, inGuardedTask, loopTest, steps } from "../_util.ts";

/** A small deterministic generator of numbers in [0, 1) (mulberry32). */
function prng(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- a task's own context -----------------------------------------------------

loopTest(
  "a task sees its creator's context as it was at creation; later changes on either side stay on that side",
  async ({ loop }) => {
    const cvar = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    await inGuardedTask(loop, async () => {
      seen.push(cvar.getStore());
      const sub = createTask(async () => {
        await sleep(0.01);
        seen.push(cvar.getStore());
        cvar.enterWith("something else");
        seen.push(cvar.getStore());
      });
      cvar.enterWith("yes");
      seen.push(cvar.getStore());
      await sub;
      seen.push(cvar.getStore());
    });
    assert.deepEqual(seen, [
      undefined,
      "yes",
      undefined,
      "something else",
      "yes",
    ]);
    if (exact(loop)) assert.equal(loop.time(), 0.01);
    assert.equal(cvar.getStore(), undefined);
  },
);

loopTest(
  "a done callback's change does not reach the task that registered it, whose value holds across its sleeps",
  async ({ loop }) => {
    const cvar = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const inCallbacks: (string | undefined)[] = [];
    await inGuardedTask(loop, async () => {
      seen.push(cvar.getStore());
      for (let j = 0; j < 2; j++) {
        const fut = loop.createFuture<null>();
        fut.addDoneCallback(() => {
          inCallbacks.push(cvar.getStore());
          cvar.enterWith("something else");
        });
        cvar.enterWith(`yes${j}`);
        loop.callSoon(() => fut.setResult(null));
        await fut;
        seen.push(cvar.getStore());
        for (let i = 0; i < 3; i++) {
          cvar.enterWith(`yes${i}-${j}`);
          await sleep(0.001);
          seen.push(cvar.getStore());
        }
      }
    });
    assert.deepEqual(seen, [
      undefined,
      "yes0",
      "yes0-0",
      "yes1-0",
      "yes2-0",
      "yes1",
      "yes0-1",
      "yes1-1",
      "yes2-1",
    ]);
    // Each callback ran in the context it was registered in.
    assert.deepEqual(inCallbacks, [undefined, "yes2-0"]);
    if (exact(loop)) assert.equal(loop.time(), 0.006);
    assert.equal(cvar.getStore(), undefined);
  },
);

loopTest(
  "a callback's change does not reach the next callback scheduled from the same context",
  async ({ loop }) => {
    // asyncio copies the current context for every callback it schedules
    // (call_soon, call_later, add_done_callback), so what one callback sets
    // is not seen by another.
    const cvar = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    await inGuardedTask(loop, async () => {
      cvar.enterWith("task");
      const fut = loop.createFuture<null>();
      fut.addDoneCallback(() => {
        cvar.enterWith("first done callback");
      });
      fut.addDoneCallback(() => seen.push(cvar.getStore()));
      loop.callSoon(() => {
        cvar.enterWith("first callback");
      });
      loop.callSoon(() => seen.push(cvar.getStore()));
      loop.callLater(0.01, () => {
        cvar.enterWith("first timer");
      });
      loop.callLater(0.01, () => seen.push(cvar.getStore()));
      fut.setResult(null);
      await sleep(0.02);
      seen.push(cvar.getStore());
    });
    assert.deepEqual(seen, ["task", "task", "task", "task"]);
    if (exact(loop)) assert.equal(loop.time(), 0.02);
  },
);

loopTest(
  "a hundred interleaved tasks each keep the value they set across their sleeps",
  async ({ loop }) => {
    const cvar = new AsyncLocalStorage<number>();
    const random = prng(3);
    const mismatches: string[] = [];
    let finished = 0;
    await inGuardedTask(loop, async () => {
      const sub = async (num: number) => {
        for (let i = 0; i < 10; i++) {
          cvar.enterWith(num + i);
          // Whole milliseconds up to 50, as asyncio's random.uniform(0.001, 0.05).
          await sleep((1 + Math.floor(random() * 50)) / 1000);
          if (cvar.getStore() !== num + i) {
            mismatches.push(`${num + i} read as ${cvar.getStore()}`);
          }
        }
        finished++;
      };
      const tasks = Array.from(
        { length: 100 },
        () => {
          const num = Math.floor(random() * 11);
          return loop.createTask(() => sub(num));
        },
      );
      await gather(...tasks);
      assert.equal(cvar.getStore(), undefined);
    });
    assert.deepEqual(mismatches, []);
    assert.equal(finished, 100);
    assert.equal(cvar.getStore(), undefined);
  },
);

// ---- the context option -------------------------------------------------------

/**
 * Runs asyncio's check of a task given `{ context: ctx }` with the task made
 * by `make`: each task starts in `ctx`. Where asyncio's `ctx` then holds what
 * the task set (`ctx.get(cvar)` reads `[None, 1, 2]` there), a `Context`
 * here is an immutable snapshot (docs/differences.md, Contexts): what a task
 * sets stays in the task, so `ctx` still reads its value and the next task
 * given `ctx` starts from it too.
 */
async function checkContextOption(
  loop: AbstractEventLoop,
  make: (
    coro: () => Promise<void>,
    context: Context,
  ) => Task<void>,
): Promise<void> {
  const cvar = new AsyncLocalStorage<number>();
  const inTasks: (number | undefined)[] = [];
  const inContext = await inGuardedTask(loop, async () => {
    const ret: (number | undefined)[] = [];
    cvar.enterWith(-1); // the creator's own value, which no task sees
    const ctx = cvar.run(0, () => Context.current());
    const coro = (val: number) => async () => {
      await sleep(0);
      inTasks.push(cvar.getStore());
      cvar.enterWith(val);
      await sleep(0);
      inTasks.push(cvar.getStore());
    };
    ret.push(ctx.run(() => cvar.getStore()));
    await make(coro(1), ctx);
    ret.push(ctx.run(() => cvar.getStore()));
    await make(coro(2), ctx);
    ret.push(ctx.run(() => cvar.getStore()));
    ret.push(cvar.getStore());
    return ret;
  });
  // Each task starts in ctx and keeps what it sets across its awaits ...
  assert.deepEqual(inTasks, [0, 1, 0, 2]);
  // ... and ctx, a snapshot, is as it was; the creator kept its own value.
  assert.deepEqual(inContext, [0, 0, 0, -1]);
}

loopTest(
  "new Task(coro, { context }) starts in that Context; what it sets stays in the task",
  async ({ loop }) => {
    await checkContextOption(
      loop,
      (coro, context) => new Task(coro, { loop, context }),
    );
  },
);

loopTest(
  "createTask(coro, { context }) starts in that Context; what it sets stays in the task",
  async ({ loop }) => {
    await checkContextOption(
      loop,
      (coro, context) => createTask(coro, { context }),
    );
  },
);

loopTest(
  "loop.createTask(coro, { context }) starts in that Context; what it sets stays in the task",
  async ({ loop }) => {
    await checkContextOption(
      loop,
      (coro, context) => loop.createTask(coro, { context }),
    );
  },
);

loopTest(
  "Task.getContext() and Handle.getContext() return the Context given, before and after it ran",
  async ({ loop }) => {
    const context = Context.current();
    const task = new Task(async () => {}, { loop, context });
    assert.equal(task.getContext(), context);
    await loop.runUntilComplete(task);
    assert.equal(task.getContext(), context);
    // Without one, the task's own Context is the same object every time.
    const own = loop.createTask(async () => {});
    assert.equal(own.getContext(), own.getContext());
    await loop.runUntilComplete(own);
    // A handle's likewise: the Context it was scheduled with, or its own.
    const handle = loop.callSoon(() => {}, { context });
    assert.equal(handle.getContext(), context);
    const plain = loop.callLater(1, () => {});
    assert.equal(plain.getContext(), plain.getContext());
    assert.notEqual(plain.getContext(), context);
    plain.cancel();
    await loop.runUntilComplete(() => sleep(0));
  },
);

// ---- coroutines ----------------------------------------------------------------

loopTest(
  "coroutines run by gather() each keep the precision they set across their sleeps",
  async ({ loop }) => {
    // asyncio's check sets decimal's context precision in each coroutine.
    const precision = new AsyncLocalStorage<number>();
    const divide = (x: number, y: number) =>
      (x / y).toPrecision(precision.getStore() ?? 28);
    const fractions = async (
      t: number,
      prec: number,
      x: number,
      y: number,
    ) => {
      precision.enterWith(prec);
      const a = divide(x, y);
      await sleep(t);
      const b = divide(x, y ** 2);
      return [a, b];
    };
    const [r1, r2] = await inGuardedTask(loop, async () => {
      // Lazy coroutines: like asyncio's, each starts in its own task.
      const results = await gather(
        () => fractions(0.01, 3, 1, 3),
        () => fractions(0.02, 6, 1, 3),
      );
      assert.equal(precision.getStore(), undefined);
      return results;
    });
    assert.deepEqual(r1, ["0.333", "0.111"]);
    assert.deepEqual(r2, ["0.333333", "0.111111"]);
    if (exact(loop)) assert.equal(loop.time(), 0.02);
    assert.equal(precision.getStore(), undefined);
  },
);

loopTest(
  "nested coroutines hand their results up, with and without debug mode",
  async ({ loop }) => {
    const bar = async () => {
      await steps(1);
      return "spam";
    };
    const foo = async () => await bar();
    for (const debug of [false, true]) {
      loop.setDebug(debug);
      // A promise starts at once (a coroutine object does not), so the
      // promise form is made where the loop runs.
      assert.equal(
        await loop.runUntilComplete(async () => await foo()),
        "spam",
      );
      assert.equal(await loop.runUntilComplete(foo), "spam");
      assert.equal(await loop.runUntilComplete(loop.createTask(foo)), "spam");
    }
    loop.setDebug(false);
  },
);

loopTest(
  "a generator is not a coroutine, though it has next(), throw() and return()",
  async ({ loop }) => {
    function* numbers() {
      yield 1;
      return 2;
    }
    assert.throws(
      () => loop.createTask(numbers() as never),
      (error: unknown) =>
        error instanceof TypeError &&
        /a coroutine was expected.*Generator/.test(error.message),
    );
    // A generator function is called as a lazy coroutine; what it returns
    // is no promise, so the task fails.
    const task = loop.createTask(numbers as never);
    await assert.rejects(
      loop.runUntilComplete(task),
      (error: unknown) =>
        error instanceof TypeError &&
        /returned \[object Generator\], not a promise/.test(error.message),
    );
    assert.ok(task.exception() instanceof TypeError);
  },
);

// ---- Context.run() --------------------------------------------------------------

Deno.test("Context.run() keeps what its function sets, for that context only", () => {
  const cvar = new AsyncLocalStorage<string>();
  const ctx = Context.current();
  const other = Context.current(); // the same values, another context
  assert.equal(ctx.run(() => cvar.enterWith("set")), undefined);
  assert.equal(ctx.run(() => cvar.getStore()), "set");
  assert.equal(cvar.getStore(), undefined); // nothing leaked to the caller
  assert.equal(other.run(() => cvar.getStore()), undefined);
  // A function that fails keeps what it set before failing.
  assert.throws(
    () =>
      ctx.run(() => {
        cvar.enterWith("before the failure");
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.equal(ctx.run(() => cvar.getStore()), "before the failure");
  assert.equal(cvar.getStore(), undefined);
});

Deno.test("Context.run() inside its own run() is a RuntimeError; the context stays usable", () => {
  const cvar = new AsyncLocalStorage<number>();
  const ctx = Context.current();
  const inner = Context.current();
  const seen = ctx.run(() => {
    cvar.enterWith(1);
    assert.throws(
      () => ctx.run(() => "never"),
      (error) =>
        error instanceof RuntimeError &&
        /already entered/.test(error.message),
    );
    // Another context can be entered from inside, and leaves ours alone.
    inner.run(() => cvar.enterWith(2));
    return cvar.getStore();
  });
  assert.equal(seen, 1);
  assert.equal(ctx.run(() => cvar.getStore()), 1);
  assert.equal(inner.run(() => cvar.getStore()), 2);
});

loopTest(
  "a callback scheduled with { context } runs in what Context.run() left in it",
  async ({ loop }) => {
    const cvar = new AsyncLocalStorage<string>();
    const ctx = Context.current();
    ctx.run(() => cvar.enterWith("from run()"));
    const seen = await inGuardedTask(loop, async () => {
      const got = loop.createFuture<string | undefined>();
      loop.callSoon(() => got.setResult(cvar.getStore()), { context: ctx });
      return await got;
    });
    assert.equal(seen, "from run()");
  },
);

Deno.test("Context.get() reads a value with a default; copy() changes apart from the original", () => {
  const cvar = new AsyncLocalStorage<number>();
  const ctx = cvar.run(1, () => Context.current());
  assert.equal(ctx.get(cvar), 1);
  assert.equal(ctx.get(cvar, 9), 1);
  assert.equal(Context.current().get(cvar), undefined);
  assert.equal(Context.current().get(cvar, 9), 9);
  const copy = ctx.copy();
  assert.notEqual(copy, ctx);
  assert.equal(copy.get(cvar), 1);
  copy.run(() => cvar.enterWith(2));
  assert.equal(copy.get(cvar), 2);
  assert.equal(ctx.get(cvar), 1);
  ctx.run(() => cvar.enterWith(3));
  assert.equal(copy.get(cvar), 2);
  assert.equal(ctx.get(cvar), 3);
  // get() works inside the context's own run().
  assert.equal(ctx.run(() => ctx.get(cvar)), 3);
});
