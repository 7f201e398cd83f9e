/**
 * asyncio's stream behaviour that the other stream suites leave out: the
 * reader's limit validation, what `feedData()` keeps (views and empty
 * chunks included), separators given as views, `toString()` naming the
 * transport, a reader with a one-byte limit draining a child's pipe, the
 * Unix stream helpers over TLS, a `client_connected_cb` task that is
 * cancelled, and the two stream errors built directly. Reader-only checks
 * run on both loops; socket checks on the real one.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createDefaultContext,
  currentTask,
  DefaultEventLoopPolicy,
  EventLoop,
  IncompleteReadError,
  LimitOverrunError,
  openConnection,
  openUnixConnection,
  RuntimeError,
  setEventLoop,
  sleep,
  startServer,
  startUnixServer,
  StreamReader,
  StreamReaderProtocol,
  type StreamWriter,
} from "../../mod.ts";
import { bytes, netTest, pattern, text } from "./_net.ts";
import { procTest } from "../process/_proc.ts";
import { useEventLoopPolicy } from "../../testing/mod.ts";
import { pem } from "./_tls.ts";

const DATA = bytes("line1\nline2\nline3\n");

/** Ends the stream and returns everything still buffered. */
async function remaining(reader: StreamReader): Promise<string> {
  reader.feedEof();
  return text(await reader.read());
}

async function closeWriter(writer: StreamWriter): Promise<void> {
  writer.close();
  await writer.waitClosed();
}

// ------------------------------------------------------------ the limit

procTest(
  "StreamReader(limit): zero, negative and NaN are RangeErrors, a non-number a TypeError",
  async (loop) => {
    for (const limit of [0, -1, -0.5, NaN]) {
      assert.throws(
        () => new StreamReader(limit, { loop }),
        (error) => error instanceof RangeError && /limit/.test(error.message),
        `limit ${limit}`,
      );
    }
    for (const limit of ["10", null, 10n, {}]) {
      assert.throws(
        // deno-lint-ignore no-explicit-any
        () => new StreamReader(limit as any, { loop }),
        (error) => error instanceof TypeError && /limit/.test(error.message),
        `limit ${typeof limit}`,
      );
    }
    // The smallest valid limit works, and undefined means the default.
    assert.equal(new StreamReader(1, { loop }).limit, 1);
    assert.equal(new StreamReader(undefined, { loop }).limit, 64 * 1024);
  },
);

// ------------------------------------------------------------ feedData()

procTest(
  "StreamReader.feedData(): an empty chunk buffers nothing, a chunk is kept whole",
  async (loop) => {
    const empty = new StreamReader(undefined, { loop });
    empty.feedData(new Uint8Array(0));
    assert.equal(String(empty), "<StreamReader>");
    empty.feedEof();
    assert.equal(empty.atEof(), true);
    assert.equal((await empty.read()).length, 0);

    const full = new StreamReader(undefined, { loop });
    full.feedData(DATA);
    assert.equal(String(full), `<StreamReader ${DATA.length} bytes>`);
    assert.equal(await remaining(full), text(DATA));

    // Bytes are bytes: a string is refused and leaves the buffer alone.
    const strict = new StreamReader(undefined, { loop });
    // deno-lint-ignore no-explicit-any
    assert.throws(() => strict.feedData("line\n" as any), TypeError);
    assert.equal(String(strict), "<StreamReader>");
  },
);

procTest(
  "StreamReader: views into larger buffers are read by their own bytes only",
  async (loop) => {
    // A chunk that is a window of a bigger buffer, as a transport may pass.
    const backing = bytes("xxxxline1\nliyyyy");
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(backing.subarray(4, 12));
    reader.feedData(backing.subarray(12, 12)); // empty view: nothing
    reader.feedData(bytes("ne2\n").subarray(0));
    assert.equal(text(await reader.readline()), "line1\n");
    // The separator too may be a view (asyncio takes a bytearray as well).
    const sepBacking = bytes("AAA\nzz");
    const sep = sepBacking.subarray(3, 4);
    assert.equal(text(await reader.readuntil(sep)), "line2\n");
    reader.feedData(bytes("key=value;"));
    assert.equal(
      text(await reader.readuntil(bytes("==;=").subarray(2, 3))),
      "key=value;",
    );
    // A Node Buffer is a Uint8Array: accepted as a separator and as data.
    const { Buffer } = await import("node:buffer");
    reader.feedData(Buffer.from("a|b"));
    assert.equal(text(await reader.readuntil(Buffer.from("|"))), "a|");
    assert.equal(await remaining(reader), "b");
  },
);

// ------------------------------------------------------------ toString()

procTest(
  "StreamReader.toString() names its transport",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const transport = {
      pauseReading: () => {},
      resumeReading: () => {},
      toString: () => "<Transport>",
    };
    reader.setTransport(transport);
    assert.equal(String(reader), "<StreamReader transport=<Transport>>");
  },
);

// ------------------------------------------------------------ loops

