// `do --memory/--cpus` parsing, and the CPU mask sched_getaffinity shows under a CPU limit.
import { describe, expect, it } from "vitest";
import { parseCpus, parseMemory } from "../../../runsc/sandbox/cgroups.js";
import { firstCpus } from "../../../sentry/syscalls/sys_info.js";

describe("--memory", () => {
  it.each([
    ["512m", 512 * 1024 * 1024],
    ["2g", 2 * 1024 ** 3],
    ["4096k", 4096 * 1024],
    ["8388608", 8388608],
    ["64M", 64 * 1024 * 1024],
  ])("%s is %d bytes", (text, bytes) => {
    expect(parseMemory(text)).toBe(bytes);
  });

  it.each([
    ["lots", 'expected a size like 512m or 2g, got "lots"'],
    ["1.5g", 'expected a size like 512m or 2g, got "1.5g"'],
    ["-1m", 'expected a size like 512m or 2g, got "-1m"'],
    ["1k", 'at least 4m, got "1k"'],
  ])("%s is refused: %s", (text, message) => {
    expect(parseMemory(text)).toBe(message);
  });
});

describe("--cpus", () => {
  it.each([
    ["1", 1],
    ["0.5", 0.5],
    ["1.5", 1.5],
    [".25", 0.25],
  ])("%s is %d CPUs", (text, cpus) => {
    expect(parseCpus(text)).toBe(cpus);
  });

  it.each(["0", "0.001", "-1", "two", "1e3", ""])("%j is refused", (text) => {
    expect(parseCpus(text)).toMatch(/^expected a number of CPUs like 1 or 0.5, got/);
  });
});

describe("firstCpus", () => {
  it("keeps the first n CPUs the mask holds, in order, across bytes", () => {
    expect([...firstCpus(Uint8Array.of(0b1111_0000, 0b0000_0011), 1)]).toEqual([0b0001_0000, 0]);
    expect([...firstCpus(Uint8Array.of(0b1111_0000, 0b0000_0011), 5)]).toEqual([0b1111_0000, 0b0000_0001]);
    expect([...firstCpus(Uint8Array.of(0b0000_0101), 2)]).toEqual([0b0000_0101]);
    expect([...firstCpus(Uint8Array.of(0b0000_0101, 0, 0, 0, 0, 0, 0, 0b1000_0000), 8)]).toEqual([0b0000_0101, 0, 0, 0, 0, 0, 0, 0b1000_0000]);
  });
});
