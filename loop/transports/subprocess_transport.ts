/**
 * The subprocess transport over a `Deno.ChildProcess`: what
 * `subprocessExec` / `subprocessShell` hand to a `SubprocessProtocol`.
 * Mirrors asyncio's `BaseSubprocessTransport` (`base_subprocess.py`) and its
 * Unix subclass.
 *
 * The child's PIPE streams become pipe transports whose protocols forward
 * to the subprocess protocol as `pipeDataReceived(fd, data)` and
 * `pipeConnectionLost(fd, exc)`. The order is asyncio's: nothing reaches
 * the protocol before `connectionMade` (calls are held until every pipe is
 * connected); `processExited()` after the exit; `connectionLost(null)` only
 * once the child has exited and every pipe is closed. The child's exit is
 * in-flight work for the dispatcher (the virtual clock never jumps past a
 * running child); pipe reads wait on a peer.
 *
 * @module
 */
import type { TransportLoop } from "./transport_loop.ts";
import type { Registration } from "../core/dispatcher.ts";
import type { ProtocolFactory } from "../../protocols/protocol.ts";
import type { Future } from "../core/futures.ts";
import { logger } from "../base/log.ts";
import { returnCode, spawnChild, type SpawnSpec } from "../process/process.ts";
import { signalName } from "../process/signals.ts";
import type {
  BaseProtocol,
  SubprocessProtocol,
} from "../../protocols/protocol.ts";
import { ReadPipeTransport, WritePipeTransport } from "./pipe_transport.ts";
import {
  type BaseTransport,
  connectionMade,
  protocolCall,
  SubprocessTransport,
} from "../../transports/transport.ts";

// deno-lint-ignore no-explicit-any
type Callback = (...args: any[]) => unknown;

/** The protocol of one of the child's pipes: forwards to the transport. */
class PipeProtocol {
  pipe: ReadPipeTransport | WritePipeTransport | null = null;
  disconnected = false;
  constructor(readonly owner: ChildProcessTransport, readonly fd: number) {}
  connectionMade(): void {}
  connectionLost(exc: Error | null): void {
    this.disconnected = true;
    this.owner._pipeConnectionLost(this.fd, exc);
  }
  dataReceived(data: Uint8Array): void {
    this.owner._pipeDataReceived(this.fd, data);
  }
  eofReceived(): void {}
  pauseWriting(): void {
    this.owner.getProtocol().pauseWriting();
  }
  resumeWriting(): void {
    this.owner.getProtocol().resumeWriting();
  }
}

/**
 * A `SubprocessTransport` over a `Deno.ChildProcess`. Created by
 * `loop.subprocessExec()` / `loop.subprocessShell()`.
 *
 * `getExtraInfo("subprocess")` is the `Deno.ChildProcess`. Signals are
 * names (`"SIGTERM"`) or Linux numbers (15); a child ended by a signal has
 * the negative signal number as its return code.
 *
 * @example Run a command and collect its output
 * ```ts
 * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const loop = newEventLoop();
 * const out = await loop.runUntilComplete(async () => {
 *   const done = loop.createFuture<string>();
 *   let text = "";
 *   class Collect extends SubprocessProtocol {
 *     override pipeDataReceived(_fd: number, data: Uint8Array) {
 *       text += new TextDecoder().decode(data);
 *     }
 *     override connectionLost() { done.setResult(text); }
 *   }
 *   const [transport] = await loop.subprocessExec(() => new Collect(), "echo", "hi");
 *   const result = await done;
 *   assert.equal(transport.getReturncode(), 0);
 *   transport.close();
 *   return result;
 * });
 * assert.equal(out, "hi\n");
 * loop.close();
 * ```
 */
