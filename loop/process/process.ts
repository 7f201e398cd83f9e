/**
 * The process backend: how `subprocessExec` / `subprocessShell` options
 * become a `Deno.Command`, and how its status becomes a return code. Every
 * `Deno.Command` call of the package lives here.
 *
 * Where Python's `subprocess.Popen` and `Deno.Command` differ:
 * - Deno exposes no file descriptors, so a child's stdio is `"piped"`,
 *   `"null"` or `"inherit"`. An existing pipe (a web stream, a `Deno.FsFile`)
 *   given as stdin/stdout/stderr is therefore connected through a Deno pipe
 *   that the parent copies to or from (a pump), not handed to the child.
 * - Deno cannot point a child's stderr at its stdout, so `stderr: STDOUT`
 *   runs the program through `/bin/sh`, which does the `2>&1` and then
 *   `exec`s the program (same pid, same signals). The program is looked up
 *   on `PATH` first, so a missing program is still `Deno.errors.NotFound`
 *   from the call; it needs permission to run `/bin/sh`.
 *
 * **Room `loop/process`**: the child-process and signal tables under the
 * loop, as Python's `subprocess` and `signal` are under asyncio. It may
 * import `loop/base` and `loop/net`.
 *
 * @module
 */
import { closeQuietly } from "../base/resources.ts";
import { signalNumber } from "./signals.ts";

/**
 * Connect the stream to a new pipe. Mirrors `subprocess.PIPE`.
 *
 * @example
 * ```ts
 * import { createSubprocessExec, PIPE, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [out] = await run(async () => {
 *   const proc = await createSubprocessExec("echo", "piped", { stdout: PIPE });
 *   return await proc.communicate();
 * });
 * assert.equal(new TextDecoder().decode(out!), "piped\n");
 * ```
 */
export const PIPE: -1 = -1;
/**
 * For stderr: send it where stdout goes. Mirrors `subprocess.STDOUT`.
 *
 * @example
 * ```ts
 * import { createSubprocessShell, PIPE, run, STDOUT } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [out] = await run(async () => {
 *   const proc = await createSubprocessShell("echo err >&2", { stdout: PIPE, stderr: STDOUT });
 *   return await proc.communicate();
 * });
 * assert.equal(new TextDecoder().decode(out!), "err\n");
 * ```
 */
export const STDOUT: -2 = -2;
/**
 * Connect the stream to the null device. Mirrors `subprocess.DEVNULL`.
 *
 * @example
 * ```ts
 * import { createSubprocessExec, DEVNULL, PIPE, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const [out] = await run(async () => {
 *   const proc = await createSubprocessExec("cat", { stdin: DEVNULL, stdout: PIPE });
 *   return await proc.communicate();
 * });
 * assert.equal(out!.length, 0); // cat read an empty stdin and exited
 * ```
 */
export const DEVNULL: -3 = -3;

/** A pipe the loop can read: a byte stream or anything with `.readable`. */
export type ReadablePipe =
  | ReadableStream<Uint8Array>
  | { readonly readable: ReadableStream<Uint8Array> };

/** A pipe the loop can write: a byte stream or anything with `.writable`. */
export type WritablePipe =
  | WritableStream<Uint8Array>
  | { readonly writable: WritableStream<Uint8Array> };

/**
 * What a child's stdin, stdout or stderr may be: `PIPE`, `DEVNULL`,
 * `STDOUT` (stderr only), `null` (inherit this process's), or an existing
 * pipe (a readable one for stdin, a writable one for stdout/stderr).
 */
export type StdioOption =
  | typeof PIPE
  | typeof STDOUT
  | typeof DEVNULL
  | null
  | ReadablePipe
  | WritablePipe;

/**
 * Options of `subprocessExec` / `subprocessShell` (Python's keyword
 * arguments, camelCased).
 */
