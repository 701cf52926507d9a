// The task a trapped syscall came from, as its handler sees it: the call's registers, the
// task's credentials, bounded copies in and out of its memory, the descriptors the sentry
// opens for the call, and the scope in which the sentry acts with the task's credentials.
//
// One Task per event, made by dispatch and ended by it: every descriptor the call owns is
// closed then, whatever the handler returned or threw, unless the handler handed it on
// (an fd reply, which the platform closes once sent, or a call given to the blocking pool).
// Methods return their value or throw SyscallError with the errno the task is answered.
import type { BlockingCallSpec } from "../../native/binding.js";
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { EBADF, EFAULT, ENAMETOOLONG, ENXIO, ESRCH } from "../../platform/abi/errno.js";
import { AT_EMPTY_PATH, AT_FDCWD, FASYNC, F_SETFL, O_CLOEXEC, O_DIRECTORY, O_NONBLOCK, O_PATH, PATH_MAX, S_IFIFO, S_IFMT } from "../../platform/abi/fcntl.js";
import { SyscallError } from "../errors/errors.js";
import type { Creds } from "./creds.js";
import { hostCaps, openProc, taskCreds } from "./creds.js";
import type { ActAs } from "./identity.js";
import type { Kernel } from "./kernel.js";

/** A path copied in from task memory: bytes valid until the next copy-in. */
export interface PathArg {
  readonly bytes: Uint8Array;
  readonly len: number;
  readonly text: string;
}

const decoder = new TextDecoder("utf-8", { fatal: false });
const EMPTY = new Uint8Array(0);
const openStat = new Uint8Array(144);
const openStatView = new DataView(openStat.buffer);

export class Task {
  /** Descriptors the call owns, closed by end(). */
  private fds: number[] | undefined;
  private memo: Creds | undefined;
  private pidfdOf: number | undefined;

  constructor(
    readonly k: Kernel,
    readonly ev: TrapEvent,
  ) {}

  /** The calling thread's host id. */
  get tid(): number {
    return this.ev.pid;
  }

  /** Register i, unsigned 64-bit. */
  arg(i: number): bigint {
    return this.ev.arg(i);
  }

  /** Register i as a signed 32-bit int (fds, flags, modes, signals). */
  argInt(i: number): number {
    return this.ev.argInt(i);
  }

  /** Register i as a non-negative number (pointers, sizes). */
  argNum(i: number): number {
    return this.ev.argNum(i);
  }

  // ---- credentials

  /** The task's credentials (cached across calls; see CredsCache). */
  creds(): Creds {
    return (this.memo ??= taskCreds(this.k, this.ev.pid));
  }

  /**
   * The task's credentials read anew: capabilities change at execve, which is not trapped,
   * so a cached entry may predate a drop. Decisions that lend privilege use these.
   */
  freshCreds(): Creds {
    this.k.creds.invalidate(this.k, this.ev.pid);
    this.memo = undefined;
    return this.creds();
  }

  /** Forgets what is cached of the task's credentials (it is about to change them). */
  forgetCreds(): void {
    this.k.creds.invalidate(this.k, this.ev.pid);
    this.memo = undefined;
  }

  /**
   * Runs fn acting as the task (identity.ts): its fs ids, or real ids, or fs ids with the
   * file capabilities raised; with its capabilities over the host only where it is in the
   * host's user namespace. The scope ends when fn returns or throws.
   */
  as<T>(fn: () => T, how: ActAs = "fs", c: Creds = this.creds()): T {
    return this.k.identity.asTask(c, how, hostCaps(this.k, c), fn);
  }

  // ---- memory

  /**
   * Throws ESRCH when the task no longer waits for this event: its memory may be reused
   * by then. Called after the last copy-in and before acting on what was read (seccomp_unotify(2)).
   */
  ensureValid(): void {
    if (!this.k.idValid()) throw new SyscallError(ESRCH);
  }

  /**
   * Copies in the NUL-terminated path at register i (bounded by PATH_MAX), like the kernel's
   * getname(): EFAULT for a bad pointer, ENAMETOOLONG past PATH_MAX.
   */
  path(i: number): PathArg {
    const addr = this.ev.argNum(i);
    if (addr === 0) throw new SyscallError(EFAULT);
    const r = this.k.mem.readBytes(this.ev.pid, addr, PATH_MAX);
    if (typeof r === "number") throw new SyscallError(r === ENAMETOOLONG ? ENAMETOOLONG : EFAULT);
    return { bytes: r.bytes, len: r.len, text: decoder.decode(r.bytes.subarray(0, r.len)) };
  }

  /** len bytes of task memory at addr (EFAULT): valid until the next copy-in. */
  read(addr: number, len: number): Uint8Array {
    const r = this.k.mem.read(this.ev.pid, addr, len);
    if (typeof r === "number") throw new SyscallError(EFAULT);
    return r;
  }

