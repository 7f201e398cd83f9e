/**
 * A TCP echo client written with a protocol: it sends a message, prints the
 * answer, and ends when the server closes the connection.
 *
 *   deno run --allow-net examples/tcp_echo_client.ts [port] [message]
 *
 * Run `examples/tcp_echo_server.ts` first (the port defaults to 8888).
 *
 * @module
 */
import {
  type Future,
  getRunningLoop,
  Protocol,
  run,
  type Transport,
} from "../mod.ts";

class EchoClientProtocol extends Protocol {
  constructor(readonly message: string, readonly onConLost: Future<null>) {
    super();
  }

  override connectionMade(transport: Transport): void {
    transport.write(new TextEncoder().encode(this.message));
    console.log(`Data sent: ${JSON.stringify(this.message)}`);
  }

  override dataReceived(data: Uint8Array): void {
    console.log(
      `Data received: ${JSON.stringify(new TextDecoder().decode(data))}`,
    );
  }

  override connectionLost(_exc: Error | null): void {
    console.log("The server closed the connection");
    this.onConLost.setResult(null);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  const port = Number(Deno.args[0] ?? 8888);
  const message = Deno.args[1] ?? "Hello World!";
  const onConLost = loop.createFuture<null>();
  const [transport] = await loop.createConnection(
    () => new EchoClientProtocol(message, onConLost),
    "127.0.0.1",
    port,
  );
  // Wait until the protocol signals that the connection is lost, then close
  // the transport.
  try {
    await onConLost;
  } finally {
    transport.close();
  }
});
