/**
 * The datagram transport over a `SOCK_DGRAM` socket: what
 * `createDatagramEndpoint` hands to a `DatagramProtocol`. Mirrors asyncio's
 * `_SelectorDatagramTransport`.
 *
 * Datagrams arrive from the socket's backend outside the loop; they are
 * queued and one dispatcher event per batch delivers them, so
 * `datagramReceived` always runs from the loop's ready queue. A send is
 * handed to the backend at once; the write buffer is what has not left yet
 * (plus asyncio's 8 header bytes per datagram), and drives
 * `pauseWriting`/`resumeWriting` over the water marks.
 *
 * **Room `loop/transports`**: the concrete transports the event loop makes
 * (socket, TLS, datagram, pipe, subprocess). They use the loop through the
 * narrow `TransportLoop` interface of `transport_loop.ts`, and may import
 * `loop/core` and the rooms below it.
 *
 * @module
 */
import type { TransportLoop } from "./transport_loop.ts";
import type { Registration } from "../core/dispatcher.ts";
import { checkDatagramSize, type DgramBackend } from "../net/node_dgram.ts";
import { RuntimeError } from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import { logger } from "../base/log.ts";
import {
  datagramAddress,
  sameAddress,
  type Socket,
  type SocketAddress,
} from "../net/socket.ts";
import type {
  BaseProtocol,
  DatagramProtocol,
} from "../../protocols/protocol.ts";
import {
  LOG_THRESHOLD_FOR_CONNLOST_WRITES,
  WriteFlowControl,
} from "../../transports/flow_control.ts";
import {
  completeSoon,
  DatagramTransport,
  protocolCall,
} from "../../transports/transport.ts";

/** Bytes held while reading is paused; later datagrams are dropped. */
const HOLD_LIMIT = 256 * 1024;
/** asyncio counts 8 header bytes per buffered datagram. */
const HEADER = 8;

/**
 * A datagram transport over one of the package's `SOCK_DGRAM` sockets.
 * Created by `loop.createDatagramEndpoint()`; the protocol receives it in
 * `connectionMade`.
 *
 * @example A UDP echo over loopback
 * ```ts
 * import { DatagramProtocol, type DatagramTransport, newEventLoop } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramProtocol {
 *   transport!: DatagramTransport;
 *   override connectionMade(t: DatagramTransport) { this.transport = t; }
 *   override datagramReceived(data: Uint8Array, addr: [string, number]) {
 *     this.transport.sendto(data, addr);
 *   }
 * }
 * const loop = newEventLoop();
 * const reply = await loop.runUntilComplete(async () => {
 *   const [server] = await loop.createDatagramEndpoint(() => new Echo(), ["127.0.0.1", 0]);
 *   const done = loop.createFuture<string>();
 *   class Client extends DatagramProtocol {
 *     override datagramReceived(data: Uint8Array) {
 *       done.setResult(new TextDecoder().decode(data));
 *     }
 *   }
 *   const [client] = await loop.createDatagramEndpoint(
 *     () => new Client(), undefined, server.getExtraInfo("sockname") as [string, number],
 *   );
 *   client.sendto(new TextEncoder().encode("ping"));
 *   const text = await done;
 *   client.close();
 *   server.close();
 *   return text;
 * });
 * assert.equal(reply, "ping");
 * loop.close();
 * ```
 */
export class SocketDatagramTransport extends DatagramTransport {
  #loop: TransportLoop;
  #sock: Socket;
  #dgram: DgramBackend;
  #protocol: BaseProtocol;
  #address: SocketAddress | null;
  #registration: Registration;
  // Receiving.
  #inbox: (Uint8Array | SocketAddress)[] = [];
  #inboxBytes = 0;
  #posted = false;
  #started = false;
  #paused = false;
  #waiting = false;
  // Sending.
  #bufferSize = 0;
  #inFlight = 0;
  #flow: WriteFlowControl;
  // Closing.
  #closing = false;
  #connLost = 0;
  #closed = false;

