/**
 * Executor behaviours checked against `concurrent.futures` and asyncio's
 * `run_in_executor()` / `shutdown_default_executor()`: a shutdown that
 * waits still runs the jobs queued before it, and concurrent jobs each get
 * their own result.
 */
import assert from "node:assert/strict";
import { WorkerPoolExecutor } from "../../mod.ts";
import { loopTest } from "../_util.ts";

/** `promise`, or a failure if it has not settled within 10 s (a hang). */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} hung`)), 10_000);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

loopTest(
  "WorkerPoolExecutor.shutdown(true) runs the jobs still queued, then resolves",
  async () => {
    const pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    const jobs = [1, 2, 3].map((n) => pool.submit((x: number) => x * 10, n));
    const settled = Promise.allSettled(jobs);
    assert.equal(pool.pending, 3);
    try {
      await bounded(pool.shutdown(true), "shutdown(true)");
    } finally {
      await pool.shutdown(false);
    }
    assert.deepEqual(
      (await settled).map((r) => r.status === "fulfilled" ? r.value : r),
      [10, 20, 30],
    );
    assert.equal(pool.workers, 0, "the workers were terminated");
  },
);

loopTest(
  "shutdownDefaultExecutor() runs the jobs queued on the default executor",
  async ({ loop }) => {
    loop.setDefaultExecutor(new WorkerPoolExecutor({ maxWorkers: 1 }));
    const results = await loop.runUntilComplete(async () => {
      const futs = ["a", "b", "c"].map((tag) =>
        loop.runInExecutor(null, (t: string) => t.toUpperCase(), tag)
      );
      await bounded(
        loop.shutdownDefaultExecutor(),
        "shutdownDefaultExecutor()",
      );
      assert.ok(futs.every((fut) => fut.done()), "done before shutdown ends");
      return futs.map((fut) => fut.result());
    });
    assert.deepEqual(results, ["A", "B", "C"]);
  },
);

loopTest(
  "runInExecutor() many concurrent jobs returning promises each get their own result",
  async ({ loop }) => {
    await using pool = new WorkerPoolExecutor({ maxWorkers: 4 });
    const results = await loop.runUntilComplete(async () =>
      await Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          loop.runInExecutor(
            pool,
            // Later jobs finish first: results must still line up.
            (n: number) =>
              new Promise((resolve) =>
                setTimeout(() => resolve(n * n), (32 - n) % 4)
              ),
            i,
          )),
      )
    );
    assert.deepEqual(results, Array.from({ length: 32 }, (_, i) => i * i));
  },
);
