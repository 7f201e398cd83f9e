/**
 * asyncio's documented behaviour of locks, queues and timeouts, in the cases
 * where it is easiest to get wrong: a wakeup given to a waiter that is then
 * cancelled passes to the next one (none is lost, none is doubled), FIFO
 * order survives cancellations in the middle of a queue, permits and items
 * are counted exactly, a shutdown that arrives between a wakeup and the
 * resumption wins, and `timeout()`/`waitFor()` raise `TimeoutError` only for
 * their own cancellation. Steps are counted in `sleep(0)`s (one loop
 * iteration each); anything that depends on time runs on the virtual clock.
 */
import assert from "node:assert/strict";
import {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  CancelledError,
  Condition,
  createTask,
  currentTask,
  Event,
  ExceptionGroup,
  gather,
  getRunningLoop,
  LifoQueue,
  Lock,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
  Semaphore,
  shield,
  sleep,
  type Task,
  TaskGroup,
  type Timeout,
  timeout,
  timeoutAt,
  TimeoutError,
  waitFor,
} from "../../mod.ts";
import {
  assertCancelled,
  inGuardedTask,
  loopTest,
  near,
  steps,
} from "../_util.ts";

/**
 * Awaits every task, whatever its outcome; returns results and errors. A
 * cancellation of the awaiting task itself (the guard of `inTask`) is not an
 * outcome: it propagates.
 */
async function settle(tasks: Task<unknown>[]): Promise<unknown[]> {
  const self = currentTask()!;
  const cancelling = self.cancelling();
  const outcomes: unknown[] = [];
  for (const task of tasks) {
    try {
      outcomes.push(await task);
    } catch (error) {
      if (self.cancelling() > cancelling) throw error;
      outcomes.push(error);
    }
  }
  return outcomes;
}

/** What `fn` rejected with (fails if it resolved). */
async function rejection(fn: () => PromiseLike<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  assert.fail("nothing was thrown");
}

// ---- Lock ----------------------------------------------------------------------

loopTest(
  "Lock.release() right after the first waiter's cancel lets a newcomer in, and nobody else",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const first = createTask(() => lock.acquire());
      await sleep(0);
      assert.equal(String(lock), "<Lock [locked, waiters:1]>");
      // Not started yet: it asks for the lock after the cancel and release.
      const newcomer = createTask(() => lock.acquire());
      first.cancel();
      lock.release();
      await sleep(0);
      assert.equal(first.cancelled(), true);
      assert.equal(lock.locked(), true);
      assert.equal(await newcomer, true);
      assert.equal(String(lock), "<Lock [locked]>");
    });
  },
);

loopTest(
  "Lock.acquire() keeps FIFO order when waiters in the middle are cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const order: number[] = [];
      const tasks = [1, 2, 3, 4, 5].map((n) =>
        createTask(async () => {
          await lock.acquire();
          order.push(n);
          await sleep(0);
          lock.release();
        })
      );
      await sleep(0);
      assert.equal(String(lock), "<Lock [locked, waiters:5]>");
      tasks[0].cancel(); // the first in line
      tasks[2].cancel();
      lock.release();
      const outcomes = await settle(tasks);
      assert.deepEqual(order, [2, 4, 5]);
      assert.ok(outcomes[0] instanceof CancelledError);
      assert.ok(outcomes[2] instanceof CancelledError);
      assert.equal(String(lock), "<Lock [unlocked]>");
    });
  },
);

loopTest(
  "Lock.release() wakeup survives the chosen waiter and the next one both being cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const [a, b, c] = [0, 1, 2].map(() => createTask(() => lock.acquire()));
      await sleep(0);
      lock.release(); // chooses a
      a.cancel();
      b.cancel();
      await assertCancelled(a);
      await assertCancelled(b);
      assert.equal(await c, true, "the wakeup reached the third waiter");
      assert.equal(String(lock), "<Lock [locked]>");
      lock.release();
      assert.equal(String(lock), "<Lock [unlocked]>");
    });
  },
);

// ---- Semaphore and BoundedSemaphore ----------------------------------------------

