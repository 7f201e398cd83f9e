/**
 * Unix signals: `addSignalHandler()` / `removeSignalHandler()`, and the
 * `Signals` table. Ported from the checks of CPython's `test_unix_events.py`
 * (`SelectorEventLoopSignalTests`: add/remove semantics and return values,
 * invalid and uncatchable signals, coroutines refused, closed loop, close()
 * removing handlers) and `test_events.py` (real delivery, handler arguments),
 * plus what Deno adds: a removed SIGINT handler gives Ctrl-C back, listeners
 * neither keep the process alive nor hold the virtual clock. Signals are
 * really delivered (`Deno.kill(Deno.pid, ...)`, or to a child).
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type AbstractEventLoop,
  EventLoop,
  getRunningLoop,
  Handle,
  RuntimeError,
  signalName,
  signalNumber,
  Signals,
  sleep,
} from "../../mod.ts";
import { loopTest } from "../_util.ts";

/**
 * A safety net for tests that wait for a signal: if the loop still runs
 * after `ms`, records "watchdog" and stops it, so a lost signal fails the
 * test instead of hanging it.
 */
function watchdog(
  loop: AbstractEventLoop,
  events: unknown[],
  ms = 5000,
): Disposable {
  const id = setTimeout(() => {
    events.push("watchdog");
    loop.stop();
  }, ms);
  return { [Symbol.dispose]: () => clearTimeout(id) };
}

// ---- delivery -------------------------------------------------------------------

loopTest(
  "addSignalHandler() runs the callback on the loop, with its args, in the context of the call, when the signal arrives",
  async ({ loop }) => {
    const store = new AsyncLocalStorage<string>();
    const events: unknown[] = [];
    store.run("at registration", () =>
      loop.addSignalHandler(
        "SIGUSR1",
        (a: string, b: number) => {
          events.push([a, b, store.getStore(), getRunningLoop() === loop]);
          loop.stop();
        },
        "a",
        1,
      ));
    loop.callSoon(() =>
      store.run("at delivery", () => Deno.kill(Deno.pid, "SIGUSR1"))
    );
    using _ = watchdog(loop, events);
    await loop.runForever();
    assert.deepEqual(events, [["a", 1, "at registration", true]]);
    assert.equal(loop.removeSignalHandler("SIGUSR1"), true);
  },
);

loopTest(
  "addSignalHandler() a number and its name are one signal; a second add replaces the first",
  async ({ loop }) => {
    const events: unknown[] = [];
    loop.addSignalHandler(Signals.SIGUSR2, () => events.push("first"));
    loop.addSignalHandler("SIGUSR2", () => {
      events.push("second");
      loop.stop();
    });
    loop.callSoon(() => Deno.kill(Deno.pid, "SIGUSR2"));
    using _ = watchdog(loop, events);
    await loop.runForever();
    assert.deepEqual(events, ["second"]);
    assert.equal(loop.removeSignalHandler(12), true);
    assert.equal(loop.removeSignalHandler("SIGUSR2"), false);
  },
);

loopTest(
  "addSignalHandler() a handler that throws reaches the exception handler and the loop keeps running",
  async (fx) => {
    const { loop } = fx;
    const events: unknown[] = [];
    const boom = new Error("boom");
    loop.addSignalHandler("SIGUSR1", function failing() {
      events.push("handler");
      loop.callSoon(() => {
        events.push("after");
        loop.stop();
      });
      throw boom;
    });
    loop.callSoon(() => Deno.kill(Deno.pid, "SIGUSR1"));
    using _ = watchdog(loop, events);
    await loop.runForever();
    assert.deepEqual(events, ["handler", "after"]);
    const errors = fx.takeErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].exception, boom);
    assert.match(errors[0].message, /Exception in callback failing/);
    assert.ok(errors[0].handle instanceof Handle);
  },
);

loopTest(
  "addSignalHandler() signals delivered twice run the handler twice",
  async ({ loop }) => {
    const events: unknown[] = [];
    let count = 0;
    loop.addSignalHandler("SIGHUP", () => {
      events.push(++count);
      if (count === 1) Deno.kill(Deno.pid, "SIGHUP");
      else loop.stop();
    });
    loop.callSoon(() => Deno.kill(Deno.pid, "SIGHUP"));
    using _ = watchdog(loop, events);
    await loop.runForever();
    assert.deepEqual(events, [1, 2]);
  },
);

