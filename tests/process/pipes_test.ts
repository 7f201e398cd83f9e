/**
 * Pipe transports: `connectReadPipe` / `connectWritePipe` over web streams
 * and `Deno.FsFile`s — callback order, flow control in both directions,
 * close/abort, errors, writes after close. Ported from the checks of
 * CPython's `test_unix_events.py` (UnixReadPipeTransportTests,
 * UnixWritePipeTransportTests) and `test_events.py` (test_read_pipe,
 * test_write_pipe*). Runs on both loops.
 */
import assert from "node:assert/strict";
import {
  BaseProtocol,
  Protocol,
  ReadPipeTransport,
  type ReadTransport,
  sleep,
  WritePipeTransport,
  type WriteTransport,
} from "../../mod.ts";
import { captureLogger } from "../_util.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  pattern,
  procTest,
  text,
} from "./_proc.ts";
import type { EventLoop, Future } from "../../mod.ts";

/** Records a read pipe's callbacks. */
class ReadRecorder extends Protocol {
  events: string[] = [];
  chunks: Uint8Array[] = [];
  lostWith: Error | null | undefined = undefined;
  transport: ReadTransport | null = null;
  readonly lost: Future<null>;
  onData: ((data: Uint8Array) => void) | null = null;
  constructor(loop: EventLoop) {
    super();
    this.lost = loop.createFuture<null>();
  }
  override connectionMade(transport: ReadTransport): void {
    this.events.push("made");
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    if (this.events.at(-1) !== "data") this.events.push("data");
    this.chunks.push(data);
    this.onData?.(data);
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

/** Records a write pipe's callbacks. */
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

/** An endless stream that counts its pulls and knows whether it was cancelled. */
function endless(chunk = 1024) {
  const state = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulls++;
      controller.enqueue(new Uint8Array(chunk));
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

/** A sink whose writes complete only when `release()` is called. */
function gatedSink() {
  const written: Uint8Array[] = [];
  let open: (() => void) | null = null;
  let gate = Promise.withResolvers<void>();
  const state = { closed: false, aborted: false as unknown };
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      await gate.promise;
      written.push(chunk);
    },
    close() {
      state.closed = true;
    },
    abort(reason) {
      state.aborted = reason ?? true;
    },
  });
  open = () => gate.resolve();
  return {
    stream,
    written,
    state,
    release() {
      open!();
    },
    hold() {
      gate = Promise.withResolvers<void>();
    },
  };
}

procTest(
  "connectReadPipe() calls made, data, eof, lost(null) in order",
  async (loop) => {
    const stream = ReadableStream.from([bytes("one "), bytes("two")]);
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    assert.ok(transport instanceof ReadPipeTransport);
    assert.equal(transport.getExtraInfo("pipe"), stream);
    assert.equal(transport.getProtocol(), protocol);
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "data", "eof", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(text(concat(protocol.chunks)), "one two");
    assert.ok(transport.isClosing());
    assert.ok(!transport.isReading());
  },
);

procTest(
  "connectReadPipe() accepts anything with .readable (a Deno.FsFile)",
  async (loop) => {
    const path = await Deno.makeTempFile();
    try {
      const data = pattern(300_000);
      await Deno.writeFile(path, data);
      const file = await Deno.open(path);
      const [transport, protocol] = await loop.connectReadPipe(
        () => new ReadRecorder(loop),
        file,
      );
      assert.equal(transport.getExtraInfo("pipe"), file);
      await protocol.lost;
      assertSameBytes(concat(protocol.chunks), data);
      assert.deepEqual(protocol.events, ["made", "data", "eof", "lost"]);
      // Reading the file's stream to its end closed the file (Deno's rule).
      assert.throws(() => file.statSync(), Deno.errors.BadResource);
    } finally {
      await Deno.remove(path);
    }
  },
);

