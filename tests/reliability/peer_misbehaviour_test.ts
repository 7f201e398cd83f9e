/**
 * Reliability, family 2: a peer that misbehaves. The peer is a raw
 * `Deno.listen` connection on the other side of a transport made by
 * `createConnection()`: it resets mid-stream, half-closes, never reads, or
 * reads only after the transport was closed.
 */
import assert from "node:assert/strict";
import net from "node:net";
import type { EventLoop, Transport } from "../../mod.ts";
import {
  assertSameBytes,
  bounded,
  drain,
  loopTest,
  pattern,
  Recorder,
} from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A transport connected to a raw peer; both are closed on dispose. */
async function connectPair(loop: EventLoop): Promise<
  {
    transport: Transport;
    protocol: Recorder;
    peer: Deno.Conn;
  } & AsyncDisposable
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const [transport, protocol] = await loop.createConnection(
      () => new Recorder(),
      "127.0.0.1",
      listener.addr.port,
    );
    const peer = await accepted;
    return {
      transport,
      protocol,
      peer,
      async [Symbol.asyncDispose]() {
        transport.abort();
        await protocol.lost.promise;
        try {
          peer.close();
        } catch {
          // Closed by the test.
        }
      },
    };
  } finally {
    listener.close();
  }
}

loopTest(
  "Protocol.connectionLost() gets ConnectionReset when the peer resets mid-stream",
  async ({ loop }) => {
    // The one peer here that is not a raw Deno connection: Deno cannot set
    // SO_LINGER, and this kernel (gVisor) answers a close() with unread
    // bytes with a FIN, not a reset. node:net's resetAndDestroy() does reset.
    const server = net.createServer((socket) => {
      socket.write("hello");
      socket.once("data", () => socket.resetAndDestroy());
    });
    const listening = Promise.withResolvers<void>();
    server.listen(0, "127.0.0.1", () => listening.resolve());
    await listening.promise;
    const closed = Promise.withResolvers<void>();
    try {
      const { port } = server.address() as net.AddressInfo;
      const [transport, protocol] = await loop.createConnection(
        () => new Recorder(),
        "127.0.0.1",
        port,
      );
      await bounded(
        "the first bytes",
        protocol.until(() => protocol.received >= 5),
      );
      transport.write(encoder.encode("x")); // The peer resets on this.
      const exc = await bounded("connectionLost()", protocol.lost.promise);
      assert.ok(
        exc instanceof Deno.errors.ConnectionReset,
        `expected ConnectionReset, got ${exc === null ? "null" : exc.name}`,
      );
      assert.deepEqual(protocol.events, [
        "made",
        "data",
        "lost:ConnectionReset",
      ]);
    } finally {
      server.close(() => closed.resolve());
      await closed.promise;
    }
  },
);

loopTest(
  "Protocol.eofReceived() then connectionLost(null) when the peer half-closes",
  async ({ loop }) => {
    await using pair = await connectPair(loop);
    const { protocol, peer } = pair;
    await peer.write(encoder.encode("bye"));
    await peer.closeWrite();
    const exc = await bounded("connectionLost()", protocol.lost.promise);
    assert.equal(exc, null);
    assert.deepEqual(protocol.events, ["made", "data", "eof", "lost:null"]);
    assert.equal(decoder.decode(protocol.chunks[0]), "bye");
    // eofReceived() returned false, so the transport closed: the peer sees EOF.
    const end = await bounded("the peer's EOF", drain(peer));
    assert.deepEqual([end.n, end.end], [0, "eof"]);
  },
);

loopTest(
  "Transport.write() still works after eofReceived() returns true on a half-close",
  async ({ loop }) => {
    await using pair = await connectPair(loop);
    const { transport, protocol, peer } = pair;
    protocol.keepOpenOnEof = true;
    await peer.closeWrite();
    await bounded(
      "eofReceived()",
      protocol.until(() => protocol.events.includes("eof")),
    );
    assert.equal(transport.isClosing(), false);
    transport.write(encoder.encode("reply"));
    transport.close();
    const end = await bounded("the peer's EOF", drain(peer, true));
    assert.deepEqual([decoder.decode(end.data), end.end], ["reply", "eof"]);
    assert.equal(await protocol.lost.promise, null);
    assert.deepEqual(protocol.events, ["made", "eof", "lost:null"]);
  },
);

loopTest(
  "Transport.abort() with megabytes unsent to a peer that never reads releases everything",
  async ({ loop }) => {
    await using pair = await connectPair(loop);
    const { transport, protocol, peer } = pair;
    protocol.keepData = false;
    const chunk = new Uint8Array(1 << 16);
    for (let i = 0; i < 128; i++) transport.write(chunk); // 8 MiB
    // The peer reads nothing, so the kernel buffers fill and the rest waits.
    await bounded(
      "pauseWriting()",
      protocol.until(() => protocol.events.includes("pause")),
    );
    assert.ok(transport.getWriteBufferSize() > 0, "nothing left to send?");
    transport.abort();
    assert.equal(transport.isClosing(), true);
    const exc = await bounded("connectionLost()", protocol.lost.promise);
    assert.equal(exc, null, "abort() reports connectionLost(null), as asyncio");
    assert.equal(transport.getWriteBufferSize(), 0);
    // The peer starts reading only now: whatever got through, then EOF/reset.
    const end = await bounded("the peer's EOF or reset", drain(peer));
    assert.ok(end.n < 8 << 20, `the peer got all ${end.n} bytes`);
    assert.ok(["eof", "reset"].includes(end.end));
  },
);

loopTest(
  "Transport.close() flushes everything written before it to a slow reader, then EOF",
  async ({ loop }) => {
    await using pair = await connectPair(loop);
    const { transport, protocol, peer } = pair;
    const data = pattern(4 << 20);
    for (let i = 0; i < data.length; i += 1 << 18) {
      transport.write(data.subarray(i, i + (1 << 18)));
    }
    transport.close();
    assert.equal(transport.isClosing(), true);
    assert.equal(protocol.lostWith, undefined, "lost before the data went out");
    // The peer had not read anything before close(); it reads now.
    const end = await bounded("the peer's reads", drain(peer, true));
    assert.equal(end.end, "eof");
    assertSameBytes(end.data, data);
    assert.equal(await protocol.lost.promise, null);
  },
);
