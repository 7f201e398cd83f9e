/**
 * Hello World with callSoon(): schedules a callback that prints a greeting
 * and stops the loop. The "Hello World with call_soon()" example of asyncio's
 * documentation.
 *
 * Run: deno run examples/hello_world.ts
 *
 * @module
 */
import { type AbstractEventLoop, newEventLoop } from "../mod.ts";

/** A callback to print "Hello World" and stop the event loop. */
function helloWorld(loop: AbstractEventLoop): void {
  console.log("Hello World");
  loop.stop();
}

const loop = newEventLoop();

// Schedule a call to helloWorld().
loop.callSoon(helloWorld, loop);

// Resolves when helloWorld() calls loop.stop().
try {
  await loop.runForever();
} finally {
  loop.close();
}
