/**
 * `Future`: a result that will exist later, awaitable with `await`.
 *
 * A Future is a thenable. When a task's coroutine awaits one, V8 calls `then`
 * inside the task's async context; that is how the task learns which future
 * it waits on, so that `task.cancel()` can cancel it (see `tasks.ts`). Done
 * callbacks, including the one that resumes an `await`, run through the loop's
 * `callSoon`, as asyncio's do: an `await` resumes one loop iteration after the
 * future completes.
 *
 * @module
 */
import type { WaitInfo } from "./wait_labels.ts";
import {
  captureFrame,
  type Context,
  type Frame,
  frameOf,
} from "../base/context.ts";
import { CancelledError, InvalidStateError } from "../base/exceptions.ts";
import { creationPlace, describe } from "../base/format.ts";
import { _getEventLoop, contextTask, state, stepSuspended } from "./running.ts";
import type { AbstractEventLoop } from "./abstract_loop.ts";
import type { Task } from "./tasks.ts";

/** @internal */ export const PENDING = 0;
/** @internal */ export const FINISHED = 1;
/** @internal */ export const CANCELLED = 2;
const STATE_NAMES = ["PENDING", "FINISHED", "CANCELLED"];

/** The futures whose description is being made (see `toString`). */
const describing = new Set<Future<unknown>>();

/** A done callback: called with the future once it is done. */
export type DoneCallback<T> = (future: Future<T>) => unknown;

interface Unretrieved {
  loop: AbstractEventLoop;
  message: string;
  /** A primitive exception (it cannot lead back to the future). */
  value: unknown;
  /** An object exception, held weakly (see below). */
  ref: WeakRef<object> | null;
  /** Its name and message, to stand in for it once collected. */
  snapshot: { name: string; message: string } | null;
  description: string;
  sourceTraceback: string | undefined;
  /** The future's entry in its loop's `unreported` set. */
  token: WeakRef<Future<unknown>>;
}

// A future whose exception nobody retrieved is reported when it is collected,
// as asyncio reports it from `__del__`. The held value must not reference the
// future, or it would never be collected; nor may it hold the exception
// strongly, since an error's captured stack keeps the frames' closures alive,
// and a closure (the callback that failed the future) may hold the future.
// So the exception is held weakly: when it died with the future, the report
// carries an Error rebuilt from its name and message. (Its stack is not kept:
// formatting a stack costs tens of microseconds, too much to pay on every
// failed future for a report that is rarely made.)
const unretrieved = new FinalizationRegistry<Unretrieved>(reportCollected);

/**
 * Reports a collected future's exception, unless its loop's `close()`
 * already did (the future was collected but its finalizer had not run yet).
 */
function reportCollected(info: Unretrieved): void {
  if (unreported.get(info.loop)?.delete(info.token) !== true) return;
  let exception = info.ref === null ? info.value : info.ref.deref();
  if (exception === undefined && info.snapshot !== null) {
    const rebuilt = new Error(info.snapshot.message);
    rebuilt.name = info.snapshot.name;
    rebuilt.stack = `${rebuilt.name}: ${rebuilt.message}\n    ` +
      "(stack not kept: the error was collected with its future)";
    exception = rebuilt;
  }
  const context: Record<string, unknown> = {
    message: info.message,
    exception,
    future: info.description,
  };
  if (info.sourceTraceback !== undefined) {
    context.sourceTraceback = info.sourceTraceback;
  }
  info.loop.callExceptionHandler(context as { message: string });
}

// The garbage collector may never run in a short program, or in a server
// that idles, so each loop also keeps (weakly) its futures whose exception
// is still unretrieved: `close()` reports them; in debug mode each one is
// reported once it has stayed unretrieved for `slowCallbackDuration`; and a
// missing permission (`Deno.errors.NotCapable`) is reported as soon as the
// future's done callbacks have run without retrieving it.
const unreported = new WeakMap<
  AbstractEventLoop,
  Map<WeakRef<Future<unknown>>, Unretrieved>
