// A task's credentials as the sentry reads them (/proc/TID/status), cached by tid with a
// pidfd per entry, and the sentry's own opens under the host's /proc.
import { readSync } from "node:fs";
import { ENOENT, ESRCH } from "../../platform/abi/errno.js";
import { O_CLOEXEC, O_RDONLY } from "../../platform/abi/fcntl.js";
import { SyscallError } from "../errors/errors.js";
import type { NativeBinding } from "../../native/binding.js";
import type { Identity } from "./identity.js";
import type { IdMap } from "./idmap.js";
import { isHostMap } from "./idmap.js";

/** What reading a task's credentials needs of the sandbox's kernel (kernel.ts: Kernel). */
export interface CredsContext {
  readonly native: NativeBinding;
  /** O_PATH fd of the host's /proc. */
  readonly procFd: number;
  readonly identity: Identity;
  readonly creds: CredsCache;
  readonly ids: { readonly uid: IdMap };
}

/** The parts of /proc/PID/status the handlers need (host ids, except nstgid and nspid). */
export interface Creds {
  tgid: number;
  /** The thread group id and thread id in the task's own PID namespace (last NStgid/NSpid field). */
  nstgid: number;
  nspid: number;
  ruid: number;
  euid: number;
  fsuid: number;
  rgid: number;
  egid: number;
  fsgid: number;
  groups: Int32Array;
  umask: number;
  threads: number;
  /** Effective capabilities, in the task's own user namespace (CapEff). */
  capEff: bigint;
}

/** How many tasks' credentials the sentry keeps at most. */
const CREDS_CACHE_MAX = 1024;
const CREDS_SWEEP_EVERY = 64;

/**
 * Credentials by tid, each with a pidfd of its task: an entry is used only while that
 * task lives (a reused tid belongs to a new task and misses), and is dropped when the task
 * changes its credentials or umask, which the filter traps for that reason (sys_cred.ts).
 */
export class CredsCache {
  readonly entries = new Map<number, { creds: Creds; pidfd: number }>();
  hits = 0;
  misses = 0;
  private inserts = 0;

  /** Forgets tid's credentials (it is about to change them). */
  invalidate(k: CredsContext, tid: number): void {
    const e = this.entries.get(tid);
    if (e === undefined) return;
    k.native.close(e.pidfd);
    this.entries.delete(tid);
  }

  clear(k: CredsContext): void {
    for (const e of this.entries.values()) k.native.close(e.pidfd);
    this.entries.clear();
  }

  /**
   * Adds tid's entry. Every CREDS_SWEEP_EVERY additions the entries of tasks that have
   * exited are dropped (a task killed mid-call is never looked up again, and its pidfd
   * would stay open until the cache filled); a cache still full is cleared.
   */
  add(k: CredsContext, tid: number, creds: Creds, pidfd: number): void {
    if (++this.inserts % CREDS_SWEEP_EVERY === 0) {
      for (const [t, e] of this.entries) {
        if (k.native.pidfdExited(e.pidfd)) {
          k.native.close(e.pidfd);
          this.entries.delete(t);
        }
      }
    }
    if (this.entries.size >= CREDS_CACHE_MAX) this.clear(k);
    this.entries.set(tid, { creds, pidfd });
  }
}

/**
 * Opens a file under the host's /proc as the sentry itself (a task's status, cwd or fd
 * table need the sentry's privilege). Returns an fd the caller owns; ESRCH for a task
 * that is gone.
 */
export function openProc(k: CredsContext, rel: string, flags: number): number {
  k.identity.sentry();
  const b = Buffer.from(rel);
  const fd = k.native.openat2(k.procFd, b, b.length, flags, 0, 0);
  if (fd < 0) throw new SyscallError(-fd === ENOENT ? ESRCH : -fd);
  return fd;
}

const NO_GROUPS = new Int32Array(0);
const statusBuf = Buffer.alloc(4096);

