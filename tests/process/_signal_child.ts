/**
 * A child program for the signal tests: `deno run _signal_child.ts <mode>`.
 *
 * - `removed`: adds a SIGINT handler, removes it, prints "ready" and waits
 *   an hour on the loop: SIGINT must end it the default way.
 * - `closed`: adds a SIGINT handler, closes the loop (which removes it),
 *   prints "ready" and waits on a plain timer: the same.
 * - `idle`: adds a SIGUSR1 handler to a loop it never runs and prints
 *   "done": the listener must not keep the process alive.
 *
 * @module
 */
import { EventLoop, sleep } from "../../mod.ts";

const mode = Deno.args[0];
const loop = new EventLoop();
if (mode === "removed") {
  loop.addSignalHandler("SIGINT", () => console.log("handler ran"));
  if (!loop.removeSignalHandler(2)) throw new Error("nothing removed");
  await loop.runUntilComplete(async () => {
    console.log("ready");
    await sleep(3600);
  });
} else if (mode === "closed") {
  loop.addSignalHandler("SIGINT", () => console.log("handler ran"));
  loop.close();
  console.log("ready");
  setTimeout(() => console.log("timed out"), 3_600_000);
} else if (mode === "idle") {
  loop.addSignalHandler("SIGUSR1", () => {});
  console.log("done");
} else {
  throw new Error(`unknown mode ${mode}`);
}
