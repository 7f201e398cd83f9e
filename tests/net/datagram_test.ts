/**
 * Datagrams: `createDatagramEndpoint`, the datagram transport and protocol,
 * `SOCK_DGRAM` sockets and `sockRecvfrom`/`sockRecvfromInto`/`sockSendto`.
 * Checks ported from CPython's test_base_events.py, test_events.py,
 * test_selector_events.py and test_sock_lowlevel.py.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  DatagramProtocol,
  type DatagramTransport,
  type EventLoop,
  type Future,
  logger,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  type SocketAddress,
  SocketDatagramTransport,
  SOL_SOCKET,
} from "../../mod.ts";
import { bytes, netTest, pattern, text } from "./_net.ts";

/** Records every callback of a datagram protocol. */
class DgramRecorder extends DatagramProtocol {
  transport: DatagramTransport | null = null;
  events: string[] = [];
  received: [Uint8Array, SocketAddress][] = [];
  errors: Error[] = [];
  lostWith: Error | null | undefined = undefined;
  readonly made: Future<null>;
  readonly lost: Future<null>;
  #waiters: [number, Future<null>][] = [];
  #errorWaiters: Future<null>[] = [];

  constructor(readonly loop: EventLoop) {
    super();
    this.made = loop.createFuture();
    this.lost = loop.createFuture();
  }

  override connectionMade(transport: DatagramTransport): void {
    this.events.push("made");
    this.transport = transport;
    this.made.setResult(null);
  }

  override datagramReceived(data: Uint8Array, addr: SocketAddress): void {
    this.events.push("datagram");
    this.received.push([data, addr]);
    this.#waiters = this.#waiters.filter(([n, fut]) => {
      if (this.received.length < n) return true;
      fut.setResult(null);
      return false;
    });
  }

  override errorReceived(exc: Error): void {
    this.events.push("error");
    this.errors.push(exc);
    for (const fut of this.#errorWaiters.splice(0)) fut.setResult(null);
  }

  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }

  /** Resolves once `n` datagrams have arrived. */
  receivedCount(n: number): Future<null> {
    const fut = this.loop.createFuture<null>();
    if (this.received.length >= n) fut.setResult(null);
    else this.#waiters.push([n, fut]);
    return fut;
  }

  /** Resolves at the next errorReceived (or at once if one came). */
  nextError(): Future<null> {
    const fut = this.loop.createFuture<null>();
    if (this.errors.length > 0) fut.setResult(null);
    else this.#errorWaiters.push(fut);
    return fut;
  }
}

/** Echoes every datagram back to its sender. */
class Echo extends DatagramProtocol {
  transport: DatagramTransport | null = null;
  override connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
  }
  override datagramReceived(data: Uint8Array, addr: SocketAddress): void {
    this.transport!.sendto(data, addr);
  }
}

async function closeTransport(
  transport: DatagramTransport,
  protocol: { lost: Future<null> },
): Promise<void> {
  transport.close();
  await protocol.lost;
}

async function closeSockets(...socks: Socket[]): Promise<void> {
  for (const s of socks) s.close();
  await Promise.all(socks.map((s) => s._dgramClosed));
}

netTest(
  "createDatagramEndpoint() echoes over IPv4 with the sender's address",
  async ({ loop }) => {
    const [server, serverProto] = await loop.createDatagramEndpoint(
      () => new Echo(),
      ["127.0.0.1", 0],
    );
    const serverAddr = server.getExtraInfo("sockname") as [string, number];
    assert.equal(serverAddr[0], "127.0.0.1");
    assert.ok(serverAddr[1] > 0);
    assert.equal(server.getExtraInfo("peername"), null);
    const client = new DgramRecorder(loop);
    const [transport, protocol] = await loop.createDatagramEndpoint(
      () => client,
      undefined,
      serverAddr,
    );
    assert.equal(protocol, client);
    assert.ok(transport instanceof SocketDatagramTransport);
    assert.deepEqual(transport.getExtraInfo("peername"), serverAddr);
    assert.ok((transport.getExtraInfo("socket") as Socket).type === SOCK_DGRAM);
    transport.sendto(bytes("one"));
    transport.sendto(bytes("two"), serverAddr);
    await client.receivedCount(2);
    assert.deepEqual(client.received.map(([d]) => text(d)).sort(), [
      "one",
      "two",
    ]);
    for (const [, addr] of client.received) assert.deepEqual(addr, serverAddr);
    await closeTransport(transport, client);
    assert.deepEqual(client.events, ["made", "datagram", "datagram", "lost"]);
    assert.equal(client.lostWith, null);
    const lost = loop.createFuture<null>();
    serverProto.connectionLost = () => lost.setResult(null);
    server.close();
    await lost;
  },
);

