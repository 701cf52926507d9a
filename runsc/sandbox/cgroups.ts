// A sandbox's control groups, one module for `do` and OCI containers: a group at a path
// (absolute: from each hierarchy's root; relative: beneath runsc-ts's own group) in cgroup v2
// when its hierarchy has the memory, cpu and pids controllers, else in each v1 hierarchy (as
// on hybrid hosts), with linux.resources written to it: memory, cpu, cpuset, pids, the
// freezer (pause/resume), blockIO's weight (best effort) and, on v1, the device allow-list.
// `do --memory/--cpus` are the same resources (resourcesOf). init joins the groups before
// the workload starts (spawn's cgroupProcs); they are removed when the sandbox is over, and a
// failed setup removes what it made. Usage is read from them for the virtual /proc files.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { OciConfigDoc } from "../oci/config.js";

export type Resources = NonNullable<NonNullable<OciConfigDoc["linux"]>["resources"]>;

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

/** What a sandbox's groups are made from (a plan's part: plan.ts). */
export interface CgroupSpec {
  /** linux.cgroupsPath: absolute from each hierarchy's root, relative beneath runsc-ts's own group. */
  readonly path: string;
  readonly resources?: Resources;
  /**
   * The device cgroup (v1): the config's linux.devices, allowed after its rules and before
   * the standard devices (applyDeviceRules); "unrestricted": the sandbox joins no devices
   * group (`do`: the policy's filesystem view decides which of the host's nodes it sees).
   */
  readonly devices: readonly ListedDevice[] | "unrestricted";
  /**
   * Empty sibling groups named this prefix and a pid that no longer runs are removed first:
   * what runsc-ts processes killed before their end left behind (`do`'s sandbox-<pid>).
   */
  readonly staleSiblings?: string;
}

/** A sandbox's groups as made (recorded in a container's state). */
export interface Cgroups {
  readonly version: 1 | 2;
  /** One directory per hierarchy. */
  readonly dirs: string[];
  /** The freezer's state file: v1 freezer.state, v2 cgroup.freeze. */
  readonly freezer: string | undefined;
}

/** The prefix of a `do` sandbox group's name; the rest is the pid of the runsc-ts that made it. */
export const DO_GROUP_PREFIX = "sandbox-";

/** `do --memory/--cpus` as linux.resources: a memory limit without swap, a CFS quota. */
export function resourcesOf(limits: CgroupLimits): Resources {
  return {
    ...(limits.memoryBytes !== undefined ? { memory: { limit: limits.memoryBytes, swap: limits.memoryBytes } } : {}),
    ...(limits.cpus !== undefined ? { cpu: { quota: Math.max(1000, Math.round(limits.cpus * 100000)), period: 100000 } } : {}),
  };
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

/**
 * Removes the groups in parent that runsc-ts processes killed before their end left behind:
 * named for a pid that no longer runs, and empty (a group with tasks is never removed).
 */
function removeStale(parent: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    try {
      rmdirSync(join(parent, n)); // EBUSY while it has tasks: left alone
    } catch {
      // still in use, or already gone
    }
  }
}

/** v1 hierarchies a sandbox joins. */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "blkio", "devices"] as const;

function hierarchies(all: readonly Mount[]): { version: 2; mount: Mount } | { version: 1; mounts: Map<string, Mount> } {
  const v2 = all.find((m) => m.fstype === "cgroup2");
  if (v2 !== undefined) {
    try {
      const controllers = readFileSync(join(v2.point, "cgroup.controllers"), "utf8").split(/\s+/);
      if (controllers.includes("memory") && controllers.includes("cpu") && controllers.includes("pids")) return { version: 2, mount: v2 };
    } catch {
      // not readable: use v1
    }
  }
  const v1 = new Map<string, Mount>();
  for (const c of V1_CONTROLLERS) {
    const m = all.find((x) => x.fstype === "cgroup" && x.options.includes(c));
    if (m !== undefined) v1.set(c, m);
  }
  if (!v1.has("memory") || !v1.has("cpu") || !v1.has("pids")) {
    throw new CgroupError("cgroup: neither cgroup v2 with memory, cpu and pids nor the v1 memory, cpu and pids hierarchies are mounted");
  }
  return { version: 1, mounts: v1 };
}

