/**
 * Checks the part of asyncio's eager task and task group checks that no
 * other suite here covers. asyncio runs its whole `TaskGroup` suite twice,
 * with lazy tasks and with `eager_task_factory`; the suites here run it with
 * lazy tasks, so this file runs the same scenarios with `eagerTaskFactory`
 * set, where a child's first step (and a failure in it) happens inside
 * `TaskGroup.createTask()`: results and timing, a failing child cancelling
 * its siblings and the body, cancellation from outside, nested groups,
 * errors of the body, `KeyboardInterrupt`, refusals, names, and the
 * cancellation counts a group must leave exact. Scenarios no suite here had
 * with either task kind are checked too (with both kinds where eagerness
 * matters): a child that creates a failing task while it starts, a group
 * whose only child fails at once, a `createTask()` after a `run()` refused
 * for want of a parent task, and a task that opts out of the eager factory
 * with `eagerStart: false`.
 *
 * Every test runs on every loop kind (a few that depend on timers falling due
 * together run on the virtual clock only); times are exact on the virtual
 * clock.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  CancelledError,
  createTask,
  currentTask,
  eagerTaskFactory,
  Event,
  ExceptionGroup,
  KeyboardInterrupt,
  RuntimeError,
  sleep,
  Task,
  TaskGroup,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { inGuardedTask, type LoopFixture, loopTest } from "../_util.ts";

class MyError extends Error {
  override name = "MyError";
}

type TaskKind = "lazy" | "eager";

/**
 * Registers `fn` on every loop kind once per task kind in `kinds`: "eager"
 * sets `eagerTaskFactory` on the loop first.
 */
function groupTest(
  title: string,
  fn: (fx: LoopFixture) => Promise<void>,
  kinds: TaskKind[] = ["eager"],
  options: { virtualOnly?: boolean } = {},
): void {
  for (const kind of kinds) {
    loopTest(`${title} (${kind} tasks)`, async (fx) => {
      if (kind === "eager") fx.loop.setTaskFactory(eagerTaskFactory);
      await fn(fx);
    }, options);
  }
}

/** Asserts that `loop.time()` is `expected`: exactly on the virtual clock, at least on a real one. */
function assertTime(loop: AbstractEventLoop, expected: number): void {
  if (loop instanceof VirtualTimeEventLoop) {
    assert.equal(loop.time(), expected);
  } else {
    assert.ok(
      loop.time() >= expected - 0.002,
      `${loop.time()} < ${expected}`,
    );
  }
}

/** The errors of an `ExceptionGroup` (fails if `error` is not one). */
function errorsOf(error: unknown): unknown[] {
  assert.ok(error instanceof ExceptionGroup, `not a group: ${error}`);
  return [...error.exceptions];
}

/** The class names of a group's errors, as a set. */
function typesOf(error: unknown): Set<string> {
  return new Set(errorsOf(error).map((e) => (e as Error).constructor.name));
}

async function crashAfter(delay: number, error: unknown): Promise<never> {
  await sleep(delay);
  throw error;
}

/** Awaits `task` and returns what it rejected with (fails if it resolved). */
async function failureOf(task: PromiseLike<unknown>): Promise<unknown> {
  try {
    await task;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

// ---- the normal path, with eager children -------------------------------------

groupTest(
  "TaskGroup waits for children made before and after an await, one cancelled on its own",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      const steps: string[] = [];
      let a!: Task<number>;
      let b!: Task<number>;
      let c!: Task<string>;
      await new TaskGroup().run(async (g) => {
        a = g.createTask(async () => {
          steps.push("a starts");
          return await sleep(0.01, 42);
        });
        // The first step ran inside createTask().
        assert.deepEqual(steps, ["a starts"]);
        c = g.createTask(() => sleep(1, "never"));
        await sleep(0.015);
        c.cancel();
        b = g.createTask(() => sleep(0.02, 11));
        assert.equal(b.done(), false);
      });
      assert.equal(a.result(), 42);
      assert.equal(b.result(), 11);
      assert.equal(c.cancelled(), true);
      assertTime(loop, t0 + 0.015 + 0.02);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

groupTest(
  "TaskGroup lets a child add tasks to the group while the exit waits",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      const done: number[] = [];
      await new TaskGroup().run((g) => {
        g.createTask(async () => {
          await sleep(0.01);
          for (const delay of [0.01, 0.02]) {
            g.createTask(async () => {
              await sleep(delay);
              done.push(delay);
            });
          }
        });
      });
      assert.deepEqual(done, [0.01, 0.02]);
      assertTime(loop, t0 + 0.01 + 0.02);
    });
  },
);

