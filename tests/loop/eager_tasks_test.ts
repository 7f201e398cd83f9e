/**
 * Eager tasks: `eagerTaskFactory`, `createEagerTaskFactory` and the
 * `eagerStart` option of `Task`, after CPython's
 * Lib/test/test_asyncio/test_eager_task_factory.py, on every loop kind.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  allTasks,
  CancelledError,
  Context,
  type Coroutine,
  createEagerTaskFactory,
  createTask,
  currentTask,
  eagerTaskFactory,
  ExceptionGroup,
  type Future,
  gather,
  getRunningLoop,
  KeyboardInterrupt,
  sleep,
  Task,
  type TaskConstructor,
  TaskGroup,
  type TaskOptions,
} from "../../mod.ts";
import { eagerHook } from "../../loop/core/tasks.ts";
import { loopTest } from "../_util.ts";

/** Runs `main` on `loop` with the eager factory set (the loop is running). */
function runEager<T>(
  loop: AbstractEventLoop,
  main: () => Promise<T>,
  factory = eagerTaskFactory,
): Promise<T> {
  loop.setTaskFactory(factory);
  return loop.runUntilComplete(main);
}

/** Runs `fn` with the promise-state hook switched off (the standard path). */
async function withoutHook<T>(fn: () => Promise<T>): Promise<T> {
  const saved = eagerHook.details;
  eagerHook.details = null;
  try {
    return await fn();
  } finally {
    eagerHook.details = saved;
  }
}

// ---- the factory ------------------------------------------------------------

loopTest(
  "eagerTaskFactory is what getTaskFactory() returns and makes Tasks",
  async ({ loop }) => {
    loop.setTaskFactory(eagerTaskFactory);
    assert.equal(loop.getTaskFactory(), eagerTaskFactory);
    await loop.runUntilComplete(async () => {
      const task = loop.createTask(async () => {});
      assert.ok(task instanceof Task);
      await task;
    });
  },
);

loopTest(
  "createEagerTaskFactory() refuses what is not a constructor",
  () => {
    for (const bad of [null, undefined, 1, "Task", {}]) {
      assert.throws(
        () => createEagerTaskFactory(bad as unknown as TaskConstructor),
        TypeError,
      );
    }
  },
);

// ---- the first step runs inside createTask() -------------------------------

loopTest(
  "eagerTaskFactory: a coroutine that never suspends is done when createTask() returns",
  async ({ loop }) => {
    const result = await runEager(loop, async () => {
      const task = createTask(async () => "hello");
      assert.equal(task.done(), true);
      assert.equal(task.result(), "hello");
      assert.equal(allTasks().has(task), false);
      return await task;
    });
    assert.equal(result, "hello");
  },
);

loopTest(
  "eagerTaskFactory: a future set during the eager step is done with the task",
  async ({ loop }) => {
    const result = await runEager(loop, async () => {
      const fut = loop.createFuture<string>();
      const task = createTask(async () => fut.setResult("my message"));
      assert.equal(task.done(), true);
      assert.equal(fut.done(), true);
      return await fut;
    });
    assert.equal(result, "my message");
  },
);

loopTest(
  "eagerTaskFactory: a coroutine that suspends goes on as a normal task",
  async ({ loop }) => {
    const steps: string[] = [];
    const result = await runEager(loop, async () => {
      const task = createTask(async () => {
        steps.push("first");
        await sleep(0.1);
        steps.push("second");
        return "finished after blocking";
      });
      assert.deepEqual(steps, ["first"]);
      assert.equal(task.done(), false);
      assert.equal(allTasks().has(task), true);
      const value = await task;
      assert.deepEqual(steps, ["first", "second"]);
      return value;
    });
    assert.equal(result, "finished after blocking");
  },
);

loopTest(
  "eagerTaskFactory: the eager step runs before callbacks already scheduled; later steps after them",
  async ({ loop }) => {
    const order: string[] = [];
    await runEager(loop, async () => {
      loop.callSoon(() => order.push("callback"));
      const task = createTask(async () => {
        order.push("eager step");
        await sleep(0);
        order.push("second step");
      });
      order.push("createTask returned");
      await task;
    });
    assert.deepEqual(order, [
      "eager step",
      "createTask returned",
      "callback",
      "second step",
    ]);
  },
);

