/**
 * Behaviour of `Lock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`
 * and `Barrier`, after CPython 3.13's Lib/test/test_asyncio/test_locks.py, on
 * every loop kind: FIFO wakeups, cancellation at every point of a wait, loop
 * binding, bad input. Steps are counted in `sleep(0)`s, as asyncio's tests
 * count them; exact times are checked on the virtual clock only.
 */
import assert from "node:assert/strict";
import {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  CancelledError,
  Condition,
  createTask,
  Event,
  type Future,
  gather,
  getRunningLoop,
  Lock,
  RuntimeError,
  Semaphore,
  sleep,
  type Task,
  TaskGroup,
  timeout,
  TimeoutError,
  waitFor,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import {
  assertCancelled,
  inGuardedTask,
  loopTest,
  near,
  steps,
} from "../_util.ts";

/** Awaits every task, whatever its outcome (asyncio's gather(..., return_exceptions=True)). */
async function settle(tasks: (Task<unknown> | null)[]): Promise<unknown[]> {
  const outcomes: unknown[] = [];
  for (const task of tasks) {
    if (task === null) continue;
    try {
      outcomes.push(await task);
    } catch (error) {
      outcomes.push(error);
    }
  }
  return outcomes;
}

// ---- Lock ----------------------------------------------------------------------

loopTest(
  "Lock.acquire() resolves true and locked() follows acquire() and release()",
  async ({ loop }) => {
    const lock = new Lock(); // made before any loop runs
    assert.equal(lock.locked(), false);
    assert.equal(String(lock), "<Lock [unlocked]>");
    await inGuardedTask(loop, async () => {
      assert.equal(await lock.acquire(), true);
      assert.equal(lock.locked(), true);
      assert.equal(String(lock), "<Lock [locked]>");
      lock.release();
      assert.equal(lock.locked(), false);
    });
  },
);

loopTest("Lock.acquire() wakes waiters in FIFO order", async ({ loop }) => {
  await inGuardedTask(loop, async () => {
    const lock = new Lock();
    const result: number[] = [];
    const take = (n: number) => async () => {
      if (await lock.acquire()) result.push(n);
      return true;
    };
    assert.equal(await lock.acquire(), true);
    const t1 = createTask(take(1));
    const t2 = createTask(take(2));
    await sleep(0);
    assert.deepEqual(result, []);
    assert.equal(String(lock), "<Lock [locked, waiters:2]>");

    lock.release();
    await sleep(0);
    assert.deepEqual(result, [1]);
    await sleep(0);
    assert.deepEqual(result, [1]);

    const t3 = createTask(take(3));
    lock.release();
    await sleep(0);
    assert.deepEqual(result, [1, 2], "the newcomer queued behind t2");
    lock.release();
    await sleep(0);
    assert.deepEqual(result, [1, 2, 3]);
    for (const task of [t1, t2, t3]) {
      assert.equal(task.done(), true);
      assert.equal(task.result(), true);
    }
    assert.equal(String(lock), "<Lock [locked]>");
  });
});

loopTest(
  "Lock.acquire() cancelled while waiting leaves no waiter behind",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const task = createTask(() => lock.acquire());
      getRunningLoop().callSoon(() => task.cancel());
      await assertCancelled(task);
      assert.equal(String(lock), "<Lock [locked]>");
      lock.release();
      assert.equal(await lock.acquire(), true, "still usable");
    });
  },
);

loopTest(
  "Lock.release() skips a waiter cancelled just before it",
  async ({ loop }) => {
    // A holds the lock, B and C wait; B is cancelled as A releases.
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const lockit = async (blocker: Future<null> | null) => {
        await lock.acquire();
        try {
          if (blocker !== null) await blocker;
        } finally {
          lock.release();
        }
      };
      const fa = getRunningLoop().createFuture<null>();
      const ta = createTask(() => lockit(fa));
      await sleep(0);
      assert.equal(lock.locked(), true);
      const tb = createTask(() => lockit(null));
      await sleep(0);
      assert.equal(String(lock), "<Lock [locked, waiters:1]>");
      const tc = createTask(() => lockit(null));
      await sleep(0);
      assert.equal(String(lock), "<Lock [locked, waiters:2]>");

      fa.setResult(null);
      tb.cancel();
      await sleep(0);
      assert.equal(lock.locked(), false, "C is woken, not yet running");
      assert.equal(ta.done(), true);
      assert.equal(tb.cancelled(), true);
      await tc;
      assert.equal(lock.locked(), false);
    });
  },
);

loopTest(
  "Lock.release() lets exactly one waiter in when the chosen one is cancelled",
  async ({ loop }) => {
    // bpo-32734: four holders, the second cancelled as the first releases.
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      let lockCount = 0;
      let callCount = 0;
      const lockit = async () => {
        callCount++;
        await lock.acquire();
        lockCount++;
      };
      await lock.acquire();
      const t1 = createTask(lockit);
      const t2 = createTask(lockit);
      const t3 = createTask(lockit);
      await sleep(0);
      getRunningLoop().callSoon(() => {
        t1.cancel();
        lock.release();
      });
      await assertCancelled(t1);
      assert.equal(lockCount, 1, "only one waiter took the lock");
      assert.equal(callCount, 3);
      assert.equal(t2.done(), true);
      t3.cancel();
      await sleep(0);
      assert.equal(t3.cancelled(), true);
    });
  },
);

loopTest(
  "Lock.acquire() cancelled after release() picked it hands the lock on",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const tb = createTask(() => lock.acquire());
      await sleep(0);
      const tc = createTask(() => lock.acquire());
      lock.release(); // picks B ...
      tb.cancel(); // ... which never gets to take it
      await steps(2);
      assert.equal(tb.cancelled(), true);
      assert.equal(await tc, true, "C took the lock B was given");
      assert.equal(lock.locked(), true);
      assert.equal(String(lock), "<Lock [locked]>");
    });
  },
);

loopTest(
  "Lock.acquire() cancelled after being picked, with the lock taken meanwhile, wakes nobody",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const tb = createTask(() => lock.acquire());
      const tc = createTask(() => lock.acquire());
      await sleep(0);
      lock.release(); // picks B
      tb.cancel();
      await sleep(0);
      // B passed its turn to C; C holds the lock.
      assert.equal(tb.cancelled(), true);
      await tc;
      assert.equal(lock.locked(), true);
      lock.release();
      assert.equal(lock.locked(), false);
    });
  },
);

loopTest(
  "Lock.acquire() never jumps ahead of a waiter that release() woke",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const order: string[] = [];
      await lock.acquire();
      const waiter = createTask(async () => {
        await lock.acquire();
        order.push("waiter");
        lock.release();
      });
      await sleep(0);
      lock.release(); // the lock is free, the waiter not yet running
      assert.equal(lock.locked(), false);
      const late = lock.acquire(); // must queue, not take it
      assert.equal(lock.locked(), false);
      await late;
      order.push("newcomer");
      lock.release();
      await waiter;
      assert.deepEqual(order, ["waiter", "newcomer"]);
    });
  },
);

