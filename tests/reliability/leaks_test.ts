/**
 * Reliability, family 3: memory and leaks. Thousands of connections through
 * `createServer()`/`createConnection()` leave no resource or fd behind, and
 * a write buffer detached after `write()` is never lost silently.
 */
import assert from "node:assert/strict";
import { type EventLoop, Protocol, type Transport } from "../../mod.ts";
import { bounded, drain, loopTest, Recorder } from "./_util.ts";

loopTest(
  "createConnection()/createServer(): 2,000 connections opened and closed leave resources and fds at baseline",
  async ({ loop }) => {
    const TOTAL = 2000;
    const BATCH = 100;
    let serverLost = 0;
    const allServerLost = Promise.withResolvers<void>();
    const serverErrors: Error[] = [];
    class Closer extends Protocol {
      override connectionLost(exc: Error | null): void {
        if (exc !== null) serverErrors.push(exc);
        if (++serverLost === TOTAL) allServerLost.resolve();
      }
    }
    const server = await loop.createServer(
      () => new Closer(),
      "127.0.0.1",
      0,
    );
    try {
      const [host, port] = server.sockets[0].getsockname() as [string, number];
      const one = async () => {
        const [transport, protocol] = await loop.createConnection(
          () => new Recorder(),
          host,
          port,
        );
        transport.write(new Uint8Array([1]));
        transport.close();
        assert.equal(await protocol.lost.promise, null);
      };
      for (let done = 0; done < TOTAL; done += BATCH) {
        await Promise.all(Array.from({ length: BATCH }, one));
      }
      await bounded(
        "the server side's connectionLost()",
        allServerLost.promise,
      );
      assert.deepEqual(serverErrors.map((e) => e.message), []);
    } finally {
      server.close();
      await server.waitClosed();
    }
  },
  { seconds: 20 },
);

loopTest(
  "createUnixServer()/createUnixConnection(): 500 connections leave resources and fds at baseline, and close() removes the socket file",
  async ({ loop }) => {
    const TOTAL = 500;
    const dir = await Deno.makeTempDir({ prefix: "aio_reliability_" });
    try {
      const path = `${dir}/s.sock`;
      let serverLost = 0;
      const allServerLost = Promise.withResolvers<void>();
      class Closer extends Protocol {
        override connectionLost(): void {
          if (++serverLost === TOTAL) allServerLost.resolve();
        }
      }
      const server = await loop.createUnixServer(() => new Closer(), path);
      try {
        const one = async () => {
          const [transport, protocol] = await loop.createUnixConnection(
            () => new Recorder(),
            path,
          );
          transport.write(new Uint8Array([1]));
          transport.close();
          assert.equal(await protocol.lost.promise, null);
        };
        for (let done = 0; done < TOTAL; done += 50) {
          await Promise.all(Array.from({ length: 50 }, one));
        }
        await bounded(
          "the server side's connectionLost()",
          allServerLost.promise,
        );
      } finally {
        server.close();
        await server.waitClosed();
      }
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A transport connected to a raw peer that reads everything. */
async function toDrainingPeer(loop: EventLoop): Promise<{
  transport: Transport;
  protocol: Recorder;
  peerDone: Promise<{ n: number; end: string }>;
}> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const [transport, protocol] = await loop.createConnection(
    () => new Recorder(),
    "127.0.0.1",
    listener.addr.port,
  );
  const peer = await accepted;
  const peerDone = drain(peer).finally(() => peer.close());
  return { transport, protocol, peerDone };
}

loopTest(
  "Transport.write() of 1 MiB then detaching the buffer: no byte is lost silently",
  async ({ loop, errors }) => {
    const { transport, protocol, peerDone } = await toDrainingPeer(loop);
    const b = new Uint8Array(1 << 20);
    transport.write(b);
    b.buffer.transfer(); // The caller breaks write()'s contract.
    transport.close();
    const exc = await bounded("connectionLost()", protocol.lost.promise);
    const peer = await bounded("the peer's EOF", peerDone);
    if (exc === null) {
      // Only if every byte still went out (the write in flight kept them).
      assert.equal(
        peer.n,
        1 << 20,
        `connectionLost(null) but the peer got ${peer.n} of ${
          1 << 20
        } bytes: data was lost silently`,
      );
      assert.deepEqual(errors, []);
    } else {
      assert.ok(exc instanceof Error, `connectionLost(${exc})`);
      assert.match(exc.message, /detached/);
      errors.splice(0);
    }
  },
  { allowErrors: true },
);

loopTest(
  "Transport.write() of 16 MiB then detaching the buffer: connectionLost() gets an Error naming it",
  async ({ loop, errors }) => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const [transport, protocol] = await loop.createConnection(
      () => new Recorder(),
      "127.0.0.1",
      listener.addr.port,
    );
    using peer = await accepted;
    // The peer reads nothing yet: more than the kernel buffers hold stays
    // queued in the transport, in the array that is about to be detached.
    const b = new Uint8Array(16 << 20);
    transport.write(b);
    b.buffer.transfer();
    transport.close();
    const exc = await bounded("connectionLost()", protocol.lost.promise);
    assert.ok(exc instanceof Error, `connectionLost(${exc}): a silent loss`);
    assert.match(exc.message, /detached/);
    // Reported as a fatal error too, as asyncio's _fatal_error does.
    assert.ok(
      errors.some((e) => e.exception === exc),
      `the exception handler got: ${errors.map((e) => e.message)}`,
    );
    const end = await bounded("the peer's EOF", drain(peer));
    assert.ok(end.n < 16 << 20, "the peer got every byte");
  },
  { allowErrors: true },
);

loopTest(
  "Transport.write() of an already detached view is a TypeError at the call",
  async ({ loop }) => {
    const { transport, protocol, peerDone } = await toDrainingPeer(loop);
    const view = new Uint8Array(16);
    view.buffer.transfer();
    let thrown: unknown = null;
    try {
      transport.write(view);
    } catch (error) {
      thrown = error;
    }
    assert.ok(
      thrown instanceof TypeError && /detached/i.test(thrown.message),
      `write() of a detached view must be a TypeError saying so, got ${thrown}`,
    );
    // The transport is unharmed.
    transport.write(new Uint8Array([7, 8, 9]));
    transport.close();
    assert.equal(
      await bounded("connectionLost()", protocol.lost.promise),
      null,
    );
    assert.equal((await bounded("the peer's EOF", peerDone)).n, 3);
  },
);
