/**
 * asyncio's documented transport and protocol behaviour, checked on the
 * package's stream transports (TCP on 127.0.0.1, port 0) and on the
 * transport and protocol base classes: the interface methods a concrete
 * transport must define, `writelines()`, writes after `close()` and
 * `writeEof()`, `abort()` during a flush, half-closing, reading paused and
 * resumed, flow-control marks, `BufferedProtocol` buffers and hints, a
 * protocol switched while a read is pending, bytes a socket already held
 * when a transport took it over, and protocol callbacks that fail.
 */
import assert from "node:assert/strict";
import {
  BaseProtocol,
  BufferedProtocol,
  DatagramProtocol,
  DatagramTransport,
  type EventLoop,
  type Future,
  NotImplementedError,
  Protocol,
  RuntimeError,
  Socket,
  socket,
  socketpair,
  SubprocessProtocol,
  SubprocessTransport,
  Transport,
} from "../../mod.ts";
import {
  addrOf,
  assertSameBytes,
  BufferedCollector,
  bytes,
  concat,
  connectPair,
  netTest,
  pattern,
  Recorder,
  text,
} from "./_net.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** Resolves once `r` has received `n` bytes (or lost its connection). */
async function arrived(loop: EventLoop, r: Recorder, n: number): Promise<void> {
  if (r.nbytes >= n) return;
  const fut = loop.createFuture<null>();
  const previous = r.onData;
  r.onData = (data) => {
    previous?.(data);
    if (r.nbytes >= n && !fut.done()) fut.setResult(null);
  };
  r.lost.addDoneCallback(() => {
    if (!fut.done()) fut.setResult(null);
  });
  await fut;
  r.onData = previous;
}

// ---- the base classes -------------------------------------------------------

Deno.test("BaseProtocol, Protocol, BufferedProtocol, DatagramProtocol, SubprocessProtocol: the default callbacks do nothing and return undefined", () => {
  const t = {};
  const data = new Uint8Array(3);
  const base = new BaseProtocol();
  assert.equal(base.connectionMade(t), undefined);
  assert.equal(base.connectionLost(null), undefined);
  assert.equal(base.pauseWriting(), undefined);
  assert.equal(base.resumeWriting(), undefined);
  const stream = new Protocol();
  assert.equal(stream.connectionMade(t), undefined);
  assert.equal(stream.connectionLost(new Error("x")), undefined);
  assert.equal(stream.dataReceived(data), undefined);
  // Not true: a transport closes itself after the default eofReceived.
  assert.equal(stream.eofReceived(), undefined);
  assert.equal(stream.pauseWriting(), undefined);
  assert.equal(stream.resumeWriting(), undefined);
  const buffered = new BufferedProtocol();
  assert.equal(buffered.connectionMade(t), undefined);
  assert.equal(buffered.connectionLost(null), undefined);
  assert.equal(buffered.bufferUpdated(150), undefined);
  assert.equal(buffered.eofReceived(), undefined);
  assert.equal(buffered.pauseWriting(), undefined);
  assert.equal(buffered.resumeWriting(), undefined);
  const dgram = new DatagramProtocol();
  assert.equal(dgram.connectionMade(t), undefined);
  assert.equal(dgram.connectionLost(null), undefined);
  assert.equal(dgram.errorReceived(new Error("x")), undefined);
  assert.equal(dgram.datagramReceived(data, ["127.0.0.1", 1]), undefined);
  const sub = new SubprocessProtocol();
  assert.equal(sub.connectionMade(t), undefined);
  assert.equal(sub.connectionLost(null), undefined);
  assert.equal(sub.pipeDataReceived(1, data), undefined);
  assert.equal(sub.pipeConnectionLost(1, null), undefined);
  assert.equal(sub.processExited(), undefined);
});

Deno.test("Transport.getExtraInfo() answers from the extra mapping: null or the given default for a missing name", () => {
  const empty = new Transport();
  assert.equal(empty.getExtraInfo("peername"), null);
  const t = new Transport({ extra: "info", none: null });
  assert.equal(t.getExtraInfo("extra"), "info");
  assert.equal(t.getExtraInfo("unknown"), null);
  const dflt = {};
  assert.equal(t.getExtraInfo("unknown", dflt), dflt);
  // A name that is present answers its value, even null.
  assert.equal(t.getExtraInfo("none", dflt), null);
  // Names of Object.prototype are not extra information.
  assert.equal(t.getExtraInfo("toString"), null);
});

