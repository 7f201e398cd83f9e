/**
 * The runtime's floor for the TCP echo benchmark (bench/echo_bench.ts): one
 * `read`/`write` loop per connection straight on `Deno.Conn`, no event loop
 * library in between.
 *
 *   deno run --allow-net bench/echo_servers/raw_deno.ts [owned]
 *
 * With `owned`, each read's bytes are copied into a new array before they
 * are written back: the least an API must do that hands the reader bytes it
 * owns (asyncio's `data_received` gets a fresh `bytes` object, aioloop's
 * `dataReceived` a `Uint8Array` it may keep), while the one-buffer loop
 * above reuses its buffer at once.
 *
 * Listens on 127.0.0.1, port 0; prints `PORT <n>` as the first line of
 * stdout, then serves until killed or until stdin closes.
 *
 * @module
 */

/** Bytes read per `read` call (one buffer per connection). */
const BUFFER_SIZE = 16 * 1024;
const owned = Deno.args[0] === "owned";

async function echo(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(BUFFER_SIZE);
  try {
    conn.setNoDelay(true);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      const data = owned ? buf.slice(0, n) : buf.subarray(0, n);
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
for await (const conn of listener) echo(conn);
