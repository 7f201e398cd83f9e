/** Shared test helpers: loops to run suites against, strict teardown. */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  CancelledError,
  eagerTaskFactory,
  EventLoop,
  type ExceptionContext,
  logger,
  sleep,
  type Task,
  timeout,
} from "../mod.ts";
import { VirtualTimeEventLoop } from "../testing/mod.ts";

/** Every loop the package ships; suites run against each (as uvloop runs its suites twice). */
export const LOOPS: [string, () => AbstractEventLoop][] = [
  ["EventLoop", () => new EventLoop()],
  ["VirtualTimeEventLoop", () => new VirtualTimeEventLoop()],
];

/** A loop that records exception-handler calls and is closed on dispose. */
export function strictLoop(
  factory: () => AbstractEventLoop,
): AbstractEventLoop & { errors: ExceptionContext[] } & Disposable {
  const loop = factory() as AbstractEventLoop & {
    errors: ExceptionContext[];
  } & Disposable;
  loop.errors = [];
  loop.setExceptionHandler((_loop, context) => loop.errors.push(context));
  return loop;
}

/** Asserts the loop's exception handler was never called. */
export function assertNoErrors(loop: { errors: ExceptionContext[] }): void {
  assert.deepEqual(loop.errors.map((e) => e.message), []);
}

/** Registers one test per loop kind. */
export function testEach(
  name: string,
  fn: (factory: () => AbstractEventLoop) => Promise<void> | void,
): void {
  for (const [kind, factory] of LOOPS) {
    Deno.test(`${name} [${kind}]`, () => fn(factory));
  }
}

/** A loop whose exception handler records every call (see `loopTest`). */
export class LoopFixture implements Disposable {
  readonly loop: AbstractEventLoop;
  /** Makes another loop of the same kind (close it yourself). */
  readonly make: () => AbstractEventLoop;
  /** Every context the loop's exception handler received, in order. */
  readonly errors: ExceptionContext[] = [];

  constructor(make: () => AbstractEventLoop) {
    this.make = make;
    this.loop = make();
    this.loop.setExceptionHandler((_loop, context) => {
      this.errors.push(context);
    });
  }

  /** Returns the recorded contexts and forgets them. */
  takeErrors(): ExceptionContext[] {
    return this.errors.splice(0);
  }

  [Symbol.dispose](): void {
    if (!this.loop.isClosed() && !this.loop.isRunning()) this.loop.close();
  }
}

/**
 * Registers `fn` once per loop kind (or only on the virtual-clock loop). The
 * loop is closed afterwards; then the test fails if the exception handler saw
 * anything the test did not take with `takeErrors()` (including "Task was
 * destroyed but it is pending!" from `close()`).
 */
export function loopTest(
  title: string,
  fn: (fx: LoopFixture) => Promise<void> | void,
  options: { virtualOnly?: boolean } = {},
): void {
  for (const [kind, factory] of LOOPS) {
    if (options.virtualOnly && kind !== "VirtualTimeEventLoop") continue;
    Deno.test(`${title} [${kind}]`, async () => {
      const fx = new LoopFixture(factory);
      try {
        await fn(fx);
      } finally {
        fx[Symbol.dispose]();
      }
      assert.deepEqual(
        fx.errors.map((context) => context.message),
        [],
        "unexpected calls of the loop's exception handler",
      );
    });
  }
}

/**
 * Registers `fn` as {@linkcode loopTest} does, twice: with the loop's usual
 * lazy tasks, and with `eagerTaskFactory` set (titled "(eager tasks)"), as
 * asyncio runs its task group suite under both.
 */
export function taskKindsTest(
  title: string,
  fn: (fx: LoopFixture) => Promise<void> | void,
  options: { virtualOnly?: boolean } = {},
): void {
  loopTest(title, fn, options);
  loopTest(`${title} (eager tasks)`, (fx) => {
    fx.loop.setTaskFactory(eagerTaskFactory);
    return fn(fx);
  }, options);
}