Deno.test("Transport.writelines() makes one write() call with every chunk joined, views included", () => {
  class Collect extends Transport {
    calls: Uint8Array[] = [];
    override write(data: Uint8Array): void {
      this.calls.push(data);
    }
  }
  const t = new Collect();
  const third = bytes("__line3__");
  t.writelines([
    bytes("line1"),
    Uint8Array.from(bytes("line2")),
    third.subarray(2, 7),
  ]);
  assert.equal(t.calls.length, 1);
  assert.equal(text(t.calls[0]), "line1line2line3");
  // Any iterable of chunks.
  t.writelines((function* () {
    yield bytes("a");
    yield bytes("b");
  })());
  assert.equal(t.calls.length, 2);
  assert.equal(text(t.calls[1]), "ab");
});

Deno.test("Transport, DatagramTransport, SubprocessTransport: what a concrete transport must define throws NotImplementedError", () => {
  const t = new Transport();
  const calls: [string, () => unknown][] = [
    ["isClosing", () => t.isClosing()],
    ["close", () => t.close()],
    ["setProtocol", () => t.setProtocol(new Protocol())],
    ["getProtocol", () => t.getProtocol()],
    ["isReading", () => t.isReading()],
    ["pauseReading", () => t.pauseReading()],
    ["resumeReading", () => t.resumeReading()],
    ["setWriteBufferLimits", () => t.setWriteBufferLimits()],
    ["getWriteBufferSize", () => t.getWriteBufferSize()],
    ["getWriteBufferLimits", () => t.getWriteBufferLimits()],
    ["write", () => t.write(bytes("data"))],
    ["writelines", () => t.writelines([bytes("data")])],
    ["writeEof", () => t.writeEof()],
    ["canWriteEof", () => t.canWriteEof()],
    ["abort", () => t.abort()],
  ];
  const d = new DatagramTransport();
  calls.push(
    ["sendto", () => d.sendto(bytes("data"))],
    ["DatagramTransport.abort", () => d.abort()],
    ["DatagramTransport.getWriteBufferSize", () => d.getWriteBufferSize()],
  );
  const s = new SubprocessTransport();
  calls.push(
    ["getPid", () => s.getPid()],
    ["getReturncode", () => s.getReturncode()],
    ["getPipeTransport", () => s.getPipeTransport(1)],
    ["sendSignal", () => s.sendSignal(1)],
    ["terminate", () => s.terminate()],
    ["kill", () => s.kill()],
  );
  for (const [name, call] of calls) {
    assert.throws(call, NotImplementedError, `${name}()`);
  }
});

// ---- connections and callback order ---------------------------------------------

/**
 * A protocol that fails (through the exception handler) on any callback
 * out of asyncio's order: made, data..., at most one EOF, lost.
 */
class StrictProtocol extends Protocol {
  state = "INITIAL";
  nbytes = 0;
  transport: Transport | null = null;
  readonly connected: Future<null>;
  readonly done: Future<null>;
  onData: (() => void) | null = null;

  constructor(loop: EventLoop) {
    super();
    this.connected = loop.createFuture<null>();
    this.done = loop.createFuture<null>();
  }

  #expect(...states: string[]): void {
    if (!states.includes(this.state)) {
      throw new Error(`state ${this.state}, expected one of ${states}`);
    }
  }

  override connectionMade(transport: Transport): void {
    this.#expect("INITIAL");
    this.transport = transport;
    this.state = "CONNECTED";
    this.connected.setResult(null);
  }

  override dataReceived(data: Uint8Array): void {
    this.#expect("CONNECTED");
    this.nbytes += data.length;
    this.onData?.();
  }

  override eofReceived(): void {
    this.#expect("CONNECTED");
    this.state = "EOF";
  }

  override connectionLost(_exc: Error | null): void {
    this.#expect("CONNECTED", "EOF");
    this.state = "CLOSED";
    this.done.setResult(null);
  }
}