/** The group's directory in one hierarchy mount. */
function dirIn(m: Mount, path: string, own: string | undefined): string {
  if (path.startsWith("/")) {
    const rel = m.root !== "/" && path.startsWith(m.root) ? path.slice(m.root.length) : path;
    return join(m.point, rel);
  }
  return join(ownDir(m, own), path);
}

/** mkdir -p, recording what it made; cpuset levels get their parent's cpus and mems. */
function makeDirs(dir: string, made: string[], cpuset: boolean): void {
  if (existsSync(dir)) return;
  makeDirs(dirname(dir), made, cpuset);
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return;
    throw new CgroupError(`cgroup: mkdir ${dir}: ${(err as Error).message}`);
  }
  made.push(dir);
  if (cpuset) {
    // A v1 cpuset starts empty, and a process cannot join an empty one.
    for (const f of ["cpuset.cpus", "cpuset.mems"]) {
      if (readFileSync(join(dir, f), "utf8").trim() === "") write(join(dir, f), readFileSync(join(dirname(dir), f), "utf8"));
    }
  }
}

/** Removes a sandbox's groups, deepest first; its processes must be gone. Never throws. */
export function removeCgroups(dirs: readonly string[]): void {
  for (const dir of dirs) removeGroup(dir);
}

/** Where a sandbox's groups go, one directory per hierarchy (made by createCgroups). */
export interface CgroupLayout {
  readonly version: 1 | 2;
  /** Each joined controller's hierarchy mount and the group's directory in it (v2: one, "" controller). */
  readonly groups: readonly { readonly controller: string; readonly mount: Mount; readonly dir: string }[];
}

/** The directories a spec's groups have on this host (reads the mount table and our own groups). */
export function cgroupLayout(spec: CgroupSpec): CgroupLayout {
  const own = ownGroups();
  const h = hierarchies(mounts());
  if (h.version === 2) return { version: 2, groups: [{ controller: "", mount: h.mount, dir: dirIn(h.mount, spec.path, own.get("")) }] };
  const groups = [...h.mounts]
    .filter(([controller]) => controller !== "devices" || spec.devices !== "unrestricted")
    .map(([controller, mount]) => {
      const key = [...own.keys()].find((k) => k.split(",").includes(controller));
      return { controller, mount, dir: dirIn(mount, spec.path, key === undefined ? undefined : own.get(key)) };
    });
  return { version: 1, groups };
}

/**
 * Makes the sandbox's groups and writes its resources and device rules. A failure removes
 * what it made.
 */
export function createCgroups(spec: CgroupSpec, layout: CgroupLayout = cgroupLayout(spec)): Cgroups {
  const made: string[] = [];
  try {
    if (spec.staleSiblings !== undefined) for (const g of layout.groups) removeStale(dirname(g.dir), spec.staleSiblings);
    if (layout.version === 2) {
      const { mount, dir } = layout.groups[0]!;
      // Each level above the group hands the controllers down.
      const chain: string[] = [];
      for (let d = dirname(dir); d.startsWith(mount.point); d = dirname(d)) {
        chain.unshift(d);
        if (d === mount.point) break;
      }
      makeDirs(dir, made, false);
      for (const d of chain) write(join(d, "cgroup.subtree_control"), "+memory +cpu +pids");
      const cg: Cgroups = { version: 2, dirs: [dir], freezer: join(dir, "cgroup.freeze") };
      applyResources(cg, spec.resources);
      return cg;
    }
    for (const g of layout.groups) makeDirs(g.dir, made, g.controller === "cpuset");
    const freezer = layout.groups.find((g) => g.controller === "freezer")?.dir;
    const cg: Cgroups = { version: 1, dirs: [...new Set(layout.groups.map((g) => g.dir))], freezer: freezer === undefined ? undefined : join(freezer, "freezer.state") };
    applyResources(cg, spec.resources === undefined ? undefined : { ...spec.resources, devices: undefined });
    if (spec.devices !== "unrestricted") applyDeviceRules(cg, spec.resources?.devices, spec.devices);
    return cg;
  } catch (err) {
    removeCgroups([...made].reverse());
    throw err;
  }
}

