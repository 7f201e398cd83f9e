/**
 * The virtual clock of `./testing`: `VirtualTimeEventLoop`,
 * `VirtualTimePolicy` and `useEventLoopPolicy`. Time starts at 0 and jumps to
 * the next timer when the loop has nothing else to do; timers due at the same
 * virtual time run in the order they were scheduled.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  createTask,
  DefaultEventLoopPolicy,
  getEventLoop,
  getEventLoopPolicy,
  getRunningLoop,
  newEventLoop,
  run,
  sleep,
  type TimerHandle,
} from "../../mod.ts";
import {
  useEventLoopPolicy,
  VirtualTimeEventLoop,
  VirtualTimePolicy,
} from "../../testing/mod.ts";
import { loopTest } from "../_util.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** The fixture's loop as the virtual loop it is (virtual-only tests). */
function virtual(loop: AbstractEventLoop): VirtualTimeEventLoop {
  assert.ok(loop instanceof VirtualTimeEventLoop);
  return loop;
}

/**
 * Stops `loop` after `ms` real milliseconds if it still runs, recording
 * "watchdog": a clock that fails to jump fails the test instead of hanging it.
 */
function watchdog(
  loop: AbstractEventLoop,
  events: string[],
  ms = 5000,
): Disposable {
  const id = setTimeout(() => {
    events.push("watchdog");
    loop.stop();
  }, ms);
  return { [Symbol.dispose]: () => clearTimeout(id) };
}

