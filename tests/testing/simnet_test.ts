/**
 * The simulated network: hosts, names and ports, TCP behaviour (connect,
 * accept, ordered bytes, EOF, half-close, refusal, reset, flow control),
 * faults on the virtual clock, determinism, and bad input.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  captureTaskTree,
  createDefaultContext,
  createTask,
  DatagramProtocol,
  gather,
  getRunningLoop,
  openConnection,
  openUnixConnection,
  Protocol,
  run,
  sleep,
  socket,
  startServer,
  startUnixServer,
  type StreamReader,
  type StreamWriter,
  type Task,
  type TaskTreeNode,
  type Transport,
  waitFor,
} from "../../mod.ts";
import { SimNetwork, waitAllTasksBlocked } from "../../testing/mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A line echo server on `port` of the current host. */
function lineEcho(port: number, name = "echo") {
  return startServer(
    async (reader: StreamReader, writer: StreamWriter) => {
      for (;;) {
        const line = await reader.readline();
        if (line.length === 0) break;
        writer.write(enc(`${name}:${dec(line)}`));
        await writer.drain();
      }
      writer.close();
    },
    "0.0.0.0",
    port,
  );
}

/** Runs `body` on a fresh network; prints the trace when it fails. */
async function withNet(
  body: (net: SimNetwork) => Promise<void>,
  options: { random?: number; latency?: number } = {},
): Promise<SimNetwork> {
  const net = new SimNetwork(options);
  using _policy = net.use();
  try {
    await run(() => body(net));
  } catch (error) {
    console.error(net.formatTrace());
    throw error;
  }
  return net;
}

Deno.test("three servers and a client: names resolve, each host has its own ports and addresses", async () => {
  await withNet(async (net) => {
    const names = ["a", "b", "c"];
    const hosts = names.map((n) => net.addHost(n));
    const client = net.addHost("client");
    const servers = await Promise.all(
      hosts.map((h) => h.run(() => lineEcho(8000, h.name))),
    );
    const replies = await client.run(async () => {
      const out: string[] = [];
      for (const name of names) {
        const infos = await getRunningLoop().getaddrinfo(name, 8000);
        assert.equal(infos[0][4][0], net.host(name).addresses[0]);
        const [reader, writer] = await openConnection(name, 8000);
        const sockname = writer.getExtraInfo("sockname") as [string, number];
        const peername = writer.getExtraInfo("peername") as [string, number];
        assert.equal(sockname[0], client.addresses[0]);
        assert(sockname[1] >= 49152);
        assert.deepEqual(peername, [net.host(name).addresses[0], 8000]);
        writer.write(enc("hi\n"));
        out.push(dec(await reader.readline()));
        writer.close();
        await writer.waitClosed();
      }
      return out;
    });
    assert.deepEqual(replies, ["a:hi\n", "b:hi\n", "c:hi\n"]);
    for (const server of servers) {
      server.close();
      await server.waitClosed();
    }
  });
});

Deno.test("a port in use is AddrInUse on that host only; port 0 picks an ephemeral port", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const first = await a.run(() => lineEcho(9000));
    await a.run(async () => {
      await assert.rejects(lineEcho(9000), Deno.errors.AddrInUse);
    });
    const onB = await b.run(() => lineEcho(9000));
    const ephemeral = await a.run(() => lineEcho(0));
    const [, port] = ephemeral.sockets[0].getsockname();
    assert(port >= 49152 && port <= 65535);
    for (const s of [first, onB, ephemeral]) {
      s.close();
      await s.waitClosed();
    }
  });
});