>();

/**
 * Reports every future of `loop` whose exception was never retrieved, as
 * the garbage collector would, and forgets them. `close()` calls it.
 *
 * @ignore
 */
export function reportUnretrieved(loop: AbstractEventLoop): void {
  const entries = unreported.get(loop);
  if (entries === undefined) return;
  for (const [token, info] of [...entries]) {
    const future = token.deref();
    if (future === undefined) reportCollected(info);
    else future._reportUnretrieved();
  }
}

/** What stands in for a collected exception in a never-retrieved report. */
function snapshotOf(exception: object): { name: string; message: string } {
  return exception instanceof Error
    ? { name: exception.name, message: exception.message }
    : { name: "Error", message: describe(exception) };
}

const inspect = Symbol.for("Deno.customInspect");

/**
 * The loop of a future made without `{ loop }`: the running or current one.
 * Only this path looks at `options` itself, so a stray positional argument
 * (`new Future(42)`, which asyncio refuses) is refused here, off the path of
 * `loop.createFuture()`.
 */
function defaultLoop(options: unknown): AbstractEventLoop {
  if (options != null && typeof options !== "object") {
    throw new TypeError(
      `Future options must be an object like { loop }, not ${
        describe(options)
      }`,
    );
  }
  return _getEventLoop();
}

/** Options of the `Future` constructor. */
export interface FutureOptions {
  /** The loop the future belongs to (default: the running or current loop). */
  loop?: AbstractEventLoop;
}

/** Options of `addDoneCallback`. */
export interface DoneCallbackOptions {
  /** The async context the callback runs in (default: the current one). */
  context?: Context | null;
}

/**
 * A result that will exist later. Mirrors `asyncio.Future`: `result()`,
 * `exception()`, `setResult()`, `setException()`, `cancel(msg)`, done
 * callbacks run through the loop, and `await future`.
 *
 * @typeParam T The type of the result.
 * @example Resolving a future from a callback and awaiting it
 * ```ts
 * import { run, getRunningLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const value = await run(async () => {
 *   const loop = getRunningLoop();
 *   const fut = loop.createFuture<number>();
 *   loop.callSoon(() => fut.setResult(42));
 *   return await fut;
 * });
 * assert.equal(value, 42);
 * ```
 */
export class Future<T = unknown> implements PromiseLike<T> {
  /** @ignore */ _state = PENDING;
  /** @ignore */ _result: T | undefined = undefined;
  /** @ignore */ _exception: unknown = undefined;
  /** @ignore Finished with an exception (any thrown value, even undefined). */
  _failed = false;
  /** @ignore */ _loop: AbstractEventLoop;
  /**
   * @ignore Pending done callbacks and their frames, interleaved; a lone
   * awaiter (the usual case) is kept as itself, with its frame.
   */
  _callbacks: unknown[] | Awaiter | null = null;
  /** @ignore */ _cancelMessage: string | undefined = undefined;
  /** @ignore */ _cancelledExc: CancelledError | null = null;
  /** @ignore */ _logTraceback = false;
  /** @ignore */ _sourceTraceback: string | undefined = undefined;
  /** @ignore This future's entry in its loop's unreported set. */
  _unreportedToken: WeakRef<Future<unknown>> | null = null;
  /** @ignore What waiting on it means, for the task tree (see wait_labels). */
  _waitInfo: WaitInfo | null = null;
  /** Marks asyncio-compatible futures (asyncio's duck-typing attribute). */
  _asyncioFutureBlocking = false;

  /**
   * Creates a pending future; `loop.createFuture()` is the usual way.
   *
   * @param options `loop`: the loop it belongs to.
   */
  constructor(options?: FutureOptions) {
    this._loop = options?.loop ?? defaultLoop(options);
    if (this._loop.getDebug()) {
      this._sourceTraceback = new Error().stack?.split("\n").slice(2).join(
        "\n",
      );
    }
  }

