/**
 * `Server`: what `createServer` and `createUnixServer` return. Mirrors
 * `asyncio.Server`.
 *
 * @module
 */
import { type AbstractEventLoop, AbstractServer } from "./abstract_loop.ts";
import { CancelledError, RuntimeError } from "../base/exceptions.ts";
import type { Future } from "./futures.ts";
import type { Socket, SocketAddress } from "../net/socket.ts";
import { sleep } from "./tasks.ts";

/** A connection a server tracks (its transport). */
interface Client {
  close(): void;
  abort(): void;
}

/** The loop side of serving (package-internal). */
export interface ServingLoop extends AbstractEventLoop {
  /** Starts accepting on `sock` for `server`. */
  _startServing(server: Server, sock: Socket): void;
  /** Stops accepting on `sock` and closes it; settles when it is released. */
  _stopServing(sock: Socket): Promise<void> | null;
}

/**
 * A listening server. Mirrors `asyncio.Server`: `close()`, `waitClosed()`,
 * `startServing()`, `serveForever()`, `isServing()`, `sockets`,
 * `closeClients()`, `abortClients()`, and `await using` (closes and waits).
 *
 * @example
 * ```ts
 * import { newEventLoop, Protocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * await loop.runUntilComplete(async () => {
 *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
 *   assert.equal(server.isServing(), true);
 *   assert.equal(server.sockets.length, 1);
 * });
 * loop.close();
 * ```
 */
