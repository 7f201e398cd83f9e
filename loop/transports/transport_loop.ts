/**
 * The loop as the concrete transports see it: the few calls they make,
 * declared here so that transports depend on this narrow interface rather
 * than on a concrete loop class. `BaseEventLoop` provides all of them.
 *
 * @module
 */
import type { ExceptionContext } from "../base/exception_context.ts";
import type { Callback } from "../core/abstract_loop.ts";
import type { Dispatcher } from "../core/dispatcher.ts";
import type { Future } from "../core/futures.ts";
import type {
  Handle,
  HandleOwner,
  ReadyItem,
  TimerHandle,
} from "../core/handles.ts";

/** What a transport needs of its loop. */
export interface TransportLoop extends HandleOwner {
  /** Schedules `callback(...args)` for the next iteration. */
  callSoon(callback: Callback, ...args: unknown[]): Handle;
  /** Schedules `callback(...args)` after `delay` seconds. */
  callLater(delay: number, callback: Callback, ...args: unknown[]): TimerHandle;
  /** Queues a ready item the caller keeps for the next iteration. */
  _pushHandle(item: ReadyItem): void;
  /** A new future of this loop. */
  createFuture<T = unknown>(): Future<T>;
  /** Whether debug mode is on. */
  getDebug(): boolean;
  /** Reports an error the transport cannot raise to anyone. */
  callExceptionHandler(context: ExceptionContext): void;
  /** The readiness dispatcher its I/O completions post to. */
  readonly _dispatcher: Dispatcher;
}
