// Host id ranges for containers' user namespaces (runsc/oci/idRanges.ts): disjoint, held by a
// file naming the container, given back by release, taken back from a container whose state
// directory is gone, never from one whose directory exists.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { allocateIdRange, CONTAINER_ID_BASE, releaseIdRange } from "../../runsc/oci/idRanges.js";

let tmp: string;
let ids: string;
let root: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "runsc-ts-ids-"));
  ids = join(tmp, "ids");
  root = join(tmp, "state");
  mkdirSync(ids);
  for (const id of ["a", "b", "c"]) mkdirSync(join(root, id), { recursive: true });
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe("id ranges", () => {
  it("disjoint ranges of 65536 from 2^30; the same container asking again gets its own", () => {
    const a = allocateIdRange(root, "a", ids);
    const b = allocateIdRange(root, "b", ids);
    expect(a).toEqual({ slot: 0, base: CONTAINER_ID_BASE });
    expect(b).toEqual({ slot: 1, base: CONTAINER_ID_BASE + 65536 });
    expect(allocateIdRange(root, "a", ids)).toEqual(a);
    expect(readdirSync(ids).sort()).toEqual(["0", "1"]);
  });

  it("release gives a range back; the lowest free one is taken next", () => {
    allocateIdRange(root, "a", ids);
    allocateIdRange(root, "b", ids);
    releaseIdRange(root, "a", ids);
    expect(readdirSync(ids)).toEqual(["1"]);
    expect(allocateIdRange(root, "c", ids).slot).toBe(0);
    releaseIdRange(root, "missing", ids);
    expect(readdirSync(ids).sort()).toEqual(["0", "1"]);
  });

  it("a range whose container's state directory is gone is taken back; one whose directory exists never", () => {
    allocateIdRange(root, "a", ids);
    allocateIdRange(root, "b", ids);
    rmSync(join(root, "a"), { recursive: true });
    expect(allocateIdRange(root, "c", ids).slot).toBe(0);
    // b's directory exists: its range stays b's, whoever asks.
    expect(allocateIdRange(join(tmp, "other-root"), "b", ids).slot).toBe(2);
  });
});