netTest(
  "createConnection(): a Transport and the protocol whose connectionMade got it; data, EOF and connectionLost follow in order",
  async ({ loop }) => {
    // The server answers a request and closes.
    class Answer extends Protocol {
      t: Transport | null = null;
      override connectionMade(t: Transport): void {
        this.t = t;
      }
      override dataReceived(): void {
        this.t!.write(bytes("HTTP/1.0 200 OK\r\n\r\nbody"));
        this.t!.close();
      }
    }
    await using server = await loop.createServer(
      () => new Answer(),
      "127.0.0.1",
      0,
    );
    class Client extends StrictProtocol {
      override connectionMade(t: Transport): void {
        super.connectionMade(t);
        t.write(bytes("GET / HTTP/1.0\r\n\r\n"));
      }
    }
    const [tr, pr] = await loop.createConnection(
      () => new Client(loop),
      ...addrOf(server),
    );
    assert.ok(tr instanceof Transport);
    assert.ok(pr instanceof Protocol);
    assert.equal(pr.transport, tr);
    assert.equal(pr.state, "CONNECTED");
    assert.notEqual(tr.getExtraInfo("sockname"), null);
    await pr.done;
    assert.equal(pr.state, "CLOSED");
    assert.equal(pr.nbytes, 23);
    tr.close();
  },
);

netTest(
  "createServer(): a plain client's bytes reach the protocol, the extra info names both ends, close() ends in connectionLost and the client's EOF",
  async ({ loop }) => {
    const proto = new StrictProtocol(loop);
    await using server = await loop.createServer(() => proto, "127.0.0.1", 0);
    const [host, port] = addrOf(server);
    const client = await Deno.connect({ hostname: host, port });
    try {
      await client.write(bytes("xxx"));
      await proto.connected;
      assert.equal(proto.state, "CONNECTED");
      if (proto.nbytes < 3) {
        const got = loop.createFuture<null>();
        proto.onData = () => {
          if (proto.nbytes >= 3 && !got.done()) got.setResult(null);
        };
        await got;
      }
      assert.equal(proto.nbytes, 3);
      const t = proto.transport!;
      const local = client.localAddr as Deno.NetAddr;
      assert.deepEqual(t.getExtraInfo("peername"), ["127.0.0.1", local.port]);
      assert.deepEqual(t.getExtraInfo("sockname"), [host, port]);
      t.close();
      await proto.done;
      assert.equal(proto.state, "CLOSED");
      assert.equal(await client.read(new Uint8Array(10)), null);
    } finally {
      client.close();
    }
  },
);

netTest(
  "getExtraInfo(): peername, sockname and socket stay answered after connectionLost; the socket is then closed",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop));
    const t = c.transport;
    const peername = t.getExtraInfo("peername");
    const sockname = t.getExtraInfo("sockname");
    const sock = t.getExtraInfo("socket");
    assert.ok(sock instanceof Socket);
    assert.equal(sock.closed, false);
    assert.ok(sock.fileno() >= 0);
    assert.deepEqual(peername, addrOf(c.server));
    t.close();
    await c.client.lost;
    assert.deepEqual(t.getExtraInfo("peername"), peername);
    assert.deepEqual(t.getExtraInfo("sockname"), sockname);
    assert.equal(t.getExtraInfo("socket"), sock);
    assert.equal(sock.closed, true);
    assert.equal(sock.fileno(), -1);
  },
);

netTest(
  "close() and abort(): the transport is closing at once; connectionLost(null) follows on the loop, once",
  async ({ loop }) => {
    for (const how of ["close", "abort"] as const) {
      await using c = await connectPair(loop, new Recorder(loop));
      c.transport[how]();
      assert.equal(c.transport.isClosing(), true);
      assert.equal(c.transport.isReading(), false);
      assert.deepEqual(
        c.client.events,
        ["made"],
        `${how}() called connectionLost itself`,
      );
      await c.client.lost;
      assert.equal(c.client.lostWith, null);
      c.transport.close();
      c.transport.abort();
      // The peer's end closes too; by then a second connectionLost would have run.
      await c.peer.lost;
      assert.deepEqual(c.client.events, ["made", "lost"]);
    }
  },
);

