/**
 * The TCP echo benchmark: aioloop's `Protocol`-based echo server next to the
 * same server written on raw Deno (`Deno.Conn` read/write loop: the runtime's
 * floor), Node's `net`, CPython's asyncio and uvloop.
 *
 *   deno run -A bench/echo_bench.ts [--quick] [--json]
 *
 * Needs a C compiler (`cc`). Node and Python are optional: a server whose
 * runtime is missing is left out (uvloop is looked for in /usr/bin/python3
 * first, then python3).
 *
 * What it measures:
 * - Request/response throughput: bench/echo_load.c (compiled here with
 *   `cc -O2` into a temporary directory) opens 1 or 50 connections; each
 *   sends a message of 100 B, 1 KiB or 16 KiB, waits for the whole echo,
 *   and sends again. All servers run side by side; each row measures ~2 s
 *   per server (0.5 s with --quick) after a short warm-up, as three equal
 *   runs that alternate between the servers, of which each server's best
 *   counts (shared or virtual machines have bursts of interference; the
 *   best run is the least disturbed), and reports round trips per second.
 *   Where `taskset` is available, servers are pinned to CPU 0 and the load
 *   generator to CPU 1, so every server meets the same placement. The last column is
 *   aioloop's rate divided by raw Deno's (1.00 = as fast as the floor).
 * - Idle memory: 10,000 connections (2,000 with --quick) opened on a fresh
 *   server, each having echoed one byte, then left idle; reported as the
 *   growth of the server's resident set (VmRSS in /proc/<pid>/status) per
 *   connection, in KiB. For this row the ratio column is aioloop ÷ raw Deno
 *   memory (lower is better). The raw Deno server keeps a 16 KiB read
 *   buffer per connection, which is most of its figure.
 *
 * Servers live in bench/echo_servers/; each listens on 127.0.0.1 port 0,
 * prints `PORT <n>` first, and serves until stdin closes or SIGTERM. If the
 * aioloop server fails to start, its stderr is printed and its cells read
 * "n/a". Every child process (servers, load generator) is killed on the way
 * out, also on errors and Ctrl-C.
 *
 * --json prints `{ "rows": [...], "idle": {...} }` instead of the table;
 * progress goes to stderr either way.
 *
 * @module
 */

