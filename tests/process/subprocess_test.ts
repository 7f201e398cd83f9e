/**
 * Subprocesses: `subprocessExec` / `subprocessShell` with a
 * `SubprocessProtocol` (callback order, stdio modes, cwd/env, signals,
 * close, bad arguments) and the high-level `createSubprocessExec` /
 * `createSubprocessShell` / `Process` (communicate, wait, streams, broken
 * pipes, flow control). Ported from the checks of CPython's
 * `test_subprocess.py` and `test_events.py` (SubprocessTestsMixin). Runs on
 * both loops: the child's exit holds the virtual clock.
 */
import assert from "node:assert/strict";
import {
  ChildProcessTransport,
  createSubprocessExec,
  createSubprocessShell,
  DEVNULL,
  PIPE,
  ReadPipeTransport,
  RuntimeError,
  STDOUT,
  SubprocessProtocol,
  WritePipeTransport,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  pattern,
  processExists,
  ProcRecorder,
  procTest,
  py,
  text,
} from "./_proc.ts";

/** Asserts asyncio's ordering guarantees on a recorder's events. */
function assertOrder(events: string[], fds: number[]): void {
  assert.equal(events[0], "made", `made first: ${events}`);
  assert.equal(events.at(-1), "lost", `lost last: ${events}`);
  assert.equal(events.filter((e) => e === "lost").length, 1);
  assert.equal(events.filter((e) => e === "exited").length, 1);
  for (const fd of fds) {
    const lost = events.indexOf(`pipeLost${fd}`);
    assert.notEqual(lost, -1, `pipe ${fd} lost: ${events}`);
    assert.equal(events.lastIndexOf(`pipeLost${fd}`), lost);
    const data = events.lastIndexOf(`data${fd}`);
    assert.ok(data < lost, `data on ${fd} before its pipe is lost: ${events}`);
  }
}

procTest(
  "subprocessExec() calls made, pipe data, pipe lost, exited, then lost",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py(
        "import sys; sys.stdout.write('out'); sys.stdout.flush(); sys.stderr.write('err')",
      ),
    );
    assert.ok(transport instanceof ChildProcessTransport);
    assert.equal(protocol.events[0], "made");
    assert.ok(transport.getPid() > 0);
    assert.ok(
      transport.getExtraInfo("subprocess") instanceof Deno.ChildProcess,
    );
    assert.ok(transport.getPipeTransport(0) instanceof WritePipeTransport);
    assert.ok(transport.getPipeTransport(1) instanceof ReadPipeTransport);
    assert.ok(transport.getPipeTransport(2) instanceof ReadPipeTransport);
    assert.equal(transport.getPipeTransport(3), null);
    await protocol.lost;
    assertOrder(protocol.events, [0, 1, 2]);
    assert.equal(protocol.textOf(1), "out");
    assert.equal(protocol.textOf(2), "err");
    assert.equal(transport.getReturncode(), 0);
    assert.ok(!transport.isClosing());
    transport.close();
    assert.ok(transport.isClosing());
    // Finished: signalling is a process lookup error (Python's ProcessLookupError).
    assert.throws(() => transport.sendSignal("SIGTERM"), Deno.errors.NotFound);
    assert.throws(() => transport.kill(), Deno.errors.NotFound);
  },
);

procTest(
  "subprocessShell() returns the exit status; `exit 7` is 7",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessShell(
      () => new ProcRecorder(loop),
      "echo hi; exit 7",
    );
    await protocol.lost;
    assert.equal(transport.getReturncode(), 7);
    assert.equal(protocol.textOf(1), "hi\n");
    transport.close();
  },
);

procTest(
  "subprocessExec(): stdin PIPE reaches the child; EOF ends it",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      "cat",
    );
    const stdin = transport.getPipeTransport(0) as WritePipeTransport;
    stdin.write(bytes("hello "));
    stdin.write(bytes("cat"));
    stdin.close();
    await protocol.lost;
    assert.equal(protocol.textOf(1), "hello cat");
    assertOrder(protocol.events, [0, 1, 2]);
    transport.close();
  },
);

