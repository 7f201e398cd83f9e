/**
 * The high-level subprocess API: `createSubprocessExec`,
 * `createSubprocessShell` and `Process`. Mirrors `asyncio.subprocess`.
 *
 * As in asyncio, the streams default to `null` (inherit this process's
 * stdin/stdout/stderr); pass `PIPE` for the ones to talk to. A piped
 * stdout/stderr is a `StreamReader` that pauses the child's pipe when more
 * than twice `limit` bytes are buffered (so a chatty child blocks instead
 * of filling memory); stdin is a `StreamWriter`.
 *
 * @module
 */
import type { AbstractEventLoop } from "../core/abstract_loop.ts";
import { getRunningLoop } from "../core/running.ts";
import {
  decodeBytes,
  execSpec,
  type PIPE,
  shellSpec,
  splitExecArgs,
  type StdioOption,
  type SubprocessOptions,
} from "../process/process.ts";
import { logger } from "../base/log.ts";
import {
  DEFAULT_LIMIT,
  FlowControlMixin,
  StreamReader,
  StreamWriter,
  type WritableTransport,
} from "./streams.ts";
import type { Future } from "../core/futures.ts";
import type { AnyTransport } from "../../protocols/protocol.ts";
import type { SubprocessTransport } from "../../transports/transport.ts";

/** Options of `createSubprocessExec` / `createSubprocessShell`. */
export interface CreateSubprocessOptions extends SubprocessOptions {
  /** The `StreamReader` limit of stdout and stderr (default 64 KiB). */
  limit?: number;
}

/**
 * The arguments after `program` in `createSubprocessExec(program,
 * ...args)`: strings (or URLs, or UTF-8 bytes), optionally followed by one
 * options object.
 */
export type CreateSubprocessExecArgs =
  | (string | URL | Uint8Array)[]
  | [...(string | URL | Uint8Array)[], CreateSubprocessOptions];

/**
 * What a stdio option makes of a stream of type `S`: `S` when the option
 * is `PIPE`, null when it is anything else or absent, and `S | null` when
 * the type alone cannot tell.
 *
 * @example How `Process` types its streams
 * ```ts
 * import { type DEVNULL, type PIPE, type Piped, run, StreamReader } from "@aio/loop";
 * import assert from "node:assert/strict";
 * await run(async () => {
 *   const piped: Piped<typeof PIPE, StreamReader> = new StreamReader();
 *   const dropped: Piped<typeof DEVNULL, StreamReader> = null;
 *   const unknown: Piped<number | undefined, StreamReader> = null; // or a reader
 *   assert.ok(piped instanceof StreamReader);
 *   assert.equal(dropped, unknown);
 * });
 * ```
 */
export type Piped<V, S> = [V] extends [typeof PIPE] ? S
  : typeof PIPE extends V ? S | null
  : null;

/**
 * The stdio option `K` of an options type (undefined when it has none):
 * `StdioIn<{ stdout: -1 }, "stdout">` is `-1`.
 *
 * @example
 * ```ts
 * import type { StdioIn } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const out: StdioIn<{ stdout: -1 }, "stdout"> = -1;
 * const err: StdioIn<{ stdout: -1 }, "stderr"> = undefined;
 * assert.deepEqual([out, err], [-1, undefined]);
 * ```
 */
export type StdioIn<O, K extends "stdin" | "stdout" | "stderr"> = K extends
  keyof O ? O[K]
  : undefined;

/**
 * The options object at the end of `createSubprocessExec`'s arguments (an
 * empty object type when there is none).
 *
 * @example
 * ```ts
 * import type { ExecOptionsIn, PIPE } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const options: ExecOptionsIn<["-c", "true", { stdout: typeof PIPE }]> = {
 *   stdout: -1,
 * };
 * const none: ExecOptionsIn<["-c", "true"]> = {};
 * assert.deepEqual([options, none], [{ stdout: -1 }, {}]);
 * ```
 */
export type ExecOptionsIn<A> = A extends readonly [...unknown[], infer L]
  ? (L extends string | URL | Uint8Array ? Record<never, never> : L)
  : Record<never, never>;

