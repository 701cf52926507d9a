// What runsc-ts has on the host at one moment, by what it is (its processes, its mounts, its
// cgroups, its state directories), never by global counts that other processes on the
// machine change. A leak check takes one before and one after and compares the sets.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface Footprint {
  processes: string[];
  mounts: string[];
  cgroups: string[];
  state: string[];
}

export interface FootprintOptions {
  /** State roots (`--root`) whose entries are containers. */
  roots: readonly string[];
  /**
   * Only the processes, cgroups and state that name one of these (container ids); without
   * it, all of runsc-ts's.
   */
  only?: readonly string[];
  /**
   * Mounts count when their mount point is under /run/runsc-ts, a state root or one of these
   * (bundles, a private dockerd's directory), or their type is runsc-ts's.
   */
  mountDirs?: readonly string[];
  /** Cgroup directories whose path has one of these components count too (Docker's "docker"). */
  cgroupNames?: readonly string[];
}

const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * The command line of a process of runsc-ts's: a runtime command, a monitor, an init, a
 * binder; or its name (comm): an init's guard keeps the command line of the runtime command
 * it was cloned from.
 */
function isRunscTs(cmd: string, comm: string): boolean {
  return comm === "runsc-ts-guard" || cmd.startsWith("runsc-ts-init") || cmd.startsWith("runsc-ts-binder") || cmd.includes("/dist/cli/") || cmd.includes("/dist/runsc/") || cmd.includes("containerd-shim");
}

function processes(o: FootprintOptions): string[] {
  const found: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmd: string;
    let comm: string;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ").trim();
      comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
    } catch {
      continue;
    }
    if (!isRunscTs(cmd, comm)) continue;
    // runsc-ts-init's command line is its name alone: an id is in its cgroup's path.
    const named = (text: string): boolean => o.only === undefined || o.only.some((s) => text.includes(s));
    let cgroup = "";
    try {
      cgroup = readFileSync(`/proc/${d}/cgroup`, "utf8");
    } catch {
      continue;
    }
    if (named(cmd) || named(cgroup)) found.push(`${d} ${cmd}`);
  }
  return found;
}

function mounts(o: FootprintOptions): string[] {
  const dirs = ["/run/runsc-ts", ...o.roots, ...(o.mountDirs ?? [])];
  const found: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const point = f[4];
    if (point === undefined) continue;
    const dash = f.indexOf("-");
    const fstype = dash > 0 ? f[dash + 1] ?? "" : "";
    if (dirs.some((d) => point === d || point.startsWith(d + "/")) || fstype.includes("runsc-ts")) found.push(`${point} ${fstype}`);
  }
  return found.sort();
}

/** Directories under /sys/fs/cgroup whose path names runsc-ts (or a name given). */
function cgroups(o: FootprintOptions): string[] {
  const names = ["runsc-ts", ...(o.cgroupNames ?? [])];
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (!isDir) continue;
      const rel = p.slice(CGROUP_ROOT.length);
      const matched = rel.split("/").some((c) => names.some((n) => c === n || c.startsWith(`${n}-`) || c.startsWith(`${n}.`)));
      // A matching group's children are its containers'.
      if (matched) {
        if (o.only === undefined || o.only.some((s) => rel.includes(s))) found.push(rel);
      }
      if (depth < 6) walk(p, depth + 1);
    }
  };
  walk(CGROUP_ROOT, 0);
  return found.sort();
}

/** Where the host id ranges of containers' user namespaces are held (runsc/oci/idRanges.ts). */
const IDS_DIR = "/run/runsc-ts/.ids";

function state(o: FootprintOptions): string[] {
  const found: string[] = [];
  // A held id range names its container: one left behind is a leak like its state.
  if (existsSync(IDS_DIR)) {
    for (const e of readdirSync(IDS_DIR)) {
      if (!/^\d+$/.test(e)) continue;
      let holder = "";
      try {
        holder = readFileSync(join(IDS_DIR, e), "utf8");
      } catch {
        continue; // released meanwhile
      }
      if (o.only === undefined || o.only.some((s) => holder.includes(s))) found.push(`${join(IDS_DIR, e)} ${holder}`);
    }
  }
  for (const root of o.roots) {
    if (!existsSync(root)) continue;
    for (const e of readdirSync(root)) {
      if (e.startsWith(".")) continue;
      if (o.only === undefined || o.only.some((s) => e.includes(s))) found.push(join(root, e));
    }
  }
  return found.sort();
}

export function footprint(o: FootprintOptions): Footprint {
  return { processes: processes(o), mounts: mounts(o), cgroups: cgroups(o), state: state(o) };
}

/** What after has that before had not, one line each ("mount /x tmpfs", "process 12 …"). */
export function leftSince(before: Footprint, after: Footprint): string[] {
  const out: string[] = [];
  for (const key of ["processes", "mounts", "cgroups", "state"] as const) {
    const had = new Set(before[key]);
    for (const x of after[key]) if (!had.has(x)) out.push(`${key}: ${x}`);
  }
  return out;
}

/** Polls until nothing is left since before (processes take a moment to be reaped). */
export async function settledLeftovers(before: Footprint, take: () => Footprint, ms = 10_000): Promise<string[]> {
  let left = leftSince(before, take());
  for (const end = Date.now() + ms; left.length > 0 && Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 100));
    left = leftSince(before, take());
  }
  return left;
}
