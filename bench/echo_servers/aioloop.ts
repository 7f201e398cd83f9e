/**
 * aioloop's echo server for the TCP echo benchmark (bench/echo_bench.ts): an
 * asyncio-style `Protocol` whose `dataReceived` writes the bytes back, served
 * by `loop.createServer()`.
 *
 *   deno run -A bench/echo_servers/aioloop.ts
 *
 * Listens on 127.0.0.1, port 0; prints `PORT <n>` as the first line of
 * stdout, then serves until killed or until stdin closes.
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../../mod.ts";

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

async function exitWhenStdinCloses(): Promise<void> {
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) {
      // Discard input; only EOF matters.
    }
  } catch {
    // stdin unusable: serve until killed.
    return;
  }
  Deno.exit(0);
}

exitWhenStdinCloses();
await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
  const [, port] = server.sockets[0].getsockname() as [string, number];
  console.log(`PORT ${port}`);
  await server.serveForever();
});
