/**
 * Stream connections and servers: `createConnection` / `createServer` over
 * TCP (127.0.0.1, port 0) and their Unix-socket variants, the socket
 * transport (callback order, half-close, writes after close, flow control,
 * buffered protocols, abort and reset), and `Server` (close, waitClosed,
 * closeClients/abortClients, serveForever, startServing, `await using`).
 * Ported from the checks of CPython's `test_events.py`,
 * `test_selector_events.py`, `test_sock_lowlevel.py` and `test_server.py`.
 * All of these do real I/O, so they run on the real `EventLoop` only.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  BufferedProtocol,
  CancelledError,
  type EventLoop,
  getRunningLoop,
  Protocol,
  RuntimeError,
  type Server,
  SOCK_STREAM,
  Socket,
  socket,
  type Transport,
} from "../../mod.ts";
import { captureLogger } from "../_util.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  Echo,
  netTest,
  pattern,
  receivedAtLeast,
  Recorder,
  text,
} from "./_net.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** The `[host, port]` a TCP server listens on. */
function addrOf(server: Server, index = 0): [string, number] {
  return server.sockets[index].getsockname() as [string, number];
}

/** A port nothing listens on: bound, read, then closed. */
function refusedPort(): number {
  const sock = socket();
  sock.bind(["127.0.0.1", 0]);
  const [, port] = sock.getsockname() as [string, number];
  sock.close();
  return port;
}

/** Records server-side protocols as the factory makes them. */
function recorders(loop: EventLoop): {
  list: Recorder[];
  factory: () => Recorder;
  next: () => Promise<Recorder>;
} {
  const list: Recorder[] = [];
  const waiting = new Map<number, (r: Recorder) => void>();
  let taken = 0;
  return {
    list,
    factory: () => {
      const r = new Recorder(loop);
      list.push(r);
      const waiter = waiting.get(list.length - 1);
      waiting.delete(list.length - 1);
      waiter?.(r);
      return r;
    },
    next: () => {
      const index = taken++;
      if (index < list.length) return Promise.resolve(list[index]);
      const fut = loop.createFuture<Recorder>();
      waiting.set(index, (r) => fut.setResult(r));
      return fut as unknown as Promise<Recorder>;
    },
  };
}

/** Starts a TCP server of recorders on 127.0.0.1 and connects one client. */
async function connected(loop: EventLoop): Promise<{
  server: Server;
  client: Recorder;
  peer: Recorder;
  transport: Transport;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const rec = recorders(loop);
  const server = await loop.createServer(rec.factory, "127.0.0.1", 0);
  const [host, port] = addrOf(server);
  const [transport, client] = await loop.createConnection(
    () => new Recorder(loop),
    host,
    port,
  );
  const peer = await rec.next();
  await peer.made;
  return {
    server,
    client,
    peer,
    transport,
    async [Symbol.asyncDispose]() {
      transport.abort();
      await client.lost;
      server.close();
      server.abortClients();
      await server.waitClosed();
    },
  };
}

// ---- callback order ---------------------------------------------------------

