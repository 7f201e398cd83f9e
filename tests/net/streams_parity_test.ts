/**
 * asyncio's documented stream behaviour, checked edge by edge:
 * `StreamReader` reads at zero, negative sizes, EOF and over its limit,
 * errors and cancellation while a read waits, transport flow control,
 * `StreamWriter`'s methods and `drain()` after a lost connection, and the
 * stream helpers over TCP and Unix sockets. Reader-only checks run on both
 * loops; socket checks on the real one.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  CancelledError,
  DefaultEventLoopPolicy,
  EventLoop,
  FlowControlMixin,
  IncompleteReadError,
  LimitOverrunError,
  openConnection,
  openUnixConnection,
  RuntimeError,
  type Server,
  setEventLoop,
  SOCK_STREAM,
  socket,
  startServer,
  startUnixServer,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  Task,
  TimeoutError,
  type Transport,
  waitFor,
  type WritableTransport,
} from "../../mod.ts";
import { useEventLoopPolicy } from "../../testing/mod.ts";
import { assertSameBytes, bytes, netTest, pattern, text } from "./_net.ts";
import { procTest } from "../process/_proc.ts";

const DATA = bytes("line1\nline2\nline3\n");

/** A transport stand-in that records flow-control calls. */
class FlowRecorder {
  calls: string[] = [];
  pauseReading(): void {
    this.calls.push("pause");
  }
  resumeReading(): void {
    this.calls.push("resume");
  }
}

/** A writable transport stand-in for `StreamWriter` unit checks. */
function fakeWritable(closing = false): WritableTransport {
  return {
    write: () => {},
    writeEof: () => {},
    canWriteEof: () => true,
    isClosing: () => closing,
    close: () => {
      closing = true;
    },
    getExtraInfo: (_name: string, defaultValue: unknown = null) => defaultValue,
  } as unknown as WritableTransport;
}

/** Ends the stream and returns everything still buffered. */
async function remaining(reader: StreamReader): Promise<string> {
  reader.feedEof();
  return text(await reader.read());
}

/** The error `promise` rejects with (fails if it resolves). */
async function failure(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

function portOf(server: Server): number {
  return (server.sockets[0].getsockname() as [string, number])[1];
}

async function closeServer(server: Server): Promise<void> {
  server.close();
  await server.waitClosed();
}

async function closeWriter(writer: StreamWriter): Promise<void> {
  writer.close();
  await writer.waitClosed();
}

/** Reads one line, writes it back, closes: the classic one-shot echo. */
async function echoOneLine(
  reader: StreamReader,
  writer: StreamWriter,
): Promise<void> {
  const line = await reader.readline();
  writer.write(line);
  await writer.drain();
  writer.close();
  await writer.waitClosed();
}

/** Sends one line, reads the reply, closes. */
async function askOneLine(
  reader: StreamReader,
  writer: StreamWriter,
  line: string,
): Promise<string> {
  writer.write(bytes(line));
  const reply = text(await reader.readline());
  await closeWriter(writer);
  return reply;
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "aioloop-parity-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------- read()

procTest(
  "StreamReader.read(0) returns empty bytes at once and keeps the buffer",
  async (loop) => {
    const empty = new StreamReader(undefined, { loop });
    // Nothing buffered and no EOF: still no wait.
    assert.equal((await empty.read(0)).length, 0);
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(DATA);
    assert.equal((await reader.read(0)).length, 0);
    assert.equal(await remaining(reader), text(DATA));
  },
);

procTest(
  "StreamReader.read(n) takes up to n bytes across the chunks fed",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("line1"));
    reader.feedData(bytes("line2"));
    assert.equal(text(await reader.read(5)), "line1");
    reader.feedData(bytes("line3"));
    assert.equal(text(await reader.read(7)), "line2li");
    assert.equal(await remaining(reader), "ne3");
  },
);

procTest(
  "StreamReader.read(n) refuses a fractional size and keeps its buffer intact",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("12345"));
    assert.ok((await failure(reader.read(2.5))) instanceof TypeError);
    assert.equal(String(reader), "<StreamReader 5 bytes>");
    const waiting = new StreamReader(undefined, { loop });
    assert.ok((await failure(waiting.read(1.5))) instanceof TypeError);
    waiting.feedData(bytes("987"));
    assert.equal(text(await waiting.readexactly(3)), "987");
    // Infinity is a bound like any other: everything buffered.
    assert.equal(text(await reader.read(Infinity)), "12345");
  },
);

procTest(
  "StreamReader.read(n) waits for data, then returns what arrived",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const pending = reader.read(30);
    loop.callSoon(() => reader.feedData(DATA));
    assert.equal(text(await pending), text(DATA));
    assert.equal(await remaining(reader), "");
  },
);

procTest(
  "StreamReader.read(n) and readexactly(n) are not bounded by the limit",
  async (loop) => {
    const reader = new StreamReader(3, { loop });
    reader.feedData(bytes("chunk"));
    assert.equal(text(await reader.read(5)), "chunk");
    reader.feedData(bytes("chunk"));
    assert.equal(text(await reader.readexactly(5)), "chunk");
    assert.equal(await remaining(reader), "");
  },
);

procTest(
  "StreamReader.read() with any negative size reads until EOF",
  async (loop) => {
    for (const n of [-1, -7]) {
      const reader = new StreamReader(undefined, { loop });
      const all = reader.read(n);
      loop.callSoon(() => {
        reader.feedData(bytes("chunk1\n"));
        reader.feedData(bytes("chunk2"));
        reader.feedEof();
      });
      assert.equal(text(await all), "chunk1\nchunk2", `read(${n})`);
      assert.equal(reader.atEof(), true);
    }
  },
);

