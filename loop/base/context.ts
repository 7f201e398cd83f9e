/**
 * Async contexts: the `contextvars.Context` of this package.
 *
 * A callback runs in the AsyncLocalStorage context that was current when it was
 * scheduled. Capturing that context must be nearly free, because every
 * `callSoon` does it. Deno keeps the context as V8's continuation-preserved
 * embedder data and exposes a getter and setter for it on its internal core
 * object; when they are present (and pass a self-test at load) a context is
 * that value and switching is a pointer swap. Otherwise the public
 * `AsyncLocalStorage.snapshot()` is used: correct, but about a microsecond per
 * capture.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { RuntimeError } from "./exceptions.ts";

/** An opaque captured async context (a V8 frame, or a snapshot function). */
export type Frame = unknown;

type Snapshot = <R>(fn: (...args: unknown[]) => R, ...args: unknown[]) => R;

interface AsyncContextAccess {
  getAsyncContext(): Frame;
  setAsyncContext(frame: Frame): void;
}

/**
 * @internal Deno's internal `core` object, or null: the one place the
 * package reaches for it. Each use checks the hook it needs (with a
 * self-test) and keeps a standard fallback, since internals may change.
 */
export function denoCore(): Record<string, unknown> | null {
  const sym = Object.getOwnPropertySymbols(Deno).find((s) =>
    s.description === "Deno.internal"
  );
  if (sym === undefined) return null;
  const core = (Deno as unknown as Record<symbol, { core?: unknown }>)[sym]
    ?.core;
  return typeof core === "object" && core !== null
    ? core as Record<string, unknown>
    : null;
}

function findAccess(): AsyncContextAccess | null {
  try {
    const core = denoCore() as Partial<AsyncContextAccess> | null;
    if (
      typeof core?.getAsyncContext !== "function" ||
      typeof core.setAsyncContext !== "function"
    ) return null;
    const access = core as AsyncContextAccess;
    // Self-test: a frame captured inside run() must carry the store.
    const probe = new AsyncLocalStorage<number>();
    const frame = probe.run(1, () => access.getAsyncContext());
    const before = access.getAsyncContext();
    access.setAsyncContext(frame);
    const seen = probe.getStore();
    access.setAsyncContext(before);
    return seen === 1 && probe.getStore() === undefined ? access : null;
  } catch {
    return null;
  }
}

const access = findAccess();

/** True when contexts are captured and switched natively (the fast path). */
export const FAST_CONTEXT: boolean = access !== null;

/** Captures the current async context. */
export const captureFrame: () => Frame = access !== null
  ? access.getAsyncContext
  : () => AsyncLocalStorage.snapshot();

/**
 * Makes `frame` current and returns the previous one (fast path only; the
 * slow path never switches frames in place, see {@linkcode runInFrame}).
 */
export const swapFrame: (frame: Frame) => Frame = access !== null
  ? (frame) => {
    const prev = access.getAsyncContext();
    access.setAsyncContext(frame);
    return prev;
  }
  : (frame) => frame;

/**
 * Makes `frame` current (fast path only, as {@linkcode swapFrame}), without
 * reading the one it replaces.
 */
export const setFrame: (frame: Frame) => void = access !== null
  ? access.setAsyncContext
  : () => {};

/** Runs `fn(...args)` inside `frame` and restores the current context. */
export function runInFrame<R>(
  frame: Frame,
  // deno-lint-ignore no-explicit-any
  fn: (...args: any[]) => R,
  args: readonly unknown[],
): R {
  if (access !== null) {
    const prev = access.getAsyncContext();
    access.setAsyncContext(frame);
    try {
      return (fn as (...a: unknown[]) => R)(...args);
    } finally {
      access.setAsyncContext(prev);
    }
  }
  return (frame as Snapshot)(fn as (...a: unknown[]) => R, ...args);
}

