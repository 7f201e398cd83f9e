/**
 * A view inside a running loop: the task tree (who awaits whom, and on
 * what), the loop's metrics, and the idle-aware test helpers.
 */
import assert from "node:assert/strict";
import {
  captureTaskTree,
  createTask,
  formatTaskTree,
  gather,
  getRunningLoop,
  Lock,
  newEventLoop,
  openConnection,
  Queue,
  run,
  shield,
  sleep,
  socketpair,
  startServer,
  type Task,
  TaskGroup,
  type TaskTreeNode,
  waitFor,
} from "../../mod.ts";
import {
  runUntilIdle,
  useEventLoopPolicy,
  VirtualTimeEventLoop,
  VirtualTimePolicy,
  waitAllTasksBlocked,
} from "../../testing/mod.ts";

function find(tree: TaskTreeNode[], name: string): TaskTreeNode | undefined {
  for (const node of tree) {
    if (node.name === name) return node;
    const inner = find(node.children, name);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

Deno.test("the tree follows a task awaiting a task, a gather, a shield, waitFor and a TaskGroup", async () => {
  using _policy = useEventLoopPolicy(new VirtualTimePolicy());
  await run(async () => {
    const leaf = (name: string, seconds: number) =>
      createTask(() => sleep(seconds), { name });
    const direct = leaf("direct", 10);
    const parent = createTask(() => direct, { name: "parent" });
    const g1 = leaf("g1", 11);
    const g2 = leaf("g2", 12);
    const gathering = createTask(() => gather(g1, g2), { name: "gathering" });
    const shielded = leaf("shielded", 13);
    const shielding = createTask(() => shield(shielded), { name: "shielding" });
    const timed = leaf("timed", 14);
    const waiting = createTask(() => waitFor(timed, 100), { name: "waiting" });
    let groupTasks: Task<unknown>[] = [];
    const grouping = createTask(() =>
      new TaskGroup().run((group) => {
        groupTasks = [
          group.createTask(() => sleep(15), { name: "member1" }),
          group.createTask(() => sleep(16), { name: "member2" }),
        ];
      }), { name: "grouping" });
    await waitAllTasksBlocked();

    const tree = captureTaskTree();
    const roots = tree.map((n) => n.name).sort();
    assert.deepEqual(
      roots,
      [
        "gathering",
        "grouping",
        "parent",
        "shielding",
        tree.find((n) => n.state === "running")!.name,
        "waiting",
      ].sort(),
    );
    const kids = (name: string) =>
      find(tree, name)!.children.map((c) => c.name);
    assert.deepEqual(kids("parent"), ["direct"]);
    assert.equal(find(tree, "parent")!.waitingOn, 'task "direct"');
    assert.deepEqual(kids("gathering"), ["g1", "g2"]);
    assert.equal(find(tree, "gathering")!.waitingOn, "gather(2)");
    assert.deepEqual(kids("shielding"), ["shielded"]);
    assert.equal(find(tree, "shielding")!.waitingOn, "shield");
    assert.deepEqual(kids("waiting"), ["timed"]);
    assert.deepEqual(kids("grouping"), ["member1", "member2"]);
    assert.equal(find(tree, "grouping")!.waitingOn, "TaskGroup (2 tasks)");
    assert.equal(find(tree, "g1")!.waitingOn, "sleep(11) until t=11.000");
    assert.equal(find(tree, "g1")!.state, "waiting");
    assert.deepEqual(find(tree, "g1")!.children, []);

    const text = formatTaskTree(tree);
    assert.match(
      text,
      /├── Task "gathering" waiting on gather\(2\)\n│ {3}├── Task "g1" waiting on sleep\(11\) until t=11\.000\n│ {3}└── Task "g2"/,
    );
    for (
      const t of [parent, gathering, shielding, waiting, grouping, direct, g1]
    ) t.cancel();
    for (const t of [g2, shielded, timed, ...groupTasks]) t.cancel();
    await sleep(0);
  });
});

Deno.test("what a task waits on: a lock, a queue, a stream read, a plain future, a promise outside the loop", async () => {
  await run(async () => {
    const loop = getRunningLoop();
    const lock = new Lock();
    await lock.acquire();
    const locker = createTask(() => lock.acquire(), { name: "locker" });
    const queue = new Queue<number>();
    const getter = createTask(() => queue.get(), { name: "getter" });
    const server = await startServer(
      async (r, w) => {
        await r.read(-1); // until the client's EOF
        w.close();
      },
      "127.0.0.1",
      0,
    );
    const [host, port] = server.sockets[0].getsockname();
    const [reader, writer] = await openConnection(host, port);
    const readerTask = createTask(() => reader.read(10), { name: "reader" });
    const [left, right] = socketpair();
    left.setblocking(false);
    const sockReader = createTask(() => loop.sockRecv(left, 10), {
      name: "sockReader",
    });
    const fut = loop.createFuture<number>();
    const plain = createTask(() => fut, { name: "plain" });
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    const outside = createTask(() => gate, { name: "outside" });
    createTask(async () => {}, { name: "ready" });
    const tree = captureTaskTree();
    assert.equal(find(tree, "ready")!.state, "ready");
    await waitAllTasksBlocked();
    const after = captureTaskTree();
    const on = (name: string) => find(after, name)!.waitingOn;
    assert.match(
      on("locker")!,
      /^Lock\.acquire\(\) on <Lock \[locked, waiters:1\]>/,
    );
    assert.match(on("getter")!, /^Queue\.get\(\) on <Queue/);
    assert.match(on("reader")!, /^StreamReader data from 127\.0\.0\.1:\d+/);
    assert.match(on("plain")!, /^<Future pending/);
    assert.match(on("sockReader")!, /^a socket read on <Socket/);
    assert.equal(find(after, "outside")!.state, "outside");
    assert.equal(on("outside"), "a promise outside the loop");
    assert.equal(find(after, "ready"), undefined); // done: not in the tree
    fut.setResult(1);
    release();
    lock.release();
    queue.putNowait(1);
    writer.close();
    right.send(new Uint8Array([1]));
    await gather(locker, getter, readerTask, plain, outside, sockReader);
    left.close();
    right.close();
    lock.release();
    server.close();
    await server.waitClosed();
  });
});

Deno.test("in debug mode a node says where its task was created", async () => {
  const loop = newEventLoop();
  loop.setDebug(true);
  await loop.runUntilComplete(async () => {
    const t = createTask(() => sleep(5), { name: "made-here" });
    await sleep(0);
    const node = find(captureTaskTree(), "made-here")!;
    assert.match(node.createdAt!, /introspection_test\.ts/);
    assert.match(formatTaskTree([node]), /\(created .*introspection_test/);
    t.cancel();
  });
  loop.close();
});

Deno.test("a cycle of tasks awaiting each other (through a shield) is shown once, each task in it", async () => {
  await run(async () => {
    const loop = getRunningLoop();
    const holder: Task<unknown>[] = [];
    const start = loop.createFuture<null>();
    const a = createTask(async () => {
      await start;
      await holder[1];
    }, { name: "a" });
    const b = createTask(async () => {
      await start;
      await shield(holder[0]); // a cycle: a awaits b, b awaits a (shielded)
    }, { name: "b" });
    holder.push(a, b);
    start.setResult(null);
    await waitAllTasksBlocked();
    const tree = captureTaskTree();
    const names: string[] = [];
    const walk = (n: TaskTreeNode) => {
      names.push(n.name);
      n.children.forEach(walk);
    };
    tree.forEach(walk);
    assert.equal(names.filter((n) => n === "a").length, 1);
    assert.equal(names.filter((n) => n === "b").length, 1);
    assert.match(formatTaskTree(tree), /Task "b" waiting on shield/);
    b.cancel(); // cancels the shield, not a; b ends, then a (awaiting b)
    await gather(a, b, { returnExceptions: true });
    assert(a.cancelled() && b.cancelled());
  });
});

Deno.test("metrics: iterations, callbacks, ready depth, timers, I/O by kind, and reset", async () => {
  const loop = newEventLoop();
  await loop.runUntilComplete(async () => {
    loop.resetMetrics();
    for (let i = 0; i < 10; i++) loop.callSoon(() => {});
    const cancelled = loop.callSoon(() => {});
    cancelled.cancel();
    const timer = loop.callLater(100, () => {});
    assert.equal(loop.metrics().ready, 11);
    assert.equal(loop.metrics().timers, 1);
    await sleep(0);
    const m = loop.metrics();
    assert(m.iterations >= 1);
    assert(m.callbacks >= 10);
    assert.equal(m.ready, 0);
    timer.cancel();
    assert.equal(loop.metrics().timers, 0);
    const server = await startServer(() => {}, "127.0.0.1", 0);
    const io = loop.metrics().io;
    assert.deepEqual(io.server, { inFlight: 0, waiting: 1 }); // one accept
    server.close();
    await server.waitClosed();
    loop.resetMetrics();
    assert.equal(loop.metrics().iterations, 0);
    assert.equal(loop.metrics().callbacks, 0);
    assert.equal(loop.metrics().lag, null);
  });
  loop.close();
});

Deno.test("lag: a callback that blocks the loop shows up as lateness", async () => {
  const loop = newEventLoop();
  loop.measureLag(true, 0.005);
  await loop.runUntilComplete(async () => {
    await sleep(0.02);
    const block = Date.now() + 30;
    while (Date.now() < block) { /* hold the loop for 30 ms */ }
    await sleep(0.02);
  });
  const lag = loop.metrics().lag!;
  assert(lag.samples >= 4);
  assert(lag.max >= 0.02, `max lag ${lag.max}`);
  assert(lag.min <= lag.p50 && lag.p50 <= lag.p99 && lag.p99 <= lag.max);
  assert(lag.mean > 0);
  assert.throws(() => loop.measureLag(true, 0), RangeError);
  assert.throws(() => loop.measureLag(true, NaN), RangeError);
  loop.measureLag(false);
  assert.equal(loop.metrics().lag, null);
  loop.close();
});

Deno.test("waitAllTasksBlocked() and runUntilIdle() are deterministic and do not move the clock", async () => {
  async function scenario(): Promise<string[]> {
    const loop = new VirtualTimeEventLoop();
    const log: string[] = [];
    await loop.runUntilComplete(async () => {
      const queue = new Queue<string>();
      const workers = [1, 2, 3].map((i) =>
        createTask(async () => {
          for (;;) {
            const item = await queue.get();
            log.push(`w${i}:${item}`);
            await sleep(0);
            log.push(`w${i}:done ${item}`);
          }
        })
      );
      const timer = createTask(async () => {
        await sleep(60);
        log.push("timer");
      });
      for (const item of ["a", "b", "c", "d"]) queue.putNowait(item);
      const t0 = loop.time();
      await waitAllTasksBlocked();
      log.push(`blocked at +${loop.time() - t0}`);
      assert.equal(queue.qsize(), 0);
      for (const w of workers) w.cancel();
      timer.cancel();
      await gather(...workers, timer, { returnExceptions: true });
    });
    const later: string[] = [];
    loop.callSoon(() => loop.callSoon(() => later.push("idle")));
    loop.callLater(5, () => later.push("not yet"));
    await runUntilIdle(loop);
    log.push(...later, `clock ${loop.time()}`);
    loop.close();
    return log;
  }
  const first = await scenario();
  assert.deepEqual(await scenario(), first);
  assert(first.includes("blocked at +0"));
  assert.equal(first.filter((e) => e.includes("done")).length, 4);
  assert(!first.includes("timer"));
  assert.deepEqual(first.slice(-2), ["idle", "clock 0"]);
});
