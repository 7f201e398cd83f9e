/**
 * The readiness dispatcher: one per loop, the single place where the outside
 * world (I/O completions, process exits, signals, worker messages, wake-ups
 * from plain promise callbacks) reaches the loop.
 *
 * Deno's I/O completes rather than signals readiness, so a backend keeps an
 * operation in flight and, when it completes, posts an event here. Events are
 * only queued: the loop drains them at the start of an iteration and turns each
 * into a ready callback, so protocols are always called from the loop's ready
 * queue. Each resource talks to the dispatcher through a `Registration`, which
 * counts its operations in flight; the virtual-clock loop only jumps time when
 * no registration has anything in flight.
 *
 * @module
 */
import { emptyArray } from "../base/arrays.ts";
import { captureFrame, type Frame } from "../base/context.ts";
import type { ReadyItem } from "./handles.ts";

// deno-lint-ignore no-explicit-any
type Callback = (...args: any[]) => unknown;

/** The link between one resource and its loop's dispatcher. */
export class Registration {
  #dispatcher: Dispatcher;
  #inFlight = 0;
  #waiting = 0;
  #closed = false;
  #frame: Frame;
  /**
   * What the resource does when its loop closes with the resource still
   * open: release what it holds (a socket, a pipe, a child) without calling
   * anything on the loop. The loop cannot run its callbacks any more, and
   * nothing it opened may outlive it or keep the process alive.
   */
  onLoopClose: (() => void) | null = null;

  /**
   * Created by {@linkcode Dispatcher.register}. Events run in the async
   * context current at registration (as a reader callback runs in the
   * context of `addReader`).
   */
  constructor(dispatcher: Dispatcher, readonly name: string, frame: Frame) {
    this.#dispatcher = dispatcher;
    this.#frame = frame;
  }

