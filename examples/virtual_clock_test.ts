/**
 * Testing timer-heavy code on the virtual clock: a retry loop with
 * exponential back-off that would take over two minutes of real time runs
 * instantly and deterministically once the virtual-clock policy is swapped in.
 *
 * Run: deno test examples/virtual_clock_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import { getRunningLoop, run, sleep } from "../mod.ts";
import { useEventLoopPolicy, VirtualTimePolicy } from "../testing/mod.ts";

/** Calls `attempt` until it succeeds, sleeping 1, 2, 4, ... seconds between tries. */
async function retryWithBackoff<T>(
  attempt: () => Promise<T>,
  tries: number,
): Promise<T> {
  let delay = 1;
  for (let i = 1;; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i === tries) throw error;
      await sleep(delay);
      delay *= 2;
    }
  }
}

Deno.test("retryWithBackoff() waits 1+2+4+...+64 seconds of virtual time", async () => {
  using _policy = useEventLoopPolicy(new VirtualTimePolicy());
  const { result, elapsed, calls } = await run(async () => {
    const loop = getRunningLoop();
    const start = loop.time();
    let calls = 0;
    const result = await retryWithBackoff(() => {
      calls++;
      return calls < 8
        ? Promise.reject(new Error("not yet"))
        : Promise.resolve("ok");
    }, 10);
    return { result, elapsed: loop.time() - start, calls };
  });
  assert.equal(result, "ok");
  assert.equal(calls, 8);
  assert.equal(elapsed, 1 + 2 + 4 + 8 + 16 + 32 + 64);
});
