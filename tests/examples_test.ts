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

Deno.test("examples/simulated_network_test.ts passes under deno test", async () => {
  const { code, stdout, stderr } = await deno(
    "test",
    "examples/simulated_network_test.ts",
  );
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /1 passed \| 0 failed/);
});

Deno.test("examples/replicated_service_test.ts passes under deno test", async () => {
  const { code, stdout, stderr } = await deno(
    "test",
    "examples/replicated_service_test.ts",
  );
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /1 passed \| 0 failed/);
});

Deno.test("examples/deadlock_test.ts shows both waits of the deadlock", async () => {
  const { code, stdout, stderr } = await deno(
    "test",
    "examples/deadlock_test.ts",
  );
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /1 passed \| 0 failed/);
  assert.match(stdout, /Task "ping" waiting on Event\.wait\(\)/);
  assert.match(stdout, /Task "pong" waiting on Event\.wait\(\)/);
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

Deno.test("examples/socketpair_reader.ts receives abc through addReader", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "examples/socketpair_reader.ts",
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "Received: abc\n");
});

Deno.test("examples/unix_echo.ts echoes over a Unix socket", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "examples/unix_echo.ts",
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "Echoed: hello over a unix socket\n");
});

Deno.test("examples/stream_echo.ts echoes through startServer and openConnection", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "--allow-net",
    "examples/stream_echo.ts",
    "streams!",
  );
  assert.equal(code, 0, stderr);
  assert.match(
    stdout,
    /^Send: "streams!"\nReceived "streams!" from \["127\.0\.0\.1",\d+\]\nReceived: "streams!"\n$/,
  );
});

Deno.test("examples/tls_echo.ts echoes over TLS", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "--allow-net",
    "--allow-read",
    "examples/tls_echo.ts",
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "Echoed: hello over TLS\n");
});

Deno.test("examples/tcp_echo_server.ts answers examples/tcp_echo_client.ts", async () => {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "examples/tcp_echo_server.ts", "0"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = server.stdout
    .pipeThrough(new TextDecoderStream())
    .getReader();
  let serverOut = "";
  try {
    while (!serverOut.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      serverOut += value;
    }
    const match = serverOut.match(/^Serving on 127\.0\.0\.1:(\d+)\n/);
    assert.ok(match, serverOut);
    const client = await deno(
      "run",
      "--allow-net",
      "examples/tcp_echo_client.ts",
      match[1],
      "Hello World!",
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal(
      client.stdout,
      'Data sent: "Hello World!"\n' +
        'Data received: "Hello World!"\n' +
        "The server closed the connection\n",
    );
    while (!serverOut.includes("Close the client socket\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      serverOut += value;
    }
    assert.match(serverOut, /Connection from \["127\.0\.0\.1",\d+\]\n/);
    assert.match(
      serverOut,
      /Data received: "Hello World!"\nSend: "Hello World!"\nClose the client socket\n/,
    );
  } finally {
    server.kill("SIGTERM");
    await lines.cancel();
    await server.stderr.cancel();
    await server.status;
  }
});

Deno.test("examples/producer_consumer.ts feeds workers through a bounded queue and shuts it down", async () => {
  const { code, stdout, stderr } = await deno(
    "run",
    "examples/producer_consumer.ts",
    "30",
    "5",
  );
  assert.equal(code, 0, stderr);
  assert.equal(
    stdout,
    "produced 30 jobs\n" +
      "processed 30 jobs (sum 465) with 5 workers\n" +
      "at most 2 used the database at once\n",
  );
});
