/**
 * The loop-core benchmark: five workloads on aioloop and, in the same run,
 * on CPython's asyncio and on uvloop (bench/loop_anchors.py) where Python is
 * present. Prints nanoseconds per operation side by side (best of three runs
 * each) and how many times faster aioloop is.
 *
 *   deno run -A bench/loop_bench.ts [--quick] [--json] [--metrics]
 *
 * Workloads (one "op" in brackets):
 * - callSoonChain: 1,000,000 callSoon, each callback scheduling the next [a callback]
 * - callSoonFanout: 1,000,000 callSoon scheduled at once, then run [a callback]
 * - callLater: 200,000 callLater with random delays under 10 ms, every second
 *   one cancelled [a callLater]
 * - tasksSleep0: 20,000 tasks each awaiting sleep(0) ten times [a task]
 * - futures: 200,000 futures resolved by callSoon and awaited in turn [a future]
 *
 * With --metrics it instead times every workload with the loop's lag
 * measuring (`loop.measureLag(true)`) off and on, and prints the ratio.
 *
 * @module
 */
import { type Future, newEventLoop, sleep } from "../mod.ts";
import {
  printTable,
  runAnchors,
  timeWorkloads,
  type Workload,
} from "./_anchors.ts";

/** A small deterministic generator, so every run schedules the same delays. */
function random(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

const workloads: Workload[] = [
  ["callSoonChain", async (loop, n) => {
    let count = 0;
    const step = () => {
      if (++count < n) loop.callSoon(step);
      else loop.stop();
    };
    loop.callSoon(step);
    await loop.runForever();
  }, 1_000_000],
  ["callSoonFanout", async (loop, n) => {
    let count = 0;
    const callback = () => {
      if (++count === n) loop.stop();
    };
    for (let i = 0; i < n; i++) loop.callSoon(callback);
    await loop.runForever();
  }, 1_000_000],
  ["callLater", async (loop, n) => {
    const rand = random(42);
    const live = n / 2;
    let fired = 0;
    const callback = () => {
      if (++fired === live) loop.stop();
    };
    for (let i = 0; i < n; i++) {
      const handle = loop.callLater(rand() * 0.01, callback);
      if (i % 2) handle.cancel();
    }
    await loop.runForever();
  }, 200_000],
  ["tasksSleep0", async (loop, n) => {
    await loop.runUntilComplete(async () => {
      const tasks = [];
      for (let i = 0; i < n; i++) {
        tasks.push(loop.createTask(async () => {
          for (let j = 0; j < 10; j++) await sleep(0);
        }));
      }
      for (const task of tasks) await task;
    });
  }, 20_000],
  ["futures", async (loop, n) => {
    const resolve = (fut: Future<number>, value: number) =>
      fut.setResult(value);
    await loop.runUntilComplete(async () => {
      for (let i = 0; i < n; i++) {
        const fut = loop.createFuture<number>();
        loop.callSoon(resolve, fut, i);
        await fut;
      }
    });
  }, 200_000],
];

/**
 * The floor under tasksSleep0: the same shape (20,000 async functions each
 * awaiting ten promises resolved in FIFO batches, then awaited in turn by a
 * main async function) with bare V8 promises and no loop at all. No event
 * loop can run that row faster than this. One run; returns ns per task.
 */
async function tasksFloorOnce(n: number): Promise<number> {
  let queue: (() => void)[] = [];
  const t0 = performance.now();
  const coroutines: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    coroutines.push((async () => {
      for (let j = 0; j < 10; j++) {
        await new Promise<void>((resolve) => queue.push(resolve));
      }
    })());
  }
  let finished = false;
  (async () => {
    for (const coroutine of coroutines) await coroutine;
    finished = true;
  })();
  while (!finished) {
    const batch = queue;
    queue = [];
    for (const resolve of batch) resolve();
    await undefined;
    await undefined;
  }
  return ((performance.now() - t0) * 1e6) / n;
}

/**
 * The tasks row and its floor, measured in alternating runs (the heap and
 * the JIT warm up alike for both); the best of each.
 */
async function tasksAndFloor(
  n: number,
  rounds: number,
): Promise<{ tasks: number; floor: number }> {
  const tasksRun = workloads.find(([name]) => name === "tasksSleep0")![1];
  let tasks = Infinity;
  let floor = Infinity;
  for (let round = 0; round < rounds; round++) {
    const loop = newEventLoop();
    const t0 = performance.now();
    await tasksRun(loop, n);
    tasks = Math.min(tasks, ((performance.now() - t0) * 1e6) / n);
    loop.close();
    floor = Math.min(floor, await tasksFloorOnce(n));
  }
  return { tasks: Math.round(tasks * 10) / 10, floor: Math.round(floor) };
}

const quick = Deno.args.includes("--quick");

if (Deno.args.includes("--metrics")) {
  // The cost of loop metrics: every workload with lag measuring off and on,
  // the two runs alternating three times, the best of each kept.
  const off: Record<string, number> = {};
  const on: Record<string, number> = {};
  const keepBest = (
    into: Record<string, number>,
    got: Record<string, number>,
  ) => {
    for (const [k, v] of Object.entries(got)) {
      into[k] = Math.min(into[k] ?? Infinity, v);
    }
  };
  for (let round = 0; round < 3; round++) {
    keepBest(off, await timeWorkloads(workloads, quick));
    keepBest(
      on,
      await timeWorkloads(workloads, quick, (loop) => loop.measureLag(true)),
    );
  }
  console.log(
    "Loop metrics: ns per operation with lag measuring off and on (best of 3 × 3 runs)",
  );
  console.log("| workload | off | on | on ÷ off |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [name] of workloads) {
    console.log(
      `| ${name} | ${off[name]} | ${on[name]} | ${
        (on[name] / off[name]).toFixed(3)
      } |`,
    );
  }
  Deno.exit(0);
}

const ours = await timeWorkloads(workloads, quick);
const paired = await tasksAndFloor(quick ? 2_000 : 20_000, quick ? 3 : 6);
// The tasks row is the one measured beside its floor.
ours.tasksSleep0 = paired.tasks;
const floor = paired.floor;
const anchors = await runAnchors(
  new URL("./loop_anchors.py", import.meta.url).pathname,
  quick,
);

if (Deno.args.includes("--json")) {
  console.log(
    JSON.stringify({ aioloop: ours, ...anchors, tasksSleep0Floor: floor }),
  );
} else {
  printTable(
    `Loop core, ns per operation, best of 3 runs${
      quick ? " (quick sizes)" : ""
    }; ratios = how many times faster aioloop is`,
    workloads.map(([name]) => name),
    ours,
    anchors,
  );
  console.log(
    `tasksSleep0 floor (bare V8 async functions and promises, no loop): ${floor} ns per task; tasksSleep0 ÷ floor: ${
      (ours.tasksSleep0 / floor).toFixed(2)
    }×`,
  );
}