netTest(
  "TCP: connectionMade → dataReceived → eofReceived → connectionLost on both ends",
  async ({ loop }) => {
    const rec = recorders(loop);
    const server = await loop.createServer(rec.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const [transport, client] = await loop.createConnection(
      () => new Recorder(loop),
      host,
      port,
    );
    // createConnection resolves after connectionMade ran.
    assert.deepEqual(client.events, ["made"]);
    assert.equal(client.transport, transport);
    transport.write(bytes("hello "));
    transport.writelines([bytes("wor"), bytes("ld")]);
    transport.writeEof();
    const peer = await rec.next();
    await peer.lost;
    assert.deepEqual(peer.events, ["made", "data", "eof", "lost"]);
    assert.equal(text(peer.received()), "hello world");
    assert.equal(peer.lostWith, null);
    // The server's transport closed on EOF: the client sees EOF too.
    await client.lost;
    assert.deepEqual(client.events, ["made", "eof", "lost"]);
    assert.equal(client.lostWith, null);
    assert.equal(transport.isClosing(), true);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "protocol callbacks run on the loop (getRunningLoop inside connectionMade)",
  async ({ loop }) => {
    const seen: unknown[] = [];
    class P extends Protocol {
      override connectionMade(t: Transport): void {
        seen.push(getRunningLoop());
        t.close();
      }
    }
    await using server = await loop.createServer(() => new P(), "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const r = new Recorder(loop);
    r.connectionMade = (t: Transport) => {
      seen.push(getRunningLoop());
      Recorder.prototype.connectionMade.call(r, t);
    };
    await loop.createConnection(() => r, host, port);
    await r.lost;
    assert.equal(seen.length, 2);
    assert.ok(seen.every((l) => l === loop));
  },
);

netTest(
  "Unix sockets: callback order, peername/sockname paths, and the socket file is removed on close",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/srv.sock`;
      const rec = recorders(loop);
      const server = await loop.createUnixServer(rec.factory, path);
      assert.equal(server.sockets[0].getsockname(), path);
      assert.ok(Deno.lstatSync(path).isSocket);
      const [transport, client] = await loop.createUnixConnection(
        () => new Recorder(loop),
        path,
      );
      assert.equal(transport.getExtraInfo("peername"), path);
      transport.write(bytes("over unix"));
      transport.writeEof();
      const peer = await rec.next();
      await peer.lost;
      assert.deepEqual(peer.events, ["made", "data", "eof", "lost"]);
      assert.equal(text(peer.received()), "over unix");
      assert.equal(peer.transport!.getExtraInfo("sockname"), path);
      await client.lost;
      assert.deepEqual(client.events, ["made", "eof", "lost"]);
      server.close();
      await server.waitClosed();
      assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "Unix server: cleanupSocket: false is refused (Deno removes the file); a stale socket file is replaced",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/keep.sock`;
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), path, {
          cleanupSocket: false,
        }),
        (e) =>
          e instanceof Deno.errors.NotSupported &&
          /cleanupSocket/.test((e as Error).message),
      );
      // A stale socket file (left by a listener of another process) is
      // replaced by a new server.
      const stale = await new Deno.Command("python3", {
        args: [
          "-c",
          "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
          path,
        ],
      }).output();
      assert.equal(stale.success, true);
      assert.ok(Deno.lstatSync(path).isSocket);
      const second = await loop.createUnixServer(rec(loop), path);
      const r = new Recorder(loop);
      const [t] = await loop.createUnixConnection(() => r, path);
      t.close();
      await r.lost;
      second.close();
      await second.waitClosed();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function rec(loop: EventLoop): () => Recorder {
  return () => new Recorder(loop);
}

netTest(
  "Unix: createUnixConnection to a missing path rejects; path and sock together is a RangeError",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        loop.createUnixConnection(rec(loop), `${dir}/none.sock`),
        Deno.errors.NotFound,
      );
      using s = socket();
      await assert.rejects(
        loop.createUnixConnection(rec(loop), `${dir}/x.sock`, { sock: s }),
        RangeError,
      );
      await assert.rejects(loop.createUnixConnection(rec(loop)), RangeError);
      await assert.rejects(loop.createUnixServer(rec(loop)), RangeError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ---- half-close ---------------------------------------------------------------

netTest(
  "eofReceived returning true keeps the transport open for writing (half-close)",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    await using server = await loop.createServer(
      () => {
        const r = rec2.factory();
        r.keepOpenOnEof = true;
        r.onData = () => {};
        return r;
      },
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    const [transport, client] = await loop.createConnection(
      rec(loop),
      host,
      port,
    );
    transport.write(bytes("request"));
    transport.writeEof();
    const peer = await rec2.next();
    await peer.eof;
    assert.equal(peer.transport!.isClosing(), false);
    // The server still writes after the client's EOF.
    peer.transport!.write(bytes("response"));
    peer.transport!.close();
    await client.lost;
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    assert.equal(text(client.received()), "response");
    await peer.lost;
    assert.deepEqual(peer.events, ["made", "data", "eof", "lost"]);
  },
);

netTest(
  "writeEof: canWriteEof() is true, writeEof twice is harmless, write after it is a RuntimeError",
  async ({ loop }) => {
    await using c = await connected(loop);
    assert.equal(c.transport.canWriteEof(), true);
    c.transport.write(bytes("x"));
    c.transport.writeEof();
    c.transport.writeEof();
    assert.throws(() => c.transport.write(bytes("y")), RuntimeError);
    await c.peer.eof;
    assert.equal(text(c.peer.received()), "x");
  },
);

// ---- writing ----------------------------------------------------------------

netTest(
  "write(string) and write(number) are TypeErrors; write(empty) is a no-op",
  async ({ loop }) => {
    await using c = await connected(loop);
    assert.throws(() => c.transport.write("text" as Loose), TypeError);
    assert.throws(() => c.transport.write(42 as Loose), TypeError);
    assert.throws(() => c.transport.writelines(["a"] as Loose), TypeError);
    c.transport.write(new Uint8Array(0));
    assert.equal(c.transport.getWriteBufferSize(), 0);
  },
);

netTest(
  "write() after close() drops the data silently; from the 5th such write on it warns",
  async ({ loop }) => {
    using log = captureLogger();
    await using c = await connected(loop);
    c.transport.close();
    assert.equal(c.transport.isClosing(), true);
    for (let i = 0; i < 4; i++) c.transport.write(bytes("dropped"));
    assert.deepEqual(log.warnings, []);
    c.transport.write(bytes("dropped"));
    assert.equal(log.warnings.length, 1);
    c.transport.write(bytes("dropped"));
    c.transport.write(bytes("dropped"));
    assert.equal(log.warnings.length, 3);
    await c.client.lost;
    await c.peer.lost;
    assert.equal(c.peer.nbytes, 0, "data written after close() was sent");
    assert.deepEqual(c.client.events, ["made", "lost"]);
  },
);

netTest(
  "write() after the connection is lost (abort) is dropped and warns from the 5th",
  async ({ loop }) => {
    using log = captureLogger();
    await using c = await connected(loop);
    c.transport.abort();
    await c.client.lost;
    for (let i = 0; i < 7; i++) c.transport.write(bytes("z"));
    assert.equal(log.warnings.length, 3);
    assert.deepEqual(log.errors, []);
  },
);

netTest(
  "close() sends buffered data before the connection ends",
  async ({ loop }) => {
    await using c = await connected(loop);
    const data = pattern(1_000_000);
    c.transport.write(data);
    c.transport.close();
    assert.equal(c.transport.isClosing(), true);
    await c.peer.lost;
    assert.equal(c.peer.nbytes, data.length);
    assert.deepEqual(c.peer.received(), data);
    assert.deepEqual(c.peer.events, ["made", "data", "eof", "lost"]);
    await c.client.lost;
    assert.equal(c.client.lostWith, null);
  },
);

netTest("close() is idempotent: connectionLost runs once", async ({ loop }) => {
  await using c = await connected(loop);
  c.transport.close();
  c.transport.close();
  c.transport.abort();
  await c.client.lost;
  await c.peer.lost;
  assert.deepEqual(c.client.events, ["made", "lost"]);
});

// ---- extra info, protocol switching -----------------------------------------

netTest(
  "getExtraInfo: peername, sockname and socket on both ends",
  async ({ loop }) => {
    await using c = await connected(loop);
    const [host, port] = addrOf(c.server);
    assert.deepEqual(c.transport.getExtraInfo("peername"), [host, port]);
    const sockname = c.transport.getExtraInfo("sockname") as [string, number];
    assert.equal(sockname[0], "127.0.0.1");
    assert.deepEqual(c.peer.transport!.getExtraInfo("peername"), sockname);
    assert.deepEqual(c.peer.transport!.getExtraInfo("sockname"), [host, port]);
    const sock = c.transport.getExtraInfo("socket");
    assert.ok(sock instanceof Socket);
    assert.equal(sock.family, AF_INET);
    assert.equal(sock.type, SOCK_STREAM);
    assert.equal(c.transport.getExtraInfo("nonexistent"), null);
    assert.equal(c.transport.getExtraInfo("nonexistent", 42), 42);
    // The transport owns the socket.
    assert.throws(() => (sock as Socket).recv(1), RuntimeError);
  },
);

netTest(
  "setProtocol switches where data goes; getProtocol reports it",
  async ({ loop }) => {
    await using c = await connected(loop);
    assert.equal(c.peer.transport!.getProtocol(), c.peer);
    const other = new Recorder(loop);
    c.peer.transport!.setProtocol(other);
    assert.equal(c.peer.transport!.getProtocol(), other);
    c.transport.write(bytes("to the new one"));
    await receivedAtLeast(loop, other, 14);
    assert.equal(text(other.received()), "to the new one");
    assert.equal(c.peer.nbytes, 0);
    c.transport.close();
    await other.lost;
    assert.deepEqual(other.events, ["data", "eof", "lost"]);
  },
);

// ---- reading ----------------------------------------------------------------

netTest(
  "pauseReading/resumeReading/isReading: no dataReceived while paused",
  async ({ loop }) => {
    await using c = await connected(loop);
    const t = c.transport;
    assert.equal(t.isReading(), true);
    t.pauseReading();
    assert.equal(t.isReading(), false);
    t.pauseReading(); // no-op
    assert.equal(t.isReading(), false);
    c.peer.transport!.write(bytes("while paused"));
    // A full round trip on another connection: the bytes above had every
    // chance to arrive, and must not have been delivered.
    {
      await using other = await connected(loop);
      other.transport.write(bytes("ping"));
      await receivedAtLeast(loop, other.peer, 4);
    }
    assert.equal(c.client.nbytes, 0);
    t.resumeReading();
    assert.equal(t.isReading(), true);
    t.resumeReading(); // no-op
    await receivedAtLeast(loop, c.client, 12);
    assert.equal(text(c.client.received()), "while paused");
    t.close();
    assert.equal(t.isReading(), false);
    // Pausing or resuming a closing transport is a no-op.
    t.pauseReading();
    t.resumeReading();
    assert.equal(t.isReading(), false);
  },
);

netTest(
  "EOF while paused is delivered after resumeReading",
  async ({ loop }) => {
    await using c = await connected(loop);
    c.transport.pauseReading();
    c.peer.transport!.write(bytes("last words"));
    c.peer.transport!.writeEof();
    {
      await using other = await connected(loop);
      other.transport.write(bytes("ping"));
      await receivedAtLeast(loop, other.peer, 4);
    }
    assert.deepEqual(c.client.events, ["made"]);
    c.transport.resumeReading();
    await c.client.lost;
    assert.deepEqual(c.client.events, ["made", "data", "eof", "lost"]);
    assert.equal(text(c.client.received()), "last words");
  },
);

netTest(
  "a dataReceived that throws is a fatal error: exception handler, then connectionLost(error)",
  async (fx) => {
    const { loop } = fx;
    await using c = await connected(loop);
    const boom = new Error("boom");
    c.peer.onData = () => {
      throw boom;
    };
    c.transport.write(bytes("x"));
    await c.peer.lost;
    assert.equal(c.peer.lostWith, boom);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /dataReceived/);
    assert.equal(errors[0].exception, boom);
    await c.client.lost;
  },
);

// ---- write buffer limits and flow control -----------------------------------

netTest(
  "getWriteBufferLimits/setWriteBufferLimits follow asyncio's rules",
  async ({ loop }) => {
    await using c = await connected(loop);
    const t = c.transport;
    assert.deepEqual(t.getWriteBufferLimits(), [16384, 65536]);
    t.setWriteBufferLimits(100);
    assert.deepEqual(t.getWriteBufferLimits(), [25, 100]);
    t.setWriteBufferLimits(null, 10);
    assert.deepEqual(t.getWriteBufferLimits(), [10, 40]);
    t.setWriteBufferLimits(200, 50);
    assert.deepEqual(t.getWriteBufferLimits(), [50, 200]);
    t.setWriteBufferLimits(0);
    assert.deepEqual(t.getWriteBufferLimits(), [0, 0]);
    t.setWriteBufferLimits(7);
    assert.deepEqual(t.getWriteBufferLimits(), [1, 7]);
    t.setWriteBufferLimits();
    assert.deepEqual(t.getWriteBufferLimits(), [16384, 65536]);
    assert.throws(() => t.setWriteBufferLimits(10, 20), RangeError);
    assert.throws(() => t.setWriteBufferLimits(-1), RangeError);
    assert.throws(() => t.setWriteBufferLimits(null, -1), RangeError);
    assert.throws(() => t.setWriteBufferLimits(-2, -1), RangeError);
    assert.throws(() => t.setWriteBufferLimits("1" as Loose), TypeError);
    // A failed call leaves the limits alone.
    assert.deepEqual(t.getWriteBufferLimits(), [16384, 65536]);
  },
);

netTest(
  "flow control: pauseWriting once past the high mark, resumeWriting once at the low mark; memory stays bounded",
  async ({ loop }) => {
    // The server does not read until told to.
    const rec2 = recorders(loop);
    await using server = await loop.createServer(
      () => {
        const r = rec2.factory();
        const made = r.connectionMade.bind(r);
        r.connectionMade = (t: Transport) => {
          made(t);
          t.pauseReading();
        };
        return r;
      },
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    const events: string[] = [];
    let resumed: (() => void) | null = null;
    class Writer extends Protocol {
      override pauseWriting(): void {
        events.push("pause");
      }
      override resumeWriting(): void {
        events.push("resume");
        resumed?.();
      }
    }
    const [t] = await loop.createConnection(() => new Writer(), host, port);
    const peer = await rec2.next();
    await peer.made;
    const high = 256 * 1024;
    t.setWriteBufferLimits(high);
    const [low] = t.getWriteBufferLimits();
    assert.equal(low, high / 4);

    const chunk = pattern(64 * 1024);
    let written = 0;
    let maxBuffered = 0;
    // Write until the transport asks us to stop; the peer reads nothing, so
    // the kernel buffers fill and the transport's buffer grows past `high`.
    while (events.length === 0) {
      const wait = loop.createFuture<null>();
      t.write(chunk);
      written += chunk.length;
      maxBuffered = Math.max(maxBuffered, t.getWriteBufferSize());
      if (events.length > 0) break;
      assert.ok(written < 512 * 1024 * 1024, "pauseWriting never came");
      // Let the loop run an iteration so the write completes or stalls.
      loop.callSoon(() => wait.setResult(null));
      await wait;
    }
    assert.deepEqual(events, ["pause"]);
    assert.ok(t.getWriteBufferSize() > high);
    // Only one chunk past the mark was accepted: memory is bounded.
    assert.ok(
      maxBuffered <= high + chunk.length,
      `buffered ${maxBuffered} with high ${high}`,
    );
    // Writing more while paused does not pause again.
    t.write(chunk);
    written += chunk.length;
    assert.deepEqual(events, ["pause"]);

    const resumedFut = loop.createFuture<number>();
    resumed = () => resumedFut.setResult(t.getWriteBufferSize());
    peer.transport!.resumeReading();
    const sizeAtResume = await resumedFut;
    assert.ok(sizeAtResume <= low, `resumed at ${sizeAtResume} > low ${low}`);
    assert.deepEqual(events, ["pause", "resume"]);
    t.writeEof();
    await peer.eof;
    assert.equal(peer.nbytes, written);
    t.close();
  },
);

netTest(
  "flow control: setWriteBufferLimits below the buffered size pauses at once",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    await using server = await loop.createServer(rec2.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const events: string[] = [];
    class Writer extends Protocol {
      override pauseWriting(): void {
        events.push("pause");
      }
      override resumeWriting(): void {
        events.push("resume");
      }
    }
    const [t] = await loop.createConnection(() => new Writer(), host, port);
    t.write(new Uint8Array(1000));
    // The write is in flight: its bytes count until it completes.
    assert.equal(t.getWriteBufferSize(), 1000);
    t.setWriteBufferLimits(10);
    assert.deepEqual(events, ["pause"]);
    const peer = await rec2.next();
    await receivedAtLeast(loop, peer, 1000);
    // Drained to 0 <= low: resumed.
    if (!events.includes("resume")) {
      const fut = loop.createFuture<null>();
      const poll = () => {
        if (events.includes("resume")) fut.setResult(null);
        else loop.callSoon(poll);
      };
      poll();
      await fut;
    }
    assert.deepEqual(events, ["pause", "resume"]);
    assert.equal(t.getWriteBufferSize(), 0);
    t.close();
  },
);

// ---- BufferedProtocol ---------------------------------------------------------

netTest(
  "BufferedProtocol: getBuffer/bufferUpdated receive everything, then eofReceived and connectionLost",
  async ({ loop }) => {
    const events: string[] = [];
    const hints: number[] = [];
    const received: Uint8Array[] = [];
    const lost = loop.createFuture<null>();
    class Collect extends BufferedProtocol {
      buf = new Uint8Array(1000);
      override connectionMade(): void {
        events.push("made");
      }
      override getBuffer(sizehint: number): Uint8Array {
        hints.push(sizehint);
        return this.buf;
      }
      override bufferUpdated(nbytes: number): void {
        if (events.at(-1) !== "updated") events.push("updated");
        assert.ok(nbytes > 0 && nbytes <= this.buf.length);
        received.push(this.buf.slice(0, nbytes));
      }
      override eofReceived(): boolean {
        events.push("eof");
        return false;
      }
      override connectionLost(exc: Error | null): void {
        events.push(`lost:${exc}`);
        lost.setResult(null);
      }
    }
    await using server = await loop.createServer(
      () => new Collect(),
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    const [t, client] = await loop.createConnection(rec(loop), host, port);
    const data = pattern(300_000, 3);
    t.write(data);
    t.writeEof();
    await lost;
    assert.deepEqual(events, ["made", "updated", "eof", "lost:null"]);
    assert.deepEqual(concat(received), data);
    assert.ok(hints.length > 0);
    assert.ok(hints.every((h) => h === -1 || h > 0), `hints ${hints}`);
    await client.lost;
  },
);

netTest(
  "BufferedProtocol whose getBuffer returns an empty buffer: fatal error, connectionLost(error)",
  async (fx) => {
    const { loop } = fx;
    const lost = loop.createFuture<Error | null>();
    class Bad extends BufferedProtocol {
      override getBuffer(): Uint8Array {
        return new Uint8Array(0);
      }
      override connectionLost(exc: Error | null): void {
        lost.setResult(exc);
      }
    }
    await using server = await loop.createServer(
      () => new Bad(),
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    const [t, client] = await loop.createConnection(rec(loop), host, port);
    t.write(bytes("x"));
    const exc = await lost;
    assert.ok(exc instanceof Error);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /getBuffer/);
    await client.lost;
  },
);

// ---- abort and reset ----------------------------------------------------------

netTest(
  "abort() drops buffered data; connectionLost(null) follows and the peer sees the end",
  async ({ loop }) => {
    await using c = await connected(loop);
    c.transport.write(pattern(4_000_000));
    c.transport.abort();
    assert.equal(c.transport.isClosing(), true);
    assert.equal(c.transport.getWriteBufferSize(), 0);
    await c.client.lost;
    // (pauseWriting came with the 4 MB write.)
    assert.deepEqual(c.client.events.filter((e) => e !== "pause"), [
      "made",
      "lost",
    ]);
    assert.equal(c.client.lostWith, null);
    await c.peer.lost;
    // Whatever arrived is a prefix of what was written.
    assert.deepEqual(c.peer.received(), pattern(c.peer.nbytes));
    assert.ok(
      c.peer.lostWith === null ||
        c.peer.lostWith instanceof Deno.errors.ConnectionReset,
      `peer lost with ${c.peer.lostWith}`,
    );
  },
);

netTest(
  "a peer that resets mid-write: the writer reaches connectionLost (error or null), no handler call",
  async ({ loop }) => {
    await using c = await connected(loop);
    // The client stops reading, the server writes a lot, then the client
    // aborts: the server's pending write fails with a reset or broken pipe.
    c.transport.pauseReading();
    const big = pattern(1024 * 1024);
    for (let i = 0; i < 16; i++) c.peer.transport!.write(big);
    assert.ok(c.peer.transport!.getWriteBufferSize() > 0);
    c.transport.abort();
    await c.client.lost;
    await c.peer.lost;
    const exc = c.peer.lostWith;
    assert.ok(
      exc === null || exc instanceof Deno.errors.ConnectionReset ||
        exc instanceof Deno.errors.BrokenPipe,
      `lost with ${exc}`,
    );
    assert.equal(c.peer.events.at(-1), "lost");
    assert.equal(c.peer.events.filter((e) => e === "lost").length, 1);
  },
);

// ---- connecting -------------------------------------------------------------

netTest(
  "createConnection to a closed port rejects with ConnectionRefused",
  async ({ loop }) => {
    const port = refusedPort();
    let made = 0;
    await assert.rejects(
      loop.createConnection(
        () => {
          made++;
          return new Protocol();
        },
        "127.0.0.1",
        port,
      ),
      Deno.errors.ConnectionRefused,
    );
    assert.equal(made, 0);
  },
);

netTest(
  "createConnection with allErrors: an AggregateError of every attempt's error",
  async ({ loop }) => {
    const port = refusedPort();
    const error = await loop.createConnection(rec(loop), "127.0.0.1", port, {
      allErrors: true,
    }).then(() => null, (e) => e);
    assert.ok(error instanceof AggregateError, `got ${error}`);
    assert.equal(error.errors.length, 1);
    assert.ok(error.errors[0] instanceof Deno.errors.ConnectionRefused);
  },
);

/** The loopback addresses `getaddrinfo(null)` gives, in order. */
async function loopbacks(loop: EventLoop): Promise<[number, string][]> {
  const infos = await loop.getaddrinfo(null, 0, { type: SOCK_STREAM });
  return infos.map((info) => [info[0], (info[4] as [string, number])[0]]);
}

netTest(
  "happyEyeballsDelay: the first address refuses, the second one connects",
  async ({ loop }) => {
    const addrs = await loopbacks(loop);
    assert.ok(addrs.length >= 2, `need two loopback addresses, got ${addrs}`);
    const [, second] = addrs[1];
    await using server = await loop.createServer(rec(loop), second, 0);
    const [, port] = addrOf(server);
    for (const delay of [0, 0.25]) {
      const [t, p] = await loop.createConnection(rec(loop), null, port, {
        happyEyeballsDelay: delay,
      });
      assert.equal((t.getExtraInfo("peername") as [string, number])[0], second);
      t.close();
      await p.lost;
    }
    // Without Happy Eyeballs the addresses are tried in turn, with the same result.
    const [t, p] = await loop.createConnection(rec(loop), null, port);
    assert.equal((t.getExtraInfo("peername") as [string, number])[0], second);
    t.close();
    await p.lost;
  },
);

netTest(
  "two refused addresses: allErrors gives both; without it a single error or an AggregateError",
  async ({ loop }) => {
    const addrs = await loopbacks(loop);
    assert.ok(addrs.length >= 2);
    const port = refusedPort();
    for (const delay of [null, 0.1]) {
      const all = await loop.createConnection(rec(loop), null, port, {
        allErrors: true,
        happyEyeballsDelay: delay,
      }).then(() => null, (e) => e);
      assert.ok(all instanceof AggregateError, `got ${all}`);
      assert.equal(all.errors.length, addrs.length);
      for (const e of all.errors) {
        assert.ok(e instanceof Deno.errors.ConnectionRefused, `got ${e}`);
      }
      const one = await loop.createConnection(rec(loop), null, port, {
        happyEyeballsDelay: delay,
      }).then(() => null, (e) => e);
      assert.ok(
        one instanceof Deno.errors.ConnectionRefused ||
          (one instanceof AggregateError &&
            one.errors.every((e) =>
              e instanceof Deno.errors.ConnectionRefused
            )),
        `got ${one}`,
      );
    }
  },
);

netTest(
  "createConnection with sock: a connected socket; bad combinations are errors",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    await using server = await loop.createServer(rec2.factory, "127.0.0.1", 0);
    const addr = addrOf(server);
    const sock = socket();
    await loop.sockConnect(sock, addr);
    const [t, p] = await loop.createConnection(rec(loop), null, null, { sock });
    assert.equal(t.getExtraInfo("socket"), sock);
    assert.deepEqual(t.getExtraInfo("peername"), addr);
    t.write(bytes("via sock"));
    const peer = await rec2.next();
    await receivedAtLeast(loop, peer, 8);
    assert.equal(text(peer.received()), "via sock");
    t.close();
    await p.lost;
    assert.equal(sock.closed, true);

    using other = socket();
    await assert.rejects(
      loop.createConnection(rec(loop), "127.0.0.1", addr[1], { sock: other }),
      RangeError,
    );
    await assert.rejects(loop.createConnection(rec(loop)), RangeError);
    // An unconnected socket.
    await assert.rejects(
      loop.createConnection(rec(loop), null, null, { sock: other }),
      Deno.errors.NotConnected,
    );
    await assert.rejects(
      loop.createConnection(rec(loop), null, null, { sock: "s" as Loose }),
      TypeError,
    );
    await assert.rejects(
      loop.createConnection("nope" as Loose, "127.0.0.1", addr[1]),
      TypeError,
    );
    await assert.rejects(
      loop.createConnection(rec(loop), "127.0.0.1", addr[1], {
        ssl: "yes" as Loose,
      }),
      TypeError,
    );
    await assert.rejects(
      loop.createConnection(rec(loop), "127.0.0.1", addr[1], {
        happyEyeballsDelay: -1,
      }),
      RangeError,
    );
  },
);

netTest(
  "connectAcceptedSocket wraps a socket from sockAccept",
  async ({ loop }) => {
    const lsock = socket();
    lsock.bind(["127.0.0.1", 0]);
    lsock.listen();
    try {
      const accepting = loop.sockAccept(lsock);
      const [ct, client] = await loop.createConnection(
        rec(loop),
        ...(lsock.getsockname() as [string, number]),
      );
      const [conn, peerAddr] = await accepting;
      assert.deepEqual(peerAddr, ct.getExtraInfo("sockname"));
      const [st, server] = await loop.connectAcceptedSocket(rec(loop), conn);
      assert.deepEqual(server.events, ["made"]);
      assert.equal(st.getExtraInfo("socket"), conn);
      ct.write(bytes("accepted"));
      await receivedAtLeast(loop, server, 8);
      assert.equal(text(server.received()), "accepted");
      st.write(bytes("reply"));
      st.close();
      await client.lost;
      assert.equal(text(client.received()), "reply");
      assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
      await server.lost;
    } finally {
      lsock.close();
    }
  },
);

// ---- servers ----------------------------------------------------------------

netTest(
  "createServer on a port already taken rejects with AddrInUse",
  async ({ loop }) => {
    await using first = await loop.createServer(rec(loop), "127.0.0.1", 0);
    const [, port] = addrOf(first);
    await assert.rejects(
      loop.createServer(rec(loop), "127.0.0.1", port),
      Deno.errors.AddrInUse,
    );
    // The first server still works.
    const [t, p] = await loop.createConnection(rec(loop), "127.0.0.1", port);
    t.close();
    await p.lost;
  },
);

netTest("createServer argument errors", async ({ loop }) => {
  await assert.rejects(loop.createServer(rec(loop)), RangeError);
  using s = socket();
  await assert.rejects(
    loop.createServer(rec(loop), "127.0.0.1", 0, { sock: s }),
    RangeError,
  );
  await assert.rejects(
    loop.createServer(rec(loop), "127.0.0.1", 0, { backlog: -1 }),
    RangeError,
  );
  await assert.rejects(
    loop.createServer(rec(loop), 42 as Loose, 0),
    TypeError,
  );
  await assert.rejects(
    loop.createServer(rec(loop), "127.0.0.1", 0, { ssl: {} as Loose }),
    TypeError,
  );
});

netTest(
  "createServer with sock: serves on an already-bound socket",
  async ({ loop }) => {
    const sock = socket();
    sock.bind(["127.0.0.1", 0]);
    const addr = sock.getsockname() as [string, number];
    const server = await loop.createServer(rec(loop), null, null, { sock });
    assert.deepEqual(server.sockets.map((s) => s.fileno()), [sock.fileno()]);
    const [t, p] = await loop.createConnection(rec(loop), ...addr);
    t.close();
    await p.lost;
    server.close();
    await server.waitClosed();
    assert.equal(sock.closed, true);
  },
);

netTest(
  "createServer with a host list listens on each address",
  async ({ loop }) => {
    await using server = await loop.createServer(
      rec(loop),
      ["127.0.0.1", "127.0.0.2"],
      0,
    );
    assert.equal(server.sockets.length, 2);
    const hosts = server.sockets.map((s) =>
      (s.getsockname() as [string, number])[0]
    ).sort();
    assert.deepEqual(hosts, ["127.0.0.1", "127.0.0.2"]);
    for (let i = 0; i < 2; i++) {
      const [host, port] = addrOf(server, i);
      const [t, p] = await loop.createConnection(rec(loop), host, port);
      assert.deepEqual(t.getExtraInfo("peername"), [host, port]);
      t.close();
      await p.lost;
    }
    // A repeated host is listened on once.
    await using again = await loop.createServer(
      rec(loop),
      ["127.0.0.1", "127.0.0.1"],
      0,
    );
    assert.equal(again.sockets.length, 1);
  },
);

netTest(
  "createServer with a null host listens on all interfaces",
  async ({ loop }) => {
    await using server = await loop.createServer(rec(loop), null, 0);
    assert.ok(server.sockets.length >= 1);
    const families = server.sockets.map((s) => s.family);
    assert.ok(families.includes(AF_INET));
    for (const s of server.sockets) {
      const [host] = s.getsockname() as [string, number];
      assert.ok(host === "0.0.0.0" || host === "::", `bound to ${host}`);
    }
    const v4 = server.sockets.find((s) => s.family === AF_INET)!;
    const [, port] = v4.getsockname() as [string, number];
    const [t, p] = await loop.createConnection(rec(loop), "127.0.0.1", port);
    t.close();
    await p.lost;
    const v6 = server.sockets.find((s) => s.family === AF_INET6);
    if (v6 !== undefined) {
      const [, port6] = v6.getsockname() as [string, number];
      const [t6, p6] = await loop.createConnection(rec(loop), "::1", port6);
      t6.close();
      await p6.lost;
    }
  },
);

netTest(
  "a closed server keeps its connections until closeClients(); waitClosed resolves after they end",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    const server = await loop.createServer(rec2.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    // Not closed, no clients: waitClosed waits.
    const w1 = loop.createTask(() => server.waitClosed());
    const clients: [Transport, Recorder][] = [];
    for (let i = 0; i < 3; i++) {
      clients.push(await loop.createConnection(rec(loop), host, port));
    }
    const peers = await Promise.all([rec2.next(), rec2.next(), rec2.next()]);
    server.close();
    assert.equal(server.isServing(), false);
    assert.deepEqual(server.sockets, []);
    const w2 = loop.createTask(() => server.waitClosed());
    // New connections fail (refused in asyncio; see the dedicated test
    // "after close() and waitClosed() new connections are refused").
    const refused = await loop.createConnection(rec(loop), host, port).then(
      () => null,
      (e) => e,
    );
    assert.ok(
      refused instanceof Deno.errors.ConnectionRefused ||
        refused instanceof Deno.errors.ConnectionReset,
      `got ${refused}`,
    );
    // The existing ones still work.
    clients[0][0].write(bytes("still here"));
    await receivedAtLeast(loop, peers[0], 10);
    assert.equal(text(peers[0].received()), "still here");
    assert.equal(w1.done(), false);
    assert.equal(w2.done(), false);
    // One client leaves on its own; the others are closed by the server.
    clients[2][0].close();
    await peers[2].lost;
    assert.equal(w1.done(), false);
    server.closeClients();
    await w1;
    await w2;
    await server.waitClosed();
    for (const [, c] of clients) await c.lost;
    for (const p of peers) {
      assert.equal(p.events.at(-1), "lost");
    }
  },
);

netTest(
  "abortClients() ends the server's connections at once, dropping their buffers",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    const server = await loop.createServer(rec2.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const [t, client] = await loop.createConnection(rec(loop), host, port);
    t.pauseReading();
    const peer = await rec2.next();
    await peer.made;
    for (let i = 0; i < 8; i++) peer.transport!.write(pattern(1024 * 1024));
    server.close();
    const waiting = loop.createTask(() => server.waitClosed());
    assert.equal(waiting.done(), false);
    server.abortClients();
    await waiting;
    await peer.lost;
    assert.equal(peer.lostWith, null);
    t.close();
    await client.lost;
  },
);

netTest(
  "after close() and waitClosed() new connections are refused",
  async ({ loop }) => {
    const server = await loop.createServer(rec(loop), "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    server.close();
    await server.waitClosed();
    // asyncio closes the listening socket in close(): the port refuses.
    await assert.rejects(
      loop.createConnection(rec(loop), host, port),
      Deno.errors.ConnectionRefused,
    );
  },
);

netTest(
  "waitClosed on a never-closed server waits; after close with no clients it resolves",
  async ({ loop }) => {
    const server = await loop.createServer(rec(loop), "127.0.0.1", 0);
    const w = loop.createTask(() => server.waitClosed());
    // A round trip through the server's loop: still waiting.
    const [t, p] = await loop.createConnection(rec(loop), ...addrOf(server));
    t.close();
    await p.lost;
    assert.equal(w.done(), false);
    server.close();
    server.close(); // idempotent
    await w;
    await server.waitClosed();
    assert.equal(server.getLoop(), loop);
  },
);

netTest(
  "serveForever: cancelling it closes the server; again after close is a RuntimeError",
  async ({ loop }) => {
    const server = await loop.createServer(rec(loop), "127.0.0.1", 0, {
      startServing: false,
    });
    assert.equal(server.isServing(), false);
    const [host, port] = addrOf(server);
    const task = loop.createTask(() => server.serveForever());
    const [t, p] = await loop.createConnection(rec(loop), host, port);
    assert.equal(server.isServing(), true);
    await assert.rejects(server.serveForever(), RuntimeError);
    t.close();
    await p.lost;
    task.cancel();
    await assert.rejects(async () => await task, CancelledError);
    assert.equal(server.isServing(), false);
    assert.deepEqual(server.sockets, []);
    await assert.rejects(server.serveForever(), RuntimeError);
    await server.waitClosed();
  },
);

netTest(
  "startServing: false, then startServing(): accepts from then on",
  async ({ loop }) => {
    const rec2 = recorders(loop);
    const server = await loop.createServer(rec2.factory, "127.0.0.1", 0, {
      startServing: false,
    });
    assert.equal(server.isServing(), false);
    assert.equal(rec2.list.length, 0);
    await server.startServing();
    assert.equal(server.isServing(), true);
    await server.startServing(); // again: a no-op
    const [t, p] = await loop.createConnection(rec(loop), ...addrOf(server));
    const peer = await rec2.next();
    await peer.made;
    t.close();
    await p.lost;
    await peer.lost;
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "Unix server with startServing: false, then startServing()",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/lazy.sock`;
      const server = await loop.createUnixServer(rec(loop), path, {
        startServing: false,
      });
      assert.equal(server.isServing(), false);
      await server.startServing();
      assert.equal(server.isServing(), true);
      const [t, p] = await loop.createUnixConnection(rec(loop), path);
      t.close();
      await p.lost;
      server.close();
      await server.waitClosed();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "`await using` a server closes it and waits at the end of the block",
  async ({ loop }) => {
    let kept: Server;
    let port: number;
    {
      await using server = await loop.createServer(rec(loop), "127.0.0.1", 0);
      kept = server;
      port = addrOf(server)[1];
      assert.equal(server.isServing(), true);
    }
    assert.equal(kept.isServing(), false);
    assert.deepEqual(kept.sockets, []);
    await assert.rejects(
      loop.createConnection(rec(loop), "127.0.0.1", port),
      Deno.errors.ConnectionRefused,
    );
    // Disposing twice is harmless.
    await kept[Symbol.asyncDispose]();
  },
);

netTest(
  "a protocol factory that throws: exception handler call, the connection is closed",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("factory failed");
    await using server = await loop.createServer(
      () => {
        throw boom;
      },
      "127.0.0.1",
      0,
    );
    const [, p] = await loop.createConnection(rec(loop), ...addrOf(server));
    await p.lost;
    assert.deepEqual(p.events.at(-1), "lost");
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].exception, boom);
  },
);

netTest(
  "Unix sockets: half-close with eofReceived returning true",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/half.sock`;
      const rec2 = recorders(loop);
      const server = await loop.createUnixServer(() => {
        const r = rec2.factory();
        r.keepOpenOnEof = true;
        return r;
      }, path);
      const [t, client] = await loop.createUnixConnection(rec(loop), path);
      assert.equal(t.canWriteEof(), true);
      t.write(bytes("question"));
      t.writeEof();
      const peer = await rec2.next();
      await peer.eof;
      assert.equal(text(peer.received()), "question");
      peer.transport!.write(bytes("answer"));
      peer.transport!.close();
      await client.lost;
      assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
      assert.equal(text(client.received()), "answer");
      server.close();
      await server.waitClosed();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "a pauseWriting that throws goes to the exception handler; the transport keeps working",
  async (fx) => {
    const { loop } = fx;
    const rec2 = recorders(loop);
    await using server = await loop.createServer(rec2.factory, "127.0.0.1", 0);
    const boom = new Error("pause failed");
    class Bad extends Recorder {
      override pauseWriting(): void {
        throw boom;
      }
    }
    const [t, client] = await loop.createConnection(
      () => new Bad(loop),
      ...addrOf(server),
    );
    t.setWriteBufferLimits(0);
    t.write(bytes("x"));
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].exception, boom);
    assert.match(errors[0].message, /pauseWriting/);
    const peer = await rec2.next();
    await receivedAtLeast(loop, peer, 1);
    t.close();
    await client.lost;
  },
);

netTest(
  "1,000 concurrent connections echo through one server",
  async ({ loop }) => {
    const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
      backlog: 1024,
    });
    const [host, port] = addrOf(server);
    const n = 1000;
    const one = async (i: number): Promise<string> => {
      const r = new Recorder(loop);
      const [t] = await loop.createConnection(() => r, host, port);
      const message = `message ${i}`;
      t.write(bytes(message));
      t.writeEof();
      await r.lost;
      assert.deepEqual(r.events, ["made", "data", "eof", "lost"]);
      return text(r.received());
    };
    const tasks = Array.from(
      { length: n },
      (_, i) => loop.createTask(() => one(i)),
    );
    const replies: string[] = [];
    for (const task of tasks) {
      replies.push(await task);
    }
    for (let i = 0; i < n; i++) assert.equal(replies[i], `message ${i}`);
    server.close();
    await server.waitClosed();
  },
  { seconds: 60 },
);

