/**
 * A program for runner_sigint_test.ts: `run(main)` where main prints
 * "ready" and then, depending on the mode argument:
 * - `cleanup`: sleeps; its `finally` prints "cleanup" when Ctrl-C cancels it.
 * - `stubborn`: swallows the first cancellation and sleeps again.
 * - `handler`: installs its own SIGINT handler on the loop, which ends main.
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
