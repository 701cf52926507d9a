// strace-style rendering of a trapped syscall and of the sentry's reply.
//
// Memory is read through TaskMemory with small bounds (1024 bytes of a string, 32 of a
// buffer, 32 argv entries); a read that faults prints the pointer in hex instead. The
// text is for humans and logs only: no decision may be taken on what was printed here,
// since the task can change its memory after we read it.

import { AUDIT_ARCH_X86_64, sysnoName } from "../../platform/abi/sysno_amd64.js";
import { ENAMETOOLONG, ERESTARTSYS, errnoMessage, errnoName } from "../../platform/abi/errno.js";
import {
  ACCESS_MODES,
  AT_FLAGS,
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_DUPFD_QUERY,
  F_GETFD,
  F_GETFL,
  F_GETLEASE,
  F_GETOWN,
  F_GETPIPE_SZ,
  F_GETSIG,
  F_GET_SEALS,
  F_NOTIFY,
  F_SETFD,
  F_SETFL,
  F_SETLEASE,
  F_SETOWN,
  F_SETPIPE_SZ,
  F_SETSIG,
  F_ADD_SEALS,
  FCNTL_COMMANDS,
  FD_CLOEXEC,
  O_CREAT,
  OPEN_HOW_SIZE_VER0,
  RESOLVE_FLAGS,
  __O_TMPFILE,
  formatDirfd,
  formatEnum,
  formatFlags,
  formatMode,
  formatOpenFlags,
  type FlagTable,
} from "../../platform/abi/fcntl.js";
import { formatSignal } from "../../platform/abi/signal.js";
import { SOCKADDR_STORAGE_SIZE, decodeSockaddr, formatFamily, formatSockType, quoteBytes } from "../../platform/abi/socket.js";
import { CLONE_ARGS_SIZE_VER2, formatCloneFlags } from "../../platform/abi/clone.js";
import { ioctlName } from "../../platform/abi/ioctl.js";
import type { Reply, TaskMemory, TrapEvent } from "../../platform/platform.js";
import {
  FUTEX_CLOCK_REALTIME,
  FUTEX_COMMANDS,
  FUTEX_PRIVATE_FLAG,
  signatureOf,
  type ArgKind,
} from "./signatures.js";

/** Bytes of a string printed before "...". */
export const STRING_MAX = 1024;
/** Bytes of a data buffer printed before "...". */
export const BUF_MAX = 32;
/** argv entries printed before "...". */
export const ARGV_MAX = 32;
/** envp entries counted at most. */
const ENVP_COUNT_MAX = 4096;
/** Pointers read per chunk when walking argv/envp. */
const PTR_CHUNK = 32;
/** CLONE_ARGS_SIZE_VER0 (include/uapi/linux/sched.h). */
const CLONE_ARGS_SIZE_VER0 = 64;

const textEncoder = new TextEncoder();

function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

/** A string read from memory, quoted; its pointer in hex when the read faults. */
function readQuoted(mem: TaskMemory, pid: number, addr: number): string {
  if (addr === 0) return "NULL";
  const s = mem.readString(pid, addr, STRING_MAX + 1);
  if (typeof s === "number") {
    // A string longer than the bound: show its head.
    if (s === ENAMETOOLONG) {
      const head = mem.read(pid, addr, STRING_MAX);
      if (typeof head !== "number") return quoteBytes(head, true);
    }
    return hex(addr);
  }
  const bytes = textEncoder.encode(s);
  return bytes.length > STRING_MAX ? quoteBytes(bytes.subarray(0, STRING_MAX), true) : quoteBytes(bytes);
}

function u64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/**
 * Reads a NULL-terminated pointer array, at most max entries (plus one to know whether
 * more follow). Returns the pointers and how the walk ended.
 */
