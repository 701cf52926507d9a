// filesystem.root: overlay — root inside owns its copy of the root.
//
// The overlay's base is the host's root filesystem, owned by host users that have no
// mapping in the sandbox: the kernel refuses the sandbox's root to change it, as it would
// refuse any unprivileged user. Under an overlay root, the calls that change the
// filesystem trap (compile.ts), and for a task that holds the capability in its own user
// namespace the sentry performs them on the overlay itself, with the task's fs ids and the
// file capabilities raised (Task.as, elevated). Every write lands in the overlay's in-memory
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
import type { Reply } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { E2BIG, EACCES, EINVAL, EISDIR, ENOENT, EPERM, ERANGE } from "../../platform/abi/errno.js";
import { __O_TMPFILE, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_WRONLY, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK } from "../../platform/abi/fcntl.js";
import { errnoReply, SyscallError } from "../errors/errors.js";
import type { Creds } from "../kernel/creds.js";
import { hostId } from "../kernel/idmap.js";
import type { PathArg, Task } from "../kernel/task.js";
import type { Family } from "./handlers.js";
import { family } from "./handlers.js";
import type { FileInfo } from "./elevation.js";
import { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER } from "../../platform/abi/capability.js";
import { NO_PRIVILEGE_BITS, EMPTY, inspect, onOverlay, hasCap, viaProc, keep, DOT, split, resolveAsTask, dirOnOverlay, taskMayRead, done, elevated, rootInside } from "./elevation.js";

/** An operation on one name in a directory: mkdir, mknod, symlink, unlink, rmdir. */
function nameAt(t: Task, dirfd: number, pathIndex: number, make: (c: Creds, parent: number, name: PathArg) => number): Reply {
  const c = rootInside(t, CAP_DAC_OVERRIDE);
  if (c === undefined) return ALLOW;
  const s = split(t.path(pathIndex));
  if (s === undefined) return ALLOW;
  const parent = dirOnOverlay(t, c, dirfd, s.dir);
  if (parent === undefined) return ALLOW;
  return done(elevated(t, c, () => make(c, parent, s.name)));
}

function mkdirAt(t: Task, dirfd: number, pathIndex: number, mode: number): Reply {
  return nameAt(t, dirfd, pathIndex, (c, parent, name) => t.k.native.mkdirAt(parent, name.bytes, name.len, mode & 0o7777 & ~c.umask));
}

function mknodAt(t: Task, dirfd: number, pathIndex: number, mode: number): Reply {
  const type = mode & S_IFMT;
  // Devices are refused by the kernel inside a user namespace; so they stay.
  if (type !== 0 && type !== S_IFREG && type !== S_IFIFO && type !== S_IFSOCK) return ALLOW;
  return nameAt(t, dirfd, pathIndex, (c, parent, name) => t.k.native.mknodAt(parent, name.bytes, name.len, (type || S_IFREG) | (mode & NO_PRIVILEGE_BITS & ~c.umask), 0));
}

function symlinkAt(t: Task, targetIndex: number, dirfd: number, pathIndex: number): Reply {
  if (t.k.overlayMount === undefined) return ALLOW;
  const target = keep(t.path(targetIndex));
  return nameAt(t, dirfd, pathIndex, (_c, parent, name) => t.k.native.symlinkAt(target.bytes, target.len, parent, name.bytes, name.len));
}

function unlinkAt(t: Task, dirfd: number, pathIndex: number, flags: number): Reply {
  if ((flags & ~AT_REMOVEDIR) !== 0) return errnoReply(EINVAL);
  return nameAt(t, dirfd, pathIndex, (_c, parent, name) => t.k.native.unlinkAt(parent, name.bytes, name.len, flags));
}

/** rename and link: two names, both resolved as the task up to their last component. */
function twoNames(
  t: Task,
  oldDirfd: number,
  oldIndex: number,
  newDirfd: number,
  newIndex: number,
  op: (c: Creds, oldParent: number, oldName: PathArg, newParent: number, newName: PathArg) => number,
): Reply {
  const c = rootInside(t, CAP_DAC_OVERRIDE);
  if (c === undefined) return ALLOW;
  const from = split(keep(t.path(oldIndex)));
  const to = split(t.path(newIndex));
  if (from === undefined || to === undefined) return ALLOW;
  const a = dirOnOverlay(t, c, oldDirfd, from.dir);
  if (a === undefined) return ALLOW;
  const b = dirOnOverlay(t, c, newDirfd, to.dir);
  if (b === undefined) return ALLOW;
  return done(op(c, a, from.name, b, to.name));
}

