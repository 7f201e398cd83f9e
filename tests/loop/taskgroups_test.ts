/**
 * Behaviour of `TaskGroup` and `ExceptionGroup`, after CPython's
 * Lib/test/test_asyncio/test_taskgroups.py (3.13), with the cancellation
 * bookkeeping checked against timeouts and outer cancellations. Every test
 * runs twice, with lazy tasks and with `eagerTaskFactory` (as asyncio runs
 * its suite); tests that depend on timer order run on the virtual clock only.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  CancelledError,
  Context,
  createTask,
  currentTask,
  ExceptionGroup,
  RuntimeError,
  sleep,
  type Task,
  TaskGroup,
  timeout,
  TimeoutError,
} from "../../mod.ts";
import { inTask, taskKindsTest } from "../_util.ts";

class MyError extends Error {
  override name = "MyError";
}

/** The classes of a group's errors, as a set of names. */
function errorTypes(group: unknown): Set<string> {
  assert.ok(group instanceof ExceptionGroup, `not a group: ${group}`);
  return new Set(
    group.exceptions.map((e) => (e as Error).constructor.name),
  );
}

/** A validator: an ExceptionGroup whose errors are of exactly these classes. */
function groupOf(...names: string[]) {
  return (error: unknown): boolean => {
    assert.deepEqual(errorTypes(error), new Set(names));
    return true;
  };
}

async function crashAfter(
  delay: number,
  error: Error = new RangeError("boom"),
) {
  await sleep(delay);
  throw error;
}

// ---- the normal path -------------------------------------------------------

taskKindsTest(
  "TaskGroup waits for every task and keeps their results",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      let t1!: Task<number>;
      let t2!: Task<number>;
      await new TaskGroup().run((g) => {
        t1 = g.createTask(() => sleep(0.01, 42));
        t2 = g.createTask(() => sleep(0.02, 11));
      });
      assert.equal(t1.result(), 42);
      assert.equal(t2.result(), 11);
      assert.ok(loop.time() - t0 >= 0.02);
    });
  },
);

taskKindsTest(
  "TaskGroup accepts tasks created after the body has awaited",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let t1!: Task<number>;
      let t2!: Task<number>;
      await new TaskGroup().run(async (g) => {
        t1 = g.createTask(() => sleep(0.1, 42));
        await sleep(0.15);
        assert.equal(t1.done(), true);
        t2 = g.createTask(() => sleep(0.2, 11));
      });
      assert.equal(t1.result(), 42);
      assert.equal(t2.result(), 11);
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup treats a child cancelled on its own as no error",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let t1!: Task<number>;
      let t2!: Task<number>;
      await new TaskGroup().run(async (g) => {
        t1 = g.createTask(() => sleep(1, 42));
        await sleep(0.15);
        t1.cancel();
        t2 = g.createTask(() => sleep(0.2, 11));
      });
      assert.equal(t1.cancelled(), true);
      assert.equal(t2.result(), 11);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup.run() resolves with the body's result",
  async ({ loop }) => {
    await inTask(loop, async () => {
      assert.equal(await new TaskGroup().run(() => "sync"), "sync");
      assert.equal(
        await new TaskGroup().run(async (g) => {
          const t = g.createTask(async () => 20);
          return (await t) + 1;
        }),
        21,
      );
    });
  },
);

taskKindsTest(
  "TaskGroup lets children add tasks to the group while it waits",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const done: number[] = [];
      const work = async (delay: number) => {
        await sleep(delay);
        done.push(delay);
      };
      await new TaskGroup().run((g) => {
        g.createTask(async () => {
          await sleep(0.01);
          g.createTask(() => work(0.01));
          g.createTask(() => work(0.02));
        });
      });
      assert.deepEqual(done, [0.01, 0.02]);
    });
  },
);

taskKindsTest(
  "TaskGroup.createTask() takes name and context",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    await inTask(loop, async () => {
      await new TaskGroup().run((g) => {
        const named = g.createTask(() => sleep(0), { name: "yolo" });
        assert.equal(named.getName(), "yolo");
        const ctx = store.run("given", () => Context.current());
        const seen = g.createTask(async () => store.getStore(), {
          context: ctx,
        });
        const inherited = store.run(
          "body",
          () => g.createTask(async () => store.getStore()),
        );
        return Promise.all([seen, inherited]).then((values) =>
          assert.deepEqual(values, ["given", "body"])
        );
      });
    });
  },
);

