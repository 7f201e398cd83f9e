/**
 * The transports' direct read op: found on every kind of Deno connection
 * (so a runtime upgrade that hides it fails here rather than only slowing
 * servers down), and the same bytes, EOF and errors as `conn.read()`.
 */
import assert from "node:assert/strict";
import { readOp } from "../../loop/net/read_op.ts";
import type { StreamConn } from "../../loop/net/types.ts";

async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await listener.accept();
  return [client, server];
}

Deno.test("readOp: reads a TCP connection's bytes, then 0 at EOF", async () => {
  const [client, server] = await tcpPair();
  try {
    const read = readOp(server, { unref: false });
    assert.notEqual(read, null);
    await client.write(new TextEncoder().encode("hello"));
    await client.closeWrite();
    const buffer = new Uint8Array(64);
    let text = "";
    for (;;) {
      const n = await read!(buffer);
      if (n === 0) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    assert.equal(text, "hello");
    // After EOF it stays at EOF, as conn.read() stays at null.
    assert.equal(await read!(buffer), 0);
    assert.equal(await server.read(buffer), null);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("readOp: found on a Unix connection", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const client = await Deno.connect({ transport: "unix", path });
    const server = await listener.accept();
    try {
      const read = readOp(client, { unref: false });
      assert.notEqual(read, null);
      await server.write(new Uint8Array([1, 2, 3]));
      const buffer = new Uint8Array(8);
      assert.equal(await read!(buffer), 3);
      assert.deepEqual(buffer.subarray(0, 3), new Uint8Array([1, 2, 3]));
    } finally {
      client.close();
      server.close();
    }
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readOp: a read pending at close fails as conn.read() does", async () => {
  const [client, server] = await tcpPair();
  const viaOp = readOp(server, { unref: false })!(new Uint8Array(16)).then(
    () => null,
    (e: unknown) => e,
  );
  server.close();
  const opError = await viaOp;
  client.close();

  const [client2, server2] = await tcpPair();
  const viaConn = server2.read(new Uint8Array(16)).then(
    () => null,
    (e: unknown) => e,
  );
  server2.close();
  const connError = await viaConn;
  client2.close();

  assert.ok(opError instanceof Error, `got ${opError}`);
  assert.ok(connError instanceof Error, `got ${connError}`);
  assert.equal(opError.constructor, connError.constructor);
});

Deno.test("readOp: null for a connection that is not Deno's", () => {
  const conn: StreamConn = {
    read: () => Promise.resolve(null),
    write: (p) => Promise.resolve(p.length),
    closeWrite: () => {},
    close: () => {},
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
  };
  assert.equal(readOp(conn, { unref: false }), null);
});
