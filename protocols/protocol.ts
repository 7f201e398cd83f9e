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

/** A protocol factory: called once per connection. */
export type ProtocolFactory<P extends BaseProtocol = BaseProtocol> = () => P;

/**
 * The base of all protocols. Mirrors `asyncio.BaseProtocol`.
 *
 * @example
 * ```ts
 * import { BaseProtocol } from "@aio/loop/protocols";
 * import assert from "node:assert/strict";
 * class Counter extends BaseProtocol {
 *   made = 0;
 *   override connectionMade(_transport: object): void { this.made++; }
 * }
 * const p = new Counter();
 * p.connectionMade({});
 * assert.equal(p.made, 1);
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
 * import { newEventLoop, socketpair } from "@aio/loop";
 * import { Protocol } from "@aio/loop/protocols";
 * import type { Transport } from "@aio/loop/transports";
 * import assert from "node:assert/strict";
 *
 * class Echo extends Protocol {
 *   transport!: Transport;
 *   override connectionMade(t: Transport) { this.transport = t; }
 *   override dataReceived(data: Uint8Array) { this.transport.write(data); }
 * }
 * const loop = newEventLoop();
 * const [mine, peer] = socketpair();
 * const reply = await loop.runUntilComplete(async () => {
 *   const [transport] = await loop.connectAcceptedSocket(() => new Echo(), mine);
 *   await loop.sockSendall(peer, new TextEncoder().encode("ping"));
 *   const data = await loop.sockRecv(peer, 100);
 *   transport.close();
 *   return new TextDecoder().decode(data);
 * });
 * assert.equal(reply, "ping");
 * peer.close();
 * loop.close();
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
 * import { newEventLoop, socketpair } from "@aio/loop";
 * import { BufferedProtocol } from "@aio/loop/protocols";
 * import assert from "node:assert/strict";
 *
 * class Collect extends BufferedProtocol {
 *   buf = new Uint8Array(1024);
 *   received = 0;
 *   done = Promise.withResolvers<void>();
 *   override getBuffer(_hint: number) { return this.buf.subarray(this.received); }
 *   override bufferUpdated(n: number) { this.received += n; } // no copy made
 *   override connectionLost() { this.done.resolve(); }
 * }
 * const loop = newEventLoop();
 * const [mine, peer] = socketpair();
 * const text = await loop.runUntilComplete(async () => {
 *   const [, protocol] = await loop.connectAcceptedSocket(() => new Collect(), mine);
 *   await loop.sockSendall(peer, new TextEncoder().encode("into my buffer"));
 *   peer.close(); // EOF: the transport closes
 *   await protocol.done.promise;
 *   return new TextDecoder().decode(protocol.buf.subarray(0, protocol.received));
 * });
 * assert.equal(text, "into my buffer");
 * loop.close();
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
 * import { newEventLoop } from "@aio/loop";
 * import { DatagramProtocol } from "@aio/loop/protocols";
 * import assert from "node:assert/strict";
 *
 * class Log extends DatagramProtocol {
 *   got = Promise.withResolvers<string>();
 *   override datagramReceived(data: Uint8Array, addr: [string, number]) {
 *     this.got.resolve(`${new TextDecoder().decode(data)} from ${addr[0]}`);
 *   }
 * }
 * const loop = newEventLoop();
 * const line = await loop.runUntilComplete(async () => {
 *   const [server, log] = await loop.createDatagramEndpoint(() => new Log(), ["127.0.0.1", 0]);
 *   const address = server.getExtraInfo("sockname") as [string, number];
 *   const [client] = await loop.createDatagramEndpoint(() => new DatagramProtocol(), null, address);
 *   client.sendto(new TextEncoder().encode("hello"));
 *   const text = await log.got.promise;
 *   client.close();
 *   server.close();
 *   return text;
 * });
 * assert.equal(line, "hello from 127.0.0.1");
 * loop.close();
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
 * import { newEventLoop } from "@aio/loop";
 * import { SubprocessProtocol } from "@aio/loop/protocols";
 * import assert from "node:assert/strict";
 *
 * class Out extends SubprocessProtocol {
 *   text = "";
 *   done = Promise.withResolvers<void>();
 *   override pipeDataReceived(fd: number, data: Uint8Array) {
 *     if (fd === 1) this.text += new TextDecoder().decode(data);
 *   }
 *   override connectionLost() { this.done.resolve(); } // exited, pipes drained
 * }
 * const loop = newEventLoop();
 * const text = await loop.runUntilComplete(async () => {
 *   const [transport, out] = await loop.subprocessExec(() => new Out(), "echo", "hi");
 *   await out.done.promise;
 *   transport.close();
 *   return out.text;
 * });
 * assert.equal(text, "hi\n");
 * loop.close();
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
