/**
 * asyncio's server, transport and future checks that no other suite here
 * makes: a stream Unix server made with `startServing: false`, started
 * inside `await using` and served forever until its own connection handler
 * cancels that task (the server then ends closed, its socket file gone, and
 * `serveForever()` a `RuntimeError`); write flow control when the limits
 * move above and below what is buffered; awaiting a failed task again and
 * again rethrowing one error with its stack unchanged; the exception handler
 * reporting a task's unretrieved error in the context the task was created
 * in (asyncio's sees what the body set: docs/differences.md, Contexts); and
 * descriptions that mention themselves (a result
 * holding every task, a future whose result is itself, two tasks awaiting
 * one another) staying finite, the inner mention being `...`.
 * Network checks run on the real loop over 127.0.0.1 and temporary Unix
 * socket directories; the others on every loop kind.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  allTasks,
  CancelledError,
  createTask,
  openConnection,
  openUnixConnection,
  Protocol,
  RuntimeError,
  sleep,
  startUnixServer,
  Task,
  type Transport,
  waitFor,
} from "../../mod.ts";
import { inTask, loopTest } from "../_util.ts";
import { addrOf, bytes, netTest, Recorder, text } from "./_net.ts";

/** Whether a file exists at `path` (without following a link). */
async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

// ---- Server: serving a stream Unix server until cancelled ----------------------

netTest(
  "startUnixServer(startServing: false) under `await using`: startServing(), then serveForever() cancelled from the connection handler; the server ends closed, its file gone, serveForever() a RuntimeError",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir({ prefix: "aioloop-sweep-" });
    try {
      const path = `${dir}/serve.sock`;
      const hello = new Uint8Array(5 * 1024 + 1).fill(0x31);
      hello[hello.length - 1] = 0x0a;
      let main: Task<void> | null = null;
      const order: string[] = [];
      const server = await startUnixServer(
        async (reader, writer) => {
          assert.equal((await reader.readline()).length, hello.length);
          main!.cancel();
          writer.write(bytes("1"));
          writer.close();
          await writer.waitClosed();
          order.push("handler done");
        },
        path,
        { startServing: false },
      );
      assert.equal(server.isServing(), false);
      const started = loop.createFuture<null>();
      main = loop.createTask(async () => {
        await using serving = server;
        assert.equal(serving.isServing(), false);
        await serving.startServing();
        assert.equal(serving.isServing(), true);
        started.setResult(null);
        await serving.serveForever();
      });
      main.addDoneCallback(() => order.push("main ended"));
      await started;

      const [reader, writer] = await openUnixConnection(path);
      writer.write(hello);
      assert.equal(text(await reader.read()), "1");
      assert.equal(reader.atEof(), true);
      writer.close();
      await writer.waitClosed();

      await assert.rejects(async () => await main, CancelledError);
      assert.deepEqual(order, ["handler done", "main ended"]);
      assert.deepEqual(server.sockets, []);
      assert.equal(server.isServing(), false);
      assert.equal(await exists(path), false, "the socket file was removed");
      await assert.rejects(
        server.serveForever(),
        (e) => e instanceof RuntimeError && /is closed/.test(e.message),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ---- Server: closing -------------------------------------------------------------

netTest(
  "waitClosed() after close(), with closeClients() or abortClients() or no clients, returns within a few iterations of a busy loop",
  async ({ loop }) => {
    for (const how of ["none", "closeClients", "abortClients"] as const) {
      const server = await loop.createServer(
        () => new Protocol(),
        "127.0.0.1",
        0,
      );
      const [host, port] = addrOf(server);
      const writers = [];
      if (how !== "none") {
        const [, writer] = await openConnection(host, port);
        writers.push(writer);
      }
      const waiting = createTask(() => server.waitClosed());
      await sleep(0);
      assert.equal(waiting.done(), false);
      server.close();
      if (how === "closeClients") server.closeClients();
      if (how === "abortClients") server.abortClients();
      // asyncio's takes two iterations; Deno releases the listener two of
      // its own turns after close(), which the loop now takes at once
      // instead of after thousands of callbacks.
      let rounds = 0;
      while (!waiting.done() && rounds < 10) {
        await sleep(0);
        rounds++;
      }
      assert.equal(waiting.done(), true, `${how}: not done after ${rounds}`);
      for (const writer of writers) {
        writer.close();
        await writer.waitClosed().catch(() => {});
      }
    }
  },
);

// ---- Transport: write flow control ------------------------------------------------

netTest(
  "setWriteBufferLimits(): limits above what is buffered leave the protocol alone, high < low is a RangeError that changes nothing, limits below it pause at once",
  async ({ loop }) => {
    const peers: Recorder[] = [];
    const server = await loop.createServer(
      () => {
        const r = new Recorder(loop);
        peers.push(r);
        return r;
      },
      "127.0.0.1",
      0,
    );
    const resumed = loop.createFuture<null>();
    class Writer extends Recorder {
      override resumeWriting(): void {
        super.resumeWriting();
        resumed.setResult(null);
      }
    }
    const client = new Writer(loop);
    const [transport]: [Transport, Writer] = await loop.createConnection(
      () => client,
      ...addrOf(server),
    );
    // A write in flight counts as buffered until it completes.
    transport.write(new Uint8Array(512));
    assert.equal(transport.getWriteBufferSize(), 512);

    transport.setWriteBufferLimits(1024, 128);
    assert.deepEqual(transport.getWriteBufferLimits(), [128, 1024]);
    assert.deepEqual(client.events, ["made"]);

    assert.throws(
      () => transport.setWriteBufferLimits(0, 1),
      (e) => e instanceof RangeError && /high.*must be >= low/.test(e.message),
    );
    assert.deepEqual(transport.getWriteBufferLimits(), [128, 1024]);
    assert.deepEqual(client.events, ["made"]);

    transport.setWriteBufferLimits(256, 128);
    assert.deepEqual(client.events, ["made", "pause"]);

    await resumed;
    assert.deepEqual(client.events, ["made", "pause", "resume"]);
    assert.equal(transport.getWriteBufferSize(), 0);
    transport.close();
    await client.lost;
    for (const peer of peers) await peer.lost;
    server.close();
    await server.waitClosed();
  },
);

// ---- Future: awaiting a failed task ---------------------------------------------

loopTest(
  "awaiting a failed task five times rethrows the one error each time, its stack unchanged",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const failure = new TypeError("42");
      const task = new Task(async () => {
        await sleep(0);
        throw failure;
      }, { loop });
      const stack = failure.stack;
      for (let i = 0; i < 5; i++) {
        try {
          await task;
          assert.fail("the task's TypeError was not thrown");
        } catch (error) {
          assert.equal(error, failure, `await #${i + 1}`);
          assert.equal((error as Error).stack, stack, `await #${i + 1}`);
        }
      }
      assert.equal(task.exception(), failure);
    });
  },
);

