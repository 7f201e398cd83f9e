/**
 * Testing a client against network faults on the simulated network: a
 * client that retries with a timeout keeps getting answers through a
 * partition that lasts from t = 5 s to t = 12 s. The client and the server
 * are plain aioloop code (`openConnection`, `startServer`); only the test
 * swaps in the simulated network, whose loops run on the virtual clock, so
 * the 20 simulated seconds take milliseconds and every run is the same.
 *
 * Run: deno test examples/simulated_network_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  getRunningLoop,
  openConnection,
  run,
  sleep,
  startServer,
  TimeoutError,
  waitFor,
} from "../mod.ts";
import { SimNetwork } from "../testing/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The server: answers each line with the line upper-cased. */
function serve(port: number) {
  return startServer(
    async (reader, writer) => {
      for (;;) {
        const line = await reader.readline();
        if (line.length === 0) break;
        writer.write(enc.encode(dec.decode(line).toUpperCase()));
        await writer.drain();
      }
      writer.close();
    },
    "0.0.0.0",
    port,
  );
}

/** One request on a fresh connection, given up after `timeout` seconds. */
async function ask(host: string, port: number, text: string, timeout: number) {
  return await waitFor(async () => {
    const [reader, writer] = await openConnection(host, port);
    try {
      writer.write(enc.encode(`${text}\n`));
      return dec.decode(await reader.readline());
    } finally {
      writer.close();
    }
  }, timeout);
}

/** The client under test: retries a timed-out request after a pause. */
async function askWithRetries(host: string, port: number, text: string) {
  for (let attempt = 1;; attempt++) {
    try {
      return { reply: await ask(host, port, text, 2), attempt };
    } catch (error) {
      if (!(error instanceof TimeoutError) || attempt === 10) throw error;
      await sleep(1);
    }
  }
}

Deno.test("a client with retries and a timeout survives a partition", async () => {
  const net = new SimNetwork({ random: 42 });
  const server = net.addHost("server");
  const client = net.addHost("client");
  net.setLink("client", "server", { latency: 0.05 });
  using _policy = net.use();

  const seen = await run(async () => {
    const loop = getRunningLoop();
    const srv = await server.run(() => serve(8080));
    loop.callLater(5, () => net.partition("client", "server"));
    loop.callLater(12, () => net.repair("client", "server"));
    const seen: { t: number; reply: string; attempt: number }[] = [];
    await client.run(async () => {
      for (let i = 0; i < 8; i++) {
        const { reply, attempt } = await askWithRetries(
          "server",
          8080,
          `m${i}`,
        );
        seen.push({ t: Math.round(loop.time()), reply, attempt });
        await sleep(2);
      }
    });
    srv.close();
    await srv.waitClosed();
    return seen;
  });

  // Every request got its answer, in order.
  assert.deepEqual(seen.map((s) => s.reply), [
    "M0\n",
    "M1\n",
    "M2\n",
    "M3\n",
    "M4\n",
    "M5\n",
    "M6\n",
    "M7\n",
  ]);
  // The request that met the partition needed several attempts, and its
  // answer came only after the repair at t = 12 s.
  const hit = seen.find((s) => s.attempt > 1)!;
  assert(hit.t >= 12, `answered at t=${hit.t}`);
  assert(net.trace.some((e) => e.kind === "partition"));
  assert(net.trace.some((e) => e.kind === "repair"));
});
