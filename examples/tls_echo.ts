/**
 * A TLS echo: a server and a client in one program. It reads a certificate
 * for localhost, its key and the CA that signed it from a folder:
 *
 *   deno run --allow-net --allow-read examples/tls_echo.ts [DIR]
 *
 * DIR holds `server.pem`, `server.key` and `ca.pem`; by default it is the
 * repository's test certificates, tests/fixtures/tls/ (test-only keys, never
 * use them elsewhere). To make a set of your own:
 *
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
 *     -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
 *     -keyout DIR/server.key -out DIR/server.pem && cp DIR/server.pem DIR/ca.pem
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

const folder = Deno.args[0] === undefined
  ? new URL("../tests/fixtures/tls/", import.meta.url)
  : new URL(`file://${Deno.realPathSync(Deno.args[0])}/`);
const read = (name: string) => Deno.readTextFileSync(new URL(name, folder));

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
  const [, port] = server.sockets[0].getsockname();

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
