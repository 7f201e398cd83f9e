/**
 * TLS: the `ssl` options of the stream methods, `startTls`, the TLS
 * transport's extra info and close rules, against aioloop peers and raw
 * `Deno.listenTls` / `Deno.connectTls` peers. Certificates are test-only
 * fixtures (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import {
  AF_UNIX,
  createDefaultContext,
  NotImplementedError,
  Protocol,
  SOCK_STREAM,
  socket,
  SSLContext,
  TimeoutError,
  TlsTransport,
  type Transport,
} from "../../mod.ts";
import { captureLogger } from "../_util.ts";
import { bytes, Echo, netTest, Recorder, text } from "./_net.ts";
import { CA, clientContext, pem, serverContext } from "./_tls.ts";

/** A Unix socket path in a temp dir that is removed when disposed. */
function tempSocket(): { path: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "aioloop-tls-" });
  return {
    path: `${dir}/s.sock`,
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  const out: string[] = [];
  const buffer = new Uint8Array(1024);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return out.join("");
    out.push(text(buffer.subarray(0, n)));
  }
}

netTest(
  "createConnection() and createServer() with ssl echo over TLS",
  async ({ loop }) => {
    const serverProtocols: Recorder[] = [];
    const server = await loop.createServer(
      () => {
        const p = new Recorder(loop);
        p.onData = (data) => p.transport!.write(data.slice());
        serverProtocols.push(p);
        return p;
      },
      "127.0.0.1",
      0,
      { ssl: serverContext("server", ["echo/1"]) },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(() => client, host, port, {
      ssl: clientContext(["echo/1"]),
      serverHostname: "localhost",
    });
    assert.ok(transport instanceof TlsTransport);
    assert.deepEqual(client.events, ["made"]);
    transport.write(bytes("hello over tls"));
    while (client.nbytes < 14) {
      const seen = client.nbytes;
      const more = loop.createFuture<null>();
      client.onData = () => more.done() || more.setResult(null);
      if (client.nbytes === seen) await more;
    }
    assert.equal(text(client.received()), "hello over tls");
    // Extra info.
    assert.equal(transport.getExtraInfo("alpnProtocol"), "echo/1");
    assert.ok(transport.getExtraInfo("sslcontext") instanceof SSLContext);
    assert.equal(transport.getExtraInfo("compression"), null);
    assert.equal(transport.getExtraInfo("serverHostname"), "localhost");
    assert.ok(transport.getExtraInfo("ssl_object") !== null);
    assert.equal(
      transport.getExtraInfo("ssl_object"),
      transport.getExtraInfo("sslObject"),
    );
    assert.deepEqual(transport.getExtraInfo("peername"), [host, port]);
    assert.equal(transport.canWriteEof(), false);
    assert.throws(() => transport.writeEof(), NotImplementedError);
    const serverSide = serverProtocols[0];
    assert.equal(serverSide.transport!.getExtraInfo("alpnProtocol"), "echo/1");
    assert.equal(serverSide.transport!.getExtraInfo("serverSide"), true);
    // close(): close_notify both ways, then connectionLost(null) on each side.
    transport.close();
    await client.lost;
    await serverSide.lost;
    assert.equal(client.lostWith, null);
    assert.deepEqual(serverSide.events, ["made", "data", "eof", "lost"]);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(ssl) talks to a raw Deno.listenTls server",
  async ({ loop }) => {
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const served = listener.accept().then(async (conn) => {
      const buffer = new Uint8Array(64);
      const n = await conn.read(buffer);
      await conn.write(bytes(`raw:${text(buffer.subarray(0, n!))}`));
      const eof = await conn.read(buffer);
      conn.close();
      return eof;
    });
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext() },
    );
    assert.equal(transport.getExtraInfo("serverHostname"), "127.0.0.1");
    transport.write(bytes("ping"));
    const reply = loop.createFuture<string>();
    client.onData = () => {
      if (client.nbytes >= 8 && !reply.done()) {
        reply.setResult(text(client.received()));
      }
    };
    assert.equal(await reply, "raw:ping");
    transport.close();
    await client.lost;
    assert.equal(await served, null, "the server read close_notify as EOF");
    listener.close();
  },
);

