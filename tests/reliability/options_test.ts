/**
 * Reliability: options objects. Python refuses an unexpected keyword
 * argument with a TypeError; the networking methods refuse an options
 * object with a key they do not know the same way, naming the method, the
 * key and the known options, before anything is opened. A key whose value
 * is `undefined` is no option at all and passes; every documented option
 * is still taken.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  DatagramProtocol,
  type EventLoop,
  openConnection,
  openUnixConnection,
  Protocol,
  type Server,
  sleep,
  SOCK_STREAM,
  type SocketAddress,
  socketpair,
  startServer,
  startUnixServer,
  type Transport,
} from "../../mod.ts";
import { bounded, loopTest, refusedPort } from "./_util.ts";
import { clientContext, serverContext } from "../net/_tls.ts";

type Options = Record<string, unknown>;

/**
 * Asserts `call` rejects with a TypeError whose message names `method` and
 * `key` and lists the known options, `known` among them.
 */
async function assertRefused(
  call: () => Promise<unknown>,
  method: string,
  key: string,
  known: string[],
): Promise<void> {
  await assert.rejects(call, (error: Error) => {
    assert.ok(
      error instanceof TypeError,
      `expected TypeError, got ${error?.name}: ${error?.message}`,
    );
    assert.ok(
      error.message.startsWith(`${method}(): unexpected option '${key}'`),
      error.message,
    );
    const list = error.message.match(/\(known: ([^)]*)\)$/)?.[1];
    assert.ok(list !== undefined, `no list of known options: ${error.message}`);
    const names = list.split(", ");
    for (const name of known) assert.ok(names.includes(name), error.message);
    assert.ok(!names.includes(key), error.message);
    return true;
  });
}

/** A TCP and a Unix server on the loop that count the connections they accept. */
class Peers {
  accepted = 0;
  tcp!: Server<[string, number]>;
  unix!: Server<string>;
  dir = Deno.makeTempDirSync({ prefix: "aioloop-options-" });
  path = `${this.dir}/peer.sock`;

  constructor(readonly loop: EventLoop) {}

  async start(): Promise<this> {
    const count = () => this.accepted++;
    class Counted extends Protocol {
      override connectionMade(transport: Transport) {
        count();
        transport.close();
      }
    }
    this.tcp = await this.loop.createServer(
      () => new Counted(),
      "127.0.0.1",
      0,
    ) as Server<[string, number]>;
    this.unix = await this.loop.createUnixServer(
      () => new Counted(),
      this.path,
    );
    return this;
  }

  get port(): number {
    return this.tcp.sockets[0].getsockname()[1];
  }

  /**
   * Waits for the one connection a test opened to be accepted, then a
   * little more: a refused call that had connected anyway was earlier, so
   * the servers would have seen two.
   */
  async assertOneAccepted(): Promise<void> {
    await bounded(
      "accept",
      (async () => {
        while (this.accepted === 0) await sleep(0.005);
      })(),
    );
    await sleep(0.05);
    assert.equal(this.accepted, 1, "a refused call connected");
  }