procTest(
  "subprocessExec(): DEVNULL and inherit (null) give no pipe transports",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      "true",
      { stdin: DEVNULL, stdout: null, stderr: DEVNULL },
    );
    assert.equal(transport.getPipeTransport(0), null);
    assert.equal(transport.getPipeTransport(1), null);
    assert.equal(transport.getPipeTransport(2), null);
    await protocol.lost;
    assert.deepEqual(protocol.events, ["made", "exited", "lost"]);
    transport.close();
  },
);

procTest("subprocessExec(): stdin DEVNULL reads as empty", async (loop) => {
  const [transport, protocol] = await loop.subprocessExec(
    () => new ProcRecorder(loop),
    ...py("import sys; print(len(sys.stdin.buffer.read()))"),
    { stdin: DEVNULL },
  );
  await protocol.lost;
  assert.equal(protocol.textOf(1).trim(), "0");
  transport.close();
});

for (const kind of ["exec", "shell"]) {
  procTest(
    `subprocess${
      kind === "exec" ? "Exec" : "Shell"
    }(): stderr STDOUT merges into stdout, in order`,
    async (loop) => {
      const code =
        "import sys\nfor i in range(3):\n  sys.stdout.write(f'o{i} '); sys.stdout.flush()\n  sys.stderr.write(f'e{i} '); sys.stderr.flush()";
      const factory = () => new ProcRecorder(loop);
      const [transport, protocol] = kind === "exec"
        ? await loop.subprocessExec(factory, "python3", "-c", code, {
          stderr: STDOUT,
        })
        : await loop.subprocessShell(factory, `python3 -c "${code}"`, {
          stderr: STDOUT,
        });
      assert.equal(transport.getPipeTransport(2), null);
      await protocol.lost;
      assert.equal(protocol.textOf(1), "o0 e0 o1 e1 o2 e2 ");
      assert.equal(protocol.nbytes(2), 0);
      assert.equal(transport.getReturncode(), 0);
      transport.close();
    },
  );
}

procTest(
  "subprocessExec(): stderr STDOUT keeps the program's pid and signals",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py("import os, sys; print(os.getpid(), flush=True); sys.stdin.read()"),
      { stderr: STDOUT },
    );
    const line = loop.createFuture<null>();
    protocol.onData = () => {
      if (protocol.textOf(1).includes("\n") && !line.done()) {
        line.setResult(
          null,
        );
      }
    };
    await line;
    assert.equal(Number(protocol.textOf(1).trim()), transport.getPid());
    transport.terminate();
    await protocol.lost;
    assert.equal(transport.getReturncode(), -15);
    transport.close();
  },
);

procTest("subprocessExec(): cwd and env", async (loop) => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  Deno.env.set("AIOLOOP_PARENT_ONLY", "1");
  try {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      "/bin/sh",
      "-c",
      'pwd; echo "$FOO"; echo "${AIOLOOP_PARENT_ONLY:-unset}"',
      { cwd: dir, env: { FOO: "bar" } },
    );
    await protocol.lost;
    assert.equal(protocol.textOf(1), `${dir}\nbar\nunset\n`);
    transport.close();
  } finally {
    Deno.env.delete("AIOLOOP_PARENT_ONLY");
    await Deno.remove(dir);
  }
});

procTest(
  "subprocessExec(): a missing program is Deno.errors.NotFound from the call",
  async (loop) => {
    const factory = () => new ProcRecorder(loop);
    await assert.rejects(
      loop.subprocessExec(factory, "aioloop-no-such-program"),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      loop.subprocessExec(factory, "aioloop-no-such-program", {
        stderr: STDOUT,
      }),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      loop.subprocessExec(factory, "./no/such/path"),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      loop.subprocessExec(factory, "true", { cwd: "/no/such/dir" }),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      createSubprocessExec("aioloop-no-such-program"),
      Deno.errors.NotFound,
    );
  },
);

