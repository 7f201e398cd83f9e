/**
 * A TLS handshake that fails releases the TCP connection at once, on both
 * sides: the peer's read ends (EOF or reset) and the runtime's resource
 * table is back where it was. Covered: the handshake timeout of a client
 * against a server that never speaks, the handshake timeout of a server
 * against clients that never speak (a slowloris), a cancelled
 * `createConnection` task, a certificate the client rejects (on either
 * side), a peer that closes during the handshake, and `startTls`'s timeout.
 * Certificates are test-only fixtures
 * (tests/fixtures/tls/README.md).
 */
import assert from "node:assert/strict";
import { CancelledError, Protocol, TlsTransport } from "../../mod.ts";
import { bytes, netTest, Recorder, text } from "./_net.ts";
import { CA, clientContext, pem, serverContext } from "./_tls.ts";

/** Seconds any one wait of these tests may take before it fails the test. */
const GUARD = 10;

/**
 * `promise`, or a rejection naming `what` if it is still pending after
 * GUARD seconds (the test fails instead of hanging; the timer is cleared).
 */
async function within<T>(
  promise: PromiseLike<T>,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: still pending after ${GUARD} s`)),
      GUARD * 1000,
    );
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads `conn` until it ends: "eof" (read returned null) or the name of
 * the error a read threw ("ConnectionReset", ...). Data is dropped.
 */
async function readUntilEnd(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(16 * 1024);
  try {
    while ((await conn.read(buffer)) !== null) {
      // A TLS alert or a ClientHello: the end is what matters.
    }
    return "eof";
  } catch (error) {
    return (error as Error).name;
  }
}

function assertEnded(how: string, who: string): void {
  assert.ok(
    how === "eof" || how === "ConnectionReset",
    `${who}: expected EOF or a reset, got ${how}`,
  );
}

/** The names in the runtime's resource table (`Deno.resources()` is gone). */
function resources(): string[] {
  const internal = (Deno as unknown as { internal: symbol }).internal;
  const core = (Deno as unknown as Record<symbol, {
    core?: { resources?: () => Record<string, string> };
  }>)[internal]?.core;
  assert.ok(typeof core?.resources === "function", "no resource table");
  return Object.values(core.resources()).sort();
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

netTest(
  "a client's handshake timeout closes the TCP connection: the silent server sees it end",
  async ({ loop }) => {
    const baseline = resources();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const connecting = loop.createConnection(
      () => new Protocol(),
      "127.0.0.1",
      listener.addr.port,
      {
        ssl: clientContext(),
        serverHostname: "localhost",
        sslHandshakeTimeout: 0.2,
      },
    );
    connecting.catch(() => {});
    const server = await within(accepted, "accept");
    try {
      const ended = readUntilEnd(server);
      await assert.rejects(
        within(connecting, "createConnection"),
        (error: Error) => {
          assert.ok(error instanceof Deno.errors.ConnectionAborted, `${error}`);
          assert.match(error.message, /SSL handshake is taking longer than/);
          return true;
        },
      );
      assertEnded(await within(ended, "the server's read"), "server");
    } finally {
      closeQuietly(server);
      listener.close();
    }
    assert.deepEqual(resources(), baseline);
  },
);

netTest(
  "a server's handshake timeout closes silent clients' connections and the server serves on",
  async ({ loop }) => {
    const baseline = resources();
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
      { ssl: serverContext(), sslHandshakeTimeout: 0.2 },
    );
    const [host, port] = server.sockets[0].getsockname() as [string, number];
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        silent.push(
          await within(Deno.connect({ hostname: host, port }), "connect"),
        );
      }
      const ends = await within(
        Promise.all(silent.map(readUntilEnd)),
        "the silent clients' reads",
      );
      ends.forEach((how, i) => assertEnded(how, `silent client ${i}`));
      assert.ok(
        serverProtocols.every((p) => p.events.length === 0),
        "no handshake completed",
      );
      // A real TLS client still gets through.
      const client = new Recorder(loop);
      const [transport] = await within(
        loop.createConnection(() => client, host, port, {
          ssl: clientContext(),
          serverHostname: "localhost",
        }),
        "createConnection",
      );
      assert.ok(transport instanceof TlsTransport);
      const echoed = loop.createFuture<null>();
      client.onData = () => {
        if (client.nbytes >= 5 && !echoed.done()) echoed.setResult(null);
      };
      transport.write(bytes("hello"));
      await echoed;
      assert.equal(text(client.received()), "hello");
      transport.close();
      await client.lost;
      await serverProtocols.at(-1)!.lost;
    } finally {
      silent.forEach(closeQuietly);
      server.close();
    }
    await server.waitClosed();
    assert.deepEqual(resources(), baseline);
  },
);

netTest(
  "cancelling createConnection during the handshake closes the TCP connection",
  async ({ loop }) => {
    const baseline = resources();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const task = loop.createTask(() =>
      loop.createConnection(
        () => new Protocol(),
        "127.0.0.1",
        listener.addr.port,
        {
          ssl: clientContext(),
          serverHostname: "localhost",
        },
      )
    );
    const server = await within(accepted, "accept");
    try {
      // The ClientHello arrives: the client is in the handshake.
      const hello = new Uint8Array(5);
      assert.ok((await within(server.read(hello), "the ClientHello")) !== null);
      const ended = readUntilEnd(server);
      task.cancel();
      await assert.rejects(within(task, "the task"), CancelledError);
      assertEnded(await within(ended, "the server's read"), "server");
    } finally {
      closeQuietly(server);
      listener.close();
    }
    assert.deepEqual(resources(), baseline);
  },
);

netTest(
  "a certificate the client rejects: the client closes the connection at once",
  async ({ loop }) => {
    const baseline = resources();
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pem("wronghost.pem"),
      key: pem("wronghost.key"),
    });
    const accepted = listener.accept();
    const connecting = loop.createConnection(
      () => new Protocol(),
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    connecting.catch(() => {});
    const server = await within(accepted, "accept");
    try {
      const ended = readUntilEnd(server);
      await assert.rejects(
        within(connecting, "createConnection"),
        Deno.errors.InvalidData,
      );
      // The server's handshake fails on the client's alert or its EOF.
      assert.notEqual(await within(ended, "the server's read"), "");
    } finally {
      closeQuietly(server);
      listener.close();
    }
    assert.deepEqual(resources(), baseline);
  },
);

netTest(
  "a client that rejects the server's certificate: the server closes the connection at once",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
      { ssl: serverContext("wronghost") },
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const baseline = resources();
    // In debug mode the failed handshake reaches the exception handler,
    // after the connection is closed.
    loop.setDebug(true);
    const failed = loop.createFuture<string>();
    loop.setExceptionHandler((_loop, context) => {
      if (!failed.done()) failed.setResult(context.message);
    });
    try {
      const client = await within(
        Deno.connectTls({ hostname: "localhost", port, caCerts: [CA] }),
        "connectTls",
      );
      try {
        await assert.rejects(
          within(client.handshake(), "the client's handshake"),
          Deno.errors.InvalidData,
        );
      } finally {
        client.close();
      }
      assert.equal(
        await within(failed, "the server's failure"),
        "Error on transport creation for incoming connection",
      );
      assert.deepEqual(resources(), baseline);
    } finally {
      loop.setDebug(false);
      server.close();
    }
    await within(server.waitClosed(), "waitClosed");
  },
);

netTest(
  "startTls()'s handshake timeout closes the connection: the silent peer sees it end",
  async ({ loop }) => {
    const baseline = resources();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const client = new Recorder(loop);
    const [transport] = await within(
      loop.createConnection(() => client, "127.0.0.1", listener.addr.port),
      "createConnection",
    );
    const server = await within(accepted, "accept");
    try {
      const ended = readUntilEnd(server);
      await assert.rejects(
        within(
          loop.startTls(transport, client, clientContext(), {
            serverHostname: "localhost",
            sslHandshakeTimeout: 0.2,
          }),
          "startTls",
        ),
        Deno.errors.ConnectionAborted,
      );
      assertEnded(await within(ended, "the server's read"), "server");
      assert.ok(transport.isClosing());
    } finally {
      closeQuietly(server);
      listener.close();
    }
    assert.deepEqual(resources(), baseline);
  },
);

netTest(
  "a peer that closes during the handshake fails it at once",
  async ({ loop }) => {
    const baseline = resources();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const connecting = loop.createConnection(
      () => new Protocol(),
      "127.0.0.1",
      listener.addr.port,
      { ssl: clientContext(), serverHostname: "localhost" },
    );
    connecting.catch(() => {});
    try {
      (await within(accepted, "accept")).close();
      await assert.rejects(within(connecting, "createConnection"), (
        error: Error,
      ) => {
        assert.ok(error instanceof Deno.errors.ConnectionReset, `${error}`);
        return true;
      });
    } finally {
      listener.close();
    }
    assert.deepEqual(resources(), baseline);
  },
);