netTest(
  "createServer(ssl) serves a raw Deno.connectTls client",
  async ({ loop }) => {
    const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
      ssl: serverContext(),
    });
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [CA],
    });
    await conn.write(bytes("abc"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    assert.equal(text(buffer.subarray(0, n!)), "abc");
    await conn.closeWrite();
    assert.equal(await conn.read(buffer), null);
    conn.close();
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(ssl) checks the server's certificate",
  async ({ loop }) => {
    for (
      const [name, context, pattern] of [
        ["wronghost", clientContext(), /not valid for name "localhost"/],
        // node:tls (which runs every handshake) reports an expired leaf
        // as one it cannot verify.
        ["expired", clientContext(), /expired|UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
        ["selfsigned", clientContext(), /UnknownIssuer|SELF_SIGNED/],
        [
          "server",
          createDefaultContext(),
          /UnknownIssuer|UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
        ],
      ] as const
    ) {
      const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
        ssl: serverContext(name),
      });
      const [, port] = server.sockets[0].getsockname() as [string, number];
      const made: string[] = [];
      await assert.rejects(
        loop.createConnection(
          () => {
            made.push("factory");
            return new Protocol();
          },
          "127.0.0.1",
          port,
          { ssl: context, serverHostname: "localhost" },
        ),
        (error: Error) => {
          assert.ok(error instanceof Deno.errors.InvalidData, String(error));
          assert.match(
            error.message,
            /SSL handshake failed on verifying the certificate/,
          );
          assert.match(error.message, pattern);
          return true;
        },
        name,
      );
      assert.deepEqual(made, [], "no protocol for a failed handshake");
      server.close();
      await server.waitClosed();
    }
  },
);

netTest('serverHostname "" skips the hostname check only', async ({ loop }) => {
  const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
    ssl: serverContext("wronghost"),
  });
  const [, port] = server.sockets[0].getsockname() as [string, number];
  const [transport] = await loop.createConnection(
    () => new Protocol(),
    "127.0.0.1",
    port,
    { ssl: clientContext(), serverHostname: "" },
  );
  assert.equal(transport.getExtraInfo("serverHostname"), "");
  transport.abort();
  // A context with checkHostname false does the same.
  const loose = clientContext();
  loose.checkHostname = false;
  const [second] = await loop.createConnection(
    () => new Protocol(),
    "127.0.0.1",
    port,
    { ssl: loose },
  );
  second.abort();
  // The chain is still verified.
  const other = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
    ssl: serverContext("selfsigned"),
  });
  const [, otherPort] = other.sockets[0].getsockname() as [string, number];
  await assert.rejects(
    loop.createConnection(() => new Protocol(), "127.0.0.1", otherPort, {
      ssl: clientContext(),
      serverHostname: "",
    }),
    Deno.errors.InvalidData,
  );
  for (const s of [server, other]) {
    s.close();
    await s.waitClosed();
  }
});

