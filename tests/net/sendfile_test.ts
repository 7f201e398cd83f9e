/**
 * `loop.sendfile()` and `loop.sockSendfile()`: checks ported from CPython's
 * test_sendfile.py and test_base_events.py (sock_sendfile).
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  DatagramProtocol,
  type EventLoop,
  Protocol,
  RuntimeError,
  SendfileNotAvailableError,
  SOCK_DGRAM,
  type Socket,
  socket,
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

const DATA = pattern(1024 * 1024 + 123);

async function withFile(
  data: Uint8Array,
  fn: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
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

/** A server that collects everything until EOF; and a client transport. */
async function pair(loop: EventLoop): Promise<{
  transport: Transport;
  client: Recorder;
  received: Promise<Uint8Array>;
  close(): Promise<void>;
}> {
  const server = new Recorder(loop);
  const srv = await loop.createServer(() => server, "127.0.0.1", 0);
  const [host, port] = srv.sockets[0].getsockname() as [string, number];
  const client = new Recorder(loop);
  const [transport] = await loop.createConnection(() => client, host, port);
  await server.made;
  const received = (async () => {
    await server.lost;
    return concat(server.chunks);
  })();
  return {
    transport,
    client,
    received,
    async close() {
      transport.close();
      await client.lost;
      await received;
      srv.close();
      await srv.waitClosed();
    },
  };
}

netTest(
  "sendfile() sends the whole file and leaves the position at its end",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const p = await pair(loop);
      const sent = await loop.sendfile(p.transport, file);
      assert.equal(sent, DATA.length);
      assert.equal(await file.seek(0, Deno.SeekMode.Current), DATA.length);
      await p.close();
      assertSameBytes(await p.received, DATA);
    });
  },
);

netTest(
  "sendfile() honours offset and count, and mixes with write()",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const p = await pair(loop);
      p.transport.write(bytes("head"));
      const sent = await loop.sendfile(p.transport, file, 1000, 300000);
      assert.equal(sent, 300000);
      assert.equal(await file.seek(0, Deno.SeekMode.Current), 301000);
      p.transport.write(bytes("tail"));
      await p.close();
      const got = await p.received;
      assert.equal(text(got.subarray(0, 4)), "head");
      assertSameBytes(got.subarray(4, 4 + 300000), DATA.subarray(1000, 301000));
      assert.equal(text(got.subarray(300004)), "tail");
    });
  },
);

netTest(
  "sendfile() of a file shorter than offset + count sends what there is",
  async ({ loop }) => {
    await withFile(pattern(5000), async (file) => {
      const p = await pair(loop);
      assert.equal(await loop.sendfile(p.transport, file, 4000, 100000), 1000);
      assert.equal(await file.seek(0, Deno.SeekMode.Current), 5000);
      assert.equal(
        await loop.sendfile(p.transport, file, 9000),
        0,
        "offset past the end",
      );
      await p.close();
      assertSameBytes(await p.received, pattern(5000).subarray(4000));
    });
  },
);

netTest("sendfile() of an empty file sends nothing", async ({ loop }) => {
  await withFile(new Uint8Array(0), async (file) => {
    const p = await pair(loop);
    assert.equal(await loop.sendfile(p.transport, file), 0);
    assert.equal(await file.seek(0, Deno.SeekMode.Current), 0);
    await p.close();
    assert.equal((await p.received).length, 0);
  });
});

netTest(
  "sendfile() restores the protocol and reading afterwards",
  async ({ loop }) => {
    await withFile(pattern(70000), async (file) => {
      const p = await pair(loop);
      await loop.sendfile(p.transport, file);
      assert.equal(p.transport.getProtocol(), p.client);
      assert.equal(p.transport.isReading(), true);
      await p.close();
    });
  },
);

