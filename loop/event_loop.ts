/**
 * `EventLoop`: the package's concrete loop, on Deno's own I/O. It plays the
 * part of asyncio's `SelectorEventLoop`: the scheduling core of
 * `BaseEventLoop` plus the socket backends that report to its dispatcher:
 * readiness watching (`addReader`/`addWriter`), the `sock*` coroutines, and
 * stream connections and servers over TCP and Unix sockets.
 *
 * @module
 */
import { labelWait } from "./core/wait_labels.ts";
import { DENO_NET } from "./net/deno_net.ts";
import {
  BaseEventLoop,
  checkCallback,
  checkFactory,
} from "./core/base_loop.ts";
import type { Registration } from "./core/dispatcher.ts";
import { CancelledError, RuntimeError } from "./base/exceptions.ts";
import { Handle } from "./core/handles.ts";
import { closeQuietly } from "./base/resources.ts";
import { checkOptionKeys, optionKeys } from "./base/options.ts";
import {
  type AddrInfo,
  AF_UNIX,
  AI_PASSIVE,
  getaddrinfo as resolveAddrinfo,
  getnameinfo as resolveNameinfo,
  numericAddrinfo,
  SOCK_STREAM,
  type SockAddr,
} from "./net/addrinfo.ts";
import {
  checkBytes,
  checkInetAddress,
  type InetAddress,
  noteUnixRelease,
  Socket,
  type SocketAddress,
  socketByFd,
  type SocketWatcher,
  type StreamConn,
  unixPathReleased,
  unixPermission,
} from "./net/socket.ts";
import { Server } from "./core/server.ts";
import { SignalHandlers } from "./signal_handlers.ts";
import * as datagram from "./datagram.ts";
import * as sendfiles from "./sendfile.ts";
import type { SocketDatagramTransport } from "./transports/datagram_transport.ts";
import { SocketTransport } from "./transports/socket_transport.ts";
import {
  connectReadPipe,
  connectWritePipe,
  type ReadPipeTransport,
  type WritePipeTransport,
} from "./transports/pipe_transport.ts";
import {
  type ChildProcessTransport,
  startSubprocess,
} from "./transports/subprocess_transport.ts";
import {
  execSpec,
  type ReadablePipe,
  shellSpec,
  splitExecArgs,
  type SubprocessExecArgs,
  type SubprocessOptions,
  type WritablePipe,
} from "./process/process.ts";
import type { BaseProtocol, ProtocolFactory } from "../protocols/protocol.ts";
import { connectionMade, type Transport } from "../transports/transport.ts";
import { cancellableOperation, sleep, Task } from "./core/tasks.ts";
import type { SSLContext } from "./net/ssl_context.ts";
import {
  clientTls,
  serverTls,
  serveTls,
  startTls as upgradeTls,
  type StartTlsOptions,
  tlsAccept,
  tlsConnect,
  type TlsParams,
} from "./tls.ts";
import type { TlsTransport } from "./transports/tls_transport.ts";

export type { ProtocolFactory } from "../protocols/protocol.ts";

import type {
  CreateConnectionOptions,
  CreateServerOptions,
  CreateUnixConnectionOptions,
  CreateUnixServerOptions,
  FileLike,
  GetaddrinfoOptions,
} from "./core/options.ts";
export type {
  CreateConnectionOptions,
  CreateServerOptions,
  CreateUnixConnectionOptions,
  CreateUnixServerOptions,
  FileLike,
  GetaddrinfoOptions,
};

/** @internal The options `createConnection` takes (see `checkOptionKeys`). */
export const CREATE_CONNECTION_OPTIONS = optionKeys<CreateConnectionOptions>({
  ssl: true,
  family: true,
  proto: true,
  flags: true,
  sock: true,
  localAddr: true,
  serverHostname: true,
  happyEyeballsDelay: true,
  interleave: true,
  allErrors: true,
  sslHandshakeTimeout: true,
  sslShutdownTimeout: true,
});

/** @internal The options `createServer` takes. */
export const CREATE_SERVER_OPTIONS = optionKeys<CreateServerOptions>({
  family: true,
  flags: true,
  sock: true,
  backlog: true,
  ssl: true,
  reuseAddress: true,
  reusePort: true,
  keepAlive: true,
  startServing: true,
  sslHandshakeTimeout: true,
  sslShutdownTimeout: true,
});

/** @internal The options `createUnixConnection` takes. */
export const CREATE_UNIX_CONNECTION_OPTIONS = optionKeys<
  CreateUnixConnectionOptions
>({
  ssl: true,
  sock: true,
  serverHostname: true,
  sslHandshakeTimeout: true,
  sslShutdownTimeout: true,
});

/** @internal The options `createUnixServer` takes. */
export const CREATE_UNIX_SERVER_OPTIONS = optionKeys<CreateUnixServerOptions>({
  sock: true,
  backlog: true,
  ssl: true,
  startServing: true,
  cleanupSocket: true,
  sslHandshakeTimeout: true,
  sslShutdownTimeout: true,
});

/** The options `getaddrinfo` takes. */
const GETADDRINFO_OPTIONS = optionKeys<GetaddrinfoOptions>({
  family: true,
  type: true,
  proto: true,
  flags: true,
});

/** The readiness watch of one socket on one loop. */
class Watch implements SocketWatcher {
  reader: Handle | null = null;
  writer: Handle | null = null;
  readPosted = false;
  writePosted = false;
  readonly registration: Registration;

  constructor(readonly loop: EventLoop, readonly sock: Socket) {
    this.registration = loop._dispatcher.register("socket");
    sock._watcher = this;
    if (sock._connecting !== null) this.track(sock._connecting, false);
    if (sock._pending !== null) this.track(sock._pending, true);
    if (sock._writing && sock._writePromise !== null) {
      this.track(sock._writePromise, false);
    }
  }

  track(operation: Promise<unknown>, waiting: boolean): void {
    const registration = this.registration;
    if (waiting) {
      registration.beginWait();
      operation.then(() => registration.endWait());
    } else {
      registration.begin();
      operation.then(() => registration.end());
    }
  }

  socketReady(): void {
    const sock = this.sock;
    const reader = this.reader;
    if (reader !== null && !this.readPosted && sock._readable()) {
      this.readPosted = true;
      this.registration.postIn(reader._frame, fireReader, this, reader);
    }
    const writer = this.writer;
    if (writer !== null && !this.writePosted && sock._writable()) {
      this.writePosted = true;
      this.registration.postIn(writer._frame, fireWriter, this, writer);
    }
  }

  /** Drops the watch when neither direction is watched. */
  release(): void {
    if (this.reader !== null || this.writer !== null) return;
    this.registration.close();
    if (this.sock._watcher === this) this.sock._watcher = null;
    this.loop._watches.delete(this.sock);
  }
}

/**
 * Runs a reader's callback (posted in the handle's context, so it runs
 * there); level-triggered, like select().
 */
function fireReader(watch: Watch, handle: Handle): void {
  watch.readPosted = false;
  if (watch.reader !== handle || handle._cancelled) return;
  handle._run();
  if (watch.reader === handle && !handle._cancelled) watch.socketReady();
}

function fireWriter(watch: Watch, handle: Handle): void {
  watch.writePosted = false;
  if (watch.writer !== handle || handle._cancelled) return;
  handle._run();
  if (watch.writer === handle && !handle._cancelled) watch.socketReady();
}

function isWouldBlock(error: unknown): boolean {
  return error instanceof Deno.errors.WouldBlock;
}

/**
 * The default event loop. Mirrors `asyncio.SelectorEventLoop` (the default
 * loop on Unix). Usually obtained with `newEventLoop()` or used implicitly by
 * `run()`.
 *
 * @example
 * ```ts
 * import { EventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = new EventLoop();
 * const result = await loop.runUntilComplete(async () => "done");
 * assert.equal(result, "done");
 * loop.close();
 * ```
 */
export class EventLoop extends BaseEventLoop {
  /** @ignore Readiness watches by socket. */
  _watches: Map<Socket, Watch> = new Map();
  /** @ignore Listening sockets being served, and their accept state. */
  _serving: Map<
    Socket,
    {
      server: Server;
      registration: Registration;
      accepting: Promise<void> | null;
    }
  > = new Map();
  /** @ignore Installed signal handlers (created on first use). */
  _signalHandlers: SignalHandlers | null = null;

  /**
   * Closes the loop; watched sockets stop being watched (they stay open, as
   * with asyncio's selector).
   *
   * @example
   * ```ts
   * import { EventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = new EventLoop();
   * loop.close();
   * assert(loop.isClosed());
   * ```
   */
  override close(): void {
    if (this._running || this._closed) {
      super.close();
      return;
    }
    for (const [sock, watch] of [...this._watches]) {
      watch.reader?.cancel();
      watch.writer?.cancel();
      watch.reader = watch.writer = null;
      watch.release();
      void sock;
    }
    for (const sock of [...this._serving.keys()]) this._stopServing(sock);
    this._signalHandlers?.clear();
    super.close();
  }

