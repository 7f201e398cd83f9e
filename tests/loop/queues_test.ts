/**
 * Behaviour of `Queue`, `PriorityQueue` and `LifoQueue`, after CPython's
 * Lib/test/test_asyncio/test_queues.py (3.13), on every loop kind: sizes and
 * order, waiting puts and gets served FIFO, cancellation at every point of a
 * wait, `taskDone`/`join`, `shutdown`, `for await`, loop binding and bad
 * input. Tasks are let run with `sleep(0)` (one loop iteration, asyncio's
 * idiom), never with timed sleeps; checks of exact times run on the virtual
 * clock only.
 */
import assert from "node:assert/strict";
import {
  createTask,
  getRunningLoop,
  LifoQueue,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
  RuntimeError,
  sleep,
  TaskGroup,
  TimeoutError,
  waitFor,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { assertCancelled, inTask, loopTest } from "../_util.ts";

/** Lets the loop run `n` iterations (asyncio's `await asyncio.sleep(0)`). */
async function iterations(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await sleep(0);
}

/**
 * Awaits `awaitable`, failing with TimeoutError after `seconds` (virtual
 * seconds on the virtual clock) instead of hanging, for waits a regression
 * would leave pending forever.
 */
function within<T>(awaitable: PromiseLike<T>, seconds = 1): Promise<T> {
  return waitFor(awaitable, seconds);
}

/** The queue classes, for the cases every kind must pass. */
const KINDS: [string, (options?: { maxsize?: number }) => Queue<string>][] = [
  ["Queue", (options) => new Queue<string>(options)],
  ["LifoQueue", (options) => new LifoQueue<string>(options)],
  ["PriorityQueue", (options) => new PriorityQueue<string>(options)],
];

// ---- size and order --------------------------------------------------------

Deno.test("Queue() is unbounded by default and reports maxsize", () => {
  const q = new Queue<number>();
  assert.equal(q.maxsize, 0);
  for (let i = 0; i < 1000; i++) q.putNowait(i);
  assert.equal(q.full(), false);
  assert.equal(q.qsize(), 1000);
  assert.equal(new Queue({ maxsize: 2 }).maxsize, 2);
});

Deno.test("Queue.empty() and qsize() follow puts and gets", () => {
  const q = new Queue<number>();
  assert.equal(q.empty(), true);
  assert.equal(q.qsize(), 0);
  q.putNowait(1);
  assert.equal(q.empty(), false);
  assert.equal(q.qsize(), 1);
  assert.equal(q.getNowait(), 1);
  assert.equal(q.empty(), true);
});

Deno.test("Queue.full() holds at maxsize, a fraction rounding up", () => {
  const one = new Queue<number>({ maxsize: 1 });
  assert.equal(one.full(), false);
  one.putNowait(1);
  assert.equal(one.full(), true);

  const frac = new Queue<number>({ maxsize: 1.3 });
  frac.putNowait(1);
  assert.equal(frac.full(), false);
  frac.putNowait(2);
  assert.equal(frac.full(), true);
  assert.throws(() => frac.putNowait(3), QueueFull);
});

Deno.test("Queue() with a maxsize of 0 or less is unbounded", () => {
  for (const maxsize of [0, -1, -0.5, -Infinity]) {
    const q = new Queue<number>({ maxsize });
    assert.equal(q.maxsize, maxsize);
    for (let i = 0; i < 100; i++) q.putNowait(i);
    assert.equal(q.full(), false, `maxsize=${maxsize}`);
  }
});

Deno.test("Queue() rejects bad options with TypeError or RangeError", () => {
  const bad: [unknown, ErrorConstructor][] = [
    [5, TypeError],
    [null, TypeError],
    ["big", TypeError],
    [{ maxsize: "3" }, TypeError],
    [{ maxsize: null }, TypeError],
    [{ maxsize: 3n }, TypeError],
    [{ maxsize: NaN }, RangeError],
  ];
  for (const [options, error] of bad) {
    for (const make of [Queue, LifoQueue, PriorityQueue]) {
      assert.throws(
        () => new make(options as { maxsize: number }),
        error,
        `${make.name}(${String(options)})`,
      );
    }
  }
  assert.throws(() => new Queue(5 as never), /options object/);
});

Deno.test("Queue.getNowait() returns items in FIFO order", () => {
  const q = new Queue<number>();
  for (const i of [1, 3, 2]) q.putNowait(i);
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [1, 3, 2]);
});

