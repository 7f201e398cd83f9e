/**
 * Checks the network and subprocess behaviour asyncio's event-loop suite
 * (`test_events.py`) expects of every loop, where the other parity files
 * leave it open: a server's listening sockets are one per distinct address,
 * `connectAcceptedSocket()` and `createUnixServer()` refuse contradictory
 * options and leave the loop serving, and a subprocess transport behaves as
 * asyncio's does end to end: an interactive child echoes what each write
 * sends, closing the child's stdout pipe transport closes the pipe (the
 * child's next write fails with EPIPE), `sendSignal()` reaches the child,
 * `stderr: STDOUT` gives no stderr transport, and a child run without pipes
 * still reports its exit status and can be closed once it has finished.
 */
import assert from "node:assert/strict";
import {
  AF_UNIX,
  type EventLoop,
  type Future,
  Protocol,
  socket,
  STDOUT,
  type Transport,
  type WriteTransport,
} from "../../mod.ts";
import { bytes, netTest, Recorder } from "./_net.ts";
import { ProcRecorder, procTest, py } from "../process/_proc.ts";

/** A `ProcRecorder` whose `pipeLost[fd]` completes on `pipeConnectionLost(fd)`. */
class PipeWatcher extends ProcRecorder {
  readonly pipeLost: Record<number, Future<null>>;

  constructor(loop: EventLoop) {
    super(loop);
    this.pipeLost = {
      0: loop.createFuture<null>(),
      1: loop.createFuture<null>(),
      2: loop.createFuture<null>(),
    };
  }

  override pipeConnectionLost(fd: number, exc: Error | null): void {
    super.pipeConnectionLost(fd, exc);
    this.pipeLost[fd].setResult(null);
  }

  /** Resolves once `fd` has delivered at least `n` bytes in all. */
  until(loop: EventLoop, fd: number, n: number): Future<null> {
    const fut = loop.createFuture<null>();
    const check = () => {
      if (this.nbytes(fd) >= n && !fut.done()) fut.setResult(null);
    };
    this.onData = check;
    this.lost.addDoneCallback(() => {
      if (!fut.done()) fut.setResult(null);
    });
    check();
    return fut;
  }
}

netTest(
  "createServer() with a host listed twice listens once per distinct address; a client reaches it",
  async ({ loop }) => {
    const made = loop.createFuture<Transport>();
    await using server = await loop.createServer(
      () =>
        new class extends Protocol {
          override connectionMade(t: Transport): void {
            made.setResult(t);
          }
        }(),
      ["127.0.0.1", "127.0.0.1"],
      0,
    );
    assert.equal(server.sockets.length, 1);
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    assert.equal(host, "127.0.0.1");
    const [t, p] = await loop.createConnection(
      () => new Recorder(loop),
      host,
      port,
    );
    const accepted = await made;
    assert.equal(
      (accepted.getExtraInfo("peername") as [string, number])[1],
      (t.getExtraInfo("sockname") as [string, number])[1],
    );
    accepted.close();
    await p.lost;
    t.close();
  },
);

netTest(
  "connectAcceptedSocket(sslHandshakeTimeout) without ssl is a RangeError; the socket stays usable",
  async ({ loop }) => {
    await using server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const sock = socket();
    await loop.sockConnect(sock, server.sockets[0].getsockname());
    await assert.rejects(
      loop.connectAcceptedSocket(() => new Protocol(), sock, {
        sslHandshakeTimeout: 5,
      }),
      (e) =>
        e instanceof RangeError &&
        /sslHandshakeTimeout is only meaningful with ssl/.test(e.message),
    );
    // Refused before the socket was taken: it can still be wrapped.
    const [t, p] = await loop.connectAcceptedSocket(
      () => new Recorder(loop),
      sock,
    );
    assert.equal(p.events[0], "made");
    t.close();
    await p.lost;
  },
);

