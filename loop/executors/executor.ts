/**
 * The executor interface: what `runInExecutor` and `setDefaultExecutor` take.
 * It has `concurrent.futures.Executor`'s shape.
 *
 * **Room `loop/executors`**: executors, as `concurrent.futures` is under
 * asyncio: the `Executor` interface and the Web Worker pool. It may import
 * the rooms below it: `loop/base`, `loop/net`, `loop/process`.
 *
 * @module
 */

/**
 * Runs functions off the loop. Mirrors `concurrent.futures.Executor`:
 * `submit(fn, ...args)` returns a promise of the result, `shutdown(wait)`
 * stops accepting work (and, with `wait`, resolves once running work ends).
 *
 * @example An executor that runs functions in a microtask (for tests)
 * ```ts
 * import { type Executor, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const inline: Executor = {
 *   submit: (fn, ...args) => Promise.resolve().then(() => fn(...args)),
 *   shutdown: () => {},
 * };
 * const loop = newEventLoop();
 * const sum = await loop.runUntilComplete(
 *   loop.runInExecutor(inline, (a: number, b: number) => a + b, 2, 3),
 * );
 * assert.equal(sum, 5);
 * loop.close();
 * ```
 */
export interface Executor {
  /** Schedules `fn(...args)`; resolves with its result. */
  submit(
    // deno-lint-ignore no-explicit-any
    fn: (...args: any[]) => unknown,
    ...args: unknown[]
  ): PromiseLike<unknown>;
  /** Stops accepting work; with `wait`, resolves when running work is done. */
  shutdown(wait?: boolean): void | PromiseLike<void>;
}

/** Whether `value` has the executor shape. */
export function isExecutor(value: unknown): value is Executor {
  return value !== null && typeof value === "object" &&
    typeof (value as Executor).submit === "function" &&
    typeof (value as Executor).shutdown === "function";
}