  // ---- Unix signals ---------------------------------------------------

  /**
   * Runs `callback(...args)` on the loop, among its other callbacks,
   * whenever the process receives `sig`; a second call for the same signal
   * replaces the handler. The callback runs in the async context current
   * now; an exception it throws goes to the exception handler. `close()`
   * removes every handler. The listener (`Deno.addSignalListener`) never
   * keeps the process alive on its own and never holds the virtual clock.
   * Mirrors `loop.add_signal_handler()`.
   *
   * @param sig A name (`"SIGINT"`) or a Linux signal number (`2`).
   * @param callback A plain function (not a coroutine function).
   * @param args Arguments for `callback`.
   * @throws {TypeError} if `callback` is not a function or is an async
   * function, or `sig` is neither a string nor a number.
   * @throws {RangeError} for an invalid signal, an uncatchable one (`SIGKILL`,
   * `SIGSTOP`), one Deno cannot listen for (`SIGSEGV`, `SIGILL`, `SIGFPE`,
   * real-time signals), or on Windows anything but `SIGINT`/`SIGBREAK`.
   * @throws {RuntimeError} if the loop is closed.
   * @example Stopping the loop on SIGUSR1
   * ```ts
   * import { EventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = new EventLoop();
   * const got: string[] = [];
   * loop.addSignalHandler("SIGUSR1", (name: string) => {
   *   got.push(name);
   *   loop.stop();
   * }, "SIGUSR1");
   * loop.callSoon(() => Deno.kill(Deno.pid, "SIGUSR1"));
   * await loop.runForever();
   * assert.deepEqual(got, ["SIGUSR1"]);
   * loop.close(); // removes the handler
   * ```
   */
  override addSignalHandler(
    sig: string | number,
    callback: (...args: never[]) => unknown,
    ...args: unknown[]
  ): void {
    this._signalHandlers ??= new SignalHandlers(this._dispatcher);
    this._signalHandlers.add(sig, callback, args, () => this._checkClosed());
  }

  /**
   * Removes the handler for `sig`. Removing the last `SIGINT` handler gives
   * Ctrl-C its default action back. Mirrors `loop.remove_signal_handler()`.
   *
   * @param sig A name (`"SIGINT"`) or a Linux signal number (`2`).
   * @returns true if a handler was removed, false if none was installed.
   * @throws {TypeError} if `sig` is neither a string nor a number.
   * @throws {RangeError} for an invalid signal.
   * @example
   * ```ts
   * import { EventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = new EventLoop();
   * loop.addSignalHandler("SIGUSR2", () => {});
   * assert.equal(loop.removeSignalHandler("SIGUSR2"), true);
   * assert.equal(loop.removeSignalHandler("SIGUSR2"), false);
   * loop.close();
   * ```
   */
  override removeSignalHandler(sig: string | number): boolean {
    this._signalHandlers ??= new SignalHandlers(this._dispatcher);
    return this._signalHandlers.remove(sig);
  }

  // ---- watching sockets -----------------------------------------------

  /** @ignore The package socket behind `fd`. */
  _socketOf(fd: unknown, method: string): Socket {
    let sock: Socket | undefined;
    if (fd instanceof Socket) sock = fd;
    else if (typeof fd === "number") {
      if (!Number.isInteger(fd) || fd < 0) {
        throw new RangeError(`${method}(): invalid file descriptor ${fd}`);
      }
      sock = socketByFd(fd);
      if (sock === undefined) {
        throw new RangeError(
          `${method}(): file descriptor ${fd} is not an open socket of this package; Deno exposes no raw descriptors, so only Socket objects (socket(), socketpair(), server.sockets) can be watched`,
        );
      }
    } else if (
      fd !== null && typeof fd === "object" &&
      typeof (fd as { fileno?: unknown }).fileno === "function"
    ) {
      return this._socketOf((fd as { fileno(): number }).fileno(), method);
    } else {
      throw new TypeError(
        `${method}(): expected a Socket or its fileno(), got ${typeof fd}`,
      );
    }
    if (sock.closed) {
      throw new RangeError(`${method}(): the socket is closed`);
    }
    return sock;
  }

