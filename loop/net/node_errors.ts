/**
 * OS errors (package-internal): Node's system errors (`node:net`,
 * `node:dgram`) as the `Deno.errors` classes a Deno resource would raise,
 * and the test for an OS error (asyncio's `OSError`).
 *
 * @module
 */

/** Node's error codes and the `Deno.errors` class each one becomes. */
const ERRORS: Record<string, new (message?: string) => Error> = {
  ECONNREFUSED: Deno.errors.ConnectionRefused,
  ECONNRESET: Deno.errors.ConnectionReset,
  ECONNABORTED: Deno.errors.ConnectionAborted,
  EADDRINUSE: Deno.errors.AddrInUse,
  EADDRNOTAVAIL: Deno.errors.AddrNotAvailable,
  EPIPE: Deno.errors.BrokenPipe,
  ETIMEDOUT: Deno.errors.TimedOut,
  ENOTCONN: Deno.errors.NotConnected,
  EHOSTUNREACH: Deno.errors.NetworkUnreachable,
  ENETUNREACH: Deno.errors.NetworkUnreachable,
  EACCES: Deno.errors.PermissionDenied,
  EPERM: Deno.errors.PermissionDenied,
  EBADF: Deno.errors.BadResource,
};

/**
 * @internal Turns a Node system error into the matching `Deno.errors` class
 * (the original is its `cause`); a missing permission (`NotCapable`) and an
 * error with no matching code stay as they are.
 */
export function denoError(error: unknown): Error {
  if (error instanceof Deno.errors.NotCapable) return error;
  const code = (error as { code?: unknown })?.code;
  const Class = typeof code === "string" ? ERRORS[code] : undefined;
  if (Class === undefined) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const mapped = new Class((error as Error).message);
  (mapped as { cause?: unknown }).cause = error;
  return mapped;
}

/**
 * @internal Whether `error` is one of Deno's OS errors (asyncio's
 * `OSError`): the peer went away, a pipe broke, TLS failed.
 */
export function isOsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  for (const Class of Object.values(Deno.errors)) {
    if (error instanceof Class) return true;
  }
  return false;
}