Deno.test("nothing listening is ConnectionRefused; an unknown address or name fails as a real one does", async () => {
  const net = await withNet(async (net) => {
    net.addHost("server");
    const client = net.addHost("client");
    await client.run(async () => {
      await assert.rejects(
        openConnection("server", 1234),
        Deno.errors.ConnectionRefused,
      );
      await assert.rejects(
        openConnection("10.9.9.9", 80),
        Deno.errors.NetworkUnreachable,
      );
      await assert.rejects(
        openConnection("nowhere", 80),
        (e: Error) => /nowhere/.test(e.message),
      );
      // The network stays usable.
      const server = await net.host("server").run(() => lineEcho(1234));
      const [reader, writer] = await openConnection("server", 1234);
      writer.write(enc("ok\n"));
      assert.equal(dec(await reader.readline()), "echo:ok\n");
      writer.close();
      server.close();
      await server.waitClosed();
    });
  });
  assert(net.trace.some((e) => e.kind === "refused"));
});

Deno.test("bytes arrive in order after the link's latency; EOF after the data; half-close keeps the other way open", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    net.setLink("client", "server", { latency: 0.25 });
    const loop = getRunningLoop();
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          const all = await reader.read(-1); // to EOF
          writer.write(enc(`got ${all.length}`));
          writer.close();
        },
        "0.0.0.0",
        7,
      )
    );
    const t0 = loop.time();
    const reply = await client.run(async () => {
      const [reader, writer] = await openConnection("server", 7);
      assert.equal(loop.time() - t0, 0.5); // SYN there, SYN-ACK back
      for (let i = 0; i < 100; i++) writer.write(enc("0123456789"));
      writer.writeEof();
      const body = await reader.read(-1);
      assert.equal(loop.time() - t0, 1.0); // data there, reply back
      return dec(body);
    });
    assert.equal(reply, "got 1000");
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a peer that does not read fills the window: pauseWriting, then resumeWriting when it reads", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    let received = 0;
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          await gate;
          for (;;) {
            const data = await reader.read(65536);
            if (data.length === 0) break;
            received += data.length;
          }
          writer.close();
        },
        "0.0.0.0",
        9,
      )
    );
    const events: string[] = [];
    class Sender extends Protocol {
      override pauseWriting() {
        events.push("pause");
      }
      override resumeWriting() {
        events.push("resume");
      }
    }
    await client.run(async () => {
      const loop = getRunningLoop();
      const [transport] = await loop.createConnection(
        () => new Sender(),
        "server",
        9,
      );
      const big = new Uint8Array(1024 * 1024);
      transport.write(big);
      await sleep(1);
      assert.deepEqual(events, ["pause"]);
      assert(transport.getWriteBufferSize() > 0);
      release();
      await waitFor(
        (async () => {
          while (!events.includes("resume")) await sleep(0.01);
        })(),
        10,
      );
      (transport as Transport).close();
      while (received < big.length) await sleep(0.01);
    });
    assert.equal(received, 1024 * 1024);
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a partition holds connects and bytes; repair lets them through, on the virtual clock", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const loop = getRunningLoop();
    const srv = await server.run(() => lineEcho(80));
    const [reader, writer] = await client.run(() =>
      openConnection("server", 80)
    );
    net.partition("client", "server");
    loop.callLater(5, () => net.repair("client", "server"));
    const t0 = loop.time();
    writer.write(enc("during\n"));
    assert.equal(dec(await reader.readline()), "echo:during\n");
    assert(loop.time() - t0 >= 5);
    writer.close();
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("hold() takes back the bytes on the wire; release() sends them on, in order", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    net.setLink("client", "server", { latency: 1 });
    const loop = getRunningLoop();
    const srv = await server.run(() => lineEcho(80));
    const [reader, writer] = await client.run(() =>
      openConnection("server", 80)
    );
    const t0 = loop.time();
    writer.write(enc("first\n"));
    loop.callLater(0.5, () => net.hold("client", "server"));
    loop.callLater(0.75, () => writer.write(enc("second\n")));
    loop.callLater(3, () => net.release("client", "server"));
    assert.equal(dec(await reader.readline()), "echo:first\n");
    assert.equal(dec(await reader.readline()), "echo:second\n");
    // Held at 0.5 s, sent again at 3 s: there at 4 s, the echo back at 5 s.
    assert.equal(loop.time() - t0, 5);
    writer.close();
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a crashed host resets its peers' connections and cancels its tasks", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    let serverTaskCancelled = false;
    const srv = await server.run(() => lineEcho(80));
    const background = server.run(async () => {
      try {
        await sleep(3600);
      } catch (error) {
        serverTaskCancelled = true;
        throw error;
      }
    });
    const [reader, writer] = await client.run(() =>
      openConnection("server", 80)
    );
    writer.write(enc("one\n"));
    assert.equal(dec(await reader.readline()), "echo:one\n");
    net.crash("server");
    await assert.rejects(reader.read(10), Deno.errors.ConnectionReset);
    await assert.rejects(async () => await background);
    assert(serverTaskCancelled);
    writer.close();
    srv.close();
    // Down: connects time out; restarted: refused until something listens.
    net.restart("server");
    await client.run(async () => {
      await assert.rejects(
        openConnection("server", 80),
        Deno.errors.ConnectionRefused,
      );
    });
  });
});