  /**
   * The loop the future is bound to. Mirrors `Future.get_loop()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * assert.equal(loop.createFuture().getLoop(), loop);
   * loop.close();
   * ```
   */
  getLoop(): AbstractEventLoop {
    return this._loop;
  }

  /**
   * Whether the future is done (has a result, an exception, or was
   * cancelled). Mirrors `Future.done()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<number>();
   * fut.setResult(1);
   * assert(fut.done());
   * loop.close();
   * ```
   */
  done(): boolean {
    return this._state !== PENDING;
  }

  /**
   * Whether the future was cancelled. Mirrors `Future.cancelled()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * fut.cancel();
   * assert(fut.cancelled());
   * loop.close();
   * ```
   */
  cancelled(): boolean {
    return this._state === CANCELLED;
  }

  /**
   * The result. Mirrors `Future.result()`.
   *
   * @throws {CancelledError} if the future was cancelled.
   * @throws {InvalidStateError} if it is not done yet.
   * @throws the future's exception, if it has one.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<string>();
   * fut.setResult("ok");
   * assert.equal(fut.result(), "ok");
   * loop.close();
   * ```
   */
  result(): T {
    if (this._state === CANCELLED) throw this._makeCancelledError();
    if (this._state !== FINISHED) {
      throw new InvalidStateError("Result is not ready.");
    }
    this._clearLogTraceback();
    if (this._failed) throw this._exception;
    return this._result as T;
  }

  /**
   * The exception set on the future, or null if it finished with a result.
   * Mirrors `Future.exception()`.
   *
   * @throws {CancelledError} if the future was cancelled.
   * @throws {InvalidStateError} if it is not done yet.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * fut.setException(new Error("bad"));
   * assert.equal((fut.exception() as Error).message, "bad");
   * loop.close();
   * ```
   */
  exception(): unknown {
    if (this._state === CANCELLED) throw this._makeCancelledError();
    if (this._state !== FINISHED) {
      throw new InvalidStateError("Exception is not set.");
    }
    this._clearLogTraceback();
    return this._failed ? this._exception : null;
  }

  /**
   * Adds a callback to run (through the loop) when the future is done; if it
   * is already done, the callback is scheduled at once. Mirrors
   * `Future.add_done_callback()`.
   *
   * @param callback Called with the future.
   * @param options `context`: the async context to run it in.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<number>();
   * const seen: number[] = [];
   * fut.addDoneCallback((f) => seen.push(f.result()));
   * fut.setResult(7);
   * await loop.runUntilComplete(fut);
   * await loop.runUntilComplete(async () => {}); // one more pass
   * assert.deepEqual(seen, [7]);
   * loop.close();
   * ```
   */
  addDoneCallback(
    callback: DoneCallback<T>,
    options?: DoneCallbackOptions,
  ): void {
    if (typeof callback !== "function") {
      throw new TypeError(
        `addDoneCallback() expects a function, got ${typeof callback}`,
      );
    }
    const context = options?.context;
    const frame = context == null ? captureFrame() : frameOf(context);
    if (this._state !== PENDING) {
      this._loop._callSoonFrame(callback, [this], frame);
    } else {
      this._addCallback(callback, frame);
    }
  }

  /** @ignore Registers a done callback (or an awaiter) and its frame. */
  _addCallback(callback: unknown, frame: Frame): void {
    const callbacks = this._callbacks;
    if (callbacks === null) this._callbacks = [callback, frame];
    else if (callbacks instanceof Awaiter) {
      this._callbacks = [callbacks, callbacks._frame, callback, frame];
    } else callbacks.push(callback, frame);
  }

