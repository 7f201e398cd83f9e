/**
 * connect_failures_test.ts: Happy Eyeballs with one hanging address. The
 * name `he.test` resolves (through a stubbed `Deno.resolveDns`) to ::1,
 * where the accept queue is full so the connect hangs, and 127.0.0.1, where
 * a server answers on the same port. With `happyEyeballsDelay: 0.05` the
 * second attempt wins; the losing attempt must be aborted, so the process
 * exits once `run()` returns. The full listener is left open on purpose.
 */
import {
  getRunningLoop,
  Protocol,
  run,
  type Server,
  type Transport,
} from "../../../mod.ts";
import { fullListener } from "../_util.ts";

// Same port on both families: the hanging one on ::1, then 127.0.0.1 free.
let full: { port: number; close(): void } | null = null;
let probe: Deno.Listener | null = null;
for (let i = 0; i < 20 && probe === null; i++) {
  full = await fullListener("::1", 0);
  try {
    probe = Deno.listen({ hostname: "127.0.0.1", port: full.port });
  } catch {
    full.close();
  }
}
if (probe === null || full === null) throw new Error("no port free on both");
probe.close();
const port = full.port;

const realResolveDns = Deno.resolveDns;
Deno.resolveDns = ((query: string, kind: string, options?: unknown) => {
  if (query === "he.test" && kind === "AAAA") return Promise.resolve(["::1"]);
  if (query === "he.test" && kind === "A") {
    return Promise.resolve(["127.0.0.1"]);
  }
  return (realResolveDns as (...a: unknown[]) => unknown)(
    query,
    kind,
    options,
  );
}) as typeof Deno.resolveDns;

await run(async () => {
  const loop = getRunningLoop();
  const server: Server = await loop.createServer(
    () => new Protocol(),
    "127.0.0.1",
    port,
  );
  const [transport] = await loop.createConnection(
    () => new Protocol(),
    "he.test",
    port,
    { happyEyeballsDelay: 0.05 },
  ) as [Transport, Protocol];
  const [host] = transport.getExtraInfo("peername") as [string, number];
  console.log(`connected to ${host}`);
  transport.close();
  server.close();
  await server.waitClosed();
});
console.log("run returned");
