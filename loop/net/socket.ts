/**
 * The package's non-blocking sockets, over Deno's connections and listeners.
 *
 * Deno has no raw sockets or file descriptors, and its I/O completes rather
 * than signals readiness. A `Socket` turns completions into readiness, the way
 * a kernel does for a Python socket: while someone wants to read, one `read`
 * into a receive buffer is kept in flight and the socket is readable while
 * that buffer holds bytes (or EOF, or an error); `recv` takes from it and
 * throws `Deno.errors.WouldBlock` when it is empty. `send` copies into a
 * bounded send buffer drained by one `write` in flight; the socket is
 * writable while that buffer has room. A listening socket keeps one `accept`
 * in flight the same way. Whoever watches a socket (the loop's `addReader` /
 * `addWriter`) is told when its readiness may have changed.
 *
 * @module
 */
import { netBackend } from "./backend.ts";
import { DENO_NET } from "./deno_net.ts";
import type {
  InetAddress,
  NetBackend,
  SocketAddress,
  StreamConn,
  StreamListener,
} from "./types.ts";
export type { InetAddress, SocketAddress, StreamConn } from "./types.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  IPPROTO_TCP,
  isIPv4,
  isIPv6,
  SOCK_DGRAM,
  SOCK_STREAM,
} from "./addrinfo.ts";
import { concat, takeChunks } from "../base/bytes.ts";
import { RuntimeError } from "../base/exceptions.ts";
import { closeQuietly } from "../base/resources.ts";
import { checkDatagramSize, type DgramBackend } from "./node_dgram.ts";

export { AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, SOCK_DGRAM, SOCK_STREAM };

/** `setsockopt` level for socket options. */
export const SOL_SOCKET = 1;
/** `setsockopt` option: allow reuse of local addresses. */
export const SO_REUSEADDR = 2;
/** `setsockopt` option: keep-alive probes. */
export const SO_KEEPALIVE = 9;
/** `setsockopt` option: allow several sockets to bind one port. */
export const SO_REUSEPORT = 15;
/** `setsockopt` option: allow sending to broadcast addresses (datagrams). */
export const SO_BROADCAST = 6;
/** `getsockopt` option: the pending error (0 when none). */
export const SO_ERROR = 4;
/** `setsockopt` option: disable Nagle's algorithm. */
export const TCP_NODELAY = 1;
/** `shutdown` mode: no more receives. */
export const SHUT_RD = 0;
/** `shutdown` mode: no more sends (a FIN is sent). */
export const SHUT_WR = 1;
/** `shutdown` mode: neither. */
export const SHUT_RDWR = 2;

/** How much a socket reads ahead into its receive buffer. */
const RECV_BUFFER_LIMIT = 256 * 1024;
/** The most one read asks for. */
const READ_CHUNK = 64 * 1024;
/** How much `send` accepts before it would block. */
const SEND_BUFFER_LIMIT = 256 * 1024;

/** Told when a socket's readiness may have changed (package-internal). */
export interface SocketWatcher {
  /** The socket may have become readable or writable. */
  socketReady(): void;
  /**
   * An operation started: `waiting` for reads and accepts (they wait on a
   * peer), else a connect or write that completes on its own.
   */
  track(operation: Promise<unknown>, waiting: boolean): void;
}

let nextFd = 3;
const openSockets = new Map<number, Socket>();

/** The open socket with this file number, if any (package-internal). */
export function socketByFd(fd: number): Socket | undefined {
  return openSockets.get(fd);
}

/**
 * Unix socket paths whose listener is closed but not yet released. Deno
 * releases a listener only once its pending accept settles, and then
 * removes the socket file at its path, whoever made the file there since:
 * a server bound to the path in between would lose its file.
 */
const unixReleases = new Map<string, Promise<void>>();

/**
 * Records that the closed Unix listener bound to `path` is released once
 * `released` settles (package-internal).
 */
export function noteUnixRelease(
  path: string,
  released: Promise<unknown>,
): void {
  const earlier = unixReleases.get(path);
  const settled = Promise.allSettled([earlier, released]).then(() => {});
  unixReleases.set(path, settled);
  settled.then(() => {
    if (unixReleases.get(path) === settled) unixReleases.delete(path);
  });
}

/**
 * Settles once the listener last closed at `path` is released; null when
 * none is pending (package-internal). Bind a new listener there after it.
 */
export function unixPathReleased(path: string): Promise<void> | null {
  return unixReleases.get(path) ?? null;
}

function wouldBlock(what: string): Error {
  return new Deno.errors.WouldBlock(
    `${what} would block: the socket is non-blocking; await the loop's sock* methods or use addReader/addWriter`,
  );
}

function badFamily(family: unknown): RangeError {
  return new RangeError(
    `unsupported address family ${
      String(family)
    }: use AF_INET, AF_INET6 or AF_UNIX`,
  );
}

/**
 * A connection's `sockname` and `peername` extra info (null where Deno cannot
 * tell, e.g. after the connection closed). @internal
 */
export function connNames(
  conn: { readonly localAddr: Deno.Addr; readonly remoteAddr: Deno.Addr },
): { sockname: unknown; peername: unknown } {
  return {
    sockname: addrOrNull(() => conn.localAddr),
    peername: addrOrNull(() => conn.remoteAddr),
  };
}

function addrOrNull(get: () => Deno.Addr): SocketAddress | null {
  try {
    return fromDenoAddr(get());
  } catch {
    return null;
  }
}

/** Converts a Deno address to a Python-style socket address. @internal */
export function fromDenoAddr(addr: Deno.Addr): SocketAddress {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return (addr as Deno.UnixAddr).path ?? "";
  }
  const { hostname, port } = addr as Deno.NetAddr;
  return hostname.includes(":") ? [hostname, port, 0, 0] : [hostname, port];
}

/** Validates an IP socket address for `family`; returns `[host, port]`. @internal */
export function checkInetAddress(
  address: unknown,
  family: number,
  what = "address",
): [string, number] {
  if (!Array.isArray(address) || address.length < 2) {
    throw new TypeError(
      `${what} must be an array [host, port]${
        family === AF_INET6 ? " or [host, port, flowinfo, scopeid]" : ""
      }, got ${
        typeof address === "string" ? JSON.stringify(address) : typeof address
      }`,
    );
  }
  const [host, port] = address;
  if (typeof host !== "string") {
    throw new TypeError(`${what}: host must be a string, got ${typeof host}`);
  }
  if (typeof port !== "number" || !Number.isInteger(port)) {
    throw new TypeError(
      `${what}: port must be an integer, got ${String(port)}`,
    );
  }
  if (port < 0 || port > 65535) {
    throw new RangeError(`${what}: port must be 0-65535, got ${port}`);
  }
  return [host, port];
}