  /**
   * Removes every registration of `callback`; returns how many were removed.
   * Mirrors `Future.remove_done_callback()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * const cb = () => {};
   * fut.addDoneCallback(cb);
   * fut.addDoneCallback(cb);
   * assert.equal(fut.removeDoneCallback(cb), 2);
   * loop.close();
   * ```
   */
  removeDoneCallback(callback: DoneCallback<T>): number {
    const callbacks = this._callbacks;
    // An awaiter is never a callback someone could name.
    if (callbacks === null || callbacks instanceof Awaiter) return 0;
    const kept: unknown[] = [];
    for (let i = 0; i < callbacks.length; i += 2) {
      if (callbacks[i] !== callback) kept.push(callbacks[i], callbacks[i + 1]);
    }
    const removed = (callbacks.length - kept.length) / 2;
    if (removed > 0) this._callbacks = kept.length > 0 ? kept : null;
    return removed;
  }

  /**
   * Cancels the future and schedules its callbacks; returns false if it was
   * already done. Mirrors `Future.cancel(msg)`.
   *
   * @param msg The message of the `CancelledError` seen by awaiters.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * assert.equal(fut.cancel("bye"), true);
   * assert.equal(fut.cancel(), false);
   * loop.close();
   * ```
   */
  cancel(msg?: string): boolean {
    this._clearLogTraceback();
    if (this._state !== PENDING) return false;
    this._state = CANCELLED;
    this._cancelMessage = msg == null ? undefined : String(msg);
    this._scheduleCallbacks();
    return true;
  }

  /**
   * Marks the future done with a result. Mirrors `Future.set_result()`.
   *
   * @throws {InvalidStateError} if it is already done.
   * @example
   * ```ts
   * import { newEventLoop, InvalidStateError } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<number>();
   * fut.setResult(1);
   * assert.throws(() => fut.setResult(2), InvalidStateError);
   * loop.close();
   * ```
   */
  setResult(result: T): void {
    if (this._state !== PENDING) {
      throw new InvalidStateError(`${STATE_NAMES[this._state]}: ${this}`);
    }
    this._result = result;
    this._state = FINISHED;
    this._scheduleCallbacks();
  }

  /**
   * Marks the future done with an exception. Mirrors
   * `Future.set_exception()`. An error class is instantiated.
   *
   * @throws {InvalidStateError} if it is already done.
   * @throws {TypeError} if `exception` is not an error (or error class).
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * fut.setException(new RangeError("out"));
   * assert.throws(() => fut.result(), RangeError);
   * loop.close();
   * ```
   */
  setException(exception: unknown): void {
    if (this._state !== PENDING) {
      throw new InvalidStateError(`${STATE_NAMES[this._state]}: ${this}`);
    }
    if (typeof exception === "function") {
      exception = new (exception as new () => unknown)();
    }
    if (!(exception instanceof Error)) {
      throw new TypeError(
        `setException() expects an Error instance or class, got ${
          exception === null ? "null" : typeof exception
        }`,
      );
    }
    if (exception instanceof CancelledError) {
      // asyncio forbids StopIteration here; a CancelledError as an exception
      // would make a cancelled-looking future that is not cancelled.
      throw new TypeError(
        "CancelledError cannot be set as an exception: call cancel() instead",
      );
    }
    this._setExceptionUnchecked(exception);
  }

  /** @ignore Sets any thrown value as the exception. */
  _setExceptionUnchecked(exception: unknown): void {
    this._exception = exception;
    this._failed = true;
    this._state = FINISHED;
    this._scheduleCallbacks();
    this._logTraceback = true;
    const loop = this._loop;
    const isObject = exception !== null &&
      (typeof exception === "object" || typeof exception === "function");
    const token = new WeakRef<Future<unknown>>(this);
    this._unreportedToken = token;
    const info: Unretrieved = {
      loop,
      token,
      message: `${this.constructor.name} exception was never retrieved`,
      value: isObject ? undefined : exception,
      ref: isObject ? new WeakRef(exception as object) : null,
      snapshot: isObject ? snapshotOf(exception as object) : null,
      description: this.toString(),
      sourceTraceback: this._sourceTraceback,
    };
    let entries = unreported.get(loop);
    if (entries === undefined) unreported.set(loop, entries = new Map());
    entries.set(token, info);
    unretrieved.register(this, info, this);
    if (loop.isClosed()) return;
    if (exception instanceof Deno.errors.NotCapable) {
      // A missing permission flag: say so as soon as the done callbacks
      // (scheduled above) have had their chance to retrieve it.
      loop.callSoon(() => this._reportUnretrieved());
    } else if (loop.getDebug()) {
      loop.callLater(
        loop.slowCallbackDuration,
        () => this._reportUnretrieved(),
      );
    }
  }

