// The stat, access and readlink families, performed by the sentry for the task:
// stat(2), lstat(2), newfstatat(2), statx(2), access(2), faccessat(2), faccessat2(2),
// readlink(2), readlinkat(2). Results are written into task memory.
import type { Reply } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { EINVAL, ELOOP } from "../../platform/abi/errno.js";
import { AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, STATX_SIZE } from "../../platform/abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { PathArg, Task } from "../kernel/task.js";
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
function atPath(t: Task, dirfd: number, pathIndex: number, flags: number, op: (dir: number, p: PathArg) => number, useRealIds = false): number | null {
  const path = t.path(pathIndex);
  if (perReader(path)) return null;
  const empty = path.len === 0 && (flags & AT_EMPTY_PATH) !== 0;
  const creds = t.creds();
  const dir = t.dir(dirfd, path, empty);
  t.ensureValid();
  const r = t.as(() => op(dir, path), useRealIds ? "real" : "fs", creds);
  // Magic links (/proc/PID/fd/N...) resolve only for the task itself.
  if (r === -ELOOP && (flags & AT_SYMLINK_NOFOLLOW) === 0) return null;
  return r;
}

function finish(t: Task, r: number | null, bufIndex: number, size: number): Reply {
  if (r === null) return ALLOW;
  if (r < 0) return errnoReply(-r);
  t.write(t.argNum(bufIndex), out.subarray(0, size));
  return ZERO;
}

function fstatat(t: Task, dirfd: number, pathIdx: number, bufIdx: number, flags: number): Reply {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800)) return errnoReply(EINVAL);
  const r = atPath(t, dirfd, pathIdx, flags, (dir, p) => t.k.native.statAt(dir, p.bytes, p.len, flags, out));
  return finish(t, r, bufIdx, STAT_SIZE);
}

function statx(t: Task): Reply {
  const flags = t.argInt(2);
  const mask = Number(t.arg(3) & 0xffffffffn);
  const r = atPath(t, t.argInt(0), 1, flags, (dir, p) => t.k.native.statxAt(dir, p.bytes, p.len, flags, mask, out));
  return finish(t, r, 4, STATX_SIZE);
}

/** access(2) checks with the real ids unless AT_EACCESS (fs/open.c: access_override_creds). */
function access(t: Task, dirfd: number, pathIdx: number, mode: number, flags: number): Reply {
  if (mode & ~7) return errnoReply(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return errnoReply(EINVAL);
  const r = atPath(t, dirfd, pathIdx, flags, (dir, p) => t.k.native.accessAt(dir, p.bytes, p.len, mode, flags | AT_EACCESS), (flags & AT_EACCESS) === 0);
  if (r === null) return ALLOW;
  return r < 0 ? errnoReply(-r) : ZERO;
}

function readlink(t: Task, dirfd: number, pathIdx: number, bufIdx: number, sizeIdx: number): Reply {
  const size = t.argNum(sizeIdx);
  if (size <= 0 || size > 0x7fffffff) return errnoReply(EINVAL);
  const r = atPath(t, dirfd, pathIdx, AT_EMPTY_PATH, (dir, p) => t.k.native.readlinkAt(dir, p.bytes, p.len, out));
  if (r === null) return ALLOW;
  if (r < 0) return errnoReply(-r);
  const n = Math.min(r, size);
  t.write(t.argNum(bufIdx), out.subarray(0, n));
  return { kind: "value", value: n };
}

/** Performed by the sentry when traced (the kernel never re-reads a path the trace showed). */
export const statFamily: Family = family({
  stat: (t) => fstatat(t, AT_FDCWD, 0, 1, 0),
  lstat: (t) => fstatat(t, AT_FDCWD, 0, 1, AT_SYMLINK_NOFOLLOW),
  newfstatat: (t) => fstatat(t, t.argInt(0), 1, 2, t.argInt(3)),
  statx,
  access: (t) => access(t, AT_FDCWD, 0, t.argInt(1), 0),
  faccessat: (t) => access(t, t.argInt(0), 1, t.argInt(2), 0),
  faccessat2: (t) => access(t, t.argInt(0), 1, t.argInt(2), t.argInt(3)),
  readlink: (t) => readlink(t, AT_FDCWD, 0, 1, 2),
  readlinkat: (t) => readlink(t, t.argInt(0), 1, 2, 3),
});
