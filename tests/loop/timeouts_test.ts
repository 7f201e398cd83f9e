/**
 * Behaviour of `timeout`, `timeoutAt` and `Timeout`, after CPython's
 * Lib/test/test_asyncio/test_timeouts.py, on every loop kind (checks of exact
 * times on the virtual clock only).
 */
import assert from "node:assert/strict";
import {
  CancelledError,
  createTask,
  currentTask,
  RuntimeError,
  sleep,
  Timeout,
  timeout,
  timeoutAt,
  TimeoutError,
} from "../../mod.ts";
import { caught, inTask, loopTest, near } from "../_util.ts";
import type { VirtualTimeEventLoop } from "../../testing/mod.ts";

// ---- expiry ----------------------------------------------------------------

loopTest(
  "timeout() turns its own cancellation into TimeoutError at the deadline",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0.01);
      let seen: unknown;
      const error = await caught(() =>
        cm.run(async () => {
          try {
            await sleep(10);
          } catch (e) {
            seen = e;
            throw e;
          }
        })
      );
      assert.ok(error instanceof TimeoutError, `${error}`);
      assert.ok(error.cause instanceof CancelledError, "cause");
      assert.ok(seen instanceof CancelledError, "the body saw the cancel");
      assert.equal(cm.expired(), true);
      near(cm.when()!, t0 + 0.01, "when()");
      near(loop.time(), t0 + 0.01);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeoutAt() fires at the given loop time and when() reports it",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const deadline = loop.time() + 0.01;
      const cm = timeoutAt(deadline);
      assert.equal(cm.when(), deadline);
      await assert.rejects(cm.run(() => sleep(10)), TimeoutError);
      assert.equal(cm.expired(), true);
      assert.equal(cm.when(), deadline);
      assert.ok(loop.time() >= deadline);
    });
  },
);

loopTest(
  "Timeout.run() resolves with the body's result when it is in time",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(10);
      assert.equal(await cm.run(() => sleep(0.01, "ok")), "ok");
      assert.equal(cm.expired(), false);
      assert.ok(cm.when()! > loop.time());
      assert.equal(await timeout(1).run(() => 5), 5, "a sync body");
      let given: Timeout | null = null;
      const own = timeout(1);
      await own.run((self) => {
        given = self;
      });
      assert.equal(given, own);
    });
  },
);

loopTest(
  "Timeout that finished in time never cancels the task afterwards",
  async ({ loop }) => {
    await inTask(loop, async () => {
      await timeout(0.05).run(() => sleep(0.01));
      await sleep(0.1); // past the old deadline
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "timeout(null) and timeoutAt(null) never expire",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const cm of [timeout(null), timeoutAt(null), timeout(undefined!)]) {
        assert.equal(cm.when(), null);
        await cm.run(() => sleep(3600));
        assert.equal(cm.expired(), false);
      }
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout(Infinity) never fires",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(Infinity);
      assert.equal(cm.when(), Infinity);
      await cm.run(() => sleep(86_400));
      assert.equal(cm.expired(), false);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "timeout(0) expires at the body's first suspension, even sleep(0)",
  async ({ loop }) => {
    await inTask(loop, async () => {
      for (const nap of [10, 0]) {
        const t0 = loop.time();
        const cm = timeout(0);
        let reached = false;
        await assert.rejects(
          cm.run(async () => {
            await sleep(nap);
            reached = true;
          }),
          TimeoutError,
        );
        assert.equal(reached, false, `sleep(${nap}) returned`);
        assert.equal(cm.expired(), true);
        const t1 = loop.time();
        assert.ok(t0 <= cm.when()! && cm.when()! <= t1);
        assert.ok(t1 - t0 < 2);
      }
    });
  },
);

loopTest(
  "timeout() with a negative delay expires like timeout(0)",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(-11);
      await assert.rejects(cm.run(() => sleep(0)), TimeoutError);
      assert.equal(cm.expired(), true);
      assert.ok(cm.when()! <= t0);
      const past = timeoutAt(loop.time() - 5);
      await assert.rejects(past.run(() => sleep(1)), TimeoutError);
    });
  },
);