procTest(
  "StreamReader.read(n) resolves empty when EOF comes while it waits",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const pending = reader.read(1024);
    loop.callSoon(() => reader.feedEof());
    assert.equal((await pending).length, 0);
    assert.equal((await reader.read(1024)).length, 0);
    assert.equal((await reader.read()).length, 0);
    assert.equal(reader.atEof(), true);
  },
);

procTest(
  "StreamReader: a set exception wins over buffered data in every read",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("line\nmore\n"));
    assert.equal(text(await reader.read(2)), "li");
    const boom = new TypeError("boom");
    reader.setException(boom);
    const reads: [string, () => Promise<Uint8Array>][] = [
      ["read(2)", () => reader.read(2)],
      ["read(0)", () => reader.read(0)],
      ["read()", () => reader.read()],
      ["readline()", () => reader.readline()],
      ["readexactly(2)", () => reader.readexactly(2)],
      ["readexactly(0)", () => reader.readexactly(0)],
      ["readuntil()", () => reader.readuntil(bytes("\n"))],
    ];
    for (const [name, read] of reads) {
      assert.equal(await failure(read()), boom, name);
    }
    assert.equal(reader.exception(), boom);
  },
);

// ------------------------------------------------------------ readline()

procTest(
  "StreamReader.readline() joins chunks up to the newline and keeps the rest",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("chunk1 "));
    const line = reader.readline();
    loop.callSoon(() => {
      reader.feedData(bytes("chunk2 "));
      reader.feedData(bytes("chunk3 "));
      reader.feedData(bytes("\n chunk4"));
    });
    assert.equal(text(await line), "chunk1 chunk2 chunk3 \n");
    assert.equal(await remaining(reader), " chunk4");
  },
);

procTest(
  "StreamReader.readline() over the limit with the data already buffered",
  async (loop) => {
    // The newline is there: only the long line is dropped.
    const found = new StreamReader(3, { loop });
    found.feedData(bytes("li"));
    found.feedData(bytes("ne1\nline2\n"));
    assert.ok((await failure(found.readline())) instanceof RangeError);
    assert.equal(await remaining(found), "line2\n");
    // No newline, and already more than the limit: the buffer is dropped.
    const missing = new StreamReader(3, { loop });
    missing.feedData(bytes("li"));
    missing.feedData(bytes("ne1"));
    missing.feedData(bytes("li"));
    assert.ok((await failure(missing.readline())) instanceof RangeError);
    assert.equal(await remaining(missing), "");
  },
);

procTest(
  "StreamReader.readline() over the limit with the data arriving while it waits",
  async (loop) => {
    const dropped = new StreamReader(7, { loop });
    const first = dropped.readline();
    loop.callSoon(() => {
      dropped.feedData(bytes("chunk1"));
      dropped.feedData(bytes("chunk2"));
      dropped.feedData(bytes("chunk3\n"));
      dropped.feedEof();
    });
    assert.ok((await failure(first)) instanceof RangeError);
    assert.equal(text(await dropped.read()), "");

    const kept = new StreamReader(7, { loop });
    const second = kept.readline();
    loop.callSoon(() => {
      kept.feedData(bytes("chunk1"));
      kept.feedData(bytes("chunk2\n"));
      kept.feedData(bytes("chunk3\n"));
      kept.feedEof();
    });
    assert.ok((await failure(second)) instanceof RangeError);
    assert.equal(text(await kept.read()), "chunk3\n");
  },
);

procTest(
  "StreamReader.readline() measures the limit without the newline",
  async (loop) => {
    const reader = new StreamReader(7, { loop });
    reader.feedData(bytes("1234567\n"));
    assert.equal(text(await reader.readline()), "1234567\n");
    reader.feedData(bytes("12345678\n"));
    const found = await failure(reader.readline());
    assert.ok(found instanceof RangeError);
    assert.match((found as Error).message, /is found/);
    reader.feedData(bytes("12345678"));
    const missing = await failure(reader.readline());
    assert.ok(missing instanceof RangeError);
    assert.match((missing as Error).message, /not found/);
    assert.equal(await remaining(reader), "");
  },
);

procTest(
  "StreamReader.readline() then read(n) continue where the line ended",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(DATA.subarray(0, 6));
    reader.feedData(DATA.subarray(6));
    assert.equal(text(await reader.readline()), "line1\n");
    assert.equal(text(await reader.read(7)), "line2\nl");
    assert.equal(await remaining(reader), "ine3\n");
  },
);

procTest(
  "StreamReader.readline() at EOF returns the unterminated rest, then empty bytes",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("some data"));
    reader.feedEof();
    assert.equal(text(await reader.readline()), "some data");
    assert.equal((await reader.readline()).length, 0);
    const empty = new StreamReader(undefined, { loop });
    empty.feedEof();
    assert.equal((await empty.readline()).length, 0);
  },
);

// ----------------------------------------------------------- readuntil()

procTest(
  "StreamReader.readuntil() refuses an empty separator or an empty list",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("abc"));
    const empty = await failure(reader.readuntil(new Uint8Array(0)));
    assert.ok(empty instanceof RangeError);
    assert.match((empty as Error).message, /Separator should be/);
    assert.ok((await failure(reader.readuntil([]))) instanceof RangeError);
    const emptyInList = reader.readuntil([bytes("b"), new Uint8Array(0)]);
    assert.ok((await failure(emptyInList)) instanceof RangeError);
    assert.equal(await remaining(reader), "abc");
  },
);

