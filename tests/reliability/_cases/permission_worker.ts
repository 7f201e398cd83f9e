/**
 * lifecycle_test.ts: run without --allow-read, a worker that must import a
 * module fails with `Deno.errors.NotCapable` naming the flag, and a
 * self-contained function still runs.
 */
import { getRunningLoop, run, workerFunction } from "../../../mod.ts";

const greet = workerFunction<[string], string>(
  new URL("../../loop/_executor_module.ts", import.meta.url).href,
  "greet",
);

await run(async () => {
  const loop = getRunningLoop();
  try {
    await loop.runInExecutor(null, greet, "x");
    console.log("imported");
  } catch (error) {
    console.log(`${(error as Error).name}: ${(error as Error).message}`);
  }
  console.log(
    `inline ${await loop.runInExecutor(null, (n: number) => n * 2, 21)}`,
  );
});
