/**
 * `run()` and `Runner`: the high-level entry points. Mirror `asyncio.run()`
 * and `asyncio.Runner`.
 *
 * A runner takes its loop from `loopFactory` when one is given (asyncio's
 * preferred way to swap loops since 3.12), else from the current policy's
 * `newEventLoop()`, which it also makes the current loop while it lives.
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import { Context } from "../loop/base/context.ts";
import {
  CancelledError,
  KeyboardInterrupt,
  RuntimeError,
} from "../loop/base/exceptions.ts";
import { describe } from "../loop/base/format.ts";
import type { Future } from "../loop/core/futures.ts";
import { isNoRunningLoop, state } from "../loop/core/running.ts";
import { allTasks, type Coroutine, isCoroutine } from "../loop/core/tasks.ts";
import { newEventLoop, setEventLoop } from "./functions.ts";

/** Seconds `close()` waits for the default executor (asyncio's value). */
const THREAD_JOIN_TIMEOUT = 300;

/** Options of `run()` and `new Runner()`. */
export interface RunnerOptions {
  /** Sets the loop's debug mode (default: leave it as the loop has it). */
  debug?: boolean | null;
  /** Makes the loop (default: the current policy's `newEventLoop()`). */
  loopFactory?: (() => AbstractEventLoop) | null;
}

type RunnerState = "created" | "initialized" | "closed";

/**
 * Runs coroutines on one loop it owns, then closes it (cancelling leftover
 * tasks, closing async generators, shutting down the default executor).
 * Mirrors `asyncio.Runner`; use it with `await using`.
 *
 * @example Two coroutines on the same loop
 * ```ts
 * import { Runner, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await using runner = new Runner();
 * const a = await runner.run(async () => { await sleep(0); return 1; });
 * const b = await runner.run(async () => 2);
 * assert.equal(a + b, 3);
 * ```
 */
export class Runner {
  #state: RunnerState = "created";
  #debug: boolean | null;
  #loopFactory: (() => AbstractEventLoop) | null;
  #loop: AbstractEventLoop | null = null;
  #context: Context | null = null;
  #setEventLoop = false;

  /**
   * Creates a runner; its loop is made on first use.
   *
   * @param options `debug`, `loopFactory`.
   */
  constructor(options?: RunnerOptions) {
    this.#debug = options?.debug ?? null;
    this.#loopFactory = options?.loopFactory ?? null;
    if (this.#loopFactory !== null && typeof this.#loopFactory !== "function") {
      throw new TypeError("loopFactory must be a function returning a loop");
    }
  }

  /**
   * Runs `coro` in a new task on the runner's loop and resolves with its
   * result. Mirrors `Runner.run()`, Ctrl-C included: while it runs (in the
   * main thread, with no SIGINT handler on the loop), the first SIGINT
   * cancels the task and, unless the task swallows the cancellation, the
   * promise rejects with `KeyboardInterrupt`; a second SIGINT exits the
   * process with status 130.
   *
   * @param coro A zero-argument async function (preferred) or a promise.
   * @param options `context`: the async context of the task (default: the
   * runner's own, shared by every `run()`).
   * @returns A promise; it rejects with `TypeError` when `coro` is not a
   * coroutine and `RuntimeError` when called from a running loop or after
   * `close()`.
   * @example
   * ```ts
   * import { Runner } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const runner = new Runner();
   * assert.equal(await runner.run(async () => "hi"), "hi");
   * await runner.close();
   * ```
   */
  async run<T>(
    coro: Coroutine<T>,
    options?: { context?: Context | null },
  ): Promise<T> {
    if (!isCoroutine(coro)) {
      throw new TypeError(
        `a coroutine was expected (an async function or a promise), got ${
          describe(coro)
        }`,
      );
    }
    if (state.runningLoop !== null) {
      throw new RuntimeError(
        "Runner.run() cannot be called from a running event loop: await the coroutine instead",
      );
    }
    const loop = this.#lazyInit();
    const context = options?.context ?? this.#context;
    const task = loop.createTask(coro, { context });
    const interrupts = { count: 0 };
    const remove = onSigint(loop, () => {
      // asyncio's Runner: the first Ctrl-C cancels the main task, a second
      // one while it is still running is a hard interrupt.
      if (++interrupts.count === 1 && !task.done()) {
        task.cancel();
        loop.callSoonThreadsafe(noop);
        return;
      }
      Deno.exit(130);
    });
    try {
      return await loop.runUntilComplete(task);
    } catch (error) {
      if (typeof coro !== "function" && isNoRunningLoop(error)) {
        throw new RuntimeError(
          `${
            (error as Error).message
          }; the coroutine was given as a promise, which started running before the loop existed: pass the async function itself, run(main) or run(() => main()), not run(main())`,
          { cause: error },
        );
      }
      if (
        error instanceof CancelledError && interrupts.count > 0 &&
        task.uncancel() === 0
      ) {
        exitOnUncaughtInterrupt();
        throw new KeyboardInterrupt();
      }
      throw error;
    } finally {
      remove();
    }
  }

  /**
   * The runner's loop (created on first use). Mirrors `Runner.get_loop()`.
   *
   * @throws {RuntimeError} after `close()`.
   * @example
   * ```ts
   * import { Runner } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const runner = new Runner();
   * assert(!runner.getLoop().isClosed());
   * await runner.close();
   * ```
   */
  getLoop(): AbstractEventLoop {
    return this.#lazyInit();
  }