Deno.test("StreamReader and its protocol made while a loop runs take that loop, not the current one", async () => {
  using _policy = useEventLoopPolicy(new DefaultEventLoopPolicy());
  const current = new EventLoop();
  const running = new EventLoop();
  try {
    setEventLoop(current);
    const line = await running.runUntilComplete(async () => {
      const reader = new StreamReader();
      const protocol = new StreamReaderProtocol(reader);
      assert.equal((protocol as unknown as { _loop: unknown })._loop, running);
      const pending = reader.readline();
      running.callSoon(() => reader.feedData(bytes("hi\n")));
      return await pending;
    });
    assert.equal(text(line), "hi\n");
    // With no loop running and none current, the protocol cannot pick one.
    setEventLoop(null);
    const reader = new StreamReader(undefined, { loop: running });
    assert.throws(() => new StreamReaderProtocol(reader), RuntimeError);
  } finally {
    setEventLoop(null);
    current.close();
    running.close();
  }
});

// ------------------------------------------------------------ errors

Deno.test("IncompleteReadError and LimitOverrunError keep what they are built with", () => {
  const partial = bytes("abc");
  const incomplete = new IncompleteReadError(partial, 10);
  assert.ok(incomplete instanceof Error);
  assert.equal(incomplete.name, "IncompleteReadError");
  assert.equal(
    incomplete.message,
    "3 bytes read on a total of 10 expected bytes",
  );
  assert.equal(incomplete.partial, partial);
  assert.equal(incomplete.expected, 10);
  const unbounded = new IncompleteReadError(partial, null);
  assert.equal(
    unbounded.message,
    "3 bytes read on a total of undefined expected bytes",
  );
  assert.equal(unbounded.expected, null);

  const overrun = new LimitOverrunError("message", 10);
  assert.ok(overrun instanceof Error);
  assert.equal(overrun.name, "LimitOverrunError");
  assert.equal(overrun.message, "message");
  assert.equal(overrun.consumed, 10);
});

// ------------------------------------------------------------ read pipes

/** Spawns `/bin/sh -c script` with its stdout piped. */
function shell(script: string): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

procTest(
  "StreamReader with a one-byte limit reads all of a child's pipe after it exits",
  async (loop) => {
    const reader = new StreamReader(1, { loop });
    const child = shell("printf data");
    const [transport] = await loop.connectReadPipe(
      () => new StreamReaderProtocol(reader, null, loop),
      child.stdout,
    );
    assert.equal((await child.status).code, 0);
    assert.equal(text(await reader.read(-1)), "data");
    assert.equal(reader.atEof(), true);
    assert.equal(transport.isClosing(), true);
  },
);

procTest(
  "StreamReader with a one-byte limit: read() pauses and resumes the pipe until EOF",
  async (loop) => {
    const size = 200_000; // several times the OS pipe buffer
    const reader = new StreamReader(1, { loop });
    const child = shell(`head -c ${size} /dev/zero`);
    const [transport] = await loop.connectReadPipe(
      () => new StreamReaderProtocol(reader, null, loop),
      child.stdout,
    );
    // The child blocks on a full pipe while the reader is paused: the read
    // has to resume the transport each time it empties the buffer.
    const all = await reader.read(-1);
    assert.equal((await child.status).code, 0);
    assert.equal(all.length, size);
    assert.ok(all.every((b) => b === 0));
    assert.equal(transport.isClosing(), true);
  },
);

// ------------------------------------------------------------ Unix + TLS

netTest(
  'openUnixConnection({ ssl, serverHostname: "" }) talks to a TLS Unix server',
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "aioloop-sweep-" });
    try {
      const path = `${dir}/tls.sock`;
      const serverSsl = createDefaultContext({
        purpose: "clientAuth",
        cert: pem("server.pem"),
        key: pem("server.key"),
      });
      const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
      const server = await startUnixServer(
        async (reader, writer) => {
          const request = text(await reader.readline());
          writer.write(bytes(`reply to ${request}`));
          writer.write(pattern(1000));
          await closeWriter(writer);
        },
        path,
        { ssl: serverSsl },
      );
      try {
        const [reader, writer] = await openUnixConnection(path, {
          ssl: clientSsl,
          serverHostname: "",
        });
        assert.ok(writer.getExtraInfo("sslcontext") != null);
        writer.write(bytes("hello\n"));
        assert.equal(text(await reader.readline()), "reply to hello\n");
        const rest = await reader.read();
        assert.deepEqual(rest, pattern(1000));
        assert.equal(reader.atEof(), true);
        await closeWriter(writer);
      } finally {
        server.close();
        await server.waitClosed();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ------------------------------------------------------ client_connected_cb

netTest(
  "startServer(): a cancelled client_connected_cb task closes its connection, unreported",
  async ({ errors }) => {
    const reached: string[] = [];
    const server = await startServer(
      async (_reader, writer) => {
        writer.write(bytes("Hello"));
        currentTask()!.cancel();
        try {
          await sleep(0); // the cancellation lands here
          reached.push("after the cancellation");
        } catch (error) {
          reached.push(error instanceof CancelledError ? "cancelled" : "other");
          throw error;
        }
      },
      "127.0.0.1",
      0,
    );
    try {
      const [, port] = server.sockets[0].getsockname() as [string, number];
      const [reader, writer] = await openConnection("127.0.0.1", port);
      // What was written before the cancellation arrives, then EOF.
      assert.equal(text(await reader.read()), "Hello");
      assert.equal(reader.atEof(), true);
      assert.deepEqual(reached, ["cancelled"]);
      assert.deepEqual(errors, []);
      await closeWriter(writer);
    } finally {
      server.close();
      await server.waitClosed();
    }
  },
);