procTest(
  "ReadPipeTransport.pauseReading() stops pulling from the stream",
  async (loop) => {
    const { stream, state } = endless();
    let transport: ReadTransport | null = null;
    let pullsAtPause = -1;
    const paused = loop.createFuture<null>();
    const protocolRef: { p: ReadRecorder | null } = { p: null };
    [transport] = await loop.connectReadPipe(() => {
      const p = new ReadRecorder(loop);
      protocolRef.p = p;
      p.onData = () => {
        if (p.chunks.length === 3) {
          p.transport!.pauseReading();
          pullsAtPause = state.pulls;
          paused.setResult(null);
        }
      };
      return p;
    }, stream);
    await paused;
    const protocol = protocolRef.p!;
    assert.ok(!transport.isReading());
    // Plenty of loop iterations: an endless stream would deliver a chunk in
    // each if the transport kept reading. What was read ahead stays bounded.
    for (let i = 0; i < 20; i++) await sleep(0);
    const pulls = state.pulls;
    for (let i = 0; i < 20; i++) await sleep(0);
    assert.equal(protocol.chunks.length, 3);
    assert.equal(state.pulls, pulls, "no pulls while paused");
    assert.ok(pulls - pullsAtPause <= 2, `read ahead ${pulls - pullsAtPause}`);
    assert.ok((transport as ReadPipeTransport)._pulledAhead <= 2);
    transport.pauseReading(); // a no-op
    const more = loop.createFuture<null>();
    protocol.onData = () => {
      if (protocol.chunks.length === 6 && !more.done()) {
        transport!.pauseReading();
        more.setResult(null);
      }
    };
    transport.resumeReading();
    assert.ok(transport.isReading());
    await more;
    transport.close();
    await protocol.lost;
    assert.equal(protocol.lostWith, null);
    assert.ok(state.cancelled, "closing cancels the stream");
    assert.deepEqual(protocol.events, ["made", "data", "lost"]);
  },
);

procTest(
  "ReadPipeTransport: a read completed while paused is held until resume",
  async (loop) => {
    const { readable, writable } = new TransformStream<
      Uint8Array,
      Uint8Array
    >();
    const writer = writable.getWriter();
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      readable,
    );
    await sleep(0);
    // A read is in flight; pausing now cannot recall it.
    transport.pauseReading();
    await writer.write(bytes("held"));
    for (let i = 0; i < 5; i++) await sleep(0);
    assert.equal(protocol.chunks.length, 0);
    transport.resumeReading();
    await writer.close();
    await protocol.lost;
    assert.equal(text(concat(protocol.chunks)), "held");
  },
);

procTest(
  "ReadPipeTransport.close() before EOF: connectionLost(null) once",
  async (loop) => {
    const { stream, state } = endless();
    const [transport, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    transport.close();
    transport.close();
    assert.ok(transport.isClosing());
    await protocol.lost;
    assert.deepEqual(protocol.events.filter((e) => e !== "data"), [
      "made",
      "lost",
    ]);
    assert.ok(state.cancelled);
    transport.resumeReading(); // no-ops after close
    transport.pauseReading();
  },
);

procTest(
  "connectReadPipe(): a protocol whose dataReceived throws is reported and closed",
  async (loop, fx) => {
    const boom = new Error("boom");
    const [, protocol] = await loop.connectReadPipe(() => {
      const p = new ReadRecorder(loop);
      p.onData = () => {
        throw boom;
      };
      return p;
    }, endless().stream);
    await protocol.lost;
    assert.equal(protocol.lostWith, boom);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0].message,
      "Fatal error: protocol.dataReceived() call failed.",
    );
    assert.equal(errors[0].exception, boom);
  },
);

procTest(
  "connectReadPipe(): a stream of non-bytes is a fatal TypeError",
  async (loop, fx) => {
    const stream = ReadableStream.from(["text" as unknown as Uint8Array]);
    const [, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    await protocol.lost;
    assert.ok(protocol.lostWith instanceof TypeError);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.message), [
      "Fatal read error on pipe transport",
    ]);
  },
);