function readPointerArray(
  mem: TaskMemory,
  pid: number,
  addr: number,
  max: number,
): { ptrs: number[]; end: "null" | "more" | "fault" } {
  const ptrs: number[] = [];
  while (ptrs.length <= max) {
    const at = addr + ptrs.length * 8;
    let chunk = mem.read(pid, at, PTR_CHUNK * 8);
    // The array may end just before an unmapped page: fall back to one pointer.
    if (typeof chunk === "number") chunk = mem.read(pid, at, 8);
    if (typeof chunk === "number") return { ptrs, end: "fault" };
    for (let off = 0; off + 8 <= chunk.length; off += 8) {
      const p = u64(chunk, off);
      if (p === 0n) return { ptrs, end: "null" };
      if (ptrs.length === max) return { ptrs, end: "more" };
      ptrs.push(Number(p));
    }
  }
  return { ptrs, end: "more" };
}

function formatArgv(mem: TaskMemory, pid: number, addr: number): string {
  if (addr === 0) return "NULL";
  const { ptrs, end } = readPointerArray(mem, pid, addr, ARGV_MAX);
  if (end === "fault" && ptrs.length === 0) return hex(addr);
  const items = ptrs.map((p) => readQuoted(mem, pid, p));
  if (end !== "null") items.push("...");
  return `[${items.join(", ")}]`;
}

function formatEnvp(mem: TaskMemory, pid: number, addr: number): string {
  if (addr === 0) return "NULL";
  const { ptrs, end } = readPointerArray(mem, pid, addr, ENVP_COUNT_MAX);
  if (end === "fault" && ptrs.length === 0) return hex(addr);
  const n = `${ptrs.length}${end === "null" ? "" : "+"}`;
  return `${hex(addr)} /* ${n} var${ptrs.length === 1 && end === "null" ? "" : "s"} */`;
}

function formatBuf(mem: TaskMemory, pid: number, addr: number, count: bigint): string {
  if (addr === 0) return "NULL";
  const n = count > BigInt(BUF_MAX) ? BUF_MAX : Number(count);
  if (n === 0) return '""';
  const bytes = mem.read(pid, addr, n);
  if (typeof bytes === "number") return hex(addr);
  return quoteBytes(bytes, count > BigInt(BUF_MAX));
}

function formatSockaddrArg(mem: TaskMemory, pid: number, addr: number, len: number): string {
  if (addr === 0) return "NULL";
  const n = Math.min(len, SOCKADDR_STORAGE_SIZE);
  if (n <= 0) return hex(addr);
  const bytes = mem.read(pid, addr, n);
  if (typeof bytes === "number") return hex(addr);
  return decodeSockaddr(bytes).text;
}

/** openat2(2) struct open_how (include/uapi/linux/openat2.h): u64 flags, mode, resolve. */
function formatOpenHow(mem: TaskMemory, pid: number, addr: number, size: number): string {
  if (addr === 0) return "NULL";
  if (size < OPEN_HOW_SIZE_VER0) return hex(addr);
  const b = mem.read(pid, addr, OPEN_HOW_SIZE_VER0);
  if (typeof b === "number") return hex(addr);
  const mode = u64(b, 8);
  const modeText = mode === 0n ? "0" : mode > 0xffffffffn ? hex(mode) : formatMode(Number(mode));
  const resolve = formatFlags(u64(b, 16), RESOLVE_FLAGS);
  return `{flags=${formatOpenFlags(u64(b, 0))}, mode=${modeText}, resolve=${resolve}}`;
}

/** struct clone_args fields after flags and exit_signal: name, byte offset, printed in decimal. */
const CLONE_ARGS_FIELDS: ReadonlyArray<readonly [string, number, boolean]> = [
  ["pidfd", 8, false],
  ["child_tid", 16, false],
  ["parent_tid", 24, false],
  ["stack", 40, false],
  ["stack_size", 48, false],
  ["tls", 56, false],
  ["set_tid", 64, false],
  ["set_tid_size", 72, true],
  ["cgroup", 80, true],
];

