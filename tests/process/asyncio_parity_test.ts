/**
 * Behaviours of the stream, pipe and subprocess code that a review against
 * CPython's `asyncio` (`streams.py`, `subprocess.py`, `base_subprocess.py`,
 * `unix_events.py` and their tests) found missing or wrong, plus the parity
 * points around them. Runs on both loops.
 */
import assert from "node:assert/strict";
import {
  createSubprocessExec,
  createSubprocessShell,
  DEVNULL,
  LimitOverrunError,
  PIPE,
  Protocol,
  type ReadPipeTransport,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  type SubprocessTransport,
  type WritableTransport,
  type WritePipeTransport,
} from "../../mod.ts";
import { bytes, ProcRecorder, procTest, text } from "./_proc.ts";

// ---- StreamReader ----------------------------------------------------------

procTest(
  "StreamReader.readuntil() with several separators returns the shortest chunk",
  async () => {
    const reader = new StreamReader();
    // "abc" starts first but "b" ends first: the chunk ending at "b" wins.
    reader.feedData(bytes("xabcd"));
    assert.equal(
      text(await reader.readuntil([bytes("abc"), bytes("b")])),
      "xab",
    );
    assert.equal(text(await reader.read(10)), "cd");
  },
);

procTest(
  "StreamReader.readuntil() measures the limit against the shorter of two separators ending together",
  async () => {
    const reader = new StreamReader(2);
    reader.feedData(bytes("wxyzQ"));
    // Both end at "Q"; "Q" (at 4) is the match, so the chunk is over the
    // limit even though "xyzQ" starts at 1.
    await assert.rejects(
      reader.readuntil([bytes("xyzQ"), bytes("Q")]),
      (e) =>
        e instanceof LimitOverrunError && e.consumed === 4 &&
        /is found/.test(e.message),
    );
    assert.equal(text(await reader.read(10)), "wxyzQ", "the data stays");
  },
);

procTest(
  "StreamReader.readuntil() finds separators split across chunks",
  async (loop) => {
    const reader = new StreamReader();
    const line = reader.readuntil([bytes("<END>"), bytes("|")]);
    for (const part of ["data<E", "N", "D>tail"]) {
      loop.callSoon(() => reader.feedData(bytes(part)));
    }
    assert.equal(text(await line), "data<END>");
    reader.feedEof();
    assert.equal(text(await reader.read()), "tail");
  },
);

procTest(
  "StreamReader.readline() over the limit drops the line when its newline is buffered, else everything",
  async () => {
    const found = new StreamReader(4);
    found.feedData(bytes("too long\nok\n"));
    await assert.rejects(found.readline(), RangeError);
    assert.equal(text(await found.readline()), "ok\n");

    const missing = new StreamReader(4);
    missing.feedData(bytes("no newline yet"));
    await assert.rejects(missing.readline(), RangeError);
    missing.feedData(bytes(" end\n"));
    // The first part was dropped; the rest of that line reads as a line.
    assert.equal(text(await missing.readline()), " end\n");
  },
);

procTest(
  "StreamReader: read(0) and readexactly(0) consume nothing; read() at EOF is empty",
  async () => {
    const reader = new StreamReader();
    reader.feedData(bytes("ab"));
    assert.equal((await reader.read(0)).length, 0);
    assert.equal((await reader.readexactly(0)).length, 0);
    reader.feedEof();
    assert.equal(reader.atEof(), false, "bytes are still buffered");
    assert.equal(text(await reader.read()), "ab");
    assert.equal(reader.atEof(), true);
    assert.equal((await reader.read()).length, 0);
    assert.equal((await reader.read(5)).length, 0);
    assert.equal((await reader.readline()).length, 0);
  },
);

procTest(
  "StreamReader.setException() fails a waiting readexactly() and later reads, buffered data or not",
  async (loop) => {
    const reader = new StreamReader();
    reader.feedData(bytes("xy"));
    const waiting = reader.readexactly(5);
    const boom = new Error("boom");
    loop.callSoon(() => reader.setException(boom));
    await assert.rejects(waiting, (e) => e === boom);
    await assert.rejects(reader.read(1), (e) => e === boom);
    await assert.rejects(reader.readuntil(bytes("y")), (e) => e === boom);
  },
);

