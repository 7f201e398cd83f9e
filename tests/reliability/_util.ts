/**
 * Helpers for the reliability suite: every case is bounded by a guard timer,
 * resource and fd counts are compared with a baseline, child programs are
 * run with a deadline, and a raw Deno peer plays the other side.
 */
import assert from "node:assert/strict";
import {
  EventLoop,
  type ExceptionContext,
  Protocol,
  type Transport,
} from "../../mod.ts";

/** Seconds a case may run before the guard fails it (hang protection only). */
export const GUARD_SECONDS = 10;

/**
 * Races `work` with a guard timer; if the guard fires first, `onHang` runs
 * (to stop a loop or kill a child) and the returned promise rejects with a
 * message naming `what`. The timer is always cleared.
 */
export async function bounded<T>(
  what: string,
  work: PromiseLike<T>,
  seconds = GUARD_SECONDS,
  onHang?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        onHang?.();
      } catch {
        // The work ended as the guard fired (e.g. a child already exited).
      }
      reject(
        new Error(`guard: ${what} did not finish within ${seconds} s (hang)`),
      );
    }, seconds * 1000);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** The runtime's resource table (`Deno.resources()` is gone since Deno 2). */
export function resourceTable(): Record<string, string> {
  const resources = (Deno as unknown as { resources?: () => object })
    .resources;
  if (typeof resources === "function") {
    return resources() as Record<string, string>;
  }
  const internal = (Deno as unknown as { internal: symbol }).internal;
  const core = (Deno as unknown as Record<symbol, {
    core?: { resources?: () => Record<string, string> };
  }>)[internal]?.core;
  assert.ok(
    typeof core?.resources === "function",
    "no way to list the runtime's resources on this Deno",
  );
  return core.resources();
}

export { fdCount } from "../_util.ts";
import { describeFds, fdCount } from "../_util.ts";

/** Resource and fd counts at one moment. */
export interface Baseline {
  resources: Record<string, string>;
  fds: number;
}

/** Takes a baseline to compare with later (`assertBaseline`). */
export function baseline(): Baseline {
  return { resources: resourceTable(), fds: fdCount() };
}

function describeDiff(
  before: Record<string, string>,
  after: Record<string, string>,
): string {
  const added = Object.entries(after).filter(([rid]) => !(rid in before));
  return added.map(([rid, name]) => `${rid}:${name}`).join(", ");
}

/**
 * Asserts the resource count and fd count are back to `base`. A closed
 * Deno resource whose last op is still being cancelled drops its fd a host
 * turn later, so this waits up to `turns` macrotask turns (no timers of any
 * length) for the counts to come back before failing. Fewer fds than at
 * the start pass: an fd an earlier test had closed late (counted in `base`)
 * was dropped meanwhile; what a case leaks only adds.
 */