/** Errors `communicate()` ignores while feeding stdin (asyncio's). */
function isPipeGone(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset;
}

/**
 * The protocol behind a `Process`: pipes become `StreamReader`s and a
 * `StreamWriter`. Mirrors asyncio's `SubprocessStreamProtocol`.
 *
 * @example What createSubprocessExec() does
 * ```ts
 * import { DEVNULL, newEventLoop, Process, SubprocessStreamProtocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const loop = newEventLoop();
 * const out = await loop.runUntilComplete(async () => {
 *   const [transport, protocol] = await loop.subprocessExec(
 *     () => new SubprocessStreamProtocol(2 ** 16, loop),
 *     "echo",
 *     "hi",
 *     { stdin: DEVNULL, stderr: DEVNULL }, // stdout: PIPE, the default
 *   );
 *   const line = await protocol.stdout!.readline(); // stdout became a StreamReader
 *   await new Process(transport, protocol, loop).wait();
 *   return new TextDecoder().decode(line);
 * });
 * assert.equal(out, "hi\n");
 * loop.close();
 * ```
 */
export class SubprocessStreamProtocol extends FlowControlMixin {
  /** The child's stdin, when it is PIPE. */
  stdin: StreamWriter | null = null;
  /** The child's stdout, when it is PIPE. */
  stdout: StreamReader | null = null;
  /** The child's stderr, when it is PIPE. */
  stderr: StreamReader | null = null;
  #limit: number;
  #transport: SubprocessTransport | null = null;
  #processExited = false;
  #pipeFds: number[] = [];
  #stdinClosed: Future<null>;

  /**
   * Creates the protocol.
   *
   * @param limit The readers' buffer limit.
   * @param loop The loop (default: the running loop).
   */
  constructor(limit: number, loop?: AbstractEventLoop | null) {
    super(loop);
    this.#limit = limit;
    this.#stdinClosed = this._loop.createFuture<null>();
  }

  /** Creates the streams for the piped fds. */
  override connectionMade(transport: AnyTransport): void {
    const t = transport as SubprocessTransport;
    this.#transport = t;
    const stdout = t.getPipeTransport(1);
    if (stdout !== null) {
      this.stdout = new StreamReader(this.#limit, { loop: this._loop });
      this.stdout.setTransport(stdout as never);
      this.#pipeFds.push(1);
    }
    const stderr = t.getPipeTransport(2);
    if (stderr !== null) {
      this.stderr = new StreamReader(this.#limit, { loop: this._loop });
      this.stderr.setTransport(stderr as never);
      this.#pipeFds.push(2);
    }
    const stdin = t.getPipeTransport(0);
    if (stdin !== null) {
      this.stdin = new StreamWriter(
        stdin as WritableTransport,
        this,
        null,
        this._loop,
      );
    }
  }

  /** Feeds stdout/stderr bytes to their readers. */
  pipeDataReceived(fd: number, data: Uint8Array): void {
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    reader?.feedData(data);
  }

  /** EOF (or the error) for a reader; for stdin, wakes drain/waitClosed. */
  pipeConnectionLost(fd: number, exc: Error | null): void {
    if (fd === 0) {
      this.#transport?.getPipeTransport(0)?.close();
      this.connectionLost(exc);
      if (exc === null) this.#stdinClosed.setResult(null);
      else {
        this.#stdinClosed.setException(exc);
        this.#stdinClosed.exception(); // retrieved: nobody has to await it
      }
      return;
    }
    const reader = fd === 1 ? this.stdout : fd === 2 ? this.stderr : null;
    if (reader !== null) {
      if (exc === null) reader.feedEof();
      else reader.setException(exc);
    }
    const index = this.#pipeFds.indexOf(fd);
    if (index !== -1) this.#pipeFds.splice(index, 1);
    this.#maybeCloseTransport();
  }

  /** The child exited. */
  processExited(): void {
    this.#processExited = true;
    this.#maybeCloseTransport();
  }

  #maybeCloseTransport(): void {
    if (this.#pipeFds.length === 0 && this.#processExited) {
      this.#transport?.close();
      this.#transport = null;
    }
  }

  /** @ignore */
  override _getCloseWaiter(stream: StreamWriter): Future<null> {
    if (stream === this.stdin) return this.#stdinClosed;
    return super._getCloseWaiter(stream);
  }
}

/**
 * A running child process. Mirrors `asyncio.subprocess.Process`.
 *
 * @example Run a filter
 * ```ts
 * import { createSubprocessExec, PIPE, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const [out, code] = await run(async () => {
 *   const proc = await createSubprocessExec("cat", { stdin: PIPE, stdout: PIPE });
 *   const [stdout] = await proc.communicate(new TextEncoder().encode("hello"));
 *   return [new TextDecoder().decode(stdout!), proc.returncode] as const;
 * });
 * assert.equal(out, "hello");
 * assert.equal(code, 0);
 * ```
 */
export class Process<O extends SubprocessOptions = SubprocessOptions> {
  /**
   * The child's stdin (a writer), or null unless it is PIPE. Typed from the
   * options the process was made with: a writer when `stdin: PIPE` was
   * given.
   */
  readonly stdin: Piped<StdioIn<O, "stdin">, StreamWriter>;
  /** The child's stdout (a reader), or null unless it is PIPE. */
  readonly stdout: Piped<StdioIn<O, "stdout">, StreamReader>;
  /** The child's stderr (a reader), or null unless it is PIPE. */
  readonly stderr: Piped<StdioIn<O, "stderr">, StreamReader>;
  /** The child's process id. */
  readonly pid: number;
  #transport: SubprocessTransport & { _wait(): Promise<number> };
  #loop: AbstractEventLoop;