netTest("ssl options: bad arguments fail at the call", async ({ loop }) => {
  const factory = () => new Protocol();
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, { serverHostname: "x" }),
    RangeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, { sslHandshakeTimeout: 1 }),
    RangeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, { sslShutdownTimeout: 1 }),
    RangeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, {
      ssl: true,
      sslHandshakeTimeout: 0,
    }),
    /sslHandshakeTimeout should be a positive number/,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, {
      ssl: true,
      sslShutdownTimeout: -1,
    }),
    RangeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, {
      ssl: true,
      sslHandshakeTimeout: "1" as unknown as number,
    }),
    TypeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, {
      ssl: "yes" as unknown as boolean,
    }),
    TypeError,
  );
  await assert.rejects(
    loop.createConnection(factory, "127.0.0.1", 1, {
      ssl: true,
      serverHostname: 5 as unknown as string,
    }),
    TypeError,
  );
  // No host: serverHostname is required (asyncio's rule for sock=).
  const sock = socket();
  await assert.rejects(
    loop.createConnection(factory, null, null, { ssl: true, sock }),
    /you must set serverHostname/,
  );
  sock.close();
  await assert.rejects(
    loop.createUnixConnection(factory, "/nonexistent.sock", { ssl: true }),
    /you have to pass serverHostname/,
  );
  await assert.rejects(
    loop.createServer(factory, "127.0.0.1", 0, {
      ssl: true as unknown as SSLContext,
    }),
    TypeError,
  );
  await assert.rejects(
    loop.createServer(factory, "127.0.0.1", 0, { ssl: new SSLContext() }),
    /has no certificate/,
  );
  await assert.rejects(
    loop.createServer(factory, "127.0.0.1", 0, { sslHandshakeTimeout: 5 }),
    RangeError,
  );
  assert.throws(
    () => createDefaultContext({ purpose: "clientAuth" }),
    /needs cert and key/,
  );
  assert.throws(
    () => new SSLContext({ purpose: "server" as "serverAuth" }),
    RangeError,
  );
  assert.throws(() => new SSLContext({ caCerts: ["not pem"] }), RangeError);
  assert.throws(
    () => new SSLContext({ cert: pem("server.pem") }),
    /given together/,
  );
  assert.throws(
    () => new SSLContext({ alpnProtocols: "h2" as unknown as string[] }),
    TypeError,
  );
});

netTest(
  "sslHandshakeTimeout: a peer that never answers times out",
  async ({ loop }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const started = loop.time();
    await assert.rejects(
      loop.createConnection(
        () => new Protocol(),
        "127.0.0.1",
        listener.addr.port,
        {
          ssl: clientContext(),
          serverHostname: "localhost",
          sslHandshakeTimeout: 0.2,
        },
      ),
      (error: Error) => {
        assert.ok(
          error instanceof Deno.errors.ConnectionAborted,
          String(error),
        );
        assert.match(
          error.message,
          /SSL handshake is taking longer than 0.2 seconds: aborting the connection/,
        );
        return true;
      },
    );
    assert.ok(loop.time() - started >= 0.19);
    // Deno does not close the TCP socket of a TLS connection closed during
    // its handshake (see README): the peer closes its end.
    (await accepted).close();
    listener.close();
  },
);

netTest(
  "sslHandshakeTimeout: the server drops a client that never handshakes",
  async ({ loop, takeErrors }) => {
    loop.setDebug(true);
    loop.slowCallbackDuration = 10;
    let reported = loop.createFuture<null>();
    const handler = loop.getExceptionHandler()!;
    loop.setExceptionHandler((l, context) => {
      handler(l, context);
      if (!reported.done()) reported.setResult(null);
    });
    const made: string[] = [];
    const factory = () => {
      made.push("factory");
      return new Protocol();
    };
    using socket = tempSocket();
    const path = socket.path;
    for (
      const server of [
        await loop.createServer(factory, "127.0.0.1", 0, {
          ssl: serverContext(),
          sslHandshakeTimeout: 0.2,
        }),
        await loop.createUnixServer(factory, path, {
          ssl: serverContext(),
          sslHandshakeTimeout: 0.2,
        }),
      ]
    ) {
      const address = server.sockets[0].getsockname();
      const conn = typeof address === "string"
        ? await Deno.connect({ transport: "unix", path: address })
        : await Deno.connect({ hostname: "127.0.0.1", port: address[1] });
      const started = loop.time();
      if (typeof address === "string") {
        // node:tls over the accepted connection: the connection is closed.
        assert.equal(await readAll(conn), "");
      }
      await reported;
      assert.ok(loop.time() - started >= 0.19);
      conn.close();
      server.close();
      await server.waitClosed();
      const errors = takeErrors();
      assert.equal(errors.length, 1);
      assert.equal(
        errors[0].message,
        "Error on transport creation for incoming connection",
      );
      assert.ok(errors[0].exception instanceof Deno.errors.ConnectionAborted);
      reported = loop.createFuture<null>();
    }
    assert.deepEqual(made, ["factory", "factory"]);
  },
);

