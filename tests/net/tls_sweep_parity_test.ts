/**
 * Checks asyncio's documented TLS behaviour not covered by the other TLS
 * tests: many concurrent TLS clients of a `startServer(ssl)` handler and of
 * `openConnection(ssl)` (by host and by `sock`, with the hostname check
 * off), a peer that drops the connection in the middle of the handshake (the
 * protocol hears nothing), the peer's close_notify arriving while our
 * writes are still buffered (they are all delivered), and the peer's data
 * and close arriving while reading is paused (delivered, in order, on
 * `resumeReading()`). Certificates are test-only fixtures
 * (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import {
  openConnection,
  type Server,
  socket,
  startServer,
  type StreamReader,
  type StreamWriter,
  type Transport,
} from "../../mod.ts";
import { bytes, concat, netTest, pattern, Recorder, text } from "./_net.ts";
import { CA, clientContext, pem, serverContext } from "./_tls.ts";

/** A raw Deno TLS listener with the test certificate, on a free port. */
function listenTls(): Deno.TlsListener {
  return Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pem("server.pem"),
    key: pem("server.key"),
  });
}

/** Reads exactly `n` bytes from `conn`; fails on an early end. */
async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let offset = 0;
  while (offset < n) {
    const got = await conn.read(out.subarray(offset));
    if (got === null) throw new Error(`EOF after ${offset} of ${n} bytes`);
    offset += got;
  }
  return out;
}

