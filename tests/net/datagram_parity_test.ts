/**
 * Checks asyncio's documented datagram behaviour: how
 * `createDatagramEndpoint()` combines `localAddr`, `remoteAddr`, `family`,
 * `allowBroadcast` and `sock`, and how the datagram transport sends, counts
 * its write buffer, closes and aborts. Loopback only.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  DatagramProtocol,
  type DatagramTransport,
  type EventLoop,
  type Future,
  SO_BROADCAST,
  SOCK_DGRAM,
  type Socket,
  socket,
  type SocketAddress,
  SOL_SOCKET,
} from "../../mod.ts";
import { captureLogger } from "../_util.ts";
import { bytes, netTest, pattern, text } from "./_net.ts";

/** A datagram protocol that records its callbacks and can be awaited. */
class Endpoint extends DatagramProtocol {
  transport: DatagramTransport | null = null;
  events: string[] = [];
  received: [string, SocketAddress][] = [];
  raw: Uint8Array[] = [];
  errors: Error[] = [];
  lostWith: Error | null | undefined = undefined;
  readonly lost: Future<null>;
  #next: Future<null> | null = null;

  constructor(readonly loop: EventLoop) {
    super();
    this.lost = loop.createFuture<null>();
  }

  override connectionMade(transport: DatagramTransport): void {
    this.events.push("made");
    this.transport = transport;
  }

  override datagramReceived(data: Uint8Array, addr: SocketAddress): void {
    this.events.push("datagram");
    this.received.push([text(data), addr]);
    this.raw.push(data);
    this.#wake();
  }

  override errorReceived(exc: Error): void {
    this.events.push("error");
    this.errors.push(exc);
  }

  override pauseWriting(): void {
    this.events.push("pause");
  }

  override resumeWriting(): void {
    this.events.push("resume");
    this.#wake();
  }

  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }

  #wake(): void {
    const next = this.#next;
    this.#next = null;
    next?.setResult(null);
  }

  /** Resolves once `done()` holds, re-checked after every datagram or resume. */
  async until(done: () => boolean): Promise<void> {
    while (!done()) {
      this.#next ??= this.loop.createFuture<null>();
      await this.#next;
    }
  }

  /** Resolves once `n` datagrams have arrived. */
  count(n: number): Promise<void> {
    return this.until(() => this.received.length >= n);
  }

  /** Closes the transport and waits for connectionLost. */
  async close(): Promise<void> {
    this.transport!.close();
    await this.lost;
  }
}

async function closeSockets(...socks: Socket[]): Promise<void> {
  for (const s of socks) s.close();
  await Promise.all(socks.map((s) => s._dgramClosed));
}

function boundSocket(): Socket {
  const s = socket(AF_INET, SOCK_DGRAM);
  s.bind(["127.0.0.1", 0]);
  return s;
}

netTest(
  "createDatagramEndpoint() with localAddr and remoteAddr binds to the one and hears only the other",
  async ({ loop }) => {
    const peer = boundSocket();
    const stranger = boundSocket();
    const [probe, probeProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    // A port known to be free: taken by the probe, then released.
    const local = probe.getExtraInfo("sockname") as [string, number];
    await probeProto.close();
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      local,
      peer.getsockname(),
    );
    assert.deepEqual(transport.getExtraInfo("sockname"), local);
    assert.deepEqual(transport.getExtraInfo("peername"), peer.getsockname());
    stranger.sendto(bytes("from a stranger"), local);
    peer.sendto(bytes("from the peer"), local);
    await endpoint.count(1);
    transport.sendto(bytes("to the peer"));
    const [data, from] = await loop.sockRecvfrom(peer, 100);
    assert.equal(text(data), "to the peer");
    assert.deepEqual(from, local);
    // A second round trip: a stranger's datagram would have arrived by now.
    peer.sendto(bytes("again"), local);
    await endpoint.count(2);
    assert.deepEqual(endpoint.received, [
      ["from the peer", peer.getsockname()],
      ["again", peer.getsockname()],
    ]);
    await endpoint.close();
    await closeSockets(peer, stranger);
  },
);

netTest(
  "createDatagramEndpoint() with only a family makes an unbound endpoint that binds on its first sendto()",
  async ({ loop }) => {
    const [server, serverProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const serverAddr = server.getExtraInfo("sockname") as [string, number];
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      null,
      null,
      { family: AF_INET },
    );
    assert.deepEqual(endpoint.events, ["made"]);
    assert.equal(transport.getExtraInfo("peername"), null);
    transport.sendto(bytes("hello"), serverAddr);
    await serverProto.count(1);
    const [greeting, from] = serverProto.received[0];
    assert.equal(greeting, "hello");
    assert.ok((from as [string, number])[1] > 0, "bound to a port");
    server.sendto(bytes("reply"), from);
    await endpoint.count(1);
    assert.deepEqual(endpoint.received, [["reply", serverAddr]]);
    await endpoint.close();
    await serverProto.close();
  },
);

