/**
 * The context object passed to exception handlers.
 *
 * @module
 */

/**
 * What `loop.callExceptionHandler(context)` receives. Mirrors the context
 * dict of `loop.call_exception_handler()`: `message` is required, the rest
 * are present when they apply; new keys may appear.
 *
 * @example
 * ```ts
 * import { type ExceptionContext, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * const seen: ExceptionContext[] = [];
 * loop.setExceptionHandler((_loop, ctx) => seen.push(ctx));
 * loop.callSoon(() => { throw new Error("boom"); });
 * loop.callSoon(() => loop.stop());
 * await loop.runForever();
 * assert.match(seen[0].message, /^Exception in callback/);
 * assert.equal((seen[0].exception as Error).message, "boom");
 * loop.close();
 * ```
 */
export interface ExceptionContext {
  /** The error message. */
  message: string;
  /** The exception object, when there is one. */
  exception?: unknown;
  /** The future concerned. */
  future?: unknown;
  /** The task concerned. */
  task?: unknown;
  /** The callback handle concerned. */
  handle?: unknown;
  /** The protocol concerned. */
  protocol?: unknown;
  /** The transport concerned. */
  transport?: unknown;
  /** The socket concerned. */
  socket?: unknown;
  /** The asynchronous generator that raised. */
  asyncgen?: unknown;
  /** Where the object concerned was created (debug mode). */
  sourceTraceback?: string;
  /** Where a handle concerned was created (debug mode). */
  handleTraceback?: string;
  /** Any other key a caller adds. */
  [key: string]: unknown;
}
