/**
 * Checks the behaviour of futures, tasks and the task functions that a sweep
 * of asyncio's own future and task suites found no other suite here checking:
 * what a future or task binds to without a running loop, what bad arguments
 * and misuse say, which outcomes are (not) reported as never retrieved, a
 * `KeyboardInterrupt` raised while a task handles its cancellation, a
 * `wait()` whose timeout falls due with a task, a gather cancelled from a
 * child's done callback, debug-mode descriptions, and the documented
 * difference of a coroutine that returns a future. Every test runs on every
 * loop kind; times are exact on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  asCompleted,
  DefaultEventLoopPolicy,
  ensureFuture,
  Future,
  gather,
  InvalidStateError,
  KeyboardInterrupt,
  RuntimeError,
  setEventLoop,
  shield,
  sleep,
  Task,
  wait,
} from "../../mod.ts";
import { useEventLoopPolicy } from "../../testing/mod.ts";
import { inGuardedTask, LOOPS, loopTest } from "../_util.ts";

/** A validator for `assert.throws`: an instance of `type` whose message matches `re`. */
function errorLike(type: new (...args: never[]) => Error, re: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof type, `not a ${type.name}: ${error}`);
    assert.match(error.message, re);
    return true;
  };
}

/** Runs `fn` with a fresh default policy whose current loop is `loop`. */
function withCurrentLoop(
  loop: AbstractEventLoop | null,
  fn: () => void,
): void {
  using _policy = useEventLoopPolicy(new DefaultEventLoopPolicy());
  setEventLoop(loop);
  fn();
}

// ---- Futures and tasks outside a running loop -------------------------------

loopTest(
  "new Future() and ensureFuture() outside a running loop bind to the current loop set with setEventLoop()",
  async ({ loop }) => {
    let fut: Future<number> | undefined;
    let task: Future<string> | undefined;
    withCurrentLoop(loop, () => {
      fut = new Future<number>();
      task = ensureFuture(async () => "ok");
    });
    assert.equal(fut!.getLoop(), loop);
    assert.equal(task!.getLoop(), loop);
    assert.ok(task instanceof Task);
    fut!.setResult(7);
    assert.equal(await loop.runUntilComplete(fut!), 7);
    assert.equal(await loop.runUntilComplete(task!), "ok");
  },
);

Deno.test("new Future(), ensureFuture(), gather(), shield() and asCompleted() with no current loop throw RuntimeError", () => {
  withCurrentLoop(null, () => {
    const noLoop = errorLike(RuntimeError, /no current event loop/i);
    assert.throws(() => new Future(), noLoop);
    let started = false;
    const work = async () => {
      started = true;
      return 1;
    };
    assert.throws(() => ensureFuture(work), noLoop);
    assert.throws(() => gather(), noLoop);
    assert.throws(() => gather(work, work), noLoop);
    assert.throws(() => shield(work), noLoop);
    assert.throws(() => [...asCompleted([work])], noLoop);
    assert.equal(started, false);
  });
});

Deno.test("gather() of futures of a loop that is not running binds to their loop", async () => {
  for (const [kind, make] of LOOPS) {
    const other = make();
    try {
      const children = [0, 1, 2].map(() => other.createFuture<number>());
      const first = gather(...children);
      const second = gather(...children);
      assert.equal(first.getLoop(), other, kind);
      assert.equal(second.getLoop(), other, kind);
      children.forEach((child, i) => child.setResult(i));
      assert.deepEqual(await other.runUntilComplete(first), [0, 1, 2]);
      assert.deepEqual(await other.runUntilComplete(second), [0, 1, 2]);
    } finally {
      other.close();
    }
  }
});

// ---- Bad arguments and misuse -------------------------------------------------

loopTest(
  "new Future() with a non-object argument throws TypeError",
  ({ loop }) => {
    for (const bad of [42, "loop", true]) {
      assert.throws(
        () => new Future(bad as never),
        errorLike(TypeError, /options/),
        String(bad),
      );
    }
    // An options object (or nothing) is accepted.
    assert.equal(new Future({ loop }).getLoop(), loop);
  },
);

loopTest(
  "new Task() and createTask() with a non-coroutine name what they got, every time",
  ({ loop }) => {
    for (let i = 0; i < 2; i++) {
      assert.throws(
        () => new Task(123 as never, { loop }),
        errorLike(TypeError, /a coroutine was expected.*got 123/),
      );
      assert.throws(
        () => loop.createTask(123 as never),
        errorLike(TypeError, /a coroutine was expected.*got 123/),
      );
    }
  },
);

loopTest(
  "Task.setResult() and setException() say that a task does not support them",
  async ({ loop }) => {
    const task = loop.createTask(async () => "ko");
    assert.throws(
      () => task.setResult("ok"),
      errorLike(RuntimeError, /Task does not support setResult/),
    );
    assert.throws(
      () => task.setException(new Error("no")),
      errorLike(RuntimeError, /Task does not support setException/),
    );
    assert.equal(await loop.runUntilComplete(task), "ko");
  },
);

loopTest(
  "a task awaiting a future of another loop fails with a RuntimeError naming the task and the future",
  async ({ loop, make }) => {
    const other = make();
    try {
      const foreign = other.createFuture<void>();
      const task = loop.createTask(async () => {
        await foreign;
      }, { name: "Mixer" });
      await assert.rejects(
        loop.runUntilComplete(task),
        errorLike(
          RuntimeError,
          /Task .*Mixer.* got Future .*<Future pending.*> attached to a different loop/,
        ),
      );
      foreign.cancel();
    } finally {
      other.close();
    }
  },
);

