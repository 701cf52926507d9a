// linux.resources written to a container's groups, against fake hierarchies: plain directories
// holding the control files (a real group's files take each write whole; these keep the last).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { Cgroups, Resources } from "../../../runsc/sandbox/cgroups.js";
import { applyResources, cgroupPids, deviceRuleWrites, procsFiles } from "../../../runsc/sandbox/cgroups.js";
import { CgroupError } from "../../../runsc/sandbox/cgroups.js";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "runsc-ts-ocicgroups-"));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A directory per hierarchy, each with its empty control files. */
function fake(files: Record<string, string[]>): string[] {
  return Object.entries(files).map(([name, list]) => {
    const dir = join(tmp, name);
    mkdirSync(dir);
    for (const f of list) writeFileSync(join(dir, f), "");
    return dir;
  });
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), "utf8");

describe("applyResources on cgroup v1", () => {
  let memory: string, cpu: string, pids: string, devices: string;
  let cg: Cgroups;
  beforeEach(() => {
    [memory, cpu, pids, devices] = fake({
      memory: ["memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness"],
      cpu: ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
      pids: ["pids.max"],
      devices: ["devices.allow", "devices.deny"],
    }) as [string, string, string, string];
    cg = { version: 1, dirs: [memory, cpu, pids, devices], freezer: undefined };
  });

  it("writes nothing without resources", () => {
    applyResources(cg, undefined);
    applyResources(cg, {});
    expect(read(memory, "memory.limit_in_bytes")).toBe("");
    expect(read(pids, "pids.max")).toBe("");
  });

  it("writes memory, cpu and pids to the hierarchy holding each file", () => {
    applyResources(cg, {
      memory: { limit: 33554432, reservation: 16777216, swap: 67108864, swappiness: 10 },
      cpu: { shares: 512, period: 100000, quota: 50000 },
      pids: { limit: 50 },
    });
    expect(read(memory, "memory.limit_in_bytes")).toBe("33554432");
    expect(read(memory, "memory.soft_limit_in_bytes")).toBe("16777216");
    expect(read(memory, "memory.memsw.limit_in_bytes")).toBe("67108864");
    expect(read(memory, "memory.swappiness")).toBe("10");
    expect(read(cpu, "cpu.shares")).toBe("512");
    expect(read(cpu, "cpu.cfs_period_us")).toBe("100000");
    expect(read(cpu, "cpu.cfs_quota_us")).toBe("50000");
    expect(read(pids, "pids.max")).toBe("50");
  });

  it("writes -1 for no memory limit and no quota", () => {
    applyResources(cg, { memory: { limit: -1, reservation: -1 }, cpu: { quota: -1 } });
    expect(read(memory, "memory.limit_in_bytes")).toBe("-1");
    expect(read(memory, "memory.soft_limit_in_bytes")).toBe("-1");
    expect(read(cpu, "cpu.cfs_quota_us")).toBe("-1");
    applyResources(cg, { cpu: { quota: 0 } });
    expect(read(cpu, "cpu.cfs_quota_us")).toBe("-1");
  });

  it("keeps limits beyond 2^53 exact", () => {
    applyResources(cg, { memory: { limit: 9223372036854771712n } });
    expect(read(memory, "memory.limit_in_bytes")).toBe("9223372036854771712");
  });

  it("leaves shares and period alone when they are 0 (Docker's default)", () => {
    applyResources(cg, { cpu: { shares: 0, period: 0 } });
    expect(read(cpu, "cpu.shares")).toBe("");
    expect(read(cpu, "cpu.cfs_period_us")).toBe("");
  });

  it("writes max for a pids limit of -1, and leaves the limit alone for 0 (runc's meaning)", () => {
    applyResources(cg, { pids: { limit: 0 } });
    expect(read(pids, "pids.max")).toBe("");
    applyResources(cg, { pids: { limit: -1 } });
    expect(read(pids, "pids.max")).toBe("max");
  });

  it("writes device rules after a deny-all, and runc's standard devices last", () => {
    applyResources(cg, { devices: [{ allow: true, type: "c", major: 1, minor: 5, access: "rwm" }] });
    expect(read(devices, "devices.deny")).toBe("a");
    expect(read(devices, "devices.allow")).toBe("c 10:200 rwm");
  });

  it("orders the rules as runc does: deny all, the config's, linux.devices, the standard devices", () => {
    const docker: Resources["devices"] = [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
      { allow: true, type: "c", major: 136, access: "rw" },
      { allow: false, type: "b", major: -1, minor: -1 },
      { allow: false, type: "c", major: 10, minor: 229, access: "rwm" },
    ];
    expect(deviceRuleWrites(docker, [{ type: "c", major: 10, minor: 232 }])).toEqual([
      ["devices.deny", "a"],
      ["devices.deny", "a"],
      ["devices.allow", "c 1:5 rwm"],
      ["devices.allow", "c 136:* rw"],
      ["devices.deny", "b *:* rwm"],
      ["devices.deny", "c 10:229 rwm"],
      ["devices.allow", "c 10:232 rwm"],
      ...["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"].map((r) => ["devices.allow", r]),
    ]);
    // No rules at all: still everything denied but the standard devices.
    expect(deviceRuleWrites(undefined, [])[0]).toEqual(["devices.deny", "a"]);
  });

  it("skips device rules without a devices hierarchy", () => {
    const noDevices: Cgroups = { version: 1, dirs: [memory, cpu, pids], freezer: undefined };
    expect(() => applyResources(noDevices, { devices: [{ allow: false }] })).not.toThrow();
    expect(read(devices, "devices.deny")).toBe("");
  });

  it("fails on a required file the host lacks, and skips a best-effort one", () => {
    const err = (() => {
      try {
        applyResources(cg, { cpu: { cpus: "0-1" } });
      } catch (e) {
        return e as Error;
      }
      throw new Error("expected an error");
    })();
    expect(err).toBeInstanceOf(CgroupError);
    expect(err.message).toBe("cgroup: no cpuset.cpus on this host");
    expect(() => applyResources(cg, { blockIO: { weight: 500 } })).not.toThrow();
  });
});

