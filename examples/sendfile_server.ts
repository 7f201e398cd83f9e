/**
 * Serves one file over TCP with `loop.sendfile()`: every client that
 * connects receives the whole file, then the connection closes.
 *
 *   deno run --allow-net --allow-read examples/sendfile_server.ts FILE [port]
 *
 * The port defaults to 8889; 0 picks a free one. The first line printed
 * says where it serves; each transfer prints the bytes sent.
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../mod.ts";

const path = Deno.args[0];
if (path === undefined) {
  console.error("usage: sendfile_server.ts FILE [port]");
  Deno.exit(2);
}

class FileSender extends Protocol {
  override connectionMade(transport: Transport): void {
    const loop = getRunningLoop();
    loop.createTask(async () => {
      try {
        using file = await Deno.open(path, { read: true });
        const sent = await loop.sendfile(transport, file);
        console.log(
          `Sent ${sent} bytes to ${
            JSON.stringify(transport.getExtraInfo("peername"))
          }`,
        );
      } catch (error) {
        console.log(`Transfer failed: ${error}`);
      } finally {
        transport.close();
      }
    });
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const port = Number(Deno.args[1] ?? 8889);
  await using server = await loop.createServer(
    () => new FileSender(),
    "127.0.0.1",
    port,
  );
  const [host, boundPort] = server.sockets[0].getsockname();
  console.log(`Serving ${path} on ${host}:${boundPort}`);
  await server.serveForever();
});
