/**
 * The TCP echo benchmark: aioloop's echo servers, one per API (`Protocol`,
 * streams, line-by-line streams, `BufferedProtocol`), next to the same
 * servers on CPython's asyncio and uvloop, a raw Deno server (`Deno.Conn`
 * read/write loop: the runtime's floor) and, for the `Protocol` rows,
 * Node's `net`.
 *
 *   deno run -A bench/echo_bench.ts [--quick] [--json] [--only=API,...]
 *
 * Needs a C compiler (`cc`). Node and Python are optional: a server whose
 * runtime is missing is left out (uvloop is looked for in /usr/bin/python3
 * first, then python3). `--only=streams,line` runs only those APIs' rows
 * (protocol, streams, line, buffered); the idle row belongs to protocol.
 * The whole run takes about 4 minutes on a 2-core machine, about 1 minute
 * with --quick.
 *
 * The rows, by API (the first column):
 * - protocol: an asyncio-style `Protocol` whose `dataReceived` writes the
 *   bytes back (`loop.createServer()`); 1 and 50 connections × 100 B,
 *   1 KiB and 16 KiB.
 * - streams: `startServer()`, each connection looping `reader.read(65536)`,
 *   `writer.write(data)`, `await writer.drain()` (asyncio: `start_server`);
 *   1 × 1 KiB and 50 × 100 B, 1 KiB and 16 KiB.
 * - line: the same with `reader.readline()`; 50 connections, each request
 *   one 64-byte line (63 letters and "\n").
 * - buffered: a `BufferedProtocol` whose `getBuffer()` returns one
 *   preallocated 64 KiB buffer and whose `bufferUpdated(n)` writes back
 *   `buf.subarray(0, n)` (asyncio: a `memoryview` slice); the streams rows'
 *   workloads.
 * The raw Deno server is the reference of every row: a program on Deno's
 * public API (`conn.read()`, `conn.write()`) that echoes what arrives,
 * lines included, without looking at them, from one reused buffer. "raw
 * Deno, owned" copies each read into a new array before writing it back:
 * the floor of the APIs that hand the reader bytes it owns (protocol and
 * streams; asyncio's `data_received` gets a new `bytes` too). "raw Deno,
 * handoff" (streams and line rows) has the streams shape and nothing else:
 * a read loop copies each read and hands it through a promise to a
 * coroutine that writes it and awaits the write. "raw Deno, copied"
 * (buffered rows) copies each read into a second, reused buffer and writes
 * it from there: the copy a buffered protocol's write of its own buffer
 * needs. The three floors read as
 * aioloop's transports do, through the connection's read op called
 * directly (see bench/echo_servers/raw_deno.ts), so they are what the
 * runtime allows, not what its public read allows. Node's `net` is only
 * in the protocol rows ("—" elsewhere). A row's cells are the same API on
 * each runtime; the last five columns are aioloop's rate divided by
 * uvloop's, by raw Deno's and by each floor's (1.00 = as fast).
 *
 * What it measures:
 * - Request/response throughput: bench/echo_load.c (compiled here with
 *   `cc -O2` into a temporary directory) opens 1 or 50 connections; each
 *   sends a message, waits for the whole echo, and sends again (in line
 *   rows the message ends in "\n"). All servers run side by side; each row
 *   measures ~2.5 s per server (0.5 s with --quick) after a short warm-up
 *   (longer before a server's first row, for every server alike),
 *   as five equal runs (three with --quick) that alternate between that
 *   row's servers, of which each server's median counts (a burst of
 *   interference on a shared machine spoils one run, not the median; the
 *   best run would favour the server whose runs vary most), and reports
 *   round trips per second. Where `taskset` is available, servers are pinned to
 *   CPU 0 and the load generator to CPU 1, so every server meets the same
 *   placement.
 * - Idle memory (protocol servers): 10,000 connections (2,000 with
 *   --quick) opened on a fresh server, each having echoed one byte, then
 *   left idle; reported as the growth of the server's resident set (VmRSS
 *   in /proc/<pid>/status) per connection, in KiB. For this row the ratio
 *   columns divide memory (lower is better). The raw Deno server keeps a
 *   16 KiB read buffer per connection, which is most of its figure.
 *
 * Servers live in bench/echo_servers/: aioloop.ts and asyncio_echo.py take
 * the API as their first argument (asyncio_echo.py also `--uvloop`); each
 * server listens on 127.0.0.1 port 0, prints `PORT <n>` first, and serves
 * until stdin closes or SIGTERM. If a server fails to start, its error is
 * printed and its cells read "n/a". Every child process (servers, load
 * generator) is killed on the way out, also on errors and Ctrl-C.
 *
 * --json prints `{ "rows": [...], "idle": {...} }` instead of the table
 * (each row names its `api`; `idle` is null without the protocol rows);
 * progress goes to stderr either way.
 *
 * @module
 */