loopTest(
  "Semaphore.release() permits handed to waiters are counted once, even when one is cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(2);
      await sem.acquire();
      await sem.acquire();
      const got: number[] = [];
      const tasks = [1, 2, 3].map((n) =>
        createTask(async () => {
          await sem.acquire();
          got.push(n);
        })
      );
      await sleep(0);
      assert.equal(String(sem), "<Semaphore [locked, waiters:3]>");
      sem.release(); // to 1
      sem.release(); // to 2
      assert.equal(sem.locked(), true, "both permits are on their way");
      tasks[0].cancel(); // 1 never takes its permit: 3 gets it
      const outcomes = await settle(tasks);
      assert.ok(outcomes[0] instanceof CancelledError);
      assert.deepEqual(got, [2, 3]);
      assert.equal(String(sem), "<Semaphore [locked]>");
      sem.release();
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
      sem.release();
      assert.equal(String(sem), "<Semaphore [unlocked, value:2]>");
    });
  },
);

loopTest(
  "Semaphore.locked() stays true while woken waiters have not run, even with a spare permit",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const order: string[] = [];
      const waiter = (name: string) =>
        createTask(async () => {
          await sem.acquire();
          order.push(name);
        });
      const woken = [waiter("w1"), waiter("w2")];
      await sleep(0);
      sem.release();
      sem.release(); // both waiters woken, neither has run
      sem.release(); // a spare permit
      assert.equal(sem.locked(), true, "the woken waiters come first");
      const late = waiter("late"); // must queue behind them
      await gather(...woken, late);
      assert.deepEqual(order, ["w1", "w2", "late"]);
      assert.equal(String(sem), "<Semaphore [locked]>");
    });
  },
);

loopTest(
  "Semaphore.locked() is false when every waiter is cancelled and a permit is free",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const waiters = [0, 1].map(() => createTask(() => sem.acquire()));
      await sleep(0);
      for (const task of waiters) task.cancel();
      sem.release(); // nobody alive to hand it to
      assert.equal(sem.locked(), false);
      assert.equal(
        String(sem),
        "<Semaphore [unlocked, value:1, waiters:2]>",
      );
      let taken = false;
      const newcomer = sem.acquire().then(() => (taken = true));
      await Promise.resolve();
      assert.equal(taken, true, "taken without a trip through the loop");
      await newcomer;
      for (const task of waiters) await assertCancelled(task);
      assert.equal(String(sem), "<Semaphore [locked]>", "no permit made up");
      sem.release();
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
);

loopTest(
  "BoundedSemaphore takes back the permit of a woken waiter that is cancelled, and keeps its bound",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new BoundedSemaphore(1);
      await sem.acquire();
      const waiter = createTask(() => sem.acquire());
      await sleep(0);
      sem.release(); // handed to the waiter
      assert.equal(sem.locked(), true);
      waiter.cancel();
      await assertCancelled(waiter);
      assert.equal(sem.locked(), false);
      assert.equal(String(sem), "<BoundedSemaphore [unlocked, value:1]>");
      assert.throws(() => sem.release(), RangeError);
      assert.equal(String(sem), "<BoundedSemaphore [unlocked, value:1]>");
      assert.equal(await sem.acquire(), true);
      assert.equal(sem.locked(), true);
    });
  },
);

// ---- Event -----------------------------------------------------------------------

loopTest(
  "Event.wait() cancelled after set() ends cancelled; the other waiters return true",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const event = new Event();
      const waiters = [0, 1, 2].map(() => createTask(() => event.wait()));
      await sleep(0);
      assert.equal(String(event), "<Event [unset, waiters:3]>");
      event.set();
      waiters[1].cancel();
      const outcomes = await settle(waiters);
      assert.equal(outcomes[0], true);
      assert.ok(outcomes[1] instanceof CancelledError);
      assert.equal(outcomes[2], true);
      assert.equal(String(event), "<Event [set]>");
    });
  },
);

// ---- Condition -------------------------------------------------------------------

