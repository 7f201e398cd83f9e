/**
 * The socket stream helpers (`openConnection`, `startServer`,
 * `openUnixConnection`, `startUnixServer`), after CPython's
 * Lib/test/test_asyncio/test_streams.py: round trips over TCP, Unix sockets
 * and TLS, the reader's limit, the client callback's task and its errors,
 * and bad input.
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createDefaultContext,
  currentTask,
  DEFAULT_LIMIT,
  EventLoop,
  openConnection,
  openUnixConnection,
  RuntimeError,
  type Server,
  sleep,
  startServer,
  startUnixServer,
  StreamReader,
  StreamReaderProtocol,
  type StreamWriter,
  Task,
  TlsTransport,
  type Transport,
} from "../../mod.ts";
import { bytes, netTest, text } from "./_net.ts";

function portOf(server: Server): number {
  return (server.sockets[0].getsockname() as [string, number])[1];
}

async function closeServer(server: Server): Promise<void> {
  server.close();
  await server.waitClosed();
}

async function closeWriter(writer: StreamWriter): Promise<void> {
  writer.close();
  await writer.waitClosed();
}

/**
 * Starts a server with `callback`, connects a client, runs `body` with the
 * client's streams, then closes the client and the server.
 */
async function withClient(
  callback: (reader: StreamReader, writer: StreamWriter) => unknown,
  body: (reader: StreamReader, writer: StreamWriter) => Promise<void>,
  options: { limit?: number; serverLimit?: number } = {},
): Promise<void> {
  const server = await startServer(callback, "127.0.0.1", 0, {
    limit: options.serverLimit,
  });
  try {
    const [reader, writer] = await openConnection(
      "127.0.0.1",
      portOf(server),
      { limit: options.limit },
    );
    await body(reader, writer);
    await closeWriter(writer);
  } finally {
    await closeServer(server);
  }
}

/** Echoes lines until EOF, then closes. */
async function lineEcho(
  reader: StreamReader,
  writer: StreamWriter,
): Promise<void> {
  for (;;) {
    const line = await reader.readline();
    if (line.length === 0) break;
    writer.write(line);
    await writer.drain();
  }
  writer.close();
}

netTest("openConnection and startServer: a line round trip", async () => {
  await withClient(lineEcho, async (reader, writer) => {
    writer.write(bytes("hello\n"));
    assert.equal(text(await reader.readline()), "hello\n");
    writer.write(bytes("world\n"));
    assert.equal(text(await reader.readline()), "world\n");
    writer.writeEof();
    assert.equal((await reader.read()).length, 0);
    assert.equal(reader.atEof(), true);
  });
});

netTest("startServer serves several clients at once", async () => {
  const server = await startServer(lineEcho, "127.0.0.1", 0);
  try {
    const port = portOf(server);
    const clients = await Promise.all(
      Array.from({ length: 10 }, () => openConnection("127.0.0.1", port)),
    );
    clients.forEach(([, writer], i) => writer.write(bytes(`client ${i}\n`)));
    const lines = await Promise.all(
      clients.map(([reader]) => reader.readline()),
    );
    assert.deepEqual(
      lines.map(text),
      clients.map((_, i) => `client ${i}\n`),
    );
    for (const [, writer] of clients) await closeWriter(writer);
  } finally {
    await closeServer(server);
  }
});

netTest(
  "openConnection's writer reports the peer and socket names",
  async () => {
    await withClient(lineEcho, async (_reader, writer) => {
      const [peerHost, peerPort] = writer.getExtraInfo("peername") as [
        string,
        number,
      ];
      assert.equal(peerHost, "127.0.0.1");
      assert.ok(peerPort > 0);
      const [host] = writer.getExtraInfo("sockname") as [string, number];
      assert.equal(host, "127.0.0.1");
    });
  },
);

netTest("the reader's limit applies to readline", async () => {
  await withClient(
    async (_reader, writer) => {
      writer.write(bytes("x".repeat(100) + "\nshort\n"));
      await writer.drain();
      writer.close();
    },
    async (reader) => {
      assert.equal(reader.limit, 16);
      await assert.rejects(reader.readline(), RangeError);
      assert.equal(text(await reader.readline()), "short\n");
    },
    { limit: 16 },
  );
});

