// filesystem.root: overlay — root inside owns its copy of the root.
//
// The overlay's base is the host's root filesystem, owned by host users that have no
// mapping in the sandbox: the kernel refuses the sandbox's root to change it, as it would
// refuse any unprivileged user. Under an overlay root, the calls that change the
// filesystem trap (compile.ts), and for a task that holds the capability in its own user
// namespace the sentry performs them on the overlay itself, with the task's fs ids and the
// file capabilities raised (asTaskElevated). Every write lands in the overlay's in-memory
// upper layer; the host's files never change.
//
// What root inside never gains is reading what it could not read before:
//   * paths are resolved as the task (its search permissions) up to the last component,
//     and nothing elevated follows a symlink: a file behind a directory the task cannot
//     search stays out of reach (no link or rename of it elsewhere);
//   * opening for reading, chmod, chown and their fd forms need the task's own read access
//     to the file (and search access to a directory) first;
//   * the elevation applies only on the overlay's own mount: a read-write rule's host
//     directory, the private /tmp and everything else are the kernel's to decide, as for
//     any task.
// A task without the capability (a non-root user inside), or a call off the overlay, is
// left to the kernel: no decision was made on the path, so letting the kernel read it
// again decides nothing (as for resolvesPerReader in sys_file.ts).
// Extended attributes: the user.* namespace, on regular files and directories (the others are
// the kernel's: trusted.* and security.* are privileges, not ownership).
// What the sentry writes elevated never gives the host more than the workload had: no file
// it creates or changes gets a set-user-ID or set-group-ID bit (NO_PRIVILEGE_BITS). The upper
// layer may be a host directory (overlay.dir), where such a file would run as its host owner
// for any host user who reached it; inside, no_new_privs makes the bits meaningless anyway.
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { E2BIG, EACCES, EFAULT, EINVAL, EISDIR, ENOENT, EPERM, ERANGE } from "../../platform/abi/errno.js";
import { __O_TMPFILE, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK } from "../../platform/abi/fcntl.js";
import { errnoReply, SyscallError } from "../errors/errors.js";
import type { Creds, Kernel, PathArg } from "../kernel/task.js";
import { asSentry, asTask, copyInPath, hostId, nonBlockingOpen, openProc } from "../kernel/task.js";
import type { Family } from "./handlers.js";
import { family } from "./handlers.js";
import type { FileInfo } from "./elevation.js";
import { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER } from "../../platform/abi/capability.js";
import { NO_PRIVILEGE_BITS, EMPTY, inspect, onOverlay, hasCap, viaProc, keep, DOT, split, resolveAsTask, dirOnOverlay, taskMayRead, done, elevated, currentCreds, rootInside } from "./elevation.js";

/** An operation on one name in a directory: mkdir, mknod, symlink, unlink, rmdir. */
function nameAt(k: Kernel, ev: TrapEvent, dirfd: number, pathIndex: number, make: (c: Creds, parent: number, name: PathArg) => number): Reply {
  const c = rootInside(k, ev, CAP_DAC_OVERRIDE);
  if (c === undefined) return ALLOW;
  const s = split(copyInPath(k, ev, pathIndex));
  if (s === undefined) return ALLOW;
  const parent = dirOnOverlay(k, ev.pid, c, dirfd, s.dir);
  if (parent === undefined) return ALLOW;
  try {
    return done(elevated(k, c, () => make(c, parent, s.name)));
  } finally {
    k.native.close(parent);
  }
}

function mkdirAt(k: Kernel, ev: TrapEvent, dirfd: number, pathIndex: number, mode: number): Reply {
  return nameAt(k, ev, dirfd, pathIndex, (c, parent, name) => k.native.mkdirAt(parent, name.bytes, name.len, mode & 0o7777 & ~c.umask));
}