export interface SubprocessOptions {
  /** The child's stdin (default `PIPE`). */
  stdin?: StdioOption;
  /** The child's stdout (default `PIPE`). */
  stdout?: StdioOption;
  /** The child's stderr (default `PIPE`); `STDOUT` merges it into stdout. */
  stderr?: StdioOption;
  /** The working directory of the child. */
  cwd?: string | URL;
  /**
   * The child's whole environment, as Popen's `env`: nothing of this
   * process's environment is inherited when it is given.
   */
  env?: Record<string, string>;
  /** Deno's `clearEnv`: start from an empty environment (plus `env`). */
  clearEnv?: boolean;
  /** Deno's `uid`: run the child as this user (needs privileges). */
  uid?: number;
  /** Deno's `gid`: run the child as this group (needs privileges). */
  gid?: number;
  /** Accepted for compatibility: Deno always closes other descriptors. */
  closeFds?: boolean;
  /** Must be false: asyncio streams are bytes. */
  universalNewlines?: boolean;
  /** Must be false: asyncio streams are bytes. */
  text?: boolean;
  /** Must be null: asyncio streams are bytes. */
  encoding?: string | null;
  /** Must be null: asyncio streams are bytes. */
  errors?: string | null;
  /** Must be 0 (unbuffered), as asyncio requires. */
  bufsize?: number;
  /** Must be false for `subprocessExec`, true (or absent) for `subprocessShell`. */
  shell?: boolean;
}

/** Popen options `Deno.Command` has no equivalent for. */
const UNSUPPORTED = [
  "preexecFn",
  "passFds",
  "startNewSession",
  "processGroup",
  "executable",
  "restoreSignals",
  "user",
  "group",
  "extraGroups",
  "umask",
  "pipesize",
  "startupinfo",
  "creationflags",
];

const KNOWN = new Set([
  "stdin",
  "stdout",
  "stderr",
  "cwd",
  "env",
  "clearEnv",
  "uid",
  "gid",
  "closeFds",
  "universalNewlines",
  "text",
  "encoding",
  "errors",
  "bufsize",
  "shell",
]);

/** How one of the child's standard streams is set up. */
export type StdioMode = "piped" | "null" | "inherit";

/** A checked request to start a child (package-internal). */
export interface SpawnSpec {
  /** The program Deno runs. */
  command: string | URL;
  /** Its arguments. */
  args: string[];
  /** What the caller asked for, for messages. */
  display: string;
  cwd?: string | URL;
  env?: Record<string, string>;
  clearEnv: boolean;
  uid?: number;
  gid?: number;
  stdin: StdioMode;
  stdout: StdioMode;
  stderr: StdioMode;
  /** fds (0, 1, 2) that get a pipe transport (`PIPE`). */
  pipes: number[];
  /** A source copied into the child's stdin. */
  pumpIn: ReadableStream<Uint8Array> | null;
  /** A destination the child's stdout is copied to. */
  pumpOut: WritableStream<Uint8Array> | null;
  /** A destination the child's stderr is copied to. */
  pumpErr: WritableStream<Uint8Array> | null;
}

/** The readable stream of a pipe, or null if it is not one. */
export function readableOf(pipe: unknown): ReadableStream<Uint8Array> | null {
  if (pipe instanceof ReadableStream) return pipe;
  if (pipe !== null && typeof pipe === "object") {
    let readable: unknown;
    try {
      readable = (pipe as { readable?: unknown }).readable;
    } catch {
      return null;
    }
    if (readable instanceof ReadableStream) return readable;
  }
  return null;
}

/** Direct-write streams made for files, so that each pipe has one. */
const directStreams = new WeakMap<object, WritableStream<Uint8Array>>();