// ---- writing ------------------------------------------------------------------

netTest(
  "writelines() after writeEof() is a RuntimeError, an empty list included",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop));
    c.transport.writelines([bytes("ab"), bytes("cd")]);
    c.transport.writeEof();
    assert.throws(() => c.transport.writelines([bytes("x")]), RuntimeError);
    assert.throws(() => c.transport.writelines([]), RuntimeError);
    await c.peer.eof;
    assert.equal(text(c.peer.received()), "abcd");
  },
);

netTest(
  "writelines() with an item that is not bytes is a TypeError and queues none of the items",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop));
    const t = c.transport;
    assert.throws(
      () => t.writelines([bytes("good"), "bad" as Loose, bytes("more")]),
      TypeError,
    );
    assert.equal(t.getWriteBufferSize(), 0);
    // Nothing of that call reaches the peer; the next write does.
    t.write(bytes("next"));
    t.writeEof();
    await c.peer.eof;
    assert.equal(text(c.peer.received()), "next");
  },
);

netTest(
  "write() after close() while data is still buffered is sent with it, before the EOF",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop), {
      pausePeer: true,
    });
    const t = c.transport;
    const body = pattern(1024 * 1024);
    t.write(body);
    const buffered = t.getWriteBufferSize();
    assert.ok(buffered > 0, "the write completed at once");
    t.close();
    t.write(bytes("tail"));
    assert.equal(t.getWriteBufferSize(), buffered + 4);
    c.peer.transport!.resumeReading();
    await c.peer.lost;
    assert.deepEqual(c.peer.events.filter((e) => e !== "data"), [
      "made",
      "eof",
      "lost",
    ]);
    assertSameBytes(c.peer.received(), concat([body, bytes("tail")]));
    await c.client.lost;
    assert.equal(c.client.lostWith, null);
  },
);

netTest(
  "abort() after close() while a flush is under way: the rest is dropped, connectionLost(null) once, resumeWriting never",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop), {
      pausePeer: true,
    });
    const t = c.transport;
    t.write(pattern(4 * 1024 * 1024));
    assert.deepEqual(c.client.events, ["made", "pause"]);
    t.close();
    assert.ok(t.getWriteBufferSize() > 0, "close() flushed at once");
    t.abort();
    assert.equal(t.getWriteBufferSize(), 0);
    assert.equal(t.isClosing(), true);
    await c.client.lost;
    assert.equal(c.client.lostWith, null);
    c.peer.transport!.resumeReading();
    await c.peer.lost;
    assert.deepEqual(c.client.events, ["made", "pause", "lost"]);
    // What got through is a prefix of what was written.
    assertSameBytes(c.peer.received(), pattern(c.peer.nbytes));
  },
);

netTest(
  "pauseWriting() runs once the buffer is above the high-water mark, not at it; resumeWriting() once it drained to the low one",
  async ({ loop }) => {
    const resumed = loop.createFuture<number>();
    class Writer extends Recorder {
      override resumeWriting(): void {
        super.resumeWriting();
        resumed.setResult(this.transport!.getWriteBufferSize());
      }
    }
    await using c = await connectPair(loop, new Writer(loop));
    const t = c.transport;
    t.setWriteBufferLimits(1000, 10);
    assert.deepEqual(t.getWriteBufferLimits(), [10, 1000]);
    t.write(new Uint8Array(1000));
    assert.equal(t.getWriteBufferSize(), 1000, "the write completed at once");
    assert.deepEqual(c.client.events, ["made"]);
    t.write(new Uint8Array(1));
    assert.deepEqual(c.client.events, ["made", "pause"]);
    t.write(new Uint8Array(1));
    assert.deepEqual(c.client.events, ["made", "pause"]);
    assert.ok(await resumed <= 10);
    assert.deepEqual(c.client.events, ["made", "pause", "resume"]);
    await arrived(loop, c.peer, 1002);
    assert.equal(c.peer.nbytes, 1002);
  },
);