/** clone3(2) struct clone_args (include/uapi/linux/sched.h); zero fields after exit_signal are left out. */
function formatCloneArgs(mem: TaskMemory, pid: number, addr: number, size: number): string {
  if (addr === 0) return "NULL";
  if (size < CLONE_ARGS_SIZE_VER0) return hex(addr);
  const n = Math.min(size, CLONE_ARGS_SIZE_VER2);
  const b = mem.read(pid, addr, n - (n % 8));
  if (typeof b === "number") return hex(addr);
  const exitSignal = u64(b, 32);
  const parts = [
    `flags=${formatCloneFlags(u64(b, 0), false)}`,
    `exit_signal=${exitSignal > 0xffn ? hex(exitSignal) : formatSignal(Number(exitSignal))}`,
  ];
  for (const [name, off, decimal] of CLONE_ARGS_FIELDS) {
    const v = off + 8 <= b.length ? u64(b, off) : 0n;
    if (v !== 0n) parts.push(`${name}=${decimal ? v.toString() : hex(v)}`);
  }
  return `{${parts.join(", ")}}`;
}

const FD_FLAGS: FlagTable = [["FD_CLOEXEC", FD_CLOEXEC]];

/** fcntl(2) third argument: absent for the F_GET* commands, decoded for the F_SET* ones. */
function formatFcntlArg(cmd: number, ev: TrapEvent, i: number): string | undefined {
  switch (cmd) {
    case F_GETFD:
    case F_GETFL:
    case F_GETOWN:
    case F_GETSIG:
    case F_GETLEASE:
    case F_GETPIPE_SZ:
    case F_GET_SEALS:
      return undefined;
    case F_SETFD:
      return formatFlags(ev.argInt(i) >>> 0, FD_FLAGS);
    case F_SETFL:
      return formatOpenFlags(ev.argInt(i) >>> 0);
    case F_SETSIG:
      return formatSignal(ev.argInt(i));
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
    case F_DUPFD_QUERY:
    case F_SETOWN:
    case F_SETPIPE_SZ:
    case F_SETLEASE:
    case F_NOTIFY:
    case F_ADD_SEALS:
      return String(ev.argInt(i));
    default:
      return hex(ev.arg(i));
  }
}

/** futex(2) op: "FUTEX_WAIT_PRIVATE", "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME". */
function formatFutexOp(op: number): string {
  const u = op >>> 0;
  const cmd = u & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
  let text = FUTEX_COMMANDS[cmd] ?? String(cmd);
  if (u & FUTEX_PRIVATE_FLAG) text += "_PRIVATE";
  if (u & FUTEX_CLOCK_REALTIME) text += "|FUTEX_CLOCK_REALTIME";
  return text;
}