// ---- the exception handler's context ------------------------------------------------

loopTest(
  "a task's unretrieved error is reported in the context the task was created in, whether it failed at once or after a suspension",
  async ({ loop }) => {
    // asyncio runs the handler in the task's context, which the task's body
    // changes in place (it would see "bar" and "baz"). A context here is
    // copied for the task, and what its body sets lives on in its coroutine
    // only (docs/differences.md, Contexts): the handler sees the creator's.
    const name = new AsyncLocalStorage<string>();
    const seen: [string, string | undefined][] = [];
    loop.setExceptionHandler((_loop, context) => {
      seen.push([
        (context.exception as Error).message,
        name.getStore(),
      ]);
    });
    await inTask(loop, async () => {
      name.run("foo", () => {
        new Task(async () => {
          name.enterWith("bar");
          throw new RangeError("at once");
        }, { loop });
        new Task(async () => {
          name.enterWith("baz");
          await sleep(0);
          throw new RangeError("after a suspension");
        }, { loop });
      });
      await sleep(0);
      await sleep(0);
    });
    assert.deepEqual(seen, []);
    loop.close(); // reports the errors nobody retrieved
    assert.deepEqual(seen.sort(), [
      ["after a suspension", "foo"],
      ["at once", "foo"],
    ]);
  },
);

// ---- descriptions of tasks that mention each other -------------------------------------

loopTest(
  "describing tasks that mention each other stays finite: a result holding every task, a future whose result is itself, two pending tasks awaiting one another (the inner mention is ...)",
  async (fx) => {
    const { loop } = fx;
    let first: Task<void> | null = null;
    let second: Task<void> | null = null;
    await inTask(loop, async () => {
      const every = await waitFor(
        createTask(async () => allTasks(), { name: "lister" }),
        10,
      );
      assert.ok(every.size >= 2);
      for (const task of every) {
        assert.match(String(task), /^<Task (pending|finished) name="/);
      }
      assert.match(Deno.inspect(every), /<Task /);

      // (A coroutine cannot return its own task: JavaScript would await it.)
      const itself = loop.createFuture<unknown>();
      itself.setResult(itself);
      assert.equal(String(itself), "<Future finished result=...>");

      first = createTask(async () => {
        await sleep(0);
        await second!;
      }, { name: "first" });
      second = createTask(async () => {
        await first!;
      }, { name: "second" });
      await sleep(0);
      await sleep(0);
      const described = String(first);
      assert.match(
        described,
        /^<Task pending name="first" .*wait_for=<Task pending name="second" .*wait_for=\.\.\./,
      );
      assert.equal(Deno.inspect(first), described);
      assert.match(
        String(second),
        /wait_for=<Task pending name="first" .*wait_for=\.\.\./,
      );
    });
    // Neither can end (cancelling one would cancel the other, and so on, as
    // in asyncio): closing the loop reports both as destroyed while pending.
    loop.close();
    const destroyed = fx.takeErrors();
    assert.deepEqual(
      destroyed.map((context) => [context.message, context.task]),
      [
        ["Task was destroyed but it is pending!", first],
        ["Task was destroyed but it is pending!", second],
      ],
    );
  },
);
