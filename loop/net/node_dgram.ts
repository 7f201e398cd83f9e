/**
 * Datagram backends (package-internal): what a `SOCK_DGRAM` `Socket` and the
 * datagram transport drive.
 *
 * IPv4 and IPv6 go through `node:dgram`, which works under a plain
 * `deno run --allow-net` (`Deno.listenDatagram` needs `--unstable-net`).
 * Binding is made synchronous, as a Python socket's `bind()` is, by giving
 * `node:dgram` a lookup function that answers at once with the IP literal
 * the caller already resolved. Deno's `node:dgram` emulates `connect()` (it
 * remembers the peer and sends there); this backend also drops datagrams
 * from other senders, as a connected socket's kernel would.
 *
 * Unix datagram sockets exist in Deno only as `Deno.listenDatagram({
 * transport: "unixpacket" })`, which needs `--unstable-net` and cannot send
 * while a receive is pending: they are refused with an error that says so
 * (and names the flag).
 *
 * @module
 */
import type dgram from "node:dgram";
import { nodeBuiltin } from "../base/node_builtins.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "./addrinfo.ts";
import { denoError } from "./node_errors.ts";
import type { DatagramSink, DgramBackend, SocketAddress } from "./types.ts";
export type { DatagramSink, DgramBackend } from "./types.ts";

/** The largest UDP payload over IPv4: 65535 − 20 (IP) − 8 (UDP) bytes. */
export const MAX_UDP4_PAYLOAD = 65507;
/** The largest UDP payload over IPv6 (no jumbograms): 65535 − 8 bytes. */
export const MAX_UDP6_PAYLOAD = 65527;

/**
 * A Node system error as the matching `Deno.errors` class; an oversized
 * datagram as `messageTooLong`.
 */
function dgramError(error: unknown): Error {
  if ((error as { code?: unknown })?.code === "EMSGSIZE") {
    return messageTooLong(
      (error as Error).message ?? "Message too long",
    );
  }
  return denoError(error);
}

/**
 * The error an oversized datagram gives: a `RangeError` with `code`
 * `"EMSGSIZE"` (Deno has no error class for it; Python raises
 * `OSError(EMSGSIZE, "Message too long")`).
 */
export function messageTooLong(message: string): Error {
  const error = new RangeError(message);
  (error as { code?: string }).code = "EMSGSIZE";
  return error;
}

/** Checks a datagram's size against the family's limit. @internal */
export function checkDatagramSize(
  size: number,
  family: number,
  what: string,
): Error | null {
  const limit = family === AF_INET6
    ? MAX_UDP6_PAYLOAD
    : family === AF_INET
    ? MAX_UDP4_PAYLOAD
    : Infinity;
  if (size <= limit) return null;
  return messageTooLong(
    `${what}: Message too long (EMSGSIZE): a datagram of ${size} bytes exceeds the ${
      family === AF_INET6 ? "IPv6" : "IPv4"
    } UDP limit of ${limit} bytes; split it or use a stream`,
  );
}

function inetAddr(
  family: number,
  address: string,
  port: number,
): SocketAddress {
  return family === AF_INET6 ? [address, port, 0, 0] : [address, port];
}

/** Answers node:dgram's lookup at once: the host is already an IP literal. */
function literalLookup(
  address: string,
  _family: unknown,
  callback: (error: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(":") ? 6 : 4);
}

/** A datagram waiting for the send in flight (`UdpBackend.send`). */
interface QueuedSend {
  data: Uint8Array;
  host: string;
  port: number;
  done: (error: Error | null) => void;
}

/** A UDP socket over `node:dgram`. */
class UdpBackend implements DgramBackend {
  readonly family: number;
  /** SO_REUSEADDR (and, on Unix, SO_REUSEPORT): set before binding. */
  reuse: boolean;
  #socket: dgram.Socket | null = null;
  #bound = false;
  #peer: [string, number] | null = null;
  #sink: DatagramSink | null = null;
  #closed: Promise<void> | null = null;
  /** The error a bind reports through node's "error" event. */
  #bindError: unknown = null;
  #broadcast = false;
  /** Whether a send is in flight (see `send`). */
  #sending = false;
  /** Sends waiting for the one in flight, oldest first. */
  #queue: QueuedSend[] = [];

  constructor(family: number, reuse: boolean) {
    this.family = family;
    this.reuse = reuse;
  }

