/**
 * A small replicated service on the simulated network: three replicas of a
 * key-value store, and a client that writes to every replica (a write
 * counts once a majority has it) and reads from the first replica that
 * answers in time. One replica's host crashes in the middle of the run; the
 * service keeps serving every request. Plain aioloop code throughout; the
 * test only declares the hosts and the fault.
 *
 * Run: deno test examples/replicated_service_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  gather,
  getRunningLoop,
  openConnection,
  sleep,
  startServer,
  waitFor,
} from "../mod.ts";
import { SimNetwork } from "../testing/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const PORT = 6379;
const REPLICAS = ["r1", "r2", "r3"];

/** One replica: `SET key value` and `GET key`, a line each. */
function replica() {
  const store = new Map<string, string>();
  return startServer(
    async (reader, writer) => {
      for (;;) {
        const line = dec.decode(await reader.readline()).trim();
        if (line === "") break;
        const [command, key, value] = line.split(" ");
        if (command === "SET") store.set(key, value);
        writer.write(enc.encode(`${store.get(key) ?? "(nil)"}\n`));
        await writer.drain();
      }
      writer.close();
    },
    "0.0.0.0",
    PORT,
  );
}

/** One request to one replica, given up after a second. */
async function request(host: string, line: string): Promise<string> {
  return await waitFor(async () => {
    const [reader, writer] = await openConnection(host, PORT);
    try {
      writer.write(enc.encode(`${line}\n`));
      return dec.decode(await reader.readline()).trim();
    } finally {
      writer.close();
    }
  }, 1);
}

/** Writes to every replica; succeeds once a majority acknowledged. */
async function set(key: string, value: string): Promise<number> {
  const results = await gather(
    ...REPLICAS.map((host) => request(host, `SET ${key} ${value}`)),
    { returnExceptions: true },
  );
  const acks = results.filter((r) => r === value).length;
  if (acks < 2) throw new Error(`SET ${key}: only ${acks} replicas answered`);
  return acks;
}

/** Reads from the first replica that answers. */
async function get(key: string): Promise<string> {
  for (const host of REPLICAS) {
    try {
      return await request(host, `GET ${key}`);
    } catch {
      // That replica is down or cut off: ask the next.
    }
  }
  throw new Error(`GET ${key}: no replica answered`);
}

Deno.test("the replicated service keeps serving when one replica's host crashes", async () => {
  const net = new SimNetwork({ random: 7 });
  for (const name of REPLICAS) net.addHost(name);
  const client = net.addHost("client");

  const log = await net.run(async () => {
    const loop = getRunningLoop();
    const servers = await Promise.all(
      REPLICAS.map((name) => net.host(name).run(replica)),
    );
    loop.callLater(5, () => net.crash("r1"));
    const log: string[] = [];
    await client.run(async () => {
      for (let i = 0; i < 10; i++) {
        const acks = await set(`k${i}`, `v${i}`);
        const value = await get(`k${i}`);
        log.push(`t=${Math.floor(loop.time())} k${i}=${value} acks=${acks}`);
        await sleep(1);
      }
    });
    for (const server of servers) server.close();
    return log;
  });

  // Every write reached a majority and every read found its value.
  assert.equal(log.length, 10);
  for (let i = 0; i < 10; i++) assert.match(log[i], new RegExp(`k${i}=v${i} `));
  // Before the crash all three replicas acknowledged, after it two did.
  assert.match(log[0], /acks=3/);
  assert.match(log[9], /acks=2/);
  assert(net.trace.some((e) => e.kind === "crash" && e.from === "r1"));
});