loopTest(
  "eagerTaskFactory: createTask() from a plain callback steps eagerly; the next callback waits for the step",
  async ({ loop }) => {
    const order: string[] = [];
    let task: Task<unknown> | null = null;
    await runEager(loop, async () => {
      const fut = loop.createFuture<string>();
      fut.setResult("ready");
      loop.callSoon(() => {
        task = loop.createTask(async () => {
          order.push(`eager step, current=${currentTask() === task}`);
          // A done future does not suspend: the task completes in its step.
          order.push(`awaited ${await fut}`);
          await Promise.resolve();
          order.push("after a microtask");
          await sleep(0);
          order.push("second step");
        });
        order.push(`callback goes on, current=${currentTask()}`);
      });
      loop.callSoon(() => order.push("next callback"));
      await sleep(0);
      await sleep(0);
      await task;
    });
    assert.deepEqual(order, [
      "eager step, current=false", // `task` is assigned when createTask returns
      "callback goes on, current=null",
      "awaited ready",
      "after a microtask",
      "next callback",
      "second step",
    ]);
  },
);

// ---- the running task and the registry --------------------------------------

loopTest(
  "eagerTaskFactory: currentTask() is the new task in every step, and the caller's again after createTask()",
  async ({ loop }) => {
    const seen: (Task<unknown> | null)[] = [];
    await runEager(loop, async () => {
      const main = currentTask();
      const task = createTask(async () => {
        seen.push(currentTask());
        await sleep(0.1);
        seen.push(currentTask());
      });
      assert.equal(currentTask(), main);
      assert.equal(seen[0], task);
      await task;
      assert.deepEqual(seen, [task, task]);
    });
  },
);

loopTest(
  "eagerTaskFactory: an eager task started inside another eager step restores the outer one",
  async ({ loop }) => {
    const seen: string[] = [];
    await runEager(loop, async () => {
      const outer = createTask(async () => {
        const inner = createTask(async () => {
          seen.push(`inner sees ${currentTask()?.getName()}`);
          await sleep(0);
          return "inner";
        }, { name: "inner" });
        seen.push(`outer sees ${currentTask()?.getName()}`);
        return await inner;
      }, { name: "outer" });
      assert.equal(await outer, "inner");
    });
    assert.deepEqual(seen, ["inner sees inner", "outer sees outer"]);
  },
);

loopTest(
  "eagerTaskFactory: allTasks() holds the task during its eager step, not once it completed",
  async ({ loop }) => {
    let during: Set<Task<unknown>> | null = null;
    await runEager(loop, async () => {
      const task = createTask(async () => {
        during = allTasks();
      });
      assert.ok(during!.has(task));
      assert.equal(allTasks().has(task), false);
    });
  },
);

loopTest(
  "eagerTaskFactory: allTasks() holds a task that suspended until it is done",
  async ({ loop }) => {
    let during: Set<Task<unknown>> | null = null;
    await runEager(loop, async () => {
      const fut1 = loop.createFuture();
      const fut2 = loop.createFuture();
      const task = createTask(async () => {
        during = allTasks();
        await fut1;
        fut2.setResult(null);
      });
      assert.ok(during!.has(task));
      assert.ok(allTasks().has(task));
      fut1.setResult(null);
      await fut2;
      await task;
      assert.equal(allTasks().has(task), false);
    });
  },
);

// ---- names and contexts -----------------------------------------------------

loopTest(
  "eagerTaskFactory: the name given to createTask() is the task's during the eager step",
  async ({ loop }) => {
    await runEager(loop, async () => {
      let name = "";
      const task = createTask(async () => {
        name = currentTask()!.getName();
      }, { name: "worker" });
      assert.equal(name, "worker");
      assert.equal(task.getName(), "worker");
    });
  },
);

