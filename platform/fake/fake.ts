// A scripted platform for sentry unit tests: trap events from plain data, a sparse task memory, and a recorder of replies.
import type { Reply, TaskMemory, TrapEvent } from "../platform.js";
import { AUDIT_ARCH_X86_64, SECCOMP_DATA_NARGS } from "../seccomp/constants.js";
import { EFAULT, ENAMETOOLONG, ESRCH } from "../abi/errno.js";

/** One scripted syscall. Missing arguments are 0; values are reduced modulo 2^64. */
export interface FakeEventInit {
  readonly pid: number;
  readonly nr: number;
  readonly args?: readonly bigint[];
  /** Defaults to AUDIT_ARCH_X86_64. */
  readonly arch?: number;
}

/**
 * A TrapEvent over plain values. Like the real platform's events it is valid only until its
 * reply is sent: FakePlatform expires it then, and any later use throws.
 */
export class FakeEvent implements TrapEvent {
  private readonly regs: readonly bigint[];
  private readonly init: FakeEventInit;
  private live = true;

  constructor(init: FakeEventInit) {
    const args = init.args ?? [];
    if (args.length > SECCOMP_DATA_NARGS) {
      throw new RangeError(`a syscall has at most ${SECCOMP_DATA_NARGS} arguments, got ${args.length}`);
    }
    this.init = init;
    this.regs = Array.from({ length: SECCOMP_DATA_NARGS }, (_, i) => BigInt.asUintN(64, args[i] ?? 0n));
  }

  get pid(): number {
    this.check();
    return this.init.pid;
  }

  get nr(): number {
    this.check();
    return this.init.nr;
  }

  get arch(): number {
    this.check();
    return this.init.arch ?? AUDIT_ARCH_X86_64;
  }

  arg(i: number): bigint {
    this.check();
    const v = this.regs[i];
    if (v === undefined) throw new RangeError(`argument index must be 0..${SECCOMP_DATA_NARGS - 1}, got ${i}`);
    return v;
  }

  argInt(i: number): number {
    return Number(BigInt.asIntN(32, this.arg(i)));
  }

  argNum(i: number): number {
    return Number(this.arg(i));
  }

  /** Ends the event's validity, as sending its reply does on a real platform. */
  expire(): void {
    this.live = false;
  }

  private check(): void {
    if (!this.live) throw new Error("trap event used after its reply was sent");
  }
}

/**
 * One task's memory as a sparse byte store: only poked bytes are mapped; reading or writing
 * any other byte faults (EFAULT). Calls for another pid fail with ESRCH, as for a task that
 * is gone.
 */
export class FakeMemory implements TaskMemory {
  private readonly bytes = new Map<number, number>();
  /** Calls to readString, read and write, for asserting that a path never touched memory. */
  accesses = 0;

  constructor(readonly pid: number) {}

  /** Maps bytes at addr (overwriting what was there); returns addr. */
  poke(addr: number, data: Uint8Array): number {
    data.forEach((b, i) => this.bytes.set(addr + i, b));
    return addr;
  }

  /** Maps s as UTF-8 followed by a NUL at addr; returns addr. */
  pokeString(addr: number, s: string): number {
    const utf8 = new TextEncoder().encode(s);
    const data = new Uint8Array(utf8.length + 1);
    data.set(utf8);
    return this.poke(addr, data);
  }

  /** Unmaps len bytes at addr. */
  unmap(addr: number, len: number): void {
    for (let i = 0; i < len; i++) this.bytes.delete(addr + i);
  }

  /**
   * Like the native readString: scans at most max bytes, so max counts the terminating NUL.
   * ENAMETOOLONG when none of them is a NUL, EFAULT when an unmapped byte comes first.
   */
  readString(pid: number, addr: number, max: number): string | number {
    const r = this.readBytes(pid, addr, max);
    return typeof r === "number" ? r : new TextDecoder().decode(r.bytes.subarray(0, r.len));
  }

  readBytes(pid: number, addr: number, max: number): { bytes: Uint8Array; len: number } | number {
    this.accesses++;
    if (pid !== this.pid) return ESRCH;
    if (addr === 0) return EFAULT;
    const out: number[] = [];
    for (let i = 0; i < max; i++) {
      const b = this.bytes.get(addr + i);
      if (b === undefined) return EFAULT;
      if (b === 0) return { bytes: new Uint8Array(out), len: out.length };
      out.push(b);
    }
    return ENAMETOOLONG;
  }

  read(pid: number, addr: number, len: number): Uint8Array | number {
    this.accesses++;
    if (pid !== this.pid) return ESRCH;
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const b = this.bytes.get(addr + i);
      if (b === undefined) return EFAULT;
      out[i] = b;
    }
    return out;
  }

  /** Writes all of data or nothing: EFAULT when any target byte is unmapped. */
  write(pid: number, addr: number, data: Uint8Array): number {
    this.accesses++;
    if (pid !== this.pid) return ESRCH;
    for (let i = 0; i < data.length; i++) if (!this.bytes.has(addr + i)) return EFAULT;
    this.poke(addr, data);
    return 0;
  }
}

/** One scripted event and the reply it got. */
export interface FakeExchange {
  readonly event: FakeEventInit;
  readonly reply: Reply;
}

/** Replays a script of trap events through a handler, one at a time, recording each reply. */
export class FakePlatform {
  /** Every exchange so far, in order. */
  readonly log: FakeExchange[] = [];

  constructor(private readonly script: readonly FakeEventInit[]) {}

  /** Delivers every scripted event to handle; returns the replies in script order. */
  run(handle: (ev: TrapEvent) => Reply): Reply[] {
    const replies: Reply[] = [];
    for (const init of this.script) {
      const ev = new FakeEvent(init);
      const reply = handle(ev);
      ev.expire();
      replies.push(reply);
      this.log.push({ event: init, reply });
    }
    return replies;
  }
}
