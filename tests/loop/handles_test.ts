/**
 * `Handle` and `TimerHandle`: what `callSoon`, `callLater` and `callAt`
 * return. Ported from the checks of CPython's `HandleTests` and `TimerTests`
 * (`test_events.py`).
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  Context,
  type ExceptionContext,
  Handle,
  sleep,
  TimerHandle,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { gcUntil, loopTest } from "../_util.ts";

/** A stand-in for the loop a handle reports to. */
function fakeOwner(debug = false) {
  const owner = {
    errors: [] as ExceptionContext[],
    cancelledTimers: [] as TimerHandle[],
    callExceptionHandler(context: ExceptionContext) {
      owner.errors.push(context);
    },
    getDebug: () => debug,
    _timerHandleCancelled(handle: TimerHandle) {
      owner.cancelledTimers.push(handle);
    },
  };
  return owner;
}

function tick(..._args: unknown[]): void {}

loopTest(
  "callSoon() returns a Handle; callLater() and callAt() return TimerHandles",
  ({ loop }) => {
    const soon = loop.callSoon(tick);
    const threadsafe = loop.callSoonThreadsafe(tick);
    const later = loop.callLater(1, tick);
    const at = loop.callAt(loop.time() + 1, tick);
    for (const handle of [soon, threadsafe]) {
      assert.ok(handle instanceof Handle);
      assert.ok(!(handle instanceof TimerHandle));
    }
    for (const handle of [later, at]) {
      assert.ok(handle instanceof TimerHandle);
      assert.ok(handle instanceof Handle);
    }
    for (const handle of [soon, threadsafe, later, at]) handle.cancel();
  },
);

loopTest(
  "Handle.cancel() is idempotent and cancelled() reports it",
  async ({ loop }) => {
    const seen: string[] = [];
    const handle = loop.callSoon(() => seen.push("ran"));
    assert.equal(handle.cancelled(), false);
    handle.cancel();
    assert.equal(handle.cancelled(), true);
    handle.cancel();
    assert.equal(handle.cancelled(), true);
    await loop.runUntilComplete(async () => {});
    assert.deepEqual(seen, []);
  },
);

Deno.test("Handle.cancel() drops the callback and its arguments", async () => {
  const owner = fakeOwner();
  const collected: string[] = [];
  const registry = new FinalizationRegistry<string>((name) =>
    collected.push(name)
  );
  // Built in a plain function, so no suspended frame of this test holds them.
  const make = (): Handle => {
    const arg = {};
    const callback = () => arg;
    registry.register(arg, "argument");
    registry.register(callback, "callback");
    return new Handle(callback, [arg], owner);
  };
  const handle = make();
  handle.cancel();
  assert.ok(
    await gcUntil(() => collected.length === 2),
    "a cancelled handle keeps its callback or arguments alive",
  );
  assert.deepEqual(collected.sort(), ["argument", "callback"]);
  assert.equal(handle.cancelled(), true);
});

loopTest(
  "Handle.toString() names the callback, and its arguments only in debug mode",
  ({ loop }) => {
    function helper() {}
    // Arguments may be secrets: asyncio shows them only in debug mode.
    const handle = loop.callSoon(tick, 1, "two", helper, { a: 1 }, null);
    assert.equal(handle.toString(), "<Handle tick()>");
    handle.cancel();
    assert.equal(handle.toString(), "<Handle cancelled>");
    assert.equal(Deno.inspect(handle), handle.toString());
    loop.setDebug(true);
    const shown = loop.callSoon(tick, 1, "two", helper, { a: 1 }, null);
    assert.match(
      shown.toString(),
      /^<Handle tick\(1, "two", helper, \{\.\.\.\}, null\) created at \S+handles_test\.ts:\d+:\d+>$/,
    );
    shown.cancel();
  },
);

loopTest(
  "Handle.toString() in debug mode keeps the description after cancel()",
  ({ loop }) => {
    loop.setDebug(true);
    const handle = loop.callSoon(tick, 1);
    handle.cancel();
    assert.match(
      handle.toString(),
      /^<Handle cancelled tick\(1\) created at \S+handles_test\.ts:\d+:\d+>$/,
    );
  },
);