Deno.test("the same random number gives the same trace, jitter included", async () => {
  async function scenario(random: number) {
    return await withNet(async (net) => {
      const server = net.addHost("server");
      const client = net.addHost("client");
      net.setLink("client", "server", { latency: 0.01, jitter: 0.05 });
      const srv = await server.run(() => lineEcho(80));
      await Promise.all([1, 2, 3].map((i) =>
        client.run(async () => {
          const [reader, writer] = await openConnection("server", 80);
          for (let k = 0; k < 5; k++) {
            writer.write(enc(`${i}-${k}\n`));
            await reader.readline();
          }
          writer.close();
        })
      ));
      srv.close();
      await srv.waitClosed();
    }, { random });
  }
  const a = (await scenario(7)).formatTrace();
  const b = (await scenario(7)).formatTrace();
  const c = (await scenario(8)).formatTrace();
  assert.equal(a, b);
  assert.notEqual(a, c);
});

Deno.test("bad input: unknown hosts and negative or NaN figures are errors at the call, and the network stays usable", () => {
  const net = new SimNetwork();
  net.addHost("a");
  net.addHost("b");
  assert.throws(() => net.partition("a", "nope"), RangeError);
  assert.throws(() => net.crash("nope"), RangeError);
  assert.throws(() => net.setLink("a", "b", { latency: -1 }), RangeError);
  assert.throws(() => net.setLink("a", "b", { latency: NaN }), RangeError);
  assert.throws(
    () => net.setLink("a", "b", { latency: "1" as never }),
    TypeError,
  );
  assert.throws(() => net.setLink("a", "b", { bandwidth: 0 }), RangeError);
  assert.throws(() => new SimNetwork({ latency: -0.5 }), RangeError);
  assert.throws(() => net.addHost("a"), Deno.errors.AlreadyExists);
  assert.throws(() => net.addHost(""), TypeError);
  net.setLink("a", "b", { latency: 0.1, bandwidth: 1000 });
  net.partition("a", "b", { oneWay: true });
  net.repair();
  assert.deepEqual(
    net.trace.map((e) => e.kind),
    ["partition", "repair"],
  );
});

/** A datagram endpoint that records what it gets. */
class Inbox extends DatagramProtocol {
  got: [string, unknown][] = [];
  override datagramReceived(data: Uint8Array, addr: unknown) {
    this.got.push([dec(data), addr]);
  }
}

Deno.test("UDP keeps datagram boundaries and shows the sender's address", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const loop = getRunningLoop();
    const [server, inbox] = await b.run(() =>
      loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 5353])
    );
    const [client] = await a.run(() =>
      loop.createDatagramEndpoint(() => new DatagramProtocol(), null, [
        "b",
        5353,
      ])
    );
    client.sendto(enc("one"));
    client.sendto(enc("two"));
    await sleep(0.01);
    const [, port] = client.getExtraInfo("sockname") as [string, number];
    assert.deepEqual(inbox.got, [
      ["one", [a.addresses[0], port]],
      ["two", [a.addresses[0], port]],
    ]);
    // Binding the same port on the same host fails; on another host it works.
    await b.run(async () => {
      await assert.rejects(
        loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 5353]),
        Deno.errors.AddrInUse,
      );
    });
    const [other] = await a.run(() =>
      loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 5353])
    );
    for (const t of [client, server, other]) t.close();
  });
});

