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

/** Receives one datagram and who sent it. */
export type DatagramSink = (data: Uint8Array, addr: SocketAddress) => void;

/** One datagram socket as the package sees it (package-internal). */
export interface DgramBackend {
  /** `AF_INET`, `AF_INET6` or `AF_UNIX`. */
  readonly family: number;
  /** Address reuse (`SO_REUSEADDR`/`SO_REUSEPORT`), set before binding. */
  reuse: boolean;
  /** Binds at once; throws Deno's error class (`AddrInUse`, ...). */
  bind(address: SocketAddress): void;
  /** Fixes the peer: sends go there, other senders are dropped. */
  connect(address: SocketAddress): void;
  /** Whether `bind` (or an implicit bind) happened. */
  readonly bound: boolean;
  /** The peer `connect` fixed, or null. */
  readonly peer: SocketAddress | null;
  /** Sends one datagram; `done` runs once it left (or failed). */
  send(
    data: Uint8Array,
    address: SocketAddress | null,
    done: (error: Error | null) => void,
  ): void;
  /** Where datagrams go (null: nowhere yet; they are dropped). */
  setSink(sink: DatagramSink | null): void;
  /** Enables `SO_BROADCAST`. */
  setBroadcast(on: boolean): void;
  /** The local address. */
  sockname(): SocketAddress;
  /** Closes; resolves once every resource and operation has ended. */
  close(): Promise<void>;
}

/** A listening endpoint as the sockets use it (`Deno.Listener`'s shape). */
export interface StreamListener {
  /** Waits for the next connection. */
  accept(): Promise<StreamConn>;
  /** Stops listening; a pending `accept()` rejects. */
  close(): void;
  /** The bound address. */
  readonly addr: Deno.Addr;
  /** Lets the process exit while the listener is open. */
  unref(): void;
}

/** TCP listen options (`Deno.listen`'s, with `reusePort`). */
export type TcpListenOptions = Deno.TcpListenOptions & { reusePort?: boolean };

/** Where sockets open their endpoints (package-internal). */
export interface NetBackend {
  /** A short name for messages and traces. */
  readonly name: string;
  /** Opens a TCP listener; throws Deno's error class (`AddrInUse`, ...). */
  listen(options: TcpListenOptions): StreamListener;
  /** Opens a Unix stream listener at `path`. */
  listenUnix(path: string): StreamListener;
  /** Connects to `hostname`:`port` (an address, not a name). */
  connect(
    hostname: string,
    port: number,
    signal: AbortSignal,
  ): Promise<StreamConn>;
  /** Connects from a given local address. */
  connectFrom(
    hostname: string,
    port: number,
    localHost: string,
    localPort: number,
    signal: AbortSignal,
  ): Promise<StreamConn>;
  /** Connects to the Unix socket at `path`. */
  connectUnix(path: string): Promise<StreamConn>;
  /** A datagram endpoint of `family`. */
  createDgram(family: number, reuse?: boolean): DgramBackend;
  /**
   * The addresses of `host`, or null when the backend leaves names to the
   * system resolver (hosts file, DNS). An empty array: no such host.
   */
  lookup(host: string): string[] | null;
}
