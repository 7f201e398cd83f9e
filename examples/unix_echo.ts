/**
 * An echo over a Unix socket: a server and a client in one program, in a
 * temporary directory.
 *
 *   deno run --allow-net --allow-read --allow-write examples/unix_echo.ts
 *
 * @module
 */
import { getRunningLoop, Protocol, run, type Transport } from "../mod.ts";

class Echo extends Protocol {
  transport!: Transport;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport.write(data);
  }
  override eofReceived(): boolean {
    // Keep the connection open for writing; close once the echo is sent.
    this.transport.close();
    return true;
  }
}

const dir = await Deno.makeTempDir();
const path = `${dir}/echo.sock`;
try {
  await run(async () => {
    const loop = getRunningLoop();
    await using _server = await loop.createUnixServer(() => new Echo(), path);
    const received: Uint8Array[] = [];
    const closed = loop.createFuture<null>();
    class Client extends Protocol {
      override connectionMade(transport: Transport): void {
        transport.write(new TextEncoder().encode("hello over a unix socket"));
        transport.writeEof();
      }
      override dataReceived(data: Uint8Array): void {
        received.push(data);
      }
      override connectionLost(): void {
        closed.setResult(null);
      }
    }
    await loop.createUnixConnection(() => new Client(), path);
    await closed;
    const text = received.map((b) => new TextDecoder().decode(b)).join("");
    console.log(`Echoed: ${text}`);
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
