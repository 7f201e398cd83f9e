/**
 * More of asyncio's `TaskGroup` behaviour: `KeyboardInterrupt` leaving the
 * group as itself, cancel messages, refusals while shutting down, eager
 * children, and the async context (`contextvars`) of tasks and callbacks.
 * Every test runs twice, with lazy tasks and with `eagerTaskFactory`.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  CancelledError,
  Context,
  currentTask,
  eagerTaskFactory,
  ExceptionGroup,
  KeyboardInterrupt,
  RuntimeError,
  sleep,
  type Task,
  TaskGroup,
} from "../../mod.ts";
import { inTask, taskKindsTest } from "../_util.ts";

async function crashAfter(delay: number, error: unknown): Promise<never> {
  await sleep(delay);
  throw error;
}

// ---- KeyboardInterrupt is never grouped ------------------------------------

taskKindsTest(
  "TaskGroup rejects with the body's KeyboardInterrupt itself, reporting the child's error",
  async (fx) => {
    const interrupt = new KeyboardInterrupt();
    const childError = new RangeError("child");
    await inTask(fx.loop, async () => {
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.01, childError));
        try {
          await sleep(10);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw interrupt;
        }
      }).catch((e) => e);
      assert.equal(error, interrupt);
      assert.equal(currentTask()!.cancelling(), 0);
      assert.equal(await sleep(0, "next await"), "next await");
    });
    const reported = fx.takeErrors();
    assert.equal(reported.length, 1);
    assert.equal(reported[0].exception, childError);
    assert.match(reported[0].message, /was not propagated/);
  },
);

/**
 * Runs `main` as a task on `loop`. Each task that ends with `interrupt` ends
 * the loop's run with it (asyncio's task step raises it out of the loop);
 * the loop is run on, as `asyncio.run()`'s clean-up does, until `main` is
 * done. `runs` is how many runs the interrupt ends.
 */
async function runThroughInterrupts(
  loop: AbstractEventLoop,
  interrupt: KeyboardInterrupt,
  runs: number,
  main: () => Promise<void>,
): Promise<void> {
  const task = loop.createTask(main);
  for (let i = 0; i < runs; i++) {
    await assert.rejects(loop.runUntilComplete(task), (e) => e === interrupt);
    assert.equal(task.done(), false);
  }
  await loop.runUntilComplete(task);
}

taskKindsTest(
  "TaskGroup rejects with a child's KeyboardInterrupt, not with the body's error, once the loop runs on after it",
  async (fx) => {
    const interrupt = new KeyboardInterrupt();
    let sibling: Task<unknown> | null = null;
    await runThroughInterrupts(fx.loop, interrupt, 1, async () => {
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.01, interrupt));
        sibling = g.createTask(() => sleep(10));
        try {
          await sleep(10);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new TypeError("body");
        }
      }).catch((e) => e);
      assert.equal(error, interrupt);
      assert.equal(currentTask()!.cancelling(), 0);
    });
    assert.equal(sibling!.cancelled(), true);
    assert.deepEqual(fx.takeErrors(), []);
  },
);

taskKindsTest(
  "TaskGroup whose body raises KeyboardInterrupt cancels the children first",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    const children: Task<unknown>[] = [];
    let cleaned = 0;
    await inTask(loop, async () => {
      await assert.rejects(
        new TaskGroup().run(async (g) => {
          for (let i = 0; i < 3; i++) {
            children.push(g.createTask(async () => {
              try {
                await sleep(10);
              } finally {
                cleaned += 1;
              }
            }));
          }
          await sleep(0);
          throw interrupt;
        }),
        (e) => e === interrupt,
      );
    });
    assert.equal(cleaned, 3);
    assert.ok(children.every((t) => t.cancelled()));
  },
);

taskKindsTest(
  "TaskGroup: a KeyboardInterrupt during an outer cancel ends the run, then wins over CancelledError",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    const runner = loop.createTask(() =>
      new TaskGroup().run((g) => {
        g.createTask(async () => {
          try {
            await sleep(10);
          } finally {
            // deno-lint-ignore no-unsafe-finally
            throw interrupt;
          }
        });
      })
    );
    // The child's interrupt ends one run, the group's task's the next.
    await runThroughInterrupts(loop, interrupt, 2, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, (e) => e === interrupt);
    });
    assert.equal(runner.cancelled(), false);
    assert.equal(runner.exception(), interrupt);
  },
);