  /** @ignore */
  _clearLogTraceback(): void {
    if (this._logTraceback) {
      this._logTraceback = false;
      unretrieved.unregister(this);
      const token = this._unreportedToken;
      if (token !== null) {
        this._unreportedToken = null;
        unreported.get(this._loop)?.delete(token);
      }
    }
  }

  /**
   * @ignore Reports the exception as never retrieved, now, if it still is
   * (the loop is closing, or debug mode's grace period ran out).
   */
  _reportUnretrieved(): void {
    if (!this._logTraceback) return;
    this._clearLogTraceback();
    const context: Record<string, unknown> = {
      message: `${this.constructor.name} exception was never retrieved`,
      exception: this._exception,
      future: this,
    };
    if (this._sourceTraceback !== undefined) {
      context.sourceTraceback = this._sourceTraceback;
    }
    this._loop.callExceptionHandler(context as { message: string });
  }

  /** @ignore Mirrors `Future._make_cancelled_error()`. */
  _makeCancelledError(): CancelledError {
    const stored = this._cancelledExc;
    if (stored !== null) {
      this._cancelledExc = null;
      return stored;
    }
    return new CancelledError(this._cancelMessage);
  }

  /** @ignore */
  _scheduleCallbacks(): void {
    const callbacks = this._callbacks;
    if (callbacks === null) return;
    this._callbacks = null;
    const loop = this._loop;
    if (callbacks instanceof Awaiter) {
      callbacks._fut = this;
      loop._pushHandle(callbacks);
      return;
    }
    for (let i = 0; i < callbacks.length; i += 2) {
      const callback = callbacks[i];
      if (callback instanceof Awaiter) {
        // The awaiter is its own ready item: a wake-up costs no handle.
        callback._fut = this;
        callback._frame = callbacks[i + 1] as Frame;
        loop._pushHandle(callback);
      } else {
        loop._callSoonFrame(
          callback as DoneCallback<T>,
          [this],
          callbacks[i + 1] as Frame,
        );
      }
    }
  }

