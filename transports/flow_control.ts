/**
 * Write flow control shared by the write-side transports (package-internal):
 * asyncio's `_FlowControlMixin`. A transport keeps its own buffer size and
 * tells this object when it grows or shrinks; this object holds the water
 * marks and calls the protocol's `pauseWriting()` / `resumeWriting()` across
 * them, reporting a failing call to the loop's exception handler.
 *
 * @module
 */
import type { BaseProtocol } from "../protocols/protocol.ts";
import type { ExceptionContext } from "../loop/base/exception_context.ts";

/**
 * After this many writes (or sends) to a lost connection, pipe or closed
 * endpoint, each one warns (asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`).
 */
export const LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5;

/** The default high-water mark of a write buffer (asyncio's). */
export const DEFAULT_HIGH = 64 * 1024;

/**
 * The default high-water mark of a TLS transport's write buffer (asyncio's
 * `FLOW_CONTROL_HIGH_WATER_SSL_WRITE`, 512 KiB): an SSL transport buffers
 * more before `pauseWriting()` than a plain one.
 */
export const DEFAULT_TLS_HIGH = 512 * 1024;

/** asyncio's `_set_write_buffer_limits` rule: returns `[low, high]`. */
export function computeLimits(
  high?: number | null,
  low?: number | null,
): [number, number] {
  for (const [name, value] of [["high", high], ["low", low]] as const) {
    if (value != null && typeof value !== "number") {
      throw new TypeError(`${name} must be a number, got ${typeof value}`);
    }
    if (typeof value === "number" && Number.isNaN(value)) {
      throw new RangeError(`${name} must not be NaN`);
    }
  }
  let hi = high ?? (low == null ? DEFAULT_HIGH : 4 * low);
  const lo = low ?? Math.floor(hi / 4);
  hi = hi as number;
  if (!(hi >= lo && lo >= 0)) {
    throw new RangeError(`high (${hi}) must be >= low (${lo}) must be >= 0`);
  }
  return [lo, hi];
}

/** The water marks of one transport and whether its protocol is paused. */
export class WriteFlowControl {
  high = DEFAULT_HIGH;
  low = DEFAULT_HIGH / 4;
  /** Whether the protocol's `pauseWriting()` was called and not undone. */
  paused = false;

  constructor(
    readonly loop: { callExceptionHandler(context: ExceptionContext): void },
    readonly transport: object,
  ) {}

  /** Sets the marks (`setWriteBufferLimits(high, low)`'s rule). */
  setLimits(high?: number | null, low?: number | null): void {
    [this.low, this.high] = computeLimits(high, low);
  }

  /** Pauses `protocol` if `size` went over the high mark. */
  maybePause(size: number, protocol: BaseProtocol): void {
    if (size <= this.high || this.paused) return;
    this.paused = true;
    this.#call(protocol, "pauseWriting");
  }

  /** Resumes `protocol` if it is paused and `size` fell to the low mark. */
  maybeResume(size: number, protocol: BaseProtocol): void {
    if (!this.paused || size > this.low) return;
    this.paused = false;
    this.#call(protocol, "resumeWriting");
  }

  #call(protocol: BaseProtocol, method: "pauseWriting" | "resumeWriting") {
    try {
      protocol[method]();
    } catch (error) {
      this.loop.callExceptionHandler({
        message: `protocol.${method}() failed`,
        exception: error,
        transport: this.transport,
        protocol,
      });
    }
  }
}