function mknodAt(k: Kernel, ev: TrapEvent, dirfd: number, pathIndex: number, mode: number): Reply {
  const type = mode & S_IFMT;
  // Devices are refused by the kernel inside a user namespace; so they stay.
  if (type !== 0 && type !== S_IFREG && type !== S_IFIFO && type !== S_IFSOCK) return ALLOW;
  return nameAt(k, ev, dirfd, pathIndex, (c, parent, name) => k.native.mknodAt(parent, name.bytes, name.len, (type || S_IFREG) | (mode & NO_PRIVILEGE_BITS & ~c.umask), 0));
}

function symlinkAt(k: Kernel, ev: TrapEvent, targetIndex: number, dirfd: number, pathIndex: number): Reply {
  if (k.overlayMount === undefined) return ALLOW;
  const target = keep(copyInPath(k, ev, targetIndex));
  return nameAt(k, ev, dirfd, pathIndex, (_c, parent, name) => k.native.symlinkAt(target.bytes, target.len, parent, name.bytes, name.len));
}

function unlinkAt(k: Kernel, ev: TrapEvent, dirfd: number, pathIndex: number, flags: number): Reply {
  if ((flags & ~AT_REMOVEDIR) !== 0) return errnoReply(EINVAL);
  return nameAt(k, ev, dirfd, pathIndex, (_c, parent, name) => k.native.unlinkAt(parent, name.bytes, name.len, flags));
}

/** rename and link: two names, both resolved as the task up to their last component. */
function twoNames(
  k: Kernel,
  ev: TrapEvent,
  oldDirfd: number,
  oldIndex: number,
  newDirfd: number,
  newIndex: number,
  op: (c: Creds, oldParent: number, oldName: PathArg, newParent: number, newName: PathArg) => number,
): Reply {
  const c = rootInside(k, ev, CAP_DAC_OVERRIDE);
  if (c === undefined) return ALLOW;
  const from = split(keep(copyInPath(k, ev, oldIndex)));
  const to = split(copyInPath(k, ev, newIndex));
  if (from === undefined || to === undefined) return ALLOW;
  const a = dirOnOverlay(k, ev.pid, c, oldDirfd, from.dir);
  if (a === undefined) return ALLOW;
  try {
    const b = dirOnOverlay(k, ev.pid, c, newDirfd, to.dir);
    if (b === undefined) return ALLOW;
    try {
      return done(op(c, a, from.name, b, to.name));
    } finally {
      k.native.close(b);
    }
  } finally {
    k.native.close(a);
  }
}

function renameAt(k: Kernel, ev: TrapEvent, oldDirfd: number, oldIndex: number, newDirfd: number, newIndex: number, flags: number): Reply {
  return twoNames(k, ev, oldDirfd, oldIndex, newDirfd, newIndex, (c, a, from, b, to) =>
    elevated(k, c, () => k.native.renameAt2(a, from.bytes, from.len, b, to.bytes, to.len, flags)),
  );
}

function linkAt(k: Kernel, ev: TrapEvent, oldDirfd: number, oldIndex: number, newDirfd: number, newIndex: number, flags: number): Reply {
  if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
  if (flags & AT_EMPTY_PATH) return ALLOW; // linking an open file: the kernel's (CAP_DAC_READ_SEARCH)
  return twoNames(k, ev, oldDirfd, oldIndex, newDirfd, newIndex, (c, a, from, b, to) => {
    // The file itself as the task sees it: a symlink is followed only with the task's rights.
    asTask(k, c);
    const file = k.native.openat2(a, from.bytes, from.len, O_PATH | O_CLOEXEC | (flags & AT_SYMLINK_FOLLOW ? 0 : O_NOFOLLOW), 0, 0);
    asSentry(k);
    if (file < 0) return file;
    try {
      return elevated(k, c, () => k.native.linkAt(file, EMPTY, 0, b, to.bytes, to.len, AT_EMPTY_PATH));
    } finally {
      k.native.close(file);
    }
  });
}

/**
 * A change to an existing file (chmod, chown, utimes, truncate): the file is resolved as
 * the task (following a final symlink unless nofollow); on the overlay, op runs elevated on
 * our O_PATH fd of it. guard: the task must be able to read it already.
 */