  /**
   * Wraps a datagram socket; `loop.createDatagramEndpoint()` is the usual
   * way to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param sock A `SOCK_DGRAM` socket; the transport takes it over.
   * @param protocol The protocol to call.
   * @param address The fixed remote address, or null.
   * @param waiter Completed (with null) once `connectionMade` has run.
   * @param extra Extra information besides `peername`, `sockname`, `socket`.
   */
  constructor(
    loop: TransportLoop,
    sock: Socket,
    protocol: BaseProtocol,
    address: SocketAddress | null = null,
    waiter: Future<null> | null = null,
    extra: Record<string, unknown> | null = null,
  ) {
    const dgram = sock._dgram;
    if (dgram === null || sock.closed) {
      throw new RuntimeError(
        "a datagram transport needs an open SOCK_DGRAM socket",
      );
    }
    if (sock._owner !== null) {
      throw new RuntimeError(`${sock} is already used by a transport`);
    }
    let sockname: SocketAddress | null = null;
    try {
      sockname = sock.getsockname();
    } catch {
      // Not available.
    }
    super({ ...extra, socket: sock, sockname, peername: dgram.peer });
    sock._owner = this;
    this.#loop = loop;
    this.#flow = new WriteFlowControl(loop, this);
    this.#sock = sock;
    this.#dgram = dgram;
    this.#protocol = protocol;
    this.#address = address ?? dgram.peer;
    this.#registration = loop._dispatcher.register("datagram transport");
    this.#registration.onLoopClose = () => this.#loopClosed();
    // Datagrams the socket already holds come first.
    for (const [data, addr] of sock._dgrams) this.#inbox.push(data, addr);
    sock._dgrams = [];
    sock._rbytes = 0;
    sock._dgramWake?.();
    sock._dgramWake = null;
    sock._pending = null;
    dgram.setSink(this.#onDatagram);
    loop.callSoon(
      protocolCall(
        this,
        "connectionMade",
        () => this.#protocol.connectionMade(this),
      ),
    );
    // Only deliver once connectionMade has run.
    loop.callSoon(() => {
      this.#started = true;
      this.#updateWaiting();
      if (this.#inbox.length > 0) this.#deliver();
    });
    completeSoon(loop, waiter);
  }

  // ---- receiving --------------------------------------------------------

  readonly #onDatagram = (data: Uint8Array, addr: SocketAddress): void => {
    if (this.#closing) return;
    if (this.#paused || !this.#started) {
      // Held, as a kernel's receive queue holds them; dropped past it.
      if (this.#inboxBytes + data.length > HOLD_LIMIT) return;
    }
    this.#inbox.push(data, addr);
    this.#inboxBytes += data.length;
    if (!this.#posted && this.#started && !this.#paused) {
      this.#posted = true;
      this.#registration.post(this.#deliver);
    }
  };

  readonly #deliver = (): void => {
    this.#posted = false;
    const inbox = this.#inbox;
    let i = 0;
    for (; i < inbox.length && !this.#paused && !this.#closing; i += 2) {
      const data = inbox[i] as Uint8Array;
      this.#inboxBytes -= data.length;
      try {
        (this.#protocol as DatagramProtocol).datagramReceived(
          data,
          inbox[i + 1] as SocketAddress,
        );
      } catch (error) {
        // asyncio delivers each datagram from a reader callback of its own
        // and does not catch what `datagram_received()` throws: the loop's
        // exception handler hears of it and the endpoint goes on receiving.
        this.#loop.callExceptionHandler({
          message:
            `Exception in callback ${this.#protocol.constructor.name}.datagramReceived()`,
          exception: error,
          transport: this,
          protocol: this.#protocol,
        });
      }
    }
    if (i >= inbox.length) {
      inbox.length = 0;
      this.#inboxBytes = 0;
    } else inbox.splice(0, i);
  };

  /** Holds a wait on peers while receiving (the virtual clock waits). */
  #updateWaiting(): void {
    const want = this.#started && !this.#paused && !this.#closing;
    if (want === this.#waiting) return;
    this.#waiting = want;
    if (want) this.#registration.beginWait();
    else this.#registration.endWait();
  }

