/**
 * Checks asyncio's documented low-level socket and sendfile behaviour not
 * covered elsewhere: `sockSendto()` waiting while a send would block, the
 * non-blocking socket `sockAccept()` hands back, `sendfile()` to a peer
 * that closes once it has everything or midway through (over TCP and TLS),
 * writes around a TLS `sendfile()`, and refusals that leave the file and
 * the peer untouched. Certificates are test-only fixtures
 * (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  DatagramProtocol,
  type EventLoop,
  RuntimeError,
  SendfileNotAvailableError,
  SOCK_DGRAM,
  socket,
  TlsTransport,
  type Transport,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  concat,
  netTest,
  pattern,
  Recorder,
  text,
} from "./_net.ts";
import { clientContext, serverContext } from "./_tls.ts";

/** 128 KiB and a little: not a multiple of any read size. */
const DATA = pattern(128 * 1024 + 16);

/** Runs `fn` with `data` in a temporary file opened for reading. */
async function withFile(
  data: Uint8Array,
  fn: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "aioloop-sweep-" });
  const path = `${dir}/data.bin`;
  await Deno.writeFile(path, data);
  const file = await Deno.open(path, { read: true });
  try {
    await fn(file);
  } finally {
    file.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function position(file: Deno.FsFile): Promise<number> {
  return file.seek(0, Deno.SeekMode.Current);
}

/** A recorder that closes its transport once it has `closeAfter` bytes. */
class ClosingRecorder extends Recorder {
  closeAfter = 0;
  override dataReceived(data: Uint8Array): void {
    super.dataReceived(data);
    if (this.closeAfter > 0 && this.nbytes >= this.closeAfter) {
      this.transport!.close();
    }
  }
}

/**
 * A server whose one connection is `server`, and a client transport to it,
 * over TCP, with TLS when `tls` is set.
 */
async function connect(
  loop: EventLoop,
  server: Recorder,
  tls = false,
): Promise<{
  transport: Transport;
  client: Recorder;
  close(): Promise<void>;
}> {
  const srv = await loop.createServer(
    () => server,
    "127.0.0.1",
    0,
    tls ? { ssl: serverContext() } : {},
  );
  const [host, port] = srv.sockets[0].getsockname() as [string, number];
  const client = new Recorder(loop);
  const [transport] = await loop.createConnection(
    () => client,
    host,
    port,
    tls ? { ssl: clientContext(), serverHostname: "localhost" } : {},
  );
  await server.made;
  return {
    transport,
    client,
    async close() {
      transport.close();
      server.transport?.close();
      await Promise.all([client.lost, server.lost]);
      srv.close();
      await srv.waitClosed();
    },
  };
}

// ---- sockSendto / sockAccept ---------------------------------------------

netTest(
  "sockSendto() whose sendto() would block waits until the socket is writable, then sends",
  async ({ loop }) => {
    const server = socket(AF_INET, SOCK_DGRAM);
    server.bind(["127.0.0.1", 0]);
    const sock = socket(AF_INET, SOCK_DGRAM);
    try {
      const data = new Uint8Array(4096).fill(1);
      const real = sock.sendto.bind(sock);
      let refusals = 0;
      // As a kernel whose send buffer is full: the first try would block.
      sock.sendto = (payload, address) => {
        if (refusals++ === 0) {
          throw new Deno.errors.WouldBlock("sendto(): the buffer is full");
        }
        return real(payload, address);
      };
      assert.equal(
        await loop.sockSendto(sock, data, server.getsockname()),
        4096,
      );
      assert.equal(refusals, 2, "tried again once writable");
      assert.equal(loop.removeWriter(sock), false, "no writer left behind");
      const [received, from] = await loop.sockRecvfrom(server, 8192);
      assert.deepEqual(received, data);
      // The sender was bound on its first send, to the wildcard address.
      assert.deepEqual(from, ["127.0.0.1", sock.getsockname()[1]]);
    } finally {
      for (const s of [sock, server]) {
        s.close();
        await s._dgramClosed;
      }
    }
  },
);

netTest(
  "sockAccept(): the socket it returns is non-blocking, and the addresses pair up",
  async ({ loop }) => {
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen(1);
    const client = socket();
    try {
      const accepting = loop.sockAccept(listener);
      await loop.sockConnect(client, listener.getsockname());
      const [conn, addr] = await accepting;
      try {
        assert.deepEqual(addr, client.getsockname());
        assert.deepEqual(client.getpeername(), listener.getsockname());
        // Nothing sent yet: a read would block instead of waiting.
        assert.throws(() => conn.recv(10), Deno.errors.WouldBlock);
        conn.setblocking(false);
        assert.throws(() => conn.setblocking(true), RangeError);
        await loop.sockSendall(client, bytes("ping"));
        assert.equal(text(await loop.sockRecv(conn, 10)), "ping");
      } finally {
        conn.close();
      }
    } finally {
      client.close();
      listener.close();
    }
  },
);

// ---- sendfile ------------------------------------------------------------

for (const tls of [false, true]) {
  const over = tls ? "TLS" : "TCP";

  netTest(
    `sendfile() over ${over} to a peer that closes once it has the whole file reports all of it sent`,
    async ({ loop }) => {
      await withFile(DATA, async (file) => {
        const server = new ClosingRecorder(loop);
        server.closeAfter = DATA.length;
        const c = await connect(loop, server, tls);
        if (tls) assert.ok(c.transport instanceof TlsTransport);
        assert.equal(await loop.sendfile(c.transport, file), DATA.length);
        assert.equal(await position(file), DATA.length);
        await server.lost;
        assertSameBytes(server.received(), DATA);
        await c.close();
      });
    },
  );
}

netTest(
  "sendfile() over TLS between two write()s: the peer gets the prefix, the file and the suffix in order",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const server = new Recorder(loop);
      const c = await connect(loop, server, true);
      const prefix = bytes("zxcvbnm".repeat(1024));
      const suffix = bytes("0987654321".repeat(1024));
      c.transport.write(prefix);
      assert.equal(await loop.sendfile(c.transport, file), DATA.length);
      c.transport.write(suffix);
      assert.equal(await position(file), DATA.length);
      c.transport.close();
      await server.lost;
      assertSameBytes(server.received(), concat([prefix, DATA, suffix]));
      await c.close();
    });
  },
);