  #ensureNoTransport(sock: Socket, method: string): void {
    if (sock._owner !== null) {
      throw new RuntimeError(
        `${method}(): file descriptor ${sock.fileno()} is used by transport ${sock._owner}`,
      );
    }
  }

  #watch(sock: Socket): Watch {
    let watch = this._watches.get(sock);
    if (watch === undefined) {
      watch = new Watch(this, sock);
      this._watches.set(sock, watch);
    }
    return watch;
  }

  /**
   * Calls `callback(...args)` whenever `fd` is readable (level-triggered:
   * every iteration while it stays readable). Replaces an earlier reader.
   * Mirrors `loop.add_reader()`.
   *
   * @param fd A package `Socket` or its `fileno()`.
   * @throws {RangeError} for a descriptor that is not an open package socket.
   * @throws {RuntimeError} if a transport uses the socket, or the loop is
   * closed.
   * @example Watch a socketpair for read events
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [rsock, wsock] = socketpair();
   * let received = "";
   * loop.addReader(rsock, () => {
   *   received = new TextDecoder().decode(rsock.recv(100));
   *   loop.removeReader(rsock);
   *   loop.stop();
   * });
   * loop.callSoon(() => wsock.send(new TextEncoder().encode("abc")));
   * await loop.runForever();
   * assert.equal(received, "abc");
   * rsock.close();
   * wsock.close();
   * loop.close();
   * ```
   */
  override addReader(
    fd: FileLike,
    callback: (...args: never[]) => unknown,
    ...args: unknown[]
  ): Handle {
    return this.#addWatcher("reader", "addReader", fd, callback, args);
  }

  /**
   * Stops watching `fd` for reading; returns whether it was watched.
   * Mirrors `loop.remove_reader()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * loop.addReader(a, () => {});
   * assert.equal(loop.removeReader(a), true);
   * assert.equal(loop.removeReader(a), false);
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  override removeReader(fd: FileLike): boolean {
    return this.#removeWatcher("reader", "removeReader", fd);
  }

  /**
   * Calls `callback(...args)` whenever `fd` is writable (level-triggered).
   * Mirrors `loop.add_writer()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * loop.addWriter(a, () => {
   *   a.send(new TextEncoder().encode("x"));
   *   loop.removeWriter(a);
   * });
   * const data = await loop.runUntilComplete(() => loop.sockRecv(b, 10));
   * assert.equal(new TextDecoder().decode(data), "x");
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  override addWriter(
    fd: FileLike,
    callback: (...args: never[]) => unknown,
    ...args: unknown[]
  ): Handle {
    return this.#addWatcher("writer", "addWriter", fd, callback, args);
  }

  /**
   * Stops watching `fd` for writing; returns whether it was watched.
   * Mirrors `loop.remove_writer()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * assert.equal(loop.removeWriter(a), false);
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  override removeWriter(fd: FileLike): boolean {
    return this.#removeWatcher("writer", "removeWriter", fd);
  }

  /** `addReader()` / `addWriter()`: watches one direction of `fd`. */
  #addWatcher(
    side: "reader" | "writer",
    method: string,
    fd: FileLike,
    callback: (...args: never[]) => unknown,
    args: unknown[],
  ): Handle {
    this._checkClosed();
    checkCallback(callback, method);
    const sock = this._socketOf(fd, method);
    this.#ensureNoTransport(sock, method);
    const handle = new Handle(callback as () => unknown, args, this, null);
    const watch = this.#watch(sock);
    watch[side]?.cancel();
    watch[side] = handle;
    if (side === "reader") sock._watchRead(true);
    watch.socketReady();
    return handle;
  }

  /** `removeReader()` / `removeWriter()`: whether `fd` was watched so. */
  #removeWatcher(
    side: "reader" | "writer",
    method: string,
    fd: FileLike,
  ): boolean {
    if (this._closed) return false;
    const sock = this.#lookup(fd, method);
    if (sock === null) return false;
    const watch = this._watches.get(sock);
    const handle = watch?.[side] ?? null;
    if (watch === undefined || handle === null) return false;
    handle.cancel();
    watch[side] = null;
    if (side === "reader") sock._watchRead(false);
    watch.release();
    return true;
  }

  #lookup(fd: unknown, method: string): Socket | null {
    if (fd instanceof Socket) return fd;
    if (typeof fd === "number") return socketByFd(fd) ?? null;
    return this._socketOf(fd, method);
  }

  // ---- socket coroutines ----------------------------------------------

  #checkSock(sock: unknown, method: string): Socket {
    if (!(sock instanceof Socket)) {
      throw new TypeError(
        `${method}() expects a Socket (from socket() or socketpair()), got ${typeof sock}`,
      );
    }
    if (sock.closed) {
      throw new Deno.errors.BadResource(`${method}(): the socket is closed`);
    }
    this.#ensureNoTransport(sock, method);
    return sock;
  }

  /**
   * Receives up to `nbytes` bytes, waiting for data. Mirrors
   * `loop.sock_recv()`; an empty array means EOF.
   *
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * const data = await loop.runUntilComplete(async () => {
   *   await loop.sockSendall(a, new Uint8Array([1, 2, 3]));
   *   return await loop.sockRecv(b, 10);
   * });
   * assert.equal(data.length, 3);
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  override async sockRecv(sock: Socket, nbytes: number): Promise<Uint8Array> {
    this.#checkSock(sock, "sockRecv");
    try {
      return sock.recv(nbytes);
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
    }
    return await this.#waitReadable(sock, () => sock.recv(nbytes));
  }

  /**
   * Receives into `buf`, waiting for data; resolves with the count (0 at
   * EOF). Mirrors `loop.sock_recv_into()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * const buf = new Uint8Array(8);
   * const n = await loop.runUntilComplete(async () => {
   *   await loop.sockSendall(a, new Uint8Array([9, 9]));
   *   return await loop.sockRecvInto(b, buf);
   * });
   * assert.equal(n, 2);
   * assert.equal(buf[0], 9);
   * a.close();
   * b.close();
   * loop.close();
   * ```
   */
  override async sockRecvInto(sock: Socket, buf: Uint8Array): Promise<number> {
    this.#checkSock(sock, "sockRecvInto");
    if (!(buf instanceof Uint8Array)) {
      throw new TypeError(
        `sockRecvInto() expects a Uint8Array buffer, got ${typeof buf}`,
      );
    }
    try {
      return sock.recvInto(buf);
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
    }
    return await this.#waitReadable(sock, () => sock.recvInto(buf));
  }

  #waitReadable<T>(sock: Socket, attempt: () => T): Promise<T> {
    const fut = labelWait(
      this.createFuture<T>(),
      () => `a socket read on ${sock}`,
    );
    const ready = () => {
      if (fut.done()) return;
      try {
        fut.setResult(attempt());
      } catch (error) {
        if (isWouldBlock(error)) return;
        fut.setException(
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    };
    this.addReader(sock, ready);
    fut.addDoneCallback(() => {
      const watch = this._watches.get(sock);
      if (watch?.reader !== null && watch?.reader._callback === ready) {
        this.removeReader(sock);
      }
    });
    return fut as unknown as Promise<T>;
  }

  /**
   * Sends all of `data`, waiting while the send buffer is full. Mirrors
   * `loop.sock_sendall()`.
   *
   * @throws {TypeError} for a string or other non-bytes.
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * const total = await loop.runUntilComplete(async () => {
   *   await loop.sockSendall(a, new Uint8Array(100_000)); // all of it, however long
   *   a.close();
   *   let n = 0;
   *   for (let chunk; (chunk = await loop.sockRecv(b, 65536)).length > 0;) n += chunk.length;
   *   return n;
   * });
   * assert.equal(total, 100_000);
   * b.close();
   * loop.close();
   * ```
   */
  override async sockSendall(sock: Socket, data: Uint8Array): Promise<void> {
    this.#checkSock(sock, "sockSendall");
    checkBytes(data, "sockSendall()");
    let offset = 0;
    try {
      offset = sock.send(data);
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
    }
    if (offset === data.length) return;
    const fut = labelWait(
      this.createFuture<null>(),
      () => `a socket write on ${sock}`,
    );
    const ready = () => {
      if (fut.done()) return;
      try {
        offset += sock.send(data.subarray(offset));
      } catch (error) {
        if (isWouldBlock(error)) return;
        fut.setException(
          error instanceof Error ? error : new Error(String(error)),
        );
        return;
      }
      if (offset === data.length) fut.setResult(null);
    };
    this.addWriter(sock, ready);
    fut.addDoneCallback(() => {
      const watch = this._watches.get(sock);
      if (watch?.writer !== null && watch?.writer._callback === ready) {
        this.removeWriter(sock);
      }
    });
    await fut;
  }

  /**
   * Connects `sock` to `address`, resolving a host name first. Mirrors
   * `loop.sock_connect()`.
   *
   * @throws {Deno.errors.ConnectionRefused} (and Deno's other errors) when
   * the connection fails.
   * @example
   * ```ts
   * import { newEventLoop, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   using listener = socket();
   *   listener.bind(["127.0.0.1", 0]);
   *   listener.listen();
   *   using client = socket();
   *   await loop.sockConnect(client, listener.getsockname());
   *   assert.deepEqual(client.getpeername(), listener.getsockname());
   *   const [conn] = await loop.sockAccept(listener);
   *   conn.close();
   * });
   * loop.close();
   * ```
   */
  override async sockConnect(
    sock: Socket,
    address: SocketAddress,
  ): Promise<void> {
    this.#checkSock(sock, "sockConnect");
    if (sock.family !== AF_UNIX) {
      const [host, port] = checkInetAddress(address, sock.family);
      const infos = await resolveAddrinfo(host, port, {
        family: sock.family,
        type: SOCK_STREAM,
      });
      if (infos.length === 0) {
        throw new Deno.errors.NotFound(
          `getaddrinfo(${host}) returned no address`,
        );
      }
      address = infos[0][4] as SocketAddress;
    }
    try {
      sock.connect(address);
      return;
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
    }
    const fut = labelWait(
      this.createFuture<null>(),
      () => `a socket connect on ${sock}`,
    );
    const ready = () => {
      if (fut.done()) return;
      if (sock.closed) {
        fut.setException(
          new Deno.errors.BadResource(
            `Connect call failed ${
              formatAddress(address)
            }: the socket was closed`,
          ),
        );
        return;
      }
      if (sock._connecting !== null) return;
      const error = sock._connectError;
      if (error !== null) {
        sock._connectError = null;
        fut.setException(connectCallFailed(error, address));
      } else fut.setResult(null);
    };
    this.addWriter(sock, ready);
    fut.addDoneCallback(() => {
      const watch = this._watches.get(sock);
      if (watch?.writer !== null && watch?.writer._callback === ready) {
        this.removeWriter(sock);
      }
    });
    await fut;
  }

  /**
   * Accepts a connection: `[socket, address]`. Mirrors `loop.sock_accept()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   using listener = socket();
   *   listener.bind(["127.0.0.1", 0]);
   *   listener.listen();
   *   const accepting = loop.sockAccept(listener); // waits for a client
   *   using client = socket();
   *   await loop.sockConnect(client, listener.getsockname());
   *   const [conn, address] = await accepting;
   *   assert.deepEqual(address, client.getsockname());
   *   conn.close();
   * });
   * loop.close();
   * ```
   */
  override async sockAccept<A extends SocketAddress>(
    sock: Socket<A>,
  ): Promise<[Socket<A>, A]> {
    this.#checkSock(sock, "sockAccept");
    try {
      return sock.accept();
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
    }
    return await this.#waitReadable(sock, () => sock.accept());
  }

  // ---- datagrams and sendfile (see datagram.ts, sendfile.ts) ----------

  /**
   * Receives one datagram from a `SOCK_DGRAM` socket, waiting for it;
   * resolves with `[data, senderAddress]`. Mirrors `loop.sock_recvfrom()`.
   *
   * @example
   * ```ts
   * import { AF_INET, newEventLoop, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using a = socket(AF_INET, SOCK_DGRAM);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * b.bind(["127.0.0.1", 0]);
   * const [data, from] = await loop.runUntilComplete(async () => {
   *   await loop.sockSendto(b, new Uint8Array([7]), a.getsockname());
   *   return await loop.sockRecvfrom(a, 100);
   * });
   * assert.deepEqual([...data], [7]);
   * assert.deepEqual(from, b.getsockname());
   * loop.close();
   * ```
   */
  override sockRecvfrom<A extends SocketAddress>(
    sock: Socket<A>,
    bufsize: number,
  ): Promise<[Uint8Array, A]> {
    return datagram.sockRecvfrom(this, sock, bufsize) as Promise<
      [Uint8Array, A]
    >;
  }

  /**
   * Receives one datagram into `buf` (at most `nbytes`, default its
   * length), waiting for it; resolves with `[count, senderAddress]`.
   * Mirrors `loop.sock_recvfrom_into()`.
   *
   * @example
   * ```ts
   * import { AF_INET, newEventLoop, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using a = socket(AF_INET, SOCK_DGRAM);
   * using b = socket(AF_INET, SOCK_DGRAM);
   * a.bind(["127.0.0.1", 0]);
   * b.bind(["127.0.0.1", 0]);
   * const buf = new Uint8Array(16);
   * const [n, from] = await loop.runUntilComplete(async () => {
   *   await loop.sockSendto(b, new TextEncoder().encode("ping"), a.getsockname());
   *   return await loop.sockRecvfromInto(a, buf);
   * });
   * assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "ping");
   * assert.deepEqual(from, b.getsockname());
   * loop.close();
   * ```
   */
  override sockRecvfromInto<A extends SocketAddress>(
    sock: Socket<A>,
    buf: Uint8Array,
    nbytes = 0,
  ): Promise<[number, A]> {
    return datagram.sockRecvfromInto(this, sock, buf, nbytes) as Promise<
      [number, A]
    >;
  }

  /**
   * Sends one datagram to `address`; resolves with the bytes sent.
   * Mirrors `loop.sock_sendto()`: a `sendto()` that would block is tried
   * again once the socket is writable.
   *
   * @throws {RangeError} (code `EMSGSIZE`) for a datagram over the UDP
   * limit.
   * @example
   * ```ts
   * import { AF_INET, newEventLoop, SOCK_DGRAM, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * using receiver = socket(AF_INET, SOCK_DGRAM);
   * using sender = socket(AF_INET, SOCK_DGRAM);
   * receiver.bind(["127.0.0.1", 0]);
   * const [sent, [data]] = await loop.runUntilComplete(async () => [
   *   await loop.sockSendto(sender, new Uint8Array([1, 2, 3]), receiver.getsockname()),
   *   await loop.sockRecvfrom(receiver, 100),
   * ] as const);
   * assert.equal(sent, 3);
   * assert.deepEqual(data, new Uint8Array([1, 2, 3]));
   * loop.close();
   * ```
   */
  override sockSendto(
    sock: Socket,
    data: Uint8Array,
    address: SocketAddress,
  ): Promise<number> {
    return datagram.sockSendto(this, sock, data, address);
  }

  /**
   * Opens a UDP (IPv4 or IPv6) datagram endpoint and
   * wraps it in a transport and a protocol made by `protocolFactory`;
   * resolves with `[transport, protocol]` once `connectionMade` has run.
   * Mirrors `loop.create_datagram_endpoint()`: `localAddr` is bound,
   * `remoteAddr` becomes the fixed peer (both `[host, port]`, resolved with
   * `getaddrinfo`). No unstable flag is needed; `reuseAddress` is
   * refused, as in asyncio.
   *
   * @throws {TypeError} for an unknown option (the message lists the known ones), `reuseAddress`, or addresses of the
   * wrong shape.
   * @throws {RangeError} for `sock` together with other socket options.
   * @throws {Deno.errors.NotSupported} for `AF_UNIX`: Deno's only Unix
   * datagram API needs `--unstable-net` and cannot send while receiving.
   * @example UDP echo
   * ```ts
   * import { DatagramProtocol, type DatagramTransport, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * class Echo extends DatagramProtocol {
   *   t!: DatagramTransport;
   *   override connectionMade(t: DatagramTransport) { this.t = t; }
   *   override datagramReceived(data: Uint8Array, addr: [string, number]) {
   *     this.t.sendto(data, addr);
   *   }
   * }
   * const loop = newEventLoop();
   * const reply = await loop.runUntilComplete(async () => {
   *   const [server] = await loop.createDatagramEndpoint(() => new Echo(), ["127.0.0.1", 0]);
   *   const got = loop.createFuture<Uint8Array>();
   *   class Client extends DatagramProtocol {
   *     override datagramReceived(data: Uint8Array) { got.setResult(data); }
   *   }
   *   const address = server.getExtraInfo("sockname") as [string, number];
   *   const [client] = await loop.createDatagramEndpoint(() => new Client(), null, address);
   *   client.sendto(new TextEncoder().encode("hello"));
   *   const data = await got;
   *   client.close();
   *   server.close();
   *   return new TextDecoder().decode(data);
   * });
   * assert.equal(reply, "hello");
   * loop.close();
   * ```
   */
  override createDatagramEndpoint<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    localAddr?: SocketAddress | null,
    remoteAddr?: SocketAddress | null,
    options: datagram.CreateDatagramEndpointOptions = {},
  ): Promise<[SocketDatagramTransport, P]> {
    return datagram.createDatagramEndpoint(
      this,
      protocolFactory,
      localAddr,
      remoteAddr,
      options,
    );
  }

  /**
   * Sends a file over a stream transport; resolves with the bytes sent and
   * leaves the file position just after them. Mirrors `loop.sendfile()`.
   * Deno has no zero-copy sendfile for these sockets, so the file is read
   * in chunks and written through the transport, waiting on its flow
   * control; with `fallback: false` that is refused. `offset` is where to
   * start (an absolute position); `count` how much (null: to EOF). A file
   * shorter than `offset + count` sends what there is.
   *
   * @throws {SendfileNotAvailableError} with `fallback: false`.
   * @throws {RuntimeError} if the transport is closing or cannot send files
   * (datagram, pipe and subprocess transports).
   * @throws {RangeError} for a negative offset or a count that is not positive.
   * @throws {TypeError} for a non-integer offset or count, or an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, Protocol, startServer } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const path = await Deno.makeTempFile();
   * await Deno.writeTextFile(path, "hello, sendfile");
   * const loop = newEventLoop();
   * const received = await loop.runUntilComplete(async () => {
   *   const got = loop.createFuture<Uint8Array>();
   *   await using server = await startServer(async (reader, writer) => {
   *     got.setResult(await reader.read()); // to EOF
   *     writer.close();
   *   }, "127.0.0.1", 0);
   *   const [, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), "127.0.0.1", port);
   *   using file = await Deno.open(path);
   *   assert.equal(await loop.sendfile(transport, file, 7), 8); // from offset 7
   *   transport.close();
   *   return new TextDecoder().decode(await got);
   * });
   * assert.equal(received, "sendfile");
   * loop.close();
   * await Deno.remove(path);
   * ```
   */
  override sendfile(
    transport: Transport,
    file: Deno.FsFile | sendfiles.SendfileFile,
    offset = 0,
    count: number | null = null,
    options: sendfiles.SendfileOptions = {},
  ): Promise<number> {
    return sendfiles.sendfile(this, transport, file, offset, count, options);
  }

  /**
   * Sends a file over a connected stream socket; resolves with the bytes
   * sent. Mirrors `loop.sock_sendfile()`; as `sendfile`, it reads and sends
   * the file by hand (`fallback: false` is a `SendfileNotAvailableError`).
   *
   * @throws {SendfileNotAvailableError} with `fallback: false`.
   * @throws {RangeError} for a datagram socket or a bad offset/count.
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, socketpair } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const path = await Deno.makeTempFile();
   * await Deno.writeTextFile(path, "hello, sockSendfile");
   * const loop = newEventLoop();
   * const [a, b] = socketpair();
   * const received = await loop.runUntilComplete(async () => {
   *   using file = await Deno.open(path);
   *   assert.equal(await loop.sockSendfile(a, file, 0, 5), 5); // the first 5 bytes
   *   a.close();
   *   const chunks: Uint8Array[] = [];
   *   for (let c; (c = await loop.sockRecv(b, 100)).length > 0;) chunks.push(c);
   *   return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
   * });
   * assert.equal(received, "hello");
   * b.close();
   * loop.close();
   * await Deno.remove(path);
   * ```
   */
  override sockSendfile(
    sock: Socket,
    file: Deno.FsFile | sendfiles.SendfileFile,
    offset = 0,
    count: number | null = null,
    options: sendfiles.SendfileOptions = {},
  ): Promise<number> {
    return sendfiles.sockSendfile(this, sock, file, offset, count, options);
  }

  // ---- name resolution ------------------------------------------------

  /**
   * Resolves a host and port. Mirrors `loop.getaddrinfo()`: IP literals,
   * `localhost` and `/etc/hosts` names resolve without the network; other
   * names go through Deno's DNS resolver.
   *
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { AF_INET, newEventLoop, SOCK_STREAM } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const infos = await loop.runUntilComplete(() =>
   *   loop.getaddrinfo("127.0.0.1", 80, { type: SOCK_STREAM })
   * );
   * assert.equal(infos[0][0], AF_INET);
   * loop.close();
   * ```
   */
  override async getaddrinfo(
    host: string | null | undefined,
    port: number | string | null | undefined,
    options: GetaddrinfoOptions = {},
  ): Promise<AddrInfo[]> {
    checkOptionKeys(options, GETADDRINFO_OPTIONS, "getaddrinfo");
    this._checkClosed();
    return await resolveAddrinfo(host, port, options);
  }

  /**
   * Turns an address into `[host, port]` strings. Mirrors
   * `loop.getnameinfo()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, NI_NUMERICSERV } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const [, port] = await loop.runUntilComplete(() =>
   *   loop.getnameinfo(["127.0.0.1", 8080], NI_NUMERICSERV)
   * );
   * assert.equal(port, "8080");
   * loop.close();
   * ```
   */
  override async getnameinfo(
    sockaddr: SockAddr,
    flags = 0,
  ): Promise<[string, string]> {
    this._checkClosed();
    return await resolveNameinfo(sockaddr, flags);
  }

  // ---- connections ----------------------------------------------------

  /**
   * Opens a TCP connection and wraps it in a transport and a protocol made
   * by `protocolFactory`; resolves with `[transport, protocol]` once
   * `connectionMade` has run. Mirrors `loop.create_connection()`, with
   * Happy Eyeballs (`happyEyeballsDelay`, `interleave`) and `allErrors`.
   * TCP_NODELAY is on.
   *
   * @throws {Deno.errors.ConnectionRefused} (and Deno's other errors) when
   * every attempt fails; an `AggregateError` of them with `allErrors`.
   * @throws {RangeError} for host/port together with `sock`, or neither.
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   assert.deepEqual(transport.getExtraInfo("peername"), [host, port]);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override createConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host?: string | null,
    port?: number | string | null,
    options: CreateConnectionOptions = {},
  ): Promise<[Transport, P]> {
    try {
      checkOptionKeys(options, CREATE_CONNECTION_OPTIONS, "createConnection");
    } catch (error) {
      return Promise.reject(error);
    }
    return cancellableOperation(
      this,
      "createConnection()",
      () => this.#createConnection(protocolFactory, host, port, options),
    );
  }

  async #createConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    host: string | null | undefined,
    port: number | string | null | undefined,
    options: CreateConnectionOptions,
  ): Promise<[Transport, P]> {
    this._checkClosed();
    checkFactory(protocolFactory, "createConnection");
    const tls = clientTls("createConnection()", options, host);
    let sock: Socket;
    if (host != null || port != null) {
      if (options.sock != null) {
        throw new RangeError(
          "host/port and sock can not be specified at the same time",
        );
      }
      const happyEyeballsDelay = options.happyEyeballsDelay ?? null;
      let interleave = options.interleave ?? null;
      if (happyEyeballsDelay !== null) {
        if (
          typeof happyEyeballsDelay !== "number" || !(happyEyeballsDelay >= 0)
        ) {
          throw new RangeError(
            "happyEyeballsDelay must be a number of seconds >= 0",
          );
        }
        interleave ??= 1;
      }
      if (host === "") {
        // The wildcard host means "any local address" to a server; a
        // connection needs a peer, and the system resolver refuses it.
        throw new Deno.errors.NotFound(
          'createConnection(): host "" names no peer (Name or service not known): pass a host name or address, e.g. "127.0.0.1"',
        );
      }
      // An address literal is used as it is; a name goes through the
      // loop's own getaddrinfo, as asyncio's `_ensure_resolved` does: a
      // loop that overrides it (a test's fake resolver) is obeyed. The
      // local address is resolved the same way, with the same hints.
      const hints: GetaddrinfoOptions = {
        family: options.family ?? 0,
        type: SOCK_STREAM,
        proto: options.proto ?? 0,
        flags: options.flags ?? 0,
      };
      const resolve = (h: string | null, p: number | string | null) =>
        numericAddrinfo(h, p ?? 0, hints.family!, SOCK_STREAM, hints.proto) ??
          this.getaddrinfo(h, p, hints);
      const infos = await resolve(host ?? null, port ?? null);
      if (infos.length === 0) {
        throw new Deno.errors.NotFound("getaddrinfo() returned empty list");
      }
      let localInfos: AddrInfo[] | null = null;
      if (options.localAddr != null) {
        const local = options.localAddr;
        if (!Array.isArray(local) || local.length !== 2) {
          throw new TypeError(
            "createConnection(): localAddr must be a [host, port] pair",
          );
        }
        localInfos = await resolve(local[0], local[1]);
        if (localInfos.length === 0) {
          throw new Deno.errors.NotFound(
            "getaddrinfo() returned empty list for localAddr",
          );
        }
      }
      const ordered = interleave
        ? interleaveAddrinfos(infos, interleave)
        : infos;
      sock = await this.#connectAny(
        ordered,
        localInfos,
        happyEyeballsDelay,
        options.allErrors ?? false,
      );
    } else {
      if (options.sock == null) {
        throw new RangeError(
          "host and port was not specified and no sock specified",
        );
      }
      sock = this.#checkStreamSock(options.sock, "createConnection");
    }
    if (tls !== null) {
      return await tlsConnect(this, sock, protocolFactory, tls);
    }
    return await this.#makeConnection(sock, protocolFactory);
  }

  #checkStreamSock(sock: unknown, method: string): Socket {
    if (!(sock instanceof Socket)) {
      throw new TypeError(
        `${method}(): sock must be a Socket, got ${typeof sock}`,
      );
    }
    if (sock.type !== SOCK_STREAM) {
      throw new RangeError(
        `${method}(): a stream socket was expected, got ${sock}`,
      );
    }
    if (sock._conn === null) {
      throw new Deno.errors.NotConnected(
        `${method}(): sock must be a connected socket`,
      );
    }
    return sock;
  }

  async #makeConnection<P extends BaseProtocol>(
    sock: Socket,
    protocolFactory: ProtocolFactory<P>,
    extra: Record<string, unknown> | null = null,
  ): Promise<[Transport, P]> {
    const protocol = protocolFactory();
    const waiter = this.createFuture<null>();
    const transport = new SocketTransport(this, sock, protocol, waiter, extra);
    return await connectionMade(transport, protocol, waiter, () => {
      transport.close();
    });
  }

  /** Connects to the first address that answers (staggered with a delay). */
  async #connectAny(
    infos: AddrInfo[],
    localInfos: AddrInfo[] | null,
    delay: number | null,
    allErrors: boolean,
  ): Promise<Socket> {
    const errors: unknown[] = [];
    if (delay === null) {
      for (const info of infos) {
        try {
          return await this.#connectOne(info, localInfos);
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          errors.push(error);
        }
      }
    } else {
      const winner = await this.#staggered(infos, localInfos, delay, errors);
      if (winner !== null) return winner;
    }
    throw connectError(errors, allErrors);
  }

  async #connectOne(
    info: AddrInfo,
    localInfos: AddrInfo[] | null,
  ): Promise<Socket> {
    const [family, , , , sockaddr] = info;
    const sock = new Socket(family, SOCK_STREAM);
    try {
      if (localInfos !== null) bindLocal(sock, localInfos);
      await this.sockConnect(sock, sockaddr as SocketAddress);
    } catch (error) {
      const connecting = sock._connecting;
      sock.close();
      // Closing aborts a connect still in flight, which then ends within
      // milliseconds: wait for it, so that nothing this attempt opened is
      // left once the caller sees the error (or the cancellation).
      if (connecting !== null) await connecting;
      throw error;
    }
    return sock;
  }

  /**
   * RFC 8305: start the next attempt after `delay` or when one fails. Each
   * attempt is a task of its own (as asyncio's staggered race), so that the
   * first connection made can cancel the others: a cancelled attempt closes
   * its socket, which aborts its connect. Cancelling the caller cancels
   * every attempt.
   */
  async #staggered(
    infos: AddrInfo[],
    localInfos: AddrInfo[] | null,
    delay: number,
    errors: unknown[],
  ): Promise<Socket | null> {
    const result = this.createFuture<Socket | null>();
    const running = new Set<Task<Socket>>();
    let next = 0;
    let timer: Handle | null = null;
    const launch = () => {
      timer?.cancel();
      timer = null;
      if (result.done() || next >= infos.length) return;
      const index = next++;
      const attempt = new Task(
        () => this.#connectOne(infos[index], localInfos),
        { loop: this, name: `connect attempt ${index + 1}` },
      );
      running.add(attempt);
      attempt.addDoneCallback(() => {
        running.delete(attempt);
        if (attempt.cancelled()) return;
        const error = attempt.exception();
        if (error === null) {
          const sock = attempt.result();
          if (result.done()) sock.close();
          else result.setResult(sock);
          return;
        }
        errors[index] = error;
        if (result.done()) return;
        if (next < infos.length) launch();
        else if (running.size === 0) result.setResult(null);
      });
      if (next < infos.length) timer = this.callLater(delay, launch);
    };
    result.addDoneCallback(() => {
      timer?.cancel();
      for (const attempt of running) attempt.cancel();
    });
    launch();
    try {
      return await result;
    } catch (error) {
      // Cancelled: the attempts are too. Return only once they have let
      // go of their sockets, so nothing outlives the cancelled call.
      (timer as Handle | null)?.cancel();
      const attempts = [...running];
      for (const attempt of attempts) attempt.cancel();
      for (const attempt of attempts) {
        try {
          await attempt;
        } catch {
          // Each one ends cancelled (or failed): only its end matters.
        }
      }
      throw error;
    }
  }

  /**
   * Opens a Unix socket connection. Mirrors `loop.create_unix_connection()`.
   *
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const dir = await Deno.makeTempDir();
   * const path = `${dir}/app.sock`;
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using _server = await loop.createUnixServer(() => new Protocol(), path);
   *   const [transport] = await loop.createUnixConnection(() => new Protocol(), path);
   *   assert.equal(transport.getExtraInfo("peername"), path);
   *   transport.close();
   * });
   * loop.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  override createUnixConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    path?: string | null,
    options: CreateUnixConnectionOptions = {},
  ): Promise<[Transport, P]> {
    try {
      checkOptionKeys(
        options,
        CREATE_UNIX_CONNECTION_OPTIONS,
        "createUnixConnection",
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return cancellableOperation(
      this,
      "createUnixConnection()",
      () => this.#createUnixConnection(protocolFactory, path, options),
    );
  }

  async #createUnixConnection<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    path: string | null | undefined,
    options: CreateUnixConnectionOptions,
  ): Promise<[Transport, P]> {
    this._checkClosed();
    checkFactory(protocolFactory, "createUnixConnection");
    const tls = clientTls("createUnixConnection()", options, null, true);
    let sock: Socket;
    if (path != null) {
      if (options.sock != null) {
        throw new RangeError(
          "path and sock can not be specified at the same time",
        );
      }
      if (typeof path !== "string") {
        throw new TypeError(`path must be a string, got ${typeof path}`);
      }
      sock = new Socket(AF_UNIX, SOCK_STREAM);
      try {
        await this.sockConnect(sock, path);
      } catch (error) {
        sock.close();
        throw error;
      }
    } else {
      if (options.sock == null) {
        throw new RangeError("no path and sock were specified");
      }
      sock = this.#checkStreamSock(options.sock, "createUnixConnection");
      if (sock.family !== AF_UNIX) {
        throw new RangeError(
          `A UNIX Domain Stream Socket was expected, got ${sock}`,
        );
      }
    }
    if (tls !== null) {
      return await tlsConnect(this, sock, protocolFactory, tls);
    }
    return await this.#makeConnection(sock, protocolFactory);
  }

  /**
   * Wraps an already-accepted connection in a transport and protocol.
   * Mirrors `loop.connect_accepted_socket()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, socket } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   using listener = socket();
   *   listener.bind(["127.0.0.1", 0]);
   *   listener.listen();
   *   const [host, port] = listener.getsockname();
   *   const [client] = await loop.createConnection(() => new Protocol(), host, port);
   *   const [sock] = await loop.sockAccept(listener); // accepted by hand...
   *   const [transport] = await loop.connectAcceptedSocket(() => new Protocol(), sock);
   *   assert.deepEqual(transport.getExtraInfo("sockname"), [host, port]); // ...served as usual
   *   transport.close();
   *   client.close();
   * });
   * loop.close();
   * ```
   */
  override async connectAcceptedSocket<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    sock: Socket,
    options: {
      ssl?: SSLContext | null;
      sslHandshakeTimeout?: number | null;
      sslShutdownTimeout?: number | null;
    } = {},
  ): Promise<[Transport, P]> {
    this._checkClosed();
    checkFactory(protocolFactory, "connectAcceptedSocket");
    const tls = serverTls("connectAcceptedSocket()", options);
    const checked = this.#checkStreamSock(sock, "connectAcceptedSocket");
    if (tls !== null) {
      const protocol = protocolFactory();
      const waiter = this.createFuture<null>();
      const transport = await tlsAccept(
        this,
        checked,
        protocol,
        tls,
        null,
        waiter,
      );
      await waiter;
      return [transport, protocol];
    }
    return await this.#makeConnection(checked, protocolFactory);
  }

  /**
   * Upgrades an open connection to TLS and returns the new transport; the
   * protocol must use only that one from then on (the old transport carries
   * the encrypted bytes underneath and closes with it). `connectionMade` is
   * not called again. Both sides work: TLS runs in `node:tls` over the
   * transport, as asyncio's `SSLProtocol` does. Resolves with null when
   * `transport` is already closing. Mirrors `loop.start_tls()`.
   *
   * @param transport A stream transport of this package.
   * @param protocol The protocol that receives the plaintext.
   * @param sslcontext The TLS settings (a server context for `serverSide`).
   * @param options `serverSide`, `serverHostname` (required on the client
   * side while `sslcontext.checkHostname`; "" skips the check),
   * `sslHandshakeTimeout` (60), `sslShutdownTimeout` (30).
   * @throws {TypeError} for a transport, context or option of the wrong
   * kind, or an unknown option (the message lists the known ones).
   * @throws {RangeError} for a missing `serverHostname`, a server context
   * without a certificate, or a timeout that is not positive.
   * @throws {Deno.errors.InvalidData} when the handshake fails (a bad
   * certificate); {Deno.errors.ConnectionAborted} when it times out.
   * @example Upgrading a plain connection (a test-only self-signed certificate for localhost)
   * ```ts
   * import { createDefaultContext, newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const cert = `-----BEGIN CERTIFICATE-----
   * MIIBMTCB16ADAgECAgEBMAoGCCqGSM49BAMCMBQxEjAQBgNVBAMMCWxvY2FsaG9z
   * dDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDESMBAGA1UEAwwJ
   * bG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYi6q6cnzNTymTN6O
   * oYMW5P/LtwT0zKQlHhkm0ughni3tvil1pWB7mEpu9piF65EC9wkr3gdauMJIpyGQ
   * Efa8o6MYMBYwFAYDVR0RBA0wC4IJbG9jYWxob3N0MAoGCCqGSM49BAMCA0kAMEYC
   * IQCbBZ50lHfFj6CjM3WxtYm4pLsGi9hbNEdRcjpfuu1gWgIhAO25KiDoa5mmhMQG
   * F+i+RB9Hy7JLhUMytKWzlgzhqH9t
   * -----END CERTIFICATE-----`;
   * const key = `-----BEGIN PRIVATE KEY-----
   * MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAdcnCt4igVAejm5P
   * gpWRmM/Mb1vxifHKMRBbDhxmLtmhRANCAARiLqrpyfM1PKZM3o6hgxbk/8u3BPTM
   * pCUeGSbS6CGeLe2+KXWlYHuYSm72mIXrkQL3CSveB1q4wkinIZAR9ryj
   * -----END PRIVATE KEY-----`;
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const ssl = createDefaultContext({ purpose: "clientAuth", cert, key });
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { ssl });
   *   const [, port] = server.sockets[0].getsockname();
   *   const client = new Protocol();
   *   const [plain] = await loop.createConnection(() => client, "127.0.0.1", port);
   *   const trusting = createDefaultContext({ caCerts: [cert] });
   *   const tls = await loop.startTls(plain, client, trusting, { serverHostname: "localhost" });
   *   const peer = tls!.getExtraInfo("peercert") as { subject: string[][][] };
   *   assert.deepEqual(peer.subject, [[["commonName", "localhost"]]]);
   *   tls!.close(); // closes the plain transport too
   * });
   * loop.close();
   * ```
   */
  override async startTls(
    transport: Transport,
    protocol: BaseProtocol,
    sslcontext: SSLContext,
    options: StartTlsOptions = {},
  ): Promise<TlsTransport | null> {
    this._checkClosed();
    return await upgradeTls(this, transport, protocol, sslcontext, options);
  }

  // ---- pipes and subprocesses (loop/transports/pipe_transport.ts,
  // ---- subprocess_transport.ts, loop/process/process.ts) ----------

  /**
   * Reads a pipe: a `ReadableStream<Uint8Array>` or anything with
   * `.readable` (`Deno.FsFile`, `Deno.stdin`, a child's stdout). Returns
   * `[transport, protocol]` once `connectionMade` has run; the transport
   * (a `ReadPipeTransport`) locks the stream, and closing it cancels the
   * stream (closing the file). `getExtraInfo("pipe")` is `pipe`. Mirrors
   * `loop.connect_read_pipe()`.
   *
   * @throws {TypeError} when `pipe` is not a readable pipe.
   * @throws {RangeError} when its stream is locked.
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const chunks: number[][] = [];
   * await loop.runUntilComplete(async () => {
   *   const lost = loop.createFuture<null>();
   *   class P extends Protocol {
   *     override dataReceived(data: Uint8Array) { chunks.push([...data]); }
   *     override connectionLost() { lost.setResult(null); }
   *   }
   *   const pipe = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
   *   await loop.connectReadPipe(() => new P(), pipe);
   *   await lost; // at the end of the stream
   * });
   * assert.deepEqual(chunks.flat(), [1, 2, 3]);
   * loop.close();
   * ```
   */
  override async connectReadPipe<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    pipe: ReadablePipe,
  ): Promise<[ReadPipeTransport, P]> {
    this._checkClosed();
    return await connectReadPipe(this, protocolFactory, pipe);
  }

  /**
   * Writes a pipe: a `WritableStream<Uint8Array>` or anything with
   * `.writable` (`Deno.FsFile`, `Deno.stdout`, a child's stdin). Returns
   * `[transport, protocol]` once `connectionMade` has run; the transport
   * (a `WritePipeTransport`) locks the stream and closes it on `close()`.
   * Mirrors `loop.connect_write_pipe()`.
   *
   * @throws {TypeError} when `pipe` is not a writable pipe.
   * @throws {RangeError} when its stream is locked.
   * @example
   * ```ts
   * import { BaseProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const written: number[] = [];
   * await loop.runUntilComplete(async () => {
   *   const lost = loop.createFuture<null>();
   *   class P extends BaseProtocol {
   *     override connectionLost() { lost.setResult(null); }
   *   }
   *   const pipe = new WritableStream<Uint8Array>({ write: (c) => { written.push(...c); } });
   *   const [transport] = await loop.connectWritePipe(() => new P(), pipe);
   *   transport.write(new Uint8Array([1, 2, 3]));
   *   transport.close(); // after the buffered data is written
   *   await lost;
   * });
   * assert.deepEqual(written, [1, 2, 3]);
   * loop.close();
   * ```
   */
  override async connectWritePipe<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    pipe: WritablePipe,
  ): Promise<[WritePipeTransport, P]> {
    this._checkClosed();
    return await connectWritePipe(this, protocolFactory, pipe);
  }

  /**
   * Runs `program` with `args` (no shell), optionally followed by an
   * options object: `stdin`/`stdout`/`stderr` each `PIPE` (default),
   * `DEVNULL`, `null` (inherit), `STDOUT` (stderr only) or an existing
   * pipe; `cwd`; `env` (the whole environment, as Popen's). Returns
   * `[transport, protocol]` once the pipes are connected. Mirrors
   * `loop.subprocess_exec()`; see `loop/process/process.ts` for what differs on
   * Deno (existing pipes are copied by the parent; `STDOUT` runs the
   * program through `/bin/sh`).
   *
   * @throws {TypeError} for a program or argument that is not a string, a
   *   URL or bytes (UTF-8), or an unknown option.
   * @throws {RangeError} for `text`, `universalNewlines`, `shell`,
   *   `encoding`, `errors` or `bufsize` other than asyncio allows.
   * @throws {Deno.errors.NotFound} when the program does not exist.
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const lost = loop.createFuture<null>();
   *   class P extends SubprocessProtocol {
   *     override connectionLost() { lost.setResult(null); }
   *   }
   *   const [transport] = await loop.subprocessExec(() => new P(), "true");
   *   await lost;
   *   assert.equal(transport.getReturncode(), 0);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override async subprocessExec<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    program: string | URL | Uint8Array,
    ...args: SubprocessExecArgs
  ): Promise<[ChildProcessTransport, P]> {
    this._checkClosed();
    checkFactory(protocolFactory, "subprocessExec");
    const [argv, options] = splitExecArgs(args);
    const spec = execSpec(program, argv, options);
    return await startSubprocess(this, protocolFactory, spec);
  }

  /**
   * Runs `cmd` with `/bin/sh -c`. Options as `subprocessExec`'s. Quoting
   * is the caller's job: never build `cmd` from untrusted input. Mirrors
   * `loop.subprocess_shell()`.
   *
   * @throws {TypeError} unless `cmd` is a string or bytes (UTF-8).
   * @throws {RangeError} for a refused option (`shell: false`, `text`, ...),
   *   or bytes that are not UTF-8.
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const lost = loop.createFuture<null>();
   *   class P extends SubprocessProtocol {
   *     override connectionLost() { lost.setResult(null); }
   *   }
   *   const [transport] = await loop.subprocessShell(() => new P(), "exit 3");
   *   await lost;
   *   assert.equal(transport.getReturncode(), 3);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override async subprocessShell<P extends BaseProtocol>(
    protocolFactory: ProtocolFactory<P>,
    cmd: string | Uint8Array,
    options?: SubprocessOptions,
  ): Promise<[ChildProcessTransport, P]> {
    this._checkClosed();
    checkFactory(protocolFactory, "subprocessShell");
    const spec = shellSpec(cmd, options);
    return await startSubprocess(this, protocolFactory, spec);
  }

  // ---- servers --------------------------------------------------------

  /**
   * Listens on `host` (a name, a list of names, or null/"" for all
   * interfaces) and `port` (0 picks a free one); each connection gets a
   * protocol from `protocolFactory`. Mirrors `loop.create_server()`.
   *
   * @throws {Deno.errors.AddrInUse} if the address is taken.
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   assert(server.isServing());
   * });
   * loop.close();
   * ```
   */
  override async createServer(
    protocolFactory: ProtocolFactory,
    host?: string | string[] | null,
    port?: number | string | null,
    options: CreateServerOptions = {},
  ): Promise<Server<InetAddress>> {
    checkOptionKeys(options, CREATE_SERVER_OPTIONS, "createServer");
    this._checkClosed();
    checkFactory(protocolFactory, "createServer");
    const tls = serverTls("createServer()", options);
    const backlog = checkBacklog(options.backlog);
    let sockets: Socket[];
    if (host != null || port != null) {
      if (options.sock != null) {
        throw new RangeError(
          "host/port and sock can not be specified at the same time",
        );
      }
      const hosts = host == null || host === ""
        ? [null]
        : typeof host === "string"
        ? [host]
        : Array.isArray(host)
        ? host
        : (() => {
          throw new TypeError(
            `host must be a string or an array of strings, got ${typeof host}`,
          );
        })();
      const seen = new Set<string>();
      const infos: AddrInfo[] = [];
      for (const h of hosts) {
        // An address literal is used as it is; a name goes through the
        // loop's own getaddrinfo (asyncio's `_ensure_resolved`), so an
        // override is obeyed. No address for a host is an error, not a
        // server that listens nowhere.
        const family = options.family ?? 0;
        const found = numericAddrinfo(h, port ?? 0, family, SOCK_STREAM) ??
          await this.getaddrinfo(h, port ?? 0, {
            family,
            type: SOCK_STREAM,
            flags: (options.flags ?? 0) | AI_PASSIVE,
          });
        if (!Array.isArray(found) || found.length === 0) {
          throw new Deno.errors.NotFound(
            `getaddrinfo(${JSON.stringify(h)}) returned empty list`,
          );
        }
        for (const info of found) {
          const key = JSON.stringify(info[4]);
          if (seen.has(key)) continue;
          seen.add(key);
          infos.push(info);
        }
      }
      sockets = [];
      try {
        for (const [family, , , , sockaddr] of infos) {
          const sock = new Socket(family, SOCK_STREAM);
          sockets.push(sock);
          if (options.reusePort) sock._reusePort = true;
          const [addrHost, addrPort] = sockaddr as [string, number];
          try {
            sock._bindListener(addrHost, addrPort, backlog);
          } catch (error) {
            throw bindError(error, addrHost, addrPort);
          }
          sock.listen(backlog);
        }
      } catch (error) {
        for (const sock of sockets) sock.close();
        throw error;
      }
    } else {
      if (options.sock == null) {
        throw new RangeError("Neither host/port nor sock were specified");
      }
      sockets = [this.#checkListeningSock(options.sock, "createServer")];
    }
    const server = new Server<InetAddress>(
      this,
      sockets as Socket<InetAddress>[],
      protocolFactory,
      {
        keepAlive: options.keepAlive ?? false,
        tls,
      },
    );
    if (options.startServing ?? true) {
      server._startServing();
      await sleep(0);
    }
    return server;
  }

  #checkListeningSock(sock: unknown, method: string): Socket {
    if (!(sock instanceof Socket)) {
      throw new TypeError(
        `${method}(): sock must be a Socket, got ${typeof sock}`,
      );
    }
    if (sock.type !== SOCK_STREAM) {
      throw new RangeError(
        `${method}(): a stream socket was expected, got ${sock}`,
      );
    }
    if (sock._listener === null) {
      throw new RangeError(`${method}(): sock must be bound (bind() it first)`);
    }
    sock.listen();
    return sock;
  }

  /**
   * Listens on a Unix socket path. A stale socket file at `path` is
   * replaced; the file is removed when the server closes (`cleanupSocket`).
   * Mirrors `loop.create_unix_server()`.
   *
   * @throws {TypeError} for an unknown option (the message lists the known ones).
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const dir = await Deno.makeTempDir();
   * const path = `${dir}/app.sock`;
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const server = await loop.createUnixServer(() => new Protocol(), path);
   *   assert.equal(server.sockets[0].getsockname(), path);
   *   assert.equal((await Deno.lstat(path)).isSocket, true);
   *   server.close();
   *   await server.waitClosed();
   * });
   * await assert.rejects(Deno.lstat(path), Deno.errors.NotFound); // cleaned up
   * loop.close();
   * await Deno.remove(dir);
   * ```
   */
  override async createUnixServer(
    protocolFactory: ProtocolFactory,
    path?: string | null,
    options: CreateUnixServerOptions = {},
  ): Promise<Server<string>> {
    checkOptionKeys(options, CREATE_UNIX_SERVER_OPTIONS, "createUnixServer");
    this._checkClosed();
    checkFactory(protocolFactory, "createUnixServer");
    const tls = serverTls("createUnixServer()", options);
    if (options.cleanupSocket === false) {
      throw new Deno.errors.NotSupported(
        "createUnixServer(): cleanupSocket: false is not available: Deno removes a Unix socket's file when its listener closes",
      );
    }
    checkBacklog(options.backlog);
    let sock: Socket;
    if (path != null) {
      if (options.sock != null) {
        throw new RangeError(
          "path and sock can not be specified at the same time",
        );
      }
      if (typeof path !== "string") {
        throw new TypeError(`path must be a string, got ${typeof path}`);
      }
      sock = new Socket(AF_UNIX, SOCK_STREAM);
      // A stale socket file is removed on Deno's own network only (a
      // simulated one keeps its paths to itself).
      if (sock._net === DENO_NET) {
        // A listener just closed at this path removes the file there when
        // Deno releases it: bind only after that, or the new server's file
        // would be the one removed.
        const releasing = unixPathReleased(path);
        if (releasing !== null) await releasing;
        try {
          if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) {
            sock.close();
            throw unixPermission(error);
          }
        }
      }
      try {
        sock.bind(path);
      } catch (error) {
        sock.close();
        throw bindError(error, path);
      }
      sock.listen();
    } else {
      if (options.sock == null) {
        throw new RangeError("path was not specified, and no sock specified");
      }
      sock = this.#checkListeningSock(options.sock, "createUnixServer");
      if (sock.family !== AF_UNIX) {
        throw new RangeError(
          `A UNIX Domain Stream Socket was expected, got ${sock}`,
        );
      }
    }
    sock._unlinkOnClose = true;
    const server = new Server<string>(
      this,
      [sock as Socket<string>],
      protocolFactory,
      { tls },
    );
    if (options.startServing ?? true) {
      server._startServing();
      await sleep(0);
    }
    return server;
  }

  /** @ignore Keeps one accept in flight on `sock` for `server`. */
  _startServing(server: Server, sock: Socket): void {
    if (this._serving.has(sock)) return;
    const registration = this._dispatcher.register("server");
    this._serving.set(sock, { server, registration, accepting: null });
    sock._owner = server;
    this.#acceptNext(sock, server, registration);
  }

  #acceptNext(
    sock: Socket,
    server: Server,
    registration: Registration,
  ): void {
    const listener = sock._listener;
    const entry = this._serving.get(sock);
    if (
      listener === null || sock.closed || registration.closed ||
      entry === undefined
    ) return;
    registration.beginWait();
    entry.accepting = listener.accept().then(
      (conn) => {
        registration.endWait();
        entry.accepting = null;
        if (registration.closed) {
          closeQuietly(conn);
          return;
        }
        registration.post(this.#accepted, server, sock, conn);
        this.#acceptNext(sock, server, registration);
      },
      (error) => {
        registration.endWait();
        entry.accepting = null;
        if (registration.closed || sock.closed) return;
        registration.post(
          this.#acceptFailed,
          server,
          sock,
          registration,
          error,
        );
      },
    );
  }

  readonly #accepted = (
    server: Server,
    sock: Socket,
    conn: Deno.Conn,
  ): void => {
    if (!this._serving.has(sock)) {
      closeQuietly(conn);
      return;
    }
    const client = Socket._fromConn(conn as StreamConn, sock.family);
    if (server._extra.keepAlive) {
      try {
        (conn as StreamConn).setKeepAlive?.(true);
      } catch {
        // Not a TCP connection.
      }
    }
    let protocol: BaseProtocol;
    try {
      protocol = server._protocolFactory() as BaseProtocol;
    } catch (error) {
      client.close();
      this.callExceptionHandler({
        message: "Error on transport creation for incoming connection",
        exception: error,
        socket: client,
      });
      return;
    }
    const tls = server._extra.tls as TlsParams | null | undefined;
    if (tls) {
      serveTls(this, client, protocol, tls, server);
      return;
    }
    new SocketTransport(this, client, protocol, null, null, server);
  };

  readonly #acceptFailed = (
    server: Server,
    sock: Socket,
    registration: Registration,
    error: unknown,
  ): void => {
    if (!this._serving.has(sock)) return;
    this.callExceptionHandler({
      message: "socket.accept() out of system resource",
      exception: error,
      socket: sock,
    });
    // Like asyncio: stop accepting for a second, then try again.
    this.callLater(1, () => {
      if (this._serving.get(sock)?.registration === registration) {
        this.#acceptNext(sock, server, registration);
      }
    });
  };

  /**
   * @ignore Stops accepting on `sock` and closes it. Deno releases a
   * listener only once its pending accept settles: the promise says when
   * (until then the port still completes handshakes, then resets them).
   */
  _stopServing(sock: Socket): Promise<void> | null {
    const entry = this._serving.get(sock);
    let accepting: Promise<void> | null = null;
    if (entry !== undefined) {
      this._serving.delete(sock);
      entry.registration.close();
      accepting = entry.accepting;
    }
    sock._owner = null;
    const path = sock._bound;
    sock.close();
    if (
      accepting !== null && typeof path === "string" && sock._net === DENO_NET
    ) {
      noteUnixRelease(path, accepting);
    }
    // Deno releases the listener in a turn of its own: let the loop take
    // those turns, so waitClosed() returns as soon as asyncio's does, not
    // after a busy loop's next scheduled yield to the runtime.
    if (accepting !== null) this._yieldToHostUntil(accepting);
    return accepting;
  }
}

