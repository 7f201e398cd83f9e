/**
 * Reliability, family 4: bad input. A wrong type is a TypeError and a bad
 * value a RangeError, thrown at the call, and the loop or transport stays
 * usable afterwards (a `callSoon` still runs, a write still arrives).
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  DatagramProtocol,
  Protocol,
} from "../../mod.ts";
import { bounded, drain, loopTest, Recorder } from "./_util.ts";

/** Asserts `fn` throws `type` at once, naming the value's problem. */
function throwsAtCall(
  fn: () => unknown,
  type: typeof TypeError | typeof RangeError,
  message?: RegExp,
): void {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    assert.ok(
      error instanceof type,
      `expected ${type.name}, got ${(error as Error)?.name}: ${
        (error as Error)?.message
      }`,
    );
    if (message) assert.match(error.message, message);
    return;
  }
  if (result instanceof Promise) result.catch(() => {});
  assert.fail(`expected ${type.name} at the call, got ${result}`);
}

/** Asserts the loop still runs callbacks. */
async function stillUsable(loop: AbstractEventLoop): Promise<void> {
  const ran = loop.createFuture<string>();
  loop.callSoon((x: string) => ran.setResult(x), "ran");
  assert.equal(await bounded("a callSoon() after the bad call", ran), "ran");
  const later = loop.createFuture<string>();
  loop.callLater(0.001, () => later.setResult("later"));
  assert.equal(
    await bounded("a callLater() after the bad call", later),
    "later",
  );
}

loopTest(
  "Transport.write() of a string is a TypeError at the call; the transport still works",
  async ({ loop }) => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const [transport, protocol] = await loop.createConnection(
      () => new Recorder(),
      "127.0.0.1",
      listener.addr.port,
    );
    using peer = await accepted;
    throwsAtCall(
      () => transport.write("hello" as unknown as Uint8Array),
      TypeError,
      /string/,
    );
    throwsAtCall(
      () => transport.write(42 as unknown as Uint8Array),
      TypeError,
    );
    throwsAtCall(
      () => transport.writelines(["a"] as unknown as Uint8Array[]),
      TypeError,
    );
    transport.write(new Uint8Array([1, 2]));
    transport.close();
    assert.equal(
      await bounded("connectionLost()", protocol.lost.promise),
      null,
    );
    assert.equal((await bounded("the peer's EOF", drain(peer))).n, 2);
    await stillUsable(loop);
  },
);

loopTest(
  "Transport.setWriteBufferLimits(-1) is a RangeError; the limits are unchanged",
  async ({ loop }) => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const [transport, protocol] = await loop.createConnection(
      () => new Recorder(),
      "127.0.0.1",
      listener.addr.port,
    );
    using _peer = await accepted;
    const before = transport.getWriteBufferLimits();
    throwsAtCall(() => transport.setWriteBufferLimits(-1), RangeError);
    throwsAtCall(() => transport.setWriteBufferLimits(10, 20), RangeError);
    throwsAtCall(() => transport.setWriteBufferLimits(NaN), RangeError);
    throwsAtCall(
      () => transport.setWriteBufferLimits("1" as unknown as number),
      TypeError,
    );
    assert.deepEqual(transport.getWriteBufferLimits(), before);
    transport.setWriteBufferLimits(100, 10);
    assert.deepEqual(transport.getWriteBufferLimits(), [10, 100]);
    transport.close();
    assert.equal(
      await bounded("connectionLost()", protocol.lost.promise),
      null,
    );
    await stillUsable(loop);
  },
);

loopTest(
  "callLater(NaN), callAt(NaN), callSoon(42) etc. throw at the call; the loop stays usable",
  async ({ loop }) => {
    const cb = () => assert.fail("a rejected callback ran");
    throwsAtCall(() => loop.callLater(NaN, cb), RangeError, /NaN/);
    throwsAtCall(() => loop.callAt(NaN, cb), RangeError, /NaN/);
    throwsAtCall(
      () => loop.callLater("1" as unknown as number, cb),
      TypeError,
    );
    throwsAtCall(
      () => loop.callSoon(42 as unknown as () => void),
      TypeError,
    );
    throwsAtCall(
      () => loop.callLater(0, "cb" as unknown as () => void),
      TypeError,
    );
    throwsAtCall(
      () => loop.callSoonThreadsafe(null as unknown as () => void),
      TypeError,
    );
    await stillUsable(loop);
  },
);

loopTest(
  "createServer() with port 70000 is a RangeError; the loop stays usable",
  async ({ loop }) => {
    let server: { close(): void; waitClosed(): Promise<void> } | null = null;
    try {
      server = await loop.createServer(
        () => new Protocol(),
        "127.0.0.1",
        70000,
      );
    } catch (error) {
      assert.ok(
        error instanceof RangeError,
        `expected RangeError, got ${(error as Error).name}: ${
          (error as Error).message
        }`,
      );
    }
    if (server !== null) {
      server.close();
      await server.waitClosed();
      assert.fail("a server listened on port 70000");
    }
    await stillUsable(loop);
  },
);

loopTest(
  "DatagramTransport.sendto() of a string is a TypeError at the call",
  async ({ loop }) => {
    const lost = Promise.withResolvers<Error | null>();
    const [transport] = await loop.createDatagramEndpoint(
      () =>
        new class extends DatagramProtocol {
          override connectionLost(exc: Error | null) {
            lost.resolve(exc);
          }
        }(),
      ["127.0.0.1", 0],
    );
    try {
      const addr = transport.getExtraInfo("sockname") as [string, number];
      throwsAtCall(
        () => transport.sendto("x" as unknown as Uint8Array, addr),
        TypeError,
      );
    } finally {
      transport.close();
    }
    assert.equal(await bounded("connectionLost()", lost.promise), null);
    await stillUsable(loop);
  },
);
