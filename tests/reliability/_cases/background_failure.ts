/**
 * lifecycle_test.ts: a background task fails and nobody awaits it. The
 * report must come by the end of `run()` at the latest, and in debug mode
 * while `main` still runs. "main done" goes to stderr too, so that its
 * order against the report is kept.
 */
import { createTask, run, sleep } from "../../../mod.ts";

await run(async () => {
  createTask(async () => {
    await sleep(0.01);
    throw new Error("boom in the background");
  });
  await sleep(0.5);
  console.error("main done");
});
console.error("run returned");