procTest(
  "subprocessExec()/subprocessShell(): bad arguments are TypeError/RangeError at the call",
  async (loop) => {
    const f = () => new SubprocessProtocol();
    const L = loop as unknown as {
      subprocessExec(...a: unknown[]): Promise<unknown>;
      subprocessShell(...a: unknown[]): Promise<unknown>;
    };
    await assert.rejects(L.subprocessExec(f, 42), TypeError);
    await assert.rejects(L.subprocessExec(f, null), TypeError);
    await assert.rejects(L.subprocessExec(f, "echo", 1), TypeError);
    await assert.rejects(L.subprocessExec("f", "true"), TypeError);
    await assert.rejects(
      L.subprocessExec(f, "true", { text: true }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { universalNewlines: true }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { bufsize: 1 }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { shell: true }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { encoding: "utf-8" }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { errors: "strict" }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { stdin: STDOUT }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { stdout: STDOUT }),
      RangeError,
    );
    await assert.rejects(L.subprocessExec(f, "true", { stdout: 5 }), TypeError);
    await assert.rejects(
      L.subprocessExec(f, "true", { stdin: new WritableStream() }),
      TypeError,
    );
    await assert.rejects(L.subprocessExec(f, "true", { bogus: 1 }), TypeError);
    await assert.rejects(
      L.subprocessExec(f, "true", { startNewSession: true }),
      /Deno.Command/,
    );
    await assert.rejects(
      L.subprocessExec(f, "true", { env: { A: 1 } }),
      TypeError,
    );
    await assert.rejects(L.subprocessShell(f, ["true"]), TypeError);
    await assert.rejects(
      L.subprocessShell(f, "true", { shell: false }),
      RangeError,
    );
    await assert.rejects(
      L.subprocessShell(f, "true", { text: true }),
      RangeError,
    );
    await assert.rejects(
      createSubprocessExec("true", { limit: 0 }),
      RangeError,
    );
    await assert.rejects(
      createSubprocessShell("true", { encoding: "utf-8" }),
      RangeError,
    );
  },
);

procTest(
  "transport.kill() / terminate(): return code is the negative signal number",
  async (loop) => {
    for (const [how, expected] of [["kill", -9], ["terminate", -15]] as const) {
      const [transport, protocol] = await loop.subprocessExec(
        () => new ProcRecorder(loop),
        ...py("import time; time.sleep(3600)"),
      );
      assert.equal(transport.getReturncode(), null);
      transport[how]();
      await protocol.lost;
      assert.equal(transport.getReturncode(), expected);
      assertOrder(protocol.events, [0, 1, 2]);
      transport.close();
    }
  },
);

procTest("Process.sendSignal() by name and number (SIGHUP, 10)", async () => {
  for (const sig of ["SIGHUP", 10] as const) {
    const proc = await createSubprocessExec(
      ...py("import time; print('sleeping', flush=True); time.sleep(3600)"),
      { stdout: PIPE },
    );
    assert.equal(text(await proc.stdout!.readline()), "sleeping\n");
    proc.sendSignal(sig);
    assert.equal(await proc.wait(), sig === "SIGHUP" ? -1 : -10);
    assert.throws(() => proc.sendSignal("SIGNOPE"), RangeError);
    assert.throws(() => proc.sendSignal(99), RangeError);
  }
});

procTest(
  "transport.close() kills a running child; connectionLost follows",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py("import time; time.sleep(3600)"),
    );
    const pid = transport.getPid();
    assert.equal(transport.getReturncode(), null);
    transport.close();
    transport.close();
    await protocol.lost;
    assert.equal(transport.getReturncode(), -9);
    assert.ok(!processExists(pid), "the child is reaped (no zombie)");
  },
);

procTest("Process.wait() twice; the child is reaped (no zombie)", async () => {
  const proc = await createSubprocessShell("exit 3");
  assert.equal(await proc.wait(), 3);
  assert.equal(await proc.wait(), 3);
  assert.equal(proc.returncode, 3);
  assert.ok(!processExists(proc.pid));
  assert.equal(proc.stdin, null);
  assert.equal(proc.stdout, null);
  assert.equal(proc.stderr, null);
});