loopTest(
  "Lock.acquire() takes the lock at once when every waiter is cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const waiters = [0, 1].map(() => createTask(() => lock.acquire()));
      await sleep(0);
      for (const task of waiters) task.cancel();
      lock.release();
      // Both cancelled futures still queue; a newcomer need not wait.
      assert.equal(String(lock), "<Lock [unlocked, waiters:2]>");
      let taken = false;
      const newcomer = lock.acquire().then(() => (taken = true));
      await Promise.resolve();
      assert.equal(taken, true, "acquired without waiting for the loop");
      await newcomer;
      for (const task of waiters) await assertCancelled(task);
      assert.equal(String(lock), "<Lock [locked]>");
    });
  },
);

loopTest("Lock.release() of an unlocked lock is a RuntimeError", () => {
  const lock = new Lock();
  assert.throws(() => lock.release(), RuntimeError);
  assert.equal(lock.locked(), false);
});

loopTest(
  "Lock.run() holds the lock for the block and releases it on every exit",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      assert.equal(
        await lock.run(async () => {
          assert.equal(lock.locked(), true);
          await sleep(0);
          return "async";
        }),
        "async",
      );
      assert.equal(lock.locked(), false);
      assert.equal(await lock.run(() => lock.locked()), true, "a sync block");
      assert.equal(lock.locked(), false);

      await assert.rejects(
        lock.run(() => {
          throw new SyntaxError("sync throw");
        }),
        SyntaxError,
      );
      assert.equal(lock.locked(), false);
      await assert.rejects(
        lock.run(async () => {
          await sleep(0);
          throw new SyntaxError("async throw");
        }),
        SyntaxError,
      );
      assert.equal(lock.locked(), false);

      // The block starts at once when the lock is free.
      let started = false;
      const running = lock.run(() => {
        started = true;
      });
      assert.equal(started, true);
      await running;

      // Cancelled inside the block: released, the cancellation propagates.
      const inside = createTask(() => lock.run(() => sleep(3600)));
      await sleep(0);
      assert.equal(lock.locked(), true);
      inside.cancel();
      await assertCancelled(inside);
      assert.equal(lock.locked(), false);
    });
  },
);

loopTest(
  "Lock.run() settles with a block's Future, and fails if the block released the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      // A block returning a loop future: held until the future is done, and
      // cancelling the task reaches that future.
      const fut = getRunningLoop().createFuture<string>();
      getRunningLoop().callSoon(() => fut.setResult("from a future"));
      assert.equal(await lock.run(() => fut), "from a future");
      assert.equal(lock.locked(), false);
      const pending = getRunningLoop().createFuture<string>();
      const holder = createTask(() => lock.run(() => pending));
      await sleep(0);
      holder.cancel();
      await assertCancelled(holder);
      assert.equal(pending.cancelled(), true);
      assert.equal(lock.locked(), false);

      // asyncio's __aexit__ releases: a block that already did is an error,
      // which wins over the block's own error.
      await assert.rejects(lock.run(() => lock.release()), RuntimeError);
      await assert.rejects(
        lock.run(() => {
          lock.release();
          throw new SyntaxError("after releasing");
        }),
        RuntimeError,
      );
      await assert.rejects(
        lock.run(async () => {
          lock.release();
          await sleep(0);
        }),
        RuntimeError,
      );
      assert.equal(lock.locked(), false);
      assert.equal(await lock.run(() => "usable"), "usable");
    });
  },
);

loopTest(
  "Lock.run() waits its turn and never runs the block if cancelled first",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      const order: string[] = [];
      await lock.acquire();
      const first = createTask(() => lock.run(() => order.push("first")));
      const skipped = createTask(() => lock.run(() => order.push("skipped")));
      const third = createTask(() => lock.run(() => order.push("third")));
      await sleep(0);
      skipped.cancel();
      order.push("holder");
      lock.release();
      await first;
      await assertCancelled(skipped);
      await third;
      assert.deepEqual(order, ["holder", "first", "third"]);
      assert.equal(lock.locked(), false);
      assert.equal(String(lock), "<Lock [unlocked]>");
    });
  },
);

loopTest(
  "Lock.run() rejects a non-function with TypeError and leaves the lock free",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      for (const bad of [42, null, "block", Promise.resolve()]) {
        await assert.rejects(
          lock.run(bad as unknown as () => void),
          TypeError,
        );
        assert.equal(lock.locked(), false);
      }
      assert.equal(await lock.run(() => 1), 1);
    });
  },
);

loopTest(
  "Lock.acquire() under waitFor() times out at the deadline and leaves no waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const lock = new Lock();
      await lock.acquire();
      const t0 = loop.time();
      await assert.rejects(waitFor(lock.acquire(), 0.1), TimeoutError);
      if (loop instanceof VirtualTimeEventLoop) near(loop.time(), t0 + 0.1);
      else assert.ok(loop.time() - t0 >= 0.09);
      assert.equal(String(lock), "<Lock [locked]>");
      await assert.rejects(
        timeout(0.05).run(() => lock.acquire()),
        TimeoutError,
      );
      lock.release();
      assert.equal(await waitFor(lock.acquire(), 0.1), true);
      assert.equal(lock.locked(), true);
    });
  },
);

// ---- Event ---------------------------------------------------------------------

loopTest(
  "Event.wait() wakes every waiter on set(), in FIFO order",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const event = new Event();
      assert.equal(event.isSet(), false);
      const result: number[] = [];
      const waitFn = (n: number) => async () => {
        if (await event.wait()) result.push(n);
      };
      const t1 = createTask(waitFn(1));
      const t2 = createTask(waitFn(2));
      await sleep(0);
      assert.deepEqual(result, []);
      assert.equal(String(event), "<Event [unset, waiters:2]>");
      const t3 = createTask(waitFn(3)); // starts after set(): no wait
      event.set();
      await sleep(0);
      assert.deepEqual(result, [3, 1, 2]);
      for (const task of [t1, t2, t3]) {
        assert.equal(task.done(), true);
        assert.equal(task.result(), undefined);
      }
      assert.equal(String(event), "<Event [set]>");
    });
  },
);

loopTest(
  "Event.wait() resolves at once when the flag is up",
  async ({ loop }) => {
    const event = new Event();
    event.set();
    assert.equal(await event.wait(), true, "no loop needed");
    await inGuardedTask(loop, async () => {
      assert.equal(await event.wait(), true);
    });
  },
);

loopTest(
  "Event.wait() cancelled leaves no waiter behind",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const event = new Event();
      const waiter = createTask(() => event.wait());
      getRunningLoop().callSoon(() => waiter.cancel());
      await assertCancelled(waiter);
      assert.equal(String(event), "<Event [unset]>");
      const t0 = loop.time();
      await assert.rejects(waitFor(event.wait(), 0.1), TimeoutError);
      if (loop instanceof VirtualTimeEventLoop) near(loop.time(), t0 + 0.1);
      assert.equal(String(event), "<Event [unset]>");
    });
  },
);

loopTest("Event.clear() lowers the flag", () => {
  const event = new Event();
  event.set();
  assert.equal(event.isSet(), true);
  event.clear();
  assert.equal(event.isSet(), false);
  event.clear();
  assert.equal(event.isSet(), false);
});