export async function assertBaseline(
  base: Baseline,
  what: string,
  turns = 50,
): Promise<void> {
  for (let i = 0;; i++) {
    const now = baseline();
    const same = Object.keys(now.resources).length ===
        Object.keys(base.resources).length && now.fds <= base.fds;
    if (same) return;
    if (i >= turns) {
      assert.fail(
        `${what}: not back to baseline: resources ${
          Object.keys(base.resources).length
        } -> ${Object.keys(now.resources).length} (new: ${
          describeDiff(base.resources, now.resources) || "none"
        }), fds ${base.fds} -> ${now.fds} (open now: ${describeFds()})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** What a loop case gets. */
export interface LoopCase {
  loop: EventLoop;
  /** Contexts the loop's exception handler received. */
  errors: ExceptionContext[];
}

/**
 * Registers a test that runs `fn` as the main coroutine of a fresh
 * `EventLoop`, bounded by the guard (the loop is stopped if it fires). The
 * loop is closed afterwards; resource and fd counts must be back to what
 * they were before the loop was made; the exception handler must have seen
 * nothing unless `allowErrors`.
 */
export function loopTest(
  title: string,
  fn: (c: LoopCase) => Promise<void>,
  options: { allowErrors?: boolean; seconds?: number } = {},
): void {
  Deno.test(title, async () => {
    const base = baseline();
    const loop = new EventLoop();
    const errors: ExceptionContext[] = [];
    loop.setExceptionHandler((_loop, context) => errors.push(context));
    try {
      await bounded(
        title,
        loop.runUntilComplete(() => fn({ loop, errors })),
        options.seconds ?? GUARD_SECONDS,
        () => loop.stop(),
      );
    } finally {
      if (!loop.isRunning() && !loop.isClosed()) loop.close();
    }
    if (!options.allowErrors) {
      assert.deepEqual(
        errors.map((e) => e.message),
        [],
        "unexpected calls of the loop's exception handler",
      );
    }
    await assertBaseline(base, title);
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function refusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * A raw listener whose accept queue is full, so one more connect to it
 * hangs (its SYN is dropped) instead of being refused: `Deno.listen`'s
 * backlog is fixed, so the queue is filled with raw connections that are
 * never accepted. `close()` releases everything.
 */
export async function fullListener(
  hostname = "127.0.0.1",
  port = 0,
): Promise<{ port: number; close(): void }> {
  const listener = Deno.listen({ hostname, port });
  const fillers: Deno.Conn[] = [];
  const close = () => {
    for (const conn of fillers) conn.close();
    listener.close();
  };
  try {
    for (let i = 0; i < 4096; i++) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 200);
      try {
        fillers.push(
          await Deno.connect({
            hostname,
            port: listener.addr.port,
            signal: abort.signal,
          } as Deno.ConnectOptions),
        );
      } catch (error) {
        if (abort.signal.aborted) {
          return { port: listener.addr.port, close };
        }
        throw error;
      } finally {
        clearTimeout(timer);
      }
    }
  } catch (error) {
    close();
    throw error;
  }
  close();
  throw new Error("could not fill the listener's accept queue");
}

/** A protocol that records its callbacks and settles futures on them. */
export class Recorder extends Protocol {
  events: string[] = [];
  chunks: Uint8Array[] = [];
  received = 0;
  transport: Transport | null = null;
  lostWith: Error | null | undefined = undefined;
  /** What `eofReceived()` returns. */
  keepOpenOnEof = false;
  readonly made: PromiseWithResolvers<void> = Promise.withResolvers();
  readonly lost: PromiseWithResolvers<Error | null> = Promise.withResolvers();
  keepData = true;
  #waiters: { done: () => boolean; resolve: () => void }[] = [];

  /** Resolves once `done()` holds after some callback (or holds now). */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ done, resolve });
    return promise;
  }

  #tick(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.done()) return true;
      w.resolve();
      return false;
    });
  }

  override connectionMade(transport: object): void {
    this.transport = transport as Transport;
    this.events.push("made");
    this.made.resolve();
    this.#tick();
  }
  override dataReceived(data: Uint8Array): void {
    if (this.events.at(-1) !== "data") this.events.push("data");
    this.received += data.length;
    if (this.keepData) this.chunks.push(data.slice());
    this.#tick();
  }
  override eofReceived(): boolean {
    this.events.push("eof");
    this.#tick();
    return this.keepOpenOnEof;
  }
  override pauseWriting(): void {
    this.events.push("pause");
    this.#tick();
  }
  override resumeWriting(): void {
    this.events.push("resume");
    this.#tick();
  }
  override connectionLost(exc: Error | null): void {
    this.events.push(exc === null ? "lost:null" : `lost:${exc.name}`);
    this.lostWith = exc;
    this.lost.resolve(exc);
    this.#tick();
  }
}

/**
 * Reads `conn` to its end: resolves with the byte count and how it ended
 * (`"eof"` when read returned null, `"reset"` on ConnectionReset).
 */
export async function drain(
  conn: Deno.Conn,
  keep = false,
): Promise<{ n: number; end: "eof" | "reset"; data: Uint8Array }> {
  const buf = new Uint8Array(1 << 16);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    let got: number | null;
    try {
      got = await conn.read(buf);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) {
        return { n, end: "reset", data: concat(chunks) };
      }
      throw error;
    }
    if (got === null) return { n, end: "eof", data: concat(chunks) };
    n += got;
    if (keep) chunks.push(buf.slice(0, got));
  }
}

/** All of `chunks`, joined. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** `n` bytes of the repeating pattern 0..250 (offsets are checkable). */
export function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 251;
  return out;
}

/** Asserts two byte arrays are equal, naming the first differing offset. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array) {
  const length = Math.min(actual.length, expected.length);
  for (let i = 0; i < length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`bytes differ first at offset ${i}`);
    }
  }
  assert.equal(actual.length, expected.length, "byte counts differ");
}

/** What a child program did. */
export interface ChildResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tests/reliability/_cases/<name>` as a child Deno program and waits
 * for it to exit. If it is still running after `seconds`, it is killed and
 * the promise rejects with a message that includes what it printed. It runs
 * with `-A` unless `flags` says otherwise. When `signalOn` is given, `signal` is sent once the child prints that line.
 */
export async function runChild(
  name: string,
  options: {
    args?: string[];
    /** `deno run` permission flags (default `-A`). */
    flags?: string[];
    /** More environment variables for the child. */
    env?: Record<string, string>;
    seconds?: number;
    signalOn?: { line: string; signal: Deno.Signal };
    onLine?: (line: string) => void;
  } = {},
): Promise<ChildResult> {
  const script = new URL(`./_cases/${name}`, import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.flags ?? ["-A"]),
      script,
      ...(options.args ?? []),
    ],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  let signalled = false;
  const outReader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const errReader = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  const readOut = (async () => {
    for (;;) {
      const { value, done } = await outReader.read();
      if (done) return;
      const before = stdout.split("\n").length - 1;
      stdout += value;
      const lines = stdout.split("\n").slice(0, -1);
      for (const line of lines.slice(before)) options.onLine?.(line);
      if (
        options.signalOn && !signalled &&
        lines.includes(options.signalOn.line)
      ) {
        signalled = true;
        child.kill(options.signalOn.signal);
      }
    }
  })();
  const readErr = (async () => {
    for (;;) {
      const { value, done } = await errReader.read();
      if (done) return;
      stderr += value;
    }
  })();
  // A grandchild that inherited the child's stdout or stderr keeps the
  // pipe open after the child exits: stop reading then instead of waiting.
  const finishOutput = async () => {
    try {
      await bounded("the child's output", Promise.all([readOut, readErr]), 2);
    } catch {
      await Promise.allSettled([outReader.cancel(), errReader.cancel()]);
      await Promise.allSettled([readOut, readErr]);
      stderr += "\n(output pipe still held open after exit)\n";
    }
  };
  const seconds = options.seconds ?? GUARD_SECONDS;
  try {
    const status = await bounded(
      `child ${name}`,
      child.status,
      seconds,
      () => child.kill("SIGKILL"),
    );
    await finishOutput();
    return { code: status.code, signal: status.signal, stdout, stderr };
  } catch (error) {
    await child.status;
    await finishOutput();
    throw new Error(
      `${
        (error as Error).message
      }; it was killed.\n--- stdout:\n${stdout}--- stderr:\n${stderr}`,
    );
  }
}

/** Kills a leftover `sleep` grandchild a child program reported (`pid N`). */
export function killLeftover(stdout: string): void {
  for (const match of stdout.matchAll(/^pid (\d+)$/gm)) {
    const pid = Number(match[1]);
    // Deno refuses /proc/<pid> without --allow-all: python3 reads it.
    const { stdout: out } = new Deno.Command("python3", {
      args: [
        "-c",
        "import sys\ntry: print(open('/proc/%s/cmdline' % sys.argv[1]).read())\nexcept OSError: pass",
        String(pid),
      ],
    }).outputSync();
    if (!new TextDecoder().decode(out).startsWith("sleep")) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
}

/** Asserts the child exited with status 0 and printed `lines` in order. */
export function assertCleanExit(
  result: ChildResult,
  lines: (string | RegExp)[],
): void {
  const out = result.stdout.split("\n").filter((l) => l !== "");
  assert.equal(
    result.code,
    0,
    `child exited with ${result.code}; stderr:\n${result.stderr}`,
  );
  assert.equal(out.length, lines.length, `stdout:\n${result.stdout}`);
  lines.forEach((line, i) => {
    if (typeof line === "string") assert.equal(out[i], line);
    else assert.match(out[i], line);
  });
}

/**
 * A program started by a test that keeps running while the test talks to
 * it: a case of `_cases/` (`spawnCase`) or a real client or server
 * (`spawnTool`: python3, wrk, openssl). Its stdout is read line by line as
 * it comes; `line()` waits for a line, `exit()` for its end, each bounded
 * by a guard that kills it and fails with what it printed.
 */
export class Spawned implements AsyncDisposable {
  readonly what: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly #output: Promise<void>;
  #stdout = "";
  #stderr = "";
  #ended = false;
  #waiters = new Set<() => void>();
  #result: Promise<ChildResult> | null = null;

  constructor(
    what: string,
    command: string,
    args: string[],
    options: { stdin?: boolean; env?: Record<string, string> } = {},
  ) {
    this.what = what;
    this.#child = new Deno.Command(command, {
      args,
      env: { NO_COLOR: "1", ...options.env },
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = options.stdin ? this.#child.stdin.getWriter() : null;
    const pump = async (
      stream: ReadableStream<Uint8Array>,
      add: (text: string) => void,
    ) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        add(text);
      }
    };
    this.#output = Promise.all([
      pump(this.#child.stdout, (text) => {
        this.#stdout += text;
        for (const wake of this.#waiters) wake();
      }),
      pump(this.#child.stderr, (text) => this.#stderr += text),
    ]).then(() => {
      this.#ended = true;
      for (const wake of this.#waiters) wake();
    });
  }

  /** The child's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** What it printed so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** What it printed to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    return this.#stdout.split("\n").slice(0, -1);
  }

  /**
   * Waits for a complete stdout line matching `match`; resolves with the
   * match. Fails if the output ends first, or at the guard.
   */
  async line(
    match: RegExp,
    seconds = GUARD_SECONDS,
  ): Promise<RegExpMatchArray> {
    const find = () => {
      for (const line of this.lines()) {
        const found = line.match(match);
        if (found) return found;
      }
      return null;
    };
    let wake = () => {};
    const found = new Promise<RegExpMatchArray>((resolve, reject) => {
      wake = () => {
        const hit = find();
        if (hit) resolve(hit);
        else if (this.#ended) {
          reject(
            new Error(
              `${this.what} ended its output before a line matching ${match}\n${this.#report()}`,
            ),
          );
        }
      };
    });
    this.#waiters.add(wake);
    wake();
    try {
      return await bounded(
        `${this.what}: a line matching ${match}`,
        found,
        seconds,
      ).catch((error) => {
        throw new Error(`${(error as Error).message}\n${this.#report()}`);
      });
    } finally {
      this.#waiters.delete(wake);
    }
  }

  /** Writes `text` to its stdin. */
  async write(text: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(text));
  }

  /** Closes its stdin (the cases take that as "stop"). */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /** Sends it `signal`. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    this.#child.kill(signal);
  }

  /**
   * Closes its stdin and waits for it to exit and its output to end. If it
   * has not exited after `seconds`, it is killed and this fails, quoting
   * what it printed.
   */
  exit(seconds = GUARD_SECONDS): Promise<ChildResult> {
    this.#result ??= (async () => {
      await this.closeStdin();
      let status: Deno.CommandStatus;
      try {
        status = await bounded(
          `${this.what}'s exit`,
          this.#child.status,
          seconds,
          () => this.#child.kill("SIGKILL"),
        );
      } catch (error) {
        await this.#child.status;
        await this.#output;
        throw new Error(
          `${(error as Error).message}; it was killed.\n${this.#report()}`,
        );
      }
      await bounded(`${this.what}'s output`, this.#output);
      return {
        code: status.code,
        signal: status.signal,
        stdout: this.#stdout,
        stderr: this.#stderr,
      };
    })();
    return this.#result;
  }

  /**
   * Kills it (`SIGKILL`) unless `exit()` was called, and waits for it to
   * end: `await using` keeps a failed test from leaving it running.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#result === null) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It had exited.
      }
    }
    await this.exit().catch(() => {});
  }

  #report(): string {
    return `--- stdout of ${this.what}:\n${this.#stdout}--- stderr:\n${this.#stderr}`;
  }
}

/** Starts `tests/reliability/_cases/<name>` with `-A` (see `Spawned`). */
export function spawnCase(
  name: string,
  args: string[] = [],
  options: { stdin?: boolean; env?: Record<string, string> } = {},
): Spawned {
  const script = new URL(`./_cases/${name}`, import.meta.url).pathname;
  return new Spawned(
    name,
    Deno.execPath(),
    ["run", "-A", script, ...args],
    options,
  );
}

/**
 * Where `tool` is on the PATH; fails naming it (and the Debian package
 * that has it) when it is not installed.
 */
export function requireTool(tool: string, debianPackage = tool): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir || "."}/${tool}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this folder.
    }
  }
  assert.fail(
    `this probe needs \`${tool}\`, which is not installed: apt-get install -y ${debianPackage} (.ci/run installs it where it can)`,
  );
}
