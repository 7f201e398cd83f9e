/**
 * The loop core: handles, futures, tasks, the event loop classes, errors and
 * the running-loop functions, and the task functions (`gather`, `wait`,
 * `timeout`, `TaskGroup`, ...). Mirrors asyncio's `events`, `base_events`,
 * `futures`, `tasks`, `timeouts` and `taskgroups` modules.
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
  type Callback,
  type CreateTaskOptions,
  type ExceptionHandler,
  type TaskFactory,
} from "./abstract_loop.ts";
export { BaseEventLoop } from "./base_loop.ts";
export { Context } from "./context.ts";
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
} from "./addrinfo.ts";
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
} from "./socket.ts";
export { Server } from "./server.ts";
export type { CreateDatagramEndpointOptions } from "./datagram.ts";
export type { SendfileFile, SendfileOptions } from "./sendfile.ts";
export {
  createDefaultContext,
  SSLContext,
  type SSLContextOptions,
  type SSLPurpose,
} from "./ssl_context.ts";
export type { StartTlsOptions } from "./tls.ts";
export type { ExceptionContext } from "./exception_context.ts";
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
} from "./exceptions.ts";
export type { Executor } from "./executor.ts";
export { signalName, signalNumber, Signals } from "./signals.ts";
export {
  type ExecutorPromise,
  workerFunction,
  WorkerPoolExecutor,
  type WorkerPoolExecutorOptions,
} from "./worker_pool.ts";
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
} from "./combinators.ts";
export { ExceptionGroup, type ExceptionMatcher } from "./exception_group.ts";
export {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  Condition,
  Event,
  Lock,
  Semaphore,
} from "./locks.ts";
export {
  LifoQueue,
  PriorityQueue,
  type PriorityQueueOptions,
  Queue,
  QueueEmpty,
  QueueFull,
  type QueueOptions,
  QueueShutDown,
} from "./queues.ts";
export { TaskGroup, type TaskGroupCreateTaskOptions } from "./taskgroups.ts";
export { Timeout, timeout, timeoutAt } from "./timeouts.ts";
export {
  type DoneCallback,
  type DoneCallbackOptions,
  Future,
  type FutureOptions,
  isFuture,
} from "./futures.ts";
export { Handle, TimerHandle } from "./handles.ts";
export {
  DEVNULL,
  PIPE,
  type ReadablePipe,
  type StdioOption,
  STDOUT,
  type SubprocessExecArgs,
  type SubprocessOptions,
  type WritablePipe,
} from "./process.ts";
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
} from "./stream_helpers.ts";
export {
  type ClientConnectedCallback,
  DEFAULT_LIMIT,
  FlowControlMixin,
  type PausableTransport,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  type WritableTransport,
} from "./streams.ts";
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
} from "./subprocess.ts";
export { type Logger, logger } from "./log.ts";
export { getRunningLoop } from "./running.ts";
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
} from "./tasks.ts";
