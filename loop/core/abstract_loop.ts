/**
 * `AbstractEventLoop`: the interface every loop of this package implements.
 *
 * As in asyncio, every method of the base class raises `NotImplementedError`;
 * `BaseEventLoop` implements scheduling, running and error handling, and the
 * concrete `EventLoop` adds Deno I/O.
 *
 * **Room `loop/core`**: the loop's core: handles, the timer heap, the
 * readiness dispatcher, futures, tasks, the running-loop state, the abstract
 * loop with its option types, `Server`, and the base loop's scheduling. It
 * may import every room below it (`loop/base`, `loop/net`, `loop/process`,
 * `loop/executors`, `protocols`, `transports`), never the I/O implementation
 * above. Futures, tasks, the running state, the abstract loop and `Server`
 * refer to each other (see `tools/check_layers.ts`).
 *
 * @module
 */
import { NotImplementedError } from "../base/exceptions.ts";
import type { Context, Frame } from "../base/context.ts";
import type { ExceptionContext } from "../base/exception_context.ts";
import type { Executor } from "../executors/executor.ts";
import type { Future } from "./futures.ts";
import type { Server } from "./server.ts";
import type { Handle, ReadyItem, TimerHandle } from "./handles.ts";
import type { Coroutine, Task } from "./tasks.ts";
import type { AddrInfo, SockAddr } from "../net/addrinfo.ts";
import type { InetAddress, Socket, SocketAddress } from "../net/socket.ts";
import type { DatagramTransport } from "../../transports/transport.ts";
import type { SSLContext } from "../net/ssl_context.ts";
import type {
  CreateConnectionOptions,
  CreateDatagramEndpointOptions,
  CreateServerOptions,
  CreateUnixConnectionOptions,
  CreateUnixServerOptions,
  FileLike,
  GetaddrinfoOptions,
  SendfileFile,
  SendfileOptions,
  StartTlsOptions,
} from "./options.ts";
import type {
  BaseProtocol,
  ProtocolFactory,
} from "../../protocols/protocol.ts";
import type {
  ReadTransport,
  SubprocessTransport,
  Transport,
  WriteTransport,
} from "../../transports/transport.ts";
import type {
  ReadablePipe,
  SubprocessExecArgs,
  SubprocessOptions,
  WritablePipe,
} from "../process/process.ts";

/** A loop exception handler: `(loop, context) => void`. */
export type ExceptionHandler = (
  loop: AbstractEventLoop,
  context: ExceptionContext,
) => void;

/**
 * A task factory: `(loop, coro, { name, context }) => Future`. The options
 * are passed only when `createTask()` got a name or a context.
 */
export type TaskFactory = <T>(
  loop: AbstractEventLoop,
  coro: Coroutine<T>,
  options?: { name?: string | null; context?: Context | null },
) => Future<T>;

/** Options of `createTask`. */
export interface CreateTaskOptions {
  /** The task's name. */
  name?: string | null;
  /** The async context to run the coroutine in. */
  context?: Context | null;
}

/** A callback scheduled on a loop: any function; its result is ignored. */
// deno-lint-ignore no-explicit-any
export type Callback = (...args: any[]) => unknown;

/** What `loop.metrics()` returns. */
export interface LoopMetrics {
  /** Iterations run since the last reset. */
  iterations: number;
  /** Callbacks run since the last reset (cancelled ones not counted). */
  callbacks: number;
  /** Callbacks in the ready queue now. */
  ready: number;
  /** Timers pending now (cancelled ones not counted). */
  timers: number;
  /** I/O operations by kind of resource: in flight, and waiting on a peer. */
  io: Record<string, { inFlight: number; waiting: number }>;
  /** How late timers and callbacks ran (seconds), while `measureLag()` is on. */
  lag: LagStats | null;
}

/** Loop lag since the last reset, in seconds. */
export interface LagStats {
  /** How many lateness samples were taken. */
  samples: number;
  /** The least lateness. */
  min: number;
  /** The mean. */
  mean: number;
  /** The median. */
  p50: number;
  /** The 99th percentile. */
  p99: number;
  /** The greatest lateness. */
  max: number;
}