loopTest(
  "Condition.notify(1) twice wakes two different waiters, first come first served",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      const woken: number[] = [];
      const tasks = [1, 2, 3].map((n) =>
        createTask(() =>
          cond.run(async () => {
            await cond.wait();
            woken.push(n);
          })
        )
      );
      await sleep(0);
      await cond.run(() => {
        cond.notify(1);
        cond.notify(1);
      });
      await tasks[0];
      await tasks[1];
      await steps(2);
      assert.deepEqual(woken, [1, 2]);
      assert.equal(tasks[2].done(), false);
      assert.equal(String(cond), "<Condition [unlocked, waiters:1]>");
      await cond.run(() => cond.notifyAll());
      await tasks[2];
      assert.deepEqual(woken, [1, 2, 3]);
    });
  },
);

loopTest(
  "Condition.notify() skips a waiter whose wait was cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      const woken: string[] = [];
      const waiter = (name: string) =>
        createTask(() =>
          cond.run(async () => {
            await cond.wait();
            woken.push(name);
          })
        );
      const a = waiter("a");
      const b = waiter("b");
      await sleep(0);
      a.cancel();
      await cond.run(() => cond.notify(1)); // a's wait is over: b is next
      await b;
      await assertCancelled(a);
      assert.deepEqual(woken, ["b"]);
      assert.equal(String(cond), "<Condition [unlocked]>");
    });
  },
);

loopTest(
  "Condition.wait() cancelled while another task holds the lock throws only once it holds the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      let heldWhenThrown: boolean | null = null;
      const waiter = createTask(async () => {
        await cond.acquire();
        try {
          await cond.wait();
        } catch (error) {
          heldWhenThrown = cond.locked();
          cond.release();
          throw error;
        }
      });
      await sleep(0);
      await cond.acquire(); // ours now; the waiter was not notified
      waiter.cancel();
      await steps(3);
      assert.equal(waiter.done(), false, "still waiting for the lock");
      assert.equal(heldWhenThrown, null);
      cond.release();
      await assertCancelled(waiter);
      assert.equal(heldWhenThrown, true);
      assert.equal(cond.locked(), false);
    });
  },
);

loopTest(
  "Condition objects sharing a Lock notify only their own waiters",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const first = new Condition(lock);
      const second = new Condition(lock);
      const w1 = createTask(() => first.run(() => first.wait()));
      const w2 = createTask(() => second.run(() => second.wait()));
      await sleep(0);
      assert.equal(lock.locked(), false, "both waits released the lock");
      await first.run(() => first.notifyAll());
      assert.equal(await w1, true);
      await steps(2);
      assert.equal(w2.done(), false);
      assert.equal(String(second), "<Condition [unlocked, waiters:1]>");
      await lock.run(() => second.notify());
      assert.equal(await w2, true);
      assert.equal(lock.locked(), false);
    });
  },
);

// ---- Barrier ---------------------------------------------------------------------

loopTest(
  "Barrier.toString() shows filling, draining, resetting and broken",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(5);
      const waiters: Task<number>[] = [];
      const arrive = (n: number) => {
        for (let i = 0; i < n; i++) {
          waiters.push(createTask(() => barrier.wait()));
        }
      };
      assert.equal(String(barrier), "<Barrier [filling, waiters:0/5]>");
      arrive(2);
      await sleep(0);
      assert.equal(String(barrier), "<Barrier [filling, waiters:2/5]>");
      arrive(barrier.parties - barrier.nWaiting);
      await sleep(0);
      assert.equal(String(barrier), "<Barrier [draining, waiters:0/5]>");
      arrive(2); // the next round
      await sleep(0);
      await barrier.reset();
      assert.equal(String(barrier), "<Barrier [resetting, waiters:0/5]>");
      arrive(2);
      await sleep(0);
      await barrier.abort();
      assert.equal(String(barrier), "<Barrier [broken]>");
      assert.equal(barrier.broken, true);
      const outcomes = await settle(waiters);
      assert.deepEqual(outcomes.slice(0, 5), [0, 1, 2, 3, 4]);
      for (const outcome of outcomes.slice(5)) {
        assert.ok(outcome instanceof BrokenBarrierError, `${outcome}`);
      }
      assert.equal(barrier.nWaiting, 0);
    });
  },
);

