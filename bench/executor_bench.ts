/**
 * Executor benchmark: round-trip latency of `loop.runInExecutor(null, () => 1)`
 * on the default pool of Web Workers, beside a raw `Worker.postMessage` echo
 * (the anchor: the cost of crossing to a worker and back with nothing else).
 * Prints microseconds per call, sequential (one call in flight) and with 100
 * in flight, best of three runs each, and aioloop's cost as a multiple of the
 * anchor's, as a markdown table.
 *
 *   deno run -A bench/executor_bench.ts [--quick]
 *
 * The raw anchor for 100 in flight spreads its messages round-robin over as
 * many workers as the default pool has (`navigator.hardwareConcurrency`).
 *
 * @module
 */
import { newEventLoop, WorkerPoolExecutor } from "../mod.ts";

const quick = Deno.args.includes("--quick");
const SEQUENTIAL = quick ? 500 : 5_000;
const BATCHES = quick ? 20 : 200;
const IN_FLIGHT = 100;
const RUNS = 3;

const poolSize = new WorkerPoolExecutor().maxWorkers;

type Measure = () => Promise<number>;

/** µs per call of `n` sequential round trips. */
function sequential(trip: () => PromiseLike<unknown>, n: number): Measure {
  return async () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await trip();
    return (performance.now() - t0) * 1000 / n;
  };
}

/** µs per call of `batches` rounds of `IN_FLIGHT` concurrent round trips. */
function concurrent(
  trip: (i: number) => PromiseLike<unknown>,
  batches: number,
): Measure {
  return async () => {
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      const trips = [];
      for (let i = 0; i < IN_FLIGHT; i++) trips.push(trip(i));
      await Promise.all(trips);
    }
    return (performance.now() - t0) * 1000 / (batches * IN_FLIGHT);
  };
}

// ---- raw workers: the anchor ---------------------------------------------------

const ECHO = URL.createObjectURL(
  new Blob(["self.onmessage = (e) => self.postMessage(e.data);"], {
    type: "text/javascript",
  }),
);
const workers = Array.from(
  { length: poolSize },
  () => new Worker(ECHO, { type: "module" }),
);
const waiting = new Map<number, () => void>();
for (const worker of workers) {
  worker.onmessage = (e: MessageEvent<number>) => {
    const resolve = waiting.get(e.data)!;
    waiting.delete(e.data);
    resolve();
  };
}
let next = 0;
const rawTrip = (worker: Worker) =>
  new Promise<void>((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    worker.postMessage(id);
  });

// ---- both, interleaved -------------------------------------------------------------

const loop = newEventLoop();
let results: number[];
try {
  results = await loop.runUntilComplete(async () => {
    const one = () => 1;
    const ours: [Measure, Measure] = [
      sequential(() => loop.runInExecutor(null, one), SEQUENTIAL),
      concurrent(() => loop.runInExecutor(null, one), BATCHES),
    ];
    const anchor: [Measure, Measure] = [
      sequential(() => rawTrip(workers[0]), SEQUENTIAL),
      concurrent((i) => rawTrip(workers[i % workers.length]), BATCHES),
    ];
    // Warm up (start every worker, compile, JIT), then measure in turns so
    // that a noisy neighbour hits both sides alike; keep the best run.
    for (const measure of [...ours, ...anchor]) await measure();
    const best = [Infinity, Infinity, Infinity, Infinity];
    for (let run = 0; run < RUNS; run++) {
      const order = [ours[0], anchor[0], ours[1], anchor[1]];
      for (let i = 0; i < order.length; i++) {
        best[i] = Math.min(best[i], await order[i]());
      }
    }
    return best;
  });
} finally {
  loop.close();
  for (const worker of workers) worker.terminate();
}
const [loopSeq, rawSeq, loopPar, rawPar] = results;

const row = (name: string, ours: number, anchor: number) =>
  `| ${name} | ${ours.toFixed(1)} | ${anchor.toFixed(1)} | ${
    (ours / anchor).toFixed(2)
  }× |`;
console.log(
  `runInExecutor(null, () => 1) round trip, µs per call (best of ${RUNS}; ${poolSize} workers; Deno ${Deno.version.deno})\n`,
);
console.log("| workload | aioloop µs | raw Worker postMessage µs | ratio |");
console.log("|---|---:|---:|---:|");
console.log(row("sequential (1 in flight)", loopSeq, rawSeq));
console.log(row(`concurrent (${IN_FLIGHT} in flight)`, loopPar, rawPar));
