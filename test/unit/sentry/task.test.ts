// The Task a handler sees: descriptors owned by the call and closed at its end, the /proc
// opens behind dir/cwd/pidfd/fd, the scope of acting as the task, and bounded copies in and
// out of its memory. Over a recording fake native binding and a scripted task memory.
import { describe, expect, it, vi } from "vitest";

import type { BlockingCallSpec, NativeBinding } from "../../../native/binding.js";
import { FakeEvent } from "../../../platform/fake/fake.js";
import type { TaskMemory } from "../../../platform/platform.js";
import { EBADF, EFAULT, ENAMETOOLONG, ENOENT, ENXIO, ESRCH } from "../../../platform/abi/errno.js";
import { AT_FDCWD, FASYNC, F_SETFL, O_APPEND, O_CLOEXEC, O_DIRECTORY, O_NONBLOCK, O_PATH, PATH_MAX, S_IFIFO } from "../../../platform/abi/fcntl.js";
import { SyscallError } from "../../../sentry/errors/errors.js";
import { type Creds, CredsCache } from "../../../sentry/kernel/creds.js";
import { Identity } from "../../../sentry/kernel/identity.js";
import type { IdMap } from "../../../sentry/kernel/idmap.js";
import type { Kernel } from "../../../sentry/kernel/kernel.js";
import { type PathArg, Task } from "../../../sentry/kernel/task.js";

const TID = 4109;
const TGID = 4107;
const PROC_FD = 7;
/** The pidfd of the caller's cached credentials. */
const CACHE_PIDFD = 8;
const CREDS: Creds = {
  tgid: TGID, nstgid: 7, nspid: 9, ruid: 1000, euid: 1001, fsuid: 1002, rgid: 2000, egid: 2001, fsgid: 2002,
  groups: Int32Array.of(10, 20), umask: 0o22, threads: 2, capEff: 0x3fn,
};
const HOST_MAP: IdMap = [[0, 0, 4294967295]];
const USERNS_MAP: IdMap = [[0, 100000, 65536]];

type Op = "close" | "openat2" | "pidfdOpen" | "pidfdGetfd" | "pidfdExited" | "setCreds" | "statAt" | "fcntl";

/** The native calls Task makes, recorded in order; descriptors are handed out from 20 up. */
class FakeNative {
  readonly calls: { op: Op; args: unknown[] }[] = [];
  private next = 20;
  /** openat2's answer for a path under /proc (default: a new fd). */
  openResult: (path: string) => number = () => this.fresh();
  pidfdGetfdResult: () => number = () => this.fresh();
  /** st_mode statAt reports. */
  mode = 0o100644;
  fcntlResult = 0;

  fresh(): number {
    return this.next++;
  }
  of(op: Op): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }
  closed(): number[] {
    return this.of("close").map((a) => a[0] as number);
  }
  /** Records a call and returns its answer. */
  private log<T>(op: Op, args: unknown[], answer: T): T {
    this.calls.push({ op, args });
    return answer;
  }
  close(fd: number): number {
    return this.log("close", [fd], 0);
  }
  openat2(dirfd: number, path: Uint8Array, len: number, flags: number): number {
    const p = Buffer.from(path.subarray(0, len)).toString();
    return this.log("openat2", [dirfd, p, flags], this.openResult(p));
  }
  pidfdOpen(pid: number, flags?: number): number {
    return this.log("pidfdOpen", [pid, flags], this.fresh());
  }
  pidfdGetfd(pidfd: number, n: number): number {
    return this.log("pidfdGetfd", [pidfd, n], this.pidfdGetfdResult());
  }
  pidfdExited(pidfd: number): boolean {
    return this.log("pidfdExited", [pidfd], false);
  }
  setCreds(...args: unknown[]): number {
    return this.log("setCreds", args, 0);
  }
  statAt(fd: number, _path: Uint8Array, _len: number, flags: number, out: Uint8Array): number {
    new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(24, this.mode, true);
    return this.log("statAt", [fd, flags], 0);
  }
  fcntl(fd: number, cmd: number, arg: number): number {
    return this.log("fcntl", [fd, cmd, arg], this.fcntlResult);
  }
}

/** Task memory whose answers each test sets (mockReturnValue). */
function fakeMem() {
  return {
    readString: vi.fn((): string | number => EFAULT),
    readBytes: vi.fn((_pid: number, _addr: number, _max: number): { bytes: Uint8Array; len: number } | number => EFAULT),
    read: vi.fn((_pid: number, _addr: number, _len: number): Uint8Array | number => EFAULT),
    write: vi.fn((_pid: number, _addr: number, _data: Uint8Array): number => 0),
  } satisfies TaskMemory;
}

