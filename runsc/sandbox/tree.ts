// The steps every sandbox's mount tree is built from, whichever front-end planned it: `do`'s
// view of the host's root (mounts.ts) and a container's bundle (oci/mounts.ts). The tree is
// assembled at NEW_ROOT inside a staging tmpfs that only the sandbox's mount namespace sees,
// then pivoted into. init carries the records out (native/helper/init.c).
import { MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV, MS_NOSUID, MS_REC } from "../../platform/abi/mount.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { STAGING_DIR } from "../runtimeDir.js";
import type { InitRecord } from "./initConfig.js";

/**
 * Where a tree is staged. `do` stages in /tmp: its root is a recursive bind of the host's,
 * which would carry a staging tmpfs mounted anywhere else into the sandbox, and /tmp is one
 * of the trees a `do` sandbox always has of its own. A container stages in runsc-ts's private
 * runtime directory, outside the rootfs it binds.
 */
export const DO_STAGING = "/tmp";
export const CONTAINER_STAGING = STAGING_DIR;

/** The new root inside a staging directory. */
export function newRoot(staging: string): string {
  return `${staging}/root`;
}

/**
 * The first records of every tree: the mask file's source, the propagation of the whole
 * tree (private: nothing mounted here reaches the host), the staging tmpfs and the new
 * root's mount point.
 */
export function beginTree(staging: string, maskFile: string, propagation: number): InitRecord[] {
  return [
    { op: "maskSource", path: maskFile },
    { op: "mount", source: "", target: "/", fstype: "", flags: MS_REC | propagation, data: "" },
    { op: "mount", source: "tmpfs", target: staging, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=0700,size=8m" },
    { op: "mkdir", path: newRoot(staging), mode: 0o755 },
  ];
}

/**
 * A path bound onto itself with attributes set (recursively): how a view of it is made
 * read-only, nosuid or noexec. optional: a missing path is skipped.
 */
export function rebind(target: string, set: number, clear = 0, optional = true): InitRecord[] {
  return [
    { op: "mount", source: target, target, fstype: "", flags: MS_BIND | MS_REC, data: "", ...(optional ? { optional: true } : {}) },
    { op: "setattr", path: target, set, clear, recursive: true, ...(optional ? { optional: true } : {}) },
  ];
}

/** /proc entries that reach host-global state: read-only (Docker's and runc's readonlyPaths). */
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] as const;

/** /proc and /sys entries that leak host state: masked (Docker's and runc's maskedPaths, together). */
export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  "/sys/devices/virtual/tpm",
] as const;

/** Device nodes a process expects (the OCI runtime spec's default devices), bound from the host's. */
export const DEFAULT_DEVICES = ["null", "zero", "full", "random", "urandom", "tty"] as const;

/** The default devices in dev: a file each, the host's node bound onto it (a node made here would need mknod). */
export function deviceNodes(dev: string, optional: boolean): InitRecord[] {
  return DEFAULT_DEVICES.flatMap((d): InitRecord[] => [
    { op: "mkfile", path: `${dev}/${d}`, mode: 0o666 },
    { op: "mount", source: `/dev/${d}`, target: `${dev}/${d}`, fstype: "", flags: MS_BIND, data: "", ...(optional ? { optional: true } : {}) },
  ]);
}

/** The usual links of /dev (the OCI runtime spec's), and any more. */
export function deviceLinks(dev: string, more: readonly (readonly [link: string, target: string])[] = []): InitRecord[] {
  const links = [["fd", "/proc/self/fd"], ["stdin", "/proc/self/fd/0"], ["stdout", "/proc/self/fd/1"], ["stderr", "/proc/self/fd/2"], ["ptmx", "pts/ptmx"], ...more] as const;
  return links.map(([link, target]): InitRecord => ({ op: "symlink", target, link: `${dev}/${link}` }));
}

/**
 * The policy's synthetic files (filesystem.files): written in the staging tmpfs, bound
 * read-only over their path. place(path) returns the mount point inside the new root,
 * pushing onto r whatever makes it.
 */
export function syntheticFiles(r: InitRecord[], policy: Policy, staging: string, place: (path: string) => string): void {
  if (policy.filesystem.files.length > 0) r.push({ op: "mkdir", path: `${staging}/files`, mode: 0o755 });
  policy.filesystem.files.forEach((f, i) => {
    const source = `${staging}/files/${i}`;
    r.push({ op: "writefile", path: source, mode: 0o444, content: Buffer.from(f.content) });
    const target = place(f.path);
    r.push({ op: "mount", source, target, fstype: "", flags: MS_BIND, data: "" });
    r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, clear: 0, recursive: false });
  });
}

/** Where each virtual file goes; "cpu-online" comes with cpuinfo (sysconf's CPU count). */
const VIRTUAL_PATHS: Readonly<Record<string, readonly [file: string, path: string][]>> = {
  meminfo: [["meminfo", "/proc/meminfo"]],
  cpuinfo: [
    ["cpuinfo", "/proc/cpuinfo"],
    ["cpu-online", "/sys/devices/system/cpu/online"],
  ],
  stat: [["stat", "/proc/stat"]],
  uptime: [["uptime", "/proc/uptime"]],
  loadavg: [["loadavg", "/proc/loadavg"]],
};

/**
 * The virtual /proc files (filesystem.proc.virtualize): the FUSE filesystem passed to init
 * at `index`, attached in the staging tmpfs, each file bound over its path (`target` gives
 * where that is; a path missing there is left alone).
 */
export function virtualProcRecords(policy: Policy, index: number | undefined, staging: string, target: (path: string) => string): InitRecord[] {
  const virtual = [...new Set(policy.filesystem.proc.virtualize)];
  if (virtual.length === 0) return [];
  if (index === undefined) throw new Error("filesystem.proc.virtualize needs the FUSE mount passed to init");
  const r: InitRecord[] = [
    { op: "mkdir", path: `${staging}/proc`, mode: 0o755 },
    { op: "attach", index, path: `${staging}/proc` },
  ];
  for (const name of virtual) {
    for (const [file, path] of VIRTUAL_PATHS[name] ?? []) {
      r.push({ op: "mount", source: `${staging}/proc/${file}`, target: target(path), fstype: "", flags: MS_BIND, data: "", optional: true });
    }
  }
  return r;
}
