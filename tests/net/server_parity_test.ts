/**
 * Checks asyncio's documented server and socket behaviour: the `Server`
 * object (`close()`, `waitClosed()`, `closeClients()`, `serveForever()`,
 * `startServing()`, `sockets`, `await using`), the argument rules of
 * `createServer()` and `createConnection()` (resolution through the loop's
 * `getaddrinfo`, the socket options, Happy Eyeballs ordering), Unix server
 * socket files, and the `sock*` coroutines on non-blocking sockets.
 */
import assert from "node:assert/strict";
import {
  type AddrInfo,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  AI_NUMERICHOST,
  AI_PASSIVE,
  CancelledError,
  type EventLoop,
  type GetaddrinfoOptions,
  Protocol,
  RuntimeError,
  type Server,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  type SocketAddress,
  socketpair,
  SOL_SOCKET,
  type Task,
  TimeoutError,
  type Transport,
  waitFor,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  netTest,
  pairTest,
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

/** `count` distinct ports nothing listens on (bound together, then closed). */
function freePorts(count: number): number[] {
  const socks = Array.from({ length: count }, () => {
    const sock = socket();
    sock.bind(["127.0.0.1", 0]);
    return sock;
  });
  const ports = socks.map((s) => (s.getsockname() as [string, number])[1]);
  for (const sock of socks) sock.close();
  return ports;
}

/** A listening TCP socket on 127.0.0.1 and a free port. */
function listener(): [Socket, [string, number]] {
  const sock = socket();
  sock.bind(["127.0.0.1", 0]);
  sock.listen();
  return [sock, sock.getsockname() as [string, number]];
}

/** One stream address of `getaddrinfo`'s shape. */
function info(family: number, address: SocketAddress): AddrInfo {
  return [family, SOCK_STREAM, 6, "", address] as AddrInfo;
}

/**
 * Server-side recorders: `factory` makes one per accepted connection,
 * `next()` hands them out in the order the connections came.
 */
function peers(loop: EventLoop): {
  factory: () => Recorder;
  made: Recorder[];
  next: () => Promise<Recorder>;
} {
  const made: Recorder[] = [];
  const waiting: ((r: Recorder) => void)[] = [];
  let taken = 0;
  return {
    made,
    factory: () => {
      const r = new Recorder(loop);
      made.push(r);
      waiting.shift()?.(r);
      return r;
    },
    next: () => {
      const index = taken++;
      if (index < made.length) return Promise.resolve(made[index]);
      const fut = loop.createFuture<Recorder>();
      waiting.push((r) => fut.setResult(r));
      return fut as unknown as Promise<Recorder>;
    },
  };
}

/** Receives from `sock` with `sockRecv` until `n` bytes have come. */
async function recvExactly(
  loop: EventLoop,
  sock: Socket,
  n: number,
): Promise<string> {
  let got = "";
  while (got.length < n) {
    const chunk = await loop.sockRecv(sock, n - got.length);
    assert.ok(chunk.length > 0, `EOF after ${got.length} of ${n} bytes`);
    got += text(chunk);
  }
  return got;
}

/** Whether a file exists at `path` (without following a link). */
async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

// ---- Server.waitClosed() and close() ----------------------------------------

netTest(
  "Server.waitClosed(): waits begun before any connection, during one and after close() all end only when the last connection does; on a closed server it returns without a loop iteration",
  async ({ loop }) => {
    const side = peers(loop);
    const server = await loop.createServer(side.factory, "127.0.0.1", 0);
    const before = loop.createTask(() => server.waitClosed());
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    const peer = await side.next();
    await peer.made;
    const during = loop.createTask(() => server.waitClosed());
    server.close();
    const after = loop.createTask(() => server.waitClosed());
    // A round trip over the open connection: the loop has run many times,
    // and every waiter still waits for it.
    transport.write(bytes("ping"));
    await receivedAtLeast(loop, peer, 4);
    peer.transport!.write(bytes("pong"));
    await receivedAtLeast(loop, client, 4);
    assert.deepEqual(
      [before.done(), during.done(), after.done()],
      [false, false, false],
    );
    transport.close();
    await before;
    await during;
    await after;
    assert.equal(peer.events.at(-1), "lost");
    let ranMeanwhile = false;
    loop.callSoon(() => {
      ranMeanwhile = true;
    });
    await server.waitClosed();
    assert.equal(ranMeanwhile, false, "waitClosed() waited for the loop");
  },
);

netTest(
  "Server.waitClosed(): close() and the last connection's close() scheduled back to back with callSoon still wake every waiter",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const early = loop.createTask(() => server.waitClosed());
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    loop.callSoon(() => server.close());
    loop.callSoon(() => transport.close());
    await server.waitClosed();
    await early;
    await client.lost;
    assert.equal(server.isServing(), false);
    assert.deepEqual(server.sockets, []);
  },
);

