/**
 * Event loop policies and the functions that obtain loops through them, plus
 * `run()` and `Runner`. Mirrors asyncio's policy API and `asyncio.runners`.
 *
 * @example
 * ```ts
 * import { newEventLoop } from "@aio/loop/policy";
 * const loop = newEventLoop();
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
} from "./event_loop.ts";
export { run, Runner, type RunnerOptions } from "./runners.ts";