procTest(
  "StreamWriter.drain() raises the error the connection was lost with",
  async (loop) => {
    const reader = new StreamReader();
    const protocol = new StreamReaderProtocol(reader, null, loop);
    const transport = {
      isClosing: () => true,
      write() {},
      writeEof() {},
      canWriteEof: () => true,
    } as unknown as WritableTransport;
    const writer = new StreamWriter(transport, protocol, reader, loop);
    const reset = new Deno.errors.ConnectionReset("peer reset");
    protocol.connectionLost(reset);
    await assert.rejects(writer.drain(), (e) => e === reset);
    await assert.rejects(writer.waitClosed(), (e) => e === reset);
  },
);

// ---- write pipes ---------------------------------------------------------------

procTest(
  "WritePipeTransport: a write() after close() is dropped, and what was queued is still written",
  async (loop) => {
    const written: string[] = [];
    // The first write blocks until released, so the rest queue behind it.
    const gate = Promise.withResolvers<void>();
    const writing = Promise.withResolvers<void>();
    let closed = false;
    const sink = new WritableStream<Uint8Array>({
      write(chunk) {
        written.push(text(chunk));
        writing.resolve();
        return gate.promise;
      },
      close() {
        closed = true;
      },
    });
    const lost = loop.createFuture<Error | null>();
    class Lost extends Protocol {
      override connectionLost(exc: Error | null) {
        lost.setResult(exc);
      }
    }
    const [transport] = await loop.connectWritePipe(() => new Lost(), sink);
    const pipe = transport as WritePipeTransport;
    pipe.write(bytes("first"));
    await writing.promise;
    pipe.write(bytes("second"));
    pipe.close();
    pipe.write(bytes("dropped"));
    gate.resolve();
    assert.equal(await lost, null);
    assert.deepEqual(written.join(""), "firstsecond");
    assert.equal(closed, true, "the stream was closed after the flush");
  },
);

procTest(
  "WritePipeTransport: a reader gone while a write is in flight closes it once the write completes",
  async (loop) => {
    // A child that exits just after the kernel took the last write: the
    // write succeeds, and nothing else would ever close its stdin.
    const gate = Promise.withResolvers<void>();
    const writing = Promise.withResolvers<void>();
    const sink = new WritableStream<Uint8Array>({
      write() {
        writing.resolve();
        return gate.promise;
      },
    });
    const lost = loop.createFuture<Error | null>();
    class Lost extends Protocol {
      override connectionLost(exc: Error | null) {
        lost.setResult(exc);
      }
    }
    const [transport] = await loop.connectWritePipe(() => new Lost(), sink);
    const pipe = transport as WritePipeTransport;
    pipe.write(bytes("last words"));
    await writing.promise;
    pipe._readerGone();
    assert.equal(lost.done(), false, "the write is still in flight");
    gate.resolve();
    assert.equal(await lost, null);
    assert.equal(pipe.isClosing(), true);
  },
);

// ---- subprocesses ------------------------------------------------------------