Deno.test("UDP loss, duplication and reordering come from the random number: the same number, the same datagrams", async () => {
  async function scenario(random: number) {
    let got: string[] = [];
    const net = await withNet(async (net) => {
      const a = net.addHost("a");
      const b = net.addHost("b");
      net.setLink("a", "b", {
        latency: 0.01,
        loss: 0.2,
        duplicate: 0.1,
        reorder: 0.3,
      });
      const loop = getRunningLoop();
      const [server, inbox] = await b.run(() =>
        loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 9])
      );
      const [client] = await a.run(() =>
        loop.createDatagramEndpoint(() => new DatagramProtocol(), null, [
          "b",
          9,
        ])
      );
      for (let i = 0; i < 200; i++) {
        client.sendto(enc(String(i)));
      }
      await sleep(1);
      got = inbox.got.map(([text]) => text);
      client.close();
      server.close();
    }, { random });
    return { got, trace: net.formatTrace() };
  }
  const first = await scenario(3);
  const again = await scenario(3);
  const other = await scenario(4);
  assert.deepEqual(first, again);
  assert.notDeepEqual(first.got, other.got);
  const numbers = first.got.map(Number);
  const unique = new Set(numbers);
  assert(unique.size < 200, "some were lost");
  assert(numbers.length > unique.size, "some arrived twice");
  assert(
    numbers.some((n, i) => i > 0 && n < numbers[i - 1]),
    "some were overtaken",
  );
  assert(first.trace.includes(" drop "));
});

Deno.test("a partition drops datagrams; hold keeps them until release", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const loop = getRunningLoop();
    const [server, inbox] = await b.run(() =>
      loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 9])
    );
    const [client] = await a.run(() =>
      loop.createDatagramEndpoint(() => new DatagramProtocol(), null, ["b", 9])
    );
    const send = (text: string) => client.sendto(enc(text));
    net.partition("a", "b");
    send("lost");
    net.repair();
    net.hold("a", "b");
    send("held");
    await sleep(5);
    assert.equal(inbox.got.length, 0);
    net.release("a", "b");
    send("after");
    await sleep(0.01);
    assert.deepEqual(inbox.got.map(([t]) => t), ["held", "after"]);
    assert.throws(() => net.setLink("a", "b", { loss: 1.5 }), RangeError);
    assert.throws(() => net.setLink("a", "b", { reorder: NaN }), RangeError);
    assert.throws(
      () => net.setLink("a", "b", { duplicate: "x" as never }),
      TypeError,
    );
    client.close();
    server.close();
  });
});

const FIXTURES = new URL("../fixtures/tls/", import.meta.url);
const pem = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

Deno.test("TLS runs over the simulated network", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const serverCtx = createDefaultContext({
      purpose: "clientAuth",
      cert: pem("server.pem"),
      key: pem("server.key"),
    });
    const clientCtx = createDefaultContext({ caCerts: [pem("ca.pem")] });
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          writer.write(await reader.readline());
          writer.close();
        },
        "0.0.0.0",
        443,
        { ssl: serverCtx },
      )
    );
    const reply = await client.run(async () => {
      const [reader, writer] = await openConnection("server", 443, {
        ssl: clientCtx,
        serverHostname: "localhost",
      });
      writer.write(enc("secret\n"));
      const line = dec(await reader.readline());
      writer.close();
      return line;
    });
    assert.equal(reply, "secret\n");
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("the sock* methods work on the simulated network", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const loop = getRunningLoop();
    const listener = await server.run(async () => {
      const sock = socket(AF_INET);
      sock.bind(["0.0.0.0", 2000]);
      sock.listen();
      sock.setblocking(false);
      return sock;
    });
    const echoed = server.run(async () => {
      const [conn] = await loop.sockAccept(listener);
      const data = await loop.sockRecv(conn, 100);
      await loop.sockSendall(conn, data);
      conn.close();
    });
    const got = await client.run(async () => {
      const sock = socket(AF_INET);
      sock.setblocking(false);
      await loop.sockConnect(sock, [server.addresses[0], 2000]);
      assert.deepEqual(sock.getpeername(), [server.addresses[0], 2000]);
      await loop.sockSendall(sock, enc("raw"));
      const data = await loop.sockRecv(sock, 100);
      sock.close();
      return dec(data);
    });
    await echoed;
    listener.close();
    assert.equal(got, "raw");
  });
});