loopTest(
  "VirtualTimeEventLoop.time() starts at 0 and stays there without timers",
  async ({ loop }) => {
    const vloop = virtual(loop);
    assert.equal(vloop.time(), 0);
    for (let i = 0; i < 3; i++) vloop.callSoon(() => {});
    await vloop.runUntilComplete(async () => {
      await sleep(0);
    });
    assert.equal(vloop.time(), 0);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop jumps to each next timer exactly",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const seen: [string, number][] = [];
    vloop.callLater(10, () => seen.push(["10", vloop.time()]));
    vloop.callLater(5, () => seen.push(["5", vloop.time()]));
    vloop.callAt(7.5, () => seen.push(["7.5", vloop.time()]));
    vloop.callLater(20, () => vloop.stop());
    await vloop.runForever();
    assert.deepEqual(seen, [["5", 5], ["7.5", 7.5], ["10", 10]]);
    assert.equal(vloop.time(), 20);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop runs sleep(3600) without waiting an hour",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const events: string[] = [];
    using _watchdog = watchdog(vloop, events);
    const elapsed = await vloop.runUntilComplete(async () => {
      const start = vloop.time();
      await sleep(3600);
      return vloop.time() - start;
    });
    assert.equal(elapsed, 3600);
    assert.deepEqual(events, []);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop runs a day of periodic timers deterministically",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const ticks: number[] = [];
    const tick = () => {
      ticks.push(vloop.time());
      if (vloop.time() < 86_400) vloop.callLater(60, tick);
      else vloop.stop();
    };
    vloop.callLater(60, tick);
    await vloop.runForever();
    assert.equal(ticks.length, 1440);
    assert.equal(ticks[0], 60);
    assert.equal(ticks.at(-1), 86_400);
    assert.ok(ticks.every((t, i) => t === 60 * (i + 1)));
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop does not move the clock while callbacks are ready",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const times: number[] = [];
    let timerAt = -1;
    let steps = 0;
    const step = () => {
      times.push(vloop.time());
      if (++steps < 100) vloop.callSoon(step);
    };
    vloop.callLater(1, () => {
      timerAt = steps;
      vloop.stop();
    });
    vloop.callSoon(step);
    await vloop.runForever();
    assert.equal(timerAt, 100, "the timer ran before the chain finished");
    assert.ok(times.every((t) => t === 0));
    assert.equal(vloop.time(), 1);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop does not jump for cancelled timers",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const seen: number[] = [];
    vloop.callLater(5, () => seen.push(5)).cancel();
    vloop.callLater(10, () => {
      seen.push(vloop.time());
      vloop.stop();
    });
    await vloop.runForever();
    assert.deepEqual(seen, [10]);
    // Only a cancelled timer left: the loop waits instead of jumping to it.
    vloop.callLater(100, () => seen.push(100)).cancel();
    const events: string[] = [];
    const outside = setTimeout(() => {
      events.push("outside");
      vloop.callSoonThreadsafe(() => vloop.stop());
    }, 5);
    using _watchdog = watchdog(vloop, events);
    try {
      await vloop.runForever();
    } finally {
      clearTimeout(outside);
    }
    assert.deepEqual(events, ["outside"]);
    assert.equal(vloop.time(), 10);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop runs timers due at the same time in scheduling order",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const order: number[] = [];
    // Scheduled out of time order, mixing callLater and callAt, across a
    // heap that grows well past its first allocation.
    for (let i = 0; i < 300; i++) {
      const when = [3, 1, 2][i % 3];
      if (i % 2 === 0) vloop.callAt(when, () => order.push(i));
      else vloop.callLater(when, () => order.push(i));
    }
    vloop.callLater(4, () => vloop.stop());
    await vloop.runForever();
    const expected = [1, 2, 3].flatMap((when) =>
      Array.from({ length: 300 }, (_, i) => i).filter((i) =>
        [3, 1, 2][i % 3] === when
      )
    );
    assert.deepEqual(order, expected);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop keeps scheduling order at equal times after cancelled timers are purged",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const order: number[] = [];
    const handles: TimerHandle[] = [];
    for (let i = 0; i < 1000; i++) {
      handles.push(vloop.callLater(1 + (i % 3), () => order.push(i)));
    }
    // Cancel most, so the loop rebuilds its heap before running them.
    handles.forEach((handle, i) => {
      if (i % 5 !== 0) handle.cancel();
    });
    vloop.callLater(10, () => vloop.stop());
    await vloop.runForever();
    const live = Array.from({ length: 1000 }, (_, i) => i).filter((i) =>
      i % 5 === 0
    );
    const expected = [0, 1, 2].flatMap((k) => live.filter((i) => i % 3 === k));
    assert.deepEqual(order, expected);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop.advance() moves the clock forward",
  async ({ loop }) => {
    const vloop = virtual(loop);
    vloop.advance(2.5);
    assert.equal(vloop.time(), 2.5);
    const timer = vloop.callLater(1, () => {});
    assert.equal(timer.when(), 3.5);
    vloop.advance(0);
    assert.equal(vloop.time(), 2.5);
    const seen: [string, number][] = [];
    vloop.callLater(10, () => seen.push(["a", vloop.time()]));
    vloop.callLater(20, () => seen.push(["b", vloop.time()]));
    vloop.callLater(30, () => vloop.stop());
    // From inside the loop: timers now overdue run next, at the new time.
    vloop.callSoon(() => vloop.advance(15));
    await vloop.runForever();
    assert.deepEqual(seen, [["a", 17.5], ["b", 22.5]]);
    assert.equal(vloop.time(), 32.5);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop.advance() rejects negative, NaN and non-number amounts",
  ({ loop }) => {
    const vloop = virtual(loop);
    vloop.advance(1);
    assert.throws(() => vloop.advance(-1), RangeError);
    assert.throws(() => vloop.advance(-0.001), RangeError);
    assert.throws(() => vloop.advance(NaN), RangeError);
    assert.throws(() => vloop.advance("1" as Loose), TypeError);
    assert.throws(() => vloop.advance(undefined as Loose), TypeError);
    assert.equal(vloop.time(), 1);
  },
  { virtualOnly: true },
);

loopTest(
  "VirtualTimeEventLoop fires timers far ahead (past 2^24 s, where the clock resolution rounds away)",
  async ({ loop }) => {
    const vloop = virtual(loop);
    const events: string[] = [];
    using _ = watchdog(vloop, events);
    const year = 365 * 24 * 3600;
    await vloop.runUntilComplete(async () => {
      events.push(await sleep(2e7, "200 days"));
      events.push(await sleep(100 * year, "a century later"));
    });
    assert.deepEqual(events, ["200 days", "a century later"]);
    assert.equal(vloop.time(), 2e7 + 100 * year);
  },
  { virtualOnly: true },
);

Deno.test("useEventLoopPolicy() sets a policy and restores the previous one on dispose", () => {
  const before = getEventLoopPolicy();
  const outer = new VirtualTimePolicy();
  const inner = new DefaultEventLoopPolicy();
  {
    using _outer = useEventLoopPolicy(outer);
    assert.equal(getEventLoopPolicy(), outer);
    {
      using _inner = useEventLoopPolicy(inner);
      assert.equal(getEventLoopPolicy(), inner);
    }
    assert.equal(getEventLoopPolicy(), outer);
  }
  assert.equal(getEventLoopPolicy(), before);
});

Deno.test("useEventLoopPolicy() restores the previous policy when the body throws", () => {
  const before = getEventLoopPolicy();
  const failure = new Error("body failed");
  assert.throws(() => {
    using _policy = useEventLoopPolicy(new VirtualTimePolicy());
    assert.ok(getEventLoopPolicy() instanceof VirtualTimePolicy);
    throw failure;
  }, (e) => e === failure);
  assert.equal(getEventLoopPolicy(), before);
});

Deno.test("useEventLoopPolicy() rejects a non-policy with TypeError and changes nothing", () => {
  const before = getEventLoopPolicy();
  assert.throws(() => useEventLoopPolicy({} as Loose), TypeError);
  assert.equal(getEventLoopPolicy(), before);
});

Deno.test("VirtualTimePolicy makes newEventLoop(), getEventLoop() and run() use virtual loops", async () => {
  const policy = new VirtualTimePolicy();
  assert.ok(policy instanceof DefaultEventLoopPolicy);
  using _policy = useEventLoopPolicy(policy);
  using fresh = newEventLoop();
  assert.ok(fresh instanceof VirtualTimeEventLoop);
  const current = getEventLoop();
  try {
    assert.ok(current instanceof VirtualTimeEventLoop);
  } finally {
    current.close();
  }
  let ranOn: AbstractEventLoop | undefined;
  const times = await run(async () => {
    ranOn = getRunningLoop();
    const start = ranOn.time();
    await sleep(3600);
    return [start, ranOn.time()];
  });
  assert.ok(ranOn instanceof VirtualTimeEventLoop);
  assert.deepEqual(times, [0, 3600]);
  assert.equal(ranOn.isClosed(), true);
});

Deno.test("run() under VirtualTimePolicy orders concurrent sleeps by virtual time", async () => {
  using _policy = useEventLoopPolicy(new VirtualTimePolicy());
  const log = await run(async () => {
    const loop = getRunningLoop();
    const log: string[] = [];
    const sleeper = (name: string, delay: number) =>
      createTask(async () => {
        await sleep(delay);
        log.push(`${name}@${loop.time()}`);
      });
    const tasks = [
      sleeper("c", 3),
      sleeper("a", 1),
      sleeper("b1", 2),
      sleeper("b2", 2),
    ];
    for (const task of tasks) await task;
    return log;
  });
  assert.deepEqual(log, ["a@1", "b1@2", "b2@2", "c@3"]);
});