// ---- who owns the bytes ------------------------------------------------------

netTest(
  "a protocol that transfers the ArrayBuffer of its data does not break the reads that follow",
  async ({ loop }) => {
    const got: string[] = [];
    const arrived = [loop.createFuture<null>(), loop.createFuture<null>()];
    class Taker extends Protocol {
      override dataReceived(data: Uint8Array): void {
        got.push(text(data));
        // Takes the memory for itself (a worker would get it this way).
        const memory = data.buffer as ArrayBuffer;
        structuredClone(memory, { transfer: [memory] });
        arrived[got.length - 1]?.setResult(null);
      }
    }
    const server = await loop.createServer(
      () => new Taker(),
      "127.0.0.1",
      0,
    );
    const [, port] = addrOf(server);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(bytes("first"));
      await arrived[0];
      await conn.write(bytes("second"));
      await arrived[1];
      assert.deepEqual(got, ["first", "second"]);
    } finally {
      conn.close();
      server.close();
      await server.waitClosed();
    }
  },
);

/**
 * Sends `total` bytes to `port` from a plain Deno connection, reading
 * nothing until everything is sent (then half-closes and reads the answer).
 */
async function sendAllThenRead(port: number, data: Uint8Array): Promise<
  Uint8Array
> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    let offset = 0;
    while (offset < data.length) {
      offset += await conn.write(data.subarray(offset));
    }
    await conn.closeWrite();
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return concat(chunks);
  } finally {
    conn.close();
  }
}

