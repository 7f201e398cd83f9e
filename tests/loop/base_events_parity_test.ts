/**
 * More of the checks CPython's `test_base_events.py` and the loop-level part
 * of `test_events.py` make, in this API, beside the ones `base_loop_test.ts`,
 * `loop_parity_test.ts` and the networking suites already hold: a callback's
 * `KeyboardInterrupt` ends the run, the abstract classes refuse every
 * method, a closed loop refuses executor work, debug mode records where each
 * kind of handle was scheduled, the loop's `getaddrinfo`/`getnameinfo`, and
 * the argument rules of `createConnection`, `createServer`,
 * `connectAcceptedSocket`, `createUnixServer`, `createDatagramEndpoint` and
 * `sockSendfile` (address literals are used as they are, names go through
 * the loop's own `getaddrinfo`). Loop-level tests run on every loop kind,
 * network tests on the real loop, all with strict teardown.
 */
import assert from "node:assert/strict";
import {
  AbstractEventLoop,
  AbstractServer,
  AF_INET,
  DatagramProtocol,
  type DatagramTransport,
  ensureFuture,
  type GetaddrinfoOptions,
  KeyboardInterrupt,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  NotImplementedError,
  Protocol,
  RuntimeError,
  SendfileNotAvailableError,
  sleep,
  SO_BROADCAST,
  SO_REUSEPORT,
  SOCK_DGRAM,
  SOCK_STREAM,
  type Socket,
  socket,
  type SocketAddress,
  SOL_SOCKET,
} from "../../mod.ts";
import { getnameinfo } from "../../loop/net/addrinfo.ts";
import { loopTest } from "../_util.ts";
import {
  assertSameBytes,
  concat,
  netTest,
  pattern,
  Recorder,
} from "../net/_net.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** A datagram protocol whose `lost` future resolves at `connectionLost`. */
class Endpoint extends DatagramProtocol {
  readonly lost: Promise<void>;
  #lost!: () => void;

