/**
 * Shared test helpers: run a test against every loop class, with a strict
 * exception handler, and wait (boundedly) for garbage-collection reports.
 */
import assert from "node:assert/strict";
import { EventLoop, type ExceptionContext } from "../mod.ts";
import { VirtualTimeEventLoop } from "../testing.ts";

/** The loops every suite runs against (as uvloop runs its suites twice). */
export const LOOP_FACTORIES: ReadonlyArray<
  { readonly name: string; readonly make: () => EventLoop }
> = [
  { name: "EventLoop", make: () => new EventLoop() },
  { name: "VirtualTimeEventLoop", make: () => new VirtualTimeEventLoop() },
];

/** A loop with an exception handler that records every call. */
export class LoopFixture implements Disposable {
  readonly loop: EventLoop;
  /** Every context the loop's exception handler received, in order. */
  readonly errors: ExceptionContext[] = [];

  constructor(make: () => EventLoop) {
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
    if (!this.loop.isClosed()) this.loop.close();
  }
}

/** Options of {@linkcode loopTest}. */
export interface LoopTestOptions {
  /** Run only on the virtual-clock loop (for tests where time passes). */
  virtualOnly?: boolean;
}

/**
 * Registers `fn` once per loop class. The loop is closed afterwards, then the
 * test fails if its exception handler saw anything the test did not take
 * with `takeErrors()` (this includes "Task was destroyed but it is pending!"
 * reported by `close()`).
 */
export function loopTest(
  title: string,
  fn: (fx: LoopFixture) => Promise<void> | void,
  options: LoopTestOptions = {},
): void {
  for (const { name, make } of LOOP_FACTORIES) {
    if (options.virtualOnly && name !== "VirtualTimeEventLoop") continue;
    Deno.test(`${title} [${name}]`, async () => {
      const fx = new LoopFixture(make);
      try {
        await fn(fx);
      } finally {
        if (!fx.loop.isRunning()) fx.loop.close();
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
 * Runs a full garbage collection (tests run with `--v8-flags=--expose-gc`),
 * then lets macrotasks run so FinalizationRegistry callbacks fire, until
 * `done()` holds or `tries` rounds have passed. Returns whether it held.
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
