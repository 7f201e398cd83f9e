/**
 * A module whose exports the executor tests run in workers through
 * `workerFunction()`: unlike a function sent as source, an export may use its
 * module's imports and variables.
 */
import { signalName } from "../../loop/process/signals.ts";

const GREETING = "hello from a module";

/** Uses a module variable and an import. */
export function greet(who: string): string {
  return `${GREETING}, ${who} (${signalName(2)})`;
}

/** An async export: the worker awaits it. */
export async function later(value: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return value * 2;
}

/** Not a function. */
export const notAFunction = 42;