procTest(
  "Process.wait() can be cancelled; the process is still waitable",
  async (loop) => {
    const proc = await createSubprocessExec(
      ...py("import time; time.sleep(3600)"),
    );
    const task = loop.createTask(() => proc.wait());
    loop.callSoon(() => task.cancel());
    await assert.rejects(
      async () => await task,
      (e: Error) => e.name === "CancelledError",
    );
    proc.kill();
    assert.equal(await proc.wait(), -9);
  },
);

procTest("Process: stdin/stdout streams with drain() and read()", async () => {
  const proc = await createSubprocessExec("cat", { stdin: PIPE, stdout: PIPE });
  proc.stdin!.write(bytes("some data"));
  await proc.stdin!.drain();
  proc.stdin!.close();
  await proc.stdin!.waitClosed();
  assert.equal(text(await proc.stdout!.read()), "some data");
  assert.equal(await proc.wait(), 0);
});

procTest(
  "Process.communicate() with several MB each way does not deadlock",
  async () => {
    const input = pattern(6 << 20);
    const proc = await createSubprocessExec("cat", {
      stdin: PIPE,
      stdout: PIPE,
      stderr: PIPE,
    });
    const [stdout, stderr] = await proc.communicate(input);
    assertSameBytes(stdout!, input);
    assert.equal(stderr!.length, 0);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "Process.communicate(): DEVNULL streams come back null; empty input",
  async () => {
    const code = "import sys; print(len(sys.stdin.buffer.read()))";
    const proc = await createSubprocessExec(...py(code), {
      stdin: PIPE,
      stdout: PIPE,
      stderr: DEVNULL,
    });
    const [out, err] = await proc.communicate(new Uint8Array(0));
    assert.equal(text(out).trim(), "0");
    assert.equal(err, null);
    const other = await createSubprocessExec(...py(code), {
      stdin: PIPE,
      stdout: DEVNULL,
      stderr: PIPE,
    });
    const [noOut, errOut] = await other.communicate(bytes("abc"));
    assert.equal(noOut, null);
    assert.equal(errOut.length, 0);
    assert.equal(other.returncode, 0);
    await assert.rejects(other.communicate("text" as never), TypeError);
  },
);

procTest(
  "a child that exits before its stdin is written: broken pipe reaches the writer, nothing unhandled",
  async () => {
    const big = new Uint8Array(4 << 20);
    // drain() raises, as asyncio's does (BrokenPipe or ConnectionReset).
    let proc = await createSubprocessExec("true", { stdin: PIPE });
    await proc.wait();
    proc.stdin!.write(big);
    await assert.rejects(
      proc.stdin!.drain(),
      (e) =>
        e instanceof Deno.errors.BrokenPipe ||
        e instanceof Deno.errors.ConnectionReset,
    );
    // communicate() ignores it.
    proc = await createSubprocessExec("true", { stdin: PIPE });
    const [out, err] = await proc.communicate(big);
    assert.equal(out, null);
    assert.equal(err, null);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "SubprocessProtocol: writing to a child that exits without reading ends stdin with a broken pipe",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py(
        "import sys, time; sys.stdout.write('x'); sys.stdout.flush(); time.sleep(0.05)",
      ),
    );
    const stdin = transport.getPipeTransport(0) as WritePipeTransport;
    // More than a pipe holds: the write is still pending when the child exits.
    stdin.write(new Uint8Array(8 << 20));
    await protocol.lost;
    assertOrder(protocol.events, [0, 1, 2]);
    assert.ok(protocol.pipeErrors[0] instanceof Deno.errors.BrokenPipe);
    transport.close();
  },
);

procTest(
  "a child flooding stdout while the protocol pauses: the pipe stops being read",
  async (loop) => {
    const total = 16 << 20;
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py(
        `import sys\nfor _ in range(${
          total >> 16
        }): sys.stdout.buffer.write(b'x' * 65536)`,
      ),
    );
    const stdout = transport.getPipeTransport(1) as ReadPipeTransport;
    const paused = loop.createFuture<null>();
    protocol.onData = (fd) => {
      if (fd === 1 && !paused.done()) {
        stdout.pauseReading();
        paused.setResult(null);
      }
    };
    await paused;
    const atPause = protocol.nbytes(1);
    // Real time passes (children run to completion) while the flood is held.
    for (let i = 0; i < 3; i++) {
      const [t, p] = await loop.subprocessExec(
        () => new ProcRecorder(loop),
        "true",
      );
      await p.lost;
      t.close();
    }
    assert.ok(!stdout.isReading());
    assert.ok(stdout._pulledAhead <= 2, "at most two chunks read ahead");
    assert.equal(protocol.nbytes(1), atPause, "nothing delivered while paused");
    assert.equal(
      transport.getReturncode(),
      null,
      "the child is blocked on its full pipe",
    );
    protocol.onData = null;
    stdout.resumeReading();
    await protocol.lost;
    assert.equal(protocol.nbytes(1), total);
    assert.equal(transport.getReturncode(), 0);
    transport.close();
  },
);

