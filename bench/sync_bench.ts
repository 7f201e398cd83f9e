/**
 * The synchronization benchmark: asyncio's locks and queues on aioloop and,
 * in the same run, on CPython's asyncio and on uvloop
 * (bench/sync_anchors.py, the same workloads in Python) where Python is
 * present. Prints nanoseconds per operation side by side (best of three
 * runs each) and how many times faster aioloop is.
 *
 *   deno run -A bench/sync_bench.ts [--quick] [--json]
 *
 * Workloads (one "op" in brackets):
 * - queuePutGet: 200,000 items through a `Queue({ maxsize: 100 })`, one
 *   producer task and one consumer task [an item]
 * - lockUncontended: 1,000,000 `await lock.run(async () => {})` (asyncio's
 *   `async with lock: pass`) [an acquisition]
 * - lockContended: 10 tasks contending for one `Lock`, each `sleep(0)` while
 *   holding it, 200,000 acquisitions in all [an acquisition]
 * - eventPingPong: two tasks passing the turn with two `Event`s, 100,000
 *   round trips [a round trip]
 *
 * @module
 */
import { Event, gather, Lock, Queue, sleep } from "../mod.ts";
import {
  printTable,
  runAnchors,
  timeWorkloads,
  type Workload,
} from "./_anchors.ts";

/** Each runs `n` operations inside the loop's main task. */
const bodies: [string, (n: number) => Promise<void>, number][] = [
  ["queuePutGet", async (n) => {
    const queue = new Queue<number>({ maxsize: 100 });
    await gather(
      async () => {
        for (let i = 0; i < n; i++) await queue.put(i);
      },
      async () => {
        for (let i = 0; i < n; i++) await queue.get();
      },
    );
  }, 200_000],
  ["lockUncontended", async (n) => {
    const lock = new Lock();
    const body = async () => {};
    for (let i = 0; i < n; i++) await lock.run(body);
  }, 1_000_000],
  ["lockContended", async (n) => {
    const lock = new Lock();
    const perTask = n / 10;
    const body = () => sleep(0);
    const worker = async () => {
      for (let i = 0; i < perTask; i++) await lock.run(body);
    };
    // Ten distinct coroutines: gather() runs an awaitable given twice once.
    await gather(...Array.from({ length: 10 }, () => worker()));
  }, 200_000],
  ["eventPingPong", async (n) => {
    const ping = new Event();
    const pong = new Event();
    await gather(
      async () => {
        for (let i = 0; i < n; i++) {
          ping.set();
          await pong.wait();
          pong.clear();
        }
      },
      async () => {
        for (let i = 0; i < n; i++) {
          await ping.wait();
          ping.clear();
          pong.set();
        }
      },
    );
  }, 100_000],
];

const quick = Deno.args.includes("--quick");
const ours = await timeWorkloads(
  bodies.map(([name, body, size]): Workload => [
    name,
    (loop, n) => loop.runUntilComplete(() => body(n)),
    size,
  ]),
  quick,
);
const anchors = await runAnchors(
  new URL("./sync_anchors.py", import.meta.url).pathname,
  quick,
);
if (Deno.args.includes("--json")) {
  console.log(JSON.stringify({ aioloop: ours, ...anchors }));
} else {
  printTable(
    `Locks and queues, ns per operation, best of 3 runs${
      quick ? " (quick sizes)" : ""
    }; ratios = how many times faster aioloop is`,
    bodies.map(([name]) => name),
    ours,
    anchors,
  );
}
