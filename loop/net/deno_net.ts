/**
 * Deno's own network as a `NetBackend`: `Deno.listen`, `Deno.connect`,
 * `node:net` to connect from a chosen local address, `node:dgram` for
 * datagrams, and the system resolver.
 *
 * @module
 */
import { connectFrom } from "./node_conn.ts";
import { createDgramBackend } from "./node_dgram.ts";
import type { NetBackend } from "./types.ts";

/** Deno's own network (package-internal). */
export const DENO_NET: NetBackend = {
  name: "deno",
  listen: (options) => Deno.listen(options),
  listenUnix: (path) => Deno.listen({ transport: "unix", path }),
  connect: (hostname, port, signal) => Deno.connect({ hostname, port, signal }),
  connectFrom,
  connectUnix: (path) => Deno.connect({ transport: "unix", path }),
  createDgram: createDgramBackend,
  lookup: () => null,
};