procTest(
  "connectReadPipe(): a stream that errors with an OS error closes quietly",
  async (loop) => {
    const error = new Deno.errors.ConnectionReset("gone");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes("x"));
        controller.error(error);
      },
    });
    const [, protocol] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      stream,
    );
    await protocol.lost;
    assert.equal(protocol.lostWith, error);
    // Erroring a stream discards what it had queued.
    assert.deepEqual(protocol.events, ["made", "lost"]);
  },
);

procTest(
  "connectReadPipe() refuses what is not a readable pipe",
  async (loop) => {
    const factory = () => new ReadRecorder(loop);
    await assert.rejects(
      loop.connectReadPipe(factory, "a path" as never),
      TypeError,
    );
    await assert.rejects(loop.connectReadPipe(factory, 0 as never), TypeError);
    await assert.rejects(
      loop.connectReadPipe(factory, new WritableStream() as never),
      TypeError,
    );
    await assert.rejects(
      loop.connectReadPipe(null as never, new ReadableStream()),
      TypeError,
    );
    const locked = new ReadableStream<Uint8Array>();
    const reader = locked.getReader();
    await assert.rejects(loop.connectReadPipe(factory, locked), RangeError);
    reader.releaseLock();
  },
);

procTest(
  "connectWritePipe() writes in order; close() closes the stream, then connectionLost(null)",
  async (loop) => {
    const got: Uint8Array[] = [];
    let closed = false;
    const sink = new WritableStream<Uint8Array>({
      write(chunk) {
        got.push(chunk);
      },
      close() {
        closed = true;
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    assert.ok(transport instanceof WritePipeTransport);
    assert.equal(transport.getExtraInfo("pipe"), sink);
    assert.ok(transport.canWriteEof());
    transport.write(bytes("a"));
    transport.writelines([bytes("b"), bytes("c")]);
    transport.write(new Uint8Array(0));
    transport.close();
    assert.ok(transport.isClosing());
    await protocol.lost;
    assert.ok(closed);
    assert.equal(text(concat(got)), "abc");
    assert.deepEqual(protocol.events, ["made", "lost"]);
    assert.equal(protocol.lostWith, null);
    assert.equal(transport.getWriteBufferSize(), 0);
  },
);

procTest(
  "WritePipeTransport.write() after close is dropped, warning after a few",
  async (loop) => {
    using log = captureLogger();
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      new WritableStream<Uint8Array>(),
    );
    transport.writeEof();
    await protocol.lost;
    for (let i = 0; i < 5; i++) transport.write(bytes("x"));
    assert.equal(log.warnings.length, 0);
    transport.write(bytes("x"));
    assert.equal(log.warnings.length, 1);
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.throws(() => transport.write("text" as never), TypeError);
  },
);

procTest(
  "WritePipeTransport: pauseWriting() over the high mark, resumeWriting() at the low mark",
  async (loop) => {
    const sink = gatedSink();
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink.stream,
    );
    assert.deepEqual(transport.getWriteBufferLimits(), [16384, 65536]);
    transport.setWriteBufferLimits(1000, 100);
    assert.deepEqual(transport.getWriteBufferLimits(), [100, 1000]);
    assert.throws(() => transport.setWriteBufferLimits(10, 100), RangeError);
    assert.throws(() => transport.setWriteBufferLimits(-1), RangeError);
    transport.write(new Uint8Array(600));
    assert.deepEqual(protocol.events, ["made"]);
    transport.write(new Uint8Array(600));
    assert.deepEqual(protocol.events, ["made", "pause"]);
    assert.equal(transport.getWriteBufferSize(), 1200);
    transport.write(new Uint8Array(600)); // paused once only
    assert.deepEqual(protocol.events, ["made", "pause"]);
    const resumed = loop.createFuture<null>();
    const original = protocol.resumeWriting.bind(protocol);
    protocol.resumeWriting = () => {
      original();
      resumed.setResult(null);
    };
    sink.release();
    await resumed;
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.deepEqual(protocol.events, ["made", "pause", "resume"]);
    assert.equal(concat(sink.written).length, 1800);
    transport.close();
    await protocol.lost;
    assert.ok(sink.state.closed);
  },
);

procTest(
  "WritePipeTransport.abort() drops buffered data and aborts the stream",
  async (loop) => {
    const sink = gatedSink();
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink.stream,
    );
    transport.write(bytes("first"));
    transport.write(bytes("second"));
    transport.abort();
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.ok(transport.isClosing());
    sink.release();
    await protocol.lost;
    assert.equal(protocol.lostWith, null);
    assert.ok(!sink.state.closed);
    assert.notEqual(sink.state.aborted, false);
    assert.ok(!text(concat(sink.written)).includes("second"));
    transport.abort(); // idempotent
  },
);

