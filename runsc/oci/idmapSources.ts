// What of a container's filesystems can be idmapped into its user namespace, read from the
// host's mount table: its rootfs (a directory, or a runtime's overlay, which is rebuilt over
// its idmapped layers since an overlay cannot itself be idmapped) and its bind mounts' sources.
import { readFileSync, realpathSync, statfsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import type { IdmapPlan } from "../sandbox/plan.js";

/** Filesystems the kernel can idmap (FS_ALLOW_IDMAP), by name (mountinfo) and statfs magic. */
const IDMAPPABLE: ReadonlyMap<string, number> = new Map([
  ["ext4", 0xef53],
  ["xfs", 0x58465342],
  ["btrfs", 0x9123683e],
  ["tmpfs", 0x01021994],
  ["f2fs", 0xf2f52010],
]);
const IDMAPPABLE_MAGIC = new Set(IDMAPPABLE.values());

export interface MountEntry {
  /** Where it is mounted (octal escapes decoded). */
  readonly point: string;
  readonly fstype: string;
  /** The filesystem's own options (for an overlay: lowerdir, upperdir, workdir). */
  readonly superOptions: string;
}

/** "\\040" and the like, as mountinfo escapes space, tab, newline and backslash. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The entries of a mountinfo text. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 6 || f.length < sep + 4) continue;
    out.push({ point: unescape(f[4]!), fstype: f[sep + 1]!, superOptions: f[sep + 3]! });
  }
  return out;
}

/** Overlay options the rebuilt overlay takes over from the runtime's. */
const KEPT_OPTIONS = ["volatile", "fsync", "uuid", "metacopy", "redirect_dir", "xino", "userxattr"];

/** The value of key in an option list (commas and colons escaped with a backslash stay). */
function option(options: string, key: string): string | undefined {
  const parts = options.split(/(?<!\\),/);
  const p = parts.find((x) => x.startsWith(`${key}=`));
  return p?.slice(key.length + 1);
}

/**
 * How to give a container's rootfs to its user namespace: the directory itself, or, for a
 * runtime's overlay mounted there, its layers (lower top first). A relative layer path (a
 * runtime that mounted from its own directory, as Docker's overlay2 does for long layer
 * lists) is taken from the directory above the rootfs's own (<overlay2>/<id>/merged).
 * undefined: neither can be idmapped (the rootfs on another filesystem).
 */
export function idmapRoot(rootfs: string, mounts: readonly MountEntry[]): IdmapPlan["root"] | undefined {
  const real = realpathSync(rootfs);
  const at = mounts.filter((m) => m.point === real).at(-1);
  if (at?.fstype === "overlay") {
    const lowerText = option(at.superOptions, "lowerdir");
    const upper = option(at.superOptions, "upperdir");
    const work = option(at.superOptions, "workdir");
    if (lowerText === undefined || upper === undefined || work === undefined) return undefined;
    const base = dirname(dirname(real));
    const abs = (p: string): string => {
      const plain = p.replace(/\\(.)/g, "$1");
      return isAbsolute(plain) ? plain : join(base, plain);
    };
    const lower = lowerText.split(/(?<!\\):/).map(abs);
    if (dirname(abs(upper)) !== dirname(abs(work))) return undefined;
    // A work directory of its own beside the runtime's (the runtime's overlay keeps using its
    // own; a volatile one's may not be mounted again), in the container's layer directory,
    // which the runtime removes with the container.
    const ownWork = join(dirname(abs(work)), "runsc-ts-work");
    // The runtime's choices its layers keep (an upper made volatile refuses an overlay without it).
    const options = at.superOptions.split(/(?<!\\),/).filter((o) => KEPT_OPTIONS.some((k) => o === k || o.startsWith(`${k}=`)));
    // Shown as fsync=volatile by newer kernels; "volatile" is what a mount takes.
    if (options.includes("fsync=volatile")) options.splice(options.indexOf("fsync=volatile"), 1, "volatile");
    return { lower, upper: abs(upper), work: ownWork, options };
  }
  if (idmappable(real, true, mounts)) return { path: real };
  // Something beneath cannot be idmapped (a host tree's procfs, sysfs): the root alone, and
  // what beneath can be, each on its own (idmappedSubmounts).
  return idmappable(real, false, mounts) ? { path: real, recursive: false } : undefined;
}

/**
 * The mounts beneath a rootfs that are idmapped on their own (the root was not, recursively):
 * the topmost at each point, outermost first, those that can be idmapped and lie under no
 * mount left out. Paths relative to the rootfs.
 */
export function idmappedSubmounts(rootfs: string, mounts: readonly MountEntry[]): { source: string; rel: string }[] {
  const real = realpathSync(rootfs);
  const prefix = real === "/" ? "/" : `${real}/`;
  // The last entry at a point is the one on top (mountinfo lists in mount order).
  const top = new Map<string, MountEntry>();
  for (const m of mounts) if (m.point.startsWith(prefix) && m.point !== real) top.set(m.point, m);
  const points = [...top.keys()].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
  const left: string[] = [];
  const out: { source: string; rel: string }[] = [];
  for (const p of points) {
    if (left.some((l) => p.startsWith(`${l}/`))) continue;
    if (!IDMAPPABLE.has(top.get(p)!.fstype)) {
      left.push(p);
      continue;
    }
    out.push({ source: p, rel: p.slice(prefix.length) });
  }
  return out;
}

/**
 * Whether a bind of source can be idmapped: its filesystem allows it, and, for a recursive
 * bind, so does every filesystem mounted beneath it.
 */
export function idmappable(source: string, recursive: boolean, mounts: readonly MountEntry[]): boolean {
  let real: string;
  try {
    real = realpathSync(source);
    if (!IDMAPPABLE_MAGIC.has(Number(statfsSync(real).type))) return false;
  } catch {
    return false; // the bind fails in init, naming the source
  }
  if (!recursive) return true;
  const below = mounts.filter((m) => m.point.startsWith(real === "/" ? "/" : `${real}/`) && m.point !== real);
  return below.every((m) => IDMAPPABLE.has(m.fstype));
}

/** The host's mount table, as this process sees it. */
export function hostMounts(): MountEntry[] {
  return parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"));
}
