/**
 * aioloop's echo servers for the TCP echo benchmark (bench/echo_bench.ts),
 * one per API, chosen by the first argument:
 *
 * - `protocol` (the default): an asyncio-style `Protocol` whose
 *   `dataReceived` writes the bytes back, served by `loop.createServer()`.
 * - `streams`: `startServer()`; each connection loops
 *   `reader.read(65536)`, `writer.write()`, `await writer.drain()`.
 * - `line`: `startServer()`; each connection loops `reader.readline()`,
 *   `writer.write()`, `await writer.drain()`.
 * - `buffered`: a `BufferedProtocol` that reads into one preallocated
 *   64 KiB buffer and writes each read back as a view of it.
 *
 *   deno run -A bench/echo_servers/aioloop.ts [protocol|streams|line|buffered]
 *
 * Listens on 127.0.0.1, port 0; prints `PORT <n>` as the first line of
 * stdout, then serves until killed or until stdin closes.
 *
 * @module
 */
import {
  BufferedProtocol,
  getRunningLoop,
  Protocol,
  run,
  type Server,
  startServer,
  type StreamReader,
  type StreamWriter,
  type Transport,
} from "../../mod.ts";

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

class BufferedEcho extends BufferedProtocol {
  transport!: Transport;
  readonly buf = new Uint8Array(64 * 1024);
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override getBuffer(_sizehint: number): Uint8Array {
    return this.buf;
  }
  override bufferUpdated(nbytes: number): void {
    this.transport.write(this.buf.subarray(0, nbytes));
  }
}

async function streamsEcho(
  reader: StreamReader,
  writer: StreamWriter,
): Promise<void> {
  try {
    for (;;) {
      const data = await reader.read(65536);
      if (data.length === 0) break;
      writer.write(data);
      await writer.drain();
    }
  } catch {
    // The peer reset the connection: nothing to do but close.
  } finally {
    writer.close();
  }
}

async function lineEcho(
  reader: StreamReader,
  writer: StreamWriter,
): Promise<void> {
  try {
    for (;;) {
      const line = await reader.readline();
      if (line.length === 0) break;
      writer.write(line);
      await writer.drain();
    }
  } catch {
    // The peer reset the connection: nothing to do but close.
  } finally {
    writer.close();
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

const mode = Deno.args[0] ?? "protocol";
const modes = ["protocol", "streams", "line", "buffered"];
if (!modes.includes(mode)) {
  console.error(`unknown mode ${mode}: expected one of ${modes.join(", ")}`);
  Deno.exit(2);
}

exitWhenStdinCloses();
await run(async () => {
  const loop = getRunningLoop();
  let server: Server;
  if (mode === "streams") {
    server = await startServer(streamsEcho, "127.0.0.1", 0);
  } else if (mode === "line") {
    server = await startServer(lineEcho, "127.0.0.1", 0);
  } else if (mode === "buffered") {
    server = await loop.createServer(() => new BufferedEcho(), "127.0.0.1", 0);
  } else {
    server = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
  }
  const [, port] = server.sockets[0].getsockname() as [string, number];
  console.log(`PORT ${port}`);
  await server.serveForever();
});
