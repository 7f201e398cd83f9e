/**
 * Finding a deadlock with the task tree: two tasks each wait for the
 * other's event, so neither ever goes on. `waitAllTasksBlocked()` waits
 * until nothing can move, and `captureTaskTree()` then shows what each task
 * waits on; `formatTaskTree()` prints it. In a running program,
 * `dumpTaskTreeOnSignal()` prints the same tree on `kill -USR1 <pid>`.
 *
 * Run: deno test examples/deadlock_test.ts
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  captureTaskTree,
  createTask,
  Event,
  formatTaskTree,
  run,
} from "../mod.ts";
import { waitAllTasksBlocked } from "../testing/mod.ts";

Deno.test("the task tree shows two tasks waiting on each other's event", async () => {
  const text = await run(async () => {
    const pingSent = new Event();
    const pongSent = new Event();
    // Each waits for the other to go first: a deadlock.
    const ping = createTask(async () => {
      await pongSent.wait();
      pingSent.set();
    }, { name: "ping" });
    const pong = createTask(async () => {
      await pingSent.wait();
      pongSent.set();
    }, { name: "pong" });

    await waitAllTasksBlocked();
    const tree = captureTaskTree();
    const byName = new Map(tree.map((node) => [node.name, node]));
    assert.equal(byName.get("ping")?.state, "waiting");
    assert.match(byName.get("ping")!.waitingOn!, /^Event\.wait\(\) on <Event/);
    assert.equal(byName.get("pong")?.state, "waiting");
    assert.match(byName.get("pong")!.waitingOn!, /^Event\.wait\(\) on <Event/);
    const text = formatTaskTree(tree);
    ping.cancel();
    pong.cancel();
    return text;
  });
  console.log(text);
  assert.match(text, /Task "ping" waiting on Event\.wait\(\)/);
  assert.match(text, /Task "pong" waiting on Event\.wait\(\)/);
});