function renameAt(t: Task, oldDirfd: number, oldIndex: number, newDirfd: number, newIndex: number, flags: number): Reply {
  return twoNames(t, oldDirfd, oldIndex, newDirfd, newIndex, (c, a, from, b, to) =>
    elevated(t, c, () => t.k.native.renameAt2(a, from.bytes, from.len, b, to.bytes, to.len, flags)),
  );
}

function linkAt(t: Task, oldDirfd: number, oldIndex: number, newDirfd: number, newIndex: number, flags: number): Reply {
  if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
  if (flags & AT_EMPTY_PATH) return ALLOW; // linking an open file: the kernel's (CAP_DAC_READ_SEARCH)
  return twoNames(t, oldDirfd, oldIndex, newDirfd, newIndex, (c, a, from, b, to) => {
    // The file itself as the task sees it: a symlink is followed only with the task's rights.
    const file = t.own(t.as(() => t.k.native.openat2(a, from.bytes, from.len, O_PATH | O_CLOEXEC | (flags & AT_SYMLINK_FOLLOW ? 0 : O_NOFOLLOW), 0, 0), "fs", c));
    if (file < 0) return file;
    return elevated(t, c, () => t.k.native.linkAt(file, EMPTY, 0, b, to.bytes, to.len, AT_EMPTY_PATH));
  });
}

/** The file a change names: by path from a directory, or by the task's descriptor. */
type Target = { dirfd: number; pathIndex: number; nofollow: boolean; emptyPath: boolean } | { fd: number };

/**
 * A change to an existing file (chmod, chown, utimes, truncate): the file is resolved as
 * the task (following a final symlink unless nofollow); on the overlay, op runs elevated on
 * our O_PATH fd of it. guard: the task must be able to read it already.
 */
function changeFile(
  t: Task,
  cap: number,
  target: Target,
  guard: boolean,
  op: (c: Creds, fd: number, st: FileInfo) => number,
): Reply {
  const c = rootInside(t, cap);
  if (c === undefined) return ALLOW;
  let fd: number;
  if ("fd" in target) {
    try {
      fd = t.proc(`${t.tid}/fd/${target.fd}`, O_PATH | O_CLOEXEC);
    } catch {
      return ALLOW; // not an fd of the task: the kernel says EBADF
    }
  } else {
    const p = t.path(target.pathIndex);
    if (p.len === 0 && !target.emptyPath) return ALLOW;
    fd = resolveAsTask(t, c, target.dirfd, p, target.nofollow ? O_NOFOLLOW : 0, target.emptyPath);
    if (fd < 0) return ALLOW;
  }
  const st = onOverlay(t.k, fd);
  if (st === undefined) return ALLOW;
  if (guard && !taskMayRead(t, c, fd, st)) return errnoReply(EPERM);
  return done(elevated(t, c, () => op(c, fd, st)));
}

function chmodOn(t: Task, fd: number, st: FileInfo, mode: number): number {
  if (st.type === 0o120000) return -95; // EOPNOTSUPP: a symlink's mode does not change
  const p = viaProc(fd);
  return t.k.native.chmodAt(t.k.procFd, p, p.length, mode & (st.type === S_IFDIR ? 0o7777 : NO_PRIVILEGE_BITS));
}

/** chown's ids: inside ids to host ids (-1 keeps); an id without a mapping is EINVAL. */
function chownIds(t: Task, uidIndex: number, gidIndex: number): { uid: number; gid: number } {
  const conv = (i: number, map: typeof t.k.ids.uid): number => {
    const v = Number(t.arg(i) & 0xffffffffn);
    if (v === 0xffffffff) return -1;
    const h = hostId(map, v);
    if (h === undefined) throw new SyscallError(EINVAL);
    return h;
  };
  return { uid: conv(uidIndex, t.k.ids.uid), gid: conv(gidIndex, t.k.ids.gid) };
}

