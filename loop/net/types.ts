/**
 * The socket library's types, which its Node-backed connections and
 * datagram sockets share with `socket.ts`: addresses and the connection
 * shape a socket drives. Imports nothing.
 *
 * @module
 */

/**
 * An IP socket address: `[host, port]` (IPv4), or `[host, port, flowinfo,
 * scopeid]` (IPv6). `const [host, port] = address` works for both.
 *
 * @example
 * ```ts
 * import { AF_INET6, type InetAddress, socket } from "@aio/loop";
 * import assert from "node:assert/strict";
 * using s = socket(AF_INET6);
 * s.bind(["::1", 0]);
 * const address: InetAddress = s.getsockname();
 * const [host, port] = address;
 * assert.equal(host, "::1");
 * assert.ok(port > 0);
 * assert.equal(address.length, 4); // IPv6: flowinfo and scopeid follow
 * ```
 */
export type InetAddress =
  | [host: string, port: number]
  | [host: string, port: number, flowinfo: number, scopeid: number];

/** A socket address: an `InetAddress`, or a Unix socket path. */
export type SocketAddress = InetAddress | string;

/**
 * The connection a socket drives: `Deno.Conn` has this shape, and so does the
 * in-process pair behind `socketpair()`.
 * @internal
 */
export interface StreamConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void> | void;
  close(): void;
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
  setNoDelay?(noDelay?: boolean): void;
  setKeepAlive?(keepAlive?: boolean): void;
}
