/**
 * `tools/check_layers.ts`: the check that keeps imports going down. It
 * passes on the package as it is, and fails, naming the file and the
 * import, on a planted climbing import, a planted circle, a file in no room
 * and an import of an entry point.
 */
import assert from "node:assert/strict";
import {
  checkLayers,
  EAGER_NODE,
  eagerNodeImports,
  importsOf,
  MAX_FILES,
  readSources,
  ROOMS,
  undescribedRooms,
} from "../../tools/check_layers.ts";

const ROOMS_AB = ["a", "b"];
const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("check_layers: the package's own sources have no climbing import and no circle", async () => {
  const files = await readSources(root);
  assert.ok(files.size > 40, `only ${files.size} source files found`);
  assert.deepEqual(checkLayers(files).map((p) => p.message), []);
  assert.deepEqual(undescribedRooms(files).map((p) => p.message), []);
  assert.deepEqual(eagerNodeImports(files).map((p) => p.message), []);
});

Deno.test("check_layers: a room without its description, or with too many files, is caught", () => {
  const files = new Map([
    ["a/one.ts", "/**\n * **Room `a`**: the lowest.\n * @module\n */"],
    ["b/one.ts", "/** Nothing about the room. @module */"],
  ]);
  const messages = undescribedRooms(files, ROOMS_AB).map((p) => p.message);
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(messages[0], /^b\/one\.ts does not describe its room/);
  for (let i = 0; i < MAX_FILES; i++) files.set(`a/extra${i}.ts`, "");
  assert.ok(
    undescribedRooms(files, ROOMS_AB).some((p) =>
      p.message.startsWith(`a holds ${MAX_FILES + 1} files`)
    ),
  );
});

Deno.test("check_layers: a climbing import planted in the core is caught, naming the file and the import", async () => {
  const files = await readSources(root);
  const core = [...files.keys()].find((f) => f.startsWith("loop/core/"))!;
  const high = [...files.keys()].find((f) => f.startsWith("policy/"))!;
  const spec = "../../" + high;
  files.set(core, `import type { X } from "${spec}";\n${files.get(core)}`);
  const problems = checkLayers(files);
  assert.ok(problems.length >= 1);
  const climbing = problems.find((p) => p.message.includes("climbs"));
  assert.ok(climbing, problems.map((p) => p.message).join("\n"));
  assert.equal(climbing.file, core);
  assert.match(climbing.message, new RegExp(`imports ${high} \\(type\\)`));
  assert.match(climbing.message, /climbs from loop\/core up to policy/);
});

Deno.test("check_layers: imports down are fine, imports up are not (type imports too)", () => {
  const ok = new Map([
    ["a/x.ts", "export const x = 1;"],
    ["b/y.ts", 'import { x } from "../a/x.ts";\nexport const y = x;'],
  ]);
  assert.deepEqual(checkLayers(ok, ROOMS_AB, []), []);
  const up = new Map([
    ["a/x.ts", 'import type { Y } from "../b/y.ts";\nexport type X = Y;'],
    ["b/y.ts", "export type Y = number;"],
  ]);
  const [problem, ...rest] = checkLayers(up, ROOMS_AB, []);
  assert.deepEqual(rest, []);
  assert.equal(problem.file, "a/x.ts");
  assert.match(
    problem.message,
    /a\/x\.ts imports b\/y\.ts \(type\): climbs from a up to b/,
  );
});

Deno.test("check_layers: a circle inside a room is caught unless it is the tolerated knot", () => {
  const circle = new Map([
    ["a/x.ts", 'import type { Y } from "./y.ts";\nexport type X = Y;'],
    ["a/y.ts", 'import type { X } from "./x.ts";\nexport type Y = X;'],
  ]);
  const problems = checkLayers(circle, ROOMS_AB, []);
  assert.equal(problems.length, 1);
  assert.match(
    problems[0].message,
    /import circle of 2 file\(s\): a\/x\.ts -> a\/y\.ts/,
  );
  assert.deepEqual(checkLayers(circle, ROOMS_AB, ["a/x.ts", "a/y.ts"]), []);
});