groupTest(
  "TaskGroup counts its live tasks in its description as eager children finish",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const g = new TaskGroup();
      await g.run(async () => {
        for (let count = 0; count < 10; count++) {
          await sleep(0.1);
          g.createTask(() => sleep(0.3));
          if (count === 5) {
            assert.match(String(g), /^<TaskGroup tasks=[1-4] entered>$/);
          }
        }
        await sleep(1.35);
        assert.equal(String(g), "<TaskGroup entered>");
      });
    });
  },
  ["eager"],
  { virtualOnly: true },
);

groupTest(
  "TaskGroup: the name given to createTask() is the child's in its eager step",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const seen: string[] = [];
      await new TaskGroup().run((g) => {
        const t = g.createTask(async () => {
          seen.push(currentTask()!.getName());
          await sleep(0);
        }, { name: "example name" });
        assert.deepEqual(seen, ["example name"]);
        assert.equal(t.getName(), "example name");
      });
    });
  },
);

// ---- a failing child ---------------------------------------------------------

groupTest(
  "TaskGroup: a failing child cancels its siblings and the body, and the block's next statement never runs",
  async ({ loop }) => {
    const log: string[] = [];
    let sibling!: Task<void>;
    const runner = loop.createTask(async () => {
      await new TaskGroup().run(async (g) => {
        for (let i = 0; i < 3; i++) {
          g.createTask(() => crashAfter(0.01, new RangeError(`child ${i}`)));
        }
        sibling = g.createTask(async () => {
          try {
            await sleep(5);
          } catch (e) {
            log.push("sibling cancelled");
            throw e;
          }
          log.push("sibling finished");
        });
        try {
          await sleep(10);
        } catch (e) {
          log.push(e instanceof CancelledError ? "body cancelled" : "body?");
          throw e;
        }
      });
      log.push("after the block");
    });
    const error = await loop.runUntilComplete(runner).catch((e) => e);
    // On a busy real clock the three crashes may straddle the abort.
    assert.deepEqual(typesOf(error), new Set(["RangeError"]));
    if (loop instanceof VirtualTimeEventLoop) {
      assert.equal(errorsOf(error).length, 3);
    }
    assert.deepEqual(log.toSorted(), ["body cancelled", "sibling cancelled"]);
    assert.equal(sibling.cancelled(), true);
    assert.equal(runner.cancelling(), 0);
  },
);

groupTest(
  "TaskGroup: a body error, before or after an await, cancels the children and is grouped",
  async ({ loop }) => {
    for (const awaitFirst of [true, false]) {
      let t1!: Task<number>;
      let t2!: Task<number>;
      const error = await inGuardedTask(
        loop,
        () =>
          new TaskGroup().run(async (g) => {
            t1 = g.createTask(() => sleep(1, 42));
            t2 = g.createTask(() => sleep(2, 11));
            if (awaitFirst) await sleep(0.01);
            throw new MyError("body");
          }).catch((e) => e),
      );
      assert.deepEqual(typesOf(error), new Set(["MyError"]));
      assert.equal(t1.cancelled(), true);
      assert.equal(t2.cancelled(), true);
    }
  },
);

groupTest(
  "TaskGroup: a body error raised in a finally while a child fails groups both, the child's first",
  async ({ loop }) => {
    const child = new RangeError("child");
    for (const bodyError of [new MyError("body"), new TypeError("body")]) {
      const runner = loop.createTask(() =>
        new TaskGroup().run(async (g) => {
          g.createTask(() => crashAfter(0.01, child));
          const nested = async () => {
            try {
              await sleep(10);
            } finally {
              // deno-lint-ignore no-unsafe-finally
              throw bodyError;
            }
          };
          await nested();
        })
      );
      const error = await failureOf(loop.runUntilComplete(runner));
      assert.deepEqual(errorsOf(error), [child, bodyError]);
      assert.equal(runner.cancelling(), 0);
    }
  },
);

