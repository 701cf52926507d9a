// The mount plan of an OCI container: its bundle's rootfs as the root, config.json's mounts
// in their order, the standard device nodes, sysctls, maskedPaths and readonlyPaths, then
// the policy's path rules on top (they may only take away: hide, or make read-only).
//
// Mount points are resolved inside the rootfs as the kernel would see them after pivot
// (symlinks followed, absolute ones from the rootfs's root, never out of it), so that an
// image whose /proc is a symlink to /etc cannot send a mount onto the host.
import { lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, posix } from "node:path";
import type { Policy } from "../../sentry/policy/schema.js";
import { parsePathPattern } from "../../sentry/policy/paths.js";
import type { FsAccess } from "../sandbox/globs.js";
import { expandRules, nodeFs } from "../sandbox/globs.js";
import type { InitRecord } from "../sandbox/initConfig.js";
import type { MadeMount } from "../sandbox/plan.js";
import {
  MOUNT_ATTR__ATIME,
  MOUNT_ATTR_NOATIME,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NODIRATIME,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_RELATIME,
  MOUNT_ATTR_STRICTATIME,
  MS_BIND,
  MS_DIRSYNC,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_SHARED,
  MS_SILENT,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
} from "../../platform/abi/mount.js";
import { beginTree, CONTAINER_STAGING, deviceLinks, deviceNodes, MASKED_PATHS, newRoot, READONLY_PATHS, rebind, syntheticFiles, virtualProcRecords } from "../sandbox/tree.js";
import type { Mount as CgroupMount } from "../sandbox/cgroups.js";
import type { OciConfigDoc } from "./config.js";
import { OciConfigError } from "./errors.js";
import { ID_RANGE } from "../sandbox/ids.js";
import type { MountEntry } from "./idmapSources.js";
import { idmappable, idmappedSubmounts } from "./idmapSources.js";
import { hostHasDevice } from "./devices.js";


/**
 * Mount options that are flags: [set, clear] for mount(2), and for mount_setattr(2) on a
 * bind. The access-time options choose one mode of the MOUNT_ATTR__ATIME field: setting one
 * clears the field first (mount_setattr refuses a mode without it).
 */
const FLAGS: Readonly<Record<string, { set: number; clear: number; attr: number; clearAttr: number }>> = {
  ro: { set: MS_RDONLY, clear: 0, attr: MOUNT_ATTR_RDONLY, clearAttr: 0 },
  rw: { set: 0, clear: MS_RDONLY, attr: 0, clearAttr: MOUNT_ATTR_RDONLY },
  nosuid: { set: MS_NOSUID, clear: 0, attr: MOUNT_ATTR_NOSUID, clearAttr: 0 },
  suid: { set: 0, clear: MS_NOSUID, attr: 0, clearAttr: MOUNT_ATTR_NOSUID },
  nodev: { set: MS_NODEV, clear: 0, attr: MOUNT_ATTR_NODEV, clearAttr: 0 },
  dev: { set: 0, clear: MS_NODEV, attr: 0, clearAttr: MOUNT_ATTR_NODEV },
  noexec: { set: MS_NOEXEC, clear: 0, attr: MOUNT_ATTR_NOEXEC, clearAttr: 0 },
  exec: { set: 0, clear: MS_NOEXEC, attr: 0, clearAttr: MOUNT_ATTR_NOEXEC },
  sync: { set: MS_SYNCHRONOUS, clear: 0, attr: 0, clearAttr: 0 },
  async: { set: 0, clear: MS_SYNCHRONOUS, attr: 0, clearAttr: 0 },
  dirsync: { set: MS_DIRSYNC, clear: 0, attr: 0, clearAttr: 0 },
  mand: { set: MS_MANDLOCK, clear: 0, attr: 0, clearAttr: 0 },
  nomand: { set: 0, clear: MS_MANDLOCK, attr: 0, clearAttr: 0 },
  noatime: { set: MS_NOATIME, clear: 0, attr: MOUNT_ATTR_NOATIME, clearAttr: MOUNT_ATTR__ATIME },
  atime: { set: 0, clear: MS_NOATIME, attr: 0, clearAttr: 0 },
  nodiratime: { set: MS_NODIRATIME, clear: 0, attr: MOUNT_ATTR_NODIRATIME, clearAttr: 0 },
  diratime: { set: 0, clear: MS_NODIRATIME, attr: 0, clearAttr: MOUNT_ATTR_NODIRATIME },
  relatime: { set: MS_RELATIME, clear: 0, attr: MOUNT_ATTR_RELATIME, clearAttr: MOUNT_ATTR__ATIME },
  norelatime: { set: 0, clear: MS_RELATIME, attr: 0, clearAttr: 0 },
  strictatime: { set: MS_STRICTATIME, clear: 0, attr: MOUNT_ATTR_STRICTATIME, clearAttr: MOUNT_ATTR__ATIME },
  nostrictatime: { set: 0, clear: MS_STRICTATIME, attr: 0, clearAttr: 0 },
  silent: { set: MS_SILENT, clear: 0, attr: 0, clearAttr: 0 },
  loud: { set: 0, clear: MS_SILENT, attr: 0, clearAttr: 0 },
};

