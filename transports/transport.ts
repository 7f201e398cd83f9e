/**
 * Transport interfaces. Mirrors `asyncio.transports`: every method raises
 * `NotImplementedError` until a concrete transport (sockets, pipes,
 * subprocesses) defines it.
 *
 * @module
 */
import { concat } from "../loop/base/bytes.ts";
import { NotImplementedError } from "../loop/base/exceptions.ts";
import { callbackLabel, describeValue } from "../loop/base/format.ts";
import type { BaseProtocol } from "../protocols/protocol.ts";

function notImplemented(name: string): never {
  throw new NotImplementedError(
    `${name}() is not implemented by this transport class`,
  );
}

/**
 * The base of all transports. Mirrors `asyncio.BaseTransport`.
 *
 * @example
 * ```ts
 * import { BaseTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * const t = new BaseTransport({ peername: ["127.0.0.1", 8080] });
 * assert.deepEqual(t.getExtraInfo("peername"), ["127.0.0.1", 8080]);
 * assert.equal(t.getExtraInfo("missing"), null);
 * assert.equal(t.getExtraInfo("missing", "dflt"), "dflt");
 * ```
 */
export class BaseTransport {
  /** @ignore Extra information answered by `getExtraInfo`. */
  protected _extra: Record<string, unknown>;

  /**
   * Creates a transport.
   *
   * @param extra Values for `getExtraInfo`.
   */
  constructor(extra?: Record<string, unknown> | null) {
    this._extra = extra ?? {};
  }

  /**
   * Transport information (`peername`, `sockname`, `socket`, ...), or
   * `defaultValue`. Mirrors `BaseTransport.get_extra_info()`.
   */
  getExtraInfo(name: string, defaultValue: unknown = null): unknown {
    return Object.hasOwn(this._extra, name) ? this._extra[name] : defaultValue;
  }

  /** Whether the transport is closing or closed. */
  isClosing(): boolean {
    return notImplemented("isClosing");
  }

  /** Closes the transport after flushing buffered data. */
  close(): void {
    notImplemented("close");
  }

  /** Sets a new protocol. */
  setProtocol(_protocol: BaseProtocol): void {
    notImplemented("setProtocol");
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return notImplemented("getProtocol");
  }
}

/**
 * A transport that receives. Mirrors `asyncio.ReadTransport`.
 *
 * @example A transport defines the methods it supports
 * ```ts
 * import { NotImplementedError } from "@aio/loop";
 * import { ReadTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * class Pausable extends ReadTransport {
 *   #reading = true;
 *   override isReading() { return this.#reading; }
 *   override pauseReading() { this.#reading = false; }
 *   override resumeReading() { this.#reading = true; }
 * }
 * const t = new Pausable();
 * t.pauseReading();
 * assert.equal(t.isReading(), false);
 * assert.throws(() => t.close(), NotImplementedError); // not defined here
 * ```
 */
export class ReadTransport extends BaseTransport {
  /** Whether the transport is receiving. */
  isReading(): boolean {
    return notImplemented("isReading");
  }
  /** Stops calling `dataReceived` until `resumeReading()`. */
  pauseReading(): void {
    notImplemented("pauseReading");
  }
  /** Resumes receiving. */
  resumeReading(): void {
    notImplemented("resumeReading");
  }
}

/**
 * A transport that sends. Mirrors `asyncio.WriteTransport`.
 *
 * @example
 * ```ts
 * import { Transport, WriteTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * class Collect extends WriteTransport {
 *   chunks: Uint8Array[] = [];
 *   override write(data: Uint8Array) { this.chunks.push(data); }
 * }
 * const t = new Collect();
 * t.writelines([new Uint8Array([1]), new Uint8Array([2, 3])]); // one write()
 * assert.deepEqual(t.chunks, [new Uint8Array([1, 2, 3])]);
 * assert(new Transport() instanceof WriteTransport); // a Transport writes too
 * ```
 */
