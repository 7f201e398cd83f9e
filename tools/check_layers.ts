/**
 * Keeps the source tree layered: reads the imports of every source file
 * (`import type` and `export ... from` included) and fails, naming the file
 * and the import, on any import that climbs to a higher room and on any
 * import circle.
 *
 *   deno run --allow-read tools/check_layers.ts
 *
 * The rooms are folders, listed in {@linkcode ROOMS} lowest first. A file
 * may import files of its own room and of rooms listed before it. Within a
 * room, imports must not form a circle, except among the files named in
 * {@linkcode KNOT} (see that constant for why). Entry points (`mod.ts` at
 * the top and in each room) may import anything below them, and nothing but
 * another entry point may import an entry point.
 *
 * @module
 */

/** The rooms, lowest first: a file imports only from its room or earlier ones. */
export const ROOMS: readonly string[] = [
  // What every layer may use: errors, logging, async context, formatting.
  "loop/base",
  // The libraries under the loop, as Python's socket, ssl, subprocess,
  // signal and concurrent.futures are under asyncio.
  "loop/net",
  "loop/process",
  "loop/executors",
  // The contract between the loop and user code: protocols, then the
  // transport interfaces that hand protocols their data.
  "protocols",
  "transports",
  // The loop's core: handles, timers, the readiness dispatcher, futures,
  // tasks, the abstract loop and the base loop's scheduling.
  "loop/core",
  // The concrete transports, over a narrow loop interface of their own.
  "loop/transports",
  // The event loop with its I/O features: servers, TLS, datagrams,
  // sendfile, signal handlers.
  "loop",
  // Built on the public loop API: task helpers, locks and queues, streams.
  "loop/concurrency",
  "loop/streams",
  // Policies, run() and the functions that find a loop.
  "policy",
  // The virtual clock and other test backends.
  "testing",
];

/**
 * The one tolerated circle, inside the core. A future resumes the task that
 * awaits it (so it names the `Task` type), a task is a future, the
 * running-loop state names the current task, the abstract loop creates
 * futures and tasks while they name their loop, and the loop's
 * `createServer` returns a `Server` whose `getLoop()` returns the loop.
 * asyncio's own modules and its type stubs reference each other the same
 * way. Only `tasks -> futures` (a Task extends a Future), `futures ->
 * running`, `tasks -> running`, `server -> tasks` and `server ->
 * abstract_loop` (a Server extends AbstractServer) are run-time imports;
 * every other edge of the circle is a type import.
 */
export const KNOT: readonly string[] = [
  "loop/core/abstract_loop.ts",
  "loop/core/futures.ts",
  "loop/core/running.ts",
  "loop/core/server.ts",
  "loop/core/tasks.ts",
];

/** One import the layering forbids. */
export interface Problem {
  /** The importing file, relative to the root. */
  file: string;
  /** What is wrong, naming the import. */
  message: string;
}

/** One relative import of a source file. */
export interface Import {
  /** The imported file, relative to the root. */
  target: string;
  /** The specifier as written. */
  specifier: string;
  /** Whether it is `import type` / `export type` only. */
  typeOnly: boolean;
}