loopTest(
  "Barrier.wait() cancelled while a tripped round drains is not counted as a party",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(2);
      const t1 = createTask(() => barrier.wait());
      await sleep(0);
      const t2 = createTask(() => barrier.wait()); // trips the barrier
      const late = createTask(() => barrier.wait()); // blocked by the drain
      await sleep(0);
      assert.equal(String(barrier), "<Barrier [draining, waiters:0/2]>");
      assert.equal(late.done(), false);
      late.cancel();
      await assertCancelled(late);
      assert.deepEqual([await t1, await t2], [0, 1]);
      assert.equal(String(barrier), "<Barrier [filling, waiters:0/2]>");
      const next = [0, 1].map(() => createTask(() => barrier.wait()));
      await sleep(0);
      assert.deepEqual(await gather(...next), [0, 1]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.wait() cancelled after the barrier tripped ends cancelled; the others pass",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const first = createTask(() => barrier.wait());
      const second = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(barrier.nWaiting, 2);
      assert.equal(await barrier.wait(), 2); // trips it
      first.cancel(); // released, but not yet resumed
      await assertCancelled(first);
      assert.equal(await second, 1);
      assert.equal(String(barrier), "<Barrier [filling, waiters:0/3]>");
      const round = [0, 1].map(() => createTask(() => barrier.wait()));
      await sleep(0);
      assert.equal(await barrier.wait(), 2);
      assert.deepEqual(await gather(...round), [0, 1]);
    });
  },
);

// ---- queues ------------------------------------------------------------------------

const KINDS: [string, (maxsize?: number) => Queue<string>][] = [
  ["Queue", (maxsize) => new Queue<string>({ maxsize })],
  ["LifoQueue", (maxsize) => new LifoQueue<string>({ maxsize })],
  ["PriorityQueue", (maxsize) => new PriorityQueue<string>({ maxsize })],
];

for (const [kind, make] of KINDS) {
  Deno.test(`${kind}.putNowait() and getNowait() report a shutdown before fullness or emptiness`, () => {
    const q = make(1);
    q.putNowait("a");
    assert.throws(() => q.putNowait("b"), QueueFull);
    q.shutdown();
    assert.throws(() => q.putNowait("b"), QueueShutDown, "full and shut down");
    assert.equal(q.getNowait(), "a", "what is left can still be taken");
    assert.throws(() => q.getNowait(), QueueShutDown, "empty and shut down");
    const open = make();
    assert.throws(() => open.getNowait(), QueueEmpty);
    assert.equal(open.full(), false);
  });

  loopTest(
    `${kind}.get() woken by a put, then shutdown(true) before it runs, fails with QueueShutDown`,
    async ({ loop }) => {
      await inGuardedTask(loop, async () => {
        const q = make();
        const getter = createTask(() => q.get());
        await sleep(0);
        q.putNowait("x"); // wakes the getter...
        q.shutdown(true); // ...and the item is gone before it runs
        await assert.rejects(async () => await getter, QueueShutDown);
        assert.equal(q.qsize(), 0);
        await q.join(); // the dropped item counts as done
        assert.throws(() => q.taskDone(), RangeError);
      });
    },
  );

  loopTest(
    `${kind}.put() woken by a get, then shutdown() before it runs, puts nothing`,
    async ({ loop }) => {
      await inGuardedTask(loop, async () => {
        const q = make(1);
        q.putNowait("a");
        const putter = createTask(() => q.put("b"));
        await sleep(0);
        assert.equal(q.getNowait(), "a"); // wakes the putter...
        q.shutdown(); // ...which finds the queue shut down
        await assert.rejects(async () => await putter, QueueShutDown);
        assert.equal(q.qsize(), 0);
        assert.equal(
          String(q),
          `<${kind} maxsize=1 tasks=1 shutdown>`,
          "only the first item was ever put",
        );
      });
    },
  );
}