netTest(
  "sendfile() to a peer that closes midway fails with a connection error, the transport closing at once",
  async ({ loop }) => {
    const size = 32 * 1024 * 1024;
    await withFile(pattern(size), async (file) => {
      const server = new ClosingRecorder(loop);
      server.closeAfter = 1024;
      const c = await connect(loop, server);
      await assert.rejects(
        loop.sendfile(c.transport, file),
        (e: Error) =>
          e instanceof Deno.errors.ConnectionReset ||
          e instanceof Deno.errors.BrokenPipe ||
          e instanceof Deno.errors.ConnectionAborted,
      );
      assert.equal(c.transport.isClosing(), true);
      const at = await position(file);
      assert.ok(at >= 1024 && at < size, `position ${at}`);
      await server.lost;
      assert.ok(
        server.nbytes >= 1024 && server.nbytes < size,
        `peer got ${server.nbytes}`,
      );
      await c.close();
    });
  },
);

netTest(
  "sendfile() refused (fallback: false, a datagram transport) reads nothing and sends nothing",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const server = new Recorder(loop);
      const c = await connect(loop, server);
      await assert.rejects(
        loop.sendfile(c.transport, file, 0, null, { fallback: false }),
        SendfileNotAvailableError,
      );
      assert.equal(await position(file), 0);
      const [dt, dp] = await loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        ["127.0.0.1", 0],
      );
      await assert.rejects(
        loop.sendfile(dt as never, file),
        (e: Error) =>
          e instanceof RuntimeError && /not supported/.test(e.message),
      );
      assert.equal(await position(file), 0);
      const lost = loop.createFuture<null>();
      dp.connectionLost = () => lost.setResult(null);
      dt.close();
      await lost;
      c.transport.close();
      await server.lost;
      assert.equal(server.nbytes, 0);
      await c.close();
    });
  },
);
