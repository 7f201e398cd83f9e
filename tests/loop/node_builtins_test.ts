/**
 * Node built-ins load on first use, not with the package: importing the
 * package leaves `node:tls` unloaded (loading it afterwards grows the heap),
 * and `nodeBuiltin()` says what is missing where the runtime cannot load
 * one on demand.
 */
import assert from "node:assert/strict";
import { nodeBuiltin } from "../../loop/base/node_builtins.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

Deno.test("importing the package does not load node:tls: loading it afterwards still grows the heap", async () => {
  // A fresh process: this one has loaded node:tls for other tests. The
  // child measures its live heap after importing the package, then again
  // after importing node:tls; were node:tls loaded with the package, the
  // second import would find it cached and add nothing.
  const child = `
    const gc = globalThis.gc;
    await import(${JSON.stringify(MOD)});
    gc(); gc();
    const before = Deno.memoryUsage().heapUsed;
    await import("node:tls");
    gc(); gc();
    console.log(Deno.memoryUsage().heapUsed - before);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", child],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const grown = Number(new TextDecoder().decode(out.stdout).trim());
  assert.ok(
    grown > 500_000,
    `node:tls added ${grown} bytes of heap: it was already loaded with the package`,
  );
});

Deno.test("nodeBuiltin() loads a built-in on first use, and names what is missing without process.getBuiltinModule", () => {
  const net = nodeBuiltin<{ isIP(input: string): number }>("node:net");
  assert.equal(net.isIP("127.0.0.1"), 4);
  assert.equal(net.isIP("localhost"), 0);
  const saved = Object.getOwnPropertyDescriptor(globalThis, "process");
  Object.defineProperty(globalThis, "process", {
    value: {},
    configurable: true,
    writable: true,
  });
  try {
    assert.throws(
      () => nodeBuiltin("node:tls"),
      (error: Error) =>
        error.message ===
          "node:tls could not be loaded: this needs a Deno with process.getBuiltinModule()",
    );
  } finally {
    if (saved !== undefined) {
      Object.defineProperty(globalThis, "process", saved);
    } else delete (globalThis as { process?: unknown }).process;
  }
  assert.equal(
    nodeBuiltin<{ isIP(input: string): number }>("node:net").isIP("::1"),
    6,
  );
});