netTest(
  "Server.close() right after a client connected, before the server handled it: waitClosed() resolves and nothing reaches the exception handler",
  async ({ loop }) => {
    for (let round = 0; round < 5; round++) {
      const side = peers(loop);
      const server = await loop.createServer(side.factory, "127.0.0.1", 0);
      const client = socket();
      try {
        // The kernel completes the handshake; the server has not run yet.
        await loop.sockConnect(client, addrOf(server));
        server.close();
        client.close();
        await server.waitClosed();
        // A connection the server did take is over by now.
        for (const peer of side.made) {
          assert.equal(peer.events.at(-1), "lost", `round ${round}`);
        }
      } finally {
        client.close();
      }
    }
  },
);

// ---- serveForever() ------------------------------------------------------------

netTest(
  "Server.serveForever(): cancelled from a connection's dataReceived(), it closes the server and ends only after that connection is lost; serveForever() is then a RuntimeError",
  async ({ loop }) => {
    const request = new Uint8Array(5 * 1024 + 1).fill(0x31);
    request[request.length - 1] = 0x0a;
    const order: string[] = [];
    let main: Task<void> | null = null;
    class Handler extends Protocol {
      transport: Transport | null = null;
      seen = 0;
      override connectionMade(transport: Transport): void {
        this.transport = transport;
      }
      override dataReceived(data: Uint8Array): void {
        this.seen += data.length;
        if (this.seen < request.length) return;
        main!.cancel();
        this.transport!.write(bytes("1"));
        this.transport!.close();
      }
      override connectionLost(): void {
        order.push("connection lost");
      }
    }
    const server = await loop.createServer(
      () => new Handler(),
      "127.0.0.1",
      0,
      { startServing: false },
    );
    assert.equal(server.isServing(), false);
    main = loop.createTask(async () => {
      await using serving = server;
      await serving.serveForever();
    });
    main.addDoneCallback(() => order.push("serveForever ended"));
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    transport.write(request);
    await assert.rejects(async () => await main, CancelledError);
    assert.deepEqual(order, ["connection lost", "serveForever ended"]);
    await client.lost;
    assert.equal(text(client.received()), "1");
    assert.deepEqual(server.sockets, []);
    assert.equal(server.isServing(), false);
    await assert.rejects(
      server.serveForever(),
      (e) => e instanceof RuntimeError && /closed/.test(e.message),
    );
  },
);

netTest(
  "Server.close() while serveForever() runs ends that task cancelled; a second serveForever() meanwhile is a RuntimeError",
  async ({ loop }) => {
    const side = peers(loop);
    const server = await loop.createServer(side.factory, "127.0.0.1", 0);
    const forever = loop.createTask(() => server.serveForever());
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    await (await side.next()).made;
    await assert.rejects(
      server.serveForever(),
      (e) => e instanceof RuntimeError && /already/.test(e.message),
    );
    assert.equal(forever.done(), false);
    server.close();
    transport.close();
    await assert.rejects(async () => await forever, CancelledError);
    assert.equal(forever.cancelled(), true);
    await client.lost;
  },
);

// ---- closeClients(), sockets, getLoop(), await using -------------------------

netTest(
  "Server.closeClients() on a serving server: each connection ends after its buffered data is sent, and new connections are still accepted",
  async ({ loop }) => {
    const side = peers(loop);
    const server = await loop.createServer(side.factory, "127.0.0.1", 0);
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    const peer = await side.next();
    await peer.made;
    const big = pattern(4 * 1024 * 1024);
    peer.transport!.write(big);
    server.closeClients();
    assert.equal(peer.transport!.isClosing(), true);
    await client.lost;
    assertSameBytes(client.received(), big);
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    assert.equal(server.isServing(), true);
    const second = new Recorder(loop);
    const [again] = await loop.createConnection(
      () => second,
      ...addrOf(server),
    );
    again.write(bytes("hello"));
    const secondPeer = await side.next();
    await receivedAtLeast(loop, secondPeer, 5);
    assert.equal(text(secondPeer.received()), "hello");
    again.close();
    await second.lost;
    server.close();
    await server.waitClosed();
    transport.close();
  },
);