procTest(
  "Process: a StreamReader pauses the pipe past 2 × limit and resumes as it is read",
  async () => {
    const limit = 1024;
    const size = 1 << 20;
    const proc = await createSubprocessExec(
      ...py(`import sys; sys.stdout.buffer.write(b'x' * ${size})`),
      { stdout: PIPE, limit },
    );
    const first = await proc.stdout!.readexactly(10);
    assert.equal(first.length, 10);
    let got = first.length;
    let maxBuffered = 0;
    for (;;) {
      const chunk = await proc.stdout!.read(limit);
      if (chunk.length === 0) break;
      got += chunk.length;
      maxBuffered = Math.max(maxBuffered, chunk.length);
    }
    assert.equal(got, size);
    assert.ok(proc.stdout!.atEof());
    assert.equal(await proc.wait(), 0);
  },
);

procTest(
  "Process: stdout lines with async iteration and readline()",
  async () => {
    const proc = await createSubprocessShell("printf 'a\\nbb\\nccc'", {
      stdout: PIPE,
    });
    const lines: string[] = [];
    for await (const line of proc.stdout!) lines.push(text(line));
    assert.deepEqual(lines, ["a\n", "bb\n", "ccc"]);
    assert.equal(await proc.wait(), 0);
  },
);

procTest(
  "existing pipes: stdin from a ReadableStream, stdout into a WritableStream",
  async () => {
    const chunks: Uint8Array[] = [];
    const sink = new WritableStream<Uint8Array>({
      write(chunk) {
        chunks.push(chunk);
      },
    });
    const proc = await createSubprocessExec("cat", {
      stdin: ReadableStream.from([bytes("from "), bytes("a stream")]),
      stdout: sink,
    });
    assert.equal(proc.stdin, null);
    assert.equal(proc.stdout, null);
    assert.equal(await proc.wait(), 0);
    assert.equal(text(concat(chunks)), "from a stream");
    assert.ok(!sink.locked, "the caller's stream is released, not closed");
  },
);

procTest("existing pipes: stdout into a Deno.FsFile", async () => {
  const path = await Deno.makeTempFile();
  try {
    const file = await Deno.open(path, { write: true });
    const proc = await createSubprocessShell("echo to a file; echo err >&2", {
      stdout: file,
      stderr: STDOUT,
    });
    assert.equal(await proc.wait(), 0);
    file.close();
    assert.equal(await Deno.readTextFile(path), "to a file\nerr\n");
  } finally {
    await Deno.remove(path);
  }
});

procTest("createSubprocessExec() needs a running loop", async () => {
  // Inside a task it works; a plain call from outside any loop is refused.
  const proc = await createSubprocessExec("true");
  assert.equal(await proc.wait(), 0);
});

Deno.test("createSubprocessExec() outside a loop is a RuntimeError", async () => {
  await assert.rejects(createSubprocessExec("true"), RuntimeError);
});

procTest(
  "VirtualTimeEventLoop: the clock does not jump past a running child",
  async (loop) => {
    let fired = false;
    const timer = loop.callLater(3600, () => {
      fired = true;
    });
    const start = loop.time();
    const proc = await createSubprocessExec(
      ...py("import time; time.sleep(0.1)"),
    );
    assert.equal(await proc.wait(), 0);
    assert.ok(!fired);
    assert.ok(loop.time() - start < 60, `clock moved ${loop.time() - start}s`);
    timer.cancel();
  },
);
