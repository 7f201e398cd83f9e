/**
 * A program for runner_sigint_test.ts: `run(main)` where main prints
 * "ready" and then, depending on the mode argument:
 * - `cleanup`: sleeps; its `finally` prints "cleanup" when Ctrl-C cancels it.
 * - `stubborn`: swallows the first cancellation and sleeps again.
 * - `handler`: installs its own SIGINT handler on the loop, which ends main.
 * - `spin`: never waits on a timer or future, only `sleep(0)` in a loop; its
 *   `finally` prints "cleanup".
 * - `future`: awaits a loop future; prints whether Ctrl-C cancelled it.
 */
import { CancelledError, getRunningLoop, run, sleep } from "../../mod.ts";

const mode = Deno.args[0];

await run(async () => {
  const loop = getRunningLoop();
  if (mode === "handler") {
    const done = loop.createFuture<string>();
    loop.addSignalHandler("SIGINT", () => done.setResult("handled"));
    console.log("ready");
    console.log(await done);
    return;
  }
  if (mode === "spin") {
    console.log("ready");
    try {
      for (;;) await sleep(0);
    } finally {
      console.log("cleanup");
    }
  }
  if (mode === "future") {
    const fut = loop.createFuture();
    console.log("ready");
    try {
      await fut;
    } finally {
      console.log(
        fut.cancelled() ? "future cancelled" : "future not cancelled",
      );
    }
  }
  console.log("ready");
  try {
    await sleep(60);
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    if (mode === "stubborn") {
      console.log("ignored");
      await sleep(60);
    }
    throw error;
  } finally {
    console.log("cleanup");
  }
});
console.log("not reached");
