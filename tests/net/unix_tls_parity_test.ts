/**
 * More of asyncio's behaviour for Unix sockets, pipe transports and TLS,
 * on real sockets: the argument rules of `createUnixServer()` and
 * `createUnixConnection()` (what is refused, and that the loop is usable
 * afterwards), a path in a missing directory or holding a live server's
 * socket, Unix connections over a `sock`; the pipe transports' closing
 * order (close while paused, `writeEof()` with nothing buffered, abort with
 * a write in flight), when writes dropped after an abort or a failed write
 * start to warn, their extra information; and the TLS transport's
 * defaults (write-buffer limits, the 60 s handshake and 30 s shutdown
 * timeouts on the virtual clock, a handshake timer that no longer fires
 * once the handshake is done), reading paused and resumed, `setProtocol()`,
 * `abort()`, a flush of a large write before close_notify, the socket keys
 * of `getExtraInfo()`, data the peer sends right after the handshake of
 * `startTls()`, `startTls()` on a transport that cannot carry TLS, and TLS
 * inside TLS.
 * Certificates are test-only fixtures (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import {
  AF_UNIX,
  BaseProtocol,
  type EventLoop,
  type ExceptionContext,
  Protocol,
  socket,
  TimeoutError,
  TlsTransport,
  type Transport,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  netTest,
  pattern,
  receivedAtLeast,
  Recorder,
  text,
} from "./_net.ts";
import { procTest } from "../process/_proc.ts";
import { captureLogger, steps } from "../_util.ts";
import type { Future } from "../../mod.ts";
import { clientContext, pem, serverContext } from "./_tls.ts";

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Like `netTest`, on a `VirtualTimeEventLoop`: the network is real, and
 * the clock jumps to the next timer once the network has been quiet, so
 * asyncio's default TLS timeouts (60 s, 30 s) pass at once.
 */
function virtualNetTest(
  title: string,
  fn: (loop: VirtualTimeEventLoop) => Promise<void>,
): void {
  Deno.test(title, async () => {
    const loop = new VirtualTimeEventLoop();
    const errors: ExceptionContext[] = [];
    loop.setExceptionHandler((_loop, context) => errors.push(context));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      loop.stop();
    }, 20_000);
    try {
      await loop.runUntilComplete(() => fn(loop));
    } catch (error) {
      if (timedOut) throw new Error(`watchdog: ${title} hung`);
      throw error;
    } finally {
      clearTimeout(timer);
      loop.close();
    }
    assert.deepEqual(errors.map((context) => context.message), []);
  });
}

/**
 * A TLS server whose connections are `Recorder`s and a client connected to
 * it over loopback TCP, both past their handshake.
 */
async function tlsPair(
  loop: EventLoop,
  options: { sslHandshakeTimeout?: number } = {},
) {
  const served: Recorder[] = [];
  const firstMade = loop.createFuture<null>();
  const server = await loop.createServer(
    () => {
      const r = new Recorder(loop);
      served.push(r);
      r.made.addDoneCallback(() =>
        firstMade.done() || firstMade.setResult(null)
      );
      return r;
    },
    "127.0.0.1",
    0,
    { ssl: serverContext() },
  );
  const [host, port] = server.sockets[0].getsockname() as [string, number];
  const client = new Recorder(loop);
  const [transport] = await loop.createConnection(() => client, host, port, {
    ssl: clientContext(),
    serverHostname: "localhost",
    ...options,
  });
  await firstMade;
  return {
    server,
    host,
    port,
    client,
    transport: transport as TlsTransport,
    peer: served[0],
    async close(): Promise<void> {
      if (!transport.isClosing()) transport.close();
      await client.lost;
      await served[0].lost;
      server.close();
      await server.waitClosed();
    },
  };
}

// ---- Unix sockets: argument rules ------------------------------------------

netTest(
  "createUnixServer(): no path and no sock, ssl: true and a path that is not a string are refused; the loop serves afterwards",
  async ({ loop }) => {
    await assert.rejects(
      loop.createUnixServer(() => new Protocol(), null),
      (e: Error) =>
        e instanceof RangeError && /path was not specified/.test(e.message),
    );
    await inTempDir(async (dir) => {
      const path = `${dir}/s.sock`;
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), path, {
          ssl: true as never,
        }),
        (e: Error) => e instanceof TypeError && /SSLContext/.test(e.message),
      );
      await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), 42 as never),
        (e: Error) => e instanceof TypeError && /path/.test(e.message),
      );
      const server = await loop.createUnixServer(() => new Protocol(), path);
      assert.equal((await Deno.lstat(path)).isSocket, true);
      server.close();
      await server.waitClosed();
    });
  },
);

