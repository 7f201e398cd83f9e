/**
 * Reliability, family 7: probes from outside. Each case runs an aioloop
 * program as a child process (`_cases/probe_*.ts`) and checks it only from
 * another process, as a user's clients and supervisors would:
 *
 * - **EOF on time.** A `startServer()` handler that closes its writer, a
 *   protocol that calls `transport.close()` with megabytes still buffered,
 *   `transport.abort()` and `writeEof()`: the peer (a Python client or a
 *   raw Deno connection) gets every byte that was promised, then EOF (or,
 *   for `abort()`, EOF or a reset), without the server being stopped.
 * - **The process exits.** `run()` returns with a server, a client, a
 *   pending `sockRecv()`, a timer an hour away, a signal handler, an
 *   executor job, an idle `WorkerPoolExecutor` or a child with piped stdio
 *   still there (and all of them at once; and with `loop.close()` instead
 *   of `run()`, and without the loop ever running): the child process must
 *   then exit with status 0 by itself. Its exit is awaited; only a guard
 *   far longer than a clean exit kills it and fails the case.
 * - **A client killed mid-stream.** Python clients SIGKILLed while the
 *   server streams to them (and one while idle), over TCP and TLS: `connectionLost()` runs exactly once for each,
 *   the exception handler hears nothing, no promise rejection goes
 *   unhandled, and the server goes on serving new connections.
 * - **Real clients and servers.** `wrk` against a keep-alive HTTP/1.1
 *   responder written on streams, Python's `http.client` on one keep-alive
 *   connection, `openssl s_client` against an aioloop TLS server (it must
 *   see the data, then the server's close_notify), and `openssl s_server`
 *   with an aioloop TLS client (it must see the data, then the client's
 *   close_notify). A case whose tool is missing fails and names it;
 *   `.ci/run` installs `wrk` and `openssl` where it can.
 */
import assert from "node:assert/strict";
import {
  assertSameBytes,
  bounded,
  type ChildResult,
  drain,
  killLeftover,
  pattern,
  requireTool,
  runChild,
  spawnCase,
  Spawned,
} from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TLS = new URL("../fixtures/tls/", import.meta.url).pathname;

