/**
 * The subprocess benchmark: aioloop's `subprocessExec` next to raw
 * `Deno.Command` doing the same work (the runtime's floor).
 *
 *   deno run -A bench/process_bench.ts [--quick] [--json]
 *
 * Rows (best of three runs each; the ratio is aioloop ÷ raw Deno, 1.00 = as
 * fast as the floor, target ≥ 0.9):
 * - spawn-and-wait of `true`, per second: `loop.subprocessExec(factory,
 *   "true", { stdin: DEVNULL })` (stdout and stderr PIPE) awaited until the
 *   protocol's `connectionLost`, against `new Deno.Command("true").output()`
 *   (stdin null, stdout/stderr piped and read to the end, as `output()`
 *   does): the same pipes-and-status work. A second row pipes stdin too
 *   (the low-level default).
 * - `cat` throughput, MiB/s: 256 MiB (32 MiB with --quick) written in
 *   1 MiB chunks to `cat`'s stdin through the stdin pipe transport (paced by
 *   pauseWriting/resumeWriting) and read back from its stdout, against the
 *   same through `Deno.Command("cat").spawn()`'s streams (a writer that
 *   awaits each write, and a reader loop).
 *
 * @module
 */
import {
  DEVNULL,
  EventLoop,
  SubprocessProtocol,
  type SubprocessTransport,
  type WriteTransport,
} from "../mod.ts";

const quick = Deno.args.includes("--quick");
const asJson = Deno.args.includes("--json");
const SPAWN_SECONDS = quick ? 0.5 : 1.5;
const CAT_BYTES = (quick ? 32 : 256) << 20;
const CHUNK = 1 << 20;
const RUNS = 3;

function best(values: number[]): number {
  return Math.max(...values);
}

/** Spawns `true` through `subprocessExec` for `seconds`; returns spawns/s. */
async function spawnAioloop(
  seconds: number,
  stdinPipe: boolean,
): Promise<number> {
  const loop = new EventLoop();
  try {
    return await loop.runUntilComplete(async () => {
      const options = stdinPipe ? {} : { stdin: DEVNULL };
      let n = 0;
      const start = performance.now();
      const end = start + seconds * 1000;
      while (performance.now() < end) {
        const lost = loop.createFuture<null>();
        class P extends SubprocessProtocol {
          override connectionLost() {
            lost.setResult(null);
          }
        }
        const [transport] = await loop.subprocessExec(
          () => new P(),
          "true",
          options,
        );
        await lost;
        transport.close();
        n++;
      }
      return n / ((performance.now() - start) / 1000);
    });
  } finally {
    loop.close();
  }
}

async function spawnRaw(seconds: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    await new Deno.Command("true").output();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const payload = new Uint8Array(CHUNK);
for (let i = 0; i < CHUNK; i++) payload[i] = i & 0xff;

/** Pumps CAT_BYTES through `cat` with subprocessExec; returns MiB/s. */
async function catAioloop(): Promise<number> {
  const loop = new EventLoop();
  try {
    return await loop.runUntilComplete(async () => {
      let received = 0;
      let sent = 0;
      const box: { stdin: WriteTransport | null } = { stdin: null };
      let paused = false;
      const lost = loop.createFuture<null>();
      const fill = () => {
        while (!paused && sent < CAT_BYTES) {
          box.stdin!.write(payload);
          sent += CHUNK;
        }
        if (sent >= CAT_BYTES) box.stdin!.close();
      };
      class Cat extends SubprocessProtocol {
        override pipeDataReceived(_fd: number, data: Uint8Array) {
          received += data.length;
        }
        override pauseWriting() {
          paused = true;
        }
        override resumeWriting() {
          paused = false;
          fill();
        }
        override connectionLost() {
          lost.setResult(null);
        }
      }
      const start = performance.now();
      const [transport] = await loop.subprocessExec(
        () => new Cat(),
        "cat",
        { stderr: DEVNULL },
      ) as [SubprocessTransport, Cat];
      box.stdin = transport.getPipeTransport(0) as WriteTransport;
      box.stdin.setWriteBufferLimits(4 * CHUNK);
      fill();
      await lost;
      const seconds = (performance.now() - start) / 1000;
      transport.close();
      if (received !== CAT_BYTES) throw new Error(`got ${received} bytes`);
      return CAT_BYTES / (1 << 20) / seconds;
    });
  } finally {
    loop.close();
  }
}

async function catRaw(): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command("cat", {
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    for (let sent = 0; sent < CAT_BYTES; sent += CHUNK) {
      await writer.write(payload);
    }
    await writer.close();
  })();
  let received = 0;
  for await (const chunk of child.stdout) received += chunk.length;
  await writing;
  await child.status;
  const seconds = (performance.now() - start) / 1000;
  if (received !== CAT_BYTES) throw new Error(`got ${received} bytes`);
  return CAT_BYTES / (1 << 20) / seconds;
}

/**
 * Best of RUNS for each of `a` and `b`, their runs interleaved (after one
 * warm-up each) so that a drift of the machine's speed hits both alike.
 */
async function measurePair(
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<[number, number]> {
  await a();
  await b();
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    as.push(await a());
    bs.push(await b());
  }
  return [best(as), best(bs)];
}

const rows: { name: string; unit: string; aioloop: number; raw: number }[] = [];
const spawnRows: [string, boolean][] = [
  ["spawn-and-wait `true` (stdout/stderr PIPE)", false],
  ["spawn-and-wait `true` (stdin/stdout/stderr PIPE)", true],
];
for (const [name, stdinPipe] of spawnRows) {
  console.error(`${name}...`);
  const [aioloop, raw] = await measurePair(
    () => spawnAioloop(SPAWN_SECONDS, stdinPipe),
    () => spawnRaw(SPAWN_SECONDS),
  );
  rows.push({ name, unit: "spawns/s", aioloop, raw });
}
console.error(`cat ${CAT_BYTES >> 20} MiB...`);
{
  const [aioloop, raw] = await measurePair(catAioloop, catRaw);
  rows.push({
    name: `\`cat\` ${CAT_BYTES >> 20} MiB through pipes`,
    unit: "MiB/s",
    aioloop,
    raw,
  });
}

if (asJson) {
  console.log(JSON.stringify({ rows }, null, 2));
} else {
  console.log("| workload | unit | aioloop | raw Deno | ratio |");
  console.log("|---|---|---:|---:|---:|");
  for (const row of rows) {
    console.log(
      `| ${row.name} | ${row.unit} | ${row.aioloop.toFixed(0)} | ${
        row.raw.toFixed(0)
      } | ${(row.aioloop / row.raw).toFixed(2)} |`,
    );
  }
}