loopTest(
  "Queue.get() woken for an item someone else took waits again behind the other getters",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>();
      const got: string[] = [];
      const getter = (name: string) =>
        createTask(async () => {
          got.push(`${name}:${await q.get()}`);
        });
      const g1 = getter("g1");
      const g2 = getter("g2");
      await sleep(0);
      q.putNowait("a"); // wakes g1
      assert.equal(q.getNowait(), "a"); // taken before g1 runs
      await sleep(0);
      assert.equal(g1.done(), false);
      assert.equal(String(q), "<Queue maxsize=0 _getters[2] tasks=1>");
      q.putNowait("b");
      q.putNowait("c");
      await g1;
      await g2;
      assert.deepEqual(got, ["g2:b", "g1:c"]);
      assert.equal(q.qsize(), 0);
    });
  },
);

loopTest(
  "Queue.put() room survives the woken putter and the next one both being cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>({ maxsize: 1 });
      q.putNowait("x");
      const [pa, pb, pc] = ["a", "b", "c"].map((item) =>
        createTask(() => q.put(item))
      );
      await sleep(0);
      assert.equal(q.getNowait(), "x"); // wakes pa
      pa.cancel();
      pb.cancel();
      await assertCancelled(pa);
      await assertCancelled(pb);
      await pc;
      assert.equal(q.getNowait(), "c");
      assert.equal(q.qsize(), 0);
      assert.equal(String(q), "<Queue maxsize=1 tasks=2>");
    });
  },
);

loopTest(
  "Queue.get() item survives the woken getter and the next one both being cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>();
      const [ga, gb, gc] = [0, 1, 2].map(() => createTask(() => q.get()));
      await sleep(0);
      q.putNowait("item"); // wakes ga
      ga.cancel();
      gb.cancel();
      await assertCancelled(ga);
      await assertCancelled(gb);
      assert.equal(await gc, "item");
      assert.equal(String(q), "<Queue maxsize=0 tasks=1>");
    });
  },
);

loopTest(
  "PriorityQueue.put() that waited for room still comes out by priority",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new PriorityQueue<number>({ maxsize: 2 });
      q.putNowait(5);
      q.putNowait(3);
      assert.throws(() => q.putNowait(4), QueueFull);
      const putter = createTask(() => q.put(1));
      await sleep(0);
      assert.equal(putter.done(), false);
      assert.equal(q.full(), true);
      assert.equal(await q.get(), 3);
      await putter;
      assert.deepEqual([q.getNowait(), q.getNowait()], [1, 5]);
      assert.throws(() => q.getNowait(), QueueEmpty);
    });
  },
);

loopTest(
  "Queue.join() released by the last taskDone() returns even if an item is put before it runs",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>();
      q.putNowait("a");
      const first = createTask(() => q.join());
      await sleep(0);
      assert.equal(first.done(), false);
      q.getNowait();
      q.taskDone(); // releases `first`...
      q.putNowait("b"); // ...which has not run yet
      await first;
      // A join() made now waits for "b".
      const second = createTask(() => q.join());
      await steps(2);
      assert.equal(second.done(), false);
      assert.equal(String(q), `<Queue maxsize=0 _queue=["b"] tasks=1>`);
      q.getNowait();
      q.taskDone();
      await second;
      assert.throws(() => q.taskDone(), RangeError);
    });
  },
);

// ---- wakeups that meet a deadline ---------------------------------------------

loopTest(
  "Lock.acquire() and Semaphore.acquire() woken in the deadline's iteration give the wakeup back",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const deadline = loop.time() + 0.1;
      loop.callAt(deadline, () => lock.release()); // runs first: made first
      await assert.rejects(waitFor(lock.acquire(), 0.1), TimeoutError);
      near(loop.time(), deadline);
      assert.equal(String(lock), "<Lock [unlocked]>");
      assert.equal(await waitFor(lock.acquire(), 0), true);

      const sem = new Semaphore(0);
      const later = loop.time() + 0.1;
      loop.callAt(later, () => sem.release());
      await assert.rejects(waitFor(sem.acquire(), 0.1), TimeoutError);
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
  { virtualOnly: true },
);