/**
 * Runs a full garbage collection (needs `--v8-flags=--expose-gc`), then lets
 * macrotasks run so FinalizationRegistry callbacks fire, until `done()` holds
 * or `tries` rounds have passed. Returns whether `done()` held.
 */
export async function gcUntil(
  done: () => boolean,
  tries = 50,
): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run the tests with --v8-flags=--expose-gc");
  for (let i = 0; i < tries; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (done()) return true;
  }
  return done();
}

/** What {@linkcode captureLogger} collected. */
export interface LogCapture extends Disposable {
  /** `logger.error(message, exception)` calls, in order. */
  errors: { message: string; exception: unknown }[];
  /** `logger.warning(message)` calls, in order. */
  warnings: string[];
}

/**
 * Replaces `logger.error` and `logger.warning` with recorders until the
 * returned object is disposed (`using log = captureLogger();`), then puts the
 * previous functions back.
 */
export function captureLogger(): LogCapture {
  const savedError = logger.error;
  const savedWarning = logger.warning;
  const capture: LogCapture = {
    errors: [],
    warnings: [],
    [Symbol.dispose]() {
      logger.error = savedError;
      logger.warning = savedWarning;
    },
  };
  logger.error = (message, exception) =>
    capture.errors.push({ message, exception });
  logger.warning = (message) => capture.warnings.push(message);
  return capture;
}

/**
 * The number of open file descriptors of this process. Deno reads
 * `/proc/<pid>/fd` only with `--allow-all`, so `ls` lists it (the tests run
 * with `--allow-run`).
 */
export function fdCount(): number {
  const { stdout } = new Deno.Command("ls", {
    args: [`/proc/${Deno.pid}/fd`],
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(stdout).split("\n").filter(Boolean).length;
}

/**
 * What each open file descriptor of this process is (`ls -l` of
 * `/proc/<pid>/fd`: `0 -> /dev/null`, `7 -> socket:[...]`), for the message
 * of a failed descriptor check.
 */
export function describeFds(): string {
  const { stdout } = new Deno.Command("ls", {
    args: ["-l", `/proc/${Deno.pid}/fd`],
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(stdout).split("\n")
    .map((line) => line.match(/(\d+ -> .*)$/)?.[1])
    .filter(Boolean)
    .join(", ");
}

/**
 * The number of sockets among this process's open file descriptors: what a
 * connection or listener that leaks leaves behind, unlike the descriptors
 * the runtime opens and closes for itself (its event queues, a child's
 * pipes).
 */
export function socketCount(): number {
  return describeFds().split(", ").filter((fd) => fd.includes("socket:"))
    .length;
}

/** Runs `fn` as the main task of `loop`. */
export function inTask<T>(
  loop: AbstractEventLoop,
  fn: () => Promise<T>,
): Promise<T> {
  return loop.runUntilComplete(fn);
}

/**
 * Runs `fn` as the main task of `loop` under a guard: a regression that
 * deadlocks fails with `TimeoutError` (at once on the virtual clock) instead
 * of hanging the suite. For tests that wait less than 5 s, virtual or real.
 */
export function inGuardedTask<T>(
  loop: AbstractEventLoop,
  fn: () => Promise<T>,
): Promise<T> {
  return loop.runUntilComplete(() => timeout(5).run(fn));
}

/** Lets the loop run `n` iterations (asyncio's `await asyncio.sleep(0)`). */
export async function steps(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await sleep(0);
}

/** Awaits a task that must end cancelled. */
export async function assertCancelled(task: Task<unknown>): Promise<void> {
  await assert.rejects(async () => await task, CancelledError);
  assert.equal(task.cancelled(), true);
}

/** Whether times on `loop` are exact (the virtual clock). */
export function exact(loop: AbstractEventLoop): boolean {
  return loop instanceof VirtualTimeEventLoop;
}

/** Asserts `actual` is `expected` up to floating-point rounding. */
export function near(actual: number, expected: number, what = "time"): void {
  assert.ok(
    Math.abs(actual - expected) < 1e-9,
    `${what}: ${actual} is not ${expected}`,
  );
}

/** Runs `fn`, asserting it throws or rejects; returns what it threw. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}
