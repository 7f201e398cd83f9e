/**
 * A TCP echo server and client written with streams (`startServer`,
 * `openConnection`), after asyncio's "TCP echo server/client using streams"
 * examples: the server echoes one message and closes; the client prints what
 * it sent and received.
 *
 *   deno run --allow-net examples/stream_echo.ts [message]
 *
 * @module
 */
import {
  openConnection,
  run,
  startServer,
  type StreamReader,
  type StreamWriter,
} from "../mod.ts";

async function handleEcho(
  reader: StreamReader,
  writer: StreamWriter,
): Promise<void> {
  const data = await reader.read(100);
  const message = new TextDecoder().decode(data);
  const addr = writer.getExtraInfo("peername");
  console.log(
    `Received ${JSON.stringify(message)} from ${JSON.stringify(addr)}`,
  );
  writer.write(data);
  await writer.drain();
  writer.close();
  await writer.waitClosed();
}

async function echoClient(port: number, message: string): Promise<void> {
  const [reader, writer] = await openConnection("127.0.0.1", port);
  console.log(`Send: ${JSON.stringify(message)}`);
  writer.write(new TextEncoder().encode(message));
  await writer.drain();
  const data = await reader.read(100);
  console.log(`Received: ${JSON.stringify(new TextDecoder().decode(data))}`);
  writer.close();
  await writer.waitClosed();
}

await run(async () => {
  await using server = await startServer(handleEcho, "127.0.0.1", 0);
  const [, port] = server.sockets[0].getsockname();
  await echoClient(port, Deno.args[0] ?? "Hello World!");
});
