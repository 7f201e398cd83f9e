/**
 * Node built-in modules, loaded when first used (package-internal).
 *
 * TLS (`node:tls`), datagrams (`node:dgram`) and connecting from a chosen
 * local address (`node:net`) run on Deno's Node compatibility layer. Imported
 * statically, those modules would load with the package, for every program:
 * about 1.4 MB more live heap (a fifth of a small program's) and about 25 ms
 * more start-up, and every full garbage collection marks the live heap. `process.getBuiltinModule()` loads one synchronously
 * the first time a connection needs it.
 *
 * @module
 */

interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
}

/**
 * The Node built-in `id` (`"node:tls"`, ...), loaded on first use.
 *
 * @throws {Error} when the runtime cannot load Node built-ins on demand
 *   (a Deno without `process.getBuiltinModule()`).
 */
export function nodeBuiltin<T>(id: string): T {
  const process = (globalThis as { process?: NodeProcess }).process;
  const module = typeof process?.getBuiltinModule === "function"
    ? process.getBuiltinModule(id)
    : undefined;
  if (module === undefined) {
    throw new Error(
      `${id} could not be loaded: this needs a Deno with process.getBuiltinModule()`,
    );
  }
  return module as T;
}
