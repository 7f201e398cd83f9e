/**
 * lifecycle_test.ts: `run()` whose main leaves a TCP client transport open,
 * connected to a server in this same program that is left open too. The
 * process must exit once `run()` returns.
 */
import { getRunningLoop, Protocol, run } from "../../../mod.ts";

await run(async () => {
  const loop = getRunningLoop();
  const server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
  const [host, port] = server.sockets[0].getsockname() as [string, number];
  await loop.createConnection(() => new Protocol(), host, port);
  console.log("connected");
});
console.log("run returned");