  /**
   * Cancels the loop's remaining tasks, closes async generators, shuts down
   * the default executor and closes the loop. Idempotent. Mirrors
   * `Runner.close()`.
   *
   * @example
   * ```ts
   * import { Runner } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const runner = new Runner();
   * const loop = runner.getLoop();
   * await runner.run(async () => {});
   * await runner.close();
   * assert.equal(loop.isClosed(), true);
   * await runner.close(); // no effect
   * ```
   */
  async close(): Promise<void> {
    if (this.#state !== "initialized") {
      this.#state = "closed";
      return;
    }
    const loop = this.#loop!;
    try {
      await cancelAllTasks(loop);
      await loop.runUntilComplete(() => loop.shutdownAsyncgens());
      await loop.runUntilComplete(() =>
        loop.shutdownDefaultExecutor(THREAD_JOIN_TIMEOUT)
      );
    } finally {
      if (this.#setEventLoop) setEventLoop(null);
      loop.close();
      this.#loop = null;
      this.#state = "closed";
    }
  }

  /** Closes the runner at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #lazyInit(): AbstractEventLoop {
    if (this.#state === "closed") throw new RuntimeError("Runner is closed");
    if (this.#state === "initialized") return this.#loop!;
    if (this.#loopFactory === null) {
      this.#loop = newEventLoop();
      if (!this.#setEventLoop) {
        setEventLoop(this.#loop);
        this.#setEventLoop = true;
      }
    } else {
      this.#loop = this.#loopFactory();
    }
    if (this.#debug !== null) this.#loop.setDebug(this.#debug);
    this.#context = Context.current();
    this.#state = "initialized";
    return this.#loop;
  }
}

function noop(): void {}

/**
 * Listens for SIGINT while a runner's main task runs, as asyncio's Runner
 * does when Ctrl-C has its default meaning: only in the main thread (not in
 * a Worker), and deferring to a SIGINT handler installed on the loop with
 * `addSignalHandler()`. Returns the function that stops listening.
 */
let interruptExitInstalled = false;

/**
 * Makes a `KeyboardInterrupt` that nobody catches end the process quietly
 * with exit status 130 (128 + SIGINT), as a Deno program stopped by Ctrl-C
 * does and as shells and supervisors read "stopped by Ctrl-C" (Python's
 * status too), rather than with Deno's stack trace and status 1. A program
 * that catches it decides for itself.
 */
function exitOnUncaughtInterrupt(): void {
  if (interruptExitInstalled) return;
  interruptExitInstalled = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (!(event.reason instanceof KeyboardInterrupt)) return;
    event.preventDefault();
    Deno.exit(130);
  });
}

function onSigint(
  loop: AbstractEventLoop,
  onInterrupt: () => void,
): () => void {
  const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope !== "undefined";
  if (inWorker) return noop;
  const listener = () => {
    const handlers =
      (loop as { _signalHandlers?: { has(sig: string): boolean } | null })
        ._signalHandlers;
    if (handlers?.has("SIGINT")) return;
    onInterrupt();
  };
  try {
    Deno.addSignalListener("SIGINT", listener);
  } catch {
    // Signals unavailable here (permissions, platform): Ctrl-C keeps its
    // default meaning.
    return noop;
  }
  return () => Deno.removeSignalListener("SIGINT", listener);
}

async function cancelAllTasks(loop: AbstractEventLoop): Promise<void> {
  const toCancel = [...allTasks(loop)];
  if (toCancel.length === 0) return;
  for (const task of toCancel) task.cancel();
  await loop.runUntilComplete(() => waitAll(loop, toCancel));
  for (const task of toCancel) {
    if (task.cancelled()) continue;
    const exception = task.exception();
    if (exception !== null) {
      loop.callExceptionHandler({
        message: "unhandled exception during run() shutdown",
        exception,
        task,
      });
    }
  }
}

/** Resolves once every future is done (without retrieving results). */
function waitAll(
  loop: AbstractEventLoop,
  futures: Future<unknown>[],
): Future<void> {
  const all = loop.createFuture<void>();
  let remaining = futures.length;
  const onDone = () => {
    if (--remaining === 0 && !all.done()) all.setResult(undefined);
  };
  for (const fut of futures) fut.addDoneCallback(onDone);
  return all;
}

/**
 * Runs `main` on a new loop and closes the loop afterwards (cancelling
 * leftover tasks, closing async generators, shutting down the default
 * executor). Mirrors `asyncio.run()`.
 *
 * @param main A zero-argument async function (preferred) or a promise.
 * @param options `debug`, `loopFactory` (default: the current policy's
 * `newEventLoop()`).
 * @returns A promise of `main`'s result; it rejects with `RuntimeError`
 * when called from a running loop.
 * @example
 * ```ts
 * import { run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const answer = await run(async () => {
 *   await sleep(0.001);
 *   return 42;
 * });
 * assert.equal(answer, 42);
 * ```
 */
export async function run<T>(
  main: Coroutine<T>,
  options?: RunnerOptions,
): Promise<T> {
  if (state.runningLoop !== null) {
    throw new RuntimeError(
      "run() cannot be called from a running event loop: await the coroutine instead",
    );
  }
  const runner = new Runner(options);
  try {
    return await runner.run(main);
  } finally {
    await runner.close();
  }
}
