/**
 * A failed future or task whose exception nobody retrieves is reported
 * without waiting for the garbage collector: when its loop closes (so when
 * `run()` ends), after `slowCallbackDuration` in debug mode, and at once for
 * a missing permission flag. Each is reported exactly once.
 */
import assert from "node:assert/strict";
import {
  createTask,
  type ExceptionContext,
  getRunningLoop,
  run,
  sleep,
} from "../../mod.ts";
import { useEventLoopPolicy, VirtualTimePolicy } from "../../testing/mod.ts";
import { gcUntil, loopTest } from "../_util.ts";

loopTest(
  "closing the loop reports a failed future nobody retrieved, once",
  async (fx) => {
    const { loop } = fx;
    const error = new RangeError("left behind");
    const fut = loop.createFuture<number>();
    fut.setException(error);
    await loop.runUntilComplete(() => sleep(0));
    assert.deepEqual(fx.errors, [], "reported before the loop closed");
    loop.close();
    const [context, ...rest] = fx.takeErrors();
    assert.deepEqual(rest, []);
    assert.equal(context.message, "Future exception was never retrieved");
    assert.equal(context.exception, error);
    assert.equal(context.future, fut);
    // Retrieving it now is allowed and does not report it again.
    assert.equal(fut.exception(), error);
    loop.close();
    assert.deepEqual(fx.errors, []);
  },
);

loopTest(
  "closing the loop reports a failed background task, not one whose exception was retrieved",
  async (fx) => {
    const { loop } = fx;
    const tasks = await loop.runUntilComplete(async () => {
      const fail = (message: string) =>
        createTask(async () => {
          await sleep(0);
          throw new Error(message);
        }, { name: message });
      const abandoned = fail("abandoned");
      const awaited = fail("awaited");
      const inspected = fail("inspected");
      await assert.rejects(async () => await awaited, /awaited/);
      await sleep(0);
      assert.match(String(inspected.exception()), /inspected/);
      assert.ok(abandoned.done());
      return [abandoned, awaited, inspected];
    });
    assert.equal(tasks.length, 3);
    loop.close();
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((c) => c.message), [
      "Task exception was never retrieved",
    ]);
    assert.equal(errors[0].future, tasks[0]);
    assert.match(String(errors[0].exception), /abandoned/);
  },
);

loopTest(
  "a failed future collected before close is reported once, by close() or by the collector",
  async (fx) => {
    const { loop } = fx;
    await loop.runUntilComplete(async () => {
      (() => {
        const fut = loop.createFuture();
        fut.setException(new Error("collected"));
      })();
      await sleep(0);
    });
    const gc = (globalThis as { gc?: () => void }).gc!;
    gc();
    loop.close();
    // Let any finalizer still queued run: it must not report a second time.
    await gcUntil(() => false, 5);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((c) => c.message), [
      "Future exception was never retrieved",
    ]);
    assert.match(String(errors[0].exception), /collected/);
  },
);

Deno.test("run() ends by reporting a background task that failed unobserved", async () => {
  const seen: ExceptionContext[] = [];
  using _ = useEventLoopPolicy(new VirtualTimePolicy());
  await run(async () => {
    getRunningLoop().setExceptionHandler((_loop, context) => {
      seen.push(context);
    });
    createTask(async () => {
      await sleep(1);
      throw new Error("background");
    });
    await sleep(5);
    assert.deepEqual(seen, [], "reported before the run ended");
  });
  assert.deepEqual(seen.map((c) => c.message), [
    "Task exception was never retrieved",
  ]);
  assert.match(String(seen[0].exception), /background/);
});

loopTest(
  "debug mode reports an unretrieved failure slowCallbackDuration after it, not before",
  async (fx) => {
    const { loop } = fx;
    loop.setDebug(true);
    loop.slowCallbackDuration = 0.25;
    const times = await loop.runUntilComplete(async () => {
      const failedAt = loop.time();
      const fut = loop.createFuture();
      fut.setException(new Error("debug"));
      // Retrieved within the grace period: never reported.
      const kept = loop.createFuture();
      kept.setException(new Error("kept"));
      await sleep(0.1);
      assert.deepEqual(fx.errors, []);
      assert.equal((kept.exception() as Error).message, "kept");
      while (fx.errors.length === 0) await sleep(0.05);
      return [failedAt, loop.time()];
    });
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((c) => c.message), [
      "Future exception was never retrieved",
    ]);
    assert.ok(
      times[1] - times[0] >= 0.25,
      `reported after ${times[1] - times[0]} s`,
    );
  },
  { virtualOnly: true },
);

loopTest(
  "a missing permission in a background task is reported at once",
  async (fx) => {
    const { loop } = fx;
    await loop.runUntilComplete(async () => {
      createTask(async () => {
        throw new Deno.errors.NotCapable(
          'Requires read access to "x", run again with the --allow-read flag',
        );
      });
      // Two iterations: the task fails, then its report runs.
      await sleep(0);
      await sleep(0);
    });
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((c) => c.message), [
      "Task exception was never retrieved",
    ]);
    assert.match(String(errors[0].exception), /--allow-read/);
  },
);

loopTest(
  "a missing permission awaited by a task is not reported",
  async (fx) => {
    const { loop } = fx;
    await loop.runUntilComplete(async () => {
      const task = createTask(async () => {
        throw new Deno.errors.NotCapable("Requires net access");
      });
      await assert.rejects(async () => await task, Deno.errors.NotCapable);
      await sleep(0);
    });
  },
);
