// The seccomp user-notify platform: receive trapped syscalls, send the sentry's replies.
//
// Designed from reference/limits.md: a synchronous receive/reply loop over one reused
// buffer (struct seccomp_notif) costs 1.13x the C round trip; per-event objects, libuv
// polling or a threadsafe-function hop cost 1.5-4x. So the loop runs on a dedicated
// thread (a worker), blocks in the kernel, and allocates nothing per event. A container's
// monitor, whose sentry traps few calls, serves it from its event loop instead
// (receiveReady): one hop per burst, not per call, and no isolate of its own.
import type { BlockingCallSpec, BlockingPoolStats, NativeBinding } from "../../native/binding.js";
import type { Reply, TaskMemory, TrapEvent } from "../platform.js";
import { EINPROGRESS, EINTR, ENOENT, ESHUTDOWN } from "../abi/errno.js";

// struct seccomp_notif (include/uapi/linux/seccomp.h): u64 id; u32 pid; u32 flags;
// struct seccomp_data { s32 nr; u32 arch; u64 instruction_pointer; u64 args[6]; }
const OFF_PID = 8;
const OFF_NR = 16;
const OFF_ARCH = 20;
const OFF_ARGS = 32;
export const SECCOMP_NOTIF_SIZE = 80;


/** A TrapEvent that reads the notification buffer in place. */
class BufferEvent implements TrapEvent {
  constructor(private readonly view: DataView) {}
  get pid(): number {
    return this.view.getUint32(OFF_PID, true);
  }
  get nr(): number {
    return this.view.getInt32(OFF_NR, true);
  }
  get arch(): number {
    return this.view.getUint32(OFF_ARCH, true);
  }
  arg(i: number): bigint {
    return this.view.getBigUint64(OFF_ARGS + 8 * i, true);
  }
  argInt(i: number): number {
    return this.view.getInt32(OFF_ARGS + 8 * i, true);
  }
  argNum(i: number): number {
    const off = OFF_ARGS + 8 * i;
    return this.view.getUint32(off + 4, true) * 0x1_0000_0000 + this.view.getUint32(off, true);
  }
}

export interface NotifyLoopStats {
  events: number;
  vanished: number;
}

/**
 * One sandbox's listener. `run` blocks the calling thread until exitFd (the init's
 * pidfd) becomes readable; each event is answered before the next is received.
 */
export class SeccompNotify {
  private readonly buf = new Uint8Array(SECCOMP_NOTIF_SIZE);
  private pool = 0;
  readonly event: TrapEvent = new BufferEvent(new DataView(this.buf.buffer));
  readonly stats: NotifyLoopStats = { events: 0, vanished: 0 };

  constructor(
    private readonly native: NativeBinding,
    readonly listener: number,
    private readonly exitFd: number,
  ) {
    const sizes = native.notifySizes();
    if (sizes.notif !== SECCOMP_NOTIF_SIZE) {
      throw new Error(`struct seccomp_notif is ${sizes.notif} bytes on this kernel, expected ${SECCOMP_NOTIF_SIZE}`);
    }
  }

  /**
   * Asks the kernel to run the woken task on this CPU (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
   * Linux 6.6): without it every round trip pays a cross-CPU wake-up. False when absent.
   */
  enableSyncWakeUp(): boolean {
    return this.native.notifySetSyncWakeUp(this.listener) === 0;
  }

  /**
   * Starts the sandbox's pool for calls that may block (native/src/blocking.cc), at most
   * maxWorkers at once. Call on the thread that runs `run`: the workers share its mount
   * namespace, root and credentials. procFd: the host's /proc; maxBytes: the most data the
   * sendto calls in progress may hold together. closePool ends it.
   */
  openPool(maxWorkers: number, procFd: number, maxBytes: number): void {
    if (this.pool === 0) this.pool = this.native.blockingPool(this.listener, maxWorkers, procFd, maxBytes);
  }

  /**
   * Performs call for the current event on the pool, waiting up to waitUs: its result
   * (>= 0 or -errno) to answer with, or null when the worker will answer the event itself.
   * The call's descriptors are taken over.
   */
  offload(call: BlockingCallSpec, waitUs: number): number | null {
    if (this.pool === 0) {
      this.native.close(call.fd);
      if (call.alsoClose !== undefined && call.alsoClose >= 0) this.native.close(call.alsoClose);
      return -ESHUTDOWN;
    }
    return this.native.blockingCall(this.pool, this.buf, call, waitUs);
  }

  /**
   * Answers the current event, an exec allowed for the file (devMajor, devMinor, ino; 0n:
   * any), on a thread that verifies the image at the exec stop and records it on eventsFd
   * (-1: not recorded): null once that thread answers, or the errno to answer instead.
   */
  continueExecVerified(procFd: number, devMajor: number, devMinor: number, ino: bigint, eventsFd: number): number | null {
    const r = this.native.execContinueVerified(this.listener, this.buf, procFd, devMajor, devMinor, ino, eventsFd);
    return r === 0 ? null : -r;
  }

  /** The pool's counters, or undefined before openPool. */
  poolStats(): BlockingPoolStats | undefined {
    return this.pool === 0 ? undefined : this.native.blockingPoolStats(this.pool);
  }

  /** Cancels every call still running on the pool and ends its threads. */
  closePool(): BlockingPoolStats | undefined {
    if (this.pool === 0) return undefined;
    const stats = this.native.blockingPoolClose(this.pool);
    this.pool = 0;
    return stats;
  }

  /** True while the current event's task is still waiting for our reply (ID_VALID). */
  idValid(): boolean {
    return this.native.notifyIdValid(this.listener, this.buf) === 0;
  }