taskKindsTest(
  "TaskGroup counts its tasks in its description as they finish",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const g = new TaskGroup();
      assert.equal(String(g), "<TaskGroup>");
      await g.run(async () => {
        assert.equal(String(g), "<TaskGroup entered>");
        for (let count = 0; count < 10; count++) {
          await sleep(0.1);
          g.createTask(() => sleep(0.3));
          if (count === 5) assert.match(String(g), /tasks=[1-4] entered/);
        }
        await sleep(1.35);
        assert.equal(String(g), "<TaskGroup entered>");
      });
    });
  },
  { virtualOnly: true },
);

// ---- a failing child ------------------------------------------------------

taskKindsTest(
  "TaskGroup cancels the other children when one fails and raises a group",
  async ({ loop }) => {
    let num = 0;
    let siblingCancelled = false;
    let sibling!: Task<void>;
    const runner = loop.createTask(async () => {
      await new TaskGroup().run((g) => {
        g.createTask(() => crashAfter(0.1));
        sibling = g.createTask(async () => {
          try {
            await sleep(1);
          } catch (e) {
            siblingCancelled = e instanceof CancelledError;
            throw e;
          }
          num += 1;
        });
      });
      num += 10;
    });
    await assert.rejects(loop.runUntilComplete(runner), groupOf("RangeError"));
    assert.equal(num, 0);
    assert.equal(siblingCancelled, true);
    assert.equal(sibling.cancelled(), true);
    assert.equal(runner.cancelling(), 0);
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup interrupts the body when a child fails and collects every error",
  async ({ loop }) => {
    let bodyCancelled = false;
    let siblingCancelled = false;
    const runner = loop.createTask(async () => {
      await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.1));
        g.createTask(() => crashAfter(0.1));
        g.createTask(() => crashAfter(0.1));
        g.createTask(async () => {
          try {
            await sleep(5);
          } catch (e) {
            siblingCancelled = true;
            throw e;
          }
        });
        try {
          await sleep(10);
        } catch (e) {
          bodyCancelled = e instanceof CancelledError;
          throw e;
        }
      });
    });
    const error = await loop.runUntilComplete(runner).catch((e) => e);
    assert.ok(error instanceof ExceptionGroup);
    assert.equal(error.message, "unhandled errors in a TaskGroup");
    assert.equal(error.exceptions.length, 3, "all due together, all kept");
    assert.deepEqual(errorTypes(error), new Set(["RangeError"]));
    assert.equal(bodyCancelled, true);
    assert.equal(siblingCancelled, true);
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup leaves the parent uncancelled after its own abort",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const self = currentTask()!;
      await assert.rejects(
        new TaskGroup().run(async (g) => {
          g.createTask(() => crashAfter(0.01));
          await sleep(10);
        }),
        groupOf("RangeError"),
      );
      assert.equal(self.cancelling(), 0);
      // No cancellation left over for the next await.
      assert.equal(await sleep(0.01, "after"), "after");
    });
  },
);

taskKindsTest(
  "TaskGroup puts the body's error after the children's, in order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const first = new RangeError("first");
      const second = new TypeError("second");
      const body = new SyntaxError("body");
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.01, first));
        g.createTask(async () => {
          try {
            await sleep(10);
          } finally {
            // deno-lint-ignore no-unsafe-finally
            throw second; // when the group cancels it
          }
        });
        try {
          await sleep(10);
        } catch {
          // the group's cancel: turn it into an error of the body's own
        }
        throw body;
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.deepEqual(error.exceptions, [first, second, body]);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

taskKindsTest(
  "TaskGroup refuses new tasks once a child has failed",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let refused: unknown;
      let started = false;
      await assert.rejects(
        new TaskGroup().run((g) => {
          g.createTask(() => crashAfter(0.001));
          g.createTask(async () => {
            try {
              await sleep(1);
            } catch {
              try {
                g.createTask(async () => {
                  started = true;
                });
              } catch (e) {
                refused = e;
              }
            }
          });
        }),
        groupOf("RangeError"),
      );
      assert.ok(refused instanceof RuntimeError);
      assert.match(String(refused), /is shutting down/);
      assert.equal(started, false);
    });
  },
);