export class WriteTransport extends BaseTransport {
  /** Treats `Transport`s as write transports too (they are both kinds). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(WriteTransport, value) ||
      Function.prototype[Symbol.hasInstance].call(Transport, value);
  }
  /** Sets the flow-control marks (bytes). */
  setWriteBufferLimits(_high?: number | null, _low?: number | null): void {
    notImplemented("setWriteBufferLimits");
  }
  /** Bytes buffered for writing. */
  getWriteBufferSize(): number {
    return notImplemented("getWriteBufferSize");
  }
  /** The flow-control marks, as `[low, high]`. */
  getWriteBufferLimits(): [number, number] {
    return notImplemented("getWriteBufferLimits");
  }
  /** Writes bytes (buffered, never blocks). */
  write(_data: Uint8Array): void {
    notImplemented("write");
  }
  /** Writes a list of byte chunks. */
  writelines(listOfData: Iterable<Uint8Array>): void {
    writeAll(this, listOfData);
  }
  /** Closes the write end after flushing. */
  writeEof(): void {
    notImplemented("writeEof");
  }
  /** Whether `writeEof()` is supported. */
  canWriteEof(): boolean {
    return notImplemented("canWriteEof");
  }
  /** Closes at once, dropping buffered data. */
  abort(): void {
    notImplemented("abort");
  }
}

function writeAll(
  transport: { write(data: Uint8Array): void },
  listOfData: Iterable<Uint8Array>,
): void {
  const chunks = [...listOfData];
  let size = 0;
  for (const chunk of chunks) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(
        `writelines() takes Uint8Array chunks, got ${typeof chunk}`,
      );
    }
    size += chunk.length;
  }
  // Always a copy: the transport keeps what it is given until it is written.
  transport.write(
    chunks.length === 1 ? new Uint8Array(chunks[0]) : concat(chunks, size),
  );
}

/**
 * A bidirectional stream transport (TCP, Unix sockets). Mirrors
 * `asyncio.Transport`.
 *
 * @example
 * ```ts
 * import { NotImplementedError } from "@aio/loop";
 * import { ReadTransport, Transport, WriteTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * const t = new Transport();
 * assert(t instanceof ReadTransport && t instanceof WriteTransport);
 * // Concrete transports (SocketTransport, TlsTransport) define the methods.
 * assert.throws(() => t.write(new Uint8Array([1])), NotImplementedError);
 * ```
 */
export class Transport extends ReadTransport {
  /** Sets the flow-control marks (bytes). */
  setWriteBufferLimits(_high?: number | null, _low?: number | null): void {
    notImplemented("setWriteBufferLimits");
  }
  /** Bytes buffered for writing. */
  getWriteBufferSize(): number {
    return notImplemented("getWriteBufferSize");
  }
  /** The flow-control marks, as `[low, high]`. */
  getWriteBufferLimits(): [number, number] {
    return notImplemented("getWriteBufferLimits");
  }
  /** Writes bytes (buffered, never blocks). */
  write(_data: Uint8Array): void {
    notImplemented("write");
  }
  /** Writes a list of byte chunks. */
  writelines(listOfData: Iterable<Uint8Array>): void {
    writeAll(this, listOfData);
  }
  /** Closes the write end after flushing. */
  writeEof(): void {
    notImplemented("writeEof");
  }
  /** Whether `writeEof()` is supported. */
  canWriteEof(): boolean {
    return notImplemented("canWriteEof");
  }
  /** Closes at once, dropping buffered data. */
  abort(): void {
    notImplemented("abort");
  }
}

/**
 * A datagram transport. Mirrors `asyncio.DatagramTransport`.
 *
 * @example An endpoint sends a datagram to itself
 * ```ts
 * import { DatagramProtocol, newEventLoop } from "@aio/loop";
 * import { DatagramTransport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const got = loop.createFuture<Uint8Array>();
 * const lost = loop.createFuture<null>();
 * class P extends DatagramProtocol {
 *   override datagramReceived(data: Uint8Array) { got.setResult(data); }
 *   override connectionLost() { lost.setResult(null); }
 * }
 * await loop.runUntilComplete(async () => {
 *   const [t] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
 *   assert(t instanceof DatagramTransport);
 *   t.sendto(new Uint8Array([1, 2]), t.getExtraInfo("sockname") as [string, number]);
 *   assert.deepEqual(await got, new Uint8Array([1, 2]));
 *   t.close();
 *   await lost;
 * });
 * loop.close();
 * ```
 */
