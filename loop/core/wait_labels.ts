/**
 * Labels on the futures tasks wait on, for the task tree (it imports
 * nothing, so any file may label): the code that
 * makes a future says what waiting on it means (`Lock.acquire()`, `sleep(5)
 * until t=12.000`) and, for a composite future (a gather, a shield, a task
 * group's wait), which futures it stands for.
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

const labels = new WeakMap<object, WaitInfo>();

/** Labels `fut` (package-internal). */
export function labelWait<F extends object>(
  fut: F,
  label: WaitInfo["label"],
  awaits?: WaitInfo["awaits"],
): F {
  labels.set(fut, awaits === undefined ? { label } : { label, awaits });
  return fut;
}

/** The label of `fut`, if any (package-internal). */
export function waitInfoOf(fut: object): WaitInfo | undefined {
  return labels.get(fut);
}