// ---- the task slot ------------------------------------------------------
//
// A task's coroutine runs in a frame that names the task. Deno's frames are
// null-prototype objects mapping each AsyncLocalStorage's id to its entry, and
// every `run()` copies the previous frame's keys; so a frame derived with one
// more (symbol) key keeps every store and passes the task on to everything
// the coroutine awaits or schedules. That costs one small object per task,
// where `AsyncLocalStorage.run` costs a WeakMap entry and ~0.6 µs. The layout
// is verified at load; otherwise an AsyncLocalStorage carries the task.

const TASK_KEY = Symbol("aioloop.task");
const taskStorage = new AsyncLocalStorage<object>();

function checkFrameObjects(): boolean {
  if (access === null) return false;
  try {
    const probe = new AsyncLocalStorage<number>();
    const marker = {};
    const base = probe.run(7, () => access.getAsyncContext());
    if (base === null || typeof base !== "object") return false;
    const derived = { __proto__: null, ...base, [TASK_KEY]: marker };
    const before = access.getAsyncContext();
    access.setAsyncContext(derived);
    try {
      const nested = probe.run(
        8,
        () => (access.getAsyncContext() as Record<symbol, unknown>)[TASK_KEY],
      );
      return probe.getStore() === 7 && nested === marker;
    } finally {
      access.setAsyncContext(before);
    }
  } catch {
    return false;
  }
}

const FRAME_OBJECTS = checkFrameObjects();

/**
 * A frame that holds only a task (the common case: no AsyncLocalStorage
 * store is set). A class keeps it a fast-property object, where a
 * null-prototype literal would be a dictionary.
 */
class TaskFrame {
  [TASK_KEY]: object;
  constructor(task: object) {
    this[TASK_KEY] = task;
  }
}
Object.setPrototypeOf(TaskFrame.prototype, null);

/** A frame like `base` in which {@linkcode taskInContext} returns `task`. */
export function frameWithTask(base: Frame, task: object): Frame {
  if (FRAME_OBJECTS) {
    if (base == null || (base as object) instanceof TaskFrame) {
      // Only a task (or nothing) to replace.
      return new TaskFrame(task);
    }
    return { __proto__: null, ...(base as object), [TASK_KEY]: task };
  }
  return runInFrame(base, () => taskStorage.run(task, captureFrame), []);
}

/** The task named by the current async context, if any. */
export const taskInContext: () => unknown = FRAME_OBJECTS
  ? () => {
    const frame = access!.getAsyncContext() as
      | Record<symbol, unknown>
      | null
      | undefined;
    return frame == null ? undefined : frame[TASK_KEY];
  }
  : () => taskStorage.getStore();

const frames = new WeakMap<Context, Frame>();
/** The contexts whose `run()` is on the stack. */
const entered = new WeakSet<Context>();

/**
 * A captured async context: the values of every `AsyncLocalStorage` at the
 * moment it was taken. Mirrors `contextvars.Context` as asyncio uses it: the
 * `context` option of `callSoon`, `callLater`, `createTask` and
 * `addDoneCallback`, and `Handle.getContext()`. A context changes only
 * through {@linkcode Context.run}, which keeps what its function sets (as
 * `contextvars.Context.run()` does); a task or callback runs in a copy of
 * the context it was given.
 *
 * @example Running a function inside a captured context
 * ```ts
 * import { Context } from "@aio/loop";
 * import { AsyncLocalStorage } from "node:async_hooks";
 * import assert from "node:assert/strict";
 *
 * const requestId = new AsyncLocalStorage<string>();
 * const ctx = requestId.run("req-1", () => Context.current());
 * assert.equal(ctx.run(() => requestId.getStore()), "req-1");
 * ```
 */
export class Context {
  /** Wraps a raw frame; use {@linkcode Context.current} instead. */
  constructor(frame: Frame) {
    frames.set(this, frame);
  }

  /**
   * The current async context. Mirrors `contextvars.copy_context()`.
   *
   * @example
   * ```ts
   * import { Context } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const ctx = Context.current();
   * assert.equal(ctx.run((a: number) => a + 1, 1), 2);
   * ```
   */
  static current(): Context {
    return new Context(captureFrame());
  }

