/**
 * The stream transport over a connected socket: what `createConnection`,
 * `createServer`, the Unix variants and `connectAcceptedSocket` hand to
 * protocols. Mirrors asyncio's `_SelectorSocketTransport`.
 *
 * It drives the socket's Deno connection directly, with the read loop and
 * write buffer it shares with the TLS transport (transports/
 * stream_transport.ts); its own part takes a connected socket over, turns
 * Nagle's delay off and lets reads grow up to asyncio's `max_size`.
 *
 * @module
 */
import type { TransportLoop } from "./transport_loop.ts";
import { RuntimeError } from "../base/exceptions.ts";
import type { Future } from "../core/futures.ts";
import { AF_UNIX, connNames, type Socket } from "../net/socket.ts";
import type { BaseProtocol } from "../../protocols/protocol.ts";
import { type ConnectionOwner, StreamTransport } from "./stream_transport.ts";

export type { ConnectionOwner } from "./stream_transport.ts";

/** The most one read asks for (asyncio's `max_size`). */
const MAX_SIZE = 256 * 1024;
/** The first read buffer; it grows when reads fill it. */
const INITIAL_READ = 4 * 1024;

/** What errors report (asyncio's `_SelectorSocketTransport` messages). */
const MESSAGES = {
  read: "Fatal read error on socket transport",
  write: "Fatal write error on socket transport",
  eofReceived: "Fatal error: protocol.eofReceived() call failed.",
  writeAfterClose: "socket.send() raised exception.",
};

/**
 * A stream transport over one of the package's sockets. Created by the
 * loop's connection and server methods; protocols receive it in
 * `connectionMade`. It has asyncio's whole transport interface (see
 * `Transport`), and half-closes with `writeEof()`.
 *
 * @example An echo protocol receives a SocketTransport
 * ```ts
 * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * class Echo extends Protocol {
 *   transport!: Transport;
 *   override connectionMade(t: Transport) { this.transport = t; }
 *   override dataReceived(data: Uint8Array) { this.transport.write(data); }
 * }
 * const loop = newEventLoop();
 * const reply = await loop.runUntilComplete(async () => {
 *   const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0);
 *   const [host, port] = server.sockets[0].getsockname();
 *   const done = loop.createFuture<string>();
 *   class Client extends Protocol {
 *     override connectionMade(t: Transport) { t.write(new TextEncoder().encode("ping")); }
 *     override dataReceived(data: Uint8Array) { done.setResult(new TextDecoder().decode(data)); }
 *   }
 *   const [transport] = await loop.createConnection(() => new Client(), host, port);
 *   const text = await done;
 *   transport.close();
 *   server.close();
 *   await server.waitClosed();
 *   return text;
 * });
 * assert.equal(reply, "ping");
 * loop.close();
 * ```
 */
export class SocketTransport extends StreamTransport {
  #sock: Socket;

  /**
   * Wraps a connected socket; the loop's connection methods are the usual
   * way to get one.
   *
   * @param loop The loop the protocol's callbacks run on.
   * @param sock A connected stream socket; the transport takes it over.
   * @param protocol The protocol to call.
   * @param waiter Completed (with null) once `connectionMade` has run.
   * @param extra Extra information besides `peername`, `sockname`, `socket`.
   * @param server The server the connection belongs to, if any.
   */
  constructor(
    loop: TransportLoop,
    sock: Socket,
    protocol: BaseProtocol,
    waiter: Future<null> | null = null,
    extra: Record<string, unknown> | null = null,
    server: ConnectionOwner | null = null,
  ) {
    const conn = sock._conn;
    if (conn === null || sock.closed) {
      throw new RuntimeError("a transport needs a connected socket");
    }
    if (sock._owner !== null) {
      throw new RuntimeError(
        `${sock} is already used by a transport`,
      );
    }
    super(loop, protocol, {
      conn,
      sock,
      extra: {
        ...extra,
        socket: sock,
        ...connNames(conn),
      },
      waiter,
      server,
      readSize: INITIAL_READ,
      maxReadSize: MAX_SIZE,
      messages: MESSAGES,
      dropWritesOnClose: false,
    });
    this.#sock = sock;
    sock._watchRead(false);
    // asyncio turns Nagle's algorithm off on every TCP transport; the socket
    // in the extra info reads it back (Unix sockets have no such option).
    if (sock.family !== AF_UNIX && conn.setNoDelay !== undefined) {
      try {
        conn.setNoDelay(true);
        sock._noDelay = true;
      } catch {
        // A connection already gone keeps its option as it was.
      }
    }
  }

  /** A description like `<SocketTransport fd=7 read=polling write=<idle, bufsize=0>>`. */
  override toString(): string {
    const closing = this.isClosing();
    const state = this._closed ? " closed" : closing ? " closing" : "";
    const read = closing
      ? ""
      : ` read=${this.isReading() ? "polling" : "idle"}`;
    return `<SocketTransport fd=${this.#sock.fileno()}${state}${read} ${this._describeWrite()}>`;
  }
}