/**
 * The recursive forms runc knows (rro, rnosuid, …): mount_setattr on the mount and every
 * mount beneath it. The plain forms change the mount itself only, as runc's remount does.
 */
const RECURSIVE_FLAGS: ReadonlySet<string> = new Set([
  "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime", "strictatime", "nostrictatime",
]);

const PROPAGATION: Readonly<Record<string, number>> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** Options runc knows that runsc-ts does not carry out: an error, not a silent difference. */
const UNSUPPORTED = new Set(["tmpcopyup", "idmap", "ridmap", "recursive"]);

export interface ParsedOptions {
  flags: number;
  /** Flags to set and clear with mount_setattr on a bind (a bind takes them only that way): on the mount itself. */
  attr: number;
  clearAttr: number;
  /** The same from the recursive forms (rro, rnosuid, …): on the mount and every mount beneath it. */
  recursiveAttr: number;
  recursiveClearAttr: number;
  propagation: number[];
  bind: boolean;
  recursive: boolean;
  data: string;
}

/** Splits a mount's options into flags, propagation and the filesystem's own data. */
export function parseMountOptions(options: readonly string[], field: string): ParsedOptions {
  const out: ParsedOptions = { flags: 0, attr: 0, clearAttr: 0, recursiveAttr: 0, recursiveClearAttr: 0, propagation: [], bind: false, recursive: false, data: "" };
  const data: string[] = [];
  for (const o of options) {
    if (o === "bind" || o === "rbind") {
      out.bind = true;
      out.recursive ||= o === "rbind";
    } else if (FLAGS[o] !== undefined) {
      const f = FLAGS[o];
      out.flags = (out.flags & ~f.clear) | f.set;
      out.attr = (out.attr & ~f.clearAttr) | f.attr;
      out.clearAttr = (out.clearAttr & ~f.attr) | f.clearAttr;
    } else if (PROPAGATION[o] !== undefined) {
      out.propagation.push(PROPAGATION[o]);
    } else if (o.startsWith("r") && RECURSIVE_FLAGS.has(o.slice(1))) {
      const f = FLAGS[o.slice(1)]!;
      out.recursiveAttr = (out.recursiveAttr & ~f.clearAttr) | f.attr;
      out.recursiveClearAttr = (out.recursiveClearAttr & ~f.attr) | f.clearAttr;
    } else if (UNSUPPORTED.has(o) || (o.startsWith("r") && FLAGS[o.slice(1)] !== undefined)) {
      throw new OciConfigError("config.json", [`${field}: mount option "${o}" is not supported by runsc-ts`]);
    } else {
      data.push(o);
    }
  }
  out.data = data.join(",");
  return out;
}