  /**
   * Wraps a subprocess transport and its stream protocol;
   * `createSubprocessExec` / `createSubprocessShell` are the usual way.
   */
  constructor(
    transport: SubprocessTransport,
    protocol: SubprocessStreamProtocol,
    loop: AbstractEventLoop,
  ) {
    this.#transport = transport as SubprocessTransport & {
      _wait(): Promise<number>;
    };
    this.#loop = loop;
    this.stdin = protocol.stdin as Piped<StdioIn<O, "stdin">, StreamWriter>;
    this.stdout = protocol.stdout as Piped<StdioIn<O, "stdout">, StreamReader>;
    this.stderr = protocol.stderr as Piped<StdioIn<O, "stderr">, StreamReader>;
    this.pid = transport.getPid();
  }

  /** The return code (negative signal number if killed), or null while running. */
  get returncode(): number | null {
    return this.#transport.getReturncode();
  }

  /**
   * Waits for the child to exit and returns its return code. Mirrors
   * `wait()`. With stdout/stderr PIPE, read them (or use `communicate()`):
   * a child blocked on a full pipe never exits.
   *
   * @example
   * ```ts
   * import { createSubprocessExec, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   * await run(async () => {
   *   const proc = await createSubprocessExec("sh", "-c", "exit 3");
   *   assert.equal(await proc.wait(), 3);
   *   assert.equal(proc.returncode, 3);
   * });
   * ```
   */
  async wait(): Promise<number> {
    return await this.#transport._wait();
  }