function checkUnixAddress(address: unknown, what = "address"): string {
  if (typeof address !== "string") {
    throw new TypeError(
      `${what} of an AF_UNIX socket must be a path string, got ${typeof address}`,
    );
  }
  return address;
}

/**
 * A non-blocking socket. Mirrors a Python `socket.socket` with
 * `setblocking(False)`: calls that would wait throw `Deno.errors.WouldBlock`
 * instead; the loop's `sock*` methods and `addReader`/`addWriter` are the
 * way to wait. Create one with `socket()` or `socketpair()`; servers and
 * accepted connections make their own.
 *
 * @example
 * ```ts
 * import { socketpair } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [a, b] = socketpair();
 * assert.equal(a.send(new TextEncoder().encode("hi")), 2);
 * assert.throws(() => b.recv(10), Deno.errors.WouldBlock);
 * a.close();
 * b.close();
 * ```
 */
export class Socket<A extends SocketAddress = SocketAddress>
  implements Disposable {
  /** The address family: `AF_INET`, `AF_INET6` or `AF_UNIX`. */
  readonly family: number;
  /** The socket type: `SOCK_STREAM`. */
  readonly type: number;
  /** The protocol number (0). */
  readonly proto: number;
  #fd: number;
  /** @ignore The connection, once connected. */
  _conn: StreamConn | null = null;
  /** @ignore The listener, once bound for listening. */
  _listener: StreamListener | null = null;
  /** @ignore */ _bound: SocketAddress | null = null;
  /** @ignore */ _listening = false;
  /** @ignore */ _connecting: Promise<void> | null = null;
  /** @ignore The error a background connect ended with (SO_ERROR). */
  _connectError: unknown = null;
  /** @ignore Aborts the connect in flight (closing the socket does). */
  _connectAbort: AbortController | null = null;
  /** @ignore Receive buffer. */
  _rchunks: Uint8Array[] = [];
  /** @ignore */ _rbytes = 0;
  /** @ignore */ _eof = false;
  /** @ignore */ _error: unknown = null;
  /** @ignore A read (or accept) in flight. */
  _pending: Promise<void> | null = null;
  /** @ignore Accepted connections waiting for `accept()`. */
  _accepted: StreamConn[] = [];
  /** @ignore Send buffer. */
  _wchunks: Uint8Array[] = [];
  /** @ignore */ _wbytes = 0;
  /** @ignore */ _writing = false;
  /** @ignore The write in flight. */
  _writePromise: Promise<void> | null = null;
  /** @ignore */ _shutWrite = false;
  /** @ignore */ _shutRead = false;
  /** @ignore Whether someone waits for readability. */
  _wantRead = false;
  /** @ignore */ _watcher: SocketWatcher | null = null;
  /** @ignore The transport that owns the socket, if one does. */
  _owner: object | null = null;
  /** @ignore */ _noDelay = false;
  /** @ignore */ _keepAlive = false;
  /** @ignore */ _reusePort = false;
  /** @ignore `SO_BROADCAST` (datagram sockets). */
  _broadcast = false;
  /** @ignore Remove the Unix socket file on close. */
  _unlinkOnClose = false;
  /** @ignore The datagram backend of a `SOCK_DGRAM` socket. */
  _dgram: DgramBackend | null = null;
  /** @ignore The network the socket opens its endpoints on. */
  readonly _net: NetBackend;
  /** @ignore Datagrams received and not yet taken, with their senders. */
  _dgrams: [Uint8Array, SocketAddress][] = [];
  /** @ignore Resolves the wait a watched datagram socket holds. */
  _dgramWake: (() => void) | null = null;
  /** @ignore Resolves once a datagram socket's resources are released. */
  _dgramClosed: Promise<void> | null = null;

  /**
   * Creates an unconnected socket; `socket(family, type)` is the usual way.
   *
   * @param family `AF_INET` (default), `AF_INET6` or `AF_UNIX`.
   * @param type `SOCK_STREAM` (default).
   * @param proto 0.
   */
  constructor(family: number = AF_INET, type: number = SOCK_STREAM, proto = 0) {
    if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
      throw badFamily(family);
    }
    if (type !== SOCK_STREAM && type !== SOCK_DGRAM) {
      throw new RangeError(
        `unsupported socket type ${type}: use SOCK_STREAM or SOCK_DGRAM`,
      );
    }
    this.family = family;
    this.type = type;
    this.proto = proto;
    this._net = netBackend() ?? DENO_NET;
    if (type === SOCK_DGRAM) {
      // Throws (naming the flag) for AF_UNIX without --unstable-net.
      this._dgram = this._net.createDgram(family);
      this._dgram.setSink((data, addr) => this._onDatagram(data, addr));
    }
    this.#fd = nextFd++;
    openSockets.set(this.#fd, this);
  }

  /** @ignore Wraps a connected Deno connection. */
  static _fromConn(conn: StreamConn, family: number): Socket {
    unrefConn(conn);
    const sock = new Socket(family, SOCK_STREAM);
    sock._conn = conn;
    return sock;
  }

  /**
   * The socket's file number: a unique positive integer, -1 once closed.
   * `addReader(sock.fileno(), ...)` and `addReader(sock, ...)` are the same.
   *
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * assert(s.fileno() > 0);
   * s.close();
   * assert.equal(s.fileno(), -1);
   * ```
   */
  fileno(): number {
    return this.#fd;
  }

  /**
   * Whether the socket is closed.
   *
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.close();
   * assert(s.closed);
   * ```
   */
  get closed(): boolean {
    return this.#fd === -1;
  }

  #checkOpen(what: string): void {
    if (this.#fd === -1) {
      throw new Deno.errors.BadResource(`${what}: the socket is closed`);
    }
  }

  #checkNotOwned(what: string): void {
    if (this._owner !== null) {
      throw new RuntimeError(
        `${what}: the socket belongs to a transport; use the transport's methods instead`,
      );
    }
  }

  /**
   * Only non-blocking mode exists: `setblocking(false)` is accepted, `true`
   * is a `RangeError`.
   *
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * using s = socket();
   * s.setblocking(false); // the only mode there is
   * assert.throws(() => s.setblocking(true), RangeError);
   * ```
   */
  setblocking(flag: boolean): void {
    if (flag) {
      throw new RangeError(
        "blocking sockets are not available: JavaScript cannot block; use the loop's sock* coroutines",
      );
    }
  }

  /**
   * Binds the socket to a local address. For stream sockets this opens the
   * listener at once (Deno binds and listens in one step), so `getsockname()`
   * reports the chosen port right away; it accepts only after `listen()`.
   *
   * @param address `[host, port]` (port 0 picks a free port) or a Unix path.
   * @throws {Deno.errors.AddrInUse} if the address is taken.
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.bind(["127.0.0.1", 0]);
   * const [host, port] = s.getsockname();
   * assert.equal(host, "127.0.0.1");
   * assert(port > 0);
   * s.close();
   * ```
   */
  bind(address: A): void {
    this.#checkOpen("bind()");
    if (this._dgram !== null) {
      if (this._dgram.bound) {
        throw new Deno.errors.InvalidData(
          "bind(): the socket is already bound",
        );
      }
      this._dgram.bind(this.#dgramAddress(address, "bind()"));
      this._bound = this._dgram.sockname();
      return;
    }
    if (this._bound !== null || this._conn !== null) {
      throw new Deno.errors.InvalidData(
        "bind(): the socket is already bound or connected",
      );
    }
    if (this.family === AF_UNIX) {
      const path = checkUnixAddress(address);
      try {
        this._listener = this._net.listenUnix(path);
      } catch (error) {
        throw unixPermission(error);
      }
      this._listener.unref();
      this._bound = fromDenoAddr(this._listener.addr);
    } else {
      const [host, port] = checkInetAddress(address, this.family);
      this._bindListener(host, port);
    }
  }

  /** @ignore Opens the TCP listener for `host`:`port`. */
  _bindListener(host: string, port: number, backlog?: number): void {
    this.#checkOpen("bind()");
    checkFamilyHost(host, this.family);
    const options: Deno.TcpListenOptions & { reusePort?: boolean } = {
      hostname: host === ""
        ? (this.family === AF_INET6 ? "::" : "0.0.0.0")
        : host,
      port,
    };
    if (backlog !== undefined && backlog > 0) options.tcpBacklog = backlog;
    if (this._reusePort) options.reusePort = true;
    this._listener = this._net.listen(options);
    this._listener.unref();
    this._bound = fromDenoAddr(this._listener.addr);
  }

  /**
   * Marks a bound socket as accepting connections.
   *
   * @param _backlog Accepted for compatibility; Deno sizes the queue itself
   * (the servers pass `backlog` to `Deno.listen`).
   * @example
   * ```ts
   * import { RuntimeError, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * using s = socket();
   * s.bind(["127.0.0.1", 0]);
   * assert.throws(() => s.accept(), RuntimeError); // not listening yet
   * s.listen();
   * assert.throws(() => s.accept(), Deno.errors.WouldBlock); // nobody has connected
   * ```
   */
  listen(_backlog?: number): void {
    this.#checkOpen("listen()");
    if (this._listener === null) {
      throw new RuntimeError("listen(): bind() the socket to an address first");
    }
    this._listening = true;
  }

  /**
   * Accepts a pending connection: `[socket, address]`.
   *
   * @throws {Deno.errors.WouldBlock} when none is waiting (await
   * `loop.sockAccept(sock)` instead).
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.bind(["127.0.0.1", 0]);
   * s.listen();
   * assert.throws(() => s.accept(), Deno.errors.WouldBlock);
   * s.close();
   * ```
   */
  accept(): [Socket<A>, A] {
    this.#checkOpen("accept()");
    this.#checkNotOwned("accept()");
    if (!this._listening) {
      throw new RuntimeError("accept(): call listen() first");
    }
    const conn = this._accepted.shift();
    if (conn === undefined) {
      if (this._error !== null) throw this._takeError();
      this._startAccept();
      throw wouldBlock("accept()");
    }
    if (this._accepted.length === 0) this._startAccept();
    const sock = Socket._fromConn(conn, this.family) as Socket<A>;
    return [sock, fromDenoAddr(conn.remoteAddr) as A];
  }

  /**
   * Starts connecting in the background. Like a non-blocking Python socket
   * it throws `Deno.errors.WouldBlock` ("in progress"); the socket becomes
   * writable when the connection is made, and `getsockopt(SOL_SOCKET,
   * SO_ERROR)` then tells whether it failed. `loop.sockConnect` does all
   * this for you.
   *
   * @param address `[host, port]` (an IP literal or a name) or a Unix path.
   * @example
   * ```ts
   * import { newEventLoop, SO_ERROR, SOL_SOCKET, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using listener = socket();
   * listener.bind(["127.0.0.1", 0]);
   * listener.listen();
   * using s = socket();
   * assert.throws(() => s.connect(listener.getsockname()), Deno.errors.WouldBlock);
   * loop.addWriter(s, () => loop.stop());
   * await loop.runForever(); // until s is writable: the connect is over
   * loop.removeWriter(s);
   * assert.equal(s.getsockopt(SOL_SOCKET, SO_ERROR), 0); // and it worked
   * assert.deepEqual(s.getpeername(), listener.getsockname());
   * loop.close();
   * ```
   */
  connect(address: A): void {
    this.#checkOpen("connect()");
    this.#checkNotOwned("connect()");
    if (this._dgram !== null) {
      // A datagram socket connects at once: it only fixes the peer.
      this._dgram.connect(this.#dgramAddress(address, "connect()"));
      return;
    }
    if (this._conn !== null) {
      throw new Deno.errors.AlreadyExists(
        "connect(): the socket is already connected",
      );
    }
    if (this._connecting !== null) {
      throw new Deno.errors.WouldBlock(
        "connect(): a connection is already in progress",
      );
    }
    let opening: Promise<StreamConn>;
    if (this._bound !== null) {
      // Connect from the bound address: the listener that holds it lets go
      // and node:net binds it again for the connection.
      if (this.family === AF_UNIX || this._listening) {
        throw new Deno.errors.NotSupported(
          "connect(): a Unix socket or a listening socket cannot connect from its bound address; connect an unbound socket",
        );
      }
      const [host, port] = checkInetAddress(address, this.family);
      checkFamilyHost(host, this.family);
      const [localHost, localPort] = this._bound as [string, number];
      this._listener?.close();
      this._listener = null;
      const abort = this._connectAbort = new AbortController();
      opening = this._net.connectFrom(
        host,
        port,
        localHost,
        localPort,
        abort.signal,
      );
    } else if (this.family === AF_UNIX) {
      const path = checkUnixAddress(address);
      try {
        opening = this._net.connectUnix(path).catch((error) => {
          throw unixPermission(error);
        });
      } catch (error) {
        throw unixPermission(error);
      }
    } else {
      const [host, port] = checkInetAddress(address, this.family);
      checkFamilyHost(host, this.family);
      // Closing the socket aborts the connect: the kernel's attempt ends at
      // once instead of holding the socket (and the process) until it
      // times out.
      const abort = this._connectAbort = new AbortController();
      opening = this._net.connect(host, port, abort.signal);
    }
    this._connectError = null;
    this._connecting = opening.then(
      (conn) => {
        this._connecting = null;
        this._connectAbort = null;
        if (this.#fd === -1) {
          conn.close();
          return;
        }
        unrefConn(conn);
        this._conn = conn;
        this._applyOptions();
        this.#ready();
        if (this._wantRead) this._startRead();
      },
      (error) => {
        this._connecting = null;
        this._connectAbort = null;
        if (this.#fd === -1) return;
        this._connectError = error;
        this.#ready();
      },
    );
    this._watcher?.track(this._connecting, false);
    throw new Deno.errors.WouldBlock("connect(): operation now in progress");
  }

  /**
   * Like `connect()`, but returns 0 when the connection is under way (or
   * made) instead of throwing. Mirrors `socket.connect_ex()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SO_ERROR, SOL_SOCKET, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using listener = socket();
   * listener.bind(["127.0.0.1", 0]);
   * listener.listen();
   * using s = socket();
   * assert.equal(s.connectEx(listener.getsockname()), 0); // under way
   * loop.addWriter(s, () => loop.stop());
   * await loop.runForever(); // until the connect is over
   * loop.removeWriter(s);
   * assert.equal(s.getsockopt(SOL_SOCKET, SO_ERROR), 0);
   * loop.close();
   * ```
   */
  connectEx(address: A): number {
    try {
      this.connect(address);
    } catch (error) {
      if (error instanceof Deno.errors.WouldBlock) return 0;
      throw error;
    }
    return 0;
  }

  /**
   * Receives up to `bufsize` bytes. An empty array means the peer closed
   * its side (EOF).
   *
   * @throws {Deno.errors.WouldBlock} when no data has arrived yet.
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * a.send(new Uint8Array([1, 2, 3]));
   * assert.throws(() => b.recv(2), Deno.errors.WouldBlock); // not here yet
   * loop.addReader(b, () => loop.stop());
   * await loop.runForever(); // until b is readable
   * loop.removeReader(b);
   * assert.deepEqual(b.recv(2), new Uint8Array([1, 2])); // at most 2 bytes
   * assert.deepEqual(b.recv(2), new Uint8Array([3]));
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  recv(bufsize: number): Uint8Array {
    this.#checkOpen("recv()");
    this.#checkNotOwned("recv()");
    checkSize(bufsize, "recv()", "bufsize");
    if (this._dgram !== null) return this.#takeDatagram(bufsize, "recv()")[0];
    if (this._rbytes === 0) {
      if (this._error !== null) throw this._takeError();
      if (this._eof || this._shutRead) return new Uint8Array(0);
      if (this._conn === null && this._connecting === null) {
        throw new Deno.errors.NotConnected(
          "recv(): the socket is not connected",
        );
      }
      this._startRead();
      throw wouldBlock("recv()");
    }
    return this._take(bufsize);
  }

  /**
   * Receives into `buffer` (up to `nbytes`, default its length); returns the
   * count, 0 at EOF.
   *
   * @throws {Deno.errors.WouldBlock} when no data has arrived yet.
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * a.send(new TextEncoder().encode("hello"));
   * loop.addReader(b, () => loop.stop());
   * await loop.runForever(); // until b is readable
   * loop.removeReader(b);
   * const buf = new Uint8Array(16);
   * const n = b.recvInto(buf);
   * assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "hello");
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  recvInto(buffer: Uint8Array, nbytes = 0): number {
    if (!(buffer instanceof Uint8Array)) {
      throw new TypeError(
        `recvInto() expects a Uint8Array, got ${typeof buffer}`,
      );
    }
    const n = nbytes > 0 ? Math.min(nbytes, buffer.length) : buffer.length;
    const data = this.recv(n === 0 ? 1 : n);
    if (n === 0) return 0;
    buffer.set(data);
    return data.length;
  }

  /**
   * Queues bytes for sending; returns how many were accepted (the send
   * buffer is bounded).
   *
   * @throws {Deno.errors.WouldBlock} when the send buffer is full.
   * @throws {Deno.errors.BrokenPipe} after `shutdown(SHUT_WR)` or once the
   * connection failed.
   * @throws {TypeError} for a string or other non-bytes.
   * @example
   * ```ts
   * import { socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const [a, b] = socketpair();
   * assert.equal(a.send(new Uint8Array(10)), 10);
   * a.close();
   * b.close();
   * ```
   */
  send(data: Uint8Array): number {
    checkBytes(data, "send()");
    this.#checkOpen("send()");
    this.#checkNotOwned("send()");
    if (this._dgram !== null) {
      const peer = this._dgram.peer;
      if (peer === null) {
        throw new Deno.errors.NotConnected(
          "send(): Destination address required: connect() the datagram socket first, or use sendto()",
        );
      }
      return this.#sendDatagram(data, peer, "send()");
    }
    if (this._error !== null) throw this._takeError();
    if (this._shutWrite) {
      throw new Deno.errors.BrokenPipe(
        "send(): the socket was shut down for writing",
      );
    }
    if (this._conn === null && this._connecting === null) {
      throw new Deno.errors.NotConnected("send(): the socket is not connected");
    }
    const room = SEND_BUFFER_LIMIT - this._wbytes;
    if (room <= 0 || this._conn === null) throw wouldBlock("send()");
    const n = Math.min(room, data.length);
    if (n === 0) return 0;
    this._wchunks.push(data.slice(0, n));
    this._wbytes += n;
    this._flush();
    return n;
  }

  /**
   * Shuts down one or both directions: `SHUT_WR` sends EOF once the send
   * buffer drains.
   *
   * @example
   * ```ts
   * import { newEventLoop, SHUT_WR, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * a.shutdown(SHUT_WR); // no more sending: the peer reads EOF
   * assert.throws(() => a.send(new Uint8Array([1])), Deno.errors.BrokenPipe);
   * const eof = await loop.runUntilComplete(() => loop.sockRecv(b, 100));
   * assert.equal(eof.length, 0);
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  shutdown(how: number): void {
    this.#checkOpen("shutdown()");
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) {
      throw new RangeError(
        `shutdown(): how must be SHUT_RD, SHUT_WR or SHUT_RDWR, got ${how}`,
      );
    }
    if (this._conn === null) {
      throw new Deno.errors.NotConnected(
        "shutdown(): the socket is not connected",
      );
    }
    if (how !== SHUT_WR) this._shutRead = true;
    if (how !== SHUT_RD && !this._shutWrite) {
      this._shutWrite = true;
      this._flush();
    }
  }

  /**
   * Closes the socket; pending sends are dropped, operations in flight end.
   * Idempotent.
   *
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.close();
   * s.close(); // no effect
   * assert.equal(s.fileno(), -1);
   * assert.throws(() => s.bind(["127.0.0.1", 0]), Deno.errors.BadResource);
   * ```
   */
  close(): void {
    if (this.#fd === -1) return;
    openSockets.delete(this.#fd);
    this.#fd = -1;
    this._connectAbort?.abort();
    this._connectAbort = null;
    if (this._dgram !== null) {
      this._dgrams = [];
      this._dgramClosed = this._dgram.close();
      this._dgramWake?.();
      this._dgramWake = null;
    }
    this._wchunks = [];
    this._wbytes = 0;
    this._rchunks = [];
    this._rbytes = 0;
    for (const conn of this._accepted) closeQuietly(conn);
    this._accepted = [];
    if (this._conn !== null) closeQuietly(this._conn);
    if (this._listener !== null) {
      closeQuietly(this._listener);
      if (
        typeof this._bound === "string" && this._listening &&
        this._pending !== null && this._net === DENO_NET
      ) {
        noteUnixRelease(this._bound, this._pending);
      }
      if (
        this._unlinkOnClose && typeof this._bound === "string" &&
        this._net === DENO_NET
      ) {
        try {
          Deno.removeSync(this._bound);
        } catch {
          // Already gone.
        }
      }
    }
    const watcher = this._watcher;
    this._watcher = null;
    watcher?.socketReady();
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * The local address.
   *
   * @example
   * ```ts
   * import { socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.bind(["127.0.0.1", 0]);
   * assert.equal(s.getsockname()[0], "127.0.0.1");
   * s.close();
   * ```
   */
  getsockname(): A {
    return this.#sockname() as A;
  }

  #sockname(): SocketAddress {
    this.#checkOpen("getsockname()");
    if (this._dgram !== null) return this._dgram.sockname();
    if (this._conn !== null) return fromDenoAddr(this._conn.localAddr);
    if (this._bound !== null) return this._bound;
    return this.family === AF_UNIX
      ? ""
      : this.family === AF_INET6
      ? ["::", 0, 0, 0]
      : ["0.0.0.0", 0];
  }

  /**
   * The peer's address.
   *
   * @throws {Deno.errors.NotConnected} if not connected.
   * @example
   * ```ts
   * import { socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const [a, b] = socketpair();
   * assert.equal(a.getpeername(), "");
   * a.close();
   * b.close();
   * ```
   */
  getpeername(): A {
    return this.#peername() as A;
  }

  #peername(): SocketAddress {
    this.#checkOpen("getpeername()");
    if (this._dgram !== null) {
      const peer = this._dgram.peer;
      if (peer === null) {
        throw new Deno.errors.NotConnected(
          "getpeername(): the socket is not connected",
        );
      }
      return peer;
    }
    if (this._conn === null) {
      throw new Deno.errors.NotConnected(
        "getpeername(): the socket is not connected",
      );
    }
    return fromDenoAddr(this._conn.remoteAddr);
  }

  /**
   * Sets an option: `TCP_NODELAY`, `SO_KEEPALIVE`, `SO_REUSEADDR` (always on
   * for Deno's listeners), `SO_REUSEPORT` (before `bind`).
   *
   * @example
   * ```ts
   * import { IPPROTO_TCP, socket, TCP_NODELAY } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
   * assert.equal(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
   * s.close();
   * ```
   */
  setsockopt(level: number, option: number, value: number | boolean): void {
    this.#checkOpen("setsockopt()");
    const on = Boolean(value);
    if (level === IPPROTO_TCP && option === TCP_NODELAY) this._noDelay = on;
    else if (level === SOL_SOCKET && option === SO_KEEPALIVE) {
      this._keepAlive = on;
    } else if (level === SOL_SOCKET && option === SO_REUSEPORT) {
      this._reusePort = on;
      if (this._dgram !== null) this._dgram.reuse = on;
    } else if (
      level === SOL_SOCKET && option === SO_BROADCAST && this._dgram !== null
    ) {
      this._broadcast = on;
      this._dgram.setBroadcast(on);
    } else if (level === SOL_SOCKET && option === SO_REUSEADDR) {
      // Deno's listeners set SO_REUSEADDR themselves.
    } else {
      throw new RangeError(
        `setsockopt(): unsupported option ${level}/${option}`,
      );
    }
    if (this._conn !== null) this._applyOptions();
  }

  /**
   * Reads an option back (`SO_ERROR` reports and clears a failed connect as
   * 1, else 0; `SO_BROADCAST` on a datagram socket).
   *
   * @example
   * ```ts
   * import { SO_ERROR, SOL_SOCKET, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket();
   * assert.equal(s.getsockopt(SOL_SOCKET, SO_ERROR), 0);
   * s.close();
   * ```
   */
  getsockopt(level: number, option: number): number {
    this.#checkOpen("getsockopt()");
    if (level === IPPROTO_TCP && option === TCP_NODELAY) {
      return this._noDelay ? 1 : 0;
    }
    if (level === SOL_SOCKET) {
      if (option === SO_KEEPALIVE) return this._keepAlive ? 1 : 0;
      if (option === SO_REUSEPORT) return this._reusePort ? 1 : 0;
      // Deno's TCP listeners always set SO_REUSEADDR; a UDP socket has it
      // only with the reuse flag SO_REUSEPORT sets (one flag on Deno).
      if (option === SO_REUSEADDR) {
        return this._dgram === null || this._dgram.reuse ? 1 : 0;
      }
      if (option === SO_ERROR) return this._connectError !== null ? 1 : 0;
      if (option === SO_BROADCAST && this._dgram !== null) {
        return this._broadcast ? 1 : 0;
      }
    }
    throw new RangeError(`getsockopt(): unsupported option ${level}/${option}`);
  }

  /** A description like `<Socket fd=3 family=AF_INET laddr=127.0.0.1:80>`. */
  toString(): string {
    const family = this.family === AF_UNIX
      ? "AF_UNIX"
      : this.family === AF_INET6
      ? "AF_INET6"
      : "AF_INET";
    const parts = [`fd=${this.#fd}`, `family=${family}`];
    if (this.#fd !== -1) {
      try {
        parts.push(`laddr=${JSON.stringify(this.getsockname())}`);
        if (this._conn !== null) {
          parts.push(`raddr=${JSON.stringify(this.getpeername())}`);
        }
      } catch {
        // Not available: leave it out.
      }
    }
    return `<Socket ${parts.join(" ")}>`;
  }

  // ---- datagrams -------------------------------------------------------

  /**
   * Receives one datagram and its sender's address. Mirrors
   * `socket.recvfrom()` on a `SOCK_DGRAM` socket: at most `bufsize` bytes
   * of the datagram are returned, the rest is discarded.
   *
   * @throws {Deno.errors.WouldBlock} when no datagram has arrived.
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const s = socket(AF_INET, SOCK_DGRAM);
   * s.bind(["127.0.0.1", 0]);
   * assert.throws(() => s.recvfrom(100), Deno.errors.WouldBlock);
   * s.close();
   * ```
   */
  recvfrom(bufsize: number): [Uint8Array, A] {
    this.#checkOpen("recvfrom()");
    this.#checkNotOwned("recvfrom()");
    checkSize(bufsize, "recvfrom()", "bufsize");
    if (this._dgram === null) {
      if (this._conn === null) {
        throw new Deno.errors.NotConnected(
          "recvfrom(): the socket is not connected",
        );
      }
      return [this.recv(bufsize), this.getpeername()];
    }
    return this.#takeDatagram(bufsize, "recvfrom()") as [Uint8Array, A];
  }

  /**
   * Receives one datagram into `buffer` (at most `nbytes`, default its
   * length); returns `[count, sender]`. Mirrors `socket.recvfrom_into()`.
   *
   * @throws {Deno.errors.WouldBlock} when no datagram has arrived.
   * @example
   * ```ts
   * import { AF_INET, newEventLoop, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using a = socket(AF_INET, SOCK_DGRAM);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * b.bind(["127.0.0.1", 0]);
   * b.sendto(new TextEncoder().encode("ping"), a.getsockname());
   * loop.addReader(a, () => loop.stop());
   * await loop.runForever(); // until the datagram is here
   * loop.removeReader(a);
   * const buf = new Uint8Array(16);
   * const [n, from] = a.recvfromInto(buf);
   * assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "ping");
   * assert.deepEqual(from, b.getsockname());
   * loop.close();
   * ```
   */
  recvfromInto(buffer: Uint8Array, nbytes = 0): [number, A] {
    if (!(buffer instanceof Uint8Array)) {
      throw new TypeError(
        `recvfromInto() expects a Uint8Array, got ${typeof buffer}`,
      );
    }
    checkSize(nbytes, "recvfromInto()", "nbytes");
    if (nbytes > buffer.length) {
      throw new RangeError("recvfromInto(): nbytes is greater than the buffer");
    }
    const n = nbytes > 0 ? nbytes : buffer.length;
    const [data, addr] = this.recvfrom(n);
    buffer.set(data);
    return [data.length, addr];
  }

  /**
   * Sends one datagram to `address`; returns the bytes sent. Mirrors
   * `socket.sendto()`. The host must be an IP literal or `localhost`
   * (`loop.getaddrinfo` resolves other names).
   *
   * @throws {RangeError} (code `EMSGSIZE`) for a datagram over the UDP
   * limit (65507 bytes over IPv4, 65527 over IPv6).
   * @throws {TypeError} for a string or other non-bytes.
   * @example
   * ```ts
   * import { AF_INET, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const a = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * const b = socket(AF_INET, SOCK_DGRAM);
   * assert.equal(b.sendto(new Uint8Array([1, 2]), a.getsockname()), 2);
   * a.close();
   * b.close();
   * ```
   */
  sendto(data: Uint8Array, address: A): number {
    checkBytes(data, "sendto()");
    this.#checkOpen("sendto()");
    this.#checkNotOwned("sendto()");
    if (this._dgram === null) {
      throw new Deno.errors.AlreadyExists(
        "sendto(): a stream socket sends to its peer: use send()",
      );
    }
    const target = this.#dgramAddress(address, "sendto()");
    const peer = this._dgram.peer;
    if (peer !== null && !sameAddress(peer, target)) {
      throw new Deno.errors.AlreadyExists(
        "sendto(): Transport endpoint is already connected (EISCONN): the socket sends only to its peer",
      );
    }
    return this.#sendDatagram(data, target, "sendto()");
  }

  #sendDatagram(data: Uint8Array, target: SocketAddress, what: string): number {
    const dgram = this._dgram!;
    if (this._error !== null) throw this._takeError();
    const tooLong = checkDatagramSize(data.length, this.family, what);
    if (tooLong !== null) throw tooLong;
    let done!: () => void;
    const sent = this._watcher === null
      ? null
      : new Promise<void>((resolve) => {
        done = resolve;
      });
    dgram.send(data, target, (error) => {
      // A failure shows at the next call, as an ICMP error does.
      if (error !== null && this.#fd !== -1) {
        this._error = error;
        this.#ready();
      }
      if (sent !== null) done();
    });
    if (sent !== null) this._watcher?.track(sent, false);
    return data.length;
  }

  #takeDatagram(bufsize: number, what: string): [Uint8Array, SocketAddress] {
    const next = this._dgrams.shift();
    if (next === undefined) {
      if (this._error !== null) throw this._takeError();
      throw wouldBlock(what);
    }
    this._rbytes -= next[0].length;
    const data = next[0].length > bufsize
      ? next[0].subarray(0, bufsize)
      : next[0];
    return [data, next[1]];
  }

  #dgramAddress(address: unknown, what: string): SocketAddress {
    return datagramAddress(this.family, address, what);
  }

  /** @ignore A datagram arrived (the kernel's receive queue). */
  _onDatagram(data: Uint8Array, addr: SocketAddress): void {
    if (this.#fd === -1) return;
    // Past the receive buffer, datagrams are dropped, as a kernel does.
    if (this._rbytes + data.length > RECV_BUFFER_LIMIT) return;
    // Copied: node reads each datagram into a 64 KiB buffer.
    this._dgrams.push([data.slice(), addr]);
    this._rbytes += data.length;
    const wake = this._dgramWake;
    this._dgramWake = null;
    this._pending = null;
    wake?.();
    this.#ready();
    if (this._wantRead) this._armDatagramWait();
  }

  /** @ignore While watched, hold a wait on peers (for the virtual clock). */
  _armDatagramWait(): void {
    if (this._pending !== null || this.#fd === -1 || this._owner !== null) {
      return;
    }
    this._pending = new Promise<void>((resolve) => {
      this._dgramWake = resolve;
    });
    this._watcher?.track(this._pending, true);
  }

  // ---- readiness (package-internal) ------------------------------------

  /** @ignore Readable: bytes, EOF, an error, or a connection to accept. */
  _readable(): boolean {
    return this.#fd === -1 || this._rbytes > 0 || this._dgrams.length > 0 ||
      this._eof ||
      this._error !== null || this._accepted.length > 0 || this._shutRead;
  }

  /** @ignore Writable: connected (or failed) with room to send. */
  _writable(): boolean {
    return this.#fd === -1 || this._dgram !== null ||
      this._connectError !== null ||
      this._error !== null ||
      (this._conn !== null && this._wbytes < SEND_BUFFER_LIMIT);
  }

  /** @ignore Someone waits to read: keep a read (or accept) in flight. */
  _watchRead(on: boolean): void {
    this._wantRead = on;
    if (this._dgram !== null) {
      if (on) this._armDatagramWait();
      return;
    }
    if (on) {
      if (this._listening) this._startAccept();
      else this._startRead();
    }
  }

  /** @ignore */
  _takeError(): unknown {
    const error = this._error;
    this._error = null;
    return error;
  }

  /** @ignore */
  _take(bufsize: number): Uint8Array {
    const first = this._rchunks[0];
    let out: Uint8Array;
    if (first.length <= bufsize) {
      this._rchunks.shift();
      if (first.length === bufsize || this._rchunks.length === 0) {
        out = first;
      } else {
        out = new Uint8Array(Math.min(bufsize, this._rbytes));
        out.set(first);
        takeChunks(this._rchunks, out, first.length);
      }
    } else {
      out = first.slice(0, bufsize);
      this._rchunks[0] = first.subarray(bufsize);
    }
    this._rbytes -= out.length;
    if (this._rbytes < RECV_BUFFER_LIMIT) this._startRead();
    return out;
  }

  /** @ignore Keeps one read in flight while the buffer has room. */
  _startRead(): void {
    const conn = this._conn;
    if (
      conn === null || this._pending !== null || this._eof ||
      this._error !== null || this._owner !== null || this.#fd === -1 ||
      this._rbytes >= RECV_BUFFER_LIMIT
    ) return;
    const buffer = new Uint8Array(READ_CHUNK);
    this._pending = conn.read(buffer).then(
      (n) => {
        this._pending = null;
        if (this.#fd === -1) return;
        if (n === null) this._eof = true;
        else if (n > 0) {
          this._rchunks.push(buffer.subarray(0, n));
          this._rbytes += n;
        }
        this.#ready();
        if (this._wantRead) this._startRead();
      },
      (error) => this.#pendingFailed(error),
    );
    this._watcher?.track(this._pending, true);
  }

  /** A read or an accept failed: the error is the socket's, for its user. */
  #pendingFailed(error: unknown): void {
    this._pending = null;
    if (this.#fd === -1) return;
    this._error = error;
    this.#ready();
  }

  /** @ignore Keeps one accept in flight on a listening socket. */
  _startAccept(): void {
    const listener = this._listener;
    if (
      listener === null || !this._listening || this._pending !== null ||
      this.#fd === -1 || this._accepted.length > 0
    ) return;
    this._pending = listener.accept().then(
      (conn) => {
        this._pending = null;
        if (this.#fd === -1) {
          closeQuietly(conn);
          return;
        }
        this._accepted.push(conn);
        this.#ready();
      },
      (error) => this.#pendingFailed(error),
    );
    this._watcher?.track(this._pending, true);
  }

  /** @ignore Keeps one write in flight while there is something to send. */
  _flush(): void {
    const conn = this._conn;
    if (conn === null || this._writing || this.#fd === -1) return;
    if (this._wchunks.length === 0) {
      if (this._shutWrite) {
        this._writing = true;
        Promise.resolve().then(() => conn.closeWrite()).then(
          () => {
            this._writing = false;
          },
          () => {
            this._writing = false;
          },
        );
      }
      return;
    }
    const chunk = concat(this._wchunks, this._wbytes);
    this._wchunks = [chunk];
    this._writing = true;
    this._writePromise = conn.write(chunk).then(
      (n) => {
        this._writing = false;
        if (this.#fd === -1) return;
        this._wbytes -= n;
        if (n >= chunk.length) this._wchunks.shift();
        else this._wchunks[0] = chunk.subarray(n);
        this.#ready();
        this._flush();
      },
      (error) => {
        this._writing = false;
        if (this.#fd === -1) return;
        this._error = error;
        this._wchunks = [];
        this._wbytes = 0;
        this.#ready();
      },
    );
    this._watcher?.track(this._writePromise, false);
  }

  /** @ignore Applies options that need a live connection. */
  _applyOptions(): void {
    const conn = this._conn;
    if (conn === null) return;
    try {
      if (this._noDelay) conn.setNoDelay?.(true);
      if (this._keepAlive) conn.setKeepAlive?.(true);
    } catch {
      // Unix connections have neither option.
    }
  }

  #ready(): void {
    this._watcher?.socketReady();
  }
}

/**
 * Lets the process exit with this connection's reads pending: a loop keeps
 * the process alive while it runs, so a connection never needs to, and one
 * the program forgot must not hold the process once the loop is done (as a
 * Python socket never does).
 * @internal
 */
export function unrefConn(conn: object): void {
  (conn as { unref?(): void }).unref?.();
}

/** Throws `TypeError` unless `data` is bytes. @internal */
export function checkBytes(data: unknown, what: string): void {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(
      `${what} expects bytes (a Uint8Array), got ${
        typeof data === "string" ? "a string: encode it first" : typeof data
      }`,
    );
  }
  // A detached array's length reads 0: only then is the check needed.
  if (data.byteLength === 0 && isDetached(data)) {
    throw new TypeError(
      `${what} got a Uint8Array whose ArrayBuffer was detached (transferred): its bytes are gone; write a copy made before the transfer`,
    );
  }
}

/**
 * Whether the memory behind `view` was detached (`ArrayBuffer.transfer()`,
 * `postMessage` with a transfer list): its length reads 0 from then on.
 * @internal
 */
export function isDetached(view: Uint8Array): boolean {
  return (view.buffer as { detached?: boolean }).detached === true;
}

/**
 * The error that ends a transport whose queued bytes were detached after
 * `write()` took them: they cannot be sent, and the loss must not pass for
 * a clean close. @internal
 */
export function detachedWriteError(unsent: number): TypeError {
  return new TypeError(
    `a Uint8Array given to write() was detached (its ArrayBuffer transferred) before it was sent: the connection was closed with ${unsent} bytes unsent. write() keeps the array until it is sent; transfer a copy, or transfer only after drain()`,
  );
}

/**
 * Validates a datagram address for `family`; resolves `localhost` (other
 * names must be resolved first: sends cannot wait for DNS). @internal
 */
export function datagramAddress(
  family: number,
  address: unknown,
  what: string,
): SocketAddress {
  if (family === AF_UNIX) return checkUnixAddress(address, what);
  let [host, port] = checkInetAddress(address, family, what);
  if (host === "localhost") host = family === AF_INET6 ? "::1" : "127.0.0.1";
  if (host !== "" && !isIPv4(host) && !isIPv6(host)) {
    throw new RangeError(
      `${what}: ${host} is not an IP address: resolve it first with loop.getaddrinfo() (loop.sockConnect and createDatagramEndpoint resolve names)`,
    );
  }
  checkFamilyHost(host, family);
  return family === AF_INET6 ? [host, port, 0, 0] : [host, port];
}

/** Whether two socket addresses name the same endpoint. @internal */
export function sameAddress(a: SocketAddress, b: SocketAddress): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a[0] === b[0] && a[1] === b[1];
}

function checkSize(n: unknown, method: string, name: string): void {
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new TypeError(
      `${method}: ${name} must be an integer, got ${String(n)}`,
    );
  }
  if (n < 0) throw new RangeError(`${method}: ${name} must not be negative`);
}

/** A family mismatch, with the errno the system gives it. */
function familyError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: "EAFNOSUPPORT" });
}

