// The open family: open(2), openat(2), openat2(2), creat(2), performed by the sentry.
//
// The sentry never lets the kernel re-read a path it decided on: it opens the file itself,
// on its syscall thread (inside the sandbox's mount namespace and root, with the task's
// fs credentials and umask), and injects the descriptor (ADDFD with FLAG_SEND). What is
// visible or writable is enforced below the sentry by the mount layer, so the result is
// exactly what the task would have got from the kernel.
import type { Reply } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { E2BIG, EACCES, EINVAL, ELOOP, EPERM } from "../../platform/abi/errno.js";
import { AT_FDCWD, FASYNC, OPEN_HOW_SIZE_VER0, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_LARGEFILE, O_NOATIME, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, __O_SYNC, __O_TMPFILE } from "../../platform/abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { PathArg, Task } from "../kernel/task.js";
import type { BpfArgCondition } from "../../platform/seccomp/compile.js";
import type { Family } from "./handlers.js";
import { openElevated } from "./sys_fsmut.js";

// include/linux/fcntl.h
const VALID_OPEN_FLAGS =
  O_RDONLY | O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | __O_SYNC | O_DSYNC |
  FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | __O_TMPFILE;
const O_PATH_FLAGS = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;


/**
 * Paths whose meaning depends on who resolves them: "self" in /proc names the reader, and
 * /dev/fd, /dev/stdin... lead there; /dev/tty is the opener's controlling terminal. The
 * sentry resolving them would reach its own process. They are left to the kernel, which is safe because the sentry makes no
 * decision on them: a racing thread that swaps the string gets only what the mount layer
 * lets the task open directly. (The virtual /proc of the VFS will handle them.)
 */
function resolvesPerReader(p: PathArg): boolean {
  const t = p.text;
  return (
    t === "/proc/self" ||
    t.startsWith("/proc/self/") ||
    t.startsWith("/proc/thread-self") ||
    t.startsWith("/dev/fd/") ||
    t === "/dev/tty" ||
    t === "/dev/stdin" ||
    t === "/dev/stdout" ||
    t === "/dev/stderr"
  );
}

/**
 * Opens on behalf of the task. flags/mode/resolve as the task passed them.
 * Exported for the *at families that open first (e.g. execveat checks).
 */
export function openForTask(t: Task, dirfd: number, pathIndex: number, flags: number, mode: number, resolve: number): Reply {
  const path = t.path(pathIndex);
  if (resolvesPerReader(path)) return ALLOW;
  const creds = t.creds();
  const dir = t.dir(dirfd, path, false);
  t.ensureValid();
  const n = t.k.native;
  const effMode = flags & (O_CREAT | __O_TMPFILE) ? mode & ~creds.umask & 0o7777 : 0;
  // Opening a FIFO blocks until its peer opens; that must not stall the sentry for every
  // other task. So the sentry never opens blocking: a FIFO it finds (named by the path all
  // along, O_CREAT included, or swapped in meanwhile) is left to the kernel's open, as no
  // decision was made on the path; ENXIO (a FIFO without a reader) likewise.
  const blocking = (flags & (O_PATH | O_NONBLOCK)) === 0;
  const fd = t.as(() => t.nonBlockingOpen(n.openat2(dir, path.bytes, path.len, flags | (blocking ? O_NONBLOCK : 0), effMode, resolve), blocking, flags));
  if (fd === "fifo") return ALLOW;
  if (fd < 0) {
    // root: overlay — root inside may write the host's files in its copy (sys_fsmut.ts).
    if ((-fd === EACCES || -fd === EPERM) && resolve === 0 && t.k.overlayMount !== undefined) {
      const r = openElevated(t, dirfd, path, flags, mode);
      if (r !== undefined) return r;
    }
    // ELOOP also comes from magic links (/proc/PID/fd/N), which only the kernel can follow
    // for the task; for a real loop the kernel answers ELOOP itself.
    if (-fd === ELOOP && (flags & O_NOFOLLOW) === 0 && resolve === 0) return ALLOW;
    return errnoReply(-fd);
  }
  return t.fdReply(fd, (flags & O_CLOEXEC) !== 0);
}

/**
 * The flags open(2)/openat(2) act on: unknown bits are ignored, and O_PATH keeps only the
 * flags meaningful with it (fs/open.c: build_open_how). openat2(2) is strict instead.
 */
function legacyFlags(flags: number): number {
  const f = flags & VALID_OPEN_FLAGS;
  return f & O_PATH ? f & O_PATH_FLAGS : f;
}

// struct open_how (include/uapi/linux/openat2.h): u64 flags, u64 mode, u64 resolve.
function openat2(t: Task): Reply {
  const size = t.argNum(3);
  if (size < OPEN_HOW_SIZE_VER0) return errnoReply(EINVAL);
  if (size > 4096) return errnoReply(E2BIG);
  const how = t.read(t.argNum(2), size);
  // Unknown trailing fields must be zero (copy_struct_from_user).
  for (let i = OPEN_HOW_SIZE_VER0; i < size; i++) if (how[i] !== 0) return errnoReply(E2BIG);
  const v = new DataView(how.buffer, how.byteOffset, how.byteLength);
  const flags = v.getBigUint64(0, true);
  const mode = v.getBigUint64(8, true);
  const resolve = v.getBigUint64(16, true);
  if (flags > 0xffffffffn || mode > 0o7777n || resolve > 0xffn) return errnoReply(EINVAL);
  return openForTask(t, t.argInt(0), 1, Number(flags), Number(mode), Number(resolve));
}

/** The flags of an open that may write or create (O_TMPFILE needs a write mode): a register test. */
function writes(index: number): BpfArgCondition[] {
  return [{ index, op: "masked-ne", mask: BigInt(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC), value: 0n }];
}

/**
 * Under an overlay root, the opens that may write reach the sentry (which lets root inside
 * change the overlay's base); when traced, every open.
 */
export const fileFamily: Family = {
  open: { handler: (t) => openForTask(t, AT_FDCWD, 0, legacyFlags(t.argInt(1)), t.argInt(2), 0), trap: { when: "overlay-root", args: [writes(1)] } },
  openat: { handler: (t) => openForTask(t, t.argInt(0), 1, legacyFlags(t.argInt(2)), t.argInt(3), 0), trap: { when: "overlay-root", args: [writes(2)] } },
  creat: { handler: (t) => openForTask(t, AT_FDCWD, 0, O_CREAT | O_WRONLY | O_TRUNC, t.argInt(1), 0), trap: { when: "overlay-root" } },
  // Its flags are in memory the filter cannot read.
  openat2: { handler: openat2, trap: { when: "overlay-root" } },
};
