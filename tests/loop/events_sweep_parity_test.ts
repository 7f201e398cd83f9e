/**
 * asyncio's event loop, handle, timer and policy checks (CPython's
 * `test_events.py`, the parts without sockets, servers, pipes or
 * subprocesses) that the other suites did not yet hold, in this API:
 * `callLater()` hands its arguments to the callback at exactly its time;
 * `callSoonThreadsafe()` and `callSoon()` made from the loop's own code share
 * one FIFO queue; a signal that arrives while the loop waits for a far timer
 * wakes it at once; in debug mode a handle's source traceback leads, past
 * the loop's own frames, to the exact line that scheduled it; and in a Worker
 * (asyncio's thread that is not the main one) the default policy makes no
 * loop by itself, while a loop the worker makes and sets runs a coroutine
 * there. Loop-level tests run on every loop
 * kind with strict teardown; the signal test needs the real clock.
 */
import assert from "node:assert/strict";
import {
  DefaultEventLoopPolicy,
  EventLoop,
  workerFunction,
} from "../../mod.ts";
import { VirtualTimeEventLoop } from "../../testing/mod.ts";
import { loopTest } from "../_util.ts";

// ---- scheduling -------------------------------------------------------------------

loopTest(
  "callLater() passes its arguments to the callback, which runs at when() and can stop runForever()",
  async ({ loop }) => {
    const seen: [string, number][] = [];
    const start = loop.time();
    const timer = loop.callLater(
      0.1,
      (greeting: string, n: number) => {
        seen.push([greeting, n]);
        loop.stop();
      },
      "hello world",
      7,
    );
    await loop.runForever();
    assert.deepEqual(seen, [["hello world", 7]]);
    assert.ok(loop.time() >= timer.when() - 1e-6, "ran before its time");
    if (loop instanceof VirtualTimeEventLoop) {
      assert.equal(timer.when(), start + 0.1);
      assert.equal(loop.time(), start + 0.1);
    }
  },
);

loopTest(
  "callSoonThreadsafe() and callSoon() from the loop's own code run in the order they were made",
  async ({ loop }) => {
    const seen: string[] = [];
    const record = (tag: string) => {
      seen.push(tag);
      if (seen.length === 6) loop.stop();
    };
    // Before the loop runs, as asyncio's check does, then from a callback.
    loop.callSoonThreadsafe(record, "hello");
    loop.callSoon(record, "world");
    loop.callSoon(() => {
      loop.callSoon(record, "soon 1");
      loop.callSoonThreadsafe(record, "threadsafe 1");
      loop.callSoon(record, "soon 2");
      loop.callSoonThreadsafe(record, "threadsafe 2");
    });
    await loop.runForever();
    assert.deepEqual(seen, [
      "hello",
      "world",
      "soon 1",
      "threadsafe 1",
      "soon 2",
      "threadsafe 2",
    ]);
  },
);

// ---- debug mode -------------------------------------------------------------------

/** The package's own loop and policy code, skipped when naming a call site. */
const PACKAGE_CODE = ["loop/", "policy/"].map((room) =>
  new URL(`../../${room}`, import.meta.url).href
);

/** `file:line` of the first frame of `traceback` outside the package. */
function callSite(traceback: string): string {
  const frame = traceback.split("\n").find((line) =>
    line.includes("file://") &&
    !PACKAGE_CODE.some((code) => line.includes(code))
  );
  return frame?.match(/(file:\/\/[^\s()]+):(\d+):\d+/)?.slice(1, 3).join(":") ??
    `no frame outside the package in:\n${traceback}`;
}

/** `file:line` of the line that calls this function. */
function thisLine(): string {
  return callSite(new Error().stack!.split("\n").slice(2).join("\n"));
}