function changeFile(
  k: Kernel,
  ev: TrapEvent,
  cap: number,
  target: { dirfd: number; pathIndex: number; nofollow: boolean; emptyPath: boolean } | { fd: number },
  guard: boolean,
  op: (c: Creds, fd: number, st: FileInfo) => number,
): Reply {
  const c = rootInside(k, ev, cap);
  if (c === undefined) return ALLOW;
  let fd: number;
  if ("fd" in target) {
    try {
      fd = openProc(k, `${ev.pid}/fd/${target.fd}`, O_PATH | O_CLOEXEC);
    } catch {
      return ALLOW; // not an fd of the task: the kernel says EBADF
    }
  } else {
    const p = copyInPath(k, ev, target.pathIndex);
    if (p.len === 0 && !target.emptyPath) return ALLOW;
    fd = resolveAsTask(k, ev.pid, c, target.dirfd, p, target.nofollow ? O_NOFOLLOW : 0, target.emptyPath);
    if (fd < 0) return ALLOW;
  }
  try {
    const st = onOverlay(k, fd);
    if (st === undefined) return ALLOW;
    if (guard && !taskMayRead(k, c, fd, st)) return errnoReply(EPERM);
    return done(elevated(k, c, () => op(c, fd, st)));
  } finally {
    k.native.close(fd);
  }
}

function chmodOn(k: Kernel, fd: number, st: FileInfo, mode: number): number {
  if (st.type === 0o120000) return -95; // EOPNOTSUPP: a symlink's mode does not change
  const p = viaProc(fd);
  return k.native.chmodAt(k.procFd, p, p.length, mode & (st.type === S_IFDIR ? 0o7777 : NO_PRIVILEGE_BITS));
}

/** chown's ids: inside ids to host ids (-1 keeps); an id without a mapping is EINVAL. */
function chownIds(k: Kernel, ev: TrapEvent, uidIndex: number, gidIndex: number): { uid: number; gid: number } {
  const conv = (i: number, map: typeof k.ids.uid): number => {
    const v = Number(ev.arg(i) & 0xffffffffn);
    if (v === 0xffffffff) return -1;
    const h = hostId(map, v);
    if (h === undefined) throw new SyscallError(EINVAL);
    return h;
  };
  return { uid: conv(uidIndex, k.ids.uid), gid: conv(gidIndex, k.ids.gid) };
}

function chownAt(k: Kernel, ev: TrapEvent, target: Parameters<typeof changeFile>[3], uidIndex: number, gidIndex: number): Reply {
  if (k.overlayMount === undefined) return ALLOW;
  const ids = chownIds(k, ev, uidIndex, gidIndex);
  return changeFile(k, ev, CAP_CHOWN, target, true, (_c, fd) => k.native.chownAt(fd, EMPTY, 0, ids.uid, ids.gid, AT_EMPTY_PATH));
}

const times = new Uint8Array(32);
const timesView = new DataView(times.buffer);

/** Reads the task's times for utimensat (2 timespec), utimes/futimesat (2 timeval) or utime (utimbuf). */
function copyInTimes(k: Kernel, ev: TrapEvent, i: number, kind: "timespec" | "timeval" | "utimbuf"): Uint8Array | null {
  const addr = ev.argNum(i);
  if (addr === 0) return null;
  const size = kind === "utimbuf" ? 16 : 32;
  const r = k.mem.read(ev.pid, addr, size);
  if (typeof r === "number") throw new SyscallError(EFAULT);
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  for (let t = 0; t < 2; t++) {
    if (kind === "timespec") {
      timesView.setBigInt64(t * 16, v.getBigInt64(t * 16, true), true);
      timesView.setBigInt64(t * 16 + 8, v.getBigInt64(t * 16 + 8, true), true);
    } else if (kind === "timeval") {
      const usec = v.getBigInt64(t * 16 + 8, true);
      if (usec < 0n || usec >= 1000000n) throw new SyscallError(EINVAL);
      timesView.setBigInt64(t * 16, v.getBigInt64(t * 16, true), true);
      timesView.setBigInt64(t * 16 + 8, usec * 1000n, true);
    } else {
      timesView.setBigInt64(t * 16, v.getBigInt64(t * 8, true), true);
      timesView.setBigInt64(t * 16 + 8, 0n, true);
    }
  }
  return times;
}