/**
 * Resolves path inside rootfs as the container will see it: symlinks followed with the
 * rootfs as "/", ".." stopping there. Components that do not exist yet are kept as they are.
 */
export function resolveInRoot(rootfs: string, path: string): string {
  let done: string[] = [];
  let todo = path.split("/").filter((c) => c !== "" && c !== ".");
  let missing = false;
  for (let links = 0; todo.length > 0; ) {
    const c = todo.shift()!;
    if (c === "..") {
      done.pop();
      continue;
    }
    // Beneath a missing component nothing is a symlink, and ".." still stops at the root.
    if (missing) {
      done.push(c);
      continue;
    }
    let st;
    try {
      st = lstatSync(join(rootfs, ...done, c));
    } catch {
      missing = true;
      done.push(c);
      continue;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > 40) throw new Error(`${path}: too many levels of symbolic links in the rootfs`);
    const target = readlinkSync(join(rootfs, ...done, c));
    if (isAbsolute(target)) done = [];
    todo = [...target.split("/").filter((x) => x !== "" && x !== "."), ...todo];
  }
  return "/" + done.join("/");
}

/**
 * Where the container's root is assembled, in a tmpfs its mount namespace alone sees. Not
 * /tmp (as for `do`): a bundle's rootfs may be there, and the tmpfs would cover it.
 */
const STAGING = CONTAINER_STAGING;
const NEW_ROOT = newRoot(STAGING);

/** The rootfs as glob expansion walks it: paths resolved as the container will see them. */
function inRootfs(rootfs: string): FsAccess {
  const host = (p: string): string => join(rootfs, resolveInRoot(rootfs, p));
  return { readdir: (p) => nodeFs.readdir(host(p)), kind: (p) => nodeFs.kind(host(p)) };
}

function inRoot(p: string): string {
  return p === "/" ? NEW_ROOT : NEW_ROOT + p;
}

/** /proc files a bind may replace (runc: checkProcMount), as lxcfs does. */
const PROC_FILES_MOUNTABLE = new Set([
  "/proc/cpuinfo",
  "/proc/diskstats",
  "/proc/meminfo",
  "/proc/stat",
  "/proc/swaps",
  "/proc/uptime",
  "/proc/loadavg",
  "/proc/slabinfo",
  "/proc/net/dev",
  "/proc/sys/kernel/ns_last_pid",
]);


export interface PlanInput {
  config: OciConfigDoc;
  /** The bundle directory (relative bind sources) and the rootfs's absolute host path. */
  bundle: string;
  rootfs: string;
  /** The policy's filesystem view, applied on top. */
  policy: Policy;
  maskFile: string;
  /** The container's v1 cgroup hierarchies or its v2 group: what a "cgroup" mount shows. */
  cgroupView: { mount: CgroupMount; dir: string }[];
  /** The host path of the terminal's slave: bound onto /dev/console. */
  console?: string;
  /**
   * filesystem.root: overlay — the index of the overlay of the rootfs passed to init (spawn's
   * fds): the root, whose writes land in its upper layer and never reach the bundle.
   */
  overlay?: number;
  /** filesystem.proc.virtualize — the index of the FUSE mount of the virtual files passed to init. */
  proc?: number;
  /** The container has a network namespace made for it (not the host's, not one joined). */
  ownNetwork?: boolean;
  /**
   * A user namespace made ahead: the idmapped root's index (spawn's fds), and where the bind
   * mounts that can be idmapped are collected (their indexes follow from `first`).
   */
  idmapped?: { root?: number; first: number; binds: MadeMount[]; mounts: readonly MountEntry[]; rootSubmounts?: true };
  /** The container is on the host's IPC namespace (none of its own): an mqueue mount is the host's. */
  hostIpc?: boolean;
  /** The container is on the host's PID namespace (hostPID): a proc mount is the host's. */
  hostPid?: boolean;
  /** linux.devices, made by the runtime (devices.ts): each one's index and node. */
  madeDevices?: ReadonlyMap<number, string>;
  /** linux.sysctl keys written elsewhere (a pod's network namespace's, by create as host root): no record for init. */
  sysctlsElsewhere?: readonly string[];
}

