/**
 * Labels on the futures tasks wait on, for the task tree: the code that
 * makes a future says what waiting on it means (`Lock.acquire()`, `sleep(5)
 * until t=12.000`) and, for a composite future (a gather, a shield, a task
 * group's wait), which futures it stands for. A label is a field of the
 * future (no lookup table to maintain); this file imports nothing, so any
 * file may label.
 *
 * @module
 */

/** What a labelled future stands for (package-internal). */
export interface WaitInfo {
  /** What the wait is. */
  label: string | (() => string);
  /** The futures a composite future waits on. */
  awaits?: () => Iterable<object>;
}

/** What can carry a label: a `Future` (package-internal). */
export interface Labelled {
  _waitInfo: WaitInfo | null;
}

/** Labels `fut` (package-internal). */
export function labelWait<F extends Labelled>(
  fut: F,
  label: WaitInfo["label"] | WaitInfo,
  awaits?: WaitInfo["awaits"],
): F {
  fut._waitInfo = typeof label === "object"
    ? label
    : awaits === undefined
    ? { label }
    : { label, awaits };
  return fut;
}

/** The label of `fut`, if any (package-internal). */
export function waitInfoOf(fut: Labelled): WaitInfo | undefined {
  return fut._waitInfo ?? undefined;
}
