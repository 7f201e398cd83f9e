/**
 * Testing support: the virtual-clock loop and policy, `useEventLoopPolicy` to
 * swap a policy in for one test, and `SimNetwork`, a simulated network.
 *
 * **Room `testing`**: the top room: the virtual-clock loop and policy, and the
 * simulated network, for tests. It may import every room.
 *
 * @example
 * ```ts
 * import { getRunningLoop, run, sleep } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
 * const now = await run(async () => {
 *   await sleep(86_400); // a day, instantly
 *   return getRunningLoop().time();
 * });
 * assert.equal(now, 86_400);
 * ```
 *
 * @module
 */
export {
  useEventLoopPolicy,
  VirtualTimeEventLoop,
  VirtualTimePolicy,
} from "./virtual_time.ts";
export {
  type LinkOptions,
  type SimEvent,
  SimEventLoop,
  SimHost,
  SimNetwork,
  type SimNetworkOptions,
} from "./simnet.ts";
export { runUntilIdle, waitAllTasksBlocked } from "./idle.ts";
