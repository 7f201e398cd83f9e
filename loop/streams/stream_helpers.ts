/**
 * The socket stream helpers: `openConnection`, `startServer`,
 * `openUnixConnection` and `startUnixServer`. Mirrors the functions of
 * `asyncio.streams`: each wires a `StreamReader`, a `StreamReaderProtocol`
 * and a `StreamWriter` over the running loop's stream methods.
 *
 * **Room `loop/streams`**: the high-level streams:
 * `StreamReader`/`StreamWriter`, the socket stream helpers and the
 * subprocess `Process`. It may import `loop/concurrency`, `loop` and every
 * room below.
 *
 * @module
 */
import {
  CREATE_CONNECTION_OPTIONS,
  CREATE_SERVER_OPTIONS,
  CREATE_UNIX_CONNECTION_OPTIONS,
  CREATE_UNIX_SERVER_OPTIONS,
  type CreateConnectionOptions,
  type CreateServerOptions,
  type CreateUnixConnectionOptions,
  type CreateUnixServerOptions,
} from "../event_loop.ts";
import { checkOptionKeys, optionKeys } from "../base/options.ts";
import { getRunningLoop } from "../core/running.ts";
import type { Server } from "../core/server.ts";
import type { InetAddress } from "../net/socket.ts";
import {
  type ClientConnectedCallback,
  DEFAULT_LIMIT,
  StreamReader,
  StreamReaderProtocol,
  StreamWriter,
  type WritableTransport,
} from "./streams.ts";
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import type { Transport } from "../../transports/transport.ts";

/** The reader's buffer limit, taken by every stream helper. */
export interface StreamLimitOptions {
  /** The `StreamReader`'s buffer limit in bytes (default 64 KiB). */
  limit?: number;
}

/** Options of `openConnection`: the reader's limit and `createConnection`'s. */
export type OpenConnectionOptions =
  & StreamLimitOptions
  & CreateConnectionOptions;
/** Options of `startServer`: the readers' limit and `createServer`'s. */
export type StartServerOptions = StreamLimitOptions & CreateServerOptions;
/** Options of `openUnixConnection`. */
export type OpenUnixConnectionOptions =
  & StreamLimitOptions
  & CreateUnixConnectionOptions;
/** Options of `startUnixServer`. */
export type StartUnixServerOptions =
  & StreamLimitOptions
  & CreateUnixServerOptions;

/** The reader's option, which every helper adds to its loop method's. */
const LIMIT = optionKeys<StreamLimitOptions>({ limit: true });
const OPEN_CONNECTION_OPTIONS: readonly (keyof OpenConnectionOptions)[] = [
  ...LIMIT,
  ...CREATE_CONNECTION_OPTIONS,
];
const START_SERVER_OPTIONS: readonly (keyof StartServerOptions)[] = [
  ...LIMIT,
  ...CREATE_SERVER_OPTIONS,
];
const OPEN_UNIX_CONNECTION_OPTIONS:
  readonly (keyof OpenUnixConnectionOptions)[] = [
    ...LIMIT,
    ...CREATE_UNIX_CONNECTION_OPTIONS,
  ];
const START_UNIX_SERVER_OPTIONS: readonly (keyof StartUnixServerOptions)[] = [
  ...LIMIT,
  ...CREATE_UNIX_SERVER_OPTIONS,
];

function checkCallback(callback: unknown, name: string): void {
  if (typeof callback !== "function") {
    throw new TypeError(
      `${name}(): clientConnectedCb must be a function taking (reader, writer), got ${
        callback === null ? "null" : typeof callback
      }`,
    );
  }
}

/** Splits the reader's limit from the loop method's options. */
function split<T extends StreamLimitOptions>(
  options: T,
): [number, Omit<T, "limit">] {
  const { limit = DEFAULT_LIMIT, ...rest } = options;
  return [limit, rest];
}

function readerFor(limit: number, loop: AbstractEventLoop): StreamReader {
  return new StreamReader(limit, { loop });
}

function connected(
  transport: Transport,
  protocol: StreamReaderProtocol,
  reader: StreamReader,
  loop: AbstractEventLoop,
): [StreamReader, StreamWriter] {
  const writer = new StreamWriter(
    transport as unknown as WritableTransport,
    protocol,
    reader,
    loop,
  );
  return [reader, writer];
}

/**
 * Opens a TCP (or TLS) connection and returns a `[reader, writer]` pair.
 * Mirrors `asyncio.open_connection()`: the options are `createConnection`'s
 * (`ssl`, `localAddr`, `happyEyeballsDelay`, ...) plus the reader's `limit`.
 *
 * @param host The host to connect to.
 * @param port The port.
 * @param options `limit` and `createConnection`'s options.
 * @throws {RuntimeError} if no loop is running.
 * @throws {TypeError} for an unknown option (the message lists the known ones).
 * @throws {TypeError} for a limit that is not a number.
 * @throws {RangeError} for a limit that is not positive.
 * @example An echo round trip
 * ```ts
 * import { openConnection, run, startServer } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const reply = await run(async () => {
 *   const server = await startServer(async (reader, writer) => {
 *     writer.write(await reader.readline());
 *     await writer.drain();
 *     writer.close();
 *   }, "127.0.0.1", 0);
 *   const [, port] = server.sockets[0].getsockname();
 *   const [reader, writer] = await openConnection("127.0.0.1", port);
 *   writer.write(new TextEncoder().encode("ping\n"));
 *   const line = new TextDecoder().decode(await reader.readline());
 *   writer.close();
 *   await writer.waitClosed();
 *   server.close();
 *   await server.waitClosed();
 *   return line;
 * });
 * assert.equal(reply, "ping\n");
 * ```
 */
