/**
 * Reliability: a missing permission flag reaches the caller, or the
 * exception handler, at once, and the message names the flag(s) to add.
 * Each case is a child program run without the permission.
 */
import assert from "node:assert/strict";
import { runChild } from "./_util.ts";

Deno.test("without --allow-read, a worker's module import fails with NotCapable naming the flag", async () => {
  const result = await runChild("permission_worker.ts", { flags: [] });
  assert.equal(
    result.code,
    0,
    `exit ${result.code}; stderr:\n${result.stderr}`,
  );
  const [first, second] = result.stdout.trimEnd().split("\n");
  assert.match(
    first,
    /^NotCapable: the executor's worker cannot import file:.*_executor_module\.ts: /,
  );
  assert.match(first, /--allow-read/);
  assert.equal(second, "inline 42");
});

Deno.test("without permissions, Unix servers and clients fail naming all three flags", async () => {
  const result = await runChild("permission_unix.ts", { flags: [] });
  assert.equal(
    result.code,
    0,
    `exit ${result.code}; stderr:\n${result.stderr}`,
  );
  const lines = result.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2, result.stdout);
  for (const line of lines) {
    assert.match(line, /^NotCapable: /);
    assert.match(
      line,
      /a Unix socket needs --allow-read, --allow-write and --allow-net/,
    );
  }
});

Deno.test("without --allow-read, a background task's failed open is reported while main runs", async () => {
  const result = await runChild("permission_background.ts", { flags: [] });
  assert.equal(result.code, 0, result.stderr);
  const report = result.stderr.indexOf("Task exception was never retrieved");
  assert.ok(report >= 0, result.stderr);
  assert.match(result.stderr, /NotCapable[^]*--allow-read/);
  assert.ok(report < result.stderr.indexOf("main done"), result.stderr);
  assert.equal(
    result.stderr.split("never retrieved").length,
    2,
    "reported twice",
  );
});
