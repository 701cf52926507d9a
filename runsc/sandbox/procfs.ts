// The virtual /proc files of a sandbox (filesystem.proc.virtualize): a FUSE filesystem made
// by runsc-ts (host root) and passed to init, which binds its files over /proc/meminfo and
// the others (mounts.ts). The native side speaks the protocol on a thread of its own
// (native/src/procfs.cc); each open asks this thread for the file's text, made from the
// host's file, the sandbox's limits and its cgroup's usage (sentry/proc/files.ts).
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NativeBinding } from "../../native/binding.js";
import { countCpus, cpuinfo, cpuRange, LoadAverage, meminfo, stat, uptime, visibleCpus } from "../../sentry/proc/files.js";
import type { ProcLimits, ProcUsage } from "../../sentry/proc/files.js";
import type { ProcFileName } from "../../sentry/policy/schema.js";
import type { CgroupUsageFiles } from "./cgroups.js";

export interface ProcServerOptions {
  files: readonly ProcFileName[];
  limits: ProcLimits;
  /** Where the sandbox's usage is read (its cgroup). */
  usage: CgroupUsageFiles;
  /** When the sandbox started (Date.now()). */
  startedMs: number;
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** "name value" lines (memory.stat, cpu.stat). */
function keyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.split(" ");
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

/** What the sandbox uses now, from its cgroup. */
function usageOf(u: CgroupUsageFiles): ProcUsage {
  const current = read(u.memoryCurrent).trim();
  const cpu = u.version === 2 ? (keyed(read(u.cpu)).usage_usec ?? 0) / 1e6 : Number(read(u.cpu).trim() || 0) / 1e9;
  return { ...(current !== "" ? { memoryBytes: Number(current) } : {}), memoryStat: keyed(read(u.memoryStat)), cpuSeconds: cpu };
}

/** The sandbox's tasks (its cgroup's): how many, how many runnable, the highest pid inside. */
function tasksOf(u: CgroupUsageFiles): { running: number; total: number; lastPid: number } {
  const tids = read(join(dirname(u.memoryCurrent), u.version === 2 ? "cgroup.threads" : "tasks"))
    .split("\n")
    .filter((t) => t !== "");
  let running = 0;
  let lastPid = 0;
  for (const tid of tids) {
    const s = read(`/proc/${tid}/stat`);
    if (s[s.lastIndexOf(")") + 2] === "R") running++;
    const inside = /\nNSpid:\s*([^\n]*)/.exec(read(`/proc/${tid}/status`))?.[1]?.trim().split(/\s+/).pop();
    if (inside !== undefined) lastPid = Math.max(lastPid, Number(inside));
  }
  return { running, total: tids.length, lastPid };
}

/** The texts of the virtual files, by the name the FUSE filesystem gives them. */
export function procTexts(o: ProcServerOptions): Map<string, () => string> {
  const hostCpus = countCpus(read("/proc/cpuinfo")) || readdirSync("/sys/devices/system/cpu").filter((n) => /^cpu\d+$/.test(n)).length;
  const cpus = visibleCpus(hostCpus, o.limits);
  const load = new LoadAverage();
  const all: Record<ProcFileName, () => string> = {
    meminfo: () => meminfo(read("/proc/meminfo"), o.limits, usageOf(o.usage)),
    cpuinfo: () => cpuinfo(read("/proc/cpuinfo"), cpus),
    stat: () => stat(read("/proc/stat"), cpus),
    uptime: () => uptime((Date.now() - o.startedMs) / 1000, cpus, usageOf(o.usage)),
    loadavg: () => {
      const t = tasksOf(o.usage);
      load.sample(Date.now(), t.running);
      return load.text(t.running, t.total, t.lastPid);
    },
  };
  const out = new Map<string, () => string>();
  for (const name of o.files) out.set(name, all[name]);
  // The CPU count as sysconf(_SC_NPROCESSORS_ONLN) reads it comes with cpuinfo.
  if (o.files.includes("cpuinfo")) out.set("cpu-online", () => cpuRange(cpus));
  return out;
}

/** The FUSE filesystem's two ends: the /dev/fuse connection and the detached mount. */
export interface ProcFs {
  fuse: number;
  mount: number;
}

/** Mounts the FUSE filesystem (host root makes it); serveProcFs then answers on `fuse`. */
export function mountProcFs(native: NativeBinding): ProcFs {
  let fuse: number;
  try {
    fuse = openSync("/dev/fuse", "r+");
  } catch (err) {
    throw new Error(`filesystem.proc.virtualize needs /dev/fuse (the fuse module): ${(err as Error).message}`);
  }
  try {
    return { fuse, mount: native.fuseMount(fuse, "runsc-ts-proc") };
  } catch (err) {
    closeSync(fuse);
    throw err;
  }
}

/**
 * Serves the files on a native thread until the sandbox's mount is gone, or until the
 * function it returns is called (another process takes over); the /dev/fuse descriptor
 * must stay open until then.
 */
export function serveProcFs(native: NativeBinding, fuse: number, o: ProcServerOptions): () => void {
  const texts = procTexts(o);
  return native.procServe(fuse, [...texts.keys()], (name) => texts.get(name)?.() ?? "");
}

/** Mounts the FUSE filesystem and serves it; returns the detached mount for init (the caller closes it once passed). */
export function startProcServer(native: NativeBinding, o: ProcServerOptions): number {
  const { fuse, mount } = mountProcFs(native);
  serveProcFs(native, fuse, o);
  return mount;
}