/** Everything `conn` sends until its end. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const got = await conn.read(buffer);
    if (got === null) return concat(chunks);
    chunks.push(buffer.slice(0, got));
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await conn.write(data.subarray(offset));
  }
}

const CLIENTS = 10;
const A_DATA = pattern(64 * 1024);
const B_DATA = pattern(64 * 1024, 7);

netTest(
  "startServer(ssl): concurrent TLS clients each get their handler's replies, writelines() of views included, then the close",
  async () => {
    let handled = 0;
    const handler = async (reader: StreamReader, writer: StreamWriter) => {
      assert.deepEqual(await reader.readexactly(A_DATA.length), A_DATA);
      writer.write(bytes("OK"));
      assert.deepEqual(await reader.readexactly(B_DATA.length), B_DATA);
      const backing = bytes("xAMx");
      writer.writelines([
        bytes("SP"),
        backing.subarray(1, 2),
        backing.subarray(2, 3),
      ]);
      await writer.drain();
      writer.close();
      handled++;
    };
    const server: Server = await startServer(handler, "127.0.0.1", 0, {
      ssl: serverContext(),
      sslHandshakeTimeout: 10,
    });
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const client = async () => {
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port,
        caCerts: [CA],
      });
      try {
        await writeAll(conn, A_DATA);
        assert.equal(text(await readExactly(conn, 2)), "OK");
        await writeAll(conn, B_DATA);
        return text(await readAll(conn));
      } finally {
        conn.close();
      }
    };
    const replies = await Promise.all(
      Array.from({ length: CLIENTS }, () => client()),
    );
    assert.deepEqual(replies, Array(CLIENTS).fill("SPAM"));
    assert.equal(handled, CLIENTS);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  'openConnection(ssl, serverHostname: ""): concurrent clients, by host and port and over a connected sock, exchange data with a TLS server',
  async ({ loop }) => {
    const listener = listenTls();
    const port = listener.addr.port;
    const total = 2 * CLIENTS;
    const serving = (async () => {
      const sessions: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const conn = await listener.accept();
        sessions.push((async () => {
          try {
            await conn.handshake();
            assert.deepEqual(await readExactly(conn, A_DATA.length), A_DATA);
            await writeAll(conn, bytes("OK"));
            assert.deepEqual(await readExactly(conn, B_DATA.length), B_DATA);
            await writeAll(conn, bytes("SPAM"));
          } finally {
            conn.close();
          }
        })());
      }
      await Promise.all(sessions);
    })();
    let done = 0;
    const talk = async (reader: StreamReader, writer: StreamWriter) => {
      assert.notEqual(writer.getExtraInfo("sslcontext"), null);
      writer.write(A_DATA);
      assert.equal(text(await reader.readexactly(2)), "OK");
      writer.write(B_DATA);
      assert.equal(text(await reader.readexactly(4)), "SPAM");
      done++;
      writer.close();
      await writer.waitClosed();
    };
    const byHost = async () => {
      const [reader, writer] = await openConnection("127.0.0.1", port, {
        ssl: clientContext(),
        serverHostname: "",
        sslHandshakeTimeout: 10,
      });
      await talk(reader, writer);
    };
    const bySock = async () => {
      const sock = socket();
      await loop.sockConnect(sock, ["127.0.0.1", port]);
      const [reader, writer] = await openConnection(undefined, undefined, {
        sock,
        ssl: clientContext(),
        serverHostname: "",
      });
      await talk(reader, writer);
      assert.equal(sock.fileno(), -1, "the transport closed the socket");
    };
    await Promise.all([
      ...Array.from({ length: CLIENTS }, () => byHost()),
      ...Array.from({ length: CLIENTS }, () => bySock()),
    ]);
    await serving;
    listener.close();
    assert.equal(done, total);
  },
);

netTest(
  "createConnection(ssl): a server that reads the ClientHello and drops the connection: ConnectionReset, and the protocol is never called",
  async ({ loop }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dropped = listener.accept().then(async (conn) => {
      const hello = new Uint8Array(1024);
      const got = await conn.read(hello);
      conn.close();
      return got;
    });
    const protocol = new Recorder(loop);
    await assert.rejects(
      loop.createConnection(() => protocol, "127.0.0.1", listener.addr.port, {
        ssl: clientContext(),
        serverHostname: "localhost",
      }),
      Deno.errors.ConnectionReset,
    );
    assert.ok((await dropped)! > 0, "the client sent its ClientHello");
    assert.deepEqual(protocol.events, [], "no connectionMade/connectionLost");
    listener.close();
  },
);

netTest(
  "TLS: the peer's close_notify while our writes are still buffered: EOF for the reader, and every buffered byte still reaches the peer",
  async () => {
    const listener = listenTls();
    const filled = Promise.withResolvers<void>();
    const CHUNK = 128 * 1024;
    const COUNT = 64;
    const serving = listener.accept().then(async (conn) => {
      try {
        await conn.handshake();
        assert.equal(text(await readExactly(conn, 4)), "ping");
        await writeAll(conn, bytes("pong"));
        await filled.promise;
        await conn.closeWrite(); // close_notify, reading on
        return (await readAll(conn)).length;
      } finally {
        conn.close();
      }
    });
    const [reader, writer] = await openConnection(
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    writer.write(bytes("ping"));
    assert.equal(text(await reader.readexactly(4)), "pong");
    const chunk = pattern(CHUNK);
    for (let i = 0; i < COUNT; i++) writer.write(chunk);
    const transport = writer.transport as Transport;
    assert.ok(
      transport.getWriteBufferSize() > 0,
      "the writes are buffered when the close_notify comes",
    );
    filled.resolve();
    assert.equal((await reader.read()).length, 0, "EOF after close_notify");
    assert.equal(await serving, CHUNK * COUNT, "every buffered byte arrived");
    writer.close();
    await writer.waitClosed();
    listener.close();
  },
);

netTest(
  "TLS pauseReading(): the peer's data and close that come meanwhile are held; resumeReading() delivers the data, then eofReceived(), then connectionLost(null)",
  async ({ loop }) => {
    const listener = listenTls();
    const sentAll = Promise.withResolvers<void>();
    const serving = listener.accept().then(async (conn) => {
      try {
        await conn.handshake();
        await writeAll(conn, bytes("hello"));
        assert.equal(text(await readExactly(conn, 5)), "world");
        await writeAll(conn, bytes("extra bytes"));
        await conn.closeWrite();
        sentAll.resolve();
        return (await readAll(conn)).length;
      } finally {
        conn.close();
      }
    });
    const client = new Recorder(loop);
    const paused = loop.createFuture<null>();
    client.onData = (data) => {
      if (text(data) !== "hello") return;
      client.transport!.write(bytes("world"));
      client.transport!.pauseReading();
      paused.setResult(null);
    };
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    await paused;
    await sentAll.promise;
    assert.equal(transport.isReading(), false);
    assert.deepEqual(client.events, ["made", "data"]);
    assert.equal(text(client.received()), "hello");
    transport.resumeReading();
    await client.lost;
    assert.equal(text(client.received()), "helloextra bytes");
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    assert.equal(client.lostWith, null);
    assert.equal(await serving, 0, "the client sent nothing more");
    listener.close();
  },
);