  /** Marks the start of an operation whose completion will be posted. */
  begin(): void {
    if (this.#closed) return;
    this.#inFlight++;
    this.#dispatcher._adjust(1);
  }

  /** Marks the end of an operation started with {@linkcode begin}. */
  end(): void {
    if (this.#inFlight === 0) return;
    this.#inFlight--;
    this.#dispatcher._adjust(-1);
  }

  /** Posts an event: `callback(...args)` runs on the loop's next iteration. */
  post(callback: Callback, ...args: unknown[]): void {
    if (!this.#closed) this.#dispatcher._postIn(this.#frame, callback, args);
  }

  /**
   * Posts an event that is a ready item the resource keeps and posts again
   * (its `_run()` runs on the loop's next iteration, in its `_frame`): a
   * resource's most frequent event without an allocation each time.
   */
  postItem(item: ReadyItem): void {
    if (!this.#closed) this.#dispatcher._postItem(item);
  }

  /**
   * Marks the start of a read (or accept) that waits on a peer: it may
   * never complete, so it does not hold the virtual clock, but the clock
   * waits for the network to be quiet before it jumps.
   */
  beginWait(): void {
    if (this.#closed) return;
    this.#waiting++;
    this.#dispatcher._adjustWaiting(1);
  }

  /** Marks the end of an operation started with {@linkcode beginWait}. */
  endWait(): void {
    if (this.#waiting === 0) return;
    this.#waiting--;
    this.#dispatcher._adjustWaiting(-1);
  }

  /** Posts an event that runs in the async context `frame`. */
  postIn(frame: Frame, callback: Callback, ...args: unknown[]): void {
    if (!this.#closed) this.#dispatcher._postIn(frame, callback, args);
  }

  /** Whether {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Operations in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Operations waiting on a peer. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Detaches the resource; operations still in flight no longer count. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onLoopClose = null;
    this.#dispatcher._adjust(-this.#inFlight);
    this.#inFlight = 0;
    this.#dispatcher._adjustWaiting(-this.#waiting);
    this.#waiting = 0;
    this.#dispatcher._unregister(this);
  }
}

/** One loop's event queue and in-flight bookkeeping (package-internal). */
export class Dispatcher {
  #events: unknown[] = [];
  /** The queue `drain()` swaps in, kept with its storage. */
  #spareEvents: unknown[] = [];
  #inFlight = 0;
  #waiting = 0;
  #posted = 0;
  #registrations = new Set<Registration>();
  #wake: () => void;

  /** @param wake Called when an event arrives while the loop may be waiting. */
  constructor(wake: () => void) {
    this.#wake = wake;
  }

  /** Registers a resource. */
  register(name: string, frame: Frame = captureFrame()): Registration {
    const registration = new Registration(this, name, frame);
    this.#registrations.add(registration);
    return registration;
  }

  /** Queues `callback(...args)` for the loop and wakes it. */
  post(callback: Callback, ...args: unknown[]): void {
    this.#posted++;
    this.#events.push(callback, args, captureFrame());
    this.#wake();
  }

  /** @internal Queues an event to run in a given async context. */
  _postIn(frame: Frame, callback: Callback, args: unknown[]): void {
    this.#posted++;
    this.#events.push(callback, args, frame);
    this.#wake();
  }

  /** @internal Queues a ready item (see `Registration.postItem`). */
  _postItem(item: ReadyItem): void {
    this.#posted++;
    this.#events.push(item, null, undefined);
    this.#wake();
  }

  /** Number of operations in flight across all registrations. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Whether events are waiting to be drained. */
  get hasEvents(): boolean {
    return this.#events.length !== 0;
  }

  /** Number of live registrations. */
  get registrations(): number {
    return this.#registrations.size;
  }

  /**
   * Hands every queued event to `schedule` (a ready item posted with
   * `postItem` to `scheduleItem`) and empties the queue.
   */
  drain(
    schedule: (callback: Callback, args: unknown[], frame: Frame) => void,
    scheduleItem: (item: ReadyItem) => void,
  ): void {
    const events = this.#events;
    if (events.length === 0) return;
    // What the callbacks post meanwhile goes to the spare queue.
    this.#events = this.#spareEvents;
    let i = 0;
    try {
      for (; i < events.length; i += 3) {
        const args = events[i + 1] as unknown[] | null;
        if (args === null) scheduleItem(events[i] as ReadyItem);
        else schedule(events[i] as Callback, args, events[i + 2]);
      }
    } finally {
      if (i < events.length) {
        // `schedule` threw: the events after the one it threw on stay
        // queued, ahead of those posted since, and the queues stay two.
        const posted = this.#events;
        this.#events = events.slice(i + 3).concat(posted);
        emptyArray(posted);
        this.#spareEvents = posted;
      } else {
        emptyArray(events);
        this.#spareEvents = events;
      }
    }
  }

  /**
   * Drops queued events, has every resource still registered release what
   * it holds (its `onLoopClose`), and closes every registration. Returns
   * the errors the releases threw.
   */
  close(): unknown[] {
    this.#events = [];
    const errors: unknown[] = [];
    for (const registration of [...this.#registrations]) {
      const release = registration.onLoopClose;
      registration.onLoopClose = null;
      try {
        release?.();
      } catch (error) {
        errors.push(error);
      }
      registration.close();
    }
    return errors;
  }

  /** Reads and accepts waiting on peers (see `Registration.beginWait`). */
  get waiting(): number {
    return this.#waiting;
  }

  /** Increments every time an event is posted. */
  get posted(): number {
    return this.#posted;
  }

  /** @internal */
  _adjustWaiting(delta: number): void {
    this.#waiting += delta;
  }

  /** @internal */
  _adjust(delta: number): void {
    this.#inFlight += delta;
  }

  /** @internal */
  /** Operations in flight and waiting, by registration name. */
  byKind(): Map<string, { inFlight: number; waiting: number }> {
    const kinds = new Map<string, { inFlight: number; waiting: number }>();
    for (const registration of this.#registrations) {
      const { inFlight, waiting } = registration;
      if (inFlight === 0 && waiting === 0) continue;
      const counts = kinds.get(registration.name) ??
        { inFlight: 0, waiting: 0 };
      counts.inFlight += inFlight;
      counts.waiting += waiting;
      kinds.set(registration.name, counts);
    }
    return kinds;
  }

  _unregister(registration: Registration): void {
    this.#registrations.delete(registration);
  }
}