loopTest(
  "Event.clear() right after set() still lets the woken waiters return true",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const event = new Event();
      const result: number[] = [];
      const task = createTask(async () => {
        if (await event.wait()) result.push(1);
        return true;
      });
      await sleep(0);
      event.set();
      event.clear();
      assert.equal(event.isSet(), false);
      event.set();
      event.set();
      assert.equal(String(event), "<Event [set, waiters:1]>");
      await sleep(0);
      assert.deepEqual(result, [1]);
      assert.equal(String(event), "<Event [set]>");
      assert.equal(task.result(), true);
    });
  },
);

// ---- Condition -----------------------------------------------------------------

loopTest(
  "Condition.wait() releases the lock, and returns holding it, in FIFO order",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      const result: number[] = [];
      const waiter = (n: number) => async () => {
        await cond.acquire();
        if (await cond.wait()) result.push(n);
        return true;
      };
      const t1 = createTask(waiter(1));
      const t2 = createTask(waiter(2));
      const t3 = createTask(waiter(3));
      await sleep(0);
      assert.deepEqual(result, []);
      assert.equal(cond.locked(), false, "each wait() released the lock");
      assert.equal(String(cond), "<Condition [unlocked, waiters:3]>");

      assert.equal(await cond.acquire(), true);
      cond.notify();
      await sleep(0);
      assert.deepEqual(result, [], "woken, but the lock is ours");
      assert.equal(cond.locked(), true);

      cond.release();
      await sleep(0);
      assert.deepEqual(result, [1]);
      assert.equal(cond.locked(), true, "t1 holds it again");

      cond.notify(2);
      await sleep(0);
      assert.deepEqual(result, [1]);
      assert.equal(cond.locked(), true);

      cond.release(); // for t1
      await sleep(0);
      assert.deepEqual(result, [1, 2]);
      assert.equal(cond.locked(), true);

      cond.release(); // for t2
      await sleep(0);
      assert.deepEqual(result, [1, 2, 3]);
      assert.equal(cond.locked(), true);
      for (const task of [t1, t2, t3]) assert.equal(task.result(), true);
      cond.release();
    });
  },
);

loopTest(
  "Condition.wait() cancelled takes the lock back before throwing",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      await cond.acquire();
      const waiter = createTask(() => cond.wait());
      getRunningLoop().callSoon(() => waiter.cancel());
      await assertCancelled(waiter);
      assert.equal(cond.locked(), true);
      assert.equal(String(cond), "<Condition [locked]>");
    });
  },
);

loopTest(
  "Condition.wait() notified, then cancelled while the lock is contested, ends holding the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      await cond.acquire();
      const waiter = createTask(() => cond.wait());
      await sleep(0);
      assert.equal(cond.locked(), false);
      await cond.acquire();
      cond.notify();
      getRunningLoop().callSoon(() => waiter.cancel());
      getRunningLoop().callSoon(() => cond.release());
      try {
        await waiter;
      } catch (error) {
        assert.ok(error instanceof CancelledError);
      }
      assert.equal(cond.locked(), true, "the waiter holds it");
    });
  },
);

loopTest(
  "Condition.wait() cancelled after notify() while re-acquiring still ends cancelled",
  async ({ loop }) => {
    // bpo-32841
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      let waited = false;
      const waiter = createTask(() =>
        cond.run(async () => {
          waited = true;
          await cond.wait();
        })
      );
      await sleep(0);
      await cond.acquire();
      cond.notify();
      await sleep(0); // the waiter now queues for the lock
      waiter.cancel();
      await sleep(0);
      cond.release();
      await sleep(0);
      await assertCancelled(waiter);
      assert.equal(waited, true);
      assert.equal(cond.locked(), false, "run() released it on the way out");
    });
  },
);

loopTest(
  "Condition.wait() cancelled repeatedly while re-acquiring still takes the lock back",
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
      await cond.acquire();
      cond.notify();
      for (let i = 0; i < 3; i++) {
        await sleep(0);
        waiter.cancel(); // while it queues for the lock
      }
      await sleep(0);
      assert.equal(waiter.done(), false, "still waiting for the lock");
      cond.release();
      await assertCancelled(waiter);
      assert.equal(heldWhenThrown, true);
      assert.equal(cond.locked(), false);
      assert.equal(String(cond), "<Condition [unlocked]>");
    });
  },
);

loopTest(
  "Condition.wait() without the lock is a RuntimeError and changes nothing",
  async ({ loop }) => {
    const cond = new Condition();
    await assert.rejects(cond.wait(), RuntimeError, "even with no loop");
    await inGuardedTask(loop, async () => {
      await assert.rejects(cond.wait(), RuntimeError);
      assert.equal(String(cond), "<Condition [unlocked]>");
      await cond.acquire();
      createTask(() => cond.run(() => cond.notify()));
      assert.equal(await cond.wait(), true, "usable afterwards");
      cond.release();
    });
  },
);

loopTest(
  "Condition.waitFor() re-checks the predicate after each wakeup and returns its value",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      let presult: number | false = false;
      let calls = 0;
      const predicate = () => {
        calls++;
        return presult;
      };
      const result: number[] = [];
      const task = createTask(async () => {
        await cond.acquire();
        const value = await cond.waitFor(predicate);
        result.push(value);
        cond.release();
        return true;
      });
      await sleep(0);
      assert.deepEqual(result, []);
      assert.equal(calls, 1);

      await cond.acquire();
      cond.notify();
      cond.release();
      await sleep(0);
      assert.deepEqual(result, [], "still false: waits again");
      assert.equal(calls, 2);

      presult = 7;
      await cond.acquire();
      cond.notify();
      cond.release();
      await sleep(0);
      assert.deepEqual(result, [7]);
      assert.equal(task.result(), true);
      assert.equal(cond.locked(), false);
    });
  },
);

loopTest(
  "Condition.waitFor() returns a true predicate at once, even without the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      assert.deepEqual(await cond.waitFor(() => [1, 2, 3]), [1, 2, 3]);
      await assert.rejects(cond.waitFor(() => false), RuntimeError);
      await assert.rejects(cond.waitFor(() => 0), RuntimeError);
      assert.equal(cond.locked(), false);
    });
  },
);

loopTest(
  "Condition.waitFor() rejects a non-function with TypeError and keeps the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      await cond.acquire();
      for (const bad of [true, null, "ready", 1]) {
        await assert.rejects(
          cond.waitFor(bad as unknown as () => boolean),
          TypeError,
        );
        assert.equal(cond.locked(), true);
      }
      let ready = false;
      createTask(() =>
        cond.run(() => {
          ready = true;
          cond.notify();
        })
      );
      assert.equal(await cond.waitFor(() => ready), true);
      cond.release();
    });
  },
);

loopTest(
  "Condition.notify() wakes n waiters in FIFO order",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      const result: number[] = [];
      const waiter = (n: number) => async () => {
        await cond.acquire();
        if (await cond.wait()) {
          result.push(n);
          cond.release();
        }
        return true;
      };
      const tasks = [1, 2, 3].map((n) => createTask(waiter(n)));
      await sleep(0);
      assert.deepEqual(result, []);

      await cond.acquire();
      cond.notify(1);
      cond.release();
      await sleep(0);
      assert.deepEqual(result, [1]);

      await cond.acquire();
      cond.notify(1);
      cond.notify(2048); // more than are waiting: all of them
      cond.release();
      await sleep(0);
      assert.deepEqual(result, [1, 2, 3]);
      for (const task of tasks) assert.equal(task.result(), true);

      await cond.acquire();
      cond.notify(0);
      cond.notify(-1);
      cond.notify(); // nobody waits: a no-op
      cond.release();
    });
  },
);