function chownAt(t: Task, target: Target, uidIndex: number, gidIndex: number): Reply {
  if (t.k.overlayMount === undefined) return ALLOW;
  const ids = chownIds(t, uidIndex, gidIndex);
  return changeFile(t, CAP_CHOWN, target, true, (_c, fd) => t.k.native.chownAt(fd, EMPTY, 0, ids.uid, ids.gid, AT_EMPTY_PATH));
}

const times = new Uint8Array(32);
const timesView = new DataView(times.buffer);

/** Reads the task's times for utimensat (2 timespec), utimes/futimesat (2 timeval) or utime (utimbuf). */
function copyInTimes(t: Task, i: number, kind: "timespec" | "timeval" | "utimbuf"): Uint8Array | null {
  const addr = t.argNum(i);
  if (addr === 0) return null;
  const size = kind === "utimbuf" ? 16 : 32;
  const r = t.read(addr, size);
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  for (let i = 0; i < 2; i++) {
    if (kind === "timespec") {
      timesView.setBigInt64(i * 16, v.getBigInt64(i * 16, true), true);
      timesView.setBigInt64(i * 16 + 8, v.getBigInt64(i * 16 + 8, true), true);
    } else if (kind === "timeval") {
      const usec = v.getBigInt64(i * 16 + 8, true);
      if (usec < 0n || usec >= 1000000n) throw new SyscallError(EINVAL);
      timesView.setBigInt64(i * 16, v.getBigInt64(i * 16, true), true);
      timesView.setBigInt64(i * 16 + 8, usec * 1000n, true);
    } else {
      timesView.setBigInt64(i * 16, v.getBigInt64(i * 8, true), true);
      timesView.setBigInt64(i * 16 + 8, 0n, true);
    }
  }
  return times;
}

function utimesAt(t: Task, dirfd: number, pathIndex: number, timesIndex: number, kind: "timespec" | "timeval" | "utimbuf", flags: number): Reply {
  if (t.k.overlayMount === undefined) return ALLOW;
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
  const given = copyInTimes(t, timesIndex, kind);
  const copy = given === null ? null : given.slice();
  // utimensat with a NULL path is futimens on dirfd.
  const target = pathIndex >= 0 && t.argNum(pathIndex) !== 0 ? { dirfd, pathIndex, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 } : { fd: dirfd };
  return changeFile(t, CAP_FOWNER, target, false, (_c, fd) => t.k.native.utimensAt(fd, EMPTY, 0, copy, AT_EMPTY_PATH));
}

function truncatePath(t: Task): Reply {
  if (t.k.overlayMount === undefined) return ALLOW;
  const length = t.arg(1);
  if (length > 0x7fffffffffffffffn) return errnoReply(EINVAL);
  return changeFile(t, CAP_DAC_OVERRIDE, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, false, (_c, fd, st) => {
    // fs/open.c: vfs_truncate. The type first: opening a FIFO for writing waits for a reader.
    if (st.type === S_IFDIR) return -EISDIR;
    if (st.type !== S_IFREG) return -EINVAL;
    const p = viaProc(fd);
    // Non-blocking: a lease on the file makes the open wait for its holder (lease-break-time,
    // and renewed at will); the caller gets EAGAIN instead, and the lease is broken.
    const w = t.own(t.k.native.openat2(t.k.procFd, p, p.length, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0, 0));
    return w < 0 ? w : t.k.native.ftruncate(w, Number(length));
  });
}

/** XATTR_NAME_MAX, XATTR_SIZE_MAX (include/uapi/linux/limits.h). */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

/** The xattr name at argument i when it is in the user.* namespace (else undefined: the kernel's). */
function userXattrName(t: Task, i: number): string | undefined {
  const r = t.k.mem.readBytes(t.tid, t.argNum(i), XATTR_NAME_MAX + 1);
  if (typeof r === "number") return undefined;
  const name = Buffer.from(r.bytes.subarray(0, r.len)).toString();
  return name.startsWith("user.") && name.length > 5 ? name : undefined;
}

/**
 * setxattr/removexattr and their l- and f- forms on the overlay's files: done on a descriptor
 * reopened elevated (O_RDONLY, never handed to the task) for a regular file or directory.
 */