function utimesAt(k: Kernel, ev: TrapEvent, dirfd: number, pathIndex: number, timesIndex: number, kind: "timespec" | "timeval" | "utimbuf", flags: number): Reply {
  if (k.overlayMount === undefined) return ALLOW;
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
  const t = copyInTimes(k, ev, timesIndex, kind);
  const copy = t === null ? null : t.slice();
  // utimensat with a NULL path is futimens on dirfd.
  const target = pathIndex >= 0 && ev.argNum(pathIndex) !== 0 ? { dirfd, pathIndex, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 } : { fd: dirfd };
  return changeFile(k, ev, CAP_FOWNER, target, false, (_c, fd) => k.native.utimensAt(fd, EMPTY, 0, copy, AT_EMPTY_PATH));
}

function truncatePath(k: Kernel, ev: TrapEvent): Reply {
  if (k.overlayMount === undefined) return ALLOW;
  const length = ev.arg(1);
  if (length > 0x7fffffffffffffffn) return errnoReply(EINVAL);
  return changeFile(k, ev, CAP_DAC_OVERRIDE, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, false, (_c, fd, st) => {
    // fs/open.c: vfs_truncate. The type first: opening a FIFO for writing waits for a reader.
    if (st.type === S_IFDIR) return -EISDIR;
    if (st.type !== S_IFREG) return -EINVAL;
    const p = viaProc(fd);
    // Non-blocking: a lease on the file makes the open wait for its holder (lease-break-time,
    // and renewed at will); the caller gets EAGAIN instead, and the lease is broken.
    const w = k.native.openat2(k.procFd, p, p.length, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0, 0);
    if (w < 0) return w;
    try {
      return k.native.ftruncate(w, Number(length));
    } finally {
      k.native.close(w);
    }
  });
}

/** XATTR_NAME_MAX, XATTR_SIZE_MAX (include/uapi/linux/limits.h). */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

/** The xattr name at argument i when it is in the user.* namespace (else undefined: the kernel's). */
function userXattrName(k: Kernel, ev: TrapEvent, i: number): string | undefined {
  const r = k.mem.readBytes(ev.pid, ev.argNum(i), XATTR_NAME_MAX + 1);
  if (typeof r === "number") return undefined;
  const name = Buffer.from(r.bytes.subarray(0, r.len)).toString();
  return name.startsWith("user.") && name.length > 5 ? name : undefined;
}

/**
 * setxattr/removexattr and their l- and f- forms on the overlay's files: done on a descriptor
 * reopened elevated (O_RDONLY, never handed to the task) for a regular file or directory.
 */
function xattr(k: Kernel, ev: TrapEvent, target: Parameters<typeof changeFile>[3], nameIndex: number, set?: { valueIndex: number; sizeIndex: number; flagsIndex: number }): Reply {
  if (k.overlayMount === undefined) return ALLOW;
  const name = userXattrName(k, ev, nameIndex);
  if (name === undefined) return ALLOW;
  let value: Uint8Array | undefined;
  if (set !== undefined) {
    const size = ev.argNum(set.sizeIndex);
    if (size > XATTR_SIZE_MAX) return errnoReply(E2BIG);
    const v = size === 0 ? new Uint8Array(0) : k.mem.read(ev.pid, ev.argNum(set.valueIndex), size);
    if (typeof v === "number") return errnoReply(EFAULT);
    value = v.slice();
  }
  const flags = set === undefined ? 0 : ev.argInt(set.flagsIndex);
  return changeFile(k, ev, CAP_FOWNER, target, false, (_c, fd, st) => {
    if (st.type !== S_IFREG && st.type !== S_IFDIR) return -EPERM;
    const p = viaProc(fd);
    const file = k.native.openat2(k.procFd, p, p.length, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, 0);
    if (file < 0) return file;
    try {
      const r = value === undefined ? k.native.fremovexattr(file, name) : k.native.fsetxattr(file, name, value, flags);
      return r === -ERANGE ? -E2BIG : r;
    } finally {
      k.native.close(file);
    }
  });
}

