/**
 * `sendfile` and `sockSendfile`, as functions of a loop; `EventLoop`'s
 * methods of those names call them. Mirrors asyncio's `BaseEventLoop.sendfile`
 * / `sock_sendfile` and their fallbacks.
 *
 * Deno has no zero-copy `sendfile(2)` for the package's sockets (its
 * connections are owned by Deno's resource table, and no API hands a file
 * to a socket), so the native path always reports
 * `SendfileNotAvailableError` and the fallback does the work: it reads the
 * file in chunks and writes them through the transport, waiting whenever
 * the transport's write buffer is over its high-water mark (or, for a bare
 * socket, through `sockSendall`).
 *
 * @module
 */
import type { Dispatcher } from "./core/dispatcher.ts";
import { RuntimeError, SendfileNotAvailableError } from "./base/exceptions.ts";
import type { Future } from "./core/futures.ts";
import { SOCK_STREAM, Socket } from "./net/socket.ts";
import { SocketTransport } from "./transports/socket_transport.ts";
import type { Transport } from "../transports/transport.ts";
import type { BaseProtocol } from "../protocols/protocol.ts";

/** How much the fallback reads at a time. */
const BLOCK_SIZE = 256 * 1024;

import type { SendfileFile, SendfileOptions } from "./core/options.ts";
import { checkOptionKeys, optionKeys } from "./base/options.ts";
export type { SendfileFile, SendfileOptions };

/** The options `sendfile` and `sockSendfile` take. */
const SENDFILE_OPTIONS = optionKeys<SendfileOptions>({ fallback: true });

/** What `sendfile` needs of its loop (the event loop provides it). */
export interface SendfileLoop {
  /** Throws if the loop is closed. */
  _checkClosed(): void;
  /** A new future of this loop. */
  createFuture<T = unknown>(): Future<T>;
  /** Sends all of `data` on `sock`. */
  sockSendall(sock: Socket, data: Uint8Array): Promise<void>;
  /** The readiness dispatcher: a file read in flight holds the clock. */
  readonly _dispatcher: Dispatcher;
}

/**
 * How a transport can send a file: `"native"` (try the fast path, then
 * fall back), `"fallback"` (read and write), or unsupported. A transport
 * class may declare it with a `_sendfileCompatible` property.
 */
function sendfileMode(transport: unknown): "native" | "fallback" | null {
  if (transport instanceof SocketTransport) return "native";
  const declared = (transport as { _sendfileCompatible?: unknown })
    ?._sendfileCompatible;
  if (declared === "native" || declared === "fallback") return declared;
  return null;
}

function checkFile(file: unknown, method: string): SendfileFile {
  if (
    file === null || typeof file !== "object" ||
    typeof (file as SendfileFile).read !== "function" ||
    typeof (file as SendfileFile).seek !== "function"
  ) {
    throw new TypeError(
      `${method}(): file must be a Deno.FsFile opened for reading, got ${
        file === null ? "null" : typeof file
      }`,
    );
  }
  return file as SendfileFile;
}

/**
 * asyncio's `_check_sendfile_params` (ValueError becomes RangeError). A
 * count of 0 is refused where asyncio refuses it (the native path: socket
 * transports and `sockSendfile`); a fallback-only transport takes it as
 * "to EOF", as asyncio's `_sendfile_fallback` does.
 */
function checkParams(offset: unknown, count: unknown, zeroCount = false): void {
  if (count !== null && count !== undefined) {
    if (typeof count !== "number" || !Number.isInteger(count)) {
      throw new TypeError(
        `count must be a positive integer (got ${String(count)})`,
      );
    }
    if (count < 0 || (count === 0 && !zeroCount)) {
      throw new RangeError(`count must be a positive integer (got ${count})`);
    }
  }
  if (typeof offset !== "number" || !Number.isInteger(offset)) {
    throw new TypeError(
      `offset must be a non-negative integer (got ${String(offset)})`,
    );
  }
  if (offset < 0) {
    throw new RangeError(
      `offset must be a non-negative integer (got ${offset})`,
    );
  }
}

/**
 * Stands in for the transport's protocol while the fallback writes, as
 * asyncio's `_SendfileFallbackProtocol` does: reading is paused, and
 * `pauseWriting`/`resumeWriting` gate the next write.
 */
class FallbackProtocol {
  #loop: SendfileLoop;
  #transport: Transport;
  #proto: BaseProtocol;
  #resumeReading: boolean;
  #resumeWriting: boolean;
  #ready: Future<null> | null = null;