netTest(
  "createUnixServer() with both a path and a sock is a RangeError saying so; the socket is left open and can serve",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/s.sock`;
      const sock = socket(AF_UNIX);
      sock.bind(path);
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), `${dir}/other.sock`, {
          sock,
        }),
        (e) =>
          e instanceof RangeError &&
          /path and sock can not be specified at the same time/.test(
            e.message,
          ),
      );
      assert.notEqual(sock.fileno(), -1);
      await using server = await loop.createUnixServer(
        () => new Protocol(),
        undefined,
        { sock },
      );
      const [t, p] = await loop.createUnixConnection(
        () => new Recorder(loop),
        path,
      );
      assert.equal(server.sockets[0].fileno(), sock.fileno());
      t.close();
      await p.lost;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const ECHO = py(
  `import sys
while True:
    data = sys.stdin.buffer.read1(100)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.flush()`,
);

procTest(
  "subprocessExec(): an interactive child answers each write in turn; close() kills it (-9) and connectionLost() follows once",
  async (loop) => {
    const p = new PipeWatcher(loop);
    const [t, proto] = await loop.subprocessExec(() => p, ...ECHO);
    assert.equal(proto, p);
    const stdin = t.getPipeTransport(0) as WriteTransport;
    stdin.write(bytes("Python "));
    await p.until(loop, 1, 7);
    assert.equal(p.textOf(1), "Python ");
    stdin.write(bytes("The Winner"));
    await p.until(loop, 1, 17);
    assert.equal(p.textOf(1), "Python The Winner");
    t.close();
    await p.lost;
    assert.equal(t.getReturncode(), -9);
    assert.equal(p.events.filter((e) => e.startsWith("lost")).length, 1);
    assert.equal(p.events.at(-1), "lost");
  },
);

procTest(
  "SubprocessTransport: closing the stdout pipe transport closes the pipe; the child's next write fails with EPIPE",
  async (loop) => {
    const script = `import sys
sys.stdout.buffer.write(b"OUT:" + sys.stdin.buffer.read(4))
sys.stdout.flush()
sys.stdin.buffer.read(3)
try:
    sys.stdout.buffer.write(b"more")
    sys.stdout.flush()
    sys.stderr.buffer.write(b"ERR:none")
except OSError as e:
    sys.stderr.buffer.write(b"ERR:" + type(e).__name__.encode())
sys.stderr.flush()`;
    const p = new PipeWatcher(loop);
    const [t] = await loop.subprocessExec(() => p, ...py(script));
    const stdin = t.getPipeTransport(0) as WriteTransport;
    stdin.write(bytes("test"));
    await p.until(loop, 1, 8);
    assert.equal(p.textOf(1), "OUT:test");
    t.getPipeTransport(1)!.close();
    await p.pipeLost[1];
    assert.equal(p.pipeErrors[1], null);
    stdin.write(bytes("xxx"));
    await p.lost;
    assert.equal(p.textOf(2), "ERR:BrokenPipeError");
    assert.equal(p.textOf(1), "OUT:test");
    assert.equal(t.getReturncode(), 0);
    t.close();
  },
);

procTest(
  'SubprocessTransport.sendSignal("SIGHUP") ends a waiting child with -1; processExited() then connectionLost(null)',
  async (loop) => {
    const p = new PipeWatcher(loop);
    const [t] = await loop.subprocessExec(() => p, ...ECHO);
    t.sendSignal("SIGHUP");
    await p.lost;
    assert.equal(t.getReturncode(), -1);
    assert.ok(p.events.indexOf("exited") < p.events.indexOf("lost"));
    assert.equal(p.textOf(1), "");
    t.close();
  },
);

procTest(
  "subprocessExec(stderr: STDOUT): stdout's transport carries both streams in order; getPipeTransport(2) is null",
  async (loop) => {
    const p = new PipeWatcher(loop);
    const [t] = await loop.subprocessExec(
      () => p,
      ...py(`import sys
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"OUT:" + data); sys.stdout.flush()
sys.stderr.buffer.write(b"ERR:" + data); sys.stderr.flush()`),
      { stderr: STDOUT },
    );
    assert.notEqual(t.getPipeTransport(1), null);
    assert.equal(t.getPipeTransport(2), null);
    const stdin = t.getPipeTransport(0) as WriteTransport;
    stdin.write(bytes("test"));
    stdin.close();
    await p.lost;
    assert.equal(p.textOf(1), "OUT:testERR:test");
    assert.equal(p.nbytes(2), 0);
    assert.equal(p.pipeLost[2].done(), false);
    assert.equal(t.getReturncode(), 0);
    t.close();
  },
);

procTest(
  "subprocessShell() without pipes: no pipe transports, exit status 7, and close() after the end returns nothing and changes nothing",
  async (loop) => {
    const p = new PipeWatcher(loop);
    const [t] = await loop.subprocessShell(() => p, "exit 7", {
      stdin: null,
      stdout: null,
      stderr: null,
    });
    assert.equal(t.getPipeTransport(0), null);
    assert.equal(t.getPipeTransport(1), null);
    assert.equal(t.getPipeTransport(2), null);
    await p.lost;
    assert.deepEqual(p.events, ["made", "exited", "lost"]);
    assert.equal(t.getReturncode(), 7);
    assert.equal(t.close(), undefined);
    assert.equal(t.isClosing(), true);
    assert.equal(t.getReturncode(), 7);
    assert.deepEqual(p.events, ["made", "exited", "lost"]);
  },
);

procTest(
  'subprocessShell("echo Python"): closing stdin, every pipe is lost before connectionLost(); stdout holds the line, stderr nothing',
  async (loop) => {
    const p = new PipeWatcher(loop);
    const [t] = await loop.subprocessShell(() => p, "echo Python");
    t.getPipeTransport(0)!.close();
    await p.lost;
    for (const fd of [0, 1, 2]) {
      assert.equal(p.pipeLost[fd].done(), true, `pipe ${fd} not lost`);
    }
    assert.equal(p.textOf(1).replace(/\r?\n$/, ""), "Python");
    assert.equal(p.textOf(2), "");
    assert.equal(t.getReturncode(), 0);
    t.close();
  },
);
