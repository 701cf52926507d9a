// The mount plan for `runsc-ts do`: the host root as the base, shaped by the policy.
//
// Everything a mount can enforce is enforced here, in the kernel, where no race reaches it
// (DESIGN.md, "cheapest exact layer"): the read-only root, hidden paths, the private /tmp,
// a minimal /dev, a /proc of the sandbox's own PID namespace with the host-global knobs
// read-only or masked, and noexec where the workload can write.
import type { Policy } from "../../sentry/policy/schema.js";
import { parsePathPattern, patternMatches } from "../../sentry/policy/paths.js";
import type { InitRecord } from "./initConfig.js";

// include/uapi/linux/mount.h
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOUNT_ATTR_NOEXEC = 0x8;

/** Where the new root is assembled, inside a tmpfs that only the sandbox's mount namespace sees. */
export const STAGING = "/tmp";
export const NEW_ROOT = "/tmp/root";

/** Device nodes a process expects (the OCI runtime spec's default devices). */
const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"] as const;

/** /proc entries that reach host-global state: read-only (Docker's readonlyPaths). */
const PROC_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] as const;
/** /proc and /sys entries that leak host state: masked (Docker's maskedPaths). */
const MASKED = [
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
] as const;

function inRoot(p: string): string {
  return p === "/" ? NEW_ROOT : NEW_ROOT + p;
}

/** Whether an exec allowlist lets anything under dir run. */
function execCovers(policy: Policy, dir: string): boolean {
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return true;
  return allow.some((p) => patternMatches(p, dir) || parsePathPattern(p).base.startsWith(dir + "/"));
}

/** The mount records for a `do` sandbox. */
export function planDoMounts(policy: Policy, maskFile: string): InitRecord[] {
  const r: InitRecord[] = [{ op: "maskSource", path: maskFile }];
  const noexecTmp = execCovers(policy, "/tmp") ? 0 : MS_NOEXEC;
  const noexecShm = execCovers(policy, "/dev/shm") ? 0 : MS_NOEXEC;

  // Nothing we mount may propagate back to the host.
  r.push({ op: "mount", source: "", target: "/", fstype: "", flags: MS_REC | MS_PRIVATE, data: "" });
  r.push({ op: "mount", source: "tmpfs", target: STAGING, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=0700,size=8m" });
  r.push({ op: "mkdir", path: NEW_ROOT, mode: 0o755 });
  r.push({ op: "mount", source: "/", target: NEW_ROOT, fstype: "", flags: MS_BIND | MS_REC, data: "" });
  const rootAttrs = MOUNT_ATTR_NOSUID | (policy.filesystem.root === "readonly" ? MOUNT_ATTR_RDONLY : 0);
  r.push({ op: "setattr", path: NEW_ROOT, set: rootAttrs, clear: 0, recursive: true });

  // /proc of the sandbox's PID namespace; host-global knobs read-only, leaks masked.
  r.push({ op: "mount", source: "proc", target: inRoot("/proc"), fstype: "proc", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "" });
  for (const p of PROC_READONLY) {
    r.push({ op: "mount", source: inRoot(p), target: inRoot(p), fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
    r.push({
      op: "setattr",
      path: inRoot(p),
      set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
      clear: 0,
      recursive: true,
      optional: true,
    });
  }
  for (const p of MASKED) r.push({ op: "hide", path: inRoot(p) });

  // A minimal /dev: the standard nodes, a private devpts and /dev/shm.
  const dev = inRoot("/dev");
  r.push({ op: "mount", source: "tmpfs", target: dev, fstype: "tmpfs", flags: MS_NOSUID | MS_NOEXEC, data: "mode=0755,size=64k" });
  for (const d of DEVICES) {
    r.push({ op: "mkfile", path: `${dev}/${d}`, mode: 0o666 });
    r.push({ op: "mount", source: `/dev/${d}`, target: `${dev}/${d}`, fstype: "", flags: MS_BIND, data: "", optional: true });
  }
  r.push({ op: "mkdir", path: `${dev}/pts`, mode: 0o755 });
  r.push({ op: "mount", source: "devpts", target: `${dev}/pts`, fstype: "devpts", flags: MS_NOSUID | MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620" });
  r.push({ op: "symlink", target: "pts/ptmx", link: `${dev}/ptmx` });
  r.push({ op: "mkdir", path: `${dev}/shm`, mode: 0o1777 });
  r.push({ op: "mount", source: "tmpfs", target: `${dev}/shm`, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | noexecShm, data: "mode=1777" });
  r.push({ op: "symlink", target: "/proc/self/fd", link: `${dev}/fd` });
  r.push({ op: "symlink", target: "/proc/self/fd/0", link: `${dev}/stdin` });
  r.push({ op: "symlink", target: "/proc/self/fd/1", link: `${dev}/stdout` });
  r.push({ op: "symlink", target: "/proc/self/fd/2", link: `${dev}/stderr` });
  r.push({ op: "setattr", path: dev, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });

  if (policy.filesystem.tmp) {
    r.push({ op: "mount", source: "tmpfs", target: inRoot("/tmp"), fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | noexecTmp, data: "mode=1777" });
  }

  // Path rules, least specific first so that deeper rules are mounted on top.
  const depth = (p: string): number => {
    const base = parsePathPattern(p).base;
    return base === "/" ? 0 : base.split("/").length - 1;
  };
  const rules = [...policy.filesystem.rules].sort((a, b) => depth(a.path) - depth(b.path));
  for (const rule of rules) {
    const target = inRoot(parsePathPattern(rule.path).base);
    switch (rule.access) {
      case "none":
        r.push({ op: "hide", path: target });
        break;
      case "read":
        r.push({ op: "mount", source: target, target, fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
        r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: true, optional: true });
        break;
      case "read-write":
        r.push({ op: "mount", source: target, target, fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
        r.push({ op: "setattr", path: target, set: 0, clear: MOUNT_ATTR_RDONLY, recursive: true, optional: true });
        break;
      case "exec":
        r.push({ op: "mount", source: target, target, fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true });
        r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY, clear: MOUNT_ATTR_NOEXEC, recursive: true, optional: true });
        break;
    }
  }
  // Synthetic files: written to the staging tmpfs, bound read-only over their path (which
  // must exist: a read-only root cannot grow a new file).
  if (policy.filesystem.files.length > 0) r.push({ op: "mkdir", path: `${STAGING}/files`, mode: 0o755 });
  policy.filesystem.files.forEach((f, i) => {
    const source = `${STAGING}/files/${i}`;
    r.push({ op: "writefile", path: source, mode: 0o444, content: Buffer.from(f.content) });
    r.push({ op: "mount", source, target: inRoot(f.path), fstype: "", flags: MS_BIND, data: "" });
    r.push({ op: "setattr", path: inRoot(f.path), set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, clear: 0, recursive: false });
  });
  r.push({ op: "pivot", root: NEW_ROOT });
  return r;
}
