/**
 * lifecycle_test.ts: `run()` sleeping for 30 s; the test sends SIGINT once
 * "ready" is printed. The KeyboardInterrupt is not caught, so the process
 * must end as a Deno program stopped by Ctrl-C does: quietly, status 130.
 */
import { run, sleep } from "../../../mod.ts";

await run(async () => {
  console.log("ready");
  await sleep(30);
});
console.log("not reached");