loopTest(
  "Queue.get() and put() woken in the deadline's iteration leave the queue as it was",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>();
      loop.callAt(loop.time() + 0.1, () => q.putNowait("x"));
      await assert.rejects(waitFor(q.get(), 0.1), TimeoutError);
      assert.equal(String(q), `<Queue maxsize=0 _queue=["x"] tasks=1>`);
      assert.equal(q.getNowait(), "x");

      const full = new Queue<string>({ maxsize: 1 });
      full.putNowait("a");
      loop.callAt(loop.time() + 0.1, () => full.getNowait());
      await assert.rejects(waitFor(full.put("b"), 0.1), TimeoutError);
      assert.equal(full.qsize(), 0, "the timed-out put added nothing");
    });
  },
  { virtualOnly: true },
);

loopTest(
  "Condition.wait() notified in its deadline's iteration hands the notify to the next waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      // Made before the waiter's own deadline, so it runs just before it.
      loop.callAt(loop.time() + 0.1, () => cond.notify(1)); // picks `timed`
      const timed = createTask(() => cond.run(() => waitFor(cond.wait(), 0.1)));
      const patient = createTask(() => cond.run(() => cond.wait()));
      await sleep(0);
      await cond.acquire(); // both wait; the lock is ours
      await sleep(0.2);
      cond.release();
      await assert.rejects(async () => await timed, TimeoutError);
      assert.equal(await patient, true, "the notify was handed on");
      assert.equal(String(cond), "<Condition [unlocked]>");
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout(0) around a Lock.acquire() that need not wait does not expire",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const cm = timeout(0);
      assert.equal(await cm.run(() => lock.acquire()), true);
      assert.equal(cm.expired(), false);
      await steps(2);
      assert.equal(currentTask()!.cancelling(), 0);
      await assert.rejects(timeout(0).run(() => lock.acquire()), TimeoutError);
      assert.equal(String(lock), "<Lock [locked]>");
    });
  },
);

// ---- timeout() -----------------------------------------------------------------

loopTest(
  "timeout() that expires while the body cleans up after its own error raises TimeoutError",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0.01);
      const error = await rejection(() =>
        cm.run(async () => {
          try {
            throw new SyntaxError("the body's own");
          } finally {
            await sleep(1); // cut short by the deadline
          }
        })
      );
      assert.ok(error instanceof TimeoutError, `${error}`);
      assert.ok(error.cause instanceof CancelledError);
      assert.equal(cm.expired(), true);
      near(loop.time(), t0 + 0.01);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout() around a TaskGroup whose child fails while cancelled lets the ExceptionGroup through",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const self = currentTask()!;
      const before = self.cancelling();
      const cm = timeout(0.01);
      const error = await rejection(() =>
        cm.run(() =>
          new TaskGroup().run(async (tg) => {
            tg.createTask(async () => {
              try {
                await sleep(2);
              } finally {
                // deno-lint-ignore no-unsafe-finally
                throw new RangeError("crash in cleanup");
              }
            });
            await sleep(1);
          })
        )
      );
      assert.ok(error instanceof ExceptionGroup, `${error}`);
      assert.equal(error.exceptions.length, 1);
      assert.ok(error.exceptions[0] instanceof RangeError);
      assert.equal(cm.expired(), true);
      assert.equal(
        self.cancelling(),
        before,
        "the timeout took its cancel back",
      );
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout() whose body swallows the expiry may go on awaiting and returns its value",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const self = currentTask()!;
      const before = self.cancelling();
      const t0 = loop.time();
      const cm = timeout(0.01);
      const value = await cm.run(async () => {
        try {
          await sleep(1);
        } catch (error) {
          assert.ok(error instanceof CancelledError);
        }
        await sleep(0.5); // no second cancellation comes
        return "late";
      });
      assert.equal(value, "late");
      assert.equal(cm.expired(), true);
      near(loop.time(), t0 + 0.51);
      assert.equal(self.cancelling(), before);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout() that did not expire leaves a swallowed outside cancel counted",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const self = currentTask()!;
      const before = self.cancelling();
      const cm = timeout(10);
      const value = await cm.run(async () => {
        self.cancel();
        try {
          await sleep(1);
        } catch {
          return "kept";
        }
      });
      assert.equal(value, "kept");
      assert.equal(cm.expired(), false);
      assert.equal(self.cancelling(), before + 1, "not the timeout's to undo");
      self.uncancel();
    });
  },
);