procTest(
  "StreamReader.readuntil() returns through the first separator, keeping the rest",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("lineAAA"));
    assert.equal(text(await reader.readuntil(bytes("AAA"))), "lineAAA");
    reader.feedData(bytes("lineAAAxxx"));
    assert.equal(text(await reader.readuntil(bytes("AAA"))), "lineAAA");
    assert.equal(await remaining(reader), "xxx");
  },
);

procTest(
  "StreamReader.readuntil() finds a separator split across chunks",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const aaa = bytes("aaa");
    const cases: [string[], string][] = [
      [["QWEaa", "XYaa", "a"], "QWEaaXYaaa"],
      [["QWEaa", "XYa", "aa"], "QWEaaXYaaa"],
      [["aaa"], "aaa"],
      [["Xaaa"], "Xaaa"],
      [["XXX", "a", "a", "a"], "XXXaaa"],
    ];
    for (const [chunks, expected] of cases) {
      for (const chunk of chunks) reader.feedData(bytes(chunk));
      assert.equal(text(await reader.readuntil(aaa)), expected);
    }
    assert.equal(await remaining(reader), "");
  },
);

procTest(
  "StreamReader.readuntil() waits while the separator arrives byte by byte",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const result = reader.readuntil(bytes("aaa"));
    const pieces = ["XXa", "a", "Ya", "a", "a", "tail"];
    const fed = loop.createFuture<null>();
    const feedNext = () => {
      reader.feedData(bytes(pieces.shift()!));
      if (pieces.length > 0) loop.callSoon(feedNext);
      else fed.setResult(null);
    };
    loop.callSoon(feedNext);
    assert.equal(text(await result), "XXaaYaaa");
    await fed;
    assert.equal(await remaining(reader), "tail");
  },
);

procTest(
  "StreamReader.readuntil() at EOF without the separator: IncompleteReadError",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("some dataAA"));
    reader.feedEof();
    const error = await failure(reader.readuntil(bytes("AAA")));
    assert.ok(error instanceof IncompleteReadError);
    assert.equal(text(error.partial), "some dataAA");
    assert.equal(error.expected, null);
    assert.equal(
      error.message,
      "11 bytes read on a total of undefined expected bytes",
    );
    assert.equal(reader.atEof(), true);
  },
);

procTest(
  "StreamReader.readuntil() over the limit: LimitOverrunError keeps the data buffered",
  async (loop) => {
    const reader = new StreamReader(3, { loop });
    reader.feedData(bytes("some dataAA"));
    const missing = await failure(reader.readuntil(bytes("AAA")));
    assert.ok(missing instanceof LimitOverrunError);
    assert.match(missing.message, /not found/);
    // Everything but the last (separator length - 1) bytes was searched.
    assert.equal(missing.consumed, 9);
    reader.feedData(bytes("A"));
    const found = await failure(reader.readuntil(bytes("AAA")));
    assert.ok(found instanceof LimitOverrunError);
    assert.match(found.message, /is found/);
    assert.equal(found.consumed, 9);
    assert.equal(text(await reader.readexactly(12)), "some dataAAA");
  },
);

procTest(
  "StreamReader.readuntil() with several separators ends at the earliest one",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("wxyz|aXYZ|"));
    // The list's order does not matter: the shortest chunk wins.
    assert.equal(
      text(await reader.readuntil([bytes("xyz|"), bytes("wx")])),
      "wx",
    );
    assert.equal(
      text(await reader.readuntil([bytes("XYZ"), bytes("|")])),
      "yz|",
    );
    const waiting = reader.readuntil([bytes("\r\n"), bytes("!!")]);
    loop.callSoon(() => {
      reader.feedData(bytes("!"));
      loop.callSoon(() => reader.feedData(bytes("\r\n!!")));
    });
    assert.equal(text(await waiting), "aXYZ|!\r\n");
    assert.equal(await remaining(reader), "!!");
  },
);

procTest(
  "StreamReader.readuntil() with several separators: limits and EOF",
  async (loop) => {
    // Two separators ending at the same byte: the shorter one is the match,
    // and the limit is measured to where it starts.
    const tie = new StreamReader(3, { loop });
    tie.feedData(bytes("def\r\n"));
    const overrun = await failure(tie.readuntil([bytes("\r\n"), bytes("\n")]));
    assert.ok(overrun instanceof LimitOverrunError);
    assert.equal(overrun.consumed, 4);
    assert.equal(await remaining(tie), "def\r\n");

    // Not found: the searched prefix spares the longest separator's tail.
    const longest = new StreamReader(5, { loop });
    longest.feedData(bytes("0123456789"));
    const notFound = await failure(
      longest.readuntil([bytes("!"), bytes("!!!!")]),
    );
    assert.ok(notFound instanceof LimitOverrunError);
    assert.equal(notFound.consumed, 7);

    const eof = new StreamReader(undefined, { loop });
    eof.feedData(bytes("no end"));
    eof.feedEof();
    const incomplete = await failure(eof.readuntil([bytes("."), bytes("!")]));
    assert.ok(incomplete instanceof IncompleteReadError);
    assert.equal(text(incomplete.partial), "no end");
    assert.equal(eof.atEof(), true);
  },
);

// --------------------------------------------------------- readexactly()

procTest(
  "StreamReader.readexactly() of zero or a negative size leaves the buffer alone",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(DATA);
    assert.equal((await reader.readexactly(0)).length, 0);
    const negative = await failure(reader.readexactly(-1));
    assert.ok(negative instanceof RangeError);
    assert.match((negative as Error).message, /less than zero/);
    assert.equal(await remaining(reader), text(DATA));
  },
);