loopTest(
  "addSignalHandler() a listener does not hold the virtual clock",
  async ({ loop }) => {
    loop.addSignalHandler("SIGUSR1", () => {});
    const elapsed = await loop.runUntilComplete(async () => {
      const start = loop.time();
      await sleep(3600);
      return loop.time() - start;
    });
    assert.equal(elapsed, 3600);
  },
  { virtualOnly: true },
);

// ---- bad input ---------------------------------------------------------------------

loopTest(
  "addSignalHandler() refuses invalid, uncatchable and unsupported signals with RangeError",
  ({ loop }) => {
    const cases: [unknown, RegExp][] = [
      ["SIGFOO", /invalid signal name "SIGFOO"/],
      ["sigint", /invalid signal name/],
      ["", /invalid signal name/],
      [0, /invalid signal number 0/],
      [-2, /invalid signal number -2/],
      [65, /invalid signal number 65/],
      [2.5, /invalid signal number 2.5/],
      [NaN, /invalid signal number NaN/],
      [40, /real-time signal/],
      ["SIGKILL", /SIGKILL cannot be caught/],
      [9, /SIGKILL cannot be caught/],
      ["SIGSTOP", /SIGSTOP cannot be caught/],
      [19, /SIGSTOP cannot be caught/],
      ["SIGSEGV", /Deno refuses to listen for fault signals/],
      ["SIGFPE", /Deno refuses/],
      ["SIGBREAK", /only on Windows/],
    ];
    for (const [sig, message] of cases) {
      assert.throws(
        () => loop.addSignalHandler(sig as string, () => {}),
        (e) => e instanceof RangeError && message.test(e.message),
        `addSignalHandler(${String(sig)})`,
      );
    }
    for (const sig of [null, undefined, {}, 2n, ["SIGINT"]]) {
      assert.throws(
        () => loop.addSignalHandler(sig as string, () => {}),
        TypeError,
      );
    }
  },
);

loopTest(
  "addSignalHandler() refuses a callback that is not a plain function with TypeError",
  ({ loop }) => {
    for (const callback of [null, "f", 1, {}]) {
      assert.throws(
        () => loop.addSignalHandler("SIGUSR1", callback as () => void),
        (e) =>
          e instanceof TypeError && /a function was expected/.test(e.message),
      );
    }
    assert.throws(
      () => loop.addSignalHandler("SIGUSR1", async () => {}),
      (e) =>
        e instanceof TypeError &&
        /coroutines cannot be used with addSignalHandler\(\)/.test(e.message),
    );
    assert.throws(
      () => loop.addSignalHandler("SIGUSR1", async function* () {}),
      TypeError,
    );
    assert.equal(loop.removeSignalHandler("SIGUSR1"), false);
  },
);

loopTest(
  "removeSignalHandler() returns false when no handler is installed and checks the signal",
  ({ loop }) => {
    assert.equal(loop.removeSignalHandler("SIGUSR1"), false);
    assert.equal(loop.removeSignalHandler(Signals.SIGTERM), false);
    assert.equal(loop.removeSignalHandler("SIGKILL"), false);
    assert.throws(() => loop.removeSignalHandler("SIGFOO"), RangeError);
    assert.throws(() => loop.removeSignalHandler(0), RangeError);
    assert.throws(() => loop.removeSignalHandler({} as string), TypeError);
    loop.addSignalHandler("SIGTERM", () => {});
    assert.equal(loop.removeSignalHandler(15), true);
    assert.equal(loop.removeSignalHandler(15), false);
  },
);

loopTest(
  "addSignalHandler() on a closed loop raises RuntimeError (after checking the callback and the signal)",
  ({ loop }) => {
    loop.close();
    assert.throws(
      () => loop.addSignalHandler("SIGUSR1", () => {}),
      (e) =>
        e instanceof RuntimeError && /Event loop is closed/.test(e.message),
    );
    assert.throws(
      () => loop.addSignalHandler("SIGUSR1", async () => {}),
      TypeError,
    );
    assert.throws(() => loop.addSignalHandler("SIGKILL", () => {}), RangeError);
    assert.equal(loop.removeSignalHandler("SIGUSR1"), false);
  },
);