  /**
   * Whether the transport is receiving. Mirrors `is_reading()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop, SocketDatagramTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert(transport instanceof SocketDatagramTransport);
   *   assert.equal(transport.isReading(), true);
   *   transport.pauseReading();
   *   assert.equal(transport.isReading(), false);
   *   transport.close();
   *   assert.equal(await lost, null);
   * });
   * loop.close();
   * ```
   */
  isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  /**
   * Stops calling `datagramReceived` until `resumeReading()`; datagrams
   * arriving meanwhile are held (up to 256 KiB, then dropped, as a full
   * kernel queue drops them). Mirrors `pause_reading()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop, SocketDatagramTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override datagramReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert(transport instanceof SocketDatagramTransport);
   *   transport.pauseReading(); // datagrams are held, not delivered
   *   assert.equal(transport.isReading(), false);
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   transport.sendto(new TextEncoder().encode("ping"), self);
   *   transport.resumeReading(); // the held datagram is delivered
   *   assert.equal(await got, "ping");
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  pauseReading(): void {
    if (this.#closing || this.#paused) return;
    this.#paused = true;
    this.#updateWaiting();
  }

  /**
   * Resumes receiving. Mirrors `resume_reading()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop, SocketDatagramTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override datagramReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert(transport instanceof SocketDatagramTransport);
   *   transport.pauseReading();
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   transport.sendto(new TextEncoder().encode("ping"), self);
   *   transport.resumeReading();
   *   assert.equal(transport.isReading(), true);
   *   assert.equal(await got, "ping");
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  resumeReading(): void {
    if (this.#closing || !this.#paused) return;
    this.#paused = false;
    this.#updateWaiting();
    if (this.#inbox.length > 0 && !this.#posted && this.#started) {
      this.#posted = true;
      this.#loop.callSoon(this.#deliver);
    }
  }

  // ---- sending ----------------------------------------------------------

  /**
   * Sends one datagram to `addr`, or to the fixed remote address. Mirrors
   * `DatagramTransport.sendto()`, never blocks. The bytes are copied before
   * `sendto` returns.
   *
   * Failures go to the protocol's `errorReceived`, as in asyncio: a
   * datagram over the UDP limit (65507 bytes over IPv4, 65527 over IPv6)
   * gives a `RangeError` with `code` `"EMSGSIZE"` there, synchronously, and
   * an address of the other family (`::1` on an IPv4 endpoint) one with
   * `code` `"EAFNOSUPPORT"`; send errors arrive later. After the transport is closed, datagrams are
   * dropped, and from the fifth on each one logs a warning.
   *
   * @param data The datagram (an empty one is allowed).
   * @param addr Where to: `[host, port]` (an IP literal or `localhost`) or
   * a Unix path; must be omitted (or equal) when a remote address is fixed.
   * @throws {TypeError} for a string or other non-bytes, or no address on
   * an endpoint without a remote address.
   * @throws {RangeError} for an address other than the fixed remote one,
   * or a host name (resolve it first).
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override datagramReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   assert.equal(self[0], "127.0.0.1");
   *   transport.sendto(new TextEncoder().encode("ping"), self); // to itself
   *   assert.equal(await got, "ping");
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  override sendto(data: Uint8Array, addr?: SocketAddress | null): void {
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(
        `sendto(): data argument must be bytes (a Uint8Array), not ${
          typeof data === "string" ? "a string: encode it first" : typeof data
        }`,
      );
    }
    let target: SocketAddress;
    const fixed = this.#address;
    if (fixed !== null) {
      if (addr != null) {
        const given = datagramAddress(this.#dgram.family, addr, "sendto()");
        if (!sameAddress(given, fixed)) {
          throw new RangeError(
            `Invalid address: must be null or ${JSON.stringify(fixed)}`,
          );
        }
      }
      target = fixed;
    } else {
      if (addr == null) {
        throw new TypeError(
          "sendto(): the endpoint has no remote address: pass addr",
        );
      }
      try {
        target = datagramAddress(this.#dgram.family, addr, "sendto()");
      } catch (error) {
        // An address of the other family is the system's refusal (asyncio's
        // socket raises OSError): it goes to errorReceived, as a send's.
        if ((error as { code?: unknown }).code !== "EAFNOSUPPORT") throw error;
        if (!this.#dropped()) this.#errorReceived(error as Error);
        return;
      }
    }
    if (this.#dropped()) return;
    const tooLong = checkDatagramSize(
      data.length,
      this.#dgram.family,
      "sendto()",
    );
    if (tooLong !== null) {
      this.#errorReceived(tooLong);
      return;
    }
    const size = data.length + HEADER;
    this.#bufferSize += size;
    this.#inFlight++;
    this.#registration.begin();
    this.#dgram.send(data, target, (error) => {
      this.#registration.end();
      this.#bufferSize -= size;
      this.#inFlight--;
      if (
        error === null && !this.#flow.paused &&
        (this.#inFlight > 0 || !this.#closing)
      ) return;
      this.#registration.post(this.#afterSend, error);
    });
    this.#maybePauseProtocol();
  }

  readonly #afterSend = (error: Error | null): void => {
    if (this.#closed) return;
    try {
      if (error !== null) this.#errorReceived(error);
    } finally {
      // An errorReceived() that throws is this callback's error (the
      // exception handler hears of it); the accounting goes on.
      this.#maybeResumeProtocol();
      if (this.#closing && this.#inFlight === 0 && this.#connLost === 0) {
        this.#connLost++;
        this.#callConnectionLost(null);
      }
    }
  };

  /** Closing or lost: the datagram is dropped (and counted, as asyncio). */
  #dropped(): boolean {
    if (this.#connLost > 0 || this.#closing) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        logger.warning("socket.send() raised exception.");
      }
      this.#connLost++;
      return true;
    }
    return false;
  }

  /**
   * Hands a send's OS error to the protocol. As asyncio's, what
   * `errorReceived()` throws is not caught: from `sendto()` it reaches the
   * caller, from a later completion the exception handler, and the endpoint
   * stays open either way.
   */
  #errorReceived(error: Error): void {
    (this.#protocol as DatagramProtocol).errorReceived(error);
  }

  /**
   * Bytes not yet sent, counting 8 header bytes per datagram as asyncio
   * does. Mirrors `get_write_buffer_size()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   transport.sendto(new Uint8Array(100), self);
   *   assert.equal(transport.getWriteBufferSize(), 108); // 8 header bytes, as asyncio
   *   transport.close(); // once the datagram has left
   *   assert.equal(await lost, null);
   *   assert.equal(transport.getWriteBufferSize(), 0);
   * });
   * loop.close();
   * ```
   */
  override getWriteBufferSize(): number {
    return this.#bufferSize;
  }

  /**
   * `[low, high]` water marks. Mirrors `get_write_buffer_limits()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop, SocketDatagramTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert(transport instanceof SocketDatagramTransport);
   *   assert.deepEqual(transport.getWriteBufferLimits(), [16384, 65536]);
   *   transport.setWriteBufferLimits(1000); // low defaults to high / 4
   *   assert.deepEqual(transport.getWriteBufferLimits(), [250, 1000]);
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  getWriteBufferLimits(): [number, number] {
    return [this.#flow.low, this.#flow.high];
  }

  /**
   * Sets the water marks (asyncio's defaults: high 64 KiB, low high / 4):
   * `pauseWriting()` when the buffer grows past `high`, `resumeWriting()`
   * when it drains to `low`. Mirrors `set_write_buffer_limits()`.
   *
   * @throws {RangeError} unless high >= low >= 0.
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop, SocketDatagramTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const events: string[] = [];
   * const lost = loop.createFuture<null>();
   * class P extends DatagramProtocol {
   *   override pauseWriting() { events.push("pause"); }
   *   override resumeWriting() { events.push("resume"); }
   *   override connectionLost() { lost.setResult(null); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert(transport instanceof SocketDatagramTransport);
   *   transport.setWriteBufferLimits(10, 0); // high 10 bytes, low 0
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   transport.sendto(new Uint8Array(100), self); // over the high mark: pauseWriting()
   *   transport.close(); // sent: resumeWriting(), then connectionLost()
   *   await lost;
   * });
   * assert.deepEqual(events, ["pause", "resume"]);
   * loop.close();
   * ```
   */
  setWriteBufferLimits(high?: number | null, low?: number | null): void {
    this.#flow.setLimits(high, low);
    this.#maybePauseProtocol();
  }

  #maybePauseProtocol(): void {
    this.#flow.maybePause(this.#bufferSize, this.#protocol);
  }

  #maybeResumeProtocol(): void {
    this.#flow.maybeResume(this.#bufferSize, this.#protocol);
  }

  // ---- closing ----------------------------------------------------------

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert.equal(transport.isClosing(), false);
   *   transport.close();
   *   assert.equal(transport.isClosing(), true);
   *   assert.equal(await lost, null);
   * });
   * loop.close();
   * ```
   */
  override isClosing(): boolean {
    return this.#closing;
  }

  /**
   * Closes once the datagrams already handed over have left; received
   * datagrams are no longer delivered. `connectionLost(null)` follows, once
   * the socket is released. Mirrors `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * const lost = loop.createFuture<Error | null>();
   * class Receiver extends DatagramProtocol {
   *   override datagramReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   * }
   * class Sender extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [receiver] = await loop.createDatagramEndpoint(() => new Receiver(), ["127.0.0.1", 0]);
   *   const to = receiver.getExtraInfo("sockname") as [string, number];
   *   const [sender] = await loop.createDatagramEndpoint(() => new Sender(), undefined, to);
   *   sender.sendto(new TextEncoder().encode("last"));
   *   sender.close(); // the datagram already handed over still leaves
   *   assert.equal(await lost, null);
   *   assert.equal(await got, "last");
   *   receiver.close();
   * });
   * loop.close();
   * ```
   */
  override close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#updateWaiting();
    this.#dgram.setSink(null);
    if (this.#inFlight === 0) {
      this.#connLost++;
      this.#loop.callSoon(
        protocolCall(
          this,
          "connectionLost",
          () => this.#callConnectionLost(null),
          () => [null],
        ),
      );
    }
  }

  /**
   * Closes at once; `connectionLost(null)` follows. Mirrors `abort()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   transport.abort();
   *   assert.equal(transport.isClosing(), true);
   *   assert.equal(await lost, null); // connectionLost(null) follows at once
   * });
   * loop.close();
   * ```
   */
  override abort(): void {
    this.#forceClose(null);
  }

  #forceClose(error: unknown): void {
    if (this.#connLost > 0) return;
    this.#closing = true;
    this.#updateWaiting();
    this.#dgram.setSink(null);
    this.#inbox = [];
    this.#connLost++;
    this.#loop.callSoon(
      protocolCall(
        this,
        "connectionLost",
        () => this.#callConnectionLost(error ?? null),
        () => [error ?? null],
      ),
    );
  }

  /**
   * The loop closed with the endpoint open: release the socket without the
   * protocol (the loop can no longer call it), as the garbage collector
   * closes an unclosed asyncio transport; datagrams still queued are lost
   * and reported.
   */
  #loopClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    const unsent = this.#bufferSize;
    this.#dgram.setSink(null);
    this.#inbox = [];
    this.#sock._owner = null;
    this.#sock.close();
    if (unsent > 0) {
      logger.warning(
        `${this} was still open when its loop closed: closed with ${unsent} bytes unsent`,
      );
    } else if (this.#loop.getDebug()) {
      logger.warning(`unclosed transport ${this}: closed with its loop`);
    }
  }

  /** Releases the socket, then tells the protocol (from the loop). */
  #callConnectionLost(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    const sock = this.#sock;
    sock._owner = null;
    sock.close();
    const registration = this.#registration;
    // Hold the clock until the backend has let go of the socket.
    registration.begin();
    (sock._dgramClosed ?? Promise.resolve()).then(() => {
      registration.end();
      registration.post(() => {
        try {
          this.#protocol.connectionLost(error as Error | null);
        } finally {
          registration.close();
        }
      });
    });
  }

  // ---- protocol ---------------------------------------------------------

  /**
   * Switches the protocol. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override datagramReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.createDatagramEndpoint(() => new DatagramProtocol(), ["127.0.0.1", 0]);
   *   transport.setProtocol(new P()); // datagrams from now on go there
   *   const self = transport.getExtraInfo("sockname") as [string, number];
   *   transport.sendto(new TextEncoder().encode("ping"), self);
   *   assert.equal(await got, "ping");
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { DatagramProtocol, newEventLoop } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class P extends DatagramProtocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport, protocol] = await loop.createDatagramEndpoint(() => new P(), ["127.0.0.1", 0]);
   *   assert.equal(transport.getProtocol(), protocol);
   *   transport.close();
   *   await lost;
   * });
   * loop.close();
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  /** A description like `<SocketDatagramTransport fd=7 bufsize=0>`. */
  override toString(): string {
    const state = this.#closed ? " closed" : this.#closing ? " closing" : "";
    return `<SocketDatagramTransport fd=${this.#sock.fileno()}${state} bufsize=${this.#bufferSize}>`;
  }
}
