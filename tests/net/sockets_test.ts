/**
 * The socket layer: `Socket` objects and `socketpair()`, readiness watching
 * with `addReader`/`addWriter`, and the `sock*` coroutines. Ported from the
 * checks of CPython's `test_sock_lowlevel.py`, `test_selector_events.py`
 * (add/remove reader and writer) and `test_events.py` (reader/writer
 * callbacks, sock_client_fail, sock_accept). Tests that only use
 * `socketpair()` run on both loops; tests with real network I/O run on the
 * real `EventLoop` only.
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  CancelledError,
  type EventLoop,
  IPPROTO_TCP,
  Protocol,
  RuntimeError,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  sleep,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  Socket,
  socket,
  socketpair,
  SOL_SOCKET,
  TCP_NODELAY,
} from "../../mod.ts";
import { loopTest } from "../_util.ts";
import { bytes, concat, netTest, pairTest, pattern, text } from "./_net.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** A listening TCP socket on 127.0.0.1 and a free port. */
function listener(): [Socket, [string, number]] {
  const sock = socket();
  sock.bind(["127.0.0.1", 0]);
  sock.listen();
  return [sock, sock.getsockname() as [string, number]];
}

/** A connected TCP pair: [client, server side]. */
async function tcpPair(loop: EventLoop): Promise<[Socket, Socket]> {
  const [lsock, addr] = listener();
  try {
    const client = socket();
    const accepting = loop.sockAccept(lsock);
    await loop.sockConnect(client, addr);
    const [conn] = await accepting;
    return [client, conn];
  } finally {
    lsock.close();
  }
}

/** A port nothing listens on: bound, read, then closed. */
function refusedPort(): number {
  const sock = socket();
  sock.bind(["127.0.0.1", 0]);
  const [, port] = sock.getsockname() as [string, number];
  sock.close();
  return port;
}

// ---- Socket objects ---------------------------------------------------------