loopTest(
  "debug mode: a handle's sourceTraceback leads, past the loop's own frames, to the line that called callSoon(), callSoonThreadsafe(), callLater() or callAt()",
  async (fx) => {
    const { loop } = fx;
    loop.setDebug(true);
    const fail = () => {
      throw new Error("scheduled");
    };
    const lines: string[] = [];
    // Each call and the line it is on, side by side.
    loop.callSoon(fail), lines.push(thisLine());
    loop.callSoonThreadsafe(fail), lines.push(thisLine());
    loop.callLater(0, fail), lines.push(thisLine());
    loop.callAt(loop.time(), fail), lines.push(thisLine());
    loop.callLater(0.001, () => loop.stop());
    await loop.runForever();
    const contexts = fx.takeErrors();
    assert.equal(contexts.length, 4);
    assert.deepEqual(
      contexts.map((context) => callSite(String(context.sourceTraceback))),
      lines,
    );
    assert.match(lines[0], /events_sweep_parity_test\.ts:\d+$/);
  },
);

// ---- signals ----------------------------------------------------------------------

Deno.test("addSignalHandler() a signal that arrives while the loop waits for a far timer wakes it at once [EventLoop]", async () => {
  // Real clock only: on the virtual clock a signal listener is not I/O in
  // flight, so the loop would jump straight to the far timer.
  using loop = new EventLoop();
  let caught = 0;
  loop.addSignalHandler("SIGALRM", () => {
    caught++;
    loop.stop();
  });
  const far = loop.callLater(10, () => loop.stop());
  // Sent once the loop is waiting: Deno delivers it through the host.
  loop.callSoon(() => Deno.kill(Deno.pid, "SIGALRM"));
  const start = loop.time();
  try {
    await loop.runForever();
  } finally {
    far.cancel();
    loop.removeSignalHandler("SIGALRM");
  }
  assert.equal(caught, 1);
  assert.ok(loop.time() - start < 10, "the loop slept through the signal");
});

// ---- policies in a worker ---------------------------------------------------------

/** The source of a module whose exports run in an executor worker. */
function workerModuleSource(): string {
  const mod = new URL("../../mod.ts", import.meta.url).href;
  return `import {
  DefaultEventLoopPolicy,
  getEventLoop,
  getRunningLoop,
  newEventLoop,
  RuntimeError,
  setEventLoop,
  sleep,
} from "${mod}";

/** What the default policy and getEventLoop() do with no loop set. */
export function withoutALoop() {
  const outcome = (fn) => {
    try {
      const loop = fn();
      loop.close();
      return "made a loop";
    } catch (e) {
      return e instanceof RuntimeError ? "RuntimeError: " + e.message : String(e);
    }
  };
  return [
    outcome(() => new DefaultEventLoopPolicy().getEventLoop()),
    outcome(() => getEventLoop()),
  ];
}

/** Makes a loop, sets it, runs a coroutine on it, closes it. */
export function ownLoop() {
  const loop = newEventLoop();
  setEventLoop(loop);
  return loop.runUntilComplete(async () => {
    await sleep(0);
    return getRunningLoop() === loop && getEventLoop() === loop
      ? "hello"
      : "another loop";
  }).finally(() => {
    setEventLoop(null);
    loop.close();
  });
}
`;
}

loopTest(
  "DefaultEventLoopPolicy.getEventLoop() in a worker makes no loop (RuntimeError); a loop the worker makes and sets runs there",
  async ({ loop }) => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/policy_in_worker.js`;
      await Deno.writeTextFile(path, workerModuleSource());
      const module = new URL(`file://${path}`);
      const withoutALoop = workerFunction<[], string[]>(
        module,
        "withoutALoop",
      );
      const ownLoop = workerFunction<[], string>(module, "ownLoop");
      const refusals = await loop.runUntilComplete(
        loop.runInExecutor(null, withoutALoop),
      );
      assert.equal(refusals.length, 2);
      for (const refusal of refusals) {
        assert.match(
          refusal,
          /^RuntimeError: There is no current event loop in this worker/,
        );
      }
      assert.equal(
        await loop.runUntilComplete(loop.runInExecutor(null, ownLoop)),
        "hello",
      );
      await loop.runUntilComplete(() => loop.shutdownDefaultExecutor());
      // The main thread's default policy still makes its loop by itself.
      using made = new DefaultEventLoopPolicy().getEventLoop();
      assert.ok(made instanceof EventLoop);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
