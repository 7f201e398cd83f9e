/**
 * Runs every example program the way a user would (`deno run` / `deno test`)
 * and checks what it prints.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function deno(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("examples/hello_world.ts prints Hello World and exits cleanly", async () => {
  const { code, stdout, stderr } = await deno("run", "examples/hello_world.ts");
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "Hello World\n");
});

Deno.test("examples/display_date.ts prints the date once a second for five seconds", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "examples/display_date.ts",
  );
  assert.equal(code, 0, stderr);
  const stamps = stdout.trim().split("\n").map((line) => Date.parse(line));
  assert.equal(stamps.length, 5, stdout);
  for (const stamp of stamps) assert.ok(!Number.isNaN(stamp), stdout);
  for (let i = 1; i < stamps.length; i++) {
    // callLater(1) never fires early.
    assert.ok(stamps[i] - stamps[i - 1] >= 999, stdout);
  }
});

Deno.test("examples/virtual_clock_test.ts passes under deno test", async () => {
  const { code, stdout, stderr } = await deno(
    "test",
    "examples/virtual_clock_test.ts",
  );
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /1 passed \| 0 failed/);
});

Deno.test("examples/demo.ts runs every part of the tour", async () => {
  const { code, stdout, stderr } = await deno("run", "examples/demo.ts");
  assert.equal(code, 0, stderr);
  for (
    const part of [
      "1. callLater",
      "2. the workers returned 6",
      "3. sleeper.cancelled() is true",
      "4. the loop is still running",
      "5. virtual clock: 86400 s",
    ]
  ) {
    assert.ok(stdout.includes(part), `missing "${part}" in:\n${stdout}`);
  }
});
