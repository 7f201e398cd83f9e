/**
 * Emptying an array that is filled again at once (package-internal).
 *
 * **Room `loop/base`**: the lowest room: what every layer may use. It
 * imports nothing of the package.
 *
 * @module
 */

/** Above this length an array is let go of rather than kept for reuse. */
const KEEP_UP_TO = 256;

/**
 * @internal Empties `array` and keeps its storage for the next pushes:
 * `array.length = 0` lets V8 free the backing store, so the next `push`
 * allocates a new one, once per message on a hot path. Popping keeps it
 * (V8 trims at most half of what is unused). A long array is let go of, so
 * a burst does not hold its storage for good.
 */
export function emptyArray(array: unknown[]): void {
  if (array.length > KEEP_UP_TO) {
    array.length = 0;
    return;
  }
  while (array.length !== 0) array.pop();
}
