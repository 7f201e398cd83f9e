/**
 * The module functions that obtain loops through the current policy:
 * `getEventLoopPolicy`, `setEventLoopPolicy`, `getEventLoop`, `setEventLoop`,
 * `newEventLoop`.
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import { state } from "../loop/core/running.ts";
import { AbstractEventLoopPolicy } from "./abstract_policy.ts";
import { DefaultEventLoopPolicy } from "./default_policy.ts";

let policy: AbstractEventLoopPolicy | null = null;

/**
 * The current policy (a `DefaultEventLoopPolicy` unless one was set).
 * Mirrors `asyncio.get_event_loop_policy()`.
 *
 * @example
 * ```ts
 * import { DefaultEventLoopPolicy, getEventLoopPolicy } from "@aio/loop";
 * import assert from "node:assert/strict";
 * assert(getEventLoopPolicy() instanceof DefaultEventLoopPolicy);
 * ```
 */
export function getEventLoopPolicy(): AbstractEventLoopPolicy {
  if (policy === null) policy = new DefaultEventLoopPolicy();
  return policy;
}

/**
 * Sets the current policy; null restores the default. Mirrors
 * `asyncio.set_event_loop_policy()`.
 *
 * @throws {TypeError} if `newPolicy` is not an `AbstractEventLoopPolicy`.
 * @example
 * ```ts
 * import { DefaultEventLoopPolicy, getEventLoopPolicy, setEventLoopPolicy } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const mine = new DefaultEventLoopPolicy();
 * setEventLoopPolicy(mine);
 * assert.equal(getEventLoopPolicy(), mine);
 * setEventLoopPolicy(null);
 * ```
 */
export function setEventLoopPolicy(
  newPolicy: AbstractEventLoopPolicy | null,
): void {
  if (newPolicy != null && !(newPolicy instanceof AbstractEventLoopPolicy)) {
    throw new TypeError(
      `policy must be an instance of AbstractEventLoopPolicy or null, not ${typeof newPolicy}`,
    );
  }
  policy = newPolicy ?? null;
}

/** The policy that is set, or null (package-internal). */
export function _getRawPolicy(): AbstractEventLoopPolicy | null {
  return policy;
}

/**
 * The running loop when called from a coroutine or callback, else the
 * policy's current loop. Mirrors `asyncio.get_event_loop()`.
 *
 * @example
 * ```ts
 * import { getEventLoop, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   assert(getEventLoop().isRunning());
 * });
 * ```
 */
export function getEventLoop(): AbstractEventLoop {
  return state.runningLoop ?? getEventLoopPolicy().getEventLoop();
}

/**
 * Sets the policy's current loop. Mirrors `asyncio.set_event_loop()`.
 *
 * @example
 * ```ts
 * import { getEventLoop, newEventLoop, setEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * setEventLoop(loop);
 * assert.equal(getEventLoop(), loop);
 * setEventLoop(null);
 * loop.close();
 * ```
 */
export function setEventLoop(loop: AbstractEventLoop | null): void {
  getEventLoopPolicy().setEventLoop(loop);
}

/**
 * A new loop from the current policy. Mirrors `asyncio.new_event_loop()`.
 *
 * @example
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * assert(!loop.isClosed());
 * loop.close();
 * ```
 */
export function newEventLoop(): AbstractEventLoop {
  return getEventLoopPolicy().newEventLoop();
}

state.eventLoopFallback = getEventLoop;
