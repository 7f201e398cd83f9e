/**
 * Event loop policies and the functions that obtain loops through them, plus
 * `run()` and `Runner`. Mirrors asyncio's policy API and `asyncio.runners`.
 *
 * **Room `policy`**: event loop policies, the functions that find a loop
 * through them, and `run()`/`Runner`. It may import every `loop/` room and
 * below.
 *
 * @example
 * ```ts
 * import { newEventLoop, run } from "@aio/loop/policy";
 * import assert from "node:assert/strict";
 * assert.equal(await run(async () => "ran"), "ran"); // a new loop, closed after
 * const loop = newEventLoop();
 * assert.equal(loop.isClosed(), false);
 * loop.close();
 * ```
 *
 * @module
 */
export { AbstractEventLoopPolicy } from "./abstract_policy.ts";
export { DefaultEventLoopPolicy } from "./default_policy.ts";
export {
  getEventLoop,
  getEventLoopPolicy,
  newEventLoop,
  setEventLoop,
  setEventLoopPolicy,
} from "./functions.ts";
export { run, Runner, type RunnerOptions } from "./runners.ts";
