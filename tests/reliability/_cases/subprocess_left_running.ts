/**
 * processes_test.ts: `run()` whose main starts `sleep 30` through
 * `subprocessExec()` and returns without waiting for it. The process must
 * exit as soon as `run()` returns, not when `sleep` ends. Prints the
 * child's pid so that the test can clean up a leftover.
 */
import { getRunningLoop, run, SubprocessProtocol } from "../../../mod.ts";

await run(async () => {
  const [transport] = await getRunningLoop().subprocessExec(
    () => new SubprocessProtocol(),
    "sleep",
    "30",
  );
  console.log(`pid ${transport.getPid()}`);
});
console.log("run returned");