Deno.test("socket() defaults to AF_INET/SOCK_STREAM with a unique positive fileno", () => {
  const a = socket();
  const b = socket(AF_INET6, SOCK_STREAM);
  const c = new Socket(AF_UNIX);
  try {
    assert.equal(a.family, AF_INET);
    assert.equal(a.type, SOCK_STREAM);
    assert.equal(b.family, AF_INET6);
    assert.equal(c.family, AF_UNIX);
    for (const s of [a, b, c]) {
      assert.ok(Number.isInteger(s.fileno()) && s.fileno() > 0);
      assert.equal(s.closed, false);
    }
    assert.equal(new Set([a.fileno(), b.fileno(), c.fileno()]).size, 3);
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

Deno.test("close() makes fileno() -1 and is idempotent; `using` closes", () => {
  const s = socket();
  s.close();
  assert.equal(s.fileno(), -1);
  assert.equal(s.closed, true);
  s.close();
  assert.equal(s.fileno(), -1);
  let kept: Socket;
  {
    using t = socket();
    kept = t;
    assert.ok(t.fileno() > 0);
  }
  assert.equal(kept.closed, true);
});

Deno.test("socket() rejects unsupported families and types", () => {
  assert.throws(() => socket(12345), RangeError);
  // SOCK_DGRAM is supported (see datagram_test.ts); AF_UNIX datagrams are not.
  assert.throws(() => socket(AF_UNIX, SOCK_DGRAM), Deno.errors.NotSupported);
  assert.throws(() => socket(AF_INET, 99), RangeError);
});

Deno.test("setblocking(false) is accepted, setblocking(true) is a RangeError", () => {
  using s = socket();
  s.setblocking(false);
  assert.throws(() => s.setblocking(true), RangeError);
});

Deno.test("bind() to port 0 reports the chosen port at once", () => {
  using s = socket();
  assert.deepEqual(s.getsockname(), ["0.0.0.0", 0]);
  s.bind(["127.0.0.1", 0]);
  const [host, port] = s.getsockname() as [string, number];
  assert.equal(host, "127.0.0.1");
  assert.ok(port > 0 && port < 65536);
  // Bound twice is an error.
  assert.throws(() => s.bind(["127.0.0.1", 0]));
});

Deno.test("bind() on a taken port is AddrInUse", () => {
  using a = socket();
  a.bind(["127.0.0.1", 0]);
  a.listen();
  using b = socket();
  assert.throws(
    () => b.bind(a.getsockname()),
    Deno.errors.AddrInUse,
  );
});

Deno.test("bind() validates the address", () => {
  using s = socket();
  assert.throws(() => s.bind("127.0.0.1" as Loose), TypeError);
  assert.throws(() => s.bind([127 as Loose, 0]), TypeError);
  assert.throws(() => s.bind(["127.0.0.1", 1.5]), TypeError);
  assert.throws(() => s.bind(["127.0.0.1", 70000]), RangeError);
  assert.throws(() => s.bind(["127.0.0.1", -1]), RangeError);
  // An IPv6 address on an AF_INET socket.
  assert.throws(() => s.bind(["::1", 0]), RangeError);
  using u = socket(AF_UNIX);
  assert.throws(() => u.bind(["127.0.0.1", 0] as unknown as string), TypeError);
});

Deno.test("listen() needs bind(); accept() needs listen() and would block with none pending", () => {
  using s = socket();
  assert.throws(() => s.listen(), RuntimeError);
  s.bind(["127.0.0.1", 0]);
  assert.throws(() => s.accept(), RuntimeError);
  s.listen(5);
  assert.throws(() => s.accept(), Deno.errors.WouldBlock);
});

Deno.test("an unconnected socket: recv/send/getpeername/shutdown are NotConnected", () => {
  using s = socket();
  assert.throws(() => s.recv(10), Deno.errors.NotConnected);
  assert.throws(() => s.send(new Uint8Array(1)), Deno.errors.NotConnected);
  assert.throws(() => s.getpeername(), Deno.errors.NotConnected);
  assert.throws(() => s.shutdown(SHUT_WR), Deno.errors.NotConnected);
});

Deno.test("operations on a closed socket are BadResource", () => {
  const s = socket();
  s.close();
  assert.throws(() => s.bind(["127.0.0.1", 0]), Deno.errors.BadResource);
  assert.throws(() => s.recv(1), Deno.errors.BadResource);
  assert.throws(() => s.send(new Uint8Array(1)), Deno.errors.BadResource);
  assert.throws(() => s.getsockname(), Deno.errors.BadResource);
  assert.throws(() => s.connect(["127.0.0.1", 1]), Deno.errors.BadResource);
});

Deno.test("setsockopt()/getsockopt() round-trip the supported options", () => {
  using s = socket();
  assert.equal(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
  assert.equal(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
  s.setsockopt(SOL_SOCKET, SO_KEEPALIVE, true);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 1);
  s.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 0);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 0);
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_REUSEADDR), 1);
  assert.equal(s.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  assert.throws(() => s.setsockopt(SOL_SOCKET, 9999, 1), RangeError);
  assert.throws(() => s.getsockopt(9999, 1), RangeError);
});

Deno.test("toString() names the fd and family", () => {
  using s = socket();
  const desc = String(s);
  assert.match(desc, new RegExp(`fd=${s.fileno()}`));
  assert.match(desc, /AF_INET/);
});

// ---- socketpair -------------------------------------------------------------

Deno.test("socketpair(): connected AF_UNIX stream sockets with unnamed addresses", () => {
  const [a, b] = socketpair();
  try {
    assert.equal(a.family, AF_UNIX);
    assert.equal(b.type, SOCK_STREAM);
    assert.notEqual(a.fileno(), b.fileno());
    assert.equal(a.getpeername(), "");
    assert.equal(b.getsockname(), "");
    // Nothing sent yet: non-blocking recv would block.
    assert.throws(() => b.recv(10), Deno.errors.WouldBlock);
    assert.equal(a.send(bytes("hello")), 5);
    // Still nothing: delivery happens asynchronously.
    assert.throws(() => b.recv(10), Deno.errors.WouldBlock);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("Socket.send() and recv() reject bad arguments", () => {
  const [a, b] = socketpair();
  try {
    assert.throws(() => a.send("text" as Loose), TypeError);
    assert.throws(() => a.send(null as Loose), TypeError);
    assert.throws(() => b.recv(-1), RangeError);
    assert.throws(() => b.recv(1.5), TypeError);
    assert.throws(() => b.recv("10" as Loose), TypeError);
    assert.throws(() => b.recvInto("buf" as Loose), TypeError);
    assert.throws(() => a.shutdown(7), RangeError);
  } finally {
    a.close();
    b.close();
  }
});

pairTest(
  "socketpair: sockSendall then sockRecv round-trips bytes both ways",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      await loop.sockSendall(a, bytes("ping"));
      assert.equal(text(await loop.sockRecv(b, 100)), "ping");
      await loop.sockSendall(b, bytes("pong"));
      assert.equal(text(await loop.sockRecv(a, 100)), "pong");
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "socketpair: recv(n) returns at most n bytes and keeps the rest",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      await loop.sockSendall(a, bytes("abcdef"));
      assert.equal(text(await loop.sockRecv(b, 2)), "ab");
      assert.equal(text(await loop.sockRecv(b, 3)), "cde");
      assert.equal(text(b.recv(100)), "f");
      assert.throws(() => b.recv(1), Deno.errors.WouldBlock);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "socketpair: sockRecvInto fills the buffer and returns the count",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const buf = new Uint8Array(4);
      const receiving = loop.sockRecvInto(b, buf);
      await loop.sockSendall(a, bytes("xyz"));
      assert.equal(await receiving, 3);
      assert.equal(text(buf.subarray(0, 3)), "xyz");
      assert.equal(buf[3], 0);
      // recvInto(buf, nbytes) takes at most nbytes.
      await loop.sockSendall(a, bytes("123456"));
      const landed = loop.createFuture<null>();
      loop.addReader(b, () => {
        loop.removeReader(b);
        landed.setResult(null);
      });
      await landed;
      const small = new Uint8Array(10);
      assert.equal(b.recvInto(small, 2), 2);
      assert.equal(text(small.subarray(0, 2)), "12");
      assert.equal(b.recvInto(small.subarray(2)), 4);
      assert.equal(text(small.subarray(0, 6)), "123456");
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "socketpair: closing one end is EOF (an empty recv) on the other",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      await loop.sockSendall(a, bytes("last"));
      a.close();
      assert.equal(text(await loop.sockRecv(b, 100)), "last");
      assert.equal((await loop.sockRecv(b, 100)).length, 0);
      // EOF stays EOF.
      assert.equal(b.recv(100).length, 0);
      assert.equal(await loop.sockRecvInto(b, new Uint8Array(4)), 0);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "socketpair: shutdown(SHUT_WR) sends EOF after buffered data; send() after it is BrokenPipe",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      a.send(bytes("bye"));
      a.shutdown(SHUT_WR);
      assert.throws(() => a.send(bytes("x")), Deno.errors.BrokenPipe);
      const chunks: Uint8Array[] = [];
      for (;;) {
        const data = await loop.sockRecv(b, 100);
        if (data.length === 0) break;
        chunks.push(data);
      }
      assert.equal(text(concat(chunks)), "bye");
      // The other direction still works (half-close).
      await loop.sockSendall(b, bytes("ok"));
      assert.equal(text(await loop.sockRecv(a, 100)), "ok");
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "socketpair: shutdown(SHUT_RD) makes recv() return EOF; SHUT_RDWR does both",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      b.shutdown(SHUT_RD);
      assert.equal(b.recv(10).length, 0);
      assert.equal((await loop.sockRecv(b, 10)).length, 0);
      a.shutdown(SHUT_RDWR);
      assert.equal(a.recv(10).length, 0);
      assert.throws(() => a.send(bytes("x")), Deno.errors.BrokenPipe);
    } finally {
      a.close();
      b.close();
    }
  },
);

// ---- addReader / addWriter --------------------------------------------------

pairTest(
  "addReader: called when data arrives, with its arguments; removeReader returns true then false",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      const done = loop.createFuture<string>();
      const seen: unknown[] = [];
      loop.addReader(
        r,
        (x: number, y: string) => {
          seen.push(x, y);
          done.setResult(text(r.recv(100)));
          assert.equal(loop.removeReader(r), true);
        },
        1,
        "two",
      );
      w.send(bytes("abc"));
      assert.equal(await done, "abc");
      assert.deepEqual(seen, [1, "two"]);
      assert.equal(loop.removeReader(r), false);
      assert.equal(loop.removeReader(r.fileno()), false);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addReader is level-triggered: called again on each iteration while data stays unread",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      const got: string[] = [];
      const done = loop.createFuture<null>();
      // Read one byte per call: "abc" takes three calls, no new data needed.
      loop.addReader(r, () => {
        got.push(text(r.recv(1)));
        if (got.length === 3) {
          loop.removeReader(r);
          done.setResult(null);
        }
      });
      w.send(bytes("abc"));
      await done;
      assert.deepEqual(got, ["a", "b", "c"]);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addReader that never reads is called on every iteration until removed",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      let calls = 0;
      const done = loop.createFuture<null>();
      loop.addReader(r, () => {
        calls++;
        if (calls === 5) {
          loop.removeReader(r);
          done.setResult(null);
        }
      });
      w.send(bytes("x"));
      await done;
      // Several iterations later it has not been called again.
      for (let i = 0; i < 5; i++) await sleep(0);
      assert.equal(calls, 5);
      // The byte is still there.
      assert.equal(text(r.recv(10)), "x");
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addReader: not called while there is nothing to read; called again when more arrives",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      const got: string[] = [];
      let wake = loop.createFuture<null>();
      loop.addReader(r, () => {
        got.push(text(r.recv(100)));
        if (!wake.done()) wake.setResult(null);
      });
      w.send(bytes("one"));
      await wake;
      for (let i = 0; i < 5; i++) await sleep(0);
      assert.deepEqual(got, ["one"]);
      wake = loop.createFuture<null>();
      w.send(bytes("two"));
      await wake;
      assert.deepEqual(got, ["one", "two"]);
      assert.equal(loop.removeReader(r), true);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addReader: EOF makes the socket readable and recv() returns empty",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      const done = loop.createFuture<number>();
      loop.addReader(r, () => {
        loop.removeReader(r);
        done.setResult(r.recv(100).length);
      });
      w.close();
      assert.equal(await done, 0);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addReader replaces an earlier reader of the same socket",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      const calls: string[] = [];
      const done = loop.createFuture<null>();
      loop.addReader(r, () => calls.push("first"));
      loop.addReader(r.fileno(), () => {
        calls.push("second");
        r.recv(100);
        loop.removeReader(r);
        done.setResult(null);
      });
      w.send(bytes("x"));
      await done;
      assert.deepEqual(calls, ["second"]);
      assert.equal(loop.removeReader(r), false);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "removeReader before the callback runs prevents it",
  async (_fx, loop) => {
    const [r, w] = socketpair();
    try {
      let called = false;
      await loop.sockSendall(w, bytes("x"));
      // Let the byte land in r's receive buffer through another watcher.
      const landed = loop.createFuture<null>();
      loop.addReader(r, () => {
        loop.removeReader(r);
        landed.setResult(null);
      });
      await landed;
      loop.addReader(r, () => {
        called = true;
      });
      assert.equal(loop.removeReader(r), true);
      for (let i = 0; i < 5; i++) await sleep(0);
      assert.equal(called, false);
    } finally {
      r.close();
      w.close();
    }
  },
);

pairTest(
  "addWriter is level-triggered on a writable socket; removeWriter returns true then false",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      assert.equal(loop.removeWriter(a), false);
      let calls = 0;
      const done = loop.createFuture<null>();
      loop.addWriter(a, (tag: string) => {
        assert.equal(tag, "t");
        calls++;
        if (calls === 3) done.setResult(null);
      }, "t");
      await done;
      assert.equal(loop.removeWriter(a), true);
      assert.equal(loop.removeWriter(a), false);
      const before = calls;
      for (let i = 0; i < 5; i++) await sleep(0);
      assert.equal(calls, before);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "reader and writer of one socket are independent",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const wrote = loop.createFuture<null>();
      const read = loop.createFuture<string>();
      loop.addReader(a, () => {
        loop.removeReader(a);
        read.setResult(text(a.recv(10)));
      });
      loop.addWriter(a, () => {
        loop.removeWriter(a);
        a.send(bytes("w"));
        wrote.setResult(null);
      });
      await wrote;
      // Removing the writer left the reader in place.
      assert.equal(read.done(), false);
      assert.equal(text(await loop.sockRecv(b, 10)), "w");
      b.send(bytes("r"));
      assert.equal(await read, "r");
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "addReader/addWriter reject bad descriptors and callbacks",
  (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      assert.throws(() => loop.addReader(-1, () => {}), RangeError);
      assert.throws(() => loop.addReader(1.5, () => {}), RangeError);
      // Not a socket of this package (Deno has no raw descriptors).
      assert.throws(() => loop.addReader(999_999, () => {}), RangeError);
      assert.throws(() => loop.addWriter(999_999, () => {}), RangeError);
      assert.throws(() => loop.addReader("3" as Loose, () => {}), TypeError);
      assert.throws(() => loop.addReader(a, "cb" as Loose), TypeError);
      assert.throws(() => loop.addWriter(a, null as Loose), TypeError);
      // Something with fileno() works like its socket.
      const h = loop.addReader({ fileno: () => a.fileno() }, () => {});
      assert.equal(loop.removeReader(a), true);
      assert.equal(h.cancelled(), true);
      // Removing what was never added is false, for a number too.
      assert.equal(loop.removeReader(999_999), false);
      assert.equal(loop.removeWriter(b.fileno()), false);
      b.close();
      assert.throws(() => loop.addReader(b, () => {}), RangeError);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "a reader callback that throws goes to the exception handler; the reader stays",
  async (fx, loop) => {
    const [r, w] = socketpair();
    try {
      let calls = 0;
      const done = loop.createFuture<null>();
      loop.addReader(r, () => {
        calls++;
        if (calls === 2) {
          r.recv(10);
          loop.removeReader(r);
          done.setResult(null);
          return;
        }
        throw new Error("boom");
      });
      w.send(bytes("x"));
      await done;
      const errors = fx.takeErrors();
      assert.equal(errors.length, 1);
      assert.equal((errors[0].exception as Error).message, "boom");
    } finally {
      r.close();
      w.close();
    }
  },
);

loopTest(
  "close() stops watching; addReader on a closed loop is a RuntimeError and removeReader is false",
  (fx) => {
    const loop = fx.loop as EventLoop;
    const [a, b] = socketpair();
    try {
      loop.addReader(a, () => {});
      loop.addWriter(b, () => {});
      loop.close();
      assert.throws(() => loop.addReader(a, () => {}), RuntimeError);
      assert.throws(() => loop.addWriter(a, () => {}), RuntimeError);
      assert.equal(loop.removeReader(a), false);
      assert.equal(loop.removeWriter(b), false);
      // The sockets stay open, as with asyncio's selector.
      assert.equal(a.closed, false);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "addReader on a socket that a transport owns is a RuntimeError",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const [transport] = await loop.connectAcceptedSocket(
        () => new Protocol(),
        a,
      );
      assert.throws(() => loop.addReader(a, () => {}), RuntimeError);
      assert.throws(() => loop.addWriter(a, () => {}), RuntimeError);
      assert.throws(() => a.recv(1), RuntimeError);
      transport.abort();
      await sleep(0);
      await sleep(0);
    } finally {
      a.close();
      b.close();
    }
  },
);

// ---- sock* coroutines -------------------------------------------------------

pairTest(
  "cancelling a pending sockRecv removes its reader; a later sockRecv gets the data",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const task = loop.createTask(() => loop.sockRecv(b, 100));
      await sleep(0);
      assert.equal(task.done(), false);
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
      assert.equal(loop.removeReader(b), false, "the reader was left behind");
      const sending = loop.createTask(() => loop.sockSendall(a, bytes("data")));
      assert.equal(text(await loop.sockRecv(b, 100)), "data");
      await sending;
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "cancelling a pending sockRecvInto removes its reader and leaves the buffer alone",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const first = new Uint8Array(8);
      const task = loop.createTask(() => loop.sockRecvInto(b, first));
      await sleep(0);
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
      assert.equal(loop.removeReader(b), false);
      await loop.sockSendall(a, bytes("abc"));
      const second = new Uint8Array(8);
      assert.equal(await loop.sockRecvInto(b, second), 3);
      assert.equal(text(second.subarray(0, 3)), "abc");
      assert.deepEqual(first, new Uint8Array(8));
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "sockRecv resolves at once when data is already buffered",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      await loop.sockSendall(a, bytes("ready"));
      assert.equal(text(await loop.sockRecv(b, 100)), "ready");
      // No reader remains after a completed sockRecv.
      assert.equal(loop.removeReader(b), false);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "two sockRecv calls in a row each get their own data",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      const first = loop.sockRecv(b, 100);
      a.send(bytes("1"));
      assert.equal(text(await first), "1");
      const second = loop.sockRecv(b, 100);
      a.send(bytes("2"));
      assert.equal(text(await second), "2");
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest("sock* methods reject bad arguments", async (_fx, loop) => {
  const [a, b] = socketpair();
  try {
    await assert.rejects(loop.sockRecv({} as Loose, 10), TypeError);
    await assert.rejects(loop.sockRecv(a, -1), RangeError);
    await assert.rejects(loop.sockRecvInto(a, "buf" as Loose), TypeError);
    await assert.rejects(loop.sockSendall(a, "text" as Loose), TypeError);
    await assert.rejects(
      loop.sockSendall(null as Loose, bytes("x")),
      TypeError,
    );
    await assert.rejects(loop.sockAccept(42 as Loose), TypeError);
    await assert.rejects(
      loop.sockConnect("s" as Loose, ["127.0.0.1", 1]),
      TypeError,
    );
    using s = socket();
    await assert.rejects(
      loop.sockConnect(s, "127.0.0.1:80" as Loose),
      TypeError,
    );
    await assert.rejects(loop.sockConnect(s, ["127.0.0.1", 65536]), RangeError);
    await assert.rejects(
      loop.sockConnect(s, ["127.0.0.1", "80" as Loose]),
      TypeError,
    );
    using u = socket(AF_UNIX);
    await assert.rejects(
      loop.sockConnect(u, ["127.0.0.1", 80] as Loose),
      TypeError,
    );
    b.close();
    await assert.rejects(loop.sockRecv(b, 10), Deno.errors.BadResource);
    await assert.rejects(
      loop.sockSendall(b, bytes("x")),
      Deno.errors.BadResource,
    );
  } finally {
    a.close();
    b.close();
  }
});

pairTest(
  "sockSendall of an empty array resolves at once",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      await loop.sockSendall(a, new Uint8Array(0));
      assert.equal(loop.removeWriter(a), false);
    } finally {
      a.close();
      b.close();
    }
  },
);

pairTest(
  "sockSendall to a closed peer rejects with BrokenPipe",
  async (_fx, loop) => {
    const [a, b] = socketpair();
    try {
      b.close();
      // The first send may be accepted into the buffer; the failure surfaces
      // on a later one once the write to the closed peer fails.
      await assert.rejects(async () => {
        for (let i = 0; i < 100; i++) {
          await loop.sockSendall(a, bytes("x"));
          await sleep(0);
        }
      }, Deno.errors.BrokenPipe);
    } finally {
      a.close();
      b.close();
    }
  },
);

// ---- TCP (real EventLoop only) ----------------------------------------------

netTest(
  "sockConnect + sockAccept over TCP: addresses match and bytes flow both ways",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const client = socket();
    try {
      const accepting = loop.sockAccept(lsock);
      await loop.sockConnect(client, addr);
      const [conn, peer] = await accepting;
      try {
        assert.deepEqual(client.getpeername(), addr);
        assert.deepEqual(peer, client.getsockname());
        assert.deepEqual(conn.getpeername(), client.getsockname());
        assert.equal(conn.family, AF_INET);
        await loop.sockSendall(client, bytes("GET / HTTP/1.0\r\n\r\n"));
        assert.equal(
          text(await loop.sockRecv(conn, 1024)),
          "GET / HTTP/1.0\r\n\r\n",
        );
        await loop.sockSendall(conn, bytes("HTTP/1.0 200 OK\r\n\r\n"));
        conn.shutdown(SHUT_WR);
        const chunks: Uint8Array[] = [];
        for (;;) {
          const data = await loop.sockRecv(client, 1024);
          if (data.length === 0) break;
          chunks.push(data);
        }
        assert.ok(text(concat(chunks)).startsWith("HTTP/1.0 200 OK"));
      } finally {
        conn.close();
      }
    } finally {
      client.close();
      lsock.close();
    }
  },
);

netTest(
  "sockConnect to a closed port rejects with ConnectionRefused and SO_ERROR is reported",
  async ({ loop }) => {
    const port = refusedPort();
    const s = socket();
    try {
      await assert.rejects(
        loop.sockConnect(s, ["127.0.0.1", port]),
        Deno.errors.ConnectionRefused,
      );
      assert.equal(loop.removeWriter(s), false, "the writer was left behind");
    } finally {
      s.close();
    }
  },
);

netTest(
  "non-blocking connect(): WouldBlock, then addWriter fires and SO_ERROR is 0",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const s = socket();
    try {
      assert.throws(() => s.connect(addr), Deno.errors.WouldBlock);
      // A second connect while in progress also would block.
      assert.throws(() => s.connect(addr), Deno.errors.WouldBlock);
      const connected = loop.createFuture<number>();
      loop.addWriter(s, () => {
        loop.removeWriter(s);
        connected.setResult(s.getsockopt(SOL_SOCKET, SO_ERROR));
      });
      assert.equal(await connected, 0);
      assert.deepEqual(s.getpeername(), addr);
      // Connected already.
      assert.throws(() => s.connect(addr), Deno.errors.AlreadyExists);
      const [conn] = await loop.sockAccept(lsock);
      conn.close();
    } finally {
      s.close();
      lsock.close();
    }
  },
);