  constructor() {
    super();
    this.lost = new Promise((resolve) => this.#lost = resolve);
  }

  override connectionLost(): void {
    this.#lost();
  }
}

/** Closes a datagram endpoint and waits until its socket is released. */
async function closeEndpoint(
  transport: DatagramTransport,
  endpoint: Endpoint,
): Promise<void> {
  transport.close();
  await endpoint.lost;
}

// ---- KeyboardInterrupt -------------------------------------------------------

loopTest(
  "a callback that throws KeyboardInterrupt ends runUntilComplete() with it, unreported; the callbacks after it run in the next run",
  async (fx) => {
    const { loop } = fx;
    for (const debug of [false, true]) {
      loop.setDebug(debug);
      const interrupt = new KeyboardInterrupt();
      const seen: string[] = [];
      loop.callSoon(() => {
        throw interrupt;
      });
      loop.callSoon(() => seen.push("after the interrupt"));
      // The first run's coroutine outlives the run; the run it leaves behind
      // must not stop the next one when it finishes (0.01 s before it).
      await assert.rejects(
        loop.runUntilComplete(async () => {
          await sleep(0.01);
          seen.push("first coroutine");
        }),
        (e) => e === interrupt,
        `debug=${debug}`,
      );
      assert.deepEqual(seen, []);
      assert.equal(loop.isRunning(), false);
      const second = await loop.runUntilComplete(async () => {
        await sleep(0.02);
        return "second";
      });
      assert.equal(second, "second");
      assert.deepEqual(seen, ["after the interrupt", "first coroutine"]);
    }
    assert.deepEqual(fx.takeErrors(), []);
  },
);

loopTest(
  "a task whose coroutine throws KeyboardInterrupt ends the run with it; the task keeps it as its exception and the callbacks after its step run next time",
  async (fx) => {
    const { loop } = fx;
    for (const debug of [false, true]) {
      loop.setDebug(debug);
      const interrupt = new KeyboardInterrupt();
      const seen: string[] = [];
      const background = loop.createTask(async () => {
        await sleep(0);
        throw interrupt;
      });
      // Ready in the same iteration as the task's second step, after it.
      loop.callSoon(() => loop.callSoon(() => seen.push("after the step")));
      await assert.rejects(
        loop.runUntilComplete(async () => {
          await sleep(10);
        }),
        (e) => e === interrupt,
        `debug=${debug}`,
      );
      assert.equal(background.done(), true);
      assert.equal(background.exception(), interrupt);
      assert.deepEqual(seen, []);
      assert.equal(loop.isRunning(), false);
      // The loop runs on: no stop() is left behind, the held callback runs.
      assert.equal(await loop.runUntilComplete(async () => "next"), "next");
      assert.deepEqual(seen, ["after the step"]);
    }
    assert.deepEqual(fx.takeErrors(), []);
  },
);

loopTest(
  "runUntilComplete() of a task that throws KeyboardInterrupt rejects with it, the task's exception counted as retrieved, and the next run is not stopped early",
  async (fx) => {
    const { loop } = fx;
    const interrupt = new KeyboardInterrupt();
    const task = loop.createTask(async () => {
      await sleep(0);
      throw interrupt;
    });
    await assert.rejects(loop.runUntilComplete(task), (e) => e === interrupt);
    const later = await loop.runUntilComplete(async () => {
      await sleep(0.01);
      return "ran to the end";
    });
    assert.equal(later, "ran to the end");
    assert.deepEqual(fx.takeErrors(), []);
  },
);

// ---- the abstract classes ----------------------------------------------------

Deno.test("AbstractEventLoop's coroutine methods and AbstractServer's methods throw NotImplementedError naming the method", async () => {
  const loop = new AbstractEventLoop() as Loose;
  const methods = [
    "runInExecutor",
    "getaddrinfo",
    "getnameinfo",
    "createConnection",
    "createServer",
    "createUnixConnection",
    "createUnixServer",
    "connectAcceptedSocket",
    "createDatagramEndpoint",
    "startTls",
    "sockRecv",
    "sockRecvInto",
    "sockSendall",
    "sockConnect",
    "sockAccept",
    "sockRecvfrom",
    "sockSendto",
    "sockSendfile",
    "sendfile",
    "connectReadPipe",
    "connectWritePipe",
    "subprocessShell",
    "subprocessExec",
    "shutdownAsyncgens",
    "shutdownDefaultExecutor",
    "createFuture",
  ];
  for (const method of methods) {
    assert.equal(typeof loop[method], "function", method);
    await assert.rejects(
      async () => await loop[method](() => {}, () => {}),
      (e) =>
        e instanceof NotImplementedError &&
        e.message.startsWith(`${method}() `) &&
        e.message.includes("event loop class"),
      method,
    );
  }
  const server = new AbstractServer() as Loose;
  for (const method of ["close", "getLoop", "isServing", "waitClosed"]) {
    await assert.rejects(
      async () => await server[method](),
      (e) =>
        e instanceof NotImplementedError &&
        e.message.startsWith(`${method}() `) &&
        e.message.includes("server class"),
      method,
    );
  }
});

// ---- a closed loop -----------------------------------------------------------

loopTest(
  "a closed loop refuses runInExecutor() before submitting, and ensureFuture() of a coroutine function without starting it",
  async ({ loop }) => {
    loop.close();
    const closed = { name: "RuntimeError", message: "Event loop is closed" };
    const submitted: unknown[] = [];
    const executor = {
      submit: (fn: () => unknown) => {
        submitted.push(fn);
        return Promise.resolve(fn());
      },
      shutdown: () => {},
    };
    assert.throws(() => loop.runInExecutor(executor, () => 1), closed);
    assert.throws(() => loop.runInExecutor(null, () => 1), closed);
    assert.deepEqual(submitted, []);
    let started = false;
    assert.throws(
      () =>
        ensureFuture(async () => {
          started = true;
        }, { loop }),
      closed,
    );
    await Promise.resolve();
    assert.equal(started, false);
  },
);

// ---- debug mode ----------------------------------------------------------------

loopTest(
  "debug mode records where callSoon(), callSoonThreadsafe(), callLater() and callAt() were called",
  async (fx) => {
    const { loop } = fx;
    const fail = () => {
      throw new Error("scheduled");
    };
    const schedule = () => {
      loop.callSoon(fail);
      loop.callSoonThreadsafe(fail);
      loop.callLater(0, fail);
      loop.callAt(loop.time(), fail);
    };
    schedule();
    await loop.runUntilComplete(() => sleep(0.001));
    const plain = fx.takeErrors();
    assert.equal(plain.length, 4);
    for (const context of plain) {
      assert.equal(context.sourceTraceback, undefined);
    }
    loop.setDebug(true);
    schedule();
    await loop.runUntilComplete(() => sleep(0.001));
    const debug = fx.takeErrors();
    assert.deepEqual(
      debug.map((context) => (context.handle as object).constructor.name),
      ["Handle", "Handle", "TimerHandle", "TimerHandle"],
    );
    for (const context of debug) {
      assert.match(
        String(context.sourceTraceback),
        /base_events_parity_test\.ts/,
        String(context.handle),
      );
    }
  },
);

// ---- getaddrinfo and getnameinfo on the loop ----------------------------------------

loopTest(
  "getnameinfo() and getaddrinfo() on the loop: the module functions' answers, bad arguments refused with what was wrong, the loop still usable",
  async ({ loop }) => {
    const loose = loop as Loose;
    await loop.runUntilComplete(async () => {
      const sockaddr: SocketAddress = ["127.0.0.1", 80];
      assert.deepEqual(
        await loop.getnameinfo(sockaddr),
        await getnameinfo(sockaddr, 0),
      );
      assert.deepEqual(
        await loop.getnameinfo(sockaddr, NI_NUMERICHOST | NI_NUMERICSERV),
        ["127.0.0.1", "80"],
      );
      const infos = await loop.getaddrinfo("127.0.0.1", "80", {
        type: SOCK_STREAM,
      });
      assert.deepEqual(infos.map((i) => i[4]), [["127.0.0.1", 80]]);
      const refusals: [() => Promise<unknown>, ErrorConstructor, RegExp][] = [
        [() => loose.getnameinfo("127.0.0.1"), TypeError, /sockaddr/],
        [() => loose.getnameinfo(sockaddr, "0"), TypeError, /flags/],
        [() => loose.getaddrinfo(5, 80), TypeError, /host/],
        [() => loose.getaddrinfo("127.0.0.1", -1), RangeError, /port/],
        [() => loose.getaddrinfo("127.0.0.1", {}), TypeError, /port/],
        [
          () => loop.getaddrinfo("127.0.0.1", 80, { family: 12345 }),
          RangeError,
          /family/,
        ],
        [
          () => loose.getaddrinfo("127.0.0.1", 80, { type: "stream" }),
          TypeError,
          /type/,
        ],
      ];
      for (const [call, kind, what] of refusals) {
        await assert.rejects(
          call,
          (e) => e instanceof kind && what.test((e as Error).message),
          String(call),
        );
      }
    });
    let ran = false;
    loop.callSoon(() => ran = true);
    await loop.runUntilComplete(() => sleep(0));
    assert.equal(ran, true);
    loop.close();
    await assert.rejects(loop.getnameinfo(["127.0.0.1", 80]), RuntimeError);
    await assert.rejects(loop.getaddrinfo("127.0.0.1", 80), RuntimeError);
  },
);

// ---- createConnection() and createServer() ------------------------------------------

netTest(
  "createConnection(): an address literal, as host or localAddr, is used without asking the loop's getaddrinfo; a name, or a protocol it does not know, asks it",
  async ({ loop }) => {
    await using server = await loop.createServer(
      () => new Protocol(),
      "127.0.0.1",
      0,
    );
    const [, port] = server.sockets[0].getsockname() as [string, number];
    const asked: [unknown, GetaddrinfoOptions][] = [];
    loop.getaddrinfo = async (host, _port, hints = {}) => {
      asked.push([host, hints]);
      return [[AF_INET, SOCK_STREAM, 6, "", ["127.0.0.1", Number(_port)]]];
    };
    const connect = async (
      host: string,
      options: Record<string, unknown> = {},
    ) => {
      const client = new Recorder(loop);
      const [transport] = await loop.createConnection(
        () => client,
        host,
        port,
        options,
      );
      assert.deepEqual(transport.getExtraInfo("peername"), ["127.0.0.1", port]);
      transport.close();
      await client.lost;
    };
    await connect("127.0.0.1");
    await connect("127.0.0.1", { localAddr: ["127.0.0.1", 0] });
    assert.equal(asked.length, 0, "a literal was resolved");
    await connect("server.test");
    assert.deepEqual(asked.map(([host]) => host), ["server.test"]);
    await connect("127.0.0.1", { proto: 132 });
    assert.deepEqual(asked.map(([host]) => host), ["server.test", "127.0.0.1"]);
    assert.equal(asked[1][1].proto, 132);
  },
);

netTest(
  "createConnection() and createServer(): neither host/port nor sock is a RangeError that says so; an unknown service name is refused by name; a port given as digits works",
  async ({ loop }) => {
    const factory = () => new Protocol();
    await assert.rejects(
      loop.createConnection(factory),
      (e) => e instanceof RangeError && /no sock/.test(e.message),
    );
    await assert.rejects(
      loop.createServer(factory),
      (e) => e instanceof RangeError && /nor sock/.test(e.message),
    );
    await assert.rejects(
      loop.createServer(factory, "127.0.0.1", "no-such-service"),
      (e) => /no-such-service/.test((e as Error).message),
    );
    await assert.rejects(
      loop.createConnection(factory, "127.0.0.1", "no-such-service"),
      (e) => /no-such-service/.test((e as Error).message),
    );
    await using server = await loop.createServer(factory, "127.0.0.1", "0");
    const [, port] = server.sockets[0].getsockname() as [string, number];
    assert.ok(port > 0);
    const client = new Recorder(loop);
    const [transport] = await loop.createConnection(
      () => client,
      "127.0.0.1",
      String(port),
    );
    assert.deepEqual(transport.getExtraInfo("peername"), ["127.0.0.1", port]);
    transport.close();
    await client.lost;
  },
);

netTest(
  "createServer() with a host listed twice listens on it once",
  async ({ loop }) => {
    await using server = await loop.createServer(
      () => new Protocol(),
      ["127.0.0.1", "127.0.0.1"],
      0,
    );
    assert.equal(server.sockets.length, 1);
    assert.equal(server.sockets[0].getsockname()[0], "127.0.0.1");
  },
);

netTest(
  "connectAcceptedSocket() with TLS timeouts but no ssl, and createUnixServer() with a path and a sock, are RangeErrors that leave the socket open",
  async ({ loop }) => {
    const factory = () => new Protocol();
    using sock = socket();
    for (
      const options of [{ sslHandshakeTimeout: 1 }, { sslShutdownTimeout: 1 }]
    ) {
      await assert.rejects(
        loop.connectAcceptedSocket(factory, sock, options),
        (e) =>
          e instanceof RangeError && /only meaningful with ssl/.test(e.message),
      );
    }
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        loop.createUnixServer(factory, `${dir}/server.sock`, { sock }),
        (e) =>
          e instanceof RangeError &&
          /path and sock can not be specified at the same time/.test(
            e.message,
          ),
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was bound");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(sock.closed, false);
  },
);

// ---- createDatagramEndpoint() ---------------------------------------------------------

netTest(
  "createDatagramEndpoint(): a name goes through the loop's getaddrinfo with type SOCK_DGRAM, a literal does not; an empty answer is an error",
  async ({ loop }) => {
    const asked: [unknown, GetaddrinfoOptions][] = [];
    loop.getaddrinfo = async (host, port, hints = {}) => {
      asked.push([host, hints]);
      return host === "dgram.test"
        ? [[AF_INET, SOCK_DGRAM, 17, "", ["127.0.0.1", Number(port)]]]
        : [];
    };
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(),
      ["dgram.test", 0],
    );
    assert.equal(
      (transport.getExtraInfo("sockname") as [string, number])[0],
      "127.0.0.1",
    );
    await closeEndpoint(transport, endpoint);
    assert.deepEqual(asked.map(([host]) => host), ["dgram.test"]);
    assert.equal(asked[0][1].type, SOCK_DGRAM);
    await assert.rejects(
      loop.createDatagramEndpoint(() => new Endpoint(), ["nowhere.test", 0]),
      (e) =>
        e instanceof Deno.errors.NotFound &&
        /getaddrinfo\(\) returned empty list/.test(e.message),
    );
    const [literal, literalEndpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(),
      ["127.0.0.1", 0],
      ["127.0.0.1", 9],
    );
    assert.deepEqual(literal.getExtraInfo("peername"), ["127.0.0.1", 9]);
    await closeEndpoint(literal, literalEndpoint);
    assert.deepEqual(asked.map(([host]) => host), [
      "dgram.test",
      "nowhere.test",
    ]);
  },
);