function notImplemented(name: string, owner = "event loop"): never {
  throw new NotImplementedError(
    `${name}() is not implemented by this ${owner} class`,
  );
}

/** A server's methods name the server class in their refusal. */
function serverNotImplemented(name: string): never {
  return notImplemented(name, "server");
}

/**
 * The abstract event loop. Mirrors `asyncio.AbstractEventLoop`: subclass it
 * to write a loop of your own; use `EventLoop` (or `newEventLoop()`) to get
 * a working one.
 *
 * @example Checking that an object is a loop
 * ```ts
 * import { AbstractEventLoop, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * assert(loop instanceof AbstractEventLoop);
 * loop.close();
 * ```
 */
export class AbstractEventLoop {
  /**
   * Callbacks that take longer than this (seconds) are logged in debug mode.
   * Mirrors `loop.slow_callback_duration`.
   */
  slowCallbackDuration = 0.1;

  /** Runs until `stop()` is called. Mirrors `loop.run_forever()`. */
  runForever(): Promise<void> {
    return notImplemented("runForever");
  }

  /** Runs until `future` is done; resolves with its result. */
  runUntilComplete<T>(_future: Future<T> | Coroutine<T>): Promise<T> {
    return notImplemented("runUntilComplete");
  }

  /** Stops the loop after the current batch of callbacks. */
  stop(): void {
    notImplemented("stop");
  }

  /** Whether the loop is running. */
  isRunning(): boolean {
    return notImplemented("isRunning");
  }

  /** Whether the loop was closed. */
  isClosed(): boolean {
    return notImplemented("isClosed");
  }

  /** Closes the loop. */
  close(): void {
    notImplemented("close");
  }

  /** Closes the loop at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes all open asynchronous generators. */
  shutdownAsyncgens(): Promise<void> {
    return notImplemented("shutdownAsyncgens");
  }

  /** Shuts down the default executor. */
  shutdownDefaultExecutor(_timeout?: number | null): Promise<void> {
    return notImplemented("shutdownDefaultExecutor");
  }

  /** Schedules `callback(...args)` for the next iteration. */
  callSoon(_callback: Callback, ..._args: unknown[]): Handle {
    return notImplemented("callSoon");
  }

  /** `callSoon` for use from outside the loop's callbacks and tasks. */
  callSoonThreadsafe(_callback: Callback, ..._args: unknown[]): Handle {
    return notImplemented("callSoonThreadsafe");
  }

  /** Schedules `callback(...args)` after `delay` seconds. */
  callLater(
    _delay: number,
    _callback: Callback,
    ..._args: unknown[]
  ): TimerHandle {
    return notImplemented("callLater");
  }

  /** Schedules `callback(...args)` at loop time `when`. */
  callAt(_when: number, _callback: Callback, ..._args: unknown[]): TimerHandle {
    return notImplemented("callAt");
  }

  /** The loop's monotonic time, in seconds. */
  time(): number {
    return notImplemented("time");
  }

  /** Creates a future bound to this loop. */
  createFuture<T = unknown>(): Future<T> {
    return notImplemented("createFuture");
  }

  /** Schedules a coroutine as a task. */
  createTask<T>(
    _coro: Coroutine<T>,
    _options?: CreateTaskOptions,
  ): Task<T> {
    return notImplemented("createTask");
  }

  /** Sets the task factory (null restores the default). */
  setTaskFactory(_factory: TaskFactory | null): void {
    notImplemented("setTaskFactory");
  }

  /** The task factory, or null for the default. */
  getTaskFactory(): TaskFactory | null {
    return notImplemented("getTaskFactory");
  }

  /** Sets the exception handler (null restores the default). */
  setExceptionHandler(_handler: ExceptionHandler | null): void {
    notImplemented("setExceptionHandler");
  }

  /** The exception handler, or null for the default. */
  getExceptionHandler(): ExceptionHandler | null {
    return notImplemented("getExceptionHandler");
  }