netTest(
  "non-blocking connect() to a closed port: writable with SO_ERROR set",
  async ({ loop }) => {
    const port = refusedPort();
    const s = socket();
    try {
      assert.equal(s.connectEx(["127.0.0.1", port]), 0);
      const failed = loop.createFuture<number>();
      loop.addWriter(s, () => {
        loop.removeWriter(s);
        failed.setResult(s.getsockopt(SOL_SOCKET, SO_ERROR));
      });
      assert.equal(await failed, 1);
    } finally {
      s.close();
    }
  },
);

netTest(
  "addReader on a listening socket fires when a connection is pending",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const client = socket();
    try {
      const accepted = loop.createFuture<Socket>();
      loop.addReader(lsock, () => {
        loop.removeReader(lsock);
        accepted.setResult(lsock.accept()[0]);
      });
      await loop.sockConnect(client, addr);
      const conn = await accepted;
      assert.deepEqual(conn.getpeername(), client.getsockname());
      conn.close();
    } finally {
      client.close();
      lsock.close();
    }
  },
);

netTest(
  "cancelling a pending sockAccept removes its reader; a later sockAccept works",
  async ({ loop }) => {
    const [lsock, addr] = listener();
    const client = socket();
    try {
      const task = loop.createTask(() => loop.sockAccept(lsock));
      await sleep(0);
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
      assert.equal(loop.removeReader(lsock), false);
      const accepting = loop.sockAccept(lsock);
      await loop.sockConnect(client, addr);
      const [conn] = await accepting;
      conn.close();
    } finally {
      client.close();
      lsock.close();
    }
  },
);

