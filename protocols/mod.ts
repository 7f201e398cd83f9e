/**
 * Protocols: the callback interfaces transports call. Mirrors
 * `asyncio.protocols`.
 *
 * **Room `protocols`**: the protocol classes user code extends, and
 * `ProtocolFactory`. It may import the `loop/base`, `loop/net`,
 * `loop/process` and `loop/executors` rooms.
 *
 * @example
 * ```ts
 * import { newEventLoop } from "@aio/loop";
 * import { Protocol } from "@aio/loop/protocols";
 * import assert from "node:assert/strict";
 *
 * class Collect extends Protocol {
 *   text = "";
 *   done = Promise.withResolvers<string>();
 *   override dataReceived(data: Uint8Array) { this.text += new TextDecoder().decode(data); }
 *   override connectionLost() { this.done.resolve(this.text); }
 * }
 * const loop = newEventLoop();
 * const pipe = ReadableStream.from([new TextEncoder().encode("hi")]);
 * const text = await loop.runUntilComplete(async () => {
 *   const [, protocol] = await loop.connectReadPipe(() => new Collect(), pipe);
 *   return await protocol.done.promise; // the loop called it back to the end
 * });
 * assert.equal(text, "hi");
 * loop.close();
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