procTest(
  "StreamReader.readexactly() waits across chunks and keeps the surplus",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const exact = reader.readexactly(2 * DATA.length);
    loop.callSoon(() => {
      reader.feedData(DATA);
      reader.feedData(DATA);
      reader.feedData(DATA);
    });
    assert.equal(text(await exact), text(DATA) + text(DATA));
    assert.equal(await remaining(reader), text(DATA));
  },
);

procTest(
  "StreamReader.readexactly() at EOF: IncompleteReadError with what arrived",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const n = 2 * DATA.length;
    const exact = reader.readexactly(n);
    loop.callSoon(() => {
      reader.feedData(DATA);
      reader.feedEof();
    });
    const error = await failure(exact);
    assert.ok(error instanceof IncompleteReadError);
    assert.equal(text(error.partial), text(DATA));
    assert.equal(error.expected, n);
    assert.equal(
      error.message,
      "18 bytes read on a total of 36 expected bytes",
    );
    assert.equal(reader.atEof(), true);
  },
);

// ------------------------------------------------ atEof(), exception()

procTest(
  "StreamReader.atEof() holds once EOF is fed and the buffer is empty",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    assert.equal(reader.atEof(), false);
    reader.feedData(bytes("some data\n"));
    assert.equal(reader.atEof(), false);
    await reader.readline();
    assert.equal(reader.atEof(), false);
    reader.feedData(bytes("some data\n"));
    reader.feedEof();
    assert.equal(reader.atEof(), false);
    await reader.readline();
    assert.equal(reader.atEof(), true);
  },
);

procTest(
  "StreamReader.setException() fails a read waiting in another task",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    assert.equal(reader.exception(), null);
    const boom = new SyntaxError("bad frame");
    const reading = loop.createTask(() => reader.readline());
    const setting = loop.createTask(async () => reader.setException(boom));
    await setting;
    assert.equal(await failure(reading), boom);
    assert.equal(reader.exception(), boom);
  },
);

procTest(
  "StreamReader.setException() fails each kind of waiting read and keeps partial data",
  async (loop) => {
    const reads: [string, (r: StreamReader) => Promise<Uint8Array>][] = [
      ["read(10)", (r) => r.read(10)],
      ["read()", (r) => r.read()],
      ["readline()", (r) => r.readline()],
      ["readexactly(10)", (r) => r.readexactly(10)],
      ["readuntil()", (r) => r.readuntil([bytes("!"), bytes("?")])],
    ];
    for (const [name, read] of reads) {
      const reader = new StreamReader(undefined, { loop });
      if (name !== "read(10)") reader.feedData(bytes("part"));
      const pending = read(reader);
      const boom = new Deno.errors.ConnectionReset(name);
      reader.setException(boom);
      assert.equal(await failure(pending), boom, name);
      if (name !== "read(10)" && name !== "read()") {
        assert.match(String(reader), /4 bytes/, name);
      }
    }
  },
);

procTest(
  "StreamReader.setException() after the waiting read was cancelled is harmless",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const reading = new Task(() => reader.readline(), {
      loop,
      eagerStart: true,
    });
    assert.match(String(reader), /waiter/);
    reading.cancel();
    assert.ok((await failure(reading)) instanceof CancelledError);
    const late = new RuntimeError("message");
    reader.setException(late);
    assert.doesNotMatch(String(reader), /waiter/);
    assert.equal(await failure(reader.read(1)), late);
  },
);

// ---------------------------------------------------------- cancellation

procTest(
  "StreamReader: a read cancelled while waiting leaves the data to the next read",
  async (loop) => {
    const cases: [
      string,
      string,
      (r: StreamReader) => Promise<Uint8Array>,
      string,
      string,
    ][] = [
      ["read(10)", "", (r) => r.read(10), "abc\n", "abc\n"],
      ["readline()", "ab", (r) => r.readline(), "c\nd", "abc\n"],
      ["readexactly(4)", "ab", (r) => r.readexactly(4), "cd", "abcd"],
      ["readuntil()", "a!", (r) => r.readuntil(bytes("!!")), "!x", "a!!"],
    ];
    for (const [name, before, read, after, expected] of cases) {
      for (const feedFirst of [false, true]) {
        const reader = new StreamReader(undefined, { loop });
        if (before !== "") reader.feedData(bytes(before));
        const task = new Task(() => read(reader), { loop, eagerStart: true });
        assert.equal(task.done(), false, `${name} waits`);
        task.cancel();
        assert.ok(
          (await failure(task)) instanceof CancelledError,
          `${name} is cancelled`,
        );
        let next: Promise<Uint8Array>;
        if (feedFirst) {
          reader.feedData(bytes(after));
          next = read(reader);
        } else {
          next = read(reader);
          reader.feedData(bytes(after));
        }
        assert.equal(text(await next), expected, `${name} afterwards`);
      }
    }
  },
);

procTest(
  "StreamReader: an eager read fed and cancelled before it resumes leaves the data buffered",
  async (loop) => {
    const cases: [string, (r: StreamReader) => Promise<Uint8Array>][] = [
      ["read(10)", (r) => r.read(10)],
      ["readline()", (r) => r.readline()],
      ["readexactly(4)", (r) => r.readexactly(4)],
      ["readuntil()", (r) => r.readuntil(bytes("\n"))],
    ];
    for (const [name, read] of cases) {
      const reader = new StreamReader(undefined, { loop });
      const task = new Task(() => read(reader), { loop, eagerStart: true });
      // In one synchronous block: the data the read waits for arrives, and
      // the task is cancelled before it could resume.
      reader.feedData(bytes("abc\n"));
      assert.equal(task.cancel(), true, name);
      assert.ok((await failure(task)) instanceof CancelledError, name);
      assert.equal(await remaining(reader), "abc\n", name);
    }
  },
);

