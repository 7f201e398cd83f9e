/**
 * Watch a file descriptor for read events: wait until a socket receives some
 * data with `loop.addReader()`, then close the loop. The example of asyncio's
 * documentation, with the package's `socketpair()`.
 *
 *   deno run examples/socketpair_reader.ts
 *
 * @module
 */
import { newEventLoop, socketpair } from "../mod.ts";

// Create a pair of connected sockets.
const [rsock, wsock] = socketpair();

const loop = newEventLoop();

function reader() {
  const data = rsock.recv(100);
  console.log("Received:", new TextDecoder().decode(data));

  // We are done: unregister the socket.
  loop.removeReader(rsock);

  // Stop the event loop.
  loop.stop();
}

// Register the socket for read events.
loop.addReader(rsock, reader);

// Simulate the reception of data from the network.
loop.callSoon(
  (data: Uint8Array) => wsock.send(data),
  new TextEncoder().encode("abc"),
);

try {
  // Run the event loop.
  await loop.runForever();
} finally {
  // We are done. Close sockets and the event loop.
  rsock.close();
  wsock.close();
  loop.close();
}
