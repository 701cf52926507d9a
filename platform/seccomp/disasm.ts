// The classic BPF disassembler: one line per instruction, seccomp return values by name
// (`runsc-ts policy compile` prints a filter with it).
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
  BPF_MEM,
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
  SECCOMP_DATA_IP_HI,
  SECCOMP_DATA_IP_LO,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  bpfClass,
  bpfOp,
  bpfSrc,
} from "./constants.js";
import type { Instruction } from "./bpf.js";

/** Readable name of a seccomp return value: ALLOW, ERRNO(1), USER_NOTIF, KILL_PROCESS… */
export function describeReturn(k: number): string {
  const action = (k & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = k & SECCOMP_RET_DATA;
  const withData = (name: string): string => `${name}(${data})`;
  const plain = (name: string): string => (data === 0 ? name : `${name}|0x${data.toString(16)}`);
  switch (action) {
    case SECCOMP_RET_KILL_PROCESS:
      return plain("KILL_PROCESS");
    case SECCOMP_RET_KILL_THREAD:
      return plain("KILL_THREAD");
    case SECCOMP_RET_TRAP:
      return withData("TRAP");
    case SECCOMP_RET_ERRNO:
      return withData("ERRNO");
    case SECCOMP_RET_USER_NOTIF:
      return plain("USER_NOTIF");
    case SECCOMP_RET_TRACE:
      return withData("TRACE");
    case SECCOMP_RET_LOG:
      return plain("LOG");
    case SECCOMP_RET_ALLOW:
      return plain("ALLOW");
    default:
      return hex(k);
  }
}

function hex(k: number): string {
  return `#0x${k.toString(16)}`;
}

function lineLabel(pc: number): string {
  return `L${String(pc).padStart(4, "0")}`;
}

/** Name of the seccomp_data word at a byte offset, for comments. */
function dataField(k: number): string | undefined {
  if (k === SECCOMP_DATA_NR) return "nr";
  if (k === SECCOMP_DATA_ARCH) return "arch";
  if (k === SECCOMP_DATA_IP_LO) return "ip.lo";
  if (k === SECCOMP_DATA_IP_HI) return "ip.hi";
  if (k >= SECCOMP_DATA_ARGS && k < SECCOMP_DATA_ARGS + 48 && k % 4 === 0) {
    const i = Math.floor((k - SECCOMP_DATA_ARGS) / 8);
    return `args[${i}].${(k - SECCOMP_DATA_ARGS) % 8 === 0 ? "lo" : "hi"}`;
  }
  return undefined;
}

const ALU_NAMES = new Map<number, string>([
  [BPF_ADD, "add"],
  [BPF_SUB, "sub"],
  [BPF_MUL, "mul"],
  [BPF_DIV, "div"],
  [BPF_OR, "or"],
  [BPF_AND, "and"],
  [BPF_LSH, "lsh"],
  [BPF_RSH, "rsh"],
  [BPF_MOD, "mod"],
  [BPF_XOR, "xor"],
]);

const JUMP_NAMES = new Map<number, string>([
  [BPF_JEQ, "jeq"],
  [BPF_JGT, "jgt"],
  [BPF_JGE, "jge"],
  [BPF_JSET, "jset"],
]);

function disassembleOne(insn: Instruction, pc: number): string {
  const { code, jt, jf, k } = insn;
  switch (code) {
    case BPF_LD | BPF_W | BPF_ABS: {
      const field = dataField(k);
      return field === undefined ? `ld [${k}]` : `ld [${k}] ; ${field}`;
    }
    case BPF_LD | BPF_W | BPF_LEN:
      return "ld #len";
    case BPF_LDX | BPF_W | BPF_LEN:
      return "ldx #len";
    case BPF_LD | BPF_IMM:
      return `ld ${hex(k)}`;
    case BPF_LDX | BPF_IMM:
      return `ldx ${hex(k)}`;
    case BPF_LD | BPF_MEM:
      return `ld M[${k}]`;
    case BPF_LDX | BPF_MEM:
      return `ldx M[${k}]`;
    case BPF_ST:
      return `st M[${k}]`;
    case BPF_STX:
      return `stx M[${k}]`;
    case BPF_ALU | BPF_NEG:
      return "neg";
    case BPF_MISC | BPF_TAX:
      return "tax";
    case BPF_MISC | BPF_TXA:
      return "txa";
    case BPF_JMP | BPF_JA:
      return `ja ${lineLabel(pc + 1 + k)}`;
    case BPF_RET | BPF_K:
      return `ret ${describeReturn(k)}`;
    case BPF_RET | BPF_A:
      return "ret a";
  }
  const operand = bpfSrc(code) === BPF_X ? "x" : hex(k);
  if (code <= 0xff && bpfClass(code) === BPF_ALU) {
    const name = ALU_NAMES.get(bpfOp(code));
    if (name !== undefined) return `${name} ${operand}`;
  }
  if (code <= 0xff && bpfClass(code) === BPF_JMP) {
    const name = JUMP_NAMES.get(bpfOp(code));
    if (name !== undefined) return `${name} ${operand}, ${lineLabel(pc + 1 + jt)}, ${lineLabel(pc + 1 + jf)}`;
  }
  return `.insn code=0x${code.toString(16).padStart(4, "0")} jt=${jt} jf=${jf} k=0x${k.toString(16)}`;
}

/**
 * One line per instruction: `0003: jeq #0x3b, L0010, L0004`, where Lnnnn is the absolute
 * index of a jump target, `ret ALLOW`, `ret ERRNO(1)`, `ld [4] ; arch`.
 */
export function disassemble(program: readonly Instruction[]): string[] {
  return program.map((insn, pc) => `${String(pc).padStart(4, "0")}: ${disassembleOne(insn, pc)}`);
}