/** The hierarchy directory holding a file of a controller (v1), or the one directory (v2). */
function dirFor(cg: Cgroups, file: string): string | undefined {
  if (cg.version === 2) return cg.dirs[0];
  const controller = file.slice(0, file.indexOf("."));
  return cg.dirs.find((d) => existsSync(join(d, file))) ?? (controller === "cgroup" ? cg.dirs[0] : undefined);
}

function set(cg: Cgroups, file: string, value: string | number | bigint, bestEffort = false): void {
  const dir = dirFor(cg, file);
  if (dir === undefined) {
    if (bestEffort) return;
    throw new CgroupError(`cgroup: no ${file} on this host`);
  }
  try {
    write(join(dir, file), String(value));
  } catch (err) {
    if (!bestEffort) throw err;
  }
}

const num = (v: number | bigint): number => Number(v);

/** Writes linux.resources (create, and `update`). */
export function applyResources(cg: Cgroups, r: Resources | undefined): void {
  if (r === undefined) return;
  const mem = r.memory;
  const cpu = r.cpu;
  if (cg.version === 2) {
    if (mem?.limit !== undefined) set(cg, "memory.max", num(mem.limit) < 0 ? "max" : mem.limit);
    if (mem?.reservation !== undefined) set(cg, "memory.low", num(mem.reservation) < 0 ? "max" : mem.reservation);
    // OCI swap is memory+swap; v2 counts swap alone.
    if (mem?.swap !== undefined && existsSync(join(cg.dirs[0]!, "memory.swap.max"))) {
      set(cg, "memory.swap.max", num(mem.swap) < 0 ? "max" : Math.max(0, num(mem.swap) - num(mem.limit ?? 0)));
    }
    if (cpu?.shares !== undefined && num(cpu.shares) > 0) set(cg, "cpu.weight", 1 + Math.floor(((num(cpu.shares) - 2) * 9999) / 262142));
    if (cpu?.quota !== undefined || cpu?.period !== undefined) {
      const quota = cpu.quota === undefined || num(cpu.quota) <= 0 ? "max" : String(cpu.quota);
      set(cg, "cpu.max", `${quota} ${cpu.period ?? 100000}`);
    }
    if (cpu?.cpus) set(cg, "cpuset.cpus", cpu.cpus);
    if (cpu?.mems) set(cg, "cpuset.mems", cpu.mems);
    if (r.pids !== undefined && num(r.pids.limit) !== 0) set(cg, "pids.max", num(r.pids.limit) < 0 ? "max" : r.pids.limit);
    if (r.blockIO?.weight !== undefined) set(cg, "io.weight", r.blockIO.weight, true);
    return;
  }
  if (mem?.limit !== undefined) set(cg, "memory.limit_in_bytes", num(mem.limit) < 0 ? -1 : mem.limit);
  if (mem?.reservation !== undefined) set(cg, "memory.soft_limit_in_bytes", num(mem.reservation) < 0 ? -1 : mem.reservation);
  if (mem?.swap !== undefined) set(cg, "memory.memsw.limit_in_bytes", num(mem.swap) < 0 ? -1 : mem.swap, true);
  if (mem?.swappiness !== undefined && num(mem.swappiness) >= 0) set(cg, "memory.swappiness", mem.swappiness, true);
  if (cpu?.shares !== undefined && num(cpu.shares) > 0) set(cg, "cpu.shares", cpu.shares);
  if (cpu?.period !== undefined && num(cpu.period) > 0) set(cg, "cpu.cfs_period_us", cpu.period);
  if (cpu?.quota !== undefined) set(cg, "cpu.cfs_quota_us", num(cpu.quota) <= 0 ? -1 : cpu.quota);
  if (cpu?.cpus) set(cg, "cpuset.cpus", cpu.cpus);
  if (cpu?.mems) set(cg, "cpuset.mems", cpu.mems);
  // As runc: 0 leaves the limit as it is, a negative one lifts it.
  if (r.pids !== undefined && num(r.pids.limit) !== 0) set(cg, "pids.max", num(r.pids.limit) < 0 ? "max" : r.pids.limit);
  if (r.blockIO?.weight !== undefined) set(cg, "blkio.weight", r.blockIO.weight, true);
  if (r.devices !== undefined) applyDeviceRules(cg, r.devices, []);
}