netTest(
  "a failed handshake does not stop the server",
  async ({ loop, takeErrors }) => {
    const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
      ssl: serverContext(),
    });
    const [, port] = server.sockets[0].getsockname() as [string, number];
    // This client does not trust the test CA.
    await assert.rejects(
      loop.createConnection(() => new Protocol(), "127.0.0.1", port, {
        ssl: true,
      }),
      Deno.errors.InvalidData,
    );
    // Outside debug mode, asyncio reports nothing for a failed handshake.
    assert.deepEqual(takeErrors(), []);
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      port,
      {
        ssl: clientContext(),
      },
    );
    transport.write(bytes("still serving"));
    const reply = loop.createFuture<null>();
    client.onData = () =>
      client.nbytes >= 13 && !reply.done() && reply.setResult(null);
    await reply;
    assert.equal(text(client.received()), "still serving");
    transport.close();
    await client.lost;
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "sslShutdownTimeout: a peer that never answers close_notify",
  async ({ loop }) => {
    const lost = loop.createFuture<Error | null>();
    class Closer extends Protocol {
      override connectionMade(transport: Transport): void {
        transport.close();
      }
      override connectionLost(exc: Error | null): void {
        lost.setResult(exc);
      }
    }
    const server = await loop.createServer(() => new Closer(), "127.0.0.1", 0, {
      ssl: serverContext(),
      sslShutdownTimeout: 0.2,
    });
    const [, port] = server.sockets[0].getsockname() as [string, number];
    // The raw client completes the handshake, then never reads.
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [CA],
    });
    await conn.handshake();
    const started = loop.time();
    const exc = await lost;
    assert.ok(exc instanceof TimeoutError, String(exc));
    assert.equal(exc.message, "SSL shutdown timed out");
    assert.ok(loop.time() - started >= 0.19);
    conn.close();
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "eofReceived(): returning true has no effect over TLS",
  async ({ loop }) => {
    using log = captureLogger();
    const serverSide = loop.createFuture<Recorder>();
    const server = await loop.createServer(
      () => {
        const p = new Recorder(loop);
        p.keepOpenOnEof = true;
        if (!serverSide.done()) serverSide.setResult(p);
        return p;
      },
      "127.0.0.1",
      0,
      { ssl: serverContext() },
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const conn = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [CA],
    });
    await conn.handshake();
    await conn.closeWrite();
    const p = await serverSide;
    await p.lost;
    assert.deepEqual(p.events, ["made", "eof", "lost"]);
    assert.equal(p.lostWith, null);
    assert.deepEqual(log.warnings, [
      "returning true from eofReceived() has no effect when using ssl",
    ]);
    assert.equal(await readAll(conn), "");
    conn.close();
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "startTls() upgrades both sides of a plain connection",
  async ({ loop }) => {
    const upgraded = loop.createFuture<Transport>();
    const serverData = loop.createFuture<string>();
    class StartTlsServer extends Protocol {
      transport: Transport | null = null;
      override connectionMade(transport: Transport): void {
        this.transport = transport;
      }
      override dataReceived(data: Uint8Array): void {
        if (text(data) === "STARTTLS\n") {
          this.transport!.write(bytes("GO\n"));
          loop.startTls(this.transport!, this, serverContext(), {
            serverSide: true,
          }).then((tls) => upgraded.setResult(tls!));
        } else serverData.setResult(text(data));
      }
    }
    const server = await loop.createServer(
      () => new StartTlsServer(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const go = loop.createFuture<null>();
    client.onData = () => !go.done() && go.setResult(null);
    const [plain] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      port,
    );
    plain.write(bytes("STARTTLS\n"));
    await go;
    assert.equal(text(client.received()), "GO\n");
    const tls = await loop.startTls(plain, client, clientContext(), {
      serverHostname: "localhost",
    });
    assert.ok(tls instanceof TlsTransport);
    assert.deepEqual(
      client.events,
      ["made", "data"],
      "no second connectionMade",
    );
    const peercert = tls.getExtraInfo("peercert") as {
      subject: string[][][];
      subjectAltName: string[][];
    };
    assert.deepEqual(peercert.subject, [[["commonName", "localhost"]]]);
    assert.deepEqual(peercert.subjectAltName[0], ["DNS", "localhost"]);
    const cipher = tls.getExtraInfo("cipher") as [string, string, number];
    assert.equal(cipher.length, 3);
    assert.match(cipher[1], /TLSv1\.[23]/);
    tls.write(bytes("secret"));
    assert.equal(await serverData, "secret");
    const serverTls = await upgraded;
    assert.equal(serverTls.getExtraInfo("serverSide"), true);
    tls.close();
    await client.lost;
    assert.equal(client.lostWith, null);
    assert.ok(plain.isClosing(), "the old transport closes with the new one");
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "startTls(): bad arguments and a failed handshake",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [plain] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      port,
    );
    await assert.rejects(
      loop.startTls(plain, client, {} as SSLContext),
      TypeError,
    );
    await assert.rejects(
      loop.startTls({} as Transport, client, clientContext()),
      TypeError,
    );
    await assert.rejects(
      loop.startTls(plain, client, clientContext()),
      /needs serverHostname/,
    );
    await assert.rejects(
      loop.startTls(plain, client, new SSLContext(), { serverSide: true }),
      /has no certificate/,
    );
    // The server side never upgrades: the handshake times out.
    await assert.rejects(
      loop.startTls(plain, client, clientContext(), {
        serverHostname: "localhost",
        sslHandshakeTimeout: 0.2,
      }),
      Deno.errors.ConnectionAborted,
    );
    // As asyncio: the transport is closed, the protocol hears nothing.
    assert.ok(plain.isClosing());
    assert.deepEqual(client.events, ["made"]);
    assert.equal(
      await loop.startTls(plain, client, clientContext(), {
        serverHostname: "localhost",
      }),
      null,
    );
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createUnixServer(ssl) and createUnixConnection(ssl) echo",
  async ({ loop }) => {
    using socket = tempSocket();
    const path = socket.path;
    const server = await loop.createUnixServer(() => new Echo(), path, {
      ssl: serverContext(),
    });
    const client = new Recorder(loop);
    const [transport] = await loop.createUnixConnection(() => client, path, {
      ssl: clientContext(),
      serverHostname: "localhost",
    });
    assert.ok(transport instanceof TlsTransport);
    const peercert = transport.getExtraInfo("peercert") as { subject: unknown };
    assert.deepEqual(peercert.subject, [[["commonName", "localhost"]]]);
    transport.write(bytes("unix tls"));
    const reply = loop.createFuture<null>();
    client.onData = () =>
      client.nbytes >= 8 && !reply.done() && reply.setResult(null);
    await reply;
    assert.equal(text(client.received()), "unix tls");
    transport.close();
    await client.lost;
    assert.equal(client.lostWith, null);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "connectAcceptedSocket(ssl) and createConnection(sock, ssl)",
  async ({ loop }) => {
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    const client = socket();
    const connecting = loop.sockConnect(client, listener.getsockname());
    const [accepted] = await loop.sockAccept(listener);
    await connecting;
    const serverSide = new Recorder(loop);
    serverSide.onData = (data) => serverSide.transport!.write(data.slice());
    const clientSide = new Recorder(loop);
    const [[serverTransport], [clientTransport]] = await Promise.all([
      loop.connectAcceptedSocket(() => serverSide, accepted, {
        ssl: serverContext(),
      }),
      loop.createConnection(() => clientSide, null, null, {
        sock: client,
        ssl: clientContext(),
        serverHostname: "localhost",
      }),
    ]);
    assert.equal(serverTransport.getExtraInfo("socket"), accepted);
    assert.equal(clientTransport.getExtraInfo("socket"), client);
    clientTransport.write(bytes("accepted"));
    const reply = loop.createFuture<null>();
    clientSide.onData = () =>
      clientSide.nbytes >= 8 && !reply.done() && reply.setResult(null);
    await reply;
    assert.equal(text(clientSide.received()), "accepted");
    clientTransport.close();
    await Promise.all([clientSide.lost, serverSide.lost]);
    listener.close();
    assert.equal(accepted.family === AF_UNIX, false);
    assert.equal(accepted.type, SOCK_STREAM);
  },
);

netTest(
  "sendfile() over a TLS transport reads and writes through TLS (asyncio's fallback)",
  async ({ loop }) => {
    using socket = tempSocket();
    const path = socket.path;
    // The server only records: the sender pauses its reading during
    // sendfile (as asyncio's fallback does), so nothing is sent back.
    const received = new Recorder(loop);
    const server = await loop.createUnixServer(() => received, path, {
      ssl: serverContext(),
    });
    const client = new Recorder(loop);
    const [transport] = await loop.createUnixConnection(() => client, path, {
      ssl: clientContext(),
      serverHostname: "localhost",
    });
    assert.ok(transport instanceof TlsTransport);
    const data = new Uint8Array(300_000).map((_, i) => i % 251);
    const filePath = await Deno.makeTempFile();
    await Deno.writeFile(filePath, data);
    using file = await Deno.open(filePath);
    const sent = await loop.sendfile(transport, file, 1000, 200_000);
    assert.equal(sent, 200_000);
    assert.equal(await file.seek(0, Deno.SeekMode.Current), 201_000);
    transport.close();
    await received.lost;
    assert.deepEqual(received.received(), data.subarray(1000, 201_000));
    await client.lost;
    server.close();
    await server.waitClosed();
    await Deno.remove(filePath);
  },
);

netTest(
  "TLS write() after close() is dropped, and the close still completes",
  async ({ loop }) => {
    const serverSide: Recorder[] = [];
    const server = await loop.createServer(
      () => {
        const p = new Recorder(loop);
        serverSide.push(p);
        return p;
      },
      "127.0.0.1",
      0,
      { ssl: serverContext() },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(() => client, host, port, {
      ssl: clientContext(),
      serverHostname: "localhost",
    });
    using log = captureLogger();
    transport.write(bytes("before"));
    transport.close();
    for (let i = 0; i < 7; i++) transport.write(bytes("after"));
    // asyncio warns from the sixth dropped write on.
    assert.deepEqual(log.warnings, [
      "SSL connection is closed",
      "SSL connection is closed",
    ]);
    await client.lost;
    assert.equal(client.lostWith, null);
    await serverSide[0].lost;
    assert.equal(text(serverSide[0].received()), "before");
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "a connectionLost that throws as a TLS close completes is reported, and the loop goes on",
  async ({ loop, takeErrors }) => {
    const lost = loop.createFuture<null>();
    class Failing extends Protocol {
      override connectionLost(): void {
        lost.setResult(null);
        throw new Error("boom in connectionLost");
      }
    }
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
      { ssl: serverContext() },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const [transport] = await loop.createConnection(
      () => new Failing(),
      host,
      port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    transport.close();
    await lost;
    // The loop still runs callbacks, in order, after the failure.
    const after = loop.createFuture<string>();
    loop.callSoon(() => after.setResult("still running"));
    assert.equal(await after, "still running");
    const errors = takeErrors();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0].message), /^Exception in callback/);
    assert.equal(
      (errors[0].exception as Error).message,
      "boom in connectionLost",
    );
    server.close();
    await server.waitClosed();
  },
);
