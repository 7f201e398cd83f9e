/**
 * The loop's timer queue: a binary min-heap of `TimerHandle`s ordered by due
 * time, then by scheduling order, so that timers due at the same time run in
 * the order they were scheduled. Cancelled entries stay until they reach the
 * top or the loop rebuilds the heap (CPython's lazy deletion).
 *
 * @module
 */
import type { TimerHandle } from "./handles.ts";

function before(a: TimerHandle, b: TimerHandle): boolean {
  return a._when < b._when || (a._when === b._when && a._seq < b._seq);
}

/** A min-heap of timer handles (package-internal). */
export class TimerHeap {
  /** The heap array; index 0 is the earliest. */
  items: TimerHandle[] = [];

  /** Number of entries, cancelled ones included. */
  get size(): number {
    return this.items.length;
  }

  /** The earliest entry, or undefined. */
  peek(): TimerHandle | undefined {
    return this.items[0];
  }

  /** Adds an entry. */
  push(handle: TimerHandle): void {
    const items = this.items;
    let i = items.length;
    items.push(handle);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (!before(handle, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = handle;
  }

  /** Removes and returns the earliest entry. */
  pop(): TimerHandle | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) this.siftDown(0, last);
    return top;
  }

  /** Keeps only the entries `keep` accepts, then restores heap order. */
  filter(keep: (handle: TimerHandle) => boolean): void {
    const items = this.items.filter(keep);
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) {
      this.siftDown(i, items[i]);
    }
  }

  /** Removes every entry. */
  clear(): void {
    this.items = [];
  }

  private siftDown(start: number, handle: TimerHandle): void {
    const items = this.items;
    const n = items.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right], items[child])) child = right;
      if (!before(items[child], handle)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = handle;
  }
}