interface DirectWriter {
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/**
 * A stream that writes straight through `file.write()`. Deno's
 * `FsFile.writable` buffers up to 64 KiB until it is closed, which a pipe
 * (a FIFO, a file a child appends to) cannot wait for.
 */
function directStream(file: DirectWriter): WritableStream<Uint8Array> {
  let stream = directStreams.get(file);
  if (stream === undefined) {
    const close = () => closeQuietly(file);
    stream = new WritableStream<Uint8Array>({
      async write(chunk) {
        let offset = 0;
        while (offset < chunk.length) {
          offset += await file.write(chunk.subarray(offset));
        }
      },
      close,
      abort: close,
    });
    directStreams.set(file, stream);
  }
  return stream;
}

/**
 * The writable stream of a pipe, or null if it is not one. A
 * `Deno.FsFile` (anything with `write()` and `close()` besides
 * `.writable`) is written through `write()`, unbuffered.
 */
export function writableOf(pipe: unknown): WritableStream<Uint8Array> | null {
  if (pipe instanceof WritableStream) return pipe;
  if (
    pipe instanceof Deno.FsFile ||
    (pipe !== null && typeof pipe === "object" && "writable" in pipe &&
      typeof (pipe as unknown as DirectWriter).write === "function" &&
      typeof (pipe as unknown as DirectWriter).close === "function")
  ) {
    return directStream(pipe as unknown as DirectWriter);
  }
  if (pipe !== null && typeof pipe === "object") {
    let writable: unknown;
    try {
      writable = (pipe as { writable?: unknown }).writable;
    } catch {
      return null;
    }
    if (writable instanceof WritableStream) return writable;
  }
  return null;
}

function checkOptions(
  options: unknown,
  method: string,
  shell: boolean,
): SubprocessOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(
      `${method}(): options must be an object, got ${typeof options}`,
    );
  }
  const opts = options as SubprocessOptions & Record<string, unknown>;
  for (const key of Object.keys(opts)) {
    if (opts[key] === undefined) continue;
    if (UNSUPPORTED.includes(key)) {
      throw new TypeError(
        `${method}(): option '${key}' is not supported: Deno.Command has no equivalent`,
      );
    }
    if (!KNOWN.has(key)) {
      throw new TypeError(`${method}(): unexpected option '${key}'`);
    }
  }
  if (opts.universalNewlines) {
    throw new RangeError(`${method}(): universalNewlines must be false`);
  }
  if (shell) {
    if (opts.shell !== undefined && opts.shell !== true) {
      throw new RangeError(`${method}(): shell must be true`);
    }
  } else if (opts.shell) {
    throw new RangeError(`${method}(): shell must be false`);
  }
  if (opts.bufsize !== undefined && opts.bufsize !== 0) {
    throw new RangeError(`${method}(): bufsize must be 0`);
  }
  if (opts.text) throw new RangeError(`${method}(): text must be false`);
  if (opts.encoding != null) {
    throw new RangeError(`${method}(): encoding must be null`);
  }
  if (opts.errors != null) {
    throw new RangeError(`${method}(): errors must be null`);
  }
  if (opts.closeFds === false) {
    throw new TypeError(
      `${method}(): closeFds: false is not supported: Deno.Command always closes other descriptors`,
    );
  }
  if (
    opts.cwd !== undefined && typeof opts.cwd !== "string" &&
    !(opts.cwd instanceof URL)
  ) {
    throw new TypeError(`${method}(): cwd must be a string or URL`);
  }
  if (opts.env !== undefined && opts.env !== null) {
    if (typeof opts.env !== "object") {
      throw new TypeError(`${method}(): env must be an object of strings`);
    }
    for (const [key, value] of Object.entries(opts.env)) {
      if (typeof value !== "string") {
        throw new TypeError(
          `${method}(): env['${key}'] must be a string, got ${typeof value}`,
        );
      }
    }
  }
  for (const key of ["uid", "gid"] as const) {
    const value = opts[key];
    if (value !== undefined && !Number.isInteger(value)) {
      throw new TypeError(`${method}(): ${key} must be an integer`);
    }
  }
  return opts;
}

interface Stdio {
  mode: StdioMode;
  pipe: boolean;
  merge: boolean;
  pumpIn: ReadableStream<Uint8Array> | null;
  pumpOut: WritableStream<Uint8Array> | null;
}

function stdio(
  value: unknown,
  fd: 0 | 1 | 2,
  method: string,
  fallback: StdioOption,
): Stdio {
  const name = ["stdin", "stdout", "stderr"][fd];
  const result: Stdio = {
    mode: "piped",
    pipe: false,
    merge: false,
    pumpIn: null,
    pumpOut: null,
  };
  const v = value === undefined ? fallback : value;
  if (v === PIPE) {
    result.pipe = true;
    return result;
  }
  if (v === null) {
    result.mode = "inherit";
    return result;
  }
  if (v === DEVNULL) {
    result.mode = "null";
    return result;
  }
  if (v === STDOUT) {
    if (fd !== 2) {
      throw new RangeError(`${method}(): STDOUT is only valid for stderr`);
    }
    result.merge = true;
    return result;
  }
  if (typeof v === "number") {
    throw new TypeError(
      `${method}(): ${name} ${v} is not supported: Deno exposes no file descriptors; pass PIPE, DEVNULL, null, a stream or a Deno.FsFile`,
    );
  }
  // This process's own stdio is inherited rather than copied.
  if (
    (fd === 0 && v === Deno.stdin) || (fd === 1 && v === Deno.stdout) ||
    (fd === 2 && v === Deno.stderr)
  ) {
    result.mode = "inherit";
    return result;
  }
  if (fd === 0) {
    const readable = readableOf(v);
    if (readable === null) {
      throw new TypeError(
        `${method}(): stdin must be PIPE, DEVNULL, null or a readable pipe (a ReadableStream or an object with .readable)`,
      );
    }
    if (readable.locked) {
      throw new RangeError(`${method}(): the stdin stream is locked`);
    }
    result.pumpIn = readable;
    return result;
  }
  const writable = writableOf(v);
  if (writable === null) {
    throw new TypeError(
      `${method}(): ${name} must be PIPE, DEVNULL, ${
        fd === 2 ? "STDOUT, " : ""
      }null or a writable pipe (a WritableStream or an object with .writable)`,
    );
  }
  if (writable.locked) {
    throw new RangeError(`${method}(): the ${name} stream is locked`);
  }
  result.pumpOut = writable;
  return result;
}

