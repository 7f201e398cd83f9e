/**
 * asyncio's subprocess behaviour that the other process tests leave out,
 * found by going through its subprocess test cases one by one: the
 * transport's description while the child runs and after its exit,
 * cancelling `loop.subprocessExec()` itself, `close()` and the signal
 * methods on a child that has exited before the loop heard of it, and reading a child's output after it
 * has exited. Runs on both loops.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createSubprocessExec,
  PIPE,
  SubprocessProtocol,
} from "../../mod.ts";
import {
  assertSameBytes,
  concat,
  pattern,
  pidsWithArg,
  ProcRecorder,
  procTest,
  py,
} from "./_proc.ts";

procTest(
  "SubprocessTransport.toString() shows the pid and `running`, then the return code",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      "sh",
      "-c",
      "read line; exit 6",
    );
    const pid = transport.getPid();
    const running = String(transport);
    assert.match(running, new RegExp(`\\bpid=${pid}\\b`));
    assert.match(running, /\brunning\b/);
    assert.doesNotMatch(running, /returncode=/);
    transport.close();
    await protocol.lost;
    const done = String(transport);
    assert.match(done, new RegExp(`\\bpid=${pid}\\b`));
    assert.match(done, /\breturncode=-9\b/);
    assert.doesNotMatch(done, /\brunning\b/);

    const [exited, recorder] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      "sh",
      "-c",
      "exit 6",
    );
    await recorder.lost;
    assert.match(String(exited), /\breturncode=6\b/);
    exited.close();
  },
);

procTest(
  "loop.subprocessExec() cancelled once the child is started kills and reaps it before the CancelledError arrives",
  async (loop) => {
    const marker = `aioloop-sweep-${crypto.randomUUID()}`;
    const starting = loop.createTask(() =>
      loop.subprocessExec(
        () => new SubprocessProtocol(),
        ...py("import time; time.sleep(60)"),
        marker,
      )
    );
    loop.callSoon(() => starting.cancel());
    await assert.rejects(async () => await starting, CancelledError);
    assert.deepEqual(pidsWithArg(marker), [], "no child left behind");
  },
);

procTest(
  "SubprocessTransport: close(), kill(), terminate() and sendSignal() send nothing to a child that has exited before the loop was told",
  async (loop) => {
    const [transport, protocol] = await loop.subprocessExec(
      () => new ProcRecorder(loop),
      ...py("import time; time.sleep(60)"),
      { stdin: null, stdout: null, stderr: null },
    );
    const child = transport.getExtraInfo("subprocess") as Deno.ChildProcess;
    Deno.kill(transport.getPid(), "SIGTERM");
    await child.status;
    // The exit is known to Deno, not yet to the transport.
    assert.equal(transport.getReturncode(), null);
    const kills: unknown[] = [];
    const kill = child.kill.bind(child);
    child.kill = (signal?: Deno.Signal) => {
      kills.push(signal);
      kill(signal);
    };
    transport.kill();
    transport.terminate();
    transport.sendSignal("SIGHUP");
    transport.close();
    assert.deepEqual(kills, [], "a finished child must not be signalled");
    await protocol.lost;
    assert.equal(transport.getReturncode(), -15);
  },
);

procTest(
  "Process: a child's stdout stays readable in chunks after it has exited with status 1",
  async () => {
    const size = 256 * 1024;
    const proc = await createSubprocessExec(
      ...py(
        `import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(${size}))); sys.stdout.flush(); sys.exit(1)`,
      ),
      { stdout: PIPE, limit: 1 << 20 },
    );
    // The reader holds everything (limit), so the child exits unread.
    assert.equal(await proc.wait(), 1);
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await proc.stdout.read(65536);
      if (chunk.length === 0) break;
      assert.ok(chunk.length <= 65536);
      chunks.push(chunk);
    }
    assertSameBytes(concat(chunks), pattern(size));
    assert.equal(proc.returncode, 1);
  },
);