Deno.test("Queue.getNowait() on an empty queue throws QueueEmpty", () => {
  const q = new Queue<number>();
  assert.throws(() => q.getNowait(), QueueEmpty);
  q.putNowait(1);
  q.getNowait();
  assert.throws(() => q.getNowait(), QueueEmpty);
});

Deno.test("Queue.putNowait() on a full queue throws QueueFull and keeps the items", () => {
  const q = new Queue<number>({ maxsize: 1 });
  q.putNowait(1);
  assert.throws(() => q.putNowait(2), QueueFull);
  assert.equal(q.qsize(), 1);
  assert.equal(q.getNowait(), 1);
  q.putNowait(3);
  assert.equal(q.getNowait(), 3);
});

Deno.test("Queue keeps FIFO order across ring growth, wrap-around and shrinking", () => {
  const q = new Queue<number>();
  let next = 0;
  let expected = 0;
  // Interleave so the ring's head wraps while it grows.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 97; i++) q.putNowait(next++);
    for (let i = 0; i < 60; i++) assert.equal(q.getNowait(), expected++);
  }
  // A burst that grows the ring well past the shrink threshold, then drain.
  for (let i = 0; i < 20_000; i++) q.putNowait(next++);
  while (q.qsize() > 10) assert.equal(q.getNowait(), expected++);
  for (let i = 0; i < 100; i++) q.putNowait(next++);
  while (!q.empty()) assert.equal(q.getNowait(), expected++);
  assert.equal(expected, next);
});

Deno.test("Queue.toString() shows maxsize, items, tasks and shutdown", () => {
  const q = new Queue<number>({ maxsize: 5 });
  assert.equal(String(q), "<Queue maxsize=5>");
  q.putNowait(1);
  q.putNowait(2);
  assert.equal(String(q), "<Queue maxsize=5 _queue=[1, 2] tasks=2>");
  q.getNowait();
  q.getNowait();
  q.taskDone();
  q.shutdown();
  assert.equal(String(q), "<Queue maxsize=5 tasks=1 shutdown>");
  assert.equal(Deno.inspect(new LifoQueue()), "<LifoQueue maxsize=0>");
  const big = new Queue<number>();
  for (let i = 0; i < 20; i++) big.putNowait(i);
  assert.match(String(big), /_queue=\[0, 1, .*7, \.\.\. 12 more\]/);
});

loopTest(
  "Queue.toString() counts waiting getters and putters",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const getter = createTask(() => q.get());
      await iterations();
      assert.match(String(q), /_getters\[1\]/);
      q.putNowait(0);
      assert.equal(await getter, 0);

      const full = new Queue<number>({ maxsize: 1 });
      full.putNowait(1);
      const putter = createTask(() => full.put(2));
      await iterations();
      assert.match(String(full), /_putters\[1\]/);
      full.getNowait();
      await putter;
      assert.equal(String(full), "<Queue maxsize=1 _queue=[2] tasks=2>");
    });
  },
);

// ---- waiting puts and gets -----------------------------------------------

loopTest(
  "Queue.put() waits at maxsize until a get makes room",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 2 });
      const put: number[] = [];
      const putter = createTask(async () => {
        for (let i = 0; i < 3; i++) {
          await q.put(i);
          put.push(i);
        }
        return true;
      });
      await iterations(2);
      assert.deepEqual(put, [0, 1], "blocked after two items");
      assert.equal(q.full(), true);
      assert.equal(await q.get(), 0);
      await iterations();
      assert.deepEqual(put, [0, 1, 2]);
      assert.equal(await q.get(), 1);
      assert.equal(await q.get(), 2);
      assert.equal(putter.done(), true);
      assert.equal(putter.result(), true);
    });
  },
);

loopTest("Queue.get() waits until an item is put", async ({ loop }) => {
  await inTask(loop, async () => {
    const q = new Queue<number>();
    const t0 = loop.time();
    let finished = false;
    const getter = createTask(async () => {
      const item = await q.get();
      finished = true;
      return item;
    });
    await iterations();
    assert.equal(finished, false);
    loop.callLater(0.01, () => q.putNowait(1));
    assert.equal(await getter, 1);
    assert.equal(finished, true);
    if (loop instanceof VirtualTimeEventLoop) {
      assert.ok(Math.abs(loop.time() - t0 - 0.01) < 1e-9, `${loop.time()}`);
    }
  });
});