netTest(
  "sockConnect accepts a host name (localhost) and resolves it",
  async ({ loop }) => {
    const [lsock, [, port]] = listener();
    const client = socket();
    try {
      const accepting = loop.sockAccept(lsock);
      await loop.sockConnect(client, ["localhost", port]);
      const [conn] = await accepting;
      assert.equal((client.getpeername() as [string, number])[0], "127.0.0.1");
      conn.close();
    } finally {
      client.close();
      lsock.close();
    }
  },
);

netTest(
  "huge content: 2 MB through sockSendall arrives intact through sockRecv",
  async ({ loop }) => {
    const [client, conn] = await tcpPair(loop);
    try {
      const size = 2_000_000;
      const data = pattern(size);
      const sending = loop.createTask(async () => {
        await loop.sockSendall(client, data);
        client.shutdown(SHUT_WR);
      });
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const chunk = await loop.sockRecv(conn, size);
        if (chunk.length === 0) break;
        chunks.push(chunk);
        total += chunk.length;
      }
      await sending;
      assert.equal(total, size);
      assert.deepEqual(concat(chunks), data);
    } finally {
      client.close();
      conn.close();
    }
  },
);

netTest("huge content with sockRecvInto", async ({ loop }) => {
  const [client, conn] = await tcpPair(loop);
  try {
    const size = 1_000_000;
    const data = pattern(size, 7);
    const sending = loop.createTask(async () => {
      await loop.sockSendall(client, data);
      client.close();
    });
    const out = new Uint8Array(size);
    let filled = 0;
    for (;;) {
      const n = await loop.sockRecvInto(conn, out.subarray(filled));
      if (n === 0) break;
      filled += n;
      if (filled === size) {
        assert.equal(await loop.sockRecvInto(conn, new Uint8Array(1)), 0);
        break;
      }
    }
    await sending;
    assert.equal(filled, size);
    assert.deepEqual(out, data);
  } finally {
    client.close();
    conn.close();
  }
});