/** Where config.json's mounts put a procfs and a sysfs, and whether one of them is /dev. */
interface Placed {
  hasDev: boolean;
  proc: string[];
  sysfs: string[];
}

/** A mount point inside the root, made with its parents (init resolves it there) as a dir or file. */
function mountPoint(r: InitRecord[], dest: string, leaf: "dir" | "file"): string {
  const target = inRoot(posix.normalize(dest));
  if (target !== NEW_ROOT) r.push(leaf === "dir" ? { op: "mkdir", path: target, mode: 0o755 } : { op: "mkfile", path: target, mode: 0o644 });
  return target;
}

function kindOf(hostPath: string): "dir" | "file" {
  try {
    return statSync(hostPath).isDirectory() ? "dir" : "file";
  } catch {
    return "dir";
  }
}

/** The init records that build the container's mount tree, up to pivot_root. */
export function planBundleMounts(input: PlanInput): InitRecord[] {
  const r = rootRecords(input);
  const placed = configMountRecords(r, input);
  r.push(...devRecords(input, placed.hasDev));
  r.push(...sysctlAndPathRecords(input, placed));
  r.push(...policyRecords(input));
  if (input.config.root.readonly === true || input.policy.filesystem.root === "readonly") r.push({ op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });
  r.push({ op: "pivot", root: NEW_ROOT });
  const rootPropagation = input.config.linux?.rootfsPropagation;
  if (rootPropagation === "shared" || rootPropagation === "rshared") r.push({ op: "mount", source: "", target: "/", fstype: "", flags: PROPAGATION[rootPropagation]!, data: "" });
  return r;
}

/** The staging tmpfs and the root: the rootfs bound (nodev) or its overlay attached; from then on paths resolve inside it. */
function rootRecords(input: PlanInput): InitRecord[] {
  const { config, rootfs, policy } = input;
  const r: InitRecord[] = [];
  const linux = config.linux ?? {};
  // The policy's overlay: made by host root, or over the idmapped rootfs (idmapped.root, in a user namespace of ours).
  if (policy.filesystem.root === "overlay" && input.overlay === undefined && input.idmapped?.root === undefined) throw new Error("filesystem.root: overlay needs the overlay mount passed to init");
  const rootPropagation = linux.rootfsPropagation ?? "rprivate";

  // Nothing mounted here reaches the host, unless rootfsPropagation says it should.
  r.push(...beginTree(STAGING, input.maskFile, rootPropagation.includes("slave") || rootPropagation.includes("shared") ? MS_SLAVE : MS_PRIVATE));
  if (input.overlay !== undefined) r.push({ op: "attach", index: input.overlay, path: NEW_ROOT });
  else if (input.idmapped?.root !== undefined) {
    // The rootfs idmapped into the container's user namespace: root's files are root's inside.
    r.push({ op: "attach", index: input.idmapped.root, path: NEW_ROOT });
    // A root idmapped alone (a host tree, with procfs beneath): what beneath can be idmapped, on its own.
    if (input.idmapped.rootSubmounts !== undefined) {
      for (const m of idmappedSubmounts(rootfs, input.idmapped.mounts)) {
        r.push({ op: "attach", index: input.idmapped.first + input.idmapped.binds.length, path: posix.join(NEW_ROOT, m.rel) });
        input.idmapped.binds.push({ source: m.source, recursive: false });
      }
    }
    r.push({ op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_NODEV, clear: 0, recursive: true });
  } else {
    r.push({ op: "mount", source: rootfs, target: NEW_ROOT, fstype: "", flags: MS_BIND | MS_REC, data: "" });
    // nodev: a device node the image ships opens nothing (the standard devices and
    // linux.devices are bound onto /dev, mounts of their own).
    r.push({ op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_NODEV, clear: 0, recursive: true });
  }
  // A shared root is made so after pivot_root, which refuses a shared new root (as runc does
  // it): until then it is a slave, receiving the host's mounts.
  const shared = rootPropagation === "shared" || rootPropagation === "rshared";
  r.push({ op: "mount", source: "", target: NEW_ROOT, fstype: "", flags: shared ? MS_SLAVE | (PROPAGATION[rootPropagation]! & MS_REC) : PROPAGATION[rootPropagation]!, data: "" });
  // From here on, init resolves every path beneath NEW_ROOT inside the root as mounted so
  // far: the image's symlinks and a volume's stay inside it, and a path protected below is
  // the one the container will see (a fresh /proc's, not the image's).
  r.push({ op: "root", path: NEW_ROOT });

  return r;
}

