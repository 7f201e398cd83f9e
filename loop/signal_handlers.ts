/**
 * The signal handlers of one loop: the backend behind
 * `loop.addSignalHandler()` and `loop.removeSignalHandler()` (asyncio's
 * `unix_events` signal handling). `Deno.addSignalListener` plays CPython's
 * C-level handler: the listener only posts to the loop's dispatcher, which
 * turns the signal into a ready callback. The signal table is
 * `process/signals.ts`.
 *
 * @module
 */
import { checkCallback } from "./core/base_loop.ts";
import type { Callback } from "./core/abstract_loop.ts";
import type { Dispatcher, Registration } from "./core/dispatcher.ts";
import { keyOf, listenable } from "./process/signals.ts";

interface Installed {
  name: Deno.Signal;
  listener: () => void;
  registration: Registration;
}

/** The signal handlers of one loop. @internal */
export class SignalHandlers {
  readonly #dispatcher: Dispatcher;
  readonly #handlers = new Map<number, Installed>();

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /** Number of installed handlers. */
  get size(): number {
    return this.#handlers.size;
  }

  /**
   * Checks `callback` and `sig` (in asyncio's order: coroutine first, then
   * the signal), then `checkClosed()`, and installs the handler, replacing
   * one already installed for the same signal.
   */
  add(
    sig: string | number,
    callback: Callback,
    args: unknown[],
    checkClosed: () => void,
  ): void {
    checkCallback(callback, "addSignalHandler");
    const [signum, name] = listenable(sig);
    checkClosed();
    const registration = this.#dispatcher.register(`signal ${name}`);
    const listener = () => registration.post(callback, ...args);
    try {
      Deno.addSignalListener(name, listener);
    } catch (error) {
      registration.close();
      // Not expected after validation; asyncio raises RuntimeError when the
      // handler cannot be set up.
      throw new RangeError(`${name} cannot be handled: ${error}`, {
        cause: error,
      });
    }
    // The new listener is in place before the old one goes, so a signal
    // arriving in between never falls back to the default action.
    const previous = this.#handlers.get(signum);
    this.#handlers.set(signum, { name, listener, registration });
    if (previous !== undefined) uninstall(previous);
  }

  /** Whether a handler is installed for `sig` (a name or number). */
  has(sig: string | number): boolean {
    return this.#handlers.has(keyOf(sig));
  }

  /** Removes the handler for `sig`; whether there was one. */
  remove(sig: string | number): boolean {
    const signum = keyOf(sig);
    const installed = this.#handlers.get(signum);
    if (installed === undefined) return false;
    this.#handlers.delete(signum);
    uninstall(installed);
    return true;
  }

  /** Removes every handler (the loop is closing). */
  clear(): void {
    for (const installed of this.#handlers.values()) uninstall(installed);
    this.#handlers.clear();
  }
}

function uninstall(installed: Installed): void {
  installed.registration.close();
  try {
    Deno.removeSignalListener(installed.name, installed.listener);
  } catch {
    // Already gone: nothing to restore.
  }
}
