/**
 * Checking options objects (package-internal). asyncio's keyword arguments
 * are a trailing options object here, and Python refuses an unexpected
 * keyword argument with a `TypeError`; {@linkcode checkOptionKeys} does the
 * same for a key that names no option, so a misspelt option fails at the
 * call instead of being ignored. {@linkcode optionKeys} lists an options
 * type's keys once, checked by the compiler against the type.
 *
 * @module
 */
import { describe } from "./format.ts";

/**
 * @internal The keys of the options type `T`, in the order written. The
 * argument must name every key of `T` and nothing else (the compiler
 * refuses a missing or an extra key), so the list cannot drift from the
 * type: `optionKeys<{ a?: number; b?: string }>({ a: true, b: true })` is
 * `["a", "b"]`.
 */
export function optionKeys<T>(
  keys: { readonly [K in keyof T]-?: true },
): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(keys)) as readonly (keyof T & string)[];
}

/**
 * @internal Refuses an options object with a key not in `known`, as Python
 * refuses an unexpected keyword argument. A key whose value is `undefined`
 * is let through (`{ ssl: maybeSsl }` spreads such keys); `undefined`
 * options are none.
 *
 * @param options The caller's options object.
 * @param known The option names `method` takes.
 * @param method The method's name, for the message (`"createConnection"`).
 * @throws {TypeError} when `options` is not an object, or has an unknown
 * key; the message names `method`, the key and the known options.
 */
export function checkOptionKeys(
  options: unknown,
  known: readonly string[],
  method: string,
): void {
  if (options === undefined) return;
  if (
    options === null || typeof options !== "object" || Array.isArray(options)
  ) {
    throw new TypeError(
      `${method}(): options must be an object, got ${describe(options)}`,
    );
  }
  const values = options as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (values[key] === undefined || known.includes(key)) continue;
    // A Python spelling (server_hostname) gets its camelCase name.
    const camel = key.replace(/_+([a-z])/g, (_, c: string) => c.toUpperCase());
    const hint = camel !== key && known.includes(camel)
      ? ` (did you mean '${camel}'?)`
      : "";
    throw new TypeError(
      `${method}(): unexpected option '${key}'${hint} (known: ${
        known.join(", ")
      })`,
    );
  }
}