/**
 * open(2) with write flags, after the task's own attempt failed with EACCES or EPERM (sys_file.ts):
 * an existing file is reopened elevated through our O_PATH fd of it (resolved as the task),
 * a missing one created elevated in its directory. Returns undefined when elevation does
 * not apply (the task's own answer stands).
 */
export function openElevated(k: Kernel, ev: TrapEvent, cached: Creds, dirfd: number, p: PathArg, flags: number, mode: number): Reply | undefined {
  if (k.overlayMount === undefined || !hasCap(cached, CAP_DAC_OVERRIDE) || flags & O_PATH) return undefined;
  const c = currentCreds(k, ev.pid);
  if (!hasCap(c, CAP_DAC_OVERRIDE)) return undefined;
  if (flags & __O_TMPFILE) {
    // An unnamed file in the directory path names: made there, elevated, as the task's.
    const dir = dirOnOverlay(k, ev.pid, c, dirfd, p);
    if (dir === undefined) return undefined;
    try {
      const fd = elevated(k, c, () => k.native.openat2(dir, DOT.bytes, DOT.len, flags, mode & NO_PRIVILEGE_BITS & ~c.umask, 0));
      return fd < 0 ? errnoReply(-fd) : { kind: "fd", fd, cloexec: (flags & O_CLOEXEC) !== 0 };
    } finally {
      k.native.close(dir);
    }
  }
  const file = resolveAsTask(k, ev.pid, c, dirfd, p, flags & (O_NOFOLLOW | O_DIRECTORY));
  if (file >= 0) {
    try {
      const st = inspect(k, file);
      // A FIFO would block the sentry; a symlink (O_NOFOLLOW) is ELOOP, as the kernel says.
      if (st === undefined || st.mnt !== k.overlayMount || st.type === S_IFIFO || st.type === 0o120000) return undefined;
      if (flags & O_CREAT && flags & O_EXCL) return errnoReply(17 /* EEXIST */);
      if ((flags & O_ACCMODE) !== O_WRONLY && !taskMayRead(k, c, file, st)) return errnoReply(EACCES);
      const v = viaProc(file);
      // Never blocking: a lease the workload holds on the file would hold the sentry until
      // it is broken (the open fails with EAGAIN instead, and the lease is broken).
      const blocking = (flags & O_NONBLOCK) === 0;
      const opened = elevated(k, c, () => k.native.openat2(k.procFd, v, v.length, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_NONBLOCK, 0, 0));
      const fd = nonBlockingOpen(k, opened, blocking, flags);
      if (fd === "fifo") return undefined;
      return fd < 0 ? errnoReply(-fd) : { kind: "fd", fd, cloexec: (flags & O_CLOEXEC) !== 0 };
    } finally {
      k.native.close(file);
    }
  }
  if (-file !== ENOENT || (flags & O_CREAT) === 0) return undefined;
  const s = split(p);
  if (s === undefined) return undefined;
  const parent = dirOnOverlay(k, ev.pid, c, dirfd, s.dir);
  if (parent === undefined) return undefined;
  try {
    // Never blocking: a FIFO made at that name meanwhile is left to the task's own answer.
    const blocking = (flags & O_NONBLOCK) === 0;
    const fd = nonBlockingOpen(k, elevated(k, c, () => k.native.openat2(parent, s.name.bytes, s.name.len, flags | O_NOFOLLOW | (blocking ? O_NONBLOCK : 0), mode & NO_PRIVILEGE_BITS & ~c.umask, 0)), blocking, flags);
    if (fd === "fifo") return undefined;
    return fd < 0 ? errnoReply(-fd) : { kind: "fd", fd, cloexec: (flags & O_CLOEXEC) !== 0 };
  } finally {
    k.native.close(parent);
  }
}

