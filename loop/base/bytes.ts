/**
 * Byte helpers shared by sockets, streams and transports (package-internal):
 * joining chunks of bytes, and taking bytes from a queue of chunks.
 *
 * **Room `loop/base`**: the lowest room: what every layer may use (errors,
 * logging, the async context, formatting for messages, bytes, quiet
 * closing). It imports nothing of the package.
 *
 * @module
 */

/**
 * @internal Joins `chunks`, `total` bytes in all, into one array. A lone
 * chunk is returned as it is, not copied.
 */
export function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * @internal Moves bytes from the front of the queue `chunks` into `into`,
 * from `offset` on, until `into` is full or the queue is empty; a chunk
 * taken in part stays at the front as its rest. Returns the offset reached.
 */
export function takeChunks(
  chunks: Uint8Array[],
  into: Uint8Array,
  offset = 0,
): number {
  let filled = offset;
  while (filled < into.length && chunks.length > 0) {
    const chunk = chunks[0];
    const n = Math.min(chunk.length, into.length - filled);
    into.set(chunk.subarray(0, n), filled);
    filled += n;
    if (n === chunk.length) chunks.shift();
    else chunks[0] = chunk.subarray(n);
  }
  return filled;
}