/** Wraps a bind failure in an error that names the address. */
function bindError(error: unknown, host: string, port?: number): unknown {
  const where = port === undefined
    ? JSON.stringify(host)
    : `[${JSON.stringify(host)}, ${port}]`;
  // A refused argument (reusePort without its flag) is no bind failure.
  if (error instanceof RangeError || error instanceof TypeError) return error;
  if (error instanceof Deno.errors.AddrInUse) {
    return new Deno.errors.AddrInUse(
      `error while attempting to bind on address ${where}: address already in use`,
      { cause: error },
    );
  }
  if (error instanceof Error && error.constructor !== Error) {
    const ErrorClass = error.constructor as new (
      message: string,
      options?: ErrorOptions,
    ) => Error;
    try {
      return new ErrorClass(
        `error while attempting to bind on address ${where}: ${error.message}`,
        { cause: error },
      );
    } catch {
      return error;
    }
  }
  return error;
}

/** A socket address as Python prints it: `('127.0.0.1', 8080)`. */
function formatAddress(address: SocketAddress): string {
  if (typeof address === "string") return `'${address}'`;
  return `(${
    address.map((part) => typeof part === "string" ? `'${part}'` : part)
      .join(", ")
  })`;
}

/**
 * asyncio's "Connect call failed ('127.0.0.1', 1)": the same error class as
 * Deno's, with the address in front of Deno's message and Deno's error as
 * the cause.
 */