/** Echoes, and closes after the peer's EOF once the echo is written. */
class EchoThenClose extends Echo {
  override eofReceived(): boolean {
    this.transport!.close();
    return false;
  }
}

netTest(
  "an echo server keeps reading while its writes wait: a peer that reads only after sending 16 MB gets it all back",
  async ({ loop }) => {
    // asyncio keeps reading while the write buffer grows; a transport that
    // stopped reading until its write completed would deadlock here.
    const server = await loop.createServer(
      () => new EchoThenClose(),
      "127.0.0.1",
      0,
    );
    const [, port] = addrOf(server);
    const data = pattern(16 * 1024 * 1024, 5);
    const echoed = await sendAllThenRead(port, data);
    assertSameBytes(echoed, data);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "dataReceived's bytes belong to the protocol: chunks kept without copying stay intact",
  async ({ loop }) => {
    await using c = await connected(loop);
    // Many separate small reads (each one answered before the next is
    // sent) and a few large ones; the protocol keeps every array it got.
    const sent: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < 300; i++) {
      const size = i % 50 === 49 ? 40_000 + i : 1 + (i * 37) % 3000;
      const message = pattern(size, i);
      sent.push(message);
      total += size;
      c.transport.write(message);
      await receivedAtLeast(loop, c.peer, total);
    }
    assertSameBytes(c.peer.received(), concat(sent));
  },
);

