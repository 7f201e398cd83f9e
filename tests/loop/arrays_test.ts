/** The hot paths' array emptying: empty afterwards, the same array, any length. */
import assert from "node:assert/strict";
import { emptyArray } from "../../loop/base/arrays.ts";

Deno.test("emptyArray empties short and long arrays in place", () => {
  for (const length of [0, 1, 3, 256, 257, 10_000]) {
    const array = Array.from({ length }, (_, i) => ({ i }));
    const same = array;
    emptyArray(array);
    assert.equal(array, same);
    assert.equal(array.length, 0);
    assert.equal(array[0], undefined);
    array.push({ i: -1 });
    assert.deepEqual(array, [{ i: -1 }]);
  }
});