  /** Writes bytes into task memory at addr (EFAULT). */
  write(addr: number, bytes: Uint8Array): void {
    if (this.k.mem.write(this.ev.pid, addr, bytes) !== 0) throw new SyscallError(EFAULT);
  }

  // ---- descriptors

  /** Makes fd the call's (closed by end()); a negative errno passes through. */
  own(fd: number): number {
    if (fd >= 0) (this.fds ??= []).push(fd);
    return fd;
  }

  /** Hands an owned descriptor on: whoever takes it closes it. */
  give(fd: number): number {
    const i = this.fds?.lastIndexOf(fd) ?? -1;
    if (i >= 0) this.fds!.splice(i, 1);
    return fd;
  }

  /** Closes an owned descriptor before the call ends. */
  close(fd: number): void {
    if (fd < 0) return;
    this.give(fd);
    this.k.native.close(fd);
  }

  /** Closes what the call still owns. Dispatch calls it once the handler is done. */
  end(): void {
    const fds = this.fds;
    if (fds === undefined) return;
    this.fds = undefined;
    for (let i = fds.length - 1; i >= 0; i--) this.k.native.close(fds[i]!);
  }

  /** A reply installing fd (owned) in the task: the platform closes it once sent. */
  fdReply(fd: number, cloexec: boolean): Reply {
    return { kind: "fd", fd: this.give(fd), cloexec };
  }

  /** Gives a call to the sandbox's blocking pool (Kernel.offload), with its descriptors. */
  offload(call: BlockingCallSpec): number | null {
    this.give(call.fd);
    if (call.alsoClose !== undefined && call.alsoClose >= 0) this.give(call.alsoClose);
    for (const fd of call.controlFds ?? []) this.give(fd);
    return this.k.offload(call);
  }

  /** Opens rel under the host's /proc as the sentry: an owned fd (ESRCH for a task that is gone). */
  proc(rel: string, flags: number): number {
    return this.own(openProc(this.k, rel, flags));
  }

  /**
   * The directory a *at() call resolves a relative path from: an owned O_PATH fd, or
   * AT_FDCWD for an absolute path (this thread's root is the sandbox's). Obtained through
   * the host's /proc, never through the task's memory. EBADF for a dirfd the task lacks.
   */
  dir(dirfd: number, path: PathArg, emptyPath: boolean): number {
    if (!emptyPath && path.len > 0 && path.bytes[0] === 0x2f /* '/' */) return AT_FDCWD;
    const rel = dirfd === AT_FDCWD ? `${this.ev.pid}/cwd` : `${this.ev.pid}/fd/${dirfd}`;
    try {
      return this.proc(rel, O_PATH | O_CLOEXEC | (emptyPath ? 0 : O_DIRECTORY));
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ESRCH && dirfd !== AT_FDCWD) throw new SyscallError(EBADF);
      throw e;
    }
  }

  /** The task's working directory: an owned O_PATH fd. */
  cwd(): number {
    return this.proc(`${this.ev.pid}/cwd`, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  /** An owned pidfd of the task's thread group (one per call). */
  pidfd(): number {
    if (this.pidfdOf !== undefined) return this.pidfdOf;
    this.k.identity.sentry();
    const fd = this.k.native.pidfdOpen(this.creds().tgid);
    if (fd < 0) throw new SyscallError(-fd);
    this.pidfdOf = this.own(fd);
    return fd;
  }

  /** An owned duplicate of the task's descriptor n (pidfd_getfd): EBADF when it has none. */
  fd(n: number): number {
    const fd = this.k.native.pidfdGetfd(this.pidfd(), n);
    if (fd < 0) throw new SyscallError(-fd);
    return this.own(fd);
  }

  /**
   * The result of an open the sentry made with O_NONBLOCK that the task did not ask for
   * (added): "fifo" (closed) for a FIFO, or ENXIO's (what a FIFO without a reader says),
   * whose open is the kernel's to block in; otherwise the owned descriptor, made blocking
   * again, or the -errno. An open that was not changed passes through, owned.
   */
  nonBlockingOpen(fd: number, added: boolean, taskFlags: number): number | "fifo" {
    if (!added) return this.own(fd);
    if (fd === -ENXIO) return "fifo";
    if (fd < 0) return fd;
    const n = this.k.native;
    this.own(fd);
    if (n.statAt(fd, EMPTY, 0, AT_EMPTY_PATH, openStat) === 0 && (openStatView.getUint32(24, true) & S_IFMT) === S_IFIFO) {
      this.close(fd);
      return "fifo";
    }
    // F_SETFL takes the status flags the task opened with (it ignores the access mode and
    // creation flags): O_NONBLOCK off, its O_APPEND, O_DIRECT, O_NOATIME kept. Not FASYNC,
    // which open(2) ignores and F_SETFL would turn on.
    const r = n.fcntl(fd, F_SETFL, taskFlags & ~(O_NONBLOCK | FASYNC));
    if (r >= 0) return fd;
    this.close(fd);
    return r;
  }
}