/** config.json's mounts, in order; where they put /dev, procfs and sysfs. */
function configMountRecords(r: InitRecord[], input: PlanInput): Placed {
  const { config, rootfs } = input;
  const placed: Placed = { hasDev: false, proc: [], sysfs: [] };
  (config.mounts ?? []).forEach((m, i) => {
    const field = `mounts[${i}]`;
    const o = parseMountOptions(m.options ?? [], `${field}.options`);
    const type = m.type ?? (o.bind ? "bind" : "");
    const dest = posix.normalize(m.destination);
    if (dest === "/dev") placed.hasDev = true;
    // As runc (checkProcMount): nothing but a proc mount goes on /proc or under it, but for
    // the files lxcfs stands in for; an image's symlink (dev -> /proc) must not move a
    // mount there, where it would cover the container's procfs and what protects it.
    const seen = resolveInRoot(rootfs, dest);
    if (type !== "proc" && (seen === "/proc" || seen.startsWith("/proc/")) && !PROC_FILES_MOUNTABLE.has(seen)) {
      throw new OciConfigError("config.json", [`${field}.destination: ${dest} is ${seen} inside the container's root${seen === dest ? "" : " (through the image's symlinks)"}; only proc mounts there`]);
    }
    if (o.bind || type === "bind") {
      if (m.source === undefined) throw new OciConfigError("config.json", [`${field}.source: missing (a bind mount needs one)`]);
      const source = isAbsolute(m.source) ? m.source : join(input.bundle, m.source);
      const target = mountPoint(r, dest, kindOf(source));
      const idm = input.idmapped;
      if (idm !== undefined && idmappable(source, o.recursive, idm.mounts)) {
        // Idmapped into the container's user namespace: what root inside writes is root's on the host, as under runc.
        r.push({ op: "attach", index: idm.first + idm.binds.length, path: target });
        idm.binds.push({ source, recursive: o.recursive });
      } else {
        r.push({ op: "mount", source, target, fstype: "", flags: MS_BIND | (o.recursive ? MS_REC : 0), data: "" });
      }
      // A bind takes its flags through mount_setattr: the plain options on the mount itself
      // (what is mounted beneath keeps its own, as under runc), the recursive ones (rro, …)
      // on everything beneath too. nosuid always holds, beneath too, unless the config asks
      // for suid. The host's /proc and /sys hold host-global knobs: bound in, they are
      // read-only, beneath too, whatever the options say.
      const knobs = hostKnobs(source);
      const suid = ((o.clearAttr | o.recursiveClearAttr) & MOUNT_ATTR_NOSUID) !== 0;
      const deepSet = o.recursiveAttr | (suid ? 0 : MOUNT_ATTR_NOSUID) | (knobs ? MOUNT_ATTR_RDONLY : 0);
      const deepClear = knobs ? o.recursiveClearAttr & ~MOUNT_ATTR_RDONLY : o.recursiveClearAttr;
      const topSet = o.attr;
      const topClear = knobs ? o.clearAttr & ~MOUNT_ATTR_RDONLY : o.clearAttr;
      const deep = o.recursive || knobs;
      // Nothing beneath a plain bind: one change does for both.
      const attrs = deep
        ? [
            { set: deepSet, clear: deepClear, recursive: true },
            { set: topSet, clear: topClear, recursive: false },
          ]
        : [{ set: (deepSet & ~topClear) | topSet, clear: (deepClear & ~topSet) | topClear, recursive: false }];
      for (const a of attrs) if (a.set !== 0 || a.clear !== 0) r.push({ op: "setattr", path: target, ...a });
      for (const p of o.propagation) r.push({ op: "mount", source: "", target, fstype: "", flags: p, data: "" });
      return;
    }
    if (type === "cgroup") {
      // The container's own groups, read-only: a tmpfs holding each hierarchy (v1), or the
      // v2 group itself.
      const target = mountPoint(r, dest, "dir");
      if (input.cgroupView.length === 1 && input.cgroupView[0]!.mount.fstype === "cgroup2") {
        r.push({ op: "mount", source: input.cgroupView[0]!.dir, target, fstype: "", flags: MS_BIND, data: "" });
      } else {
        r.push({ op: "mount", source: "tmpfs", target, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "mode=755" });
        for (const v of input.cgroupView) {
          const name = v.mount.point.slice(v.mount.point.lastIndexOf("/") + 1);
          r.push({ op: "mkdir", path: `${target}/${name}`, mode: 0o755 });
          r.push({ op: "mount", source: v.dir, target: `${target}/${name}`, fstype: "", flags: MS_BIND, data: "" });
          r.push({ op: "setattr", path: `${target}/${name}`, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, clear: 0, recursive: false });
        }
      }
      r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, clear: 0, recursive: true });
      return;
    }
    if (type === "") throw new OciConfigError("config.json", [`${field}.type: missing (and the options do not say bind)`]);
    const host = (type === "mqueue" && input.hostIpc === true) || (type === "proc" && input.hostPid === true) ? type : undefined;
    if (host !== undefined) {
      // The host's IPC namespace's mqueue, or its PID namespace's procfs, made by host root
      // and attached (root inside may not mount them: the namespaces are the host user namespace's).
      const idm = input.idmapped;
      const what = host === "mqueue" ? "an mqueue mount on the host's IPC namespace" : "a proc mount on the host's PID namespace";
      if (idm === undefined) {
        throw new OciConfigError("config.json", [`${field}: ${what} needs the user namespace runsc-ts makes for the container (root of the config's own may not mount the host's ${host})`]);
      }
      const target = mountPoint(r, dest, "dir");
      if (host === "proc") placed.proc.push(dest);
      r.push({ op: "attach", index: idm.first + idm.binds.length, path: target });
      idm.binds.push({ host });
      if (o.flags & MS_RDONLY) r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });
      return;
    }
    const target = mountPoint(r, dest, "dir");
    if (type === "proc") placed.proc.push(dest);
    if (type === "sysfs") placed.sysfs.push(dest);
    if (type === "sysfs" && input.idmapped !== undefined && input.ownNetwork !== true) {
      // A sysfs is mounted only with a network namespace of the user namespace's own: on the
      // host's network, the host's /sys bound, read-only (the floor below), as runc binds it.
      r.push({ op: "mount", source: "/sys", target, fstype: "", flags: MS_BIND | MS_REC, data: "" });
      return;
    }
    // sysfs, proc and the like refuse MS_RDONLY at mount time on some kernels: mount, then set.
    r.push({ op: "mount", source: m.source ?? type, target, fstype: type, flags: o.flags & ~MS_RDONLY, data: o.data });
    if (o.flags & MS_RDONLY) r.push({ op: "setattr", path: target, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });
    for (const p of o.propagation) r.push({ op: "mount", source: "", target, fstype: "", flags: p, data: "" });
  });

  return placed;
}

