/**
 * Event loop policies and the module functions that go through them
 * (`getEventLoopPolicy`, `setEventLoopPolicy`, `getEventLoop`, `setEventLoop`,
 * `newEventLoop`, `getRunningLoop`). Ported from the checks of CPython's
 * `PolicyTests` and `GetEventLoopTestsMixin` (`test_events.py`). Every test
 * puts back the policy it changed and closes the loops it made.
 */
import assert from "node:assert/strict";
import {
  type AbstractEventLoop,
  AbstractEventLoopPolicy,
  DefaultEventLoopPolicy,
  EventLoop,
  getEventLoop,
  getEventLoopPolicy,
  getRunningLoop,
  newEventLoop,
  NotImplementedError,
  run,
  RuntimeError,
  setEventLoop,
  setEventLoopPolicy,
  sleep,
} from "../../mod.ts";
import { useEventLoopPolicy, VirtualTimePolicy } from "../../testing/mod.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** A default policy that records how it is used. */
class SpyPolicy extends DefaultEventLoopPolicy {
  calls: string[] = [];
  override newEventLoop(): AbstractEventLoop {
    this.calls.push("newEventLoop");
    return super.newEventLoop();
  }
  override setEventLoop(loop: AbstractEventLoop | null): void {
    this.calls.push(loop === null ? "setEventLoop(null)" : "setEventLoop");
    super.setEventLoop(loop);
  }
  override getEventLoop(): AbstractEventLoop {
    this.calls.push("getEventLoop");
    return super.getEventLoop();
  }
}

Deno.test("getEventLoopPolicy() is a DefaultEventLoopPolicy by default, the same each call", () => {
  const policy = getEventLoopPolicy();
  assert.equal(policy.constructor, DefaultEventLoopPolicy);
  assert.ok(policy instanceof AbstractEventLoopPolicy);
  assert.equal(getEventLoopPolicy(), policy);
});

Deno.test("setEventLoopPolicy() installs a policy; null restores a new default", () => {
  const before = getEventLoopPolicy();
  const mine = new VirtualTimePolicy();
  try {
    setEventLoopPolicy(mine);
    assert.equal(getEventLoopPolicy(), mine);
    setEventLoopPolicy(null);
    const fresh = getEventLoopPolicy();
    assert.notEqual(fresh, mine);
    assert.equal(fresh.constructor, DefaultEventLoopPolicy);
    assert.equal(getEventLoopPolicy(), fresh);
  } finally {
    setEventLoopPolicy(before);
  }
  assert.equal(getEventLoopPolicy(), before);
});

Deno.test("setEventLoopPolicy() with a non-policy throws TypeError and keeps the policy", () => {
  const before = getEventLoopPolicy();
  const lookalike = {
    getEventLoop() {},
    setEventLoop() {},
    newEventLoop() {},
  };
  try {
    for (const bad of [5, "policy", {}, lookalike, DefaultEventLoopPolicy]) {
      assert.throws(() => setEventLoopPolicy(bad as Loose), TypeError);
    }
    assert.equal(getEventLoopPolicy(), before);
  } finally {
    setEventLoopPolicy(before);
  }
});

Deno.test("AbstractEventLoopPolicy methods throw NotImplementedError", () => {
  const policy = new AbstractEventLoopPolicy();
  assert.throws(() => policy.getEventLoop(), NotImplementedError);
  assert.throws(() => policy.setEventLoop(null), NotImplementedError);
  assert.throws(() => policy.newEventLoop(), NotImplementedError);
});

Deno.test("DefaultEventLoopPolicy.getEventLoop() creates a loop on first call and returns it again", () => {
  const policy = new SpyPolicy();
  const loop = policy.getEventLoop();
  try {
    assert.ok(loop instanceof EventLoop);
    assert.equal(loop.isClosed(), false);
    assert.equal(policy.getEventLoop(), loop);
    // Created through newEventLoop() and made current with setEventLoop().
    assert.deepEqual(policy.calls, [
      "getEventLoop",
      "newEventLoop",
      "setEventLoop",
      "getEventLoop",
    ]);
  } finally {
    loop.close();
  }
});

Deno.test("DefaultEventLoopPolicy.newEventLoop() returns a new EventLoop each call without making it current", () => {
  const policy = new DefaultEventLoopPolicy();
  using current = new EventLoop();
  policy.setEventLoop(current);
  using a = policy.newEventLoop();
  using b = policy.newEventLoop();
  assert.ok(a instanceof EventLoop);
  assert.ok(b instanceof EventLoop);
  assert.notEqual(a, b);
  assert.notEqual(a, current);
  assert.equal(a.isClosed(), false);
  assert.equal(policy.getEventLoop(), current);
});

Deno.test("DefaultEventLoopPolicy.setEventLoop() sets the current loop; a non-loop throws TypeError", () => {
  const policy = new DefaultEventLoopPolicy();
  using loop = new EventLoop();
  policy.setEventLoop(loop);
  assert.equal(policy.getEventLoop(), loop);
  for (const bad of [5, "loop", {}, { callSoon() {} }]) {
    assert.throws(() => policy.setEventLoop(bad as Loose), TypeError);
  }
  assert.equal(policy.getEventLoop(), loop);
});