procTest(
  "StreamReader: a read cancelled after part of its data arrived leaves it all buffered",
  async (loop) => {
    const cases: [string, (r: StreamReader) => Promise<Uint8Array>][] = [
      ["readline()", (r) => r.readline()],
      ["readline() in a coroutine", async (r) => await r.readline()],
      ["readexactly(4)", (r) => r.readexactly(4)],
      ["readuntil()", (r) => r.readuntil(bytes("\n"))],
    ];
    for (const [name, read] of cases) {
      const reader = new StreamReader(undefined, { loop });
      const task = new Task(() => read(reader), { loop, eagerStart: true });
      // Wakes the read, which finds "ab" not enough and waits again; the
      // callback queued after the wake-up runs once it is waiting.
      reader.feedData(bytes("ab"));
      loop.callSoon(() => {
        task.cancel();
        reader.feedData(bytes("c\n"));
      });
      assert.ok((await failure(task)) instanceof CancelledError, name);
      assert.equal(await remaining(reader), "abc\n", name);
    }
  },
);

procTest(
  "StreamReader.readline() under waitFor(): a timeout keeps the partial line",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    loop.callLater(0.01, () => reader.feedData(bytes("par")));
    const error = await failure(waitFor(reader.readline(), 0.05));
    assert.ok(error instanceof TimeoutError);
    reader.feedData(bytes("tial\n"));
    assert.equal(text(await reader.readline()), "partial\n");
  },
  { seconds: 5 },
);

procTest(
  "StreamReader: a second read while one waits is a RuntimeError, whatever its kind",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const first = reader.read(3);
    const others: [string, () => Promise<Uint8Array>][] = [
      ["read(1)", () => reader.read(1)],
      ["read()", () => reader.read()],
      ["readline()", () => reader.readline()],
      ["readexactly(2)", () => reader.readexactly(2)],
      ["readuntil()", () => reader.readuntil([bytes(";")])],
    ];
    for (const [name, read] of others) {
      const error = await failure(read());
      assert.ok(error instanceof RuntimeError, name);
      assert.match(
        (error as Error).message,
        /already waiting for incoming data/,
      );
    }
    reader.feedData(bytes("xyz;"));
    assert.equal(text(await first), "xyz");
    assert.equal(await remaining(reader), ";");
  },
);

// ---------------------------------------------------------- flow control

procTest(
  "StreamReader: a read that must wait resumes a paused transport",
  async (loop) => {
    const reader = new StreamReader(4, { loop });
    const transport = new FlowRecorder();
    reader.setTransport(transport);
    reader.feedData(pattern(9));
    assert.deepEqual(transport.calls, ["pause"]);
    // 12 bytes need more than the 9 buffered: waiting while paused would
    // never end, so the wait resumes the transport first.
    const exact = reader.readexactly(12);
    assert.deepEqual(transport.calls, ["pause", "resume"]);
    // Over 2 × limit again: paused again, until the read takes the bytes.
    loop.callSoon(() => reader.feedData(pattern(3, 9)));
    assertSameBytes(await exact, pattern(12));
    assert.deepEqual(transport.calls, ["pause", "resume", "pause", "resume"]);
  },
);

procTest(
  "StreamReader: dropping an over-long line resumes a paused transport",
  async (loop) => {
    const reader = new StreamReader(4, { loop });
    const transport = new FlowRecorder();
    reader.setTransport(transport);
    reader.feedData(bytes("0123456789"));
    assert.deepEqual(transport.calls, ["pause"]);
    assert.ok((await failure(reader.readline())) instanceof RangeError);
    assert.deepEqual(transport.calls, ["pause", "resume"]);
  },
);

procTest(
  "StreamReader: a transport that cannot pause is forgotten, and data still buffers",
  async (loop) => {
    const reader = new StreamReader(2, { loop });
    let pauses = 0;
    reader.setTransport({
      pauseReading() {
        pauses++;
        throw new Error("this transport cannot pause");
      },
      resumeReading() {
        assert.fail("a transport that never paused is never resumed");
      },
    });
    reader.feedData(bytes("12345"));
    reader.feedData(bytes("67890"));
    assert.equal(pauses, 1);
    assert.equal(text(await reader.read(100)), "1234567890");
    reader.feedData(bytes("abcdefgh"));
    assert.equal(pauses, 1);
    assert.equal(await remaining(reader), "abcdefgh");
  },
);

// ------------------------------------------------------- async iteration

procTest(
  "StreamReader async iteration: a break leaves the rest; an error ends it",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    reader.feedData(bytes("a\nb\nc\n"));
    for await (const line of reader) {
      assert.equal(text(line), "a\n");
      break;
    }
    assert.equal(text(await reader.readline()), "b\n");
    const seen: string[] = [];
    const boom = new Error("reset");
    const iterating = (async () => {
      for await (const line of reader) {
        seen.push(text(line));
        if (seen.length === 1) loop.callSoon(() => reader.setException(boom));
      }
    })();
    assert.equal(await failure(iterating), boom);
    assert.deepEqual(seen, ["c\n"]);
  },
);

// ------------------------------------------------ constructors, toString

