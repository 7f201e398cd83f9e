/**
 * Helpers shared by the networking tests: a test runner on the real
 * `EventLoop` with strict teardown, a watchdog, and small byte helpers.
 */
import assert from "node:assert/strict";
import {
  type BaseProtocol,
  BufferedProtocol,
  EventLoop,
  type ExceptionContext,
  type Future,
  Protocol,
  type Server,
  type Transport,
} from "../../mod.ts";
import { type LoopFixture, loopTest } from "../_util.ts";

/** What a network test gets: the loop, and the exception handler's record. */
export interface NetFixture {
  loop: EventLoop;
  /** Every context the loop's exception handler received, in order. */
  errors: ExceptionContext[];
  /** Returns the recorded contexts and forgets them. */
  takeErrors(): ExceptionContext[];
}

/**
 * Registers a test that runs `fn` as a coroutine on a fresh real
 * `EventLoop` (network I/O is real, so the virtual clock loop is not used).
 * The loop is closed afterwards, and the test fails if the exception
 * handler saw anything the test did not take. A watchdog (`seconds`) stops
 * the loop so a hang fails the test instead of blocking the run.
 */
export function netTest(
  title: string,
  fn: (fx: NetFixture) => Promise<void>,
  options: { seconds?: number; ignore?: boolean } = {},
): void {
  Deno.test({
    name: title,
    ignore: options.ignore ?? false,
    fn: async () => {
      const loop = new EventLoop();
      const errors: ExceptionContext[] = [];
      loop.setExceptionHandler((_loop, context) => errors.push(context));
      const fx: NetFixture = {
        loop,
        errors,
        takeErrors: () => errors.splice(0),
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        loop.stop();
      }, (options.seconds ?? 20) * 1000);
      try {
        await loop.runUntilComplete(() => fn(fx));
      } catch (error) {
        if (timedOut) throw new Error(`watchdog: ${title} hung`);
        throw error;
      } finally {
        clearTimeout(timer);
        if (!loop.isClosed() && !loop.isRunning()) loop.close();
      }
      assert.deepEqual(
        errors.map((context) => context.message),
        [],
        "unexpected calls of the loop's exception handler",
      );
    },
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** `data` decoded as UTF-8. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** All of `chunks`, joined. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Asserts two byte arrays are equal, naming the first differing offset
 * (a plain deep comparison of megabytes renders an unreadable diff).
 */
export function assertSameBytes(
  actual: Uint8Array,
  expected: Uint8Array,
): void {
  const length = Math.min(actual.length, expected.length);
  let at = -1;
  for (let i = 0; i < length; i++) {
    if (actual[i] !== expected[i]) {
      at = i;
      break;
    }
  }
  assert.equal(at, -1, `bytes differ first at offset ${at}`);
  assert.equal(actual.length, expected.length, "lengths differ");
}

/** `n` bytes of the repeating pattern 0..250 (so offsets are checkable). */
export function pattern(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 251;
  return out;
}

/** Echoes what it receives (the bytes `dataReceived` gets are its own). */
export class Echo extends Protocol {
  transport: Transport | null = null;
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override dataReceived(data: Uint8Array): void {
    this.transport!.write(data);
  }
}

/** A BufferedProtocol that records its buffers' hints, counts and bytes. */
export class BufferedCollector extends BufferedProtocol {
  transport: Transport | null = null;
  readonly buf: Uint8Array;
  hints: number[] = [];
  counts: number[] = [];
  chunks: Uint8Array[] = [];
  events: string[] = [];
  lostWith: Error | null | undefined = undefined;
  keepOpenOnEof = false;
  readonly made: Future<null>;
  readonly eof: Future<null>;
  readonly lost: Future<null>;
  /** Called after recording `bufferUpdated`. */
  onUpdate: ((nbytes: number) => void) | null = null;
  #waiters: [number, Future<null>][] = [];
  #loop: EventLoop;

  constructor(loop: EventLoop, size = 100) {
    super();
    this.#loop = loop;
    this.buf = new Uint8Array(size);
    this.made = loop.createFuture<null>();
    this.eof = loop.createFuture<null>();
    this.lost = loop.createFuture<null>();
  }

  override connectionMade(transport: Transport): void {
    this.events.push("made");
    this.transport = transport;
    this.made.setResult(null);
  }

  override getBuffer(sizehint: number): Uint8Array {
    this.hints.push(sizehint);
    return this.buf;
  }

  override bufferUpdated(nbytes: number): void {
    if (this.events.at(-1) !== "updated") this.events.push("updated");
    this.counts.push(nbytes);
    this.chunks.push(this.buf.slice(0, nbytes));
    this.onUpdate?.(nbytes);
    this.#wake();
  }

  override eofReceived(): boolean {
    this.events.push("eof");
    this.eof.setResult(null);
    return this.keepOpenOnEof;
  }

  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
    this.#wake();
  }

  get nbytes(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  received(): Uint8Array {
    return concat(this.chunks);
  }

  /** Resolves once `n` bytes have arrived (or the connection is lost). */
  until(n: number): Future<null> {
    const fut = this.#loop.createFuture<null>();
    this.#waiters.push([n, fut]);
    this.#wake();
    return fut;
  }

  #wake(): void {
    for (const [n, fut] of this.#waiters) {
      if (!fut.done() && (this.nbytes >= n || this.lost.done())) {
        fut.setResult(null);
      }
    }
  }
}

/**
 * A stream protocol that records every callback in `events`, keeps what it
 * received, and completes futures at the milestones.
 */
export class Recorder extends Protocol {
  transport: Transport | null = null;
  events: string[] = [];
  chunks: Uint8Array[] = [];
  lostWith: Error | null | undefined = undefined;
  readonly made: Future<null>;
  readonly eof: Future<null>;
  readonly lost: Future<null>;
  /** What `eofReceived` returns. */
  keepOpenOnEof = false;
  /** Called after recording `dataReceived`. */
  onData: ((data: Uint8Array) => void) | null = null;

  constructor(loop: EventLoop) {
    super();
    this.made = loop.createFuture<null>();
    this.eof = loop.createFuture<null>();
    this.lost = loop.createFuture<null>();
  }

  override connectionMade(transport: Transport): void {
    this.events.push("made");
    this.transport = transport;
    this.made.setResult(null);
  }

  override dataReceived(data: Uint8Array): void {
    if (this.events.at(-1) !== "data") this.events.push("data");
    this.chunks.push(data);
    this.onData?.(data);
  }

  override eofReceived(): boolean {
    this.events.push("eof");
    this.eof.setResult(null);
    return this.keepOpenOnEof;
  }

  override connectionLost(exc: Error | null): void {
    this.events.push("lost");
    this.lostWith = exc;
    this.lost.setResult(null);
  }

  override pauseWriting(): void {
    this.events.push("pause");
  }

  override resumeWriting(): void {
    this.events.push("resume");
  }

  /** Everything received so far. */
  received(): Uint8Array {
    return concat(this.chunks);
  }

  /** Number of bytes received so far. */
  get nbytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

/**
 * Registers `fn` on both loops through `loopTest` (strict teardown), run as
 * a coroutine on the loop. For tests that need no network (socketpair).
 */
export function pairTest(
  title: string,
  fn: (fx: LoopFixture, loop: EventLoop) => Promise<void> | void,
): void {
  loopTest(title, async (fx) => {
    const loop = fx.loop as EventLoop;
    await loop.runUntilComplete(async () => await fn(fx, loop));
  });
}

/**
 * Waits until `r` has received at least `n` bytes, or lost its connection
 * (the caller's assertions then tell which).
 */
export async function receivedAtLeast(
  loop: EventLoop,
  r: Recorder,
  n: number,
): Promise<void> {
  if (r.nbytes >= n) return;
  const fut = loop.createFuture<null>();
  const previous = r.onData;
  r.onData = (data) => {
    previous?.(data);
    if (r.nbytes >= n && !fut.done()) fut.setResult(null);
  };
  r.lost.addDoneCallback(() => {
    if (!fut.done()) fut.setResult(null);
  });
  await fut;
  r.onData = previous;
}

/** The `[host, port]` a TCP server listens on. */
export function addrOf(server: Server): [string, number] {
  return server.sockets[0].getsockname() as [string, number];
}

/**
 * A server of `Recorder`s on 127.0.0.1 and one client connection to it made
 * with `client`; `pausePeer` makes the server side stop reading in its
 * `connectionMade`. Disposing aborts both ends and closes the server.
 */
export async function connectPair<
  C extends BaseProtocol & { lost: Future<null> },
>(
  loop: EventLoop,
  client: C,
  options: { pausePeer?: boolean } = {},
): Promise<{
  server: Server;
  transport: Transport;
  client: C;
  peer: Recorder;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const first = loop.createFuture<Recorder>();
  const server = await loop.createServer(
    () => {
      const r = new Recorder(loop);
      if (options.pausePeer) {
        const made = r.connectionMade.bind(r);
        r.connectionMade = (t: Transport) => {
          made(t);
          t.pauseReading();
        };
      }
      if (!first.done()) first.setResult(r);
      return r;
    },
    "127.0.0.1",
    0,
  );
  const [host, port] = addrOf(server);
  const [transport] = await loop.createConnection(() => client, host, port);
  const peer = await first;
  await peer.made;
  return {
    server,
    transport,
    client,
    peer,
    async [Symbol.asyncDispose]() {
      transport.abort();
      // The protocol in place now (setProtocol may have replaced the client).
      const current = transport.getProtocol() as { lost?: Future<null> };
      await (current.lost ?? client.lost);
      peer.transport?.abort();
      await peer.lost;
      server.close();
      await server.waitClosed();
    },
  };
}
