/**
 * `WorkerPoolExecutor`: the default executor of `runInExecutor(null, ...)`,
 * a pool of Web Workers. It plays the part of asyncio's default
 * `ThreadPoolExecutor`: a blocking or CPU-heavy function runs on another
 * thread, so timers and I/O on the loop keep going.
 *
 * A worker shares no memory with the loop (except `SharedArrayBuffer`s), so
 * what it can run is narrower than a thread's:
 * - **a self-contained function**, sent as its source text
 *   (`fn.toString()`) and compiled in the worker: it sees its arguments and
 *   the worker's globals (`Deno`, `fetch`, `crypto`, ...) but nothing of the
 *   module that defines it. A function that uses an outer variable fails
 *   with a `ReferenceError` that says so. Native and bound functions, classes
 *   and object/class methods have no source a worker can compile: they are
 *   refused with a `TypeError` when submitted.
 * - **a module export**, named with {@linkcode workerFunction}: the worker
 *   imports the module (absolute URL) and calls the export, so the function
 *   may use its module's imports and variables.
 *
 * Arguments and results cross by structured clone: a value that cannot be
 * cloned (a function, a socket, a class instance's methods) fails the job
 * with a `DataCloneError` `DOMException`. A returned promise is awaited in the
 * worker. A thrown error comes back with its name, message, stack, `cause`
 * and own properties; standard error classes, `DOMException` and
 * `Deno.errors.*` keep their class.
 *
 * The worker script is a `blob:` URL made from `worker_main.ts`'s source, so
 * creating workers needs no permission and works the same whether the
 * package was loaded from disk, `jsr:` or `https:` (a worker module loaded
 * from `new URL("../x.ts", import.meta.url)` would need `--allow-read` for a
 * local checkout). Workers inherit the program's permissions.
 *
 * @module
 */
import type { Executor } from "./executor.ts";
import { CancelledError, RuntimeError } from "../base/exceptions.ts";
import { describe } from "../base/format.ts";
import {
  type EncodedError,
  type JobMessage,
  workerMain,
} from "./worker_main.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

const MODULE_FUNCTION = Symbol("aioloop.workerFunction");

interface ModuleSpec {
  module: string;
  exportName: string;
}

/** What a job sends to run: a source text or a module export. */
type Spec = { src: string } | { mod: string; name: string };

interface Job {
  id: number;
  spec: Spec;
  args: unknown[];
  label: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  worker: PoolWorker | null;
}

interface PoolWorker {
  worker: Worker;
  job: Job | null;
  /** Whether the worker holds the process (it does while it runs a job). */
  held: boolean;
}

/**
 * Deno's private switch that makes a Worker hold the process or not (the
 * one `node:worker_threads`' `ref()`/`unref()` use; a Web Worker has no
 * public one), or null where this Deno has none: then an idle worker holds
 * the process until the pool is shut down. An idle worker lets the process
 * exit, as an idle `ThreadPoolExecutor` thread does.
 */
const workerRef = ((): ((worker: Worker, ref: boolean) => void) | null => {
  const proto = Worker.prototype as unknown as Record<symbol, unknown>;
  for (const symbol of Object.getOwnPropertySymbols(proto)) {
    const method = proto[symbol];
    if (
      symbol.description === undefined && typeof method === "function" &&
      method.length === 1 && /refCount/.test(String(method))
    ) {
      return (worker, ref) => method.call(worker, ref);
    }
  }
  return null;
})();

function hold(entry: PoolWorker, held: boolean): void {
  if (entry.held === held || workerRef === null) return;
  entry.held = held;
  workerRef(entry.worker, held);
}

/**
 * A promise of a job's result that can take it back while it is queued
 * (what `WorkerPoolExecutor.submit()` returns).
 *
 * @example
 * ```ts
 * import { WorkerPoolExecutor } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await using pool = new WorkerPoolExecutor({ maxWorkers: 1 });
 * const job = pool.submit(() => 1);
 * assert.equal(job.cancel(), false); // already sent to a worker
 * assert.equal(await job, 1);
 * ```
 */
