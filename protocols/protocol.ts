/**
 * Protocol base classes: the callbacks a transport calls. No I/O here, and no
 * imports from the rest of the package. Mirrors `asyncio.protocols`.
 *
 * Callback order for a stream protocol: `connectionMade`, then any number of
 * `dataReceived`, then at most one `eofReceived`, then `connectionLost`.
 *
 * @module
 */

/** The transport-like object handed to `connectionMade` (typed loosely). */
export type AnyTransport = object;

/**
 * The base of all protocols. Mirrors `asyncio.BaseProtocol`.
 *
 * @example
 * ```ts
 * import { BaseProtocol } from "@aio/loop/protocols";
 * class Counter extends BaseProtocol {
 *   made = 0;
 *   override connectionMade(_transport: object): void { this.made++; }
 * }
 * const p = new Counter();
 * p.connectionMade({});
 * console.assert(p.made === 1);
 * ```
 */
export class BaseProtocol {
  /** The connection is made; `transport` is its transport. */
  connectionMade(_transport: AnyTransport): void {}
  /** The connection is lost or closed; `exc` is the error, or null for EOF/close. */
  connectionLost(_exc: Error | null): void {}
  /** The transport's write buffer went over the high-water mark. */
  pauseWriting(): void {}
  /** The transport's write buffer drained below the low-water mark. */
  resumeWriting(): void {}
}

/**
 * A streaming protocol (TCP, Unix sockets, pipes). Mirrors
 * `asyncio.Protocol`.
 *
 * @example An echo protocol
 * ```ts
 * import { Protocol } from "@aio/loop/protocols";
 * class Echo extends Protocol {
 *   transport: { write(data: Uint8Array): void } | null = null;
 *   override connectionMade(t: object): void {
 *     this.transport = t as { write(data: Uint8Array): void };
 *   }
 *   override dataReceived(data: Uint8Array): void { this.transport?.write(data); }
 * }
 * console.assert(new Echo() instanceof Protocol);
 * ```
 */
export class Protocol extends BaseProtocol {
  /** Bytes arrived. */
  dataReceived(_data: Uint8Array): void {}
  /**
   * The peer sent EOF. Return true to keep the transport open for writing
   * (half-close); anything else closes it.
   */
  eofReceived(): boolean | void {}
}

/**
 * A streaming protocol that supplies its own receive buffers. Mirrors
 * `asyncio.BufferedProtocol`.
 *
 * @example
 * ```ts
 * import { BufferedProtocol } from "@aio/loop/protocols";
 * class Collect extends BufferedProtocol {
 *   buf = new Uint8Array(1024);
 *   received = 0;
 *   override getBuffer(_hint: number): Uint8Array { return this.buf; }
 *   override bufferUpdated(n: number): void { this.received += n; }
 * }
 * console.assert(new Collect().getBuffer(-1).length === 1024);
 * ```
 */
export class BufferedProtocol extends BaseProtocol {
  /** Returns a buffer to receive into; `sizehint` is the suggested minimum (-1: any). */
  getBuffer(_sizehint: number): Uint8Array {
    throw new TypeError(
      "BufferedProtocol subclasses must implement getBuffer()",
    );
  }
  /** `nbytes` were written into the buffer from `getBuffer`. */
  bufferUpdated(_nbytes: number): void {}
  /** The peer sent EOF; return true to keep the transport open for writing. */
  eofReceived(): boolean | void {}
}

/**
 * A datagram (UDP) protocol. Mirrors `asyncio.DatagramProtocol`.
 *
 * @example
 * ```ts
 * import { DatagramProtocol } from "@aio/loop/protocols";
 * class Log extends DatagramProtocol {
 *   got: string[] = [];
 *   override datagramReceived(data: Uint8Array, addr: unknown): void {
 *     this.got.push(`${new TextDecoder().decode(data)} from ${addr}`);
 *   }
 * }
 * console.assert(new Log().got.length === 0);
 * ```
 */
export class DatagramProtocol extends BaseProtocol {
  /** A datagram arrived from `addr` (`[host, port]`, or a path). */
  datagramReceived(_data: Uint8Array, _addr: unknown): void {}
  /** A previous send or receive failed with an OS error. */
  errorReceived(_exc: Error): void {}
}

/**
 * A protocol for child processes. Mirrors `asyncio.SubprocessProtocol`.
 *
 * @example
 * ```ts
 * import { SubprocessProtocol } from "@aio/loop/protocols";
 * class Out extends SubprocessProtocol {
 *   chunks: Uint8Array[] = [];
 *   override pipeDataReceived(fd: number, data: Uint8Array): void {
 *     if (fd === 1) this.chunks.push(data);
 *   }
 * }
 * console.assert(new Out().chunks.length === 0);
 * ```
 */
export class SubprocessProtocol extends BaseProtocol {
  /** The child wrote `data` to its stdout (fd 1) or stderr (fd 2). */
  pipeDataReceived(_fd: number, _data: Uint8Array): void {}
  /** One of the child's pipes closed; `exc` is the error, or null. */
  pipeConnectionLost(_fd: number, _exc: Error | null): void {}
  /** The child exited. */
  processExited(): void {}
}
