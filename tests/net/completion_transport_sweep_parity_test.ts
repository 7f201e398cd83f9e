/**
 * asyncio's proactor transport checks, which test completion-based
 * transports as these are (a read is started and completes later, a write
 * is handed to the OS and completes later), where the package's other
 * transport tests leave them open, checked on real connections (TCP on
 * 127.0.0.1, port 0): `close()` while a write is still in flight (the
 * connection is lost only once the buffer has drained, after
 * `resumeWriting()`; a write that then fails is what `connectionLost()`
 * gets), `pauseReading()` and `resumeReading()` called around
 * reads in flight (twice in a row, back to back, from inside and outside the
 * protocol) for a `Protocol` and a `BufferedProtocol`, a `BufferedProtocol`
 * replaced by another while a read is in flight, a protocol replaced while
 * a completed read is held because reading is paused, a server that stops
 * serving while another server of the same loop goes on, and
 * `sockSendfile()` from a file that is not a regular one.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  type EventLoop,
  SendfileNotAvailableError,
  SHUT_WR,
  SOCK_STREAM,
  socket,
} from "../../mod.ts";
import { steps } from "../_util.ts";
import {
  addrOf,
  assertSameBytes,
  BufferedCollector,
  bytes,
  concat,
  connectPair,
  Echo,
  netTest,
  pattern,
  receivedAtLeast,
  Recorder,
  text,
} from "./_net.ts";

/**
 * Lets the loop run a full round trip on a connection of its own: what
 * was in flight elsewhere had every chance to complete meanwhile.
 */
async function roundTrip(loop: EventLoop): Promise<void> {
  await using other = await connectPair(loop, new Recorder(loop));
  other.transport.write(bytes("ping"));
  await receivedAtLeast(loop, other.peer, 4);
}

// ---- closing with a write in flight -------------------------------------------

netTest(
  "close() while a write is in flight: connectionLost() waits until the buffer has drained, resumeWriting() comes first, then connectionLost(null); the peer gets every byte, then EOF",
  async ({ loop }) => {
    const sizes: number[] = [];
    class Writer extends Recorder {
      override resumeWriting(): void {
        super.resumeWriting();
        sizes.push(this.transport!.getWriteBufferSize());
      }
    }
    await using c = await connectPair(loop, new Writer(loop), {
      pausePeer: true,
    });
    const t = c.transport;
    const body = pattern(16 * 1024 * 1024);
    t.write(body);
    assert.deepEqual(c.client.events, ["made", "pause"]);
    t.close();
    assert.equal(t.isClosing(), true);
    assert.equal(t.isReading(), false);
    // The peer reads nothing: the write cannot complete, and the connection
    // is not lost however long the loop runs.
    await roundTrip(loop);
    assert.deepEqual(
      c.client.events,
      ["made", "pause"],
      "connectionLost() ran with data still unsent",
    );
    assert.ok(t.getWriteBufferSize() > 0, "the whole body left already");
    c.peer.transport!.resumeReading();
    await c.client.lost;
    assert.deepEqual(c.client.events, ["made", "pause", "resume", "lost"]);
    assert.equal(c.client.lostWith, null);
    assert.equal(sizes.length, 1);
    assert.ok(sizes[0] <= t.getWriteBufferLimits()[0], `resumed at ${sizes}`);
    assert.equal(t.getWriteBufferSize(), 0);
    await c.peer.lost;
    assertSameBytes(c.peer.received(), body);
    assert.deepEqual(c.peer.events, ["made", "data", "eof", "lost"]);
  },
);

netTest(
  "close() while a write is in flight, then the peer resets: connectionLost() gets the write's error, not null, and the exception handler is not called",
  async ({ loop, takeErrors }) => {
    await using c = await connectPair(loop, new Recorder(loop), {
      pausePeer: true,
    });
    const t = c.transport;
    t.write(pattern(16 * 1024 * 1024));
    t.close();
    // The peer drops the connection with bytes unread: the kernel resets it.
    c.peer.transport!.abort();
    await c.client.lost;
    assert.ok(
      c.client.lostWith instanceof Deno.errors.BrokenPipe ||
        c.client.lostWith instanceof Deno.errors.ConnectionReset,
      `lost with ${c.client.lostWith}`,
    );
    assert.deepEqual(c.client.events, ["made", "pause", "lost"]);
    assert.equal(t.getWriteBufferSize(), 0);
    assert.deepEqual(takeErrors().map((e) => e.message), []);
  },
);

// ---- pausing and resuming around reads in flight ------------------------------

for (const kind of ["Protocol", "BufferedProtocol"] as const) {
  netTest(
    `${kind}: pauseReading() and resumeReading() around reads in flight (twice in a row, back to back, inside and outside the protocol): every byte arrives once and in order, then EOF; nothing reaches the exception handler`,
    async ({ loop }) => {
      const client = kind === "Protocol"
        ? new Recorder(loop)
        : new BufferedCollector(loop, 1000);
      await using c = await connectPair(loop, client);
      const t = c.transport;
      let calls = 0;
      const toggle = () => {
        calls++;
        // Back to back in the same callback: no second read may start.
        t.pauseReading();
        t.resumeReading();
        if (calls % 3 === 1) {
          t.pauseReading();
          t.pauseReading();
          assert.equal(t.isReading(), false);
          loop.callSoon(() => {
            t.resumeReading();
            t.resumeReading();
          });
        }
      };
      if (client instanceof Recorder) client.onData = toggle;
      else client.onUpdate = toggle;
      const body = pattern(2 * 1024 * 1024);
      c.peer.transport!.write(body);
      c.peer.transport!.writeEof();
      // From outside the protocol, while data streams in.
      for (let i = 0; i < 50 && !client.lost.done(); i++) {
        await steps(1);
        if (t.isClosing()) break;
        t.pauseReading();
        t.pauseReading();
        assert.equal(t.isReading(), false);
        if (i % 2 === 0) await steps(1);
        t.resumeReading();
        t.resumeReading();
        assert.equal(t.isClosing() || t.isReading(), true);
      }
      await client.lost;
      assert.ok(calls > 1, `${calls} deliveries`);
      assert.equal(client.lostWith, null);
      assertSameBytes(client.received(), body);
      assert.deepEqual(
        client.events,
        kind === "Protocol"
          ? ["made", "data", "eof", "lost"]
          : ["made", "updated", "eof", "lost"],
      );
      assert.equal(t.isReading(), false);
    },
  );
}