loopTest(
  "close() removes every signal handler",
  ({ loop }) => {
    loop.addSignalHandler("SIGUSR1", () => {});
    loop.addSignalHandler("SIGUSR2", () => {});
    loop.addSignalHandler(Signals.SIGHUP, () => {});
    loop.close();
    for (const sig of ["SIGUSR1", "SIGUSR2", "SIGHUP"]) {
      assert.equal(loop.removeSignalHandler(sig), false, sig);
    }
  },
);

Deno.test("addSignalHandler() on loops without Deno I/O is NotImplementedError", async () => {
  const { BaseEventLoop, NotImplementedError } = await import("../../mod.ts");
  const loop = new BaseEventLoop();
  try {
    assert.throws(
      () => loop.addSignalHandler("SIGINT", () => {}),
      NotImplementedError,
    );
  } finally {
    loop.close();
  }
});

// ---- the table ----------------------------------------------------------------------

Deno.test("Signals, signalName() and signalNumber() map Linux names and numbers", () => {
  assert.equal(Signals.SIGINT, 2);
  assert.equal(Signals.SIGTERM, 15);
  assert.equal(Signals.SIGCHLD, 17);
  assert.equal(signalNumber("SIGUSR1"), 10);
  assert.equal(signalName(10), "SIGUSR1");
  assert.equal(signalName("SIGIOT"), "SIGABRT");
  assert.equal(signalName("SIGPOLL"), "SIGIO");
  assert.equal(signalName(9), "SIGKILL");
  assert.throws(() => signalNumber("SIGNOPE"), RangeError);
  assert.throws(() => signalName(99), RangeError);
  assert.throws(() => signalNumber(null as unknown as string), TypeError);
  assert.ok(Object.isFrozen(Signals));
  // Every name is one Deno knows.
  for (const name of Object.keys(Signals)) {
    assert.equal(typeof signalNumber(name), "number");
  }
});

// ---- in a child process ---------------------------------------------------------------

const child = new URL("./_signal_child.ts", import.meta.url);

/**
 * Starts the child in `mode` and reads stdout until `line` is printed; the
 * child is killed (SIGKILL) if it still runs after 10 s.
 */
async function startChild(mode: string, line: string) {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", child.pathname, mode],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A child that ignores what it should not is killed, and the test fails.
  const guard = setTimeout(() => process.kill("SIGKILL"), 10_000);
  const reader = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let out = "";
  while (!out.includes(`${line}\n`)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  return {
    process,
    out,
    async finish() {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const stderr = new TextDecoder().decode(
        (await new Response(process.stderr).arrayBuffer()) as ArrayBuffer,
      );
      const status = await process.status;
      clearTimeout(guard);
      return { status, out, stderr };
    },
  };
}

for (
  const [mode, what] of [
    ["removed", "removing the last SIGINT handler"],
    ["closed", "close()"],
  ]
) {
  Deno.test(`removeSignalHandler() ${what} gives SIGINT its default action back (child process)`, async () => {
    const started = await startChild(mode, "ready");
    assert.match(started.out, /ready\n/);
    started.process.kill("SIGINT");
    const { status, out, stderr } = await started.finish();
    assert.doesNotMatch(out, /handler ran/, stderr);
    assert.equal(status.success, false, out + stderr);
    assert.ok(
      status.signal === "SIGINT" || status.code === 130,
      `killed by SIGINT, got ${JSON.stringify(status)}`,
    );
  });
}

Deno.test("addSignalHandler() a signal listener does not keep the process alive (child process)", async () => {
  const started = await startChild("idle", "done");
  const { status, out, stderr } = await started.finish();
  assert.equal(status.code, 0, stderr);
  assert.equal(out, "done\n");
});

Deno.test("EventLoop.addSignalHandler() is an EventLoop method", () => {
  assert.equal(typeof EventLoop.prototype.addSignalHandler, "function");
  assert.equal(typeof EventLoop.prototype.removeSignalHandler, "function");
});