loopTest(
  "Queue.put() resolves at once with room, even unbounded",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      await q.put(1);
      assert.equal(await q.get(), 1);
    });
  },
);

loopTest(
  "Queue.put() with a fractional maxsize waits after rounding up",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 1.3 });
      await q.put(1);
      await q.put(2);
      assert.equal(q.full(), true);
      const third = createTask(() => q.put(3));
      await iterations();
      assert.equal(third.done(), false);
      q.getNowait();
      await third;
      assert.deepEqual([q.getNowait(), q.getNowait()], [2, 3]);
    });
  },
);

loopTest(
  "Queue.get() wakes waiting getters in FIFO order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>();
      const got: string[] = [];
      const getters = ["g1", "g2", "g3"].map((name) =>
        createTask(async () => {
          got.push(`${name}:${await q.get()}`);
        })
      );
      await iterations();
      for (const item of ["a", "b", "c"]) q.putNowait(item);
      for (const g of getters) await g;
      assert.deepEqual(got, ["g1:a", "g2:b", "g3:c"]);
    });
  },
);

loopTest(
  "Queue.put() wakes waiting putters in FIFO order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 1 });
      q.putNowait("first");
      const putters = ["a", "b", "c"].map((item) =>
        createTask(() => q.put(item))
      );
      await iterations();
      const got: string[] = [];
      while (got.length < 4) got.push(await q.get());
      assert.deepEqual(got, ["first", "a", "b", "c"]);
      for (const p of putters) await p;
    });
  },
);

loopTest(
  "Queue.get() takes from a full queue and lets a waiting putter in",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 1 });
      const a = createTask(() => q.put("a"));
      const b = createTask(() => q.put("b"));
      assert.equal(await q.get(), "a");
      assert.equal(await q.get(), "b");
      await a;
      await b;
    });
  },
);

loopTest(
  "Queue.put() hands an item to a getter that waits",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>();
      const getter = createTask(() => q.get());
      await iterations();
      await q.put("a");
      assert.equal(await getter, "a");
    });
  },
);

loopTest(
  "Queue with maxsize 1 carries a producer and a consumer to the end",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 1 });
      const got: number[] = [];
      await new TaskGroup().run((tg) => {
        tg.createTask(async () => {
          for (let i = 0; i < 5; i++) await q.put(i);
        });
        tg.createTask(async () => {
          for (let i = 0; i < 5; i++) got.push(await q.get());
        });
      });
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
    });
  },
);

loopTest(
  "Queue.getNowait() that empties a full queue wakes putters until it is full",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 2 });
      await new TaskGroup().run((tg) => {
        tg.createTask(async () => {
          await sleep(0);
          const n = q.qsize();
          for (let i = 0; i < n; i++) q.getNowait();
        });
        for (let i = 0; i < 4; i++) tg.createTask(() => q.put(i));
      });
      assert.equal(q.qsize(), 2);
    });
  },
);

loopTest(
  "Queue moves 10,000 items between three producers and three consumers",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<[number, number]>({ maxsize: 7 });
      const seen: number[][] = [[], [], []];
      await new TaskGroup().run((tg) => {
        for (let p = 0; p < 3; p++) {
          tg.createTask(async () => {
            for (let i = 0; i < 3334; i++) await q.put([p, i]);
          });
        }
        for (let c = 0; c < 3; c++) {
          tg.createTask(async () => {
            for (let n = 0; n < 3334; n++) {
              const [p, i] = await q.get();
              seen[p].push(i);
              q.taskDone();
            }
          });
        }
      });
      for (const items of seen) {
        assert.equal(items.length, 3334);
        // One producer's items come out in the order it put them.
        assert.ok(items.every((v, i) => v === i));
      }
      assert.equal(q.qsize(), 0);
      await q.join();
    });
  },
);

// ---- cancellation --------------------------------------------------------------