loopTest("Condition.notifyAll() wakes every waiter", async ({ loop }) => {
  await inGuardedTask(loop, async () => {
    const cond = new Condition();
    const result: number[] = [];
    const waiter = (n: number) => async () => {
      await cond.acquire();
      if (await cond.wait()) {
        result.push(n);
        cond.release();
      }
      return true;
    };
    const tasks = [1, 2].map((n) => createTask(waiter(n)));
    await sleep(0);
    assert.deepEqual(result, []);
    await cond.acquire();
    cond.notifyAll();
    cond.release();
    await sleep(0);
    assert.deepEqual(result, [1, 2]);
    for (const task of tasks) assert.equal(task.result(), true);
  });
});

loopTest(
  "Condition.notify() and notifyAll() without the lock, or with a bad count, throw and change nothing",
  async ({ loop }) => {
    const cond = new Condition();
    assert.throws(() => cond.notify(), RuntimeError);
    assert.throws(() => cond.notifyAll(), RuntimeError);
    await inGuardedTask(loop, async () => {
      const waiter = createTask(() => cond.run(() => cond.wait()));
      await sleep(0);
      await cond.acquire();
      assert.throws(() => cond.notify("1" as unknown as number), TypeError);
      assert.throws(() => cond.notify(NaN), RangeError);
      assert.equal(String(cond), "<Condition [locked, waiters:1]>");
      cond.notify();
      cond.release();
      assert.equal(await waiter, true);
    });
  },
);

loopTest(
  "Condition.run() holds the lock for the block, shared with an explicit Lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const check = async (lock: Lock, cond: Condition) => {
        assert.equal(lock.locked(), false);
        assert.equal(cond.locked(), false);
        await cond.run(() => {
          assert.equal(lock.locked(), true);
          assert.equal(cond.locked(), true);
        });
        assert.equal(lock.locked(), false);
        assert.equal(cond.locked(), false);
        await lock.run(() => {
          assert.equal(lock.locked(), true);
          assert.equal(cond.locked(), true);
        });
        assert.equal(cond.locked(), false);
      };
      const lock = new Lock();
      await check(lock, new Condition(lock));
      const shared = new Lock();
      await check(shared, new Condition(shared));
      assert.equal(await new Condition().run(async () => 5), 5);
      await assert.rejects(
        new Condition().run(5 as unknown as () => void),
        TypeError,
      );
    });
  },
);

loopTest("Condition() rejects a lock that is not a Lock", () => {
  for (const bad of [{}, new Semaphore(), "lock"]) {
    assert.throws(() => new Condition(bad as unknown as Lock), TypeError);
  }
  assert.equal(new Condition(null).locked(), false);
  assert.equal(new Condition(undefined).locked(), false);
});

loopTest(
  "Condition.wait() under waitFor() times out at the deadline holding the lock",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const cond = new Condition();
      await cond.run(async () => {
        const t0 = loop.time();
        await assert.rejects(waitFor(cond.wait(), 0.1), TimeoutError);
        if (loop instanceof VirtualTimeEventLoop) near(loop.time(), t0 + 0.1);
        assert.equal(cond.locked(), true);
        assert.equal(String(cond), "<Condition [locked]>");
      });
      assert.equal(cond.locked(), false);
    });
  },
);

loopTest(
  "Condition.wait() rethrows the very CancelledError it received",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      // Cancelled while waiting for the notify, then while re-acquiring.
      for (const stage of ["wakeup", "re-acquire"]) {
        const cond = new Condition();
        let wake = false;
        let raised: unknown = null;
        const task = createTask(() =>
          cond.run(async () => {
            try {
              await cond.waitFor(() => wake);
            } catch (error) {
              raised = error;
              throw error;
            }
          })
        );
        await sleep(0);
        if (stage === "wakeup") {
          task.cancel("foo");
        } else {
          await cond.acquire();
          wake = true;
          cond.notify();
          await sleep(0); // the task now waits for the lock
          task.cancel("foo");
          cond.release();
        }
        const error = await task.then(
          () => assert.fail("not cancelled"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof CancelledError, stage);
        assert.equal(error.message, "foo", stage);
        assert.equal(error, raised, `${stage}: the same instance`);
        assert.equal(cond.locked(), false);
      }
    });
  },
);

loopTest(
  "Condition.notify() is not lost when the notified task is cancelled before it runs",
  async ({ loop }) => {
    // For both points: while it waits to wake, and while it re-acquires.
    for (const relock of [false, true]) {
      await inGuardedTask(loop, async () => {
        const cond = new Condition();
        let state = 0;
        const consumer = () =>
          cond.run(async () => {
            for (;;) {
              await cond.waitFor(() => state !== 0);
              if (state < 0) return;
              state -= 1;
            }
          });
        const consumers = [createTask(consumer), createTask(consumer)];
        await sleep(0);
        await cond.run(async () => {
          state += 1;
          cond.notify(1);
          if (relock) await sleep(0); // c0 now queues for the lock
          consumers[0].cancel();
          try {
            await timeout(0.01).run(() => cond.waitFor(() => state === 0));
          } catch (error) {
            if (!(error instanceof TimeoutError)) throw error;
          }
          assert.equal(state, 0, `relock=${relock}: the item was consumed`);
          state = -1;
          cond.notifyAll();
        });
        await consumers[1];
        await assertCancelled(consumers[0]);
      });
    }
  },
);

// ---- Semaphore -----------------------------------------------------------------

loopTest(
  "Semaphore() takes a non-negative integer and is locked at zero",
  () => {
    assert.equal(new Semaphore(0).locked(), true);
    assert.equal(new Semaphore().locked(), false);
    assert.equal(String(new Semaphore()), "<Semaphore [unlocked, value:1]>");
    assert.equal(String(new Semaphore(3)), "<Semaphore [unlocked, value:3]>");
    assert.throws(() => new Semaphore(-1), RangeError);
    assert.throws(() => new Semaphore(1.5), RangeError);
    assert.throws(() => new Semaphore(NaN), RangeError);
    assert.throws(() => new Semaphore("2" as unknown as number), TypeError);
    assert.throws(() => new BoundedSemaphore(-1), RangeError);
  },
);