function connectCallFailed(error: unknown, address: SocketAddress): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const Class = error.constructor as new (
    message: string,
    options?: ErrorOptions,
  ) => Error;
  try {
    const wrapped = new Class(
      `Connect call failed ${formatAddress(address)}: ${error.message}`,
      { cause: error },
    );
    if (wrapped instanceof Class && wrapped.name === error.name) return wrapped;
  } catch {
    // A class that cannot be built from a message: keep the original.
  }
  return error;
}

function connectError(errors: unknown[], allErrors: boolean): unknown {
  const list = errors.filter((e) => e !== undefined);
  if (allErrors) {
    return new AggregateError(list, "createConnection failed");
  }
  if (list.length === 1) return list[0];
  const messages = list.map(String);
  if (messages.every((m) => m === messages[0])) return list[0];
  return new AggregateError(
    list,
    `Multiple exceptions: ${messages.join(", ")}`,
  );
}

/** RFC 8305 interleaving: `first` addresses of the first family, then alternate. */
export function interleaveAddrinfos(infos: AddrInfo[], first = 1): AddrInfo[] {
  const byFamily = new Map<number, AddrInfo[]>();
  for (const info of infos) {
    const list = byFamily.get(info[0]);
    if (list === undefined) byFamily.set(info[0], [info]);
    else list.push(info);
  }
  const lists = [...byFamily.values()];
  const out: AddrInfo[] = [];
  if (lists.length === 0) return out;
  out.push(...lists[0].splice(0, Math.max(first - 1, 0)));
  let added = true;
  while (added) {
    added = false;
    for (const list of lists) {
      const next = list.shift();
      if (next !== undefined) {
        out.push(next);
        added = true;
      }
    }
  }
  return out;
}

function checkBacklog(backlog: unknown): number {
  if (backlog === undefined || backlog === null) return 100;
  if (typeof backlog !== "number" || !Number.isInteger(backlog)) {
    throw new TypeError(`backlog must be an integer, got ${String(backlog)}`);
  }
  if (backlog < 0) {
    throw new RangeError(`backlog must not be negative, got ${backlog}`);
  }
  return backlog;
}

/**
 * Binds `sock` to the first of `localInfos` of its family that can be
 * bound (asyncio's rule); otherwise throws the last bind error, or says no
 * local address matched the family.
 */
function bindLocal(sock: Socket, localInfos: AddrInfo[]): void {
  let last: unknown = null;
  for (const [family, , , , address] of localInfos) {
    if (family !== sock.family) continue;
    try {
      sock.bind(address as SocketAddress);
      return;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const Class = error instanceof Error
        ? error.constructor as new (message: string) => Error
        : Error;
      last = new Class(
        `error while attempting to bind on address ${
          JSON.stringify(address)
        }: ${message}`,
      );
    }
  }
  throw last ?? new Deno.errors.AddrNotAvailable(
    `no matching local address with family=${sock.family} found`,
  );
}
