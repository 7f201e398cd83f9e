/**
 * `StreamReader`, `StreamWriter`, `StreamReaderProtocol`: reading by size,
 * line, separator and exact count, EOF and errors, limits, transport flow
 * control, drain(). Ported from the checks of CPython's `test_streams.py`.
 * Runs on both loops.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  FlowControlMixin,
  IncompleteReadError,
  LimitOverrunError,
  RuntimeError,
  sleep,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  type WritableTransport,
} from "../../mod.ts";
import { bytes, procTest, text } from "./_proc.ts";

const DATA = bytes("line1\nline2\nline3\n");

/** A transport stand-in that records pause/resume calls. */
class FakeTransport {
  calls: string[] = [];
  pauseReading(): void {
    this.calls.push("pause");
  }
  resumeReading(): void {
    this.calls.push("resume");
  }
}

procTest(
  "StreamReader.read(n) returns what is buffered, up to n",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const pending = reader.read(30);
    loop.callSoon(() => reader.feedData(DATA));
    assert.equal(text(await pending), text(DATA));
    reader.feedData(bytes("abcdef"));
    assert.equal(text(await reader.read(2)), "ab");
    assert.equal(text(await reader.read(0)), "");
    assert.equal(text(await reader.read(10)), "cdef");
    reader.feedEof();
    assert.equal((await reader.read(5)).length, 0);
    assert.ok(reader.atEof());
  },
);

procTest("StreamReader.read() with no size reads to EOF", async (loop) => {
  const reader = new StreamReader(undefined, { loop });
  const all = reader.read();
  loop.callSoon(() => reader.feedData(bytes("chunk1\n")));
  loop.callSoon(() => reader.feedData(bytes("chunk2")));
  loop.callSoon(() => reader.feedEof());
  assert.equal(text(await all), "chunk1\nchunk2");
  assert.equal((await reader.read()).length, 0);
});

procTest(
  "StreamReader.readline() reads lines; the last may lack a newline",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("chunk1 "));
    const line = reader.readline();
    loop.callSoon(() => reader.feedData(bytes("chunk2 ")));
    loop.callSoon(() => reader.feedData(bytes("chunk3\nrest")));
    assert.equal(text(await line), "chunk1 chunk2 chunk3\n");
    reader.feedEof();
    assert.equal(text(await reader.readline()), "rest");
    assert.equal((await reader.readline()).length, 0);
  },
);

procTest(
  "StreamReader.readline() over the limit is a RangeError and drops the line",
  async (loop) => {
    const reader = new StreamReader(7, { loop });
    reader.feedData(bytes("1234567890\n12\n"));
    await assert.rejects(reader.readline(), RangeError);
    assert.equal(text(await reader.readline()), "12\n");
    const r2 = new StreamReader(7, { loop });
    r2.feedData(bytes("12345678901234567890"));
    await assert.rejects(r2.readline(), RangeError);
    r2.feedData(bytes("ok\n"));
    assert.equal(text(await r2.readline()), "ok\n");
  },
);

procTest(
  "StreamReader.readuntil(): separators, limits, incomplete reads",
  async (loop) => {
    const reader = new StreamReader(10, { loop });
    reader.feedData(bytes("aaa!!bbb!!"));
    assert.equal(text(await reader.readuntil(bytes("!!"))), "aaa!!");
    assert.equal(text(await reader.readuntil(bytes("!!"))), "bbb!!");
    reader.feedData(bytes("x;y|"));
    assert.equal(text(await reader.readuntil([bytes("|"), bytes(";")])), "x;");
    await assert.rejects(reader.readuntil(new Uint8Array(0)), RangeError);
    await assert.rejects(reader.readuntil("!" as never), TypeError);
    reader.feedData(bytes("0123456789ABCDEF"));
    const overrun = await reader.readuntil(bytes("!")).catch((e) => e);
    assert.ok(overrun instanceof LimitOverrunError);
    assert.ok(overrun.consumed > 10);
    // The data stays buffered.
    assert.equal(text(await reader.read(3)), "y|0");
    assert.equal(text(await reader.read(9)), "123456789");
    reader.feedEof();
    const incomplete = await reader.readuntil(bytes("!")).catch((e) => e);
    assert.ok(incomplete instanceof IncompleteReadError);
    assert.equal(text(incomplete.partial), "ABCDEF");
    assert.equal(incomplete.expected, null);
    assert.ok(reader.atEof());
  },
);

procTest(
  "StreamReader.readexactly(): waits for n bytes; IncompleteReadError at EOF",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const exact = reader.readexactly(8);
    loop.callSoon(() => reader.feedData(bytes("1234")));
    loop.callSoon(() => reader.feedData(bytes("5678rest")));
    assert.equal(text(await exact), "12345678");
    assert.equal((await reader.readexactly(0)).length, 0);
    await assert.rejects(reader.readexactly(-1), RangeError);
    reader.feedEof();
    const error = await reader.readexactly(10).catch((e) => e);
    assert.ok(error instanceof IncompleteReadError);
    assert.equal(text(error.partial), "rest");
    assert.equal(error.expected, 10);
  },
);

procTest(
  "StreamReader.setException() fails pending and later reads",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const pending = reader.readline();
    const boom = new Deno.errors.ConnectionReset("gone");
    loop.callSoon(() => reader.setException(boom));
    await assert.rejects(pending, (e) => e === boom);
    await assert.rejects(reader.read(1), (e) => e === boom);
    assert.equal(reader.exception(), boom);
  },
);

