/**
 * Reliability, family 1: connection setup failures. A refused connect names
 * the address, an unknown or empty host fails in the resolver, a connect
 * that hangs is cut off by `waitFor()` and then aborted (the process exits),
 * and Happy Eyeballs' losing attempts are aborted once one address answers.
 */
import assert from "node:assert/strict";
import { Protocol, type Transport } from "../../mod.ts";
import { assertCleanExit, loopTest, refusedPort, runChild } from "./_util.ts";

/** The error `promise` rejects with (fails if it fulfils). */
async function rejection(
  promise: Promise<[Transport, Protocol]>,
): Promise<Error> {
  let transport: Transport;
  try {
    [transport] = await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `rejected with a non-Error: ${error}`);
    return error;
  }
  const peer = transport.getExtraInfo("peername");
  transport.close();
  assert.fail(`expected a rejection, got a connection to ${peer}`);
}

loopTest(
  "createConnection() to a refused port is ConnectionRefused naming the address",
  async ({ loop }) => {
    const port = refusedPort();
    const error = await rejection(
      loop.createConnection(() => new Protocol(), "127.0.0.1", port),
    );
    assert.ok(
      error instanceof Deno.errors.ConnectionRefused,
      `expected ConnectionRefused, got ${error.name}: ${error.message}`,
    );
    // asyncio: "[Errno 111] Connect call failed ('127.0.0.1', 1)".
    assert.match(
      error.message,
      new RegExp(`127\\.0\\.0\\.1\\D+${port}\\b`),
      `the message should name 127.0.0.1 and port ${port}, got: ${error.message}`,
    );
  },
);

loopTest(
  "createConnection() to an unknown host is NotFound naming the host",
  async ({ loop }) => {
    const error = await rejection(
      loop.createConnection(() => new Protocol(), "no-such-host.invalid", 80),
    );
    assert.ok(
      error instanceof Deno.errors.NotFound,
      `expected NotFound, got ${error.name}: ${error.message}`,
    );
    assert.match(error.message, /no-such-host\.invalid/);
  },
);

loopTest(
  'createConnection() with host "" fails in the resolver instead of connecting to loopback',
  async ({ loop }) => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const error = await rejection(
      loop.createConnection(() => new Protocol(), "", listener.addr.port),
    );
    assert.ok(
      error instanceof Deno.errors.NotFound,
      `expected NotFound (asyncio: gaierror), got ${error.name}: ${error.message}`,
    );
  },
);

Deno.test("waitFor(createConnection(), 0.2) on a hanging connect is TimeoutError on time, then the process exits", async () => {
  const result = await runChild("connect_timeout.ts");
  assertCleanExit(result, [/^TimeoutError after \d+\.\d+ s$/, "baseline ok"]);
  const seconds = Number(result.stdout.match(/after (\d+\.\d+) s/)![1]);
  assert.ok(seconds >= 0.19, `timed out early: ${seconds} s`);
  // Hang protection, not a performance limit: the OS gives up after ~2 min.
  assert.ok(seconds < 5, `TimeoutError only after ${seconds} s`);
});

Deno.test("createConnection() with happyEyeballsDelay connects past a hanging address, then the process exits", async () => {
  const result = await runChild("happy_eyeballs.ts");
  assertCleanExit(result, [
    "connected to 127.0.0.1",
    "run returned",
  ]);
});
