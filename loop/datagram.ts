/**
 * `createDatagramEndpoint` and the datagram socket coroutines
 * (`sockRecvfrom`, `sockRecvfromInto`, `sockSendto`), as functions of a
 * loop; `EventLoop`'s methods of those names call them. Mirrors the
 * datagram parts of asyncio's `base_events.py` and `selector_events.py`.
 *
 * @module
 */
import {
  type AddrInfo,
  AF_INET,
  AF_INET6,
  AF_UNIX,
  type GetAddrInfoOptions,
  numericAddrinfo,
  SOCK_DGRAM,
} from "./net/addrinfo.ts";
import type { Callback } from "./core/abstract_loop.ts";
import type { Handle } from "./core/handles.ts";
import type { TransportLoop } from "./transports/transport_loop.ts";
import type { ProtocolFactory } from "../protocols/protocol.ts";
import {
  SO_BROADCAST,
  SO_REUSEPORT,
  Socket,
  type SocketAddress,
  SOL_SOCKET,
} from "./net/socket.ts";
import { RuntimeError } from "./base/exceptions.ts";
import { logger } from "./base/log.ts";
import { SocketDatagramTransport } from "./transports/datagram_transport.ts";
import { connectionMade } from "../transports/transport.ts";
import type { BaseProtocol } from "../protocols/protocol.ts";

import type { CreateDatagramEndpointOptions } from "./core/options.ts";
import { checkOptionKeys, optionKeys } from "./base/options.ts";
export type { CreateDatagramEndpointOptions };

/**
 * The options `createDatagramEndpoint` takes; `reuseAddress` is known so
 * that it gets its own refusal.
 */
const CREATE_DATAGRAM_ENDPOINT_OPTIONS = optionKeys<
  CreateDatagramEndpointOptions
>({
  family: true,
  proto: true,
  flags: true,
  reusePort: true,
  allowBroadcast: true,
  sock: true,
  reuseAddress: true,
});

/**
 * What the datagram functions need of their loop (the event loop provides
 * it): a transport's calls, and socket readiness.
 */
export interface DatagramLoop extends TransportLoop {
  /** Throws if the loop is closed. */
  _checkClosed(): void;
  /** Connects `sock` to `address`. */
  sockConnect(sock: Socket, address: SocketAddress): Promise<void>;
  /** Resolves a host name (the loop's own, so an override is obeyed). */
  getaddrinfo(
    host: string | null,
    port: number | string | null,
    options?: GetAddrInfoOptions,
  ): Promise<AddrInfo[]>;
  /** Watches `sock` for readability. */
  addReader(sock: Socket, callback: Callback, ...args: unknown[]): void;
  /** Stops watching `sock` for readability. */
  removeReader(sock: Socket): boolean;
  /** Watches `sock` for writability. */
  addWriter(sock: Socket, callback: Callback, ...args: unknown[]): void;
  /** Stops watching `sock` for writability. */
  removeWriter(sock: Socket): boolean;
  /** The watches in place, to tell whose reader or writer is installed. */
  readonly _watches: ReadonlyMap<
    Socket,
    { reader: Handle | null; writer: Handle | null }
  >;
}

function describeOptions(values: Record<string, unknown>): string {
  return Object.entries(values)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
}