const quick = Deno.args.includes("--quick");
const asJson = Deno.args.includes("--json");
/** Measured seconds per row, split into RUNS runs; the best run counts. */
const SECONDS = quick ? 0.5 : 2;
const RUNS = 3;
const WARMUP_SECONDS = quick ? 0.2 : 0.5;
const IDLE_COUNT = quick ? 2_000 : 10_000;
const CONNECTIONS = [1, 50];
const SIZES: [string, number][] = [
  ["100 B", 100],
  ["1 KiB", 1024],
  ["16 KiB", 16 * 1024],
];

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
  name: string;
  cmd: string;
  args: string[];
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
      `${spec.name} server did not print "PORT <n>" (got ${
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
): Promise<number> {
  const child = spawn(...pinned(pinning.load, bin, [
    "127.0.0.1",
    String(port),
    String(connections),
    String(size),
    String(seconds),
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
  const list: ServerSpec[] = [
    {
      name: "aioloop",
      cmd: deno,
      args: ["run", "-A", `${here}echo_servers/aioloop.ts`],
    },
    {
      name: "raw Deno",
      cmd: deno,
      args: ["run", "-A", `${here}echo_servers/raw_deno.ts`],
    },
  ];
  if (await probe("node", ["--version"])) {
    list.push({
      name: "Node net",
      cmd: "node",
      args: [`${here}echo_servers/node_net.mjs`],
    });
  } else log("node not found: skipping Node net");
  const script = `${here}echo_servers/asyncio_echo.py`;
  const python = await findPython(["python3", "/usr/bin/python3"], "asyncio");
  if (python) {
    list.push({ name: "asyncio", cmd: python, args: [script] });
  } else log("python3 not found: skipping asyncio");
  const uvPython = await findPython(["/usr/bin/python3", "python3"], "uvloop");
  if (uvPython) {
    list.push({ name: "uvloop", cmd: uvPython, args: [script, "--uvloop"] });
  } else log("no python3 with uvloop: skipping uvloop");
  return list;
}

interface Row {
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
    for (const connections of CONNECTIONS) {
      for (const [label, size] of SIZES) {
        rows.push({
          workload: `${connections} conn × ${label}`,
          connections,
          size,
          rps: {},
        });
      }
    }
    const idle: Record<string, number | null> = {};

    // Every server runs at once (idle while another is loaded), and each
    // row's runs alternate between them: on a shared machine a burst of
    // interference then hits every server's runs alike, not one server.
    const running = new Map<string, Running>();
    try {
      for (const spec of specs) {
        try {
          log(`${spec.name}: starting`);
          running.set(spec.name, await startServer(spec));
        } catch (error) {
          log(
            `${spec.name}: ${error instanceof Error ? error.message : error}`,
          );
        }
      }
      for (const row of rows) {
        for (const spec of specs) row.rps[spec.name] = null;
        const live = specs.filter((spec) => running.has(spec.name));
        for (const spec of live) {
          await load(
            bin,
            running.get(spec.name)!.port,
            row.connections,
            row.size,
            WARMUP_SECONDS,
          ).catch(() => 0);
        }
        for (let run = 0; run < RUNS; run++) {
          for (const spec of live) {
            const server = running.get(spec.name)!;
            try {
              const rps = await load(
                bin,
                server.port,
                row.connections,
                row.size,
                SECONDS / RUNS,
              );
              row.rps[spec.name] = Math.max(row.rps[spec.name] ?? 0, rps);
            } catch (error) {
              log(
                `${spec.name}: ${
                  error instanceof Error ? error.message : error
                }\n${server.stderr.text()}`,
              );
            }
          }
        }
        for (const spec of live) {
          const rps = row.rps[spec.name];
          log(
            `${spec.name}: ${row.workload}: ${
              rps === null ? "n/a" : rps.toFixed(0)
            } req/s`,
          );
        }
      }
    } finally {
      for (const server of running.values()) await stop(server.child);
    }
    for (const spec of specs) {
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
        rows: rows.map(({ workload, connections, size, rps }) => ({
          workload,
          connections,
          size,
          rps,
        })),
        idle: { connections: IDLE_COUNT, kibPerConnection: idle },
      }));
      return;
    }
    const names = specs.map((s) => s.name);
    const ratio = (
      a: number | null | undefined,
      b: number | null | undefined,
    ) => a == null || b == null || b === 0 ? "n/a" : `${(a / b).toFixed(2)}`;
    console.log(
      `TCP echo, requests per second (request/response, best of ${RUNS} runs of ${
        (SECONDS / RUNS).toFixed(2)
      } s per row` +
        `${quick ? ", --quick" : ""}${
          pinning.server.length > 0
            ? "; servers on CPU 0, load generator on CPU 1"
            : ""
        }); last row: server RSS growth per idle connection`,
    );
    console.log(
      `| workload | ${
        names.map((n) => `${n} req/s`).join(" | ")
      } | aioloop ÷ raw Deno |`,
    );
    console.log(`| --- | ${names.map(() => "---:").join(" | ")} | ---: |`);
    for (const row of rows) {
      const cells = names.map((n) => {
        const v = row.rps[n];
        return v == null ? "n/a" : Math.round(v).toLocaleString("en-US");
      });
      console.log(
        `| ${row.workload} | ${cells.join(" | ")} | ${
          ratio(row.rps["aioloop"], row.rps["raw Deno"])
        } |`,
      );
    }
    const memCells = names.map((n) => {
      const v = idle[n];
      return v == null ? "n/a" : `${v.toFixed(1)} KiB`;
    });
    console.log(
      `| idle memory per conn (${IDLE_COUNT.toLocaleString("en-US")} conns) | ${
        memCells.join(" | ")
      } | ${ratio(idle["aioloop"], idle["raw Deno"])} |`,
    );
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