describe("applyResources on cgroup v2", () => {
  let dir: string;
  let cg: Cgroups;
  beforeEach(() => {
    [dir] = fake({ group: ["memory.max", "memory.low", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "cgroup.freeze"] }) as [string];
    cg = { version: 2, dirs: [dir], freezer: join(dir, "cgroup.freeze") };
  });

  it("writes the memory limit, max for none", () => {
    applyResources(cg, { memory: { limit: 33554432 } });
    expect(read(dir, "memory.max")).toBe("33554432");
    applyResources(cg, { memory: { limit: -1 } });
    expect(read(dir, "memory.max")).toBe("max");
  });

  it("writes swap alone, as v2 counts it", () => {
    applyResources(cg, { memory: { limit: 33554432, swap: 67108864 } });
    expect(read(dir, "memory.swap.max")).toBe("33554432");
    applyResources(cg, { memory: { limit: 33554432, swap: -1 } });
    expect(read(dir, "memory.swap.max")).toBe("max");
  });

  it("writes quota and period together", () => {
    applyResources(cg, { cpu: { quota: 50000, period: 100000 } });
    expect(read(dir, "cpu.max")).toBe("50000 100000");
    applyResources(cg, { cpu: { quota: -1, period: 200000 } });
    expect(read(dir, "cpu.max")).toBe("max 200000");
    applyResources(cg, { cpu: { quota: 25000 } });
    expect(read(dir, "cpu.max")).toBe("25000 100000");
  });

  it("converts shares to a weight over 1..10000", () => {
    applyResources(cg, { cpu: { shares: 2 } });
    expect(read(dir, "cpu.weight")).toBe("1");
    applyResources(cg, { cpu: { shares: 262144 } });
    expect(read(dir, "cpu.weight")).toBe("10000");
  });

  it("lifts the pids limit for -1 and keeps it for 0", () => {
    applyResources(cg, { pids: { limit: 100 } });
    expect(read(dir, "pids.max")).toBe("100");
    applyResources(cg, { pids: { limit: 0 } });
    expect(read(dir, "pids.max")).toBe("100");
    applyResources(cg, { pids: { limit: -1 } });
    expect(read(dir, "pids.max")).toBe("max");
  });

  it("converts cpu shares to a weight as runc does (integer division)", () => {
    applyResources(cg, { cpu: { shares: 1024 } });
    expect(read(dir, "cpu.weight")).toBe("39");
  });
});

describe("cgroupPids", () => {
  it("reads every group's cgroup.procs, without duplicates, in number order", () => {
    const [a, b] = fake({ a: ["cgroup.procs"], b: ["cgroup.procs"] }) as [string, string];
    writeFileSync(join(a, "cgroup.procs"), "10\n9\n100\n");
    writeFileSync(join(b, "cgroup.procs"), "9\n100\n2\n");
    expect(cgroupPids([a, b, join(tmp, "gone")])).toEqual([2, 9, 10, 100]);
  });

  it("is empty for empty or missing groups", () => {
    const [a] = fake({ a: ["cgroup.procs"] }) as [string];
    expect(cgroupPids([a])).toEqual([]);
    expect(cgroupPids([])).toEqual([]);
  });
});

describe("procsFiles", () => {
  it("names each group's cgroup.procs", () => {
    const cg: Cgroups = { version: 1, dirs: ["/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/cpu/x"], freezer: undefined };
    expect(procsFiles(cg)).toEqual(["/sys/fs/cgroup/memory/x/cgroup.procs", "/sys/fs/cgroup/cpu/x/cgroup.procs"]);
  });
});