export type ExecutorPromise<T = unknown> = Promise<T> & {
  /**
   * Cancels the job if no worker has started it (the promise rejects with
   * `CancelledError`); returns whether it did. Mirrors
   * `concurrent.futures.Future.cancel()`.
   */
  cancel(): boolean;
};

/**
 * Options of {@linkcode WorkerPoolExecutor}.
 *
 * @example
 * ```ts
 * import { WorkerPoolExecutor, type WorkerPoolExecutorOptions } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const options: WorkerPoolExecutorOptions = { maxWorkers: 2, namePrefix: "hash" };
 * await using pool = new WorkerPoolExecutor(options);
 * assert.equal(pool.maxWorkers, 2);
 * ```
 */
export interface WorkerPoolExecutorOptions {
  /**
   * The most workers the pool runs at once (default:
   * `navigator.hardwareConcurrency`, at least 1). Mirrors `max_workers`.
   */
  maxWorkers?: number;
  /** Prefix of the workers' names (default `"aioloop-worker"`). */
  namePrefix?: string;
}

let bootstrapUrl: string | null = null;

function bootstrap(): string {
  if (bootstrapUrl === null) {
    const source = `(${workerMain.toString()})();\n`;
    bootstrapUrl = URL.createObjectURL(
      new Blob([source], { type: "text/javascript" }),
    );
  }
  return bootstrapUrl;
}

/** Validated sources, so a function is checked once. */
const sources = new WeakMap<AnyFunction, string>();

function labelOf(fn: AnyFunction): string {
  const spec = (fn as { [MODULE_FUNCTION]?: ModuleSpec })[MODULE_FUNCTION];
  if (spec !== undefined) return `${spec.exportName} from ${spec.module}`;
  return fn.name ? `${fn.name}()` : "the submitted function";
}

/** Works out how a worker can run `fn`, or throws `TypeError` saying why not. */
function specOf(fn: AnyFunction): Spec {
  const spec = (fn as { [MODULE_FUNCTION]?: ModuleSpec })[MODULE_FUNCTION];
  if (spec !== undefined) return { mod: spec.module, name: spec.exportName };
  const known = sources.get(fn);
  if (known !== undefined) return { src: known };
  const text = Function.prototype.toString.call(fn);
  const hint =
    "pass a self-contained function expression (function or arrow), or a module export through workerFunction(moduleUrl, exportName)";
  if (/\{\s*\[native code\]\s*\}\s*$/.test(text)) {
    const what = fn.name.startsWith("bound ")
      ? "a bound function"
      : `the built-in function ${fn.name || "(anonymous)"}`;
    throw new TypeError(
      `${what} cannot run in a worker: it has no source text to send; ${hint}`,
    );
  }
  if (/^class\b/.test(text)) {
    throw new TypeError(`a class cannot run in a worker; ${hint}`);
  }
  try {
    new Function(`return (${text}\n);`);
  } catch {
    throw new TypeError(
      `${
        labelOf(fn)
      } cannot run in a worker: its source is not a function expression (an object or class method?); ${hint}`,
    );
  }
  sources.set(fn, text);
  return { src: text };
}

const STANDARD_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Rebuilds an error that came back from a worker. */
function decode(encoded: EncodedError): unknown {
  if ("value" in encoded) return encoded.value;
  if ("text" in encoded) {
    return new Error(
      `the worker threw a value that cannot be sent back: ${encoded.text}`,
    );
  }
  const { name, message, stack, dom, cause } = encoded.error;
  let error: Error;
  const denoErrors = Deno.errors as unknown as Record<
    string,
    ErrorConstructor | undefined
  >;
  if (dom) error = new DOMException(message, name);
  else if (Object.hasOwn(STANDARD_ERRORS, name)) {
    error = new STANDARD_ERRORS[name](message);
  } else if (Object.hasOwn(denoErrors, name) && denoErrors[name]) {
    error = new denoErrors[name]!(message);
  } else {
    error = new Error(message);
    error.name = name;
  }
  if (stack !== undefined) {
    Object.defineProperty(error, "stack", {
      value: stack,
      writable: true,
      configurable: true,
    });
  }
  if (cause !== undefined) {
    Object.defineProperty(error, "cause", {
      value: decode(cause),
      writable: true,
      configurable: true,
    });
  }
  for (const [key, value] of Object.entries(encoded.props)) {
    try {
      (error as unknown as Record<string, unknown>)[key] = value;
    } catch {
      // A read-only property of the class: keep the class's value.
    }
  }
  return error;
}