netTest(
  "createDatagramEndpoint(): an address that is not a [host, port] pair is a TypeError; with sock, each of localAddr, remoteAddr, proto and flags is refused by name and the sock stays usable",
  async ({ loop }) => {
    const factory = () => new Endpoint();
    for (const bad of ["localhost", ["localhost", 1, 2, 3], ["localhost"]]) {
      await assert.rejects(
        loop.createDatagramEndpoint(factory, bad as Loose),
        (e) => e instanceof TypeError && /2-tuple/.test(e.message),
        JSON.stringify(bad),
      );
    }
    const sock = socket(AF_INET, SOCK_DGRAM);
    sock.bind(["127.0.0.1", 0]);
    const cases: [
      SocketAddress | null,
      SocketAddress | null,
      object,
      string,
    ][] = [
      [["127.0.0.1", 0], null, {}, "localAddr"],
      [null, ["127.0.0.1", 9], {}, "remoteAddr"],
      [null, null, { proto: 17 }, "proto=17"],
      [null, null, { flags: 1 }, "flags=1"],
    ];
    for (const [local, remote, options, named] of cases) {
      await assert.rejects(
        loop.createDatagramEndpoint(factory, local, remote, {
          sock,
          ...options,
        }),
        (e) =>
          e instanceof RangeError && e.message.includes(named) &&
          /can not be used when sock is specified/.test(e.message),
        named,
      );
    }
    assert.equal(sock.closed, false);
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      factory,
      null,
      null,
      { sock },
    );
    assert.equal(transport.getExtraInfo("socket"), sock);
    await closeEndpoint(transport, endpoint);
  },
);