// ---- switching buffered protocols ---------------------------------------------

netTest(
  "setProtocol() from a BufferedProtocol to another while a read is in flight: the new one's buffer gets the bytes, the old one's bufferUpdated() is never called",
  async ({ loop }) => {
    const first = new BufferedCollector(loop, 64);
    await using c = await connectPair(loop, first);
    // createConnection() resolved after reading started: a read is in flight.
    const next = new BufferedCollector(loop, 64);
    c.transport.setProtocol(next);
    assert.equal(c.transport.getProtocol(), next);
    c.peer.transport!.write(bytes("hello"));
    await next.until(5);
    assert.equal(text(next.received()), "hello");
    c.peer.transport!.write(bytes(" world"));
    await next.until(11);
    assert.equal(text(next.received()), "hello world");
    assert.ok(next.hints.length >= 2, `${next.hints.length} getBuffer()`);
    c.peer.transport!.close();
    await next.lost;
    assert.deepEqual(next.events, ["updated", "eof", "lost"]);
    assert.equal(next.lostWith, null);
    assert.deepEqual(first.events, ["made"]);
    assert.equal(first.nbytes, 0);
  },
);

for (
  const [from, to] of [
    ["Protocol", "Protocol"],
    ["Protocol", "BufferedProtocol"],
    ["BufferedProtocol", "Protocol"],
    ["BufferedProtocol", "BufferedProtocol"],
  ] as const
) {
  netTest(
    `setProtocol() from a ${from} to a ${to} while reading is paused with bytes already read: after resumeReading() the new protocol gets them, then the rest; the old one gets nothing`,
    async ({ loop }) => {
      const make = (kind: typeof from) =>
        kind === "Protocol"
          ? new Recorder(loop)
          : new BufferedCollector(loop, 64);
      const first = make(from);
      await using c = await connectPair(loop, first);
      c.transport.pauseReading();
      c.peer.transport!.write(bytes("hello"));
      // The read in flight completes meanwhile, and is held.
      await roundTrip(loop);
      const next = make(to);
      c.transport.setProtocol(next);
      c.transport.resumeReading();
      c.peer.transport!.write(bytes(" world"));
      c.peer.transport!.close();
      await next.lost;
      assert.equal(text(next.received()), "hello world");
      assert.equal(next.lostWith, null);
      assert.deepEqual(next.events.slice(-2), ["eof", "lost"]);
      assert.deepEqual(first.events, ["made"]);
      assert.equal(first.nbytes, 0);
    },
  );
}

// ---- servers ------------------------------------------------------------------

netTest(
  "two servers on one loop: closing one stops only its accepts; the other still accepts and serves",
  async ({ loop }) => {
    const one = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
    const two = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
    const [, portOne] = addrOf(one);
    const [, portTwo] = addrOf(two);
    one.close();
    await one.waitClosed();
    assert.equal(one.isServing(), false);
    assert.equal(two.isServing(), true);
    assert.equal(two.sockets.length, 1);
    await assert.rejects(
      loop.createConnection(() => new Recorder(loop), "127.0.0.1", portOne),
      Deno.errors.ConnectionRefused,
    );
    const client = new Recorder(loop);
    const [t] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      portTwo,
    );
    t.write(bytes("ping"));
    await receivedAtLeast(loop, client, 4);
    assert.equal(text(client.received()), "ping");
    t.writeEof();
    await client.lost;
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    two.close();
    await two.waitClosed();
  },
);

// ---- sockSendfile -------------------------------------------------------------

netTest(
  "sockSendfile() from a file that is not a regular one (/dev/zero): with fallback: false a SendfileNotAvailableError, nothing sent; with the fallback, count bytes are sent",
  async ({ loop }) => {
    const listener = socket(AF_INET, SOCK_STREAM);
    listener.bind(["127.0.0.1", 0]);
    listener.listen(1);
    const client = socket(AF_INET, SOCK_STREAM);
    const accepted = loop.sockAccept(listener);
    await loop.sockConnect(client, listener.getsockname());
    const [server] = await accepted;
    try {
      using file = await Deno.open("/dev/zero");
      await assert.rejects(
        loop.sockSendfile(client, file, 0, 5000, { fallback: false }),
        SendfileNotAvailableError,
      );
      assert.equal(await loop.sockSendfile(client, file, 0, 5000), 5000);
      client.shutdown(SHUT_WR);
      const chunks: Uint8Array[] = [];
      for (;;) {
        const data = await loop.sockRecv(server, 65536);
        if (data.length === 0) break;
        chunks.push(data);
      }
      assertSameBytes(concat(chunks), new Uint8Array(5000));
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
);