export class ChildProcessTransport extends SubprocessTransport {
  #loop: TransportLoop;
  #protocol: BaseProtocol;
  #child: Deno.ChildProcess | null;
  #pid: number;
  #display: string;
  #returncode: number | null = null;
  /** Deno has the exit status; the loop may not have been told yet. */
  #exitSeen = false;
  #closed = false;
  #finished = false;
  #pipes = new Map<number, PipeProtocol>();
  #pending: [Callback, unknown[]][] | null = [];
  #exitWaiters: Future<number>[] = [];
  #registration: Registration;
  #pumps = 0;
  #stdinPump: AbortController | null = null;

  /**
   * Starts the child described by `spec`; `loop.subprocessExec()` is the
   * usual way to get one.
   *
   * @throws {Deno.errors.NotFound} when the program (or cwd) does not exist.
   */
  constructor(
    loop: TransportLoop,
    protocol: BaseProtocol,
    spec: SpawnSpec,
    waiter: Future<null> | null = null,
  ) {
    super({});
    this.#loop = loop;
    this.#protocol = protocol;
    this.#display = spec.display;
    const child = spawnChild(spec);
    // A running loop keeps the process alive; the child's exit status need
    // not, and must not once the loop is done with it.
    child.unref();
    this.#child = child;
    this.#pid = child.pid;
    this._extra.subprocess = child;
    if (loop.getDebug()) {
      logger.debug(
        `process ${JSON.stringify(spec.display)} created: pid ${child.pid}`,
      );
    }
    const registration = loop._dispatcher.register("subprocess");
    this.#registration = registration;
    // The loop closed with the transport open: as close() does (and as
    // asyncio's garbage-collected transport does), kill a child still
    // running.
    registration.onLoopClose = () => {
      this.#closed = true;
      this.#stdinPump?.abort();
      if (this.#returncode === null && !this.#exitSeen) {
        if (loop.getDebug()) {
          logger.warning(`The loop closed with ${this} running: kill it`);
        }
        try {
          child.kill("SIGKILL");
        } catch {
          // It has exited already.
        }
      }
    };
    // The exit completes on its own: it holds the virtual clock.
    registration.begin();
    child.status.then(
      (status) => {
        this.#exitSeen = true;
        registration.end();
        registration.post(this.#processExited, returnCode(status));
      },
      (error) => {
        this.#exitSeen = true;
        registration.end();
        registration.post(this.#processExited, -1, error);
      },
    );
    for (const fd of spec.pipes) {
      const proto = new PipeProtocol(this, fd);
      this.#pipes.set(fd, proto);
      proto.pipe = fd === 0
        ? new WritePipeTransport(loop, child.stdin, proto as never)
        : new ReadPipeTransport(
          loop,
          fd === 1 ? child.stdout : child.stderr,
          proto as never,
        );
    }
    if (spec.pumpIn !== null) this.#pumpIn(spec.pumpIn, child.stdin);
    if (spec.pumpOut !== null) this.#pumpOut(child.stdout, spec.pumpOut);
    if (spec.pumpErr !== null) this.#pumpOut(child.stderr, spec.pumpErr);
    // The pipes' connectionMade() calls are already queued: this runs after
    // them, as asyncio's _connect_pipes() finishes after connecting each.
    loop.callSoon(() => this.#connected(waiter));
  }

  #connected(waiter: Future<null> | null): void {
    const loop = this.#loop;
    loop.callSoon(
      protocolCall(
        this,
        "connectionMade",
        () => this.#protocol.connectionMade(this),
      ),
    );
    for (const [callback, args] of this.#pending!) {
      loop.callSoon(callback, ...args);
    }
    this.#pending = null;
    if (waiter !== null && !waiter.done()) waiter.setResult(null);
  }

  /** Copies a stream into the child's stdin (stdin was an existing pipe). */
  #pumpIn(
    source: ReadableStream<Uint8Array>,
    stdin: WritableStream<Uint8Array>,
  ): void {
    const abort = new AbortController();
    this.#stdinPump = abort;
    this.#track(
      source.pipeTo(stdin, { preventCancel: true, signal: abort.signal }),
    );
  }