  /** The default exception handler: logs the context. */
  defaultExceptionHandler(_context: ExceptionContext): void {
    notImplemented("defaultExceptionHandler");
  }

  /** Calls the current exception handler with `context`. */
  callExceptionHandler(_context: ExceptionContext): void {
    notImplemented("callExceptionHandler");
  }

  /** Whether debug mode is on. */
  getDebug(): boolean {
    return notImplemented("getDebug");
  }

  /** Turns debug mode on or off. */
  setDebug(_enabled: boolean): void {
    notImplemented("setDebug");
  }

  /** Runs `func(...args)` in an executor; a future of its result. */
  runInExecutor<T>(
    _executor: Executor | null,
    _func: (...args: never[]) => T | PromiseLike<T>,
    ..._args: unknown[]
  ): Future<Awaited<T>> {
    return notImplemented("runInExecutor");
  }

  /** Sets the executor `runInExecutor(null, ...)` uses. */
  setDefaultExecutor(_executor: Executor): void {
    notImplemented("setDefaultExecutor");
  }

  // ---- Unix signals (implemented by EventLoop) ----------------------------

  /** Runs `callback(...args)` on the loop whenever `sig` arrives. */
  addSignalHandler(
    _sig: string | number,
    _callback: (...args: never[]) => unknown,
    ..._args: unknown[]
  ): void {
    notImplemented("addSignalHandler");
  }

  /** Removes the handler for `sig`; whether one was installed. */
  removeSignalHandler(_sig: string | number): boolean {
    return notImplemented("removeSignalHandler");
  }

  // ---- I/O (implemented by EventLoop) -----------------------------------

  /** Watches `fd` for reading. */
  addReader(
    _fd: FileLike,
    _callback: (...args: never[]) => unknown,
    ..._args: unknown[]
  ): Handle {
    return notImplemented("addReader");
  }

  /** Stops watching `fd` for reading; whether it was watched. */
  removeReader(_fd: FileLike): boolean {
    return notImplemented("removeReader");
  }

  /** Watches `fd` for writing. */
  addWriter(
    _fd: FileLike,
    _callback: (...args: never[]) => unknown,
    ..._args: unknown[]
  ): Handle {
    return notImplemented("addWriter");
  }

  /** Stops watching `fd` for writing; whether it was watched. */
  removeWriter(_fd: FileLike): boolean {
    return notImplemented("removeWriter");
  }

  /** Receives up to `nbytes` from `sock`. */
  sockRecv(_sock: Socket, _nbytes: number): Promise<Uint8Array> {
    return notImplemented("sockRecv");
  }

  /** Receives into `buf`; the count. */
  sockRecvInto(_sock: Socket, _buf: Uint8Array): Promise<number> {
    return notImplemented("sockRecvInto");
  }

  /** Sends all of `data`. */
  sockSendall(_sock: Socket, _data: Uint8Array): Promise<void> {
    return notImplemented("sockSendall");
  }

  /** Connects `sock` to `address`. */
  sockConnect(_sock: Socket, _address: SocketAddress): Promise<void> {
    return notImplemented("sockConnect");
  }

  /** Accepts a connection on a listening `sock`. */
  sockAccept<A extends SocketAddress>(
    _sock: Socket<A>,
  ): Promise<[Socket<A>, A]> {
    return notImplemented("sockAccept");
  }

  /** Receives a datagram and its sender from `sock`. */
  sockRecvfrom<A extends SocketAddress>(
    _sock: Socket<A>,
    _bufsize: number,
  ): Promise<[Uint8Array, A]> {
    return notImplemented("sockRecvfrom");
  }

  /** Receives a datagram into `buf`: `[count, sender]`. */
  sockRecvfromInto<A extends SocketAddress>(
    _sock: Socket<A>,
    _buf: Uint8Array,
    _nbytes?: number,
  ): Promise<[number, A]> {
    return notImplemented("sockRecvfromInto");
  }