netTest(
  "createDatagramEndpoint() works over IPv6 with 4-tuple addresses",
  async ({ loop }) => {
    const server = new DgramRecorder(loop);
    const [st] = await loop.createDatagramEndpoint(() => server, ["::1", 0]);
    const addr = st.getExtraInfo("sockname") as SocketAddress;
    assert.equal(addr.length, 4);
    assert.equal(addr[0], "::1");
    const client = new DgramRecorder(loop);
    const [ct] = await loop.createDatagramEndpoint(() => client, ["::1", 0]);
    ct.sendto(bytes("v6"), addr);
    await server.receivedCount(1);
    assert.equal(text(server.received[0][0]), "v6");
    assert.deepEqual(server.received[0][1], ct.getExtraInfo("sockname"));
    await closeTransport(ct, client);
    await closeTransport(st, server);
  },
);

netTest(
  "createDatagramEndpoint() resolves localhost and family",
  async ({ loop }) => {
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(
      () => p,
      ["localhost", 0],
      null,
      {
        family: AF_INET,
      },
    );
    assert.equal(
      (t.getExtraInfo("sockname") as [string, number])[0],
      "127.0.0.1",
    );
    await closeTransport(t, p);
  },
);

netTest(
  "createDatagramEndpoint() refuses reuseAddress, bad addresses and sock with options",
  async ({ loop }) => {
    await assert.rejects(
      loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        ["127.0.0.1", 0],
        null,
        {
          reuseAddress: true as never,
        },
      ),
      (e: Error) => e instanceof TypeError && /reuseAddress/.test(e.message),
    );
    await assert.rejects(
      loop.createDatagramEndpoint(() => new DatagramProtocol()),
      (e: Error) =>
        e instanceof RangeError && /unexpected address family/.test(e.message),
    );
    await assert.rejects(
      loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        ["127.0.0.1", 0, 1] as never,
      ),
      (e: Error) => e instanceof TypeError && /2-tuple/.test(e.message),
    );
    await assert.rejects(
      loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        ["/tmp/x"] as never,
        null,
        {
          family: AF_UNIX,
        },
      ),
      (e: Error) =>
        e instanceof TypeError && /string is expected/.test(e.message),
    );
    const s = socket(AF_INET, SOCK_DGRAM);
    await assert.rejects(
      loop.createDatagramEndpoint(() => new DatagramProtocol(), null, null, {
        sock: s,
        family: AF_INET,
      }),
      (e: Error) =>
        e instanceof RangeError &&
        /socket modifier keyword arguments/.test(e.message) &&
        /family=2/.test(e.message),
    );
    const stream = socket(AF_INET, SOCK_STREAM);
    await assert.rejects(
      loop.createDatagramEndpoint(() => new DatagramProtocol(), null, null, {
        sock: stream,
      }),
      (e: Error) =>
        e instanceof RangeError &&
        /A datagram socket was expected/.test(e.message),
    );
    stream.close();
    await closeSockets(s);
  },
);

netTest(
  "createDatagramEndpoint() reports an address in use",
  async ({ loop }) => {
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(() => p, ["127.0.0.1", 0]);
    await assert.rejects(
      loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        t.getExtraInfo("sockname") as SocketAddress,
      ),
      Deno.errors.AddrInUse,
    );
    await closeTransport(t, p);
  },
);

netTest(
  "createDatagramEndpoint() with reusePort lets two endpoints share a port",
  async ({ loop }) => {
    const a = new DgramRecorder(loop);
    const [ta] = await loop.createDatagramEndpoint(
      () => a,
      ["127.0.0.1", 0],
      null,
      {
        reusePort: true,
      },
    );
    const b = new DgramRecorder(loop);
    const [tb] = await loop.createDatagramEndpoint(
      () => b,
      ta.getExtraInfo("sockname") as SocketAddress,
      null,
      { reusePort: true },
    );
    assert.deepEqual(tb.getExtraInfo("sockname"), ta.getExtraInfo("sockname"));
    const sock = tb.getExtraInfo("socket") as Socket;
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_REUSEPORT), 1);
    await closeTransport(ta, a);
    await closeTransport(tb, b);
  },
);