loopTest(
  "Timeout does not fire before the body's first suspension",
  async ({ loop }) => {
    await inTask(loop, async () => {
      // Nothing awaited in the body: the callSoon'd expiry never runs.
      assert.equal(await timeout(0).run(() => "sync"), "sync");
      await sleep(0);
      await sleep(0);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

// ---- what passes through ---------------------------------------------------

loopTest(
  "Timeout lets the body's own error through untouched",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(0.01);
      const error = new SyntaxError("mine");
      await assert.rejects(
        cm.run(() => {
          throw error;
        }),
        (e) => e === error,
      );
      assert.equal(cm.expired(), false);
    });
  },
);

loopTest(
  "Timeout lets an error raised while handling its cancellation through",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(0.01);
      await assert.rejects(
        cm.run(async () => {
          try {
            await sleep(1);
          } finally {
            // deno-lint-ignore no-unsafe-finally
            throw new RangeError("cleanup failed");
          }
        }),
        RangeError,
      );
      assert.equal(cm.expired(), true);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "Timeout leaves a cancellation from elsewhere alone when not expired",
  async ({ loop }) => {
    const task = loop.createTask(async () => {
      const cm = timeout(10);
      try {
        await cm.run(async () => {
          currentTask()!.cancel();
          await sleep(10);
        });
      } finally {
        assert.equal(cm.expired(), false);
      }
    });
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.cancelled(), true);
  },
);

loopTest(
  "Timeout returns the value of a body that swallows the cancellation",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(0.01);
      const value = await cm.run(async () => {
        try {
          await sleep(10);
        } catch {
          return "swallowed";
        }
      });
      assert.equal(value, "swallowed");
      assert.equal(cm.expired(), true);
      assert.equal(currentTask()!.cancelling(), 0, "uncancel() was called");
      await sleep(0.01); // no leftover cancellation
    });
  },
);

loopTest(
  "Timeout that expired leaves the outer task not cancelled",
  async ({ loop }) => {
    const outer = loop.createTask(async () => {
      await assert.rejects(timeout(0.001).run(() => sleep(10)), TimeoutError);
      return "survived";
    });
    assert.equal(await loop.runUntilComplete(outer), "survived");
    assert.equal(outer.cancelled(), false);
    assert.equal(outer.cancelling(), 0);
  },
);

loopTest(
  "Timeout passes CancelledError on when another cancel came with its own",
  async ({ loop }) => {
    // The deadline and a foreign task.cancel() arrive in the same iteration:
    // uncancel() leaves 1 > 0 pending, so the cancellation is not ours.
    const task = loop.createTask(async () => {
      const cm = timeout(0.01);
      try {
        await cm.run(async () => {
          const self = currentTask()!;
          loop.callAt(cm.when()!, () => self.cancel("foreign"));
          await sleep(10);
        });
      } finally {
        assert.equal(cm.expired(), true);
      }
    });
    await assert.rejects(loop.runUntilComplete(task), CancelledError);
    assert.equal(task.cancelled(), true);
  },
);

// ---- nesting ---------------------------------------------------------------

loopTest(
  "nested timeouts with one deadline: only the outer one raises TimeoutError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const deadline = loop.time() + 0.01;
      const cm1 = timeoutAt(deadline);
      const cm2 = timeoutAt(deadline);
      let innerSaw: unknown;
      await assert.rejects(
        cm1.run(async () => {
          try {
            await cm2.run(() => sleep(10));
          } catch (e) {
            innerSaw = e;
            throw e;
          }
        }),
        TimeoutError,
      );
      assert.ok(innerSaw instanceof CancelledError, `${innerSaw}`);
      assert.ok(!(innerSaw instanceof TimeoutError));
      assert.equal(cm1.expired(), true);
      assert.equal(cm2.expired(), true);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "nested timeouts: the inner one expires first and the outer goes on",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const outer = timeout(1);
      const result = await outer.run(async () => {
        const inner = timeout(0.01);
        await assert.rejects(inner.run(() => sleep(10)), TimeoutError);
        assert.equal(inner.expired(), true);
        await sleep(0.1);
        return "outer done";
      });
      assert.equal(result, "outer done");
      assert.equal(outer.expired(), false);
      near(loop.time(), t0 + 0.11);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "nested timeouts: the outer one expires first and the inner one stays quiet",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const outer = timeout(0.002);
      const inner = timeout(0.1);
      let innerSaw: unknown;
      await assert.rejects(
        outer.run(async () => {
          await inner.run(() => sleep(1)).catch((e) => {
            innerSaw = e;
            throw e;
          });
        }),
        TimeoutError,
      );
      assert.ok(innerSaw instanceof CancelledError);
      assert.ok(!(innerSaw instanceof TimeoutError));
      assert.equal(inner.expired(), false);
      assert.equal(outer.expired(), true);
    });
  },
);

