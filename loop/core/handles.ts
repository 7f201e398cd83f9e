/**
 * User callback handles: what `callSoon`, `callLater` and `callAt` return.
 *
 * Handles hold a callback, its arguments and the async context it was
 * scheduled in. They never run themselves: the loop's `runOnce` is the only
 * place that calls them (see `base_loop.ts`).
 *
 * @module
 */
import {
  captureFrame,
  type Context,
  contextOf,
  type Frame,
  frameOf,
  keepContext,
} from "../base/context.ts";
import type { ExceptionContext } from "../base/exception_context.ts";
import { KeyboardInterrupt } from "../base/exceptions.ts";
import { creationPlace, describeCallback } from "../base/format.ts";

let reporting: Handle | null = null;

/**
 * The handle whose callback's error is being reported, while its report
 * runs (package-internal): the exception handler then runs in the context
 * the callback left, not the one it was scheduled with.
 */
export function reportingHandle(): Handle | null {
  return reporting;
}

/** The loop surface a handle needs (package-internal). */
export interface HandleOwner {
  callExceptionHandler(context: ExceptionContext): void;
  getDebug(): boolean;
  /** Called when a scheduled timer is cancelled, for lazy heap cleanup. */
  _timerHandleCancelled(handle: TimerHandle): void;
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

const inspect = Symbol.for("Deno.customInspect");

/**
 * What the ready queue holds: a handle, or a task resuming from `sleep(0)`
 * (a task is its own resumption, so a yield allocates no handle).
 * @internal
 */
export interface ReadyItem {
  /** Skipped by the loop when true. */
  _cancelled: boolean;
  /** The async context the loop runs it in. */
  _frame: Frame;
  /** Runs it; throws only a callback's `KeyboardInterrupt` (see `Handle._run`). */
  _run(): void;
}

/**
 * A scheduled callback. Mirrors `asyncio.Handle`: returned by
 * `loop.callSoon()` and `loop.callSoonThreadsafe()`; `cancel()` stops it from
 * running.
 *
 * @example Cancelling a scheduled callback
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const calls: string[] = [];
 * const handle = loop.callSoon(() => calls.push("never"));
 * handle.cancel();
 * loop.callSoon(() => loop.stop());
 * await loop.runForever();
 * assert.deepEqual(calls, []);
 * assert.equal(handle.cancelled(), true);
 * loop.close();
 * ```
 */
export class Handle {
  /** @ignore */ _callback: AnyFunction | null;
  /** @ignore */ _args: unknown[] | null;
  /** @ignore */ _loop: HandleOwner;
  /** @ignore */ _frame: Frame;
  /** @ignore */ _cancelled = false;
  /** @ignore Debug-mode extras: where it was created, its description. */
  _debugInfo: { sourceTraceback?: string; repr?: string } | null = null;

  /**
   * Creates a handle; loops do this, user code rarely needs to.
   *
   * @param callback The function to call.
   * @param args Its arguments.
   * @param loop The loop that will run it.
   * @param context The async context to run it in (default: the current one).
   */
  constructor(
    callback: AnyFunction,
    args: unknown[],
    loop: HandleOwner,
    context?: Context | null,
  ) {
    this._callback = callback;
    this._args = args;
    this._loop = loop;
    if (context == null) this._frame = captureFrame();
    else {
      this._frame = frameOf(context);
      keepContext(this, context);
    }
    if (loop.getDebug()) {
      this._debugInfo = {
        sourceTraceback: new Error().stack?.split("\n").slice(2).join("\n"),
      };
    }
  }

  /**
   * The async context the callback runs in. Mirrors `Handle.get_context()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const h = loop.callSoon(() => {});
   * assert.equal(h.getContext().run(() => 1), 1);
   * loop.close();
   * ```
   */
  getContext(): Context {
    return contextOf(this, this._frame);
  }

  /**
   * Cancels the callback; does nothing if it already ran or was cancelled.
   * Mirrors `Handle.cancel()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const h = loop.callSoon(() => {});
   * h.cancel();
   * assert(h.cancelled());
   * loop.close();
   * ```
   */
  cancel(): void {
    if (!this._cancelled) {
      this._cancelled = true;
      if (this._debugInfo !== null) this._debugInfo.repr = this.toString();
      this._callback = null;
      this._args = null;
    }
  }

  /**
   * Whether the callback was cancelled. Mirrors `Handle.cancelled()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * assert(!loop.callSoon(() => {}).cancelled());
   * loop.close();
   * ```
   */
  cancelled(): boolean {
    return this._cancelled;
  }