  /** Copies the child's stdout/stderr into an existing pipe. */
  #pumpOut(
    output: ReadableStream<Uint8Array>,
    dest: WritableStream<Uint8Array>,
  ): void {
    // The destination belongs to the caller: never closed or aborted here.
    this.#track(
      output.pipeTo(dest, { preventClose: true, preventAbort: true }),
    );
  }

  #track(pump: Promise<void>): void {
    this.#pumps++;
    this.#registration.beginWait();
    pump.catch((error) => {
      if (this.#loop.getDebug()) logger.debug(`${this}: pump ended: ${error}`);
    }).then(() => {
      this.#registration.endWait();
      this.#registration.post(() => {
        this.#pumps--;
        this.#tryFinish();
      });
    });
  }

  readonly #processExited = (code: number, error?: unknown): void => {
    if (this.#returncode !== null) return;
    if (error !== undefined) {
      this.#loop.callExceptionHandler({
        message: "waiting for the child process failed",
        exception: error,
        transport: this,
        protocol: this.#protocol,
      });
    }
    if (this.#loop.getDebug()) {
      logger.debug(`${this} exited with return code ${code}`);
    }
    this.#returncode = code;
    // The child's end of its stdin is gone with it (asyncio sees the pipe's
    // read end close); a copy into it has nowhere to go.
    (this.#pipes.get(0)?.pipe as WritePipeTransport | undefined)
      ?._readerGone();
    this.#stdinPump?.abort();
    this.#call(
      protocolCall(
        this,
        "processExited",
        () => (this.#protocol as SubprocessProtocol).processExited?.(),
        () => [],
      ),
    );
    this.#tryFinish();
  };

  #call(callback: Callback, ...args: unknown[]): void {
    if (this.#pending !== null) this.#pending.push([callback, args]);
    else this.#loop.callSoon(callback, ...args);
  }

  /** @ignore A pipe transport delivered data. */
  _pipeDataReceived(fd: number, data: Uint8Array): void {
    this.#call(
      protocolCall(
        this,
        "pipeDataReceived",
        () => (this.#protocol as SubprocessProtocol).pipeDataReceived(fd, data),
        () => [fd, `<${data.length} bytes>`],
      ),
    );
  }

  /** @ignore A pipe transport was closed. */
  _pipeConnectionLost(fd: number, exc: Error | null): void {
    this.#call(
      protocolCall(
        this,
        "pipeConnectionLost",
        () =>
          (this.#protocol as SubprocessProtocol).pipeConnectionLost(fd, exc),
        () => [fd, exc],
      ),
    );
    this.#tryFinish();
  }

  #tryFinish(): void {
    if (this.#finished || this.#returncode === null || this.#pumps > 0) return;
    for (const proto of this.#pipes.values()) {
      if (!proto.disconnected) return;
    }
    this.#finished = true;
    this.#call(
      protocolCall(
        this,
        "connectionLost",
        () => this.#callConnectionLost(),
        () => [null],
      ),
    );
  }

  #callConnectionLost(): void {
    try {
      this.#protocol.connectionLost(null);
    } finally {
      for (const waiter of this.#exitWaiters) {
        if (!waiter.cancelled()) waiter.setResult(this.#returncode!);
      }
      this.#exitWaiters = [];
      this.#child = null;
      this.#registration.close();
    }
  }

  /**
   * @ignore The return code once the child has exited; if it has not,
   * waits until it has and every pipe is closed. Mirrors `_wait()`.
   */
  async _wait(): Promise<number> {
    if (this.#returncode !== null) return this.#returncode;
    const waiter = this.#loop.createFuture<number>();
    this.#exitWaiters.push(waiter);
    return await waiter;
  }

  /**
   * The child's process id. Mirrors `get_pid()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "Deno.exit(3)",
   *   );
   *   const child = transport.getExtraInfo("subprocess") as Deno.ChildProcess;
   *   assert.equal(transport.getPid(), child.pid);
   *   await done;
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getPid(): number {
    return this.#pid;
  }

  /**
   * The return code, or null while the child runs: its exit status, or the
   * negative signal number. Mirrors `get_returncode()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "Deno.exit(3)",
   *   );
   *   await done;
   *   assert.equal(transport.getReturncode(), 3);
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getReturncode(): number | null {
    return this.#returncode;
  }

  /**
   * The transport of pipe `fd` (0: a write pipe, 1 and 2: read pipes), or
   * null when that stream is not PIPE. Mirrors `get_pipe_transport()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol, type WriteTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const output = loop.createFuture<string>();
   * class Collect extends SubprocessProtocol {
   *   text = "";
   *   override pipeDataReceived(fd: number, data: Uint8Array) {
   *     if (fd === 1) this.text += new TextDecoder().decode(data);
   *   }
   *   override connectionLost() { output.setResult(this.text); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const cat = "await Deno.stdin.readable.pipeTo(Deno.stdout.writable)";
   *   const [transport] = await loop.subprocessExec(() => new Collect(), Deno.execPath(), "eval", cat);
   *   const stdin = transport.getPipeTransport(0) as WriteTransport;
   *   stdin.write(new TextEncoder().encode("hello"));
   *   stdin.close(); // the child's EOF
   *   assert.equal(await output, "hello");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getPipeTransport(fd: number): BaseTransport | null {
    return this.#pipes.get(fd)?.pipe ?? null;
  }

  #checkProc(): Deno.ChildProcess {
    if (this.#child === null) {
      // Python's ProcessLookupError: the transport is done with the child.
      throw new Deno.errors.NotFound(
        "process lookup failed: the child process has exited and its transport is finished",
      );
    }
    return this.#child;
  }

  /**
   * Sends a signal (a name such as `"SIGHUP"` or a Linux number) to the
   * child; a no-op once it has exited. Mirrors `send_signal()`.
   *
   * @throws {RangeError} for an unknown signal.
   * @throws {Deno.errors.NotFound} once the transport is finished (Python's
   *   `ProcessLookupError`).
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "setInterval(() => {}, 1000)",
   *   );
   *   transport.sendSignal("SIGTERM"); // or a number: sendSignal(15)
   *   await done;
   *   assert.equal(transport.getReturncode(), -15); // minus the signal number
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override sendSignal(signal: string | number): void {
    const name = signalName(signal) as Deno.Signal;
    const child = this.#checkProc();
    // As Popen.send_signal() after poll(): never signal a finished child.
    if (this.#returncode !== null || this.#exitSeen) return;
    try {
      child.kill(name);
    } catch (error) {
      // Exited, but the status has not reached the loop yet.
      if (!(error instanceof TypeError)) throw error;
    }
  }

  /**
   * Sends SIGTERM. Mirrors `terminate()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "setInterval(() => {}, 1000)",
   *   );
   *   transport.terminate();
   *   await done;
   *   assert.equal(transport.getReturncode(), -15); // ended by SIGTERM
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override terminate(): void {
    this.sendSignal("SIGTERM");
  }

  /**
   * Sends SIGKILL. Mirrors `kill()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "setInterval(() => {}, 1000)",
   *   );
   *   transport.kill();
   *   await done;
   *   assert.equal(transport.getReturncode(), -9); // ended by SIGKILL
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override kill(): void {
    this.sendSignal("SIGKILL");
  }

  /**
   * Closes the pipes and kills the child if it is still running (as
   * asyncio does). The protocol's `connectionLost` follows once the child
   * is gone. Mirrors `close()`; idempotent.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "setInterval(() => {}, 1000)",
   *   );
   *   transport.close(); // closes the pipes and kills the running child
   *   await done;
   *   assert.equal(transport.getReturncode(), -9);
   * });
   * loop.close();
   * ```
   */
  override close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const proto of this.#pipes.values()) proto.pipe?.close();
    this.#stdinPump?.abort();
    // A child Deno has seen exit is not killed, even before the loop is
    // told (asyncio's close() polls first).
    if (
      this.#child !== null && this.#returncode === null && !this.#exitSeen
    ) {
      if (this.#loop.getDebug()) {
        logger.warning(`Close running child process: kill ${this}`);
      }
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It has exited already.
      }
    }
  }

  /**
   * Whether `close()` was called. Mirrors `is_closing()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); } // exited, pipes closed
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "Deno.exit(3)",
   *   );
   *   assert.equal(transport.isClosing(), false);
   *   await done;
   *   assert.equal(transport.isClosing(), false); // exiting is not closing
   *   transport.close();
   *   assert.equal(transport.isClosing(), true);
   * });
   * loop.close();
   * ```
   */
  override isClosing(): boolean {
    return this.#closed;
  }

  /**
   * Switches the protocol. Mirrors `set_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol, type WriteTransport } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const output = loop.createFuture<string>();
   * class Collect extends SubprocessProtocol {
   *   text = "";
   *   override pipeDataReceived(_fd: number, data: Uint8Array) {
   *     this.text += new TextDecoder().decode(data);
   *   }
   *   override connectionLost() { output.setResult(this.text); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const cat = "await Deno.stdin.readable.pipeTo(Deno.stdout.writable)";
   *   const [transport] = await loop.subprocessExec(() => new SubprocessProtocol(), Deno.execPath(), "eval", cat);
   *   transport.setProtocol(new Collect()); // the child's output and end go there
   *   const stdin = transport.getPipeTransport(0) as WriteTransport;
   *   stdin.write(new TextEncoder().encode("hi"));
   *   stdin.close();
   *   assert.equal(await output, "hi");
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override setProtocol(protocol: BaseProtocol): void {
    this.#protocol = protocol;
  }

  /**
   * The current protocol. Mirrors `get_protocol()`.
   *
   * @example
   * ```ts
   * import { newEventLoop, SubprocessProtocol } from "@aio/loop";
   * import assert from "node:assert/strict";
   *
   * const loop = newEventLoop();
   * const done = loop.createFuture<null>();
   * class P extends SubprocessProtocol {
   *   override connectionLost() { done.setResult(null); }
   * }
   * await loop.runUntilComplete(async () => {
   *   const [transport, protocol] = await loop.subprocessExec(
   *     () => new P(), Deno.execPath(), "eval", "Deno.exit(0)",
   *   );
   *   assert.equal(transport.getProtocol(), protocol);
   *   await done;
   *   transport.close();
   * });
   * loop.close();
   * ```
   */
  override getProtocol(): BaseProtocol {
    return this.#protocol;
  }

  /** A description like `<ChildProcessTransport pid=42 returncode=0>`. */
  override toString(): string {
    const info = ["ChildProcessTransport"];
    if (this.#closed) info.push("closed");
    info.push(`pid=${this.#pid}`);
    info.push(
      this.#returncode !== null ? `returncode=${this.#returncode}` : "running",
    );
    for (const [fd, proto] of this.#pipes) {
      info.push(`${["stdin", "stdout", "stderr"][fd]}=${proto.pipe}`);
    }
    return `<${info.join(" ")}>`;
  }

  /** @ignore What was run, for messages. */
  get _display(): string {
    return this.#display;
  }
}

/**
 * `loop.subprocessExec()` / `subprocessShell()`'s work: starts the child,
 * connects its pipes and returns once `connectionMade` has been scheduled.
 * If that is interrupted (cancelled), the child is killed and reaped before
 * the error propagates.
 */
export async function startSubprocess<P extends BaseProtocol>(
  loop: TransportLoop,
  protocolFactory: ProtocolFactory<P>,
  spec: SpawnSpec,
): Promise<[ChildProcessTransport, P]> {
  const protocol = protocolFactory();
  const waiter = loop.createFuture<null>();
  const transport = new ChildProcessTransport(loop, protocol, spec, waiter);
  return await connectionMade(transport, protocol, waiter, async () => {
    transport.close();
    await transport._wait();
  });
}
