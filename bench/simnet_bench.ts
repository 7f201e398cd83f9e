/**
 * The simulated network's speed, beside the real loopback in the same run.
 *
 *   deno run -A bench/simnet_bench.ts [--quick]
 *
 * - **echo**: 50 connections, each sending 1 KiB and awaiting its echo,
 *   200 times (50 with --quick), through `startServer`/`openConnection`:
 *   once over the real loopback (a plain loop), once on the simulated
 *   network (two hosts, 1 ms links). Prints round trips per second of real
 *   time for each and their ratio; best of three runs each, alternating.
 * - **hour**: a one-hour scenario of periodic traffic on the simulated
 *   network (10 clients, one request a second each: 36,000 round trips
 *   over 3,600 virtual seconds); prints the real time it took.
 *
 * @module
 */
import {
  newEventLoop,
  openConnection,
  sleep,
  startServer,
  type StreamReader,
  type StreamWriter,
} from "../mod.ts";
import { SimNetwork } from "../testing/mod.ts";

const quick = Deno.args.includes("--quick");
const CONNS = 50;
const ROUNDS = quick ? 50 : 200;
const SIZE = 1024;

async function echoHandler(reader: StreamReader, writer: StreamWriter) {
  for (;;) {
    const data = await reader.read(65536);
    if (data.length === 0) break;
    writer.write(data);
    await writer.drain();
  }
  writer.close();
}

/** One client: ROUNDS requests of SIZE bytes, each awaiting its echo. */
async function client(host: string, port: number): Promise<void> {
  const [reader, writer] = await openConnection(host, port);
  const message = new Uint8Array(SIZE).fill(120);
  for (let i = 0; i < ROUNDS; i++) {
    writer.write(message);
    await reader.readexactly(SIZE);
  }
  writer.close();
  await writer.waitClosed();
}

/** Round trips per second of real time over the real loopback. */
async function loopbackEcho(): Promise<number> {
  const loop = newEventLoop();
  try {
    return await loop.runUntilComplete(async () => {
      const server = await startServer(echoHandler, "127.0.0.1", 0);
      const [, port] = server.sockets[0].getsockname();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONNS }, () => client("127.0.0.1", port)),
      );
      const seconds = (performance.now() - t0) / 1000;
      server.close();
      await server.waitClosed();
      return (CONNS * ROUNDS) / seconds;
    });
  } finally {
    loop.close();
  }
}

/** The same exchange on the simulated network. */
async function simulatedEcho(): Promise<number> {
  const net = new SimNetwork({ random: 1 });
  const serverHost = net.addHost("server");
  const clientHost = net.addHost("client");
  return await net.run(async () => {
    const server = await serverHost.run(() =>
      startServer(echoHandler, "0.0.0.0", 7)
    );
    const t0 = performance.now();
    await clientHost.run(() =>
      Promise.all(Array.from({ length: CONNS }, () => client("server", 7)))
    );
    const seconds = (performance.now() - t0) / 1000;
    server.close();
    await server.waitClosed();
    return (CONNS * ROUNDS) / seconds;
  });
}

/** Real seconds for an hour of periodic traffic on the simulated network. */
async function simulatedHour(): Promise<{ seconds: number; trips: number }> {
  const net = new SimNetwork({ random: 1 });
  const serverHost = net.addHost("server");
  const clients = Array.from({ length: 10 }, (_, i) => net.addHost(`c${i}`));
  let trips = 0;
  const t0 = performance.now();
  await net.run(async () => {
    const server = await serverHost.run(() =>
      startServer(echoHandler, "0.0.0.0", 7)
    );
    await Promise.all(clients.map((host) =>
      host.run(async () => {
        const [reader, writer] = await openConnection("server", 7);
        const message = new Uint8Array(64);
        for (let second = 0; second < 3600; second++) {
          writer.write(message);
          await reader.readexactly(message.length);
          trips++;
          await sleep(1);
        }
        writer.close();
      })
    ));
    server.close();
    await server.waitClosed();
  });
  return { seconds: (performance.now() - t0) / 1000, trips };
}

let real = 0;
let simulated = 0;
for (let i = 0; i < 3; i++) {
  real = Math.max(real, await loopbackEcho());
  simulated = Math.max(simulated, await simulatedEcho());
}
const hour = await simulatedHour();

console.log(
  `Simulated network, ${CONNS} connections × ${SIZE} B × ${ROUNDS} round trips (best of 3):`,
);
console.log("| network | round trips per second (real time) |");
console.log("| --- | ---: |");
console.log(`| real loopback | ${Math.round(real).toLocaleString("en")} |`);
console.log(`| simulated | ${Math.round(simulated).toLocaleString("en")} |`);
console.log(`| simulated ÷ loopback | ${(simulated / real).toFixed(2)}× |`);
console.log(
  `One virtual hour of periodic traffic (10 clients × 1 request/s, ${
    hour.trips.toLocaleString("en")
  } round trips): ${hour.seconds.toFixed(2)} s of real time`,
);