  async close(): Promise<void> {
    this.tcp.close();
    this.unix.close();
    await this.tcp.waitClosed();
    await this.unix.waitClosed();
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** Runs `fn` with fresh peers, closing them afterwards. */
async function withPeers(
  loop: EventLoop,
  fn: (peers: Peers) => Promise<void>,
): Promise<void> {
  const peers = await new Peers(loop).start();
  try {
    await fn(peers);
  } finally {
    await peers.close();
  }
}

/** One connecting call: opens a connection with `options`, returns its closer. */
interface ConnectCase {
  method: string;
  known: string[];
  connect(peers: Peers, options: Options): Promise<() => Promise<void>>;
  /** Every documented option, with values that work without TLS here. */
  documented: Options;
}

function transportCloser(transport: Transport): () => Promise<void> {
  return async () => {
    transport.close();
    await sleep(0);
  };
}

const CONNECT_CASES: ConnectCase[] = [
  {
    method: "createConnection",
    known: ["ssl", "family", "localAddr", "happyEyeballsDelay"],
    async connect(peers, options) {
      const [transport] = await peers.loop.createConnection(
        () => new Protocol(),
        "127.0.0.1",
        peers.port,
        options,
      );
      return transportCloser(transport);
    },
    documented: {
      ssl: null,
      family: AF_INET,
      proto: 0,
      flags: 0,
      sock: null,
      localAddr: ["127.0.0.1", 0],
      serverHostname: null,
      happyEyeballsDelay: 0.25,
      interleave: 1,
      allErrors: true,
      sslHandshakeTimeout: null,
      sslShutdownTimeout: null,
    },
  },
  {
    method: "createUnixConnection",
    known: ["ssl", "sock", "serverHostname"],
    async connect(peers, options) {
      const [transport] = await peers.loop.createUnixConnection(
        () => new Protocol(),
        peers.path,
        options,
      );
      return transportCloser(transport);
    },
    documented: {
      ssl: null,
      sock: null,
      serverHostname: null,
      sslHandshakeTimeout: null,
      sslShutdownTimeout: null,
    },
  },
  {
    method: "openConnection",
    known: ["limit", "ssl", "localAddr"],
    async connect(peers, options) {
      const [, writer] = await openConnection("127.0.0.1", peers.port, options);
      return async () => {
        writer.close();
        await writer.waitClosed();
      };
    },
    documented: {
      limit: 1024,
      ssl: null,
      family: AF_INET,
      proto: 0,
      flags: 0,
      sock: null,
      localAddr: ["127.0.0.1", 0],
      serverHostname: null,
      happyEyeballsDelay: 0.25,
      interleave: 1,
      allErrors: true,
      sslHandshakeTimeout: null,
      sslShutdownTimeout: null,
    },
  },
  {
    method: "openUnixConnection",
    known: ["limit", "ssl", "sock"],
    async connect(peers, options) {
      const [, writer] = await openUnixConnection(peers.path, options);
      return async () => {
        writer.close();
        await writer.waitClosed();
      };
    },
    documented: {
      limit: 1024,
      ssl: null,
      sock: null,
      serverHostname: null,
      sslHandshakeTimeout: null,
      sslShutdownTimeout: null,
    },
  },
];

for (const c of CONNECT_CASES) {
  loopTest(
    `${c.method}(): an unknown option is a TypeError naming it, and nothing connects`,
    async ({ loop }) => {
      await withPeers(loop, async (peers) => {
        await assertRefused(
          () => c.connect(peers, { sever_hostname: "localhost" }),
          c.method,
          "sever_hostname",
          c.known,
        );
        const close = await c.connect(peers, {});
        await peers.assertOneAccepted();
        await close();
      });
    },
  );

  loopTest(
    `${c.method}(): an unknown option whose value is undefined is accepted`,
    async ({ loop }) => {
      await withPeers(loop, async (peers) => {
        const close = await c.connect(peers, { sever_hostname: undefined });
        await peers.assertOneAccepted();
        await close();
      });
    },
  );

  loopTest(
    `${c.method}(): every documented option is accepted`,
    async ({ loop }) => {
      await withPeers(loop, async (peers) => {
        const close = await c.connect(peers, c.documented);
        await peers.assertOneAccepted();
        await close();
      });
    },
  );
}

loopTest(
  "createConnection(): a Python spelling is refused with its camelCase name suggested",
  async ({ loop }) => {
    await withPeers(loop, async (peers) => {
      await assert.rejects(
        peers.loop.createConnection(
          () => new Protocol(),
          "127.0.0.1",
          peers.port,
          { server_hostname: "localhost" } as Options,
        ),
        (error: Error) =>
          error instanceof TypeError &&
          error.message.includes(
            "unexpected option 'server_hostname' (did you mean 'serverHostname'?)",
          ),
      );
    });
  },
);

/** One listening call: listens with `options`, returns the server. */
interface ServeCase {
  method: string;
  known: string[];
  unix: boolean;
  serve(
    loop: EventLoop,
    where: string | number,
    options: Options,
  ): Promise<Server<SocketAddress>>;
  /** Every documented option, with values that work without TLS here. */
  documented: Options;
}

const SERVER_DOCUMENTED: Options = {
  family: AF_INET,
  flags: 0,
  sock: null,
  backlog: 10,
  ssl: null,
  reuseAddress: true,
  reusePort: null,
  keepAlive: true,
  startServing: false,
  sslHandshakeTimeout: null,
  sslShutdownTimeout: null,
};

const UNIX_SERVER_DOCUMENTED: Options = {
  sock: null,
  backlog: 10,
  ssl: null,
  startServing: false,
  cleanupSocket: true,
  sslHandshakeTimeout: null,
  sslShutdownTimeout: null,
};

const SERVE_CASES: ServeCase[] = [
  {
    method: "createServer",
    known: ["backlog", "startServing", "keepAlive"],
    unix: false,
    serve: (loop, port, options) =>
      loop.createServer(
        () => new Protocol(),
        "127.0.0.1",
        port as number,
        options,
      ),
    documented: SERVER_DOCUMENTED,
  },
  {
    method: "createUnixServer",
    known: ["backlog", "startServing", "cleanupSocket"],
    unix: true,
    serve: (loop, path, options) =>
      loop.createUnixServer(() => new Protocol(), path as string, options),
    documented: UNIX_SERVER_DOCUMENTED,
  },
  {
    method: "startServer",
    known: ["limit", "backlog", "startServing"],
    unix: false,
    serve: (_loop, port, options) =>
      startServer(() => {}, "127.0.0.1", port as number, options),
    documented: { limit: 1024, ...SERVER_DOCUMENTED },
  },
  {
    method: "startUnixServer",
    known: ["limit", "backlog", "cleanupSocket"],
    unix: true,
    serve: (_loop, path, options) =>
      startUnixServer(() => {}, path as string, options),
    documented: { limit: 1024, ...UNIX_SERVER_DOCUMENTED },
  },
];

/** Where a case listens: a free TCP port, or a path in a new temp dir. */
function place(c: ServeCase): { where: string | number; dir: string | null } {
  if (!c.unix) return { where: refusedPort(), dir: null };
  const dir = Deno.makeTempDirSync({ prefix: "aioloop-options-" });
  return { where: `${dir}/s.sock`, dir };
}

/** Asserts nothing listens at `where`: the port can be taken, no socket file. */
function assertNotListening(where: string | number): void {
  if (typeof where === "string") {
    assert.throws(() => Deno.lstatSync(where), Deno.errors.NotFound);
  } else {
    Deno.listen({ hostname: "127.0.0.1", port: where }).close();
  }
}

async function closeServer(server: Server<SocketAddress>): Promise<void> {
  server.close();
  await server.waitClosed();
}

for (const c of SERVE_CASES) {
  loopTest(
    `${c.method}(): an unknown option is a TypeError naming it, and nothing listens`,
    async ({ loop }) => {
      const { where, dir } = place(c);
      try {
        await assertRefused(
          () => c.serve(loop, where, { backlg: 10 }),
          c.method,
          "backlg",
          c.known,
        );
        assertNotListening(where);
      } finally {
        if (dir !== null) Deno.removeSync(dir, { recursive: true });
      }
    },
  );

  loopTest(
    `${c.method}(): an unknown option whose value is undefined is accepted`,
    async ({ loop }) => {
      const { where, dir } = place(c);
      try {
        const server = await c.serve(loop, where, { backlg: undefined });
        assert.equal(server.isServing(), true);
        await closeServer(server);
      } finally {
        if (dir !== null) Deno.removeSync(dir, { recursive: true });
      }
    },
  );

  loopTest(
    `${c.method}(): every documented option is accepted (startServing: false holds)`,
    async ({ loop }) => {
      const { where, dir } = place(c);
      try {
        const server = await c.serve(loop, where, c.documented);
        assert.equal(server.isServing(), false);
        await closeServer(server);
      } finally {
        if (dir !== null) Deno.removeSync(dir, { recursive: true });
      }
    },
  );
}

loopTest(
  "createServer(): options that are not an object are a TypeError",
  async ({ loop }) => {
    await assert.rejects(
      loop.createServer(
        () => new Protocol(),
        "127.0.0.1",
        0,
        null as unknown as Options,
      ),
      (error: Error) =>
        error instanceof TypeError &&
        /^createServer\(\): options must be an object/.test(error.message),
    );
  },
);

loopTest(
  "createDatagramEndpoint(): an unknown option is a TypeError naming it; undefined passes; the documented options work",
  async ({ loop }) => {
    const factory = () => new DatagramProtocol();
    await assertRefused(
      () =>
        loop.createDatagramEndpoint(factory, ["127.0.0.1", 0], null, {
          allow_broadcast: true,
        } as Options),
      "createDatagramEndpoint",
      "allow_broadcast",
      ["family", "reusePort", "allowBroadcast", "sock"],
    );
    const [plain] = await loop.createDatagramEndpoint(
      factory,
      ["127.0.0.1", 0],
      null,
      { allow_broadcast: undefined, reuseAddress: undefined } as Options,
    );
    plain.close();
    const [documented] = await loop.createDatagramEndpoint(
      factory,
      ["127.0.0.1", 0],
      null,
      {
        family: AF_INET,
        proto: 0,
        flags: 0,
        reusePort: null,
        allowBroadcast: true,
        sock: null,
      },
    );
    const sockname = documented.getExtraInfo("sockname") as [string, number];
    assert.equal(sockname[0], "127.0.0.1");
    documented.close();
    await sleep(0);
    // reuseAddress is known, and refused for its own reason, as asyncio's.
    await assert.rejects(
      loop.createDatagramEndpoint(factory, ["127.0.0.1", 0], null, {
        reuseAddress: true as never,
      }),
      (error: Error) =>
        error instanceof TypeError &&
        /reuseAddress is not supported/.test(error.message),
    );
  },
);

loopTest(
  "getaddrinfo(): an unknown option is a TypeError naming it; undefined passes; the documented options work",
  async ({ loop }) => {
    await assertRefused(
      () => loop.getaddrinfo("127.0.0.1", 80, { famliy: AF_INET } as Options),
      "getaddrinfo",
      "famliy",
      ["family", "type", "proto", "flags"],
    );
    const loose = await loop.getaddrinfo("127.0.0.1", 80, {
      famliy: undefined,
    } as Options);
    assert.ok(loose.length >= 1);
    const infos = await loop.getaddrinfo("127.0.0.1", 80, {
      family: AF_INET,
      type: SOCK_STREAM,
      proto: 0,
      flags: 0,
    });
    assert.equal(infos.length, 1);
    assert.equal(infos[0][0], AF_INET);
    assert.equal(infos[0][1], SOCK_STREAM);
  },
);

/** A temp file holding `text`, opened; removed when disposed. */
async function tempFile(text: string) {
  const path = await Deno.makeTempFile({ prefix: "aioloop-options-" });
  await Deno.writeTextFile(path, text);
  const file = await Deno.open(path);
  return {
    file,
    [Symbol.asyncDispose]: async () => {
      file.close();
      await Deno.remove(path);
    },
  };
}

loopTest(
  "sockSendfile(): an unknown option is a TypeError naming it and sends nothing; undefined passes; fallback works",
  async ({ loop }) => {
    await using tmp = await tempFile("hello");
    const [a, b] = socketpair();
    try {
      await assertRefused(
        () =>
          loop.sockSendfile(a, tmp.file, 0, null, { fallbak: true } as Options),
        "sockSendfile",
        "fallbak",
        ["fallback"],
      );
      assert.equal(await tmp.file.seek(0, Deno.SeekMode.Current), 0);
      assert.equal(
        await loop.sockSendfile(
          a,
          tmp.file,
          0,
          2,
          { fallbak: undefined } as Options,
        ),
        2,
      );
      assert.equal(
        await loop.sockSendfile(a, tmp.file, 2, null, { fallback: true }),
        3,
      );
      a.close();
      const chunks: number[] = [];
      for (let c; (c = await loop.sockRecv(b, 100)).length > 0;) {
        chunks.push(...c);
      }
      assert.equal(new TextDecoder().decode(new Uint8Array(chunks)), "hello");
    } finally {
      a.close();
      b.close();
    }
  },
);

loopTest(
  "sendfile(): an unknown option is a TypeError naming it and sends nothing; undefined passes; fallback works",
  async ({ loop }) => {
    await using tmp = await tempFile("hello");
    const got: number[] = [];
    const lost = Promise.withResolvers<void>();
    class Sink extends Protocol {
      override dataReceived(data: Uint8Array) {
        got.push(...data);
      }
      override connectionLost() {
        lost.resolve();
      }
    }
    const server = await loop.createServer(() => new Sink(), "127.0.0.1", 0);
    try {
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const [transport] = await loop.createConnection(
        () => new Protocol(),
        "127.0.0.1",
        port,
      );
      await assertRefused(
        () =>
          loop.sendfile(
            transport,
            tmp.file,
            0,
            null,
            { fallbak: true } as Options,
          ),
        "sendfile",
        "fallbak",
        ["fallback"],
      );
      assert.equal(await tmp.file.seek(0, Deno.SeekMode.Current), 0);
      assert.equal(
        await loop.sendfile(
          transport,
          tmp.file,
          0,
          2,
          { fallbak: undefined } as Options,
        ),
        2,
      );
      assert.equal(
        await loop.sendfile(transport, tmp.file, 2, null, { fallback: true }),
        3,
      );
      transport.close();
      await bounded("connectionLost()", lost.promise);
      assert.equal(new TextDecoder().decode(new Uint8Array(got)), "hello");
    } finally {
      await closeServer(server);
    }
  },
);

loopTest(
  "startTls(): an unknown option is a TypeError naming it and leaves the connection plain; the documented options upgrade it",
  async ({ loop }) => {
    const server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
      { ssl: serverContext(), sslHandshakeTimeout: 5, sslShutdownTimeout: 5 },
    );
    try {
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const client = new Protocol();
      const [plain] = await loop.createConnection(
        () => client,
        "127.0.0.1",
        port,
      );
      const ctx = clientContext();
      await assertRefused(
        () =>
          loop.startTls(plain, client, ctx, {
            server_hostname: "localhost",
          } as Options),
        "startTls",
        "server_hostname",
        ["serverSide", "serverHostname", "sslHandshakeTimeout"],
      );
      assert.equal(plain.isClosing(), false);
      const tls = await loop.startTls(plain, client, ctx, {
        serverSide: false,
        serverHostname: "localhost",
        sslHandshakeTimeout: 5,
        sslShutdownTimeout: 5,
        unused: undefined,
      } as Options);
      assert.ok(tls !== null);
      assert.ok(tls.getExtraInfo("peercert"));
      tls.close();
      await sleep(0.01);
    } finally {
      await closeServer(server);
    }
  },
);

loopTest(
  "createConnection() and createServer(): the TLS options are accepted with ssl",
  async ({ loop }) => {
    const made = Promise.withResolvers<void>();
    const server = await loop.createServer(
      () =>
        new class extends Protocol {
          override connectionMade() {
            made.resolve();
          }
        }(),
      "127.0.0.1",
      0,
      { ssl: serverContext(), sslHandshakeTimeout: 5, sslShutdownTimeout: 5 },
    );
    try {
      const port = (server.sockets[0].getsockname() as [string, number])[1];
      const [transport] = await loop.createConnection(
        () => new Protocol(),
        "127.0.0.1",
        port,
        {
          ssl: clientContext(),
          serverHostname: "localhost",
          sslHandshakeTimeout: 5,
          sslShutdownTimeout: 5,
        },
      );
      assert.ok(transport.getExtraInfo("peercert"));
      await bounded("server connectionMade()", made.promise);
      transport.close();
      await sleep(0.01);
    } finally {
      await closeServer(server);
    }
  },
);