function buildSpec(
  command: string | URL,
  args: string[],
  display: string,
  opts: SubprocessOptions,
  method: string,
  fallback: StdioOption,
  merge: (spec: SpawnSpec) => void,
): SpawnSpec {
  const stdin = stdio(opts.stdin, 0, method, fallback);
  const stdout = stdio(opts.stdout, 1, method, fallback);
  const stderr = stdio(opts.stderr, 2, method, fallback);
  if (
    stdout.pumpOut !== null && stderr.pumpOut !== null &&
    stdout.pumpOut === stderr.pumpOut
  ) {
    throw new RangeError(
      `${method}(): stdout and stderr are the same stream: use stderr: STDOUT`,
    );
  }
  const pipes: number[] = [];
  if (stdin.pipe) pipes.push(0);
  if (stdout.pipe) pipes.push(1);
  if (stderr.pipe) pipes.push(2);
  const spec: SpawnSpec = {
    command,
    args,
    display,
    cwd: opts.cwd,
    env: opts.env ?? undefined,
    // Popen's env is the whole environment; Deno's adds to this one's.
    clearEnv: opts.clearEnv === true || opts.env != null,
    uid: opts.uid,
    gid: opts.gid,
    stdin: stdin.mode,
    stdout: stdout.mode,
    stderr: stderr.merge ? "null" : stderr.mode,
    pipes,
    pumpIn: stdin.pumpIn,
    pumpOut: stdout.pumpOut,
    pumpErr: stderr.pumpOut,
  };
  if (stderr.merge) merge(spec);
  return spec;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A command line, program or argument given as bytes (asyncio takes bytes
 * in the filesystem encoding, UTF-8 here) as the string `Deno.Command`
 * needs. Bytes that are not UTF-8 have no string form, so they are refused
 * rather than altered.
 */
export function decodeBytes(
  value: Uint8Array,
  what: string,
  method: string,
): string {
  try {
    return UTF8.decode(value);
  } catch {
    throw new RangeError(
      `${method}(): ${what} is not valid UTF-8: Deno.Command takes its program and arguments as strings`,
    );
  }
}

/**
 * Checks `subprocessExec` arguments and returns what to spawn.
 *
 * @throws {TypeError} for a program or argument that is not a string, URL
 *   or Uint8Array, or a bad option.
 * @throws {RangeError} for a refused option value (`text`, `bufsize`, ...).
 * @throws {Deno.errors.NotFound} when `stderr: STDOUT` and the program is
 *   not found.
 */
export function execSpec(
  program: unknown,
  args: unknown[],
  options: unknown,
  method = "subprocessExec",
  fallback: StdioOption = PIPE,
): SpawnSpec {
  if (program instanceof Uint8Array) {
    program = decodeBytes(program, "program", method);
  }
  if (typeof program !== "string" && !(program instanceof URL)) {
    throw new TypeError(
      `${method}(): program must be a string, URL or Uint8Array, got ${
        program === null ? "null" : typeof program
      }`,
    );
  }
  if (program === "") {
    throw new RangeError(`${method}(): program must not be empty`);
  }
  const command = program;
  const argv = args.map((arg, i) => {
    if (typeof arg === "string") return arg;
    if (arg instanceof URL) {
      return arg.protocol === "file:" ? arg.pathname : arg.href;
    }
    if (arg instanceof Uint8Array) {
      return decodeBytes(arg, `argument ${i + 1}`, method);
    }
    throw new TypeError(
      `${method}(): argument ${
        i + 1
      } must be a string, URL or Uint8Array, got ${
        arg === null ? "null" : typeof arg
      }`,
    );
  });
  const opts = checkOptions(options, method, false);
  const display = String(command);
  return buildSpec(command, argv, display, opts, method, fallback, (spec) => {
    // `exec "$@" 2>&1`: the shell sets fd 2 to fd 1, then becomes the program.
    const resolved = resolveProgram(command, spec.env, spec.cwd);
    spec.command = "/bin/sh";
    spec.args = ["-c", 'exec "$@" 2>&1', "sh", resolved, ...argv];
  });
}

/**
 * Checks `subprocessShell` arguments and returns what to spawn
 * (`/bin/sh -c cmd`).
 *
 * @throws {TypeError} unless `cmd` is a string or Uint8Array; for a bad
 *   option.
 * @throws {RangeError} for a refused option value, or bytes that are not
 *   UTF-8.
 */
export function shellSpec(
  cmd: unknown,
  options: unknown,
  method = "subprocessShell",
  fallback: StdioOption = PIPE,
): SpawnSpec {
  if (cmd instanceof Uint8Array) cmd = decodeBytes(cmd, "cmd", method);
  if (typeof cmd !== "string") {
    throw new TypeError(
      `${method}(): cmd must be a string or Uint8Array, got ${
        cmd === null ? "null" : Array.isArray(cmd) ? "an array" : typeof cmd
      }`,
    );
  }
  const opts = checkOptions(options, method, true);
  return buildSpec(
    "/bin/sh",
    ["-c", cmd],
    cmd,
    opts,
    method,
    fallback,
    (spec) => {
      spec.args = ["-c", `exec 2>&1\n${cmd}`];
    },
  );
}

/** Looks `program` up as `execvp` would, so a missing one is NotFound now. */
function resolveProgram(
  program: string | URL,
  env: Record<string, string> | undefined,
  cwd: string | URL | undefined,
): string {
  const name = program instanceof URL ? program.pathname : program;
  const candidates: string[] = [];
  if (name.includes("/")) {
    if (name.startsWith("/") || cwd === undefined) candidates.push(name);
    else {
      const base = cwd instanceof URL ? cwd.pathname : cwd;
      candidates.push(`${base.replace(/\/$/, "")}/${name}`);
    }
  } else {
    let path = env?.PATH;
    if (path === undefined) {
      try {
        path = Deno.env.get("PATH");
      } catch {
        path = undefined;
      }
    }
    for (const dir of (path ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
      candidates.push(`${dir === "" ? "." : dir}/${name}`);
    }
  }
  for (const candidate of candidates) {
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
        return candidate;
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        // No permission to look: let the shell search (a miss exits 127).
        return name;
      }
    }
  }
  throw new Deno.errors.NotFound(
    `Failed to spawn '${name}': entity not found`,
  );
}