netTest(
  "createDatagramEndpoint() takes over a bound socket and its queued datagrams",
  async ({ loop }) => {
    const sock = socket(AF_INET, SOCK_DGRAM);
    sock.bind(["127.0.0.1", 0]);
    const sender = socket(AF_INET, SOCK_DGRAM);
    sender.bind(["127.0.0.1", 0]);
    sender.sendto(bytes("early"), sock.getsockname());
    // Wait until the datagram is in the socket's queue.
    await new Promise<void>((resolve) =>
      loop.addReader(sock, () => {
        loop.removeReader(sock);
        resolve();
      })
    );
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(() => p, null, null, {
      sock,
    });
    assert.equal(t.getExtraInfo("socket"), sock);
    sender.sendto(bytes("late"), sock.getsockname());
    await p.receivedCount(2);
    assert.deepEqual(p.received.map(([d]) => text(d)), ["early", "late"]);
    assert.throws(() => sock.recvfrom(10), /belongs to a transport/);
    await closeTransport(t, p);
    assert.ok(sock.closed);
    await closeSockets(sender);
  },
);

netTest(
  "DatagramTransport.sendto() checks data and the fixed address",
  async ({ loop }) => {
    const peer = socket(AF_INET, SOCK_DGRAM);
    peer.bind(["127.0.0.1", 0]);
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(
      () => p,
      null,
      peer.getsockname(),
    );
    assert.throws(() => t.sendto("text" as never), TypeError);
    assert.throws(
      () => t.sendto(bytes("x"), ["127.0.0.1", 1]),
      (e: Error) =>
        e instanceof RangeError && /Invalid address/.test(e.message),
    );
    t.sendto(bytes("ok"), peer.getsockname());
    const [data, from] = await loop.sockRecvfrom(peer, 100);
    assert.equal(text(data), "ok");
    assert.deepEqual(from, t.getExtraInfo("sockname") ?? from);
    await closeTransport(t, p);
    const q = new DgramRecorder(loop);
    const [u] = await loop.createDatagramEndpoint(() => q, ["127.0.0.1", 0]);
    assert.throws(() => u.sendto(bytes("x")), /no remote address/);
    assert.throws(
      () => u.sendto(bytes("x"), ["example.invalid", 9]),
      RangeError,
    );
    await closeTransport(u, q);
    await closeSockets(peer);
  },
);

netTest(
  "DatagramTransport.sendto() sends an empty datagram and the largest one",
  async ({ loop }) => {
    const server = new DgramRecorder(loop);
    const [st] = await loop.createDatagramEndpoint(() => server, [
      "127.0.0.1",
      0,
    ]);
    const client = new DgramRecorder(loop);
    const [ct] = await loop.createDatagramEndpoint(
      () => client,
      null,
      st.getExtraInfo("sockname") as SocketAddress,
    );
    ct.sendto(new Uint8Array(0));
    ct.sendto(pattern(65507));
    await server.receivedCount(2);
    const sizes = server.received.map(([d]) => d.length).sort((a, b) => a - b);
    assert.deepEqual(sizes, [0, 65507]);
    const big = server.received.find(([d]) => d.length > 0)![0];
    assert.deepEqual(big.subarray(0, 300), pattern(300));
    assert.deepEqual(client.errors, []);
    await closeTransport(ct, client);
    await closeTransport(st, server);
  },
);

netTest(
  "DatagramTransport.sendto() of an oversized datagram calls errorReceived",
  async ({ loop }) => {
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(() => p, null, [
      "127.0.0.1",
      9,
    ]);
    t.sendto(new Uint8Array(65508));
    assert.equal(
      p.errors.length,
      1,
      "errorReceived runs within sendto, as asyncio's",
    );
    assert.ok(p.errors[0] instanceof RangeError);
    assert.equal((p.errors[0] as { code?: string }).code, "EMSGSIZE");
    assert.match(p.errors[0].message, /65508.*65507/);
    assert.equal(t.isClosing(), false, "the transport stays open");
    assert.equal(t.getWriteBufferSize(), 0);
    await closeTransport(t, p);
    assert.deepEqual(p.events, ["made", "error", "lost"]);
  },
);

netTest(
  "DatagramTransport.sendto() after close drops and warns past the threshold",
  async ({ loop }) => {
    const p = new DgramRecorder(loop);
    const [t] = await loop.createDatagramEndpoint(() => p, null, [
      "127.0.0.1",
      9,
    ]);
    await closeTransport(t, p);
    const warnings: string[] = [];
    const original = logger.warning;
    logger.warning = (message: string) => {
      warnings.push(message);
    };
    try {
      for (let i = 0; i < 7; i++) t.sendto(bytes("late"));
    } finally {
      logger.warning = original;
    }
    assert.deepEqual(warnings, [
      "socket.send() raised exception.",
      "socket.send() raised exception.",
      "socket.send() raised exception.",
    ]);
    assert.deepEqual(p.errors, []);
  },
);