loopTest(
  "eagerTaskFactory: the eager step runs in the caller's context; its changes stay in the task",
  async ({ loop }) => {
    const cv = new AsyncLocalStorage<number>();
    const seen: (number | undefined)[] = [];
    await runEager(loop, () =>
      cv.run(1, async () => {
        const task = createTask(async () => {
          seen.push(cv.getStore());
          cv.enterWith(2);
          seen.push(cv.getStore());
          await sleep(0.1);
          seen.push(cv.getStore());
          cv.enterWith(3);
          seen.push(cv.getStore());
        });
        assert.deepEqual(seen, [1, 2]);
        assert.equal(cv.getStore(), 1);
        await task;
        assert.deepEqual(seen, [1, 2, 2, 3]);
        assert.equal(cv.getStore(), 1);
      }));
  },
);

loopTest(
  "eagerTaskFactory: the context option is the eager step's context",
  async ({ loop }) => {
    const cv = new AsyncLocalStorage<string>();
    const ctx = cv.run("given", () => Context.current());
    await runEager(loop, async () => {
      const seen: (string | undefined)[] = [];
      const task = cv.run("caller", () =>
        createTask(async () => {
          seen.push(cv.getStore());
          await sleep(0);
          seen.push(cv.getStore());
        }, { context: ctx }));
      assert.deepEqual(seen, ["given"]);
      await task;
      assert.deepEqual(seen, ["given", "given"]);
      assert.equal(task.getContext().run(() => cv.getStore()), "given");
    });
  },
);

// ---- errors and cancellation ------------------------------------------------

loopTest(
  "eagerTaskFactory: what the eager step throws goes to the task, not out of createTask()",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const boom = new Error("boom");
      const failed = createTask(async () => {
        throw boom;
      });
      assert.equal(failed.done(), true);
      assert.equal(failed.exception(), boom);

      const sync = createTask(
        (() => {
          throw new RangeError("thrown before any promise");
        }) as unknown as () => Promise<void>,
      );
      assert.equal(sync.done(), true);
      assert.ok(sync.exception() instanceof RangeError);

      const notAsync = createTask(
        (() => 5) as unknown as () => Promise<number>,
      );
      assert.equal(notAsync.done(), true);
      assert.ok(notAsync.exception() instanceof TypeError);

      const cancelled = createTask(async () => {
        throw new CancelledError("from the step");
      });
      assert.equal(cancelled.cancelled(), true);
      await assert.rejects(async () => await cancelled, CancelledError);
    });
  },
);

loopTest(
  "eagerTaskFactory: cancel() after an eager completion does nothing",
  async ({ loop }) => {
    const result = await runEager(loop, async () => {
      const task = createTask(async () => "finished without blocking");
      assert.equal(task.cancel(), false);
      const value = await task;
      assert.equal(task.cancelled(), false);
      return value;
    });
    assert.equal(result, "finished without blocking");
  },
);

loopTest(
  "eagerTaskFactory: cancel() after the eager step suspended cancels the task with the message",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const task = createTask(async () => {
        await sleep(0.1);
        return "finished after blocking";
      });
      assert.equal(task.cancel("cancellation message"), true);
      assert.ok(task.cancelling() > 0);
      await assert.rejects(
        async () => await task,
        (error: unknown) =>
          error instanceof CancelledError &&
          error.message === "cancellation message",
      );
      assert.equal(task.cancelled(), true);
    });
  },
);

loopTest(
  "eagerTaskFactory: cancel() reaches a task suspended on sleep(0) or a future in its eager step",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const yielding = createTask(() => sleep(0));
      const fut = loop.createFuture();
      const waiting = createTask(async () => await fut);
      yielding.cancel();
      waiting.cancel();
      await assert.rejects(async () => await yielding, CancelledError);
      await assert.rejects(async () => await waiting, CancelledError);
      assert.equal(fut.cancelled(), true);
    });
  },
);

