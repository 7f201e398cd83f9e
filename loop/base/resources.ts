/**
 * Closing resources (package-internal): connections, listeners and files
 * that may already be closed.
 *
 * @module
 */

/** @internal Closes `resource`, ignoring that it may be closed already. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
