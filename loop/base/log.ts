/**
 * The package's logger: where the default exception handler, debug mode and
 * warnings write. Mirrors `logging.getLogger("asyncio")`; replace its methods
 * to route messages elsewhere (a test can collect them).
 *
 * @module
 */

/** The shape of {@linkcode logger}. */
export interface Logger {
  /** An error, with the exception that caused it when there is one. */
  error(message: string, exception?: unknown): void;
  /** Something worth attention that did not fail. */
  warning(message: string): void;
  /** Diagnostics from debug mode; silent unless you assign a function. */
  debug(message: string): void;
}

/**
 * The package logger. Its methods are plain properties: assign your own.
 *
 * @example Collecting log output in a test
 * ```ts
 * import { logger } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const saved = logger.warning;
 * logger.warning = (message) => seen.push(message);
 * logger.warning("hello");
 * logger.warning = saved;
 * assert.equal(seen[0], "hello");
 * ```
 */
export const logger: Logger = {
  error(message: string, exception?: unknown): void {
    if (exception === undefined) console.error(message);
    else console.error(message, exception);
  },
  warning(message: string): void {
    console.warn(message);
  },
  debug(_message: string): void {
    // Silent by default, like a logger at its default WARNING level.
  },
};
