/**
 * The UDP echo client from asyncio's documentation: it sends one datagram,
 * prints the echo and closes.
 *
 *   deno run --allow-net examples/udp_echo_client.ts [port] [message]
 *
 * @module
 */
import {
  DatagramProtocol,
  type DatagramTransport,
  type Future,
  getRunningLoop,
  run,
} from "../mod.ts";

class EchoClientProtocol extends DatagramProtocol {
  transport!: DatagramTransport;

  constructor(readonly message: string, readonly onConLost: Future<boolean>) {
    super();
  }

  override connectionMade(transport: DatagramTransport): void {
    this.transport = transport;
    console.log(`Send: ${JSON.stringify(this.message)}`);
    this.transport.sendto(new TextEncoder().encode(this.message));
  }

  override datagramReceived(data: Uint8Array): void {
    console.log(`Received: ${JSON.stringify(new TextDecoder().decode(data))}`);
    console.log("Close the socket");
    this.transport.close();
  }

  override errorReceived(exc: Error): void {
    console.log(`Error received: ${exc}`);
  }

  override connectionLost(): void {
    console.log("Connection closed");
    this.onConLost.setResult(true);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const onConLost = loop.createFuture<boolean>();
  const port = Number(Deno.args[0] ?? 9999);
  const message = Deno.args[1] ?? "Hello World!";
  const [transport] = await loop.createDatagramEndpoint(
    () => new EchoClientProtocol(message, onConLost),
    null,
    ["127.0.0.1", port],
  );
  try {
    await onConLost;
  } finally {
    transport.close();
  }
});
