/**
 * The option types of the abstract loop's methods (asyncio's keyword
 * arguments), beside the interface that takes them. They name only types
 * of the rooms below the core: sockets and TLS contexts.
 *
 * @module
 */
import type { Socket } from "../net/socket.ts";
import type { SSLContext } from "../net/ssl_context.ts";

/** Something `addReader`/`addWriter` and the `sock*` methods accept. */
export type FileLike = number | Socket | { fileno(): number };

/** Options of `createConnection`. */
export interface CreateConnectionOptions {
  /**
   * TLS: `true` (the default client context) or an `SSLContext`. The
   * transport is a `TlsTransport` and `connectionMade` runs after the
   * handshake.
   */
  ssl?: boolean | SSLContext | null;
  /** Restrict resolution to `AF_INET` or `AF_INET6` (default: either). */
  family?: number;
  /** Accepted for compatibility (0). */
  proto?: number;
  /** getaddrinfo flags. */
  flags?: number;
  /** An already-connected socket to use instead of host and port. */
  sock?: Socket | null;
  /**
   * `[host, port]` to bind the local end to (port 0: any). Resolved like
   * the remote address; the first local address of the remote's family
   * that can be bound is used.
   */
  localAddr?: [string, number] | null;
  /**
   * The name the server's certificate must match (default: `host`; required
   * with `sock`); "" skips the hostname check (the chain is still verified).
   */
  serverHostname?: string | null;
  /** Seconds between staggered attempts (RFC 8305 "Happy Eyeballs"). */
  happyEyeballsDelay?: number | null;
  /** Interleave address families in the attempt order (first family count). */
  interleave?: number | null;
  /** Reject with every attempt's error (an `AggregateError`). */
  allErrors?: boolean;
  /** Seconds the TLS handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}

/** Options of `createServer`. */
export interface CreateServerOptions {
  /** Restrict to `AF_INET` or `AF_INET6` (default: both). */
  family?: number;
  /** getaddrinfo flags (`AI_PASSIVE` is always added). */
  flags?: number;
  /** An already-bound socket to listen on instead of host and port. */
  sock?: Socket | null;
  /** The listen queue length (default 100). */
  backlog?: number;
  /**
   * TLS: an `SSLContext` with a certificate. The server listens for plain
   * TCP and runs each handshake through `node:tls`, so a handshake timeout
   * can close its connection.
   */
  ssl?: SSLContext | null;
  /** Deno's listeners always reuse addresses; `false` is accepted. */
  reuseAddress?: boolean | null;
  /** SO_REUSEPORT: several servers on one port. */
  reusePort?: boolean | null;
  /** Keep-alive on accepted connections. */
  keepAlive?: boolean | null;
  /** Start accepting at once (default true). */
  startServing?: boolean;
  /** Seconds the TLS handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}

/** Options of `createUnixConnection`. */
export interface CreateUnixConnectionOptions {
  /** TLS: `true` or an `SSLContext` (needs `serverHostname`). */
  ssl?: boolean | SSLContext | null;
  /** An already-connected Unix socket instead of a path. */
  sock?: Socket | null;
  /**
   * The name the server's certificate must match (default: `host`; required
   * with `sock`); "" skips the hostname check (the chain is still verified).
   */
  serverHostname?: string | null;
  /** Seconds the TLS handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}

/** Options of `createUnixServer`. */
export interface CreateUnixServerOptions {
  /** An already-bound Unix socket instead of a path. */
  sock?: Socket | null;
  /** The listen queue length (default 100). */
  backlog?: number;
  /** TLS: an `SSLContext` with a certificate (through `node:tls`). */
  ssl?: SSLContext | null;
  /** Start accepting at once (default true). */
  startServing?: boolean;
  /** Remove the socket file when the server closes (default true). */
  cleanupSocket?: boolean;
  /** Seconds the TLS handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}

/** Options of `getaddrinfo`. */
export interface GetaddrinfoOptions {
  /** `AF_INET`, `AF_INET6` or 0 (either). */
  family?: number;
  /** `SOCK_STREAM`, `SOCK_DGRAM` or 0 (both). */
  type?: number;
  /** Protocol number or 0. */
  proto?: number;
  /** `AI_*` flags. */
  flags?: number;
}

/** Options of `createDatagramEndpoint` (asyncio's keyword arguments). */
export interface CreateDatagramEndpointOptions {
  /** `AF_INET`, `AF_INET6` or `AF_UNIX`; 0 picks from the addresses. */
  family?: number;
  /** Protocol number passed to `getaddrinfo`. */
  proto?: number;
  /** `AI_*` flags passed to `getaddrinfo`. */
  flags?: number;
  /**
   * Let several endpoints bind one port. Deno's UDP sockets set
   * `SO_REUSEADDR` and, on Unix, `SO_REUSEPORT` together for this.
   */
  reusePort?: boolean | null;
  /** Allow sending to broadcast addresses (`SO_BROADCAST`). */
  allowBroadcast?: boolean | null;
  /** An existing `SOCK_DGRAM` socket; the transport takes it over. */
  sock?: Socket | null;
  /**
   * Refused: asyncio removed `reuse_address` for UDP (3.11) as a security
   * concern. Passing it is a `TypeError`; use `reusePort`.
   */
  reuseAddress?: never;
}

/** The file `sendfile` takes: a `Deno.FsFile` (anything with read and seek). */
export type SendfileFile = Pick<Deno.FsFile, "read" | "seek">;

/** Options of `sendfile` and `sockSendfile`. */
export interface SendfileOptions {
  /** Read and send the file by hand when no fast path exists (default true). */
  fallback?: boolean;
}

/** Options of `startTls`. */
export interface StartTlsOptions {
  /** Upgrade the server side of the connection (default false). */
  serverSide?: boolean;
  /** The name to check the server's certificate against ("" skips it). */
  serverHostname?: string | null;
  /** Seconds the handshake may take (default 60). */
  sslHandshakeTimeout?: number | null;
  /** Seconds to wait for the peer's close_notify on close (default 30). */
  sslShutdownTimeout?: number | null;
}
