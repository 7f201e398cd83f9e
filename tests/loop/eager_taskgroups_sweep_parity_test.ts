/**
 * Checks of asyncio's eager task and task group checks that no other suite
 * here makes. (asyncio runs its whole `TaskGroup` suite twice, with lazy tasks
 * and with `eager_task_factory`; taskgroups_test.ts and
 * taskgroup_parity_test.ts do the same through `taskKindsTest`.) Here: what
 * only eager children show (the group's description counting them as they
 * finish, a child's name in its eager step, a refused `createTask()` never
 * running the eager step), and scenarios no suite had with either task kind
 * (with both kinds where eagerness matters): a child that creates a failing
 * task while it starts, a group whose only child fails at once, a
 * `createTask()` after a `run()` refused for want of a parent task, and a
 * task that opts out of the eager factory with `eagerStart: false`.
 *
 * Every test runs on every loop kind; times are exact on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  currentTask,
  eagerTaskFactory,
  ExceptionGroup,
  RuntimeError,
  sleep,
  Task,
  TaskGroup,
} from "../../mod.ts";
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

/** The errors of an `ExceptionGroup` (fails if `error` is not one). */
function errorsOf(error: unknown): unknown[] {
  assert.ok(error instanceof ExceptionGroup, `not a group: ${error}`);
  return [...error.exceptions];
}

/** The class names of a group's errors, as a set. */
function typesOf(error: unknown): Set<string> {
  return new Set(errorsOf(error).map((e) => (e as Error).constructor.name));
}

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
