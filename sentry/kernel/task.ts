// The sentry's view of a trapping task: credentials, bounded copy-in, and the
// descriptors a path operation starts from. Used by the sys_*.ts handlers.
import { readSync } from "node:fs";
import type { BlockingCallSpec, NativeBinding } from "../../native/binding.js";
import type { TaskMemory, TrapEvent } from "../../platform/platform.js";
import { AT_EMPTY_PATH, AT_FDCWD, FASYNC, F_SETFL, O_CLOEXEC, O_DIRECTORY, O_NONBLOCK, O_PATH, O_RDONLY, PATH_MAX, S_IFIFO, S_IFMT } from "../../platform/abi/fcntl.js";
import { EFAULT, ENAMETOOLONG, ENOENT, ENXIO, ESRCH } from "../../platform/abi/errno.js";
import { SyscallError } from "../errors/errors.js";
import type { NetworkMode, SentryNetRules } from "../config.js";


/** What every handler may use. Built once per sandbox by the sentry. */
export interface Kernel {
  readonly native: NativeBinding;
  readonly mem: TaskMemory;
  /** ID_VALID for the event being handled: false once the task stopped waiting. */
  idValid(): boolean;
  /**
   * Performs a call that may block (a connect, a sendto) off the sentry's thread, on the
   * sandbox's bounded pool, waiting briefly: its result (>= 0 or -errno), or null when the
   * pool's worker will answer the event itself. The call's descriptors are taken over.
   */
  offload(call: BlockingCallSpec): number | null;
  /** O_PATH fd of the host's /proc (the sentry thread's own "/" is the sandbox root). */
  readonly procFd: number;
  /** Device numbers of the sandbox's private writable filesystems (its /tmp, /dev/shm). */
  readonly privateDevices: ReadonlySet<bigint>;
  readonly exec: ExecRule;
  readonly network: NetworkMode;
  /** The sandbox's host name, as uname shows it (sys_info.ts). */
  readonly hostname: string;
  /** network.egress/bind and the addresses of egress host names (sentry/policy/network.ts). */
  readonly netRules: SentryNetRules;
  /** process.signals: "self" confines the kill family to the caller's thread group (sys_signal.ts). */
  readonly signals: "sandbox" | "self";
  /** Host PID of the sandbox's init (runsc-ts-init, which forwards the container's signals). */
  readonly initPid: number;
  /** Credentials by tid (see taskCreds). */
  readonly creds: CredsCache;
  /**
   * filesystem.root: overlay — the overlay root's mount id (statx STATX_MNT_ID): where root
   * inside may change what the host owns, the sentry doing it (sys_fsmut.ts). Undefined otherwise.
   */
  readonly overlayMount: bigint | undefined;
  /** How many CPUs the sandbox sees under a CPU limit (sched_getaffinity, sys_info.ts); undefined: all. */
  readonly visibleCpus: number | undefined;
  /** The sandbox's user namespace maps, for ids the workload names (chown). */
  readonly ids: { readonly uid: IdMap; readonly gid: IdMap };
}

/** One user namespace map (uid_map or gid_map): [inside, outside, count] rows. */
export type IdMap = readonly (readonly [inside: number, outside: number, count: number])[];

/** The host id an id inside maps to, or undefined (the kernel's EINVAL for chown). */
export function hostId(map: IdMap, id: number): number | undefined {
  for (const [inside, outside, count] of map) if (id >= inside && id - inside < count) return outside + (id - inside);
  return undefined;
}

/** Whether a host id has a mapping inside. */
export function mappedInside(map: IdMap, host: number): boolean {
  return map.some(([, outside, count]) => host >= outside && host - outside < count);
}

