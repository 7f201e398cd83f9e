/**
 * What the stream transports share (package-internal): `SocketTransport`
 * over a socket's Deno connection and `TlsTransport` over a TLS connection
 * both drive a `StreamConn` this way, as CPython's proactor transports do:
 * one read in flight, the next started when it completes, none while
 * reading is paused; one write in flight draining a buffer. Every
 * completion is posted to the loop's readiness dispatcher, so protocol
 * callbacks always run from the loop's ready queue, in asyncio's order.
 *
 * @module
 */
import { emptyArray } from "../base/arrays.ts";
import type { TransportLoop } from "./transport_loop.ts";
import type { Registration } from "../core/dispatcher.ts";
import { Handle } from "../core/handles.ts";
import { RuntimeError } from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import { logger } from "../base/log.ts";
import {
  checkBytes,
  detachedWriteError,
  isDetached,
  type Socket,
  type StreamConn,
} from "../net/socket.ts";
import { type ReadOp, readOp } from "../net/read_op.ts";
import { isOsError } from "../net/node_errors.ts";
import type {
  BaseProtocol,
  BufferedProtocol,
  Protocol,
} from "../../protocols/protocol.ts";
import {
  LOG_THRESHOLD_FOR_CONNLOST_WRITES,
  WriteFlowControl,
} from "../../transports/flow_control.ts";
import {
  completeSoon,
  protocolCall,
  Transport,
} from "../../transports/transport.ts";

/**
 * Reads up to this size are copied into a shared pool slab: many small
 * copies share one allocation, in memory that stays warm.
 */
const POOLED_READ = 2 * 1024;
/**
 * Reads up to this size are copied into an array of their own (`slice`,
 * which needs no zeroing); a larger one is handed over as a view of the
 * read buffer.
 */
const COPIED_READ = 64 * 1024;
/** The size of one pool slab (below the allocator's mmap threshold). */
const POOL_SIZE = 64 * 1024;
/**
 * The size of a transport's copy slab: a write of a buffered protocol's own
 * buffer is copied into one (see `#copyProtocolBytes`).
 */
const COPY_SLAB = 64 * 1024;
/** How many free copy slabs a transport keeps for reuse. */
const MAX_FREE_SLABS = 4;
let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;

/**
 * Copies `bytes` into the pool and returns the copy, a view of the pool: a
 * small read costs a copy instead of an allocation. A slab is never written
 * again once handed out; a full slab is replaced.
 */
function pooledCopy(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  // A protocol may have transferred the slab (its bytes' ArrayBuffer): a
  // detached slab's length reads 0.
  if (poolOffset + n > POOL_SIZE || pool.length === 0) {
    pool = new Uint8Array(POOL_SIZE);
    poolOffset = 0;
  }
  const start = poolOffset;
  pool.set(bytes, start);
  poolOffset = (start + n + 7) & ~7;
  return pool.subarray(start, start + n);
}

/**
 * The error for what a buffered protocol's `getBuffer()` returned when it
 * cannot be read into, as asyncio's read reports it: not bytes is a
 * `TypeError` (its `recv_into()` refuses such an object), an empty buffer a
 * `RuntimeError`. Made only on failure, so the read path stays one test.
 */
function badProtocolBuffer(buffer: unknown): Error {
  if (!(buffer instanceof Uint8Array)) {
    return new TypeError(
      `getBuffer() must return a Uint8Array, not ${
        buffer === null ? "null" : typeof buffer
      }`,
    );
  }
  return new RuntimeError("getBuffer() returned an empty buffer");
}

function isBufferedProtocol(protocol: BaseProtocol): boolean {
  return typeof (protocol as BufferedProtocol).getBuffer === "function";
}

/** What a server tracks about its connections (package-internal). */
export interface ConnectionOwner {
  _attach(client: { close(): void; abort(): void }): void;
  _detach(client: { close(): void; abort(): void }): void;
}

/** How a stream transport is set up (package-internal). */
export interface StreamTransportInit {
  /** The connection; the transport owns it. */
  conn: StreamConn;
  /** The package socket behind it, closed with the transport, if any. */
  sock: Socket | null;
  /** Values for `getExtraInfo`. */
  extra: Record<string, unknown>;
  /** Completed (with null) once `connectionMade` has run. */
  waiter: Future<null> | null;
  /** The server the connection belongs to, if any. */
  server: ConnectionOwner | null;
  /** The first read's size. */
  readSize: number;
  /** A read that fills its buffer doubles the next one's, up to this. */
  maxReadSize: number;
  /** What read and write errors and a failing `eofReceived()` report. */
  messages: {
    read: string;
    write: string;
    eofReceived: string;
    /** Logged for writes dropped after `close()` (`dropWritesOnClose`). */
    writeAfterClose: string;
  };
  /**
   * Whether `write()` drops data once `close()` was called (asyncio's SSL
   * transport), rather than sending it with the rest of the buffer.
   */
  dropWritesOnClose: boolean;
}