Deno.test("SimNetwork.run() prints the trace when the program fails", async () => {
  const net = new SimNetwork();
  net.addHost("server");
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    await assert.rejects(
      net.run(() => openConnection("server", 80)),
      Deno.errors.ConnectionRefused,
    );
  } finally {
    console.error = original;
  }
  assert.equal(printed.length, 1);
  assert.match(printed[0], /refused server:80 -> main:\d+/);
});

Deno.test("a link's bandwidth paces the bytes: 100 KiB at 50 KiB/s takes two seconds", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    net.setLink("client", "server", { latency: 0, bandwidth: 50 * 1024 });
    const loop = getRunningLoop();
    let done!: (n: number) => void;
    const received = new Promise<number>((r) => done = r);
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          done((await reader.read(-1)).length);
          writer.close();
        },
        "0.0.0.0",
        5,
      )
    );
    const [, writer] = await client.run(() => openConnection("server", 5));
    const t0 = loop.time();
    writer.write(new Uint8Array(100 * 1024));
    writer.writeEof();
    assert.equal(await received, 100 * 1024);
    assert(Math.abs(loop.time() - t0 - 2) < 1e-9, `took ${loop.time() - t0}`);
    writer.close();
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a one-way partition stops one direction only", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const loop = getRunningLoop();
    const [bInbox] = await b.run(async () => {
      const [, inbox] = await loop.createDatagramEndpoint(
        () => new Inbox(),
        ["0.0.0.0", 9],
      );
      return [inbox];
    });
    const [aTransport, aInbox] = await a.run(() =>
      loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 9])
    );
    net.partition("a", "b", { oneWay: true });
    aTransport.sendto(enc("a->b"), [b.addresses[0], 9]);
    await b.run(async () => {
      const [t] = await loop.createDatagramEndpoint(
        () => new DatagramProtocol(),
        null,
        ["a", 9],
      );
      t.sendto(enc("b->a"));
      await sleep(0.1);
      t.close();
    });
    assert.deepEqual(aInbox.got.map(([t]) => t), ["b->a"]);
    assert.equal(bInbox.got.length, 0);
    aTransport.close();
  });
});

Deno.test("writing to a peer that closed gets a reset", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const srv = await server.run(() =>
      startServer((_reader, writer) => writer.close(), "0.0.0.0", 6)
    );
    await client.run(async () => {
      const [reader, writer] = await openConnection("server", 6);
      assert.equal((await reader.read(10)).length, 0); // EOF
      writer.write(enc("late"));
      await sleep(1);
      writer.write(enc("later"));
      await sleep(1);
      await assert.rejects(writer.drain(), Deno.errors.ConnectionReset);
      writer.close();
    });
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("tasks created on a host inherit it, however deep", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const worker = net.addHost("worker", { addresses: ["192.168.7.7"] });
    const srv = await server.run(() => lineEcho(80));
    const seen = await worker.run(async () => {
      const inner = createTask(async () => {
        const innermost = createTask(async () => {
          const [, writer] = await openConnection("server", 80);
          const sockname = writer.getExtraInfo("sockname") as [string, number];
          writer.close();
          return sockname[0];
        });
        return await innermost;
      });
      return await inner;
    });
    assert.equal(seen, "192.168.7.7");
    // Outside any host, code runs on the host named "main".
    const [, writer] = await openConnection("server", 80);
    assert.equal(
      (writer.getExtraInfo("sockname") as [string, number])[0],
      net.host("main").addresses[0],
    );
    writer.close();
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("Unix sockets work within a host; each host has its own paths", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const loop = getRunningLoop();
    const path = "/run/app.sock"; // never touches the real filesystem
    const server = await a.run(() =>
      startUnixServer(async (reader, writer) => {
        writer.write(await reader.readline());
        writer.close();
      }, path)
    );
    assert.equal(server.sockets[0].getsockname(), path);
    const reply = await a.run(async () => {
      const [reader, writer] = await openUnixConnection(path);
      writer.write(enc("local\n"));
      const line = dec(await reader.readline());
      writer.close();
      return line;
    });
    assert.equal(reply, "local\n");
    await b.run(async () => {
      await assert.rejects(openUnixConnection(path), Deno.errors.NotFound);
      const sock = socket(AF_UNIX);
      sock.bind(path); // b's own path: free
      sock.close();
    });
    await a.run(async () => {
      await assert.rejects(
        loop.createUnixServer(() => new Protocol(), path),
        Deno.errors.AddrInUse,
      );
    });
    server.close();
    await server.waitClosed();
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  });
});

