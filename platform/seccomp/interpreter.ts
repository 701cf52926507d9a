// In-process classic BPF interpreter for seccomp filters, with the kernel's load-time checks.
//
// checkFilter() accepts exactly what the kernel accepts at SECCOMP_SET_MODE_FILTER: the
// generic classic checks of net/core/filter.c (bpf_check_basics, bpf_check_classic,
// check_load_and_stores) followed by kernel/seccomp.c seccomp_check_filter, which narrows
// the instruction set to what makes sense on struct seccomp_data. run() then evaluates a
// checked program the way the kernel does after converting it (net/core/filter.c
// bpf_convert_filter, kernel/bpf/core.c): A and X start at 0, all arithmetic is unsigned
// 32-bit, division by X == 0 ends the program returning 0, shifts by X use X & 31.

import { BpfError, type Instruction } from "./bpf.js";
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MAXINSNS,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_ARGS,
  SECCOMP_DATA_IP_LO,
  SECCOMP_DATA_NARGS,
  SECCOMP_DATA_NR,
  SECCOMP_DATA_SIZE,
} from "./constants.js";

/** struct seccomp_data as a filter sees it. */
export interface SeccompData {
  /** Syscall number; stored as the s32 `nr` (so -1 reads back as 0xffffffff). */
  readonly nr: number;
  /** AUDIT_ARCH_* value. */
  readonly arch: number;
  /** instruction_pointer; reduced modulo 2^64. */
  readonly ip: bigint;
  /** The six argument registers; reduced modulo 2^64 (so -1n is all ones). */
  readonly args: readonly bigint[];
}

/** Result of one run: the filter's return value and how many instructions executed. */
export interface FilterRun {
  readonly value: number;
  readonly executed: number;
}

// Conditional jumps with both operand sources, as listed in bpf_check_classic.
const COND_JUMPS: ReadonlySet<number> = new Set(
  [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
);

// ALU operations seccomp_check_filter lets through, with both operand sources. BPF_MOD is
// valid classic BPF but absent from seccomp's list.
const ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
const ALU_CODES: ReadonlySet<number> = new Set(
  ALU_OPS.flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]),
);

function isU(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}

/**
 * Throws BpfError unless the kernel would accept `program` as a seccomp filter.
 *
 * Mirrors, in order: bpf_check_basics (1..BPF_MAXINSNS instructions), the per-instruction
 * checks of bpf_check_classic and seccomp_check_filter (merged: seccomp's opcode list is a
 * subset of the classic one), the final-RET rule, and check_load_and_stores.
 */
export function checkFilter(program: readonly Instruction[]): void {
  const n = program.length;
  if (n === 0) throw new BpfError("empty program");
  if (n > BPF_MAXINSNS) throw new BpfError(`program has ${n} instructions; BPF_MAXINSNS is ${BPF_MAXINSNS}`);

  program.forEach((insn, pc) => {
    const { code, jt, jf, k } = insn;
    if (!isU(code, 0xffff) || !isU(jt, 0xff) || !isU(jf, 0xff) || !isU(k, 0xffffffff)) {
      throw new BpfError(`malformed instruction {code: ${code}, jt: ${jt}, jf: ${jf}, k: ${k}}`, pc);
    }
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        // seccomp_check_filter: "32-bit aligned and not out of bounds".
        if (k >= SECCOMP_DATA_SIZE || (k & 3) !== 0) {
          throw new BpfError(`load of [${k}] is outside struct seccomp_data or not 32-bit aligned`, pc);
        }
        return;
      case BPF_LD | BPF_W | BPF_LEN:
      case BPF_LDX | BPF_W | BPF_LEN:
      case BPF_LD | BPF_IMM:
      case BPF_LDX | BPF_IMM:
      case BPF_RET | BPF_K:
      case BPF_RET | BPF_A:
      case BPF_ALU | BPF_NEG:
      case BPF_MISC | BPF_TAX:
      case BPF_MISC | BPF_TXA:
        return;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) throw new BpfError(`scratch memory index ${k} is not below BPF_MEMWORDS`, pc);
        return;
      case BPF_ALU | BPF_DIV | BPF_K:
        if (k === 0) throw new BpfError("division by constant zero", pc);
        return;
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (k >= 32) throw new BpfError(`shift by ${k} (must be below 32)`, pc);
        return;
      case BPF_JMP | BPF_JA:
        // bpf_check_classic compares as unsigned: the last instruction can never be a ja.
        if (k >= n - 1 - pc) throw new BpfError(`ja +${k} jumps outside the program`, pc);
        return;
      case BPF_ALU | BPF_MOD | BPF_K:
      case BPF_ALU | BPF_MOD | BPF_X:
        throw new BpfError("BPF_MOD is not accepted in seccomp filters (kernel/seccomp.c)", pc);
    }
    if (ALU_CODES.has(code)) return;
    if (COND_JUMPS.has(code)) {
      if (pc + jt + 1 >= n || pc + jf + 1 >= n) {
        throw new BpfError(`conditional jump (jt ${jt}, jf ${jf}) lands outside the program`, pc);
      }
      return;
    }
    throw new BpfError(`opcode 0x${code.toString(16).padStart(2, "0")} is not accepted in seccomp filters`, pc);
  });

  const last = program[n - 1] as Instruction;
  if (last.code !== (BPF_RET | BPF_K) && last.code !== (BPF_RET | BPF_A)) {
    throw new BpfError("the last instruction must be a return", n - 1);
  }
  checkLoadsAndStores(program);
}