groupTest(
  "TaskGroup: a KeyboardInterrupt the body raises while a child fails leaves as itself",
  async (fx) => {
    const interrupt = new KeyboardInterrupt();
    const child = new RangeError("child");
    await inGuardedTask(fx.loop, async () => {
      const error = await new TaskGroup().run(async (g) => {
        g.createTask(() => crashAfter(0.01, child));
        try {
          await sleep(10);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw interrupt;
        }
      }).catch((e) => e);
      assert.equal(error, interrupt);
      assert.equal(currentTask()!.cancelling(), 0);
    });
    // The child's error is not lost: the loop's exception handler has it.
    const reported = fx.takeErrors();
    assert.deepEqual(reported.map((c) => c.exception), [child]);
  },
);

groupTest(
  "TaskGroup: a cleanup around the body that fails adds its error to the child's, and the count is 0",
  async ({ loop }) => {
    const runner = loop.createTask(async () => {
      const task = currentTask()!;
      const error = await new TaskGroup().run(async (tg) => {
        try {
          const child = tg.createTask(async () => {
            throw new MyError("child");
          });
          // An eager child that fails at once is done already.
          assert.equal(child.done(), true);
          await sleep(1);
        } finally {
          // deno-lint-ignore no-unsafe-finally
          throw new MyError("cleanup");
        }
      }).catch((e) => e);
      assert.equal(task.cancelling(), 0);
      assert.deepEqual(
        errorsOf(error).map((e) => (e as Error).message),
        ["child", "cleanup"],
      );
    });
    await loop.runUntilComplete(runner);
  },
);

groupTest(
  "TaskGroup.createTask() from a child being cancelled after a failure is refused, unstarted",
  async ({ loop }) => {
    let refused: unknown = null;
    let started = false;
    await inGuardedTask(loop, async () => {
      const error = await new TaskGroup().run((g) => {
        g.createTask(() => crashAfter(0.001, new RangeError("boom")));
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
      }).catch((e) => e);
      assert.deepEqual(typesOf(error), new Set(["RangeError"]));
    });
    assert.ok(refused instanceof RuntimeError);
    assert.match((refused as Error).message, /is shutting down/);
    assert.equal(started, false);
  },
);

groupTest(
  "TaskGroup.createTask() refused before the group starts or after it finished does not run the eager step",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      let runs = 0;
      const work = async () => {
        runs++;
      };
      const g = new TaskGroup();
      assert.throws(() => g.createTask(work), /has not been entered/);
      await g.run(() => {});
      assert.throws(() => g.createTask(work), /is finished/);
      assert.equal(runs, 0);
      await sleep(0);
      assert.equal(runs, 0);
    });
  },
);

groupTest(
  "TaskGroup with children spawning children stops on the first error",
  async ({ loop }) => {
    let hydras = 0;
    await inGuardedTask(loop, async () => {
      const error = await new TaskGroup().run((g) => {
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
      }).catch((e) => e);
      assert.deepEqual(typesOf(error), new Set(["RangeError"]));
    });
    assert.ok(hydras >= 10);
  },
  ["eager"],
  { virtualOnly: true },
);

// ---- cancelled from outside --------------------------------------------------

groupTest(
  "TaskGroup cancelled from outside cancels body and children and ends cancelled, with the message",
  async ({ loop }) => {
    for (const bodyWaits of [true, false]) {
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
          if (!bodyWaits) return;
          try {
            await sleep(10);
          } catch (e) {
            count += 10;
            throw e;
          }
        })
      );
      await inGuardedTask(loop, async () => {
        await sleep(0.01);
        assert.equal(runner.done(), false);
        runner.cancel("test");
        const error = await failureOf(runner);
        assert.ok(error instanceof CancelledError);
        assert.equal(error.message, "test");
      });
      assert.equal(count, bodyWaits ? 15 : 5);
      assert.equal(runner.cancelled(), true);
    }
  },
);

groupTest(
  "TaskGroup with no children cancelled from outside: the body's cancel, or the error it turns it into",
  async ({ loop }) => {
    for (const turnIntoError of [false, true]) {
      let count = 0;
      const runner = loop.createTask(() =>
        new TaskGroup().run(async () => {
          try {
            await sleep(10);
          } catch (e) {
            count += 10;
            if (turnIntoError) throw new MyError("instead");
            throw e;
          }
        })
      );
      await inGuardedTask(loop, async () => {
        await sleep(0.01);
        runner.cancel();
        const error = await failureOf(runner);
        if (turnIntoError) {
          assert.deepEqual(typesOf(error), new Set(["MyError"]));
        } else assert.ok(error instanceof CancelledError);
      });
      assert.equal(count, 10);
    }
  },
);