function xattr(t: Task, target: Target, nameIndex: number, set?: { valueIndex: number; sizeIndex: number; flagsIndex: number }): Reply {
  if (t.k.overlayMount === undefined) return ALLOW;
  const name = userXattrName(t, nameIndex);
  if (name === undefined) return ALLOW;
  let value: Uint8Array | undefined;
  if (set !== undefined) {
    const size = t.argNum(set.sizeIndex);
    if (size > XATTR_SIZE_MAX) return errnoReply(E2BIG);
    value = size === 0 ? new Uint8Array(0) : t.read(t.argNum(set.valueIndex), size).slice();
  }
  const flags = set === undefined ? 0 : t.argInt(set.flagsIndex);
  return changeFile(t, CAP_FOWNER, target, false, (_c, fd, st) => {
    if (st.type !== S_IFREG && st.type !== S_IFDIR) return -EPERM;
    const p = viaProc(fd);
    const file = t.own(t.k.native.openat2(t.k.procFd, p, p.length, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, 0));
    if (file < 0) return file;
    const r = value === undefined ? t.k.native.fremovexattr(file, name) : t.k.native.fsetxattr(file, name, value, flags);
    return r === -ERANGE ? -E2BIG : r;
  });
}

/**
 * open(2) with write flags, after the task's own attempt failed with EACCES or EPERM (sys_file.ts):
 * an existing file is reopened elevated through our O_PATH fd of it (resolved as the task),
 * a missing one created elevated in its directory. Returns undefined when elevation does
 * not apply (the task's own answer stands).
 */
export function openElevated(t: Task, dirfd: number, p: PathArg, flags: number, mode: number): Reply | undefined {
  if (t.k.overlayMount === undefined || !hasCap(t.creds(), CAP_DAC_OVERRIDE) || flags & O_PATH) return undefined;
  const c = t.freshCreds();
  if (!hasCap(c, CAP_DAC_OVERRIDE)) return undefined;
  if (flags & __O_TMPFILE) {
    // An unnamed file in the directory path names: made there, elevated, as the task's.
    const dir = dirOnOverlay(t, c, dirfd, p);
    if (dir === undefined) return undefined;
    const fd = t.own(elevated(t, c, () => t.k.native.openat2(dir, DOT.bytes, DOT.len, flags, mode & NO_PRIVILEGE_BITS & ~c.umask, 0)));
    return fd < 0 ? errnoReply(-fd) : t.fdReply(fd, (flags & O_CLOEXEC) !== 0);
  }
  const file = resolveAsTask(t, c, dirfd, p, flags & (O_NOFOLLOW | O_DIRECTORY));
  if (file >= 0) {
    const st = inspect(t.k, file);
    // A FIFO would block the sentry; a symlink (O_NOFOLLOW) is ELOOP, as the kernel says.
    if (st === undefined || st.mnt !== t.k.overlayMount || st.type === S_IFIFO || st.type === 0o120000) return undefined;
    if (flags & O_CREAT && flags & O_EXCL) return errnoReply(17 /* EEXIST */);
    if ((flags & O_ACCMODE) !== O_WRONLY && !taskMayRead(t, c, file, st)) return errnoReply(EACCES);
    const v = viaProc(file);
    // Never blocking: a lease the workload holds on the file would hold the sentry until
    // it is broken (the open fails with EAGAIN instead, and the lease is broken).
    const blocking = (flags & O_NONBLOCK) === 0;
    const opened = elevated(t, c, () => t.k.native.openat2(t.k.procFd, v, v.length, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_NONBLOCK, 0, 0));
    const fd = t.nonBlockingOpen(opened, blocking, flags);
    if (fd === "fifo") return undefined;
    return fd < 0 ? errnoReply(-fd) : t.fdReply(fd, (flags & O_CLOEXEC) !== 0);
  }
  if (-file !== ENOENT || (flags & O_CREAT) === 0) return undefined;
  const s = split(p);
  if (s === undefined) return undefined;
  const parent = dirOnOverlay(t, c, dirfd, s.dir);
  if (parent === undefined) return undefined;
  // Never blocking: a FIFO made at that name meanwhile is left to the task's own answer.
  const blocking = (flags & O_NONBLOCK) === 0;
  const opened = elevated(t, c, () => t.k.native.openat2(parent, s.name.bytes, s.name.len, flags | O_NOFOLLOW | (blocking ? O_NONBLOCK : 0), mode & NO_PRIVILEGE_BITS & ~c.umask, 0));
  const fd = t.nonBlockingOpen(opened, blocking, flags);
  if (fd === "fifo") return undefined;
  return fd < 0 ? errnoReply(-fd) : t.fdReply(fd, (flags & O_CLOEXEC) !== 0);
}