/** Implements `loop.createDatagramEndpoint()`. @internal */
export async function createDatagramEndpoint<P extends BaseProtocol>(
  loop: DatagramLoop,
  protocolFactory: ProtocolFactory<P>,
  localAddr: SocketAddress | null | undefined,
  remoteAddr: SocketAddress | null | undefined,
  options: CreateDatagramEndpointOptions = {},
): Promise<[SocketDatagramTransport, P]> {
  checkOptionKeys(
    options,
    CREATE_DATAGRAM_ENDPOINT_OPTIONS,
    "createDatagramEndpoint",
  );
  loop._checkClosed();
  if (typeof protocolFactory !== "function") {
    throw new TypeError(
      "createDatagramEndpoint(): protocolFactory must be a function returning a protocol",
    );
  }
  if (options.reuseAddress !== undefined) {
    throw new TypeError(
      "createDatagramEndpoint(): reuseAddress is not supported: SO_REUSEADDR poses a significant security concern for UDP (asyncio removed it); use reusePort",
    );
  }
  const {
    family = 0,
    proto = 0,
    flags = 0,
    reusePort = null,
    allowBroadcast = null,
  } = options;
  let sock: Socket | null = options.sock ?? null;
  let rAddr: SocketAddress | null = null;
  if (sock !== null) {
    if (!(sock instanceof Socket)) {
      throw new TypeError(
        `createDatagramEndpoint(): sock must be a Socket, got ${typeof sock}`,
      );
    }
    if (sock.type !== SOCK_DGRAM) {
      throw new RangeError(`A datagram socket was expected, got ${sock}`);
    }
    const problems = describeOptions({
      localAddr,
      remoteAddr,
      family,
      proto,
      flags,
      reusePort,
      allowBroadcast,
    });
    if (problems !== "") {
      throw new RangeError(
        `socket modifier keyword arguments can not be used when sock is specified. (${problems})`,
      );
    }
  } else {
    let pairs: [
      [number, number],
      [SocketAddress | null, SocketAddress | null],
    ][];
    if (!localAddr && !remoteAddr) {
      if (family === 0) throw new RangeError("unexpected address family");
      pairs = [[[family, proto], [null, null]]];
    } else if (family === AF_UNIX) {
      for (const addr of [localAddr, remoteAddr]) {
        if (addr != null && typeof addr !== "string") {
          throw new TypeError("string is expected");
        }
      }
      if (localAddr && !(localAddr as string).startsWith("\0")) {
        removeStaleSocket(localAddr as string);
      }
      pairs = [[[family, proto], [localAddr ?? null, remoteAddr ?? null]]];
    } else {
      // Join the addresses by (family, proto).
      const byKey = new Map<
        string,
        [SocketAddress | null, SocketAddress | null]
      >();
      const keys = new Map<string, [number, number]>();
      for (const [idx, addr] of [[0, localAddr], [1, remoteAddr]] as const) {
        if (addr == null) continue;
        if (!Array.isArray(addr) || addr.length !== 2) {
          throw new TypeError("2-tuple is expected");
        }
        // An address literal is used as it is; a name goes through the
        // loop's own getaddrinfo, as asyncio's `_ensure_resolved` does.
        const infos: AddrInfo[] =
          numericAddrinfo(addr[0], addr[1], family, SOCK_DGRAM, proto) ??
            await loop.getaddrinfo(addr[0], addr[1], {
              family,
              type: SOCK_DGRAM,
              proto,
              flags,
            });
        if (infos.length === 0) {
          throw new Deno.errors.NotFound("getaddrinfo() returned empty list");
        }
        for (const [fam, , pro, , address] of infos) {
          const key = `${fam}/${pro}`;
          if (!byKey.has(key)) {
            byKey.set(key, [null, null]);
            keys.set(key, [fam, pro]);
          }
          byKey.get(key)![idx] = address as SocketAddress;
        }
      }
      pairs = [];
      for (const [key, pair] of byKey) {
        if (
          (localAddr && pair[0] === null) || (remoteAddr && pair[1] === null)
        ) {
          continue;
        }
        pairs.push([keys.get(key)!, pair]);
      }
      if (pairs.length === 0) {
        throw new RangeError("can not get address information");
      }
    }
    const errors: unknown[] = [];
    for (const [[fam], [localAddress, remoteAddress]] of pairs) {
      let candidate: Socket | null = null;
      try {
        candidate = new Socket(fam, SOCK_DGRAM, 0);
        if (reusePort) {
          if (fam !== AF_INET && fam !== AF_INET6) {
            throw new RangeError(
              "reusePort is only supported for AF_INET/AF_INET6",
            );
          }
          candidate.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
        }
        if (allowBroadcast) candidate.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
        if (localAddr) candidate.bind(localAddress!);
        if (remoteAddr) {
          if (!allowBroadcast) {
            await loop.sockConnect(candidate, remoteAddress!);
          }
          rAddr = remoteAddress;
        }
        sock = candidate;
        break;
      } catch (error) {
        if (candidate !== null) {
          candidate.close();
          await candidate._dgramClosed;
        }
        if (
          error instanceof TypeError || error instanceof RangeError ||
          error instanceof Deno.errors.NotSupported
        ) throw error;
        errors.push(error);
      }
    }
    if (sock === null) throw errors[0];
  }
  let protocol: P;
  try {
    protocol = protocolFactory();
  } catch (error) {
    // A socket made here would otherwise hold its port until the process
    // exits (asyncio leaves it to the garbage collector); one the caller
    // passed stays the caller's.
    if (options.sock == null) {
      sock.close();
      await sock._dgramClosed;
    }
    throw error;
  }
  const waiter = loop.createFuture<null>();
  const transport = new SocketDatagramTransport(
    loop,
    sock,
    protocol,
    rAddr,
    waiter,
  );
  if (loop.getDebug()) {
    logger.debug(
      `Datagram endpoint localAddr=${JSON.stringify(localAddr)} remoteAddr=${
        JSON.stringify(remoteAddr)
      } created: (${transport}, ${protocol})`,
    );
  }
  return await connectionMade(transport, protocol, waiter, () => {
    transport.close();
  });
}

