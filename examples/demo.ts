/**
 * A tour of aioloop in a few seconds: callbacks, timers, tasks, cancellation,
 * the exception handler, and the virtual clock.
 *
 * Run: deno run examples/demo.ts
 *
 * @module
 */
import {
  CancelledError,
  createTask,
  currentTask,
  getRunningLoop,
  newEventLoop,
  run,
  sleep,
} from "../mod.ts";
import { useEventLoopPolicy, VirtualTimePolicy } from "../testing/mod.ts";

// 1. Callbacks and timers on a loop you drive yourself.
const loop = newEventLoop();
loop.callSoon(() => console.log("1. callSoon: runs on the next iteration"));
loop.callLater(0.05, () => {
  console.log("1. callLater(0.05): runs 50 ms later, then stops the loop");
  loop.stop();
});
await loop.runForever();
loop.close();

// 2. Coroutines and tasks with run().
const total = await run(async () => {
  const worker = async (n: number) => {
    await sleep(0.01 * n);
    console.log(`2. ${currentTask()!.getName()} finished after ${n * 10} ms`);
    return n;
  };
  const tasks = [1, 2, 3].map((n) =>
    createTask(() => worker(n), { name: `worker-${n}` })
  );
  let sum = 0;
  for (const task of tasks) sum += await task;
  return sum;
});
console.log(`2. the workers returned ${total} in all`);

// 3. Cancellation arrives as CancelledError at the await.
await run(async () => {
  const sleeper = createTask(async () => {
    try {
      await sleep(3600);
    } catch (error) {
      if (error instanceof CancelledError) {
        console.log(`3. sleeper cancelled: "${error.message}"`);
      }
      throw error;
    }
  });
  await sleep(0);
  sleeper.cancel("no time to sleep");
  await sleeper.then(() => {}, () => {});
  console.log(`3. sleeper.cancelled() is ${sleeper.cancelled()}`);
});

// 4. A failing callback goes to the exception handler; the loop keeps going.
await run(async () => {
  const loop = getRunningLoop();
  loop.setExceptionHandler((_loop, context) => {
    console.log(
      `4. exception handler: ${context.message}: ${context.exception}`,
    );
  });
  loop.callSoon(function failing() {
    throw new Error("boom");
  });
  await sleep(0.001);
  console.log("4. the loop is still running");
});

// 5. The virtual clock: a day of sleeping takes no time.
{
  using _policy = useEventLoopPolicy(new VirtualTimePolicy());
  const started = performance.now();
  const virtualSeconds = await run(async () => {
    const loop = getRunningLoop();
    for (let hour = 0; hour < 24; hour++) await sleep(3600);
    return loop.time();
  });
  const realMs = performance.now() - started;
  console.log(
    `5. virtual clock: ${virtualSeconds} s passed in ${realMs.toFixed(1)} ms`,
  );
}
