/**
 * Transports: the objects protocols write to. Mirrors `asyncio.transports`.
 *
 * **Room `transports`**: the transport interfaces
 * (`transports/transport.ts`, asyncio's `transports` module) and their write
 * flow control; this entry point also re-exports the loop's concrete
 * transports. Its files may import `protocols` and the rooms below it.
 *
 * @example A TCP connection's transport
 * ```ts
 * import { newEventLoop, Protocol } from "@aio/loop";
 * import { SocketTransport, Transport } from "@aio/loop/transports";
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
 *   assert(transport instanceof SocketTransport && transport instanceof Transport);
 *   transport.write(new TextEncoder().encode("hello"));
 *   transport.close();
 *   assert.equal(await received, "hello");
 * });
 * loop.close();
 * ```
 *
 * @module
 */
export {
  BaseTransport,
  DatagramTransport,
  ReadTransport,
  SubprocessTransport,
  Transport,
  WriteTransport,
} from "./transport.ts";
export { SocketTransport } from "../loop/transports/socket_transport.ts";
export { SocketDatagramTransport } from "../loop/transports/datagram_transport.ts";
export { TlsTransport } from "../loop/transports/tls_transport.ts";
export {
  ReadPipeTransport,
  WritePipeTransport,
} from "../loop/transports/pipe_transport.ts";
export { ChildProcessTransport } from "../loop/transports/subprocess_transport.ts";
