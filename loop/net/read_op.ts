/**
 * A connection's read, one call closer to the runtime (package-internal).
 *
 * `Deno.Conn.read()` is an async function around Deno's read op: it tracks
 * the pending op in a set (for `ref()`/`unref()`), awaits it in a
 * `try`/`finally`, and maps 0 to `null`. A transport that never calls
 * `ref()` or `unref()` on its connection needs none of that, and one read
 * per message is the hottest call in a server: calling the op itself saves
 * a promise and an async frame per read (6–9 % of the rate of a streams or
 * buffered echo server at 50 connections, bench/echo_bench.ts).
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
 * Reads into `buffer`; resolves with the count, 0 at EOF. Rejects with the
 * errors `Deno.Conn.read()` rejects with.
 */
export type ReadOp = (buffer: Uint8Array) => Promise<number>;

interface RuntimeCore {
  read(rid: number, buffer: Uint8Array): Promise<number>;
}

/** Deno's core ops, where the runtime exposes them. */
const core: RuntimeCore | null = (() => {
  try {
    const internal = (Deno as unknown as Record<symbol, unknown>)[
      (Deno as unknown as { internal: symbol }).internal
    ] as { core?: RuntimeCore } | undefined;
    const found = internal?.core;
    return typeof found?.read === "function" ? found : null;
  } catch {
    return null;
  }
})();

/** The description of the symbol a Deno connection keeps its id under. */
const RID = "Deno.internal.rid";

/**
 * The read op of a Deno connection (`Deno.TcpConn`, `Deno.UnixConn`,
 * `Deno.TlsConn`), or null where there is none to call: then read with
 * `conn.read()`.
 */
export function readOp(conn: StreamConn): ReadOp | null {
  if (core === null) return null;
  for (const symbol of Object.getOwnPropertySymbols(conn)) {
    if (symbol.description !== RID) continue;
    const rid = (conn as unknown as Record<symbol, unknown>)[symbol];
    if (typeof rid !== "number") return null;
    const ops = core;
    return (buffer) => ops.read(rid, buffer);
  }
  return null;
}