Deno.test("ports: an accepted connection's close keeps the listener's port; TCP and UDP ports are apart", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const loop = getRunningLoop();
    const srv = await server.run(() =>
      startServer((_reader, writer) => writer.close(), "0.0.0.0", 7000)
    );
    await client.run(async () => {
      const [reader, writer] = await openConnection("server", 7000);
      await reader.read(-1);
      writer.close();
      await sleep(0.1);
    });
    await server.run(async () => {
      await assert.rejects(lineEcho(7000), Deno.errors.AddrInUse);
      const [udp] = await loop.createDatagramEndpoint(
        () => new Inbox(),
        ["0.0.0.0", 7000],
      );
      udp.close();
    });
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("closing with unread data resets the connection: a writer waiting for room fails", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const srv = await server.run(() =>
      startServer(
        async (_reader, writer) => {
          await sleep(1); // never reads
          writer.close();
        },
        "0.0.0.0",
        7000,
      )
    );
    await client.run(async () => {
      const [, writer] = await openConnection("server", 7000);
      writer.write(new Uint8Array(1024 * 1024));
      await assert.rejects(writer.drain(), Deno.errors.ConnectionReset);
      writer.close();
    });
    assert(net.trace.some((e) => e.kind === "reset"));
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a listener from before a crash does not touch the restarted host's listener", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    const old = await server.run(() => lineEcho(80, "old"));
    net.crash("server");
    net.restart("server");
    const fresh = await server.run(() => lineEcho(80, "new"));
    old.close();
    const reply = await client.run(async () => {
      const [reader, writer] = await openConnection("server", 80);
      writer.write(enc("hi\n"));
      const line = dec(await reader.readline());
      writer.close();
      return line;
    });
    assert.equal(reply, "new:hi\n");
    fresh.close();
    await fresh.waitClosed();
  });
});

Deno.test("a partition holds what a closed connection still has on the wire", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    net.setLink("client", "server", { latency: 1 });
    const loop = getRunningLoop();
    let got = "";
    let gotAt = 0;
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          got = dec(await reader.read(-1));
          gotAt = loop.time();
          writer.close();
        },
        "0.0.0.0",
        80,
      )
    );
    const [, writer] = await client.run(() => openConnection("server", 80));
    const t0 = loop.time();
    writer.write(enc("last words"));
    writer.close();
    await sleep(0.5);
    net.partition("client", "server");
    loop.callLater(5, () => net.repair());
    while (got === "") await sleep(0.5);
    assert.equal(got, "last words");
    assert(gotAt - t0 >= 5.5, `arrived ${gotAt - t0} s after the write`);
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("a link's bandwidth is shared by the connections on it", async () => {
  await withNet(async (net) => {
    const server = net.addHost("server");
    const client = net.addHost("client");
    net.setLink("client", "server", { latency: 0, bandwidth: 100 * 1024 });
    const loop = getRunningLoop();
    const done: number[] = [];
    const writers: StreamWriter[] = [];
    const srv = await server.run(() =>
      startServer(
        async (reader, writer) => {
          await reader.read(-1);
          done.push(loop.time());
          writer.close();
        },
        "0.0.0.0",
        80,
      )
    );
    await client.run(async () => {
      await gather(...[1, 2, 3, 4].map(() =>
        (async () => {
          const [, writer] = await openConnection("server", 80);
          writers.push(writer);
          writer.write(new Uint8Array(50 * 1024));
          writer.writeEof();
          await writer.drain();
        })()
      ));
    });
    while (done.length < 4) await sleep(0.1);
    for (const w of writers) w.close();
    // 200 KiB over 100 KiB/s: the last transfer ends near 2 s, not 0.5 s.
    assert(Math.max(...done) >= 1.9, `last done at ${Math.max(...done)}`);
    srv.close();
    await srv.waitClosed();
  });
});

