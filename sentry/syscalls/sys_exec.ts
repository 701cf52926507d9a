// execve(2) and execveat(2), checked against the policy's exec allowlist.
//
// exec cannot be performed on the task's behalf (the new image must replace the caller),
// so the kernel executes an allowed exec and reads the path again. How the check-then-exec
// race is closed:
//   * the check resolves the path the way the kernel will (in the sandbox's root, task
//     credentials, symlinks followed) and matches the file it names, not the string;
//   * a "#!" script's interpreters (run by the kernel without another execve) are checked
//     too. (The ELF interpreter, ld.so, is a loader like the libraries, not checked.);
//   * the image the kernel loaded is verified at the exec stop (Kernel.execVerified): it
//     must be the file the chain ends with, the one the allowlist passed, or the task dies
//     before its first instruction. A racing thread that swaps the string (or a symlink, or
//     the descriptor execveat names) between the check and the kernel's read gains nothing.
//     For a script this is its last interpreter: a script whose interpreter is allowed is
//     no more than that interpreter run with a file argument, which the allowlist permits;
//   * the allowlist's complement that the workload can write to (its private /tmp and
//     /dev/shm) is mounted noexec, and hidden paths are masked by mounts.
import type { Reply } from "../../platform/platform.js";
import { ALLOW, PENDING } from "../../platform/platform.js";
import { EACCES, EINVAL } from "../../platform/abi/errno.js";
import { readSync } from "node:fs";
import { AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, STATX_DEV_MAJOR_OFFSET, STATX_DEV_MINOR_OFFSET, STATX_INO, STATX_MNT_ID, STATX_MODE_OFFSET, STATX_TYPE, S_IFMT, S_IFREG } from "../../platform/abi/fcntl.js";
import { errnoReply } from "../errors/errors.js";
import type { FileIdentity, Kernel } from "../kernel/kernel.js";
import type { Task } from "../kernel/task.js";
import type { Family } from "./handlers.js";
import { family } from "./handlers.js";

const linkBuf = new Uint8Array(4096);
const headBuf = Buffer.alloc(256);
const decoder = new TextDecoder();

/** Interpreters of interpreters the kernel follows (fs/exec.c exec_binprm: depth > 5 is ELOOP). */
const MAX_INTERPRETERS = 5;
const EMPTY = new Uint8Array(0);
// include/uapi/linux/stat.h
/** struct statx: stx_mode (u16) at 28. */
const idBuf = new Uint8Array(256);
const idView = new DataView(idBuf.buffer);

/**
 * Resolves (dir, path) as exec would and returns an owned O_PATH fd of the file and its path
 * inside the sandbox, or an errno. Runs with the task's credentials.
 */
function resolve(t: Task, dir: number, path: Uint8Array, len: number, nofollow: boolean): Target {
  const fd = t.own(t.k.native.openat2(dir, path, len, (nofollow ? O_PATH | O_NOFOLLOW : O_PATH) | O_CLOEXEC, 0, 0));
  if (fd < 0) return -fd;
  const p = pathOf(t.k, fd);
  if (typeof p === "number") t.close(fd);
  return typeof p === "number" ? p : { fd, path: p };
}

/** A file exec would run (our descriptor and its path inside), or the errno exec fails with. */
type Target = { fd: number; path: string } | number;

/** d_path of our descriptor, relative to this thread's root: the sandbox's root. */
function pathOf(k: Kernel, fd: number): string | number {
  const self = Buffer.from(`self/fd/${fd}`);
  const n = k.native.readlinkAt(k.procFd, self, self.length, linkBuf);
  return n < 0 ? -n : decoder.decode(linkBuf.subarray(0, n));
}

/** A file's mount and inode ("mnt:ino"), by descriptor or by path; undefined when none. */
function identity(k: Kernel, dirfd: number, path: Uint8Array, len: number, flags: number): string | undefined {
  if (k.native.statxAt(dirfd, path, len, flags, STATX_INO | STATX_MNT_ID, idBuf) < 0) return undefined;
  return `${idView.getBigUint64(144, true)}:${idView.getBigUint64(32, true)}`;
}

/**
 * Whether the path /proc gives for fd names that very file now. The allowlist names files:
 * a deleted file's or a memfd's text ("/memfd:x/../../usr/bin/python3-x (deleted)") is
 * whatever the task chose, and matches only by accident a path where that file is.
 */