/**
 * @internal The machinery of `SocketTransport` and `TlsTransport`: the read
 * loop, the write buffer and its flow control, pausing and resuming
 * reading, closing and aborting. The `_`-prefixed hooks are where a
 * subclass differs; their defaults are the socket transport's.
 *
 * @example Both transports run the same methods
 * ```ts
 * import { SocketTransport, TlsTransport } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SocketTransport.prototype.write, TlsTransport.prototype.write);
 * assert.equal(SocketTransport.prototype.pauseReading, TlsTransport.prototype.pauseReading);
 * ```
 */
export abstract class StreamTransport extends Transport {
  /** @internal The loop the protocol's callbacks run on. */
  protected readonly _loop: TransportLoop;
  #conn: StreamConn;
  /** The connection's read op, called directly where there is one. */
  readonly #readOp: ReadOp | null;
  #sock: Socket | null;
  #protocol: BaseProtocol;
  #buffered: boolean;
  #server: ConnectionOwner | null;
  #registration: Registration;
  /** The read completion, posted as one reusable handle. */
  #readItem: Handle;
  #messages: StreamTransportInit["messages"];
  // Reading. Every read has #readSize bytes of room (see #readDone for who
  // owns the bytes).
  #readBuffer: Uint8Array | null = null;
  /** The memory of the buffered protocol's last `getBuffer()`. */
  #protocolBuffer: ArrayBufferLike | null = null;
  /** The buffered protocol's last `getBuffer()`. */
  #protocolView: Uint8Array | null = null;
  /** The protocol the read in flight was started for. */
  #readProtocol: BaseProtocol | null = null;
  #readSize: number;
  #maxReadSize: number;
  #reading = false;
  #paused = false;
  #readResult: number | null = 0;
  #readFailed: unknown = null;
  /** A completed read held while reading is paused. */
  #held = false;
  /** Bytes or EOF the socket held, not delivered while reading is paused. */
  #sockHeld = false;
  #eofSeen = false;
  /** Closing: reading on, dropping the data, until the peer's EOF. */
  #draining = false;
  // Writing.
  #writeChunks: Uint8Array[] = [];
  #writeSize = 0;
  #writing = false;
  #writeResult = 0;
  #writeChunk: Uint8Array | null = null;
  /** The length of the write in flight (its array may be detached since). */
  #writeLength = 0;
  /** Copy slabs free for reuse, and those queued or in flight. */
  #freeSlabs: Uint8Array[] = [];
  #slabsInUse: Uint8Array[] = [];
  /** The view `#readBytes` made last, and of which read buffer. */
  #readView: Uint8Array | null = null;
  #readViewOf: Uint8Array | null = null;
  /** The view `#copyProtocolBytes` returned last. */
  #lastCopyView: Uint8Array | null = null;
  #eofPending = false;
  #eofWritten = false;
  #dropWritesOnClose: boolean;
  #flow: WriteFlowControl;
  // Closing.
  #closing = false;
  #connLost = 0;
  /** Writes dropped after `close()` (`dropWritesOnClose`). */
  #droppedAfterClose = 0;
  /** Aborted (abort() or a fatal error): a write in flight is forgotten. */
  #aborted = false;
  #closed = false;

