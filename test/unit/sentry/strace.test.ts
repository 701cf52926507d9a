// strace-style formatting of trapped calls and replies, over a fake task memory.
import { describe, expect, it } from "vitest";

import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, sysnoByName } from "../../../platform/abi/sysno_amd64.js";
import { EFAULT, ENAMETOOLONG, ENOENT } from "../../../platform/abi/errno.js";
import { AT_FDCWD, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_WRONLY, RESOLVE_IN_ROOT } from "../../../platform/abi/fcntl.js";
import { AF_INET, AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from "../../../platform/abi/socket.js";
import { formatCall, formatResult } from "../../../sentry/strace/format.js";
import { signatureNames, signatureOf } from "../../../sentry/strace/signatures.js";
import type { TaskMemory, TrapEvent } from "../../../platform/platform.js";

const PID = 4242;

/** Task memory as a map of region start → bytes; reads outside every region fault. */
class FakeMemory implements TaskMemory {
  readonly regions = new Map<number, Uint8Array>();
  reads = 0;

  put(addr: number, bytes: Uint8Array): number {
    this.regions.set(addr, bytes);
    return addr;
  }

  putString(addr: number, s: string): number {
    return this.put(addr, new Uint8Array([...new TextEncoder().encode(s), 0]));
  }

  /** A NULL-terminated array of 64-bit pointers. */
  putPointers(addr: number, ptrs: readonly number[]): number {
    const b = new Uint8Array((ptrs.length + 1) * 8);
    const v = new DataView(b.buffer);
    ptrs.forEach((p, i) => v.setBigUint64(i * 8, BigInt(p), true));
    return this.put(addr, b);
  }

  private find(addr: number, len: number): Uint8Array | undefined {
    for (const [start, bytes] of this.regions) {
      if (addr >= start && addr + len <= start + bytes.length) return bytes.subarray(addr - start, addr - start + len);
    }
    return undefined;
  }

  readString(pid: number, addr: number, max: number): string | number {
    const r = this.readBytes(pid, addr, max);
    return typeof r === "number" ? r : new TextDecoder().decode(r.bytes.subarray(0, r.len));
  }

  /** As the native reader: max counts the terminating NUL. */
  readBytes(pid: number, addr: number, max: number): { bytes: Uint8Array; len: number } | number {
    this.reads++;
    expect(pid).toBe(PID);
    for (const [start, bytes] of this.regions) {
      if (addr < start || addr >= start + bytes.length) continue;
      const rest = bytes.subarray(addr - start);
      const nul = rest.indexOf(0);
      if (nul < 0) return EFAULT;
      if (nul >= max) return ENAMETOOLONG;
      return { bytes: rest, len: nul };
    }
    return EFAULT;
  }

  read(pid: number, addr: number, len: number): Uint8Array | number {
    this.reads++;
    expect(pid).toBe(PID);
    const b = this.find(addr, len);
    return b === undefined ? EFAULT : b.slice();
  }

  write(): number {
    return EFAULT;
  }
}

function event(name: string, args: ReadonlyArray<number | bigint>, arch = AUDIT_ARCH_X86_64): TrapEvent {
  const nr = sysnoByName(name);
  if (nr === undefined) throw new Error(name);
  return rawEvent(nr, args, arch);
}

function rawEvent(nr: number, args: ReadonlyArray<number | bigint>, arch = AUDIT_ARCH_X86_64): TrapEvent {
  const regs = [0, 1, 2, 3, 4, 5].map((i) => {
    const a = args[i] ?? 0;
    return BigInt.asUintN(64, typeof a === "bigint" ? a : BigInt(a));
  });
  const reg = (i: number): bigint => regs[i] ?? 0n;
  return {
    pid: PID,
    nr,
    arch,
    arg: reg,
    argInt: (i) => Number(BigInt.asIntN(32, reg(i))),
    argNum: (i) => Number(reg(i)),
  };
}

function sockaddrIn(ip: readonly number[], port: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = AF_INET;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(ip, 4);
  return b;
}

describe("formatCall", () => {
  it("prints openat with AT_FDCWD, the path and flags", () => {
    const mem = new FakeMemory();
    const path = mem.putString(0x1000, "/etc/passwd");
    expect(formatCall(event("openat", [AT_FDCWD, path, O_CLOEXEC]), mem)).toBe(
      'openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)',
    );
    expect(formatCall(event("openat", [3, path, O_CLOEXEC | O_DIRECTORY]), mem)).toBe(
      'openat(3, "/etc/passwd", O_RDONLY|O_CLOEXEC|O_DIRECTORY)',
    );
  });

  it("prints the mode only when the flags create a file", () => {
    const mem = new FakeMemory();
    const path = mem.putString(0x1000, "/tmp/out");
    expect(formatCall(event("openat", [AT_FDCWD, path, O_WRONLY | O_CREAT | 0o1000, 0o644]), mem)).toBe(
      'openat(AT_FDCWD, "/tmp/out", O_WRONLY|O_CREAT|O_TRUNC, 0644)',
    );
    expect(formatCall(event("open", [path, 0, 0o777]), mem)).toBe('open("/tmp/out", O_RDONLY)');
  });

  it("decodes openat2's struct open_how", () => {
    const mem = new FakeMemory();
    const path = mem.putString(0x1000, "bin/sh");
    const how = new Uint8Array(24);
    const v = new DataView(how.buffer);
    v.setBigUint64(0, BigInt(O_CLOEXEC), true);
    v.setBigUint64(16, BigInt(RESOLVE_IN_ROOT), true);
    mem.put(0x2000, how);
    expect(formatCall(event("openat2", [5, path, 0x2000, 24]), mem)).toBe(
      'openat2(5, "bin/sh", {flags=O_RDONLY|O_CLOEXEC, mode=0, resolve=RESOLVE_IN_ROOT}, 24)',
    );
  });

  it("prints connect with a decoded sockaddr_in", () => {
    const mem = new FakeMemory();
    const addr = mem.put(0x3000, sockaddrIn([127, 0, 0, 1], 8080));
    expect(formatCall(event("connect", [3, addr, 16]), mem)).toBe("connect(3, {AF_INET 127.0.0.1:8080}, 16)");
  });

  it("prints bind to an abstract unix name and socket arguments", () => {
    const mem = new FakeMemory();
    const b = new Uint8Array([AF_UNIX, 0, 0, ...new TextEncoder().encode("dbus")]);
    mem.put(0x3000, b);
    expect(formatCall(event("bind", [4, 0x3000, b.length]), mem)).toBe('bind(4, {AF_UNIX @"dbus"}, 7)');
    expect(formatCall(event("socket", [AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0]), mem)).toBe(
      "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0)",
    );
  });

  it("prints execve with argv and an envp count", () => {
    const mem = new FakeMemory();
    const path = mem.putString(0x1000, "/bin/ls");
    const a0 = mem.putString(0x1100, "ls");
    const a1 = mem.putString(0x1200, "-l");
    const a2 = mem.putString(0x1300, 'say "hi"\n');
    mem.putPointers(0x2000, [a0, a1, a2]);
    const e0 = mem.putString(0x1400, "PATH=/bin");
    mem.putPointers(0x2100, [e0, e0]);
    expect(formatCall(event("execve", [path, 0x2000, 0x2100]), mem)).toBe(
      'execve("/bin/ls", ["ls", "-l", "say \\"hi\\"\\n"], 0x2100 /* 2 vars */)',
    );
  });

  it("stops argv after 32 entries", () => {
    const mem = new FakeMemory();
    const path = mem.putString(0x1000, "/bin/echo");
    const s = mem.putString(0x1100, "x");
    mem.putPointers(0x2000, Array.from({ length: 40 }, () => s));
    const text = formatCall(event("execve", [path, 0x2000, 0]), mem);
    expect(text).toBe(`execve("/bin/echo", [${Array.from({ length: 32 }, () => '"x"').join(", ")}, ...], NULL)`);
  });

  it("prints a pointer in hex when its memory faults", () => {
    const mem = new FakeMemory();
    expect(formatCall(event("openat", [AT_FDCWD, 0xdead000, 0]), mem)).toBe("openat(AT_FDCWD, 0xdead000, O_RDONLY)");
    expect(formatCall(event("connect", [3, 0xbeef0, 16]), mem)).toBe("connect(3, 0xbeef0, 16)");
    expect(formatCall(event("execve", [0, 0x4000, 0]), mem)).toBe("execve(NULL, 0x4000, NULL)");
  });

  it("prints write buffers up to 32 bytes, escaped", () => {
    const mem = new FakeMemory();
    const text = new TextEncoder().encode("hello\tworld\n" + "x".repeat(40));
    mem.put(0x5000, text);
    expect(formatCall(event("write", [1, 0x5000, 6]), mem)).toBe('write(1, "hello\\t", 6)');
    expect(formatCall(event("write", [1, 0x5000, text.length]), mem)).toBe(
      `write(1, "hello\\tworld\\n${"x".repeat(20)}"..., 52)`,
    );
    mem.put(0x6000, new Uint8Array([0, 0xff, 0x22, 0x5c]));
    expect(formatCall(event("write", [2, 0x6000, 4]), mem)).toBe('write(2, "\\x00\\xff\\"\\\\", 4)');
  });

  it("truncates strings past 1024 bytes", () => {
    const mem = new FakeMemory();
    const long = "a".repeat(1500);
    const path = mem.putString(0x10000, long);
    expect(formatCall(event("unlink", [path]), mem)).toBe(`unlink("${"a".repeat(1024)}"...)`);
    const exact = mem.putString(0x20000, "b".repeat(1024));
    expect(formatCall(event("unlink", [exact]), mem)).toBe(`unlink("${"b".repeat(1024)}")`);
  });

  it("decodes clone, mmap, kill, futex and fcntl arguments", () => {
    const mem = new FakeMemory();
    expect(formatCall(event("clone", [0x01200011, 0, 0, 0x7f00, 0]), mem)).toBe(
      "clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x7f00, 0x0)",
    );
    expect(formatCall(event("mmap", [0, 4096, 3, 0x22, -1, 0]), mem)).toBe(
      "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0)",
    );
    expect(formatCall(event("mprotect", [0x7000, 4096, 0]), mem)).toBe("mprotect(0x7000, 4096, PROT_NONE)");
    expect(formatCall(event("kill", [-1, 15]), mem)).toBe("kill(-1, SIGTERM)");
    expect(formatCall(event("futex", [0x8000, 128, 1, 0, 0, 0]), mem)).toBe(
      "futex(0x8000, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0x0)",
    );
    expect(formatCall(event("fcntl", [3, 2, 1]), mem)).toBe("fcntl(3, F_SETFD, FD_CLOEXEC)");
    expect(formatCall(event("fcntl", [3, 3]), mem)).toBe("fcntl(3, F_GETFL)");
    expect(formatCall(event("lseek", [3, -1n, 2]), mem)).toBe("lseek(3, -1, SEEK_END)");
    expect(formatCall(event("unshare", [0x10000000]), mem)).toBe("unshare(CLONE_NEWUSER)");
    expect(formatCall(event("ioctl", [0, 0x5412, 0x7ffc]), mem)).toBe("ioctl(0, TIOCSTI, 0x7ffc)");
  });

  it("decodes clone3's struct clone_args", () => {
    const mem = new FakeMemory();
    const b = new Uint8Array(88);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, 0x100n, true);
    v.setBigUint64(32, 17n, true);
    v.setBigUint64(40, 0x7f0000n, true);
    v.setBigUint64(48, 0x10000n, true);
    mem.put(0x9000, b);
    expect(formatCall(event("clone3", [0x9000, 88]), mem)).toBe(
      "clone3({flags=CLONE_VM, exit_signal=SIGCHLD, stack=0x7f0000, stack_size=0x10000}, 88)",
    );
  });

  it("prints raw registers for calls without a signature and unknown numbers", () => {
    const mem = new FakeMemory();
    expect(formatCall(event("kcmp", [1, 2, 0x10]), mem)).toBe("kcmp(0x1, 0x2, 0x10, 0x0, 0x0, 0x0)");
    expect(formatCall(rawEvent(400, [7]), mem)).toBe("syscall_400(0x7, 0x0, 0x0, 0x0, 0x0, 0x0)");
    expect(formatCall(rawEvent(5, [1], AUDIT_ARCH_I386), mem)).toBe(
      "syscall_5(0x1, 0x0, 0x0, 0x0, 0x0, 0x0) /* arch 0x40000003 */",
    );
    expect(mem.reads).toBe(0);
  });

  it("has a signature for every family the sentry traces", () => {
    const required = [
      "open", "openat", "openat2", "creat", "read", "write", "pread64", "pwrite64", "close", "lseek", "dup",
      "dup2", "dup3", "fcntl", "ioctl", "pipe2", "getdents64", "mkdir", "mkdirat", "unlink", "unlinkat",
      "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat",
      "chown", "fchown", "lchown", "fchownat", "truncate", "ftruncate", "utimensat", "stat", "lstat", "fstat",
      "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "execve", "execveat",
      "clone", "clone3", "fork", "vfork", "exit", "exit_group", "wait4", "getpid", "gettid", "getppid", "kill",
      "tgkill", "tkill", "prctl", "socket", "connect", "bind", "listen", "accept", "accept4", "sendto",
      "recvfrom", "sendmsg", "recvmsg", "setsockopt", "getsockopt", "socketpair", "shutdown", "mmap", "munmap",
      "mprotect", "brk", "uname", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
      "getrandom", "rt_sigaction", "rt_sigprocmask", "futex", "nanosleep", "clock_nanosleep", "clock_gettime",
      "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getscheduler", "sched_setscheduler",
    ];
    for (const name of required) expect(signatureOf(name), name).toBeDefined();
    for (const name of signatureNames()) expect(sysnoByName(name), name).toBeDefined();
  });
});

describe("formatResult", () => {
  it("prints values, errnos and the other replies", () => {
    expect(formatResult("openat", { kind: "value", value: 3 })).toBe("= 3");
    expect(formatResult("openat", { kind: "errno", errno: ENOENT })).toBe("= -1 ENOENT (No such file or directory)");
    expect(formatResult("read", { kind: "errno", errno: 600 })).toBe("= -1 errno 600 (Unknown error 600)");
    expect(formatResult("sendto", { kind: "errno", errno: 512 })).toBe("= ? ERESTARTSYS (To be restarted if SA_RESTART is set)");
    expect(formatResult("mmap", { kind: "value", value: 0x7f1234560000 })).toBe("= 0x7f1234560000");
    expect(formatResult("write", { kind: "allow" })).toBe("= ? (in kernel)");
    expect(formatResult("execve", { kind: "kill" })).toBe("= ? (killed)");
    expect(formatResult("openat", { kind: "fd", fd: 17, cloexec: true })).toBe("= ? (host fd 17 injected, O_CLOEXEC)");
  });
});