/** The server APIs compared; each has its own server per runtime. */
type Api = "protocol" | "streams" | "line" | "buffered";
const APIS: Api[] = ["protocol", "streams", "line", "buffered"];

const quick = Deno.args.includes("--quick");
const asJson = Deno.args.includes("--json");
const onlyArg = Deno.args.find((a) => a.startsWith("--only="));
const only = onlyArg ? onlyArg.slice("--only=".length).split(",") : APIS;
for (const api of only) {
  if (!APIS.includes(api as Api)) {
    console.error(`--only: unknown API ${api} (expected ${APIS.join(",")})`);
    Deno.exit(2);
  }
}
/** Measured seconds per row, split into RUNS runs; the median run counts. */
const SECONDS = quick ? 0.5 : 2.5;
const RUNS = quick ? 3 : 5;
const WARMUP_SECONDS = quick ? 0.2 : 0.5;
/**
 * A server's first row warms it longer: a Deno server runs slower for its
 * first second or so under load (V8 is still compiling its hot path), and a
 * server that serves one row only (the line rows) would be measured then.
 * Every server gets the same, CPython's included.
 */
const FIRST_WARMUP_SECONDS = quick ? 0.5 : 2;
const IDLE_COUNT = quick ? 2_000 : 10_000;
/** One row: connections, the message size's label, its bytes. */
type Workload = [number, string, number];
const KIB = 1024;
/** The rows of each API, in the order they run and print. */
const WORKLOADS: Record<Api, Workload[]> = {
  protocol: [
    [1, "100 B", 100],
    [1, "1 KiB", KIB],
    [1, "16 KiB", 16 * KIB],
    [50, "100 B", 100],
    [50, "1 KiB", KIB],
    [50, "16 KiB", 16 * KIB],
  ],
  streams: [
    [1, "1 KiB", KIB],
    [50, "100 B", 100],
    [50, "1 KiB", KIB],
    [50, "16 KiB", 16 * KIB],
  ],
  line: [[50, "64 B lines", 64]],
  buffered: [
    [1, "1 KiB", KIB],
    [50, "100 B", 100],
    [50, "1 KiB", KIB],
    [50, "16 KiB", 16 * KIB],
  ],
};

const here = new URL(".", import.meta.url).pathname;
const decoder = new TextDecoder();

interface Collected {
  /** The text so far. */
  text: () => string;
  /** Settles when the stream ends. */
  done: Promise<void>;
}

/** Every process started and not yet reaped; killed on the way out. */
const children = new Set<Deno.ChildProcess>();

function log(message: string): void {
  console.error(message);
}

function killAll(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  children.clear();
}