netTest(
  "a resumeWriting() that throws goes to the exception handler; the transport keeps working",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("resume failed");
    const called = loop.createFuture<null>();
    class Bad extends Recorder {
      override resumeWriting(): void {
        called.setResult(null);
        throw boom;
      }
    }
    await using c = await connectPair(loop, new Bad(loop));
    c.transport.setWriteBufferLimits(0);
    c.transport.write(bytes("first"));
    // The write drains: resumeWriting is called, and fails.
    await called;
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].exception, boom);
    assert.match(errors[0].message, /resumeWriting/);
    assert.equal(errors[0].transport, c.transport);
    assert.equal(errors[0].protocol, c.client);
    // Back to the default marks: this write pauses nothing.
    c.transport.setWriteBufferLimits();
    c.transport.write(bytes("second"));
    await arrived(loop, c.peer, 11);
    assert.equal(text(c.peer.received()), "firstsecond");
    assert.deepEqual(c.client.events, ["made", "pause"]);
  },
);

// ---- reading and half-closing ---------------------------------------------------

netTest(
  "eofReceived() returning true: isReading() stays true, a pause/resume does not repeat the EOF, writing goes on until close()",
  async ({ loop }) => {
    const client = new Recorder(loop);
    client.keepOpenOnEof = true;
    await using c = await connectPair(loop, client);
    const t = c.transport;
    c.peer.transport!.write(bytes("bye"));
    c.peer.transport!.writeEof();
    await client.eof;
    assert.equal(t.isClosing(), false);
    assert.equal(t.isReading(), true);
    t.pauseReading();
    assert.equal(t.isReading(), false);
    t.resumeReading();
    assert.equal(t.isReading(), true);
    t.write(bytes("after eof"));
    await arrived(loop, c.peer, 9);
    assert.equal(text(c.peer.received()), "after eof");
    assert.deepEqual(client.events, ["made", "data", "eof"]);
    t.close();
    await client.lost;
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    assert.equal(client.lostWith, null);
    await c.peer.lost;
  },
);

netTest(
  "an eofReceived() that throws: exception handler with transport and protocol, connectionLost(error), the peer sees the end",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("eof failed");
    class Bad extends Recorder {
      override eofReceived(): boolean {
        super.eofReceived();
        throw boom;
      }
    }
    await using c = await connectPair(loop, new Bad(loop));
    c.peer.transport!.writeEof();
    await c.client.lost;
    assert.equal(c.client.lostWith, boom);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0].message,
      "Fatal error: protocol.eofReceived() call failed.",
    );
    assert.equal(errors[0].exception, boom);
    assert.equal(errors[0].transport, c.transport);
    assert.equal(errors[0].protocol, c.client);
    await c.peer.lost;
    assert.deepEqual(c.peer.events, ["made", "eof", "lost"]);
  },
);

netTest(
  "a dataReceived() that throws aborts the connection: what it wrote is dropped, connectionLost(error), the handler gets transport and protocol",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("data failed");
    let bufferedAtThrow = -1;
    let atLost: [boolean, number] | null = null;
    class Bad extends Recorder {
      override dataReceived(data: Uint8Array): void {
        super.dataReceived(data);
        this.transport!.write(pattern(1024 * 1024));
        bufferedAtThrow = this.transport!.getWriteBufferSize();
        throw boom;
      }
      override connectionLost(exc: Error | null): void {
        atLost = [
          this.transport!.isClosing(),
          this.transport!.getWriteBufferSize(),
        ];
        super.connectionLost(exc);
      }
    }
    await using c = await connectPair(loop, new Bad(loop), { pausePeer: true });
    c.peer.transport!.write(bytes("x"));
    await c.client.lost;
    assert.equal(c.client.lostWith, boom);
    assert.ok(bufferedAtThrow > 0);
    assert.deepEqual(atLost, [true, 0]);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0].message,
      "Fatal error: protocol.dataReceived() call failed.",
    );
    assert.equal(errors[0].exception, boom);
    assert.equal(errors[0].transport, c.transport);
    assert.equal(errors[0].protocol, c.client);
    c.peer.transport!.resumeReading();
    await c.peer.lost;
  },
);

// ---- BufferedProtocol -----------------------------------------------------------

