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