netTest(
  "createDatagramEndpoint() sets no socket option it was not asked for: SO_BROADCAST and SO_REUSEPORT are off",
  async ({ loop }) => {
    const [transport, endpoint] = await loop.createDatagramEndpoint(
      () => new Endpoint(),
      ["127.0.0.1", 0],
    );
    const sock = transport.getExtraInfo("socket") as Socket;
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_BROADCAST), 0);
    assert.equal(sock.getsockopt(SOL_SOCKET, SO_REUSEPORT), 0);
    await closeEndpoint(transport, endpoint);
  },
);

// ---- sockSendfile() ---------------------------------------------------------------------

netTest(
  "sockSendfile() on a connected socket: fallback: false sends nothing and leaves the file where it was; offset and count send that slice and leave the file just after it",
  async ({ loop }) => {
    const data = pattern(64 * 1024);
    const path = await Deno.makeTempFile();
    await Deno.writeFile(path, data);
    const listener = socket();
    listener.bind(["127.0.0.1", 0]);
    listener.listen();
    const client = socket();
    try {
      using file = await Deno.open(path, { read: true });
      await loop.sockConnect(client, listener.getsockname());
      const [conn] = await loop.sockAccept(listener);
      const position = () => file.seek(0, Deno.SeekMode.Current);
      await assert.rejects(
        loop.sockSendfile(client, file, 0, null, { fallback: false }),
        SendfileNotAvailableError,
      );
      assert.equal(await position(), 0);
      assert.equal(await loop.sockSendfile(client, file, 1000, 2000), 2000);
      assert.equal(await position(), 3000);
      client.shutdown(1);
      const chunks: Uint8Array[] = [];
      for (;;) {
        const chunk = await loop.sockRecv(conn, 65536);
        if (chunk.length === 0) break;
        chunks.push(chunk);
      }
      conn.close();
      assertSameBytes(concat(chunks), data.subarray(1000, 3000));
    } finally {
      client.close();
      listener.close();
      await Deno.remove(path);
    }
  },
);
