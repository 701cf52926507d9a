// Which user namespaces a pod's container may join as its pod's: one whose map is a single
// runsc-ts range (root inside at a range's first id, 65536 ids), nothing else.
import { describe, expect, it } from "vitest";
import { rangeOfMap } from "../../../runsc/oci/podUserns.js";

describe("a pod's range from its user namespace's map", () => {
  it("is the range a runsc-ts map names", () => {
    expect(rangeOfMap("         0 1073741824      65536\n")).toEqual({ slot: 0, base: 0x40000000 });
    expect(rangeOfMap(`0 ${0x40000000 + 7 * 65536} 65536`)).toEqual({ slot: 7, base: 0x40000000 + 7 * 65536 });
  });

  it("is none for any other map", () => {
    expect(rangeOfMap("0 0 4294967295"), "the host's").toBeUndefined();
    expect(rangeOfMap("0 100000 65536"), "do's, or a config's").toBeUndefined();
    expect(rangeOfMap(`0 ${0x40000000 + 5} 65536`), "not a range's first id").toBeUndefined();
    expect(rangeOfMap(`0 ${0x40000000} 1000`), "not a whole range").toBeUndefined();
    expect(rangeOfMap(`1 ${0x40000000} 65536`), "root inside unmapped").toBeUndefined();
    expect(rangeOfMap(`0 ${0x40000000} 65536\n65536 ${0x50000000} 10`), "two lines").toBeUndefined();
    expect(rangeOfMap(`0 ${0x40000000 + 16383 * 65536} 65536`), "beyond the last range").toBeUndefined();
  });
});