  /** Sends a datagram to `address`; the bytes sent. */
  sockSendto(
    _sock: Socket,
    _data: Uint8Array,
    _address: SocketAddress,
  ): Promise<number> {
    return notImplemented("sockSendto");
  }

  /** Sends a file over a stream socket; the bytes sent. */
  sockSendfile(
    _sock: Socket,
    _file: Deno.FsFile | SendfileFile,
    _offset?: number,
    _count?: number | null,
    _options?: SendfileOptions,
  ): Promise<number> {
    return notImplemented("sockSendfile");
  }

  /** Sends a file over a transport; the bytes sent. */
  sendfile(
    _transport: Transport,
    _file: Deno.FsFile | SendfileFile,
    _offset?: number,
    _count?: number | null,
    _options?: SendfileOptions,
  ): Promise<number> {
    return notImplemented("sendfile");
  }

  /** Opens a datagram endpoint: `[transport, protocol]`. */
  createDatagramEndpoint<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _localAddr?: SocketAddress | null,
    _remoteAddr?: SocketAddress | null,
    _options?: CreateDatagramEndpointOptions,
  ): Promise<[DatagramTransport, P]> {
    return notImplemented("createDatagramEndpoint");
  }

  /** The loop's counts and lag (an aioloop extension; see BaseEventLoop). */
  metrics(): LoopMetrics {
    return notImplemented("metrics");
  }

  /** Starts the counts of `metrics()` again (an aioloop extension). */
  resetMetrics(): void {
    notImplemented("resetMetrics");
  }

  /** Turns lag measuring on or off (an aioloop extension). */
  measureLag(_on: boolean, _interval?: number): void {
    notImplemented("measureLag");
  }

  /** Resolves a host and port. */
  getaddrinfo(
    _host: string | null | undefined,
    _port: number | string | null | undefined,
    _options?: GetaddrinfoOptions,
  ): Promise<AddrInfo[]> {
    return notImplemented("getaddrinfo");
  }

  /** Turns an address into host and service names. */
  getnameinfo(_sockaddr: SockAddr, _flags?: number): Promise<[string, string]> {
    return notImplemented("getnameinfo");
  }

  /** Opens a stream connection to `host`:`port`. */
  createConnection<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _host?: string | null,
    _port?: number | string | null,
    _options?: CreateConnectionOptions,
  ): Promise<[Transport, P]> {
    return notImplemented("createConnection");
  }

  /** Listens on `host`:`port`. */
  createServer(
    _protocolFactory: ProtocolFactory,
    _host?: string | string[] | null,
    _port?: number | string | null,
    _options?: CreateServerOptions,
  ): Promise<Server<InetAddress>> {
    return notImplemented("createServer");
  }

  /** Opens a Unix socket connection. */
  createUnixConnection<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _path?: string | null,
    _options?: CreateUnixConnectionOptions,
  ): Promise<[Transport, P]> {
    return notImplemented("createUnixConnection");
  }

  /** Listens on a Unix socket path. */
  createUnixServer(
    _protocolFactory: ProtocolFactory,
    _path?: string | null,
    _options?: CreateUnixServerOptions,
  ): Promise<Server<string>> {
    return notImplemented("createUnixServer");
  }

  /** Connects the read end of a pipe (a stream or `.readable`). */
  connectReadPipe<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _pipe: ReadablePipe,
  ): Promise<[ReadTransport, P]> {
    return notImplemented("connectReadPipe");
  }

  /** Connects the write end of a pipe (a stream or `.writable`). */
  connectWritePipe<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _pipe: WritablePipe,
  ): Promise<[WriteTransport, P]> {
    return notImplemented("connectWritePipe");
  }

  /** Runs `program` with `args` (and a trailing options object). */
  subprocessExec<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _program: string | URL | Uint8Array,
    ..._args: SubprocessExecArgs
  ): Promise<[SubprocessTransport, P]> {
    return notImplemented("subprocessExec");
  }

  /** Runs `cmd` with `/bin/sh -c`. */
  subprocessShell<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _cmd: string | Uint8Array,
    _options?: SubprocessOptions,
  ): Promise<[SubprocessTransport, P]> {
    return notImplemented("subprocessShell");
  }

  /** Wraps an accepted connection in a transport and protocol. */
  connectAcceptedSocket<P extends BaseProtocol>(
    _protocolFactory: ProtocolFactory<P>,
    _sock: Socket,
    _options?: { ssl?: unknown },
  ): Promise<[Transport, P]> {
    return notImplemented("connectAcceptedSocket");
  }

  /** Upgrades an existing connection to TLS. Mirrors `loop.start_tls()`. */
  startTls(
    _transport: Transport,
    _protocol: BaseProtocol,
    _sslcontext: SSLContext,
    _options?: StartTlsOptions,
  ): Promise<Transport | null> {
    return notImplemented("startTls");
  }

  /** @ignore Schedules a callback in a given frame (no validation). */
  _callSoonFrame(_callback: Callback, _args: unknown[], _frame: Frame): void {
    notImplemented("_callSoonFrame");
  }

  /** @ignore Appends an already-built handle (or a task) to the ready queue. */
  _pushHandle(_handle: ReadyItem): void {
    notImplemented("_pushHandle");
  }

  /** @ignore Holds a strong reference to a live task. */
  _registerTask(_task: Task<unknown>): void {
    notImplemented("_registerTask");
  }

  /** @ignore Drops the reference to a finished task. */
  _unregisterTask(_task: Task<unknown>): void {
    notImplemented("_unregisterTask");
  }

  /** @ignore The live tasks. */
  _allTasks(): Iterable<Task<unknown>> {
    return notImplemented("_allTasks");
  }

  /** @ignore Bookkeeping for a cancelled timer. */
  _timerHandleCancelled(_handle: TimerHandle): void {
    notImplemented("_timerHandleCancelled");
  }
}

