/**
 * Checks asyncio's documented TLS behaviour: `startTls()` on either side
 * (argument rules, buffered protocols, cancellation, a close during the
 * handshake), handshake failures reaching the caller with the socket
 * closed, the TLS transport's extra information, the peer's EOF, a
 * corrupted record stream and large writes. Certificates are test-only
 * fixtures (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import {
  BufferedProtocol,
  CancelledError,
  type EventLoop,
  Protocol,
  socket,
  TlsTransport,
  type Transport,
} from "../../mod.ts";
import {
  assertSameBytes,
  bytes,
  netTest,
  pattern,
  Recorder,
  text,
} from "./_net.ts";
import { CA, clientContext, pem, serverContext } from "./_tls.ts";

/**
 * Resolves once `recorder` has received `n` bytes; rejects if its
 * connection is lost first.
 */
async function receivedBytes(recorder: Recorder, n: number): Promise<void> {
  const loop = recorder.lost.getLoop();
  while (recorder.nbytes < n) {
    if (recorder.lost.done()) {
      throw new Error(`connection lost after ${recorder.nbytes} of ${n} bytes`);
    }
    const more = loop.createFuture<null>();
    const wake = () => more.done() || more.setResult(null);
    recorder.onData = wake;
    recorder.lost.addDoneCallback(wake);
    try {
      await more;
    } finally {
      recorder.onData = null;
      recorder.lost.removeDoneCallback(wake);
    }
  }
}

/** A plain TCP connection from this loop to a raw listener, and its peer. */
async function plainPair(
  loop: EventLoop,
  client: Protocol,
): Promise<{ transport: Transport; peer: Deno.Conn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const [transport] = await loop.createConnection(
    () => client,
    "127.0.0.1",
    listener.addr.port,
  );
  const peer = await accepted;
  return {
    transport,
    peer,
    close() {
      try {
        peer.close();
      } catch {
        // Already closed.
      }
      listener.close();
    },
  };
}

