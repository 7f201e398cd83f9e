/**
 * The timer heap gives memory back after a burst: its arrays grow while
 * timers pile up and shrink again once they are cancelled or have run.
 */
import assert from "node:assert/strict";
import type { TimerHeap } from "../../loop/core/timer_heap.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";

Deno.test("TimerHeap shrinks after a burst of timers is cancelled", async () => {
  const loop = new VirtualTimeEventLoop();
  const heap = loop._scheduled as TimerHeap;
  const timers = [];
  for (let i = 0; i < 200_000; i++) {
    timers.push(loop.callLater(1000 + i, () => {}));
  }
  assert.ok(heap.capacity >= 200_000);
  for (const timer of timers) timer.cancel();
  // One iteration drops the cancelled entries (more than half cancelled).
  await loop.runUntilComplete(async () => {});
  assert.equal(heap.size, 0);
  assert.equal(heap.capacity, 64);
  loop.close();
});

Deno.test("TimerHeap shrinks as a burst of timers runs, keeping order", async () => {
  const loop = new VirtualTimeEventLoop();
  const heap = loop._scheduled as TimerHeap;
  const order: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    loop.callLater((50_000 - i) / 1000, () => order.push(i));
  }
  const peak = heap.capacity;
  await loop.runUntilComplete(() => new Promise((r) => loop.callLater(60, r)));
  assert.equal(order.length, 50_000);
  assert.deepEqual(order.slice(0, 3), [49_999, 49_998, 49_997]);
  assert.ok(heap.capacity < peak / 100, `capacity ${heap.capacity}`);
  loop.close();
});