/**
 * A server, as the loop's `createServer` and `createUnixServer` return it.
 * Mirrors `asyncio.AbstractServer`, with `sockets` added so that a server
 * reached through the abstract loop still shows its listening sockets.
 * `Server` implements it.
 *
 * @example
 * ```ts
 * import { AbstractServer, getRunningLoop, Protocol, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   await using server = await getRunningLoop().createServer(
 *     () => new Protocol(),
 *     "127.0.0.1",
 *     0,
 *   );
 *   assert(server instanceof AbstractServer);
 *   const [host] = server.sockets[0].getsockname();
 *   assert.equal(host, "127.0.0.1");
 * });
 * ```
 */
export class AbstractServer<A extends SocketAddress = SocketAddress>
  implements AsyncDisposable {
  /** The loop the server belongs to. Mirrors `get_loop()`. */
  getLoop(): AbstractEventLoop {
    return serverNotImplemented("getLoop");
  }

  /** Whether the server is accepting connections. Mirrors `is_serving()`. */
  isServing(): boolean {
    return serverNotImplemented("isServing");
  }

  /** The listening sockets (empty once closed). */
  get sockets(): Socket<A>[] {
    return serverNotImplemented("sockets");
  }

  /** Stops listening; connections already made stay open. */
  close(): void {
    serverNotImplemented("close");
  }

  /** Closes every connection the server made. Mirrors `close_clients()`. */
  closeClients(): void {
    serverNotImplemented("closeClients");
  }

  /** Aborts every connection the server made. Mirrors `abort_clients()`. */
  abortClients(): void {
    serverNotImplemented("abortClients");
  }

  /** Starts accepting connections. Mirrors `start_serving()`. */
  startServing(): Promise<void> {
    return serverNotImplemented("startServing");
  }

  /** Accepts connections until cancelled. Mirrors `serve_forever()`. */
  serveForever(): Promise<void> {
    return serverNotImplemented("serveForever");
  }

  /** Resolves once the server is closed. Mirrors `wait_closed()`. */
  waitClosed(): Promise<void> {
    return serverNotImplemented("waitClosed");
  }

  /** Closes the server and waits for it (`await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.waitClosed();
  }
}