/**
 * net/core/filter.c check_load_and_stores: a scratch word may only be loaded when every
 * path reaching the load has stored it. The kernel walks the program once, keeping a mask
 * of valid words that it intersects into each jump target and resets to "all" after a jump;
 * it does not reset after a return, and neither does this copy.
 */
function checkLoadsAndStores(program: readonly Instruction[]): void {
  const all = (1 << BPF_MEMWORDS) - 1;
  const masks = new Array<number>(program.length).fill(all);
  let valid = 0;
  const meet = (target: number): void => {
    masks[target] = (masks[target] ?? all) & valid;
  };
  program.forEach(({ code, jt, jf, k }, pc) => {
    valid &= masks[pc] ?? all;
    switch (code) {
      case BPF_ST:
      case BPF_STX:
        valid |= 1 << k;
        return;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if ((valid & (1 << k)) === 0) throw new BpfError(`M[${k}] is loaded before it is stored on some path`, pc);
        return;
      case BPF_JMP | BPF_JA:
        meet(pc + 1 + k);
        valid = all;
        return;
    }
    if (COND_JUMPS.has(code)) {
      meet(pc + 1 + jt);
      meet(pc + 1 + jf);
      valid = all;
    }
  });
}

/** Lays out struct seccomp_data as the kernel passes it to the filter (little-endian). */
export function seccompDataBytes(data: SeccompData): Uint8Array {
  if (data.args.length !== SECCOMP_DATA_NARGS) {
    throw new RangeError(`seccomp_data needs ${SECCOMP_DATA_NARGS} args, got ${data.args.length}`);
  }
  const bytes = new Uint8Array(SECCOMP_DATA_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(SECCOMP_DATA_NR, data.nr >>> 0, true);
  view.setUint32(SECCOMP_DATA_ARCH, data.arch >>> 0, true);
  view.setBigUint64(SECCOMP_DATA_IP_LO, BigInt.asUintN(64, data.ip), true);
  data.args.forEach((arg, i) => view.setBigUint64(SECCOMP_DATA_ARGS + 8 * i, BigInt.asUintN(64, arg), true));
  return bytes;
}

/** A checked program, ready to run many times. */
export class LoadedFilter {
  private readonly program: readonly Instruction[];

  /** Checks `program` (throwing BpfError like the kernel's EINVAL) and keeps a copy. */
  constructor(program: readonly Instruction[]) {
    checkFilter(program);
    this.program = program.map((insn) => ({ ...insn }));
  }

  /** The filter's u32 return value for `data`. */
  run(data: SeccompData): number {
    return this.exec(data).value;
  }

  /** Runs the filter and also reports how many instructions it executed. */
  exec(data: SeccompData): FilterRun {
    const bytes = seccompDataBytes(data);
    const view = new DataView(bytes.buffer);
    const mem = new Uint32Array(BPF_MEMWORDS);
    const program = this.program;
    let a = 0;
    let x = 0;
    let pc = 0;
    let executed = 0;
    for (;;) {
      const insn = program[pc];
      // Unreachable for a checked program: every path ends in a return.
      if (insn === undefined) throw new BpfError("ran past the end of the program", pc);
      executed++;
      const { code, jt, jf, k } = insn;
      pc++;
      switch (code) {
        case BPF_LD | BPF_W | BPF_ABS:
          a = view.getUint32(k, true);
          continue;
        case BPF_LD | BPF_W | BPF_LEN:
          // seccomp_check_filter rewrites this to A = sizeof(struct seccomp_data).
          a = SECCOMP_DATA_SIZE;
          continue;
        case BPF_LDX | BPF_W | BPF_LEN:
          x = SECCOMP_DATA_SIZE;
          continue;
        case BPF_LD | BPF_IMM:
          a = k;
          continue;
        case BPF_LDX | BPF_IMM:
          x = k;
          continue;
        case BPF_LD | BPF_MEM:
          a = mem[k] ?? 0;
          continue;
        case BPF_LDX | BPF_MEM:
          x = mem[k] ?? 0;
          continue;
        case BPF_ST:
          mem[k] = a;
          continue;
        case BPF_STX:
          mem[k] = x;
          continue;
        case BPF_MISC | BPF_TAX:
          x = a;
          continue;
        case BPF_MISC | BPF_TXA:
          a = x;
          continue;
        case BPF_ALU | BPF_NEG:
          a = (0 - a) >>> 0;
          continue;
        case BPF_ALU | BPF_DIV | BPF_X:
          // bpf_convert_filter: "Error with exception code on div/mod by 0. For cBPF
          // programs, this was always return 0." A zero return is SECCOMP_RET_KILL_THREAD.
          if (x === 0) return { value: 0, executed };
          a = Math.floor(a / x) >>> 0;
          continue;
        case BPF_JMP | BPF_JA:
          pc += k;
          continue;
        case BPF_RET | BPF_K:
          return { value: k, executed };
        case BPF_RET | BPF_A:
          return { value: a, executed };
      }
      const operand = (code & BPF_X) !== 0 ? x : k;
      if ((code & 0x07) === BPF_ALU) {
        a = alu(code & 0xf0, a, operand);
      } else {
        pc += jumpTaken(code & 0xf0, a, operand) ? jt : jf;
      }
    }
  }
}

function alu(op: number, a: number, v: number): number {
  switch (op) {
    case BPF_ADD:
      return (a + v) >>> 0;
    case BPF_SUB:
      return (a - v) >>> 0;
    case BPF_MUL:
      return Math.imul(a, v) >>> 0;
    case BPF_DIV:
      return Math.floor(a / v) >>> 0; // v != 0: K checked at load, X handled by the caller
    case BPF_AND:
      return (a & v) >>> 0;
    case BPF_OR:
      return (a | v) >>> 0;
    case BPF_XOR:
      return (a ^ v) >>> 0;
    // kernel/bpf/core.c: 32-bit shifts by a register use (SRC & 31); K is checked < 32.
    case BPF_LSH:
      return (a << (v & 31)) >>> 0;
    case BPF_RSH:
      return a >>> (v & 31);
    default:
      throw new BpfError(`unexpected ALU operation 0x${op.toString(16)}`);
  }
}

function jumpTaken(op: number, a: number, v: number): boolean {
  switch (op) {
    case BPF_JEQ:
      return a === v;
    case BPF_JGT:
      return a > v;
    case BPF_JGE:
      return a >= v;
    case BPF_JSET:
      return (a & v) !== 0;
    default:
      throw new BpfError(`unexpected jump operation 0x${op.toString(16)}`);
  }
}

/** Checks `program` and runs it once on `data`; returns the u32 return value. */
export function runFilter(program: readonly Instruction[], data: SeccompData): number {
  return new LoadedFilter(program).run(data);
}
