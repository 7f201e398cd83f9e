/**
 * probes_test.ts: an aioloop TLS client (`openConnection()` with a context
 * trusting tests/fixtures/tls/ca.pem) for a server in another process
 * (`openssl s_server`) on 127.0.0.1, port argv[0]. It sends
 * `hello from aioloop`, prints each line it gets as `line TEXT` until one
 * is `pong`, then closes its writer (close_notify) and prints `closed`; at
 * EOF instead it prints `eof`.
 */
import { createDefaultContext, openConnection, run } from "../../../mod.ts";

const port = Number(Deno.args[0]);
const ca = Deno.readTextFileSync(
  new URL("../../fixtures/tls/ca.pem", import.meta.url),
);

await run(async () => {
  const [reader, writer] = await openConnection("127.0.0.1", port, {
    ssl: createDefaultContext({ caCerts: [ca] }),
  });
  console.log("connected");
  writer.write(new TextEncoder().encode("hello from aioloop\n"));
  await writer.drain();
  for (;;) {
    const line = await reader.readline();
    if (line.length === 0) {
      console.log("eof");
      break;
    }
    const text = new TextDecoder().decode(line).trimEnd();
    console.log(`line ${text}`);
    if (text === "pong") break;
  }
  writer.close();
  await writer.waitClosed();
  console.log("closed");
});
