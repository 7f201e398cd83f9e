/**
 * `AbstractEventLoopPolicy`: what produces loops for `getEventLoop()`,
 * `setEventLoop()`, `newEventLoop()` and `run()`.
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import { NotImplementedError } from "../loop/base/exceptions.ts";

/**
 * The base class of event loop policies. Mirrors
 * `asyncio.AbstractEventLoopPolicy`: every method raises
 * `NotImplementedError` until a subclass defines it.
 *
 * @example
 * ```ts
 * import { AbstractEventLoopPolicy, getEventLoopPolicy } from "@aio/loop";
 * import assert from "node:assert/strict";
 * assert(getEventLoopPolicy() instanceof AbstractEventLoopPolicy);
 * ```
 */
export class AbstractEventLoopPolicy {
  /** The current loop of this context (thread). */
  getEventLoop(): AbstractEventLoop {
    throw new NotImplementedError("getEventLoop() is not implemented");
  }

  /** Sets the current loop (null unsets it). */
  setEventLoop(_loop: AbstractEventLoop | null): void {
    throw new NotImplementedError("setEventLoop() is not implemented");
  }

  /** Creates and returns a new loop. */
  newEventLoop(): AbstractEventLoop {
    throw new NotImplementedError("newEventLoop() is not implemented");
  }
}
