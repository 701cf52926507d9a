// What a `do` sandbox's plan reads of the host's tree (HostFs), behind an interface so that
// the plan can be tested over a fake tree; hostFs reads the real one.
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { isSandboxId } from "./ids.js";

export interface HostFs {
  /** What a path is, symlinks followed (as a bind mount follows them); undefined: missing. */
  kind(path: string): "dir" | "file" | undefined;
  /** The path with every symlink resolved; undefined when it does not exist. */
  realpath(path: string): string | undefined;
  /** The target of the path when it is a symlink itself, else undefined. */
  symlink(path: string): string | undefined;
  /**
   * Whether the sandbox's ids may look the path up: every directory on the way searchable by
   * them (they own nothing on the host, so "other" bits apply to host-owned directories).
   * What they may not reach stays out of the sandbox, as it would be out of reach inside.
   */
  reachable(path: string): boolean;
  /** The host's mount points (its own mount namespace's, /proc/self/mountinfo). */
  mountPoints(): string[];
  /** A directory's entries and what each is (not following symlinks), or undefined. */
  list(dir: string): { name: string; type: "dir" | "file" | "symlink" }[] | undefined;
}

export const hostFs: HostFs = {
  // A plan asks about many paths that are missing or are no symlinks: those are answered
  // without an exception (whose making costs more than the system call).
  kind(path) {
    try {
      const st = statSync(path, { throwIfNoEntry: false });
      return st === undefined ? undefined : st.isDirectory() ? "dir" : "file";
    } catch {
      return undefined;
    }
  },
  realpath(path) {
    try {
      return statSync(path, { throwIfNoEntry: false }) === undefined ? undefined : realpathSync.native(path);
    } catch {
      return undefined;
    }
  },
  symlink(path) {
    try {
      return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true ? readlinkSync(path) : undefined;
    } catch {
      return undefined; // not there, or its directory is not searchable
    }
  },
  list(dir) {
    try {
      return readdirSync(dir, { withFileTypes: true }).map((d) => ({
        name: d.name,
        type: d.isDirectory() ? "dir" : d.isSymbolicLink() ? "symlink" : "file",
      }));
    } catch {
      return undefined;
    }
  },
  mountPoints() {
    try {
      return mountPointsOf(readFileSync("/proc/self/mountinfo", "utf8"));
    } catch {
      return [];
    }
  },
  reachable(path) {
    const real = hostFs.realpath(path);
    if (real === undefined) return false;
    for (let dir = dirname(real); ; dir = dirname(dir)) {
      if (!searchable(dir)) return false;
      if (dir === "/") return true;
    }
  },
};

/**
 * The mount points /proc/PID/mountinfo lists (field 5, where space, tab, newline and
 * backslash are octal escapes: proc(5)).
 */
export function mountPointsOf(mountinfo: string): string[] {
  return mountinfo
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith("/"));
}

/** Directories' searchability by the sandbox's ids, kept briefly: a plan asks about many siblings. */
const searchableCache = new Map<string, { ok: boolean; at: number }>();
const SEARCHABLE_TTL_MS = 1000;

function searchable(dir: string): boolean {
  const now = Date.now();
  const hit = searchableCache.get(dir);
  if (hit !== undefined && now - hit.at < SEARCHABLE_TTL_MS) return hit.ok;
  let ok = false;
  try {
    const st = statSync(dir);
    const bit = isSandboxId(st.uid) ? 0o100 : isSandboxId(st.gid) ? 0o010 : 0o001;
    ok = (st.mode & bit) !== 0;
  } catch {
    ok = false;
  }
  if (searchableCache.size > 4096) searchableCache.clear();
  searchableCache.set(dir, { ok, at: now });
  return ok;
}

