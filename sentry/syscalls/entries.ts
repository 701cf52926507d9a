// The table's entry constructors and its argument rules (table_amd64.ts lists the entries).
import { EPERM, errnoName } from "../../platform/abi/errno.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import { CLONE_LEGACY_NAMESPACE_MASK, CLONE_NEW_NAMESPACE_MASK } from "../../platform/abi/clone.js";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER } from "../../platform/abi/seccomp.js";
import { TIOCLINUX, TIOCSTI } from "../../platform/abi/ioctl.js";
import type { ArgCondition, ArgRule, FilterAction, SyscallEntry } from "./syscall.js";

export const ALLOW: FilterAction = Object.freeze({ kind: "allow" });

export function errno(e: number): FilterAction {
  return Object.freeze({ kind: "errno", errno: e });
}

/** (arg & 0xffffffff) == value: for int-typed arguments, whose upper register half the kernel ignores. */
export function eq32(index: number, value: number): ArgCondition {
  return { index, op: "masked-eq", mask: 0xffffffffn, value: BigInt(value >>> 0) };
}

/** The bit is set in the argument. */
export function hasBit(index: number, bit: number): ArgCondition {
  return { index, op: "masked-eq", mask: BigInt(bit), value: BigInt(bit) };
}

/** One EPERM rule per bit of mask that arg `index` may not carry. */
export function refuseBits(index: number, mask: number): ArgRule[] {
  const rules: ArgRule[] = [];
  for (let bit = 1; bit <= mask; bit *= 2) {
    if (Math.floor(mask / bit) % 2 === 1) rules.push({ when: [hasBit(index, bit)], action: errno(EPERM) });
  }
  return rules;
}

export function nrOf(name: string): number {
  const nr = sysnoByName(name);
  if (nr === undefined) throw new Error(`table_amd64: ${name} is not an amd64 syscall`);
  return nr;
}

// Entry constructors (gVisor's Supported/Error/PartiallySupported in spirit); each checks
// that the name is an amd64 syscall.

/** Allowed in the kernel (ALLOW in BPF). */
export function kernel(name: string, note?: string): SyscallEntry {
  const e: SyscallEntry = { nr: nrOf(name), name, handling: "kernel" };
  return Object.freeze(note === undefined ? e : { ...e, note });
}

/** Refused in BPF with errno e. */
export function denied(name: string, e: number, note: string): SyscallEntry {
  const errnoText = errnoName(e);
  if (errnoText === undefined) throw new Error(`table_amd64: ${name}: ${e} is not an errno`);
  return Object.freeze({ nr: nrOf(name), name, handling: "denied", errno: errnoText, note });
}

/** Decided in BPF from register arguments: first matching rule, else `otherwise`. */
export function args(
  name: string,
  rules: readonly ArgRule[],
  otherwise: FilterAction,
  note: string,
): SyscallEntry {
  if (rules.length === 0) throw new Error(`table_amd64: ${name}: an args entry needs rules`);
  const argRules = Object.freeze([...rules]);
  return Object.freeze({ nr: nrOf(name), name, handling: "args", argRules, otherwise, note });
}

// Argument rules.

/** clone(2): arg0 flags. The CSIGNAL byte is the exit signal, so CLONE_NEWTIME is not checked here. */
export const CLONE_RULES = refuseBits(0, CLONE_LEGACY_NAMESPACE_MASK);
/** unshare(2): arg0 flags, CLONE_NEWTIME included. */
export const UNSHARE_RULES = refuseBits(0, CLONE_NEW_NAMESPACE_MASK);
/** ioctl(2): arg1 request is an unsigned int. */
export const IOCTL_RULES: ArgRule[] = [
  { when: [eq32(1, TIOCSTI)], action: errno(EPERM) },
  { when: [eq32(1, TIOCLINUX)], action: errno(EPERM) },
];
/** seccomp(2): arg0 operation, arg1 flags. */
export const SECCOMP_RULES: ArgRule[] = [
  {
    when: [eq32(0, SECCOMP_SET_MODE_FILTER), hasBit(1, SECCOMP_FILTER_FLAG_NEW_LISTENER)],
    action: errno(EPERM),
  },
];
/**
 * personality(2): PER_LINUX (0), PER_LINUX32 (0x8), UNAME26 (0x20000), PER_LINUX32|UNAME26
 * and the 0xffffffff query (include/uapi/linux/personality.h), as Docker allows.
 */
export const PERSONALITY_RULES: ArgRule[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((p) => ({
  when: [eq32(0, p)],
  action: ALLOW,
}));

