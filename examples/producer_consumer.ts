/**
 * Producers and consumers, as asyncio programs write them: a bounded
 * `Queue` feeds a pool of worker tasks, a `Semaphore` lets at most two of
 * them use a shared resource (a pretend database) at once, and a shutdown
 * `Event` wakes the task that calls `queue.shutdown()`, which ends the
 * workers' `for await` loops once the queue is drained.
 *
 *   deno run examples/producer_consumer.ts [jobs] [workers]
 *
 * @module
 */
import { Event, Queue, run, Semaphore, sleep, TaskGroup } from "../mod.ts";

const jobs = Number(Deno.args[0] ?? 20);
const workers = Number(Deno.args[1] ?? 4);

const summary = await run(async () => {
  const queue = new Queue<number>({ maxsize: 5 });
  const database = new Semaphore(2);
  const shutdown = new Event();
  let inDatabase = 0;
  let busiest = 0;
  let done = 0;
  let total = 0;

  async function worker(): Promise<void> {
    // Ends when the queue is shut down and drained.
    for await (const job of queue) {
      await database.run(async () => {
        inDatabase++;
        busiest = Math.max(busiest, inDatabase);
        await sleep(0.001); // the query
        inDatabase--;
      });
      total += job;
      done++;
      queue.taskDone();
    }
  }

  async function producer(): Promise<number> {
    let made = 0;
    for (let job = 1; job <= jobs; job++) {
      await queue.put(job); // waits while the queue is full
      made++;
    }
    return made;
  }

  let made = 0;
  await new TaskGroup().run(async (tg) => {
    for (let i = 0; i < workers; i++) tg.createTask(worker);
    tg.createTask(async () => {
      await shutdown.wait();
      queue.shutdown(); // the workers' loops end
    });
    made = await producer();
    await queue.join(); // every job taken and marked done
    shutdown.set();
  });
  return { made, done, total, busiest };
});

console.log(`produced ${summary.made} jobs`);
console.log(
  `processed ${summary.done} jobs (sum ${summary.total}) with ${workers} workers`,
);
console.log(`at most ${summary.busiest} used the database at once`);