netTest(
  "createUnixConnection(): no path and no sock, ssl without serverHostname, TLS timeouts without ssl are refused before connecting",
  async ({ loop }) => {
    await assert.rejects(
      loop.createUnixConnection(() => new Protocol(), null),
      (e: Error) =>
        e instanceof RangeError && /no path and sock/.test(e.message),
    );
    await inTempDir(async (dir) => {
      const path = `${dir}/s.sock`;
      const accepted: Recorder[] = [];
      const server = await loop.createUnixServer(() => {
        const r = new Recorder(loop);
        accepted.push(r);
        return r;
      }, path);
      await assert.rejects(
        loop.createUnixConnection(() => new Protocol(), path, {
          ssl: clientContext(),
        }),
        (e: Error) =>
          e instanceof RangeError && /serverHostname/.test(e.message),
      );
      for (
        const option of ["sslHandshakeTimeout", "sslShutdownTimeout"] as const
      ) {
        await assert.rejects(
          loop.createUnixConnection(() => new Protocol(), path, {
            [option]: 5,
          }),
          (e: Error) => e instanceof RangeError && /ssl/.test(e.message),
        );
      }
      // None of them connected; a valid call does.
      const client = new Recorder(loop);
      const [transport] = await loop.createUnixConnection(() => client, path);
      await client.made;
      transport.close();
      await client.lost;
      server.close();
      await server.waitClosed();
      assert.equal(accepted.length, 1, "only the valid call connected");
    });
  },
);

netTest(
  "createUnixServer() in a directory that does not exist is NotFound and leaves nothing open",
  async ({ loop }) => {
    await inTempDir(async (dir) => {
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), `${dir}/missing/s.sock`),
        Deno.errors.NotFound,
      );
      await assert.rejects(
        loop.createUnixConnection(() => new Protocol(), `${dir}/missing.sock`),
        Deno.errors.NotFound,
      );
    });
  },
);

netTest(
  "createUnixConnection() to a path holding a regular file is ConnectionRefused",
  async ({ loop }) => {
    await inTempDir(async (dir) => {
      const path = `${dir}/plain`;
      await Deno.writeTextFile(path, "not a socket");
      await assert.rejects(
        loop.createUnixConnection(() => new Protocol(), path),
        Deno.errors.ConnectionRefused,
      );
      assert.equal(await Deno.readTextFile(path), "not a socket");
    });
  },
);

netTest(
  "createUnixServer() at a live server's path takes the path over: new connections reach the new server",
  async ({ loop }) => {
    await inTempDir(async (dir) => {
      const path = `${dir}/s.sock`;
      const first: Recorder[] = [];
      const second: Recorder[] = [];
      const a = await loop.createUnixServer(() => {
        const r = new Recorder(loop);
        first.push(r);
        return r;
      }, path);
      const secondMade = loop.createFuture<null>();
      const b = await loop.createUnixServer(() => {
        const r = new Recorder(loop);
        second.push(r);
        r.made.addDoneCallback(() => secondMade.setResult(null));
        return r;
      }, path);
      const client = new Recorder(loop);
      const [transport] = await loop.createUnixConnection(() => client, path);
      transport.write(bytes("to the second"));
      await secondMade;
      await receivedAtLeast(loop, second[0], 13);
      assert.equal(text(second[0].received()), "to the second");
      assert.equal(first.length, 0);
      transport.close();
      await client.lost;
      await second[0].lost;
      b.close();
      await b.waitClosed();
      a.close();
      await a.waitClosed();
    });
  },
);

netTest(
  "createUnixConnection(sock): a connected AF_UNIX socket carries the connection; extra info names the path on both ends",
  async ({ loop }) => {
    await inTempDir(async (dir) => {
      const path = `${dir}/s.sock`;
      const served: Recorder[] = [];
      const server = await loop.createUnixServer(() => {
        const r = new Recorder(loop);
        r.onData = (data) => r.transport!.write(data.slice());
        served.push(r);
        return r;
      }, path);
      const sock = socket(AF_UNIX);
      await loop.sockConnect(sock, path);
      const client = new Recorder(loop);
      const [transport] = await loop.createUnixConnection(() => client, null, {
        sock,
      });
      assert.equal(transport.getExtraInfo("socket"), sock);
      assert.equal(transport.getExtraInfo("peername"), path);
      transport.write(bytes("ping"));
      await receivedAtLeast(loop, client, 4);
      assert.equal(text(client.received()), "ping");
      assert.equal(served[0].transport!.getExtraInfo("sockname"), path);
      transport.close();
      await client.lost;
      await served[0].lost;
      assert.deepEqual(client.events, ["made", "data", "lost"]);
      assert.equal(sock.fileno(), -1, "the transport closed its socket");
      server.close();
      await server.waitClosed();
    });
  },
);

