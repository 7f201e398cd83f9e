/**
 * Testing support: a loop on a virtual clock, the policy that makes such
 * loops, and a one-line way to swap a policy in for a test.
 *
 * The virtual clock starts at 0 and moves only by jumping to the next timer
 * when the loop would otherwise wait: nothing ready, all microtasks settled,
 * and no real I/O or executor work in flight (the dispatcher says so). While
 * sockets wait on peers, it also waits until the network has been quiet for
 * a few real milliseconds, so a reply in transit is never overtaken by a
 * timeout. It also
 * moves by `advance(seconds)`. An hour of `callLater`s and `sleep`s runs in
 * milliseconds, in a deterministic order: timers due at the same virtual time
 * run in the order they were scheduled.
 *
 * @example Testing timer-heavy code instantly
 * ```ts
 * import { getRunningLoop, run, sleep } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
 * const elapsed = await run(async () => {
 *   const loop = getRunningLoop();
 *   const start = loop.time();
 *   await sleep(3600);
 *   return loop.time() - start;
 * });
 * assert.equal(elapsed, 3600);
 * ```
 *
 * @module
 */
import type { AbstractEventLoop } from "../loop/core/abstract_loop.ts";
import { EventLoop } from "../loop/event_loop.ts";
import type { AbstractEventLoopPolicy } from "../policy/abstract_policy.ts";
import { DefaultEventLoopPolicy } from "../policy/default_policy.ts";
import { _getRawPolicy, setEventLoopPolicy } from "../policy/functions.ts";

/** Real milliseconds of network silence before the clock may jump. */
const QUIET_MS = 10;

/**
 * An `EventLoop` whose `time()` is virtual. Callbacks, futures and tasks
 * behave exactly as on the real loop; only waiting for timers is skipped.
 *
 * @example
 * ```ts
 * import { VirtualTimeEventLoop } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * const loop = new VirtualTimeEventLoop();
 * const seen: number[] = [];
 * loop.callLater(10, () => seen.push(loop.time()));
 * loop.callLater(5, () => seen.push(loop.time()));
 * loop.callLater(20, () => loop.stop());
 * await loop.runForever();
 * assert.deepEqual(seen, [5, 10]);
 * loop.close();
 * ```
 */
export class VirtualTimeEventLoop extends EventLoop {
  #now = 0;
  #settle: ReturnType<typeof setImmediate> | null = null;
  #quiet: ReturnType<typeof setTimeout> | null = null;

  /** Creates a loop whose clock reads 0. */
  constructor() {
    super();
    this._clockResolution = 1e-9;
  }

  /**
   * The virtual time, in seconds.
   *
   * @example
   * ```ts
   * import { VirtualTimeEventLoop } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   * const loop = new VirtualTimeEventLoop();
   * assert.equal(loop.time(), 0);
   * loop.close();
   * ```
   */
  override time(): number {
    return this.#now;
  }

  /**
   * Moves the clock forward by `seconds`; timers that become due run on the
   * loop's next iteration.
   *
   * @throws {TypeError} if `seconds` is not a number.
   * @throws {RangeError} if it is negative or NaN.
   * @example
   * ```ts
   * import { VirtualTimeEventLoop } from "@aio/loop/testing";
   * import assert from "node:assert/strict";
   * const loop = new VirtualTimeEventLoop();
   * loop.advance(2.5);
   * assert.equal(loop.time(), 2.5);
   * loop.close();
   * ```
   */
  advance(seconds: number): void {
    if (typeof seconds !== "number") {
      throw new TypeError(
        `advance() takes a number of seconds, got ${typeof seconds}`,
      );
    }
    if (Number.isNaN(seconds) || seconds < 0) {
      throw new RangeError(
        `advance() takes a non-negative number of seconds, got ${seconds}`,
      );
    }
    this.#now += seconds;
    this._wake();
  }

  /**
   * @ignore Instead of waiting for a timer, let microtasks and host
   * callbacks settle; if the loop is still idle and nothing is in flight,
   * jump to the next timer.
   */
  override _wait(timeout: number): Promise<void> {
    if (timeout === 0) return super._wait(0);
    // A previous wait that was woken early leaves its timers armed: drop
    // them, or they outlive the loop (the test sanitizer's "leaked timer").
    this.#clearTimers();
    return new Promise<void>((resolve) => {
      this._wakeResolve = resolve;
      const jump = () => {
        if (this._wakeResolve !== resolve) return;
        if (this._realInFlight() > 0) return; // wait for real I/O
        const when = this._nextTimerWhen();
        if (when === Infinity) return; // nothing to jump to: wait
        if (when > this.#now) this.#now = when;
        this._wake();
      };
      this.#settle = setImmediate(() => {
        this.#settle = null;
        if (this._wakeResolve !== resolve) return;
        if (this._realWaiting() === 0) {
          jump();
          return;
        }
        // Sockets wait on peers: jump only once the network has been quiet
        // for a moment (loopback data arrives well within it).
        const posted = this._dispatcher.posted;
        this.#quiet = setTimeout(() => {
          this.#quiet = null;
          if (this._dispatcher.posted === posted) jump();
        }, QUIET_MS);
      });
    });
  }

  /**
   * @ignore Operations in flight that only real I/O completes (a simulated
   * network's own are moved by timers).
   */
  _realInFlight(): number {
    return this._dispatcher.inFlight;
  }

  /** @ignore Reads and accepts waiting on real peers. */
  _realWaiting(): number {
    return this._dispatcher.waiting;
  }

  /** @ignore */
  override _clearWaitTimers(): void {
    super._clearWaitTimers();
    this.#clearTimers();
  }

  /** Drops the settle and quiet timers of a wait. */
  #clearTimers(): void {
    if (this.#settle !== null) {
      clearImmediate(this.#settle);
      this.#settle = null;
    }
    if (this.#quiet !== null) {
      clearTimeout(this.#quiet);
      this.#quiet = null;
    }
  }
}

/**
 * A `DefaultEventLoopPolicy` whose loops are `VirtualTimeEventLoop`s, so
 * `run()`, `newEventLoop()` and `getEventLoop()` all produce virtual-clock
 * loops while it is set.
 *
 * @example
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimeEventLoop, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * using _policy = useEventLoopPolicy(new VirtualTimePolicy());
 * const loop = newEventLoop();
 * assert(loop instanceof VirtualTimeEventLoop);
 * loop.close();
 * ```
 */
export class VirtualTimePolicy extends DefaultEventLoopPolicy {
  /** A new `VirtualTimeEventLoop`. */
  override newEventLoop(): AbstractEventLoop {
    return new VirtualTimeEventLoop();
  }
}

/**
 * Sets `policy` as the current event loop policy and returns a
 * `Disposable` that restores the previous one — one line with `using`.
 *
 * @example
 * ```ts
 * import { getEventLoopPolicy } from "@aio/loop";
 * import { useEventLoopPolicy, VirtualTimePolicy } from "@aio/loop/testing";
 * import assert from "node:assert/strict";
 *
 * const before = getEventLoopPolicy();
 * {
 *   using _policy = useEventLoopPolicy(new VirtualTimePolicy());
 *   assert(getEventLoopPolicy() instanceof VirtualTimePolicy);
 * }
 * assert.equal(getEventLoopPolicy(), before);
 * ```
 */
export function useEventLoopPolicy(
  policy: AbstractEventLoopPolicy,
): Disposable {
  const previous = _getRawPolicy();
  setEventLoopPolicy(policy);
  return {
    [Symbol.dispose]() {
      setEventLoopPolicy(previous);
    },
  };
}
