/**
 * probes_test.ts: a program whose loop ends with one thing still open or
 * pending (argv[0] names it), after which the process must exit at once
 * with status 0:
 * - `server`: a `startServer()` server, serving;
 * - `client`: an `openConnection()` client to it, a task blocked in
 *   `reader.read()`;
 * - `tls`: the same over TLS (tests/fixtures/tls);
 * - `unix`: the same over a Unix socket in a temporary folder;
 * - `sock-recv`: a `loop.sockRecv()` on a connected `Socket` no one writes to;
 * - `timer`: a `callLater()` an hour away;
 * - `signal`: a `SIGUSR1` handler (`addSignalHandler`);
 * - `executor`: a default-executor job still running when main returns
 *   (`run()` waits for it, as asyncio's does, then returns);
 * - `pool`: a `WorkerPoolExecutor` the program made, used once and never
 *   shut down;
 * - `subprocess-stdin`: a `createSubprocessExec()` child (`sleep 30`)
 *   whose stdin, stdout and stderr are all pipes;
 * - `all`: every one of those at once.
 * argv[1] says how the loop ends: `run` (the default), `run()` returns;
 * `close`, `newEventLoop()`, `runUntilComplete()`, then `loop.close()`;
 * `never-run`, `newEventLoop()` and `loop.close()` without running it, with
 * only what needs no running loop (`timer`, `signal`, and for `sock-recv` a
 * listening `Socket` watched by `addReader()`).
 * Prints `pid N` for a child it starts, then `returned`.
 */
import {
  type AbstractEventLoop,
  createDefaultContext,
  createSubprocessExec,
  getRunningLoop,
  newEventLoop,
  openConnection,
  openUnixConnection,
  PIPE,
  run,
  socket,
  startServer,
  startUnixServer,
  WorkerPoolExecutor,
} from "../../../mod.ts";

const [what, how = "run"] = Deno.args;
const tempDir = Deno.makeTempDirSync();
const all = what === "all";
const wants = (name: string) => all || what === name;

/** Busy-waits `ms` milliseconds in a worker (no timer, no loop). */
function spin(ms: number): number {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return n;
}

async function main(loop: AbstractEventLoop): Promise<void> {
  let port = 0;
  if (wants("server") || wants("client")) {
    const server = await startServer(() => {}, "127.0.0.1", 0);
    port = (server.sockets[0].getsockname() as [string, number])[1];
  }
  if (wants("client")) {
    const [reader] = await openConnection("127.0.0.1", port);
    const reading = loop.createTask(() => reader.read(10));
    await loop.createTask(async () => {}); // lets the read start
    if (reading.done()) throw new Error("the read ended early");
  }
  if (wants("tls")) {
    const read = (name: string) =>
      Deno.readTextFileSync(
        new URL(`../../fixtures/tls/${name}`, import.meta.url),
      );
    const server = await startServer(() => {}, "127.0.0.1", 0, {
      ssl: createDefaultContext({
        purpose: "clientAuth",
        cert: read("server.pem"),
        key: read("server.key"),
      }),
    });
    const [, tlsPort] = server.sockets[0].getsockname() as [string, number];
    const [reader] = await openConnection("127.0.0.1", tlsPort, {
      ssl: createDefaultContext({ caCerts: [read("ca.pem")] }),
    });
    loop.createTask(() => reader.read(10));
  }
  if (wants("unix")) {
    const path = `${tempDir}/probe.sock`;
    await startUnixServer(() => {}, path);
    const [reader] = await openUnixConnection(path);
    loop.createTask(() => reader.read(10));
  }
  if (wants("sock-recv")) {
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    const sock = socket();
    sock.setblocking(false);
    await loop.sockConnect(sock, listener.getsockname());
    loop.createTask(() => loop.sockRecv(sock, 10));
  }
  if (wants("timer")) loop.callLater(3600, () => console.log("timer ran"));
  if (wants("signal")) {
    loop.addSignalHandler("SIGUSR1", () => console.log("signal"));
  }
  if (wants("executor")) {
    const job = loop.runInExecutor(null, spin, 300);
    if (job.done()) throw new Error("the job ended early");
  }
  if (wants("pool")) {
    const pool = new WorkerPoolExecutor({ maxWorkers: 1 });
    await loop.runInExecutor(pool, spin, 1);
  }
  if (wants("subprocess-stdin")) {
    const proc = await createSubprocessExec("sleep", "30", {
      stdin: PIPE,
      stdout: PIPE,
      stderr: PIPE,
    });
    console.log(`pid ${proc.pid}`);
  }
}

if (how === "never-run") {
  // Only what needs no running loop: the loop is made and closed.
  const loop = newEventLoop();
  if (wants("sock-recv")) {
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    loop.addReader(listener, () => console.log("readable"));
  }
  if (wants("timer")) loop.callLater(3600, () => console.log("timer ran"));
  if (wants("signal")) {
    loop.addSignalHandler("SIGUSR1", () => console.log("signal"));
  }
  loop.close();
} else if (how === "close") {
  const loop = newEventLoop();
  try {
    await loop.runUntilComplete(() => main(loop));
  } finally {
    loop.close();
  }
} else {
  await run(() => main(getRunningLoop()));
}
Deno.removeSync(tempDir, { recursive: true });
console.log("returned");
