/**
 * A view inside a running loop: the pending tasks as a tree of who awaits
 * whom, each with what it waits on. The futures that tasks wait on are
 * labelled by the code that makes them (`sleep`, locks, queues, streams,
 * `gather`, `shield`, `TaskGroup`): a label says what the wait is, and a
 * composite future (a gather, a shield, a task group's wait) names the
 * futures it stands for, so the tree follows them to the tasks below.
 *
 * @module
 */
import type { AbstractEventLoop } from "./abstract_loop.ts";
import type { Future } from "./futures.ts";
import { creationSite } from "../base/format.ts";
import { getRunningLoop, state } from "./running.ts";
import { allTasks, currentTask, Task } from "./tasks.ts";
import { waitInfoOf } from "./wait_labels.ts";

/** One pending task in the tree. */
export interface TaskTreeNode {
  /** The task. */
  task: Task<unknown>;
  /** Its name. */
  name: string;
  /**
   * `running` (the current task), `ready` (scheduled to take its next
   * step), `waiting` (on a loop future) or `outside` (awaiting a promise
   * the loop does not know, such as a Deno call).
   */
  state: "running" | "ready" | "waiting" | "outside";
  /** What it waits on, in words; null when it is not waiting. */
  waitingOn: string | null;
  /** Where the task was created (debug mode only). */
  createdAt?: string;
  /** The tasks it waits on, through futures, gathers, shields and groups. */
  children: TaskTreeNode[];
  /**
   * True when the task appears elsewhere in the tree too (two tasks wait on
   * it): its children are listed at its first appearance only.
   */
  repeated?: boolean;
}

function labelOf(fut: Future<unknown>): string | null {
  const info = waitInfoOf(fut);
  if (info === undefined) return null;
  return typeof info.label === "string" ? info.label : info.label();
}

function describeWait(fut: Future<unknown>): string {
  if (fut instanceof Task) return `task ${JSON.stringify(fut.getName())}`;
  return labelOf(fut) ?? String(fut);
}

/** The pending tasks `fut` stands for, following composite futures. */
function tasksBehind(
  fut: Future<unknown>,
  out: Task<unknown>[],
  seen: Set<Future<unknown>>,
): void {
  if (seen.has(fut)) return;
  seen.add(fut);
  if (fut instanceof Task) {
    if (!fut.done()) out.push(fut);
    return;
  }
  const awaits = waitInfoOf(fut)?.awaits;
  if (awaits === undefined) return;
  for (const inner of awaits()) {
    tasksBehind(inner as Future<unknown>, out, seen);
  }
}

function stateOf(task: Task<unknown>, current: Task<unknown> | null) {
  if (task === current || state.stepping === task) return "running" as const;
  if (task._yieldResolve !== null || !task._started) return "ready" as const;
  const waiter = task._futWaiter;
  if (waiter === null) return "outside" as const;
  return waiter.done() ? "ready" as const : "waiting" as const;
}

/**
 * The pending tasks of `loop` (default: the running loop) as a tree: a task
 * that another task waits on (directly, or through `gather`, `shield`,
 * `waitFor` or a `TaskGroup`) is that task's child; the others are roots.
 * Each node says what its task waits on.
 *
 * @example Two workers under a gather
 * ```ts
 * import {
 *   captureTaskTree,
 *   createTask,
 *   currentTask,
 *   gather,
 *   run,
 *   sleep,
 * } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const a = createTask(() => sleep(1), { name: "a" });
 *   const b = createTask(() => sleep(2), { name: "b" });
 *   const work = createTask(() => gather(a, b), { name: "work" });
 *   await sleep(0.01);
 *   const tree = captureTaskTree();
 *   assert.equal(tree[0].task, currentTask()); // this task: main
 *   assert.equal(tree[0].state, "running");
 *   assert.equal(tree[1].name, "work");
 *   assert.equal(tree[1].waitingOn, "gather(2)");
 *   assert.deepEqual(tree[1].children.map((c) => c.name), ["a", "b"]);
 *   assert.match(tree[1].children[0].waitingOn!, /^sleep\(1\) until/);
 *   work.cancel();
 * });
 * ```
 */
