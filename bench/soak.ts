/**
 * Soak and memory benchmark (not a timed test): looks for leaks of memory
 * and file descriptors in aioloop's stream servers and clients.
 *
 *   deno task soak      (deno run -A --v8-flags=--expose-gc bench/soak.ts)
 *
 * 1. Echo under load: 500,000 requests of 1 KiB over 50 connections
 *    against aioloop's `createServer` echo server (a child process), the
 *    load coming from raw `Deno.connect` loops in another child. Every
 *    25,000 requests the server runs gc and reports its RSS and V8 heapUsed;
 *    the table lists the samples and a least-squares slope in bytes per
 *    1,000 requests, fitted after warm-up (from the second loaded sample
 *    on): a leak shows as a steadily positive slope (RSS also moves in
 *    allocator-sized steps, so heapUsed is the finer signal).
 * 2. Idle connections: 10,000 connections (fewer, with a note, if the open
 *    file limit is short), each having echoed one byte, held open against
 *    aioloop's protocol server and against a raw `Deno.listen` server (one
 *    read loop and 16 KiB buffer per connection), each in its own process;
 *    reports the growth of RSS, heapUsed and external memory per connection,
 *    measured inside the server after gc (baseline taken after a warm-up of
 *    100 connections), and whether the server's fd count drops back by
 *    the number of connections once the clients hang up.
 * 3. Connection churn: 10,000 connections (100 at a time) opened and closed
 *    in this process over TCP, TLS (tests/fixtures/tls) and a Unix socket,
 *    with aioloop as both server and client: each connects, writes 5 bytes,
 *    awaits the echo and closes. Reports the time taken, this process's fd
 *    count (/proc/self/fd) and Deno resource count (Deno 2 has no
 *    `Deno.resources()`; its internal table is read instead) before and
 *    right after `server.close()` + `await server.waitClosed()`, and the fd
 *    count once settled: Deno releases a closed TLS socket's fd in the
 *    background (raw `Deno.connectTls` does too), so fds get up to 30 s to
 *    come back.
 *
 * Prints `soak: ok` if every fd count came back to its baseline; otherwise
 * the differences, and exits 1. Children run with the soft open-file limit
 * raised to the hard one (`bash -c "ulimit -n ..."`), and are all killed on
 * the way out (also on errors, Ctrl-C and the 5-minute watchdog).
 *
 * @module
 */
import {
  createDefaultContext,
  getRunningLoop,
  Protocol,
  run,
  type SSLContext,
  type Transport,
} from "../mod.ts";
import { EchoProtocol, fdCount } from "./_soak_child.ts";

const REQUESTS = 500_000;
const LOAD_CONNECTIONS = 50;
const SIZE = 1024;
const SAMPLE_EVERY = 25_000;
const IDLE = 10_000;
const CHURN = 10_000;
const BATCH = 100;
const WATCHDOG_SECONDS = 300;
/** How long closed sockets may take to release their fds. */
const SETTLE_SECONDS = 30;

const childScript = new URL("./_soak_child.ts", import.meta.url).pathname;
const tlsDir = new URL("../tests/fixtures/tls/", import.meta.url).pathname;
const children = new Set<Child>();
const failures: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kib = (bytes: number) => (bytes / 1024).toFixed(2);
const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const [n, row] of cells.entries()) {
    console.log(row.map((c, i) => c.padStart(widths[i])).join("  "));
    if (n === 0) console.log(widths.map((w) => "-".repeat(w)).join("  "));
  }
  console.log();
}

