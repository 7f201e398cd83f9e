/**
 * Display the current date with callLater(): a callback that prints the date
 * every second, rescheduling itself, and stops the loop after 5 seconds:
 * the "Display the current date with call_later()" example of asyncio's
 * documentation.
 *
 * Run: deno run examples/display_date.ts
 *
 * @module
 */
import { type AbstractEventLoop, newEventLoop } from "../mod.ts";

function displayDate(endTime: number, loop: AbstractEventLoop): void {
  console.log(new Date().toISOString());
  if (loop.time() + 1.0 < endTime) {
    loop.callLater(1, displayDate, endTime, loop);
  } else {
    loop.stop();
  }
}

const loop = newEventLoop();

// Schedule the first call to displayDate().
const endTime = loop.time() + 5.0;
loop.callSoon(displayDate, endTime, loop);

// Resolves when displayDate() calls loop.stop().
try {
  await loop.runForever();
} finally {
  loop.close();
}