loopTest(
  "Semaphore.acquire() takes permits and queues once they run out",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(3);
      const result: number[] = [];
      assert.equal(await sem.acquire(), true);
      assert.equal(await sem.acquire(), true);
      assert.equal(sem.locked(), false);
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
      const take = (n: number) => async () => {
        await sem.acquire();
        result.push(n);
        return true;
      };
      const t1 = createTask(take(1));
      const t2 = createTask(take(2));
      const t3 = createTask(take(3));
      await sleep(0);
      assert.deepEqual(result, [1]);
      assert.equal(sem.locked(), true);
      assert.equal(String(sem), "<Semaphore [locked, waiters:2]>");

      const t4 = createTask(take(4));
      sem.release();
      sem.release();
      await sleep(0);
      assert.equal(result.length, 3);
      assert.equal(sem.locked(), true);
      assert.equal(String(sem), "<Semaphore [locked, waiters:1]>");
      assert.equal(t1.result(), true);
      assert.deepEqual(result, [1, 2, 3], "FIFO: t4 came last");
      assert.equal(t4.done(), false);
      sem.release();
      assert.equal(await t4, true);
      for (const task of [t2, t3]) assert.equal(task.result(), true);
    });
  },
);

loopTest(
  "Semaphore.acquire() cancelled while waiting leaves no live waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore();
      await sem.acquire();
      const waiter = createTask(() => sem.acquire());
      getRunningLoop().callSoon(() => waiter.cancel());
      await assertCancelled(waiter);
      assert.equal(String(sem), "<Semaphore [locked]>");
      sem.release();
      assert.equal(sem.locked(), false);
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
);

loopTest(
  "Semaphore.acquire() cancelled before it wakes passes the permit to the next waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const [t1, t2, t3, t4] = [0, 1, 2, 3].map(() =>
        createTask(() => sem.acquire())
      );
      await sleep(0);
      t1.cancel();
      t2.cancel();
      sem.release();
      await steps(2);
      assert.equal(t3.done(), true, "t3 got the single permit");
      assert.equal(t4.done(), false);
      assert.equal(sem.locked(), true);
      t4.cancel();
      for (const task of [t1, t2, t4]) await assertCancelled(task);
      assert.equal(String(sem), "<Semaphore [locked]>");
    });
  },
);

loopTest(
  "Semaphore.acquire() picked by release() then cancelled gives the permit back",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const t1 = createTask(() => sem.acquire());
      const t2 = createTask(() => sem.acquire());
      await sleep(0);
      sem.release(); // picks t1 ...
      t1.cancel(); // ... which never takes it
      await steps(2);
      assert.equal(t1.cancelled(), true);
      assert.equal(await t2, true, "t2 got t1's permit");
      assert.equal(sem.locked(), true, "and it is the only one");
      sem.release();
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
);

loopTest(
  "Semaphore.acquire() does not hang when the first waiter is cancelled",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const t1 = createTask(() => sem.acquire());
      const t2 = createTask(() => sem.acquire());
      await sleep(0);
      t1.cancel();
      sem.release();
      await steps(2);
      assert.equal(sem.locked(), true);
      assert.equal(t2.done(), true);
      await assertCancelled(t1);
    });
  },
);

loopTest(
  "Semaphore.run() returns its permit when a waiter is cancelled meanwhile",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(1);
      let t2: Task<unknown> | null = null;
      const t1 = createTask(() =>
        sem.run(async () => {
          await sleep(0);
          t2!.cancel();
        })
      );
      t2 = createTask(() => sem.run(() => assert.fail("t2 must not run")));
      const [r1, r2] = await settle([t1, t2]);
      assert.equal(r1, undefined);
      assert.ok(r2 instanceof CancelledError);
      const t0 = loop.time();
      assert.equal(await waitFor(sem.acquire(), 1), true, "no hang");
      if (loop instanceof VirtualTimeEventLoop) assert.equal(loop.time(), t0);
    });
  },
);

loopTest(
  "Semaphore.acquire() serves waiters in FIFO order",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      // Each task takes the permit twice; every round is in creation order.
      const sem = new Semaphore(1);
      const result: string[] = [];
      const twice = (tag: string) => async () => {
        for (const round of [1, 2]) {
          await sem.acquire();
          result.push(`${tag}_${round}`);
          await sleep(0.01);
          sem.release();
        }
      };
      await new TaskGroup().run((tg) => {
        for (const tag of ["c1", "c2", "c3"]) tg.createTask(twice(tag));
      });
      assert.deepEqual(result, [
        "c1_1",
        "c2_1",
        "c3_1",
        "c1_2",
        "c2_2",
        "c3_2",
      ]);
    });
  },
);

loopTest(
  "Semaphore.acquire() after a release() inside the holder queues behind earlier waiters",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(1);
      const result: number[] = [];
      const t1 = createTask(async () => {
        await sem.acquire();
        result.push(1);
      });
      const t2 = createTask(async () => {
        await sem.acquire();
        result.push(2);
        sem.release();
        await sem.acquire(); // t3 queued first
        result.push(4);
      });
      const t3 = createTask(async () => {
        await sem.acquire();
        result.push(3);
      });
      await sleep(0);
      sem.release();
      sem.release();
      await gather(t1, t2, t3);
      assert.deepEqual(result, [1, 2, 3, 4]);
    });
  },
);

loopTest(
  "Semaphore.acquire() skips a waiter cancelled before any release",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const result: number[] = [];
      const take = (n: number) => async () => {
        await sem.acquire();
        result.push(n);
      };
      const tasks = [1, 2, 3].map((n) => createTask(take(n)));
      await sleep(0);
      tasks[0].cancel();
      await sleep(0);
      sem.release();
      sem.release();
      await settle(tasks);
      assert.deepEqual(result, [2, 3]);
      assert.equal(tasks[0].cancelled(), true);
    });
  },
);

loopTest(
  "Semaphore.acquire() wakes every waiter FIFO made wait, and a newcomer never jumps the queue",
  async ({ loop }) => {
    // CPython 3.13's fix: the first waiter to wake passes the spare permits
    // on to those queued behind it, and a task created meanwhile comes last.
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const result: number[] = [];
      let t4: Task<unknown> | null = null;
      const t1 = createTask(async () => {
        assert.equal(sem.locked(), true);
        await sem.acquire();
        t4 = createTask(async () => {
          result.push(4);
        });
        result.push(1);
      });
      const t2 = createTask(async () => {
        sem.release();
        sem.release();
        sem.release();
        // Permits are free, but t1 (woken, not yet running) comes first.
        assert.equal(sem.locked(), true);
        await sem.acquire();
        result.push(2);
      });
      const t3 = createTask(async () => {
        await sem.acquire();
        assert.equal(sem.locked(), true);
        result.push(3);
      });
      await sleep(0);
      assert.equal(String(sem), "<Semaphore [locked, waiters:3]>");
      await sleep(0);
      await gather(t1, t2, t3);
      await t4!;
      assert.deepEqual(result, [1, 2, 3, 4]);
      assert.equal(String(sem), "<Semaphore [locked]>");
    });
  },
);

loopTest(
  "Semaphore.release() may raise the count above the initial value",
  async ({ loop }) => {
    const sem = new Semaphore(1);
    sem.release();
    assert.equal(String(sem), "<Semaphore [unlocked, value:2]>");
    await inGuardedTask(loop, async () => {
      await sem.acquire();
      await sem.acquire();
      assert.equal(sem.locked(), true);
      sem.release();
      assert.equal(sem.locked(), false);
    });
  },
);