/** Bytes per 1,000 requests: the least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 1000;
}

/** A child Deno process (bench/_soak_child.ts) read line by line. */
class Child {
  readonly proc: Deno.ChildProcess;
  readonly seen: string[] = [];
  #queue: string[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #stderr = "";
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(args: string[]) {
    const proc = this.proc = new Deno.Command("bash", {
      args: [
        "-c",
        'ulimit -n "$(ulimit -Hn)"; exec "$@"',
        "bash",
        Deno.execPath(),
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        childScript,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    children.add(this);
    this.#stdin = this.proc.stdin.getWriter();
    this.#read();
    (async () => {
      for await (
        const s of proc.stderr.pipeThrough(new TextDecoderStream())
      ) {
        this.#stderr = (this.#stderr + s).slice(-4000);
      }
    })();
  }

  async #read(): Promise<void> {
    let pending = "";
    for await (
      const s of this.proc.stdout.pipeThrough(new TextDecoderStream())
    ) {
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      this.seen.push(...lines);
      this.#queue.push(...lines);
      this.#wake?.();
    }
    this.#ended = true;
    this.#wake?.();
  }

  /** The fields after `tag` of the next line starting with it. */
  async expect(tag: string, seconds = 60): Promise<number[]> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const i = this.#queue.findIndex((l) => l.startsWith(tag + " "));
      if (i >= 0) {
        const [line] = this.#queue.splice(0, i + 1).slice(-1);
        return line.split(" ").slice(1).map(Number);
      }
      if (this.#ended || Date.now() > deadline) {
        throw new Error(
          `child ${this.proc.pid}: no "${tag}" line; stderr:\n${this.#stderr}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now());
        this.#wake = () => (clearTimeout(t), r());
      });
      this.#wake = null;
    }
  }

  send(line: string): Promise<void> {
    return this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes stdin (children exit at EOF); SIGKILL after 5 s. */
  async stop(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    const t = setTimeout(() => this.kill(), 5000);
    await this.proc.status;
    clearTimeout(t);
    children.delete(this);
  }

  kill(): void {
    try {
      this.proc.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

interface Mem {
  requests: number;
  rss: number;
  heap: number;
  external: number;
  fds: number;
}
const toMem = ([requests, rss, heap, external, fds]: number[]): Mem => ({
  requests,
  rss,
  heap,
  external,
  fds,
});

async function mem(server: Child): Promise<Mem> {
  await server.send("mem");
  return toMem(await server.expect("MEM"));
}

/** Polls the server until its fd count is back to `fds` (up to 5 s). */
async function settledFds(server: Child, fds: number): Promise<Mem> {
  let m = await mem(server);
  for (let i = 0; i < 50 && m.fds !== fds; i++) {
    await sleep(100);
    m = await mem(server);
  }
  return m;
}

function checkFds(what: string, before: number, after: number): string {
  if (after === before) return "yes";
  failures.push(`${what}: fds ${before} -> ${after} (${after - before})`);
  return `NO (${after - before > 0 ? "+" : ""}${after - before})`;
}

async function echoUnderLoad(): Promise<void> {
  console.log(
    `1. Echo under load: ${REQUESTS.toLocaleString("en-US")} requests × ` +
      `${SIZE} B over ${LOAD_CONNECTIONS} connections (aioloop server; ` +
      `gc before each sample)`,
  );
  const server = new Child(["serve", "aioloop", String(SAMPLE_EVERY)]);
  const [port] = await server.expect("PORT");
  const base = await mem(server);
  const client = new Child([
    "load",
    String(port),
    String(LOAD_CONNECTIONS),
    String(SIZE),
    String(REQUESTS),
  ]);
  const [done, seconds] = await client.expect("DONE", 180);
  await client.stop();
  const end = await settledFds(server, base.fds);
  const samples = [
    base,
    ...server.seen.filter((l) => l.startsWith("SAMPLE "))
      .map((l) => toMem(l.split(" ").slice(1).map(Number))),
  ];
  await server.stop();
  table(
    ["requests", "RSS MiB", "heapUsed MiB", "external MiB", "fds"],
    [
      ...samples.map((s) => [
        s.requests.toLocaleString("en-US"),
        mib(s.rss),
        mib(s.heap),
        mib(s.external),
        s.fds,
      ]),
      ["after close", mib(end.rss), mib(end.heap), mib(end.external), end.fds],
    ],
  );
  const fit = samples.slice(2);
  const xs = fit.map((s) => s.requests);
  console.log(
    `${done.toLocaleString("en-US")} requests in ${seconds.toFixed(1)} s ` +
      `(${Math.round(done / seconds).toLocaleString("en-US")} req/s); ` +
      `trend over ${fit[0]?.requests.toLocaleString("en-US")}..` +
      `${fit.at(-1)?.requests.toLocaleString("en-US")} requests: ` +
      `RSS ${slope(xs, fit.map((s) => s.rss)).toFixed(0)} B/1k req, ` +
      `heapUsed ${slope(xs, fit.map((s) => s.heap)).toFixed(0)} B/1k req; ` +
      `server fds back to baseline: ${
        checkFds("echo under load (server)", base.fds, end.fds)
      }\n`,
  );
}

/** This process's open-file limit, soft (`-S`) or hard (`-H`). */
async function fdLimit(which: "S" | "H"): Promise<number> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `ulimit -${which}n`],
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "unlimited" ? Infinity : Number(text);
}

async function idleConnections(): Promise<void> {
  const limit = await fdLimit("H");
  const count = Math.min(IDLE, limit - 200);
  console.log(
    `2. Idle connections: ${count.toLocaleString("en-US")} held open, ` +
      `server memory per connection (after gc)`,
  );
  if (count < IDLE) {
    console.log(
      `note: open-file hard limit is ${limit}; scaled down from ${IDLE}`,
    );
  }
  const rows = [];
  for (const kind of ["aioloop", "raw"]) {
    const server = new Child(["serve", kind]);
    const [port] = await server.expect("PORT");
    // Warm-up: the runtime opens a few fds of its own on first use.
    const warm = new Child(["idle", String(port), "100"]);
    await warm.expect("CONNECTED");
    await warm.stop();
    await sleep(300);
    const before = await mem(server);
    const client = new Child(["idle", String(port), String(count)]);
    const [connected] = await client.expect("CONNECTED", 120);
    await sleep(300);
    const held = await mem(server);
    await client.stop();
    // The runtime may open a pair of fds of its own on a first close (the
    // raw server does), so the baseline is the held count less the clients.
    const base = held.fds - connected;
    const after = await settledFds(server, base);
    await server.stop();
    rows.push([
      kind === "raw" ? "raw Deno.listen" : "aioloop createServer",
      connected,
      mib(before.rss),
      mib(held.rss),
      kib((held.rss - before.rss) / connected),
      kib((held.heap - before.heap) / connected),
      kib((held.external - before.external) / connected),
      `${before.fds}/${held.fds}/${after.fds}`,
      checkFds(`idle ${kind} (server)`, base, after.fds),
    ]);
  }
  table([
    "server",
    "conns",
    "RSS MiB before",
    "held",
    "RSS KiB/conn",
    "heap KiB/conn",
    "external KiB/conn",
    "fds before/held/after",
    "fds back (held - conns)",
  ], rows);
}

/** Connects, writes 5 bytes, waits for their echo, closes. */
class PingProtocol extends Protocol {
  readonly done = Promise.withResolvers<void>();
  #got = 0;
  #transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.#transport = transport;
    transport.write(new TextEncoder().encode("ping!"));
  }
  override dataReceived(data: Uint8Array): void {
    if ((this.#got += data.length) >= 5) this.#transport.close();
  }
  override connectionLost(exc: Error | null): void {
    if (exc && this.#got < 5) this.done.reject(exc);
    else this.done.resolve();
  }
}

function resourceCount(): number | null {
  // Deno 2 dropped Deno.resources(); its internal core table is the same list.
  const internal = (Deno as unknown as Record<symbol, unknown>)[
    (Deno as unknown as { internal: symbol }).internal
  ] as { core?: { resources?: () => object } } | undefined;
  const table = internal?.core?.resources?.();
  return table ? Object.keys(table).length : null;
}

async function churn(): Promise<void> {
  console.log(
    `3. Churn: ${CHURN.toLocaleString("en-US")} connections, ${BATCH} at ` +
      `a time, aioloop server and client in this process`,
  );
  const soft = await fdLimit("S");
  if (soft < CHURN) {
    console.log(
      `note: open-file soft limit is ${soft}: Deno frees closed TLS sockets' ` +
        `fds in the background, thousands can be pending, and accept() or ` +
        `connect() may meet EMFILE (raise it: ulimit -n $(ulimit -Hn))`,
    );
  }
  const read = (f: string) => Deno.readTextFileSync(tlsDir + f);
  const serverSsl = createDefaultContext({
    purpose: "clientAuth",
    cert: read("server.pem"),
    key: read("server.key"),
  });
  const clientSsl = createDefaultContext({ caCerts: [read("ca.pem")] });
  const dir = Deno.makeTempDirSync({ prefix: "aioloop_soak_" });
  const rows = [];
  try {
    for (const kind of ["TCP", "TLS", "Unix"]) {
      const row = await run(() => churnOne(kind, serverSsl, clientSsl, dir));
      rows.push(row);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  table([
    "transport",
    "conns",
    "seconds",
    "conn/s",
    "fds before",
    "after",
    "settled",
    "resources before",
    "after",
    "fds back",
  ], rows);
}

async function churnOne(
  kind: string,
  serverSsl: SSLContext,
  clientSsl: SSLContext,
  dir: string,
): Promise<(string | number)[]> {
  const loop = getRunningLoop();
  const fds = fdCount(), resources = resourceCount();
  const path = `${dir}/echo.sock`;
  const ssl = kind === "TLS" ? serverSsl : null;
  const server = kind === "Unix"
    ? await loop.createUnixServer(() => new EchoProtocol(), path)
    : await loop.createServer(() => new EchoProtocol(), "127.0.0.1", 0, {
      ssl,
    });
  const [, port] = kind === "Unix"
    ? [null, 0]
    : server.sockets[0].getsockname() as [string, number];
  const start = performance.now();
  for (let i = 0; i < CHURN; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, CHURN - i) }, async () => {
        const [, p] = kind === "Unix"
          ? await loop.createUnixConnection(() => new PingProtocol(), path)
          : await loop.createConnection(
            () => new PingProtocol(),
            "127.0.0.1",
            port,
            { ssl: kind === "TLS" ? clientSsl : null },
          );
        await p.done.promise;
      }),
    );
  }
  const seconds = (performance.now() - start) / 1000;
  server.close();
  await server.waitClosed();
  const fdsAfter = fdCount(), resourcesAfter = resourceCount();
  const closed = performance.now();
  let fdsSettled = fdsAfter;
  while (
    fdsSettled !== fds && performance.now() - closed < SETTLE_SECONDS * 1000
  ) {
    await sleep(100);
    fdsSettled = fdCount();
  }
  return [
    kind,
    CHURN,
    seconds.toFixed(2),
    Math.round(CHURN / seconds),
    fds,
    fdsAfter,
    `${fdsSettled} (${((performance.now() - closed) / 1000).toFixed(1)} s)`,
    resources ?? "n/a",
    resourcesAfter ?? "n/a",
    checkFds(`churn ${kind}`, fds, fdsSettled),
  ];
}

function killAll(): void {
  for (const child of children) child.kill();
  children.clear();
}

const onInterrupt = () => {
  killAll();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", onInterrupt);
const watchdog = setTimeout(() => {
  console.log(`soak: gave up after ${WATCHDOG_SECONDS} s`);
  killAll();
  Deno.exit(1);
}, WATCHDOG_SECONDS * 1000);
Deno.unrefTimer(watchdog);
try {
  await echoUnderLoad();
  await idleConnections();
  await churn();
} finally {
  killAll();
  clearTimeout(watchdog);
  Deno.removeSignalListener("SIGINT", onInterrupt);
}
if (failures.length === 0) console.log("soak: ok");
else {
  console.log(`soak: fds not back to baseline:\n  ${failures.join("\n  ")}`);
  Deno.exit(1);
}
