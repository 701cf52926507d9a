// The sentry's view of a trapping task: credentials, bounded copy-in, and the
// descriptors a path operation starts from. Used by the sys_*.ts handlers.
import { readSync } from "node:fs";
import type { NativeBinding } from "../../native/binding.js";
import type { TaskMemory, TrapEvent } from "../../platform/platform.js";
import { AT_FDCWD, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY } from "../abi/fcntl.js";
import { EFAULT, ENAMETOOLONG, ENOENT, ESRCH } from "../abi/errno.js";
import { SyscallError } from "../errors/errors.js";

/** PATH_MAX (include/uapi/linux/limits.h), including the terminating NUL. */
export const PATH_MAX = 4096;

/** What every handler may use. Built once per sandbox by the sentry. */
export interface Kernel {
  readonly native: NativeBinding;
  readonly mem: TaskMemory;
  /** ID_VALID for the event being handled: false once the task stopped waiting. */
  idValid(): boolean;
  /** O_PATH fd of the host's /proc (the sentry thread's own "/" is the sandbox root). */
  readonly procFd: number;
  /** Device numbers of the sandbox's private writable filesystems (its /tmp, /dev/shm). */
  readonly privateDevices: ReadonlySet<bigint>;
  readonly exec: ExecRule;
  readonly network: "none" | "host";
  /** Open /proc/TID/status files, by tid (see taskCreds). */
  readonly statusFiles: Map<number, number>;
}

/** How many /proc/TID/status descriptors the sentry keeps open at most. */
const STATUS_FILES_MAX = 1024;

/** The exec allowlist: undefined allows any file. */
export interface ExecRule {
  allowed(path: string): boolean;
  readonly restricted: boolean;
}

/** The parts of /proc/PID/status the handlers need (host ids). */
export interface Creds {
  tgid: number;
  ruid: number;
  euid: number;
  fsuid: number;
  rgid: number;
  egid: number;
  fsgid: number;
  groups: Int32Array;
  umask: number;
  threads: number;
}

const statusBuf = Buffer.alloc(4096);

/** Opens a file under the host's /proc as the sentry (root). Returns an fd. */
export function openProc(k: Kernel, rel: string, flags: number): number {
  k.native.setCreds(0, 0, NO_GROUPS);
  const b = Buffer.from(rel);
  const fd = k.native.openat2(k.procFd, b, b.length, flags, 0, 0);
  if (fd < 0) throw new SyscallError(-fd === ENOENT ? ESRCH : -fd);
  return fd;
}

const NO_GROUPS = new Int32Array(0);

function field(text: string, name: string): string {
  const i = text.indexOf("\n" + name + ":");
  if (i < 0) throw new Error(`/proc status has no ${name}`);
  const start = i + name.length + 2;
  const end = text.indexOf("\n", start);
  return text.slice(start, end < 0 ? undefined : end).trim();
}

/**
 * Reads /proc/TID/status into statusBuf; returns its length. The descriptor is kept: it
 * pins the task it was opened for, so a read after that task died fails (ESRCH) instead
 * of describing a new task that reused the tid; then it is reopened once.
 */
function readStatus(k: Kernel, tid: number): number {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd = k.statusFiles.get(tid);
    if (fd === undefined) {
      if (k.statusFiles.size >= STATUS_FILES_MAX) {
        for (const f of k.statusFiles.values()) k.native.close(f);
        k.statusFiles.clear();
      }
      fd = openProc(k, `${tid}/status`, O_RDONLY | O_CLOEXEC);
      k.statusFiles.set(tid, fd);
    }
    try {
      return readSync(fd, statusBuf, 0, statusBuf.length, 0);
    } catch {
      k.native.close(fd);
      k.statusFiles.delete(tid);
    }
  }
  throw new SyscallError(ESRCH);
}