function spawn(
  cmd: string,
  args: string[],
  stdin: "piped" | "null" = "null",
): Deno.ChildProcess {
  const child = new Deno.Command(cmd, {
    args,
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  child.status.finally(() => children.delete(child));
  return child;
}

/** Collects a stream's text (keeping the last 64 KiB) until it ends. */
function collect(stream: ReadableStream<Uint8Array>): Collected {
  const decoder = new TextDecoder();
  let text = "";
  const done = (async () => {
    try {
      for await (const chunk of stream) {
        text = (text + decoder.decode(chunk, { stream: true })).slice(-65536);
      }
    } catch {
      // The process was killed.
    }
  })();
  return { text: () => text, done };
}

/**
 * Reads stdout line by line; `next()` resolves with the next line, or null
 * at EOF or after `timeout` seconds. Keeps draining afterwards.
 */
function lines(stream: ReadableStream<Uint8Array>) {
  const decoder = new TextDecoder();
  const queue: string[] = [];
  const waiters: ((line: string | null) => void)[] = [];
  let ended = false;
  let partial = "";
  (async () => {
    try {
      for await (const chunk of stream) {
        partial += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = partial.indexOf("\n")) >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          const waiter = waiters.shift();
          if (waiter) waiter(line);
          else queue.push(line);
        }
      }
    } catch {
      // The process was killed.
    }
    ended = true;
    for (const waiter of waiters.splice(0)) waiter(null);
  })();
  return {
    next(timeout: number): Promise<string | null> {
      if (queue.length) return Promise.resolve(queue.shift()!);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          resolve(null);
        }, timeout * 1000);
        const done = (line: string | null) => {
          clearTimeout(timer);
          resolve(line);
        };
        waiters.push(done);
      });
    },
  };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    await child.stdin?.close();
  } catch {
    // Not piped, or already closed.
  }
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 3000);
    }),
  ]);
  clearTimeout(timer);
  if (!exited) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
    await child.status;
  }
}

interface ServerSpec {
  /** The table column: the runtime. */
  name: string;
  /** The APIs whose rows this server serves. */
  apis: Api[];
  cmd: string;
  args: string[];
}

/** A server's name in progress messages and its key while running. */
function label(spec: ServerSpec): string {
  return spec.apis.length === 1 ? `${spec.name} ${spec.apis[0]}` : spec.name;
}

interface Running {
  child: Deno.ChildProcess;
  port: number;
  stderr: Collected;
}

/**
 * Starts a server (with its open-file limit raised to the hard limit, so it
 * can hold the idle connections) and waits for its `PORT <n>` line.
 */
async function startServer(spec: ServerSpec): Promise<Running> {
  const child = spawn(
    "sh",
    [
      "-c",
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"',
      "sh",
      ...pinning.server,
      spec.cmd,
      ...spec.args,
    ],
    "piped",
  );
  const stderr = collect(child.stderr);
  const out = lines(child.stdout);
  const first = await out.next(30);
  const match = first?.match(/^PORT (\d+)$/);
  if (!match) {
    await stop(child);
    await stderr.done;
    throw new Error(
      `${label(spec)} server did not print "PORT <n>" (got ${
        JSON.stringify(first)
      }); stderr:\n${stderr.text()}`,
    );
  }
  return { child, port: Number(match[1]), stderr };
}

/**
 * With two CPUs or more and `taskset`, servers run on CPU 0 and the load
 * generator on CPU 1: the scheduler then cannot put a server and its
 * client on one CPU for some runs and on two for others, which swings the
 * one-connection rows by 3× or more. Empty when pinning is unavailable.
 */
const pinning: { server: string[]; load: string[] } = await (async () => {
  const none = { server: [], load: [] };
  if (navigator.hardwareConcurrency < 2) return none;
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", "0", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success
      ? { server: ["taskset", "-c", "0"], load: ["taskset", "-c", "1"] }
      : none;
  } catch {
    return none;
  }
})();

/** `cmd args` run through `prefix` (a pinning command), if any. */
function pinned(
  prefix: string[],
  cmd: string,
  args: string[],
): [string, string[]] {
  return prefix.length === 0
    ? [cmd, args]
    : [prefix[0], [...prefix.slice(1), cmd, ...args]];
}