function isAtItsPath(k: Kernel, fd: number, path: string): boolean {
  if (!path.startsWith("/")) return false; // anon_inode:…, and the like
  const own = identity(k, fd, EMPTY, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  const b = Buffer.from(path);
  return own !== undefined && own === identity(k, AT_FDCWD, b, b.length, AT_SYMLINK_NOFOLLOW);
}

/**
 * Whether fd is a regular file: exec runs nothing else (fs/exec.c: do_open_execat, EACCES).
 * The check comes before the sentry reads a "#!" line: a FIFO's read would wait for a writer
 * on the thread that serves every task of the sandbox.
 */
function isRegularFile(k: Kernel, fd: number): boolean {
  if (k.native.statxAt(fd, EMPTY, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE, idBuf) < 0) return false;
  return (idView.getUint16(STATX_MODE_OFFSET, true) & S_IFMT) === S_IFREG;
}

/** The interpreter a "#!" file names (fs/binfmt_script.c), or undefined for other files. */
function interpreterOf(t: Task, file: number): string | undefined {
  const self = Buffer.from(`self/fd/${file}`);
  // Non-blocking too: a regular file never waits, but nothing here may if one could.
  const fd = t.own(t.k.native.openat2(t.k.procFd, self, self.length, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, 0));
  if (fd < 0) return undefined; // unreadable: not something the kernel runs as a script
  let n: number;
  try {
    n = readSync(fd, headBuf, 0, headBuf.length, 0);
  } catch {
    return undefined;
  } finally {
    t.close(fd);
  }
  if (n < 3 || headBuf[0] !== 0x23 || headBuf[1] !== 0x21) return undefined;
  // The line ends at a newline or a NUL; the name is what follows spaces and tabs, up to the next.
  const line = headBuf.toString("latin1", 2, n).split(/[\n\0]/)[0] ?? "";
  const interp = /^[ \t]*([^ \t]*)/.exec(line)?.[1] ?? "";
  return interp === "" ? undefined : interp;
}

/**
 * Whether the task may run the file found, as the allowlist decides: the file at its own
 * path, allowed, and regular. 0 when it may, then the interpreter a "#!" line names (or
 * undefined); or the errno. Runs with the task's credentials (the "#!" line is read as
 * the task: a file it cannot read is no script the kernel runs for it).
 */
function verdict(t: Task, target: { fd: number; path: string }, depth: number): string | undefined | number {
  const k = t.k;
  if (!isAtItsPath(k, target.fd, target.path) || !k.exec.allowed(target.path)) return EACCES;
  if (!isRegularFile(k, target.fd)) return EACCES;
  return depth < MAX_INTERPRETERS ? interpreterOf(t, target.fd) : undefined;
}

/** The file fd names, as statx gives it (device and inode); an errno when it cannot. */
function fileIdentity(k: Kernel, fd: number): FileIdentity | number {
  const r = k.native.statxAt(fd, EMPTY, 0, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO, idBuf);
  if (r < 0) return -r;
  return { devMajor: idView.getUint32(STATX_DEV_MAJOR_OFFSET, true), devMinor: idView.getUint32(STATX_DEV_MINOR_OFFSET, true), ino: idView.getBigUint64(32, true) };
}

/**
 * Checks the file exec would run and, for "#!" scripts, the interpreters the kernel would
 * run after it without another execve: each must be allowed. The file the kernel will load
 * (the last of them), or the errno to answer.
 * Each step resolves as the task; the sentry opens the task's working directory (for a
 * relative interpreter) between them, as itself.
 */
function checkChain(t: Task, dirfd: number, pathIdx: number, flags: number): FileIdentity | number {
  const path = t.path(pathIdx);
  const empty = path.len === 0 && (flags & AT_EMPTY_PATH) !== 0;
  const creds = t.creds();
  const dir = t.dir(dirfd, path, empty);
  t.ensureValid();
  let target: Target = t.as(() => {
    if (!empty) return resolve(t, dir, path.bytes, path.len, (flags & AT_SYMLINK_NOFOLLOW) !== 0);
    // fexecve: the descriptor itself (dir is our O_PATH copy of it).
    const p = pathOf(t.k, dir);
    return typeof p === "number" ? p : { fd: dir, path: p };
  }, "fs", creds);
  let cwd: number | undefined;
  for (let depth = 0; ; depth++) {
    if (typeof target === "number") return target;
    const found = target;
    const v = t.as(() => verdict(t, found, depth), "fs", creds);
    if (typeof v === "number") return v;
    if (v === undefined) return fileIdentity(t.k, found.fd);
    // A relative interpreter resolves from the task's working directory, as in the kernel
    // (not from execveat's directory).
    const from = v.startsWith("/") ? AT_FDCWD : (cwd ??= t.cwd());
    const b = Buffer.from(v);
    target = t.as(() => resolve(t, from, b, b.length, false), "fs", creds);
  }
}

function checkExec(t: Task, dirfd: number, pathIdx: number, flags: number): Reply {
  if (!t.k.exec.restricted) {
    // Seen to be recorded (--record-events), or traced.
    if (!t.k.recordsEvents) return ALLOW;
    const e = t.k.execVerified(undefined);
    return e === null ? PENDING : errnoReply(e);
  }
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return errnoReply(EINVAL);
  const file = checkChain(t, dirfd, pathIdx, flags);
  if (typeof file === "number") return errnoReply(file);
  const e = t.k.execVerified(file);
  return e === null ? PENDING : errnoReply(e);
}

/** Under process.exec, every exec is checked against the allow list. */
export const execFamily: Family = family(
  {
    execve: (t) => checkExec(t, AT_FDCWD, 0, 0),
    execveat: (t) => checkExec(t, t.argInt(0), 1, t.argInt(4)),
  },
  { when: "exec-seen" },
);