loopTest(
  "eagerTaskFactory: cancel() after the awaited future completed, before the task resumed, raises at that await",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const seen: unknown[] = [];
      const fut = loop.createFuture<string>();
      const failed = loop.createFuture<string>();
      const task = createTask(async () => {
        try {
          seen.push(await fut);
        } catch (error) {
          seen.push(error instanceof CancelledError ? "cancelled" : error);
        }
        // Still usable after the cancellation it caught.
        seen.push(await failed.catch((error) => (error as Error).message));
      });
      assert.equal(task.done(), false);
      fut.setResult("value"); // done before the task resumes...
      assert.equal(task.cancel(), true); // ...and cancelled meanwhile
      failed.setException(new Error("boom"));
      await task;
      // asyncio delivers the cancellation at the await it was suspended on,
      // not the future's value.
      assert.deepEqual(seen, ["cancelled", "boom"]);
      assert.equal(task.cancelled(), false);
    });
  },
);

loopTest(
  "eagerTaskFactory: a cancellation at an await whose future failed meanwhile retrieves that failure",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const fut = loop.createFuture<string>();
      const task = createTask(async () => await fut);
      fut.setException(new Error("lost to the cancellation"));
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
    });
    // Closing the loop reports a failed future nobody retrieved: the
    // fixture fails the test on any call of the exception handler.
    loop.close();
  },
);

loopTest(
  "eagerTaskFactory: from a plain callback, a cancellation before the task resumes raises at its await",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const fut = loop.createFuture<string>();
      const outcome = loop.createFuture<string>();
      loop.callSoon(() => {
        const task = loop.createTask(async () => {
          try {
            outcome.setResult(await fut);
          } catch (error) {
            outcome.setResult(
              error instanceof CancelledError ? "cancelled" : String(error),
            );
          }
        });
        fut.setResult("value");
        task.cancel();
      });
      assert.equal(await outcome, "cancelled");
    });
  },
);

// ---- the coroutine forms ----------------------------------------------------

loopTest(
  "eagerTaskFactory: a lazy function and an already-started promise both work",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const lazy = createTask(async () => 1);
      const settled = createTask((async () => 2)());
      assert.equal(lazy.result(), 1);
      assert.equal(settled.done(), true);
      assert.equal(settled.result(), 2);

      const rejected = (async () => {
        throw new Error("adopted");
      })();
      const failed = createTask(rejected);
      assert.equal(failed.done(), true);
      assert.equal((failed.exception() as Error).message, "adopted");

      const pending = createTask(sleep(0.01, 3));
      assert.equal(pending.done(), false);
      assert.equal(await pending, 3);
    });
  },
);

loopTest(
  "eagerTaskFactory: a task made while the loop is not running starts on the loop",
  async ({ loop }) => {
    loop.setTaskFactory(eagerTaskFactory);
    let started = false;
    const task = loop.createTask(async () => {
      started = true;
      return 1;
    });
    assert.equal(started, false);
    assert.equal(task.done(), false);
    assert.equal(await loop.runUntilComplete(task), 1);
    assert.equal(started, true);
  },
);

loopTest(
  "Task with eagerStart runs its first step in the constructor",
  async ({ loop }) => {
    await loop.runUntilComplete(async () => {
      const task = new Task(async () => "now", { loop, eagerStart: true });
      assert.equal(task.result(), "now");
      const lazy = new Task(async () => "later", { loop, eagerStart: false });
      assert.equal(lazy.done(), false);
      assert.equal(await lazy, "later");
    });
  },
);

// ---- subclasses and custom constructors -------------------------------------

loopTest(
  "createEagerTaskFactory(Subclass) builds the subclass, its fields set before the eager step",
  async ({ loop }) => {
    class TracedTask<T> extends Task<T> {
      readonly trace: string[] = [];
      readonly label: string;
      constructor(coro: Coroutine<T>, options: TaskOptions) {
        super(coro, options);
        this.label = `traced ${this.getName()}`;
      }
    }
    const factory = createEagerTaskFactory(TracedTask);
    await runEager(loop, async () => {
      const task = createTask(async () => {
        const self = currentTask() as TracedTask<string>;
        self.trace.push("eager step");
        return self.label;
      }, { name: "t" }) as TracedTask<string>;
      assert.ok(task instanceof TracedTask);
      assert.equal(task.done(), true);
      assert.equal(task.result(), "traced t");
      assert.deepEqual(task.trace, ["eager step"]);

      const suspended = createTask(async () => {
        await sleep(0);
        return "later";
      }) as TracedTask<string>;
      assert.ok(suspended instanceof TracedTask);
      assert.equal(await suspended, "later");
    }, factory);
  },
);

