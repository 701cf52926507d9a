// An OCI container's control groups: linux.cgroupsPath (absolute: from each hierarchy's
// root; relative: beneath runsc-ts's own group; default /runsc-ts/<id>) in cgroup v2 when
// its hierarchy has the controllers, else in each v1 hierarchy (this kind of host is
// hybrid), with linux.resources written to them: memory, cpu, cpuset, pids, the freezer
// (pause/resume), blockIO's weight (best effort) and, on v1, the device allow-list.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CgroupUsageFiles, Mount } from "../sandbox/cgroups.js";
import { CgroupError, mounts, ownDir, ownGroups, removeGroup, write } from "../sandbox/cgroups.js";
import type { OciConfigDoc } from "./config.js";

export type Resources = NonNullable<NonNullable<OciConfigDoc["linux"]>["resources"]>;

export interface ContainerCgroups {
  readonly version: 1 | 2;
  /** One directory per hierarchy. */
  readonly dirs: string[];
  /** The freezer's state file: v1 freezer.state, v2 cgroup.freeze. */
  readonly freezer: string | undefined;
}

/** v1 hierarchies a container joins. */
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

/** Removes a container's groups, deepest first; its processes must be gone. Never throws. */
export function removeCgroups(dirs: readonly string[]): void {
  for (const dir of dirs) removeGroup(dir);
}

/**
 * Makes the container's groups and writes its resources and device rules (listed: the
 * config's linux.devices). A failure removes what it made.
 */
export function createContainerCgroups(cgroupsPath: string, resources: Resources | undefined, listed: readonly ListedDevice[] = []): ContainerCgroups {
  const all = mounts();
  const own = ownGroups();
  const h = hierarchies(all);
  const made: string[] = [];
  try {
    if (h.version === 2) {
      const dir = dirIn(h.mount, cgroupsPath, own.get(""));
      // Each level above the group hands the controllers down.
      const chain: string[] = [];
      for (let d = dirname(dir); d.startsWith(h.mount.point); d = dirname(d)) {
        chain.unshift(d);
        if (d === h.mount.point) break;
      }
      makeDirs(dir, made, false);
      for (const d of chain) write(join(d, "cgroup.subtree_control"), "+memory +cpu +pids");
      const cg: ContainerCgroups = { version: 2, dirs: [dir], freezer: join(dir, "cgroup.freeze") };
      applyResources(cg, resources);
      return cg;
    }
    const dirs = new Map<string, string>();
    for (const [controller, m] of h.mounts) {
      const key = [...own.keys()].find((k) => k.split(",").includes(controller));
      const dir = dirIn(m, cgroupsPath, key === undefined ? undefined : own.get(key));
      makeDirs(dir, made, controller === "cpuset");
      dirs.set(controller, dir);
    }
    const freezer = dirs.get("freezer");
    const cg: ContainerCgroups = { version: 1, dirs: [...new Set(dirs.values())], freezer: freezer === undefined ? undefined : join(freezer, "freezer.state") };
    applyResources(cg, resources === undefined ? undefined : { ...resources, devices: undefined });
    applyDeviceRules(cg, resources?.devices, listed);
    return cg;
  } catch (err) {
    removeCgroups([...made].reverse());
    throw err;
  }
}

/** The hierarchy directory holding a file of a controller (v1), or the one directory (v2). */
function dirFor(cg: ContainerCgroups, file: string): string | undefined {
  if (cg.version === 2) return cg.dirs[0];
  const controller = file.slice(0, file.indexOf("."));
  return cg.dirs.find((d) => existsSync(join(d, file))) ?? (controller === "cgroup" ? cg.dirs[0] : undefined);
}

function set(cg: ContainerCgroups, file: string, value: string | number | bigint, bestEffort = false): void {
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
export function applyResources(cg: ContainerCgroups, r: Resources | undefined): void {
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
export function applyDeviceRules(cg: ContainerCgroups, rules: Resources["devices"], listed: readonly ListedDevice[]): void {
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

/** Where the container's usage is read, for its virtual /proc files. */
export function usageFiles(cg: ContainerCgroups): CgroupUsageFiles {
  if (cg.version === 2) {
    const d = cg.dirs[0]!;
    return { memoryCurrent: join(d, "memory.current"), memoryStat: join(d, "memory.stat"), cpu: join(d, "cpu.stat"), version: 2 };
  }
  const memory = dirFor(cg, "memory.usage_in_bytes") ?? cg.dirs[0]!;
  const cpuacct = dirFor(cg, "cpuacct.usage") ?? cg.dirs[0]!;
  return { memoryCurrent: join(memory, "memory.usage_in_bytes"), memoryStat: join(memory, "memory.stat"), cpu: join(cpuacct, "cpuacct.usage"), version: 1 };
}

/** cgroup.procs of each hierarchy: what init joins. */
export function procsFiles(cg: ContainerCgroups): string[] {
  return cg.dirs.map((d) => join(d, "cgroup.procs"));
}
