/**
 * Testing support: the virtual-clock loop and policy, and
 * `useEventLoopPolicy` to swap a policy in for one test.
 *
 * @example
 * ```ts
 * import { run, sleep } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 *
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
 * await run(async () => {
 *   await sleep(86_400); // a day, instantly
 * });
 * ```
 *
 * @module
 */
export {
  useEventLoopPolicy,
  VirtualTimeEventLoop,
  VirtualTimePolicy,
} from "./policy/virtual_time.ts";