Deno.test("UDP over loopback answers from loopback; a crashed host sends no datagrams", async () => {
  await withNet(async (net) => {
    const a = net.addHost("a");
    const b = net.addHost("b");
    const loop = getRunningLoop();
    await a.run(async () => {
      class EchoBack extends DatagramProtocol {
        t: { sendto(d: Uint8Array, a: unknown): void } | null = null;
        override connectionMade(t: never) {
          this.t = t;
        }
        override datagramReceived(data: Uint8Array, addr: unknown) {
          this.t!.sendto(data, addr);
        }
      }
      const [server] = await loop.createDatagramEndpoint(
        () => new EchoBack(),
        ["0.0.0.0", 9000],
      );
      const [client, inbox] = await loop.createDatagramEndpoint(
        () => new Inbox(),
        null,
        ["127.0.0.1", 9000],
      );
      client.sendto(enc("ping"));
      await sleep(0.01);
      assert.deepEqual(inbox.got, [["ping", ["127.0.0.1", 9000]]]);
      client.close();
      server.close();
    });
    const [sink, inbox] = await b.run(() =>
      loop.createDatagramEndpoint(() => new Inbox(), ["0.0.0.0", 9])
    );
    const [beat] = await a.run(() =>
      loop.createDatagramEndpoint(() => new DatagramProtocol(), null, [
        b.addresses[0],
        9,
      ])
    );
    beat.sendto(enc("alive"));
    await sleep(0.01);
    net.crash("a");
    beat.sendto(enc("after the crash"));
    await sleep(0.01);
    assert.deepEqual(inbox.got.map(([t]) => t), ["alive"]);
    beat.close();
    sink.close();
  });
});

Deno.test("the task tree stays small when many tasks wait on the same tasks", async () => {
  await run(async () => {
    const loop = getRunningLoop();
    const gate = loop.createFuture<null>();
    // Layer k's two tasks both wait on layer k+1's two tasks: 2^20 paths.
    let below: Task<unknown>[] = [
      createTask(() => gate),
      createTask(() => gate),
    ];
    const all = [...below];
    for (let k = 0; k < 20; k++) {
      const layer = below;
      below = [
        createTask(() => gather(...layer)),
        createTask(() => gather(...layer)),
      ];
      all.push(...below);
    }
    await waitAllTasksBlocked();
    let nodes = 0;
    const count = (n: TaskTreeNode) => {
      nodes++;
      n.children.forEach(count);
    };
    captureTaskTree().forEach(count);
    assert(nodes < 3 * all.length, `${nodes} nodes for ${all.length} tasks`);
    gate.setResult(null);
    await gather(...all);
  });
});

Deno.test("several tasks may wait for the loop to be blocked at once", async () => {
  await run(async () => {
    const released: number[] = [];
    const waiters = [1, 2, 3].map((i) =>
      createTask(async () => {
        await waitAllTasksBlocked();
        released.push(i);
      })
    );
    await waitAllTasksBlocked();
    await gather(...waiters);
    assert.deepEqual(released.sort(), [1, 2, 3]);
  });
});
