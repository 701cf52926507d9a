// Acting for root inside on the overlay root's own mount (sys_fsmut.ts, and sys_file.ts's
// opens): resolving paths as the task, checking what the task may read, and performing an
// operation with the file capabilities raised (Task.as with "elevated").
import { R_OK, STATX_GID, STATX_MNT_ID, STATX_MODE, STATX_UID, X_OK } from "../../platform/abi/fcntl.js";
import { CAP_DAC_OVERRIDE, capBit } from "../../platform/abi/capability.js";
import type { Reply } from "../../platform/platform.js";
import { AT_EACCESS, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_DIRECTORY, O_PATH, S_IFDIR, S_IFMT } from "../../platform/abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { Creds } from "../kernel/creds.js";
import type { Kernel } from "../kernel/kernel.js";
import { mappedInside } from "../kernel/idmap.js";
import type { PathArg, Task } from "../kernel/task.js";


// include/uapi/linux/stat.h
/** The permission bits the sentry applies to a non-directory: S_ISUID and S_ISGID never. */
export const NO_PRIVILEGE_BITS = 0o1777;

export const statx = new Uint8Array(256);
export const statxView = new DataView(statx.buffer);
export const EMPTY = new Uint8Array(1);

/** What the sentry needs to know of a file: its mount, owner and type. */
export interface FileInfo {
  readonly mnt: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly type: number;
}

/** statx of an fd, or undefined. */
export function inspect(k: Kernel, fd: number): FileInfo | undefined {
  if (k.native.statxAt(fd, EMPTY, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID | STATX_MODE | STATX_UID | STATX_GID, statx) < 0) return undefined;
  return {
    mnt: statxView.getBigUint64(144, true),
    uid: statxView.getUint32(20, true),
    gid: statxView.getUint32(24, true),
    type: statxView.getUint16(28, true) & S_IFMT,
  };
}

/** The file behind fd when it is on the overlay's own mount, else undefined. */
export function onOverlay(k: Kernel, fd: number): FileInfo | undefined {
  const st = inspect(k, fd);
  return st?.mnt === k.overlayMount ? st : undefined;
}

export function hasCap(c: Creds, cap: number): boolean {
  return (c.capEff & capBit(cap)) !== 0n;
}

/** "thread-self/fd/N" under the host /proc: the file behind our own fd N (a magic link). */
export function viaProc(fd: number): Buffer {
  return Buffer.from(`thread-self/fd/${fd}`);
}

/** The caller's copy of a path, safe across further copy-ins. */
export function keep(p: PathArg): PathArg {
  return { bytes: p.bytes.slice(0, p.len), len: p.len, text: p.text };
}

/** A path split before its last component (trailing slashes stay with the name). */
export interface Split {
  dir: PathArg;
  name: PathArg;
}

export const DOT: PathArg = { bytes: new Uint8Array([0x2e]), len: 1, text: "." };
export const ROOT: PathArg = { bytes: new Uint8Array([0x2f]), len: 1, text: "/" };

export function pathOf(bytes: Uint8Array): PathArg {
  return { bytes, len: bytes.length, text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString() };
}

/** Splits p before its last component; undefined for "", "/", "." and ".." (the kernel's to answer). */
export function split(p: PathArg): Split | undefined {
  let end = p.len;
  while (end > 0 && p.bytes[end - 1] === 0x2f) end--;
  if (end === 0) return undefined;
  let slash = end - 1;
  while (slash >= 0 && p.bytes[slash] !== 0x2f) slash--;
  const bare = end - slash - 1;
  if (p.bytes[slash + 1] === 0x2e && (bare === 1 || (bare === 2 && p.bytes[slash + 2] === 0x2e))) return undefined;
  const name = pathOf(p.bytes.slice(slash + 1, p.len));
  if (slash < 0) return { dir: DOT, name };
  return { dir: slash === 0 ? ROOT : pathOf(p.bytes.slice(0, slash)), name };
}

/** Opens (O_PATH) what path names from dirfd, as the task: an owned fd, or -errno when it cannot. */
export function resolveAsTask(t: Task, c: Creds, dirfd: number, p: PathArg, flags: number, emptyPath = false): number {
  const empty = emptyPath && p.len === 0;
  const dir = t.dir(dirfd, p, empty);
  if (empty) return dir; // the file behind dirfd itself
  const fd = t.as(() => t.k.native.openat2(dir, p.bytes, p.len, O_PATH | O_CLOEXEC | flags, 0, 0), "fs", c);
  t.close(dir);
  return t.own(fd);
}

/**
 * The directory path names, resolved as the task, when it is on the overlay and the task
 * may search it (an owned fd): a name is made, removed or renamed in it only then. Looking
 * a name up in a directory needs search permission, and elevation does not lend it (an
 * entry of a directory the task cannot search stays there).
 */
export function dirOnOverlay(t: Task, c: Creds, dirfd: number, path: PathArg): number | undefined {
  const fd = resolveAsTask(t, c, dirfd, path, O_DIRECTORY);
  if (fd < 0) return undefined;
  const st = onOverlay(t.k, fd);
  if (st !== undefined && taskMay(t, c, fd, st, X_OK)) return fd;
  t.close(fd);
  return undefined;
}

/**
 * Whether the task could read the file behind fd (and search it, for a directory) with
 * its own credentials: what elevation must never add to. Its capabilities count where the
 * kernel would let them (an owner mapped in its user namespace).
 */
export function taskMayRead(t: Task, c: Creds, fd: number, st: FileInfo): boolean {
  return taskMay(t, c, fd, st, st.type === S_IFDIR ? R_OK | X_OK : R_OK);
}

/** access(2) of the file behind fd (st: its statx) with the task's own fs ids and capabilities (R_OK, X_OK...). */
export function taskMay(t: Task, c: Creds, fd: number, st: FileInfo, mode: number): boolean {
  const k = t.k;
  if (mappedInside(k.ids.uid, st.uid) && mappedInside(k.ids.gid, st.gid) && hasCap(c, CAP_DAC_OVERRIDE)) return true;
  const p = viaProc(fd);
  return t.as(() => k.native.accessAt(k.procFd, p, p.length, mode, AT_EACCESS) === 0, "fs", c);
}

export function done(r: number): Reply {
  return r < 0 ? errnoReply(-r) : { kind: "value", value: 0 };
}

/** Runs op elevated as the task, once it is known to wait still. */
export function elevated<T>(t: Task, c: Creds, op: () => T): T {
  t.ensureValid();
  return t.as(op, "elevated", c);
}

/**
 * The credentials of a task that may change the overlay's base with cap, else undefined.
 * The cache says who cannot (most tasks, no read); a task it says can is read anew
 * (Task.freshCreds: a capability dropped before an exec is not in the cache).
 */
export function rootInside(t: Task, cap: number): Creds | undefined {
  if (t.k.overlayMount === undefined) return undefined;
  if (!hasCap(t.creds(), cap)) return undefined;
  const c = t.freshCreds();
  return hasCap(c, cap) ? c : undefined;
}
