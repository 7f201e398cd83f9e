/**
 * TLS echo benchmark: 50 connections × 1 KiB request/response over TLS,
 * against aioloop's `createServer(..., { ssl })` with an echo `Protocol`,
 * and against a raw `Deno.listenTls` echo (one read/write loop per
 * connection), in the same run with the same load generator.
 *
 *   deno run -A bench/tls_bench.ts [--quick] [--json]
 *
 * The load generator is bench/tls_load.c (C, OpenSSL, one blocking thread
 * per connection), compiled here with `cc -O2 ... -lssl -lcrypto`; it needs
 * libssl-dev. Each server runs in its own Deno process (this script with
 * `--serve aioloop|raw`) using the test certificate in tests/fixtures/tls/.
 * Rows alternate between the servers (best of three rounds, 2 s each,
 * 0.5 s with --quick) and report round trips per second and the ratio
 * aioloop / raw (target ≥ 0.9).
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../mod.ts";
import { createDefaultContext } from "../mod.ts";

const here = new URL(".", import.meta.url).pathname;
const fixtures = new URL("../tests/fixtures/tls/", import.meta.url).pathname;
const CONNECTIONS = 50;
const SIZE = 1024;

// ---- the servers -----------------------------------------------------------

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

async function serveAioloop(cert: string, key: string): Promise<void> {
  await run(async () => {
    const loop = getRunningLoop();
    const ssl = createDefaultContext({ purpose: "clientAuth", cert, key });
    const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
      ssl,
    });
    const [, port] = server.sockets[0].getsockname() as [string, number];
    console.log(`PORT ${port}`);
    await server.serveForever();
  });
}

async function serveRaw(cert: string, key: string): Promise<void> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
  });
  console.log(`PORT ${listener.addr.port}`);
  for await (const conn of listener) {
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          let offset = 0;
          while (offset < n) {
            offset += await conn.write(buffer.subarray(offset, n));
          }
        }
      } catch {
        // Reset by the load generator.
      }
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    })();
  }
}

async function exitWhenStdinCloses(): Promise<void> {
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) {
      // Only EOF matters.
    }
  } catch {
    return;
  }
  Deno.exit(0);
}

const serveAt = Deno.args.indexOf("--serve");
if (serveAt >= 0) {
  const cert = Deno.readTextFileSync(`${fixtures}server.pem`);
  const key = Deno.readTextFileSync(`${fixtures}server.key`);
  exitWhenStdinCloses();
  if (Deno.args[serveAt + 1] === "raw") await serveRaw(cert, key);
  else await serveAioloop(cert, key);
} else {
  await main();
}

// ---- the driver ------------------------------------------------------------

interface Started {
  child: Deno.ChildProcess;
  port: number;
  writer: WritableStreamDefaultWriter<Uint8Array>;
}

async function start(kind: string): Promise<Started> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}tls_bench.ts`, "--serve", kind],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/PORT \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${kind} server exited before listening`);
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    child,
    port: Number(/PORT (\d+)/.exec(text)![1]),
    writer: child.stdin.getWriter(),
  };
}

async function stop(server: Started): Promise<void> {
  await server.writer.close().catch(() => {});
  await server.child.status;
}

async function load(
  binary: string,
  port: number,
  seconds: number,
): Promise<number> {
  const out = await new Deno.Command(binary, {
    args: [
      "127.0.0.1",
      String(port),
      String(CONNECTIONS),
      String(SIZE),
      String(seconds),
      `${fixtures}ca.pem`,
      "localhost",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("tls_load failed");
  return JSON.parse(new TextDecoder().decode(out.stdout)).rps;
}

async function main(): Promise<void> {
  const quick = Deno.args.includes("--quick");
  const json = Deno.args.includes("--json");
  const seconds = quick ? 0.5 : 2;
  const rounds = 3;
  const dir = Deno.makeTempDirSync({ prefix: "aioloop-tls-bench-" });
  const binary = `${dir}/tls_load`;
  try {
    const cc = await new Deno.Command("cc", {
      args: [
        "-O2",
        "-o",
        binary,
        `${here}tls_load.c`,
        "-lssl",
        "-lcrypto",
        "-lpthread",
      ],
      stderr: "inherit",
    }).output();
    if (!cc.success) {
      throw new Error(
        "could not compile bench/tls_load.c: a C compiler and libssl-dev are needed",
      );
    }
    const kinds = ["raw", "aioloop"] as const;
    const servers = new Map<string, Started>();
    for (const kind of kinds) servers.set(kind, await start(kind));
    const best = new Map<string, number>(kinds.map((k) => [k, 0]));
    try {
      for (const kind of kinds) {
        await load(binary, servers.get(kind)!.port, quick ? 0.2 : 0.5);
      }
      for (let round = 0; round < rounds; round++) {
        for (const kind of kinds) {
          const rps = await load(binary, servers.get(kind)!.port, seconds);
          best.set(kind, Math.max(best.get(kind)!, rps));
        }
      }
    } finally {
      for (const server of servers.values()) await stop(server);
    }
    const raw = best.get("raw")!;
    const aio = best.get("aioloop")!;
    if (json) {
      console.log(JSON.stringify({ raw, aioloop: aio, ratio: aio / raw }));
      return;
    }
    console.log(
      `TLS echo, ${CONNECTIONS} connections × ${SIZE} B (best of ${rounds} × ${seconds} s${
        quick ? ", --quick" : ""
      }; load: bench/tls_load.c)\n`,
    );
    console.log("| server | round trips/s | vs raw Deno.listenTls |");
    console.log("|---|---:|---:|");
    console.log(`| raw \`Deno.listenTls\` echo | ${Math.round(raw)} | 1.00× |`);
    console.log(
      `| aioloop \`createServer(..., { ssl })\` | ${Math.round(aio)} | ${
        (aio / raw).toFixed(2)
      }× |`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