/**
 * Devices every container may use whatever its rules say, as runc allows them after the
 * config's (libcontainer/specconv: AllowedDevices): mknod of any node (CAP_MKNOD still
 * decides), null, random, full, tty, zero, urandom, the pseudo-terminals and tun.
 */
const DEFAULT_DEVICE_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"];

/** A device of linux.devices: allowed, as the node init binds for it. */
export interface ListedDevice {
  type: string;
  major?: number | bigint | undefined;
  minor?: number | bigint | undefined;
}

/**
 * The device cgroup (v1), as runc writes it: everything denied first, then the config's
 * rules in order, then linux.devices and the standard devices allowed. Without the first
 * rule, a container whose config has none could open any device node its image ships
 * (/dev/kvm, a host disk's block device). cgroup v2 controls devices through a BPF program,
 * which runsc-ts does not attach yet: there the container's root is mounted nodev instead
 * (oci/mounts.ts), which keeps the image's nodes closed but not a volume's.
 */
export function applyDeviceRules(cg: Cgroups, rules: Resources["devices"], listed: readonly ListedDevice[]): void {
  if (cg.version === 2 || dirFor(cg, "devices.allow") === undefined) return;
  for (const [file, rule] of deviceRuleWrites(rules, listed)) set(cg, file, rule);
}

/** What applyDeviceRules writes, in order: [devices.allow | devices.deny, rule]. */
export function deviceRuleWrites(rules: Resources["devices"], listed: readonly ListedDevice[]): ["devices.allow" | "devices.deny", string][] {
  const node = (v: number | bigint | undefined): string => (v === undefined || num(v) < 0 ? "*" : String(v));
  const out: ["devices.allow" | "devices.deny", string][] = [["devices.deny", "a"]];
  for (const d of rules ?? []) {
    const all = d.type === undefined || d.type === "a";
    out.push([d.allow ? "devices.allow" : "devices.deny", all ? "a" : `${d.type} ${node(d.major)}:${node(d.minor)} ${d.access ?? "rwm"}`]);
  }
  for (const d of listed) out.push(["devices.allow", `${d.type === "u" ? "c" : d.type} ${node(d.major)}:${node(d.minor)} rwm`]);
  for (const rule of DEFAULT_DEVICE_RULES) out.push(["devices.allow", rule]);
  return out;
}

/** The PIDs in the container's groups (host PIDs, as `ps` reports them). */
export function cgroupPids(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const l of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) if (l !== "") pids.add(Number(l));
    } catch {
      // gone
    }
  }
  return [...pids].sort((a, b) => a - b);
}

/** Where the sandbox's usage is read, for its virtual /proc files. */
export function usageFiles(cg: Cgroups): CgroupUsageFiles {
  if (cg.version === 2) {
    const d = cg.dirs[0]!;
    return { memoryCurrent: join(d, "memory.current"), memoryStat: join(d, "memory.stat"), cpu: join(d, "cpu.stat"), version: 2 };
  }
  const memory = dirFor(cg, "memory.usage_in_bytes") ?? cg.dirs[0]!;
  const cpuacct = dirFor(cg, "cpuacct.usage") ?? cg.dirs[0]!;
  return { memoryCurrent: join(memory, "memory.usage_in_bytes"), memoryStat: join(memory, "memory.stat"), cpu: join(cpuacct, "cpuacct.usage"), version: 1 };
}

/** cgroup.procs of each hierarchy: what init joins. */
export function procsFiles(cg: Cgroups): string[] {
  return cg.dirs.map((d) => join(d, "cgroup.procs"));
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
