// clone(2), clone3(2) and unshare(2) flags, and their strace-style decoder.

import { type FlagTable, formatFlags } from "./fcntl.js";
import { formatSignal } from "./signal.js";

// include/uapi/linux/sched.h
/** clone(2): the low byte is the signal sent to the parent when the child exits. */
export const CSIGNAL = 0x000000ff;
/** Only clone3(2) and unshare(2) can ask for it; in clone(2) the bit belongs to CSIGNAL. */
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_VM = 0x00000100;
export const CLONE_FS = 0x00000200;
export const CLONE_FILES = 0x00000400;
export const CLONE_SIGHAND = 0x00000800;
export const CLONE_PIDFD = 0x00001000;
export const CLONE_PTRACE = 0x00002000;
export const CLONE_VFORK = 0x00004000;
export const CLONE_PARENT = 0x00008000;
export const CLONE_THREAD = 0x00010000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_SYSVSEM = 0x00040000;
export const CLONE_SETTLS = 0x00080000;
export const CLONE_PARENT_SETTID = 0x00100000;
export const CLONE_CHILD_CLEARTID = 0x00200000;
export const CLONE_DETACHED = 0x00400000;
export const CLONE_UNTRACED = 0x00800000;
export const CLONE_CHILD_SETTID = 0x01000000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_IO = 0x80000000;
/** clone3(2) only (64-bit flags). */
export const CLONE_CLEAR_SIGHAND = 0x100000000;
export const CLONE_INTO_CGROUP = 0x200000000;

/** Every flag that creates a namespace, CLONE_NEWTIME included. */
export const CLONE_NEW_NAMESPACE_MASK =
  CLONE_NEWNS + CLONE_NEWCGROUP + CLONE_NEWUTS + CLONE_NEWIPC + CLONE_NEWUSER + CLONE_NEWPID + CLONE_NEWNET +
  CLONE_NEWTIME;

/** The namespace flags clone(2) can express: the mask without the CSIGNAL byte. */
export const CLONE_LEGACY_NAMESPACE_MASK = CLONE_NEW_NAMESPACE_MASK - CLONE_NEWTIME;

/** sizeof(struct clone_args) as of Linux 5.7 (CLONE_ARGS_SIZE_VER2). */
export const CLONE_ARGS_SIZE_VER2 = 88;

const COMMON: FlagTable = [
  ["CLONE_VM", CLONE_VM],
  ["CLONE_FS", CLONE_FS],
  ["CLONE_FILES", CLONE_FILES],
  ["CLONE_SIGHAND", CLONE_SIGHAND],
  ["CLONE_PIDFD", CLONE_PIDFD],
  ["CLONE_PTRACE", CLONE_PTRACE],
  ["CLONE_VFORK", CLONE_VFORK],
  ["CLONE_PARENT", CLONE_PARENT],
  ["CLONE_THREAD", CLONE_THREAD],
  ["CLONE_NEWNS", CLONE_NEWNS],
  ["CLONE_SYSVSEM", CLONE_SYSVSEM],
  ["CLONE_SETTLS", CLONE_SETTLS],
  ["CLONE_PARENT_SETTID", CLONE_PARENT_SETTID],
  ["CLONE_CHILD_CLEARTID", CLONE_CHILD_CLEARTID],
  ["CLONE_DETACHED", CLONE_DETACHED],
  ["CLONE_UNTRACED", CLONE_UNTRACED],
  ["CLONE_CHILD_SETTID", CLONE_CHILD_SETTID],
  ["CLONE_NEWCGROUP", CLONE_NEWCGROUP],
  ["CLONE_NEWUTS", CLONE_NEWUTS],
  ["CLONE_NEWIPC", CLONE_NEWIPC],
  ["CLONE_NEWUSER", CLONE_NEWUSER],
  ["CLONE_NEWPID", CLONE_NEWPID],
  ["CLONE_NEWNET", CLONE_NEWNET],
  ["CLONE_IO", CLONE_IO],
];

/** Flags of clone3(2) clone_args.flags and of unshare(2)/setns(2): CLONE_NEWTIME is a flag here. */
export const CLONE_FLAGS: FlagTable = [
  ...COMMON,
  ["CLONE_NEWTIME", CLONE_NEWTIME],
  ["CLONE_CLEAR_SIGHAND", CLONE_CLEAR_SIGHAND],
  ["CLONE_INTO_CGROUP", CLONE_INTO_CGROUP],
];

/**
 * Decodes clone flags. For clone(2) (withExitSignal, the default) the low byte is the
 * exit signal and prints last: "CLONE_VM|CLONE_FS|SIGCHLD". For clone3(2) flags and
 * unshare(2), pass false: the low byte then holds CLONE_NEWTIME.
 */
export function formatCloneFlags(n: number | bigint, withExitSignal = true): string {
  const u = typeof n === "bigint" ? BigInt.asUintN(64, n) : BigInt(n < 0 ? n >>> 0 : n);
  if (!withExitSignal) return formatFlags(u, CLONE_FLAGS);
  const sig = Number(u & BigInt(CSIGNAL));
  const rest = u & ~BigInt(CSIGNAL);
  const parts: string[] = [];
  if (rest !== 0n) parts.push(formatFlags(rest, COMMON));
  if (sig !== 0 || parts.length === 0) parts.push(formatSignal(sig));
  return parts.join("|");
}