function field(text: string, name: string): string {
  const i = text.indexOf("\n" + name + ":");
  // An exiting task's status lacks the lines of what it has released (Umask once its
  // fs_struct is gone): it was killed while its syscall waited for us.
  if (i < 0) throw new SyscallError(ESRCH);
  const start = i + name.length + 2;
  const end = text.indexOf("\n", start);
  return text.slice(start, end < 0 ? undefined : end).trim();
}

/** The last of a whitespace-separated list of numbers: the innermost PID namespace's id. */
function lastNumber(list: string): number {
  const parts = list.split(/\s+/);
  return Number(parts[parts.length - 1]);
}

/** Reads /proc/TID/status into statusBuf; returns its length (ESRCH if the task is gone). */
function readStatus(k: CredsContext, tid: number): number {
  const fd = openProc(k, `${tid}/status`, O_RDONLY | O_CLOEXEC);
  try {
    return readSync(fd, statusBuf, 0, statusBuf.length, 0);
  } catch {
    throw new SyscallError(ESRCH);
  } finally {
    k.native.close(fd);
  }
}

/** PIDFD_THREAD (include/uapi/linux/pidfd.h): a pidfd of one thread, Linux 6.9. */
const PIDFD_THREAD = 0o200;

/** The task's credentials, from the cache or /proc/TID/status (ESRCH if it is gone). */
export function taskCreds(k: CredsContext, tid: number): Creds {
  const cache = k.creds;
  const hit = cache.entries.get(tid);
  if (hit !== undefined) {
    if (!k.native.pidfdExited(hit.pidfd)) {
      cache.hits++;
      return hit.creds;
    }
    cache.invalidate(k, tid);
  }
  cache.misses++;
  // The pidfd first: if its task is still alive after the read, the read was of that task.
  let pidfd = k.native.pidfdOpen(tid, PIDFD_THREAD);
  if (pidfd < 0) pidfd = k.native.pidfdOpen(tid); // before 6.9: thread-group leaders only
  let creds: Creds;
  try {
    creds = readCreds(k, tid);
  } catch (e) {
    if (pidfd >= 0) k.native.close(pidfd);
    throw e;
  }
  if (pidfd >= 0) {
    if (k.native.pidfdExited(pidfd)) {
      k.native.close(pidfd);
    } else {
      cache.add(k, tid, creds, pidfd);
    }
  }
  return creds;
}

/** Reads the task's credentials from /proc/TID/status (ESRCH if it is gone). */
function readCreds(k: CredsContext, tid: number): Creds {
  const n = readStatus(k, tid);
  const text = "\n" + statusBuf.toString("latin1", 0, n);
  const uid = field(text, "Uid").split(/\s+/).map(Number);
  const gid = field(text, "Gid").split(/\s+/).map(Number);
  const groupsText = field(text, "Groups");
  const groups = groupsText === "" ? NO_GROUPS : Int32Array.from(groupsText.split(/\s+/).map(Number));
  return {
    tgid: Number(field(text, "Tgid")),
    nstgid: lastNumber(field(text, "NStgid")),
    nspid: lastNumber(field(text, "NSpid")),
    ruid: uid[0] ?? 0,
    euid: uid[1] ?? 0,
    fsuid: uid[3] ?? 0,
    rgid: gid[0] ?? 0,
    egid: gid[1] ?? 0,
    fsgid: gid[3] ?? 0,
    groups,
    umask: parseInt(field(text, "Umask"), 8),
    threads: Number(field(text, "Threads")),
    capEff: BigInt("0x" + field(text, "CapEff")),
  };
}

/**
 * The capabilities the task holds over the host's objects: its own when it is in the host's
 * user namespace (a container without one), none otherwise (they reach only what its
 * namespace owns). The sentry acts as the task with these, never with its own.
 */
export function hostCaps(k: CredsContext, c: Creds): bigint {
  return isHostMap(k.ids.uid) ? c.capEff : 0n;
}