/** Under an overlay root, every call that changes the filesystem reaches the sentry. */
export const fsmutFamily: Family = family(
  {
  mkdir: (t) => mkdirAt(t, AT_FDCWD, 0, t.argInt(1)),
  mkdirat: (t) => mkdirAt(t, t.argInt(0), 1, t.argInt(2)),
  mknod: (t) => mknodAt(t, AT_FDCWD, 0, t.argInt(1)),
  mknodat: (t) => mknodAt(t, t.argInt(0), 1, t.argInt(2)),
  symlink: (t) => symlinkAt(t, 0, AT_FDCWD, 1),
  symlinkat: (t) => symlinkAt(t, 0, t.argInt(1), 2),
  unlink: (t) => unlinkAt(t, AT_FDCWD, 0, 0),
  rmdir: (t) => unlinkAt(t, AT_FDCWD, 0, AT_REMOVEDIR),
  unlinkat: (t) => unlinkAt(t, t.argInt(0), 1, t.argInt(2)),
  rename: (t) => renameAt(t, AT_FDCWD, 0, AT_FDCWD, 1, 0),
  renameat: (t) => renameAt(t, t.argInt(0), 1, t.argInt(2), 3, 0),
  renameat2: (t) => renameAt(t, t.argInt(0), 1, t.argInt(2), 3, t.argInt(4)),
  link: (t) => linkAt(t, AT_FDCWD, 0, AT_FDCWD, 1, 0),
  linkat: (t) => linkAt(t, t.argInt(0), 1, t.argInt(2), 3, t.argInt(4)),
  chmod: (t) => changeFile(t, CAP_FOWNER, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, true, (_c, fd, st) => chmodOn(t, fd, st, t.argInt(1))),
  fchmod: (t) => changeFile(t, CAP_FOWNER, { fd: t.argInt(0) }, true, (_c, fd, st) => chmodOn(t, fd, st, t.argInt(1))),
  fchmodat: (t) => changeFile(t, CAP_FOWNER, { dirfd: t.argInt(0), pathIndex: 1, nofollow: false, emptyPath: false }, true, (_c, fd, st) => chmodOn(t, fd, st, t.argInt(2))),
  fchmodat2: (t) => {
    const flags = t.argInt(3);
    if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
    const target = { dirfd: t.argInt(0), pathIndex: 1, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 };
    return changeFile(t, CAP_FOWNER, target, true, (_c, fd, st) => chmodOn(t, fd, st, t.argInt(2)));
  },
  chown: (t) => chownAt(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1, 2),
  lchown: (t) => chownAt(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1, 2),
  fchown: (t) => chownAt(t, { fd: t.argInt(0) }, 1, 2),
  fchownat: (t) => {
    const flags = t.argInt(4);
    if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) !== 0) return errnoReply(EINVAL);
    return chownAt(t, { dirfd: t.argInt(0), pathIndex: 1, nofollow: (flags & AT_SYMLINK_NOFOLLOW) !== 0, emptyPath: (flags & AT_EMPTY_PATH) !== 0 }, 2, 3);
  },
  truncate: truncatePath,
  setxattr: (t) => xattr(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  lsetxattr: (t) => xattr(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  fsetxattr: (t) => xattr(t, { fd: t.argInt(0) }, 1, { valueIndex: 2, sizeIndex: 3, flagsIndex: 4 }),
  removexattr: (t) => xattr(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: false, emptyPath: false }, 1),
  lremovexattr: (t) => xattr(t, { dirfd: AT_FDCWD, pathIndex: 0, nofollow: true, emptyPath: false }, 1),
  fremovexattr: (t) => xattr(t, { fd: t.argInt(0) }, 1),
  utime: (t) => utimesAt(t, AT_FDCWD, 0, 1, "utimbuf", 0),
  utimes: (t) => utimesAt(t, AT_FDCWD, 0, 1, "timeval", 0),
  futimesat: (t) => utimesAt(t, t.argInt(0), 1, 2, "timeval", 0),
  utimensat: (t) => utimesAt(t, t.argInt(0), 1, 2, "timespec", t.argInt(3)),
  },
  { when: "overlay-root" },
);