procTest(
  "Process.communicate(input) after stdin.close(): input is ignored, output and exit arrive",
  async () => {
    const proc = await createSubprocessExec("cat", {
      stdin: PIPE,
      stdout: PIPE,
    });
    proc.stdin!.write(bytes("sent before close"));
    proc.stdin!.close();
    const [out, err] = await proc.communicate(bytes("too late"));
    assert.equal(text(out!), "sent before close");
    assert.equal(err, null);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "Process: returncode is null until the exit; wait() keeps returning the code",
  async () => {
    const proc = await createSubprocessExec("sh", "-c", "read line; exit 5", {
      stdin: PIPE,
    });
    assert.equal(proc.returncode, null);
    assert.equal(proc.stdout, null, "stdout is not PIPE");
    assert.equal(proc.stderr, null, "stderr is not PIPE");
    proc.stdin!.write(bytes("go\n"));
    assert.equal(await proc.wait(), 5);
    assert.equal(await proc.wait(), 5);
    assert.equal(proc.returncode, 5);
  },
);

procTest(
  "Process.communicate(input) with stdin not PIPE ignores the input",
  async () => {
    const proc = await createSubprocessExec("cat", {
      stdin: DEVNULL,
      stdout: PIPE,
    });
    assert.equal(proc.stdin, null);
    const [out] = await proc.communicate(bytes("nobody reads this"));
    assert.equal(out!.length, 0);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "Process.communicate(input) ignores the broken pipe of a child that closed its stdin",
  async () => {
    // The child closes its stdin, says so, then waits to be stopped.
    const proc = await createSubprocessShell(
      "exec 0<&-; echo closed; exec sleep 30",
      { stdin: PIPE, stdout: PIPE },
    );
    assert.equal(text(await proc.stdout!.readline()), "closed\n");
    const communicating = proc.communicate(new Uint8Array(1 << 20));
    // The write fails with a broken pipe (nobody can read it) ...
    await assert.rejects(proc.stdin!.waitClosed(), Deno.errors.BrokenPipe);
    proc.terminate();
    // ... and communicate() carries on regardless.
    const [out, err] = await communicating;
    assert.equal(out!.length, 0);
    assert.equal(err, null);
    assert.equal(proc.returncode, -15);
  },
);

/** Pauses the child's stdout as soon as the transport is connected. */
class PausedStdout extends ProcRecorder {
  override connectionMade(transport: SubprocessTransport): void {
    super.connectionMade(transport);
    (transport.getPipeTransport(1) as ReadPipeTransport).pauseReading();
  }
}

procTest(
  "SubprocessTransport.kill() after the exit is a no-op until the transport finishes, then NotFound",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new PausedStdout(loop),
      "sh",
      "-c",
      "read line; exit 3",
      { stdin: PIPE, stdout: PIPE, stderr: DEVNULL },
    );
    (transport.getPipeTransport(0) as WritePipeTransport).write(bytes("go\n"));
    await protocol.exited;
    // Exited, but stdout's EOF is held by the paused pipe: not finished.
    assert.equal(transport.getReturncode(), 3);
    transport.kill();
    transport.terminate();
    transport.sendSignal("SIGHUP");
    assert.equal(protocol.lost.done(), false);
    (transport.getPipeTransport(1) as ReadPipeTransport).resumeReading();
    await protocol.lost;
    assert.throws(() => transport.kill(), Deno.errors.NotFound);
    assert.throws(() => transport.terminate(), Deno.errors.NotFound);
    assert.throws(() => transport.sendSignal(1), Deno.errors.NotFound);
    transport.close();
  },
);

procTest(
  "createSubprocessExec(): a cwd that does not exist is Deno.errors.NotFound",
  async () => {
    await assert.rejects(
      createSubprocessExec("true", { cwd: "/nonexistent/aioloop-cwd" }),
      Deno.errors.NotFound,
    );
  },
);

procTest(
  "createSubprocessExec(): env is the child's whole environment",
  async () => {
    const proc = await createSubprocessExec("env", { env: {}, stdout: PIPE });
    const [out] = await proc.communicate();
    assert.equal(text(out!), "");
    const shell = await createSubprocessShell("echo $A$B", {
      env: { A: "sp", B: "am" },
      stdout: PIPE,
    });
    assert.equal(text((await shell.communicate())[0]!), "spam\n");
  },
);

procTest(
  "createSubprocessExec(): limit bounds the readers' lines",
  async () => {
    const proc = await createSubprocessExec(
      "printf",
      "0123456789\nok\n",
      { stdout: PIPE, limit: 4 },
    );
    await assert.rejects(proc.stdout!.readline(), RangeError);
    assert.equal(text(await proc.stdout!.readline()), "ok\n");
    assert.equal(await proc.wait(), 0);
  },
);