taskKindsTest(
  "nested TaskGroups pass an inner KeyboardInterrupt out of the outer group as is",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    let outerChild: Task<unknown> | null = null;
    await runThroughInterrupts(loop, interrupt, 1, async () => {
      await assert.rejects(
        new TaskGroup().run(async (outer) => {
          outerChild = outer.createTask(() => sleep(10));
          await new TaskGroup().run((inner) => {
            inner.createTask(() => crashAfter(0.01, interrupt));
          });
        }),
        (e) => e === interrupt,
      );
      assert.equal(currentTask()!.cancelling(), 0);
    });
    assert.equal(outerChild!.cancelled(), true);
  },
);

taskKindsTest(
  "TaskGroup groups an ordinary error subclass even when named like a base error",
  async ({ loop }) => {
    class SystemExit extends Error {
      override name = "SystemExit";
    }
    await inTask(loop, async () => {
      const error = await new TaskGroup().run((g) => {
        g.createTask(() => crashAfter(0.01, new SystemExit()));
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.ok(error.exceptions[0] instanceof SystemExit);
    });
  },
);

// ---- cancellation from outside ---------------------------------------------

taskKindsTest(
  "TaskGroup cancelled from outside propagates the cancel message",
  async ({ loop }) => {
    let cancelled = 0;
    const runner = loop.createTask(() =>
      new TaskGroup().run((g) => {
        for (let i = 0; i < 5; i++) {
          g.createTask(async () => {
            try {
              await sleep(5);
            } catch (e) {
              cancelled += 1;
              throw e;
            }
          });
        }
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      assert.equal(runner.done(), false);
      runner.cancel("test");
      await assert.rejects(async () => await runner, (e) => {
        assert.ok(e instanceof CancelledError);
        assert.equal(e.message, "test");
        return true;
      });
    });
    assert.equal(cancelled, 5);
  },
);

taskKindsTest(
  "TaskGroup cancelled before its children fail keeps the cancel message",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const runner = loop.createTask(() =>
        new TaskGroup().run(async (g) => {
          for (let i = 0; i < 5; i++) {
            g.createTask(() => crashAfter(0.2, new RangeError("late")));
          }
          await sleep(10);
        })
      );
      await sleep(0.1);
      assert.equal(runner.done(), false);
      runner.cancel("test");
      await assert.rejects(async () => await runner, (e) => {
        assert.ok(e instanceof CancelledError);
        assert.equal(e.message, "test");
        return true;
      });
      assert.equal(runner.cancelling(), 1);
    });
  },
);

taskKindsTest(
  "TaskGroup cancelled from outside twice still waits for its children",
  async ({ loop }) => {
    let finished = false;
    const runner = loop.createTask(() =>
      new TaskGroup().run((g) => {
        g.createTask(async () => {
          try {
            await sleep(10);
          } catch {
            await sleep(0.5); // slow cleanup, swallowing the cancel
            finished = true;
          }
        });
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await sleep(0.1);
      assert.equal(runner.done(), false);
      runner.cancel();
      await assert.rejects(async () => await runner, CancelledError);
      assert.equal(finished, true);
      assert.equal(runner.cancelling(), 2);
    });
  },
  { virtualOnly: true },
);

// ---- refusing tasks --------------------------------------------------------

taskKindsTest(
  "TaskGroup.createTask() from the body after a child failed is refused, unstarted",
  async ({ loop }) => {
    let refused: unknown;
    let started = false;
    await inTask(loop, async () => {
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.01, new RangeError("boom")));
        try {
          await sleep(10);
        } catch {
          try {
            g.createTask(async () => {
              started = true;
            });
          } catch (e) {
            refused = e;
          }
        }
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.equal(error.exceptions.length, 1);
      await sleep(0);
    });
    assert.ok(refused instanceof RuntimeError);
    assert.match((refused as Error).message, /is shutting down/);
    assert.equal(started, false);
  },
);

