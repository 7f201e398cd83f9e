/**
 * Failure paths that must release what they opened: a cancelled or timed-out
 * connect is aborted (its socket freed at once), Happy Eyeballs closes the
 * attempts that lost, a transport still open when its loop closes is closed
 * with the loop, a write buffer detached after `write()` fails the
 * connection loudly, and the messages a user meets name what went wrong.
 * The test sanitizers check the first two: a connect left in flight is an
 * op that outlives the test.
 */
import assert from "node:assert/strict";
import {
  type AddrInfo,
  AF_INET,
  DatagramProtocol,
  EventLoop,
  IPPROTO_TCP,
  Protocol,
  SOCK_STREAM,
  TimeoutError,
  type Transport,
  waitFor,
} from "../../mod.ts";
import { captureLogger, describeFds, socketCount } from "../_util.ts";
import { netTest, Recorder } from "./_net.ts";

/**
 * A listener whose accept queue is full: further connects to it hang (the
 * kernel drops their SYNs), as connects to an unreachable host do.
 */
async function hangingListener(): Promise<
  { port: number; [Symbol.asyncDispose](): Promise<void> }
> {
  const listener = Deno.listen({
    hostname: "127.0.0.1",
    port: 0,
    tcpBacklog: 1,
  } as Deno.TcpListenOptions);
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  // The queue holds backlog + 1 connections; one more proves it is full.
  for (;;) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 100);
    try {
      held.push(
        await Deno.connect({
          hostname: "127.0.0.1",
          port,
          signal: abort.signal,
        }),
      );
    } catch {
      break;
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    port,
    [Symbol.asyncDispose]: () => {
      for (const conn of held) conn.close();
      listener.close();
      return Promise.resolve();
    },
  };
}

netTest(
  "createConnection() under waitFor() aborts the connect when it times out",
  async ({ loop }) => {
    await using target = await hangingListener();
    const before = socketCount();
    await assert.rejects(
      waitFor(
        loop.createConnection(() => new Protocol(), "127.0.0.1", target.port),
        0.05,
      ),
      TimeoutError,
    );
    // The aborted connect frees its socket at once (the sanitizer also fails
    // the test if the connect op were still pending). Sockets are counted:
    // the runtime opens and closes other descriptors of its own meanwhile.
    const after = socketCount();
    assert.ok(
      after <= before,
      `${after - before} socket(s) leaked; open now: ${describeFds()}`,
    );
  },
);

netTest(
  "createConnection() cancelled while connecting aborts the connect",
  async ({ loop }) => {
    await using target = await hangingListener();
    const task = loop.createTask(() =>
      loop.createConnection(() => new Protocol(), "127.0.0.1", target.port)
    );
    await loop.createTask(async () => {
      for (let i = 0; i < 3; i++) await null;
    });
    task.cancel();
    await assert.rejects(
      Promise.resolve(task),
      (error: Error) => error.name === "CancelledError",
    );
  },
);

/** A loop whose resolver answers every name with the addresses given. */
class FakeResolverLoop extends EventLoop {
  answers: AddrInfo[] = [];
  override getaddrinfo(): Promise<AddrInfo[]> {
    return Promise.resolve(this.answers);
  }
}

Deno.test("createConnection() with happyEyeballsDelay closes the attempt that lost", async () => {
  const loop = new FakeResolverLoop();
  await using target = await hangingListener();
  await loop.runUntilComplete(async () => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const answering = server.sockets[0].getsockname() as [string, number];
    // The first address hangs, the second answers: the staggered second
    // attempt wins, and the first one's connect is aborted (else the
    // sanitizer sees its op still pending when the test ends).
    loop.answers = [
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", target.port]],
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", answering],
    ];
    const [transport] = await loop.createConnection(
      () => new Protocol(),
      "dual.test",
      80,
      { happyEyeballsDelay: 0.02 },
    );
    assert.deepEqual(transport.getExtraInfo("peername"), answering);
    transport.close();
    server.close();
    await server.waitClosed();
  });
  loop.close();
});

Deno.test("createConnection() with happyEyeballsDelay, cancelled, aborts every attempt", async () => {
  const loop = new FakeResolverLoop();
  await using target = await hangingListener();
  await loop.runUntilComplete(async () => {
    loop.answers = [
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", target.port]],
      [AF_INET, SOCK_STREAM, IPPROTO_TCP, "", ["127.0.0.1", target.port]],
    ];
    await assert.rejects(
      waitFor(
        loop.createConnection(() => new Protocol(), "dual.test", 80, {
          happyEyeballsDelay: 0.01,
        }),
        0.05,
      ),
      TimeoutError,
    );
  });
  loop.close();
});

netTest(
  "createConnection() to a refused port names the address, as asyncio does",
  async ({ loop }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    await assert.rejects(
      loop.createConnection(() => new Protocol(), "127.0.0.1", port),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.ConnectionRefused);
        assert.match(
          error.message,
          new RegExp(`^Connect call failed \\('127\\.0\\.0\\.1', ${port}\\)`),
        );
        return true;
      },
    );
  },
);