function checkFamilyHost(host: string, family: number): void {
  if (family === AF_INET && isIPv6(host)) {
    throw familyError(
      `an AF_INET socket cannot use the IPv6 address ${host}: create it with AF_INET6`,
    );
  }
  if (family === AF_INET6 && isIPv4(host)) {
    throw familyError(
      `an AF_INET6 socket cannot use the IPv4 address ${host}: create it with AF_INET`,
    );
  }
}

/**
 * Creates a non-blocking socket. Mirrors `socket.socket(family, type)`
 * followed by `setblocking(False)`.
 *
 * @param family `AF_INET` (default), `AF_INET6` or `AF_UNIX`.
 * @param type `SOCK_STREAM` (default).
 * @throws {RangeError} for other families or types.
 * @example
 * ```ts
 * import { AF_INET, SOCK_STREAM, socket } from "@aio/loop";
 * import assert from "node:assert/strict";
 * using s = socket(AF_INET, SOCK_STREAM);
 * assert.equal(s.family, AF_INET);
 * s.bind(["127.0.0.1", 0]);
 * // The family types the address: no cast needed.
 * const [host, port] = s.getsockname();
 * assert.equal(host, "127.0.0.1");
 * assert(port > 0);
 * ```
 */
export function socket(
  family?: typeof AF_INET | typeof AF_INET6,
  type?: number,
  proto?: number,
): Socket<InetAddress>;
/** An `AF_UNIX` socket: its addresses are paths. */
export function socket(
  family: typeof AF_UNIX,
  type?: number,
  proto?: number,
): Socket<string>;
/** A socket of a family known only at run time. */
export function socket(family?: number, type?: number, proto?: number): Socket;
export function socket(
  family: number = AF_INET,
  type: number = SOCK_STREAM,
  proto = 0,
): Socket {
  return new Socket(family, type, proto);
}

