/**
 * The checks of CPython's `test_base_events.py` and `test_unix_events.py`
 * that the other suites did not yet hold, in this API: every TCP transport
 * turns Nagle's algorithm off and its socket says so; a datagram endpoint
 * sets no socket option it was not asked for; a server on `::1`; a loop
 * subclass's `createTask()` is what `ensureFuture()` calls; and a write pipe
 * told `writeEof()` with data still queued is closing at once but loses its
 * connection only after the queue is written. Loop-level tests run on every
 * loop kind, network tests on the real loop, all with strict teardown.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  BaseProtocol,
  DatagramProtocol,
  ensureFuture,
  EventLoop,
  IPPROTO_TCP,
  Protocol,
  SO_BROADCAST,
  SO_REUSEADDR,
  SO_REUSEPORT,
  type Socket,
  socket,
  SOL_SOCKET,
  startServer,
  Task,
  TCP_NODELAY,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { loopTest, steps } from "../_util.ts";
import {
  bytes,
  netTest,
  receivedAtLeast,
  Recorder,
  text,
} from "../net/_net.ts";

/** The socket a transport's extra info names. */
function socketOf(transport: { getExtraInfo(name: string): unknown }): Socket {
  return transport.getExtraInfo("socket") as Socket;
}

netTest(
  "every TCP transport turns Nagle's algorithm off: TCP_NODELAY reads 1 on the client's, the accepted and a connectAcceptedSocket() socket",
  async ({ loop }) => {
    const serverSide: Recorder[] = [];
    const accepted = loop.createFuture<null>();
    const server = await loop.createServer(
      () => {
        const p = new Recorder(loop);
        serverSide.push(p);
        p.made.addDoneCallback(() => {
          if (!accepted.done()) accepted.setResult(null);
        });
        return p;
      },
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    // The listening socket itself is left as it was.
    assert.equal(server.sockets[0].getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      port,
    );
    await accepted;
    assert.equal(socketOf(transport).getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
    assert.equal(
      socketOf(serverSide[0].transport!).getsockopt(IPPROTO_TCP, TCP_NODELAY),
      1,
    );

    // A socket connected by hand keeps the default until a transport owns it.
    const raw = socket();
    await loop.sockConnect(raw, ["127.0.0.1", port]);
    assert.equal(raw.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
    const handed = new Recorder(loop);
    const [handedTransport] = await loop.connectAcceptedSocket(
      () => handed,
      raw,
    );
    assert.equal(raw.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);

    // The option changes nothing about what is carried.
    transport.write(bytes("no delay"));
    await receivedAtLeast(loop, serverSide[0], 8);
    assert.equal(text(serverSide[0].received()), "no delay");
    handedTransport.close();
    transport.close();
    await client.lost;
    await handed.lost;
    await Promise.all(serverSide.map((p) => p.lost));
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "a Unix stream transport leaves TCP_NODELAY unset and carries data as usual",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const serverSide = new Recorder(loop);
      const server = await loop.createUnixServer(
        () => serverSide,
        `${dir}/s.sock`,
      );
      const client = new Recorder(loop);
      const [transport] = await loop.createUnixConnection(
        () => client,
        `${dir}/s.sock`,
      );
      assert.equal(socketOf(transport).getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
      transport.write(bytes("unix"));
      await receivedAtLeast(loop, serverSide, 4);
      assert.equal(text(serverSide.received()), "unix");
      transport.close();
      await client.lost;
      await serverSide.lost;
      server.close();
      await server.waitClosed();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "createDatagramEndpoint() sets no socket option it was not asked for; allowBroadcast sets SO_BROADCAST and reusePort both reuse flags",
  async ({ loop }) => {
    const lost = () => {
      const done = loop.createFuture<null>();
      const p = new DatagramProtocol();
      p.connectionLost = () => done.setResult(null);
      return { p, done };
    };
    const plain = lost();
    const [t1] = await loop.createDatagramEndpoint(
      () => plain.p,
      ["127.0.0.1", 0],
    );
    const s1 = socketOf(t1);
    assert.deepEqual(
      [SO_BROADCAST, SO_REUSEADDR, SO_REUSEPORT].map((o) =>
        s1.getsockopt(SOL_SOCKET, o)
      ),
      [0, 0, 0],
    );
    t1.close();
    await plain.done;

    const asked = lost();
    const [t2] = await loop.createDatagramEndpoint(
      () => asked.p,
      ["127.0.0.1", 0],
      null,
      { allowBroadcast: true, reusePort: true },
    );
    const s2 = socketOf(t2);
    // Deno's UDP bind has one reuse flag, which sets SO_REUSEADDR as well.
    assert.deepEqual(
      [SO_BROADCAST, SO_REUSEADDR, SO_REUSEPORT].map((o) =>
        s2.getsockopt(SOL_SOCKET, o)
      ),
      [1, 1, 1],
    );
    t2.close();
    await asked.done;
  },
);

netTest(
  "createServer() and startServer() on ::1 listen on IPv6 loopback; a client reaches each",
  async ({ loop }) => {
    const server = await loop.createServer(() => new Protocol(), "::1", 0);
    assert.ok(server.sockets.length > 0);
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    assert.equal(host, "::1");
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(() => client, "::1", port);
    assert.equal((transport.getExtraInfo("peername") as [string])[0], "::1");
    transport.close();
    await client.lost;
    server.close();
    await server.waitClosed();

    const greeted = loop.createFuture<string>();
    const streams = await startServer(
      async (reader, writer) => {
        writer.write(bytes("hello ipv6"));
        await writer.drain();
        writer.close();
        await writer.waitClosed();
        assert.ok(reader);
      },
      "::1",
      0,
    );
    assert.ok(streams.sockets.length > 0);
    const [, port6] = streams.sockets[0].getsockname() as [string, number];
    const reader = new Recorder(loop);
    reader.onData = () => {
      if (reader.nbytes >= 10) greeted.setResult(text(reader.received()));
    };
    const [t6] = await loop.createConnection(() => reader, "::1", port6);
    assert.equal(await greeted, "hello ipv6");
    await reader.lost;
    t6.close();
    streams.close();
    await streams.waitClosed();
  },
);

loopTest(
  "ensureFuture() of a coroutine on a loop whose class overrides createTask() gets that loop's task",
  async (fx) => {
    class MarkedTask<T> extends Task<T> {}
    const base = fx.loop;
    // A subclass of the same loop kind whose createTask() makes MarkedTasks.
    const Kind = base instanceof VirtualTimeEventLoop
      ? VirtualTimeEventLoop
      : EventLoop;
    class MarkingLoop extends Kind {
      override createTask<T>(
        coro: Parameters<AbstractEventLoop["createTask"]>[0],
        options?: Parameters<AbstractEventLoop["createTask"]>[1],
      ): Task<T> {
        return new MarkedTask(coro as () => Promise<T>, {
          loop: this,
          ...options,
        });
      }
    }
    const loop = new MarkingLoop();
    try {
      const lazy = ensureFuture(async () => "lazy", { loop });
      const eager = ensureFuture((async () => "eager")(), { loop });
      assert.ok(lazy instanceof MarkedTask);
      assert.ok(eager instanceof MarkedTask);
      assert.equal(await loop.runUntilComplete(lazy), "lazy");
      assert.equal(await loop.runUntilComplete(eager), "eager");
      // Without the override, the same call makes a plain Task.
      const plain = ensureFuture(async () => 1, { loop: base });
      assert.ok(!(plain instanceof MarkedTask));
      assert.equal(await base.runUntilComplete(plain), 1);
    } finally {
      loop.close();
    }
  },
);

loopTest(
  "WritePipeTransport.writeEof() with writes queued: closing at once, connectionLost(null) only after the queue is written; close() afterwards is harmless",
  async (fx) => {
    const loop = fx.loop as EventLoop;
    await loop.runUntilComplete(async () => {
      const gate = loop.createFuture<null>();
      const written: string[] = [];
      const stream = new WritableStream<Uint8Array>({
        async write(chunk) {
          await gate;
          written.push(text(chunk));
        },
      });
      const events: string[] = [];
      const lost = loop.createFuture<Error | null>();
      class Writer extends BaseProtocol {
        override connectionLost(exc: Error | null): void {
          events.push("lost");
          lost.setResult(exc);
        }
      }
      const [transport] = await loop.connectWritePipe(
        () => new Writer(),
        stream,
      );
      transport.write(bytes("data"));
      transport.write(bytes("more"));
      transport.writeEof();
      assert.equal(transport.isClosing(), true);
      assert.equal(transport.getWriteBufferSize(), 8);
      transport.close();
      transport.close();
      // Several iterations pass without the queue moving: nothing is lost.
      await steps(5);
      assert.deepEqual(events, []);
      assert.deepEqual(written, []);
      gate.setResult(null);
      assert.equal(await lost, null);
      assert.deepEqual(written, ["data", "more"]);
      assert.deepEqual(events, ["lost"]);
      assert.equal(transport.getWriteBufferSize(), 0);
    });
  },
);
