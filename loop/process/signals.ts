/**
 * Unix signals: the name ↔ number table (Python's `signal` module), and
 * the checks of which signals a handler may be installed for. The handler
 * machinery built on them is `loop/signal_handlers.ts`.
 *
 * CPython installs a C-level handler that writes the signal number into the
 * loop's self-pipe; the loop reads it and schedules the Python handler as a
 * callback. Here `Deno.addSignalListener` plays the C handler: the listener
 * only posts to the loop's dispatcher, which turns the event into a ready
 * callback (and wakes a waiting loop), so the handler runs on the loop among
 * its other callbacks, in the async context that was current when it was
 * added. A listener never holds the virtual clock and never keeps the process
 * alive on its own (Deno's signal listeners do not). Removing the last
 * listener for `SIGINT` gives Ctrl-C back its default action (Deno restores
 * it; a test checks).
 *
 * A signal is its name (`"SIGINT"`) or its **Linux** number (`2`) on every
 * OS, as `API.md` says; `Signals` holds the table.
 *
 * @module
 */
import { describe } from "../base/format.ts";

/**
 * Signal names and their Linux numbers. Mirrors Python's `signal.Signals`
 * (on Linux): `Signals.SIGINT === 2`. Aliases (`SIGIOT`, `SIGCLD`,
 * `SIGPOLL`, `SIGUNUSED`) share the number of the name they alias.
 * Real-time signals (34–64) are valid on Linux but Deno cannot listen for
 * them, so they are not listed.
 *
 * @example
 * ```ts
 * import { Signals } from "@aio/loop";
 * import assert from "node:assert/strict";
 * assert.equal(Signals.SIGTERM, 15);
 * assert.equal(Signals.SIGPOLL, Signals.SIGIO);
 * ```
 */
export const Signals: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
  SIGUNUSED: 31,
});

/** Canonical name by number (the first name listed wins over aliases). */
const NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, signum] of Object.entries(Signals)) {
    if (!names.has(signum)) names.set(signum, name);
  }
  return names;
})();

const SIGRTMIN = 34;
const SIGRTMAX = 64;
/** Signals no process can catch. */
const UNCATCHABLE = new Set([Signals.SIGKILL, Signals.SIGSTOP]);
/** Fault signals Deno refuses to bind ("Binding to signal ... is not allowed"). */
const DENO_FORBIDDEN = new Set([
  Signals.SIGILL,
  Signals.SIGFPE,
  Signals.SIGSEGV,
]);
/** The only signals Deno listens for on Windows (numbers as in Python there). */
const WINDOWS_SIGNALS: ReadonlyMap<string, number> = new Map([
  ["SIGINT", 2],
  ["SIGBREAK", 21],
]);

/**
 * The canonical name of a signal given by name or Linux number. Aliases map
 * to the name they alias (`"SIGPOLL"` → `"SIGIO"`). Mirrors
 * `signal.Signals(n).name`.
 *
 * @param sig A signal name such as `"SIGINT"`, or a Linux signal number.
 * @returns The canonical name, e.g. `"SIGINT"`.
 * @throws {TypeError} if `sig` is neither a string nor a number.
 * @throws {RangeError} if `sig` is not a signal Linux knows by that name or
 * number (real-time signals have no name and are refused as well).
 * @example
 * ```ts
 * import { signalName } from "@aio/loop";
 * import assert from "node:assert/strict";
 * assert.equal(signalName(15), "SIGTERM");
 * assert.equal(signalName("SIGPOLL"), "SIGIO");
 * ```
 */
export function signalName(sig: string | number): string {
  return NAMES.get(signalNumber(sig))!;
}

/**
 * The Linux number of a signal given by name or number.
 *
 * @param sig A signal name such as `"SIGINT"`, or a Linux signal number.
 * @returns The signal's Linux number, e.g. `2`.
 * @throws {TypeError} if `sig` is neither a string nor a number.
 * @throws {RangeError} for an unknown name, a number that is not a signal
 * (0, negative, not an integer, NaN, over 64) or a real-time signal.
 * @example
 * ```ts
 * import { signalNumber } from "@aio/loop";
 * import assert from "node:assert/strict";
 * assert.equal(signalNumber("SIGINT"), 2);
 * assert.equal(signalNumber(10), 10);
 * ```
 */
export function signalNumber(sig: string | number): number {
  if (typeof sig === "string") {
    const signum = Object.hasOwn(Signals, sig) ? Signals[sig] : undefined;
    if (signum !== undefined) return signum;
    if (sig === "SIGBREAK") {
      throw new RangeError("SIGBREAK exists only on Windows");
    }
    throw new RangeError(
      `invalid signal name ${
        JSON.stringify(sig)
      }: expected a name such as "SIGINT" or "SIGTERM"`,
    );
  }
  if (typeof sig !== "number") {
    throw new TypeError(
      `a signal is a name ("SIGINT") or a number (2), got ${describe(sig)}`,
    );
  }
  if (NAMES.has(sig)) return sig;
  if (Number.isInteger(sig) && sig >= SIGRTMIN && sig <= SIGRTMAX) {
    throw new RangeError(
      `signal ${sig} is a real-time signal: Deno.addSignalListener cannot listen for real-time signals`,
    );
  }
  throw new RangeError(`invalid signal number ${sig}`);
}

/**
 * Validates a signal for `addSignalHandler` and returns `[key, denoName]`:
 * the number that identifies it in a loop's table and the name Deno takes.
 */
export function listenable(sig: string | number): [number, Deno.Signal] {
  if (Deno.build.os === "windows") return listenableOnWindows(sig);
  const signum = signalNumber(sig);
  const name = NAMES.get(signum)!;
  if (UNCATCHABLE.has(signum)) {
    throw new RangeError(`${name} cannot be caught`);
  }
  if (DENO_FORBIDDEN.has(signum)) {
    throw new RangeError(
      `${name} cannot be handled: Deno refuses to listen for fault signals (SIGILL, SIGFPE, SIGSEGV)`,
    );
  }
  return [signum, name as Deno.Signal];
}

function listenableOnWindows(sig: string | number): [number, Deno.Signal] {
  if (typeof sig !== "string" && typeof sig !== "number") signalNumber(sig);
  for (const [name, signum] of WINDOWS_SIGNALS) {
    if (sig === name || sig === signum) return [signum, name as Deno.Signal];
  }
  throw new RangeError(
    `signal ${
      String(sig)
    } cannot be handled on Windows: Deno listens only for SIGINT and SIGBREAK there`,
  );
}

/** The key of `sig` in a loop's table, for `removeSignalHandler`. */
export function keyOf(sig: string | number): number {
  if (Deno.build.os === "windows") return listenable(sig)[0];
  return signalNumber(sig);
}