/** Under an overlay root, every call that changes the filesystem reaches the sentry. */
export const fsmutFamily: Family = family(
  {
  mkdir: (k, ev) => mkdirAt(k, ev, AT_FDCWD, 0, ev.argInt(1)),
  mkdirat: (k, ev) => mkdirAt(k, ev, ev.argInt(0), 1, ev.argInt(2)),
  mknod: (k, ev) => mknodAt(k, ev, AT_FDCWD, 0, ev.argInt(1)),
  mknodat: (k, ev) => mknodAt(k, ev, ev.argInt(0), 1, ev.argInt(2)),
  symlink: (k, ev) => symlinkAt(k, ev, 0, AT_FDCWD, 1),
  symlinkat: (k, ev) => symlinkAt(k, ev, 0, ev.argInt(1), 2),
  unlink: (k, ev) => unlinkAt(k, ev, AT_FDCWD, 0, 0),
  rmdir: (k, ev) => unlinkAt(k, ev, AT_FDCWD, 0, AT_REMOVEDIR),
  unlinkat: (k, ev) => unlinkAt(k, ev, ev.argInt(0), 1, ev.argInt(2)),
  rename: (k, ev) => renameAt(k, ev, AT_FDCWD, 0, AT_FDCWD, 1, 0),
  renameat: (k, ev) => renameAt(k, ev, ev.argInt(0), 1, ev.argInt(2), 3, 0),
  renameat2: (k, ev) => renameAt(k, ev, ev.argInt(0), 1, ev.argInt(2), 3, ev.argInt(4)),
  link: (k, ev) => linkAt(k, ev, AT_FDCWD, 0, AT_FDCWD, 1, 0),
  linkat: (k, ev) => linkAt(k, ev, ev.argInt(0), 1, ev.argInt(2), 3, ev.argInt(4)),
  chmod: (k, ev) => changeFile(k, ev, CAP_FOWNER, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, true, (_c, fd, st) => chmodOn(k, fd, st, ev.argInt(1))),
  fchmod: (k, ev) => changeFile(k, ev, CAP_FOWNER, { fd: ev.argInt(0) }, true, (_c, fd, st) => chmodOn(k, fd, st, ev.argInt(1))),
  fchmodat: (k, ev) => changeFile(k, ev, CAP_FOWNER, { dirfd: ev.argInt(0), pathIndex: 1, nofollow: false, emptyPath: false }, true, (_c, fd, st) => chmodOn(k, fd, st, ev.argInt(2))),
  fchmodat2: (k, ev) => {
    const flags = ev.argInt(3);
    if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
    const target = { dirfd: ev.argInt(0), pathIndex: 1, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 };
    return changeFile(k, ev, CAP_FOWNER, target, true, (_c, fd, st) => chmodOn(k, fd, st, ev.argInt(2)));
  },
  chown: (k, ev) => chownAt(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1, 2),
  lchown: (k, ev) => chownAt(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1, 2),
  fchown: (k, ev) => chownAt(k, ev, { fd: ev.argInt(0) }, 1, 2),
  fchownat: (k, ev) => {
    const flags = ev.argInt(4);
    if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
    return chownAt(k, ev, { dirfd: ev.argInt(0), pathIndex: 1, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 }, 2, 3);
  },
  truncate: truncatePath,
  setxattr: (k, ev) => xattr(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  lsetxattr: (k, ev) => xattr(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  fsetxattr: (k, ev) => xattr(k, ev, { fd: ev.argInt(0) }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  removexattr: (k, ev) => xattr(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1),
  lremovexattr: (k, ev) => xattr(k, ev, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1),
  fremovexattr: (k, ev) => xattr(k, ev, { fd: ev.argInt(0) }, 1),
  utime: (k, ev) => utimesAt(k, ev, AT_FDCWD, 0, 1, "utimbuf", 0),
  utimes: (k, ev) => utimesAt(k, ev, AT_FDCWD, 0, 1, "timeval", 0),
  futimesat: (k, ev) => utimesAt(k, ev, ev.argInt(0), 1, 2, "timeval", 0),
  utimensat: (k, ev) => utimesAt(k, ev, ev.argInt(0), 1, 2, "timespec", ev.argInt(3)),
  },
  { when: "overlay-root" },
);