netTest(
  "DatagramTransport counts its write buffer and pauses writing past the high mark",
  async ({ loop }) => {
    const server = new DgramRecorder(loop);
    const [st] = await loop.createDatagramEndpoint(() => server, [
      "127.0.0.1",
      0,
    ]);
    const events: string[] = [];
    const resumed = loop.createFuture<null>();
    class Writer extends DgramRecorder {
      override pauseWriting() {
        events.push("pause");
      }
      override resumeWriting() {
        events.push("resume");
        resumed.setResult(null);
      }
    }
    const client = new Writer(loop);
    const [ct] = await loop.createDatagramEndpoint(
      () => client,
      null,
      st.getExtraInfo("sockname") as SocketAddress,
    );
    assert.deepEqual(ct.getWriteBufferLimits(), [16384, 65536]);
    (ct as SocketDatagramTransport).setWriteBufferLimits(100, 10);
    assert.deepEqual(ct.getWriteBufferLimits(), [10, 100]);
    ct.sendto(new Uint8Array(50));
    assert.equal(ct.getWriteBufferSize(), 58, "50 bytes and 8 header bytes");
    assert.deepEqual(events, []);
    ct.sendto(new Uint8Array(50));
    assert.deepEqual(events, ["pause"]);
    await resumed;
    assert.deepEqual(events, ["pause", "resume"]);
    assert.equal(ct.getWriteBufferSize(), 0);
    assert.throws(() => ct.setWriteBufferLimits(1, 2), RangeError);
    await server.receivedCount(2);
    await closeTransport(ct, client);
    await closeTransport(st, server);
  },
);

netTest(
  "DatagramTransport.close() lets sent datagrams leave, abort() does not wait",
  async ({ loop }) => {
    const server = new DgramRecorder(loop);
    const [st] = await loop.createDatagramEndpoint(() => server, [
      "127.0.0.1",
      0,
    ]);
    const client = new DgramRecorder(loop);
    const [ct] = await loop.createDatagramEndpoint(
      () => client,
      null,
      st.getExtraInfo("sockname") as SocketAddress,
    );
    ct.sendto(bytes("last words"));
    ct.close();
    assert.equal(ct.isClosing(), true);
    ct.close();
    await client.lost;
    await server.receivedCount(1);
    assert.equal(text(server.received[0][0]), "last words");
    assert.deepEqual(client.events, ["made", "lost"]);
    st.abort();
    st.abort();
    await server.lost;
    assert.equal(server.lostWith, null);
    assert.deepEqual(server.events, ["made", "datagram", "lost"]);
  },
);

netTest("DatagramTransport pauses and resumes reading", async ({ loop }) => {
  const server = new DgramRecorder(loop);
  const [st] = await loop.createDatagramEndpoint(() => server, [
    "127.0.0.1",
    0,
  ]);
  const t = st as SocketDatagramTransport;
  assert.equal(t.isReading(), true);
  t.pauseReading();
  assert.equal(t.isReading(), false);
  const sender = socket(AF_INET, SOCK_DGRAM);
  sender.bind(["127.0.0.1", 0]);
  const echoBack = new DgramRecorder(loop);
  // A datagram sent while paused is held, then delivered on resume.
  sender.sendto(bytes("held"), st.getExtraInfo("sockname") as [string, number]);
  // A round trip on another endpoint shows time passed for delivery.
  const [et] = await loop.createDatagramEndpoint(() => echoBack, [
    "127.0.0.1",
    0,
  ]);
  sender.sendto(bytes("ping"), et.getExtraInfo("sockname") as [string, number]);
  await echoBack.receivedCount(1);
  assert.deepEqual(server.received, []);
  t.resumeReading();
  await server.receivedCount(1);
  assert.equal(text(server.received[0][0]), "held");
  await closeTransport(et, echoBack);
  await closeTransport(st, server);
  await closeSockets(sender);
});