netTest(
  "send racing: a sockSendall cancelled while blocked does not break the next one",
  async ({ loop }) => {
    const [client, conn] = await tcpPair(loop);
    try {
      // Fill the socket's send buffer until send() would block, and the
      // kernel's behind it (the peer never reads) until a sockSendall stays
      // blocked: writes in flight may still drain a little meanwhile.
      const filler = new Uint8Array(64 * 1024).fill(0x20);
      let blocked;
      for (let round = 0;; round++) {
        assert.ok(round < 1000, "the send buffers never filled");
        assert.throws(() => {
          for (;;) client.send(filler);
        }, Deno.errors.WouldBlock);
        blocked = loop.createTask(() =>
          loop.sockSendall(client, bytes("hello"))
        );
        await sleep(0);
        if (!blocked.done()) break;
        await blocked;
      }
      blocked.cancel();
      await assert.rejects(async () => await blocked, CancelledError);
      assert.equal(loop.removeWriter(client), false);

      const receiving = loop.createTask(async () => {
        const chunks: Uint8Array[] = [];
        for (;;) {
          const data = await loop.sockRecv(conn, 65536);
          if (data.length === 0) return concat(chunks);
          chunks.push(data);
        }
      });
      await loop.sockSendall(client, bytes("world"));
      client.shutdown(SHUT_WR);
      const all = text(await receiving).replaceAll(" ", "");
      assert.ok(all.endsWith("world"), `got ...${all.slice(-20)}`);
    } finally {
      client.close();
      conn.close();
    }
  },
);