netTest(
  "createDatagramEndpoint() refuses a local and a remote address of different families",
  async ({ loop }) => {
    let made = 0;
    const factory = () => {
      made++;
      return new Endpoint(loop);
    };
    await assert.rejects(
      loop.createDatagramEndpoint(factory, ["127.0.0.1", 0], ["::1", 9]),
      (error: Error) =>
        error instanceof RangeError &&
        /can not get address information/.test(error.message),
    );
    // An address the family cannot hold does not resolve (asyncio's
    // socket.gaierror).
    await assert.rejects(
      loop.createDatagramEndpoint(factory, ["::1", 0], null, {
        family: AF_INET,
      }),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      loop.createDatagramEndpoint(factory, null, ["127.0.0.1", 9], {
        family: AF_INET6,
      }),
      Deno.errors.NotFound,
    );
    assert.equal(made, 0, "no protocol is made");
  },
);

netTest(
  "sendto() an address of the other family goes to errorReceived, and the endpoint goes on",
  async ({ loop }) => {
    const peer = boundSocket();
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    transport.sendto(bytes("lost"), ["::1", 9]);
    assert.equal(endpoint.errors.length, 1, "reported at once");
    const [error] = endpoint.errors;
    assert.ok(error instanceof RangeError);
    assert.equal((error as { code?: string }).code, "EAFNOSUPPORT");
    assert.match(error.message, /AF_INET socket cannot use the IPv6 address/);
    // A host name is the caller's mistake, refused at the call.
    assert.throws(
      () => transport.sendto(bytes("x"), ["example.invalid", 9]),
      RangeError,
    );
    transport.sendto(bytes("still here"), peer.getsockname());
    const [data] = await loop.sockRecvfrom(peer, 100);
    assert.equal(text(data), "still here");
    assert.equal(endpoint.errors.length, 1);
    await endpoint.close();
    await closeSockets(peer);
  },
);

Deno.test("SO_BROADCAST on a datagram socket reads back what was set", () => {
  const sock = socket(AF_INET, SOCK_DGRAM);
  try {
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
    sock.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 1);
    sock.setsockopt(SOL_SOCKET, SO_BROADCAST, false);
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
  } finally {
    sock.close();
  }
});

netTest(
  "createDatagramEndpoint(allowBroadcast) keeps the remote address for sendto() without connecting the socket",
  async ({ loop }) => {
    const peer = boundSocket();
    const stranger = boundSocket();
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
      peer.getsockname(),
      { allowBroadcast: true },
    );
    assert.equal(transport.getExtraInfo("peername"), null, "not connected");
    const sock = transport.getExtraInfo("socket") as Socket;
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 1);
    const local = transport.getExtraInfo("sockname") as [string, number];
    transport.sendto(bytes("default address"));
    const [data] = await loop.sockRecvfrom(peer, 100);
    assert.equal(text(data), "default address");
    assert.throws(
      () => transport.sendto(bytes("x"), stranger.getsockname()),
      RangeError,
    );
    // Unconnected: anyone's datagrams arrive.
    stranger.sendto(bytes("stranger"), local);
    await endpoint.count(1);
    assert.deepEqual(endpoint.received, [["stranger", stranger.getsockname()]]);
    await endpoint.close();
    await closeSockets(peer, stranger);
  },
);

netTest(
  "createDatagramEndpoint(sock) on a connected socket sends to its peer and names the socket's options in the refusal",
  async ({ loop }) => {
    const peer = boundSocket();
    const sock = socket(AF_INET, SOCK_DGRAM);
    await loop.sockConnect(sock, peer.getsockname());
    await assert.rejects(
      loop.createDatagramEndpoint(() => new Endpoint(loop), null, null, {
        sock,
        reusePort: true,
        allowBroadcast: true,
      }),
      (error: Error) =>
        error instanceof RangeError &&
        /reusePort=true/.test(error.message) &&
        /allowBroadcast=true/.test(error.message),
    );
    assert.equal(sock.closed, false, "a refused socket stays the caller's");
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      null,
      null,
      { sock },
    );
    assert.equal(transport.getExtraInfo("socket"), sock);
    assert.deepEqual(transport.getExtraInfo("peername"), peer.getsockname());
    transport.sendto(bytes("to the peer"));
    const [data, from] = await loop.sockRecvfrom(peer, 100);
    assert.equal(text(data), "to the peer");
    peer.sendto(bytes("back"), from);
    await endpoint.count(1);
    assert.equal(endpoint.received[0][0], "back");
    await endpoint.close();
    assert.ok(sock.closed, "the transport closed the socket");
    await closeSockets(peer);
  },
);

