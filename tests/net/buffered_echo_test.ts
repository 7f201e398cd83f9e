/**
 * A `BufferedProtocol` echo allocates nothing per message in the steady
 * state: a write of the protocol's own buffer is copied into a slab the
 * transport owns and recycles once the write completes, and the heap stays
 * flat over many round trips.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  BufferedProtocol,
  type InetAddress,
  newEventLoop,
  type Server,
  type Transport,
} from "../../mod.ts";

const MESSAGE = 1024;

class BufferedEcho extends BufferedProtocol {
  transport!: Transport;
  readonly buf = new Uint8Array(64 * 1024);
  override connectionMade(transport: Transport): void {
    this.transport = transport;
  }
  override getBuffer(): Uint8Array {
    return this.buf;
  }
  override bufferUpdated(nbytes: number): void {
    this.transport.write(this.buf.subarray(0, nbytes));
  }
}

/** Sends `count` messages one at a time and checks each echo. */
async function roundTrips(
  conn: Deno.Conn,
  count: number,
  out: Uint8Array,
  back: Uint8Array,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    out[0] = i & 0xff;
    await conn.write(out);
    let got = 0;
    while (got < out.length) {
      const n = await conn.read(back.subarray(got));
      assert.ok(n !== null, "the server closed early");
      got += n;
    }
    assert.equal(back[0], i & 0xff);
    assert.equal(back[MESSAGE - 1], out[MESSAGE - 1]);
  }
}

/**
 * Counts the byte arrays made while `body` runs: `new Uint8Array(...)` and
 * `slice()` (a copy) of any byte array.
 */
async function countingByteArrays(body: () => Promise<void>): Promise<number> {
  const Original = globalThis.Uint8Array;
  const originalSlice = Original.prototype.slice;
  let made = 0;
  globalThis.Uint8Array = new Proxy(Original, {
    construct(target, args, newTarget) {
      made++;
      return Reflect.construct(target, args, newTarget);
    },
  });
  Original.prototype.slice = function (
    this: Uint8Array,
    ...args: [number?, number?]
  ) {
    made++;
    return originalSlice.apply(this, args);
  } as typeof originalSlice;
  try {
    await body();
  } finally {
    globalThis.Uint8Array = Original;
    Original.prototype.slice = originalSlice;
  }
  return made;
}

/**
 * Runs `body` with a loop serving `BufferedEcho` on 127.0.0.1 and a client
 * connection to it; closes all three afterwards.
 */
async function withEchoServer(
  body: (loop: AbstractEventLoop, conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  const loop = newEventLoop();
  let server: Server<InetAddress> | null = null;
  let conn: Deno.Conn | null = null;
  try {
    server = await loop.runUntilComplete(() =>
      loop.createServer(() => new BufferedEcho(), "127.0.0.1", 0)
    );
    const [, port] = server.sockets[0].getsockname();
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await body(loop, conn);
  } finally {
    conn?.close();
    if (server !== null) {
      server.close();
      await loop.runUntilComplete(() => server!.waitClosed());
    }
    loop.close();
  }
}

Deno.test("BufferedProtocol echo: writes of the protocol's buffer reuse the transport's copy slabs", async () => {
  await withEchoServer(async (loop, c) => {
    const out = new Uint8Array(MESSAGE).fill(7);
    const back = new Uint8Array(MESSAGE);
    await loop.runUntilComplete(() => roundTrips(c, 50, out, back)); // warm up
    const made = await countingByteArrays(() =>
      loop.runUntilComplete(() => roundTrips(c, 1000, out, back))
    );
    // One copy per message would be 1000; the slabs are reused instead.
    assert.ok(made < 20, `${made} byte arrays made over 1000 round trips`);
  });
});

Deno.test("BufferedProtocol echo: the heap stays flat over many round trips", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run the tests with --v8-flags=--expose-gc");
  await withEchoServer(async (loop, c) => {
    const out = new Uint8Array(MESSAGE).fill(3);
    const back = new Uint8Array(MESSAGE);
    await loop.runUntilComplete(() => roundTrips(c, 500, out, back));
    gc();
    const before = Deno.memoryUsage().heapUsed;
    await loop.runUntilComplete(() => roundTrips(c, 5000, out, back));
    gc();
    const grown = Deno.memoryUsage().heapUsed - before;
    // 5000 round trips of 1 KiB: a leak of even one message per trip
    // would be megabytes.
    assert.ok(grown < 512 * 1024, `the heap grew by ${grown} bytes`);
  });
});

Deno.test("BufferedProtocol echo: messages of changing sizes come back byte for byte", async () => {
  await withEchoServer(async (loop, c) => {
    // Lengths that repeat and change (the copies reuse views by length).
    const sizes = [1, 1, 700, 700, 3, 3000, 700, 1, 65536, 2, 2];
    await loop.runUntilComplete(async () => {
      for (let round = 0; round < 3; round++) {
        for (const [i, size] of sizes.entries()) {
          const out = new Uint8Array(size);
          for (let j = 0; j < size; j++) out[j] = (j * 31 + i + round) & 0xff;
          await c.write(out);
          const back = new Uint8Array(size);
          let got = 0;
          while (got < size) {
            const n = await c.read(back.subarray(got));
            assert.ok(n !== null, "the server closed early");
            got += n;
          }
          assert.deepEqual(back, out, `message ${i} of ${size} bytes`);
        }
      }
    });
  });
});
