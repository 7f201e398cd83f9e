/**
 * Ctrl-C under `run()`, as asyncio's Runner: the first SIGINT cancels the
 * main task and `run()` rejects with `KeyboardInterrupt`; a second one while
 * the task still runs exits with status 130; a SIGINT handler installed on
 * the loop takes precedence. Each case runs a child program and signals it.
 */
import assert from "node:assert/strict";

const child = new URL("./_sigint_child.ts", import.meta.url);

/** Runs the child in `mode`; sends SIGINT once per `waitFor` line seen. */
async function interrupt(
  mode: string,
  waitFor: string[],
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
    for (const line of waitFor) {
      while (!stdout.split("\n").includes(line)) {
        const { value, done } = await reader.read();
        if (done) break;
        stdout += value;
      }
      proc.kill("SIGINT");
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
  } finally {
    await reader.cancel();
  }
  const stderr = await new Response(proc.stderr).text();
  const status = await proc.status;
  clearTimeout(guard);
  return { stdout, stderr, code: status.code };
}

Deno.test("Ctrl-C cancels run()'s main task, runs its cleanup, then exits quietly with status 130", async () => {
  const { stdout, stderr, code } = await interrupt("cleanup", ["ready"]);
  assert.equal(stdout, "ready\ncleanup\n");
  assert.equal(stderr, "");
  assert.equal(code, 130);
});

Deno.test("a second Ctrl-C while the main task still runs exits with status 130", async () => {
  const { stdout, code } = await interrupt("stubborn", ["ready", "ignored"]);
  assert.equal(stdout, "ready\nignored\n");
  assert.equal(code, 130);
});

Deno.test("a SIGINT handler on the loop takes precedence over run()'s", async () => {
  const { stdout, stderr, code } = await interrupt("handler", ["ready"]);
  assert.equal(stdout, "ready\nhandled\nnot reached\n");
  assert.equal(stderr, "");
  assert.equal(code, 0);
});
