/**
 * The code every `WorkerPoolExecutor` worker runs. `workerMain` is not
 * imported by the worker: the pool turns its source text into a `blob:` URL
 * (`(${workerMain})()`), so the worker loads without read or import
 * permissions and wherever the package itself was loaded from (a local
 * checkout, `jsr:`, `https:`). That is why it must not refer to anything
 * outside its own body.
 *
 * Protocol (one job at a time per worker):
 * - pool → worker: `{ id, src, args }` (a function's source text) or
 *   `{ id, mod, name, args }` (a module URL and an export name);
 * - worker → pool: `{ t: "ok", id, value }`, `{ t: "err", id, error, result }`
 *   (`result`: the value was computed but could not be cloned back), or
 *   `{ t: "died", id, how, error }` just before the worker goes away
 *   (`self.close()`, `Deno.exit()`, an uncaught error): Deno tells the parent
 *   nothing when a worker closes itself, so the worker says it first.
 *
 * @module
 */

/** An error or a thrown value, in a form that survives `postMessage`. */
export type EncodedError =
  | {
    error: {
      name: string;
      message: string;
      stack?: string;
      dom: boolean;
      cause?: EncodedError;
    };
    props: Record<string, unknown>;
  }
  | { value: unknown }
  | { text: string };

/** A job as the worker receives it. */
export interface JobMessage {
  id: number;
  src?: string;
  mod?: string;
  name?: string;
  args: unknown[];
}

/** The worker's body (see the module comment). Exported for the pool. */
export function workerMain(): void {
  interface Scope {
    postMessage(message: unknown): void;
    close(): void;
    onmessage: ((event: MessageEvent<JobMessage>) => void) | null;
    addEventListener(
      type: "error" | "unhandledrejection",
      listener: (
        event: Event & { error?: unknown; message?: string; reason?: unknown },
      ) => void,
    ): void;
  }
  // deno-lint-ignore ban-types
  type Fn = Function;
  const MAX_COMPILED = 256;
  // A module the worker may not read fails its import with a TypeError
  // ("Requires read access to ..."): report it as the permission error it
  // is, saying which module and what to do.
  const importFailure = (mod: string, error: unknown): unknown => {
    const message = error instanceof Error ? error.message : String(error);
    if (!/^Requires \w+ access/.test(message)) return error;
    return new Deno.errors.NotCapable(
      `the executor's worker cannot import ${mod}: ${message} (workers inherit the program's permissions)`,
    );
  };
  const scope = globalThis as unknown as Scope;
  const compiled = new Map<string, Fn>();
  let current: number | null = null;

  const encode = (thrown: unknown, depth = 0): EncodedError => {
    if (thrown instanceof Error || thrown instanceof DOMException) {
      const props: Record<string, unknown> = {};
      for (const key of Object.keys(thrown)) {
        const value = (thrown as unknown as Record<string, unknown>)[key];
        try {
          structuredClone(value);
          props[key] = value;
        } catch {
          props[key] = String(value);
        }
      }
      const error: Extract<EncodedError, { error: unknown }>["error"] = {
        name: thrown.name,
        message: thrown.message,
        stack: thrown.stack,
        dom: thrown instanceof DOMException,
      };
      if ((thrown as Error).cause !== undefined && depth < 8) {
        error.cause = encode((thrown as Error).cause, depth + 1);
      }
      return { error, props };
    }
    try {
      structuredClone(thrown);
      return { value: thrown };
    } catch {
      return { text: String(thrown) };
    }
  };

  const sayDying = (how: string, error?: unknown): void => {
    try {
      scope.postMessage({
        t: "died",
        id: current,
        how,
        error: error === undefined ? undefined : encode(error),
      });
    } catch {
      // The parent learns of the death from the missing reply.
    }
  };

  const close = scope.close.bind(scope);
  scope.close = () => {
    sayDying("it called self.close()");
    close();
  };
  const exit = Deno.exit;
  Deno.exit = (code?: number): never => {
    sayDying(`it called Deno.exit(${code ?? ""})`);
    return exit(code);
  };
  scope.addEventListener("error", (event) => {
    event.preventDefault();
    sayDying("an error escaped it uncaught", event.error ?? event.message);
    close();
  });
  scope.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    sayDying("a promise rejection went unhandled in it", event.reason);
    close();
  });

  scope.onmessage = async (event) => {
    const job = event.data;
    current = job.id;
    let value: unknown;
    try {
      let fn: Fn | undefined;
      if (job.src !== undefined) {
        fn = compiled.get(job.src);
        if (fn === undefined) {
          // Indirect eval: the source sees the worker's globals only.
          fn = (0, eval)(`(${job.src}\n)`) as Fn;
          if (compiled.size >= MAX_COMPILED) compiled.clear();
          compiled.set(job.src, fn);
        }
      } else {
        let module;
        try {
          module = await import(job.mod!);
        } catch (error) {
          throw importFailure(job.mod!, error);
        }
        fn = module[job.name!];
        if (typeof fn !== "function") {
          throw new TypeError(
            `${job.mod} has no exported function named "${job.name}" (found ${typeof fn})`,
          );
        }
      }
      value = fn(...job.args);
      if (
        value !== null &&
        (typeof value === "object" || typeof value === "function") &&
        typeof (value as PromiseLike<unknown>).then === "function"
      ) {
        value = await value;
      }
    } catch (error) {
      current = null;
      scope.postMessage({ t: "err", id: job.id, error: encode(error) });
      return;
    }
    current = null;
    try {
      scope.postMessage({ t: "ok", id: job.id, value });
    } catch (error) {
      scope.postMessage({
        t: "err",
        id: job.id,
        error: encode(error),
        result: true,
      });
    }
  };
}