async function load(
  bin: string,
  port: number,
  connections: number,
  size: number,
  seconds: number,
  line: boolean,
): Promise<number> {
  const child = spawn(...pinned(pinning.load, bin, [
    "127.0.0.1",
    String(port),
    String(connections),
    String(size),
    String(seconds),
    ...(line ? ["line"] : []),
  ]));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
      reject(new Error("load generator timed out"));
    }, (seconds + 30) * 1000);
  });
  try {
    const { success, stdout, stderr } = await Promise.race([
      child.output(),
      timeout,
    ]);
    if (!success) {
      throw new Error(`load generator failed: ${decoder.decode(stderr)}`);
    }
    return JSON.parse(decoder.decode(stdout)).rps;
  } finally {
    clearTimeout(timer);
  }
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+) kB/m);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until two RSS samples 250 ms apart differ by under 1% (max ~3 s). */
async function settledRss(pid: number): Promise<number> {
  let last = await rssKiB(pid);
  for (let i = 0; i < 12; i++) {
    await sleep(250);
    const now = await rssKiB(pid);
    if (Math.abs(now - last) <= last * 0.01) return now;
    last = now;
  }
  return last;
}

/** KiB of server RSS per idle connection. */
async function idleMemory(
  bin: string,
  spec: ServerSpec,
  count: number,
): Promise<number> {
  const server = await startServer(spec);
  try {
    const before = await settledRss(server.child.pid);
    const idle = spawn(bin, [
      "idle",
      "127.0.0.1",
      String(server.port),
      String(count),
    ], "piped");
    try {
      const idleErr = collect(idle.stderr);
      const line = await lines(idle.stdout).next(150);
      if (line === null || JSON.parse(line).connected !== count) {
        throw new Error(
          `idle connections failed (${
            JSON.stringify(line)
          }): ${idleErr.text()}` +
            `\nserver stderr: ${server.stderr.text()}`,
        );
      }
      const after = await settledRss(server.child.pid);
      return (after - before) / count;
    } finally {
      await stop(idle);
    }
  } finally {
    await stop(server.child);
  }
}

async function probe(cmd: string, args: string[]): Promise<string | null> {
  try {
    const { success, stdout } = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? decoder.decode(stdout).trim() : null;
  } catch {
    return null; // Not installed.
  }
}

/** The real interpreter path (through any version-manager shim) with `module`. */
async function findPython(
  candidates: string[],
  module: string,
): Promise<string | null> {
  for (const python of candidates) {
    const exe = await probe(python, [
      "-c",
      `import ${module}, sys; print(sys.executable)`,
    ]);
    if (exe) return exe;
  }
  return null;
}