loopTest(
  "Future.prototype.setException() forced on a task: the task keeps that error and the step reports the clash",
  async (fx) => {
    const { loop } = fx;
    let ran = false;
    const task = loop.createTask(async () => {
      ran = true;
      await sleep(0.1);
      return 10;
    });
    class Forced extends Error {}
    const forced = new Forced("forced");
    Future.prototype.setException.call(task, forced);
    await assert.rejects(loop.runUntilComplete(task), (e) => e === forced);
    await loop.runUntilComplete(() => sleep(0));
    assert.equal(ran, false);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.ok(errors[0].exception instanceof InvalidStateError);
    assert.match(String(errors[0].exception), /already done/);
  },
);

// ---- What is (not) reported as never retrieved --------------------------------

loopTest(
  "closing the loop reports neither a future whose result nobody read nor one left pending",
  ({ loop }) => {
    const withResult = loop.createFuture<number>();
    withResult.setResult(42);
    const readResult = loop.createFuture<number>();
    readResult.setResult(42);
    assert.equal(readResult.result(), 42);
    const abandoned = loop.createFuture<number>();
    assert.equal(abandoned.done(), false);
    loop.close();
    // loopTest fails the test if the exception handler saw anything.
  },
);

loopTest(
  "a failed task that is cancelled afterwards is not reported as never retrieved",
  async ({ loop }) => {
    const failing = loop.createTask(async () => {
      throw new TypeError("ignored on purpose");
    });
    await loop.runUntilComplete(async () => {
      await sleep(0.05);
      assert.equal(failing.done(), true);
      assert.equal(failing.cancel(), false);
    });
    assert.equal(failing.cancelled(), false);
    loop.close();
  },
);

// ---- Cancellation --------------------------------------------------------------

loopTest(
  "a task that raises KeyboardInterrupt while handling its cancellation ends the run with it and is not cancelled",
  async ({ loop }) => {
    const interrupt = new KeyboardInterrupt();
    const task = loop.createTask(async () => {
      try {
        await sleep(10);
      } catch {
        throw interrupt;
      }
    });
    await loop.runUntilComplete(() => sleep(0));
    assert.equal(task.cancel(), true);
    assert.equal(task.done(), false);
    await assert.rejects(
      loop.runUntilComplete(() => sleep(5)),
      (e) => e === interrupt,
    );
    assert.equal(task.done(), true);
    assert.equal(task.cancelled(), false);
    assert.equal(task.exception(), interrupt);
  },
);

loopTest(
  "gather().cancel() from a child's done callback, once every child is done, is refused and the gather keeps its result",
  async ({ loop }) => {
    const fut = loop.createFuture<number>();
    let gathering!: Future<unknown[]>;
    await inGuardedTask(loop, async () => {
      gathering = gather(async () => await fut);
    });
    let cancelResult: boolean | undefined;
    fut.addDoneCallback(() => {
      cancelResult = gathering.cancel();
    });
    fut.setResult(42);
    assert.deepEqual(await loop.runUntilComplete(gathering), [42]);
    assert.equal(cancelResult, false);
    assert.equal(gathering.cancelled(), false);
  },
);

// ---- wait() timing ---------------------------------------------------------------

loopTest(
  "wait() with a timeout equal to a task's sleep counts that task done, and returns at that time",
  async ({ loop }) => {
    const a = loop.createTask(() => sleep(0.1));
    const b = loop.createTask(() => sleep(0.15));
    const start = loop.time();
    const [done, pending] = await loop.runUntilComplete(() =>
      wait([b, a], { timeout: 0.1 })
    );
    assert.deepEqual([...done], [a]);
    assert.deepEqual([...pending], [b]);
    if ((loop as { advance?: unknown }).advance) {
      assert.equal(loop.time() - start, 0.1);
    }
    await loop.runUntilComplete(() => wait([a, b]));
  },
);

// ---- Descriptions ------------------------------------------------------------------

loopTest(
  "in debug mode a future's and a task's description says where it was created",
  async ({ loop }) => {
    loop.setDebug(true);
    const fut = loop.createFuture<void>();
    const task = loop.createTask(() => sleep(0));
    assert.match(
      String(fut),
      /^<Future pending created at .*tasks_sweep_parity_test\.ts:\d+(:\d+)?>$/,
    );
    assert.match(
      String(task),
      /^<Task pending name="Task-\d+" coro=.* created at .*tasks_sweep_parity_test\.ts:\d+(:\d+)?>$/,
    );
    fut.cancel();
    assert.equal(
      String(fut),
      "<Future cancelled created at " +
        String(fut).split(" created at ")[1],
    );
    await loop.runUntilComplete(task);
    loop.setDebug(false);
    const quiet = loop.createFuture<void>();
    assert.equal(String(quiet), "<Future pending>");
    quiet.cancel();
  },
);

// ---- Documented differences -----------------------------------------------------

loopTest(
  "a coroutine that returns a future resolves with that future's result (JavaScript adopts thenables)",
  async ({ loop }) => {
    const fut = loop.createFuture<string>();
    const t1 = loop.createTask(async () => fut);
    const t2 = loop.createTask(async () => {
      fut.setResult("test");
    });
    // asyncio's task would return the future itself; an async function's
    // promise adopts it instead (docs/differences.md).
    assert.equal(await loop.runUntilComplete(t1), "test");
    assert.equal(t2.result(), undefined);
  },
);
