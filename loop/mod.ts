/**
 * The event loop and everything under and over it: errors, the core
 * (handles, futures, tasks, the abstract and base loops), sockets and TLS,
 * processes and signals, executors, the event loop with its I/O, the task
 * functions, locks and queues, and streams. Mirrors asyncio's `events`,
 * `base_events`, `futures`, `tasks`, `timeouts`, `taskgroups`, `locks`,
 * `queues` and `streams` modules.
 *
 * **Room `loop`**: the files directly in `loop/` are the event loop and its
 * I/O features: `EventLoop`, TLS, datagram endpoints, sendfile and signal
 * handlers. Each feature module declares the narrow loop interface it needs.
 * They may import `loop/transports`, `loop/core` and every room below. This
 * entry point re-exports every `loop/` room.
 *
 * @example
 * ```ts
 * import { EventLoop } from "@aio/loop/loop";
 * import assert from "node:assert/strict";
 * const loop = new EventLoop();
 * assert.equal(await loop.runUntilComplete(async () => 1), 1);
 * loop.close();
 * ```
 *
 * @module
 */
export {
  AbstractEventLoop,
  AbstractServer,
  type Callback,
  type CreateTaskOptions,
  type ExceptionHandler,
  type LagStats,
  type LoopMetrics,
  type TaskFactory,
} from "./core/abstract_loop.ts";
export { BaseEventLoop } from "./core/base_loop.ts";
export { Context } from "./base/context.ts";
export {
  type CreateConnectionOptions,
  type CreateServerOptions,
  type CreateUnixConnectionOptions,
  type CreateUnixServerOptions,
  EventLoop,
  type FileLike,
  type GetaddrinfoOptions,
  type ProtocolFactory,
} from "./event_loop.ts";
export {
  type AddrInfo,
  AF_UNSPEC,
  AI_CANONNAME,
  AI_NUMERICHOST,
  AI_PASSIVE,
  IPPROTO_UDP,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  type SockAddr,
} from "./net/addrinfo.ts";
export {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  type InetAddress,
  IPPROTO_TCP,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_BROADCAST,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  Socket,
  socket,
  type SocketAddress,
  socketpair,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./net/socket.ts";
export { Server } from "./core/server.ts";
export type { CreateDatagramEndpointOptions } from "./datagram.ts";
export type { SendfileFile, SendfileOptions } from "./sendfile.ts";
export {
  createDefaultContext,
  SSLContext,
  type SSLContextOptions,
  type SSLPurpose,
} from "./net/ssl_context.ts";
export type { StartTlsOptions } from "./tls.ts";
export type { ExceptionContext } from "./base/exception_context.ts";
export {
  CancelledError,
  IncompleteReadError,
  InvalidStateError,
  KeyboardInterrupt,
  LimitOverrunError,
  NotImplementedError,
  RuntimeError,
  SendfileNotAvailableError,
  TimeoutError,
} from "./base/exceptions.ts";
export type { Executor } from "./executors/executor.ts";
export { signalName, signalNumber, Signals } from "./process/signals.ts";
export {
  type ExecutorPromise,
  workerFunction,
  WorkerPoolExecutor,
  type WorkerPoolExecutorOptions,
} from "./executors/worker_pool.ts";
export {
  ALL_COMPLETED,
  asCompleted,
  type AsCompletedIterator,
  type Awaitable,
  type AwaitableResult,
  type AwaitableResults,
  FIRST_COMPLETED,
  FIRST_EXCEPTION,
  gather,
  type GatherOptions,
  type ReturnWhen,
  shield,
  wait,
  waitFor,
  type WaitOptions,
} from "./concurrency/combinators.ts";
export {
  ExceptionGroup,
  type ExceptionMatcher,
} from "./base/exception_group.ts";
export {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  Condition,
  Event,
  Lock,
  Semaphore,
} from "./concurrency/locks.ts";
export {
  LifoQueue,
  PriorityQueue,
  type PriorityQueueOptions,
  Queue,
  QueueEmpty,
  QueueFull,
  type QueueOptions,
  QueueShutDown,
} from "./concurrency/queues.ts";
export {
  TaskGroup,
  type TaskGroupCreateTaskOptions,
} from "./concurrency/taskgroups.ts";
export { Timeout, timeout, timeoutAt } from "./concurrency/timeouts.ts";
export {
  type DoneCallback,
  type DoneCallbackOptions,
  Future,
  type FutureOptions,
  isFuture,
} from "./core/futures.ts";
export { Handle, TimerHandle } from "./core/handles.ts";
export {
  DEVNULL,
  PIPE,
  type ReadablePipe,
  type StdioOption,
  STDOUT,
  type SubprocessExecArgs,
  type SubprocessOptions,
  type WritablePipe,
} from "./process/process.ts";
export {
  openConnection,
  type OpenConnectionOptions,
  openUnixConnection,
  type OpenUnixConnectionOptions,
  startServer,
  type StartServerOptions,
  startUnixServer,
  type StartUnixServerOptions,
  type StreamLimitOptions,
} from "./streams/stream_helpers.ts";
export {
  type ClientConnectedCallback,
  DEFAULT_LIMIT,
  FlowControlMixin,
  type PausableTransport,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  type WritableTransport,
} from "./streams/streams.ts";
export {
  createSubprocessExec,
  type CreateSubprocessExecArgs,
  type CreateSubprocessOptions,
  createSubprocessShell,
  type ExecOptionsIn,
  type Piped,
  Process,
  type StdioIn,
  SubprocessStreamProtocol,
} from "./streams/subprocess.ts";
export { type Logger, logger } from "./base/log.ts";
export { getRunningLoop } from "./core/running.ts";
export {
  captureTaskTree,
  dumpTaskTreeOnSignal,
  formatTaskTree,
  type TaskTreeNode,
} from "./core/introspection.ts";
export {
  allTasks,
  type Coroutine,
  createEagerTaskFactory,
  createTask,
  currentTask,
  eagerTaskFactory,
  ensureFuture,
  sleep,
  Task,
  type TaskConstructor,
  type TaskOptions,
} from "./core/tasks.ts";