/** Starts `probe_server.ts` in `mode`; resolves with it and its port. */
async function startProbeServer(
  mode: string,
): Promise<{ server: Spawned; port: number }> {
  const server = spawnCase("probe_server.ts", [mode], { stdin: true });
  try {
    const [, port] = await server.line(/^port (\d+)$/);
    return { server, port: Number(port) };
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Stops a probe server (closes its stdin) and checks it exited with status
 * 0, printed `bye` last, and that neither its exception handler nor Deno
 * (an unhandled rejection, an uncaught error) reported anything.
 */
async function stopProbeServer(server: Spawned): Promise<ChildResult> {
  const result = await server.exit();
  assert.equal(
    result.code,
    0,
    `the server exited with ${result.code}\n${result.stdout}${result.stderr}`,
  );
  assert.equal(result.stderr, "", "the server wrote to stderr");
  const lines = result.stdout.trimEnd().split("\n");
  assert.equal(lines.at(-1), "bye", result.stdout);
  assert.deepEqual(
    lines.filter((line) => /^(exception|error) /.test(line)),
    [],
    "the server reported errors",
  );
  return result;
}

/** Runs `python3 -c script args...` (see `Spawned`). */
function python(
  what: string,
  script: string,
  args: string[],
  options: { stdin?: boolean } = {},
): Spawned {
  return new Spawned(
    what,
    requireTool("python3"),
    ["-c", script, ...args],
    options,
  );
}

/**
 * What the Python clients share: `connect()` to argv[1] (a port on
 * 127.0.0.1, or a Unix socket path), over TLS trusting the CA file argv[2]
 * if there is one (a TCP EOF without close_notify is then an error), and
 * `read_to_eof()`, which prints `eof N pattern` (or `garbled`).
 */
const PY_PRELUDE = `
import socket, ssl, sys, time
def connect():
    target = sys.argv[1]
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
    else:
        s = socket.create_connection(("127.0.0.1", int(target)))
    s.settimeout(60)
    if len(sys.argv) > 2:
        context = ssl.create_default_context(cafile=sys.argv[2])
        s = context.wrap_socket(s, server_hostname="localhost", suppress_ragged_eofs=False)
    return s
def read_to_eof(s):
    data = bytearray()
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    ok = all(b == i % 251 for i, b in enumerate(data))
    print("eof", len(data), "pattern" if ok else "garbled", flush=True)
`;

/** Reads to EOF at once. */
const READ_TO_EOF = PY_PRELUDE + "read_to_eof(connect())\n";

/** Connects, says `connected`, reads to EOF only after a line on stdin. */
const READ_AFTER_GO = PY_PRELUDE + `
s = connect()
print("connected", flush=True)
sys.stdin.readline()
read_to_eof(s)
`;

// ---- 1. The peer sees every byte, then EOF ----

Deno.test("startServer(): a handler's writer.close() after writing gives a Python client every byte, then EOF", async () => {
  const { server, port } = await startProbeServer("stream-close");
  await using _ = server;
  await using client = python("the Python client", READ_TO_EOF, [String(port)]);
  const result = await client.exit();
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `eof ${1 << 20} pattern\n`);
  await server.line(/^done 1$/);
  await stopProbeServer(server);
});

Deno.test("startUnixServer(): a handler's writer.close() after writing gives a Python client every byte, then EOF", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/probe.sock`;
    await using server = spawnCase("probe_server.ts", ["stream-close", path], {
      stdin: true,
    });
    await server.line(/^listening$/);
    await using client = python("the Python client", READ_TO_EOF, [path]);
    const result = await client.exit();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `eof ${1 << 20} pattern\n`);
    await server.line(/^done 1$/);
    await stopProbeServer(server);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("transport.close() with 8 MiB still buffered: a client that reads only afterwards gets every byte, then EOF", async () => {
  const { server, port } = await startProbeServer("close-buffered");
  await using _ = server;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // The client reads nothing until close() was called with bytes pending.
    const [, pending] = await server.line(/^closing (\d+)$/);
    assert.ok(Number(pending) > 0, "nothing was left buffered at close()");
    assert.ok(
      !server.lines().some((line) => line.startsWith("lost ")),
      "connectionLost() ran before the buffer was sent",
    );
    const end = await bounded("the client's reads", drain(conn, true));
    assert.equal(end.end, "eof");
    assertSameBytes(end.data, pattern(8 << 20));
  } finally {
    conn.close();
  }
  await server.line(/^lost 1 null$/);
  await stopProbeServer(server);
});

Deno.test("TLS transport.close() with 8 MiB still buffered: a Python ssl client that reads only afterwards gets every byte, then close_notify", async () => {
  const { server, port } = await startProbeServer("close-buffered+tls");
  await using _ = server;
  await using client = python(
    "the Python ssl client",
    READ_AFTER_GO,
    [String(port), `${TLS}ca.pem`],
    { stdin: true },
  );
  await client.line(/^connected$/);
  const [, pending] = await server.line(/^closing (\d+)$/);
  assert.ok(Number(pending) > 0, "nothing was left buffered at close()");
  await client.write("go\n");
  const result = await client.exit(30);
  // suppress_ragged_eofs=False: a TCP EOF without close_notify would fail.
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `connected\neof ${8 << 20} pattern\n`);
  await server.line(/^lost 1 null$/);
  await stopProbeServer(server);
});

Deno.test("transport.abort() with 8 MiB buffered: the client sees EOF or a reset at once, short of the whole", async () => {
  const { server, port } = await startProbeServer("abort");
  await using _ = server;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const [, pending] = await server.line(/^aborting (\d+)$/);
    assert.ok(Number(pending) > 0, "nothing was buffered to drop");
    await server.line(/^lost 1 null$/);
    const end = await bounded("the client's EOF or reset", drain(conn));
    assert.ok(["eof", "reset"].includes(end.end));
    assert.ok(end.n < 8 << 20, `the client got all ${end.n} bytes`);
  } finally {
    conn.close();
  }
  await stopProbeServer(server);
});

Deno.test("transport.writeEof(): the client sees EOF while the server still reads what it sends", async () => {
  const { server, port } = await startProbeServer("write-eof");
  await using _ = server;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const end = await bounded("the server's EOF", drain(conn, true));
    assert.deepEqual([decoder.decode(end.data), end.end], ["hello", "eof"]);
    // Half-closed: the server still reads.
    await conn.write(encoder.encode("reply"));
    await conn.closeWrite();
    await server.line(/^got reply$/);
    await server.line(/^lost 1 null$/);
  } finally {
    conn.close();
  }
  const result = await stopProbeServer(server);
  assert.deepEqual(result.stdout.split("\n").slice(1, -2), [
    "made 1",
    "eof sent",
    "got reply",
    "lost 1 null",
  ]);
});

// ---- 2. The process exits once the loop is done ----

/** Runs `probe_exit.ts what how`; it must exit with 0 by itself. */
async function exitCase(what: string, how = "run"): Promise<void> {
  const result = await runChild("probe_exit.ts", {
    args: [what, how],
    seconds: 30,
  });
  try {
    assert.equal(
      result.code,
      0,
      `the child exited with ${result.code}; stderr:\n${result.stderr}`,
    );
    const lines = result.stdout.split("\n").filter((line) => line !== "");
    assert.equal(lines.at(-1), "returned", result.stdout);
    assert.doesNotMatch(result.stderr, /error|uncaught/i);
  } finally {
    killLeftover(result.stdout);
  }
}

for (
  const [what, title] of [
    ["server", "a startServer() server serving"],
    ["client", "an openConnection() client blocked in reader.read()"],
    ["tls", "a TLS server and a TLS client blocked in reader.read()"],
    ["unix", "a Unix server and a client blocked in reader.read()"],
    ["sock-recv", "a sockRecv() pending on a connected Socket"],
    ["timer", "a callLater() timer an hour away"],
    ["signal", "a SIGUSR1 handler"],
    ["executor", "a default-executor job still running"],
    ["pool", "an idle WorkerPoolExecutor never shut down"],
    [
      "subprocess-stdin",
      "a `sleep 30` child whose stdin, stdout and stderr are pipes",
    ],
    ["all", "all of these at once"],
  ]
) {
  Deno.test(`the process exits with status 0 after run() returns, leaving ${title}`, async () => {
    await exitCase(what);
  });
}

Deno.test("the process exits with status 0 after runUntilComplete() and loop.close(), leaving everything open", async () => {
  await exitCase("all", "close");
});

Deno.test("the process exits with status 0 after loop.close() on a loop that never ran, with a timer, a signal handler and a reader", async () => {
  await exitCase("all", "never-run");
});

// ---- 3. Clients killed mid-stream ----

/** Asks for an endless stream, reads 1 MiB, says so and waits to be killed. */
const STREAM_THEN_HANG = PY_PRELUDE + `
s = connect()
s.sendall(b"stream\\n")
n = 0
while n < 1 << 20:
    n += len(s.recv(1 << 16))
print("reading", flush=True)
time.sleep(120)
`;

/** Gets one echo, then leaves the connection idle until killed. */
const ECHO_THEN_HANG = PY_PRELUDE + `
s = connect()
s.sendall(b"ping")
got = b""
while len(got) < 4:
    got += s.recv(4)
print("reading", flush=True)
time.sleep(120)
`;

for (const tls of [false, true]) {
  Deno.test(
    `clients SIGKILLed mid-stream${
      tls ? " over TLS" : ""
    }: connectionLost() once each, no error reported, and the server serves the next client`,
    async () => {
      const { server, port } = await startProbeServer(
        tls ? "stream-or-echo+tls" : "stream-or-echo",
      );
      await using _ = server;
      const args = tls ? [String(port), `${TLS}ca.pem`] : [String(port)];
      // Two killed while the server streams to them, one while idle.
      const scripts = [STREAM_THEN_HANG, STREAM_THEN_HANG, ECHO_THEN_HANG];
      const killed = scripts.length;
      for (let i = 1; i <= killed; i++) {
        await using client = python(
          `Python client ${i}`,
          scripts[i - 1],
          args,
        );
        await client.line(/^reading$/);
        client.kill("SIGKILL");
        const result = await client.exit();
        assert.equal(result.signal, "SIGKILL");
        await server.line(new RegExp(`^lost ${i} (null|\\w+)$`));
      }
      // The server keeps serving.
      await using echo = python(
        "the echo client",
        PY_PRELUDE + `
s = connect()
s.sendall(b"ping")
got = b""
while len(got) < 4:
    got += s.recv(4)
print(got.decode(), flush=True)
s.close()
`,
        args,
      );
      const echoed = await echo.exit();
      assert.equal(echoed.code, 0, echoed.stderr);
      assert.equal(echoed.stdout, "ping\n");
      await server.line(new RegExp(`^lost ${killed + 1} (null|\\w+)$`));
      const result = await stopProbeServer(server);
      for (let i = 1; i <= killed + 1; i++) {
        const lost = result.stdout.split("\n").filter((line) =>
          line.startsWith(`lost ${i} `)
        );
        assert.equal(lost.length, 1, `connection ${i}: ${lost.join(", ")}`);
      }
    },
  );
}

// ---- 4. Real clients and servers ----

Deno.test("wrk -t1 -c20 -d1s against a keep-alive HTTP/1.1 responder on startServer(): no socket errors, only 2xx", async () => {
  const wrk = requireTool("wrk");
  const { server, port } = await startProbeServer("http");
  await using _ = server;
  await using load = new Spawned("wrk", wrk, [
    "-t1",
    "-c20",
    "-d1s",
    `http://127.0.0.1:${port}/`,
  ]);
  const result = await load.exit(30);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const requests = result.stdout.match(/(\d+) requests in/);
  assert.ok(requests !== null, result.stdout);
  assert.ok(Number(requests[1]) > 0, result.stdout);
  assert.doesNotMatch(result.stdout, /Socket errors/, result.stdout);
  assert.doesNotMatch(result.stdout, /Non-2xx/, result.stdout);
  await stopProbeServer(server);
});