loopTest(
  "BoundedSemaphore.release() past the initial value is a RangeError and changes nothing",
  async ({ loop }) => {
    const sem = new BoundedSemaphore();
    assert.ok(sem instanceof Semaphore);
    assert.throws(() => sem.release(), RangeError);
    assert.equal(String(sem), "<BoundedSemaphore [unlocked, value:1]>");
    await inGuardedTask(loop, async () => {
      const two = new BoundedSemaphore(2);
      await two.acquire();
      await two.acquire();
      assert.equal(two.locked(), true);
      two.release();
      two.release();
      assert.throws(() => two.release(), RangeError);
      assert.equal(String(two), "<BoundedSemaphore [unlocked, value:2]>");
      // A block that gives its permit back itself makes run() fail.
      await assert.rejects(two.run(() => two.release()), RangeError);
      assert.equal(String(two), "<BoundedSemaphore [unlocked, value:2]>");
      assert.equal(await two.run(() => two.locked()), false);
    });
  },
);

loopTest(
  "Semaphore.run() holds a permit for the block and releases it on every exit",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(1);
      assert.equal(await sem.run(async () => sem.locked()), true);
      assert.equal(sem.locked(), false);
      await assert.rejects(
        sem.run(() => {
          throw new SyntaxError("boom");
        }),
        SyntaxError,
      );
      assert.equal(sem.locked(), false);
      await assert.rejects(
        sem.run("block" as unknown as () => void),
        TypeError,
      );
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
      // Contended: the second block waits for the first.
      const order: string[] = [];
      const a = createTask(() =>
        sem.run(async () => {
          order.push("a in");
          await sleep(0.01);
          order.push("a out");
        })
      );
      const b = createTask(() => sem.run(() => order.push("b")));
      await gather(a, b);
      assert.deepEqual(order, ["a in", "a out", "b"]);
      assert.equal(String(sem), "<Semaphore [unlocked, value:1]>");
    });
  },
);

loopTest(
  "Semaphore.acquire() under waitFor() times out at the deadline and leaves no waiter",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const sem = new Semaphore(0);
      const t0 = loop.time();
      await assert.rejects(waitFor(sem.acquire(), 0.1), TimeoutError);
      if (loop instanceof VirtualTimeEventLoop) near(loop.time(), t0 + 0.1);
      assert.equal(String(sem), "<Semaphore [locked]>");
      sem.release();
      assert.equal(await waitFor(sem.acquire(), 0.1), true);
    });
  },
);

// ---- Barrier -------------------------------------------------------------------

const N = 5;

/** Starts `n` tasks running `fn` and waits for all of them. */
async function gatherTasks<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const tasks = Array.from({ length: n }, () => createTask(fn));
  const results: T[] = [];
  for (const task of tasks) results.push(await task);
  return results;
}

loopTest("Barrier() takes a whole number of parties, at least 1", () => {
  assert.throws(() => new Barrier(0), RangeError);
  assert.throws(() => new Barrier(-4), RangeError);
  assert.throws(() => new Barrier(2.5), RangeError);
  assert.throws(() => new Barrier("3" as unknown as number), TypeError);
  assert.throws(() => new Barrier(undefined as unknown as number), TypeError);
  const barrier = new Barrier(N);
  assert.equal(barrier.parties, N);
  assert.equal(barrier.nWaiting, 0);
  assert.equal(barrier.broken, false);
  assert.equal(String(barrier), "<Barrier [filling, waiters:0/5]>");
});

loopTest(
  "Barrier.wait() lets all parties go together, each with a distinct index",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const log: string[] = [];
      const indices = await gatherTasks(3, async () => {
        log.push("in");
        const index = await barrier.wait();
        log.push("out");
        return index;
      });
      assert.deepEqual(indices, [0, 1, 2], "arrival order");
      assert.deepEqual(log, ["in", "in", "in", "out", "out", "out"]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.run() passes the index to the block and resolves with its result",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const seen: number[] = [];
      const results = await gatherTasks(
        3,
        () =>
          barrier.run(async (i) => {
            seen.push(i);
            return i * 10;
          }),
      );
      assert.deepEqual(seen.sort(), [0, 1, 2]);
      assert.deepEqual(results, [0, 10, 20]);
      await assert.rejects(
        barrier.run(null as unknown as () => void),
        TypeError,
      );
      assert.equal(barrier.nWaiting, 0, "the bad call did not wait");
    });
  },
);

loopTest(
  "Barrier.wait() with one party passes at once, again and again",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(1);
      assert.equal(await barrier.run(() => true), true);
      const t1 = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(barrier.nWaiting, 0);
      const t2 = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(t1.result(), 0);
      assert.equal(t2.result(), 0);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.nWaiting counts the tasks filling the barrier",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const t1 = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(barrier.nWaiting, 1);
      assert.equal(String(barrier), "<Barrier [filling, waiters:1/3]>");
      const t2 = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(barrier.nWaiting, 2);
      const t3 = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(String(barrier), "<Barrier [draining, waiters:0/3]>");
      assert.deepEqual(await gather(t1, t2, t3), [0, 1, 2]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(String(barrier), "<Barrier [filling, waiters:0/3]>");
    });
  },
);

loopTest(
  "Barrier.wait() can be passed round after round",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results: boolean[] = [];
      const second = await gatherTasks(N, () =>
        barrier.run(async () => {
          results.push(true);
          return await barrier.run((i) => {
            results.push(false);
            return i;
          });
        }));
      assert.equal(results.length, 2 * N);
      assert.deepEqual(results.slice(0, N), Array(N).fill(true));
      assert.deepEqual(second.sort(), [0, 1, 2, 3, 4]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.wait() drains the tripped round before the barrier fills again",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const draining: boolean[] = [];
      await gatherTasks(N, () =>
        barrier.run(() => {
          draining.push(String(barrier).includes("draining"));
        }));
      // Every task but the last to leave still saw the round draining.
      assert.deepEqual(draining, [true, true, true, true, false]);

      // Tasks re-entering while the round drains wait for the next round.
      const rewait = 2;
      const big = new Barrier(N);
      const small = new Barrier(N - rewait);
      let left = rewait;
      await gatherTasks(N, async () => {
        await big.wait();
        if (left > 0) {
          left--;
          await big.wait(); // blocked until the others come back
        } else {
          await small.wait(); // the round has drained by now
          await big.wait();
        }
      });
      assert.equal(big.nWaiting, 0);
      assert.equal(small.nWaiting, 0);
    });
  },
);

loopTest(
  "Barrier.wait() cancelled while filling leaves the barrier",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const results: boolean[] = [];
      const party = async () => {
        await barrier.wait();
        results.push(true);
      };
      const t1 = createTask(party);
      await sleep(0);
      assert.equal(barrier.nWaiting, 1);
      const t2 = createTask(party);
      await sleep(0);
      assert.equal(barrier.nWaiting, 2);
      t1.cancel();
      await sleep(0);
      assert.equal(barrier.nWaiting, 1);
      await assertCancelled(t1);
      const t3 = createTask(party);
      await sleep(0);
      assert.equal(barrier.nWaiting, 2);
      const t4 = createTask(party);
      await gather(t2, t3, t4);
      assert.deepEqual(results, [true, true, true]);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.wait() under waitFor() times out at the deadline and leaves the barrier",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(2);
      const t0 = loop.time();
      await assert.rejects(waitFor(barrier.wait(), 0.1), TimeoutError);
      if (loop instanceof VirtualTimeEventLoop) near(loop.time(), t0 + 0.1);
      assert.equal(barrier.nWaiting, 0);
      const other = createTask(() => barrier.wait());
      await sleep(0);
      assert.equal(await barrier.wait(), 1);
      assert.equal(await other, 0);
    });
  },
);