netTest(
  "Unix sockets: bind a path in a temp dir, sockConnect, sockAccept, exchange",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/s.sock`;
    const lsock = socket(AF_UNIX);
    const client = socket(AF_UNIX);
    try {
      lsock.bind(path);
      lsock.listen();
      assert.equal(lsock.getsockname(), path);
      const accepting = loop.sockAccept(lsock);
      await loop.sockConnect(client, path);
      const [conn] = await accepting;
      try {
        assert.equal(client.getpeername(), path);
        await loop.sockSendall(client, bytes("unix"));
        assert.equal(text(await loop.sockRecv(conn, 10)), "unix");
      } finally {
        conn.close();
      }
    } finally {
      client.close();
      lsock.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "Unix sockets: sockConnect to a missing path rejects",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    const client = socket(AF_UNIX);
    try {
      await assert.rejects(
        loop.sockConnect(client, `${dir}/missing.sock`),
        Deno.errors.NotFound,
      );
    } finally {
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

netTest(
  "a TCP peer that closes: sockRecv returns empty; sockSendall eventually fails",
  async ({ loop }) => {
    const [client, conn] = await tcpPair(loop);
    try {
      conn.close();
      assert.equal((await loop.sockRecv(client, 100)).length, 0);
      const error = await (async () => {
        try {
          for (let i = 0; i < 1000; i++) {
            await loop.sockSendall(client, new Uint8Array(65536));
            await sleep(0);
          }
        } catch (error) {
          return error;
        }
        return null;
      })();
      assert.ok(
        error instanceof Deno.errors.BrokenPipe ||
          error instanceof Deno.errors.ConnectionReset,
        `got ${error}`,
      );
    } finally {
      client.close();
      conn.close();
    }
  },
);

netTest(
  "TCP_NODELAY and SO_KEEPALIVE set on a connected socket are kept",
  async ({ loop }) => {
    const [client, conn] = await tcpPair(loop);
    try {
      client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
      client.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1);
      assert.equal(client.getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
      assert.equal(client.getsockopt(SOL_SOCKET, SO_KEEPALIVE), 1);
      await loop.sockSendall(client, bytes("x"));
      assert.equal(text(await loop.sockRecv(conn, 1)), "x");
    } finally {
      client.close();
      conn.close();
    }
  },
);