function removeStaleSocket(path: string): void {
  try {
    if (Deno.statSync(path).isSocket) Deno.removeSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    logger.error(
      `Unable to check or remove stale UNIX socket ${path}: ${error}`,
    );
  }
}

function checkSock(loop: DatagramLoop, sock: unknown, method: string): Socket {
  loop._checkClosed();
  if (!(sock instanceof Socket)) {
    throw new TypeError(
      `${method}() expects a Socket (from socket()), got ${typeof sock}`,
    );
  }
  if (sock.closed) {
    throw new Deno.errors.BadResource(`${method}(): the socket is closed`);
  }
  if (sock._owner !== null) {
    throw new RuntimeError(
      `${method}(): file descriptor ${sock.fileno()} is used by transport ${sock._owner}`,
    );
  }
  return sock;
}

/**
 * Waits until `attempt()` stops throwing would-block, retrying each time
 * `sock` is readable (or, with `writing`, writable).
 */
function whenReady<T>(
  loop: DatagramLoop,
  sock: Socket,
  attempt: () => T,
  writing = false,
): Promise<T> {
  try {
    return Promise.resolve(attempt());
  } catch (error) {
    if (!(error instanceof Deno.errors.WouldBlock)) {
      return Promise.reject(error);
    }
  }
  const fut = loop.createFuture<T>();
  const ready = () => {
    if (fut.done()) return;
    try {
      fut.setResult(attempt());
    } catch (error) {
      if (error instanceof Deno.errors.WouldBlock) return;
      fut.setException(
        error instanceof Error ? error : new Error(String(error)),
      );
    }
  };
  if (writing) loop.addWriter(sock, ready);
  else loop.addReader(sock, ready);
  fut.addDoneCallback(() => {
    const watch = loop._watches.get(sock);
    const handle = writing ? watch?.writer : watch?.reader;
    if (handle != null && handle._callback === ready) {
      if (writing) loop.removeWriter(sock);
      else loop.removeReader(sock);
    }
  });
  return fut as unknown as Promise<T>;
}

/** Implements `loop.sockRecvfrom()`. @internal */
export async function sockRecvfrom(
  loop: DatagramLoop,
  sock: Socket,
  bufsize: number,
): Promise<[Uint8Array, SocketAddress]> {
  checkSock(loop, sock, "sockRecvfrom");
  return await whenReady(loop, sock, () => sock.recvfrom(bufsize));
}

/** Implements `loop.sockRecvfromInto()`. @internal */
export async function sockRecvfromInto(
  loop: DatagramLoop,
  sock: Socket,
  buf: Uint8Array,
  nbytes = 0,
): Promise<[number, SocketAddress]> {
  checkSock(loop, sock, "sockRecvfromInto");
  if (!(buf instanceof Uint8Array)) {
    throw new TypeError(
      `sockRecvfromInto() expects a Uint8Array buffer, got ${typeof buf}`,
    );
  }
  return await whenReady(loop, sock, () => sock.recvfromInto(buf, nbytes));
}

/** Implements `loop.sockSendto()`. @internal */
export async function sockSendto(
  loop: DatagramLoop,
  sock: Socket,
  data: Uint8Array,
  address: SocketAddress,
): Promise<number> {
  checkSock(loop, sock, "sockSendto");
  // The package's datagram sockets hand every datagram over at once; a
  // sendto() that would block (a subclass's) is retried once writable.
  return await whenReady(
    loop,
    sock,
    () => sock.sendto(data, address),
    true,
  );
}