taskKindsTest(
  "TaskGroup with a body error cancels the children",
  async ({ loop }) => {
    for (const awaitFirst of [true, false]) {
      let t1!: Task<number>;
      let t2!: Task<number>;
      const error = await inTask(loop, () =>
        new TaskGroup().run(async (g) => {
          t1 = g.createTask(() => sleep(1, 42));
          t2 = g.createTask(() => sleep(2, 11));
          if (awaitFirst) await sleep(0.1);
          throw new MyError("body");
        }).catch((e) => e));
      assert.deepEqual(errorTypes(error), new Set(["MyError"]));
      assert.equal(t1.cancelled(), true);
      assert.equal(t2.cancelled(), true);
    }
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup gathers an error raised by the body while being cancelled",
  async ({ loop }) => {
    const runner = loop.createTask(() =>
      new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.1));
        try {
          await sleep(10);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new MyError("in finally");
        }
      })
    );
    await assert.rejects(
      loop.runUntilComplete(runner),
      groupOf("MyError", "RangeError"),
    );
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup whose body error comes from a cleanup that also fails",
  async ({ loop }) => {
    // An async context manager whose exit raises, around a failing child:
    // two errors, and the parent is not left cancelled.
    await inTask(loop, async () => {
      const task = currentTask()!;
      const error = await new TaskGroup().run(async (tg) => {
        try {
          tg.createTask(async () => {
            throw new MyError("child");
          });
          await sleep(1);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new MyError("cleanup");
        }
      }).catch((e) => e);
      assert.equal(task.cancelling(), 0);
      assert.ok(error instanceof ExceptionGroup);
      assert.equal(error.exceptions.length, 2);
      assert.deepEqual(errorTypes(error), new Set(["MyError"]));
    });
  },
);

taskKindsTest(
  "TaskGroup whose body swallows the group's own cancel still raises the group",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let swallowed = false;
      await assert.rejects(
        new TaskGroup().run(async (g) => {
          g.createTask(() => crashAfter(0.01));
          try {
            await sleep(10);
          } catch {
            swallowed = true;
          }
        }),
        groupOf("RangeError"),
      );
      assert.equal(swallowed, true);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

taskKindsTest(
  "TaskGroup with children spawning children stops on the first error",
  async ({ loop }) => {
    let hydras = 0;
    await inTask(loop, async () => {
      await assert.rejects(
        new TaskGroup().run((g) => {
          const hydra = async (): Promise<void> => {
            hydras += 1;
            await sleep(0.01);
            g.createTask(hydra);
            g.createTask(hydra);
          };
          g.createTask(hydra);
          g.createTask(async () => {
            while (hydras < 10) await sleep(0.015);
            throw new RangeError("hercules");
          });
        }),
        groupOf("RangeError"),
      );
    });
    assert.ok(hydras >= 10);
  },
  { virtualOnly: true },
);

// ---- cancelled from outside -----------------------------------------------

taskKindsTest(
  "TaskGroup cancelled from outside while waiting cancels the children",
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
      runner.cancel();
      await assert.rejects(async () => await runner, CancelledError);
    });
    assert.equal(cancelled, 5);
    assert.equal(runner.cancelled(), true);
  },
);

taskKindsTest(
  "TaskGroup cancelled from outside during the body cancels body and children",
  async ({ loop }) => {
    let count = 0;
    const runner = loop.createTask(() =>
      new TaskGroup().run(async (g) => {
        for (let i = 0; i < 5; i++) {
          g.createTask(async () => {
            try {
              await sleep(5);
            } catch (e) {
              count += 1;
              throw e;
            }
          });
        }
        try {
          await sleep(10);
        } catch (e) {
          count += 10;
          throw e;
        }
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, CancelledError);
    });
    assert.equal(count, 15);
    assert.equal(runner.cancelling(), 1);
  },
);

taskKindsTest(
  "TaskGroup with no children, cancelled from outside, re-raises the cancel",
  async ({ loop }) => {
    let count = 0;
    const runner = loop.createTask(() =>
      new TaskGroup().run(async () => {
        try {
          await sleep(10);
        } catch (e) {
          count += 10;
          throw e;
        }
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, CancelledError);
    });
    assert.equal(count, 10);
  },
);