/**
 * Starts the child.
 *
 * @throws {Deno.errors.NotFound} for a program (or cwd) that does not exist.
 * @throws {Deno.errors.PermissionDenied} for a program that cannot be run.
 */
export function spawnChild(spec: SpawnSpec): Deno.ChildProcess {
  return new Deno.Command(spec.command, {
    args: spec.args,
    cwd: spec.cwd,
    env: spec.env,
    clearEnv: spec.clearEnv,
    uid: spec.uid,
    gid: spec.gid,
    stdin: spec.stdin,
    stdout: spec.stdout,
    stderr: spec.stderr,
  }).spawn();
}

/**
 * The return code of a finished child: its exit code, or the negative
 * signal number when a signal ended it (as asyncio's `returncode`).
 */
export function returnCode(status: Deno.CommandStatus): number {
  if (status.signal !== null) {
    try {
      return -signalNumber(status.signal);
    } catch {
      // A signal this table does not name: keep Deno's code (128 + n).
    }
  }
  return status.code;
}

/**
 * The arguments after `program` in `subprocessExec(factory, program,
 * ...args)`: strings (or URLs, or UTF-8 bytes), optionally followed by one
 * options object.
 */
export type SubprocessExecArgs =
  | (string | URL | Uint8Array)[]
  | [...(string | URL | Uint8Array)[], SubprocessOptions];

/** Splits `...args` into arguments and the trailing options object. */
export function splitExecArgs(
  args: unknown[],
): [unknown[], unknown] {
  const last = args.at(-1);
  if (
    last !== null && typeof last === "object" && !(last instanceof URL) &&
    !Array.isArray(last) && !ArrayBuffer.isView(last)
  ) {
    return [args.slice(0, -1), last];
  }
  return [args, undefined];
}