loopTest(
  "nested timeouts due together: the outer one wins, the code after is skipped",
  async (fx) => {
    const loop = fx.loop as VirtualTimeEventLoop;
    await inTask(loop, async () => {
      const t0 = loop.time();
      const outer = timeout(0.1);
      const inner = timeout(0.01);
      let innerSaw: unknown;
      let after = false;
      await assert.rejects(
        outer.run(async () => {
          await inner.run(async () => {
            loop.advance(0.1); // the loop was "busy": both deadlines pass
            await sleep(1);
          }).catch((e) => {
            innerSaw = e;
            throw e;
          });
          after = true;
          await sleep(10);
        }),
        TimeoutError,
      );
      // Both fired (cancelling() was 2): the inner one's uncancel() left 1,
      // so the CancelledError was not its own.
      assert.ok(innerSaw instanceof CancelledError, `${innerSaw}`);
      assert.ok(!(innerSaw instanceof TimeoutError));
      assert.equal(inner.expired(), true);
      assert.equal(outer.expired(), true);
      assert.equal(after, false, "the outer cancellation went on");
      assert.ok(loop.time() - t0 < 1);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "a timeout in the finally block of an expired timeout expires on its own",
  async ({ loop }) => {
    await inTask(loop, async () => {
      let innerError: unknown;
      await assert.rejects(
        timeout(0.01).run(async () => {
          try {
            await sleep(1);
          } finally {
            innerError = await caught(() => timeout(0.01).run(() => sleep(10)));
          }
        }),
        TimeoutError,
      );
      assert.ok(innerError instanceof TimeoutError, `${innerError}`);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "timeout() after a caught cancellation still raises TimeoutError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const self = currentTask()!;
      try {
        self.cancel();
        await sleep(1);
      } catch (e) {
        assert.ok(e instanceof CancelledError);
      } finally {
        // cancelling() is 1 on entry; ours makes it 2 and back to 1.
        await assert.rejects(timeout(0).run(() => sleep(1)), TimeoutError);
      }
      assert.equal(self.cancelling(), 1);
      self.uncancel();
    });
  },
);

loopTest(
  "a cancel inside a timeout after a caught cancellation stays a cancel",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const self = currentTask()!;
      try {
        self.cancel();
        await sleep(1);
      } catch {
        // handled
      } finally {
        await assert.rejects(
          timeout(1).run(async () => {
            self.cancel();
            await sleep(2);
          }),
          (e) => e instanceof CancelledError && !(e instanceof TimeoutError),
        );
      }
      assert.equal(self.cancelling(), 2);
      self.uncancel();
      self.uncancel();
    });
  },
);

// ---- reschedule ------------------------------------------------------------

loopTest(
  "Timeout.reschedule() moves the deadline, null removes it",
  async ({ loop }) => {
    const entered = loop.createFuture<Timeout>();
    const deadline1 = loop.time() + 10;
    const deadline2 = deadline1 + 20;
    const task = loop.createTask(async () => {
      await timeoutAt(deadline1).run(async (cm) => {
        entered.setResult(cm);
        await sleep(50);
      });
    });
    await inTask(loop, async () => {
      const cm = await entered;
      assert.equal(cm.when(), deadline1);
      cm.reschedule(deadline2);
      assert.equal(cm.when(), deadline2);
      cm.reschedule(null);
      assert.equal(cm.when(), null);
      task.cancel();
      await assert.rejects(async () => await task, CancelledError);
      assert.equal(cm.expired(), false);
    });
  },
);

loopTest(
  "Timeout.reschedule() later extends the block past the first deadline",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const cm = timeout(0.01);
      await cm.run(async () => {
        cm.reschedule(loop.time() + 1);
        await sleep(0.5);
      });
      assert.equal(cm.expired(), false);
      near(loop.time(), t0 + 0.5);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "Timeout.reschedule() sooner or into the past fires accordingly",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const t0 = loop.time();
      const sooner = timeout(10);
      await assert.rejects(
        sooner.run(async () => {
          sooner.reschedule(loop.time() + 0.25);
          await sleep(5);
        }),
        TimeoutError,
      );
      near(loop.time(), t0 + 0.25);
      const past = timeout(10);
      await assert.rejects(
        past.run(async () => {
          past.reschedule(loop.time() - 1);
          await sleep(0);
        }),
        TimeoutError,
      );
      near(loop.time(), t0 + 0.25);
    });
  },
  { virtualOnly: true },
);