loopTest(
  "timeoutAt() in the past, moved to the future before the first suspension, never fires",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cm = timeoutAt(loop.time() - 1);
      const value = await cm.run(async (self) => {
        self.reschedule(loop.time() + 3600);
        await steps(3);
        return "in time";
      });
      assert.equal(value, "in time");
      assert.equal(cm.expired(), false);
      assert.equal(String(cm), "<Timeout [finished]>");
    });
  },
);

loopTest(
  "Timeout.reschedule() into the past from another task expires the block",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const entered = getRunningLoop().createFuture<Timeout>();
      const worker = createTask(() =>
        timeout(3600).run(async (cm) => {
          entered.setResult(cm);
          await sleep(3600);
        })
      );
      const cm = await entered;
      const t0 = loop.time();
      cm.reschedule(loop.time() - 1);
      assert.ok(cm.when()! < t0);
      await assert.rejects(async () => await worker, TimeoutError);
      assert.equal(cm.expired(), true);
      assert.equal(worker.cancelled(), false);
      assert.ok(loop.time() - t0 < 1);
    });
  },
);

// ---- waitFor() -----------------------------------------------------------------

loopTest(
  "waitFor() with timeout 0 cancels a pending future",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      for (const limit of [0, -1]) {
        const fut = getRunningLoop().createFuture<string>();
        const error = await rejection(() => waitFor(fut, limit));
        assert.ok(error instanceof TimeoutError, `${limit}: ${error}`);
        assert.ok(error.cause instanceof CancelledError);
        assert.equal(fut.cancelled(), true);
      }
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 or less returns the value of a task that swallows the cancel",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      for (const limit of [0, -1]) {
        const started = getRunningLoop().createFuture<void>();
        const task = createTask(async () => {
          started.setResult();
          try {
            await sleep(3600);
          } catch {
            return 42;
          }
          return 0;
        });
        await started;
        assert.equal(await waitFor(task, limit), 42, `timeout ${limit}`);
        assert.equal(task.cancelled(), false);
      }
    });
  },
);

loopTest(
  "waitFor() with timeout 0 of a get() already made returns its item rather than drop it",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const q = new Queue<string>();
      q.putNowait("x");
      // The promise form has already taken the item: it is returned.
      assert.equal(await waitFor(q.get(), 0), "x");
      assert.equal(String(q), "<Queue maxsize=0 tasks=1>");

      // Nothing to take: the getter it queued is withdrawn, so the next
      // item stays in the queue for whoever asks next.
      for (const limit of [0, -1]) {
        const error = await rejection(() => waitFor(q.get(), limit));
        assert.ok(error instanceof TimeoutError, `${limit}: ${error}`);
        assert.equal(String(q), "<Queue maxsize=0 tasks=1>");
      }
      q.putNowait("y");
      await steps(2);
      assert.equal(q.getNowait(), "y");
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "waitFor() with timeout 0 of an acquire() already made keeps the lock or withdraws the waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      // Taken at once: reported as taken (else nobody would release it).
      assert.equal(await waitFor(lock.acquire(), 0), true);
      assert.equal(String(lock), "<Lock [locked]>");
      // Would have to wait: no waiter stays queued behind the holder.
      await assert.rejects(waitFor(lock.acquire(), 0), TimeoutError);
      assert.equal(String(lock), "<Lock [locked]>");
      lock.release();
      assert.equal(lock.locked(), false);

      const sem = new Semaphore(1);
      assert.equal(await waitFor(sem.acquire(), 0), true);
      await assert.rejects(waitFor(sem.acquire(), -1), TimeoutError);
      assert.equal(String(sem), "<Semaphore [locked]>");
      sem.release();
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
);

