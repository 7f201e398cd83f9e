/**
 * The runtime's floor for the TCP echo benchmark (bench/echo_bench.ts): one
 * `read`/`write` loop per connection straight on `Deno.Conn`, no event loop
 * library in between.
 *
 *   deno run --allow-net bench/echo_servers/raw_deno.ts [owned|handoff|copied]
 *
 * With `owned`, each read's bytes are copied into a new array before they
 * are written back: the least an API must do that hands the reader bytes it
 * owns (asyncio's `data_received` gets a fresh `bytes` object, aioloop's
 * `dataReceived` a `Uint8Array` it may keep), while the one-buffer loop
 * above reuses its buffer at once.
 *
 * With `handoff`, each connection has the shape of a streams server with
 * nothing else in it: a read loop copies each read into a new array and
 * hands it, through a promise, to a second coroutine that writes it back and
 * awaits the write (a reader's data wakes a waiting task, which writes and
 * drains). The least a streams API costs on this runtime.
 *
 * With `copied`, each read is copied into a second buffer of the
 * connection's, reused, and written back from there: the least a
 * `BufferedProtocol` transport costs on this runtime, whose write of the
 * protocol's own buffer must copy it (the protocol may change its buffer as
 * soon as `write()` returns, and a Deno write completes later).
 *
 * The floors read as aioloop's transports do: through the connection's
 * read op, called directly (`loop/net/read_op.ts`), without the async
 * function `Deno.Conn.read()` wraps around it. The plain server reads with
 * `conn.read()`, as a program on Deno's public API does.
 *
 * Listens on 127.0.0.1, port 0; prints `PORT <n>` as the first line of
 * stdout, then serves until killed or until stdin closes.
 *
 * @module
 */

import { type ReadOp, readOp } from "../../loop/net/read_op.ts";

/** Bytes read per `read` call (one buffer per connection). */
const BUFFER_SIZE = 16 * 1024;
const owned = Deno.args[0] === "owned";
const handoff = Deno.args[0] === "handoff";
const copied = Deno.args[0] === "copied";

/** The `handoff` server: a read loop hands owned copies to a writer. */
async function echoHandoff(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(BUFFER_SIZE);
  const op = floorRead(conn);
  // Arrays read and not yet taken (null: EOF), and the writer's wake-up.
  const queue: (Uint8Array | null)[] = [];
  let wake: (() => void) | null = null;
  const put = (data: Uint8Array | null) => {
    queue.push(data);
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const reading = (async () => {
    try {
      for (;;) {
        const n = op !== null ? await op(buf) : await conn.read(buf);
        if (!n) {
          put(null);
          return;
        }
        put(buf.slice(0, n));
      }
    } catch {
      put(null);
    }
  })();
  try {
    conn.setNoDelay(true);
    for (;;) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const data = queue.shift()!;
      if (data === null) break;
      let offset = 0;
      while (offset < data.length) {
        offset += await conn.write(data.subarray(offset));
      }
    }
  } catch {
    // The peer reset the connection: nothing to do but close.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
  await reading;
}

/**
 * The floors' read op (null for the plain server, or where the runtime has
 * none: then they read with `conn.read()`). It resolves with 0 at EOF where
 * `conn.read()` resolves with null.
 */
function floorRead(conn: Deno.TcpConn): ReadOp | null {
  return owned || handoff || copied ? readOp(conn, { unref: false }) : null;
}

async function echo(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(BUFFER_SIZE);
  const copy = copied ? new Uint8Array(BUFFER_SIZE) : null;
  const op = floorRead(conn);
  try {
    conn.setNoDelay(true);
    for (;;) {
      const n = op !== null ? await op(buf) : await conn.read(buf);
      if (!n) break;
      let data: Uint8Array;
      if (owned) data = buf.slice(0, n);
      else if (copy !== null) {
        copy.set(buf.subarray(0, n));
        data = copy.subarray(0, n);
      } else data = buf.subarray(0, n);
      let offset = 0;
      while (offset < n) offset += await conn.write(data.subarray(offset, n));
    }
  } catch {
    // The peer reset the connection: nothing to do but close.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function exitWhenStdinCloses(): Promise<void> {
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) {
      // Discard input; only EOF matters.
    }
  } catch {
    // stdin unusable: serve until killed.
    return;
  }
  Deno.exit(0);
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(`PORT ${listener.addr.port}`);
exitWhenStdinCloses();
for await (const conn of listener) (handoff ? echoHandoff : echo)(conn);