Deno.test("check_layers: a file in no room, a missing file and an entry point import are caught", () => {
  const files = new Map([
    ["mod.ts", 'export * from "./b/y.ts";'],
    [
      "b/y.ts",
      'import { z } from "../mod.ts";\nimport "./gone.ts";\nexport const y = 1;',
    ],
    ["c/z.ts", "export const z = 1;"],
  ]);
  const messages = checkLayers(files, ROOMS_AB, []).map((p) => p.message);
  // The entry point import also closes a circle through mod.ts.
  assert.equal(messages.length, 4, messages.join("\n"));
  assert.ok(
    messages.some((m) =>
      /import circle of 2 file\(s\): b\/y\.ts -> mod\.ts/.test(m)
    ),
  );
  assert.ok(
    messages.some((m) => /only entry points may import an entry point/.test(m)),
  );
  assert.ok(messages.some((m) => /b\/gone\.ts, which does not exist/.test(m)));
  assert.ok(messages.some((m) => /c\/z\.ts is in no room/.test(m)));
});

Deno.test("check_layers: imports in comments and doc examples do not count; every import form does", () => {
  const source = [
    '/** @example\n * import { x } from "../b/y.ts";\n */',
    '// import "../b/y.ts";',
    'import a from "./a.ts";',
    'import type { B } from "./b.ts";',
    'export { c } from "./c.ts";',
    'export type { D } from "./d.ts";',
    'export * from "./e.ts";',
    'import "./f.ts";',
    'const g = await import("./g.ts");',
    'const url = "http://example.com/x.ts";',
    'import { h } from "jsr:@std/h";',
  ].join("\n");
  const found = importsOf("a/x.ts", source).map((i) =>
    `${i.target}${i.typeOnly ? " type" : ""}`
  ).sort();
  assert.deepEqual(found, [
    "a/a.ts",
    "a/b.ts type",
    "a/c.ts",
    "a/d.ts type",
    "a/e.ts",
    "a/f.ts",
    "a/g.ts",
  ]);
  assert.ok(ROOMS.indexOf("loop/base") < ROOMS.indexOf("policy"));
});

Deno.test("check_layers: a Node built-in loaded with the package is caught; type imports, dynamic imports and the allowed ones are not", () => {
  const files = new Map([
    [
      "a/tls.ts",
      'import tls from "node:tls";\nimport type { Duplex } from "node:stream";',
    ],
    ["a/net.ts", 'import { type Socket, isIP } from "node:net";'],
    ["a/side.ts", 'import "node:process";'],
    ["a/re.ts", 'export { createSocket } from "node:dgram";'],
    [
      "a/types.ts",
      'import type * as net from "node:net";\nexport type { Socket } from "node:dgram";',
    ],
    ["a/lazy.ts", 'const tls = await import("node:tls");'],
    [
      "a/doc.ts",
      '/** @example\n * import assert from "node:assert/strict";\n */\n// import "node:fs";',
    ],
    ["a/context.ts", 'import { AsyncLocalStorage } from "node:async_hooks";'],
  ]);
  const problems = eagerNodeImports(files);
  assert.deepEqual(problems.map((p) => p.file), [
    "a/net.ts",
    "a/re.ts",
    "a/side.ts",
    "a/tls.ts",
  ]);
  assert.match(
    problems[3].message,
    /a\/tls\.ts loads node:tls with the package: .*nodeBuiltin\(\)/,
  );
  assert.ok(EAGER_NODE.includes("node:async_hooks"));
  // Nothing is allowed: the async context import is caught too.
  assert.deepEqual(
    eagerNodeImports(files, []).map((p) => p.file).includes("a/context.ts"),
    true,
  );
});