  /**
   * Writes `input` (if any) to stdin and closes it, reads stdout and
   * stderr to EOF, waits for the exit, and returns `[stdout, stderr]` (null
   * for a stream that is not PIPE). A child that exits without reading its
   * input is not an error (the broken pipe is ignored, as asyncio does).
   * Mirrors `communicate()`.
   *
   * @example
   * ```ts
   * import { createSubprocessShell, PIPE, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const [out, err] = await run(async () => {
   *   const proc = await createSubprocessShell("cat; echo oops >&2", {
   *     stdin: PIPE,
   *     stdout: PIPE,
   *     stderr: PIPE,
   *   });
   *   return await proc.communicate(new TextEncoder().encode("hello"));
   * });
   * assert.equal(new TextDecoder().decode(out!), "hello");
   * assert.equal(new TextDecoder().decode(err!), "oops\n");
   * ```
   */
  async communicate(
    input: Uint8Array | null = null,
  ): Promise<
    [
      Piped<StdioIn<O, "stdout">, Uint8Array>,
      Piped<StdioIn<O, "stderr">, Uint8Array>,
    ]
  > {
    if (input !== null && !(input instanceof Uint8Array)) {
      throw new TypeError(
        `communicate(): input must be a Uint8Array or null, got ${typeof input}`,
      );
    }
    const feed = this.stdin !== null ? this.#feedStdin(input) : null;
    const out = this.stdout !== null ? this.#readStream(1) : null;
    const err = this.stderr !== null ? this.#readStream(2) : null;
    const [, stdout, stderr] = await Promise.all([feed, out, err]);
    await this.wait();
    return [stdout, stderr] as [
      Piped<StdioIn<O, "stdout">, Uint8Array>,
      Piped<StdioIn<O, "stderr">, Uint8Array>,
    ];
  }

  async #feedStdin(input: Uint8Array | null): Promise<void> {
    const stdin = this.stdin!;
    try {
      if (input !== null && input.length > 0) {
        stdin.write(input);
        await stdin.drain();
      }
    } catch (error) {
      if (!isPipeGone(error)) throw error;
      if (this.#loop.getDebug()) {
        logger.debug(`${this} communicate: feeding stdin failed: ${error}`);
      }
    }
    stdin.close();
  }

  async #readStream(fd: 1 | 2): Promise<Uint8Array> {
    const transport = this.#transport.getPipeTransport(fd);
    const stream = fd === 1 ? this.stdout! : this.stderr!;
    const output = await stream.read();
    transport?.close();
    return output;
  }

  /**
   * Sends a signal (name or Linux number). Mirrors `send_signal()`.
   *
   * @example
   * ```ts
   * import { createSubprocessExec, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const code = await run(async () => {
   *   const proc = await createSubprocessExec("sleep", "60");
   *   proc.sendSignal("SIGUSR1");
   *   return await proc.wait();
   * });
   * assert.equal(code, -10); // killed by signal 10, SIGUSR1
   * ```
   */
  sendSignal(signal: string | number): void {
    this.#transport.sendSignal(signal);
  }

  /**
   * Sends SIGTERM. Mirrors `terminate()`.
   *
   * @example
   * ```ts
   * import { createSubprocessExec, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const code = await run(async () => {
   *   const proc = await createSubprocessExec("sleep", "60");
   *   proc.terminate();
   *   return await proc.wait();
   * });
   * assert.equal(code, -15); // SIGTERM
   * ```
   */
  terminate(): void {
    this.#transport.terminate();
  }

  /**
   * Sends SIGKILL. Mirrors `kill()`.
   *
   * @example
   * ```ts
   * import { createSubprocessExec, run } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const code = await run(async () => {
   *   const proc = await createSubprocessExec("sleep", "60");
   *   proc.kill();
   *   return await proc.wait();
   * });
   * assert.equal(code, -9); // SIGKILL
   * ```
   */
  kill(): void {
    this.#transport.kill();
  }

  /** A description like `<Process 1234>`. */
  toString(): string {
    return `<Process ${this.pid}>`;
  }
}

function splitLimit(
  options: CreateSubprocessOptions | undefined,
): [number, SubprocessOptions] {
  if (options === undefined || options === null) return [DEFAULT_LIMIT, {}];
  if (typeof options !== "object") {
    throw new TypeError(`options must be an object, got ${typeof options}`);
  }
  const { limit, ...rest } = options;
  if (limit !== undefined && (typeof limit !== "number" || !(limit > 0))) {
    throw new RangeError(`limit must be a positive number, got ${limit}`);
  }
  return [limit ?? DEFAULT_LIMIT, rest];
}

/** asyncio's high-level default for a stream that is not given: inherit. */
const INHERIT: StdioOption = null;