  /** The node socket, created on first use (so `reuse` can still change). */
  #node(): dgram.Socket {
    if (this.#socket !== null) return this.#socket;
    // Loaded by the first datagram socket (through `process`, which must be
    // loaded for Deno to run the `process.nextTick` callbacks `node:dgram`
    // reports a closed socket with).
    const socket = nodeBuiltin<typeof dgram>("node:dgram").createSocket({
      type: this.family === AF_INET6 ? "udp6" : "udp4",
      reuseAddr: this.reuse,
      ipv6Only: this.family === AF_INET6,
      lookup: literalLookup,
    } as dgram.SocketOptions);
    // A loop keeps the process alive while it runs; a datagram socket never
    // needs to, and one left open must not hold the process afterwards.
    socket.unref();
    socket.on("error", (error) => {
      this.#bindError = error;
    });
    socket.on("message", (msg: Uint8Array, rinfo: dgram.RemoteInfo) => {
      const peer = this.#peer;
      if (
        peer !== null && (rinfo.port !== peer[1] || rinfo.address !== peer[0])
      ) return;
      this.#sink?.(
        new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength),
        inetAddr(this.family, rinfo.address, rinfo.port),
      );
    });
    this.#socket = socket;
    return socket;
  }

  get bound(): boolean {
    return this.#bound;
  }

  get peer(): SocketAddress | null {
    const peer = this.#peer;
    return peer === null ? null : inetAddr(this.family, peer[0], peer[1]);
  }

  bind(address: SocketAddress): void {
    const [host, port] = address as [string, number];
    this.#bindError = null;
    this.#node().bind(
      port,
      host === "" ? (this.family === AF_INET6 ? "::" : "0.0.0.0") : host,
    );
    // The literal lookup makes node bind synchronously: a failure has been
    // reported through the "error" event by now.
    const error = this.#bindError;
    this.#bindError = null;
    if (error !== null) throw dgramError(error);
    this.#bound = true;
    if (this.#broadcast) this.#node().setBroadcast(true);
  }

  #ensureBound(): void {
    if (!this.#bound) {
      this.bind([this.family === AF_INET6 ? "::" : "0.0.0.0", 0]);
    }
  }

  connect(address: SocketAddress): void {
    const [host, port] = address as [string, number];
    if (!this.#bound) {
      // The kernel would pick the source address by route: for a loopback
      // peer that is the loopback address (node binds the wildcard).
      const loopback = this.family === AF_INET6
        ? (host === "::1" ? "::1" : null)
        : (host.startsWith("127.") ? "127.0.0.1" : null);
      this.bind([loopback ?? (this.family === AF_INET6 ? "::" : "0.0.0.0"), 0]);
    }
    this.#peer = [host, port];
  }

  /**
   * Sends one datagram; `done` follows once it has left. Sends go out one at
   * a time, in the order they were made, as from asyncio's FIFO buffer: Deno
   * runs sends it is given together last first (a burst arrives reversed),
   * and one at a time is also several times faster. A queued datagram is a
   * copy, so the caller may reuse its array at once, as with a send made at
   * once (node copies it).
   */
  send(
    data: Uint8Array,
    address: SocketAddress | null,
    done: (error: Error | null) => void,
  ): void {
    this.#ensureBound();
    const [host, port] = (address ?? this.#peer) as [string, number];
    if (this.#sending) {
      this.#queue.push({ data: data.slice(), host, port, done });
      return;
    }
    this.#sendNow(data, host, port, done);
  }

  #sendNow(
    data: Uint8Array,
    host: string,
    port: number,
    done: (error: Error | null) => void,
  ): void {
    this.#sending = true;
    this.#node().send(data, port, host, (error) => {
      // The next send starts before `done` runs: a send `done` makes then
      // queues behind the ones already waiting.
      const next = this.#queue.shift();
      if (next === undefined) this.#sending = false;
      else this.#sendNow(next.data, next.host, next.port, next.done);
      done(error ? dgramError(error) : null);
    });
  }

  setSink(sink: DatagramSink | null): void {
    this.#sink = sink;
  }

  setBroadcast(on: boolean): void {
    this.#broadcast = on;
    if (this.#bound) this.#node().setBroadcast(on);
  }

  sockname(): SocketAddress {
    if (!this.#bound) {
      return this.family === AF_INET6 ? ["::", 0, 0, 0] : ["0.0.0.0", 0];
    }
    const { address, port } = this.#node().address();
    return inetAddr(this.family, address, port);
  }

  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    this.#sink = null;
    // Sends still queued never leave: each hears why.
    for (const queued of this.#queue.splice(0)) {
      queued.done(
        new Deno.errors.BadResource(
          "the datagram socket was closed before the datagram was sent",
        ),
      );
    }
    const socket = this.#socket;
    if (!this.#bound || socket === null) {
      // Never bound: node holds no resource and would not report a close.
      try {
        socket?.close();
      } catch {
        // Not running.
      }
      this.#closed = Promise.resolve();
      return this.#closed;
    }
    this.#closed = new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.#closed;
  }
}

/** The flag Deno's only Unix datagram API needs. */
export const UNIX_DGRAM_FLAG = "--unstable-net";

/**
 * Why `AF_UNIX` datagram sockets are refused. Deno's only Unix datagram API
 * is `Deno.listenDatagram({ transport: "unixpacket" })`: it needs
 * `--unstable-net`, and even then a `DatagramConn` cannot send while a
 * receive is pending (it fails with `Busy: Socket already in use`), so an
 * endpoint that listens and talks at once cannot be built on it.
 */
function unixDatagramsUnavailable(): Error {
  const flagged = typeof (Deno as { listenDatagram?: unknown })
    .listenDatagram === "function";
  return new Deno.errors.NotSupported(
    flagged
      ? "AF_UNIX datagram sockets are not available on Deno: Deno.listenDatagram (unixpacket) cannot send while a receive is pending; use AF_INET/AF_INET6 datagrams on loopback, or a Unix stream socket"
      : `AF_UNIX datagram sockets are not available on Deno: its only Unix datagram API, Deno.listenDatagram, needs the ${UNIX_DGRAM_FLAG} flag (and cannot send while receiving even then); use AF_INET/AF_INET6 datagrams, which need no flag, or a Unix stream socket`,
  );
}

/**
 * Creates the backend for a datagram socket of `family`.
 *
 * @throws {Deno.errors.NotSupported} for `AF_UNIX` (see above).
 */
export function createDgramBackend(
  family: number,
  reuse = false,
): DgramBackend {
  if (family === AF_UNIX) throw unixDatagramsUnavailable();
  return new UdpBackend(family, reuse);
}