loopTest(
  "Barrier.reset() with nobody waiting leaves it filling",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(1);
      createTask(() => barrier.reset());
      await sleep(0);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, false);
      assert.equal(await barrier.wait(), 0);
    });
  },
);

loopTest(
  "Barrier.reset() sends BrokenBarrierError to the waiting tasks",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results: boolean[] = [];
      const tasks = Array.from({ length: N - 1 }, () =>
        createTask(async () => {
          try {
            await barrier.wait();
          } catch (error) {
            if (!(error instanceof BrokenBarrierError)) throw error;
            results.push(true);
          }
        }));
      await sleep(0);
      assert.equal(barrier.nWaiting, N - 1);
      createTask(() => barrier.reset());
      await gather(...tasks);
      assert.deepEqual(results, Array(N - 1).fill(true));
      assert.equal(barrier.nWaiting, 0);
      assert.ok(!String(barrier).includes("resetting"));
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.reset() while the round drains breaks only the tasks still inside",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const broken: boolean[] = [];
      const inside = Math.floor(N / 2);
      let passed = 0;
      await gatherTasks(N, async () => {
        try {
          await barrier.wait();
        } catch (error) {
          if (!(error instanceof BrokenBarrierError)) throw error;
          broken.push(true);
          return;
        }
        // Out of the barrier while `N - passed` tasks are still inside.
        if (++passed === N - inside) await barrier.reset();
      });
      assert.deepEqual(broken, Array(inside).fill(true));
      assert.equal(barrier.nWaiting, 0);
      assert.ok(!String(barrier).includes("resetting"));
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.reset() while half the tasks drain and half block",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results1: boolean[] = [];
      const results2: boolean[] = [];
      const blocking = Math.floor(N / 2);
      let count = 0;
      await gatherTasks(N, async () => {
        try {
          await barrier.wait();
        } catch (error) {
          if (!(error instanceof BrokenBarrierError)) throw error;
          results1.push(true);
          await barrier.wait(); // wait again for the parties
          return;
        }
        count++;
        if (count > blocking) {
          await barrier.reset(); // the waiting ones break
          await barrier.wait();
        } else {
          try {
            await barrier.wait();
          } catch (error) {
            if (!(error instanceof BrokenBarrierError)) throw error;
            results2.push(true); // never: these block past the reset
          }
        }
      });
      assert.deepEqual(results1, Array(blocking).fill(true));
      assert.deepEqual(results2, []);
      assert.equal(barrier.nWaiting, 0);
      assert.ok(!String(barrier).includes("resetting"));
      assert.equal(barrier.broken, false);
    });
  },
);

loopTest(
  "Barrier.reset() lets the broken tasks wait again and fill the next round",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results1: boolean[] = [];
      const results2: boolean[] = [];
      const tasks = Array.from({ length: N - 1 }, () =>
        createTask(async () => {
          try {
            await barrier.wait();
          } catch (error) {
            if (!(error instanceof BrokenBarrierError)) throw error;
            results1.push(true);
          } finally {
            await barrier.wait();
            results2.push(true);
          }
        }));
      createTask(() => barrier.reset());
      await sleep(0);
      const last = createTask(() =>
        barrier.run(() => {
          results2.push(true);
        })
      );
      await gather(...tasks, last);
      assert.equal(barrier.broken, false);
      assert.deepEqual(results1, Array(N - 1).fill(true));
      assert.deepEqual(results2, Array(N).fill(true));
      assert.equal(barrier.nWaiting, 0);
    });
  },
);

loopTest(
  "Barrier.reset() after a round has drained does not break the next round",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results1: boolean[] = [];
      const results2: boolean[] = [];
      const results3: boolean[] = [];
      let count = 0;
      await gatherTasks(N, async () => {
        await barrier.wait();
        count++;
        if (count === N) {
          await barrier.reset(); // the last one out: nobody is inside
          await barrier.wait();
        } else {
          try {
            await barrier.wait();
            results1.push(true);
          } catch {
            results2.push(true);
          }
        }
        await barrier.wait();
        results3.push(true);
      });
      assert.equal(barrier.broken, false);
      assert.deepEqual(results1, Array(N - 1).fill(true));
      assert.deepEqual(results2, []);
      assert.deepEqual(results3, Array(N).fill(true));
      assert.equal(barrier.nWaiting, 0);
    });
  },
);

loopTest(
  "Barrier.abort() breaks the barrier for present and future waiters",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(3);
      const waiting = [0, 1].map(() => createTask(() => barrier.wait()));
      await sleep(0);
      assert.equal(barrier.nWaiting, 2);
      await barrier.abort();
      assert.equal(barrier.broken, true);
      assert.equal(String(barrier), "<Barrier [broken]>");
      for (const task of waiting) {
        await assert.rejects(async () => await task, BrokenBarrierError);
      }
      await assert.rejects(barrier.wait(), BrokenBarrierError);
      await assert.rejects(barrier.run(() => "never"), BrokenBarrierError);
      assert.ok(new BrokenBarrierError() instanceof RuntimeError);
      assert.equal(new BrokenBarrierError("x").name, "BrokenBarrierError");
      assert.equal(barrier.nWaiting, 0);
      // reset() mends it.
      await barrier.reset();
      assert.equal(barrier.broken, false);
      const others = [0, 1].map(() => createTask(() => barrier.wait()));
      await sleep(0);
      assert.equal(await barrier.wait(), 2);
      assert.deepEqual(await gather(...others), [0, 1]);
    });
  },
);

loopTest(
  "Barrier.abort() from a task with nobody waiting breaks the barrier",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(1);
      createTask(() => barrier.abort());
      await sleep(0);
      assert.equal(barrier.nWaiting, 0);
      assert.equal(barrier.broken, true);
    });
  },
);

loopTest(
  "Barrier.abort() while half the tasks drain and half block breaks them all",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier = new Barrier(N);
      const results1: boolean[] = [];
      const results2: boolean[] = [];
      const blocking = Math.floor(N / 2);
      let count = 0;
      await gatherTasks(N, async () => {
        try {
          await barrier.wait();
        } catch (error) {
          if (!(error instanceof BrokenBarrierError)) throw error;
          results1.push(true); // waiting for the round to drain
          return;
        }
        count++;
        if (count > blocking) {
          await barrier.abort();
        } else {
          try {
            await barrier.wait();
          } catch (error) {
            if (!(error instanceof BrokenBarrierError)) throw error;
            results2.push(true);
          }
        }
      });
      assert.equal(barrier.broken, true);
      assert.deepEqual(results1, Array(blocking).fill(true));
      assert.deepEqual(results2, Array(N - blocking - 1).fill(true));
      assert.equal(barrier.nWaiting, 0);
    });
  },
);