taskKindsTest(
  "TaskGroup.createTask() after the group finished is refused, unstarted",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let group!: TaskGroup;
      await new TaskGroup().run((g) => {
        group = g;
      });
      let started = false;
      assert.throws(
        () =>
          group.createTask(async () => {
            started = true;
          }),
        (e) => e instanceof RuntimeError && /is finished/.test(e.message),
      );
      await sleep(0);
      assert.equal(started, false);
      assert.match(String(group), /^<TaskGroup entered>$/);
    });
  },
);

taskKindsTest(
  "TaskGroup with eagerTaskFactory: a child failing at once stops the body at its next await",
  async ({ loop }) => {
    loop.setTaskFactory(eagerTaskFactory);
    const steps: string[] = [];
    let second: Task<unknown> | null = null;
    await inTask(loop, async () => {
      const error = await new TaskGroup().run(async (g) => {
        const first = g.createTask(async () => {
          throw new RangeError("at once");
        });
        assert.equal(first.done(), true);
        steps.push("body goes on");
        second = g.createTask(async () => {
          await sleep(10);
        });
        try {
          await sleep(10);
        } catch (e) {
          steps.push(e instanceof CancelledError ? "cancelled" : "other");
          throw e;
        }
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.equal(error.exceptions.length, 1);
      assert.equal(currentTask()!.cancelling(), 0);
    });
    assert.deepEqual(steps, ["body goes on", "cancelled"]);
    assert.equal(second!.cancelled(), true);
  },
);

taskKindsTest(
  "TaskGroup orders its group by completion, children before the body",
  async ({ loop }) => {
    const late = new RangeError("late");
    const early = new TypeError("early");
    const body = new SyntaxError("body");
    await inTask(loop, async () => {
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(async () => {
          try {
            await sleep(10);
          } finally {
            await sleep(0.2);
            // deno-lint-ignore no-unsafe-finally
            throw late;
          }
        });
        g.createTask(() => crashAfter(0.01, early));
        try {
          await sleep(10);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw body;
        }
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.deepEqual(error.exceptions, [early, late, body]);
      assert.equal(error.message, "unhandled errors in a TaskGroup");
    });
  },
  { virtualOnly: true },
);

// ---- contexts --------------------------------------------------------------

taskKindsTest(
  "tasks copy the async context at creation and keep their own changes",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<number>();
    const seen: [number, number | undefined][] = [];
    await inTask(loop, async () => {
      store.enterWith(0);
      await new TaskGroup().run((g) => {
        for (const i of [1, 2, 3]) {
          g.createTask(async () => {
            assert.equal(store.getStore(), 0);
            store.enterWith(i);
            await sleep(0.01 * (4 - i));
            seen.push([i, store.getStore()]);
          });
        }
      });
      assert.equal(store.getStore(), 0);
    });
    assert.deepEqual(seen, [[3, 3], [2, 2], [1, 1]]);
  },
  { virtualOnly: true },
);

taskKindsTest(
  "a task sees the context of its creation, not later changes in its creator",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    await inTask(loop, async () => {
      store.enterWith("before");
      const task = loop.createTask(async () => {
        await sleep(0);
        return store.getStore();
      });
      store.enterWith("after");
      assert.equal(await task, "before");
      assert.equal(task.getContext().run(() => store.getStore()), "before");
      assert.equal(store.getStore(), "after");
    });
  },
);

taskKindsTest(
  "callbacks run in the context they were scheduled in or were given",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const given = store.run("given", () => Context.current());
    await inTask(loop, async () => {
      const done = loop.createFuture<void>();
      store.run("soon", () => loop.callSoon(() => seen.push(store.getStore())));
      given.run(() => loop.callLater(0.01, () => seen.push(store.getStore())));
      store.run("at", () =>
        loop.callAt(loop.time() + 0.02, () => {
          seen.push(store.getStore());
          done.setResult();
        }));
      store.enterWith("task");
      await done;
    });
    assert.deepEqual(seen, ["soon", "given", "at"]);
  },
);

taskKindsTest(
  "TaskGroup.createTask() with a context runs the child in it, not the body's",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const given = store.run("given", () => Context.current());
    await inTask(loop, async () => {
      store.enterWith("body");
      const [a, b] = await new TaskGroup().run((g) => [
        g.createTask(async () => store.getStore(), { context: given }),
        g.createTask(async () => store.getStore()),
      ]);
      assert.deepEqual([a.result(), b.result()], ["given", "body"]);
    });
  },
);
