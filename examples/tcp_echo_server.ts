/**
 * A TCP echo server written with a protocol: it sends back what it receives
 * and closes the connection.
 *
 *   deno run --allow-net examples/tcp_echo_server.ts [port]
 *
 * The port defaults to 8888; 0 picks a free one. The first line printed says
 * where it serves.
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../mod.ts";

class EchoServerProtocol extends Protocol {
  transport!: Transport;

  override connectionMade(transport: Transport): void {
    const peername = transport.getExtraInfo("peername");
    console.log(`Connection from ${JSON.stringify(peername)}`);
    this.transport = transport;
  }

  override dataReceived(data: Uint8Array): void {
    const message = new TextDecoder().decode(data);
    console.log(`Data received: ${JSON.stringify(message)}`);

    console.log(`Send: ${JSON.stringify(message)}`);
    this.transport.write(data);

    console.log("Close the client socket");
    this.transport.close();
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const port = Number(Deno.args[0] ?? 8888);
  await using server = await loop.createServer(
    () => new EchoServerProtocol(),
    "127.0.0.1",
    port,
  );
  const [host, boundPort] = server.sockets[0].getsockname();
  console.log(`Serving on ${host}:${boundPort}`);
  await server.serveForever();
});
