/**
 * Datagram and sendfile benchmarks.
 *
 *   deno run -A bench/udp_bench.ts [--quick]
 *
 * - UDP echo: a `createDatagramEndpoint` echo server (aioloop) against a
 *   raw `node:dgram` echo server, each in its own process, both loaded by
 *   the same C generator (bench/udp_load.c, built with `cc -O2`) keeping a
 *   fixed window of 64-byte datagrams in flight; echoes per second.
 * - sendfile: a 256 MiB file (64 MiB with --quick) sent over loopback TCP
 *   with `loop.sendfile()` against the raw Deno copy
 *   (`file.readable.pipeTo(conn.writable)`), received by the same raw
 *   reader; MiB/s.
 *
 * Prints markdown tables with the ratio aioloop / raw (target ≥ 0.9).
 *
 * @module
 */
import dgram from "node:dgram";
import "node:process";
import {
  DatagramProtocol,
  type DatagramTransport,
  EventLoop,
  Protocol,
  type SocketAddress,
} from "../mod.ts";

const quick = Deno.args.includes("--quick");
const role = Deno.args[Deno.args.indexOf("--serve") + 1];

if (Deno.args.includes("--serve")) {
  // A server process: print the port, serve until killed.
  if (role === "raw") {
    const s = dgram.createSocket("udp4");
    s.on("message", (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    s.bind(0, "127.0.0.1", () => console.log(s.address().port));
  } else {
    const loop = new EventLoop();
    class Echo extends DatagramProtocol {
      t!: DatagramTransport;
      override connectionMade(t: DatagramTransport) {
        this.t = t;
      }
      override datagramReceived(data: Uint8Array, addr: SocketAddress) {
        this.t.sendto(data, addr);
      }
    }
    await loop.runUntilComplete(async () => {
      const [t] = await loop.createDatagramEndpoint(() => new Echo(), [
        "127.0.0.1",
        0,
      ]);
      console.log((t.getExtraInfo("sockname") as [string, number])[1]);
      await loop.createFuture();
    });
  }
} else {
  await main();
}

async function udpRow(
  load: string,
  role: string,
  window: number,
): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", role],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${role} server ended`);
    out += value;
  }
  const port = out.trim();
  try {
    // Warm up, then measure.
    await new Deno.Command(load, { args: [port, String(window), "0.3", "64"] })
      .output();
    const result = await new Deno.Command(load, {
      args: [port, String(window), quick ? "1" : "3", "64"],
    }).output();
    return Number(new TextDecoder().decode(result.stdout).trim());
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
    await child.status;
  }
}

/** Receives everything from one connection; resolves with the byte count. */
async function sink(listener: Deno.Listener): Promise<number> {
  const conn = await listener.accept();
  const buf = new Uint8Array(1024 * 1024);
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    total += n;
  }
  conn.close();
  return total;
}

async function sendfileRow(
  path: string,
  size: number,
  mode: "aioloop" | "raw",
): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const received = sink(listener);
  const file = await Deno.open(path, { read: true });
  const start = performance.now();
  if (mode === "raw") {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await file.readable.pipeTo(conn.writable); // closes both
  } else {
    const loop = new EventLoop();
    await loop.runUntilComplete(async () => {
      const lost = loop.createFuture<null>();
      class P extends Protocol {
        override connectionLost() {
          lost.setResult(null);
        }
      }
      const [t] = await loop.createConnection(() => new P(), "127.0.0.1", port);
      await loop.sendfile(t, file);
      t.close();
      await lost;
    });
    loop.close();
    file.close();
  }
  const total = await received;
  const seconds = (performance.now() - start) / 1000;
  listener.close();
  if (total !== size) throw new Error(`${mode}: received ${total} of ${size}`);
  return size / (1024 * 1024) / seconds;
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "aioloop-bench-" });
  try {
    const load = `${dir}/udp_load`;
    const cc = await new Deno.Command("cc", {
      args: [
        "-O2",
        "-o",
        load,
        new URL("./udp_load.c", import.meta.url).pathname,
      ],
    }).output();
    if (!cc.success) throw new Error("compiling bench/udp_load.c failed");
    console.log("## UDP echo, 64-byte datagrams (echoes/s)\n");
    console.log("| window | aioloop | raw node:dgram | ratio |");
    console.log("|---:|---:|---:|---:|");
    for (const window of [1, 32]) {
      const raw = await udpRow(load, "raw", window);
      const ours = await udpRow(load, "aioloop", window);
      console.log(
        `| ${window} | ${ours.toFixed(0)} | ${raw.toFixed(0)} | ${
          (ours / raw).toFixed(2)
        } |`,
      );
    }
    const size = (quick ? 64 : 256) * 1024 * 1024;
    const path = `${dir}/file.bin`;
    const chunk = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
    using f = await Deno.open(path, { write: true, create: true });
    for (let i = 0; i < size / chunk.length; i++) await f.write(chunk);
    console.log(
      `\n## sendfile of ${size / 1024 / 1024} MiB over loopback TCP (MiB/s)\n`,
    );
    console.log("| run | aioloop sendfile | raw pipeTo | ratio |");
    console.log("|---:|---:|---:|---:|");
    for (let run = 1; run <= (quick ? 1 : 3); run++) {
      const raw = await sendfileRow(path, size, "raw");
      const ours = await sendfileRow(path, size, "aioloop");
      console.log(
        `| ${run} | ${ours.toFixed(0)} | ${raw.toFixed(0)} | ${
          (ours / raw).toFixed(2)
        } |`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
