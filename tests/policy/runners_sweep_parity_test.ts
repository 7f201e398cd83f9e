/**
 * The corners of `run()` and `Runner` that a method-by-method sweep of
 * CPython's runner suite found unchecked by runners_test.ts,
 * runners_parity_test.ts and runner_sigint_test.ts: a `Runner` makes the
 * policy's loop current once however many times it runs, and Ctrl-C reaches
 * a main task that never waits on a timer (it only yields with `sleep(0)`)
 * and cancels the future a main task awaits.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  DefaultEventLoopPolicy,
  getEventLoopPolicy,
  getRunningLoop,
  Runner,
  sleep,
} from "../../mod.ts";
import { useEventLoopPolicy } from "../../testing/mod.ts";

/** A default policy that records its calls. */
class SpyPolicy extends DefaultEventLoopPolicy {
  calls: string[] = [];
  override newEventLoop(): AbstractEventLoop {
    this.calls.push("newEventLoop");
    return super.newEventLoop();
  }
  override setEventLoop(loop: AbstractEventLoop | null): void {
    this.calls.push(loop === null ? "setEventLoop(null)" : "setEventLoop");
    super.setEventLoop(loop);
  }
}

Deno.test("Runner.run() twice makes the policy's loop current only once", async () => {
  const policy = new SpyPolicy();
  using _restore = useEventLoopPolicy(policy);
  const runner = new Runner();
  try {
    const loops: AbstractEventLoop[] = [];
    for (let i = 0; i < 2; i++) {
      loops.push(
        await runner.run(async () => {
          await sleep(0);
          assert.equal(getEventLoopPolicy().getEventLoop(), getRunningLoop());
          return getRunningLoop();
        }),
      );
    }
    assert.equal(loops[0], loops[1]);
    assert.deepEqual(policy.calls, ["newEventLoop", "setEventLoop"]);
  } finally {
    await runner.close();
  }
  assert.deepEqual(policy.calls, [
    "newEventLoop",
    "setEventLoop",
    "setEventLoop(null)",
  ]);
});

const child = new URL("./_sigint_child.ts", import.meta.url);

/** Runs the child in `mode`, sends SIGINT once it printed "ready". */
async function interruptWhenReady(
  mode: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", child.pathname, mode],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  try {
    let signalled = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
      if (!signalled && stdout.split("\n").includes("ready")) {
        signalled = true;
        proc.kill("SIGINT");
      }
    }
  } finally {
    await reader.cancel();
  }
  const stderr = await new Response(proc.stderr).text();
  const status = await proc.status;
  clearTimeout(guard);
  return { stdout, stderr, code: status.code };
}

Deno.test("Ctrl-C cancels a main task that only ever yields with sleep(0), then exits with status 130", async () => {
  const { stdout, stderr, code } = await interruptWhenReady("spin");
  assert.equal(stdout, "ready\ncleanup\n");
  assert.equal(stderr, "");
  assert.equal(code, 130);
});

Deno.test("Ctrl-C cancels the future the main task awaits, then exits with status 130", async () => {
  const { stdout, stderr, code } = await interruptWhenReady("future");
  assert.equal(stdout, "ready\nfuture cancelled\n");
  assert.equal(stderr, "");
  assert.equal(code, 130);
});