export async function openConnection(
  host?: string | null,
  port?: number | string | null,
  options: OpenConnectionOptions = {},
): Promise<[StreamReader, StreamWriter]> {
  checkOptionKeys(options, OPEN_CONNECTION_OPTIONS, "openConnection");
  const loop = getRunningLoop();
  const [limit, rest] = split(options);
  const reader = readerFor(limit, loop);
  const protocol = new StreamReaderProtocol(reader, null, loop);
  const [transport] = await loop.createConnection(
    () => protocol,
    host,
    port,
    rest,
  );
  return connected(transport, protocol, reader, loop);
}

/**
 * Starts a TCP (or TLS) server; `clientConnectedCb(reader, writer)` is
 * called for each connection. Mirrors `asyncio.start_server()`: an async
 * callback runs as a task (when it fails, the error goes to the loop's
 * exception handler and the connection is closed); the options are
 * `createServer`'s plus the readers' `limit`.
 *
 * @param clientConnectedCb Called with `(reader, writer)` per connection.
 * @param host The host(s) to listen on (all interfaces by default).
 * @param port The port (0 picks a free one).
 * @param options `limit` and `createServer`'s options.
 * @throws {TypeError} if `clientConnectedCb` is not a function, or for an
 * unknown option (the message lists the known ones).
 * @throws {RuntimeError} if no loop is running.
 * @example Serving until cancelled (asyncio's `serve_forever()` example)
 * ```ts
 * import { run, startServer } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const server = await startServer(async (reader, writer) => {
 *     await reader.readline();
 *     writer.close();
 *   }, "127.0.0.1", 0);
 *   assert.equal(server.isServing(), true); // accepting already
 *   // await server.serveForever(); would serve until cancelled.
 *   server.close();
 *   await server.waitClosed();
 * });
 * ```
 */
export async function startServer(
  clientConnectedCb: ClientConnectedCallback,
  host?: string | string[] | null,
  port?: number | string | null,
  options: StartServerOptions = {},
): Promise<Server<InetAddress>> {
  checkCallback(clientConnectedCb, "startServer");
  checkOptionKeys(options, START_SERVER_OPTIONS, "startServer");
  const loop = getRunningLoop();
  const [limit, rest] = split(options);
  readerFor(limit, loop); // validate the limit at the call
  return await loop.createServer(
    () =>
      new StreamReaderProtocol(
        readerFor(limit, loop),
        clientConnectedCb,
        loop,
      ),
    host,
    port,
    rest,
  );
}

/**
 * Opens a Unix socket connection and returns a `[reader, writer]` pair.
 * Mirrors `asyncio.open_unix_connection()`.
 *
 * @param path The socket's path.
 * @param options `limit` and `createUnixConnection`'s options.
 * @throws {RuntimeError} if no loop is running.
 * @throws {TypeError} for an unknown option (the message lists the known ones).
 * @example
 * ```ts
 * import { openUnixConnection, run, startUnixServer } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/echo.sock`;
 * const reply = await run(async () => {
 *   const server = await startUnixServer(async (reader, writer) => {
 *     writer.write(await reader.read(100));
 *     writer.close();
 *   }, path);
 *   const [reader, writer] = await openUnixConnection(path);
 *   writer.write(new Uint8Array([1, 2, 3]));
 *   const data = await reader.read(100);
 *   writer.close();
 *   await writer.waitClosed();
 *   server.close();
 *   await server.waitClosed();
 *   return data;
 * });
 * assert.deepEqual(reply, new Uint8Array([1, 2, 3]));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openUnixConnection(
  path?: string | null,
  options: OpenUnixConnectionOptions = {},
): Promise<[StreamReader, StreamWriter]> {
  checkOptionKeys(options, OPEN_UNIX_CONNECTION_OPTIONS, "openUnixConnection");
  const loop = getRunningLoop();
  const [limit, rest] = split(options);
  const reader = readerFor(limit, loop);
  const protocol = new StreamReaderProtocol(reader, null, loop);
  const [transport] = await loop.createUnixConnection(
    () => protocol,
    path,
    rest,
  );
  return connected(transport, protocol, reader, loop);
}

/**
 * Starts a Unix socket server; `clientConnectedCb(reader, writer)` is called
 * for each connection. Mirrors `asyncio.start_unix_server()`.
 *
 * @param clientConnectedCb Called with `(reader, writer)` per connection.
 * @param path The socket's path.
 * @param options `limit` and `createUnixServer`'s options.
 * @throws {TypeError} if `clientConnectedCb` is not a function, or for an
 * unknown option (the message lists the known ones).
 * @throws {RuntimeError} if no loop is running.
 * @example
 * ```ts
 * import { run, startUnixServer } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await run(async () => {
 *   const server = await startUnixServer(() => {}, `${dir}/s.sock`);
 *   assert.equal(server.sockets[0].getsockname(), `${dir}/s.sock`);
 *   server.close();
 *   await server.waitClosed();
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function startUnixServer(
  clientConnectedCb: ClientConnectedCallback,
  path?: string | null,
  options: StartUnixServerOptions = {},
): Promise<Server<string>> {
  checkCallback(clientConnectedCb, "startUnixServer");
  checkOptionKeys(options, START_UNIX_SERVER_OPTIONS, "startUnixServer");
  const loop = getRunningLoop();
  const [limit, rest] = split(options);
  readerFor(limit, loop);
  return await loop.createUnixServer(
    () =>
      new StreamReaderProtocol(
        readerFor(limit, loop),
        clientConnectedCb,
        loop,
      ),
    path,
    rest,
  );
}