netTest(
  "Server.sockets: a fresh copy of the listening sockets, which close() closes; getLoop() is the loop that made the server",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    assert.equal(server.getLoop(), loop);
    const listening = server.sockets;
    assert.equal(listening.length, 1);
    assert.notEqual(server.sockets, listening);
    listening.pop();
    assert.equal(server.sockets.length, 1);
    const [sock] = server.sockets;
    assert.equal(sock.family, AF_INET);
    assert.equal(sock.type, SOCK_STREAM);
    assert.equal(sock.closed, false);
    server.close();
    assert.equal(sock.closed, true);
    assert.deepEqual(server.sockets, []);
    await server.waitClosed();
    assert.equal(server.getLoop(), loop);
  },
);

netTest(
  "`await using` a server: leaving the block closes it and waits until its open connections have ended",
  async ({ loop }) => {
    const side = peers(loop);
    const server = await loop.createServer(side.factory, "127.0.0.1", 0);
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    const peer = await side.next();
    await peer.made;
    const leaving = loop.createTask(async () => {
      await using _server = server;
    });
    // A round trip over the open connection while the block is being left.
    transport.write(bytes("still open"));
    await receivedAtLeast(loop, peer, 10);
    peer.transport!.write(bytes("yes"));
    await receivedAtLeast(loop, client, 3);
    assert.equal(server.isServing(), false);
    assert.equal(leaving.done(), false);
    transport.close();
    await leaving;
    assert.equal(peer.events.at(-1), "lost");
  },
);

netTest(
  "createServer(startServing: false): a client's connection waits unserved in the backlog until startServing()",
  async ({ loop }) => {
    const side = peers(loop);
    const server = await loop.createServer(side.factory, "127.0.0.1", 0, {
      startServing: false,
    });
    const raw = socket();
    try {
      // The kernel completes the handshake and takes the bytes.
      await loop.sockConnect(raw, addrOf(server));
      await loop.sockSendall(raw, bytes("early"));
      // A full exchange with a serving server: the loop has run many times.
      const echoSide = peers(loop);
      await using other = await loop.createServer(
        echoSide.factory,
        "127.0.0.1",
        0,
      );
      const probe = new Recorder(loop);
      const [t] = await loop.createConnection(() => probe, ...addrOf(other));
      t.write(bytes("probe"));
      const echoPeer = await echoSide.next();
      await receivedAtLeast(loop, echoPeer, 5);
      t.close();
      await probe.lost;
      assert.equal(side.made.length, 0, "served before startServing()");
      assert.equal(server.isServing(), false);
      await server.startServing();
      assert.equal(server.isServing(), true);
      const peer = await side.next();
      await receivedAtLeast(loop, peer, 5);
      assert.equal(text(peer.received()), "early");
      raw.close();
      await peer.lost;
    } finally {
      raw.close();
      server.close();
      await server.waitClosed();
    }
  },
);

// ---- createServer() and createConnection() arguments ------------------------

