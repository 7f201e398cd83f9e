/**
 * connect_failures_test.ts: `waitFor(loop.createConnection(...), 0.2)` to
 * a listener whose accept queue is full (the SYN is dropped, so the connect
 * hangs). Prints the error and how long it took, then whether resources and
 * fds are back to their baseline. The full listener is left open on
 * purpose: closing it would make the stray connect fail fast and hide one
 * that was never aborted. The process must then exit at once.
 */
import { getRunningLoop, Protocol, run, waitFor } from "../../../mod.ts";
import { assertBaseline, baseline, fullListener } from "../_util.ts";

const full = await fullListener();
await run(async () => {}); // The first run() sets up process-wide state.
const base = baseline();
await run(async () => {
  const loop = getRunningLoop();
  const start = loop.time();
  try {
    await waitFor(
      loop.createConnection(() => new Protocol(), "127.0.0.1", full.port),
      0.2,
    );
    console.log("connected (unexpected)");
  } catch (error) {
    const name = (error as Error)?.constructor?.name ?? String(error);
    console.log(`${name} after ${(loop.time() - start).toFixed(3)} s`);
  }
});
try {
  await assertBaseline(base, "after the timed-out connect");
  console.log("baseline ok");
} catch (error) {
  console.log((error as Error).message);
}
