/**
 * The loop's timer queue: a binary min-heap of `TimerHandle`s ordered by due
 * time, then by scheduling order, so that timers due at the same time run in
 * the order they were scheduled. Cancelled entries stay until they reach the
 * top or the loop rebuilds the heap (CPython's lazy deletion).
 *
 * The sort keys live in typed arrays beside the handle array: sifting then
 * compares numbers in contiguous memory instead of chasing a pointer to each
 * handle, which with a few hundred thousand timers is the difference between
 * cache hits and misses.
 *
 * @module
 */
import type { TimerHandle } from "./handles.ts";

/** The smallest capacity of the heap's arrays. */
const MIN_CAPACITY = 64;

/** A min-heap of timer handles (package-internal). */
export class TimerHeap {
  #handles: (TimerHandle | undefined)[] = [];
  #when = new Float64Array(MIN_CAPACITY);
  #seq = new Float64Array(MIN_CAPACITY);
  #size = 0;
  /** Scheduling order: the tie-breaker for equal times. */
  #counter = 0;

  /** Number of entries, cancelled ones included. */
  get size(): number {
    return this.#size;
  }

  /** The earliest entry, or undefined. */
  peek(): TimerHandle | undefined {
    return this.#size === 0 ? undefined : this.#handles[0];
  }

  /** The earliest entry's due time (Infinity when empty). */
  peekWhen(): number {
    return this.#size === 0 ? Infinity : this.#when[0];
  }

  /** Every entry, in heap order. */
  handles(): TimerHandle[] {
    return this.#handles.slice(0, this.#size) as TimerHandle[];
  }

  /** Adds an entry. */
  push(handle: TimerHandle): void {
    if (this.#size === this.#when.length) this.#grow();
    this.#siftUp(this.#size++, handle, handle._when, this.#counter++);
  }

  /** Removes and returns the earliest entry. */
  pop(): TimerHandle | undefined {
    const size = this.#size;
    if (size === 0) return undefined;
    const handles = this.#handles;
    const top = handles[0];
    const last = size - 1;
    this.#size = last;
    if (last > 0) {
      this.#siftDown(0, handles[last]!, this.#when[last], this.#seq[last]);
    }
    handles[last] = undefined;
    if (last < this.#when.length >> 2) this.#shrink();
    return top;
  }

  /** Keeps only the entries `keep` accepts, then restores heap order. */
  filter(keep: (handle: TimerHandle) => boolean): void {
    const handles = this.#handles;
    const when = this.#when;
    const seq = this.#seq;
    let n = 0;
    for (let i = 0; i < this.#size; i++) {
      const handle = handles[i]!;
      if (!keep(handle)) continue;
      handles[n] = handle;
      when[n] = when[i];
      seq[n] = seq[i];
      n++;
    }
    for (let i = n; i < this.#size; i++) handles[i] = undefined;
    this.#size = n;
    this.#shrink();
    for (let i = (n >> 1) - 1; i >= 0; i--) {
      this.#siftDown(i, handles[i]!, when[i], seq[i]);
    }
  }

  /** Removes every entry. */
  clear(): void {
    this.#handles = [];
    this.#size = 0;
    this.#shrink();
  }

  /** The capacity of the time and order arrays (grows and shrinks). */
  get capacity(): number {
    return this.#when.length;
  }

  /**
   * Gives memory back after a burst: while a quarter or less of the
   * capacity is used, halve it (never below the initial 64). Halving at a
   * quarter keeps pushes and pops amortized O(1) with no thrashing.
   */
  #shrink(): void {
    let capacity = this.#when.length;
    if (capacity <= MIN_CAPACITY || this.#size > capacity >> 2) return;
    while (capacity > MIN_CAPACITY && this.#size <= capacity >> 2) {
      capacity >>= 1;
    }
    this.#when = this.#when.slice(0, capacity);
    this.#seq = this.#seq.slice(0, capacity);
    this.#handles.length = this.#size;
  }

  #grow(): void {
    const when = new Float64Array(this.#when.length * 2);
    when.set(this.#when);
    this.#when = when;
    const seq = new Float64Array(this.#seq.length * 2);
    seq.set(this.#seq);
    this.#seq = seq;
  }

  #siftUp(start: number, handle: TimerHandle, w: number, s: number): void {
    const handles = this.#handles;
    const when = this.#when;
    const seq = this.#seq;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pw = when[parent];
      if (pw < w || (pw === w && seq[parent] < s)) break;
      handles[i] = handles[parent];
      when[i] = pw;
      seq[i] = seq[parent];
      i = parent;
    }
    handles[i] = handle;
    when[i] = w;
    seq[i] = s;
  }

  #siftDown(start: number, handle: TimerHandle, w: number, s: number): void {
    const handles = this.#handles;
    const when = this.#when;
    const seq = this.#seq;
    const n = this.#size;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n &&
        (when[right] < when[child] ||
          (when[right] === when[child] && seq[right] < seq[child]))
      ) child = right;
      const cw = when[child];
      if (w < cw || (w === cw && s < seq[child])) break;
      handles[i] = handles[child];
      when[i] = cw;
      seq[i] = seq[child];
      i = child;
    }
    handles[i] = handle;
    when[i] = w;
    seq[i] = s;
  }
}