loopTest(
  "Timeout.reschedule() outside the active block is a RuntimeError",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const fresh = timeout(1);
      assert.throws(() => fresh.reschedule(null), /has not been entered/);
      assert.throws(() => fresh.reschedule(null), RuntimeError);

      const finished = timeout(1);
      await finished.run(() => sleep(0));
      assert.throws(
        () => finished.reschedule(null),
        /Cannot change state of finished Timeout/,
      );

      const expired = timeout(0.01);
      let duringExpiry: unknown;
      await assert.rejects(
        expired.run(async () => {
          try {
            await sleep(1);
          } finally {
            duringExpiry = await caught(() => expired.reschedule(null));
          }
        }),
        TimeoutError,
      );
      assert.match(String(duringExpiry), /expiring/);
      assert.throws(
        () => expired.reschedule(null),
        /Cannot change state of expired Timeout/,
      );
    });
  },
);

// ---- misuse ----------------------------------------------------------------

loopTest(
  "Timeout.run() twice is a RuntimeError and leaves the task alone",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const cm = timeout(1);
      await cm.run(() => sleep(0));
      await assert.rejects(cm.run(() => sleep(0)), /already been entered/);
      let nested: unknown;
      const twice = timeout(1);
      await twice.run(async () => {
        nested = await caught(() => twice.run(async () => {}));
      });
      assert.ok(nested instanceof RuntimeError);
      assert.equal(currentTask()!.cancelling(), 0);
    });
  },
);

loopTest(
  "Timeout.run() outside a task is a RuntimeError",
  async ({ loop }) => {
    const called = loop.createFuture<void>();
    let attempt: Promise<unknown> | null = null;
    loop.callSoon(() => {
      attempt = timeoutAt(null).run(() => 1);
      called.setResult();
    });
    await inTask(loop, async () => {
      await called;
      await assert.rejects(attempt!, /should be used inside a task/);
    });
  },
);

Deno.test("timeout() without a running loop is a RuntimeError", async () => {
  assert.throws(() => timeout(1), RuntimeError);
  await assert.rejects(timeoutAt(1).run(() => 1), RuntimeError);
});

loopTest(
  "timeout(), timeoutAt(), reschedule() and run() refuse bad arguments",
  async ({ loop }) => {
    await inTask(loop, async () => {
      assert.throws(() => timeout("1" as unknown as number), TypeError);
      assert.throws(() => timeout(NaN), RangeError);
      assert.throws(() => timeoutAt({} as unknown as number), TypeError);
      assert.throws(() => timeoutAt(NaN), RangeError);
      assert.throws(() => new Timeout("soon" as unknown as number), TypeError);
      const cm = timeout(1);
      await assert.rejects(
        cm.run(42 as unknown as () => void),
        TypeError,
      );
      // The refused run() did not enter: the Timeout is still usable.
      await cm.run(async (self) => {
        assert.throws(
          () => self.reschedule("2" as unknown as number),
          TypeError,
        );
        assert.throws(() => self.reschedule(NaN), RangeError);
        assert.equal(self.when(), cm.when());
        await sleep(0);
      });
      assert.equal(cm.expired(), false);
      assert.equal(await timeout(1).run(() => "usable"), "usable");
    });
  },
);

// ---- repr ------------------------------------------------------------------

loopTest(
  "Timeout.toString() shows the state like asyncio's repr",
  async ({ loop }) => {
    await inTask(loop, async () => {
      assert.equal(String(timeout(1)), "<Timeout [created]>");
      await timeout(10).run(() => {
        // inside: active, with the deadline rounded to 3 places
      });
      const active = timeout(10);
      await active.run(() => {
        assert.match(
          String(active),
          /^<Timeout \[active\] when=\d+(\.\d{1,3})?>$/,
        );
      });
      assert.equal(String(active), "<Timeout [finished]>");
      const disabled = timeout(null);
      await disabled.run(() => {
        assert.equal(String(disabled), "<Timeout [active] when=null>");
      });
      const expired = timeout(0.01);
      await assert.rejects(expired.run(() => sleep(1)), TimeoutError);
      assert.equal(String(expired), "<Timeout [expired]>");
    });
  },
);

// ---- with other tasks ------------------------------------------------------

loopTest(
  "a timeout in one task does not disturb another task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const other = createTask(() => sleep(0.05, "other"));
      await assert.rejects(timeout(0.01).run(() => sleep(1)), TimeoutError);
      assert.equal(await other, "other");
      assert.equal(other.cancelling(), 0);
    });
  },
);

loopTest(
  "a timeout around awaiting a task cancels that task",
  async ({ loop }) => {
    await inTask(loop, async () => {
      const child = createTask(() => sleep(10));
      await assert.rejects(timeout(0.01).run(() => child), TimeoutError);
      assert.equal(child.cancelled(), true);
    });
  },
);
