/**
 * Protocols: the callback interfaces transports call. Mirrors
 * `asyncio.protocols`.
 *
 * @example
 * ```ts
 * import { Protocol } from "@aio/loop/protocols";
 * class Hello extends Protocol {}
 * console.assert(new Hello() instanceof Protocol);
 * ```
 *
 * @module
 */
export {
  type AnyTransport,
  BaseProtocol,
  BufferedProtocol,
  DatagramProtocol,
  Protocol,
  SubprocessProtocol,
} from "./protocol.ts";