// ---- socketpair -----------------------------------------------------------

/**
 * A Unix socket needs read, write and net permission, but Deno names one
 * missing flag at a time: name all three, so that one retry is enough
 * (package-internal).
 */
export function unixPermission(error: unknown): unknown {
  if (!(error instanceof Deno.errors.NotCapable)) return error;
  return new Deno.errors.NotCapable(
    `${error.message} (a Unix socket needs --allow-read, --allow-write and --allow-net for its path)`,
  );
}

const UNIX_UNNAMED: Deno.UnixAddr = { transport: "unix", path: "" };

/** One end of an in-process connected pair. */
class PairEnd implements StreamConn {
  readonly localAddr: Deno.Addr = UNIX_UNNAMED;
  readonly remoteAddr: Deno.Addr = UNIX_UNNAMED;
  peer: PairEnd | null = null;
  #chunks: Uint8Array[] = [];
  #eof = false;
  #closed = false;
  #waiter: {
    buffer: Uint8Array;
    resolve: (n: number | null) => void;
    reject: (e: unknown) => void;
  } | null = null;

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("the socket is closed"),
      );
    }
    if (this.#chunks.length > 0) {
      return Promise.resolve(takeChunks(this.#chunks, buffer));
    }
    if (this.#eof) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiter = { buffer, resolve, reject };
    });
  }

  /** The peer delivers bytes (null: EOF). */
  deliver(data: Uint8Array | null): void {
    if (this.#closed) return;
    if (data === null) this.#eof = true;
    else this.#chunks.push(data);
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.resolve(
        this.#chunks.length > 0
          ? takeChunks(this.#chunks, waiter.buffer)
          : null,
      );
    }
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("the socket is closed"),
      );
    }
    const peer = this.peer;
    if (peer === null || peer.#closed) {
      return Promise.reject(
        new Deno.errors.BrokenPipe(
          "the other end of the socket pair is closed",
        ),
      );
    }
    peer.deliver(data.slice());
    return Promise.resolve(data.length);
  }

  closeWrite(): void {
    this.peer?.deliver(null);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(new Deno.errors.BadResource("the socket was closed"));
    const peer = this.peer;
    this.peer = null;
    if (peer !== null) {
      peer.peer = null;
      peer.deliver(null);
    }
  }
}

/**
 * A pair of connected `AF_UNIX` stream sockets. Mirrors
 * `socket.socketpair()`; the pair lives inside the process (no file system
 * entry, no permissions needed), and either end can be watched, read and
 * written like any other socket.
 *
 * @example Watch a socket for read events
 * ```ts
 * import { newEventLoop, socketpair } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const [rsock, wsock] = socketpair();
 * const got: string[] = [];
 * loop.addReader(rsock, () => {
 *   got.push(new TextDecoder().decode(rsock.recv(100)));
 *   loop.removeReader(rsock);
 *   loop.stop();
 * });
 * loop.callSoon(() => wsock.send(new TextEncoder().encode("abc")));
 * await loop.runForever();
 * assert.deepEqual(got, ["abc"]);
 * rsock.close();
 * wsock.close();
 * loop.close();
 * ```
 */
export function socketpair(): [Socket<string>, Socket<string>] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [
    Socket._fromConn(a, AF_UNIX) as Socket<string>,
    Socket._fromConn(b, AF_UNIX) as Socket<string>,
  ];
}