/**
 * A sysctl's value as a user namespace of ID_RANGE ids can hold it: ping_group_range's
 * groups clamped to those mapped (Docker asks for "0 2147483647": every group).
 */
function withinRange(key: string, value: string): string {
  if (key !== "net.ipv4.ping_group_range") return value;
  const ids = value.trim().split(/\s+/).map(Number);
  if (ids.length !== 2 || !ids.every((n) => Number.isInteger(n) && n >= 0)) return value;
  return ids.map((n) => Math.min(n, ID_RANGE - 1)).join(" ");
}

/** Whether a bind's source is (in) the host's procfs or sysfs: host-global knobs. */
function hostKnobs(source: string): boolean {
  let real: string;
  try {
    real = realpathSync(source);
  } catch {
    return false; // the bind fails in init, naming the source
  }
  return ["/proc", "/sys"].some((k) => real === k || real.startsWith(`${k}/`));
}

/** /dev: the default devices, linux.devices, the usual links and the console. */
function devRecords(input: PlanInput, hasDev: boolean): InitRecord[] {
  const linux = input.config.linux ?? {};
  const r: InitRecord[] = [];
  // /dev: the default devices, bound from the host's (a node made here would need mknod,
  // which the container is refused anyway), linux.devices' nodes made by the runtime, and
  // the usual links.
  const dev = hasDev ? inRoot("/dev") : mountPoint(r, "/dev", "dir");
  r.push(...deviceNodes(dev, false));
  // The nodes the runtime made (devices.ts), in a user namespace of ours: their directory
  // attached once beside the new root, idmapped and without nodev by host root (/run usually
  // is nodev, and root inside may not clear it), each node bound from there. A privileged
  // config lists every host device: one descriptor, not one each.
  const idm = input.idmapped;
  const made = [...(input.madeDevices?.values() ?? [])];
  const madeIn = idm !== undefined && made.length > 0 ? `${STAGING}/devices` : undefined;
  if (madeIn !== undefined) {
    r.push({ op: "mkdir", path: madeIn, mode: 0o700 });
    r.push({ op: "attach", index: idm!.first + idm!.binds.length, path: madeIn });
    idm!.binds.push({ source: posix.dirname(made[0]!), recursive: false, devices: true });
  }
  (linux.devices ?? []).forEach((d, i) => {
    if (d.type === "p") throw new OciConfigError("config.json", [`linux.devices[${i}]: FIFOs are not supported as devices`]);
    // In a config's own user namespace, nothing was made: the host's node.
    const node = input.madeDevices?.get(i);
    const target = mountPoint(r, d.path, "file");
    if (node === undefined) {
      if (!hostHasDevice(d)) throw new OciConfigError("config.json", [`linux.devices[${i}]: ${d.path} (${d.type} ${String(d.major)}:${String(d.minor)}) is not a device of the host's, which a container in a user namespace of its config's own can only bind`]);
      r.push({ op: "mount", source: d.path, target, fstype: "", flags: MS_BIND, data: "" });
    } else if (madeIn !== undefined) {
      r.push({ op: "mount", source: `${madeIn}/${posix.basename(node)}`, target, fstype: "", flags: MS_BIND, data: "" });
    } else {
      // Root inside is host root: the node's bind, made without nodev.
      r.push({ op: "mount", source: node, target, fstype: "", flags: MS_BIND, data: "" });
      r.push({ op: "setattr", path: target, set: 0, clear: MOUNT_ATTR_NODEV, recursive: false });
    }
  });
  r.push(...deviceLinks(dev, [["core", "/proc/kcore"]]));
  if (input.console !== undefined) {
    r.push({ op: "mkfile", path: `${dev}/console`, mode: 0o600 });
    r.push({ op: "mount", source: input.console, target: `${dev}/console`, fstype: "", flags: MS_BIND, data: "" });
  }

  return r;
}