  /**
   * Runs the callback, sending an exception it throws to the loop's exception
   * handler (package-internal; the loop sets the async context first). A
   * `KeyboardInterrupt` is not reported but thrown on: it ends the loop's
   * run, as asyncio's `Handle._run` lets `KeyboardInterrupt` and `SystemExit`
   * through.
   * @ignore
   */
  _run(): void {
    const callback = this._callback!;
    const args = this._args!;
    try {
      switch (args.length) {
        case 0:
          callback();
          break;
        case 1:
          callback(args[0]);
          break;
        case 2:
          callback(args[0], args[1]);
          break;
        default:
          callback(...args);
      }
    } catch (exception) {
      if (exception instanceof KeyboardInterrupt) throw exception;
      const context: ExceptionContext = {
        message: `Exception in callback ${
          describeCallback(callback, args, this._loop.getDebug())
        }`,
        exception,
        handle: this,
      };
      const traceback = this._debugInfo?.sourceTraceback;
      if (traceback !== undefined) context.sourceTraceback = traceback;
      reporting = this;
      try {
        this._loop.callExceptionHandler(context);
      } finally {
        reporting = null;
      }
    }
  }

  /** @ignore */
  protected _reprInfo(): string[] {
    const info: string[] = [];
    if (this._cancelled) info.push("cancelled");
    if (this._callback !== null) {
      const debug = this._loop.getDebug();
      info.push(describeCallback(this._callback, this._args, debug));
    }
    // Made in debug mode: where, as asyncio's `created at file:line`.
    const traceback = this._debugInfo?.sourceTraceback;
    if (traceback !== undefined) {
      info.push(`created at ${creationPlace(traceback)}`);
    }
    return info;
  }

  /** A description like `<Handle tick()>` (`<Handle tick(1) created at ...>` in debug mode). */
  toString(): string {
    const repr = this._debugInfo?.repr;
    if (repr !== undefined) return repr;
    return `<${this.constructor.name} ${this._reprInfo().join(" ")}>`;
  }

  /** @internal */
  [inspect](): string {
    return this.toString();
  }
}

/**
 * A callback scheduled for a time. Mirrors `asyncio.TimerHandle`: returned by
 * `loop.callLater()` and `loop.callAt()`.
 *
 * @example Reading when a timer is due
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * const t = loop.callAt(loop.time() + 10, () => {});
 * assert(t.when() > loop.time());
 * t.cancel();
 * loop.close();
 * ```
 */
export class TimerHandle extends Handle {
  /** @ignore */ _when: number;
  /** @ignore Whether it is in the loop's timer heap. */
  _scheduled = false;

  /**
   * Creates a timer handle; loops do this, user code rarely needs to.
   *
   * @param when The loop time (seconds) it is due.
   * @param callback The function to call.
   * @param args Its arguments.
   * @param loop The loop that will run it.
   * @param context The async context to run it in.
   */
  constructor(
    when: number,
    callback: AnyFunction,
    args: unknown[],
    loop: HandleOwner,
    context?: Context | null,
  ) {
    super(callback, args, loop, context);
    this._when = when;
  }

  /**
   * The loop time (seconds, as `loop.time()`) the callback is scheduled for.
   * Mirrors `TimerHandle.when()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const t = loop.callAt(42, () => {});
   * assert.equal(t.when(), 42);
   * t.cancel();
   * loop.close();
   * ```
   */
  when(): number {
    return this._when;
  }

  /**
   * Cancels the callback. Mirrors `TimerHandle.cancel()`.
   *
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const t = loop.callLater(1, () => {});
   * t.cancel();
   * assert(t.cancelled());
   * loop.close();
   * ```
   */
  override cancel(): void {
    if (!this._cancelled) this._loop._timerHandleCancelled(this);
    super.cancel();
  }

  /**
   * Converts the handle for an operator. As a number (what `<`, `<=`, `>`,
   * `>=` and unary `+` ask for) it is `when()`, so timers order by the time
   * they are due, as asyncio's `TimerHandle` comparisons do; as a string it
   * is the description. `==` and `===` stay identity: JavaScript lets no
   * object decide equality.
   *
   * @param hint What the operator asks for: `"number"`, `"string"` or
   * `"default"`.
   * @returns `when()` for `"number"`, else the description.
   * @example
   * ```ts
   * import { newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * const early = loop.callAt(9, () => {});
   * const late = loop.callAt(10, () => {});
   * assert(+early < +late);
   * assert.equal(`${early}`, "<TimerHandle when=9 <anonymous>()>");
   * early.cancel();
   * late.cancel();
   * loop.close();
   * ```
   */
  [Symbol.toPrimitive](hint: string): number | string {
    return hint === "number" ? this._when : this.toString();
  }

  /** @ignore */
  protected override _reprInfo(): string[] {
    const info = super._reprInfo();
    info.splice(this._cancelled ? 1 : 0, 0, `when=${this._when}`);
    return info;
  }
}
