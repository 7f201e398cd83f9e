/**
 * Set signal handlers for SIGINT and SIGTERM: the example of that name in
 * asyncio's documentation. `main()` registers `askExit` for both signals with
 * `loop.addSignalHandler()` and sleeps for an hour; the first SIGINT (Ctrl+C)
 * or SIGTERM prints which signal arrived and stops the loop.
 *
 * Adapted from the Python original in two ways: the pid line is printed once
 * the handlers are in place (so a signal sent as soon as it appears is
 * always handled), and the `RuntimeError` that `run()` raises because the
 * loop was stopped before `main()` finished (asyncio's "Event loop stopped
 * before Future completed.") is expected here, so it is caught and the
 * program exits with status 0.
 *
 * Run: deno run examples/signal_handlers.ts   (then press Ctrl+C)
 *
 * @module
 */
import {
  type AbstractEventLoop,
  getRunningLoop,
  run,
  RuntimeError,
  sleep,
} from "../mod.ts";

/** Says which signal arrived and stops the loop. */
function askExit(signame: string, loop: AbstractEventLoop): void {
  console.log(`got signal ${signame}: exit`);
  loop.stop();
}

async function main(): Promise<void> {
  const loop = getRunningLoop();

  for (const signame of ["SIGINT", "SIGTERM"]) {
    loop.addSignalHandler(signame, askExit, signame, loop);
  }

  console.log("Event loop running for 1 hour, press Ctrl+C to interrupt.");
  console.log(`pid ${Deno.pid}: send SIGINT or SIGTERM to exit.`);

  await sleep(3600);
}

try {
  await run(main);
} catch (error) {
  // askExit() stopped the loop while main() was still sleeping.
  if (!(error instanceof RuntimeError)) throw error;
}
