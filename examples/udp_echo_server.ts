/**
 * The UDP echo server from asyncio's documentation: it sends every
 * datagram back to its sender.
 *
 *   deno run --allow-net examples/udp_echo_server.ts [port]
 *
 * The port defaults to 9999; 0 picks a free one. The first line printed
 * says where it listens. It serves for an hour, or until interrupted.
 *
 * @module
 */
import {
  DatagramProtocol,
  type DatagramTransport,
  getRunningLoop,
  run,
  sleep,
  type SocketAddress,
} from "../mod.ts";

class EchoServerProtocol extends DatagramProtocol {
  transport!: DatagramTransport;

  override connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
  }

  override datagramReceived(data: Uint8Array, addr: SocketAddress): void {
    const message = new TextDecoder().decode(data);
    console.log(
      `Received ${JSON.stringify(message)} from ${JSON.stringify(addr)}`,
    );
    console.log(`Send ${JSON.stringify(message)} to ${JSON.stringify(addr)}`);
    this.transport.sendto(data, addr);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  console.log("Starting UDP server");
  const port = Number(Deno.args[0] ?? 9999);
  // One protocol instance serves all client requests.
  const [transport] = await loop.createDatagramEndpoint(
    () => new EchoServerProtocol(),
    ["127.0.0.1", port],
  );
  const [host, boundPort] = transport.getExtraInfo("sockname") as [
    string,
    number,
  ];
  console.log(`Listening on ${host}:${boundPort}`);
  try {
    await sleep(3600); // Serve for 1 hour.
  } finally {
    transport.close();
  }
});