  /**
   * Takes over `init.conn`; `connectionMade`, the first read and the waiter
   * follow on the loop.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param protocol The protocol to call.
   * @param init The connection and its settings.
   */
  constructor(
    loop: TransportLoop,
    protocol: BaseProtocol,
    init: StreamTransportInit,
  ) {
    super(init.extra);
    this._loop = loop;
    this.#flow = new WriteFlowControl(loop, this);
    this.#conn = init.conn;
    // Every connection the package wraps is unref'd (`unrefConn`): its
    // reads must not hold the process either.
    this.#readOp = readOp(init.conn, { unref: true });
    this.#sock = init.sock;
    if (init.sock !== null) init.sock._owner = this;
    this.#protocol = protocol;
    this.#buffered = isBufferedProtocol(protocol);
    this.#server = init.server;
    this.#messages = init.messages;
    this.#readSize = init.readSize;
    this.#maxReadSize = init.maxReadSize;
    this.#dropWritesOnClose = init.dropWritesOnClose;
    this.#registration = loop._dispatcher.register("transport");
    this.#registration.onLoopClose = this.#loopClosed;
    // Handles made once and queued again each time, in the context the
    // registration took: what they call may throw (a protocol's
    // connectionLost), and a handle reports that to the exception handler
    // as any callback's error.
    this.#readItem = new Handle(this.#readDone, [], loop);
    this.#readLaterItem = new Handle(this.#readLaterRun, [], loop);
    init.server?._attach(this);
    loop.callSoon(
      protocolCall(this, "connectionMade", () => this._connectionMade()),
    );
    loop.callSoon(() => this.#startReading());
    completeSoon(loop, init.waiter);
  }

  /** @internal Calls the protocol's `connectionMade`. */
  protected _connectionMade(): void {
    this.#protocol.connectionMade(this);
  }

  // ---- reading ----------------------------------------------------------

  /**
   * Bytes the socket already holds, then the read loop. What the socket
   * holds is delivered at once, before waiting for a read of its own still
   * in flight (which may wait for the peer's next bytes), and, like any
   * read, only while reading is not paused.
   */
  #startReading(): void {
    if (this.#closing) return;
    const sock = this.#sock;
    if (
      sock !== null && (sock._rbytes > 0 || sock._eof) &&
      !this.#deliverHeld(sock)
    ) return;
    if (sock?._pending != null) {
      // The socket had a read in flight: let it land, then take over.
      this.#reading = true;
      this.#registration.begin();
      sock._pending.then(() => {
        this.#registration.end();
        this.#registration.post(() => {
          this.#reading = false;
          this.#startReading();
        });
      });
      return;
    }
    this.#readMore();
  }

  /**
   * Delivers the bytes (then the EOF) the socket received before this
   * transport took it over. Returns whether reading goes on: false once
   * closing, at the EOF, or when the protocol paused reading (then
   * `resumeReading()` starts over here).
   */
  #deliverHeld(sock: Socket): boolean {
    const chunks = sock._rchunks;
    while (chunks.length > 0) {
      if (this.#closing) return false;
      if (this.#paused) {
        this.#sockHeld = true;
        return false;
      }
      const chunk = chunks.shift()!;
      sock._rbytes -= chunk.length;
      this.#deliver(chunk);
    }
    if (this.#closing) return false;
    if (!sock._eof) return true;
    if (this.#paused) {
      this.#sockHeld = true;
      return false;
    }
    sock._eof = false;
    this.#onEof();
    return false;
  }

  /** Whether `#readLaterItem` is queued. */
  #readLaterQueued = false;
  /** A read started on the next iteration (one reusable handle). */
  #readLaterItem: Handle;

  readonly #readLaterRun = (): void => {
    this.#readLaterQueued = false;
    this.#readMore();
  };

  /** Starts a read on the next iteration (once, however often asked). */
  #readMoreLater(): void {
    if (this.#readLaterQueued) return;
    this.#readLaterQueued = true;
    this._loop._pushHandle(this.#readLaterItem);
  }

  #readMore(): void {
    if (this.#reading || this.#eofSeen) return;
    if ((this.#paused || this.#closing) && (!this.#draining || this.#closed)) {
      return;
    }
    let buffer: Uint8Array;
    if (this.#buffered && !this.#draining) {
      try {
        buffer = (this.#protocol as BufferedProtocol).getBuffer(-1);
        if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
          throw badProtocolBuffer(buffer);
        }
        this.#protocolBuffer = buffer.buffer;
        this.#protocolView = buffer;
      } catch (error) {
        this._fatalError(
          error,
          "Fatal error: protocol.getBuffer() call failed.",
        );
        return;
      }
    } else {
      buffer = this.#readBuffer ??= new Uint8Array(this.#readSize);
      // The protocol may have transferred the memory of a large read it was
      // handed: a detached view has no room, and reading into it would
      // report EOF.
      if (buffer.length === 0) buffer = this.#newReadBuffer();
    }
    this.#readProtocol = this.#protocol;
    this.#reading = true;
    this.#registration.beginWait();
    const read = this.#readOp;
    if (read !== null) read(buffer).then(this.#onReadCount, this.#onReadError);
    else this.#conn.read(buffer).then(this.#onRead, this.#onReadError);
  }

  /** A read op's outcome: the count, 0 at EOF. */
  readonly #onReadCount = (n: number): void => {
    this.#onRead(n === 0 ? null : n);
  };

  readonly #onRead = (n: number | null): void => {
    this.#registration.endWait();
    this.#readResult = n;
    this.#registration.postItem(this.#readItem);
  };

  readonly #onReadError = (error: unknown): void => {
    this.#registration.endWait();
    this.#readFailed = error ?? new Error("read failed");
    this.#registration.postItem(this.#readItem);
  };

  readonly #readDone = (): void => {
    if (this.#closed) return;
    if (this.#paused && !this.#closing) {
      this.#held = true;
      return;
    }
    this.#reading = false;
    if (this.#closing) {
      // Draining drops what arrives until the peer's EOF (or an error).
      if (this.#draining) {
        if (this.#readFailed !== null || this.#readResult === null) {
          this._callConnectionLost(null);
        } else this.#readMore();
      }
      return;
    }
    const failed = this.#readFailed;
    if (failed !== null) {
      this.#readFailed = null;
      this._fatalError(failed, this.#messages.read);
      return;
    }
    const n = this.#readResult;
    if (n === null) {
      this.#onEof();
      return;
    }
    if (this.#readProtocol !== this.#protocol) {
      this.#deliverSwitched(n);
      return;
    }
    if (this.#buffered) {
      try {
        (this.#protocol as BufferedProtocol).bufferUpdated(n);
      } catch (error) {
        this._fatalError(
          error,
          "Fatal error: protocol.bufferUpdated() call failed.",
        );
        return;
      }
      // As below: read again once the answer is written.
      if (!this.#writing) this.#readMore();
      else this.#readMoreLater();
      return;
    }
    const buffer = this.#readBuffer!;
    // The protocol owns what it is given. A small read is copied into the
    // shared pool, a medium one into an array of its own, and the buffer is
    // read into again. A large one is handed over as a view, and the next
    // read goes into the rest of the buffer if that could hold as much
    // again, else into a new buffer.
    let data: Uint8Array;
    if (n <= POOLED_READ) data = pooledCopy(this.#readBytes(buffer, n));
    else if (n <= COPIED_READ) data = buffer.slice(0, n);
    else {
      data = buffer.subarray(0, n);
      if (buffer.length - n >= n) this.#readBuffer = buffer.subarray(n);
      else this.#dropReadBuffer();
    }
    if (n === this.#readSize && this.#readSize < this.#maxReadSize) {
      // A full read: the peer sends faster than we ask; ask for more.
      this.#readSize *= 2;
      this.#dropReadBuffer();
    }
    this.#deliver(data);
    // While the protocol's answer is being written, read once the write
    // completes: the peer's next bytes are then usually already there, and
    // the read completes without waiting on the reactor. After a large read
    // the same holds for an answer still to come (a task that awaits the
    // data writes on the next iteration): reading at once then tends to get
    // the next message in pieces. A write that waits on the peer must not
    // stop reading (a peer that reads only after it has sent everything
    // would deadlock), so the read starts on the next iteration at the
    // latest.
    if (!this.#writing && n <= POOLED_READ) this.#readMore();
    else this.#readMoreLater();
  };

  /**
   * `setProtocol()` switched protocols while a read was in flight: its `n`
   * bytes are in the buffer the read was started with (the old buffered
   * protocol's, or the transport's), and are handed over as the new
   * protocol takes them (a copy for `dataReceived`, or fed through its
   * `getBuffer`), then reading goes on.
   */
  #deliverSwitched(n: number): void {
    const data = isBufferedProtocol(this.#readProtocol!)
      ? this.#protocolView!.slice(0, n)
      : this.#readBuffer!.slice(0, n);
    this.#protocolView = null;
    this.#deliver(data);
    this.#readMore();
  }

  /** A fresh read buffer of the current read size. */
  #newReadBuffer(): Uint8Array {
    this.#dropReadBuffer();
    return this.#readBuffer = new Uint8Array(this.#readSize);
  }

  /** Forgets the read buffer and the view of it `#readBytes` keeps. */
  #dropReadBuffer(): void {
    this.#readBuffer = null;
    this.#readView = null;
    this.#readViewOf = null;
  }

  /**
   * The first `n` bytes of the read buffer, as a view kept for the next read
   * of that length (it is only ever copied from).
   */
  #readBytes(buffer: Uint8Array, n: number): Uint8Array {
    const last = this.#readView;
    if (last !== null && last.length === n && this.#readViewOf === buffer) {
      return last;
    }
    this.#readViewOf = buffer;
    return this.#readView = buffer.subarray(0, n);
  }

  #deliver(data: Uint8Array): void {
    if (this.#buffered) {
      this.#feedBuffered(data);
      return;
    }
    try {
      (this.#protocol as Protocol).dataReceived(data);
    } catch (error) {
      this._fatalError(
        error,
        "Fatal error: protocol.dataReceived() call failed.",
      );
    }
  }

  /**
   * Copies bytes read elsewhere (held by the socket, or read before a
   * protocol switch) into a buffered protocol's buffers, asking each time
   * with the count still to deliver as the size hint.
   */
  #feedBuffered(data: Uint8Array): void {
    const protocol = this.#protocol as BufferedProtocol;
    let offset = 0;
    while (offset < data.length) {
      let buffer: Uint8Array;
      try {
        buffer = protocol.getBuffer(data.length - offset);
        if (!(buffer instanceof Uint8Array) || buffer.length === 0) {
          throw badProtocolBuffer(buffer);
        }
      } catch (error) {
        this._fatalError(
          error,
          "Fatal error: protocol.getBuffer() call failed.",
        );
        return;
      }
      const n = Math.min(buffer.length, data.length - offset);
      buffer.set(data.subarray(offset, offset + n));
      offset += n;
      try {
        protocol.bufferUpdated(n);
      } catch (error) {
        this._fatalError(
          error,
          "Fatal error: protocol.bufferUpdated() call failed.",
        );
        return;
      }
    }
  }

  #onEof(): void {
    this.#eofSeen = true;
    if (this._loop.getDebug()) logger.debug(`${this} received EOF`);
    let keepOpen: unknown;
    try {
      keepOpen = (this.#protocol as Protocol).eofReceived?.();
    } catch (error) {
      this._fatalError(error, this.#messages.eofReceived);
      return;
    }
    this._afterEofReceived(keepOpen);
  }

  /**
   * @internal What `eofReceived()` returning `keepOpen` does: true keeps
   * the transport open for writing, else it closes.
   */
  protected _afterEofReceived(keepOpen: unknown): void {
    if (!keepOpen) this.close();
  }

  /**
   * Whether the transport is receiving. Mirrors `is_reading()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   assert.equal(transport.isReading(), true);
   *   transport.pauseReading();
   *   assert.equal(transport.isReading(), false);
   *   transport.resumeReading();
   *   transport.close();
   *   assert.equal(transport.isReading(), false); // closing
   * });
   * loop.close();
   * ```
   */
  override isReading(): boolean {
    return !this.#paused && !this.#closing;
  }

  /**
   * Stops calling `dataReceived` until `resumeReading()`. Mirrors
   * `pause_reading()`; a no-op when already paused or closing.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * class Hello extends Protocol {
   *   override connectionMade(t: Transport) { t.write(new TextEncoder().encode("hi")); }
   * }
   * class Client extends Protocol {
   *   override dataReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Hello(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.pauseReading(); // dataReceived() waits for resumeReading()
   *   assert.equal(transport.isReading(), false);
   *   transport.resumeReading();
   *   assert.equal(await got, "hi");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override pauseReading(): void {
    if (this.#closing || this.#paused) return;
    this.#paused = true;
    if (this._loop.getDebug()) logger.debug(`${this} pauses reading`);
  }

  /**
   * Resumes receiving. Mirrors `resume_reading()`; a no-op when not paused.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * class Hello extends Protocol {
   *   override connectionMade(t: Transport) { t.write(new TextEncoder().encode("hi")); }
   * }
   * class Client extends Protocol {
   *   override dataReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Hello(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.pauseReading();
   *   transport.resumeReading(); // what arrived meanwhile is delivered
   *   assert.equal(transport.isReading(), true);
   *   assert.equal(await got, "hi");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override resumeReading(): void {
    if (this.#closing || !this.#paused) return;
    this.#paused = false;
    if (this.#held) {
      this.#held = false;
      this._loop.callSoon(this.#readDone);
    } else if (this.#sockHeld) {
      this.#sockHeld = false;
      this._loop.callSoon(() => this.#startReading());
    } else if (!this.#reading) {
      this.#readMoreLater();
    }
    if (this._loop.getDebug()) logger.debug(`${this} resumes reading`);
  }

  // ---- writing ----------------------------------------------------------

  /**
   * Queues bytes to send; never blocks. Mirrors `write()`: after the
   * connection is lost, writes are dropped (with a warning after a few).
   *
   * The bytes are not copied: the transport keeps `data` until it is sent
   * (as Node's `socket.write` does), so don't modify the array after
   * `write()`; pass `data.slice()` to reuse your array at once.
   *
   * @throws {TypeError} for a string or other non-bytes.
   * @throws {RuntimeError} after `writeEof()`.
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const received = loop.createFuture<string>();
   * class Sink extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override eofReceived() { received.setResult(this.text); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Sink(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   transport.write(new TextEncoder().encode("hello"));
   *   transport.close(); // flushes first: the peer gets every byte, then EOF
   *   assert.equal(await received, "hello");
   * });
   * loop.close();
   * ```
   */
  override write(data: Uint8Array): void {
    checkBytes(data, "write()");
    if (this.#eofPending) {
      throw new RuntimeError("Cannot call write() after writeEof()");
    }
    if (data.length === 0) return;
    if (this.#connLost > 0) {
      if (this.#connLost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        logger.warning("socket.send() raised exception.");
      }
      this.#connLost++;
      return;
    }
    if (this.#closing && this.#dropWritesOnClose) {
      // Counted apart from #connLost: the close must still run its course.
      if (this.#droppedAfterClose >= LOG_THRESHOLD_FOR_CONNLOST_WRITES) {
        logger.warning(this.#messages.writeAfterClose);
      }
      this.#droppedAfterClose++;
      return;
    }
    // A view of the buffered protocol's own buffer is copied: the next read
    // goes into that buffer while this write may still be waiting.
    this.#writeChunks.push(
      this.#protocolBuffer !== null && data.buffer === this.#protocolBuffer
        ? this.#copyProtocolBytes(data)
        : data,
    );
    this.#writeSize += data.length;
    if (!this.#writing) this.#flush();
    this.#maybePauseProtocol();
  }

  /**
   * Queues several byte arrays. Mirrors `writelines()`.
   *
   * @throws {TypeError} if an item is not bytes; then none is queued.
   * @throws {RuntimeError} after `writeEof()`.
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const received = loop.createFuture<string>();
   * class Sink extends Protocol {
   *   text = "";
   *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
   *   override eofReceived() { received.setResult(this.text); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Sink(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   const enc = new TextEncoder();
   *   transport.writelines([enc.encode("one\n"), enc.encode("two\n")]);
   *   transport.close();
   *   assert.equal(await received, "one\ntwo\n");
   * });
   * loop.close();
   * ```
   */
  override writelines(listOfData: Iterable<Uint8Array>): void {
    if (this.#eofPending) {
      throw new RuntimeError("Cannot call writelines() after writeEof()");
    }
    // Every item is checked before any is queued: a bad one queues none.
    const list = Array.isArray(listOfData) ? listOfData : [...listOfData];
    for (const data of list) checkBytes(data, "writelines()");
    for (const data of list) this.write(data);
  }

  /**
   * Copies bytes of the buffered protocol's own buffer into a slab the
   * transport owns; slabs are recycled once nothing queued or in flight
   * refers to them, so an echo through a `BufferedProtocol` allocates
   * nothing per message in the steady state.
   */
  #copyProtocolBytes(data: Uint8Array): Uint8Array {
    let slab = this.#freeSlabs.pop();
    if (slab === undefined || slab.length < data.length) {
      slab = new Uint8Array(Math.max(COPY_SLAB, data.length));
    }
    slab.set(data);
    this.#slabsInUse.push(slab);
    // An echo writes the same length from the same slab each time: the view
    // made last time serves again (a slab is only reused once released, so
    // nothing in flight holds that view). Only views of recycled slabs are
    // kept: a view of a one-off large slab would keep it alive.
    const last = this.#lastCopyView;
    if (
      last !== null && last.length === data.length &&
      last.buffer === slab.buffer
    ) return last;
    const view = slab.subarray(0, data.length);
    if (slab.length === COPY_SLAB) this.#lastCopyView = view;
    return view;
  }

  /** Nothing queued or in flight refers to the slabs in use any more. */
  #releaseSlabs(): void {
    const used = this.#slabsInUse;
    for (const slab of used) {
      if (
        this.#freeSlabs.length < MAX_FREE_SLABS && slab.length === COPY_SLAB
      ) {
        this.#freeSlabs.push(slab);
      }
    }
    emptyArray(used);
  }

  #flush(): void {
    const chunks = this.#writeChunks;
    if (chunks.length === 0) return;
    let chunk: Uint8Array;
    if (chunks.length === 1) {
      chunk = chunks[0];
      // A detached array's length reads 0 (and write() took none empty).
      if (chunk.length !== this.#writeSize) {
        this.#writeLost();
        return;
      }
    } else {
      let live = 0;
      for (const c of chunks) live += c.length;
      if (live !== this.#writeSize) {
        // Only a detached array shrinks (to 0) while it waits here.
        this.#writeLost();
        return;
      }
      chunk = new Uint8Array(this.#writeSize);
      let offset = 0;
      for (const c of chunks) {
        chunk.set(c, offset);
        offset += c.length;
      }
      // Nothing is in flight while a flush starts: every slab's bytes are
      // now in the joined copy.
      if (this.#slabsInUse.length > 0) this.#releaseSlabs();
    }
    emptyArray(chunks);
    this.#writeChunk = chunk;
    this.#writeLength = chunk.length;
    this.#writing = true;
    this.#registration.begin();
    this.#conn.write(chunk).then(this.#onWritten, this.#onWriteError);
  }

  readonly #onWritten = (n: number): void => {
    this.#registration.end();
    this.#writeResult = n;
    // The common case needs no protocol callback: account for the write at
    // once. Anything that calls the protocol (resumeWriting) or ends the
    // connection goes through the loop.
    if (
      !this.#closed && !this.#closing && !this.#eofPending &&
      !this.#flow.paused && n === this.#writeLength
    ) {
      this.#writeDone();
      return;
    }
    this.#registration.post(this.#writeDone);
  };

  readonly #onWriteError = (error: unknown): void => {
    this.#registration.end();
    this.#registration.post(() => {
      this.#writing = false;
      if (this.#closed || this.#aborted) return;
      this.#writeChunks = [];
      this.#writeSize = 0;
      this.#writeChunk = null;
      this._fatalError(error, this.#messages.write);
    });
  };

  readonly #writeDone = (): void => {
    this.#writing = false;
    // After an abort the connection is as good as closed: what the write
    // left unsent is dropped and connectionLost(error) is already due.
    if (this.#closed || this.#aborted) return;
    if (!this.#reading) this.#readMore();
    const chunk = this.#writeChunk!;
    const n = this.#writeResult;
    this.#writeSize -= n;
    this.#writeChunk = null;
    if (n < this.#writeLength) {
      if (isDetached(chunk)) {
        this.#writeLost();
        return;
      }
      this.#writeChunks.unshift(chunk.subarray(n));
    }
    if (this.#writeChunks.length > 0) {
      this.#flush();
      this.#maybeResumeProtocol();
      return;
    }
    if (this.#slabsInUse.length > 0) this.#releaseSlabs();
    this.#maybeResumeProtocol();
    if (this.#closing) {
      this._flushedOnClose();
    } else if (this.#eofPending && !this.#eofWritten) {
      this.#shutdownWrite();
    }
  };

  /**
   * A queued array was detached before it was sent: its bytes cannot go
   * out, so the connection fails with an error that says how much was left
   * unsent (never a clean close that hides the loss).
   */
  #writeLost(): void {
    const unsent = this.#writeSize;
    this.#writeChunks = [];
    this.#writeSize = 0;
    this.#writeChunk = null;
    this.#writing = false;
    this._fatalError(detachedWriteError(unsent), this.#messages.write);
  }

  #shutdownWrite(): void {
    this.#eofWritten = true;
    this.#registration.begin();
    Promise.resolve()
      .then(() => this.#conn.closeWrite())
      .then(
        () => this.#registration.end(),
        () => this.#registration.end(),
      );
  }

  /**
   * Closes the write end after buffered data is sent (the peer sees EOF).
   * Mirrors `write_eof()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const reply = loop.createFuture<string>();
   * class Count extends Protocol { // answers once the client is done
   *   transport!: Transport;
   *   n = 0;
   *   override connectionMade(t: Transport) { this.transport = t; }
   *   override dataReceived(data: Uint8Array) { this.n += data.length; }
   *   override eofReceived() { this.transport.write(new TextEncoder().encode(`${this.n} bytes`)); }
   * }
   * class Client extends Protocol {
   *   override dataReceived(data: Uint8Array) { reply.setResult(new TextDecoder().decode(data)); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Count(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.write(new TextEncoder().encode("hello"));
   *   transport.writeEof(); // the peer sees EOF; this side still reads
   *   assert.equal(await reply, "5 bytes");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override writeEof(): void {
    if (this.#closing || this.#eofPending) return;
    this.#eofPending = true;
    if (!this.#writing && this.#writeChunks.length === 0) {
      this.#shutdownWrite();
    }
  }

  /**
   * True: stream sockets can half-close. Mirrors `can_write_eof()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   assert.equal(transport.canWriteEof(), true); // TCP can half-close
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override canWriteEof(): boolean {
    return true;
  }

  /**
   * Bytes queued and not yet written. Mirrors `get_write_buffer_size()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.write(new Uint8Array(1000));
   *   assert.equal(transport.getWriteBufferSize(), 1000); // until the socket takes it
   *   transport.close();
   *   assert.equal(await lost, null);
   *   assert.equal(transport.getWriteBufferSize(), 0);
   * });
   * loop.close();
   * ```
   */
  override getWriteBufferSize(): number {
    return this.#writeSize;
  }

  /**
   * `[low, high]` water marks. Mirrors `get_write_buffer_limits()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   assert.deepEqual(transport.getWriteBufferLimits(), [16384, 65536]);
   *   transport.setWriteBufferLimits(1000); // low defaults to high / 4
   *   assert.deepEqual(transport.getWriteBufferLimits(), [250, 1000]);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getWriteBufferLimits(): [number, number] {
    return [this.#flow.low, this.#flow.high];
  }

  /**
   * @ignore Whether the protocol is paused for writing (asyncio's
   * `_protocol_paused`): `sendfile()` waits for its resume.
   */
  get _protocolPaused(): boolean {
    return this.#flow.paused;
  }

  /**
   * Sets the water marks: the protocol's `pauseWriting()` runs when the
   * buffer grows past `high`, `resumeWriting()` when it drains to `low`.
   * Defaults as asyncio's: high 64 KiB, low high / 4. Mirrors
   * `set_write_buffer_limits()`.
   *
   * @throws {RangeError} unless high >= low >= 0.
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const events: string[] = [];
   * const resumed = loop.createFuture<null>();
   * class Client extends Protocol {
   *   override pauseWriting() { events.push("pause"); }
   *   override resumeWriting() { events.push("resume"); resumed.setResult(null); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.setWriteBufferLimits(100, 0); // high 100 bytes, low 0
   *   transport.write(new Uint8Array(1000)); // over the high mark: pauseWriting()
   *   await resumed; // all sent: resumeWriting()
   *   assert.deepEqual(events, ["pause", "resume"]);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override setWriteBufferLimits(
    high?: number | null,
    low?: number | null,
  ): void {
    this.#flow.setLimits(high, low);
    this.#maybePauseProtocol();
  }

  #maybePauseProtocol(): void {
    this.#flow.maybePause(this.#writeSize, this.#protocol);
  }

  #maybeResumeProtocol(): void {
    this.#flow.maybeResume(this.#writeSize, this.#protocol);
  }

  // ---- closing ----------------------------------------------------------

  /**
   * Whether the transport is closing or closed. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
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
   * Closes after buffered data is flushed; the protocol's
   * `connectionLost(null)` follows. Mirrors `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.write(new TextEncoder().encode("bye"));
   *   transport.close(); // sends "bye", then closes
   *   assert.equal(await lost, null); // connectionLost(null)
   * });
   * loop.close();
   * ```
   */
  override close(): void {
    if (this.#closing) return;
    if (this._beginClose()) {
      this.#connLost++;
      this._loop.callSoon(
        protocolCall(
          this,
          "connectionLost",
          () => this._callConnectionLost(null),
          () => [null],
        ),
      );
    }
  }

  /**
   * @internal `close()`'s first step: the transport is closing, and a read
   * held while paused is let go (it is not delivered). Returns whether
   * nothing is left to write.
   */
  protected _beginClose(): boolean {
    this.#closing = true;
    if (this.#held) {
      this.#held = false;
      this._loop.callSoon(this.#readDone);
    }
    return !this.#writing && this.#writeChunks.length === 0;
  }

  /** @internal The write buffer drained after `close()`. */
  protected _flushedOnClose(): void {
    this._callConnectionLost(null);
  }

  /**
   * @internal Sends EOF, then reads on, dropping what arrives, until the
   * peer's EOF (or a read error) ends the connection with
   * `_callConnectionLost(null)`. Returns false, doing nothing, if it is
   * already draining or the connection is lost.
   */
  protected _drainToEof(): boolean {
    if (this.#draining || this.#connLost > 0) return false;
    this.#draining = true;
    this.#shutdownWrite();
    if (this.#eofSeen) {
      this.#registration.post(
        protocolCall(
          this,
          "connectionLost",
          () => this._callConnectionLost(null),
          () => [null],
        ),
      );
    } else if (!this.#reading) this.#readMore();
    return true;
  }

  /**
   * Closes at once, dropping buffered data; `connectionLost(null)` follows.
   * Mirrors `abort()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const lost = loop.createFuture<Error | null>();
   * class Client extends Protocol {
   *   override connectionLost(exc: Error | null) { lost.setResult(exc); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Client(), host, port);
   *   transport.write(new Uint8Array(1 << 20));
   *   transport.abort(); // drops what is still buffered
   *   assert.equal(transport.getWriteBufferSize(), 0);
   *   assert.equal(transport.isClosing(), true);
   *   assert.equal(await lost, null);
   * });
   * loop.close();
   * ```
   */
  override abort(): void {
    this.#forceClose(null);
  }

  /**
   * @internal Errors the exception handler does not hear of (debug mode
   * logs them): every one of Deno's OS errors, as asyncio's `_fatal_error`
   * passes over every `OSError`, not only the peer going away (one a
   * protocol callback throws too).
   */
  protected _isPeerError(error: unknown): boolean {
    return isOsError(error);
  }

  /**
   * @internal Reports `error` (to the exception handler, or in debug mode
   * only if the peer went away) and closes at once.
   */
  protected _fatalError(error: unknown, message: string): void {
    if (this._isPeerError(error)) {
      if (this._loop.getDebug()) logger.debug(`${this}: ${message}: ${error}`);
    } else {
      this._loop.callExceptionHandler({
        message,
        exception: error,
        transport: this,
        protocol: this.#protocol,
      });
    }
    this.#forceClose(error);
  }

  #forceClose(error: unknown): void {
    if (this.#connLost > 0) return;
    this.#aborted = true;
    this.#writeChunks = [];
    this.#writeSize = 0;
    this.#closing = true;
    this.#connLost++;
    this._loop.callSoon(
      protocolCall(
        this,
        "connectionLost",
        () => this._callConnectionLost(error ?? null),
        () => [error ?? null],
      ),
    );
  }

  /**
   * @internal Ends the connection, once: the protocol's `connectionLost`,
   * then the connection closes.
   */
  protected _callConnectionLost(error: unknown): void {
    if (this.#closed) return;
    this.#markClosed();
    try {
      this.#protocol.connectionLost(error as Error | null);
    } finally {
      this.#release();
      this.#server?._detach(this);
    }
  }

  /** @internal Whether the connection is closed (`connectionLost` is due). */
  protected get _closed(): boolean {
    return this.#closed;
  }

  /** @internal `write=<idle, bufsize=0>`, for `toString()`. */
  protected _describeWrite(): string {
    return `write=<${
      this.#writing ? "polling" : "idle"
    }, bufsize=${this.#writeSize}>`;
  }

  /**
   * @internal Marks the transport closed and closes the connection (the
   * socket if any, else the conn); false if it was closed already.
   */
  protected _closeConnection(): boolean {
    if (this.#closed) return false;
    this.#markClosed();
    this.#release();
    return true;
  }

  /** @internal The protocol's `connectionLost`, then the server forgets it. */
  protected _reportLost(error: unknown): void {
    try {
      this.#protocol.connectionLost(error as Error | null);
    } finally {
      this.#server?._detach(this);
    }
  }

  /**
   * The loop closed with the connection open: close it, without the
   * protocol (the loop can no longer call it). asyncio leaves such a
   * transport to the garbage collector, which closes its socket; here it
   * closes with its loop, so it neither leaks nor keeps the process alive.
   * Bytes it could not send are reported.
   */
  readonly #loopClosed = (): void => {
    if (this.#closed) return;
    const unsent = this.#writeSize;
    this.#writeChunks = [];
    this.#writeSize = 0;
    this.#markClosed();
    if (unsent > 0) {
      logger.warning(
        `${this} was still open when its loop closed: closed with ${unsent} bytes unsent`,
      );
    } else if (this._loop.getDebug()) {
      logger.warning(`unclosed transport ${this}: closed with its loop`);
    }
    this.#release();
    this.#server?._detach(this);
  };

  #markClosed(): void {
    this.#closed = true;
    this.#closing = true;
    if (this.#connLost === 0) this.#connLost = 1;
  }

  #release(): void {
    const sock = this.#sock;
    if (sock !== null) {
      sock._owner = null;
      sock.close();
    } else {
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#registration.close();
  }

  // ---- protocol ---------------------------------------------------------

  /**
   * Switches the protocol that receives data. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const got = loop.createFuture<string>();
   * class Echo extends Protocol {
   *   transport!: Transport;
   *   override connectionMade(t: Transport) { this.transport = t; }
   *   override dataReceived(data: Uint8Array) { this.transport.write(data); }
   * }
   * class Catch extends Protocol {
   *   override dataReceived(data: Uint8Array) { got.setResult(new TextDecoder().decode(data)); }
   * }
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport] = await loop.createConnection(() => new Protocol(), host, port);
   *   transport.setProtocol(new Catch()); // what arrives from now on goes there
   *   transport.write(new TextEncoder().encode("ping"));
   *   assert.equal(await got, "ping");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
    this.#buffered = isBufferedProtocol(protocol);
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   const [transport, protocol] = await loop.createConnection(() => new Protocol(), host, port);
   *   assert.equal(transport.getProtocol(), protocol);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }
}