Deno.test("StreamReader and its protocol take the current event loop when none runs", async () => {
  using _policy = useEventLoopPolicy(new DefaultEventLoopPolicy());
  const loop = new EventLoop();
  try {
    setEventLoop(loop);
    const reader = new StreamReader();
    const protocol = new StreamReaderProtocol(reader);
    assert.equal((protocol as unknown as { _loop: unknown })._loop, loop);
    assert.equal(
      (new FlowControlMixin() as unknown as { _loop: unknown })._loop,
      loop,
    );
    // The wait is a future of that loop: running it delivers the line.
    const line = reader.readline();
    const got = await loop.runUntilComplete(async () => {
      reader.feedData(bytes("hello\n"));
      return await line;
    });
    assert.equal(text(got), "hello\n");
    setEventLoop(null);
    assert.throws(() => new StreamReader(), RuntimeError);
    assert.throws(() => new FlowControlMixin(), RuntimeError);
  } finally {
    loop.close();
  }
});

procTest(
  "StreamReader.toString() names its size, EOF, limit and exception",
  async (loop) => {
    assert.equal(
      String(new StreamReader(undefined, { loop })),
      "<StreamReader>",
    );
    assert.equal(
      String(new StreamReader(123, { loop })),
      "<StreamReader limit=123>",
    );
    const eof = new StreamReader(undefined, { loop });
    eof.feedEof();
    assert.equal(String(eof), "<StreamReader eof>");
    const data = new StreamReader(undefined, { loop });
    data.feedData(bytes("data"));
    assert.equal(String(data), "<StreamReader 4 bytes>");
    const failed = new StreamReader(undefined, { loop });
    failed.setException(new RangeError("why"));
    assert.match(String(failed), /^<StreamReader exception=.*RangeError.*>$/);
  },
);

// ------------------------------------------------------ StreamWriter unit

procTest(
  "StreamWriter.drain() wakes every waiting writer when writing resumes",
  async (loop) => {
    const protocol = new FlowControlMixin(loop);
    const writer = new StreamWriter(fakeWritable(), protocol, null, loop);
    protocol.pauseWriting();
    const order: string[] = [];
    const drains = Array.from(
      { length: 10 },
      () => writer.drain().then(() => order.push("drained")),
    );
    loop.callSoon(() => {
      order.push("resumed");
      protocol.resumeWriting();
    });
    await Promise.all(drains);
    assert.deepEqual(order, ["resumed", ...Array(10).fill("drained")]);
    // Not paused any more: a drain returns at once.
    await writer.drain();
  },
);

procTest(
  "StreamWriter.drain() raises the reader's exception first",
  async (loop) => {
    for (const closing of [false, true]) {
      const reader = new StreamReader(undefined, { loop });
      const protocol = new StreamReaderProtocol(reader, null, loop);
      const writer = new StreamWriter(
        fakeWritable(closing),
        protocol,
        reader,
        loop,
      );
      await writer.drain();
      const boom = new Deno.errors.BrokenPipe("peer gone");
      reader.setException(boom);
      assert.equal(await failure(writer.drain()), boom, `closing=${closing}`);
    }
  },
);

procTest(
  "StreamWriter.drain(): a clean loss wakes a paused drain, later drains raise ConnectionReset",
  async (loop) => {
    const protocol = new FlowControlMixin(loop);
    const writer = new StreamWriter(fakeWritable(), protocol, null, loop);
    protocol.pauseWriting();
    const waiting = writer.drain();
    loop.callSoon(() => protocol.connectionLost(null));
    await waiting;
    assert.ok(
      (await failure(writer.drain())) instanceof Deno.errors.ConnectionReset,
    );
  },
);

procTest(
  "StreamReaderProtocol.connectionLost(exc) fails reads, waitClosed() and drain() with exc",
  async (loop) => {
    const reader = new StreamReader(undefined, { loop });
    const protocol = new StreamReaderProtocol(reader, null, loop);
    const writer = new StreamWriter(fakeWritable(), protocol, reader, loop);
    const reading = reader.read();
    const boom = new EvalError("lost");
    protocol.connectionLost(boom);
    assert.equal(await failure(reading), boom);
    assert.equal(await failure(writer.waitClosed()), boom);
    assert.equal(await failure(writer.drain()), boom);
  },
);

// ------------------------------------------------------- TCP and Unix

/** Starts a TCP echo server with `cb`, asks one line, closes the server. */
async function tcpRoundTrip(
  cb: (reader: StreamReader, writer: StreamWriter) => unknown,
  options: { sock?: boolean } = {},
): Promise<string> {
  let server: Server;
  if (options.sock) {
    const sock = socket(AF_INET, SOCK_STREAM);
    sock.bind(["127.0.0.1", 0]);
    server = await startServer(cb, null, null, { sock });
  } else {
    server = await startServer(cb, "127.0.0.1", 0);
  }
  try {
    const [reader, writer] = await openConnection("127.0.0.1", portOf(server));
    return await askOneLine(reader, writer, "hello world!\n");
  } finally {
    await closeServer(server);
  }
}

netTest(
  "startServer() over TCP with an async client_connected_cb",
  async () => {
    assert.equal(await tcpRoundTrip(echoOneLine), "hello world!\n");
    assert.equal(
      await tcpRoundTrip(echoOneLine, { sock: true }),
      "hello world!\n",
    );
  },
);