async function servers(): Promise<ServerSpec[]> {
  const deno = Deno.execPath();
  const list: ServerSpec[] = [];
  for (const api of APIS) {
    list.push({
      name: "aioloop",
      apis: [api],
      cmd: deno,
      args: ["run", "-A", `${here}echo_servers/aioloop.ts`, api],
    });
  }
  // The floor for every API: it echoes whatever arrives, lines included.
  list.push({
    name: "raw Deno",
    apis: APIS,
    cmd: deno,
    args: ["run", "-A", `${here}echo_servers/raw_deno.ts`],
  });
  // The floor for APIs that hand over bytes the reader owns: a copy per read.
  list.push({
    name: "raw Deno, owned",
    apis: ["protocol", "streams"],
    cmd: deno,
    args: ["run", "-A", `${here}echo_servers/raw_deno.ts`, "owned"],
  });
  // The floor of the streams shape: a read loop handing copies to a writer.
  list.push({
    name: "raw Deno, handoff",
    apis: ["streams", "line"],
    cmd: deno,
    args: ["run", "-A", `${here}echo_servers/raw_deno.ts`, "handoff"],
  });
  // The floor of a buffered protocol: a copy of each write into a buffer.
  list.push({
    name: "raw Deno, copied",
    apis: ["buffered"],
    cmd: deno,
    args: ["run", "-A", `${here}echo_servers/raw_deno.ts`, "copied"],
  });
  if (await probe("node", ["--version"])) {
    list.push({
      name: "Node net",
      apis: ["protocol"],
      cmd: "node",
      args: [`${here}echo_servers/node_net.mjs`],
    });
  } else log("node not found: skipping Node net");
  const script = `${here}echo_servers/asyncio_echo.py`;
  const python = await findPython(["python3", "/usr/bin/python3"], "asyncio");
  if (python) {
    for (const api of APIS) {
      list.push({
        name: "asyncio",
        apis: [api],
        cmd: python,
        args: [script, api],
      });
    }
  } else log("python3 not found: skipping asyncio");
  const uvPython = await findPython(["/usr/bin/python3", "python3"], "uvloop");
  if (uvPython) {
    for (const api of APIS) {
      list.push({
        name: "uvloop",
        apis: [api],
        cmd: uvPython,
        args: [script, api, "--uvloop"],
      });
    }
  } else log("no python3 with uvloop: skipping uvloop");
  // Only the servers of the APIs asked for (--only).
  return list
    .map((spec) => ({
      ...spec,
      apis: spec.apis.filter((api) => only.includes(api)),
    }))
    .filter((spec) => spec.apis.length > 0);
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

interface Row {
  api: Api;
  workload: string;
  connections: number;
  size: number;
  /** req/s per server name; null = n/a. */
  rps: Record<string, number | null>;
}

/** The build directory (removed on the way out). */
let buildDir: string | null = null;

function removeBuildDir(): void {
  if (buildDir === null) return;
  try {
    Deno.removeSync(buildDir, { recursive: true });
  } catch {
    // Already gone.
  }
  buildDir = null;
}

async function main(): Promise<void> {
  const dir = buildDir = await Deno.makeTempDir({ prefix: "echo_bench_" });
  try {
    const bin = `${dir}/echo_load`;
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-o", bin, `${here}echo_load.c`],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!cc.success) throw new Error("compiling bench/echo_load.c failed");

    const specs = await servers();
    const rows: Row[] = [];
    for (const api of APIS.filter((api) => only.includes(api))) {
      for (const [connections, sizeLabel, size] of WORKLOADS[api]) {
        rows.push({
          api,
          workload: `${connections} conn × ${sizeLabel}`,
          connections,
          size,
          rps: {},
        });
      }
    }
    // The columns: one per runtime, whatever the API.
    const names = [...new Set(specs.map((s) => s.name))];
    const idle: Record<string, number | null> = {};

    // Every server runs at once (idle while another is loaded), and each
    // row's runs alternate between them: on a shared machine a burst of
    // interference then hits every server's runs alike, not one server.
    const running = new Map<string, Running>();
    /** The servers that have served a row (their first warm-up is done). */
    const warmed = new Set<string>();
    try {
      for (const spec of specs) {
        try {
          log(`${label(spec)}: starting`);
          running.set(label(spec), await startServer(spec));
        } catch (error) {
          log(
            `${label(spec)}: ${error instanceof Error ? error.message : error}`,
          );
        }
      }
      for (const row of rows) {
        // This row's servers: null (n/a) until one of its runs succeeds.
        const mine = specs.filter((spec) => spec.apis.includes(row.api));
        for (const spec of mine) row.rps[spec.name] = null;
        const live = mine.filter((spec) => running.has(label(spec)));
        const line = row.api === "line";
        for (const spec of live) {
          const first = !warmed.has(label(spec));
          warmed.add(label(spec));
          await load(
            bin,
            running.get(label(spec))!.port,
            row.connections,
            row.size,
            first ? FIRST_WARMUP_SECONDS : WARMUP_SECONDS,
            line,
          ).catch(() => 0);
        }
        const runs: Record<string, number[]> = {};
        for (let run = 0; run < RUNS; run++) {
          for (const spec of live) {
            const server = running.get(label(spec))!;
            try {
              const rps = await load(
                bin,
                server.port,
                row.connections,
                row.size,
                SECONDS / RUNS,
                line,
              );
              (runs[spec.name] ??= []).push(rps);
            } catch (error) {
              log(
                `${label(spec)}: ${
                  error instanceof Error ? error.message : error
                }\n${server.stderr.text()}`,
              );
            }
          }
        }
        for (const spec of live) {
          const done = runs[spec.name];
          if (done !== undefined) row.rps[spec.name] = median(done);
          const rps = row.rps[spec.name];
          log(
            `${label(spec)}: ${row.workload}: ${
              rps === null ? "n/a" : rps.toFixed(0)
            } req/s`,
          );
        }
      }
    } finally {
      for (const server of running.values()) await stop(server.child);
    }
    // Idle memory: the protocol servers, each started afresh.
    for (const spec of specs.filter((s) => s.apis.includes("protocol"))) {
      try {
        idle[spec.name] = await idleMemory(bin, spec, IDLE_COUNT);
        log(
          `${spec.name}: ${
            idle[spec.name]!.toFixed(2)
          } KiB per idle connection`,
        );
      } catch (error) {
        log(
          `${spec.name}: idle memory: ${
            error instanceof Error ? error.message : error
          }`,
        );
        idle[spec.name] = null;
      }
    }

    if (asJson) {
      console.log(JSON.stringify({
        seconds: SECONDS,
        rows: rows.map(({ api, workload, connections, size, rps }) => ({
          api,
          workload,
          connections,
          size,
          rps,
        })),
        idle: only.includes("protocol")
          ? { connections: IDLE_COUNT, kibPerConnection: idle }
          : null,
      }));
      return;
    }
    const ratio = (
      a: number | null | undefined,
      b: number | null | undefined,
    ) => a == null || b == null || b === 0 ? "n/a" : `${(a / b).toFixed(2)}`;
    console.log(
      `TCP echo, requests per second (request/response, median of ${RUNS} runs of ${
        (SECONDS / RUNS).toFixed(2)
      } s per row` +
        `${quick ? ", --quick" : ""}${
          pinning.server.length > 0
            ? "; servers on CPU 0, load generator on CPU 1"
            : ""
        }${
          only.includes("protocol")
            ? "); last row: server RSS growth per idle connection"
            : ")"
        }`,
    );
    console.log(
      `| API | workload | ${
        names.map((n) => `${n} req/s`).join(" | ")
      } | aioloop ÷ uvloop | aioloop ÷ raw Deno | aioloop ÷ raw Deno, owned | aioloop ÷ raw Deno, handoff | aioloop ÷ raw Deno, copied |`,
    );
    console.log(
      `| --- | --- | ${
        names.map(() => "---:").join(" | ")
      } | ---: | ---: | ---: | ---: | ---: |`,
    );
    for (const row of rows) {
      // undefined: the runtime has no server for this API; null: it failed.
      const cells = names.map((n) => {
        const v = row.rps[n];
        if (v === undefined) return "—";
        return v === null ? "n/a" : Math.round(v).toLocaleString("en-US");
      });
      console.log(
        `| ${row.api} | ${row.workload} | ${cells.join(" | ")} | ${
          ratio(row.rps["aioloop"], row.rps["uvloop"])
        } | ${ratio(row.rps["aioloop"], row.rps["raw Deno"])} | ${
          ratio(row.rps["aioloop"], row.rps["raw Deno, owned"])
        } | ${ratio(row.rps["aioloop"], row.rps["raw Deno, handoff"])} | ${
          ratio(row.rps["aioloop"], row.rps["raw Deno, copied"])
        } |`,
      );
    }
    if (only.includes("protocol")) {
      const memCells = names.map((n) => {
        const v = idle[n];
        if (v === undefined) return "—";
        return v === null ? "n/a" : `${v.toFixed(1)} KiB`;
      });
      console.log(
        `| protocol | idle memory per conn (${
          IDLE_COUNT.toLocaleString("en-US")
        } conns) | ${memCells.join(" | ")} | ${
          ratio(idle["aioloop"], idle["uvloop"])
        } | ${ratio(idle["aioloop"], idle["raw Deno"])} | ${
          ratio(idle["aioloop"], idle["raw Deno, owned"])
        } | n/a | n/a |`,
      );
    }
  } finally {
    killAll();
    removeBuildDir();
  }
}

const onInterrupt = () => {
  killAll();
  removeBuildDir();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", onInterrupt);
try {
  await main();
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt);
}