netTest(
  "BufferedProtocol echo that writes views of its own buffer: the echo is intact under backpressure",
  async ({ loop }) => {
    class BufferedEcho extends BufferedProtocol {
      transport: Transport | null = null;
      buffer = new Uint8Array(4096);
      override connectionMade(transport: Transport): void {
        this.transport = transport;
      }
      override getBuffer(_sizehint: number): Uint8Array {
        return this.buffer;
      }
      override bufferUpdated(nbytes: number): void {
        // The same buffer is read into again right after this returns.
        this.transport!.write(this.buffer.subarray(0, nbytes));
      }
      override eofReceived(): boolean {
        this.transport!.close();
        return false;
      }
    }
    const server = await loop.createServer(
      () => new BufferedEcho(),
      "127.0.0.1",
      0,
    );
    const [, port] = addrOf(server);
    const data = pattern(8 * 1024 * 1024, 11);
    const echoed = await sendAllThenRead(port, data);
    assertSameBytes(echoed, data);
    server.close();
    await server.waitClosed();
  },
);

// ---- localAddr ----------------------------------------------------------------

netTest(
  "createConnection(localAddr): the connection leaves from the given address; data flows both ways",
  async ({ loop }) => {
    const rec = recorders(loop);
    const server = await loop.createServer(rec.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    // 127.0.0.2 is loopback too on Linux, and distinguishable.
    const [transport, client] = await loop.createConnection(
      () => new Recorder(loop),
      host,
      port,
      { localAddr: ["127.0.0.2", 0] },
    );
    const peer = await rec.next();
    await peer.made;
    const [localHost, localPort] = transport.getExtraInfo("sockname") as [
      string,
      number,
    ];
    assert.equal(localHost, "127.0.0.2");
    assert.ok(localPort > 0);
    assert.deepEqual(peer.transport!.getExtraInfo("peername"), [
      "127.0.0.2",
      localPort,
    ]);
    assert.deepEqual(transport.getExtraInfo("peername"), [host, port]);
    const big = pattern(3 * 1024 * 1024, 7);
    transport.write(big);
    await receivedAtLeast(loop, peer, big.length);
    assertSameBytes(peer.received(), big);
    peer.transport!.write(bytes("back"));
    await receivedAtLeast(loop, client, 4);
    assert.equal(text(client.received()), "back");
    // Half-close from the client: the server sees EOF, then both close.
    transport.writeEof();
    await peer.eof;
    peer.transport!.close();
    await client.lost;
    await peer.lost;
    // (The 3 MB write paused and resumed the client's protocol.)
    assert.deepEqual(
      client.events.filter((e) => !["data", "pause", "resume"].includes(e)),
      ["made", "eof", "lost"],
    );
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(localAddr) errors: address in use, no local address of the remote's family, bad shape, refused",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    // The server's own address is taken.
    await assert.rejects(
      loop.createConnection(() => new Protocol(), host, port, {
        localAddr: [host, port],
      }),
      (e) =>
        e instanceof Deno.errors.AddrInUse &&
        /error while attempting to bind on address/.test((e as Error).message),
    );
    // An IPv6 local address for an IPv4 peer.
    await assert.rejects(
      loop.createConnection(() => new Protocol(), host, port, {
        localAddr: ["::1", 0],
      }),
      (e) =>
        e instanceof Deno.errors.AddrNotAvailable &&
        /no matching local address/.test((e as Error).message),
    );
    await assert.rejects(
      loop.createConnection(() => new Protocol(), host, port, {
        localAddr: "127.0.0.1" as Loose,
      }),
      TypeError,
    );
    await assert.rejects(
      loop.createConnection(() => new Protocol(), host, refusedPort(), {
        localAddr: ["127.0.0.1", 0],
      }),
      Deno.errors.ConnectionRefused,
    );
    server.close();
    await server.waitClosed();
    // The loop is still usable.
    const again = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
    const [t, p] = await loop.createConnection(
      () => new Recorder(loop),
      ...addrOf(again),
    );
    t.close();
    await p.lost;
    again.close();
    await again.waitClosed();
  },
);

netTest(
  "a bound socket connects from its address (sockConnect after bind)",
  async ({ loop }) => {
    const rec = recorders(loop);
    const server = await loop.createServer(rec.factory, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const sock = socket(AF_INET, SOCK_STREAM);
    sock.setblocking(false);
    sock.bind(["127.0.0.3", 0]);
    const [, boundPort] = sock.getsockname() as [string, number];
    await loop.sockConnect(sock, [host, port]);
    assert.deepEqual(sock.getsockname(), ["127.0.0.3", boundPort]);
    assert.deepEqual(sock.getpeername(), [host, port]);
    const peer = await rec.next();
    await peer.made;
    await loop.sockSendall(sock, bytes("hello"));
    await receivedAtLeast(loop, peer, 5);
    assert.equal(text(peer.received()), "hello");
    peer.transport!.write(bytes("world"));
    assert.equal(text(await loop.sockRecv(sock, 100)), "world");
    sock.close();
    await peer.lost;
    server.close();
    await server.waitClosed();
  },
);
