/**
 * Values as text for messages and reprs (package-internal): how a future's
 * result, a callback's argument or a wrong argument is shown.
 *
 * @module
 */

/**
 * @internal Describes a callback argument: `"text"`, a function's name,
 * `String(obj)` (`{...}` for a plain object).
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return value.name || "<function>";
  if (value !== null && typeof value === "object") {
    const text = String(value);
    return text === "[object Object]" ? "{...}" : text;
  }
  return String(value);
}

/**
 * @internal Short description of a value for reprs and error messages: as
 * `describeValue`, with long strings cut, errors as `Name("message")` and
 * arrays as `[n items]`.
 */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(
      value.length > 40 ? value.slice(0, 37) + "..." : value,
    );
  }
  if (value instanceof Error) {
    return `${value.name}(${JSON.stringify(value.message)})`;
  }
  if (Array.isArray(value)) return `[${value.length} items]`;
  return describeValue(value);
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

/**
 * @internal A callback may carry its own description under this key (a
 * function of whether to show arguments, returning it): a transport's
 * internal closure that calls a protocol method is reported under that
 * method's name.
 */
export const callbackLabel: unique symbol = Symbol("aioloop.callbackLabel");

/**
 * Describes a callback for messages and `toString()`: `name(args)`, the
 * arguments only when `showArgs` (asyncio shows them in debug mode only:
 * they may hold secrets).
 */
export function describeCallback(
  callback: AnyFunction | null,
  args: readonly unknown[] | null,
  showArgs: boolean,
): string {
  if (callback === null) return "";
  const label = (callback as {
    [callbackLabel]?: (showArgs: boolean) => string;
  })[callbackLabel];
  if (label !== undefined) return label(showArgs);
  const name = callback.name || "<anonymous>";
  const shown = showArgs ? (args ?? []).map(describeValue).join(", ") : "";
  return `${name}(${shown})`;
}

/** The package's own source files, skipped when naming a creation site. */
const PACKAGE = new URL("../../", import.meta.url).href;

/**
 * @internal The first frame of a creation traceback (`_sourceTraceback`)
 * outside the package: where user code made the future or task.
 */
export function creationSite(traceback: string): string {
  const frames = traceback.split("\n").map((line) => line.trim());
  const outside = frames.find((frame) =>
    !frame.includes(`${PACKAGE}loop/`) && !frame.includes(`${PACKAGE}policy/`)
  );
  return (outside ?? frames[0]).replace(/^at /, "");
}

/**
 * @internal Where a creation traceback says user code made something, as
 * asyncio's descriptions name it: `file:line:column`.
 */
export function creationPlace(traceback: string): string {
  const site = creationSite(traceback);
  return site.match(/\((.*)\)$/)?.[1] ?? site;
}