loopTest(
  "Queue.get() timed out by waitFor() leaves no getter behind",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 5 });
      const t0 = loop.time();
      await assert.rejects(waitFor(q.get(), 0.1), TimeoutError);
      if (loop instanceof VirtualTimeEventLoop) {
        assert.ok(Math.abs(loop.time() - t0 - 0.1) < 1e-9, `${loop.time()}`);
      }
      assert.doesNotMatch(String(q), /_getters/);
      q.putNowait(1);
      assert.equal(await q.get(), 1);
    });
  },
);

loopTest(
  "Queue.get() returns an item that arrives before waitFor()'s deadline",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      loop.callLater(0.01, () => q.putNowait(1));
      assert.equal(await waitFor(q.get(), 0.051), 1);
    });
  },
);

loopTest(
  "Queue.get() cancelled while waiting does not take the next item",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>();
      const t1 = createTask(() => q.get());
      const t2 = createTask(() => q.get());
      await iterations();
      t1.cancel();
      await iterations();
      assert.equal(t1.cancelled(), true);
      await q.put("a");
      assert.equal(await t2, "a");
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.get() cancelled after being woken leaves the item in the queue",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const reader = createTask(() => q.get());
      await iterations();
      q.putNowait(1); // wakes the reader...
      q.putNowait(2);
      reader.cancel(); // ...which is cancelled before it runs
      await assertCancelled(reader);
      assert.equal(q.qsize(), 2);
      assert.equal(await q.get(), 1, "1 was not dropped");
      assert.equal(await q.get(), 2);
    });
  },
);

loopTest(
  "Queue.get() cancelled after being woken passes the item to the next getter",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const readers = [0, 1, 2].map(() => createTask(() => q.get()));
      await iterations();
      q.putNowait(1);
      q.putNowait(2);
      readers[0].cancel();
      await assertCancelled(readers[0]);
      const got = [await within(readers[1]), await within(readers[2])];
      assert.deepEqual(new Set(got), new Set([1, 2]));
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.get() cancelled while woken by shutdown() still ends in QueueShutDown for the rest",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const readers = [0, 1].map(() => createTask(() => q.get()));
      await iterations();
      q.shutdown();
      readers[0].cancel();
      await assertCancelled(readers[0]);
      await assert.rejects(Promise.resolve(readers[1]), QueueShutDown);
    });
  },
);

loopTest(
  "Queue.put() cancelled while waiting puts nothing",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 1 });
      q.putNowait(1);
      const putter = createTask(() => q.put(2));
      await iterations();
      assert.match(String(q), /_putters\[1\]/);
      putter.cancel();
      await assertCancelled(putter);
      assert.doesNotMatch(String(q), /_putters/);
      assert.equal(q.getNowait(), 1);
      assert.equal(q.qsize(), 0);
      assert.throws(() => q.getNowait(), QueueEmpty);
    });
  },
);

loopTest(
  "Queue.put() cancelled after being woken puts nothing; a retry does",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 1 });
      q.putNowait(1);
      let writer = createTask(() => q.put(2));
      await iterations();
      assert.equal(q.getNowait(), 1); // wakes the writer...
      writer.cancel(); // ...which is cancelled before it runs
      await assertCancelled(writer);
      assert.equal(q.qsize(), 0, "the cancelled put inserted nothing");
      writer = createTask(() => q.put(2));
      await writer;
      assert.equal(q.getNowait(), 2);
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.put() cancelled after being woken passes the room to the next putter",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 1 });
      q.putNowait("first");
      const b = createTask(() => q.put("b"));
      const c = createTask(() => q.put("c"));
      await iterations();
      assert.equal(q.getNowait(), "first"); // wakes b
      b.cancel();
      await assertCancelled(b);
      await within(c);
      assert.equal(q.getNowait(), "c");
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.put() cancelled among waiting putters keeps the others' order",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 1 });
      const putA = createTask(() => q.put("a"));
      const putB = createTask(() => q.put("b"));
      const putX = createTask(() => q.put("X"));
      await iterations();
      assert.equal(putA.done(), true);
      assert.equal(putB.done(), false);
      putX.cancel();
      await iterations();
      assert.equal(putX.cancelled(), true);
      assert.equal(q.getNowait(), "a");
      await iterations();
      assert.equal(q.getNowait(), "b");
      await within(putB);
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.put() of a running task completes without waiting",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const putter = createTask(async () => {
        await q.put(1);
        return true;
      });
      assert.equal(await q.get(), 1);
      assert.equal(await putter, true);
    });
  },
);