/**
 * Runs `program` with `args` (optionally followed by an options object) on
 * the running loop and returns a `Process`. Unlike `loop.subprocessExec`,
 * stdin/stdout/stderr default to `null` (inherit), as in asyncio; `limit`
 * sets the readers' buffer limit. The program and arguments may be
 * strings, URLs (their path) or UTF-8 bytes, as asyncio takes bytes in the
 * filesystem encoding. Mirrors `asyncio.create_subprocess_exec()`.
 *
 * @throws {TypeError} / {RangeError} for bad arguments (see
 *   `loop.subprocessExec`).
 * @throws {Deno.errors.NotFound} when the program does not exist.
 * @throws {RuntimeError} when no loop is running.
 * @example
 * ```ts
 * import { createSubprocessExec, PIPE, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const line = await run(async () => {
 *   const proc = await createSubprocessExec("echo", "hello", { stdout: PIPE });
 *   const text = new TextDecoder().decode(await proc.stdout!.readline());
 *   await proc.wait();
 *   return text;
 * });
 * assert.equal(line, "hello\n");
 * ```
 */
export async function createSubprocessExec<
  const A extends CreateSubprocessExecArgs,
>(
  program: string | URL | Uint8Array,
  ...args: A
): Promise<Process<ExecOptionsIn<A>>> {
  const loop = getRunningLoop();
  const [argv, options] = splitExecArgs(args);
  const [limit, rest] = splitLimit(options as CreateSubprocessOptions);
  // Checked here so that bad arguments fail before anything starts.
  execSpec(program, argv, rest, "createSubprocessExec", INHERIT);
  const withDefaults = {
    ...rest,
    stdin: rest.stdin === undefined ? INHERIT : rest.stdin,
    stdout: rest.stdout === undefined ? INHERIT : rest.stdout,
    stderr: rest.stderr === undefined ? INHERIT : rest.stderr,
  };
  // The loop's own signature takes strings: hand it the checked text.
  const method = "createSubprocessExec";
  const [transport, protocol] = await loop.subprocessExec(
    () => new SubprocessStreamProtocol(limit, loop),
    program instanceof Uint8Array
      ? decodeBytes(program, "program", method)
      : program,
    ...(argv as (string | URL | Uint8Array)[]).map((arg, i) =>
      arg instanceof Uint8Array
        ? decodeBytes(arg, `argument ${i + 1}`, method)
        : arg
    ),
    withDefaults,
  );
  return new Process<ExecOptionsIn<A>>(transport, protocol, loop);
}

/**
 * Runs `cmd` with `/bin/sh -c` on the running loop and returns a
 * `Process`. Streams default to `null` (inherit), as in asyncio. Mirrors
 * `asyncio.create_subprocess_shell()`.
 *
 * @param cmd The command line: a string, or bytes in UTF-8 (asyncio takes
 *   bytes in the filesystem encoding).
 * @throws {TypeError} unless `cmd` is a string or Uint8Array.
 * @throws {RangeError} for bytes that are not UTF-8, or a refused option.
 * @throws {RuntimeError} when no loop is running.
 * @example
 * ```ts
 * import { createSubprocessShell, run } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const code = await run(async () => {
 *   const proc = await createSubprocessShell("exit 7");
 *   return await proc.wait();
 * });
 * assert.equal(code, 7);
 * ```
 */
export async function createSubprocessShell<
  const O extends CreateSubprocessOptions = Record<never, never>,
>(
  cmd: string | Uint8Array,
  options?: O,
): Promise<Process<O>> {
  const loop = getRunningLoop();
  const [limit, rest] = splitLimit(options);
  shellSpec(cmd, rest, "createSubprocessShell", INHERIT);
  const withDefaults = {
    ...rest,
    stdin: rest.stdin === undefined ? INHERIT : rest.stdin,
    stdout: rest.stdout === undefined ? INHERIT : rest.stdout,
    stderr: rest.stderr === undefined ? INHERIT : rest.stderr,
  };
  const [transport, protocol] = await loop.subprocessShell(
    () => new SubprocessStreamProtocol(limit, loop),
    cmd instanceof Uint8Array
      ? decodeBytes(cmd, "cmd", "createSubprocessShell")
      : cmd,
    withDefaults,
  );
  return new Process<O>(transport, protocol, loop);
}
