/**
 * `ExceptionGroup`: several errors raised together, as `TaskGroup` raises
 * them. Python's builtin `ExceptionGroup`, on top of JavaScript's
 * `AggregateError`.
 *
 * @module
 */

/**
 * What `subgroup()` and `split()` match: an error class, a list of them, or a
 * predicate.
 *
 * @example
 * ```ts
 * import { ExceptionGroup, type ExceptionMatcher } from "@aio/loop";
 * import assert from "node:assert/strict";
 * const eg = new ExceptionGroup("two", [new RangeError("r"), new TypeError("t")]);
 * const byClass: ExceptionMatcher = RangeError;
 * const byTest: ExceptionMatcher = (e) => e instanceof TypeError;
 * assert.deepEqual(eg.subgroup(byClass)?.exceptions, [eg.exceptions[0]]);
 * assert.deepEqual(eg.subgroup(byTest)?.exceptions, [eg.exceptions[1]]);
 * ```
 */
export type ExceptionMatcher =
  // deno-lint-ignore no-explicit-any
  | (abstract new (...args: any[]) => unknown)
  // deno-lint-ignore no-explicit-any
  | readonly (abstract new (...args: any[]) => unknown)[]
  | ((exception: unknown) => boolean);

function isErrorClass(value: unknown): boolean {
  return typeof value === "function" &&
    (value === Error || (value.prototype instanceof Error));
}

function toPredicate(condition: ExceptionMatcher): (e: unknown) => boolean {
  if (Array.isArray(condition)) {
    for (const cls of condition) {
      if (typeof cls !== "function") {
        throw new TypeError(
          `expected error classes, got ${typeof cls} in the list`,
        );
      }
    }
    return (e) =>
      (condition as (new () => unknown)[]).some((cls) => e instanceof cls);
  }
  if (typeof condition !== "function") {
    throw new TypeError(
      `expected an error class, a list of them or a predicate, got ${typeof condition}`,
    );
  }
  if (isErrorClass(condition)) {
    return (e) => e instanceof (condition as new () => unknown);
  }
  return condition as (e: unknown) => boolean;
}

/**
 * Several errors raised together, as `TaskGroup.run()` raises the errors of
 * its tasks and body. Mirrors Python's `ExceptionGroup`: the constructor takes
 * the message first, `exceptions` holds the errors in order (nested groups
 * stay nested), `message` is the message alone, and `subgroup()`/`split()`
 * stand in for `except*`. It extends `AggregateError`, so `errors` holds the
 * same errors. As anything can be thrown in JavaScript, any value is accepted
 * as one of the exceptions.
 *
 * @typeParam E The type of the grouped errors.
 * @example Handling the errors of a TaskGroup
 * ```ts
 * import { ExceptionGroup, run, TaskGroup } from "@aio/loop";
 * import assert from "node:assert/strict";
 *
 * await run(async () => {
 *   try {
 *     await new TaskGroup().run((tg) => {
 *       tg.createTask(async () => {
 *         throw new RangeError("bad");
 *       });
 *     });
 *   } catch (e) {
 *     assert.ok(e instanceof ExceptionGroup);
 *     const [ranges, rest] = e.split(RangeError);
 *     assert.equal(ranges?.exceptions.length, 1);
 *     assert.equal(rest, null);
 *   }
 * });
 * ```
 */
export class ExceptionGroup<E = unknown> extends AggregateError {
  /** The grouped errors, in order (nested groups stay nested). */
  readonly exceptions: readonly E[];