loopTest(
  "waitFor() with timeout 0 of an Event or Condition wait already made leaves nothing waiting",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const event = new Event();
      await assert.rejects(waitFor(event.wait(), 0), TimeoutError);
      assert.equal(String(event), "<Event [unset]>");
      event.set();
      assert.equal(await waitFor(event.wait(), 0), true);

      const cond = new Condition();
      await cond.acquire();
      // wait() let the lock go when it was made; it must hold it again
      // once waitFor() has settled, and no waiter may stay behind.
      await assert.rejects(waitFor(cond.wait(), 0), TimeoutError);
      assert.equal(cond.locked(), true);
      assert.equal(String(cond), "<Condition [locked]>");
      cond.release();
      const other = createTask(() => cond.run(() => "got the lock"));
      assert.equal(await other, "got the lock");
    });
  },
);

loopTest(
  "waitFor() of a task cancelled by someone else passes CancelledError on, not TimeoutError",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const inner = createTask(() => sleep(3600));
      getRunningLoop().callSoon(() => inner.cancel());
      const error = await rejection(() => waitFor(inner, 1));
      assert.ok(error instanceof CancelledError, `${error}`);
      assert.ok(!(error instanceof TimeoutError));
      assert.equal(inner.cancelled(), true);
      assert.equal(
        currentTask()!.cancelling(),
        0,
        "the caller was not cancelled",
      );
    });
  },
);

loopTest(
  "waitFor() with a negative timeout never starts a coroutine",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      let started = false;
      const error = await rejection(() =>
        waitFor(async () => {
          started = true;
          await sleep(0);
        }, -1)
      );
      assert.ok(error instanceof TimeoutError);
      await steps(2);
      assert.equal(started, false);
    });
  },
);

loopTest(
  "waitFor() lets the awaitable's own error through untouched",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const own = new SyntaxError("mine");
      for (const limit of [1, null]) {
        const error = await rejection(() =>
          waitFor(async () => {
            await sleep(0);
            throw own;
          }, limit)
        );
        assert.equal(error, own);
      }
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "waitFor() of a shielded task: the deadline cancels the shield, not the task",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      for (const limit of [0, 0.01]) {
        const task = createTask(() => sleep(0.1, "done"));
        const shielded = shield(task);
        const error = await rejection(() => waitFor(shielded, limit));
        assert.ok(error instanceof TimeoutError, `${limit}: ${error}`);
        assert.equal(shielded.cancelled(), true);
        assert.equal(task.done(), false);
        assert.equal(await task, "done");
      }
      const task = createTask(() => sleep(0.1, "done"));
      assert.equal(await waitFor(shield(task), null), "done");
      assert.equal(task.done(), true);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "waitFor() of a task that finished at once does not swallow a later cancel",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const inner = createTask(async () => "done");
      let reachedEnd = false;
      const outer = createTask(async () => {
        await waitFor(inner, 100);
        await sleep(1);
        reachedEnd = true;
      });
      assert.equal(outer.done(), false);
      await sleep(0);
      outer.cancel();
      await assertCancelled(outer);
      assert.equal(inner.done(), true);
      assert.equal(await inner, "done");
      assert.equal(reachedEnd, false);
    });
  },
);

loopTest(
  "waitFor() nested: only the layer whose deadline passed raises TimeoutError",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      // The inner deadline comes first: its TimeoutError goes through the
      // outer layer untouched.
      let t0 = loop.time();
      let error = await rejection(() =>
        waitFor(() => waitFor(() => sleep(10), 0.1), 1)
      );
      assert.ok(error instanceof TimeoutError, `${error}`);
      near(loop.time(), t0 + 0.1);

      // The outer deadline comes first: the inner layer sees a plain
      // cancellation and the outer one turns it into TimeoutError.
      t0 = loop.time();
      let innerSaw: unknown = null;
      error = await rejection(() =>
        waitFor(async () => {
          try {
            return await waitFor(() => sleep(10), 1);
          } catch (e) {
            innerSaw = e;
            throw e;
          }
        }, 0.1)
      );
      assert.ok(error instanceof TimeoutError, `${error}`);
      assert.ok(innerSaw instanceof CancelledError, `${innerSaw}`);
      assert.ok(!(innerSaw instanceof TimeoutError));
      near(loop.time(), t0 + 0.1);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);