loopTest(
  "Barrier.abort() on an error, then reset(), lets the parties meet again",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const barrier1 = new Barrier(N);
      const barrier2 = new Barrier(N);
      const results1: boolean[] = [];
      const results2: boolean[] = [];
      const results3: boolean[] = [];
      class Failure extends Error {}
      await gatherTasks(N, async () => {
        try {
          const i = await barrier1.wait();
          if (i === Math.floor(N / 2)) throw new Failure();
          await barrier1.wait();
          results1.push(true);
        } catch (error) {
          if (error instanceof BrokenBarrierError) results2.push(true);
          else if (error instanceof Failure) await barrier1.abort();
          else throw error;
        }
        // Everyone has left barrier1 before the reset, and nobody enters
        // it again before the reset is done.
        const i = await barrier2.wait();
        if (i === Math.floor(N / 2)) await barrier1.reset();
        await barrier2.wait();
        await barrier1.wait();
        results3.push(true);
      });
      assert.equal(barrier1.broken, false);
      assert.deepEqual(results1, []);
      assert.deepEqual(results2, Array(N - 1).fill(true));
      assert.deepEqual(results3, Array(N).fill(true));
      assert.equal(barrier1.nWaiting, 0);
    });
  },
);

// ---- loop binding --------------------------------------------------------------

loopTest(
  "Lock, Event, Condition, Semaphore and Barrier bind to the loop of their first wait",
  async ({ loop, make }) => {
    // Made with no loop at all.
    const lock = new Lock();
    const event = new Event();
    const cond = new Condition();
    const sem = new Semaphore(0);
    const barrier = new Barrier(2);
    const waitAll = async () => {
      await lock.acquire();
      const waits = [
        createTask(() => lock.acquire()),
        createTask(() => event.wait()),
        createTask(() => cond.run(() => cond.wait())),
        createTask(() => sem.acquire()),
        createTask(() => barrier.wait()),
      ];
      await sleep(0);
      lock.release();
      event.set();
      await cond.run(() => cond.notify());
      sem.release();
      await barrier.wait();
      await gather(...waits);
      lock.release();
      event.clear();
    };
    await inGuardedTask(loop, waitAll); // binds them all to `loop`

    const other = make();
    try {
      await inGuardedTask(other, async () => {
        // What needs no wait still works anywhere (as in asyncio) ...
        await lock.acquire();
        // ... a wait is refused, and leaves the primitive as it was.
        await assert.rejects(lock.acquire(), RuntimeError);
        await assert.rejects(lock.run(() => {}), RuntimeError);
        assert.equal(String(lock), "<Lock [locked]>");
        lock.release();
        await assert.rejects(event.wait(), /different event loop/);
        await cond.acquire();
        await assert.rejects(cond.wait(), RuntimeError);
        assert.equal(cond.locked(), true, "the lock was not released");
        cond.release();
        await assert.rejects(sem.acquire(), RuntimeError);
        assert.equal(String(sem), "<Semaphore [locked]>");
        await assert.rejects(barrier.wait(), RuntimeError);
        assert.equal(barrier.nWaiting, 0);
      });
    } finally {
      other.close();
    }
    await inGuardedTask(loop, waitAll); // still usable on their own loop
  },
);

loopTest(
  "Condition over a Lock bound to another loop fails at the lock's wait",
  async ({ loop, make }) => {
    const lock = new Lock();
    const other = make();
    try {
      await inGuardedTask(other, async () => {
        await lock.acquire();
        const waiter = createTask(() => lock.acquire()); // binds to `other`
        await sleep(0);
        lock.release();
        await waiter;
        lock.release();
      });
    } finally {
      other.close();
    }
    await inGuardedTask(loop, async () => {
      await lock.run(async () => {
        // Taken without a wait; the condition is not bound yet.
        const cond = new Condition(lock);
        await assert.rejects(cond.acquire(), /different event loop/);
        assert.equal(lock.locked(), true);
      });
      assert.equal(lock.locked(), false);
    });
  },
);

loopTest(
  "Lock.acquire() that must wait with no running loop is a RuntimeError",
  async () => {
    const lock = new Lock();
    await lock.acquire(); // no loop needed
    await assert.rejects(lock.acquire(), RuntimeError);
    assert.equal(String(lock), "<Lock [locked]>");
    lock.release();
    const sem = new Semaphore(0);
    await assert.rejects(sem.acquire(), RuntimeError);
    await assert.rejects(new Event().wait(), RuntimeError);
    await assert.rejects(new Barrier(2).wait(), RuntimeError);
  },
);

// ---- under load ----------------------------------------------------------------

/** A small deterministic PRNG (mulberry32). */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

loopTest(
  "Lock and Semaphore under random cancellations keep their limits and lose no wakeup",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      for (const limit of [1, 3]) {
        const random = prng(limit * 7919);
        const sem = limit === 1 ? new Lock() : new Semaphore(limit);
        let inside = 0;
        let peak = 0;
        let finished = 0;
        const tasks = Array.from({ length: 60 }, () =>
          createTask(async () => {
            await sem.run(async () => {
              peak = Math.max(peak, ++inside);
              try {
                await steps(Math.floor(random() * 3));
              } finally {
                inside--;
              }
            });
            finished++;
          }));
        for (let i = 0; i < 40; i++) {
          await steps(Math.floor(random() * 2));
          tasks[Math.floor(random() * tasks.length)].cancel();
        }
        await settle(tasks);
        const cancelled = tasks.filter((task) => task.cancelled()).length;
        assert.equal(finished + cancelled, tasks.length);
        assert.ok(finished > 0 && cancelled > 0);
        assert.ok(peak <= limit, `peak ${peak} over ${limit}`);
        assert.equal(sem.locked(), false, `${sem}`);
        assert.ok(!String(sem).includes("waiters"), `${sem}`);
      }
    });
  },
);

loopTest(
  "Condition under random cancellations delivers every item exactly once",
  async ({ loop }) => {
    await inGuardedTask(loop, async () => {
      const random = prng(42);
      const cond = new Condition();
      const queue: number[] = [];
      const consumed: number[] = [];
      let closed = false;
      const consumers = Array.from(
        { length: 8 },
        () =>
          createTask(() =>
            cond.run(async () => {
              for (;;) {
                await cond.waitFor(() => queue.length > 0 || closed);
                if (queue.length === 0) return;
                consumed.push(queue.shift()!);
              }
            })
          ),
      );
      let next = 0;
      for (let i = 0; i < 50; i++) {
        await cond.run(() => {
          queue.push(next++);
          cond.notify();
        });
        await steps(Math.floor(random() * 2));
        if (random() < 0.1) {
          const victim = consumers[Math.floor(random() * consumers.length)];
          victim.cancel();
        }
      }
      await cond.run(() => {
        closed = true;
        cond.notifyAll();
      });
      // What the cancelled consumers left behind.
      const drain = createTask(() =>
        cond.run(() => {
          consumed.push(...queue.splice(0));
        })
      );
      await settle([...consumers, drain]);
      assert.deepEqual(
        [...consumed].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.equal(cond.locked(), false);
      assert.equal(String(cond), "<Condition [unlocked]>");
    });
  },
);