loopTest(
  "A Task subclass built directly with eagerStart starts on the loop, once",
  async ({ loop }) => {
    class MyTask<T> extends Task<T> {}
    let runs = 0;
    await loop.runUntilComplete(async () => {
      const task = new MyTask(async () => ++runs, { loop, eagerStart: true });
      assert.equal(runs, 0);
      assert.equal(await task, 1);
      await sleep(0);
      assert.equal(runs, 1);
    });
  },
);

loopTest(
  "createEagerTaskFactory() takes a constructor function that counts the tasks it makes",
  async ({ loop }) => {
    let made = 0;
    let lazy = 0;
    const CountingTask = function <T>(
      coro: Coroutine<T>,
      options: TaskOptions,
    ): Future<T> {
      made++;
      if (!options.eagerStart) lazy++;
      return new Task(coro, options);
    } as unknown as TaskConstructor;
    await runEager(loop, async () => {
      const task = createTask(async () => "counted");
      assert.equal(task.result(), "counted");
    }, createEagerTaskFactory(CountingTask));
    // The main task too: built with eagerStart, it starts on the loop, as
    // the loop was not running yet.
    assert.deepEqual([made, lazy], [2, 0]);
  },
);

// ---- with gather() and TaskGroup ---------------------------------------------

/** A factory that records whether each task was done when createTask() returned. */
function recordingFactory(eager: boolean, doneAtCreation: boolean[]) {
  return <T>(
    loop: AbstractEventLoop,
    coro: Coroutine<T>,
    options?: { name?: string | null; context?: Context | null },
  ): Future<T> => {
    const task = new Task(coro, { ...options, loop, eagerStart: eager });
    doneAtCreation.push(task.done());
    return task;
  };
}

async function recursiveGather(width: number, depth: number): Promise<void> {
  if (depth === 0) return;
  const children = Array.from(
    { length: width },
    () => () => recursiveGather(width, depth - 1),
  );
  await gather(...children);
}

async function recursiveTaskGroups(
  width: number,
  depth: number,
): Promise<number> {
  if (depth === 0) return 1;
  return await new TaskGroup().run(async (tg) => {
    const tasks = Array.from(
      { length: width },
      () => tg.createTask(() => recursiveTaskGroups(width, depth - 1)),
    );
    let total = 1;
    for (const task of tasks) total += await task;
    return total;
  });
}

loopTest(
  "eagerTaskFactory with gather(): leaves complete inside createTask(), the whole tree completes",
  async ({ loop }) => {
    const eager: boolean[] = [];
    await runEager(
      loop,
      () => recursiveGather(5, 3),
      recordingFactory(true, eager),
    );
    const lazy: boolean[] = [];
    await runEager(
      loop,
      () => recursiveGather(5, 3),
      recordingFactory(false, lazy),
    );
    // 1 main task + 5 + 25 + 125 gathered coroutines.
    assert.equal(eager.length, 156);
    assert.equal(lazy.length, 156);
    assert.equal(lazy.filter(Boolean).length, 0);
    // The 125 leaves never suspend: done at once on the eager factory.
    assert.equal(eager.filter(Boolean).length, 125);
  },
);

loopTest(
  "eagerTaskFactory with TaskGroup: children step eagerly, results and counts are the lazy ones",
  async ({ loop }) => {
    const eager: boolean[] = [];
    const total = await runEager(
      loop,
      () => recursiveTaskGroups(4, 3),
      recordingFactory(true, eager),
    );
    assert.equal(total, 1 + 4 + 16 + 64);
    assert.equal(eager.filter(Boolean).length, 64);
    const lazy: boolean[] = [];
    assert.equal(
      await runEager(
        loop,
        () => recursiveTaskGroups(4, 3),
        recordingFactory(false, lazy),
      ),
      total,
    );
  },
);

