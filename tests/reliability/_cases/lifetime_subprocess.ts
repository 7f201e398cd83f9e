/**
 * lifecycle_test.ts: `run()` whose main leaves a `createSubprocessExec()`
 * child (`sleep 30`, its stdout piped) running. The process must exit once
 * `run()` returns. Prints the child's pid so that the test can clean up.
 */
import { createSubprocessExec, PIPE, run } from "../../../mod.ts";

await run(async () => {
  const proc = await createSubprocessExec("sleep", "30", {
    stdout: PIPE,
    stderr: PIPE,
  });
  console.log(`pid ${proc.pid}`);
});
console.log("run returned");