/**
 * linux.sysctl (while /proc/sys is writable), then maskedPaths and readonlyPaths over a
 * floor no config lowers: the host-global /proc and /sys entries (MASKED_PATHS,
 * READONLY_PATHS) are masked or read-only in every procfs the config mounts, and every
 * sysfs is read-only, whatever the config says (Docker's --privileged gives neither list).
 * A network namespace of the container's own shows only its own settings under
 * /proc/sys/net: that stays writable where the config leaves /proc/sys writable.
 */
function sysctlAndPathRecords(input: PlanInput, placed: Placed): InitRecord[] {
  const linux = input.config.linux ?? {};
  const r: InitRecord[] = [];
  // sysctls, while /proc/sys is still writable (the namespaced ones: net.*, kernel.shm*...).
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_*-]+)+$/.test(key)) throw new OciConfigError("config.json", [`linux.sysctl: ${JSON.stringify(key)} is not a sysctl name`]);
    if (input.sysctlsElsewhere?.includes(key)) continue;
    r.push({ op: "sysctl", path: inRoot(`/proc/sys/${key.replace(/\./g, "/")}`), value: input.idmapped !== undefined ? withinRange(key, value) : value });
  }

  const under = (mounts: readonly string[], prefix: string, paths: readonly string[]): string[] =>
    mounts.flatMap((m) => paths.filter((p) => p.startsWith(`${prefix}/`)).map((p) => posix.join(m, p.slice(prefix.length))));
  const floorMasked = [...under(placed.proc, "/proc", MASKED_PATHS), ...under(placed.sysfs, "/sys", MASKED_PATHS)];
  const floorReadonly = [...under(placed.proc, "/proc", READONLY_PATHS), ...placed.sysfs];
  const masked = new Set([...(linux.maskedPaths ?? []).map((p) => posix.normalize(p)), ...floorMasked]);
  const configReadonly = (linux.readonlyPaths ?? []).map((p) => posix.normalize(p));
  const readonly = new Set([...configReadonly, ...floorReadonly]);
  for (const p of masked) r.push({ op: "hide", path: inRoot(p) });
  for (const p of readonly) r.push(...rebind(inRoot(p), MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  const sysWritable = !configReadonly.some((p) => p === "/proc" || p === "/proc/sys" || p === "/proc/sys/net");
  if (input.ownNetwork === true && sysWritable) {
    for (const m of placed.proc) r.push(...rebind(inRoot(posix.join(m, "sys/net")), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, MOUNT_ATTR_RDONLY));
  }

  return r;
}

/** The policy on top: /tmp, path rules, synthetic files, the virtual /proc files. */
function policyRecords(input: PlanInput): InitRecord[] {
  const { rootfs, policy } = input;
  const r: InitRecord[] = [];
  // The policy's path rules, on top: none hides, read and exec make read-only. Globs become
  // the paths they match in the rootfs now.
  if (policy.filesystem.tmp) r.push({ op: "mount", source: "tmpfs", target: mountPoint(r, "/tmp", "dir"), fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=1777" });
  for (const rule of expandRules(policy.filesystem.rules, inRootfs(rootfs))) {
    const base = parsePathPattern(rule.path).base;
    if (base === "/") {
      if (rule.access === "none") throw new OciConfigError("policy", [`filesystem.rules: "${rule.path}: none" would hide the container's whole root`]);
      continue;
    }
    const target = inRoot(base);
    if (rule.access === "none") {
      r.push({ op: "hide", path: target });
    } else if (rule.access === "read" || rule.access === "exec") {
      r.push(...rebind(target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID));
    }
  }
  // The policy's synthetic files: written in the staging tmpfs, bound read-only over their
  // path (made in the rootfs when missing, as a config mount's would be).
  syntheticFiles(r, policy, STAGING, (path) => mountPoint(r, posix.normalize(path), "file"));
  // The virtual /proc files (the config's /proc and /sys are mounted by now).
  r.push(...virtualProcRecords(policy, input.proc, STAGING, (path) => inRoot(posix.normalize(path))));
  return r;
}
