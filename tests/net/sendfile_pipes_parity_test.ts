/**
 * More of asyncio's behaviour for `loop.sendfile()`, `loop.sockSendfile()`,
 * the pipe transports and the Unix-socket argument checks: offsets and
 * counts, the file position afterwards, flow control during a sendfile,
 * a fallback-only transport, buffered pipe writes at close / writeEof, a
 * pipe whose reader went away, and Unix paths that are not sockets.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  BaseProtocol,
  type BaseProtocol as BaseProtocolType,
  type EventLoop,
  Protocol,
  RuntimeError,
  SendfileNotAvailableError,
  socket,
  Transport,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  netTest,
  pattern,
  Recorder,
  text,
} from "./_net.ts";
import { procTest } from "../process/_proc.ts";
import type { Future } from "../../mod.ts";

/** Runs `fn` with `data` in a temporary file opened as `options` says. */
async function withFile(
  data: Uint8Array,
  fn: (file: Deno.FsFile, path: string) => Promise<void>,
  options: Deno.OpenOptions = { read: true },
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/data.bin`;
  await Deno.writeFile(path, data);
  const file = await Deno.open(path, options);
  try {
    await fn(file, path);
  } finally {
    file.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function position(file: Deno.FsFile): Promise<number> {
  return file.seek(0, Deno.SeekMode.Current);
}

/** A server collecting everything until EOF, and a connected client. */
async function pair(loop: EventLoop, server = new Recorder(loop)): Promise<{
  transport: Transport;
  client: Recorder;
  server: Recorder;
  received: Promise<Uint8Array>;
  close(): Promise<void>;
}> {
  const srv = await loop.createServer(() => server, "127.0.0.1", 0);
  const [host, port] = srv.sockets[0].getsockname() as [string, number];
  const client = new Recorder(loop);
  const [transport] = await loop.createConnection(() => client, host, port);
  await server.made;
  const received = (async () => {
    await server.lost;
    return concat(server.chunks);
  })();
  return {
    transport,
    client,
    server,
    received,
    async close() {
      transport.close();
      await client.lost;
      await received;
      srv.close();
      await srv.waitClosed();
    },
  };
}

/**
 * A transport that can only send a file by reading and writing it (as
 * asyncio's SSL transport): it keeps what is written.
 */
class FallbackOnly extends Transport {
  readonly _sendfileCompatible = "fallback";
  written: Uint8Array[] = [];
  #protocol: BaseProtocolType;
  #reading = true;
  #closing = false;
  constructor(protocol: BaseProtocolType) {
    super();
    this.#protocol = protocol;
  }
  override isClosing(): boolean {
    return this.#closing;
  }
  override close(): void {
    this.#closing = true;
  }
  override getProtocol(): BaseProtocolType {
    return this.#protocol;
  }
  override setProtocol(protocol: BaseProtocolType): void {
    this.#protocol = protocol;
  }
  override isReading(): boolean {
    return this.#reading;
  }
  override pauseReading(): void {
    this.#reading = false;
  }
  override resumeReading(): void {
    this.#reading = true;
  }
  override getWriteBufferSize(): number {
    return 0;
  }
  override getWriteBufferLimits(): [number, number] {
    return [16384, 65536];
  }
  override write(data: Uint8Array): void {
    this.written.push(data.slice());
  }
}

// ---- sendfile: offset, count, file position ---------------------------------

netTest(
  "sendfile() to a fallback-only transport: count 0 sends to EOF from offset",
  async ({ loop }) => {
    const data = pattern(300_000);
    await withFile(data, async (file) => {
      const transport = new FallbackOnly(new Protocol());
      assert.equal(await loop.sendfile(transport, file, 1000, 0), 299_000);
      assertSameBytes(concat(transport.written), data.subarray(1000));
      assert.equal(await position(file), 300_000);
      assert.equal(transport.isReading(), true, "reading resumed");
    });
  },
);

netTest(
  "sendfile() to a fallback-only transport with fallback: false is a RuntimeError, nothing read",
  async ({ loop }) => {
    await withFile(pattern(1000), async (file) => {
      const protocol = new Protocol();
      const transport = new FallbackOnly(protocol);
      await assert.rejects(
        loop.sendfile(transport, file, 0, null, { fallback: false }),
        (e: Error) =>
          e instanceof RuntimeError && /fallback is disabled/.test(e.message),
      );
      assert.equal(transport.written.length, 0);
      assert.equal(await position(file), 0);
      assert.equal(transport.getProtocol(), protocol);
    });
  },
);

netTest(
  "sendfile() leaves the file just after what it sent, wherever it started",
  async ({ loop }) => {
    const data = pattern(50_000);
    await withFile(data, async (file) => {
      const p = await pair(loop);
      await file.seek(40_000, Deno.SeekMode.Start);
      assert.equal(await loop.sendfile(p.transport, file, 1000, 100), 100);
      assert.equal(await position(file), 1100);
      assert.equal(await loop.sendfile(p.transport, file, 49_990), 10);
      assert.equal(await position(file), 50_000);
      await p.close();
      const got = await p.received;
      assertSameBytes(
        got,
        concat([data.subarray(1000, 1100), data.subarray(49_990)]),
      );
    });
  },
);

netTest(
  "sendfile() refuses a negative or fractional count and a NaN offset, leaving the position alone",
  async ({ loop }) => {
    await withFile(pattern(1000), async (file) => {
      const p = await pair(loop);
      await file.seek(7, Deno.SeekMode.Start);
      await assert.rejects(loop.sendfile(p.transport, file, 0, -1), RangeError);
      await assert.rejects(loop.sendfile(p.transport, file, 0, 2.5), TypeError);
      await assert.rejects(loop.sendfile(p.transport, file, NaN), TypeError);
      await assert.rejects(
        loop.sendfile(p.transport, file, 0, Infinity),
        TypeError,
      );
      await assert.rejects(
        loop.sendfile(p.transport, file, 0, null, { fallback: false }),
        SendfileNotAvailableError,
      );
      assert.equal(await position(file), 7);
      await p.close();
      assert.equal((await p.received).length, 0);
    });
  },
);

netTest(
  "sendfile() on a closing transport sends nothing and leaves the file where it was",
  async ({ loop }) => {
    await withFile(pattern(1000), async (file) => {
      const p = await pair(loop);
      p.transport.close();
      await assert.rejects(
        loop.sendfile(p.transport, file, 10, 20),
        (e: Error) =>
          e instanceof RuntimeError && /Transport is closing/.test(e.message),
      );
      assert.equal(await position(file), 0);
      await p.close();
      assert.equal((await p.received).length, 0);
      assert.deepEqual(p.client.events, ["made", "lost"]);
    });
  },
);

// ---- sendfile and write flow control ----------------------------------------

/** A server that reads only after `go()`. */
class Held extends Recorder {
  override connectionMade(transport: Transport): void {
    transport.pauseReading();
    super.connectionMade(transport);
  }
  go(): void {
    this.transport!.resumeReading();
  }
}

netTest(
  "sendfile() to a transport whose protocol is paused writing waits for the resume, then hands it to the protocol",
  async ({ loop }) => {
    const fileData = pattern(100_000);
    const head = pattern(8 * 1024 * 1024, 7);
    await withFile(fileData, async (file) => {
      const server = new Held(loop);
      const p = await pair(loop, server);
      p.transport.write(head);
      assert.deepEqual(p.client.events, ["made", "pause"]);
      const sending = loop.createTask(() => loop.sendfile(p.transport, file));
      loop.callSoon(() => server.go());
      assert.equal(await sending, fileData.length);
      assert.deepEqual(p.client.events, ["made", "pause", "resume"]);
      assert.equal(p.transport.getProtocol(), p.client);
      await p.close();
      const got = await p.received;
      assertSameBytes(got, concat([head, fileData]));
    });
  },
);

netTest(
  "sendfile() while paused writing with the buffer under a raised high mark still waits for the resume",
  async ({ loop }) => {
    const fileData = pattern(1000);
    const head = pattern(16 * 1024 * 1024, 3);
    await withFile(fileData, async (file) => {
      const server = new Held(loop);
      const p = await pair(loop, server);
      p.transport.write(head);
      assert.deepEqual(p.client.events, ["made", "pause"]);
      // Still paused: the buffer is not down to the low mark.
      p.transport.setWriteBufferLimits(64 * 1024 * 1024, 0);
      assert.deepEqual(p.client.events, ["made", "pause"]);
      const sending = loop.createTask(() => loop.sendfile(p.transport, file));
      loop.callSoon(() => server.go());
      assert.equal(await sending, fileData.length);
      assert.deepEqual(
        p.client.events,
        ["made", "pause", "resume"],
        "the protocol is resumed by the time sendfile() returns",
      );
      await p.close();
      assertSameBytes(await p.received, concat([head, fileData]));
    });
  },
);

// ---- sockSendfile -----------------------------------------------------------

/** A connected socket pair over TCP and a reader collecting until EOF. */
async function sockPair(loop: EventLoop) {
  const listener = socket();
  listener.bind(["127.0.0.1", 0]);
  listener.listen();
  const client = socket();
  await loop.sockConnect(client, listener.getsockname());
  const [conn] = await loop.sockAccept(listener);
  const received = (async () => {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await loop.sockRecv(conn, 65536);
      if (chunk.length === 0) return concat(chunks);
      chunks.push(chunk);
    }
  })();
  return {
    client,
    async finish(): Promise<Uint8Array> {
      client.shutdown(1);
      const got = await received;
      for (const s of [conn, client, listener]) s.close();
      return got;
    },
  };
}

netTest(
  "sockSendfile() of an empty file returns 0; mixed with sockSendall() the order holds",
  async ({ loop }) => {
    const data = pattern(200_000);
    const buf = bytes("mix_regular_send".repeat(4096));
    await withFile(new Uint8Array(0), async (empty) => {
      await withFile(data, async (file) => {
        const s = await sockPair(loop);
        assert.equal(await loop.sockSendfile(s.client, empty, 0, null), 0);
        assert.equal(await position(empty), 0);
        await loop.sockSendall(s.client, buf);
        assert.equal(await loop.sockSendfile(s.client, file), data.length);
        assert.equal(await position(file), data.length);
        await loop.sockSendall(s.client, buf);
        assertSameBytes(await s.finish(), concat([buf, data, buf]));
      });
    });
  },
);

netTest(
  "sockSendfile() refuses wrong argument types and negative counts before sending anything",
  async ({ loop }) => {
    await withFile(pattern(1000), async (file) => {
      const s = await sockPair(loop);
      await assert.rejects(loop.sockSendfile(s.client, file, 1.5), TypeError);
      await assert.rejects(
        loop.sockSendfile(s.client, file, "0" as never),
        TypeError,
      );
      await assert.rejects(
        loop.sockSendfile(s.client, file, 0, 2.5),
        TypeError,
      );
      await assert.rejects(
        loop.sockSendfile(s.client, file, 0, -5),
        RangeError,
      );
      await assert.rejects(
        loop.sockSendfile(s.client, "data.bin" as never),
        TypeError,
      );
      await assert.rejects(
        loop.sockSendfile("sock" as never, file),
        TypeError,
      );
      assert.equal(await position(file), 0);
      assert.equal((await s.finish()).length, 0);
    });
  },
);

netTest(
  "sockSendfile() from a file not opened for reading fails and sends nothing",
  async ({ loop }) => {
    await withFile(pattern(1000), async (file) => {
      const s = await sockPair(loop);
      await assert.rejects(loop.sockSendfile(s.client, file));
      assert.equal((await s.finish()).length, 0);
    }, { write: true });
  },
);

// ---- read pipes -------------------------------------------------------------

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
    if (this.events.at(-1) !== "data") this.events.push("data");
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

procTest(
  "ReadPipeTransport: pauseReading() when paused or closed and resumeReading() when reading are no-ops",
  async (loop) => {
    const gate = Promise.withResolvers<void>();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        await gate.promise;
        controller.enqueue(bytes("x"));
        controller.close();
      },
    });
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    transport.resumeReading();
    assert.equal(transport.isReading(), true);
    transport.pauseReading();
    transport.pauseReading();
    assert.equal(transport.isReading(), false);
    transport.resumeReading();
    assert.equal(transport.isReading(), true);
    gate.resolve();
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "data", "eof", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(transport.isReading(), false);
    transport.pauseReading();
    transport.resumeReading();
    assert.equal(transport.isReading(), false);
  },
);

procTest(
  "ReadPipeTransport over a child's stdout: eofReceived, then connectionLost(null), when the child exits",
  async (loop) => {
    const child = new Deno.Command("sh", {
      args: ["-c", "printf 'from child'"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const [, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      child.stdout,
    );
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "data", "eof", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(text(concat(protocol.chunks)), "from child");
    assert.equal((await child.status).code, 0);
  },
);

// ---- write pipes ------------------------------------------------------------

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
  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }
}

/** A sink whose writes complete only after `release()`. */
function gatedSink() {
  const written: Uint8Array[] = [];
  const gate = Promise.withResolvers<void>();
  const state = { closed: false, closedAfter: -1 };
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      await gate.promise;
      written.push(chunk);
    },
    close() {
      state.closed = true;
      state.closedAfter = concat(written).length;
    },
  });
  return { stream, written, state, release: () => gate.resolve() };
}

for (const how of ["close", "writeEof"] as const) {
  procTest(
    `WritePipeTransport.${how}() with data buffered: flushes it, closes the stream, then connectionLost(null)`,
    async (loop) => {
      const sink = gatedSink();
      const [transport, protocol] = await loop.connectWritePipe(
        () => new WriteRecorder(loop),
        sink.stream,
      );
      transport.write(bytes("first "));
      transport.write(bytes("second"));
      assert.equal(transport.getWriteBufferSize(), 12);
      transport[how]();
      assert.equal(transport.isClosing(), true);
      assert.equal(transport.getWriteBufferSize(), 12, "still buffered");
      transport[how](); // a second call changes nothing
      transport.write(bytes("dropped"));
      assert.equal(transport.getWriteBufferSize(), 12);
      sink.release();
      await protocol.lost;
      assert.deepEqual(protocol.events, ["made", "lost"]);
      assert.equal(protocol.lostWith, null);
      assert.equal(text(concat(sink.written)), "first second");
      assert.equal(sink.state.closed, true);
      assert.equal(sink.state.closedAfter, 12, "closed after the flush");
      assert.equal(transport.getWriteBufferSize(), 0);
    },
  );
}

procTest(
  "WritePipeTransport to a child that exited: the next write ends it with connectionLost(BrokenPipe)",
  async (loop) => {
    const child = new Deno.Command("true", {
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await child.status;
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      child.stdin,
    );
    transport.write(bytes("nobody reads this"));
    await protocol.lost;
    assert.ok(
      protocol.lostWith instanceof Deno.errors.BrokenPipe,
      `lost with ${protocol.lostWith}`,
    );
    assert.deepEqual(protocol.events, ["made", "lost"]);
    assert.equal(transport.isClosing(), true);
    assert.equal(transport.getWriteBufferSize(), 0);
  },
);

// ---- Unix sockets -----------------------------------------------------------

netTest(
  "createUnixConnection() refuses a [host, port] address, a TCP sock and serverHostname without ssl",
  async ({ loop }) => {
    await assert.rejects(
      loop.createUnixConnection(
        () => new Protocol(),
        ["127.0.0.1", 80] as never,
      ),
      TypeError,
    );
    using listener = socket(AF_INET);
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    using tcp = socket(AF_INET);
    await loop.sockConnect(tcp, listener.getsockname());
    using _accepted = (await loop.sockAccept(listener))[0];
    await assert.rejects(
      loop.createUnixConnection(() => new Protocol(), null, { sock: tcp }),
      (e: Error) =>
        e instanceof RangeError &&
        /UNIX Domain Stream Socket was expected/.test(e.message),
    );
    await assert.rejects(
      loop.createUnixConnection(() => new Protocol(), "/tmp/x.sock", {
        serverHostname: "example.com",
      }),
      RangeError,
    );
  },
);

netTest(
  "createUnixServer() at a path holding a regular file fails with AddrInUse and keeps the file",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/not_a_socket`;
      await Deno.writeTextFile(path, "keep me");
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), path),
        Deno.errors.AddrInUse,
      );
      assert.equal(await Deno.readTextFile(path), "keep me");
      assert.equal((await Deno.lstat(path)).isFile, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "createUnixServer() refuses a TCP sock and sslHandshakeTimeout without ssl",
  async ({ loop }) => {
    using tcp = socket(AF_INET);
    tcp.bind(["127.0.0.1", 0]);
    tcp.listen();
    await assert.rejects(
      loop.createUnixServer(() => new Protocol(), null, { sock: tcp }),
      (e: Error) =>
        e instanceof RangeError &&
        /UNIX Domain Stream Socket was expected/.test(e.message),
    );
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), `${dir}/s.sock`, {
          sslHandshakeTimeout: 5,
        }),
        RangeError,
      );
      await assert.rejects(Deno.lstat(`${dir}/s.sock`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