// ---- taskDone and join ---------------------------------------------------

for (const [kind, make] of KINDS) {
  Deno.test(`${kind}.taskDone() past the items put throws RangeError`, () => {
    const q = make();
    assert.throws(() => q.taskDone(), RangeError);
    q.putNowait("x");
    q.taskDone();
    assert.throws(() => q.taskDone(), RangeError);
  });

  loopTest(
    `${kind}.join() waits until taskDone() was called for every item`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make();
        for (let i = 0; i < 100; i++) q.putNowait(String(i).padStart(3, "0"));
        let total = 0;
        let running = true;
        const worker = async () => {
          while (running) {
            const item = await q.get();
            total += Number(item);
            q.taskDone();
          }
        };
        const workers = [createTask(worker), createTask(worker)];
        await q.join();
        assert.equal(total, 4950);
        running = false;
        for (let i = 0; i < workers.length; i++) q.putNowait("000");
        for (const w of workers) await w;
      });
    },
  );

  loopTest(
    `${kind}.join() returns at once when no task is unfinished`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make();
        await q.join();
        await q.join();
        q.putNowait("x");
        q.getNowait();
        q.taskDone();
        await q.join();
      });
    },
  );
}

loopTest(
  "Queue.join() cancelled leaves the other joiners waiting",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      q.putNowait(1);
      const j1 = createTask(() => q.join());
      const j2 = createTask(() => q.join());
      await iterations();
      j1.cancel();
      await assertCancelled(j1);
      assert.equal(j2.done(), false);
      q.getNowait();
      q.taskDone();
      await within(j2);
    });
  },
);

// ---- PriorityQueue and LifoQueue ---------------------------------------------

Deno.test("PriorityQueue and LifoQueue are Queues", () => {
  assert.ok(new PriorityQueue() instanceof Queue);
  assert.ok(new LifoQueue() instanceof Queue);
});

Deno.test("LifoQueue.getNowait() returns the newest item first", () => {
  const q = new LifoQueue<number>();
  for (const i of [1, 3, 2]) q.putNowait(i);
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [2, 3, 1]);
});

loopTest("LifoQueue.put() waits at maxsize like Queue", async ({ loop }) => {
  await inTask(loop, async () => {
    const q = new LifoQueue<number>({ maxsize: 2 });
    await q.put(1);
    await q.put(2);
    const third = createTask(() => q.put(3));
    await iterations();
    assert.equal(third.done(), false);
    assert.equal(await q.get(), 2);
    await third;
    assert.deepEqual([await q.get(), await q.get()], [3, 1]);
  });
});

Deno.test("PriorityQueue.getNowait() returns the smallest number first", () => {
  const q = new PriorityQueue<number>();
  for (const i of [1, 3, 2]) q.putNowait(i);
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [1, 2, 3]);
});

Deno.test("PriorityQueue sorts many numbers as Array.prototype.sort does", () => {
  let state = 12345;
  const random = () =>
    (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const q = new PriorityQueue<number>();
  const all: number[] = [];
  const out: number[] = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 150; i++) {
      const n = Math.floor(random() * 1000) - 500;
      q.putNowait(n);
      all.push(n);
    }
    for (let i = 0; i < 100; i++) out.push(q.getNowait());
  }
  while (!q.empty()) out.push(q.getNowait());
  // Each batch came out smallest-first among what was in the queue; the
  // whole stream holds every item.
  assert.deepEqual(
    [...out].sort((a, b) => a - b),
    [...all].sort((a, b) => a - b),
  );
  const q2 = new PriorityQueue<number>();
  for (const n of all) q2.putNowait(n);
  const drained: number[] = [];
  while (!q2.empty()) drained.push(q2.getNowait());
  assert.deepEqual(drained, [...all].sort((a, b) => a - b));
});