// ---- pipe transports ------------------------------------------------------

class ReadRecorder extends Protocol {
  events: string[] = [];
  chunks: Uint8Array[] = [];
  lostWith: Error | null | undefined = undefined;
  readonly lost: Future<null>;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture<null>();
  }
  override connectionMade(): void {
    this.events.push("made");
  }
  override dataReceived(data: Uint8Array): void {
    this.events.push("data");
    this.chunks.push(data);
  }
  override eofReceived(): void {
    this.events.push("eof");
  }
  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }
}

class WriteRecorder extends BaseProtocol {
  events: string[] = [];
  lostWith: Error | null | undefined = undefined;
  readonly lost: Future<null>;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture<null>();
  }
  override connectionMade(): void {
    this.events.push("made");
  }
  override pauseWriting(): void {
    this.events.push("pause");
  }
  override resumeWriting(): void {
    this.events.push("resume");
  }
  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }
}

procTest(
  "ReadPipeTransport.close() while reading is paused: the bytes waiting are dropped, connectionLost(null) follows once, the stream is cancelled",
  async (loop) => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        cancelled = true;
      },
    });
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    assert.equal(transport.getExtraInfo("pipe"), stream);
    transport.pauseReading();
    controller.enqueue(bytes("held"));
    await steps(3);
    assert.deepEqual(protocol.events, ["made"]);
    transport.close();
    assert.equal(transport.isClosing(), true);
    transport.close();
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(cancelled, true);
    transport.resumeReading();
    await steps(2);
    assert.deepEqual(protocol.events, ["made", "lost"]);
  },
);

procTest(
  "ReadPipeTransport: a stream that fails with a non-OS error is reported as a fatal read error, then connectionLost(that error)",
  async (loop, fx) => {
    const failure = new Error("the producer broke");
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
    });
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    controller.enqueue(bytes("first"));
    controller.error(failure);
    await protocol.lost;
    assert.equal(protocol.lostWith, failure);
    assert.deepEqual(protocol.events, ["made", "data", "lost"]);
    assert.equal(transport.isClosing(), true);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.message), [
      "Fatal read error on pipe transport",
    ]);
    assert.equal(errors[0].exception, failure);
    assert.equal(errors[0].transport, transport);
    assert.equal(errors[0].protocol, protocol);
  },
);

