/**
 * Reliability, family 5: processes. A subprocess still running when
 * `run()`'s main returns does not keep the process alive, and a killed
 * child's return code is the negative signal number (-9), as asyncio's.
 */
import assert from "node:assert/strict";
import { createSubprocessExec, SubprocessProtocol } from "../../mod.ts";
import {
  assertCleanExit,
  bounded,
  killLeftover,
  loopTest,
  runChild,
} from "./_util.ts";

Deno.test("run() returns and the process exits while a subprocessExec() child is still running", async () => {
  const result = await runChild("subprocess_left_running.ts");
  try {
    assertCleanExit(result, [/^pid \d+$/, "run returned"]);
  } finally {
    killLeftover(result.stdout);
  }
});

loopTest(
  "SubprocessTransport.kill() makes getReturncode() -9 and processExited() runs",
  async ({ loop }) => {
    const exited = Promise.withResolvers<void>();
    const lost = Promise.withResolvers<Error | null>();
    const [transport] = await loop.subprocessExec(
      () =>
        new class extends SubprocessProtocol {
          override processExited() {
            exited.resolve();
          }
          override connectionLost(exc: Error | null) {
            lost.resolve(exc);
          }
        }(),
      "sleep",
      "30",
    );
    assert.equal(transport.getReturncode(), null);
    transport.kill();
    await bounded("processExited()", exited.promise);
    assert.equal(transport.getReturncode(), -9);
    assert.equal(await bounded("connectionLost()", lost.promise), null);
    transport.close();
  },
);

loopTest(
  "Process.kill() (createSubprocessExec) makes wait() resolve with -9",
  async () => {
    const proc = await createSubprocessExec("sleep", "30");
    assert.equal(proc.returncode, null);
    proc.kill();
    assert.equal(await bounded("Process.wait()", proc.wait()), -9);
    assert.equal(proc.returncode, -9);
  },
);