groupTest(
  "TaskGroup cancelled from outside whose children fail in cleanup raises their group",
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
    await inGuardedTask(loop, async () => {
      await sleep(0.01);
      runner.cancel();
      const error = await failureOf(runner);
      assert.deepEqual(typesOf(error), new Set(["RangeError"]));
      assert.equal(errorsOf(error).length, 5);
    });
    // The outer cancel is still counted.
    assert.equal(runner.cancelling(), 1);
  },
);

groupTest(
  "nested TaskGroups cancelled from outside: the inner children's cleanup errors nest in the outer group",
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
      await inGuardedTask(loop, async () => {
        await sleep(0.01);
        assert.equal(runner.done(), false);
        runner.cancel();
        const error = await failureOf(runner);
        assert.deepEqual(typesOf(error), new Set(["ExceptionGroup"]));
        assert.deepEqual(
          typesOf(errorsOf(error)[0]),
          new Set(["RangeError"]),
        );
      });
      assert.equal(runner.cancelling(), 1);
    }
  },
);

groupTest(
  "TaskGroup: a child failing while the body handles an outer cancel raises the group, directly or in an awaited task",
  async ({ loop }) => {
    for (const inAwaitedTask of [false, true]) {
      const body = () =>
        new TaskGroup().run(async (g1) => {
          g1.createTask(() => crashAfter(0.05, new RangeError("soon")));
          try {
            await sleep(10);
          } catch (e) {
            await sleep(0.15);
            throw e;
          }
        });
      const runner = loop.createTask(async () => {
        if (inAwaitedTask) await createTask(body);
        else await body();
      });
      const t0 = loop.time();
      await inGuardedTask(loop, async () => {
        await sleep(0.01);
        assert.equal(runner.done(), false);
        runner.cancel();
        const error = await failureOf(runner);
        assert.deepEqual(typesOf(error), new Set(["RangeError"]));
      });
      // The child's failure cut the body's cleanup sleep short.
      assertTime(loop, t0 + 0.05);
    }
  },
);

// ---- nesting -----------------------------------------------------------------

groupTest(
  "nested TaskGroups: the first child to fail decides whether the inner group nests",
  async ({ loop }) => {
    for (const outerFirst of [true, false]) {
      const runner = loop.createTask(() =>
        new TaskGroup().run(async (g1) => {
          g1.createTask(() =>
            crashAfter(outerFirst ? 0.01 : 10, new RangeError("outer"))
          );
          await new TaskGroup().run((g2) => {
            g2.createTask(() =>
              crashAfter(outerFirst ? 10 : 0.01, new RangeError("inner"))
            );
          });
        })
      );
      const error = await failureOf(loop.runUntilComplete(runner));
      if (outerFirst) {
        assert.deepEqual(typesOf(error), new Set(["RangeError"]));
      } else {
        assert.deepEqual(typesOf(error), new Set(["ExceptionGroup"]));
        assert.deepEqual(
          typesOf(errorsOf(error)[0]),
          new Set(["RangeError"]),
        );
      }
      assert.equal(runner.cancelling(), 0);
    }
  },
);

groupTest(
  "nested TaskGroups whose children both fail after sleep(0) keep the cancel count exact",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const self = currentTask()!;
      let insideCount = -1;
      const error = await new TaskGroup().run(async (outerTg) => {
        const inner = await new TaskGroup().run((innerTg) => {
          innerTg.createTask(() => crashAfter(0, new RangeError("inner")));
          outerTg.createTask(() => crashAfter(0, new TypeError("outer")));
        }).catch((e) => e);
        assert.deepEqual(typesOf(inner), new Set(["RangeError"]));
        insideCount = self.cancelling();
      }).catch((e) => e);
      assert.deepEqual(typesOf(error), new Set(["TypeError"]));
      assert.equal(insideCount, 1);
      assert.equal(self.cancelling(), 0);
      assert.equal(await sleep(0, "free"), "free");
    });
  },
);

// ---- cancellation counts -----------------------------------------------------

