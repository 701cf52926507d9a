// Compiles a seccomp filter spec (per-syscall actions and argument rules) into classic BPF.
//
// Program shape:
//
//   ld arch; if arch != AUDIT_ARCH_X86_64 → KILL_PROCESS      (ia32 / foreign ABIs)
//   ld nr;   if nr >= X32_SYSCALL_BIT and nr != -1 → KILL_PROCESS   (x32 ABI)
//   binary search over the syscall-number ranges → one leaf per range:
//     a plain action:  ret <action>
//     argument rules:  the rules in order (first match wins), then ret <otherwise>
//
// Ranges are maximal runs of numbers with the same plain action (unlisted numbers take the
// default action), so an allowed syscall costs about 5 + log2(ranges) instructions however
// large the table is. nr == -1 (0xffffffff) is not an x32 call: x86_64 answers it with
// ENOSYS, and ptrace users set it to skip a syscall, so it falls through to the search and
// gets the default action, as in libseccomp's x86_64 filters.

import { Assembler, encode, longestPath, type Instruction } from "./bpf.js";
import {
  AUDIT_ARCH_X86_64,
  MAX_ERRNO,
  SECCOMP_DATA_NARGS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  SECCOMP_RET_USER_NOTIF,
  X32_SYSCALL_BIT,
} from "./constants.js";
import { checkFilter } from "./interpreter.js";

/**
 * What the filter does with a syscall:
 *
 *   allow   SECCOMP_RET_ALLOW: the kernel executes it.
 *   errno   SECCOMP_RET_ERRNO | errno: fails with -errno without executing (0..MAX_ERRNO).
 *   kill    SECCOMP_RET_KILL_PROCESS.
 *   trap    SECCOMP_RET_USER_NOTIF: the sentry decides (not SECCOMP_RET_TRAP/SIGSYS).
 *   log     SECCOMP_RET_LOG: allowed and logged by the kernel.
 */
export type BpfAction =
  | { readonly kind: "allow" }
  | { readonly kind: "errno"; readonly errno: number }
  | { readonly kind: "kill" }
  | { readonly kind: "trap" }
  | { readonly kind: "log" };

/** A comparison of one 64-bit argument register, unsigned. */
export interface BpfArgCondition {
  /** Argument index, 0..5. */
  readonly index: number;
  readonly op: "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked-eq" | "masked-ne";
  /** Compared value, 0..2^64-1. */
  readonly value: bigint;
  /** For masked-eq and masked-ne only: the condition is (arg & mask) == value, or !=. */
  readonly mask?: bigint;
}

/** All conditions hold (AND) → action. */
export interface BpfArgRule {
  readonly when: readonly BpfArgCondition[];
  readonly action: BpfAction;
}

/** Argument rules for one syscall: the first rule that matches wins, else `otherwise`. */
export interface BpfRuleSet {
  readonly rules: readonly BpfArgRule[];
  readonly otherwise: BpfAction;
}

export interface FilterSpec {
  /** Action for syscall numbers not in `syscalls` (e.g. errno ENOSYS). */
  readonly defaultAction: BpfAction;
  /** Per syscall number: a plain action, or argument rules (first match wins) then `otherwise`. */
  readonly syscalls: ReadonlyMap<number, BpfAction | BpfRuleSet>;
}

/** Summary of a spec and the program compiled from it (for `policy compile`). */
export interface FilterStats {
  /** Program length in instructions. */
  readonly instructions: number;
  /** Instructions executed on the longest path through the program. */
  readonly longestPath: number;
  /** Ranges of syscall numbers the binary search distinguishes. */
  readonly ranges: number;
  /** Syscall numbers listed in the spec, by plain action kind, and `args` for rule sets. */
  readonly syscalls: Readonly<Record<BpfAction["kind"] | "args", number>>;
  readonly defaultAction: BpfAction["kind"];
}

const U32 = 0xffffffffn;
const U64_MAX = (1n << 64n) - 1n;

