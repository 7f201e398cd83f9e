/**
 * A connection's read, one call closer to the runtime (package-internal).
 *
 * `Deno.Conn.read()` is an async function around Deno's read op: it tracks
 * the pending op in a set (for `ref()`/`unref()`), awaits it in a
 * `try`/`finally`, and maps 0 to `null`. A transport needs none of that: the
 * package unrefs every connection it wraps once and for all (a loop keeps
 * the process alive while it runs), and one read per message is the hottest
 * call in a server. Calling the op itself, unref'd as `conn.read()` would
 * unref it, saves a promise and an async frame per read (6–9 % of the rate
 * of a streams or buffered echo server at 50 connections,
 * bench/echo_bench.ts).
 *
 * The op is the one `Deno.Conn.read()` calls, reached through the
 * runtime's internal namespace and the connection's resource id. Where the
 * runtime does not expose them (another Deno version, or a connection that
 * is not Deno's: a `node:net` or `node:tls` socket, the in-process pair behind
 * `socketpair()`), `readOp()` returns null and the transport calls
 * `conn.read()`: the same bytes and errors, a little slower.
 *
 * @module
 */
import type { StreamConn } from "./types.ts";

/**
 * Reads into `buffer`; resolves with the count: 0 at EOF, and 0 at once for
 * an empty (or detached) buffer. Rejects with the errors `Deno.Conn.read()`
 * rejects with.
 */
export type ReadOp = (buffer: Uint8Array) => Promise<number>;

interface RuntimeCore {
  read(rid: number, buffer: Uint8Array): Promise<number>;
  unrefOpPromise(promise: Promise<unknown>): void;
}

/** Deno's core ops, where the runtime exposes them. */
const core: RuntimeCore | null = (() => {
  try {
    const internal = (Deno as unknown as Record<symbol, unknown>)[
      (Deno as unknown as { internal: symbol }).internal
    ] as { core?: RuntimeCore } | undefined;
    const found = internal?.core;
    return typeof found?.read === "function" &&
        typeof found.unrefOpPromise === "function"
      ? found
      : null;
  } catch {
    return null;
  }
})();

/** The description of the symbol a Deno connection keeps its id under. */
const RID = "Deno.internal.rid";

/** How the op's reads hold the process. */
export interface ReadOpOptions {
  /**
   * Each pending read lets the process exit, as after `conn.unref()`: set
   * it for a connection the package has unref'd (every one it wraps).
   */
  unref: boolean;
}

/**
 * The read op of a Deno connection (`Deno.TcpConn`, `Deno.UnixConn`), or
 * null where there is none to call: then read with `conn.read()`.
 */
export function readOp(
  conn: StreamConn,
  options: ReadOpOptions,
): ReadOp | null {
  if (core === null) return null;
  for (const symbol of Object.getOwnPropertySymbols(conn)) {
    if (symbol.description !== RID) continue;
    const rid = (conn as unknown as Record<symbol, unknown>)[symbol];
    if (typeof rid !== "number") return null;
    const ops = core;
    if (!options.unref) return (buffer) => ops.read(rid, buffer);
    return (buffer) => {
      const promise = ops.read(rid, buffer);
      ops.unrefOpPromise(promise);
      return promise;
    };
  }
  return null;
}