procTest(
  "StreamReader: two concurrent reads are a RuntimeError",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const first = reader.read(1);
    await assert.rejects(reader.read(1), RuntimeError);
    reader.feedData(bytes("x"));
    assert.equal(text(await first), "x");
    assert.throws(() => reader.feedData("x" as never), TypeError);
    reader.feedEof();
    assert.throws(() => reader.feedData(bytes("late")), RuntimeError);
  },
);

procTest(
  "StreamReader: a cancelled read() or readline() leaves the reader usable",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const reading = loop.createTask(() => reader.read(10));
    await sleep(0);
    reading.cancel();
    await assert.rejects(async () => await reading, CancelledError);
    const lining = loop.createTask(() => reader.readline());
    await sleep(0);
    lining.cancel();
    await assert.rejects(async () => await lining, CancelledError);
    // Nothing was consumed; the next readers wait as usual.
    const line = reader.readline();
    reader.feedData(bytes("abc\nrest"));
    assert.equal(text(await line), "abc\n");
    assert.equal(text(await reader.read(10)), "rest");
  },
);

procTest(
  "StreamReader.readline() waits across chunks for the newline, and returns the rest at EOF",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const line = reader.readline();
    loop.callSoon(() => {
      reader.feedData(bytes("ab"));
      loop.callSoon(() => {
        reader.feedData(bytes("cd"));
        loop.callSoon(() => reader.feedData(bytes("e\nf")));
      });
    });
    assert.equal(text(await line), "abcde\n");
    const last = reader.readline();
    loop.callSoon(() => reader.feedEof());
    assert.equal(text(await last), "f");
    assert.equal(text(await reader.readline()), "");
    assert.equal(text(await reader.read(5)), "");
    await assert.rejects(reader.read(Number.NaN), TypeError);
    await assert.rejects(reader.read("5" as never), TypeError);
  },
);

procTest(
  "StreamReader: pauses the transport past 2 × limit, resumes at the limit",
  async (loop) => {
    const reader = new StreamReader(4, { loop });
    const transport = new FakeTransport();
    reader.setTransport(transport);
    assert.throws(() => reader.setTransport(transport), RuntimeError);
    reader.feedData(bytes("12345678"));
    assert.deepEqual(transport.calls, []);
    reader.feedData(bytes("9"));
    assert.deepEqual(transport.calls, ["pause"]);
    reader.feedData(bytes("0"));
    assert.deepEqual(transport.calls, ["pause"]);
    await reader.read(5);
    assert.deepEqual(transport.calls, ["pause"]);
    await reader.read(1);
    assert.deepEqual(transport.calls, ["pause", "resume"]);
    assert.throws(() => new StreamReader(0, { loop }), RangeError);
  },
);

procTest(
  "StreamReader: async iteration yields lines until EOF",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(DATA);
    reader.feedEof();
    const lines: string[] = [];
    for await (const line of reader) lines.push(text(line));
    assert.deepEqual(lines, ["line1\n", "line2\n", "line3\n"]);
  },
);

procTest(
  "StreamReaderProtocol over a read pipe feeds a StreamReader",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const stream = ReadableStream.from([bytes("hello\nwor"), bytes("ld\n")]);
    await loop.connectReadPipe(
      () => new StreamReaderProtocol(reader, null, loop),
      stream,
    );
    assert.equal(text(await reader.readline()), "hello\n");
    assert.equal(text(await reader.readline()), "world\n");
    assert.equal((await reader.read()).length, 0);
  },
);

procTest(
  "StreamWriter.drain() waits while writing is paused; waitClosed() after close",
  async (loop) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const written: string[] = [];
    const sink = new WritableStream<Uint8Array>({
      async write(chunk) {
        await gate;
        written.push(text(chunk));
      },
    });
    const reader = new StreamReader(undefined, { loop });
    const writerRef: { w: StreamWriter | null } = { w: null };
    const [transport] = await loop.connectWritePipe(
      () =>
        new StreamReaderProtocol(reader, (_r, w) => {
          writerRef.w = w;
        }, loop),
      sink,
    );
    const writer = writerRef.w!;
    assert.equal(writer.transport, transport);
    transport.setWriteBufferLimits(4);
    writer.write(bytes("0123456789"));
    let drained = false;
    const drain = writer.drain().then(() => (drained = true));
    for (let i = 0; i < 5; i++) await sleep(0);
    assert.ok(!drained, "drain() waits while the buffer is over the mark");
    release();
    await drain;
    assert.ok(writer.canWriteEof());
    writer.writelines([bytes("a"), bytes("b")]);
    writer.close();
    assert.ok(writer.isClosing());
    await writer.waitClosed();
    assert.equal(written.join(""), "0123456789ab");
    await assert.rejects(writer.drain(), Deno.errors.ConnectionReset);
    assert.equal(writer.getExtraInfo("pipe"), sink);
  },
);

procTest(
  "FlowControlMixin: connectionLost(exc) fails a waiting drain with exc",
  async (loop) => {
    const proto = new FlowControlMixin(loop);
    proto.pauseWriting();
    const waiting = proto._drainHelper();
    const broken = new Deno.errors.BrokenPipe("gone");
    loop.callSoon(() => proto.connectionLost(broken));
    await assert.rejects(waiting, (e) => e === broken);
    const writer = new StreamWriter({} as WritableTransport, proto, null, loop);
    assert.ok(writer.toString().startsWith("<StreamWriter"));
  },
);
