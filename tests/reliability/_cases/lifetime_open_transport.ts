/**
 * lifecycle_test.ts: connects to the test's raw listener (port in argv),
 * writes "hello" and leaves the transport open, then ends the loop:
 * - `run`: `run()` returns;
 * - `loop`: `newEventLoop()`, `runUntilComplete()`, `close()`;
 * - `unclosed`: `newEventLoop()`, `runUntilComplete()`, and the loop is
 *   never closed: the transport's read is still pending.
 * The process must exit, and the test's peer must see the bytes, then EOF.
 */
import {
  type AbstractEventLoop,
  getRunningLoop,
  newEventLoop,
  Protocol,
  run,
} from "../../../mod.ts";

const [mode, port] = Deno.args;

async function main(loop: AbstractEventLoop): Promise<void> {
  const [transport] = await loop.createConnection(
    () => new Protocol(),
    "127.0.0.1",
    Number(port),
  );
  transport.write(new TextEncoder().encode("hello"));
  console.log("connected");
}

if (mode === "run") {
  await run(() => main(getRunningLoop()));
} else if (mode === "unclosed") {
  await newEventLoop().runUntilComplete(() => main(getRunningLoop()));
} else {
  const loop = newEventLoop();
  try {
    await loop.runUntilComplete(() => main(loop));
  } finally {
    loop.close();
  }
}
console.log("returned");