netTest(
  "createServer(): host with sock, a datagram sock, ssl: true, and sslHandshakeTimeout/sslShutdownTimeout without ssl are refused",
  async ({ loop }) => {
    const factory = () => new Protocol();
    using stream = socket();
    stream.bind(["127.0.0.1", 0]);
    await assert.rejects(
      loop.createServer(factory, "127.0.0.1", 0, { sock: stream }),
      RangeError,
    );
    await assert.rejects(
      loop.createServer(factory, undefined, 0, { sock: stream }),
      RangeError,
    );
    assert.equal(stream.closed, false);
    using dgram = socket(AF_INET, SOCK_DGRAM);
    await assert.rejects(
      loop.createServer(factory, null, null, { sock: dgram }),
      (e) => e instanceof RangeError && /stream socket/i.test(e.message),
    );
    await assert.rejects(
      loop.createServer(factory, "127.0.0.1", 0, { ssl: true as Loose }),
      TypeError,
    );
    for (
      const options of [{ sslHandshakeTimeout: 1 }, { sslShutdownTimeout: 1 }]
    ) {
      await assert.rejects(
        loop.createServer(factory, "127.0.0.1", 0, options),
        (e) =>
          e instanceof RangeError && /only meaningful with ssl/.test(e.message),
      );
    }
    // The refused calls left the socket alone: it still serves.
    const server = await loop.createServer(factory, null, null, {
      sock: stream,
    });
    assert.equal(server.sockets[0], stream);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(): host with sock, a datagram sock, serverHostname or TLS timeouts without ssl, and ssl without a host name are refused",
  async ({ loop }) => {
    const factory = () => new Protocol();
    using stream = socket();
    await assert.rejects(
      loop.createConnection(factory, "127.0.0.1", 80, { sock: stream }),
      RangeError,
    );
    await assert.rejects(
      loop.createConnection(factory, null, 80, { sock: stream }),
      RangeError,
    );
    using dgram = socket(AF_INET, SOCK_DGRAM);
    await assert.rejects(
      loop.createConnection(factory, null, null, { sock: dgram }),
      (e) => e instanceof RangeError && /stream socket/i.test(e.message),
    );
    for (
      const options of [
        { serverHostname: "" },
        { serverHostname: "example.test" },
        { sslHandshakeTimeout: 1 },
        { sslShutdownTimeout: 1 },
      ]
    ) {
      await assert.rejects(
        loop.createConnection(factory, "127.0.0.1", 80, options),
        (e) =>
          e instanceof RangeError && /only meaningful with ssl/.test(e.message),
      );
    }
    for (const host of ["", null]) {
      await assert.rejects(
        loop.createConnection(factory, host, 80, { ssl: true }),
        (e) => e instanceof RangeError && /serverHostname/.test(e.message),
      );
    }
    await assert.rejects(
      loop.createConnection(factory, null, null, { ssl: true, sock: stream }),
      (e) => e instanceof RangeError && /serverHostname/.test(e.message),
    );
  },
);

netTest(
  'createServer(): host names are resolved with the loop\'s getaddrinfo, address literals are not: "" asks for the wildcard (null) host, flags gain AI_PASSIVE, and an empty answer is an error',
  async ({ loop }) => {
    const factory = () => new Protocol();
    const asked: [unknown, unknown, GetaddrinfoOptions][] = [];
    loop.getaddrinfo = async (host, port, options = {}) => {
      asked.push([host, port, options]);
      return host === "service.test"
        ? [info(AF_INET, ["127.0.0.1", Number(port)])]
        : [];
    };
    await assert.rejects(
      loop.createServer(factory, "", 0),
      Deno.errors.NotFound,
    );
    assert.equal(asked.length, 1);
    assert.equal(asked[0][0], null);
    assert.equal(asked[0][2].type, SOCK_STREAM);
    assert.equal(asked[0][2].flags! & AI_PASSIVE, AI_PASSIVE);
    await assert.rejects(
      loop.createServer(factory, "nowhere.test", 0, {
        family: AF_INET,
        flags: AI_NUMERICHOST,
      }),
      (e) =>
        e instanceof Deno.errors.NotFound && /nowhere\.test/.test(e.message),
    );
    assert.equal(asked[1][0], "nowhere.test");
    assert.equal(asked[1][2].family, AF_INET);
    assert.equal(asked[1][2].flags, AI_NUMERICHOST | AI_PASSIVE);
    // An address literal is used as it is, without asking.
    const literal = await loop.createServer(factory, "127.0.0.1", 0);
    assert.equal(asked.length, 2);
    assert.equal(addrOf(literal)[0], "127.0.0.1");
    literal.close();
    await literal.waitClosed();
    // A name only the override knows is listened on.
    const server = await loop.createServer(factory, "service.test", 0);
    assert.equal(addrOf(server)[0], "127.0.0.1");
    const [t, p] = await loop.createConnection(
      () => new Recorder(loop),
      "service.test",
      addrOf(server)[1],
    );
    assert.deepEqual(t.getExtraInfo("peername"), addrOf(server));
    t.close();
    await p.lost;
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createServer() with several hosts: when one address cannot be bound, the sockets already bound are closed",
  async ({ loop }) => {
    await using taken = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [, takenPort] = addrOf(taken);
    const [freePort] = freePorts(1);
    loop.getaddrinfo = async (host) =>
      host === "free.test"
        ? [info(AF_INET, ["127.0.0.1", freePort])]
        : [info(AF_INET, ["127.0.0.1", takenPort])];
    await assert.rejects(
      loop.createServer(() => new Protocol(), ["free.test", "taken.test"], 0),
      Deno.errors.AddrInUse,
    );
    // The port bound first was given back.
    const again = await loop.createServer(
      () => new Protocol(),
      "free.test",
      0,
    );
    assert.deepEqual(addrOf(again), ["127.0.0.1", freePort]);
    again.close();
    await again.waitClosed();
  },
);

netTest(
  "createConnection(): family, proto and flags reach getaddrinfo; an empty answer for the host or for localAddr is an error",
  async ({ loop }) => {
    const factory = () => new Protocol();
    const asked: { host: unknown; port: unknown; hints: GetaddrinfoOptions }[] =
      [];
    loop.getaddrinfo = async (host, port, hints = {}) => {
      asked.push({ host, port, hints });
      return host === "remote.test"
        ? [info(AF_INET, ["127.0.0.1", Number(port)])]
        : [];
    };
    await assert.rejects(
      loop.createConnection(factory, "nowhere.test", 80, {
        family: AF_INET,
        proto: 6,
        flags: AI_NUMERICHOST,
      }),
      Deno.errors.NotFound,
    );
    assert.deepEqual(asked, [{
      host: "nowhere.test",
      port: 80,
      hints: {
        family: AF_INET,
        type: SOCK_STREAM,
        proto: 6,
        flags: AI_NUMERICHOST,
      },
    }]);
    await assert.rejects(
      loop.createConnection(factory, "remote.test", 80, {
        localAddr: ["local.test", 0],
      }),
      Deno.errors.NotFound,
    );
    assert.equal(asked.at(-1)!.host, "local.test");
  },
);

netTest(
  "createConnection() and createServer(): a family the host has no address of is an error; the matching family works",
  async ({ loop }) => {
    const factory = () => new Protocol();
    await assert.rejects(
      loop.createServer(factory, "127.0.0.1", 0, { family: AF_INET6 }),
      Deno.errors.NotFound,
    );
    const server = await loop.createServer(factory, "127.0.0.1", 0, {
      family: AF_INET,
    });
    assert.ok(server.sockets.every((s) => s.family === AF_INET));
    const [host, port] = addrOf(server);
    await assert.rejects(
      loop.createConnection(factory, host, port, { family: AF_INET6 }),
      Deno.errors.NotFound,
    );
    const client = new Recorder(loop);
    const [t] = await loop.createConnection(() => client, host, port, {
      family: AF_INET,
      proto: 6,
    });
    assert.deepEqual(t.getExtraInfo("peername"), [host, port]);
    t.close();
    await client.lost;
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(): happyEyeballsDelay and interleave are accepted, alone or together, and connect as usual",
  async ({ loop }) => {
    await using server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [host, port] = addrOf(server);
    for (
      const options of [
        { happyEyeballsDelay: 0.25 },
        { interleave: 1 },
        { interleave: 2, happyEyeballsDelay: 0 },
        { happyEyeballsDelay: null, interleave: null },
      ]
    ) {
      const client = new Recorder(loop);
      const [t] = await loop.createConnection(
        () => client,
        host,
        port,
        options,
      );
      assert.deepEqual(t.getExtraInfo("peername"), [host, port]);
      t.close();
      await client.lost;
    }
  },
);

netTest(
  "createConnection(interleave): after the first `interleave` addresses of the first family the attempts alternate families, with or without happyEyeballsDelay",
  async ({ loop }) => {
    const v6a = info(AF_INET6, ["::1", 1, 0, 0]);
    const v6b = info(AF_INET6, ["::1", 2, 0, 0]);
    const v6c = info(AF_INET6, ["::1", 3, 0, 0]);
    const v4a = info(AF_INET, ["127.0.0.1", 4]);
    const v4b = info(AF_INET, ["127.0.0.1", 5]);
    loop.getaddrinfo = async () => [v6a, v6b, v6c, v4a, v4b];
    const tried: SocketAddress[] = [];
    const sockets: Socket[] = [];
    loop.sockConnect = async (sock, address) => {
      sockets.push(sock);
      tried.push(address);
      throw new Deno.errors.ConnectionRefused("refused");
    };
    const cases: [Record<string, unknown>, AddrInfo[]][] = [
      [{}, [v6a, v6b, v6c, v4a, v4b]],
      [{ interleave: 1 }, [v6a, v4a, v6b, v4b, v6c]],
      [{ interleave: 2 }, [v6a, v6b, v4a, v6c, v4b]],
      [{ happyEyeballsDelay: 0.25 }, [v6a, v4a, v6b, v4b, v6c]],
      [{ happyEyeballsDelay: 0.25, interleave: 3 }, [
        v6a,
        v6b,
        v6c,
        v4a,
        v4b,
      ]],
    ];
    for (const [options, expected] of cases) {
      tried.length = 0;
      await assert.rejects(
        loop.createConnection(() => new Protocol(), "dual.test", 80, options),
        Deno.errors.ConnectionRefused,
      );
      assert.deepEqual(
        tried,
        expected.map((i) => i[4]),
        JSON.stringify(options),
      );
    }
    assert.ok(sockets.every((s) => s.closed), "a failed attempt's socket");
  },
);

netTest(
  'createConnection(): attempts that fail with different messages reject with an AggregateError "Multiple exceptions: ..."; allErrors gives each one',
  async ({ loop }) => {
    const ports = freePorts(2);
    loop.getaddrinfo = async () =>
      ports.map((port) => info(AF_INET, ["127.0.0.1", port]));
    for (const happyEyeballsDelay of [null, 0.25]) {
      const error = await loop.createConnection(
        () => new Protocol(),
        "two.test",
        80,
        { happyEyeballsDelay },
      ).then(() => null, (e) => e);
      assert.ok(error instanceof AggregateError, `got ${error}`);
      assert.match(error.message, /^Multiple exceptions: /);
      for (const port of ports) {
        assert.ok(error.message.includes(String(port)), error.message);
      }
      assert.equal(error.errors.length, 2);
      const all = await loop.createConnection(
        () => new Protocol(),
        "two.test",
        80,
        { happyEyeballsDelay, allErrors: true },
      ).then(() => null, (e) => e);
      assert.ok(all instanceof AggregateError, `got ${all}`);
      assert.equal(all.errors.length, 2);
      for (const e of all.errors) {
        assert.ok(e instanceof Deno.errors.ConnectionRefused, `got ${e}`);
      }
    }
  },
);

netTest(
  "createConnection(): when sockConnect fails, its socket is closed and its error reaches the caller unchanged",
  async ({ loop }) => {
    const given: Socket[] = [];
    const failure = new TimeoutError("the connect timed out");
    loop.sockConnect = async (sock) => {
      given.push(sock);
      throw failure;
    };
    const error = await loop.createConnection(
      () => new Protocol(),
      "127.0.0.1",
      9,
    ).then(() => null, (e) => e);
    assert.equal(error, failure);
    assert.equal(given.length, 1);
    assert.equal(given[0].closed, true);
  },
);

// ---- socket options --------------------------------------------------------

netTest(
  "createServer(reuseAddress): a port whose last connection is in TIME_WAIT can be listened on again at once",
  async ({ loop }) => {
    const side = peers(loop);
    const first = await loop.createServer(side.factory, "127.0.0.1", 0, {
      reuseAddress: true,
    });
    const [, port] = addrOf(first);
    const client = new Recorder(loop);
    await loop.createConnection(() => client, "127.0.0.1", port);
    const peer = await side.next();
    await peer.made;
    // The server's end closes first, so it is the one left in TIME_WAIT.
    peer.transport!.close();
    await client.lost;
    await peer.lost;
    first.close();
    await first.waitClosed();
    for (const reuseAddress of [true, undefined]) {
      const again = await loop.createServer(
        () => new Protocol(),
        "127.0.0.1",
        port,
        { reuseAddress },
      );
      assert.equal(addrOf(again)[1], port);
      again.close();
      await again.waitClosed();
    }
  },
);

netTest(
  "createServer(reusePort: true): two servers share a port under --unstable-net; without the flag a RangeError names it, for a server or a bound socket",
  async ({ loop }) => {
    const flagged = typeof (Deno as { listenDatagram?: unknown })
      .listenDatagram === "function";
    const factory = () => new Protocol();
    if (!flagged) {
      await assert.rejects(
        loop.createServer(factory, "127.0.0.1", 0, { reusePort: true }),
        (e) => e instanceof RangeError && e.message.includes("--unstable-net"),
      );
      using sock = socket();
      sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
      assert.throws(
        () => sock.bind(["127.0.0.1", 0]),
        (e) => e instanceof RangeError && e.message.includes("--unstable-net"),
      );
      // Without reusePort the same calls work.
      const server = await loop.createServer(factory, "127.0.0.1", 0, {
        reusePort: false,
      });
      server.close();
      await server.waitClosed();
      return;
    }
    await using first = await loop.createServer(factory, "127.0.0.1", 0, {
      reusePort: true,
    });
    const [, port] = addrOf(first);
    await using second = await loop.createServer(factory, "127.0.0.1", port, {
      reusePort: true,
    });
    assert.equal(addrOf(second)[1], port);
  },
);

// ---- Unix server socket files ---------------------------------------------

netTest(
  "createUnixServer(): close() removes the socket file at once, for a path or a bound sock; a file someone already removed is no error",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const factory = () => new Protocol();
      const byPath = `${dir}/path.sock`;
      const first = await loop.createUnixServer(factory, byPath);
      first.close();
      assert.equal(await exists(byPath), false);
      await first.waitClosed();

      const bound = `${dir}/bound.sock`;
      const sock = socket(AF_UNIX);
      sock.bind(bound);
      const second = await loop.createUnixServer(factory, null, { sock });
      assert.equal((await Deno.lstat(bound)).isSocket, true);
      second.close();
      assert.equal(await exists(bound), false);
      await second.waitClosed();

      const gone = `${dir}/gone.sock`;
      const other = socket(AF_UNIX);
      other.bind(gone);
      const third = await loop.createUnixServer(factory, null, { sock: other });
      await Deno.remove(gone);
      third.close();
      await third.waitClosed();
      assert.equal(other.closed, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "createUnixServer() at the path of a server closed a moment ago (not waited for): the new server keeps its socket file and accepts",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/restart.sock`;
      const first = await loop.createUnixServer(() => new Protocol(), path);
      first.close();
      const side = peers(loop);
      const second = await loop.createUnixServer(side.factory, path);
      await first.waitClosed();
      assert.equal((await Deno.lstat(path)).isSocket, true);
      const client = new Recorder(loop);
      const [t] = await loop.createUnixConnection(() => client, path);
      t.write(bytes("here"));
      const peer = await side.next();
      await receivedAtLeast(loop, peer, 4);
      assert.equal(text(peer.received()), "here");
      t.close();
      await client.lost;
      second.close();
      await second.waitClosed();
      assert.equal(await exists(path), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ---- sock* coroutines --------------------------------------------------------

pairTest(
  "sockRecvInto() into views fills the shared buffer at each view's offset; sockSendall() of a view sends only the view's bytes",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const source = bytes("..HTTP/1.0 200 OK..");
      await loop.sockSendall(a, source.subarray(2, 17));
      const shared = new Uint8Array(32);
      let n = await loop.sockRecvInto(b, shared.subarray(0, 4));
      assert.equal(n, 4);
      while (n < 15) {
        const got = await loop.sockRecvInto(b, shared.subarray(n));
        assert.ok(got > 0, "EOF too early");
        n += got;
      }
      assert.equal(n, 15);
      assert.equal(text(shared.subarray(0, 15)), "HTTP/1.0 200 OK");
      assert.deepEqual(shared.subarray(15), new Uint8Array(17));
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "sockRecv(), sockRecvInto(), sockSendall() and sockConnect() on a socket a transport owns are RuntimeErrors",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const owner = new Recorder(loop as EventLoop);
      const [transport] = await loop.connectAcceptedSocket(() => owner, a);
      const owned = (e: unknown) =>
        e instanceof RuntimeError && /used by transport/.test(e.message);
      await assert.rejects(loop.sockRecv(a, 1), owned);
      await assert.rejects(loop.sockRecvInto(a, new Uint8Array(1)), owned);
      await assert.rejects(loop.sockSendall(a, bytes("x")), owned);
      await assert.rejects(loop.sockConnect(a, "/nowhere"), owned);
      // The transport is untouched by the refused calls.
      await loop.sockSendall(b, bytes("to the transport"));
      await receivedAtLeast(loop as EventLoop, owner, 16);
      assert.equal(text(owner.received()), "to the transport");
      transport.abort();
      await owner.lost;
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "in debug mode the sock* coroutines accept the package's sockets, which are never blocking; setblocking(true) is a RangeError that leaves the socket usable",
  async (_fx, loop) => {
    loop.setDebug(true);
    const [a, b] = socketpair();
    try {
      assert.throws(() => a.setblocking(true), RangeError);
      a.setblocking(false);
      const request = "GET / HTTP/1.0\r\n\r\n";
      await loop.sockSendall(a, bytes(request));
      assert.equal(await recvExactly(loop, b, request.length), request);
      await loop.sockSendall(b, bytes("HTTP/1.0 200 OK"));
      const buf = new Uint8Array(64);
      let n = 0;
      while (n < 15) n += await loop.sockRecvInto(a, buf.subarray(n));
      assert.equal(text(buf.subarray(0, n)), "HTTP/1.0 200 OK");
    } finally {
      loop.setDebug(false);
      a.close();
      b.close();
    }
  },
);

netTest(
  "sockRecv() and sockRecvInto() cancelled on a TCP socket: the reply to a request sent afterwards goes whole to the next call",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const client = socket();
    try {
      const accepting = loop.sockAccept(lsock);
      await loop.sockConnect(client, addr);
      const [conn] = await accepting;
      try {
        for (const into of [false, true]) {
          const untouched = new Uint8Array(64);
          const waiting = loop.createFuture<null>();
          const pending = loop.createTask(async () => {
            waiting.setResult(null);
            if (into) await loop.sockRecvInto(client, untouched);
            else await loop.sockRecv(client, 1024);
          });
          await waiting;
          assert.equal(pending.done(), false);
          pending.cancel();
          await assert.rejects(async () => await pending, CancelledError);
          assert.equal(loop.removeReader(client), false);
          const sending = loop.createTask(() =>
            loop.sockSendall(client, bytes("GET / HTTP/1.0\r\n\r\n"))
          );
          assert.equal(
            await recvExactly(loop, conn, 18),
            "GET / HTTP/1.0\r\n\r\n",
          );
          await sending;
          await loop.sockSendall(conn, bytes("HTTP/1.0 200 OK"));
          let reply: string;
          if (into) {
            const buf = new Uint8Array(64);
            let n = 0;
            while (n < 15) {
              n += await loop.sockRecvInto(client, buf.subarray(n));
            }
            reply = text(buf.subarray(0, n));
          } else {
            reply = await recvExactly(loop, client, 15);
          }
          assert.equal(reply, "HTTP/1.0 200 OK");
          assert.deepEqual(untouched, new Uint8Array(64));
        }
      } finally {
        conn.close();
      }
    } finally {
      client.close();
      lsock.close();
    }
  },
);

netTest(
  "sockConnect() cancelled while connecting: the socket can still connect afterwards",
  async ({ loop }) => {
    const [refused] = freePorts(1);
    const [lsock, addr] = listener();
    const sock = socket();
    try {
      const waiting = loop.createFuture<null>();
      const pending = loop.createTask(async () => {
        waiting.setResult(null);
        await loop.sockConnect(sock, ["127.0.0.1", refused]);
      });
      await waiting;
      pending.cancel();
      await assert.rejects(async () => await pending, CancelledError);
      assert.equal(loop.removeWriter(sock), false);
      const accepting = loop.sockAccept(lsock);
      // The cancelled attempt may still end in its refusal first.
      let refusals = 0;
      for (;;) {
        try {
          await loop.sockConnect(sock, addr);
          break;
        } catch (error) {
          assert.ok(error instanceof Deno.errors.ConnectionRefused, `${error}`);
          assert.ok(++refusals <= 1, "refused more than once");
        }
      }
      assert.deepEqual(sock.getpeername(), addr);
      const [conn, from] = await accepting;
      assert.deepEqual(from, sock.getsockname());
      conn.close();
    } finally {
      sock.close();
      lsock.close();
    }
  },
);

netTest(
  "sockAccept() cut short by waitFor(): TimeoutError and no reader left; once the listener is closed a connect to it is rejected",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const client = socket();
    try {
      await assert.rejects(
        waitFor(() => loop.sockAccept(lsock), 0.05),
        TimeoutError,
      );
      assert.equal(loop.removeReader(lsock), false);
      lsock.close();
      const error = await loop.sockConnect(client, addr).then(
        () => null,
        (e) => e,
      );
      // asyncio's port refuses at once. Deno frees a listener only once the
      // accept it still had in flight settles, and a connect that comes
      // first is reset instead.
      assert.ok(
        error instanceof Deno.errors.ConnectionRefused ||
          error instanceof Deno.errors.ConnectionReset,
        `got ${error}`,
      );
    } finally {
      client.close();
      lsock.close();
    }
  },
);