Deno.test("DefaultEventLoopPolicy.getEventLoop() after setEventLoop(null) throws RuntimeError", () => {
  const policy = new SpyPolicy();
  policy.setEventLoop(null);
  assert.throws(() => policy.getEventLoop(), RuntimeError);
  // It did not create a loop behind the caller's back.
  assert.equal(policy.calls.includes("newEventLoop"), false);
  using loop = new EventLoop();
  policy.setEventLoop(loop);
  assert.equal(policy.getEventLoop(), loop);
});

Deno.test("getEventLoop() outside a loop returns the policy's loop, created on the first call", () => {
  const policy = new DefaultEventLoopPolicy();
  using _policy = useEventLoopPolicy(policy);
  const loop = getEventLoop();
  try {
    assert.ok(loop instanceof EventLoop);
    assert.equal(getEventLoop(), loop);
    assert.equal(policy.getEventLoop(), loop);
  } finally {
    loop.close();
  }
});

Deno.test("setEventLoop() and newEventLoop() go through the current policy", () => {
  const policy = new SpyPolicy();
  using _policy = useEventLoopPolicy(policy);
  using loop = newEventLoop();
  assert.ok(loop instanceof EventLoop);
  setEventLoop(loop);
  assert.equal(getEventLoop(), loop);
  assert.deepEqual(policy.calls, [
    "newEventLoop",
    "setEventLoop",
    "getEventLoop",
  ]);
  using other = newEventLoop();
  assert.notEqual(other, loop);
  assert.equal(getEventLoop(), loop, "newEventLoop() does not set the loop");
});

Deno.test("setEventLoop(null) then getEventLoop() throws RuntimeError", () => {
  using _policy = useEventLoopPolicy(new DefaultEventLoopPolicy());
  setEventLoop(null);
  assert.throws(() => getEventLoop(), RuntimeError);
});

Deno.test("getEventLoop() in a coroutine or callback returns the running loop, not the policy's", async () => {
  const policy = new DefaultEventLoopPolicy();
  using _policy = useEventLoopPolicy(policy);
  using current = new EventLoop();
  using running = new EventLoop();
  setEventLoop(current);
  const seen: AbstractEventLoop[] = [];
  running.callSoon(() => seen.push(getEventLoop()));
  await running.runUntilComplete(async () => {
    seen.push(getEventLoop());
    await sleep(0);
    seen.push(getEventLoop());
  });
  assert.deepEqual(seen, [running, running, running]);
  assert.equal(getEventLoop(), current);
});

Deno.test("getEventLoop() in a running loop does not consult the policy", async () => {
  const refusal = new Error("the policy was asked");
  class RefusingPolicy extends AbstractEventLoopPolicy {
    override getEventLoop(): AbstractEventLoop {
      throw refusal;
    }
  }
  using _policy = useEventLoopPolicy(new RefusingPolicy());
  using loop = new EventLoop();
  const inside = await loop.runUntilComplete(async () => getEventLoop());
  assert.equal(inside, loop);
  assert.throws(() => getEventLoop(), (e) => e === refusal);
});

Deno.test("getRunningLoop() throws RuntimeError outside a loop, even with a current loop set", async () => {
  using _policy = useEventLoopPolicy(new DefaultEventLoopPolicy());
  using loop = new EventLoop();
  setEventLoop(loop);
  assert.throws(() => getRunningLoop(), {
    name: "RuntimeError",
    message: /no running event loop/,
  });
  assert.equal(
    await loop.runUntilComplete(async () => getRunningLoop()),
    loop,
  );
  assert.throws(() => getRunningLoop(), RuntimeError);
});

Deno.test("a DefaultEventLoopPolicy subclass (MyPolicy from asyncio's documentation) changes what newEventLoop(), getEventLoop() and run() produce", async () => {
  class MyLoop extends EventLoop {}
  class MyPolicy extends DefaultEventLoopPolicy {
    override newEventLoop(): AbstractEventLoop {
      return new MyLoop();
    }
  }
  using _policy = useEventLoopPolicy(new MyPolicy());
  using fresh = newEventLoop();
  assert.ok(fresh instanceof MyLoop);
  const current = getEventLoop();
  try {
    assert.ok(current instanceof MyLoop);
    assert.notEqual(current, fresh);
  } finally {
    current.close();
  }
  let ranOn: AbstractEventLoop | undefined;
  assert.equal(
    await run(async () => {
      ranOn = getRunningLoop();
      await sleep(0);
      return "done";
    }),
    "done",
  );
  assert.ok(ranOn instanceof MyLoop);
  assert.equal(ranOn.isClosed(), true);
});

Deno.test("the event loop policy belongs to its worker, as asyncio's loop to its thread", async () => {
  const dir = await Deno.makeTempDir();
  const mod = new URL("../../mod.ts", import.meta.url).href;
  const script = `${dir}/policy_worker.js`;
  await Deno.writeTextFile(
    script,
    `import { getEventLoopPolicy, DefaultEventLoopPolicy } from "${mod}";
self.postMessage(getEventLoopPolicy().constructor === DefaultEventLoopPolicy);
self.close();`,
  );
  using _policy = useEventLoopPolicy(new VirtualTimePolicy());
  const worker = new Worker(new URL(`file://${script}`), { type: "module" });
  try {
    const sawDefault = await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    assert.equal(sawDefault, true);
    assert.ok(getEventLoopPolicy() instanceof VirtualTimePolicy);
  } finally {
    worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});