procTest(
  "WritePipeTransport.writeEof() with nothing buffered: closing at once, connectionLost(null) on a later iteration, the stream closed first",
  async (loop) => {
    let closed = false;
    let closedBeforeLost = false;
    const sink = new WritableStream<Uint8Array>({
      close() {
        closed = true;
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    assert.equal(transport.getExtraInfo("pipe"), sink);
    transport.write(new Uint8Array(0));
    assert.equal(transport.getWriteBufferSize(), 0);
    transport.writeEof();
    assert.equal(transport.isClosing(), true);
    assert.deepEqual(protocol.events, ["made"], "not lost synchronously");
    protocol.lost.addDoneCallback(() => {
      closedBeforeLost = closed;
    });
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(closedBeforeLost, true);
  },
);

procTest(
  "WritePipeTransport.abort() with a write in flight and more queued: connectionLost(null) once, no resumeWriting, later writes dropped with a warning from the 6th (the abort is no failed write)",
  async (loop) => {
    using log = captureLogger();
    const gate = Promise.withResolvers<void>();
    const written: Uint8Array[] = [];
    let abortedWith: unknown = "not aborted";
    const sink = new WritableStream<Uint8Array>({
      async write(chunk) {
        await gate.promise;
        written.push(chunk);
      },
      abort(reason) {
        abortedWith = reason;
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    transport.setWriteBufferLimits(8, 0);
    transport.write(bytes("in flight"));
    transport.write(bytes("queued"));
    assert.deepEqual(protocol.events, ["made", "pause"]);
    transport.abort();
    assert.equal(transport.isClosing(), true);
    assert.equal(transport.getWriteBufferSize(), 0);
    transport.abort();
    gate.resolve();
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "pause", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(abortedWith, undefined);
    assert.ok(
      !text(concat(written)).includes("queued"),
      "the queued bytes were dropped",
    );
    for (let i = 0; i < 5; i++) transport.write(bytes("late"));
    assert.deepEqual(log.warnings, []);
    transport.write(bytes("late"));
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0], /pipe closed by peer/);
  },
);

procTest(
  "WritePipeTransport: after a failed write, the 5th dropped write warns (the failure counts as the first)",
  async (loop) => {
    using log = captureLogger();
    const sink = new WritableStream<Uint8Array>({
      write() {
        throw new Deno.errors.BrokenPipe("the reader went away");
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    transport.write(bytes("fails"));
    await protocol.lost;
    assert.ok(protocol.lostWith instanceof Deno.errors.BrokenPipe);
    assert.equal(transport.isClosing(), true);
    for (let i = 0; i < 4; i++) transport.write(bytes("late"));
    assert.deepEqual(log.warnings, []);
    transport.write(bytes("late"));
    assert.equal(log.warnings.length, 1);
    assert.equal(transport.getWriteBufferSize(), 0);
  },
);

// ---- TLS transport ----------------------------------------------------------

netTest(
  "TlsTransport: the write-buffer limits default to asyncio's TLS ones (512 KiB high, 128 KiB low), also when set with no arguments",
  async ({ loop }) => {
    const pair = await tlsPair(loop);
    assert.deepEqual(pair.transport.getWriteBufferLimits(), [
      128 * 1024,
      512 * 1024,
    ]);
    assert.deepEqual(pair.peer.transport!.getWriteBufferLimits(), [
      128 * 1024,
      512 * 1024,
    ]);
    pair.transport.setWriteBufferLimits(1000);
    assert.deepEqual(pair.transport.getWriteBufferLimits(), [250, 1000]);
    pair.transport.setWriteBufferLimits(null, 100);
    assert.deepEqual(pair.transport.getWriteBufferLimits(), [100, 400]);
    assert.throws(() => pair.transport.setWriteBufferLimits(1, 2), RangeError);
    assert.deepEqual(pair.transport.getWriteBufferLimits(), [100, 400]);
    pair.transport.setWriteBufferLimits();
    assert.deepEqual(pair.transport.getWriteBufferLimits(), [
      128 * 1024,
      512 * 1024,
    ]);
    await pair.close();
  },
);

netTest(
  "TlsTransport: getExtraInfo() passes the socket keys through (peername, sockname, socket) on both ends",
  async ({ loop }) => {
    const pair = await tlsPair(loop);
    const { transport, peer, host, port } = pair;
    assert.deepEqual(transport.getExtraInfo("peername"), [host, port]);
    const sockname = transport.getExtraInfo("sockname") as [string, number];
    assert.equal(sockname[0], "127.0.0.1");
    assert.deepEqual(peer.transport!.getExtraInfo("peername"), sockname);
    assert.deepEqual(peer.transport!.getExtraInfo("sockname"), [host, port]);
    assert.ok(transport.getExtraInfo("socket") != null);
    assert.ok(transport.getExtraInfo("peercert") != null);
    assert.equal(peer.transport!.getExtraInfo("peercert"), null);
    await pair.close();
  },
);

netTest(
  "TlsTransport: pauseReading() holds the peer's bytes until resumeReading(); isReading() follows; pausing twice is harmless",
  async ({ loop }) => {
    const pair = await tlsPair(loop);
    const { transport, client, peer } = pair;
    assert.equal(transport.isReading(), true);
    transport.pauseReading();
    transport.pauseReading();
    assert.equal(transport.isReading(), false);
    peer.transport!.write(bytes("while paused"));
    // A round trip the other way (writing goes on while reading is paused)
    // gives the peer's earlier bytes time to arrive; a read in flight would
    // have delivered them by now.
    transport.write(bytes("ping"));
    await receivedAtLeast(loop, peer, 4);
    await steps(2);
    assert.equal(client.nbytes, 0);
    transport.resumeReading();
    assert.equal(transport.isReading(), true);
    await receivedAtLeast(loop, client, 12);
    assert.equal(text(client.received()), "while paused");
    await pair.close();
  },
);

netTest(
  "TlsTransport.setProtocol(): what arrives afterwards goes to the new protocol, and so do eofReceived and connectionLost",
  async ({ loop }) => {
    const pair = await tlsPair(loop);
    const { transport, client, peer } = pair;
    const next = new Recorder(loop);
    transport.setProtocol(next);
    assert.equal(transport.getProtocol(), next);
    peer.transport!.write(bytes("for the new one"));
    await receivedAtLeast(loop, next, 15);
    assert.equal(text(next.received()), "for the new one");
    peer.transport!.close();
    await next.lost;
    assert.deepEqual(next.events, ["data", "eof", "lost"]);
    assert.equal(next.lostWith, null);
    assert.deepEqual(client.events, ["made"]);
    await peer.lost;
    pair.server.close();
    await pair.server.waitClosed();
  },
);

netTest(
  "TlsTransport.abort(): buffered data is dropped, connectionLost(null) follows on the loop, the peer's connection ends; later writes are dropped",
  async ({ loop }) => {
    using log = captureLogger();
    const pair = await tlsPair(loop);
    const { transport, client, peer } = pair;
    transport.setWriteBufferLimits(0);
    transport.write(pattern(256 * 1024));
    assert.ok(transport.getWriteBufferSize() > 0);
    transport.abort();
    assert.equal(transport.isClosing(), true);
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.deepEqual(client.events, ["made", "pause"]);
    await client.lost;
    assert.deepEqual(client.events, ["made", "pause", "lost"]);
    assert.equal(client.lostWith, null);
    await peer.lost;
    assert.ok(peer.nbytes < 256 * 1024, "not everything was sent");
    for (let i = 0; i < 10; i++) transport.write(bytes("late"));
    assert.ok(log.warnings.length > 0, "writes after the loss warn");
    pair.server.close();
    await pair.server.waitClosed();
  },
);

netTest(
  "TlsTransport.close() right after a 2 MiB write: the peer gets every byte, then eofReceived() and connectionLost(null)",
  async ({ loop }) => {
    const pair = await tlsPair(loop);
    const { transport, client, peer } = pair;
    const payload = pattern(2 * 1024 * 1024);
    transport.write(payload);
    transport.close();
    await peer.lost;
    assertSameBytes(peer.received(), payload);
    assert.deepEqual(peer.events, ["made", "data", "eof", "lost"]);
    assert.equal(peer.lostWith, null);
    await client.lost;
    assert.equal(client.lostWith, null);
    assert.equal(transport.getWriteBufferSize(), 0);
    pair.server.close();
    await pair.server.waitClosed();
  },
);

virtualNetTest(
  "createConnection(ssl): without sslHandshakeTimeout a silent server is given asyncio's 60 s, then ConnectionAborted",
  async (loop) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const start = loop.time();
    try {
      await assert.rejects(
        loop.createConnection(
          () => new Protocol(),
          "127.0.0.1",
          listener.addr.port,
          { ssl: clientContext(), serverHostname: "localhost" },
        ),
        (e: Error) =>
          e instanceof Deno.errors.ConnectionAborted &&
          /60(\.0)? seconds/.test(e.message),
      );
      const waited = loop.time() - start;
      assert.ok(waited >= 60 && waited < 61, `waited ${waited} s`);
    } finally {
      (await accepted).close();
      listener.close();
    }
  },
);

virtualNetTest(
  "TlsTransport: the handshake timer is cancelled once the handshake is done; an idle connection outlives it",
  async (loop) => {
    const pair = await tlsPair(loop as unknown as EventLoop, {
      sslHandshakeTimeout: 5,
    });
    const start = loop.time();
    const idle = loop.createFuture<null>();
    loop.callLater(100, () => idle.setResult(null));
    await idle;
    assert.ok(loop.time() - start >= 100);
    assert.deepEqual(pair.client.events, ["made"]);
    assert.equal(pair.transport.isClosing(), false);
    pair.transport.write(bytes("still open"));
    await receivedAtLeast(loop as unknown as EventLoop, pair.peer, 10);
    assert.equal(text(pair.peer.received()), "still open");
    await pair.close();
  },
);

virtualNetTest(
  "TlsTransport.close(): a peer that never answers close_notify is given asyncio's 30 s, then connectionLost(TimeoutError)",
  async (loop) => {
    // A raw TLS peer that completes the handshake and then never reads.
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const accepted = listener.accept();
    const client = new Recorder(loop as unknown as EventLoop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    const conn = await accepted;
    try {
      await conn.handshake();
      const start = loop.time();
      transport.close();
      await client.lost;
      const waited = loop.time() - start;
      assert.ok(client.lostWith instanceof TimeoutError, `${client.lostWith}`);
      assert.ok(waited >= 30 && waited < 31, `waited ${waited} s`);
    } finally {
      conn.close();
      listener.close();
    }
  },
);

// ---- startTls ---------------------------------------------------------------

netTest(
  "startTls(): plaintext before the upgrade stays with the plain protocol; what the server sends right after its handshake reaches the client's protocol once; connectionMade is not called again",
  async ({ loop }) => {
    const serverTls = serverContext();
    const upgraded: Promise<Transport | null>[] = [];
    const serverProtocol = new Recorder(loop);
    serverProtocol.onData = () => {
      if (upgraded.length > 0) return;
      const t = serverProtocol.transport!;
      upgraded.push(
        loop.startTls(t, serverProtocol, serverTls, { serverSide: true })
          .then((tls) => {
            // At once, before the client's startTls() has resolved.
            tls!.write(bytes("hello after handshake"));
            return tls;
          }),
      );
    };
    const server = await loop.createServer(
      () => serverProtocol,
      "127.0.0.1",
      0,
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [plain] = await loop.createConnection(() => client, host, port);
    plain.write(bytes("plain hello"));
    await receivedAtLeast(loop, serverProtocol, 11);
    assert.equal(text(serverProtocol.received()), "plain hello");
    const tls = await loop.startTls(plain, client, clientContext(), {
      serverHostname: "localhost",
    });
    assert.ok(tls instanceof TlsTransport);
    await receivedAtLeast(loop, client, 21);
    assert.equal(text(client.received()), "hello after handshake");
    assert.deepEqual(client.events, ["made", "data"]);
    assert.deepEqual(
      serverProtocol.events,
      ["made", "data"],
      "the server's protocol saw only the plain bytes",
    );
    const serverTransport = (await upgraded[0])!;
    tls.close();
    await client.lost;
    await serverProtocol.lost;
    assert.equal(serverTransport.isClosing(), true);
    assert.deepEqual(client.events, ["made", "data", "lost"]);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "startTls() on a pipe transport is a TypeError naming the transport; the pipe still works",
  async ({ loop }) => {
    const got: Uint8Array[] = [];
    const sink = new WritableStream<Uint8Array>({
      write(chunk) {
        got.push(chunk);
      },
    });
    const protocol = new WriteRecorder(loop);
    const [transport] = await loop.connectWritePipe(() => protocol, sink);
    await assert.rejects(
      loop.startTls(transport as never, protocol, clientContext(), {
        serverHostname: "localhost",
      }),
      (e: Error) =>
        e instanceof TypeError && /WritePipeTransport/.test(e.message),
    );
    transport.write(bytes("still plain"));
    transport.close();
    await protocol.lost;
    assert.equal(text(concat(got)), "still plain");
  },
);

netTest(
  "startTls() over a TLS transport (TLS inside TLS): the inner connection carries data both ways and closes cleanly, without a warning",
  async ({ loop }) => {
    using log = captureLogger();
    const serverProtocol = new Recorder(loop);
    let inner: Promise<Transport | null> | null = null;
    serverProtocol.onData = () => {
      if (inner !== null) return;
      inner = loop.startTls(
        serverProtocol.transport!,
        serverProtocol,
        serverContext(),
        {
          serverSide: true,
        },
      ).then((tls) => {
        tls!.write(bytes("inner hello"));
        return tls;
      });
    };
    const server = await loop.createServer(
      () => serverProtocol,
      "127.0.0.1",
      0,
      { ssl: serverContext() },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [outer] = await loop.createConnection(() => client, host, port, {
      ssl: clientContext(),
      serverHostname: "localhost",
    });
    outer.write(bytes("upgrade"));
    await receivedAtLeast(loop, serverProtocol, 7);
    const tls = await loop.startTls(outer, client, clientContext(), {
      serverHostname: "localhost",
    });
    assert.ok(tls instanceof TlsTransport);
    assert.notEqual(tls, outer);
    await receivedAtLeast(loop, client, 11);
    assert.equal(text(client.received()), "inner hello");
    tls.close();
    await client.lost;
    await serverProtocol.lost;
    assert.equal(client.lostWith, null);
    assert.equal(outer.isClosing(), true);
    assert.deepEqual(log.warnings, []);
    server.close();
    await server.waitClosed();
  },
);