netTest(
  "sendfile() refuses fallback: false, closing and unsupported transports",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const p = await pair(loop);
      await assert.rejects(
        loop.sendfile(p.transport, file, 0, null, { fallback: false }),
        SendfileNotAvailableError,
      );
      assert.equal(
        await file.seek(0, Deno.SeekMode.Current),
        0,
        "nothing read",
      );
      await assert.rejects(loop.sendfile(p.transport, file, -1), RangeError);
      await assert.rejects(loop.sendfile(p.transport, file, 0, 0), RangeError);
      await assert.rejects(loop.sendfile(p.transport, file, 1.5), TypeError);
      await assert.rejects(
        loop.sendfile(p.transport, file, 0, "3" as never),
        TypeError,
      );
      await assert.rejects(
        loop.sendfile(p.transport, "file" as never),
        TypeError,
      );
      p.transport.close();
      await assert.rejects(
        loop.sendfile(p.transport, file),
        (e: Error) =>
          e instanceof RuntimeError && /Transport is closing/.test(e.message),
      );
      await p.close();
      const [dt, dp] = await loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        ["127.0.0.1", 0],
      );
      await assert.rejects(
        loop.sendfile(dt as never, file),
        (e: Error) =>
          e instanceof RuntimeError &&
          /not supported for transport/.test(e.message),
      );
      const lost = loop.createFuture<null>();
      dp.connectionLost = () => lost.setResult(null);
      dt.close();
      await lost;
    });
  },
);

netTest(
  "sendfile() fails with a connection error when the peer goes away",
  async ({ loop }) => {
    await withFile(pattern(32 * 1024 * 1024), async (file) => {
      class Closer extends Protocol {
        transport: Transport | null = null;
        override connectionMade(t: Transport) {
          this.transport = t;
        }
        override dataReceived() {
          this.transport!.abort();
        }
      }
      const srv = await loop.createServer(() => new Closer(), "127.0.0.1", 0);
      const [host, port] = srv.sockets[0].getsockname() as [string, number];
      const client = new Recorder(loop);
      const [transport] = await loop.createConnection(() => client, host, port);
      await assert.rejects(
        loop.sendfile(transport, file),
        (e: Error) =>
          e instanceof Deno.errors.ConnectionReset ||
          e instanceof Deno.errors.BrokenPipe,
      );
      const position = await file.seek(0, Deno.SeekMode.Current);
      assert.ok(
        position > 0 && position < 32 * 1024 * 1024,
        `position ${position}`,
      );
      await client.lost;
      srv.close();
      await srv.waitClosed();
    });
  },
);

netTest("sockSendfile() sends over a connected socket", async ({ loop }) => {
  await withFile(DATA, async (file) => {
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    const client = socket();
    await loop.sockConnect(client, listener.getsockname());
    const [conn] = await loop.sockAccept(listener);
    const reading = (async () => {
      const chunks: Uint8Array[] = [];
      for (;;) {
        const chunk = await loop.sockRecv(conn, 65536);
        if (chunk.length === 0) return concat(chunks);
        chunks.push(chunk);
      }
    })();
    assert.equal(await loop.sockSendfile(client, file, 10, 500000), 500000);
    assert.equal(await file.seek(0, Deno.SeekMode.Current), 500010);
    assert.equal(
      await loop.sockSendfile(client, file, 500010),
      DATA.length - 500010,
    );
    client.shutdown(1);
    const got = await reading;
    assertSameBytes(got, DATA.subarray(10));
    for (const s of [conn, client, listener]) s.close();
  });
});

netTest(
  "sockSendfile() refuses bad arguments, datagram sockets and fallback: false",
  async ({ loop }) => {
    await withFile(DATA, async (file) => {
      const s: Socket = socket();
      await assert.rejects(
        loop.sockSendfile(s, file, 0, null, { fallback: false }),
        SendfileNotAvailableError,
      );
      await assert.rejects(loop.sockSendfile(s, file, -1), RangeError);
      await assert.rejects(
        loop.sockSendfile(s, file, 0, 0),
        (e: Error) =>
          e instanceof RangeError &&
          /count must be a positive integer/.test(e.message),
      );
      s.close();
      const d = socket(AF_INET, SOCK_DGRAM);
      await assert.rejects(
        loop.sockSendfile(d, file),
        (e: Error) =>
          e instanceof RangeError && /only SOCK_STREAM/.test(e.message),
      );
      d.close();
      await d._dgramClosed;
    });
  },
);