taskKindsTest(
  "TaskGroup cancelled from outside: children failing in cleanup win (3.13)",
  async ({ loop }) => {
    const runner = loop.createTask(() =>
      new TaskGroup().run(async (g) => {
        for (let i = 0; i < 5; i++) {
          g.createTask(async () => {
            try {
              await sleep(10);
            } finally {
              // deno-lint-ignore no-unsafe-finally
              throw new RangeError("cleanup");
            }
          });
        }
        await sleep(10);
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      assert.equal(runner.done(), false);
      runner.cancel();
      const error = await (async () => await runner)().catch((e) => e);
      assert.deepEqual(errorTypes(error), new Set(["RangeError"]));
      assert.equal((error as ExceptionGroup).exceptions.length, 5);
    });
    // The group re-cancelled its parent: the outer cancel is still counted.
    assert.equal(runner.cancelling(), 1);
  },
);

taskKindsTest(
  "TaskGroup cancelled from outside in the iteration its children fail",
  async ({ loop }) => {
    // The outer cancel reaches the body first, the children's errors are
    // collected while the exit waits: errors have priority (Python 3.13).
    const runner = loop.createTask(() =>
      new TaskGroup().run(async (g) => {
        for (let i = 0; i < 5; i++) g.createTask(() => crashAfter(0.1));
        await sleep(10);
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1); // due with the children, scheduled before them
      assert.equal(runner.done(), false);
      runner.cancel();
      await assert.rejects(async () => await runner, groupOf("RangeError"));
    });
    assert.equal(runner.cancelling(), 1);
  },
  { virtualOnly: true },
);

taskKindsTest(
  "nested TaskGroups cancelled from outside: the inner group's errors nest",
  async ({ loop }) => {
    for (const outerChild of [false, true]) {
      const runner = loop.createTask(() =>
        new TaskGroup().run(async (g1) => {
          if (outerChild) g1.createTask(() => sleep(10));
          await new TaskGroup().run(async (g2) => {
            for (let i = 0; i < 5; i++) {
              g2.createTask(async () => {
                try {
                  await sleep(10);
                } finally {
                  // deno-lint-ignore no-unsafe-finally
                  throw new RangeError("cleanup");
                }
              });
            }
            await sleep(10);
          });
        })
      );
      await inTask(loop, async () => {
        await sleep(0.1);
        runner.cancel();
        const error = await (async () => await runner)().catch((e) => e);
        assert.deepEqual(errorTypes(error), new Set(["ExceptionGroup"]));
        assert.deepEqual(
          errorTypes((error as ExceptionGroup).exceptions[0]),
          new Set(["RangeError"]),
        );
      });
      assert.equal(runner.cancelling(), 1);
    }
  },
);

taskKindsTest(
  "nested TaskGroups whose children both fail keep the cancel count exact",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const self = currentTask()!;
      let insideCount = -1;
      const error = await new TaskGroup().run(async (outerTg) => {
        await new TaskGroup().run((innerTg) => {
          innerTg.createTask(() => crashAfter(0, new RangeError("inner")));
          outerTg.createTask(() => crashAfter(0, new TypeError("outer")));
        }).then(
          () => assert.fail("the inner group did not fail"),
          (e) => assert.deepEqual(errorTypes(e), new Set(["RangeError"])),
        );
        // The outer group's cancel is still pending here.
        insideCount = self.cancelling();
      }).catch((e) => e);
      assert.deepEqual(errorTypes(error), new Set(["TypeError"]));
      assert.equal(insideCount, 1);
      assert.equal(self.cancelling(), 0);
      assert.equal(await sleep(0, "free"), "free");
    });
  },
);

taskKindsTest(
  "TaskGroup whose body turns the outer cancel into an error raises a group",
  async ({ loop }) => {
    let count = 0;
    const runner = loop.createTask(() =>
      new TaskGroup().run(async () => {
        try {
          await sleep(10);
        } catch {
          count += 10;
          throw new MyError("instead");
        }
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, groupOf("MyError"));
    });
    assert.equal(count, 10);
  },
);