netTest(
  "BufferedProtocol client: 9 KiB through a 100-byte buffer, an answer, then connectionLost(null) when the server closes",
  async ({ loop }) => {
    const noise = bytes("12345678+".repeat(1024));
    class Server extends Protocol {
      t: Transport | null = null;
      override connectionMade(t: Transport): void {
        this.t = t;
        t.write(noise);
      }
      override dataReceived(data: Uint8Array): void {
        assert.equal(text(data), "1");
        this.t!.close();
      }
    }
    await using server = await loop.createServer(
      () => new Server(),
      "127.0.0.1",
      0,
    );
    const client = new BufferedCollector(loop, 100);
    client.onUpdate = () => {
      if (client.nbytes === noise.length) client.transport!.write(bytes("1"));
    };
    const [t] = await loop.createConnection(() => client, ...addrOf(server));
    await client.lost;
    assert.equal(client.lostWith, null);
    assertSameBytes(client.received(), noise);
    assert.deepEqual(client.events, ["made", "updated", "eof", "lost"]);
    assert.ok(
      client.hints.every((h) => h === -1 || (Number.isInteger(h) && h > 0)),
      `hints ${client.hints}`,
    );
    assert.ok(client.counts.every((n) => n > 0 && n <= 100));
    assert.equal(t.isClosing(), true);
  },
);

netTest(
  "BufferedProtocol: pauseReading() in bufferUpdated() holds what follows until resumeReading()",
  async ({ loop }) => {
    const client = new BufferedCollector(loop, 64);
    client.onUpdate = () => {
      if (client.counts.length === 1) client.transport!.pauseReading();
    };
    await using c = await connectPair(loop, client);
    const peerT = c.peer.transport!;
    peerT.write(bytes("one"));
    await client.until(3);
    assert.equal(c.transport.isReading(), false);
    peerT.write(bytes("two"));
    // A round trip through the other direction: "two" had every chance.
    c.transport.write(bytes("ping"));
    await arrived(loop, c.peer, 4);
    {
      await using other = await connectPair(loop, new Recorder(loop));
      other.transport.write(bytes("ping"));
      await arrived(loop, other.peer, 4);
    }
    assert.equal(text(client.received()), "one");
    c.transport.resumeReading();
    await client.until(6);
    assert.equal(text(client.received()), "onetwo");
  },
);

netTest(
  "BufferedProtocol with eofReceived() returning true stays open for writing",
  async ({ loop }) => {
    const client = new BufferedCollector(loop);
    client.keepOpenOnEof = true;
    await using c = await connectPair(loop, client);
    c.peer.transport!.write(bytes("question"));
    c.peer.transport!.writeEof();
    await client.eof;
    assert.equal(text(client.received()), "question");
    assert.equal(c.transport.isClosing(), false);
    c.transport.write(bytes("answer"));
    c.transport.close();
    await client.lost;
    assert.equal(client.lostWith, null);
    await c.peer.lost;
    assert.equal(text(c.peer.received()), "answer");
    assert.deepEqual(client.events, ["made", "updated", "eof", "lost"]);
  },
);

netTest(
  "BufferedProtocol whose getBuffer() returns an empty buffer: a RuntimeError through the exception handler, connectionLost(it), the peer sees the end",
  async (fx) => {
    const { loop } = fx;
    class Empty extends BufferedCollector {
      override getBuffer(sizehint: number): Uint8Array {
        super.getBuffer(sizehint);
        return new Uint8Array(0);
      }
    }
    await using c = await connectPair(loop, new Empty(loop));
    c.peer.transport!.write(bytes("x"));
    await c.client.lost;
    assert.ok(c.client.lostWith instanceof RuntimeError);
    assert.deepEqual(c.client.counts, []);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /getBuffer/);
    assert.equal(errors[0].exception, c.client.lostWith);
    assert.equal(errors[0].transport, c.transport);
    assert.equal(errors[0].protocol, c.client);
    await c.peer.lost;
    assert.equal(c.peer.events.at(-1), "lost");
  },
);

