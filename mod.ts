/**
 * aioloop: Python asyncio's event loop for Deno.
 *
 * A policy produces loops; a loop schedules callbacks (`callSoon`,
 * `callLater`), futures and tasks, and reports errors to its exception
 * handler. Names follow asyncio's, in camelCase; times are in seconds.
 *
 * @example Hello world with callSoon()
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const said: string[] = [];
 * loop.callSoon(() => {
 *   said.push("Hello World");
 *   loop.stop();
 * });
 * try {
 *   await loop.runForever();
 * } finally {
 *   loop.close();
 * }
 * assert.deepEqual(said, ["Hello World"]);
 * ```
 *
 * @example Coroutines with run()
 * ```ts
 * import { createTask, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const result = await run(async () => {
 *   const task = createTask(async () => {
 *     await sleep(0.01);
 *     return "done";
 *   });
 *   return await task;
 * });
 * assert.equal(result, "done");
 * ```
 *
 * @module
 */
export * from "./loop/mod.ts";
export * from "./policy/mod.ts";
export * from "./protocols/mod.ts";
export * from "./transports/mod.ts";