loopTest(
  "TimerHandle.toString() shows when= before the callback",
  ({ loop }) => {
    const timer = loop.callAt(5, tick, "x");
    assert.equal(timer.toString(), "<TimerHandle when=5 tick()>");
    timer.cancel();
    assert.equal(timer.toString(), "<TimerHandle cancelled when=5>");
    assert.equal(Deno.inspect(timer), timer.toString());
  },
);

loopTest(
  "TimerHandle.when() is the absolute loop time it is due",
  ({ loop }) => {
    const at = loop.callAt(123.5, tick);
    assert.equal(at.when(), 123.5);
    const before = loop.time();
    const later = loop.callLater(10, tick);
    const after = loop.time();
    assert.ok(later.when() >= before + 10 && later.when() <= after + 10);
    if (loop instanceof VirtualTimeEventLoop) {
      loop.advance(2);
      assert.equal(loop.callLater(3, tick).when(), 5);
    }
    at.cancel();
    later.cancel();
    assert.equal(at.when(), 123.5, "cancel() keeps when()");
  },
);

loopTest(
  "TimerHandle.when() matches loop.time() when the callback runs",
  async ({ loop }) => {
    const seen: [number, number][] = [];
    const timer: TimerHandle = loop.callLater(0.002, () => {
      seen.push([timer.when(), loop.time()]);
      loop.stop();
    });
    await loop.runForever();
    assert.equal(seen.length, 1);
    const [when, now] = seen[0];
    assert.ok(now >= when - 1e-6);
    if (loop instanceof VirtualTimeEventLoop) assert.equal(now, when);
  },
);

Deno.test("TimerHandle.cancel() tells its loop once", () => {
  const owner = fakeOwner();
  const timer = new TimerHandle(1, tick, [], owner);
  timer.cancel();
  timer.cancel();
  assert.deepEqual(owner.cancelledTimers, [timer]);
  // A plain Handle has no timer bookkeeping to do.
  new Handle(tick, [], owner).cancel();
  assert.equal(owner.cancelledTimers.length, 1);
});

loopTest(
  "Handle.getContext() is the async context the callback runs in",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const record = () => seen.push(store.getStore());
    const ambient = store.run("ambient", () => loop.callSoon(record));
    const given = store.run("given", () => Context.current());
    const explicit = loop.callLater(0, record, { context: given });
    assert.ok(ambient.getContext() instanceof Context);
    assert.equal(ambient.getContext().run(() => store.getStore()), "ambient");
    assert.equal(explicit.getContext().run(() => store.getStore()), "given");
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    assert.deepEqual(seen, ["ambient", "given"]);
  },
);

Deno.test("new Handle() captures the current async context unless given one", () => {
  const owner = fakeOwner();
  const store = new AsyncLocalStorage<number>();
  const captured = store.run(1, () => new Handle(tick, [], owner));
  const given = store.run(2, () => Context.current());
  const explicit = store.run(3, () => new Handle(tick, [], owner, given));
  assert.equal(captured.getContext().run(() => store.getStore()), 1);
  assert.equal(explicit.getContext().run(() => store.getStore()), 2);
  assert.throws(
    () => new Handle(tick, [], owner, "not a context" as unknown as Context),
    TypeError,
  );
});

loopTest(
  "a failing callback is reported without its arguments, with them in debug mode",
  async (fx) => {
    function leaky(_token: string) {
      throw new Error("boom");
    }
    fx.loop.callSoon(leaky, "secret-token");
    await fx.loop.runUntilComplete(() => sleep(0));
    const [plain] = fx.takeErrors();
    assert.equal(plain.message, "Exception in callback leaky()");
    fx.loop.setDebug(true);
    fx.loop.callSoon(leaky, "secret-token");
    await fx.loop.runUntilComplete(() => sleep(0));
    const [debug] = fx.takeErrors();
    assert.equal(debug.message, 'Exception in callback leaky("secret-token")');
  },
);