netTest(
  "BufferedProtocol whose getBuffer() throws: the exception handler names getBuffer, connectionLost(error)",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("no buffer");
    class Bad extends BufferedCollector {
      override getBuffer(): Uint8Array {
        throw boom;
      }
    }
    await using c = await connectPair(loop, new Bad(loop));
    c.peer.transport!.write(bytes("x"));
    await c.client.lost;
    assert.equal(c.client.lostWith, boom);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0].message,
      "Fatal error: protocol.getBuffer() call failed.",
    );
    assert.equal(errors[0].exception, boom);
    await c.peer.lost;
  },
);

netTest(
  "BufferedProtocol whose bufferUpdated() throws: the exception handler names bufferUpdated, connectionLost(error)",
  async (fx) => {
    const { loop } = fx;
    const boom = new Error("update failed");
    const client = new BufferedCollector(loop);
    client.onUpdate = () => {
      throw boom;
    };
    await using c = await connectPair(loop, client);
    c.peer.transport!.write(bytes("x"));
    await client.lost;
    assert.equal(client.lostWith, boom);
    assert.deepEqual(client.counts, [1]);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0].message,
      "Fatal error: protocol.bufferUpdated() call failed.",
    );
    assert.equal(errors[0].exception, boom);
    assert.equal(errors[0].transport, c.transport);
    await c.peer.lost;
  },
);

netTest(
  "BufferedProtocol that does not define getBuffer(): the read fails through the exception handler and the connection closes",
  async (fx) => {
    const { loop } = fx;
    const lost = loop.createFuture<null>();
    let lostWith: Error | null | undefined;
    class NoBuffer extends BufferedProtocol {
      override connectionLost(exc: Error | null): void {
        lostWith = exc;
        lost.setResult(null);
      }
    }
    const client = Object.assign(new NoBuffer(), { lost });
    await using c = await connectPair(loop, client);
    c.peer.transport!.write(bytes("x"));
    await lost;
    assert.ok(lostWith instanceof TypeError, `lost with ${lostWith}`);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].exception, lostWith);
    await c.peer.lost;
  },
);

// ---- switching the protocol -----------------------------------------------------

netTest(
  "setProtocol() from a Protocol to a BufferedProtocol while a read is pending: the bytes reach the new protocol's buffer",
  async ({ loop }) => {
    await using c = await connectPair(loop, new Recorder(loop));
    // createConnection() resolved after reading started: a read is pending.
    const next = new BufferedCollector(loop, 64);
    c.transport.setProtocol(next);
    assert.equal(c.transport.getProtocol(), next);
    c.peer.transport!.write(bytes("hello"));
    await next.until(5);
    assert.equal(text(next.received()), "hello");
    assert.ok(next.counts.every((n) => n <= 64));
    assert.equal(c.client.nbytes, 0);
    c.peer.transport!.close();
    await next.lost;
    assert.deepEqual(next.events, ["updated", "eof", "lost"]);
    // The protocol left behind is not called any more.
    assert.deepEqual(c.client.events, ["made"]);
  },
);

netTest(
  "setProtocol() from a BufferedProtocol to a Protocol while a read is pending: dataReceived() gets the bytes",
  async ({ loop }) => {
    const first = new BufferedCollector(loop, 64);
    await using c = await connectPair(loop, first);
    const next = new Recorder(loop);
    c.transport.setProtocol(next);
    c.peer.transport!.write(bytes("hello"));
    await arrived(loop, next, 5);
    assert.equal(text(next.received()), "hello");
    assert.deepEqual(first.counts, []);
    c.peer.transport!.close();
    await next.lost;
    assert.deepEqual(next.events, ["data", "eof", "lost"]);
    assert.deepEqual(first.events, ["made"]);
  },
);

// ---- a socket that already holds bytes ------------------------------------------

/**
 * A connected TCP socket of the package whose peer (a plain Deno
 * connection) sent `data`, of which `sockRecv` took `taken` bytes: the rest
 * waits in the socket.
 */
async function socketHolding(
  loop: EventLoop,
  data: Uint8Array,
  taken: number,
): Promise<{ sock: Socket; peer: Deno.Conn; [Symbol.dispose](): void }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sock = socket();
  const accepting = listener.accept();
  await loop.sockConnect(sock, ["127.0.0.1", listener.addr.port]);
  const peer = await accepting;
  await peer.write(data);
  const first = await loop.sockRecv(sock, taken);
  assert.deepEqual(first, data.subarray(0, taken));
  return {
    sock,
    peer,
    [Symbol.dispose]() {
      try {
        peer.close();
      } catch {
        // Closed by the test.
      }
      sock.close();
    },
  };
}