netTest(
  "DatagramProtocol.datagramReceived() raising goes to the exception handler; the endpoint keeps receiving",
  async ({ loop, takeErrors }) => {
    class Bad extends DgramRecorder {
      override datagramReceived(data: Uint8Array, addr: SocketAddress): void {
        super.datagramReceived(data, addr);
        if (text(data) === "bad") throw new Error("boom");
      }
    }
    const p = new Bad(loop);
    const [t] = await loop.createDatagramEndpoint(() => p, ["127.0.0.1", 0]);
    const s = socket(AF_INET, SOCK_DGRAM);
    const to = t.getExtraInfo("sockname") as [string, number];
    s.sendto(bytes("bad"), to);
    await p.receivedCount(1);
    s.sendto(bytes("good"), to);
    await p.receivedCount(2);
    assert.deepEqual(p.received.map(([data]) => text(data)), ["bad", "good"]);
    assert.equal(t.isClosing(), false);
    const errors = takeErrors();
    assert.deepEqual(errors.map((e) => e.message), [
      "Exception in callback Bad.datagramReceived()",
    ]);
    assert.equal((errors[0].exception as Error).message, "boom");
    assert.equal(errors[0].transport, t);
    await closeTransport(t, p);
    assert.equal(p.lostWith, null);
    await closeSockets(s);
  },
);

netTest(
  "socket(SOCK_DGRAM) binds, connects, sends and receives",
  async ({ loop }) => {
    const a = socket(AF_INET, SOCK_DGRAM);
    const b = socket(AF_INET, SOCK_DGRAM);
    assert.equal(a.type, SOCK_DGRAM);
    a.bind(["127.0.0.1", 0]);
    b.bind(["127.0.0.1", 0]);
    assert.throws(() => a.bind(["127.0.0.1", 0]), /already bound/);
    assert.throws(() => a.recvfrom(10), Deno.errors.WouldBlock);
    assert.throws(() => a.send(bytes("x")), Deno.errors.NotConnected);
    assert.throws(() => a.getpeername(), Deno.errors.NotConnected);
    assert.equal(await loop.sockSendto(b, bytes("hello"), a.getsockname()), 5);
    const [data, from] = await loop.sockRecvfrom(a, 3);
    assert.equal(text(data), "hel", "a datagram is truncated to bufsize");
    assert.deepEqual(from, b.getsockname());
    assert.throws(
      () => a.recvfrom(10),
      Deno.errors.WouldBlock,
      "the rest is gone",
    );
    await loop.sockConnect(b, a.getsockname());
    assert.deepEqual(b.getpeername(), a.getsockname());
    assert.throws(
      () => b.sendto(bytes("x"), ["127.0.0.1", 9]),
      /already connected/,
    );
    b.send(bytes("via send"));
    const buf = new Uint8Array(32);
    const [n, from2] = await loop.sockRecvfromInto(a, buf);
    assert.equal(text(buf.subarray(0, n)), "via send");
    assert.deepEqual(from2, b.getsockname());
    // A connected socket hears only its peer.
    const c = socket(AF_INET, SOCK_DGRAM);
    c.sendto(bytes("stranger"), b.getsockname());
    a.sendto(bytes("peer"), b.getsockname());
    const [got] = await loop.sockRecvfrom(b, 100);
    assert.equal(text(got), "peer");
    assert.throws(
      () => b.sendto(new Uint8Array(70000), a.getsockname()),
      (e: Error) =>
        e instanceof RangeError && (e as { code?: string }).code === "EMSGSIZE",
    );
    assert.throws(() => b.send("str" as never), TypeError);
    await closeSockets(a, b, c);
  },
);

netTest(
  "sockRecvfromInto() honours nbytes and sockRecvfrom() waits for data",
  async ({ loop }) => {
    const a = socket(AF_INET6, SOCK_DGRAM);
    a.bind(["::1", 0]);
    const b = socket(AF_INET6, SOCK_DGRAM);
    const waiting = loop.sockRecvfromInto(a, new Uint8Array(10), 4);
    loop.callSoon(() => b.sendto(bytes("abcdefgh"), a.getsockname()));
    const [n, from] = await waiting;
    assert.equal(n, 4);
    assert.equal((from as SocketAddress)[0], "::1");
    await assert.rejects(
      loop.sockRecvfromInto(a, new Uint8Array(2), 5),
      RangeError,
    );
    await closeSockets(a, b);
    await assert.rejects(loop.sockRecvfrom(a, 10), Deno.errors.BadResource);
  },
);

netTest(
  "AF_UNIX datagrams are refused with an error naming --unstable-net",
  async ({ loop }) => {
    const refused = (e: Error) =>
      e instanceof Deno.errors.NotSupported &&
      /--unstable-net|Deno\.listenDatagram/.test(e.message) &&
      /AF_INET/.test(e.message);
    assert.throws(() => socket(AF_UNIX, SOCK_DGRAM), refused);
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        loop.createDatagramEndpoint(
          () => new DatagramProtocol(),
          `${dir}/s`,
          null,
          {
            family: AF_UNIX,
          },
        ),
        refused,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