  /**
   * The value `storage` holds in this context, or `defaultValue` where it
   * holds none. Mirrors `Context.get(var, default)`, an
   * `AsyncLocalStorage` standing for the `ContextVar`.
   *
   * @example
   * ```ts
   * import { Context } from "@aio/loop";
   * import { AsyncLocalStorage } from "node:async_hooks";
   * import assert from "node:assert/strict";
   *
   * const user = new AsyncLocalStorage<string>();
   * const ctx = user.run("ada", () => Context.current());
   * assert.equal(ctx.get(user), "ada");
   * assert.equal(Context.current().get(user, "nobody"), "nobody");
   * ```
   */
  get<T>(storage: AsyncLocalStorage<T>, defaultValue?: T): T | undefined {
    const value = runInFrame(frames.get(this), () => storage.getStore(), []);
    return value === undefined ? defaultValue : value;
  }

  /**
   * A new context with the same values, changed apart from this one from
   * then on. Mirrors `Context.copy()`.
   *
   * @example
   * ```ts
   * import { Context } from "@aio/loop";
   * import { AsyncLocalStorage } from "node:async_hooks";
   * import assert from "node:assert/strict";
   *
   * const user = new AsyncLocalStorage<string>();
   * const ctx = user.run("ada", () => Context.current());
   * const copy = ctx.copy();
   * copy.run(() => user.enterWith("grace"));
   * assert.equal(copy.get(user), "grace");
   * assert.equal(ctx.get(user), "ada"); // the original is unchanged
   * ```
   */
  copy(): Context {
    return new Context(frames.get(this));
  }

  /**
   * Calls `fn(...args)` inside this context and returns its result. What
   * `fn` sets in it (`enterWith()` on an `AsyncLocalStorage`) stays in this
   * context for its next `run()`, and does not leak out to the caller.
   * Mirrors `contextvars.Context.run()`.
   *
   * @throws {RuntimeError} when this context is already running `run()`
   *   further up the stack, as asyncio's contexts cannot be entered twice.
   * @example
   * ```ts
   * import { Context } from "@aio/loop";
   * import { AsyncLocalStorage } from "node:async_hooks";
   * import assert from "node:assert/strict";
   *
   * const user = new AsyncLocalStorage<string>();
   * const ctx = Context.current();
   * ctx.run(() => user.enterWith("ada"));
   * assert.equal(ctx.run(() => user.getStore()), "ada"); // kept in ctx
   * assert.equal(user.getStore(), undefined); // not outside it
   * ```
   */
  run<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): R {
    if (entered.has(this)) {
      throw new RuntimeError(
        "cannot enter context: the Context is already entered (its run() is further up the stack)",
      );
    }
    entered.add(this);
    try {
      return runInFrame(frames.get(this), () => {
        try {
          return fn(...args);
        } finally {
          frames.set(this, captureFrame());
        }
      }, []);
    } finally {
      entered.delete(this);
    }
  }
}

/** The `Context` a handle or task was given, or made for it when asked. */
const ownContexts = new WeakMap<object, Context>();

/**
 * Remembers the `Context` that `owner` (a handle or task) was given, so its
 * `getContext()` returns that very object, as asyncio's does.
 * @internal
 */
export function keepContext(owner: object, context: Context): void {
  ownContexts.set(owner, context);
}

/**
 * The `Context` of `owner`: the one it was given, else one made for its
 * `frame` the first time it is asked for (the same object each time after).
 * @internal
 */
export function contextOf(owner: object, frame: Frame): Context {
  let context = ownContexts.get(owner);
  if (context === undefined) {
    context = new Context(frame);
    ownContexts.set(owner, context);
  }
  return context;
}

/** The raw frame of a `Context` (package-internal). */
export function frameOf(context: Context): Frame {
  if (!(context instanceof Context)) {
    throw new TypeError(
      `context must be a Context (from Context.current() or handle.getContext()), got ${typeof context}`,
    );
  }
  return frames.get(context);
}
