/**
 * Helpers shared by the pipe, subprocess and stream tests: a test runner
 * on both loops with a watchdog, and a subprocess protocol that records
 * every callback.
 */
import {
  type EventLoop,
  type Future,
  SubprocessProtocol,
  type SubprocessTransport,
} from "../../mod.ts";
import { type LoopFixture, loopTest } from "../_util.ts";

export { assertSameBytes, bytes, concat, pattern, text } from "../net/_net.ts";

/**
 * Registers `fn` on both loops (the real one and the virtual-clock one) as
 * a coroutine, with strict teardown (see `loopTest`). A watchdog stops the
 * loop so a hang fails the test instead of blocking the run.
 */
export function procTest(
  title: string,
  fn: (loop: EventLoop, fx: LoopFixture) => Promise<void>,
  options: { seconds?: number } = {},
): void {
  loopTest(title, async (fx) => {
    const loop = fx.loop as EventLoop;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      loop.stop();
    }, (options.seconds ?? 15) * 1000);
    try {
      await loop.runUntilComplete(() => fn(loop, fx));
    } catch (error) {
      if (timedOut) throw new Error(`watchdog: ${title} hung`);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  });
}

/** A subprocess protocol that records its callbacks in order. */
export class ProcRecorder extends SubprocessProtocol {
  transport: SubprocessTransport | null = null;
  events: string[] = [];
  data: Record<number, Uint8Array[]> = { 1: [], 2: [] };
  pipeErrors: Record<number, Error | null> = {};
  readonly exited: Future<null>;
  readonly lost: Future<null>;
  /** Called after recording pipeDataReceived. */
  onData: ((fd: number, data: Uint8Array) => void) | null = null;

  constructor(loop: EventLoop) {
    super();
    this.exited = loop.createFuture<null>();
    this.lost = loop.createFuture<null>();
  }

  override connectionMade(transport: SubprocessTransport): void {
    this.events.push("made");
    this.transport = transport;
  }

  override pipeDataReceived(fd: number, data: Uint8Array): void {
    if (this.events.at(-1) !== `data${fd}`) this.events.push(`data${fd}`);
    this.data[fd].push(data);
    this.onData?.(fd, data);
  }

  override pipeConnectionLost(fd: number, exc: Error | null): void {
    this.events.push(`pipeLost${fd}`);
    this.pipeErrors[fd] = exc;
  }

  override processExited(): void {
    this.events.push("exited");
    this.exited.setResult(null);
  }

  override connectionLost(exc: Error | null): void {
    this.events.push(exc === null ? "lost" : `lost:${exc}`);
    this.lost.setResult(null);
  }

  /** Bytes received on `fd`, decoded. */
  textOf(fd: number): string {
    return new TextDecoder().decode(concatAll(this.data[fd]));
  }

  /** Number of bytes received on `fd`. */
  nbytes(fd: number): number {
    return this.data[fd].reduce((n, c) => n + c.length, 0);
  }
}

function concatAll(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Runs a python3 script that looks at `/proc` (Deno refuses `/proc/<pid>`
 * without `--allow-all`) and returns what it printed; a failed run throws.
 */
function procQuery(script: string, arg: string): string {
  const { code, stdout, stderr } = new Deno.Command("python3", {
    args: ["-c", script, arg],
  }).outputSync();
  const decoder = new TextDecoder();
  if (code !== 0) {
    throw new Error(`/proc query failed (${code}): ${decoder.decode(stderr)}`);
  }
  return decoder.decode(stdout).trim();
}

/**
 * The state letter of a process (`"S"`, `"R"`, `"Z"` for a zombie, ...),
 * or null when there is none.
 */
export function processState(pid: number): string | null {
  const state = procQuery(
    `import sys
try:
    print(open("/proc/%s/stat" % sys.argv[1]).read().rsplit(")", 1)[1].split()[0])
except FileNotFoundError:
    pass`,
    String(pid),
  );
  return state === "" ? null : state;
}

/** Whether a process with this pid still exists (a zombie included). */
export function processExists(pid: number): boolean {
  return processState(pid) !== null;
}

/** Pids of the processes (but the query's own) whose arguments hold `marker`. */
export function pidsWithArg(marker: string): number[] {
  const out = procQuery(
    `import os, sys
for name in os.listdir("/proc"):
    if not name.isdigit() or int(name) == os.getpid():
        continue
    try:
        args = open("/proc/%s/cmdline" % name, "rb").read().replace(b"\\0", b" ")
    except OSError:
        continue
    if sys.argv[1].encode() in args:
        print(name)`,
    marker,
  );
  return out === "" ? [] : out.split("\n").map(Number);
}

/** A python3 one-liner as argv. */
export function py(code: string): [string, string, string] {
  return ["python3", "-c", code];
}