export class Server<A extends SocketAddress = SocketAddress>
  extends AbstractServer<A> {
  #loop: ServingLoop;
  #sockets: Socket<A>[] | null;
  /** @ignore */ readonly _protocolFactory: () => unknown;
  /** @ignore */ readonly _extra: Record<string, unknown>;
  #clients = new Set<Client>();
  #waiters: Future<null>[] | null = [];
  #serving = false;
  #servingForever: Future<null> | null = null;
  #disposed = false;
  /** Settles once every closed listener is released by Deno. */
  #released: Promise<unknown> | null = null;

  /**
   * Created by the loop's server methods.
   *
   * @param loop The loop.
   * @param sockets The listening sockets.
   * @param protocolFactory Makes a protocol per connection.
   * @param extra Extra information for each connection's transport.
   */
  constructor(
    loop: ServingLoop,
    sockets: Socket<A>[],
    protocolFactory: () => unknown,
    extra: Record<string, unknown> = {},
  ) {
    super();
    this.#loop = loop;
    this.#sockets = sockets;
    this._protocolFactory = protocolFactory;
    this._extra = extra;
  }

  /** @ignore A connection was made. */
  _attach(client: Client): void {
    this.#clients.add(client);
  }

  /** @ignore A connection ended. */
  _detach(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0 && this.#sockets === null) this.#wakeup();
  }

  #wakeup(): void {
    const released = this.#released;
    if (released !== null) {
      // The listeners are not released yet: wake the waiters once they are.
      this.#released = null;
      released.then(() => this.#wakeup());
      return;
    }
    const waiters = this.#waiters;
    this.#waiters = null;
    if (waiters === null) return;
    for (const waiter of waiters) {
      if (!waiter.done()) waiter.setResult(null);
    }
  }

  /** @ignore */
  _startServing(): void {
    if (this.#serving || this.#sockets === null) return;
    this.#serving = true;
    for (const sock of this.#sockets) this.#loop._startServing(this, sock);
  }

  /**
   * The loop the server runs on. Mirrors `Server.get_loop()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   assert.equal(server.getLoop(), loop);
   * });
   * loop.close();
   * ```
   */
  override getLoop(): AbstractEventLoop {
    return this.#loop;
  }

  /**
   * Whether the server accepts connections. Mirrors `Server.is_serving()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { startServing: false });
   *   assert(!server.isServing());
   *   server.close();
   * });
   * loop.close();
   * ```
   */
  override isServing(): boolean {
    return this.#serving;
  }

  /**
   * The listening sockets (empty once closed). Mirrors `Server.sockets`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const [host, port] = server.sockets[0].getsockname();
   *   assert.equal(host, "127.0.0.1");
   *   assert(port > 0);
   * });
   * loop.close();
   * ```
   */
  override get sockets(): Socket<A>[] {
    return this.#sockets === null ? [] : [...this.#sockets];
  }

  /**
   * Stops listening and closes the listening sockets; connections already
   * made stay open (see `closeClients()`). Mirrors `Server.close()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   server.close();
   *   await server.waitClosed();
   *   assert.equal(server.sockets.length, 0);
   * });
   * loop.close();
   * ```
   */
  override close(): void {
    const sockets = this.#sockets;
    if (sockets === null) return;
    this.#sockets = null;
    const pending: Promise<void>[] = [];
    for (const sock of sockets) {
      const released = this.#loop._stopServing(sock);
      if (released !== null) pending.push(released);
    }
    if (pending.length > 0) this.#released = Promise.all(pending);
    this.#serving = false;
    const forever = this.#servingForever;
    if (forever !== null && !forever.done()) forever.cancel();
    this.#servingForever = null;
    if (this.#clients.size === 0) this.#wakeup();
  }

  /**
   * Closes every connection the server accepted (after their buffered data
   * is sent). Mirrors `Server.close_clients()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const accepted = loop.createFuture<null>();
   *   const hungUp = loop.createFuture<Error | null>();
   *   class ServerSide extends Protocol {
   *     override connectionMade() { accepted.setResult(null); }
   *   }
   *   class ClientSide extends Protocol {
   *     override connectionLost(exc: Error | null) { hungUp.setResult(exc); }
   *   }
   *   const server = await loop.createServer(() => new ServerSide(), "127.0.0.1", 0);
   *   const [, port] = server.sockets[0].getsockname();
   *   await loop.createConnection(() => new ClientSide(), "127.0.0.1", port);
   *   await accepted;
   *   server.close(); // stops listening; the connection stays open...
   *   server.closeClients(); // ...until closed here
   *   assert.equal(await hungUp, null); // the client saw a clean close
   *   await server.waitClosed();
   * });
   * loop.close();
   * ```
   */
  override closeClients(): void {
    for (const client of [...this.#clients]) client.close();
  }

  /**
   * Aborts every connection the server accepted. Mirrors
   * `Server.abort_clients()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol, type Transport } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const accepted = loop.createFuture<Transport>();
   *   class ServerSide extends Protocol {
   *     override connectionMade(t: Transport) { accepted.setResult(t); }
   *   }
   *   const server = await loop.createServer(() => new ServerSide(), "127.0.0.1", 0);
   *   const [, port] = server.sockets[0].getsockname();
   *   const [client] = await loop.createConnection(() => new Protocol(), "127.0.0.1", port);
   *   const serverSide = await accepted;
   *   server.close();
   *   server.abortClients(); // at once, dropping anything not yet sent
   *   assert.equal(serverSide.isClosing(), true);
   *   await server.waitClosed();
   *   client.close();
   * });
   * loop.close();
   * ```
   */
  override abortClients(): void {
    for (const client of [...this.#clients]) client.abort();
  }

  /**
   * Starts accepting (when created with `startServing: false`). Mirrors
   * `Server.start_serving()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   await using server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0, { startServing: false });
   *   await server.startServing();
   *   assert(server.isServing());
   * });
   * loop.close();
   * ```
   */
  override async startServing(): Promise<void> {
    this._startServing();
    await sleep(0);
  }

  /**
   * Accepts connections until cancelled; cancelling it closes the server.
   * Mirrors `Server.serve_forever()`.
   *
   * @throws {RuntimeError} if the server is closed or already serving
   * forever.
   * @example
   * ```ts
   * import { CancelledError, newEventLoop, Protocol, sleep } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   const task = loop.createTask(() => server.serveForever());
   *   await sleep(0); // the task starts serving
   *   task.cancel();
   *   await assert.rejects(async () => await task, CancelledError);
   *   assert.equal(server.isServing(), false); // cancelling closed the server
   *   assert.equal(server.sockets.length, 0);
   * });
   * loop.close();
   * ```
   */
  override async serveForever(): Promise<void> {
    if (this.#servingForever !== null) {
      throw new RuntimeError(
        `server ${this} is already being awaited on serveForever()`,
      );
    }
    if (this.#sockets === null) {
      throw new RuntimeError(`server ${this} is closed`);
    }
    this._startServing();
    const forever = this.#loop.createFuture<null>();
    this.#servingForever = forever;
    try {
      await forever;
    } catch (error) {
      if (error instanceof CancelledError) {
        // Cancelled: close, wait for the connections, and stay cancelled.
        this.close();
        await this.waitClosed();
      }
      throw error;
    } finally {
      this.#servingForever = null;
    }
  }

  /**
   * Resolves once the server is closed and every connection it accepted has
   * ended. Mirrors `Server.wait_closed()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, Protocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const loop = newEventLoop();
   * await loop.runUntilComplete(async () => {
   *   const server = await loop.createServer(() => new Protocol(), "127.0.0.1", 0);
   *   server.close();
   *   await server.waitClosed(); // the listener and every connection are gone
   *   assert.equal(server.isServing(), false);
   * });
   * loop.close();
   * ```
   */
  override async waitClosed(): Promise<void> {
    if (this.#waiters === null) return;
    const waiter = this.#loop.createFuture<null>();
    this.#waiters.push(waiter);
    await waiter;
  }

  /** Closes the server and waits for it (`await using`). */
  override async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.close();
    await this.waitClosed();
  }

  /** A description like `<Server sockets=[...]>`. */
  override toString(): string {
    return `<Server sockets=[${this.sockets.map(String).join(", ")}]>`;
  }
}