netTest(
  'createConnection() refuses the host "" instead of connecting to loopback',
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    await assert.rejects(
      loop.createConnection(() => new Protocol(), "", port),
      Deno.errors.NotFound,
    );
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "write() of a Uint8Array whose buffer is already detached is a TypeError",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const [transport] = await loop.createConnection(
      () => new Protocol(),
      host,
      port,
    );
    const data = new Uint8Array(16);
    data.buffer.transfer();
    assert.throws(() => transport.write(data), TypeError);
    assert.equal(transport.getWriteBufferSize(), 0);
    transport.close();
    server.close();
    await server.waitClosed();
  },
);

/** Connects to a raw peer that reads everything; returns both ends. */
async function withReadingPeer(loop: EventLoop) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const protocol = new Recorder(loop);
  const [transport] = await loop.createConnection(
    () => protocol,
    "127.0.0.1",
    (listener.addr as Deno.NetAddr).port,
  );
  const peer = await accepted;
  listener.close();
  let received = 0;
  const reading = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await peer.read(buffer);
        if (n === null) break;
        received += n;
      }
    } catch {
      // A reset ends the read as well.
    }
    peer.close();
    return received;
  })();
  return { transport, protocol, reading };
}

netTest(
  "write() then detaching the queued buffer fails the connection with the loss",
  async (fx) => {
    const { transport, protocol, reading } = await withReadingPeer(fx.loop);
    transport.write(new Uint8Array(8 << 20)); // in flight, partly sent
    const queued = new Uint8Array(1 << 20);
    transport.write(queued);
    queued.buffer.transfer();
    transport.close();
    await protocol.lost;
    const received = await reading;
    assert.ok(protocol.lostWith instanceof TypeError);
    assert.match(protocol.lostWith.message, /detached/);
    assert.match(protocol.lostWith.message, / bytes unsent/);
    assert.ok(received < (9 << 20), "the connection ended before its end");
    assert.equal(transport.getWriteBufferSize(), 0);
    const [context] = fx.takeErrors();
    assert.equal(context.exception, protocol.lostWith);
  },
);

netTest(
  "write() then detaching the buffer while it is written fails the connection",
  async (fx) => {
    const { transport, protocol, reading } = await withReadingPeer(fx.loop);
    const big = new Uint8Array(16 << 20);
    transport.write(big);
    big.buffer.transfer();
    transport.close();
    await protocol.lost;
    await reading;
    assert.ok(protocol.lostWith instanceof TypeError);
    assert.match(protocol.lostWith.message, /detached/);
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.equal(fx.takeErrors().length, 1);
  },
);

Deno.test("EventLoop.close() closes a transport left open: the peer sees EOF", async () => {
  const loop = new EventLoop();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  let transport: Transport | null = null;
  let lost = false;
  await loop.runUntilComplete(async () => {
    [transport] = await loop.createConnection(
      () =>
        new (class extends Protocol {
          override connectionLost(): void {
            lost = true;
          }
        })(),
      "127.0.0.1",
      (listener.addr as Deno.NetAddr).port,
    );
  });
  const peer = await accepted;
  listener.close();
  loop.close();
  assert.equal(await peer.read(new Uint8Array(16)), null);
  peer.close();
  assert.ok(transport!.isClosing());
  assert.equal(lost, false, "the closed loop cannot call the protocol");
});

Deno.test("EventLoop.close() reports bytes a transport left unsent", async () => {
  using logs = captureLogger();
  const loop = new EventLoop();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  await loop.runUntilComplete(async () => {
    const [transport] = await loop.createConnection(
      () => new Protocol(),
      "127.0.0.1",
      (listener.addr as Deno.NetAddr).port,
    );
    // More than the peer's socket buffers take while it does not read.
    transport.write(new Uint8Array(32 << 20));
  });
  const peer = await accepted;
  listener.close();
  loop.close();
  peer.close();
  assert.ok(
    logs.warnings.some((message) => / bytes unsent$/.test(message)),
    JSON.stringify(logs.warnings),
  );
});

Deno.test("EventLoop.close() closes a datagram endpoint left open", async () => {
  const loop = new EventLoop();
  let transport: Transport | null = null;
  await loop.runUntilComplete(async () => {
    [transport] = await loop.createDatagramEndpoint(
      () => new DatagramProtocol(),
      ["127.0.0.1", 0],
    ) as unknown as [Transport];
  });
  const sock = transport!.getExtraInfo("socket") as { closed: boolean };
  assert.equal(sock.closed, false);
  loop.close();
  assert.ok(transport!.isClosing());
  assert.equal(sock.closed, true);
});

netTest(
  "an exception in connectionMade() is reported under the protocol's method, with the transport in debug mode",
  async (fx) => {
    class Failing extends Protocol {
      override connectionMade(): void {
        throw new Error("boom");
      }
    }
    const server = await fx.loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    for (const debug of [false, true]) {
      fx.loop.setDebug(debug);
      const [transport] = await fx.loop.createConnection(
        () => new Failing(),
        host,
        port,
      );
      transport.close();
      const [context] = fx.takeErrors();
      // Arguments may be secrets: asyncio shows them only in debug mode.
      assert.match(
        context.message,
        debug
          ? /^Exception in callback Failing\.connectionMade\(<SocketTransport /
          : /^Exception in callback Failing\.connectionMade\(\)$/,
      );
    }
    fx.loop.setDebug(false);
    server.close();
    await server.waitClosed();
  },
);