groupTest(
  "TaskGroup whose only child fails at once leaves the parent uncancelled for its next await",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      for (const delay of [null, 0]) {
        const error = await new TaskGroup().run((tg) => {
          tg.createTask(async () => {
            if (delay !== null) await sleep(delay);
            throw new MyError("at once");
          });
        }).catch((e) => e);
        assert.deepEqual(typesOf(error), new Set(["MyError"]));
        assert.equal(currentTask()!.cancelling(), 0);
        // A cancellation left over would strike here.
        assert.equal(await sleep(0, "not cancelled"), "not cancelled");
      }
    });
  },
  ["lazy", "eager"],
);

groupTest(
  "TaskGroup: a task cancelled while its group fails sees the group, then its next await is cancelled",
  async ({ loop }) => {
    const event = new Event();
    const log: string[] = [];
    const inner = async () => {
      try {
        await new TaskGroup().run(async (tg) => {
          tg.createTask(async () => {
            event.set();
            await sleep(0);
            throw new RuntimeError("child");
          });
          await sleep(1);
          log.push("the body's sleep was not cancelled");
        });
      } catch (e) {
        assert.deepEqual(typesOf(e), new Set(["RuntimeError"]));
        log.push(`caught the group, cancelling=${currentTask()!.cancelling()}`);
      }
      log.push(`after the group, cancelling=${currentTask()!.cancelling()}`);
      await sleep(1);
      log.push("the sleep after the group was not cancelled");
    };
    await inGuardedTask(loop, async () => {
      const t = createTask(inner);
      await event.wait();
      assert.equal(t.cancelling(), 0);
      t.cancel();
      assert.equal(t.cancelling(), 1);
      await assert.rejects(async () => await t, CancelledError);
      assert.equal(t.cancelled(), true);
    });
    assert.deepEqual(log, [
      "caught the group, cancelling=1",
      "after the group, cancelling=1",
    ]);
  },
);

groupTest(
  "TaskGroup: a child that creates a failing task while it starts is cancelled at its next yield, and the group has the error",
  async ({ loop }) => {
    let ran = false;
    const log: string[] = [];
    await inGuardedTask(loop, async () => {
      const error = await new TaskGroup().run((tg) => {
        const third = async () => {
          throw new MyError("third task failed");
        };
        tg.createTask(async () => {
          tg.createTask(third);
          try {
            await sleep(0); // eager tasks are cancelled here
            log.push("first yield");
            await sleep(0); // lazy tasks are cancelled here
            log.push("second yield");
          } catch (e) {
            assert.ok(e instanceof CancelledError);
            ran = true;
          }
        });
      }).catch((e) => e);
      assert.equal(ran, true);
      assert.deepEqual(errorsOf(error).map((e) => (e as Error).message), [
        "third task failed",
      ]);
      assert.equal(currentTask()!.cancelling(), 0);
    });
    assert.deepEqual(
      log,
      loop.getTaskFactory() === eagerTaskFactory ? [] : ["first yield"],
    );
  },
  ["lazy", "eager"],
);

// ---- misuse ------------------------------------------------------------------

loopTest(
  "TaskGroup.createTask() after a run() refused for want of a parent task says the group was not entered",
  async ({ loop }) => {
    const g = new TaskGroup();
    const called = loop.createFuture<void>();
    let attempt: Promise<unknown> | null = null;
    loop.callSoon(() => {
      attempt = g.run(() => 1);
      called.setResult();
    });
    await inGuardedTask(loop, async () => {
      await called;
      await assert.rejects(attempt!, /parent task/);
      let started = false;
      assert.throws(
        () =>
          g.createTask(async () => {
            started = true;
          }),
        (e) =>
          e instanceof RuntimeError && /has not been entered/.test(e.message),
      );
      await sleep(0);
      assert.equal(started, false);
    });
  },
);

// ---- opting out of the eager factory -------------------------------------------

loopTest(
  "with eagerTaskFactory set, a Task built with eagerStart: false starts on the loop, under its name",
  async ({ loop }) => {
    loop.setTaskFactory(eagerTaskFactory);
    await inGuardedTask(loop, async () => {
      let name: string | null = null;
      const t = new Task(async () => {
        name = currentTask()!.getName();
      }, { loop, eagerStart: false, name: "example" });
      assert.equal(t.done(), false);
      assert.equal(name, null);
      await t;
      assert.equal(name, "example");
    });
  },
);
