/**
 * A TLS echo: a server and a client in one program, over the test
 * certificate in tests/fixtures/tls/ (a private CA and a certificate for
 * localhost; test-only keys, never use them elsewhere).
 *
 *   deno run --allow-net --allow-read examples/tls_echo.ts
 *
 * @module
 */
import {
  createDefaultContext,
  getRunningLoop,
  Protocol,
  run,
  type Transport,
} from "../mod.ts";

const fixtures = new URL("../tests/fixtures/tls/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, fixtures));

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
}

await run(async () => {
  const loop = getRunningLoop();
  // A server context holds the certificate and key...
  const serverContext = createDefaultContext({
    purpose: "clientAuth",
    cert: read("server.pem"),
    key: read("server.key"),
  });
  // ...a client context trusts the CA that signed it.
  const clientContext = createDefaultContext({ caCerts: [read("ca.pem")] });

  const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
    ssl: serverContext,
  });
  const [, port] = server.sockets[0].getsockname() as [string, number];

  const reply = loop.createFuture<string>();
  class Client extends Protocol {
    override connectionMade(transport: Transport): void {
      // Runs once the handshake is done.
      transport.write(new TextEncoder().encode("hello over TLS"));
    }
    override dataReceived(data: Uint8Array): void {
      reply.setResult(new TextDecoder().decode(data));
    }
  }
  const [transport] = await loop.createConnection(
    () => new Client(),
    "localhost",
    port,
    { ssl: clientContext },
  );
  console.log(`Echoed: ${await reply}`);
  transport.close();
  server.close();
  await server.waitClosed();
});
