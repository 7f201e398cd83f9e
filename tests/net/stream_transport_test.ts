/**
 * The stream transport machinery on a scripted connection, for orderings a
 * real socket cannot be made to produce on demand: a read and a write that
 * complete in the same iteration, around a fatal error.
 */
import assert from "node:assert/strict";
import {
  EventLoop,
  type ExceptionContext,
  Protocol,
  sleep,
} from "../../mod.ts";
import type { StreamConn } from "../../loop/net/socket.ts";
import { StreamTransport } from "../../loop/transports/stream_transport.ts";

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

/** A connection whose reads and writes complete when the test says so. */
class ScriptedConn implements StreamConn {
  reads: { buffer: Uint8Array; done: Deferred<number | null> }[] = [];
  writes: { data: Uint8Array; done: Deferred<number> }[] = [];
  closed = false;
  readonly localAddr: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 1,
  };
  readonly remoteAddr: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 2,
  };
  read(buffer: Uint8Array): Promise<number | null> {
    const done = Promise.withResolvers<number | null>();
    this.reads.push({ buffer, done });
    return done.promise;
  }
  write(data: Uint8Array): Promise<number> {
    const done = Promise.withResolvers<number>();
    this.writes.push({ data: data.slice(), done });
    return done.promise;
  }
  closeWrite(): void {}
  close(): void {
    this.closed = true;
    for (const { done } of this.reads) done.resolve(null);
  }
}

class TestTransport extends StreamTransport {}

/** A transport on `conn` whose reads ask for `readSize` bytes. */
function scriptedTransport(
  loop: EventLoop,
  protocol: Protocol,
  conn: ScriptedConn,
  readSize: number,
): TestTransport {
  return new TestTransport(loop, protocol, {
    conn,
    sock: null,
    extra: {},
    waiter: null,
    server: null,
    readSize,
    maxReadSize: readSize,
    messages: {
      read: "read failed",
      write: "write failed",
      eofReceived: "eofReceived failed",
      writeAfterClose: "closed",
    },
    dropWritesOnClose: false,
  });
}

Deno.test(
  "a fatal error while a write completes: no write after the abort, connectionLost(error) once",
  async () => {
    const loop = new EventLoop();
    const errors: ExceptionContext[] = [];
    loop.setExceptionHandler((_loop, context) => errors.push(context));
    const conn = new ScriptedConn();
    const boom = new Error("protocol failed");
    const lost: (Error | null)[] = [];
    const made = loop.createFuture<null>();
    const gone = loop.createFuture<null>();
    class Failing extends Protocol {
      override connectionMade(): void {
        made.setResult(null);
      }
      override dataReceived(): void {
        throw boom;
      }
      override connectionLost(exc: Error | null): void {
        lost.push(exc);
        if (!gone.done()) gone.setResult(null);
      }
    }
    try {
      const transport = scriptedTransport(loop, new Failing(), conn, 1024);
      await loop.runUntilComplete(async () => {
        await made;
        transport.write(new Uint8Array(16).fill(7));
        // Let the transport start its read and its write.
        while (conn.reads.length === 0 || conn.writes.length === 0) {
          await loop.runUntilComplete(async () => {});
        }
        // The read completes first, then the write (partly): both land in
        // one iteration, the read's callback (which fails) first.
        const read = conn.reads[0];
        read.buffer.set([1, 2, 3]);
        read.done.resolve(3);
        conn.writes[0].done.resolve(5);
        await gone;
      });
      assert.deepEqual(lost, [boom]);
      assert.equal(conn.writes.length, 1, "a write was issued after the abort");
      assert.equal(transport.getWriteBufferSize(), 0);
      assert.equal(conn.closed, true);
      assert.deepEqual(errors.map((e) => e.exception), [boom]);
    } finally {
      loop.close();
    }
  },
);

Deno.test(
  "a protocol that transfers the memory of a large read: the next read goes into a new buffer, not a detached one",
  async () => {
    const loop = new EventLoop();
    const conn = new ScriptedConn();
    const received: number[] = [];
    let eof = false;
    class Transferring extends Protocol {
      override dataReceived(data: Uint8Array): void {
        received.push(data.length);
        // A large read is handed over as a view of the read buffer; its
        // owner may transfer that memory elsewhere (to a worker, say).
        (data.buffer as ArrayBuffer).transfer();
      }
      override eofReceived(): boolean {
        eof = true;
        return false;
      }
    }
    try {
      scriptedTransport(loop, new Transferring(), conn, 256 * 1024);
      const nextRead = async (count: number) => {
        while (conn.reads.length < count) await sleep(0);
        return conn.reads[count - 1];
      };
      await loop.runUntilComplete(async () => {
        const first = await nextRead(1);
        first.buffer.fill(1, 0, 100_000);
        first.done.resolve(100_000);
        const second = await nextRead(2);
        assert.ok(
          second.buffer.length > 0,
          "the second read was given a detached buffer",
        );
        second.buffer.fill(2, 0, 100_000);
        second.done.resolve(100_000);
        await nextRead(3);
      });
      assert.deepEqual(received, [100_000, 100_000]);
      assert.equal(eof, false);
    } finally {
      loop.close();
    }
  },
);