/**
 * A job's error as the caller should see it. A function sent as source that
 * hits a `ReferenceError` almost always closed over a variable of its
 * module: say so, keeping the worker's error as `cause`.
 */
function jobError(job: Job, encoded: EncodedError, result: boolean): unknown {
  const error = decode(encoded);
  if (result) {
    return new DOMException(
      `the result of ${job.label} cannot be sent back from the worker (results cross by structured clone: no functions, symbols or host objects): ${
        (error as Error).message
      }`,
      "DataCloneError",
    );
  }
  if (!("src" in job.spec) || !(error instanceof ReferenceError)) return error;
  const missing = /^(\S+) is not defined$/.exec(error.message)?.[1];
  if (missing === undefined) return error;
  return new ReferenceError(
    `${job.label} uses "${missing}", which does not exist in the worker: a function run in a worker must be self-contained. It is sent as source text, so it cannot see the variables, imports or functions of the module that defines it; pass values as arguments, or export it from a module and submit workerFunction(moduleUrl, exportName)`,
    { cause: error },
  );
}

/**
 * Names a function exported by a module, for a worker to import and call:
 * the way to run code that needs its module's imports or variables, which a
 * function sent as source text cannot see. Called directly (or by an
 * executor that is not a worker pool) it imports the module and calls the
 * export on the current thread, returning a promise.
 *
 * @param module The module's absolute URL: `new URL("../work.ts",
 * import.meta.url)`, an `https:`/`jsr:`/`npm:` specifier. Workers load it
 * with the program's permissions (a local file needs `--allow-read`).
 * @param exportName The exported function's name (default `"default"`).
 * @returns A function to pass to `runInExecutor` or `submit`.
 * @throws {TypeError} if `module` is not an absolute URL or `exportName` not
 * a string.
 * @example Running an export of this module in a worker
 * ```ts
 * import { newEventLoop, workerFunction } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const encode = workerFunction<[string], string>(
 *   "data:text/javascript,export const shout = (s) => s.toUpperCase();",
 *   "shout",
 * );
 * const loop = newEventLoop();
 * try {
 *   const result = await loop.runUntilComplete(
 *     loop.runInExecutor(null, encode, "hi"),
 *   );
 *   assert.equal(result, "HI");
 * } finally {
 *   loop.close();
 * }
 * ```
 */
export function workerFunction<A extends unknown[] = unknown[], R = unknown>(
  module: string | URL,
  exportName = "default",
): (...args: A) => Promise<Awaited<R>> {
  let url: string;
  try {
    url = new URL(module).href;
  } catch {
    throw new TypeError(
      `workerFunction() needs the module's absolute URL, such as new URL("../work.ts", import.meta.url); got ${
        describe(module)
      }`,
    );
  }
  if (typeof exportName !== "string") {
    throw new TypeError(
      `workerFunction() export name must be a string, got ${
        describe(exportName)
      }`,
    );
  }
  const fn = async (...args: A): Promise<Awaited<R>> => {
    const exports = await import(url);
    const target = exports[exportName];
    if (typeof target !== "function") {
      throw new TypeError(
        `${url} has no exported function named "${exportName}"`,
      );
    }
    return await target(...args);
  };
  // A plain (not async) wrapper: loops refuse async functions as callbacks.
  const wrapper = (...args: A) => fn(...args);
  Object.defineProperty(wrapper, "name", { value: exportName });
  Object.defineProperty(wrapper, MODULE_FUNCTION, {
    value: { module: url, exportName } satisfies ModuleSpec,
  });
  return wrapper;
}

