/**
 * permissions_test.ts: run without --allow-read, a background task that
 * opens a file fails with `NotCapable`; nothing awaits it, and the report
 * must come while `main` still runs, not at the end. "main done" goes to
 * stderr too, to keep its order against the report.
 */
import { createTask, run, sleep } from "../../../mod.ts";

await run(async () => {
  createTask(async () => {
    using _file = await Deno.open(new URL(import.meta.url).pathname);
  });
  await sleep(0.3);
  console.error("main done");
});