taskKindsTest(
  "TaskGroup: a child error during an outer cancel raises the group (3.13)",
  async ({ loop }) => {
    // The body catches the outer cancel and takes a while; meanwhile a
    // child fails. Python 3.13 raises the ExceptionGroup (errors win) and
    // re-cancels the parent so the outer cancel is not lost.
    const runner = loop.createTask(() =>
      new TaskGroup().run(async (g1) => {
        g1.createTask(() => crashAfter(0.3));
        try {
          await sleep(10);
        } catch (e) {
          await sleep(0.5);
          throw e;
        }
      })
    );
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, groupOf("RangeError"));
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup in a task awaited by the cancelled task raises the group (3.13)",
  async ({ loop }) => {
    const nested = async () => {
      await new TaskGroup().run(async (g1) => {
        g1.createTask(() => crashAfter(0.3));
        try {
          await sleep(10);
        } catch (e) {
          await sleep(0.5);
          throw e;
        }
      });
    };
    const runner = loop.createTask(async () => {
      await createTask(nested);
    });
    await inTask(loop, async () => {
      await sleep(0.1);
      runner.cancel();
      await assert.rejects(async () => await runner, groupOf("RangeError"));
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "TaskGroup keeps an outer cancel pending after raising the group",
  async ({ loop }) => {
    // A child fails in the iteration where the outer task is cancelled:
    // the group is raised and the parent's next await is cancelled.
    const started = loop.createFuture<void>();
    let insideCount = -1;
    let afterCount = -1;
    let slept = false;
    const inner = loop.createTask(async () => {
      try {
        await new TaskGroup().run(async (tg) => {
          tg.createTask(async () => {
            started.setResult();
            await sleep(0);
            throw new MyError("child");
          });
          await sleep(1);
          assert.fail("the body's sleep should have been cancelled");
        });
      } catch (e) {
        assert.deepEqual(errorTypes(e), new Set(["MyError"]));
        insideCount = currentTask()!.cancelling();
      }
      afterCount = currentTask()!.cancelling();
      await sleep(1);
      slept = true;
    });
    await inTask(loop, async () => {
      await started;
      assert.equal(inner.cancelling(), 0);
      inner.cancel();
      assert.equal(inner.cancelling(), 1);
      await assert.rejects(async () => await inner, CancelledError);
    });
    assert.equal(insideCount, 1);
    assert.equal(afterCount, 1);
    assert.equal(slept, false);
    assert.equal(inner.cancelled(), true);
  },
);

// ---- nesting ---------------------------------------------------------------

taskKindsTest(
  "nested TaskGroups: an outer child error cancels the inner group",
  async ({ loop }) => {
    await inTask(loop, async () => {
      await assert.rejects(
        new TaskGroup().run(async (g1) => {
          g1.createTask(() => crashAfter(0.1));
          await new TaskGroup().run((g2) => {
            g2.createTask(() => crashAfter(10));
          });
        }),
        groupOf("RangeError"),
      );
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "nested TaskGroups: an inner child error nests a group in the outer one",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const error = await new TaskGroup().run(async (g1) => {
        g1.createTask(() => crashAfter(10));
        await new TaskGroup().run((g2) => {
          g2.createTask(() => crashAfter(0.1));
        });
      }).catch((e) => e);
      assert.deepEqual(errorTypes(error), new Set(["ExceptionGroup"]));
      assert.deepEqual(
        errorTypes((error as ExceptionGroup).exceptions[0]),
        new Set(["RangeError"]),
      );
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

// ---- with timeouts -------------------------------------------------------

taskKindsTest(
  "a timeout around a TaskGroup cancels the children and raises TimeoutError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let child!: Task<void>;
      await assert.rejects(
        timeout(0.1).run(() =>
          new TaskGroup().run(async (g) => {
            child = g.createTask(() => sleep(10));
            await sleep(10);
          })
        ),
        TimeoutError,
      );
      assert.equal(child.cancelled(), true);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

taskKindsTest(
  "a timeout around a TaskGroup that only waits for children",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let child!: Task<void>;
      await assert.rejects(
        timeout(0.05).run(() =>
          new TaskGroup().run((g) => {
            child = g.createTask(() => sleep(10));
          })
        ),
        TimeoutError,
      );
      assert.equal(child.cancelled(), true);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

taskKindsTest(
  "a timeout inside a TaskGroup body expires on its own",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const value = await new TaskGroup().run(async (g) => {
        const child = g.createTask(() => sleep(0.2, "child"));
        await assert.rejects(timeout(0.1).run(() => sleep(10)), TimeoutError);
        return await child;
      });
      assert.equal(value, "child");
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "a timeout that makes a TaskGroup child fail raises the group, nothing leaks",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(0.1);
      await assert.rejects(
        cm.run(() =>
          new TaskGroup().run(async (g) => {
            g.createTask(async () => {
              try {
                await sleep(10);
              } finally {
                // deno-lint-ignore no-unsafe-finally
                throw new RangeError("cleanup");
              }
            });
            await sleep(10);
          })
        ),
        groupOf("RangeError"),
      );
      assert.equal(cm.expired(), true);
      assert.equal(currentTask()!.cancelling(), 0);
      assert.equal(await sleep(0.01, "no leftover"), "no leftover");
    });
  },
);

taskKindsTest(
  "a timeout expiring while a failed TaskGroup waits: counts stay exact",
  async ({ loop }) => {
    // The group cancels its parent (1), the deadline cancels it again (2)
    // while the exit waits for a slow child: the group takes back its own,
    // re-cancels for the timeout's, and the timeout takes back its own.
    await inTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0.15);
      let siblingDone = false;
      await assert.rejects(
        cm.run(() =>
          new TaskGroup().run(async (g) => {
            g.createTask(() => crashAfter(0.1));
            g.createTask(async () => {
              try {
                await sleep(10);
              } catch {
                await sleep(0.2); // a slow cleanup, past the deadline
                siblingDone = true;
              }
            });
            await sleep(10);
          })
        ),
        groupOf("RangeError"),
      );
      assert.equal(siblingDone, true);
      assert.equal(cm.expired(), true);
      assert.ok(Math.abs(loop.time() - (t0 + 0.3)) < 1e-9);
      assert.equal(currentTask()!.cancelling(), 0);
      assert.equal(await sleep(0.01, "no leftover"), "no leftover");
    });
  },
  { virtualOnly: true },
);

taskKindsTest(
  "a timeout whose TaskGroup fails in cleanup raises the group",
  async ({ loop }) => {
    // Python 3.13's test_timeout_taskgroup: the deadline cancels a child
    // that crashes in its cleanup while the body is handling its own error.
    await inTask(loop, async () => {
      const error = await timeout(0.01).run(() =>
        new TaskGroup().run(async (tg) => {
          tg.createTask(async () => {
            try {
              await sleep(2);
            } finally {
              // deno-lint-ignore no-unsafe-finally
              throw new RangeError("crash in cleanup");
            }
          });
          try {
            throw new SyntaxError("body");
          } finally {
            await sleep(1);
          }
        })
      ).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup, `${error}`);
      // The cancelled sleep in the body's finally replaced its SyntaxError,
      // so the group holds the child's error alone.
      assert.deepEqual(errorTypes(error), new Set(["RangeError"]));
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

// ---- misuse ----------------------------------------------------------------

taskKindsTest(
  "TaskGroup.createTask() outside the group's life is a RuntimeError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const g = new TaskGroup();
      let ran = false;
      const work = async () => {
        ran = true;
      };
      assert.throws(() => g.createTask(work), /has not been entered/);
      await g.run(() => {});
      assert.throws(() => g.createTask(work), /is finished/);
      assert.throws(() => g.createTask(work), RuntimeError);
      await sleep(0);
      assert.equal(ran, false);
    });
  },
);

taskKindsTest("TaskGroup.run() twice is a RuntimeError", async ({ loop }) => {
  await inTask(loop, async () => {
    const g = new TaskGroup();
    await g.run(() => {});
    await assert.rejects(g.run(() => {}), /has already been entered/);
    const nested = new TaskGroup();
    await nested.run(async () => {
      await assert.rejects(nested.run(() => {}), /has already been entered/);
    });
  });
});

taskKindsTest(
  "TaskGroup.run() outside a task is a RuntimeError",
  async ({ loop }) => {
    const called = loop.createFuture<void>();
    let attempt: Promise<unknown> | null = null;
    loop.callSoon(() => {
      attempt = new TaskGroup().run(() => 1);
      called.setResult();
    });
    await inTask(loop, async () => {
      await called;
      await assert.rejects(attempt!, /cannot determine the parent task/);
    });
  },
);

Deno.test("TaskGroup.run() without a running loop is a RuntimeError", async () => {
  await assert.rejects(new TaskGroup().run(() => 1), RuntimeError);
});

taskKindsTest(
  "TaskGroup refuses a bad body or coroutine and stays usable",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const g = new TaskGroup();
      await assert.rejects(g.run("body" as unknown as () => void), TypeError);
      const value = await g.run(async (tg) => {
        assert.throws(
          () => tg.createTask(42 as unknown as () => Promise<void>),
          TypeError,
        );
        return await tg.createTask(async () => "usable");
      });
      assert.equal(value, "usable");
    });
  },
);