/** Parses /proc/PID/uid_map or gid_map. */
export function parseIdMap(text: string): IdMap {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((n) => Number.isInteger(n)))
    .map(([a, b, c]) => [a!, b!, c!] as const);
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
  invalidate(k: Kernel, tid: number): void {
    const e = this.entries.get(tid);
    if (e === undefined) return;
    k.native.close(e.pidfd);
    this.entries.delete(tid);
  }

  clear(k: Kernel): void {
    for (const e of this.entries.values()) k.native.close(e.pidfd);
    this.entries.clear();
  }

  /**
   * Adds tid's entry. Every CREDS_SWEEP_EVERY additions the entries of tasks that have
   * exited are dropped (a task killed mid-call is never looked up again, and its pidfd
   * would stay open until the cache filled); a cache still full is cleared.
   */
  add(k: Kernel, tid: number, creds: Creds, pidfd: number): void {
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

/** The exec allowlist: undefined allows any file. */
export interface ExecRule {
  allowed(path: string): boolean;
  readonly restricted: boolean;
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
function readStatus(k: Kernel, tid: number): number {
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
export function taskCreds(k: Kernel, tid: number): Creds {
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
  const creds = readCreds(k, tid);
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
function readCreds(k: Kernel, tid: number): Creds {
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

/**
 * Acts as the task from here on this thread: its fs ids (or real ids), groups and host
 * capabilities. The identity stays until the next switch rather than being restored after
 * each call: restoring costs a trapped open about 15% (two more credential changes per call,
 * measured with npm run bench), and the sentry's own operations switch first instead —
 * openProc to the sentry's credentials, the native ones that need privilege with their
 * capabilities raised for the call (ScopedSentryCaps) — so nothing of the sentry's own runs
 * as a task.
 */
export function asTask(k: Kernel, c: Creds, useReal = false): void {
  const caps = hostCaps(k, c);
  const r = useReal ? k.native.setCreds(c.ruid, c.rgid, c.groups, false, caps) : k.native.setCreds(c.fsuid, c.fsgid, c.groups, false, caps);
  if (r < 0) throw new Error(`setCreds failed: errno ${-r}`);
}

/**
 * The capabilities the task holds over the host's objects: its own when it is in the host's
 * user namespace (a container without one), none otherwise (they reach only what its
 * namespace owns). The sentry acts as the task with these, never with its own.
 */
export function hostCaps(k: Kernel, c: Creds): bigint {
  return k.ids.uid.some(([inside, outside, count]) => inside === 0 && outside === 0 && count >= 0xffffffff) ? c.capEff : 0n;
}

/**
 * The task's fs ids with the file capabilities raised (chown, dac_override,
 * dac_read_search, fowner, fsetid): root inside acting on the overlay's base, which the
 * host owns (sys_fsmut.ts). What this creates is the task's.
 */
export function asTaskElevated(k: Kernel, c: Creds): void {
  const r = k.native.setCreds(c.fsuid, c.fsgid, c.groups, true, hostCaps(k, c));
  if (r < 0) throw new Error(`setCreds (elevated) failed: errno ${-r}`);
}

/** Back to the sentry's own (root) credentials. */
export function asSentry(k: Kernel): void {
  k.native.setCreds(0, 0, NO_GROUPS);
}

// include/uapi/linux/stat.h
const EMPTY_PATH = new Uint8Array(0);
const openStat = new Uint8Array(144);
const openStatView = new DataView(openStat.buffer);

/**
 * The result of an open the sentry made with O_NONBLOCK that the task did not ask for:
 * "fifo" (closed) for a FIFO, or ENXIO's (what a FIFO without a reader says), whose open is
 * the kernel's to block in; otherwise the descriptor, made blocking again, or the -errno.
 */
export function nonBlockingOpen(k: Kernel, fd: number, added: boolean, taskFlags: number): number | "fifo" {
  if (!added) return fd;
  if (fd === -ENXIO) return "fifo";
  if (fd < 0) return fd;
  const n = k.native;
  if (n.statAt(fd, EMPTY_PATH, 0, AT_EMPTY_PATH, openStat) === 0 && (openStatView.getUint32(24, true) & S_IFMT) === S_IFIFO) {
    n.close(fd);
    return "fifo";
  }
  // F_SETFL takes the status flags the task opened with (it ignores the access mode and
  // creation flags): O_NONBLOCK off, its O_APPEND, O_DIRECT, O_NOATIME kept. Not FASYNC,
  // which open(2) ignores and F_SETFL would turn on.
  const r = n.fcntl(fd, F_SETFL, taskFlags & ~(O_NONBLOCK | FASYNC));
  if (r >= 0) return fd;
  n.close(fd);
  return r;
}
