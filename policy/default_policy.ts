/**
 * `DefaultEventLoopPolicy`: one current loop per policy (a Worker has its own
 * module state, as a Python thread has its own loop), new loops are
 * `EventLoop`s.
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import { AbstractEventLoop as LoopClass } from "../loop/core/abstract_loop.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { RuntimeError } from "../loop/base/exceptions.ts";
import { AbstractEventLoopPolicy } from "./abstract_policy.ts";

/**
 * Whether this code runs in a Worker: asyncio's "not the main thread", where
 * the default policy makes no loop by itself.
 */
const IN_WORKER =
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
    "undefined";

/**
 * The default policy. Mirrors `asyncio.DefaultEventLoopPolicy`:
 * `getEventLoop()` creates and sets a loop the first time if
 * `setEventLoop()` was never called, in the main thread only (in a Worker,
 * as in a Python thread that is not the main one, there is no current loop
 * until `setEventLoop()` sets one); `newEventLoop()` returns a new
 * `EventLoop`. Override `newEventLoop()` to change what loops are made.
 *
 * @example A policy that makes loops with debug mode on
 * ```ts
 * import {
 *   DefaultEventLoopPolicy,
 *   EventLoop,
 *   getEventLoopPolicy,
 *   setEventLoopPolicy,
 * } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * class DebugPolicy extends DefaultEventLoopPolicy {
 *   override newEventLoop(): EventLoop {
 *     const loop = new EventLoop();
 *     loop.setDebug(true);
 *     return loop;
 *   }
 * }
 * setEventLoopPolicy(new DebugPolicy());
 * const loop = getEventLoopPolicy().newEventLoop();
 * assert(loop.getDebug());
 * loop.close();
 * setEventLoopPolicy(null);
 * ```
 */
export class DefaultEventLoopPolicy extends AbstractEventLoopPolicy {
  #loop: AbstractEventLoop | null = null;
  #setCalled = false;

  /**
   * The current loop; created (with `newEventLoop()`) and set on first use
   * unless `setEventLoop()` was called or this is a Worker. Mirrors
   * `DefaultEventLoopPolicy.get_event_loop()`.
   *
   * @throws {RuntimeError} if `setEventLoop(null)` left no current loop, or
   * in a Worker that has not set one.
   */
  override getEventLoop(): AbstractEventLoop {
    if (this.#loop === null && !this.#setCalled && !IN_WORKER) {
      this.setEventLoop(this.newEventLoop());
    }
    if (this.#loop === null) {
      throw new RuntimeError(
        `There is no current event loop${
          IN_WORKER ? " in this worker" : ""
        }: call setEventLoop(newEventLoop()) or use run()`,
      );
    }
    return this.#loop;
  }

  /**
   * Sets the current loop. Mirrors `set_event_loop()`.
   *
   * @throws {TypeError} if `loop` is neither a loop nor null.
   */
  override setEventLoop(loop: AbstractEventLoop | null): void {
    if (loop != null && !(loop instanceof LoopClass)) {
      throw new TypeError(
        `loop must be an instance of AbstractEventLoop or null, not ${typeof loop}`,
      );
    }
    this.#setCalled = true;
    this.#loop = loop ?? null;
  }

  /** A new `EventLoop`. Mirrors `new_event_loop()`. */
  override newEventLoop(): AbstractEventLoop {
    return new EventLoop();
  }
}
