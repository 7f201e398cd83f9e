/**
 * Transports: the objects protocols write to. Mirrors `asyncio.transports`.
 *
 * @example
 * ```ts
 * import { Transport } from "@aio/loop/transports";
 * console.assert(typeof Transport.prototype.write === "function");
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
export { SocketTransport } from "./socket_transport.ts";
export { SocketDatagramTransport } from "./datagram_transport.ts";
export { TlsTransport } from "./tls_transport.ts";
export { ReadPipeTransport, WritePipeTransport } from "./pipe_transport.ts";
export { ChildProcessTransport } from "./subprocess_transport.ts";