  /**
   * Receives and answers events until the sandbox exits. `after`, when given, sees each
   * reply and its outcome (for an fd reply: the descriptor number in the task).
   */
  run(handle: (ev: TrapEvent) => Reply, after?: (ev: TrapEvent, r: Reply, outcome: number) => void): void {
    for (;;) {
      const got = this.native.notifyReceive(this.listener, this.buf);
      if (got < 0) {
        // ENOENT: the task died before we received its event, or the sandbox is over
        // (its init exited and was reaped: no task uses the filter any more).
        if (-got === ENOENT) {
          if (this.native.pidfdExited(this.exitFd)) return;
          this.stats.vanished++;
          continue;
        }
        throw new Error(`seccomp listener receive failed: errno ${-got}`);
      }
      this.stats.events++;
      const r = handle(this.event);
      const outcome = this.reply(r);
      if (after) after(this.event, r, outcome);
    }
  }

  /**
   * Receives the next event into `event` without blocking longer than waitUs: true when one
   * came, false when none is pending, null once the sandbox is over (for a caller that waits
   * for the listener on an event loop: it answers with reply()).
   */
  receiveReady(waitUs: number): boolean | null {
    for (;;) {
      const ready = this.native.pollIn(this.listener, waitUs);
      if (ready < 0) throw new Error(`seccomp listener poll failed: errno ${-ready}`);
      if (ready === 0) return false;
      // Hung up: no task uses the filter any more.
      if (ready === 2) return this.native.pidfdExited(this.exitFd) ? null : false;
      const got = this.native.notifyReceive(this.listener, this.buf);
      if (got >= 0) {
        this.stats.events++;
        return true;
      }
      if (-got !== ENOENT) throw new Error(`seccomp listener receive failed: errno ${-got}`);
      // As in run(): the task died before its event was received, or the sandbox is over.
      if (this.native.pidfdExited(this.exitFd)) return null;
      this.stats.vanished++;
      waitUs = 0;
    }
  }

  /** A copy of the event last received (to be answered by another SeccompNotify of the listener: adopt). */
  received(): Uint8Array {
    return this.buf.slice();
  }

  /** Takes over an event another SeccompNotify of the listener received (received()): it is answered with reply(). */
  adopt(notif: Uint8Array): void {
    if (notif.length !== SECCOMP_NOTIF_SIZE) throw new Error(`a seccomp notification is ${SECCOMP_NOTIF_SIZE} bytes, not ${notif.length}`);
    this.buf.set(notif);
    this.stats.events++;
  }

  /**
   * Sends one reply; returns 0, the task's new descriptor for an fd reply, or a negative
   * errno. A task that vanished meanwhile (-ENOENT) is not an error.
   */
  reply(r: Reply): number {
    const n = this.native;
    switch (r.kind) {
      case "allow":
        return n.notifyRespond(this.listener, this.buf, 0, 0, 0);
      case "errno":
        return n.notifyRespond(this.listener, this.buf, 1, 0, r.errno);
      case "value":
        return n.notifyRespond(this.listener, this.buf, 2, r.value, 0);
      case "fd": {
        const res = n.notifyAddFd(this.listener, this.buf, r.fd, r.cloexec);
        n.close(r.fd);
        // Interrupted (EINTR, or EINPROGRESS once restarted), ADDFD with SEND has already
        // answered the task with 0 and withdrawn the descriptor: its syscall returns stdin.
        // The sentry's thread blocks signals so that this cannot happen; should it anyway,
        // the task must not go on with a wrong descriptor (fail closed).
        if (res === -EINTR || res === -EINPROGRESS) {
          try {
            process.kill(this.event.pid, "SIGKILL");
          } catch {
            // already gone
          }
          return res;
        }
        // EMFILE and the like: the task's fd table refused it; fail the syscall with it.
        if (res < 0 && -res !== ENOENT) n.notifyRespond(this.listener, this.buf, 1, 0, -res);
        return res;
      }
      case "pending":
        return 0;
      case "kill": {
        const pid = this.event.pid;
        // The task cannot exit while it waits for us, so its pid cannot be reused yet.
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
        return n.notifyRespond(this.listener, this.buf, 1, 0, 38 /* ENOSYS, never seen */);
      }
    }
  }
}

/** TaskMemory over process_vm_readv/writev with one reused bounce buffer. */
export class ProcessMemory implements TaskMemory {
  private scratch = new Uint8Array(4096 + 1);
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });

  constructor(private readonly native: NativeBinding) {}

  /** Reads a NUL-terminated string into the scratch buffer; its length or a negative errno. */
  readBytes(pid: number, addr: number, max: number): { bytes: Uint8Array; len: number } | number {
    if (max + 1 > this.scratch.length) this.scratch = new Uint8Array(max + 1);
    const n = this.native.readString(pid, addr, max, this.scratch);
    if (n < 0) return -n;
    return { bytes: this.scratch, len: n };
  }

  readString(pid: number, addr: number, max: number): string | number {
    const r = this.readBytes(pid, addr, max);
    if (typeof r === "number") return r;
    return this.decoder.decode(r.bytes.subarray(0, r.len));
  }

  read(pid: number, addr: number, len: number): Uint8Array | number {
    const out = new Uint8Array(len);
    const n = this.native.readMemory(pid, addr, len, out);
    if (n < 0) return -n;
    if (n !== len) return 14; // EFAULT: short read across an unmapped page
    return out;
  }

  write(pid: number, addr: number, data: Uint8Array): number {
    const n = this.native.writeMemory(pid, addr, data);
    if (n < 0) return -n;
    return n === data.length ? 0 : 14;
  }
}