netTest(
  "startServer gives each connection a reader with its limit",
  async () => {
    const limits: number[] = [];
    await withClient(
      (reader, writer) => {
        limits.push(reader.limit);
        writer.close();
      },
      async (reader) => {
        assert.equal((await reader.read()).length, 0);
        assert.deepEqual(limits, [1234]);
      },
      { serverLimit: 1234 },
    );
  },
);

netTest("a plain callback is called when the connection is made", async () => {
  const seen: string[] = [];
  await withClient(
    (reader, writer) => {
      seen.push(`${reader.constructor.name} ${writer.constructor.name}`);
      writer.write(bytes("hi"));
      writer.close();
    },
    async (reader) => {
      assert.equal(text(await reader.read()), "hi");
      assert.deepEqual(seen, ["StreamReader StreamWriter"]);
    },
  );
});

netTest("an async callback runs as a task of its own", async ({ loop }) => {
  const tasks: (Task<unknown> | null)[] = [];
  await withClient(
    async (_reader, writer) => {
      tasks.push(currentTask(loop));
      writer.close();
    },
    async (reader) => {
      assert.equal((await reader.read()).length, 0);
      assert.equal(tasks.length, 1);
      assert.ok(tasks[0] instanceof Task);
      assert.notEqual(tasks[0], currentTask(loop));
    },
  );
});

Deno.test("StreamReaderProtocol keeps a plain transport open at EOF, not a TLS one", () => {
  const loop = new EventLoop();
  try {
    for (const [ssl, keepOpen] of [[null, true], [{}, false]] as const) {
      const protocol = new StreamReaderProtocol(
        new StreamReader(DEFAULT_LIMIT, { loop }),
        null,
        loop,
      );
      const transport = {
        getExtraInfo: (name: string) => name === "sslcontext" ? ssl : null,
        pauseReading() {},
        resumeReading() {},
        close() {},
      };
      protocol.connectionMade(transport as unknown as Transport);
      assert.equal(protocol.eofReceived(), keepOpen);
    }
  } finally {
    loop.close();
  }
});

netTest(
  "a failing callback reaches the exception handler and closes the connection",
  async ({ takeErrors }) => {
    const boom = new Error("boom");
    await withClient(
      async (reader) => {
        await reader.readline();
        throw boom;
      },
      async (reader, writer) => {
        writer.write(bytes("go\n"));
        // The server closes the connection: the client reads EOF.
        assert.equal((await reader.read()).length, 0);
        const errors = takeErrors();
        assert.equal(errors.length, 1);
        assert.equal(
          errors[0].message,
          "Unhandled exception in client_connected_cb",
        );
        assert.equal(errors[0].exception, boom);
        assert.ok(errors[0].transport !== undefined);
      },
    );
  },
);

netTest("a cancelled callback task closes its connection", async () => {
  let cancelled = false;
  await withClient(
    async (reader) => {
      try {
        await reader.readline();
        // Cancel ourselves, as a handler timing out would.
        currentTask()!.cancel();
        await sleep(0);
      } catch (error) {
        cancelled = error instanceof CancelledError;
        throw error;
      }
    },
    async (reader, writer) => {
      writer.write(bytes("go\n"));
      assert.equal((await reader.read()).length, 0);
      assert.equal(cancelled, true);
    },
  );
});

netTest(
  "openConnection to a closed port fails with ConnectionRefused",
  async () => {
    const server = await startServer(() => {}, "127.0.0.1", 0);
    const port = portOf(server);
    await closeServer(server);
    await assert.rejects(
      openConnection("127.0.0.1", port),
      Deno.errors.ConnectionRefused,
    );
  },
);