procTest(
  "WritePipeTransport: a broken pipe ends it with connectionLost(error), not the exception handler",
  async (loop) => {
    const broken = new Deno.errors.BrokenPipe("reader went away");
    const sink = new WritableStream<Uint8Array>({
      write() {
        throw broken;
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    transport.write(bytes("x"));
    await protocol.lost;
    assert.equal(protocol.lostWith, broken);
    assert.ok(transport.isClosing());
  },
);

procTest(
  "WritePipeTransport: a non-OS write error reaches the exception handler",
  async (loop, fx) => {
    const boom = new Error("sink bug");
    const sink = new WritableStream<Uint8Array>({
      write() {
        throw boom;
      },
    });
    const [transport, protocol] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      sink,
    );
    transport.write(bytes("x"));
    await protocol.lost;
    assert.equal(protocol.lostWith, boom);
    const errors = fx.takeErrors();
    assert.deepEqual(errors.map((e) => e.message), [
      "Fatal write error on pipe transport",
    ]);
    assert.equal(errors[0].transport, transport);
  },
);

procTest(
  "connectWritePipe() to a Deno.FsFile; the file holds what was written",
  async (loop) => {
    const path = await Deno.makeTempFile();
    try {
      const file = await Deno.open(path, { write: true, truncate: true });
      const [transport, protocol] = await loop.connectWritePipe(
        () => new WriteRecorder(loop),
        file,
      );
      const data = pattern(500_000);
      transport.write(data.subarray(0, 100_000));
      transport.write(data.subarray(100_000));
      transport.writeEof();
      await protocol.lost;
      assertSameBytes(await Deno.readFile(path), data);
    } finally {
      await Deno.remove(path);
    }
  },
);

procTest(
  "connectWritePipe() refuses what is not a writable pipe",
  async (loop) => {
    const factory = () => new WriteRecorder(loop);
    await assert.rejects(
      loop.connectWritePipe(factory, new ReadableStream() as never),
      TypeError,
    );
    await assert.rejects(loop.connectWritePipe(factory, 1 as never), TypeError);
    const locked = new WritableStream<Uint8Array>();
    const writer = locked.getWriter();
    await assert.rejects(loop.connectWritePipe(factory, locked), RangeError);
    writer.releaseLock();
  },
);

procTest(
  "pipe transports connect to a child's pipes (cat as a relay)",
  async (loop) => {
    const child = new Deno.Command("cat", {
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const [writeT, writeP] = await loop.connectWritePipe(
      () => new WriteRecorder(loop),
      child.stdin,
    );
    const [, readP] = await loop.connectReadPipe(
      () => new ReadRecorder(loop),
      child.stdout,
    );
    const data = pattern(2_000_000);
    (writeT as WriteTransport).write(data);
    writeT.close();
    await writeP.lost;
    await readP.lost;
    assertSameBytes(concat(readP.chunks), data);
    assert.equal((await child.status).code, 0);
  },
);