netTest(
  "createDatagramEndpoint() whose protocol factory throws releases the socket it made",
  async ({ loop }) => {
    const [probe, probeProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const local = probe.getExtraInfo("sockname") as [string, number];
    await probeProto.close();
    await assert.rejects(
      loop.createDatagramEndpoint(() => {
        throw new Error("no protocol today");
      }, local),
      /no protocol today/,
    );
    // The port is free again: the failed endpoint's socket was closed.
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      local,
    );
    assert.deepEqual(transport.getExtraInfo("sockname"), local);
    await endpoint.close();
  },
);

netTest(
  "DatagramTransport.sendto() sends a copy: changing the array afterwards changes nothing, and a view sends only its bytes",
  async ({ loop }) => {
    const [server, serverProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const [client, clientProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      null,
      server.getExtraInfo("sockname") as SocketAddress,
    );
    const data = pattern(1000);
    client.sendto(data);
    data.fill(0);
    const whole = pattern(100);
    client.sendto(whole.subarray(10, 20));
    await serverProto.count(2);
    const sizes = serverProto.raw.map((d) => d.length).sort((a, b) => a - b);
    assert.deepEqual(sizes, [10, 1000]);
    for (const got of serverProto.raw) {
      if (got.length === 1000) assert.deepEqual(got, pattern(1000));
      else assert.deepEqual(got, pattern(10, 10));
    }
    await clientProto.close();
    await serverProto.close();
  },
);

netTest(
  "DatagramTransport.getWriteBufferSize() counts an empty datagram as its 8 header bytes until it has left",
  async ({ loop }) => {
    const [server, serverProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const [client, clientProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      null,
      server.getExtraInfo("sockname") as SocketAddress,
    );
    client.setWriteBufferLimits(0, 0);
    client.sendto(new Uint8Array(0));
    assert.equal(client.getWriteBufferSize(), 8);
    assert.deepEqual(clientProto.events, ["made", "pause"]);
    client.sendto(new Uint8Array(0));
    assert.equal(client.getWriteBufferSize(), 16);
    assert.deepEqual(clientProto.events, ["made", "pause"], "paused once");
    await clientProto.until(() => clientProto.events.includes("resume"));
    assert.equal(client.getWriteBufferSize(), 0);
    await serverProto.count(2);
    assert.deepEqual(serverProto.received.map(([d]) => d), ["", ""]);
    assert.deepEqual(clientProto.errors, []);
    await clientProto.close();
    await serverProto.close();
  },
);

netTest(
  "DatagramTransport keeps receiving after a sendto() to a port nobody listens on",
  async ({ loop }) => {
    const [gone, goneProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const silent = gone.getExtraInfo("sockname") as SocketAddress;
    gone.abort();
    await goneProto.lost;
    const [a, aProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const [b, bProto] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      ["127.0.0.1", 0],
    );
    const aAddr = a.getExtraInfo("sockname") as SocketAddress;
    b.sendto(bytes("first"), aAddr);
    await aProto.count(1);
    a.sendto(bytes("into the void"), silent);
    b.sendto(bytes("second"), aAddr);
    await aProto.count(2);
    assert.deepEqual(aProto.received.map(([d]) => d), ["first", "second"]);
    assert.equal(a.isClosing(), false);
    await aProto.close();
    await bProto.close();
  },
);

netTest(
  "DatagramTransport.abort() with datagrams in flight: connectionLost(null) once; later close(), abort() and sendto() do nothing",
  async ({ loop }) => {
    const peer = boundSocket();
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(loop),
      null,
      peer.getsockname(),
    );
    for (let i = 0; i < 5; i++) transport.sendto(pattern(1000));
    transport.abort();
    assert.equal(transport.isClosing(), true);
    transport.close();
    transport.abort();
    await endpoint.lost;
    assert.equal(endpoint.lostWith, null);
    using log = captureLogger();
    transport.sendto(bytes("late"));
    assert.deepEqual(log.warnings, []);
    assert.deepEqual(endpoint.errors, []);
    // The address is still checked after the transport is gone.
    assert.throws(
      () => transport.sendto(bytes("x"), ["127.0.0.1", 9]),
      RangeError,
    );
    // Let every callback already scheduled run, then check nothing followed.
    const settled = loop.createFuture<null>();
    loop.callSoon(() => loop.callSoon(() => settled.setResult(null)));
    await settled;
    assert.deepEqual(endpoint.events, ["made", "lost"]);
    await closeSockets(peer);
  },
);