Deno.test("PriorityQueue orders strings, and arrays as Python's tuples", () => {
  const words = new PriorityQueue<string>();
  for (const w of ["pear", "apple", "fig", "Zebra"]) words.putNowait(w);
  const gotWords: string[] = [];
  while (!words.empty()) gotWords.push(words.getNowait());
  assert.deepEqual(gotWords, ["Zebra", "apple", "fig", "pear"]);

  const q = new PriorityQueue<unknown[]>();
  const items = [[1, "b"], [1, "a", 0], [0, "z"], [1], [1, "a"], [2], []];
  for (const item of items) q.putNowait(item);
  const got: unknown[] = [];
  while (!q.empty()) got.push(q.getNowait());
  assert.deepEqual(got, [[], [0, "z"], [1], [1, "a"], [1, "a", 0], [1, "b"], [
    2,
  ]]);

  const nested = new PriorityQueue<[number, number[]]>();
  for (const item of [[1, [2, 1]], [1, [2]], [0, [9]], [1, [1, 5]]] as const) {
    nested.putNowait([item[0], [...item[1]]]);
  }
  const gotNested: unknown[] = [];
  while (!nested.empty()) gotNested.push(nested.getNowait());
  assert.deepEqual(gotNested, [[0, [9]], [1, [1, 5]], [1, [2]], [1, [2, 1]]]);
});

Deno.test("PriorityQueue default order mixes numbers and bigints", () => {
  const q = new PriorityQueue<number | bigint>();
  for (const n of [3, 1n, 2.5, 10n]) q.putNowait(n);
  const got: (number | bigint)[] = [];
  while (!q.empty()) got.push(q.getNowait());
  assert.deepEqual(got, [1n, 2.5, 3, 10n]);
});

Deno.test("PriorityQueue.putNowait() refuses items it cannot order and stays usable", () => {
  const q = new PriorityQueue<unknown>();
  q.putNowait(2);
  q.putNowait(1);
  assert.throws(() => q.putNowait("a"), TypeError);
  assert.throws(() => q.putNowait(null), TypeError);
  assert.throws(() => q.putNowait({}), /cannot order Object and number/);
  assert.equal(q.qsize(), 2);
  q.putNowait(3);
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [1, 2, 3]);

  // As Python's (1, obj) < (1, obj2): the tie reaches the objects.
  const pairs = new PriorityQueue<[number, object]>();
  const shared = {};
  pairs.putNowait([1, shared]);
  pairs.putNowait([1, shared]); // identical elements are not compared
  assert.throws(() => pairs.putNowait([1, {}]), TypeError);
  pairs.putNowait([0, {}]);
  assert.equal(pairs.qsize(), 3);
  assert.equal(pairs.getNowait()[0], 0);
});

loopTest(
  "PriorityQueue.put() rejects an item it cannot order and stays usable",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new PriorityQueue<unknown>();
      await q.put(1);
      await assert.rejects(q.put("one"), TypeError);
      assert.equal(q.qsize(), 1);
      await q.put(0);
      assert.equal(await q.get(), 0);
      assert.equal(await q.get(), 1);
      // Nothing was counted for the refused item.
      q.taskDone();
      q.taskDone();
      assert.throws(() => q.taskDone(), RangeError);
    });
  },
);

Deno.test("PriorityQueue takes a compare function", () => {
  const q = new PriorityQueue<number>({ compare: (a, b) => b - a });
  for (const n of [1, 3, 2]) q.putNowait(n);
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [3, 2, 1]);

  const byDue = new PriorityQueue<{ due: number; name: string }>({
    compare: (a, b) => a.due - b.due,
  });
  byDue.putNowait({ due: 5, name: "later" });
  byDue.putNowait({ due: 1, name: "soon" });
  assert.equal(byDue.getNowait().name, "soon");
});

Deno.test("PriorityQueue with a compare that throws leaves the heap intact", () => {
  let fail = false;
  const q = new PriorityQueue<number>({
    compare: (a, b) => {
      if (fail) throw new Error("compare failed");
      return a - b;
    },
  });
  for (const n of [5, 3, 8, 1, 9, 2, 7]) q.putNowait(n);
  fail = true;
  assert.throws(() => q.putNowait(4), /compare failed/);
  assert.throws(() => q.getNowait(), /compare failed/);
  assert.equal(q.qsize(), 7);
  fail = false;
  const got: number[] = [];
  while (!q.empty()) got.push(q.getNowait());
  assert.deepEqual(got, [1, 2, 3, 5, 7, 8, 9]);
});

Deno.test("PriorityQueue() rejects a compare that is not a function", () => {
  for (const compare of [1, "desc", null, {}]) {
    assert.throws(
      () => new PriorityQueue({ compare: compare as never }),
      TypeError,
    );
  }
});

