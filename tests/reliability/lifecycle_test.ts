/**
 * Reliability, family 6: loop lifecycle. Each case is a child program that
 * leaves something open (a UDP endpoint, a TCP client and its server, a
 * subprocess, a transport on a closed `newEventLoop()`): `run()` must
 * return and the process must exit promptly, and a transport's peer must
 * see EOF when the process ends. An uncaught KeyboardInterrupt exits with
 * status 130.
 */
import assert from "node:assert/strict";
import {
  assertCleanExit,
  bounded,
  drain,
  killLeftover,
  runChild,
} from "./_util.ts";

Deno.test("run() returns and the process exits with a UDP endpoint left open", async () => {
  assertCleanExit(await runChild("lifetime_udp.ts"), [
    /^bound 127\.0\.0\.1:\d+$/,
    "run returned",
  ]);
});

Deno.test("run() returns and the process exits with a TCP client and its server left open", async () => {
  assertCleanExit(await runChild("lifetime_tcp.ts"), [
    "connected",
    "run returned",
  ]);
});

Deno.test("run() returns and the process exits with a createSubprocessExec() child left running", async () => {
  const result = await runChild("lifetime_subprocess.ts");
  try {
    assertCleanExit(result, [/^pid \d+$/, "run returned"]);
  } finally {
    killLeftover(result.stdout);
  }
});

/** Runs `lifetime_open_transport.ts` in `mode`; checks the peer's side. */
async function openTransportCase(
  mode: "run" | "loop" | "unclosed",
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const child = runChild("lifetime_open_transport.ts", {
    args: [mode, String(listener.addr.port)],
  });
  let peer: Deno.Conn;
  try {
    peer = await bounded("the child's connect", accepted);
  } catch (error) {
    listener.close();
    const result = await child;
    throw new Error(
      `${
        (error as Error).message
      }; the child printed:\n${result.stdout}${result.stderr}`,
    );
  }
  listener.close();
  try {
    const [result, end] = await Promise.all([
      child,
      bounded("the peer's EOF", drain(peer, true)),
    ]);
    assertCleanExit(result, ["connected", "returned"]);
    assert.equal(new TextDecoder().decode(end.data), "hello");
    assert.ok(["eof", "reset"].includes(end.end));
  } finally {
    peer.close();
  }
}

Deno.test("run() leaving a client transport open: the process exits and the peer sees EOF", async () => {
  await openTransportCase("run");
});

Deno.test("EventLoop.close() after runUntilComplete() with a transport open: the process exits and the peer sees EOF", async () => {
  await openTransportCase("loop");
});

Deno.test("runUntilComplete() returning with a transport reading on a loop never closed: the process exits and the peer sees EOF", async () => {
  await openTransportCase("unclosed");
});

Deno.test("run() interrupted by SIGINT: the uncaught KeyboardInterrupt exits quietly with status 130", async () => {
  const result = await runChild("keyboard_interrupt.ts", {
    signalOn: { line: "ready", signal: "SIGINT" },
  });
  assert.equal(result.stdout, "ready\n");
  assert.equal(result.stderr, "");
  assert.equal(
    result.code,
    130,
    `exit status ${result.code}; stderr:\n${result.stderr}`,
  );
});

Deno.test("a background task that fails unobserved is reported when run() ends, and in debug mode while main runs", async () => {
  const report = /Task exception was never retrieved[^]*boom in the background/;
  const plain = await runChild("background_failure.ts");
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, report);
  const plainOrder = plain.stderr.indexOf("never retrieved");
  assert.ok(plain.stderr.indexOf("main done") < plainOrder, plain.stderr);
  assert.ok(plainOrder < plain.stderr.indexOf("run returned"), plain.stderr);
  const debug = await runChild("background_failure.ts", {
    env: { AIOLOOP_DEBUG: "1" },
  });
  assert.equal(debug.code, 0, debug.stderr);
  assert.match(debug.stderr, report);
  assert.ok(
    debug.stderr.indexOf("never retrieved") < debug.stderr.indexOf("main done"),
    debug.stderr,
  );
  assert.equal(
    debug.stderr.split("never retrieved").length,
    2,
    "reported twice",
  );
});