  constructor(loop: SendfileLoop, transport: Transport) {
    this.#loop = loop;
    this.#transport = transport;
    this.#proto = transport.getProtocol();
    this.#resumeReading = transport.isReading();
    // asyncio reads `_protocol_paused`; a transport that does not say
    // paused its protocol at least when its buffer is over the high mark.
    const paused = (transport as { _protocolPaused?: unknown })
      ._protocolPaused;
    this.#resumeWriting = typeof paused === "boolean"
      ? paused
      : transport.getWriteBufferSize() > transport.getWriteBufferLimits()[1];
    transport.pauseReading();
    transport.setProtocol(this as unknown as BaseProtocol);
    if (this.#resumeWriting) this.#ready = loop.createFuture<null>();
  }

  async drain(): Promise<void> {
    if (this.#transport.isClosing()) {
      throw new Deno.errors.ConnectionReset("Connection closed by peer");
    }
    const ready = this.#ready;
    if (ready !== null) await ready;
  }

  connectionMade(): void {
    throw new RuntimeError(
      "Invalid state: connection should have been established already.",
    );
  }

  connectionLost(exc: Error | null): void {
    const ready = this.#ready;
    if (ready !== null && !ready.done()) {
      // The peer went away before the whole file was sent.
      ready.setException(
        exc ?? new Deno.errors.ConnectionReset("Connection is closed by peer"),
      );
      // The sendfile call reports it; don't count it as never retrieved.
      ready.exception();
    }
    this.#proto.connectionLost(exc);
  }

  pauseWriting(): void {
    if (this.#ready !== null) return;
    this.#ready = this.#loop.createFuture<null>();
  }

  resumeWriting(): void {
    const ready = this.#ready;
    if (ready === null) {
      // The protocol was paused before the sendfile began without this
      // being seen: it is owed this resume once restored.
      this.#resumeWriting = true;
      return;
    }
    this.#ready = null;
    ready.setResult(null);
  }

  dataReceived(): void {
    throw new RuntimeError("Invalid state: reading should be paused");
  }

  eofReceived(): void {
    throw new RuntimeError("Invalid state: reading should be paused");
  }

  restore(): void {
    this.#transport.setProtocol(this.#proto);
    if (this.#resumeReading) this.#transport.resumeReading();
    const ready = this.#ready;
    this.#ready = null;
    if (ready !== null && !ready.done()) ready.cancel();
    if (this.#resumeWriting) this.#proto.resumeWriting();
  }
}

/** Reads into `buffer`, holding the loop's clock while the read is in flight. */
async function readChunk(
  loop: SendfileLoop,
  file: SendfileFile,
  buffer: Uint8Array,
): Promise<number> {
  const registration = loop._dispatcher.register("sendfile");
  registration.begin();
  try {
    return (await file.read(buffer)) ?? 0;
  } finally {
    registration.close();
  }
}

/** Implements `loop.sendfile()`. @internal */
export async function sendfile(
  loop: SendfileLoop,
  transport: Transport,
  file: Deno.FsFile | SendfileFile,
  offset = 0,
  count: number | null = null,
  options: SendfileOptions = {},
): Promise<number> {
  checkOptionKeys(options, SENDFILE_OPTIONS, "sendfile");
  loop._checkClosed();
  const fallback = options.fallback ?? true;
  if (
    transport === null || typeof transport !== "object" ||
    typeof (transport as Transport).isClosing !== "function"
  ) {
    throw new TypeError(
      `sendfile(): transport must be a transport, got ${typeof transport}`,
    );
  }
  if (transport.isClosing()) throw new RuntimeError("Transport is closing");
  const mode = sendfileMode(transport);
  if (mode === null) {
    throw new RuntimeError(
      `sendfile is not supported for transport ${transport}`,
    );
  }
  checkFile(file, "sendfile");
  checkParams(offset, count, mode === "fallback");
  if (mode === "native" && !fallback) {
    throw new SendfileNotAvailableError(
      "sendfile syscall is not supported: Deno has no zero-copy sendfile for its sockets; pass fallback: true to read and send the file",
    );
  }
  if (!fallback) {
    throw new RuntimeError(
      `fallback is disabled and native sendfile is not supported for transport ${transport}`,
    );
  }
  return await sendfileFallback(loop, transport, file, offset, count);
}

async function sendfileFallback(
  loop: SendfileLoop,
  transport: Transport,
  file: SendfileFile,
  offset: number,
  count: number | null,
): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  const proto = new FallbackProtocol(loop, transport);
  let total = 0;
  try {
    for (;;) {
      const size = count ? Math.min(count - total, BLOCK_SIZE) : BLOCK_SIZE;
      if (size <= 0) break;
      // A fresh buffer per chunk: the transport keeps what it is given
      // until it is written. The read overlaps the previous write.
      const buffer = new Uint8Array(size);
      const n = await readChunk(loop, file, buffer);
      if (n === 0) break; // EOF: a short file sends what there is.
      await proto.drain();
      transport.write(n === size ? buffer : buffer.subarray(0, n));
      total += n;
    }
    await proto.drain();
  } finally {
    await file.seek(offset + total, Deno.SeekMode.Start);
    proto.restore();
  }
  return total;
}

/** Implements `loop.sockSendfile()`. @internal */
export async function sockSendfile(
  loop: SendfileLoop,
  sock: Socket,
  file: Deno.FsFile | SendfileFile,
  offset = 0,
  count: number | null = null,
  options: SendfileOptions = {},
): Promise<number> {
  checkOptionKeys(options, SENDFILE_OPTIONS, "sockSendfile");
  loop._checkClosed();
  const fallback = options.fallback ?? true;
  if (!(sock instanceof Socket)) {
    throw new TypeError(
      `sockSendfile() expects a Socket, got ${typeof sock}`,
    );
  }
  checkFile(file, "sockSendfile");
  if (sock.type !== SOCK_STREAM) {
    throw new RangeError("only SOCK_STREAM type sockets are supported");
  }
  checkParams(offset, count);
  if (!fallback) {
    throw new SendfileNotAvailableError(
      `syscall sendfile is not available for socket ${sock} and file combination: Deno has no zero-copy sendfile; pass fallback: true`,
    );
  }
  await file.seek(offset, Deno.SeekMode.Start);
  const buffer = new Uint8Array(
    count ? Math.min(count, BLOCK_SIZE) : BLOCK_SIZE,
  );
  let total = 0;
  try {
    for (;;) {
      const size = count
        ? Math.min(count - total, buffer.length)
        : buffer.length;
      if (size <= 0) break;
      const n = await readChunk(loop, file, buffer.subarray(0, size));
      if (n === 0) break;
      // sockSendall copies into the socket's send buffer: reuse ours.
      await loop.sockSendall(sock, buffer.subarray(0, n));
      total += n;
    }
  } finally {
    await file.seek(offset + total, Deno.SeekMode.Start);
  }
  return total;
}