/**
 * An executor that runs functions in a pool of Web Workers. Mirrors
 * `concurrent.futures.ThreadPoolExecutor` (what asyncio's default executor
 * is); `runInExecutor(null, ...)` creates one per loop on first use. See the
 * module comment for what a worker can run: a self-contained function (sent
 * as source text) or a module export named by {@linkcode workerFunction};
 * anything else is refused with an error that says why and never runs on
 * the calling thread.
 *
 * Workers start on demand, up to `maxWorkers`; jobs beyond that wait in FIFO
 * order. A worker that dies (it calls `self.close()` or `Deno.exit()`, or an
 * error escapes a job) fails its job with a `RuntimeError` and is replaced
 * by the next job that needs one. Workers keep the process alive until
 * `shutdown()`; `loop.close()` and `run()` shut the default pool down.
 *
 * @example Run a CPU-heavy function in a pool
 * ```ts
 * import { newEventLoop, WorkerPoolExecutor } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await using pool = new WorkerPoolExecutor({ maxWorkers: 2 });
 * const loop = newEventLoop();
 * try {
 *   const total = await loop.runUntilComplete(
 *     loop.runInExecutor(pool, (n: number) => {
 *       let sum = 0;
 *       for (let i = 0; i < n; i++) sum += i * i;
 *       return sum;
 *     }, 1000),
 *   );
 *   assert.equal(total, 332833500);
 * } finally {
 *   loop.close();
 * }
 * ```
 */
export class WorkerPoolExecutor implements Executor, AsyncDisposable {
  /** The most workers the pool runs at once. */
  readonly maxWorkers: number;
  readonly #namePrefix: string;
  readonly #workers = new Set<PoolWorker>();
  #idle: PoolWorker[] = [];
  #queue: Job[] = [];
  #running = 0;
  #nextId = 1;
  #spawned = 0;
  #shutdown = false;
  #drained: PromiseWithResolvers<void> | null = null;

  /**
   * Creates a pool; no worker starts until the first job.
   *
   * @param options `maxWorkers`, `namePrefix`.
   * @throws {TypeError} if `maxWorkers` is not a number.
   * @throws {RangeError} if it is not a positive integer.
   */
  constructor(options: WorkerPoolExecutorOptions = {}) {
    const max = options.maxWorkers ??
      Math.max(1, Math.floor(navigator.hardwareConcurrency || 1));
    if (typeof max !== "number") {
      throw new TypeError(`maxWorkers must be a number, got ${describe(max)}`);
    }
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxWorkers must be a positive integer, got ${max}`);
    }
    this.maxWorkers = max;
    this.#namePrefix = options.namePrefix ?? "aioloop-worker";
  }

  /** Workers alive now. */
  get workers(): number {
    return this.#workers.size;
  }

  /** Jobs submitted and not finished (running or queued). */
  get pending(): number {
    return this.#running + this.#queue.length;
  }

  /**
   * Schedules `fn(...args)` on a worker. Mirrors `Executor.submit()`.
   *
   * @returns A promise of the result, with `cancel()` for a queued job.
   * @throws {TypeError} if `fn` cannot run in a worker (not a function, a
   * native or bound function, a class, a method).
   * @throws {RuntimeError} after `shutdown()`.
   */
  // deno-lint-ignore no-explicit-any
  submit(fn: (...args: any[]) => unknown, ...args: unknown[]): ExecutorPromise {
    if (typeof fn !== "function") {
      throw new TypeError(
        `a function was expected by submit(), got ${describe(fn)}`,
      );
    }
    if (this.#shutdown) {
      throw new RuntimeError("cannot schedule new futures after shutdown");
    }
    const spec = specOf(fn);
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const job: Job = {
      id: this.#nextId++,
      spec,
      args,
      label: labelOf(fn),
      resolve,
      reject,
      worker: null,
    };
    this.#queue.push(job);
    this.#dispatch();
    return Object.assign(promise, { cancel: () => this.#cancel(job) });
  }

  /**
   * Stops taking work. With `wait` (the default) the jobs already submitted
   * still run, queued ones included; the promise resolves once every one
   * has finished, then the workers are terminated. Without
   * it, the workers are terminated now and unfinished jobs reject with
   * `RuntimeError` (a worker, unlike a thread, can be stopped). Mirrors
   * `Executor.shutdown()`.
   */
  shutdown(wait = true): Promise<void> {
    this.#shutdown = true;
    if (!wait) {
      const error = (job: Job) =>
        new RuntimeError(
          `the executor was shut down before ${job.label} finished`,
        );
      const unfinished = [...this.#queue];
      this.#queue = [];
      for (const worker of this.#workers) {
        if (worker.job !== null) unfinished.push(worker.job);
      }
      this.#terminateAll();
      for (const job of unfinished) job.reject(error(job));
      const drained = this.#drained;
      this.#drained = null;
      drained?.resolve();
      return Promise.resolve();
    }
    if (this.pending === 0) {
      this.#terminateAll();
      return Promise.resolve();
    }
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** Waits for running work, then terminates the workers (`await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown(true);
  }

