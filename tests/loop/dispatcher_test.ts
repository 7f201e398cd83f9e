/**
 * The readiness dispatcher's queue: drained in order, and a drain whose
 * scheduler throws loses nothing and leaves the queue usable.
 */
import assert from "node:assert/strict";
import { Dispatcher } from "../../loop/core/dispatcher.ts";

type Callback = (...args: unknown[]) => void;

Deno.test("Dispatcher.drain hands over events in the order they were posted", () => {
  const dispatcher = new Dispatcher(() => {});
  const a: Callback = () => {};
  const b: Callback = () => {};
  dispatcher.post(a, 1);
  dispatcher.post(b, 2);
  const seen: unknown[] = [];
  dispatcher.drain((callback, args) => seen.push(callback, ...args), () => {});
  assert.deepEqual(seen, [a, 1, b, 2]);
  assert.equal(dispatcher.hasEvents, false);
});

Deno.test("Dispatcher.drain: a scheduler that throws keeps the rest queued, ahead of later posts", () => {
  const dispatcher = new Dispatcher(() => {});
  const names = new Map<Callback, string>();
  const make = (name: string): Callback => {
    const callback: Callback = () => {};
    names.set(callback, name);
    return callback;
  };
  const [a, b, c, late] = ["a", "b", "c", "late"].map(make);
  dispatcher.post(a);
  dispatcher.post(b);
  dispatcher.post(c);
  assert.throws(
    () =>
      dispatcher.drain((callback) => {
        if (callback === a) dispatcher.post(late);
        if (callback === b) throw new Error("scheduler failed");
      }, () => {}),
    /scheduler failed/,
  );
  const order = (): string[] => {
    const seen: string[] = [];
    dispatcher.drain((callback) => seen.push(names.get(callback)!), () => {});
    return seen;
  };
  assert.deepEqual(order(), ["c", "late"]);
  // The queues are still two: what a drain's callbacks post waits for the
  // next drain instead of joining the one running.
  const d = make("d");
  const e = make("e");
  dispatcher.post(d);
  const seen: string[] = [];
  dispatcher.drain((callback) => {
    seen.push(names.get(callback)!);
    if (callback === d) dispatcher.post(e);
  }, () => {});
  assert.deepEqual(seen, ["d"]);
  assert.deepEqual(order(), ["e"]);
});
