/**
 * Outgoing TCP connections from a chosen local address (package-internal).
 *
 * `Deno.connect()` cannot bind the local end of a connection, so a socket
 * that was bound before `connect()` (and `createConnection({ localAddr })`)
 * connects through `node:net`, which can. The connection is wrapped in the
 * same `StreamConn` shape as a `Deno.Conn`, so sockets and transports treat
 * both alike. Node's errors become the `Deno.errors` classes a `Deno.Conn`
 * would raise.
 *
 * @module
 */
import type * as net from "node:net";
import { nodeBuiltin } from "../base/node_builtins.ts";
import { takeChunks } from "../base/bytes.ts";
import { denoError } from "./node_errors.ts";
import type { StreamConn } from "./types.ts";

/** Bytes received and not yet read, above which the socket is paused. */
const READ_AHEAD = 256 * 1024;

function netAddr(address: string | undefined, port: number | undefined) {
  return {
    transport: "tcp" as const,
    hostname: address ?? "",
    port: port ?? 0,
  };
}

/**
 * A socket error as a `Deno.errors` class. A TLS failure after the
 * handshake (a corrupt record, a bad MAC: `node:tls`'s `ERR_SSL_*` codes)
 * is `InvalidData`, as a `Deno.TlsConn` reports it: it is asyncio's
 * `ssl.SSLError`, an `OSError`, so the transport closes with it without
 * calling the exception handler.
 */
function connError(error: unknown): Error {
  const code = (error as { code?: unknown })?.code;
  if (
    error instanceof Error && typeof code === "string" &&
    (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"))
  ) {
    const mapped = new Deno.errors.InvalidData(error.message);
    (mapped as { code?: string }).code = code;
    (mapped as { cause?: unknown }).cause = error;
    return mapped;
  }
  return denoError(error);
}

/**
 * A `node:net` socket (or a `node:tls` one, whose plaintext side it reads
 * and writes) seen as a `StreamConn`. Reads are buffered up to READ_AHEAD,
 * then the socket is paused until they are taken.
 */
export class NodeConn implements StreamConn {
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
  /** The Node socket. */
  readonly socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #closed = false;
  #reader:
    | {
      buffer: Uint8Array;
      resolve: (n: number | null) => void;
      reject: (error: Error) => void;
    }
    | null = null;

  /**
   * @param localAddr, remoteAddr The addresses to report (default: the
   * socket's own; a TLS socket over a transport has none).
   */
  constructor(
    socket: net.Socket,
    localAddr?: Deno.Addr,
    remoteAddr?: Deno.Addr,
  ) {
    this.socket = socket;
    this.localAddr = localAddr ??
      netAddr(socket.localAddress, socket.localPort);
    this.remoteAddr = remoteAddr ??
      netAddr(socket.remoteAddress, socket.remotePort);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered >= READ_AHEAD) socket.pause();
      this.#serve();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#serve();
    });
    socket.on("error", (error: unknown) => {
      this.#error ??= connError(error);
      this.#serve();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#serve();
    });
  }

  /** Completes a waiting read if it can. */
  #serve(): void {
    const reader = this.#reader;
    if (reader === null) return;
    if (this.#buffered > 0) {
      this.#reader = null;
      reader.resolve(this.#take(reader.buffer));
    } else if (this.#error !== null) {
      this.#reader = null;
      reader.reject(this.#error);
    } else if (this.#ended || this.#closed) {
      this.#reader = null;
      reader.resolve(null);
    }
  }

  #take(into: Uint8Array): number {
    const n = takeChunks(this.#chunks, into);
    this.#buffered -= n;
    if (this.#buffered < READ_AHEAD && this.socket.isPaused()) {
      this.socket.resume();
    }
    return n;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#reader !== null) {
      return Promise.reject(new Deno.errors.Busy("a read is in progress"));
    }
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("the socket is closed"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#reader = { buffer, resolve, reject };
      this.#serve();
    });
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("the socket is closed"),
      );
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.socket.write(data, (error?: Error | null) => {
        if (error) reject(connError(error));
        else resolve(data.length);
      });
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      reader.reject(new Deno.errors.BadResource("the socket was closed"));
    }
  }

  /** Lets the process exit while a read is pending (see `unrefConn`). */
  unref(): void {
    this.socket.unref();
  }

  setNoDelay(noDelay = true): void {
    this.socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive = true): void {
    this.socket.setKeepAlive(keepAlive);
  }
}

/**
 * Connects to `host`:`port` from `localHost`:`localPort` (0: any port).
 * Rejects with `Deno.errors.ConnectionRefused`, `AddrInUse`, ... like
 * `Deno.connect()`.
 */
export function connectFrom(
  host: string,
  port: number,
  localHost: string,
  localPort: number,
  signal?: AbortSignal,
): Promise<StreamConn> {
  return new Promise((resolve, reject) => {
    const socket = nodeBuiltin<typeof net>("node:net").connect({
      host,
      port,
      localAddress: localHost,
      localPort,
    });
    const onAbort = () => {
      socket.destroy();
      reject(new DOMException("the connect was aborted", "AbortError"));
    };
    const onError = (error: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(denoError(error));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    socket.once("connect", () => {
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      resolve(new NodeConn(socket));
    });
  });
}