  /**
   * Makes the future awaitable and usable as a promise. Awaited inside a
   * task, it also tells the task what it waits on, so `task.cancel()` reaches
   * it.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<number>();
   * const doubled = fut.then((v) => v * 2);
   * fut.setResult(21);
   * assert.equal(await loop.runUntilComplete(() => doubled), 42);
   * loop.close();
   * ```
   */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    let task: Task<unknown> | undefined = state.inCallback
      ? undefined
      : contextTask();
    if (task !== undefined && task._state !== PENDING) task = undefined;
    const promise = new Promise(captureResolvers) as Promise<R1 | R2>;
    const awaiter = new Awaiter(
      task,
      onFulfilled as ((value: unknown) => unknown) | null | undefined,
      onRejected,
      captured.resolve!,
      captured.reject!,
    );
    captured.resolve = captured.reject = null;
    if (task !== undefined) {
      const problem = task._checkAwait(this);
      if (problem !== null) {
        task._loop._callSoonFrame(refuseAwait, [awaiter, problem], ROOT_FRAME);
        stepSuspended(task);
        return promise;
      }
    }
    if (this._state !== PENDING) {
      if (task !== undefined && task._eagerAwait) {
        // The task's eager step stopped at this `await` while the future
        // was pending: the task was suspended here all along.
        task._eagerAwait = false;
        if (task._mustCancel) {
          task._mustCancel = false;
          if (this._state === FINISHED) this._clearLogTraceback();
          settleAwaiter(awaiter, true, task._makeCancelledError());
          return promise;
        }
      }
      // Awaiting a done future does not yield to the loop (asyncio's
      // `Future.__await__` returns at once); a pending cancellation waits
      // for the next real suspension.
      wakeAwaiter(awaiter, this, false);
      return promise;
    }
    const frame = captureFrame();
    if (this._callbacks === null) {
      awaiter._frame = frame;
      this._callbacks = awaiter;
    } else this._addCallback(awaiter, frame);
    if (task !== undefined) {
      task._eagerAwait = false;
      task._onAwait(this);
      stepSuspended(task);
    }
    return promise;
  }

  /**
   * Promise-style rejection handler.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture();
   * const caught = fut.catch((e) => (e as Error).message);
   * fut.setException(new Error("x"));
   * assert.equal(await loop.runUntilComplete(() => caught), "x");
   * loop.close();
   * ```
   */
  catch<R = never>(
    onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<T | R> {
    return this.then(undefined, onRejected);
  }

  /**
   * Promise-style cleanup handler.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const fut = loop.createFuture<number>();
   * let ran = false;
   * const p = fut.finally(() => { ran = true; });
   * fut.setResult(1);
   * await loop.runUntilComplete(() => p);
   * assert(ran);
   * loop.close();
   * ```
   */
  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.then(
      (value) => {
        onFinally?.();
        return value;
      },
      (reason) => {
        onFinally?.();
        throw reason;
      },
    );
  }

  /** @ignore */
  protected _reprInfo(): string[] {
    const info = [STATE_NAMES[this._state].toLowerCase()];
    if (this._state === FINISHED) {
      if (this._failed) {
        info.push(`exception=${describe(this._exception)}`);
      } else {
        info.push(`result=${describe(this._result)}`);
      }
    }
    const callbacks = this._callbacks;
    if (callbacks instanceof Awaiter) info.push(`cb=[${callbacks.name}]`);
    else if (callbacks !== null) {
      const names: string[] = [];
      for (let i = 0; i < callbacks.length; i += 2) {
        names.push((callbacks[i] as { name?: string }).name || "<cb>");
      }
      // asyncio names the first and the last, and counts those between.
      info.push(
        names.length > 2
          ? `cb=[${names[0]}, <${names.length - 2} more>, ${names.at(-1)}]`
          : `cb=[${names.join(", ")}]`,
      );
    }
    // In debug mode asyncio ends with where the future was made, as
    // `created at file:line`.
    if (this._sourceTraceback !== undefined) {
      info.push(`created at ${creationPlace(this._sourceTraceback)}`);
    }
    return info;
  }

  /** A description like `<Future finished result=1>`. */
  toString(): string {
    // Futures that wait on each other (two tasks awaiting one another)
    // describe each other once: the inner mention is "...", as Python's
    // reprlib.recursive_repr does.
    if (describing.has(this)) return "...";
    describing.add(this);
    try {
      return `<${this.constructor.name} ${this._reprInfo().join(" ")}>`;
    } finally {
      describing.delete(this);
    }
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/**
 * What `Future.then()` registers: the awaiting task (if any), the handlers,
 * and the resolvers of the promise `then()` returned. One object per await,
 * where closures would cost three. Once the future is done it is also the
 * ready item that runs the wake-up (see `ReadyItem`).
 */
class Awaiter {
  /** The future it waits on, once that is done. */
  _fut: Future<unknown> | null = null;
  /** The async context the wake-up runs in. */
  _frame: Frame = undefined;
  /** As a ready item: never cancelled. */
  readonly _cancelled = false;

  constructor(
    readonly task: Task<unknown> | undefined,
    readonly onFulfilled: ((value: unknown) => unknown) | null | undefined,
    readonly onRejected: ((reason: unknown) => unknown) | null | undefined,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
  ) {}

  /** The name a future's description shows for it. */
  get name(): string {
    return this.task === undefined ? "then" : "Task.wakeup";
  }

  /** Runs the wake-up (as a ready item; never throws). */
  _run(): void {
    wakeAwaiter(this, this._fut!, true);
  }

  /** A description like `<Handle Task.wakeup(<Future finished ...>)>`. */
  toString(): string {
    return `<Handle ${this.name}(${this._fut})>`;
  }
}

/**
 * @internal `new Promise(captureResolvers)` leaves the new promise's
 * resolvers in `captured`, without a closure per promise; the caller takes
 * them at once and clears the slots.
 */
export const captured: {
  resolve: ((value: unknown) => void) | null;
  reject: ((reason: unknown) => void) | null;
} = { resolve: null, reject: null };

/** @internal The executor that fills `captured`. */
export function captureResolvers(
  resolve: (value: unknown) => void,
  reject: (reason: unknown) => void,
): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** The frame internal resumptions run in: any will do, they only resolve. */
const ROOT_FRAME = captureFrame();

/** Settles the promise `then()` returned, through the handlers. */
function settleAwaiter(
  awaiter: Awaiter,
  failed: boolean,
  outcome: unknown,
): void {
  try {
    if (failed) {
      if (awaiter.onRejected == null) awaiter.reject(outcome);
      else awaiter.resolve(awaiter.onRejected(outcome));
    } else if (awaiter.onFulfilled == null) {
      awaiter.resolve(outcome);
    } else {
      awaiter.resolve(awaiter.onFulfilled(outcome));
    }
  } catch (e) {
    awaiter.reject(e);
  }
}

/**
 * The awaited future is done: resumes the awaiter (for a task, its step; a
 * cancellation requested meanwhile is delivered instead of the outcome).
 */
function wakeAwaiter(
  awaiter: Awaiter,
  fut: Future<unknown>,
  suspended: boolean,
): void {
  const task = awaiter.task;
  if (task !== undefined) {
    if (task._futWaiter === fut) task._futWaiter = null;
    if (suspended) {
      state.stepping = task;
      if (task._mustCancel) {
        task._mustCancel = false;
        if (fut._state === FINISHED) fut._clearLogTraceback();
        settleAwaiter(
          awaiter,
          true,
          fut._state === CANCELLED
            ? fut._makeCancelledError()
            : task._makeCancelledError(),
        );
        return;
      }
    }
  }
  if (fut._state === CANCELLED) {
    settleAwaiter(awaiter, true, fut._makeCancelledError());
  } else if (fut._failed) {
    fut._clearLogTraceback();
    settleAwaiter(awaiter, true, fut._exception);
  } else {
    settleAwaiter(awaiter, false, fut._result);
  }
}

/** A task awaited something it may not (itself, another loop's future). */
function refuseAwait(awaiter: Awaiter, problem: unknown): void {
  const task = awaiter.task!;
  state.stepping = task;
  if (task._mustCancel) {
    task._mustCancel = false;
    settleAwaiter(awaiter, true, task._makeCancelledError());
  } else {
    settleAwaiter(awaiter, true, problem);
  }
}

/**
 * Whether `obj` is an asyncio-compatible future (this package's `Future` or
 * anything carrying asyncio's duck-typing marker). Mirrors `asyncio.isfuture()`.
 *
 * @example
 * ```ts
 * import { isFuture, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * assert(isFuture(loop.createFuture()));
 * assert(!isFuture(Promise.resolve()));
 * loop.close();
 * ```
 */
export function isFuture(obj: unknown): obj is Future<unknown> {
  return obj instanceof Future ||
    (obj !== null && typeof obj === "object" &&
      typeof (obj as { _asyncioFutureBlocking?: unknown })
          ._asyncioFutureBlocking === "boolean" &&
      typeof (obj as { addDoneCallback?: unknown }).addDoneCallback ===
        "function");
}
