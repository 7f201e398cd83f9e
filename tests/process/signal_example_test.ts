/**
 * Runs examples/signal_handlers.ts the way a user would and signals it: the
 * "Set signal handlers for SIGINT and SIGTERM" example of asyncio's
 * documentation.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`examples/signal_handlers.ts prints its pid and exits cleanly on ${signal}`, async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "examples/signal_handlers.ts"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The example sleeps an hour: kill it if the signal does not end it.
    const guard = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    try {
      while (!/send SIGINT or SIGTERM to exit\.\n/.test(out)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      assert.equal(
        out,
        "Event loop running for 1 hour, press Ctrl+C to interrupt.\n" +
          `pid ${child.pid}: send SIGINT or SIGTERM to exit.\n`,
      );
      child.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
    } finally {
      await reader.cancel();
    }
    const stderr = await new Response(child.stderr).text();
    const status = await child.status;
    clearTimeout(guard);
    assert.equal(status.code, 0, stderr);
    assert.equal(status.signal, null);
    assert.ok(out.endsWith(`got signal ${signal}: exit\n`), out);
    assert.equal(stderr, "");
  });
}