/** Reads `conn` to its end: "eof", or the name of the error a read threw. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while ((await conn.read(buffer)) !== null) {
      // Only the end matters.
    }
    return "eof";
  } catch (error) {
    return (error as Error).name;
  }
}

netTest(
  "startTls() and createServer(ssl): the timeouts must be positive numbers, checked before the transport is touched",
  async ({ loop }) => {
    const client = new Recorder(loop);
    const pair = await plainPair(loop, client);
    try {
      for (
        const [options, error] of [
          [{ sslHandshakeTimeout: 0 }, /sslHandshakeTimeout.*positive/],
          [{ sslHandshakeTimeout: -10 }, /sslHandshakeTimeout.*positive/],
          [{ sslShutdownTimeout: 0 }, /sslShutdownTimeout.*positive/],
          [{ sslShutdownTimeout: -1 }, /sslShutdownTimeout.*positive/],
        ] as const
      ) {
        await assert.rejects(
          loop.startTls(pair.transport, client, clientContext(), {
            serverHostname: "localhost",
            ...options,
          }),
          (e: Error) => e instanceof RangeError && error.test(e.message),
        );
        await assert.rejects(
          loop.startTls(pair.transport, client, serverContext(), {
            serverSide: true,
            ...options,
          }),
          RangeError,
        );
        await assert.rejects(
          loop.createServer(() => new Protocol(), "127.0.0.1", 0, {
            ssl: serverContext(),
            ...options,
          }),
          RangeError,
        );
      }
      await assert.rejects(
        loop.startTls(pair.transport, client, clientContext(), {
          serverHostname: "localhost",
          sslHandshakeTimeout: "5" as unknown as number,
        }),
        TypeError,
      );
      // Nothing happened to the plain transport: it still carries bytes.
      assert.equal(pair.transport.isClosing(), false);
      pair.transport.write(bytes("still plain"));
      const buffer = new Uint8Array(32);
      const n = await pair.peer.read(buffer);
      assert.equal(text(buffer.subarray(0, n!)), "still plain");
      assert.deepEqual(client.events, ["made"]);
      pair.transport.close();
      await client.lost;
    } finally {
      pair.close();
    }
  },
);

netTest(
  "startTls() on the server side upgrades a connection whose client is a raw Deno.startTls peer",
  async ({ loop }) => {
    const upgraded = loop.createFuture<Transport>();
    const answered = loop.createFuture<null>();
    class Upgrader extends Protocol {
      transport: Transport | null = null;
      data = "";
      override connectionMade(transport: Transport): void {
        this.transport = transport;
        transport.write(bytes("HELLO, upgrade now\n"));
        loop.startTls(transport, this, serverContext(), { serverSide: true })
          .then((tls) => {
            this.transport = tls;
            upgraded.setResult(tls!);
          }, (error) => upgraded.setException(error));
      }
      override dataReceived(data: Uint8Array): void {
        this.data += text(data);
        if (this.data === "secret question") {
          this.transport!.write(bytes("secret answer"));
          answered.setResult(null);
        }
      }
    }
    const protocol = new Upgrader();
    const server = await loop.createServer(() => protocol, "127.0.0.1", 0);
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const plain = await Deno.connect({ hostname: "127.0.0.1", port });
    const greeting = new Uint8Array(19);
    let got = 0;
    while (got < greeting.length) {
      got += (await plain.read(greeting.subarray(got)))!;
    }
    assert.equal(text(greeting), "HELLO, upgrade now\n");
    const tls = await Deno.startTls(plain, {
      hostname: "localhost",
      caCerts: [CA],
    });
    await tls.write(bytes("secret question"));
    const serverTls = await upgraded;
    assert.ok(serverTls instanceof TlsTransport);
    assert.equal(serverTls.getExtraInfo("serverSide"), true);
    await answered;
    const answer = new Uint8Array(13);
    got = 0;
    while (got < answer.length) {
      got += (await tls.read(answer.subarray(got)))!;
    }
    assert.equal(text(answer), "secret answer");
    tls.close();
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "startTls() with a BufferedProtocol: the first bytes after the handshake go through getBuffer(), then setProtocol() switches to a Protocol",
  async ({ loop }) => {
    const serverSide = loop.createFuture<Transport>();
    class Upgrader extends Protocol {
      override connectionMade(transport: Transport): void {
        loop.startTls(transport, this, serverContext(), { serverSide: true })
          .then((tls) => {
            // The first bytes leave with the end of the handshake.
            tls!.write(bytes("O"));
            serverSide.setResult(tls!);
          }, (error) => serverSide.setException(error));
      }
    }
    const server = await loop.createServer(
      () => new Upgrader(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const first = loop.createFuture<string>();
    let made = 0;
    class OneByte extends BufferedProtocol {
      buffer = new Uint8Array(1);
      sizes: number[] = [];
      override connectionMade(): void {
        made++;
      }
      override getBuffer(): Uint8Array {
        return this.buffer;
      }
      override bufferUpdated(nbytes: number): void {
        this.sizes.push(nbytes);
        first.setResult(text(this.buffer.subarray(0, nbytes)));
      }
    }
    const buffered = new OneByte();
    const [plain] = await loop.createConnection(
      () => buffered,
      "127.0.0.1",
      port,
    );
    const tls = await loop.startTls(plain, buffered, clientContext(), {
      serverHostname: "localhost",
    });
    assert.ok(tls instanceof TlsTransport);
    assert.equal(await first, "O");
    assert.deepEqual(buffered.sizes, [1]);
    const second = new Recorder(loop);
    tls.setProtocol(second);
    assert.equal(tls.getProtocol(), second);
    const upgraded = await serverSide;
    upgraded.write(bytes("2nd"));
    await receivedBytes(second, 3);
    assert.equal(text(second.received()), "2nd");
    assert.equal(made, 1, "connectionMade ran once, before the upgrade");
    assert.deepEqual(second.events, ["data"]);
    tls.close();
    await second.lost;
    assert.equal(second.lostWith, null);
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "startTls() cancelled during the handshake: CancelledError, the connection closes, the protocol hears nothing",
  async ({ loop }) => {
    const client = new Recorder(loop);
    const pair = await plainPair(loop, client);
    try {
      const task = loop.createTask(() =>
        loop.startTls(pair.transport, client, clientContext(), {
          serverHostname: "localhost",
        })
      );
      // The ClientHello reaching the peer shows the handshake is under way.
      const hello = new Uint8Array(5);
      const peek = await pair.peer.read(hello);
      assert.ok(peek !== null && hello[0] === 0x16, "a TLS handshake record");
      const ended = readToEnd(pair.peer);
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
      const how = await ended;
      assert.ok(how === "eof" || how === "ConnectionReset", how);
      assert.ok(pair.transport.isClosing());
      assert.deepEqual(client.events, ["made"]);
    } finally {
      pair.close();
    }
  },
);

netTest(
  "startTls(): closing the plain transport during the handshake fails the call at once, and the protocol hears nothing",
  async ({ loop }) => {
    const client = new Recorder(loop);
    const pair = await plainPair(loop, client);
    try {
      const upgrading = loop.startTls(pair.transport, client, clientContext(), {
        serverHostname: "localhost",
        sslHandshakeTimeout: 30,
      });
      upgrading.catch(() => {});
      const started = loop.time();
      const hello = new Uint8Array(5);
      assert.ok((await pair.peer.read(hello)) !== null);
      const ended = readToEnd(pair.peer);
      pair.transport.close();
      await assert.rejects(upgrading, (error: Error) => {
        assert.ok(
          error instanceof Deno.errors.ConnectionReset ||
            error instanceof Deno.errors.ConnectionAborted,
          String(error),
        );
        return true;
      });
      assert.ok(loop.time() - started < 10, "not the handshake timeout");
      const how = await ended;
      assert.ok(how === "eof" || how === "ConnectionReset", how);
      assert.deepEqual(client.events, ["made"]);
    } finally {
      pair.close();
    }
  },
);

netTest(
  "createConnection(sock, ssl): a certificate the client rejects is an SSL error for the caller, and the socket is closed",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
      { ssl: serverContext("selfsigned") },
    );
    const address = server.sockets[0].getsockname();
    const sock = socket();
    await loop.sockConnect(sock, address);
    let made = 0;
    await assert.rejects(
      loop.createConnection(
        () => {
          made++;
          return new Protocol();
        },
        null,
        null,
        {
          sock,
          ssl: clientContext(),
          serverHostname: "localhost",
        },
      ),
      (error: Error) =>
        error instanceof Deno.errors.InvalidData &&
        /SSL handshake failed on verifying the certificate/.test(
          error.message,
        ),
    );
    assert.equal(made, 0);
    assert.ok(sock.closed, "the socket is closed");
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "createConnection(sock, ssl): the handshake timeout closes the socket and reaches the caller as ConnectionAborted",
  async ({ loop }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const sock = socket();
    await loop.sockConnect(sock, ["127.0.0.1", listener.addr.port]);
    const peer = await accepted;
    try {
      const ended = readToEnd(peer);
      await assert.rejects(
        loop.createConnection(() => new Protocol(), null, null, {
          sock,
          ssl: clientContext(),
          serverHostname: "localhost",
          sslHandshakeTimeout: 0.1,
        }),
        (error: Error) =>
          error instanceof Deno.errors.ConnectionAborted &&
          /taking longer than 0.1 seconds/.test(error.message),
      );
      assert.ok(sock.closed, "the socket is closed");
      const how = await ended;
      assert.ok(how === "eof" || how === "ConnectionReset", how);
    } finally {
      peer.close();
      listener.close();
    }
  },
);

netTest(
  "TlsTransport.getExtraInfo(): the context given, the peer's certificate, the cipher, no compression, the TLS object; still answered after connectionLost",
  async ({ loop }) => {
    const serverCtx = serverContext();
    const clientCtx = clientContext();
    const serverSide = loop.createFuture<Recorder>();
    const server = await loop.createServer(
      () => {
        const p = new Recorder(loop);
        if (!serverSide.done()) serverSide.setResult(p);
        return p;
      },
      "127.0.0.1",
      0,
      { ssl: serverCtx },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(() => client, host, port, {
      ssl: clientCtx,
      serverHostname: "localhost",
    });
    const peer = await serverSide;
    await peer.made;
    const other = peer.transport!;
    assert.equal(transport.getExtraInfo("sslcontext"), clientCtx);
    assert.equal(other.getExtraInfo("sslcontext"), serverCtx);
    const peercert = transport.getExtraInfo("peercert") as {
      subject: string[][][];
      issuer: string[][][];
      notAfter: string;
    };
    assert.deepEqual(peercert.subject, [[["commonName", "localhost"]]]);
    assert.ok(peercert.issuer.length > 0);
    assert.equal(typeof peercert.notAfter, "string");
    assert.equal(
      other.getExtraInfo("peercert"),
      null,
      "the client sent no certificate",
    );
    for (const t of [transport, other]) {
      const cipher = t.getExtraInfo("cipher") as [string, string, number];
      assert.ok(Array.isArray(cipher) && cipher.length === 3);
      assert.equal(typeof cipher[0], "string");
      assert.match(cipher[1], /^TLSv1\.[23]$/);
      assert.equal(typeof cipher[2], "number");
      assert.equal(t.getExtraInfo("compression"), null);
      assert.ok(t.getExtraInfo("ssl_object") != null);
    }
    assert.deepEqual(
      (transport.getExtraInfo("cipher") as unknown[])[0],
      (other.getExtraInfo("cipher") as unknown[])[0],
      "both ends agree on the cipher",
    );
    const fallback = { fallback: true };
    assert.equal(transport.getExtraInfo("no such key", fallback), fallback);
    assert.equal(transport.getExtraInfo("no such key"), null);
    transport.close();
    await client.lost;
    await peer.lost;
    assert.equal(transport.getExtraInfo("sslcontext"), clientCtx);
    assert.deepEqual(
      (transport.getExtraInfo("peercert") as typeof peercert).subject,
      peercert.subject,
    );
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "TlsTransport: a peer that sends and then closes gives every byte, then eofReceived(), then connectionLost(null)",
  async ({ loop }) => {
    const payload = pattern(1024 * 1024);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const served = listener.accept().then(async (conn) => {
      await conn.handshake();
      let offset = 0;
      while (offset < payload.length) {
        offset += await conn.write(payload.subarray(offset));
      }
      conn.close();
    });
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    assert.equal(transport.canWriteEof(), false);
    await client.lost;
    await served;
    assert.deepEqual(client.events, ["made", "data", "eof", "lost"]);
    assert.equal(client.lostWith, null);
    assertSameBytes(client.received(), payload);
    listener.close();
  },
);

netTest(
  "TlsTransport: records that are not TLS after the handshake end the connection with an error, not a clean EOF",
  async ({ loop }) => {
    let serverPlain: Transport | null = null;
    const upgraded = loop.createFuture<Transport>();
    class Upgrader extends Protocol {
      override connectionMade(transport: Transport): void {
        serverPlain = transport;
        loop.startTls(transport, this, serverContext(), { serverSide: true })
          .then((tls) => upgraded.setResult(tls!));
      }
    }
    const server = await loop.createServer(
      () => new Upgrader(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    const serverTls = await upgraded;
    serverTls.write(bytes("A\n"));
    await receivedBytes(client, 2);
    assert.equal(text(client.received()), "A\n");
    // Bytes written beneath TLS: the client cannot decrypt them.
    serverPlain!.write(bytes("please corrupt the SSL connection"));
    await client.lost;
    // asyncio's ssl.SSLError is an OSError: connectionLost gets it, and the
    // exception handler is not called outside debug mode.
    assert.ok(
      client.lostWith instanceof Deno.errors.InvalidData,
      String(client.lostWith),
    );
    assert.ok(transport.isClosing());
    assert.ok(!client.events.includes("eof"), client.events.join());
    serverTls.abort();
    server.close();
    await server.waitClosed();
  },
);

netTest(
  "TlsTransport: a 4 MiB write() and a writelines() arrive whole through an echo, with flow control over the write buffer",
  async ({ loop }) => {
    class Echo extends Protocol {
      transport: Transport | null = null;
      override connectionMade(transport: Transport): void {
        this.transport = transport;
      }
      override dataReceived(data: Uint8Array): void {
        this.transport!.write(data.slice());
      }
    }
    const server = await loop.createServer(() => new Echo(), "127.0.0.1", 0, {
      ssl: serverContext(),
    });
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(() => client, host, port, {
      ssl: clientContext(),
      serverHostname: "localhost",
    });
    const big = pattern(4 * 1024 * 1024);
    const parts = [pattern(70_000, 3), pattern(1, 5), pattern(200_000, 7)];
    transport.write(big);
    transport.writelines(parts);
    const total = big.length + parts.reduce((n, p) => n + p.length, 0);
    assert.ok(transport.getWriteBufferSize() > 0);
    assert.equal(client.events.at(-1), "pause", "over the high-water mark");
    await receivedBytes(client, total);
    const received = client.received();
    assertSameBytes(received.subarray(0, big.length), big);
    let offset = big.length;
    for (const part of parts) {
      assertSameBytes(received.subarray(offset, offset + part.length), part);
      offset += part.length;
    }
    assert.equal(transport.getWriteBufferSize(), 0);
    assert.ok(client.events.includes("resume"));
    transport.close();
    await client.lost;
    assert.equal(client.lostWith, null);
    server.close();
    await server.waitClosed();
  },
);
