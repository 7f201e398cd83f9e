/**
 * `EventLoop`: the package's concrete loop, on Deno's own I/O. It plays the
 * part of asyncio's `SelectorEventLoop`: the scheduling core of
 * `BaseEventLoop` plus the Deno backends that report to its dispatcher.
 *
 * @module
 */
import { BaseEventLoop } from "./base_loop.ts";

/**
 * The default event loop. Mirrors `asyncio.SelectorEventLoop` (the default
 * loop on Unix). Usually obtained with `newEventLoop()` or used implicitly by
 * `run()`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "@aio/loop";
 * const loop = new EventLoop();
 * const result = await loop.runUntilComplete(async () => "done");
 * console.assert(result === "done");
 * loop.close();
 * ```
 */
export class EventLoop extends BaseEventLoop {}