/** A kernel whose only task is the caller, its credentials cached; and that caller's Task. */
function setup(o: { hostMap?: boolean; args?: bigint[] } = {}) {
  const native = new FakeNative();
  const mem = fakeMem();
  const identity = new Identity(native as unknown as NativeBinding);
  const cache = new CredsCache();
  cache.entries.set(TID, { creds: CREDS, pidfd: CACHE_PIDFD });
  const state = { valid: true };
  const map = o.hostMap === true ? HOST_MAP : USERNS_MAP;
  const k = {
    native, mem, identity, creds: cache, procFd: PROC_FD, ids: { uid: map, gid: map },
    idValid: () => state.valid,
    offload: vi.fn((_c: BlockingCallSpec): number | null => 0),
  };
  const t = new Task(k as unknown as Kernel, new FakeEvent({ pid: TID, nr: 2, args: o.args }));
  return { t, k, native, mem, identity, cache, state };
}

function pathArg(s: string): PathArg {
  const bytes = new TextEncoder().encode(s);
  return { bytes, len: bytes.length, text: s };
}

/** The errno fn throws as a SyscallError (anything else thrown fails the test). */
function errnoOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SyscallError) return e.errno;
    throw e;
  }
  return undefined;
}

describe("descriptors the call owns", () => {
  it("end() closes every fd from own/proc/dir/cwd/pidfd/fd exactly once, newest first", () => {
    const { t, native } = setup();
    const got = [t.own(5), t.proc(`${TID}/stat`, 0), t.dir(3, pathArg("a"), false), t.cwd(), t.pidfd(), t.fd(4)];
    expect(new Set(got).size).toBe(6);
    expect(native.closed()).toEqual([]);
    t.end();
    expect(native.closed()).toEqual([...got].reverse());
  });

  it("a descriptor handed on with give(), fdReply() or offload() (fd and alsoClose) is not closed by end()", () => {
    const { t, k, native } = setup();
    const [a, b, c, d, e] = [t.own(30), t.own(31), t.own(32), t.own(33), t.own(34)];
    expect(t.give(a)).toBe(a);
    expect(t.fdReply(b, true)).toEqual({ kind: "fd", fd: b, cloexec: true });
    const call: BlockingCallSpec = { op: 0, nr: 42, fd: c, addr: new Uint8Array(0), tgid: TGID, alsoClose: d };
    expect(t.offload(call)).toBe(0);
    expect(k.offload).toHaveBeenCalledWith(call);
    t.end();
    expect(native.closed()).toEqual([e]);
  });

  it("close(fd) closes early and end() does not close it again", () => {
    const { t, native } = setup();
    t.own(30);
    t.own(31);
    t.close(30);
    expect(native.closed()).toEqual([30]);
    t.end();
    expect(native.closed()).toEqual([30, 31]);
  });

  it("a second end() closes nothing", () => {
    const { t, native } = setup();
    t.own(30);
    t.end();
    t.end();
    expect(native.closed()).toEqual([30]);
  });

  it("own() passes a negative errno through without recording it", () => {
    const { t, native } = setup();
    expect(t.own(-EBADF)).toBe(-EBADF);
    t.end();
    expect(native.closed()).toEqual([]);
  });
});

describe("dir()", () => {
  it("an absolute path resolves from AT_FDCWD and opens nothing", () => {
    const { t, native } = setup();
    expect(t.dir(3, pathArg("/etc/passwd"), false)).toBe(AT_FDCWD);
    expect(native.of("openat2")).toEqual([]);
  });

  it("a relative path opens <tid>/cwd for AT_FDCWD and <tid>/fd/<n> otherwise, under procFd", () => {
    const { t, native } = setup();
    const cwd = t.dir(AT_FDCWD, pathArg("a/b"), false);
    const fd5 = t.dir(5, pathArg("a/b"), false);
    const empty = t.dir(6, pathArg(""), true);
    expect([cwd, fd5, empty]).toEqual([20, 21, 22]);
    expect(native.of("openat2")).toEqual([
      [PROC_FD, `${TID}/cwd`, O_PATH | O_CLOEXEC | O_DIRECTORY],
      [PROC_FD, `${TID}/fd/5`, O_PATH | O_CLOEXEC | O_DIRECTORY],
      [PROC_FD, `${TID}/fd/6`, O_PATH | O_CLOEXEC],
    ]);
  });

  it("a missing dirfd is EBADF for a numeric dirfd and ESRCH for AT_FDCWD", () => {
    const { t, native } = setup();
    native.openResult = () => -ENOENT;
    expect(errnoOf(() => t.dir(5, pathArg("a"), false))).toBe(EBADF);
    expect(errnoOf(() => t.dir(AT_FDCWD, pathArg("a"), false))).toBe(ESRCH);
  });
});

