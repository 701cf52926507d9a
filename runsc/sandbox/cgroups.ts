// The sandbox's control groups: its memory and CPU limits (`do --memory/--cpus`), and where
// its usage is read for the virtual /proc (sentry/proc/files.ts). cgroup v2 where its
// hierarchy has the memory and cpu controllers, else v1 (memory, cpu and cpuacct
// hierarchies, as on hybrid hosts). A group is made beneath the one runsc-ts runs in, init
// joins it before the workload starts (spawn's cgroupProcs), and it is removed when the
// sandbox is over; a failed setup removes what it made, and a runsc-ts killed before its
// end leaves a group the next one removes.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface CgroupLimits {
  /** Memory limit in bytes. */
  readonly memoryBytes?: number;
  /** CPU limit in CPUs (fractional allowed). */
  readonly cpus?: number;
}

/** Where a sandbox's usage is read (absolute paths of cgroup files). */
export interface CgroupUsageFiles {
  /** Bytes charged: v2 memory.current, v1 memory.usage_in_bytes. */
  readonly memoryCurrent: string;
  /** memory.stat. */
  readonly memoryStat: string;
  /** CPU time: v2 cpu.stat (usage_usec), v1 cpuacct.usage (ns). */
  readonly cpu: string;
  readonly version: 1 | 2;
}

export interface SandboxCgroups {
  /** cgroup.procs files init must join (one per hierarchy). */
  readonly procs: string[];
  readonly usage: CgroupUsageFiles;
  /** Removes the groups (the sandbox's processes must be gone). Never throws. */
  remove(): void;
}

export class CgroupError extends Error {}

export interface Mount {
  readonly fstype: string;
  readonly point: string;
  /** The mount's root within the hierarchy (field 4), for a mount of a sub-group. */
  readonly root: string;
  readonly options: string[];
}

export function mounts(): Mount[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const f = l.split(" ");
      const dash = f.indexOf("-");
      const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { fstype: f[dash + 1] ?? "", point: unescape(f[4] ?? ""), root: unescape(f[3] ?? "/"), options: (f[dash + 3] ?? "").split(",") };
    });
}

/** Our own group in each hierarchy: "" for v2, else the controller list ("cpu,cpuacct"). */
export function ownGroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The directory of our own group in a mount of its hierarchy. */
export function ownDir(m: Mount, own: string | undefined): string {
  const path = own ?? "/";
  // A mount of a sub-group (containers) shows the hierarchy from its root down.
  const rel = m.root !== "/" && path.startsWith(m.root) ? path.slice(m.root.length) : path;
  return join(m.point, rel);
}

export function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw new CgroupError(`cgroup: write ${value.trim()} to ${file}: ${(err as Error).message}`);
  }
}

/**
 * Removes an empty group, waiting up to about a second for its last tasks to leave (EBUSY
 * until they have). Never throws.
 */
export function removeGroup(dir: string): void {
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** The prefix of a sandbox group's name; the rest is the pid of the runsc-ts that made it. */
export const GROUP_PREFIX = "sandbox-";

/**
 * Removes the groups in parent that runsc-ts processes killed before their end left behind:
 * named for a pid that no longer runs, and empty (a group with tasks is never removed).
 */
function removeStale(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(GROUP_PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.slice(GROUP_PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    try {
      rmdirSync(join(parent, n)); // EBUSY while it has tasks: left alone
    } catch {
      // still in use, or already gone
    }
  }
}

/** Makes the sandbox's groups with their limits: `sandbox-<our pid>`. */
export function createCgroups(limits: CgroupLimits): SandboxCgroups {
  const name = `${GROUP_PREFIX}${process.pid}`;
  const all = mounts();
  const own = ownGroups();
  const made: string[] = [];
  const remove = (): void => {
    for (const dir of [...made].reverse()) removeGroup(dir);
  };
  const mk = (dir: string): string => {
    removeStale(dirname(dir));
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new CgroupError(`cgroup: mkdir ${dir}: ${(err as Error).message}`);
    }
    made.push(dir);
    return dir;
  };
  try {
    const v2 = all.find((m) => m.fstype === "cgroup2");
    const v2Root = v2 && ownDir(v2, own.get(""));
    const v2Controllers = v2Root && existsSync(join(v2Root, "cgroup.controllers")) ? readFileSync(join(v2Root, "cgroup.controllers"), "utf8").split(/\s+/) : [];
    if (v2 && v2Controllers.includes("memory") && v2Controllers.includes("cpu")) {
      // v2: a parent of our own beneath runsc-ts's group, with both controllers enabled for
      // its children (a group with processes may not enable them for its own children).
      const parent = join(v2.point, "runsc-ts");
      if (!existsSync(parent)) mk(parent);
      write(join(v2.point, "cgroup.subtree_control"), "+memory +cpu");
      write(join(parent, "cgroup.subtree_control"), "+memory +cpu");
      const dir = mk(join(parent, name));
      if (limits.memoryBytes !== undefined) write(join(dir, "memory.max"), String(limits.memoryBytes));
      if (limits.memoryBytes !== undefined && existsSync(join(dir, "memory.swap.max"))) write(join(dir, "memory.swap.max"), "0");
      if (limits.cpus !== undefined) write(join(dir, "cpu.max"), `${Math.max(1000, Math.round(limits.cpus * 100000))} 100000`);
      return {
        procs: [join(dir, "cgroup.procs")],
        usage: { memoryCurrent: join(dir, "memory.current"), memoryStat: join(dir, "memory.stat"), cpu: join(dir, "cpu.stat"), version: 2 },
        remove,
      };
    }
    // v1: one group per hierarchy.
    const v1 = (controller: string): string => {
      const m = all.find((x) => x.fstype === "cgroup" && x.options.includes(controller));
      if (m === undefined) throw new CgroupError(`cgroup: no ${controller} controller mounted (neither cgroup v2 with memory and cpu, nor v1)`);
      const key = [...own.keys()].find((k) => k.split(",").includes(controller));
      return mk(join(ownDir(m, key === undefined ? undefined : own.get(key)), name));
    };
    const memory = v1("memory");
    const cpu = v1("cpu");
    const cpuacct = v1("cpuacct");
    if (limits.memoryBytes !== undefined) write(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    if (limits.cpus !== undefined) {
      write(join(cpu, "cpu.cfs_period_us"), "100000");
      write(join(cpu, "cpu.cfs_quota_us"), String(Math.max(1000, Math.round(limits.cpus * 100000))));
    }
    return {
      procs: [...new Set([memory, cpu, cpuacct])].map((d) => join(d, "cgroup.procs")),
      usage: { memoryCurrent: join(memory, "memory.usage_in_bytes"), memoryStat: join(memory, "memory.stat"), cpu: join(cpuacct, "cpuacct.usage"), version: 1 },
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Parses "--memory": bytes, or a number with k, m, g (powers of 1024). */
export function parseMemory(text: string): number | string {
  const m = /^([1-9][0-9]*)([kmg]?)b?$/i.exec(text.trim());
  if (!m) return `expected a size like 512m or 2g, got "${text}"`;
  const bytes = Number(m[1]) * 1024 ** ["", "k", "m", "g"].indexOf(m[2]!.toLowerCase());
  if (bytes < 4 * 1024 * 1024) return `at least 4m, got "${text}"`;
  return bytes;
}

/** Parses "--cpus": a positive number of CPUs, fractions allowed (0.5, 1.5). */
export function parseCpus(text: string): number | string {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text.trim()) || !(n >= 0.01)) return `expected a number of CPUs like 1 or 0.5, got "${text}"`;
  return n;
}