  /**
   * Groups `exceptions` under `message`.
   *
   * @param message What the errors have in common.
   * @param exceptions The errors: a non-empty array or iterable.
   * @throws {TypeError} if `message` is not a string or `exceptions` is not
   * iterable.
   * @throws {RangeError} if `exceptions` is empty.
   */
  constructor(message: string, exceptions: Iterable<E>) {
    if (typeof message !== "string") {
      throw new TypeError(
        `ExceptionGroup message must be a string, got ${typeof message}`,
      );
    }
    if (
      exceptions == null ||
      typeof (exceptions as { [Symbol.iterator]?: unknown })[
          Symbol.iterator
        ] !== "function" ||
      typeof exceptions === "string"
    ) {
      throw new TypeError(
        "ExceptionGroup exceptions must be an array (or iterable) of errors",
      );
    }
    const list = [...exceptions];
    if (list.length === 0) {
      throw new RangeError(
        "ExceptionGroup exceptions must be a non-empty array",
      );
    }
    super(list, message);
    this.name = "ExceptionGroup";
    this.exceptions = Object.freeze(list);
  }

  /**
   * A group of the same kind and message holding `exceptions` (and this
   * group's `cause`). Mirrors `ExceptionGroup.derive()`; `subgroup()` and
   * `split()` build their groups with it, so a subclass can override it.
   *
   * @example
   * ```ts
   * import { ExceptionGroup } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const eg = new ExceptionGroup("two", [new Error("a"), new Error("b")]);
   * assert.equal(eg.derive([eg.exceptions[0]]).message, "two");
   * ```
   */
  derive<F>(exceptions: Iterable<F>): ExceptionGroup<F> {
    const derived = new ExceptionGroup(this.message, exceptions);
    if (this.cause !== undefined) derived.cause = this.cause;
    return derived;
  }

  /**
   * The errors (searched through nested groups) that match `condition`, in a
   * group of the same shape, or null if none does. A group that matches as a
   * whole is returned as is. Mirrors `ExceptionGroup.subgroup()`.
   *
   * @param condition An error class, a list of them, or a predicate (also
   * called with the nested groups).
   * @example
   * ```ts
   * import { ExceptionGroup } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const eg = new ExceptionGroup("m", [new TypeError("t"), new Error("e")]);
   * assert.equal(eg.subgroup(TypeError)?.exceptions.length, 1);
   * assert.equal(eg.subgroup(SyntaxError), null);
   * ```
   */
  subgroup(condition: ExceptionMatcher): ExceptionGroup<E> | null {
    return this.split(condition)[0];
  }

  /**
   * Splits the group in two: the errors that match `condition` and the
   * rest, each as a group of the same shape or null. Mirrors
   * `ExceptionGroup.split()`, the engine of `except*`.
   *
   * @param condition An error class, a list of them, or a predicate (also
   * called with the nested groups).
   * @example
   * ```ts
   * import { ExceptionGroup } from "@aio/loop";
   * import assert from "node:assert/strict";
   * const eg = new ExceptionGroup("m", [new TypeError("t"), new Error("e")]);
   * const [types, rest] = eg.split(TypeError);
   * assert.equal(types?.exceptions.length, 1);
   * assert.equal(rest?.exceptions.length, 1);
   * ```
   */
  split(
    condition: ExceptionMatcher,
  ): [ExceptionGroup<E> | null, ExceptionGroup<E> | null] {
    return splitGroup(this, toPredicate(condition));
  }
}

function splitGroup<E>(
  group: ExceptionGroup<E>,
  matches: (e: unknown) => boolean,
): [ExceptionGroup<E> | null, ExceptionGroup<E> | null] {
  if (matches(group)) return [group, null];
  const matched: E[] = [];
  const rest: E[] = [];
  for (const exception of group.exceptions) {
    if (exception instanceof ExceptionGroup) {
      const [m, r] = splitGroup(exception as ExceptionGroup<unknown>, matches);
      if (m !== null) matched.push(m as E);
      if (r !== null) rest.push(r as E);
    } else if (matches(exception)) {
      matched.push(exception);
    } else {
      rest.push(exception);
    }
  }
  const unchanged = (list: E[]) =>
    list.length === group.exceptions.length &&
    list.every((e, i) => e === group.exceptions[i]);
  const build = (list: E[]) =>
    list.length === 0
      ? null
      : unchanged(list)
      ? group
      : group.derive(list) as ExceptionGroup<E>;
  return [build(matched), build(rest)];
}