Deno.test("Python http.client: 200 keep-alive requests on one connection to the startServer() responder", async () => {
  const { server, port } = await startProbeServer("http");
  await using _ = server;
  await using client = python(
    "the Python HTTP client",
    `
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for i in range(200):
    c.request("GET", "/%d" % i)
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b"ok"), r.status
print("done", flush=True)
c.close()
`,
    [String(port)],
  );
  const result = await client.exit(30);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "done\n");
  const stopped = await stopProbeServer(server);
  assert.equal(
    stopped.stdout.split("\n").filter((line) => line.startsWith("error "))
      .length,
    0,
  );
});

Deno.test("openssl s_client against an aioloop TLS server: the reply, then the server's close_notify", async () => {
  const openssl = requireTool("openssl");
  const { server, port } = await startProbeServer("tls");
  await using _ = server;
  await using client = new Spawned("openssl s_client", openssl, [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "localhost",
    "-CAfile",
    `${TLS}ca.pem`,
    "-verify_return_error",
    "-msg",
  ], { stdin: true });
  await client.write("hello\n");
  // s_client prints the alert it receives, then "closed" for a clean
  // shutdown (a bare TCP EOF would be "read:errno=0").
  await client.line(/^<<< .*Alert.*close_notify$/);
  await client.line(/^closed$/);
  const result = await client.exit();
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /Verify return code: 0 \(ok\)/);
  assert.match(result.stdout, /echo: /);
  assert.match(result.stdout, /^hello$/m);
  await server.line(/^done 1$/);
  await stopProbeServer(server);
});

Deno.test("openssl s_server with an aioloop TLS client: data both ways, then the client's close_notify", async () => {
  const openssl = requireTool("openssl");
  await using tlsServer = new Spawned("openssl s_server", openssl, [
    "s_server",
    "-accept",
    "127.0.0.1:0",
    "-naccept",
    "1",
    "-cert",
    `${TLS}server.pem`,
    "-key",
    `${TLS}server.key`,
  ], { stdin: true });
  const [, port] = await tlsServer.line(/^ACCEPT 127\.0\.0\.1:(\d+)$/);
  await using client = spawnCase("probe_tls_client.ts", [port]);
  await client.line(/^connected$/);
  await tlsServer.line(/^hello from aioloop$/);
  await tlsServer.write("pong\n");
  const result = await client.exit();
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stdout, "connected\nline pong\nclosed\n");
  // A close_notify ends s_server's read with DONE; a bare EOF with ERROR.
  await tlsServer.line(/^DONE$/);
  await tlsServer.line(/^CONNECTION CLOSED$/);
  const served = await tlsServer.exit();
  assert.equal(served.code, 0, served.stdout + served.stderr);
  assert.doesNotMatch(served.stdout, /^ERROR$/m);
});