/** Reads from `conn` until `n` bytes came; returns them. */
async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const count = await conn.read(out.subarray(got));
    assert.ok(count !== null, "EOF before the bytes");
    got += count;
  }
  return out;
}

netTest(
  "createConnection(sock=) on a socket that already holds bytes: dataReceived() gets them without waiting for more",
  async ({ loop }) => {
    using held = await socketHolding(loop, bytes("hello world"), 5);
    const r = new Recorder(loop);
    const [t] = await loop.createConnection(() => r, null, null, {
      sock: held.sock,
    });
    // A round trip: the transport has been running for a while.
    t.write(bytes("ping"));
    assert.equal(text(await readExactly(held.peer, 4)), "ping");
    assert.equal(text(r.received()), " world");
    await held.peer.write(bytes("!"));
    await arrived(loop, r, 7);
    assert.equal(text(r.received()), " world!");
    await held.peer.closeWrite();
    await r.lost;
    assert.deepEqual(r.events, ["made", "data", "eof", "lost"]);
  },
);

netTest(
  "pauseReading() in connectionMade() holds the bytes the socket already had until resumeReading()",
  async ({ loop }) => {
    using held = await socketHolding(loop, bytes("hello world"), 5);
    class Paused extends Recorder {
      override connectionMade(t: Transport): void {
        super.connectionMade(t);
        t.pauseReading();
      }
    }
    const r = new Paused(loop);
    const [t] = await loop.createConnection(() => r, null, null, {
      sock: held.sock,
    });
    t.write(bytes("ping"));
    assert.equal(text(await readExactly(held.peer, 4)), "ping");
    assert.equal(t.isReading(), false);
    assert.deepEqual(r.events, ["made"], "data arrived while paused");
    t.resumeReading();
    await arrived(loop, r, 6);
    assert.equal(text(r.received()), " world");
    t.close();
    await r.lost;
  },
);

netTest(
  "connectAcceptedSocket() with a BufferedProtocol: bytes the socket already had are fed through getBuffer(remaining), a buffer at a time",
  async ({ loop }) => {
    const [mine, peer] = socketpair();
    try {
      const data = pattern(4097);
      await loop.sockSendall(peer, data);
      const first = await loop.sockRecv(mine, 1);
      assert.equal(first.length, 1);
      const p = new BufferedCollector(loop, 64);
      const [t] = await loop.connectAcceptedSocket(() => p, mine);
      t.write(bytes("ping"));
      assert.equal(text(await loop.sockRecv(peer, 4)), "ping");
      assert.equal(p.nbytes, 4096);
      assertSameBytes(concat([first, p.received()]), data);
      const hints = Array.from({ length: 64 }, (_, i) => 4096 - 64 * i);
      assert.deepEqual(p.hints.slice(0, 64), hints);
      assert.deepEqual(p.counts, new Array(64).fill(64));
      t.close();
      await p.lost;
    } finally {
      peer.close();
    }
  },
);

netTest(
  "connectAcceptedSocket() with a BufferedProtocol whose getBuffer() is empty for bytes the socket already had: the handler names getBuffer",
  async (fx) => {
    const { loop } = fx;
    const [mine, peer] = socketpair();
    try {
      await loop.sockSendall(peer, bytes("abc"));
      await loop.sockRecv(mine, 1);
      class Empty extends BufferedCollector {
        override getBuffer(sizehint: number): Uint8Array {
          super.getBuffer(sizehint);
          return new Uint8Array(0);
        }
      }
      const p = new Empty(loop);
      await loop.connectAcceptedSocket(() => p, mine);
      await p.lost;
      assert.ok(p.lostWith instanceof RuntimeError);
      const errors = fx.takeErrors();
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /getBuffer/);
      assert.equal(errors[0].exception, p.lostWith);
    } finally {
      peer.close();
    }
  },
);