/** Source text without comments (strings and templates are kept). */
export function stripComments(source: string): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      i = end === -1 ? source.length : end + 2;
      out += " ";
    } else if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      i = end === -1 ? source.length : end;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < source.length && source[j] !== c) {
        j += source[j] === "\\" ? 2 : 1;
      }
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const IMPORT_PATTERNS: RegExp[] = [
  // import x from "y"; import { a } from "y"; import type { A } from "y"
  /\bimport\s+(type\s+)?(?:[\w$*{][^;]*?)\s+from\s*["']([^"']+)["']/g,
  // export { a } from "y"; export * from "y"; export type { A } from "y"
  /\bexport\s+(type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*["']([^"']+)["']/g,
  // import "y"; import("y")
  /\bimport\s*\(?\s*()["']([^"']+)["']/g,
];

/** The relative imports of `source`, the file at `file` (root-relative). */
export function importsOf(file: string, source: string): Import[] {
  const text = stripComments(source);
  const found: Import[] = [];
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[2];
      if (!specifier.startsWith(".")) continue;
      const target = new URL(specifier, `file:///${file}`).pathname.slice(1);
      found.push({
        target,
        specifier,
        typeOnly: match[1] !== undefined && match[1] !== "",
      });
    }
  }
  return found;
}

function roomOf(file: string, rooms: readonly string[]): string | null {
  const folder = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
  return rooms.includes(folder) ? folder : null;
}

function isEntry(file: string): boolean {
  return file === "mod.ts" || file.endsWith("/mod.ts");
}

/** The strongly connected components of more than one file (or a self-import). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const result: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) {
        result.push(component.sort());
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return result;
}

/**
 * Checks the files (root-relative path → source text) against `rooms` and
 * `knot`; returns every problem, in file order.
 */
export function checkLayers(
  files: Map<string, string>,
  rooms: readonly string[] = ROOMS,
  knot: readonly string[] = KNOT,
): Problem[] {
  const problems: Problem[] = [];
  const graph = new Map<string, string[]>();
  for (const file of [...files.keys()].sort()) {
    const room = roomOf(file, rooms);
    const entry = isEntry(file);
    if (room === null && !entry) {
      problems.push({
        file,
        message: `${file} is in no room: put it in one of ${rooms.join(", ")}`,
      });
      continue;
    }
    const edges: string[] = [];
    for (const imp of importsOf(file, files.get(file)!)) {
      const what = `imports ${imp.target}${imp.typeOnly ? " (type)" : ""}`;
      if (!files.has(imp.target)) {
        problems.push({
          file,
          message: `${file} ${what}, which does not exist`,
        });
        continue;
      }
      if (isEntry(imp.target)) {
        if (!entry) {
          problems.push({
            file,
            message:
              `${file} ${what}: only entry points may import an entry point; import the file that defines the name`,
          });
        }
        edges.push(imp.target);
        continue;
      }
      const targetRoom = roomOf(imp.target, rooms);
      if (targetRoom === null) continue; // reported as "in no room"
      if (entry) {
        edges.push(imp.target);
        continue;
      }
      const from = rooms.indexOf(room!);
      const to = rooms.indexOf(targetRoom);
      if (to > from) {
        problems.push({
          file,
          message:
            `${file} ${what}: climbs from ${room} up to ${targetRoom}; import only from ${room} or a room below it (${
              rooms.slice(0, from).join(", ") || "none"
            })`,
        });
      }
      edges.push(imp.target);
    }
    graph.set(file, edges);
  }
  for (const component of circles(graph)) {
    if (component.every((file) => knot.includes(file))) continue;
    // Name one import of the circle that should go.
    const first = component[0];
    const back = component.find((file) =>
      (graph.get(file) ?? []).includes(first)
    )!;
    problems.push({
      file: back,
      message: `import circle of ${component.length} file(s): ${
        component.join(" -> ")
      }; for example ${back} imports ${first}`,
    });
  }
  return problems;
}

/** The most files one room may hold. */
export const MAX_FILES = 15;

/**
 * Rooms that hold more than {@linkcode MAX_FILES} files, or whose
 * description is missing: each room's `mod.ts`, or else its
 * first file, must say in its module doc, as "**Room `name`**: ...", what
 * the room is for and what it may import.
 */
export function undescribedRooms(
  files: Map<string, string>,
  rooms: readonly string[] = ROOMS,
): Problem[] {
  const problems: Problem[] = [];
  for (const room of rooms) {
    const inRoom = [...files.keys()].filter((file) =>
      file.slice(0, file.lastIndexOf("/")) === room
    ).sort();
    if (inRoom.length > MAX_FILES) {
      problems.push({
        file: inRoom[0],
        message:
          `${room} holds ${inRoom.length} files (at most ${MAX_FILES}): split it into rooms by layer`,
      });
    }
    const door = inRoom.find((file) => file.endsWith("/mod.ts")) ?? inRoom[0];
    if (door === undefined) continue;
    if (!files.get(door)!.includes(`**Room \`${room}\`**`)) {
      problems.push({
        file: door,
        message:
          `${door} does not describe its room: add "**Room \`${room}\`**: what it holds; what it may import" to its module doc`,
      });
    }
  }
  return problems;
}

/**
 * The Node built-ins the package may load with itself: the async context
 * every loop callback runs in. Any other (`node:tls`, `node:net`,
 * `node:dgram`, ...) is loaded by the first use that needs it
 * (`loop/base/node_builtins.ts`), so a program that never opens a TLS
 * connection or a datagram socket does not carry them: a smaller live heap
 * (every full garbage collection marks all of it) and a faster start.
 */
export const EAGER_NODE: readonly string[] = ["node:async_hooks"];

const NODE_VALUE_IMPORTS: RegExp[] = [
  /\bimport\s+(?!type\b)(?:[\w$*{][^;]*?\s+from\s*)?["'](node:[^"']+)["']/g,
  /\bexport\s+(?!type\b)(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*["'](node:[^"']+)["']/g,
];

/**
 * Files that load a Node built-in with the package (a static value or
 * side-effect import, or a re-export) other than those in `allowed`. Type
 * imports and dynamic `import()` are fine.
 */
export function eagerNodeImports(
  files: Map<string, string>,
  allowed: readonly string[] = EAGER_NODE,
): Problem[] {
  const problems: Problem[] = [];
  for (const file of [...files.keys()].sort()) {
    const text = stripComments(files.get(file)!);
    for (const pattern of NODE_VALUE_IMPORTS) {
      for (const match of text.matchAll(pattern)) {
        if (allowed.includes(match[1])) continue;
        problems.push({
          file,
          message: `${file} loads ${
            match[1]
          } with the package: import its types only (import type) and load it on first use with nodeBuiltin() from loop/base/node_builtins.ts`,
        });
      }
    }
  }
  return problems;
}

/** Reads every `.ts` source file under `root` (tests, benches and tools left out). */
export async function readSources(root: string): Promise<Map<string, string>> {
  const skip = new Set([
    "tests",
    "bench",
    "examples",
    "tools",
    "docs",
    "node_modules",
    ".ci",
    ".git",
  ]);
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (!skip.has(entry.name) && !entry.name.startsWith(".")) {
          await walk(path);
        }
      } else if (entry.name.endsWith(".ts")) {
        files.set(path, await Deno.readTextFile(`${root}/${path}`));
      }
    }
  };
  await walk("");
  return files;
}

if (import.meta.main) {
  const root = Deno.args[0] ??
    new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const files = await readSources(root);
  const problems = [
    ...checkLayers(files),
    ...undescribedRooms(files),
    ...eagerNodeImports(files),
  ];
  for (const problem of problems) console.error(problem.message);
  if (problems.length > 0) {
    console.error(
      `${problems.length} layering problem(s) in ${files.size} files; the rooms, lowest first: ${
        ROOMS.join(" < ")
      }`,
    );
    Deno.exit(1);
  }
  console.log(`layers: ${files.size} files, every import goes down`);
}