netTest(
  "startServer with startServing: false accepts nothing until started",
  async () => {
    const server = await startServer(lineEcho, "127.0.0.1", 0, {
      startServing: false,
    });
    try {
      assert.equal(server.isServing(), false);
      await server.startServing();
      assert.equal(server.isServing(), true);
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      writer.write(bytes("on\n"));
      assert.equal(text(await reader.readline()), "on\n");
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest("Unix stream helpers: a round trip through a socket file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "aioloop-streams-" });
  try {
    const path = `${dir}/echo.sock`;
    const server = await startUnixServer(lineEcho, path, { limit: 4096 });
    try {
      const [reader, writer] = await openUnixConnection(path, { limit: 8 });
      assert.equal(reader.limit, 8);
      writer.write(bytes("unix\n"));
      assert.equal(text(await reader.readline()), "unix\n");
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

netTest(
  "TLS stream helpers: a round trip",
  async () => {
    const fixtures = new URL("../fixtures/tls/", import.meta.url);
    const pem = (name: string) =>
      Deno.readTextFileSync(new URL(name, fixtures));
    const serverSsl = createDefaultContext({
      purpose: "clientAuth",
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
    const server = await startServer(lineEcho, "127.0.0.1", 0, {
      ssl: serverSsl,
    });
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
        { ssl: clientSsl, serverHostname: "localhost" },
      );
      assert.ok(writer.getExtraInfo("sslcontext") !== undefined);
      writer.write(bytes("secret\n"));
      assert.equal(text(await reader.readline()), "secret\n");
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest("bad input fails at the call", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    startServer(null as any, "127.0.0.1", 0),
    /clientConnectedCb must be a function/,
  );
  await assert.rejects(
    startServer(() => {}, "127.0.0.1", 0, { limit: 0 }),
    RangeError,
  );
  await assert.rejects(
    openConnection("127.0.0.1", 1, { limit: -1 }),
    RangeError,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    startUnixServer("nope" as any, "/tmp/x.sock"),
    TypeError,
  );
});

Deno.test("the stream helpers need a running loop", async () => {
  await assert.rejects(openConnection("127.0.0.1", 1), RuntimeError);
  await assert.rejects(startServer(() => {}, "127.0.0.1", 0), RuntimeError);
});

netTest(
  "StreamWriter.startTls upgrades both ends of a plain connection",
  async () => {
    const fixtures = new URL("../fixtures/tls/", import.meta.url);
    const pem = (name: string) =>
      Deno.readTextFileSync(new URL(name, fixtures));
    const serverSsl = createDefaultContext({
      purpose: "clientAuth",
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const clientSsl = createDefaultContext({ caCerts: [pem("ca.pem")] });
    const serverSeen: string[] = [];
    const server = await startServer(
      async (reader, writer) => {
        serverSeen.push(text(await reader.readline()));
        writer.write(bytes("GO\n"));
        await writer.startTls(serverSsl);
        serverSeen.push(String(writer.getExtraInfo("sslcontext") !== null));
        const line = await reader.readline();
        serverSeen.push(text(line));
        writer.write(line);
        await writer.drain();
        writer.close();
      },
      "127.0.0.1",
      0,
    );
    try {
      const [reader, writer] = await openConnection(
        "127.0.0.1",
        portOf(server),
      );
      assert.equal(writer.getExtraInfo("sslcontext"), null);
      writer.write(bytes("STARTTLS\n"));
      assert.equal(text(await reader.readline()), "GO\n");
      await writer.startTls(clientSsl, { serverHostname: "localhost" });
      assert.ok(writer.getExtraInfo("sslcontext") !== null);
      assert.ok(writer.transport instanceof TlsTransport);
      writer.write(bytes("secret\n"));
      assert.equal(text(await reader.readline()), "secret\n");
      assert.equal((await reader.read()).length, 0);
      assert.deepEqual(serverSeen, ["STARTTLS\n", "true", "secret\n"]);
      await closeWriter(writer);
    } finally {
      await closeServer(server);
    }
  },
);

netTest("StreamWriter.startTls refuses what is not an SSLContext", async () => {
  await withClient(lineEcho, async (_reader, writer) => {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      writer.startTls({} as any),
      TypeError,
    );
  });
});
