/**
 * Deno's own network as a `NetBackend`: `Deno.listen`, `Deno.connect`,
 * `node:net` to connect from a chosen local address, `node:dgram` for
 * datagrams, and the system resolver.
 *
 * @module
 */
import { connectFrom } from "./node_conn.ts";
import { createDgramBackend } from "./node_dgram.ts";
import type { NetBackend, TcpListenOptions } from "./types.ts";

/**
 * Whether Deno's unstable network APIs are on (`--unstable-net`, or
 * `"unstable": ["net"]` in deno.json): they come and go together, so the
 * presence of `Deno.listenDatagram` tells.
 */
function unstableNet(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
    "function";
}

/**
 * `Deno.listen`, refusing `reusePort` without `--unstable-net`: Deno ends
 * the whole process (exit code 70) on an unstable option instead of
 * throwing, so it is checked here, as asyncio refuses `reuse_port` where
 * the platform lacks `SO_REUSEPORT` (a `ValueError`).
 */
function listen(options: TcpListenOptions): Deno.TcpListener {
  if (options.reusePort && !unstableNet()) {
    throw new RangeError(
      "reusePort (SO_REUSEPORT) on a TCP listener needs Deno's --unstable-net flag: run with --unstable-net, or leave reusePort off",
    );
  }
  return Deno.listen(options);
}

/** Deno's own network (package-internal). */
export const DENO_NET: NetBackend = {
  name: "deno",
  listen,
  listenUnix: (path) => Deno.listen({ transport: "unix", path }),
  connect: (hostname, port, signal) => Deno.connect({ hostname, port, signal }),
  connectFrom,
  connectUnix: (path) => Deno.connect({ transport: "unix", path }),
  createDgram: createDgramBackend,
  lookup: () => null,
};
