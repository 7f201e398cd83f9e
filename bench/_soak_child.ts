/**
 * The child processes of bench/soak.ts, and the echo protocol it shares.
 *
 *   deno run -A --v8-flags=--expose-gc bench/_soak_child.ts serve aioloop|raw [EVERY]
 *   deno run -A bench/_soak_child.ts load PORT CONNECTIONS SIZE REQUESTS
 *   deno run -A bench/_soak_child.ts idle PORT COUNT
 *
 * - `serve`: a TCP echo server on 127.0.0.1 port 0, either aioloop's
 *   `loop.createServer(() => new EchoProtocol(), ...)` or raw `Deno.listen`
 *   with one read loop per connection. Prints `PORT <n>`, then for each
 *   `mem` line on stdin runs gc and prints
 *   `MEM <requests> <rss> <heapUsed> <external> <fds>` (requests = bytes
 *   echoed / 1024, aioloop only). With EVERY, the aioloop server also prints
 *   such a line, starting `SAMPLE`, each time another EVERY requests have
 *   been echoed. Exits when stdin closes.
 * - `load`: CONNECTIONS raw `Deno.connect` loops that send SIZE bytes and
 *   wait for the whole echo, REQUESTS round trips in all; then prints
 *   `DONE <requests> <seconds>` and exits.
 * - `idle`: opens COUNT connections (64 handshakes at a time), each echoing
 *   one byte, prints `CONNECTED <n>`, and holds them until stdin closes.
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../mod.ts";

/** Writes back whatever it receives; counts the bytes. */
export class EchoProtocol extends Protocol {
  static bytes = 0;
  static onData: (() => void) | null = null;
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
    EchoProtocol.bytes += data.length;
    EchoProtocol.onData?.();
  }
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

function memLine(tag: string, requests: number): string {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const { rss, heapUsed, external } = Deno.memoryUsage();
  return `${tag} ${requests} ${rss} ${heapUsed} ${external} ${fdCount()}`;
}

/** Calls `onLine` per stdin line; exits the process at EOF. */
async function readCommands(onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
  Deno.exit(0);
}

async function rawEcho(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  try {
    conn.setNoDelay(true);
    for (let n; (n = await conn.read(buf)) !== null;) {
      for (let off = 0; off < n;) off += await conn.write(buf.subarray(off, n));
    }
  } catch {
    // Reset by the peer.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function serve(kind: string, every: number): Promise<void> {
  const requests = () => Math.floor(EchoProtocol.bytes / 1024);
  readCommands((line) => {
    if (line === "mem") console.log(memLine("MEM", requests()));
  });
  if (kind === "raw") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    console.log(`PORT ${listener.addr.port}`);
    for await (const conn of listener) rawEcho(conn);
    return;
  }
  if (every > 0) {
    let next = every;
    EchoProtocol.onData = () => {
      const done = requests();
      if (done < next) return;
      next = (Math.floor(done / every) + 1) * every;
      console.log(memLine("SAMPLE", done));
    };
  }
  await run(async () => {
    const server = await getRunningLoop().createServer(
      () => new EchoProtocol(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    console.log(`PORT ${port}`);
    await server.serveForever();
  });
}

async function readFull(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const n = await conn.read(buf.subarray(off));
    if (n === null) throw new Error("server closed the connection");
    off += n;
  }
}

async function load(
  port: number,
  connections: number,
  size: number,
  total: number,
): Promise<void> {
  const msg = new Uint8Array(size).map((_, i) => 97 + (i * 7) % 26);
  const start = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const quota = Math.floor(total / connections) +
        (i < total % connections ? 1 : 0);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.setNoDelay(true);
      const buf = new Uint8Array(size);
      for (let r = 0; r < quota; r++) {
        for (let off = 0; off < size;) {
          off += await conn.write(msg.subarray(off));
        }
        await readFull(conn, buf);
        done++;
      }
      conn.close();
    }),
  );
  console.log(`DONE ${done} ${(performance.now() - start) / 1000}`);
}

async function idle(port: number, count: number): Promise<void> {
  const held: Deno.Conn[] = [];
  let started = 0;
  const one = new Uint8Array([120]);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (started < count) {
        started++;
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        held.push(conn);
        await conn.write(one);
        await readFull(conn, new Uint8Array(1));
      }
    }),
  );
  console.log(`CONNECTED ${held.length}`);
  await readCommands(() => {});
}

if (import.meta.main) {
  const [mode, ...rest] = Deno.args;
  const nums = rest.map(Number);
  if (mode === "serve") await serve(rest[0], Number(rest[1] ?? 0));
  else if (mode === "load") await load(nums[0], nums[1], nums[2], nums[3]);
  else if (mode === "idle") await idle(nums[0], nums[1]);
  else throw new Error(`unknown mode ${mode}`);
}