function isRuleSet(entry: BpfAction | BpfRuleSet): entry is BpfRuleSet {
  return "rules" in entry;
}

/** The RET K value of an action. Throws RangeError for an invalid action. */
export function actionReturn(action: BpfAction): number {
  switch (action.kind) {
    case "allow":
      return SECCOMP_RET_ALLOW;
    case "errno":
      if (!Number.isInteger(action.errno) || action.errno < 0 || action.errno > MAX_ERRNO) {
        throw new RangeError(`errno action needs an errno in 0..${MAX_ERRNO}, got ${action.errno}`);
      }
      return (SECCOMP_RET_ERRNO | action.errno) >>> 0;
    case "kill":
      return SECCOMP_RET_KILL_PROCESS;
    case "trap":
      return SECCOMP_RET_USER_NOTIF;
    case "log":
      return SECCOMP_RET_LOG;
    default:
      throw new RangeError(`unknown filter action ${JSON.stringify(action)}`);
  }
}

function checkCondition(c: BpfArgCondition, nr: number): void {
  const where = `syscall ${nr}`;
  if (!Number.isInteger(c.index) || c.index < 0 || c.index >= SECCOMP_DATA_NARGS) {
    throw new RangeError(`${where}: argument index must be 0..${SECCOMP_DATA_NARGS - 1}, got ${c.index}`);
  }
  if (!["eq", "ne", "lt", "le", "gt", "ge", "masked-eq", "masked-ne"].includes(c.op)) {
    throw new RangeError(`${where}: unknown comparison "${String(c.op)}"`);
  }
  if (typeof c.value !== "bigint" || c.value < 0n || c.value > U64_MAX) {
    throw new RangeError(`${where}: value must be a bigint in 0..2^64-1, got ${String(c.value)}`);
  }
  if (c.op === "masked-eq" || c.op === "masked-ne") {
    if (typeof c.mask !== "bigint" || c.mask < 0n || c.mask > U64_MAX) {
      throw new RangeError(`${where}: ${c.op} needs a mask bigint in 0..2^64-1, got ${String(c.mask)}`);
    }
  } else if (c.mask !== undefined) {
    throw new RangeError(`${where}: mask is only meaningful for masked-eq and masked-ne, not ${c.op}`);
  }
}

/** What a range of syscall numbers leads to. */
type Outcome = { readonly ret: number } | { readonly nr: number; readonly set: BpfRuleSet };

/** A run of syscall numbers [start, next range's start) with one outcome. */
interface Range {
  readonly start: number;
  readonly outcome: Outcome;
}

/**
 * Validates the spec and partitions [0, 2^32) into ranges: merged runs of equal plain
 * return values, and single numbers for rule sets. The last range always reaches 2^32 - 1
 * with the default action, since listed numbers are below X32_SYSCALL_BIT.
 */
function planRanges(spec: FilterSpec): Range[] {
  const defaultRet = actionReturn(spec.defaultAction);
  const nrs = [...spec.syscalls.keys()].sort((a, b) => a - b);
  const ranges: Range[] = [];
  const push = (start: number, outcome: Outcome): void => {
    const prev = ranges[ranges.length - 1];
    if (prev !== undefined && "ret" in prev.outcome && "ret" in outcome && prev.outcome.ret === outcome.ret) return;
    ranges.push({ start, outcome });
  };
  let next = 0; // first number not yet covered
  for (const nr of nrs) {
    if (!Number.isInteger(nr) || nr < 0 || nr >= X32_SYSCALL_BIT) {
      throw new RangeError(`syscall number must be an integer in 0..0x${(X32_SYSCALL_BIT - 1).toString(16)}, got ${nr}`);
    }
    const entry = spec.syscalls.get(nr) as BpfAction | BpfRuleSet;
    if (nr > next) push(next, { ret: defaultRet });
    if (isRuleSet(entry)) {
      actionReturn(entry.otherwise);
      for (const rule of entry.rules) {
        actionReturn(rule.action);
        for (const c of rule.when) checkCondition(c, nr);
      }
      ranges.push({ start: nr, outcome: { nr, set: entry } });
    } else {
      push(nr, { ret: actionReturn(entry) });
    }
    next = nr + 1;
  }
  push(next, { ret: defaultRet });
  return ranges;
}

