/**
 * asyncio's documented subprocess behaviour, the parts the other process
 * tests leave out: `communicate()` with and without input and with large
 * streams both ways, cancelling `communicate()` or the start of a child,
 * several concurrent `wait()` calls, signalling a finished process,
 * `STDOUT` redirection, the checks `createSubprocessExec` and
 * `createSubprocessShell` make of their arguments, and the order of the
 * protocol callbacks when a grandchild outlives the child. Runs on both
 * loops.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createSubprocessExec,
  createSubprocessShell,
  DEVNULL,
  PIPE,
  type ReadPipeTransport,
  STDOUT,
  type WritePipeTransport,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  pattern,
  pidsWithArg,
  processState,
  ProcRecorder,
  procTest,
  py,
  text,
} from "./_proc.ts";

procTest(
  "Process.communicate() without input closes a piped stdin, so a reading child sees EOF",
  async () => {
    const proc = await createSubprocessExec(
      ...py("import sys; print(len(sys.stdin.buffer.read()))"),
      { stdin: PIPE, stdout: PIPE },
    );
    const [out, err] = await proc.communicate();
    assert.equal(text(out), "0\n");
    assert.equal(err, null);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "Process.communicate() feeds 2 MiB in and drains 2 MiB from stdout and stderr each without deadlock",
  async () => {
    const input = pattern(2 << 20);
    // The child writes all of stderr before any stdout: a caller reading
    // the streams one after the other would block it forever.
    const proc = await createSubprocessExec(
      ...py(
        "import sys\ndata = sys.stdin.buffer.read()\nsys.stderr.buffer.write(data)\nsys.stderr.flush()\nsys.stdout.buffer.write(data)",
      ),
      { stdin: PIPE, stdout: PIPE, stderr: PIPE },
    );
    const [out, err] = await proc.communicate(input);
    assertSameBytes(err, input);
    assertSameBytes(out, input);
    assert.equal(proc.returncode, 0);
  },
  { seconds: 30 },
);

procTest(
  "Process.sendSignal(), terminate() and kill() after wait() are Deno.errors.NotFound (ProcessLookupError)",
  async () => {
    const proc = await createSubprocessShell("exit 6");
    assert.equal(await proc.wait(), 6);
    assert.throws(() => proc.sendSignal("SIGTERM"), Deno.errors.NotFound);
    assert.throws(() => proc.sendSignal(9), Deno.errors.NotFound);
    assert.throws(() => proc.terminate(), Deno.errors.NotFound);
    assert.throws(() => proc.kill(), Deno.errors.NotFound);
    assert.equal(proc.returncode, 6);
    assert.equal(await proc.wait(), 6);
  },
);

procTest(
  "Process.wait() from several tasks at once resolves each with the return code; a cancelled one does not disturb the others",
  async (loop) => {
    const proc = await createSubprocessExec("sh", "-c", "read line; exit 4", {
      stdin: PIPE,
    });
    const waiters = [0, 1, 2].map(() => loop.createTask(() => proc.wait()));
    const dropped = loop.createTask(() => proc.wait());
    // Callbacks run in order: once this one has, every task has started.
    const started = loop.createFuture<null>();
    loop.callSoon(() => started.setResult(null));
    await started;
    assert.ok(waiters.every((task) => !task.done()));
    dropped.cancel();
    await assert.rejects(async () => await dropped, CancelledError);
    assert.equal(proc.returncode, null);
    proc.stdin.write(bytes("go\n"));
    assert.deepEqual(await Promise.all(waiters), [4, 4, 4]);
    assert.equal(proc.returncode, 4);
    assert.equal(await proc.wait(), 4);
  },
);

procTest(
  "Process.communicate() can be cancelled; the child keeps running, stays killable and its stdout readable",
  async (loop) => {
    const proc = await createSubprocessShell("echo ready; exec sleep 60", {
      stdout: PIPE,
    });
    assert.equal(text(await proc.stdout.readline()), "ready\n");
    const communicating = loop.createTask(() => proc.communicate());
    loop.callSoon(() => communicating.cancel());
    await assert.rejects(async () => await communicating, CancelledError);
    assert.equal(proc.returncode, null);
    assert.match(
      processState(proc.pid) ?? "gone",
      /^[SR]/,
      "the child still runs",
    );
    proc.kill();
    assert.equal((await proc.stdout.read()).length, 0, "then EOF");
    assert.equal(await proc.wait(), -9);
    assert.equal(processState(proc.pid), null, "and is reaped");
  },
);

procTest(
  "createSubprocessExec() cancelled while starting kills and reaps the child before the CancelledError arrives",
  async (loop) => {
    const marker = `aioloop-start-${crypto.randomUUID()}`;
    const starting = loop.createTask(() =>
      createSubprocessExec(
        "python3",
        "-c",
        "import time; time.sleep(60)",
        marker,
      )
    );
    loop.callSoon(() => starting.cancel());
    await assert.rejects(async () => await starting, CancelledError);
    assert.deepEqual(pidsWithArg(marker), [], "no child left behind");
  },
);

procTest(
  "createSubprocessExec(): stderr STDOUT sends both streams to stdout; stderr is null, as communicate()'s second value",
  async () => {
    const proc = await createSubprocessExec(
      ...py(
        "import sys\nsys.stdout.write('out '); sys.stdout.flush()\nsys.stderr.write('err'); sys.stderr.flush()",
      ),
      { stdout: PIPE, stderr: STDOUT },
    );
    assert.equal(proc.stderr, null);
    const [out, err] = await proc.communicate();
    assert.equal(text(out), "out err");
    assert.equal(err, null);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "createSubprocessExec(): stdout DEVNULL keeps a chatty child from blocking; stdout and communicate()'s first value are null",
  async () => {
    const proc = await createSubprocessExec(
      ...py("import sys; sys.stdout.buffer.write(b'x' * (1 << 20))"),
      { stdout: DEVNULL, stderr: PIPE },
    );
    assert.equal(proc.stdout, null);
    const [out, err] = await proc.communicate();
    assert.equal(out, null);
    assert.equal(err.length, 0);
    assert.equal(proc.returncode, 0);
  },
);

procTest(
  "createSubprocessShell() refuses a list; createSubprocessExec() runs a command line as one program name",
  async () => {
    await assert.rejects(
      createSubprocessShell(["echo", "hi"] as unknown as string),
      TypeError,
    );
    await assert.rejects(
      createSubprocessExec("echo hi", { stdout: PIPE }),
      Deno.errors.NotFound,
    );
    const shell = await createSubprocessShell("echo hi", { stdout: PIPE });
    assert.equal(text((await shell.communicate())[0]), "hi\n");
    const exec = await createSubprocessExec("echo", "a b", "$HOME", {
      stdout: PIPE,
    });
    assert.equal(
      text((await exec.communicate())[0]),
      "a b $HOME\n",
      "arguments reach the program as given, unexpanded",
    );
  },
);

procTest(
  "createSubprocessExec()/createSubprocessShell(): text, universalNewlines, encoding, errors, bufsize and shell are RangeErrors and start nothing",
  async () => {
    const dir = await Deno.makeTempDir();
    const marker = `${dir}/started`;
    try {
      const refused: Record<string, unknown>[] = [
        { text: true },
        { universalNewlines: true },
        { encoding: "utf-8" },
        { errors: "strict" },
        { bufsize: 1 },
        { bufsize: -1 },
      ];
      for (const options of refused) {
        await assert.rejects(
          createSubprocessExec("touch", marker, options),
          RangeError,
          `exec ${JSON.stringify(options)}`,
        );
        await assert.rejects(
          createSubprocessShell(`touch '${marker}'`, options),
          RangeError,
          `shell ${JSON.stringify(options)}`,
        );
      }
      await assert.rejects(
        createSubprocessExec("touch", marker, { shell: true }),
        RangeError,
      );
      await assert.rejects(
        createSubprocessShell(`touch '${marker}'`, { shell: false }),
        RangeError,
      );
      await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      // The accepted values start the child.
      const proc = await createSubprocessShell(`touch '${marker}'`, {
        bufsize: 0,
        text: false,
        encoding: null,
        errors: null,
        universalNewlines: false,
        shell: true,
      });
      assert.equal(await proc.wait(), 0);
      assert.ok((await Deno.stat(marker)).isFile);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

procTest(
  "createSubprocessExec() takes URLs for the program and its arguments",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const proc = await createSubprocessExec(
        new URL("file:///bin/sh"),
        "-c",
        'printf %s "$1"',
        "sh",
        new URL(`file://${dir}/`),
        { stdout: PIPE },
      );
      const [out] = await proc.communicate();
      assert.equal(text(out), `${dir}/`);
      assert.equal(proc.returncode, 0);
    } finally {
      await Deno.remove(dir);
    }
  },
);

procTest(
  "createSubprocessShell(): cwd and env reach the shell; a command it cannot find is status 127, not an error",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const proc = await createSubprocessShell('pwd; echo "$GREETING"', {
        cwd: dir,
        env: { GREETING: "hello" },
        stdout: PIPE,
      });
      const [out] = await proc.communicate();
      assert.equal(text(out), `${dir}\nhello\n`);
      const missing = await createSubprocessShell(
        "aioloop-no-such-command",
        { stderr: DEVNULL },
      );
      assert.equal(await missing.wait(), 127);
    } finally {
      await Deno.remove(dir);
    }
  },
);

procTest(
  "SubprocessProtocol: processExited() comes before the end of a pipe a grandchild still holds; connectionLost() waits for it",
  async (loop) => {
    // The shell leaves a background sleep holding its stdout, prints the
    // sleep's pid and exits.
    const [transport, protocol] = await loop.subprocessShell(
      () => new ProcRecorder(loop),
      "sleep 60 & echo $!",
      { stdin: DEVNULL, stderr: DEVNULL },
    );
    const line = loop.createFuture<number>();
    protocol.onData = () => {
      const printed = protocol.textOf(1);
      if (printed.endsWith("\n") && !line.done()) {
        line.setResult(Number(printed));
      }
    };
    const grandchild = await line;
    try {
      await protocol.exited;
      assert.equal(transport.getReturncode(), 0);
      assert.ok(!protocol.events.includes("pipeLost1"), `${protocol.events}`);
      assert.equal(protocol.lost.done(), false);
      assert.equal(
        (transport.getPipeTransport(1) as ReadPipeTransport).isClosing(),
        false,
      );
    } finally {
      Deno.kill(grandchild, "SIGKILL");
    }
    await protocol.lost;
    assert.deepEqual(protocol.events, [
      "made",
      "data1",
      "exited",
      "pipeLost1",
      "lost",
    ]);
    assert.equal(protocol.pipeErrors[1], null);
    transport.close();
  },
);

procTest(
  "SubprocessTransport.close() on a live child closes its pipes, kills it, then processExited() and connectionLost() run once",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py("import sys, time; print('up', flush=True); time.sleep(60)"),
    );
    const up = loop.createFuture<null>();
    protocol.onData = () => {
      if (!up.done()) up.setResult(null);
    };
    await up;
    const pid = transport.getPid();
    const pipes = [0, 1, 2].map((fd) => transport.getPipeTransport(fd)!);
    assert.equal(transport.getReturncode(), null);
    transport.close();
    assert.ok(pipes.every((pipe) => pipe.isClosing()), "pipes are closing");
    assert.equal(transport.isClosing(), true);
    // Signalling a child being killed is still allowed.
    transport.kill();
    await protocol.lost;
    assert.equal(transport.getReturncode(), -9);
    assert.equal(transport.getPid(), pid);
    assert.equal(
      (transport.getPipeTransport(0) as WritePipeTransport).isClosing(),
      true,
    );
    const events = protocol.events;
    assert.equal(events[0], "made");
    assert.equal(events.at(-1), "lost");
    assert.equal(events.filter((e) => e === "exited").length, 1);
    assert.equal(events.filter((e) => e === "lost").length, 1);
    for (const fd of [0, 1, 2]) {
      assert.equal(events.filter((e) => e === `pipeLost${fd}`).length, 1);
    }
    assert.equal(processState(pid), null, "the child is reaped");
    assert.throws(() => transport.kill(), Deno.errors.NotFound);
  },
);

procTest(
  "subprocessShell()/createSubprocessShell() take cmd as bytes; exec takes the program and arguments as bytes",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessShell(
      () => new ProcRecorder(loop),
      bytes("printf %s héllo; exit 3"),
    );
    await protocol.lost;
    assert.equal(protocol.textOf(1), "héllo");
    assert.equal(transport.getReturncode(), 3);
    transport.close();

    const shell = await createSubprocessShell(bytes("echo $((6 * 7))"), {
      stdout: PIPE,
    });
    assert.equal(text((await shell.communicate())[0]), "42\n");

    const exec = await createSubprocessExec(
      bytes("printf"),
      bytes("%s|%s"),
      "text",
      bytes("bÿtes"),
      { stdout: PIPE },
    );
    assert.equal(text((await exec.communicate())[0]), "text|bÿtes");
    assert.equal(exec.returncode, 0);

    // Bytes that are not UTF-8 cannot become a Deno.Command argument.
    const invalid = new Uint8Array([0x65, 0x63, 0x68, 0x6f, 0x20, 0xff]);
    await assert.rejects(createSubprocessShell(invalid), RangeError);
    await assert.rejects(createSubprocessExec("echo", invalid), RangeError);
  },
);