describe("pidfd() and fd()", () => {
  it("opens the thread group's pidfd once per Task however many fds it takes", () => {
    const { t, native } = setup();
    const a = t.fd(3);
    const b = t.fd(4);
    expect(a).not.toBe(b);
    const pidfds = native.of("pidfdOpen");
    expect(pidfds).toEqual([[TGID, undefined]]);
    expect(native.of("pidfdGetfd")).toEqual([[20, 3], [20, 4]]);
    expect(t.pidfd()).toBe(20);
  });

  it("fd() throws the errno pidfd_getfd returned", () => {
    const { t, native } = setup();
    native.pidfdGetfdResult = () => -EBADF;
    expect(errnoOf(() => t.fd(9))).toBe(EBADF);
  });
});

describe("acting as the task", () => {
  const setCreds = (native: FakeNative) => native.of("setCreds");

  it("as() sets the task's fs ids and groups, not elevated, with no caps outside the host's user namespace", () => {
    const { t, native } = setup({ hostMap: false });
    expect(t.as(() => 42)).toBe(42);
    expect(setCreds(native)).toEqual([[1002, 2002, CREDS.groups, false, 0n]]);
  });

  it("as() lends the task's CapEff when the uid map is the host's", () => {
    const { t, native } = setup({ hostMap: true });
    t.as(() => undefined);
    expect(setCreds(native)).toEqual([[1002, 2002, CREDS.groups, false, CREDS.capEff]]);
  });

  it('as(fn, "real") uses the real ids and as(fn, "elevated") raises the file capabilities', () => {
    const { t, native } = setup();
    t.as(() => undefined, "real");
    t.as(() => undefined, "elevated");
    expect(setCreds(native)).toEqual([
      [1000, 2000, CREDS.groups, false, 0n],
      [1002, 2002, CREDS.groups, true, 0n],
    ]);
  });

  it("the scope ends when fn throws", () => {
    const { t, identity } = setup();
    expect(() => t.as(() => { throw new SyscallError(EBADF); })).toThrow(SyscallError);
    expect(identity.inTaskScope).toBe(false);
    expect(() => identity.sentry()).not.toThrow();
  });

  it("asking for the sentry's identity, or acting as a task again, inside a scope throws", () => {
    const { t, identity } = setup();
    expect(() => t.as(() => identity.sentry())).toThrow(/sentry's own identity/);
    expect(() => t.as(() => t.as(() => 1))).toThrow(/already in effect/);
    expect(identity.inTaskScope).toBe(false);
  });

  it("the sentry's identity is restored lazily, once, when next asked for", () => {
    const { t, native, identity } = setup();
    identity.sentry();
    expect(setCreds(native)).toEqual([]);
    t.as(() => undefined);
    identity.sentry();
    identity.sentry();
    expect(setCreds(native).slice(1)).toEqual([[0, 0, new Int32Array(0)]]);
    expect(identity.switches).toBe(2);
  });

  it("a credential change that fails half-way leaves the thread to be restored, never taken for the sentry's", () => {
    const { t, native, identity } = setup();
    let fail = true;
    native.setCreds = (...args: unknown[]): number => {
      native.calls.push({ op: "setCreds", args });
      if (fail) {
        fail = false;
        return -1;
      }
      return 0;
    };
    expect(() => t.as(() => 1)).toThrow(/setCreds \(fs\) failed/);
    identity.sentry();
    expect(setCreds(native)).toEqual([[1002, 2002, CREDS.groups, false, 0n], [0, 0, new Int32Array(0)]]);
  });

  it("proc() restores the sentry's identity before opening, and throws inside a task's scope", () => {
    const { t, native } = setup();
    t.as(() => undefined);
    t.proc(`${TID}/stat`, 0);
    expect(native.calls.filter((c) => c.op === "setCreds" || c.op === "openat2").map((c) => c.op)).toEqual(["setCreds", "setCreds", "openat2"]);
    expect(native.of("setCreds")[1]).toEqual([0, 0, new Int32Array(0)]);
    const opens = native.of("openat2").length;
    expect(() => t.as(() => t.proc(`${TID}/stat`, 0))).toThrow(/sentry's own identity/);
    expect(native.of("openat2")).toHaveLength(opens);
  });
});

describe("task memory", () => {
  it("path(): a NULL pointer is EFAULT without touching memory", () => {
    const { t, mem } = setup({ args: [0n] });
    expect(errnoOf(() => t.path(0))).toBe(EFAULT);
    expect(mem.readBytes).not.toHaveBeenCalled();
  });

  it("path(): ENAMETOOLONG passes through, any other failure is EFAULT", () => {
    const { t, mem } = setup({ args: [0x1000n] });
    mem.readBytes.mockReturnValue(ENAMETOOLONG);
    expect(errnoOf(() => t.path(0))).toBe(ENAMETOOLONG);
    mem.readBytes.mockReturnValue(ESRCH);
    expect(errnoOf(() => t.path(0))).toBe(EFAULT);
    expect(mem.readBytes).toHaveBeenCalledWith(TID, 0x1000, PATH_MAX);
  });

  it("path(): the bytes up to len are decoded as UTF-8", () => {
    const { t, mem } = setup({ args: [0n, 0x2000n] });
    const bytes = new TextEncoder().encode("/tmp/é.txt\0junk");
    mem.readBytes.mockReturnValue({ bytes, len: bytes.indexOf(0) });
    const p = t.path(1);
    expect(p.text).toBe("/tmp/é.txt");
    expect(p.len).toBe(11);
    expect(p.bytes).toBe(bytes);
  });

  it("read() of a faulting address and a failed write() are EFAULT", () => {
    const { t, mem } = setup();
    expect(errnoOf(() => t.read(0x3000, 8))).toBe(EFAULT);
    mem.read.mockReturnValue(Uint8Array.of(1, 2));
    expect(t.read(0x3000, 2)).toEqual(Uint8Array.of(1, 2));
    expect(errnoOf(() => t.write(0x3000, Uint8Array.of(1)))).toBeUndefined();
    mem.write.mockReturnValue(ESRCH);
    expect(errnoOf(() => t.write(0x3000, Uint8Array.of(1)))).toBe(EFAULT);
  });

  it("ensureValid() throws ESRCH once the task stopped waiting", () => {
    const { t, state } = setup();
    expect(errnoOf(() => t.ensureValid())).toBeUndefined();
    state.valid = false;
    expect(errnoOf(() => t.ensureValid())).toBe(ESRCH);
  });
});

describe("credentials", () => {
  it("creds() is served from the cache while the entry's pidfd lives", () => {
    const { t, native, cache } = setup();
    expect(t.creds()).toBe(CREDS);
    expect(native.of("pidfdExited")).toEqual([[CACHE_PIDFD]]);
    expect(cache.hits).toBe(1);
  });

  it("freshCreds() drops the cache entry and closes its pidfd before reading /proc anew", () => {
    const { t, native, cache } = setup();
    native.openResult = (p) => (p === `${TID}/status` ? -ENOENT : native.fresh());
    expect(errnoOf(() => t.freshCreds())).toBe(ESRCH);
    expect(cache.entries.has(TID)).toBe(false);
    expect(native.closed()).toContain(CACHE_PIDFD);
    expect(native.of("openat2")).toEqual([[PROC_FD, `${TID}/status`, O_CLOEXEC]]);
  });

  it("a read of a task's status that fails closes the pidfd opened for it", () => {
    const { t, native } = setup();
    native.openResult = (p) => (p === `${TID}/status` ? -ENOENT : native.fresh());
    expect(errnoOf(() => t.freshCreds())).toBe(ESRCH);
    const opened = native.calls.filter((c) => c.op === "pidfdOpen").length;
    expect(opened).toBeGreaterThan(0);
    // The pidfd taken for the read (the first fresh fd) is closed along with the cache's.
    expect(native.closed().sort((a, b) => a - b)).toEqual([CACHE_PIDFD, 20]);
  });
});

describe("nonBlockingOpen()", () => {
  it("an open the sentry did not change is owned and returned", () => {
    const { t, native } = setup();
    expect(t.nonBlockingOpen(30, false, 0)).toBe(30);
    t.end();
    expect(native.closed()).toEqual([30]);
  });

  it("ENXIO from an added O_NONBLOCK is a FIFO", () => {
    const { t, native } = setup();
    expect(t.nonBlockingOpen(-ENXIO, true, 0)).toBe("fifo");
    expect(native.calls).toEqual([]);
  });

  it("a FIFO opened with an added O_NONBLOCK is closed and reported", () => {
    const { t, native } = setup();
    native.mode = S_IFIFO | 0o644;
    expect(t.nonBlockingOpen(30, true, 0)).toBe("fifo");
    expect(native.closed()).toEqual([30]);
    t.end();
    expect(native.closed()).toEqual([30]);
  });

  it("a regular file is made blocking again with the task's flags, minus O_NONBLOCK and FASYNC, and owned", () => {
    const { t, native } = setup();
    expect(t.nonBlockingOpen(30, true, O_APPEND | O_NONBLOCK | FASYNC)).toBe(30);
    expect(native.of("fcntl")).toEqual([[30, F_SETFL, O_APPEND]]);
    expect(native.closed()).toEqual([]);
    t.end();
    expect(native.closed()).toEqual([30]);
  });
});