/** Splits a 64-bit value into its high and low 32-bit words. */
function words(v: bigint): [hi: number, lo: number] {
  return [Number(v >> 32n), Number(v & U32)];
}

/** A condition whose outcome does not depend on the argument, or undefined. */
function staticOutcome(c: BpfArgCondition): boolean | undefined {
  switch (c.op) {
    case "lt":
      return c.value === 0n ? false : undefined;
    case "ge":
      return c.value === 0n ? true : undefined;
    case "gt":
      return c.value === U64_MAX ? false : undefined;
    case "le":
      return c.value === U64_MAX ? true : undefined;
    case "masked-eq": {
      const mask = c.mask ?? 0n;
      if ((c.value & ~mask) !== 0n) return false; // bits the mask clears can never match
      return mask === 0n ? true : undefined;
    }
    case "masked-ne": {
      const mask = c.mask ?? 0n;
      if ((c.value & ~mask) !== 0n) return true;
      return mask === 0n ? false : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Emits a test of one condition that falls through when it holds and jumps to `fail` when
 * it does not. Arguments are 64-bit but BPF compares 32-bit words, so ordered comparisons
 * decide on the high word and consult the low word only when the high words are equal.
 */
function emitCondition(asm: Assembler, c: BpfArgCondition, fail: string): void {
  const [vhi, vlo] = words(c.value);
  const i = c.index;
  switch (c.op) {
    case "eq":
      asm.ldArgHi(i).jeq(vhi, undefined, fail);
      asm.ldArgLo(i).jeq(vlo, undefined, fail);
      return;
    case "ne": {
      const ok = asm.newLabel("ne");
      asm.ldArgHi(i).jeq(vhi, undefined, ok);
      asm.ldArgLo(i).jeq(vlo, fail, undefined);
      asm.label(ok);
      return;
    }
    case "gt":
    case "ge": {
      // hi > vhi → holds; hi < vhi → fails; hi == vhi → compare the low words.
      const ok = asm.newLabel(c.op);
      asm.ldArgHi(i).jgt(vhi, ok, undefined).jeq(vhi, undefined, fail);
      asm.ldArgLo(i).jmp(c.op === "gt" ? "jgt" : "jge", vlo, undefined, fail);
      asm.label(ok);
      return;
    }
    case "lt":
    case "le": {
      // hi > vhi → fails; hi < vhi → holds; hi == vhi → compare the low words.
      const ok = asm.newLabel(c.op);
      asm.ldArgHi(i).jgt(vhi, fail, undefined).jeq(vhi, undefined, ok);
      asm.ldArgLo(i).jmp(c.op === "lt" ? "jge" : "jgt", vlo, fail, undefined);
      asm.label(ok);
      return;
    }
    case "masked-eq": {
      // staticOutcome() has ruled out value bits outside the mask, so a zero mask word
      // means that word always matches.
      const [mhi, mlo] = words(c.mask ?? 0n);
      const half = (ld: () => void, m: number, v: number): void => {
        if (m === 0) return;
        ld();
        if (m !== 0xffffffff) asm.and(m);
        asm.jeq(v, undefined, fail);
      };
      half(() => asm.ldArgHi(i), mhi, vhi);
      half(() => asm.ldArgLo(i), mlo, vlo);
      return;
    }
    case "masked-ne": {
      // Holds as soon as one masked word differs; fails when every masked word is equal.
      const [mhi, mlo] = words(c.mask ?? 0n);
      const ok = asm.newLabel("mne");
      const half = (ld: () => void, m: number, v: number, last: boolean): void => {
        ld();
        if (m !== 0xffffffff) asm.and(m);
        asm.jeq(v, last ? fail : undefined, ok);
      };
      if (mhi !== 0) half(() => asm.ldArgHi(i), mhi, vhi, mlo === 0);
      if (mlo !== 0) half(() => asm.ldArgLo(i), mlo, vlo, true);
      asm.label(ok);
      return;
    }
  }
}

/** Emits the rules of one syscall, ending in a return on every path. */
function emitRuleSet(asm: Assembler, set: BpfRuleSet): void {
  for (const rule of set.rules) {
    const outcomes = rule.when.map(staticOutcome);
    if (outcomes.includes(false)) continue; // can never match
    const tests = rule.when.filter((_, j) => outcomes[j] === undefined);
    if (tests.length === 0) {
      // Matches every call: later rules and `otherwise` are unreachable.
      asm.ret(actionReturn(rule.action));
      return;
    }
    const next = asm.newLabel("rule");
    for (const c of tests) emitCondition(asm, c, next);
    asm.ret(actionReturn(rule.action));
    asm.label(next);
  }
  asm.ret(actionReturn(set.otherwise));
}

/**
 * Emits a balanced binary search over ranges[lo..hi] (A holds nr): each inner node is one
 * `jge` on the first number of its right half; the left half falls through.
 */
function emitSearch(asm: Assembler, ranges: readonly Range[], lo: number, hi: number): void {
  if (lo === hi) {
    const outcome = (ranges[lo] as Range).outcome;
    if ("ret" in outcome) asm.ret(outcome.ret);
    else emitRuleSet(asm, outcome.set);
    return;
  }
  const mid = (lo + hi + 1) >> 1;
  const right = asm.newLabel("nr");
  asm.jge((ranges[mid] as Range).start, right, undefined);
  emitSearch(asm, ranges, lo, mid - 1);
  asm.label(right);
  emitSearch(asm, ranges, mid, hi);
}

function assembleFilter(ranges: readonly Range[]): Instruction[] {
  const asm = new Assembler();
  const kill = asm.newLabel("kill");
  const search = asm.newLabel("search");
  const high = asm.newLabel("high");
  asm.ldArch().jeq(AUDIT_ARCH_X86_64, undefined, kill);
  asm.ldNr().jge(X32_SYSCALL_BIT, high, search);
  asm.label(high).jeq(0xffffffff, search, kill);
  asm.label(kill).ret(SECCOMP_RET_KILL_PROCESS);
  asm.label(search);
  emitSearch(asm, ranges, 0, ranges.length - 1);
  const program = asm.assemble();
  // The compiler's output must load in the kernel; a failure here is a compiler bug.
  checkFilter(program);
  return program;
}

/**
 * Compiles `spec` into a seccomp filter program. Throws RangeError for an invalid spec
 * (syscall number outside 0..X32_SYSCALL_BIT-1, bad errno, argument index or value) and
 * BpfError if the program would exceed BPF_MAXINSNS.
 */
export function compileFilter(spec: FilterSpec): Instruction[] {
  return assembleFilter(planRanges(spec));
}

/** compileFilter, encoded as the struct sock_filter array for SECCOMP_SET_MODE_FILTER. */
export function compileFilterBytes(spec: FilterSpec): Uint8Array {
  return encode(compileFilter(spec));
}

/** Counts per action kind, range count and program size of a spec. */
export function filterStats(spec: FilterSpec): FilterStats {
  const ranges = planRanges(spec);
  const program = assembleFilter(ranges);
  const syscalls: Record<BpfAction["kind"] | "args", number> = { allow: 0, errno: 0, kill: 0, trap: 0, log: 0, args: 0 };
  for (const entry of spec.syscalls.values()) {
    syscalls[isRuleSet(entry) ? "args" : entry.kind]++;
  }
  return {
    instructions: program.length,
    longestPath: longestPath(program),
    ranges: ranges.length,
    syscalls,
    defaultAction: spec.defaultAction.kind,
  };
}
