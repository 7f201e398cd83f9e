/**
 * The network the sockets run on. Every socket opens its listeners,
 * connections and datagram endpoints through a `NetBackend`: Deno's own by
 * default (`deno_net.ts`), or another one (the simulated network of
 * `@aio/loop/testing`) that a loop makes active while it runs. Name
 * resolution asks the active backend first, so a backend can own its host
 * names.
 *
 * @module
 */
import type { NetBackend } from "./types.ts";

let active: NetBackend | null = null;

/**
 * The backend a loop made active, or null for Deno's own network
 * (package-internal).
 */
export function netBackend(): NetBackend | null {
  return active;
}

/**
 * Makes `backend` (null: Deno's own network) the one new sockets use and
 * returns the previous one (package-internal: a running loop makes its own
 * active, and puts the previous one back when it stops).
 */
export function useNetBackend(backend: NetBackend | null): NetBackend | null {
  const previous = active;
  active = backend;
  return previous;
}