  #cancel(job: Job): boolean {
    const index = this.#queue.indexOf(job);
    if (index === -1) return false;
    this.#queue.splice(index, 1);
    job.reject(new CancelledError());
    this.#settled();
    return true;
  }

  #dispatch(): void {
    while (this.#queue.length !== 0) {
      let worker = this.#idle.pop();
      if (worker === undefined) {
        if (this.#workers.size >= this.maxWorkers) return;
        worker = this.#spawn();
      }
      const job = this.#queue.shift()!;
      const message: JobMessage = { id: job.id, args: job.args, ...job.spec };
      try {
        worker.worker.postMessage(message);
      } catch (error) {
        this.#idle.push(worker);
        job.reject(
          new DOMException(
            `the arguments of ${job.label} cannot be sent to a worker (arguments cross by structured clone: no functions, symbols or host objects): ${
              (error as Error).message
            }`,
            "DataCloneError",
          ),
        );
        continue;
      }
      worker.job = job;
      job.worker = worker;
      hold(worker, true);
      this.#running++;
    }
    this.#settled();
  }

  #spawn(): PoolWorker {
    const worker = new Worker(bootstrap(), {
      type: "module",
      name: `${this.#namePrefix}-${++this.#spawned}`,
    });
    const entry: PoolWorker = { worker, job: null, held: true };
    worker.onmessage = (event: MessageEvent) => this.#onMessage(entry, event);
    worker.onmessageerror = () =>
      this.#died(entry, "its reply could not be deserialized", undefined);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#died(
        entry,
        "an error escaped it uncaught",
        event.error ?? event.message,
      );
    };
    this.#workers.add(entry);
    return entry;
  }

  #onMessage(entry: PoolWorker, event: MessageEvent): void {
    const data = event.data as {
      t: "ok" | "err" | "died";
      id: number | null;
      value?: unknown;
      error?: EncodedError;
      result?: boolean;
      how?: string;
    };
    if (data.t === "died") {
      this.#died(
        entry,
        data.how!,
        data.error === undefined ? undefined : decode(data.error),
      );
      return;
    }
    const job = entry.job;
    if (job === null || job.id !== data.id) return;
    entry.job = null;
    job.worker = null;
    this.#running--;
    if (data.t === "ok") job.resolve(data.value);
    else job.reject(jobError(job, data.error!, data.result === true));
    // Also after shutdown(true): the jobs still queued run first, as
    // ThreadPoolExecutor's do; dispatch() ends the pool once none is left.
    this.#idle.push(entry);
    this.#dispatch();
    if (entry.job === null) hold(entry, false);
  }

  #died(entry: PoolWorker, how: string, cause: unknown): void {
    if (!this.#workers.has(entry)) return;
    this.#workers.delete(entry);
    const index = this.#idle.indexOf(entry);
    if (index !== -1) this.#idle.splice(index, 1);
    entry.worker.terminate();
    const job = entry.job;
    if (job !== null) {
      entry.job = null;
      job.worker = null;
      this.#running--;
      job.reject(
        new RuntimeError(
          `the worker running ${job.label} died before returning a result (${how}); the pool replaces it`,
          cause === undefined ? undefined : { cause },
        ),
      );
    }
    this.#dispatch();
  }

  /** Resolves a pending `shutdown(true)` once nothing is left. */
  #settled(): void {
    if (!this.#shutdown || this.pending !== 0) return;
    this.#terminateAll();
    const drained = this.#drained;
    this.#drained = null;
    drained?.resolve();
  }

  #terminateAll(): void {
    for (const entry of this.#workers) entry.worker.terminate();
    this.#workers.clear();
    this.#idle = [];
    this.#running = 0;
  }
}