/** Reads the task's credentials from /proc/TID/status (ESRCH if it is gone). */
export function taskCreds(k: Kernel, tid: number): Creds {
  const n = readStatus(k, tid);
  const text = "\n" + statusBuf.toString("latin1", 0, n);
  const uid = field(text, "Uid").split(/\s+/).map(Number);
  const gid = field(text, "Gid").split(/\s+/).map(Number);
  const groupsText = field(text, "Groups");
  const groups = groupsText === "" ? NO_GROUPS : Int32Array.from(groupsText.split(/\s+/).map(Number));
  return {
    tgid: Number(field(text, "Tgid")),
    ruid: uid[0] ?? 0,
    euid: uid[1] ?? 0,
    fsuid: uid[3] ?? 0,
    rgid: gid[0] ?? 0,
    egid: gid[1] ?? 0,
    fsgid: gid[3] ?? 0,
    groups,
    umask: parseInt(field(text, "Umask"), 8),
    threads: Number(field(text, "Threads")),
  };
}

/** A path copied in from task memory: bytes valid until the next copy-in. */
export interface PathArg {
  readonly bytes: Uint8Array;
  readonly len: number;
  readonly text: string;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Copies in the NUL-terminated path at argument i (bounded by PATH_MAX), like the kernel's
 * getname(): EFAULT for a bad pointer, ENAMETOOLONG past PATH_MAX. The caller must check
 * ID_VALID before acting on it (seccomp_unotify(2), NOTES).
 */
export function copyInPath(k: Kernel, ev: TrapEvent, i: number): PathArg {
  const addr = ev.argNum(i);
  if (addr === 0) throw new SyscallError(EFAULT);
  const r = k.mem.readBytes(ev.pid, addr, PATH_MAX);
  if (typeof r === "number") throw new SyscallError(r === ENAMETOOLONG ? ENAMETOOLONG : EFAULT);
  return { bytes: r.bytes, len: r.len, text: decoder.decode(r.bytes.subarray(0, r.len)) };
}

/** Throws when the task no longer waits for this event (its memory may be reused). */
export function ensureValid(k: Kernel): void {
  if (!k.idValid()) throw new SyscallError(ESRCH);
}

/**
 * The directory a *at() call resolves a relative path from, as an O_PATH fd owned by the
 * caller (-1 when none is needed: absolute paths resolve from this thread's root, which
 * is the sandbox's). Obtained through the host /proc, never through the task's memory.
 */
export function openDirfd(k: Kernel, tid: number, dirfd: number, path: PathArg, emptyPath: boolean): number {
  if (!emptyPath && path.len > 0 && path.bytes[0] === 0x2f /* '/' */) return AT_FDCWD;
  const rel = dirfd === AT_FDCWD ? `${tid}/cwd` : `${tid}/fd/${dirfd}`;
  try {
    return openProc(k, rel, O_PATH | O_CLOEXEC | (emptyPath ? 0 : O_DIRECTORY));
  } catch (e) {
    // A dirfd the task does not have is EBADF, as the kernel would say.
    if (e instanceof SyscallError && e.errno === ESRCH && dirfd !== AT_FDCWD) throw new SyscallError(9);
    throw e;
  }
}

/** Closes a descriptor from openDirfd (no-op for AT_FDCWD). */
export function closeDirfd(k: Kernel, fd: number): void {
  if (fd >= 0) k.native.close(fd);
}

/** Runs fn with the thread's fs credentials set to the task's (fsuid/fsgid/groups). */
export function asTask(k: Kernel, c: Creds, useReal = false): void {
  const r = useReal ? k.native.setCreds(c.ruid, c.rgid, c.groups) : k.native.setCreds(c.fsuid, c.fsgid, c.groups);
  if (r < 0) throw new Error(`setCreds failed: errno ${-r}`);
}

/** Back to the sentry's own (root) credentials. */
export function asSentry(k: Kernel): void {
  k.native.setCreds(0, 0, NO_GROUPS);
}