/** One argument, or undefined when the kind says it is absent for this call. */
function formatArg(kind: ArgKind, i: number, ev: TrapEvent, mem: TaskMemory): string | undefined {
  if (typeof kind === "string") {
    switch (kind) {
      case "fd":
      case "pid":
      case "int":
        return String(ev.argInt(i));
      case "uint":
        return String(ev.argInt(i) >>> 0);
      case "long":
        return BigInt.asIntN(64, ev.arg(i)).toString();
      case "size":
        return ev.arg(i).toString();
      case "hex":
        return hex(ev.arg(i));
      case "ptr":
        return ev.arg(i) === 0n ? "NULL" : hex(ev.arg(i));
      case "dirfd":
        return formatDirfd(ev.argInt(i));
      case "path":
      case "string":
        return readQuoted(mem, ev.pid, ev.argNum(i));
      case "mode":
        return formatMode(ev.argInt(i));
      case "openFlags":
        return formatOpenFlags(ev.argInt(i) >>> 0);
      case "atFlags":
        return formatFlags(ev.argInt(i) >>> 0, AT_FLAGS);
      case "cloneFlags":
        return formatCloneFlags(ev.arg(i));
      case "unshareFlags":
        return formatCloneFlags(ev.arg(i), false);
      case "accessMode": {
        const m = ev.argInt(i) >>> 0;
        return m === 0 ? "F_OK" : formatFlags(m, ACCESS_MODES);
      }
      case "signal":
        return formatSignal(ev.argInt(i));
      case "family":
        return formatFamily(ev.argInt(i));
      case "sockType":
        return formatSockType(ev.argInt(i));
      case "fcntlCmd":
        return formatEnum(ev.argInt(i), FCNTL_COMMANDS);
      case "ioctlReq":
        return ioctlName(ev.arg(i)) ?? hex(ev.arg(i));
      case "futexOp":
        return formatFutexOp(ev.argInt(i));
      case "argv":
        return formatArgv(mem, ev.pid, ev.argNum(i));
      case "envp":
        return formatEnvp(mem, ev.pid, ev.argNum(i));
    }
  }
  switch (kind.kind) {
    case "buf":
      return formatBuf(mem, ev.pid, ev.argNum(i), ev.arg(kind.len));
    case "sockaddr":
      return formatSockaddrArg(mem, ev.pid, ev.argNum(i), ev.argInt(kind.len));
    case "openHow":
      return formatOpenHow(mem, ev.pid, ev.argNum(i), ev.argNum(kind.size));
    case "cloneArgs":
      return formatCloneArgs(mem, ev.pid, ev.argNum(i), ev.argNum(kind.size));
    case "createMode": {
      const f = ev.argInt(kind.flags);
      const creates = (f & O_CREAT) !== 0 || (f & __O_TMPFILE) === __O_TMPFILE;
      return creates ? formatMode(ev.argInt(i)) : undefined;
    }
    case "fcntlArg":
      return formatFcntlArg(ev.argInt(kind.cmd), ev, i);
    case "flags": {
      const v = ev.argInt(i) >>> 0;
      return v === 0 && kind.zero !== undefined ? kind.zero : formatFlags(v, kind.table);
    }
    case "enum":
      return formatEnum(ev.argInt(i), kind.table);
  }
}

function rawArgs(ev: TrapEvent): string {
  return [0, 1, 2, 3, 4, 5].map((i) => hex(ev.arg(i))).join(", ");
}

/**
 * The call as strace prints it at syscall entry, e.g.
 * `openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)`. Unknown numbers print as
 * `syscall_N(…)` and calls without a signature as six hex registers.
 */
export function formatCall(ev: TrapEvent, mem: TaskMemory): string {
  if (ev.arch !== AUDIT_ARCH_X86_64) return `syscall_${ev.nr}(${rawArgs(ev)}) /* arch ${hex(ev.arch >>> 0)} */`;
  const name = sysnoName(ev.nr);
  if (name === undefined) return `syscall_${ev.nr}(${rawArgs(ev)})`;
  const sig = signatureOf(name);
  if (sig === undefined) return `${name}(${rawArgs(ev)})`;
  const parts: string[] = [];
  sig.args.forEach((kind, i) => {
    const text = formatArg(kind, i, ev, mem);
    if (text !== undefined) parts.push(text);
  });
  return `${name}(${parts.join(", ")})`;
}

/**
 * The outcome of the sentry's reply: "= 3", "= 0x7f…" (mmap, brk),
 * "= -1 ENOENT (No such file or directory)", "= ? (in kernel)" when the kernel runs the
 * call (its result is not seen here), "= ? (host fd 7 injected)", "= ? (killed)".
 */
export function formatResult(name: string, r: Reply): string {
  switch (r.kind) {
    case "allow":
      return "= ? (in kernel)";
    case "pending":
      return "= ? (answered when it completes)";
    case "errno":
      // A blocked call a signal interrupted, as strace shows it: the kernel turns it into
      // EINTR or a restart on the task's way out.
      if (r.errno === ERESTARTSYS) return "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)";
      return `= -1 ${errnoName(r.errno) ?? `errno ${r.errno}`} (${errnoMessage(r.errno)})`;
    case "value":
      return signatureOf(name)?.ret === "hex" && r.value >= 0 ? `= ${hex(r.value)}` : `= ${r.value}`;
    case "fd":
      return `= ? (host fd ${r.fd} injected${r.cloexec ? ", O_CLOEXEC" : ""})`;
    case "kill":
      return "= ? (killed)";
  }
}