export function captureTaskTree(loop?: AbstractEventLoop): TaskTreeNode[] {
  const target = loop ?? getRunningLoop();
  const tasks = [...allTasks(target)];
  const current = state.runningLoop === target ? currentTask(target) : null;
  const childrenOf = new Map<Task<unknown>, Task<unknown>[]>();
  const awaited = new Set<Task<unknown>>();
  for (const task of tasks) {
    const waiter = task._futWaiter;
    if (waiter === null || waiter.done()) continue;
    const below: Task<unknown>[] = [];
    tasksBehind(waiter, below, new Set());
    const children = below.filter((t) => t !== task);
    childrenOf.set(task, children);
    for (const child of children) awaited.add(child);
  }
  // Each task's subtree is expanded once; a task that several tasks wait on
  // appears again without its children, so the tree stays linear in size.
  const expanded = new Set<Task<unknown>>();
  const build = (
    task: Task<unknown>,
    path: Set<Task<unknown>>,
  ): TaskTreeNode => {
    const taskState = stateOf(task, current);
    const waiter = task._futWaiter;
    const node: TaskTreeNode = {
      task,
      name: task.getName(),
      state: taskState,
      waitingOn: taskState === "waiting" && waiter !== null
        ? describeWait(waiter)
        : taskState === "outside"
        ? "a promise outside the loop"
        : null,
      children: [],
    };
    if (task._sourceTraceback !== undefined) {
      node.createdAt = creationSite(task._sourceTraceback);
    }
    if (expanded.has(task)) {
      node.repeated = true;
      return node;
    }
    expanded.add(task);
    path.add(task);
    for (const child of childrenOf.get(task) ?? []) {
      // A cycle (tasks waiting on each other) is shown once.
      if (!path.has(child)) node.children.push(build(child, path));
    }
    path.delete(task);
    return node;
  };
  const roots = tasks.filter((t) => !awaited.has(t));
  // Tasks only reachable through a cycle have no root: show each cycle from
  // its first task.
  const shown = new Set<Task<unknown>>();
  const mark = (node: TaskTreeNode) => {
    shown.add(node.task);
    node.children.forEach(mark);
  };
  const trees = roots.map((t) => build(t, new Set()));
  trees.forEach(mark);
  for (const task of tasks) {
    if (shown.has(task)) continue;
    const tree = build(task, new Set());
    mark(tree);
    trees.push(tree);
  }
  return trees;
}

/**
 * The tree as text, a task a line, indented under the task that waits on
 * it:
 *
 * ```text
 * └── Task "work" waiting on gather(2)
 *     ├── Task "a" waiting on sleep(1) until t=1.000
 *     └── Task "b" waiting on sleep(2) until t=2.000
 * ```
 *
 * @example
 * ```ts
 * import { captureTaskTree, createTask, formatTaskTree, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   const t = createTask(() => sleep(5), { name: "sleeper" });
 *   await sleep(0);
 *   const text = formatTaskTree(captureTaskTree());
 *   assert.match(text, /Task "sleeper" waiting on sleep\(5\)/);
 *   t.cancel();
 * });
 * ```
 */
export function formatTaskTree(tree: readonly TaskTreeNode[]): string {
  const lines: string[] = [];
  const walk = (node: TaskTreeNode, prefix: string, last: boolean) => {
    const what = node.state === "waiting"
      ? `waiting on ${node.waitingOn}`
      : node.state === "outside"
      ? `waiting on ${node.waitingOn}`
      : node.state;
    const where =
      (node.createdAt === undefined ? "" : ` (created ${node.createdAt})`) +
      (node.repeated === true ? " (shown above)" : "");
    lines.push(
      `${prefix}${last ? "└── " : "├── "}Task ${
        JSON.stringify(node.name)
      } ${what}${where}`,
    );
    const inner = prefix + (last ? "    " : "│   ");
    node.children.forEach((child, i) =>
      walk(child, inner, i === node.children.length - 1)
    );
  };
  tree.forEach((node, i) => walk(node, "", i === tree.length - 1));
  return lines.join("\n");
}

/**
 * Prints the task tree of `loop` (default: the running loop) to stderr
 * each time the process gets `signal` (default `SIGUSR1`), while the loop
 * runs: `kill -USR1 <pid>` then shows what every task waits on, as Go
 * dumps its goroutines on `SIGQUIT`. Off unless called; the returned
 * `Disposable` removes the handler. Needs a loop with signal handlers
 * (Unix).
 *
 * @throws {RuntimeError} when no loop is given and none is running.
 * @example
 * ```ts
 * import { createTask, dumpTaskTreeOnSignal, run, sleep } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * const printed: string[] = [];
 * const original = console.error;
 * console.error = (text: string) => printed.push(text);
 * try {
 *   await run(async () => {
 *     using _dump = dumpTaskTreeOnSignal("SIGUSR1");
 *     const stuck = createTask(() => sleep(60), { name: "stuck" });
 *     await sleep(0);
 *     Deno.kill(Deno.pid, "SIGUSR1"); // as `kill -USR1 <pid>` would
 *     while (printed.length === 0) await sleep(0.01);
 *     stuck.cancel();
 *   });
 * } finally {
 *   console.error = original;
 * }
 * assert.match(printed[0], /Task "stuck" waiting on sleep\(60\)/);
 * ```
 */
export function dumpTaskTreeOnSignal(
  signal: Deno.Signal = "SIGUSR1",
  loop?: AbstractEventLoop,
): Disposable {
  const target = loop ?? getRunningLoop();
  target.addSignalHandler(signal, () => {
    const tree = formatTaskTree(captureTaskTree(target));
    console.error(`task tree at t=${target.time().toFixed(3)}:\n${tree}`);
  });
  return {
    [Symbol.dispose]() {
      if (!target.isClosed()) target.removeSignalHandler(signal);
    },
  };
}