loopTest(
  "eagerTaskFactory with TaskGroup: a child failing in its eager step fails the group",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const sibling: string[] = [];
      await assert.rejects(
        new TaskGroup().run((tg) => {
          tg.createTask(async () => {
            try {
              await sleep(3600);
            } catch (error) {
              sibling.push(error instanceof CancelledError ? "cancelled" : "?");
              throw error;
            }
          });
          tg.createTask(async () => {
            throw new Error("eager failure");
          });
        }),
        (error: unknown) =>
          error instanceof ExceptionGroup &&
          (error.exceptions[0] as Error).message === "eager failure",
      );
      assert.deepEqual(sibling, ["cancelled"]);
    });
  },
);

loopTest(
  "eagerTaskFactory: awaiting a chain of coroutines makes one task in all",
  async ({ loop }) => {
    const doneAtCreation: boolean[] = [];
    const chain = async (depth: number): Promise<number> =>
      depth === 0 ? 0 : 1 + await chain(depth - 1);
    assert.equal(
      await runEager(
        loop,
        () => chain(100),
        recordingFactory(true, doneAtCreation),
      ),
      100,
    );
    assert.equal(doneAtCreation.length, 1);
  },
);

// ---- without the promise-state hook ------------------------------------------

loopTest(
  "eagerTaskFactory without the runtime hook: done one microtask later, before any callback",
  async ({ loop }) => {
    await withoutHook(() =>
      runEager(loop, async () => {
        const order: string[] = [];
        loop.callSoon(() => order.push("callback"));
        const task = createTask(async () => {
          order.push("eager step");
          return "done";
        });
        assert.equal(task.done(), false);
        await Promise.resolve();
        assert.equal(task.done(), true);
        assert.equal(task.result(), "done");
        assert.deepEqual(order, ["eager step"]);
        await sleep(0);
        assert.deepEqual(order, ["eager step", "callback"]);
      })
    );
  },
);

loopTest(
  "eagerTaskFactory without the runtime hook: made from a callback, done before the next callback",
  async ({ loop }) => {
    await withoutHook(() =>
      runEager(loop, async () => {
        let task: Task<string> | null = null;
        const seen: string[] = [];
        loop.callSoon(() => {
          task = loop.createTask(async () => "done");
        });
        loop.callSoon(() => seen.push(`next callback: done=${task!.done()}`));
        await sleep(0);
        await sleep(0);
        assert.deepEqual(seen, ["next callback: done=true"]);
        assert.equal(await task!, "done");

        const failed = createTask(async () => {
          throw new Error("late");
        });
        await Promise.resolve();
        assert.equal((failed.exception() as Error).message, "late");
      })
    );
  },
);

loopTest(
  "getRunningLoop() and createTask() inside an eager step use the running loop",
  async ({ loop }) => {
    await runEager(loop, async () => {
      const task = createTask(async () => {
        assert.equal(getRunningLoop(), loop);
        return createTask(async () => "nested").result();
      });
      assert.equal(task.result(), "nested");
    });
  },
);

loopTest(
  "a KeyboardInterrupt that ends an eager first step is raised out of createTask(), not out of the run",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    const outcome = await runEager(loop, async () => {
      let made: Task<never> | null = null;
      assert.throws(
        () => {
          made = createTask(async () => {
            throw interrupt;
          });
        },
        (error) => error === interrupt,
      );
      assert.equal(made, null);
      // The run goes on: the caller had the interrupt and handled it.
      await sleep(0);
      const after = createTask(async () => "after");
      return await after;
    });
    assert.equal(outcome, "after");
  },
);

loopTest(
  "an eager task's KeyboardInterrupt raised after its first step still ends the run",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    let task: Task<never> | null = null;
    await assert.rejects(
      runEager(loop, async () => {
        task = createTask(async () => {
          await sleep(0);
          throw interrupt;
        });
        await sleep(1);
        return "not reached";
      }),
      (error) => error === interrupt,
    );
    assert.equal(task!.exception(), interrupt);
  },
);
