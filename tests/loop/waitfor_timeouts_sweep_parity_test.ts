/**
 * Checks of `timeout()`/`Timeout` that a method-by-method sweep of asyncio's
 * wait_for and timeout checks (CPython 3.13/3.14) found no other suite here
 * making: the `cause` of the `TimeoutError` when the deadline's cancellation
 * replaced the body's own error or came with no time given at all, the two
 * distinct causes of a timeout that expires in the `finally` of another, a
 * refused entry outside a task leaving the Timeout unentered, and a deadline
 * that cuts a `TaskGroup` short while a child fails in its cleanup (the
 * `ExceptionGroup` passes through, the deadline's cancel is taken back and
 * no cancellation is left pending). Everything else in those checks is
 * covered by timeouts_test.ts, timeouts_parity_test.ts, combinators_test.ts
 * and sync_parity_test.ts, or is about Python's implicit exception context.
 * Every test runs on every loop kind; times are exact on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  currentTask,
  ExceptionGroup,
  sleep,
  TaskGroup,
  type Timeout,
  timeout,
  TimeoutError,
} from "../../mod.ts";
import { caught, exact, inGuardedTask, loopTest, near } from "../_util.ts";

// ---- the cause of TimeoutError -----------------------------------------------

loopTest(
  "a body error replaced by the deadline's cancellation in its finally ends in TimeoutError caused by that cancellation",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cm = timeout(0.01);
      let inFinally: unknown;
      const error = await caught(() =>
        cm.run(async () => {
          try {
            throw new RangeError("the body's own");
          } finally {
            await sleep(1).catch((e) => {
              inFinally = e;
              throw e;
            });
          }
        })
      );
      assert.ok(error instanceof TimeoutError, String(error));
      assert.ok(inFinally instanceof CancelledError, String(inFinally));
      assert.equal(error.cause, inFinally);
      assert.equal(cm.expired(), true);
      assert.equal(currentTask()!.cancelling(), 0);
      if (exact(loop)) assert.equal(loop.time(), cm.when());
    });
  },
);

loopTest(
  "timeout(0) raises TimeoutError caused by a CancelledError, at once",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0);
      const error = await caught(() => cm.run(() => sleep(1)));
      assert.ok(error instanceof TimeoutError, String(error));
      assert.ok(error.cause instanceof CancelledError, String(error.cause));
      assert.ok(!(error.cause instanceof TimeoutError));
      assert.equal(cm.expired(), true);
      if (exact(loop)) assert.equal(loop.time(), t0);
    });
  },
);

loopTest(
  "a timeout expiring in the finally of an expired one: two TimeoutErrors, each caused by its own CancelledError",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      let innerError: unknown;
      const outerError = await caught(() =>
        timeout(0.01).run(async () => {
          try {
            await sleep(1);
          } finally {
            innerError = await caught(() => timeout(0.01).run(() => sleep(10)));
          }
        })
      );
      assert.ok(outerError instanceof TimeoutError, String(outerError));
      assert.ok(innerError instanceof TimeoutError, String(innerError));
      assert.ok(outerError.cause instanceof CancelledError, "outer cause");
      assert.ok(innerError.cause instanceof CancelledError, "inner cause");
      assert.notEqual(innerError.cause, outerError.cause);
      assert.equal(currentTask()!.cancelling(), 0);
      if (exact(loop)) near(loop.time() - t0, 0.02);
    });
  },
);

// ---- entry -------------------------------------------------------------------

loopTest(
  "Timeout.run() refused outside a task leaves the Timeout not entered, and usable",
  async ({ loop }) => {
    let cm: Timeout | null = null;
    let attempt: Promise<unknown> | null = null;
    let reschedule: unknown = null;
    const called = loop.createFuture<void>();
    loop.callSoon(() => {
      cm = timeout(0.01);
      attempt = cm.run(() => "never");
      try {
        cm.reschedule(loop.time() + 0.02);
      } catch (error) {
        reschedule = error;
      }
      called.setResult();
    });
    await inGuardedTask(loop, async () => {
      await called;
      await assert.rejects(attempt!, /inside a task/);
      assert.match(String(reschedule), /has not been entered/);
      assert.equal(String(cm), "<Timeout [created]>");
      assert.equal(await cm!.run(() => "entered"), "entered");
      assert.equal(cm!.expired(), false);
    });
  },
);

// ---- with a TaskGroup --------------------------------------------------------

loopTest(
  "a deadline cutting a TaskGroup short while a child fails in cleanup lets the ExceptionGroup through, and no cancel stays pending",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0.01);
      const crash = new RangeError("crash in cleanup");
      let bodySaw: unknown;
      const error = await caught(() =>
        cm.run(() =>
          new TaskGroup().run(async (tg) => {
            tg.createTask(async () => {
              try {
                await sleep(2);
              } finally {
                // deno-lint-ignore no-unsafe-finally
                throw crash;
              }
            });
            try {
              throw new SyntaxError("the body's own");
            } finally {
              await sleep(1).catch((e) => {
                bodySaw = e;
                throw e;
              });
            }
          })
        )
      );
      assert.ok(error instanceof ExceptionGroup, String(error));
      assert.deepEqual(error.exceptions, [crash]);
      assert.ok(bodySaw instanceof CancelledError, String(bodySaw));
      assert.equal(cm.expired(), true);
      const self = currentTask()!;
      assert.equal(self.cancelling(), 0);
      if (exact(loop)) near(loop.time() - t0, 0.01);
      // The TaskGroup re-cancelled the task and the Timeout's uncancel()
      // took that back: the next suspension is not cancelled.
      assert.equal(await sleep(0, "not cancelled"), "not cancelled");
      assert.equal(self.cancelling(), 0);
    });
  },
);
