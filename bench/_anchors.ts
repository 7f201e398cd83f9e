/**
 * What the loop and sync benchmarks share: timing aioloop's workloads,
 * finding a Python that has
 * asyncio or uvloop, running an anchor script (the same workloads in
 * Python) and printing aioloop's figures beside the anchors'.
 *
 * @module
 */

import { type AbstractEventLoop, newEventLoop } from "../mod.ts";

/** Nanoseconds per operation, by workload name. */
export type Figures = Record<string, number>;

/** A named workload: runs `n` operations on a fresh loop it may run itself. */
export type Workload = [
  name: string,
  run: (loop: AbstractEventLoop, n: number) => Promise<void>,
  size: number,
];

/**
 * aioloop's figures: each workload three times on a new loop (a tenth of
 * its size with `quick`), the best run's nanoseconds per operation.
 * `setup` runs on each new loop first (say, to turn lag measuring on).
 */
export async function timeWorkloads(
  workloads: Workload[],
  quick: boolean,
  setup: (loop: AbstractEventLoop) => void = () => {},
): Promise<Figures> {
  const results: Figures = {};
  for (const [name, run, size] of workloads) {
    const n = quick ? size / 10 : size;
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const loop = newEventLoop();
      setup(loop);
      const t0 = performance.now();
      await run(loop, n);
      const elapsed = performance.now() - t0;
      loop.close();
      best = Math.min(best, (elapsed * 1e6) / n);
    }
    results[name] = Math.round(best * 10) / 10;
  }
  return results;
}

/** The first of `candidates` that runs `probe` successfully, or null. */
export async function pythonWith(
  candidates: string[],
  probe: string,
): Promise<string | null> {
  for (const python of candidates) {
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", probe],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return python;
    } catch {
      // Not installed: try the next one.
    }
  }
  return null;
}

/**
 * Runs the anchor `script` (a path) for `kind` ("asyncio" or "uvloop");
 * null when there is no such Python or the script fails.
 */
export async function runAnchor(
  script: string,
  python: string | null,
  kind: string,
  quick: boolean,
): Promise<Figures | null> {
  if (python === null) return null;
  const { success, stdout, stderr } = await new Deno.Command(python, {
    args: [script, kind, ...(quick ? ["--quick"] : [])],
  }).output();
  if (!success) {
    console.error(`${kind} anchor failed: ${new TextDecoder().decode(stderr)}`);
    return null;
  }
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** Both anchors of `script`: CPython's asyncio and uvloop, where present. */
export async function runAnchors(
  script: string,
  quick: boolean,
): Promise<{ asyncio: Figures | null; uvloop: Figures | null }> {
  const asyncio = await runAnchor(
    script,
    await pythonWith(["python3", "/usr/bin/python3"], "import asyncio"),
    "asyncio",
    quick,
  );
  const uvloop = await runAnchor(
    script,
    await pythonWith(["/usr/bin/python3", "python3"], "import uvloop"),
    "uvloop",
    quick,
  );
  return { asyncio, uvloop };
}

/** Prints the side-by-side table: one row per workload in `names`. */
export function printTable(
  title: string,
  names: string[],
  ours: Figures,
  anchors: { asyncio: Figures | null; uvloop: Figures | null },
): void {
  const cell = (v: number | undefined) =>
    v === undefined ? "n/a" : v.toFixed(0);
  const ratio = (anchor: number | undefined, mine: number) =>
    anchor === undefined ? "n/a" : `${(anchor / mine).toFixed(2)}×`;
  console.log(title);
  console.log(
    "| workload | aioloop ns/op | asyncio ns/op | uvloop ns/op " +
      "| uvloop ÷ aioloop | asyncio ÷ aioloop |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const name of names) {
    const mine = ours[name];
    const { asyncio, uvloop } = anchors;
    console.log(
      `| ${name} | ${cell(mine)} | ${cell(asyncio?.[name])} | ${
        cell(uvloop?.[name])
      } | ${ratio(uvloop?.[name], mine)} | ${ratio(asyncio?.[name], mine)} |`,
    );
  }
}