// ---- ExceptionGroup --------------------------------------------------------

Deno.test("ExceptionGroup holds its message and errors like Python's", () => {
  const a = new RangeError("a");
  const b = new TypeError("b");
  const eg = new ExceptionGroup("two problems", [a, b]);
  assert.ok(eg instanceof AggregateError);
  assert.ok(eg instanceof Error);
  assert.equal(eg.name, "ExceptionGroup");
  assert.equal(eg.message, "two problems");
  assert.deepEqual(eg.exceptions, [a, b]);
  assert.deepEqual(eg.errors, [a, b]);
  assert.ok(Object.isFrozen(eg.exceptions));
  const fromSet = new ExceptionGroup("set", new Set([a]));
  assert.deepEqual(fromSet.exceptions, [a]);
});

Deno.test("ExceptionGroup refuses a bad message or an empty list", () => {
  assert.throws(
    () => new ExceptionGroup(1 as unknown as string, [new Error()]),
    TypeError,
  );
  assert.throws(
    () => new ExceptionGroup("m", new Error() as unknown as Error[]),
    TypeError,
  );
  assert.throws(() => new ExceptionGroup("m", []), RangeError);
});

Deno.test("ExceptionGroup.split() and subgroup() follow nested groups", () => {
  const r1 = new RangeError("r1");
  const t1 = new TypeError("t1");
  const r2 = new RangeError("r2");
  const inner = new ExceptionGroup("inner", [r2, t1]);
  const eg = new ExceptionGroup("outer", [r1, inner]);
  eg.cause = "why";

  const [ranges, rest] = eg.split(RangeError);
  assert.ok(ranges !== null && rest !== null);
  assert.equal(ranges.message, "outer");
  assert.equal(ranges.cause, "why");
  assert.equal(ranges.exceptions[0], r1);
  const nestedRanges = ranges.exceptions[1] as ExceptionGroup;
  assert.equal(nestedRanges.message, "inner");
  assert.deepEqual(nestedRanges.exceptions, [r2]);
  assert.deepEqual(
    (rest.exceptions[0] as ExceptionGroup).exceptions,
    [t1],
  );

  assert.equal(eg.subgroup(Error), eg, "everything matches: the group itself");
  assert.equal(eg.subgroup(SyntaxError), null);
  assert.deepEqual(eg.split(SyntaxError), [null, eg]);
  assert.equal(eg.subgroup((e) => e === eg), eg);
  const byPredicate = eg.subgroup((e) => (e as Error).message === "t1");
  assert.deepEqual(
    (byPredicate!.exceptions[0] as ExceptionGroup).exceptions,
    [t1],
  );
  const byList = eg.subgroup([TypeError, SyntaxError]);
  assert.deepEqual((byList!.exceptions[0] as ExceptionGroup).exceptions, [t1]);
  assert.throws(() => eg.split(42 as unknown as typeof Error), TypeError);
});

taskKindsTest(
  "TaskGroup counts a child that throws null as failed",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const error = await new TaskGroup().run((tg) => {
        tg.createTask(async () => {
          throw null;
        });
      }).catch((e) => e);
      assert.ok(error instanceof ExceptionGroup);
      assert.deepEqual(error.exceptions, [null]);
    });
  },
);
