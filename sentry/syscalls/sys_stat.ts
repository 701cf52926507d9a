// The stat, access and readlink families, performed by the sentry for the task:
// stat(2), lstat(2), newfstatat(2), statx(2), access(2), faccessat(2), faccessat2(2),
// readlink(2), readlinkat(2). Results are written into task memory.
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { EFAULT, EINVAL, ELOOP } from "../../platform/abi/errno.js";
import { AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, STATX_SIZE } from "../../platform/abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { Kernel, PathArg } from "../kernel/task.js";
import { asTask, closeDirfd, copyInPath, ensureValid, openDirfd, taskCreds } from "../kernel/task.js";
import type { Family } from "./handlers.js";
import { family } from "./handlers.js";

const ZERO: Reply = Object.freeze({ kind: "value", value: 0 });
const STAT_SIZE = 144; // struct stat, arch/x86/include/uapi/asm/stat.h
const out = new Uint8Array(4096);

function perReader(p: PathArg): boolean {
  const t = p.text;
  return t.startsWith("/proc/self") || t.startsWith("/proc/thread-self") || t.startsWith("/dev/fd/") || /^\/dev\/std(in|out|err)$/.test(t);
}

/**
 * Resolves (dirfd, path) for the task and runs op with the directory fd and the task's
 * credentials; returns op's result (>= 0) or a negative errno. Paths that only the kernel
 * can resolve for the task (see sys_file.ts) return null: the caller lets the kernel run it.
 */
function atPath(
  k: Kernel,
  ev: TrapEvent,
  dirfd: number,
  pathIndex: number,
  flags: number,
  op: (dir: number, p: PathArg) => number,
  useRealIds = false,
): number | null {
  const path = copyInPath(k, ev, pathIndex);
  if (perReader(path)) return null;
  const empty = path.len === 0 && (flags & AT_EMPTY_PATH) !== 0;
  const creds = taskCreds(k, ev.pid);
  const dir = openDirfd(k, ev.pid, dirfd, path, empty);
  try {
    ensureValid(k);
    asTask(k, creds, useRealIds);
    const r = op(dir, path);
    // Magic links (/proc/PID/fd/N...) resolve only for the task itself.
    if (r === -ELOOP && (flags & AT_SYMLINK_NOFOLLOW) === 0) return null;
    return r;
  } finally {
    closeDirfd(k, dir);
  }
}

function finish(k: Kernel, ev: TrapEvent, r: number | null, bufIndex: number, size: number): Reply {
  if (r === null) return ALLOW;
  if (r < 0) return errnoReply(-r);
  const w = k.mem.write(ev.pid, ev.argNum(bufIndex), out.subarray(0, size));
  return w === 0 ? ZERO : errnoReply(EFAULT);
}

function fstatat(k: Kernel, ev: TrapEvent, dirfd: number, pathIdx: number, bufIdx: number, flags: number): Reply {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800)) return errnoReply(EINVAL);
  const r = atPath(k, ev, dirfd, pathIdx, flags, (dir, p) => k.native.statAt(dir, p.bytes, p.len, flags, out));
  return finish(k, ev, r, bufIdx, STAT_SIZE);
}

function statx(k: Kernel, ev: TrapEvent): Reply {
  const flags = ev.argInt(2);
  const mask = Number(ev.arg(3) & 0xffffffffn);
  const r = atPath(k, ev, ev.argInt(0), 1, flags, (dir, p) => k.native.statxAt(dir, p.bytes, p.len, flags, mask, out));
  return finish(k, ev, r, 4, STATX_SIZE);
}

/** access(2) checks with the real ids unless AT_EACCESS (fs/open.c: access_override_creds). */
function access(k: Kernel, ev: TrapEvent, dirfd: number, pathIdx: number, mode: number, flags: number): Reply {
  if (mode & ~7) return errnoReply(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return errnoReply(EINVAL);
  const r = atPath(
    k,
    ev,
    dirfd,
    pathIdx,
    flags,
    (dir, p) => k.native.accessAt(dir, p.bytes, p.len, mode, flags | AT_EACCESS),
    (flags & AT_EACCESS) === 0,
  );
  if (r === null) return ALLOW;
  return r < 0 ? errnoReply(-r) : ZERO;
}

function readlink(k: Kernel, ev: TrapEvent, dirfd: number, pathIdx: number, bufIdx: number, sizeIdx: number): Reply {
  const size = ev.argNum(sizeIdx);
  if (size <= 0 || size > 0x7fffffff) return errnoReply(EINVAL);
  const r = atPath(k, ev, dirfd, pathIdx, AT_EMPTY_PATH, (dir, p) => k.native.readlinkAt(dir, p.bytes, p.len, out));
  if (r === null) return ALLOW;
  if (r < 0) return errnoReply(-r);
  const n = Math.min(r, size);
  const w = k.mem.write(ev.pid, ev.argNum(bufIdx), out.subarray(0, n));
  return w === 0 ? { kind: "value", value: n } : errnoReply(EFAULT);
}

/** Performed by the sentry when traced (the kernel never re-reads a path the trace showed). */
export const statFamily: Family = family({
  stat: (k, ev) => fstatat(k, ev, AT_FDCWD, 0, 1, 0),
  lstat: (k, ev) => fstatat(k, ev, AT_FDCWD, 0, 1, AT_SYMLINK_NOFOLLOW),
  newfstatat: (k, ev) => fstatat(k, ev, ev.argInt(0), 1, 2, ev.argInt(3)),
  statx,
  access: (k, ev) => access(k, ev, AT_FDCWD, 0, ev.argInt(1), 0),
  faccessat: (k, ev) => access(k, ev, ev.argInt(0), 1, ev.argInt(2), 0),
  faccessat2: (k, ev) => access(k, ev, ev.argInt(0), 1, ev.argInt(2), ev.argInt(3)),
  readlink: (k, ev) => readlink(k, ev, AT_FDCWD, 0, 1, 2),
  readlinkat: (k, ev) => readlink(k, ev, ev.argInt(0), 1, 2, 3),
});