// ---- shutdown -------------------------------------------------------------------

for (const [kind, make] of KINDS) {
  loopTest(
    `${kind}.shutdown() of an empty queue fails waiting and later gets and puts`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make();
        const getter = createTask(() => q.get());
        await iterations();
        q.shutdown();
        assert.equal(q.qsize(), 0);
        await q.join();
        await assert.rejects(Promise.resolve(getter), QueueShutDown);
        await assert.rejects(q.put("data"), QueueShutDown);
        assert.throws(() => q.putNowait("data"), QueueShutDown);
        await assert.rejects(q.get(), QueueShutDown);
        assert.throws(() => q.getNowait(), QueueShutDown);
      });
    },
  );

  loopTest(
    `${kind}.shutdown() lets gets drain the items left`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make({ maxsize: 1 });
        q.putNowait("data");
        const joiner = createTask(() => q.join());
        const putter = createTask(() => q.put("data2"));
        await iterations();
        assert.equal(putter.done(), false);
        q.shutdown();
        assert.equal(q.qsize(), 1);
        await assert.rejects(Promise.resolve(putter), QueueShutDown);
        assert.equal(await q.get(), "data");
        await iterations();
        assert.equal(joiner.done(), false, "the item is not done yet");
        await assert.rejects(q.put("data"), QueueShutDown);
        assert.throws(() => q.putNowait("data"), QueueShutDown);
        await assert.rejects(q.get(), QueueShutDown);
        assert.throws(() => q.getNowait(), QueueShutDown);
        q.taskDone();
        await within(joiner);
        assert.throws(() => q.taskDone(), RangeError);
      });
    },
  );

  loopTest(
    `${kind}.shutdown(true) drops the items and releases join()`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make();
        q.putNowait("data");
        const joiner = createTask(() => q.join());
        await iterations();
        q.shutdown(true);
        assert.equal(q.qsize(), 0);
        await within(joiner);
        await assert.rejects(q.put("data"), QueueShutDown);
        assert.throws(() => q.putNowait("data"), QueueShutDown);
        await assert.rejects(q.get(), QueueShutDown);
        assert.throws(() => q.getNowait(), QueueShutDown);
        assert.throws(() => q.taskDone(), RangeError, "no task is unfinished");
      });
    },
  );

  loopTest(
    `${kind}.shutdown(true) keeps join() waiting for items already taken`,
    async ({ loop }) => {
      await inTask(loop, async () => {
        const q = make();
        q.putNowait("data");
        q.putNowait("data");
        const joiner = createTask(() => q.join());
        assert.equal(await q.get(), "data");
        q.shutdown(true); // unfinished: 2 -> 1
        assert.equal(q.qsize(), 0);
        await iterations();
        assert.equal(joiner.done(), false);
        await assert.rejects(q.get(), QueueShutDown);
        assert.throws(() => q.getNowait(), QueueShutDown);
        q.taskDone();
        assert.throws(() => q.taskDone(), RangeError);
        await within(joiner);
      });
    },
  );
}

loopTest(
  "Queue.shutdown(true) wakes waiting putters and getters with QueueShutDown",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const full = new Queue<number>({ maxsize: 1 });
      full.putNowait(1);
      const putters = [2, 3].map((n) => createTask(() => full.put(n)));
      const empty = new Queue<number>();
      const getters = [0, 1].map(() => createTask(() => empty.get()));
      await iterations();
      full.shutdown(true);
      empty.shutdown(true);
      for (const t of [...putters, ...getters]) {
        await assert.rejects(Promise.resolve(t), QueueShutDown);
      }
      assert.equal(full.qsize(), 0);
      assert.doesNotMatch(String(full), /_putters/);
      assert.doesNotMatch(String(empty), /_getters/);
    });
  },
);

Deno.test("Queue.shutdown() twice is harmless; immediate must be a boolean", () => {
  const q = new Queue<number>();
  q.putNowait(1);
  assert.throws(() => q.shutdown("yes" as never), TypeError);
  assert.throws(() => q.shutdown(1 as never), TypeError);
  q.putNowait(2); // the bad calls did not shut it down
  q.shutdown();
  q.shutdown();
  assert.equal(q.getNowait(), 1);
  q.shutdown(true);
  assert.equal(q.qsize(), 0);
  assert.throws(() => q.getNowait(), QueueShutDown);
});