netTest(
  "startServer() over TCP with a plain client_connected_cb that starts a task",
  async ({ loop }) => {
    const handlers: Task<void>[] = [];
    const reply = await tcpRoundTrip((reader, writer) => {
      handlers.push(loop.createTask(() => echoOneLine(reader, writer)));
    });
    assert.equal(reply, "hello world!\n");
    assert.equal(handlers.length, 1);
    await handlers[0];
  },
);

netTest(
  "startServer(): a plain callback's returned promise runs as a watched task",
  async ({ takeErrors }) => {
    const boom = new Error("handler failed");
    const server = await startServer(
      (reader: StreamReader) =>
        reader.readline().then(() => {
          throw boom;
        }),
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      writer.write(bytes("go\n"));
      // The failure closes the connection: the client reads EOF.
      assert.equal((await reader.read()).length, 0);
      const errors = takeErrors();
      assert.deepEqual(
        errors.map((e) => [e.message, e.exception]),
        [["Unhandled exception in client_connected_cb", boom]],
      );
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "startUnixServer() with an async and with a plain client_connected_cb",
  async ({ loop }) => {
    await inTempDir(async (dir) => {
      const handlers: Task<void>[] = [];
      const callbacks: [
        string,
        (r: StreamReader, w: StreamWriter) => unknown,
      ][] = [
        ["async", echoOneLine],
        ["plain", (r, w) => {
          handlers.push(loop.createTask(() => echoOneLine(r, w)));
        }],
      ];
      for (const [kind, cb] of callbacks) {
        const path = `${dir}/${kind}.sock`;
        const server = await startUnixServer(cb, path);
        try {
          const [reader, writer] = await openUnixConnection(path);
          assert.equal(
            await askOneLine(reader, writer, `hello ${kind}!\n`),
            `hello ${kind}!\n`,
          );
        } finally {
          await closeServer(server);
        }
      }
      assert.equal(handlers.length, 1);
      await handlers[0];
    });
  },
);

netTest(
  "openConnection(): the writer's transport methods over TCP",
  async () => {
    const received = Promise.withResolvers<string>();
    let serverPeer: unknown = null;
    const server = await startServer(
      async (reader, writer) => {
        serverPeer = writer.getExtraInfo("peername");
        received.resolve(text(await reader.read()));
        writer.write(bytes("bye"));
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const port = portOf(server);
      const [reader, writer] = await openConnection("127.0.0.1", port);
      assert.equal(writer.canWriteEof(), true);
      assert.deepEqual(writer.getExtraInfo("peername"), ["127.0.0.1", port]);
      const [host, ownPort] = writer.getExtraInfo("sockname") as [
        string,
        number,
      ];
      assert.equal(host, "127.0.0.1");
      assert.ok(ownPort > 0 && ownPort !== port);
      assert.ok(writer.getExtraInfo("socket") != null);
      assert.equal(writer.getExtraInfo("no such key"), null);
      assert.equal(writer.getExtraInfo("no such key", "fallback"), "fallback");
      writer.write(bytes("one "));
      writer.writelines([bytes("two "), bytes("three")]);
      await writer.drain();
      writer.writeEof();
      assert.equal(await received.promise, "one two three");
      // The server's writer sees this client's address as its peer.
      assert.deepEqual(serverPeer, ["127.0.0.1", ownPort]);
      assert.equal(text(await reader.read()), "bye");
      assert.equal(writer.isClosing(), false);
      writer.close();
      assert.equal(writer.isClosing(), true);
      await writer.waitClosed();
      // Closed is closed: waiting again returns at once.
      await writer.waitClosed();
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "openUnixConnection(): the writer's transport methods over a Unix socket",
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/methods.sock`;
      const server = await startUnixServer(async (reader, writer) => {
        writer.write(await reader.read());
        await closeWriter(writer);
      }, path);
      try {
        const [reader, writer] = await openUnixConnection(path);
        assert.equal(writer.canWriteEof(), true);
        assert.equal(writer.getExtraInfo("peername"), path);
        writer.writelines([bytes("a"), bytes("b"), bytes("c")]);
        writer.writeEof();
        assert.equal(text(await reader.read()), "abc");
        assert.equal(reader.atEof(), true);
        await closeWriter(writer);
      } finally {
        await closeServer(server);
      }
    });
  },
);

netTest(
  "StreamWriter.waitClosed() returns with unread data still buffered",
  async () => {
    const server = await startServer(
      async (_reader, writer) => {
        writer.write(bytes("HTTP/1.0 200 OK\r\nA: b\r\n\r\nTest message"));
        await writer.drain();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      assert.equal(text(await reader.readline()), "HTTP/1.0 200 OK\r\n");
      assert.equal(writer.isClosing(), false);
      writer.close();
      assert.equal(writer.isClosing(), true);
      await writer.waitClosed();
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "StreamWriter.close() feeds EOF to the reader of the same connection",
  async () => {
    const server = await startServer(
      async (reader, writer) => {
        await reader.read();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      await closeWriter(writer);
      assert.equal(reader.atEof(), true);
      assert.equal((await reader.read()).length, 0);
      assert.equal(reader.exception(), null);
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "StreamWriter.drain() after close() raises ConnectionReset",
  async () => {
    const server = await startServer(
      async (reader, writer) => {
        await reader.read();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [, writer] = await openConnection("127.0.0.1", portOf(server));
      writer.close();
      writer.write(bytes("data"));
      assert.ok(
        (await failure(writer.drain())) instanceof
          Deno.errors.ConnectionReset,
      );
      await writer.waitClosed();
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "StreamWriter.drain() raises once the peer has closed the connection",
  async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const [, writer] = await openConnection(
      "127.0.0.1",
      listener.addr.port,
    );
    (await accepted).close();
    const error = await failure((async () => {
      for (;;) {
        writer.write(bytes("foo\n"));
        await writer.drain();
      }
    })());
    assert.ok(
      error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe ||
        error instanceof Deno.errors.ConnectionAborted,
      `unexpected ${error}`,
    );
    writer.close();
    assert.ok(
      (await failure(writer.waitClosed())) instanceof Error,
      "the connection closed with the error",
    );
  },
);

/**
 * Opens a client, makes its protocol lose the connection with an error of
 * its own, and checks what the reader and `waitClosed()` report.
 */
async function loseWithError(
  open: () => Promise<[StreamReader, StreamWriter]>,
): Promise<void> {
  const [reader, writer] = await open();
  const protocol = writer.transport.getProtocol() as StreamReaderProtocol;
  const closed = Promise.withResolvers<void>();
  const original = protocol.connectionLost.bind(protocol);
  let calls = 0;
  protocol.connectionLost = (exc) => {
    original(exc);
    if (++calls === 2) closed.resolve();
  };
  const boom = new URIError("lost on purpose");
  protocol.connectionLost(boom);
  assert.equal(await failure(reader.read()), boom);
  assert.equal(await failure(writer.waitClosed()), boom);
  writer.close();
  await closed.promise;
}

netTest(
  "openConnection(): a connection lost with an error fails read() and waitClosed()",
  async () => {
    const server = await startServer(
      async (reader, writer) => {
        await reader.read();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      await loseWithError(() => openConnection("127.0.0.1", portOf(server)));
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "openUnixConnection(): a connection lost with an error fails read() and waitClosed()",
  async () => {
    await inTempDir(async (dir) => {
      const path = `${dir}/lost.sock`;
      const server = await startUnixServer(async (reader, writer) => {
        await reader.read();
        await closeWriter(writer);
      }, path);
      try {
        await loseWithError(() => openUnixConnection(path));
      } finally {
        await closeServer(server);
      }
    });
  },
);

netTest(
  "openConnection(): the reader iterates the server's lines until EOF",
  async () => {
    const server = await startServer(
      async (_reader, writer) => {
        writer.write(DATA);
        writer.write(bytes("tail"));
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      const lines: string[] = [];
      for await (const line of reader) lines.push(text(line));
      assert.deepEqual(lines, ["line1\n", "line2\n", "line3\n", "tail"]);
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "openConnection({ limit }): readuntil() overruns and keeps the data; readexactly() is unbounded",
  async () => {
    const payload = bytes("x".repeat(100) + "!");
    const server = await startServer(
      async (reader, writer) => {
        writer.write(payload);
        await writer.drain();
        await reader.read();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
        { limit: 16 },
      );
      const overrun = await failure(reader.readuntil(bytes("!")));
      assert.ok(overrun instanceof LimitOverrunError);
      assert.ok(overrun.consumed > 16);
      assertSameBytes(await reader.readexactly(payload.length), payload);
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest(
  "startServer({ limit }) and startUnixServer({ limit }) bound the servers' readline()",
  async () => {
    /** Reads two lines; replies with what each gave. */
    const judge = async (reader: StreamReader, writer: StreamWriter) => {
      const verdicts: string[] = [];
      for (let i = 0; i < 2; i++) {
        try {
          verdicts.push(`ok ${(await reader.readline()).length}`);
        } catch (error) {
          verdicts.push((error as Error).name);
        }
      }
      writer.write(bytes(verdicts.join(",") + "\n"));
      await closeWriter(writer);
    };
    const request = bytes("y".repeat(40) + "\nshort\n");
    const tcp = await startServer(judge, "127.0.0.1", 0, { limit: 32 });
    try {
      const [reader, writer] = await openConnection("127.0.0.1", portOf(tcp));
      writer.write(request);
      assert.equal(text(await reader.readline()), "RangeError,ok 6\n");
      await closeWriter(writer);
    } finally {
      await closeServer(tcp);
    }
    await inTempDir(async (dir) => {
      const path = `${dir}/limit.sock`;
      const unix = await startUnixServer(judge, path, { limit: 32 });
      try {
        const [reader, writer] = await openUnixConnection(path, { limit: 4 });
        assert.equal(reader.limit, 4);
        writer.write(request);
        const reply = await failure(reader.readline());
        assert.ok(reply instanceof RangeError, "longer than the client's 4");
        await closeWriter(writer);
      } finally {
        await closeServer(unix);
      }
    });
  },
);

netTest(
  "openConnection({ limit }): the transport pauses past 2 × limit and resumes as the reader drains",
  async () => {
    const payload = pattern(256 * 1024);
    const server = await startServer(
      async (reader, writer) => {
        await reader.readline();
        writer.write(payload);
        await writer.drain();
        await closeWriter(writer);
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
        { limit: 1024 },
      );
      const transport = writer.transport as unknown as Transport;
      const calls: string[] = [];
      const paused = Promise.withResolvers<void>();
      const pause = transport.pauseReading.bind(transport);
      const resume = transport.resumeReading.bind(transport);
      transport.pauseReading = () => {
        calls.push("pause");
        pause();
        paused.resolve();
      };
      transport.resumeReading = () => {
        calls.push("resume");
        resume();
      };
      writer.write(bytes("send\n"));
      await paused.promise;
      assert.equal(transport.isReading(), false);
      assertSameBytes(await reader.readexactly(payload.length), payload);
      assert.equal(calls[0], "pause");
      assert.ok(calls.includes("resume"));
      assert.equal((await reader.read()).length, 0);
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);