export class DatagramTransport extends BaseTransport {
  /** Sends a datagram to `addr` (or the connected peer). */
  sendto(_data: Uint8Array, _addr?: unknown): void {
    notImplemented("sendto");
  }
  /** Bytes buffered for sending. */
  getWriteBufferSize(): number {
    return notImplemented("getWriteBufferSize");
  }
  /** Closes at once, dropping buffered data. */
  abort(): void {
    notImplemented("abort");
  }
}

/**
 * A child process transport. Mirrors `asyncio.SubprocessTransport`.
 *
 * @example
 * ```ts
 * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const done = loop.createFuture<null>();
 * class P extends SubprocessProtocol {
 *   override connectionLost() { done.setResult(null); } // exited, pipes closed
 * }
 * await loop.runUntilComplete(async () => {
 *   const [t] = await loop.subprocessExec(() => new P(), Deno.execPath(), "eval", "Deno.exit(7)");
 *   assert(t.getPid() > 0);
 *   await done;
 *   assert.equal(t.getReturncode(), 7);
 *   t.close();
 * });
 * loop.close();
 * ```
 */
export class SubprocessTransport extends BaseTransport {
  /** The child's process id. */
  getPid(): number {
    return notImplemented("getPid");
  }
  /** The return code, or null while running. */
  getReturncode(): number | null {
    return notImplemented("getReturncode");
  }
  /** The transport of pipe `fd` (0, 1, 2), or null. */
  getPipeTransport(_fd: number): BaseTransport | null {
    return notImplemented("getPipeTransport");
  }
  /** Sends a signal (name or number) to the child. */
  sendSignal(_signal: string | number): void {
    notImplemented("sendSignal");
  }
  /** Asks the child to stop (SIGTERM). */
  terminate(): void {
    notImplemented("terminate");
  }
  /** Kills the child (SIGKILL). */
  kill(): void {
    notImplemented("kill");
  }
}

/**
 * @internal Labels `call`, a transport's closure that runs one protocol
 * method, with that method: an exception escaping it is reported as
 * "Exception in callback EchoProtocol.connectionMade()", and in debug mode
 * with its arguments, "EchoProtocol.connectionMade(<SocketTransport ...>)"
 * (`args()`, else the transport), as asyncio reports
 * `call_soon(protocol.connection_made, transport)`.
 */
export function protocolCall(
  transport: BaseTransport,
  method: string,
  call: () => void,
  args?: () => unknown[],
): () => void {
  (call as { [callbackLabel]?: (showArgs: boolean) => string })[
    callbackLabel
  ] = (showArgs) => {
    const shown = !showArgs
      ? ""
      : args === undefined
      ? String(transport)
      : args().map(describeValue).join(", ");
    return `${transport.getProtocol().constructor.name}.${method}(${shown})`;
  };
  return call;
}

/**
 * @internal Waits for `waiter`, which a new transport settles once its
 * protocol's `connectionMade` has run, and returns `[transport, protocol]`.
 * If the wait fails (the call is cancelled, `connectionMade` threw),
 * `undo()` closes or aborts the transport (awaited when it returns a
 * promise) and the error propagates.
 */
export async function connectionMade<T extends BaseTransport, P>(
  transport: T,
  protocol: P,
  waiter: PromiseLike<unknown>,
  undo: () => void | Promise<void>,
): Promise<[T, P]> {
  try {
    await waiter;
  } catch (error) {
    await undo();
    throw error;
  }
  return [transport, protocol];
}

/**
 * @internal Completes `waiter` (if any) with null in a callback scheduled
 * now: after the callbacks already scheduled, such as a new transport's
 * `connectionMade`.
 */
export function completeSoon(
  loop: { callSoon(callback: () => void): unknown },
  waiter: { done(): boolean; setResult(value: null): void } | null,
): void {
  if (waiter !== null) {
    loop.callSoon(() => {
      if (!waiter.done()) waiter.setResult(null);
    });
  }
}