// ---- for await ---------------------------------------------------------------

loopTest(
  "Queue for await yields items until shut down and drained",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>({ maxsize: 2 });
      const reader = createTask(async () => {
        const got: number[] = [];
        for await (const n of q) got.push(n);
        return got;
      });
      for (let i = 0; i < 5; i++) await q.put(i);
      await iterations();
      q.putNowait(5);
      q.putNowait(6);
      q.shutdown(); // the two items left still come out
      assert.deepEqual(await reader, [0, 1, 2, 3, 4, 5, 6]);
    });
  },
);

loopTest(
  "Queue for await ends at once after shutdown(true)",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      q.putNowait(1);
      q.shutdown(true);
      const got: number[] = [];
      for await (const n of q) got.push(n);
      assert.deepEqual(got, []);
    });
  },
);

loopTest("Queue for await stops taking items at break", async ({ loop }) => {
  await inTask(loop, async () => {
    const q = new Queue<number>();
    for (let i = 0; i < 5; i++) q.putNowait(i);
    const got: number[] = [];
    for await (const n of q) {
      got.push(n);
      if (got.length === 2) break;
    }
    assert.deepEqual(got, [0, 1]);
    assert.equal(q.qsize(), 3);
    const iterator = q[Symbol.asyncIterator]();
    assert.equal(iterator[Symbol.asyncIterator](), iterator);
    assert.deepEqual(await iterator.next(), { value: 2, done: false });
  });
});

loopTest(
  "Queue for await is cancelled while it waits, losing no item",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<number>();
      const got: number[] = [];
      const reader = createTask(async () => {
        for await (const n of q) got.push(n);
      });
      await iterations();
      q.putNowait(1); // wakes the reader...
      reader.cancel(); // ...which is cancelled before it takes it
      await assertCancelled(reader);
      assert.deepEqual(got, []);
      assert.equal(q.getNowait(), 1);
    });
  },
);

loopTest(
  "Queue hands promise items over as they are through getNowait() and for await",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const q = new Queue<Promise<string>>();
      const pending = new Promise<string>(() => {});
      q.putNowait(pending);
      assert.equal(q.getNowait(), pending);
      q.putNowait(pending);
      q.shutdown();
      for await (const item of q) assert.equal(item, pending);
    });
  },
);

// ---- loops --------------------------------------------------------------------

loopTest(
  "Queue binds to the loop of its first wait; a wait on another loop is a RuntimeError",
  async (fx) => {
    const q = new Queue<number>(); // made outside any loop
    await inTask(fx.loop, async () => {
      const getter = createTask(() => q.get());
      await iterations();
      q.putNowait(1);
      assert.equal(await getter, 1);
    });
    const other = fx.make();
    try {
      await other.runUntilComplete(async () => {
        // Nothing to wait for: works on any loop, as asyncio's.
        q.putNowait(2);
        assert.equal(await q.get(), 2);
        await assert.rejects(q.get(), RuntimeError);
        await assert.rejects(q.get(), /bound to a different event loop/);
        q.putNowait(3);
        await assert.rejects(q.join(), RuntimeError);
        const full = new Queue<number>({ maxsize: 1 });
        full.putNowait(0);
        const putter = createTask(() => full.put(1));
        await iterations();
        full.getNowait();
        await putter;
        assert.equal(getRunningLoop(), other);
      });
    } finally {
      other.close();
    }
    // Still usable on its own loop.
    await inTask(fx.loop, async () => {
      assert.equal(await q.get(), 3);
      const getter = createTask(() => q.get());
      await iterations();
      q.putNowait(4);
      assert.equal(await getter, 4);
    });
  },
);

Deno.test("Queue.get() that must wait with no loop running rejects with RuntimeError", async () => {
  const q = new Queue<number>();
  await assert.rejects(q.get(), RuntimeError);
  const full = new Queue<number>({ maxsize: 1 });
  full.putNowait(1);
  await assert.rejects(full.put(2), RuntimeError);
  assert.equal(full.qsize(), 1);
  // Neither wait bound the queues.
  q.putNowait(1);
  assert.equal(await q.get(), 1);
});
