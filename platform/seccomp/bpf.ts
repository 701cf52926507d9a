// Classic BPF assembler: instructions, symbolic labels with long-jump trampolines, and
// struct sock_filter encoding (the disassembler is disasm.ts).
//
// Classic BPF only jumps forward. A conditional jump encodes its two offsets in u8 fields
// (at most 255 instructions ahead), an unconditional `ja` in the u32 k field. The assembler
// lets callers jump to labels at any forward distance: a conditional branch whose target is
// too far goes through a `ja` trampoline placed right after the jump.

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
  BPF_MAX_COND_JUMP,
  BPF_MAXINSNS,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
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
  SECCOMP_DATA_NR,
  SOCK_FILTER_SIZE,
  bpfClass,
  bpfOp,
  seccompArgHi,
  seccompArgLo,
} from "./constants.js";

/** One struct sock_filter (include/uapi/linux/filter.h). Offsets are relative to pc + 1. */
export interface Instruction {
  /** u16 opcode. */
  readonly code: number;
  /** u8 offset taken when a conditional jump's test holds. */
  readonly jt: number;
  /** u8 offset taken when it does not. */
  readonly jf: number;
  /** u32 operand. */
  readonly k: number;
}

/** A malformed program or an assembler misuse; `pc` names the instruction when known. */
export class BpfError extends Error {
  readonly pc: number | undefined;
  constructor(message: string, pc?: number) {
    super(pc === undefined ? message : `instruction ${pc}: ${message}`);
    this.name = "BpfError";
    this.pc = pc;
  }
}

function checkU32(k: number, what: string): number {
  if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) {
    throw new RangeError(`${what} must be an unsigned 32-bit integer, got ${k}`);
  }
  return k;
}

function checkMemIndex(i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= BPF_MEMWORDS) {
    throw new RangeError(`scratch memory index must be 0..${BPF_MEMWORDS - 1}, got ${i}`);
  }
  return i;
}

/** BPF_STMT(code, k): a non-jump instruction. */
export function stmt(code: number, k = 0): Instruction {
  return { code, jt: 0, jf: 0, k: checkU32(k, "k") };
}

/** BPF_JUMP(code, k, jt, jf): a jump with numeric offsets. */
export function jump(code: number, k: number, jt: number, jf: number): Instruction {
  return { code, jt, jf, k: checkU32(k, "k") };
}

/** ALU operations the seccomp checker accepts with a K or X operand (not BPF_MOD). */
export type AluOp = "add" | "sub" | "mul" | "div" | "or" | "and" | "xor" | "lsh" | "rsh";

const ALU_OPS: Readonly<Record<AluOp, number>> = {
  add: BPF_ADD,
  sub: BPF_SUB,
  mul: BPF_MUL,
  div: BPF_DIV,
  or: BPF_OR,
  and: BPF_AND,
  xor: BPF_XOR,
  lsh: BPF_LSH,
  rsh: BPF_RSH,
};

/** Conditional jump operations. */
export type JumpOp = "jeq" | "jgt" | "jge" | "jset";

const JUMP_OPS: Readonly<Record<JumpOp, number>> = {
  jeq: BPF_JEQ,
  jgt: BPF_JGT,
  jge: BPF_JGE,
  jset: BPF_JSET,
};

/** A jump target: a label name, or undefined for the next instruction (fall through). */
export type Target = string | undefined;

type Item =
  | { readonly kind: "insn"; readonly insn: Instruction }
  | { readonly kind: "label"; readonly name: string }
  | { readonly kind: "ja"; readonly target: string }
  | {
      readonly kind: "jcond";
      readonly code: number;
      readonly k: number;
      readonly jt: Target;
      readonly jf: Target;
    };

/**
 * Builds a program from instructions and forward labels; `assemble()` resolves labels,
 * inserts trampolines for conditional jumps beyond 255 instructions and checks the length
 * against BPF_MAXINSNS. Every method returns `this` for chaining.
 */
export class Assembler {
  private readonly items: Item[] = [];
  private readonly defined = new Set<string>();
  private generated = 0;

  /** A fresh label name, unique within this assembler. */
  newLabel(hint = "L"): string {
    let name: string;
    do {
      name = `${hint}#${this.generated++}`;
    } while (this.defined.has(name));
    return name;
  }

  /** Places `name` at the next instruction. A label may be defined once. */
  label(name: string): this {
    if (this.defined.has(name)) throw new BpfError(`label "${name}" defined twice`);
    this.defined.add(name);
    this.items.push({ kind: "label", name });
    return this;
  }

  /** Appends a raw instruction (no label resolution). */
  emit(insn: Instruction): this {
    this.items.push({ kind: "insn", insn });
    return this;
  }

  /** A = 32-bit word at byte `offset` of seccomp_data (BPF_LD|BPF_W|BPF_ABS). */
  ldAbs(offset: number): this {
    return this.emit(stmt(BPF_LD | BPF_W | BPF_ABS, offset));
  }
  /** A = seccomp_data.nr. */
  ldNr(): this {
    return this.ldAbs(SECCOMP_DATA_NR);
  }
  /** A = seccomp_data.arch. */
  ldArch(): this {
    return this.ldAbs(SECCOMP_DATA_ARCH);
  }
  /** A = low 32 bits of seccomp_data.args[i]. */
  ldArgLo(i: number): this {
    return this.ldAbs(seccompArgLo(i));
  }
  /** A = high 32 bits of seccomp_data.args[i]. */
  ldArgHi(i: number): this {
    return this.ldAbs(seccompArgHi(i));
  }
  /** A = sizeof(struct seccomp_data) (BPF_LD|BPF_W|BPF_LEN). */
  ldLen(): this {
    return this.emit(stmt(BPF_LD | BPF_W | BPF_LEN));
  }
  /** X = sizeof(struct seccomp_data) (BPF_LDX|BPF_W|BPF_LEN). */
  ldxLen(): this {
    return this.emit(stmt(BPF_LDX | BPF_W | BPF_LEN));
  }
  /** A = k. */
  ldImm(k: number): this {
    return this.emit(stmt(BPF_LD | BPF_IMM, k));
  }
  /** X = k. */
  ldxImm(k: number): this {
    return this.emit(stmt(BPF_LDX | BPF_IMM, k));
  }
  /** A = M[i]. */
  ldMem(i: number): this {
    return this.emit(stmt(BPF_LD | BPF_MEM, checkMemIndex(i)));
  }
  /** X = M[i]. */
  ldxMem(i: number): this {
    return this.emit(stmt(BPF_LDX | BPF_MEM, checkMemIndex(i)));
  }
  /** M[i] = A. */
  st(i: number): this {
    return this.emit(stmt(BPF_ST, checkMemIndex(i)));
  }
  /** M[i] = X. */
  stx(i: number): this {
    return this.emit(stmt(BPF_STX, checkMemIndex(i)));
  }
  /** A = A op k. */
  alu(op: AluOp, k: number): this {
    return this.emit(stmt(BPF_ALU | ALU_OPS[op] | BPF_K, k));
  }
  /** A = A op X. */
  aluX(op: AluOp): this {
    return this.emit(stmt(BPF_ALU | ALU_OPS[op] | BPF_X));
  }
  /** A = A & k. */
  and(k: number): this {
    return this.alu("and", k);
  }
  /** A = -A. */
  neg(): this {
    return this.emit(stmt(BPF_ALU | BPF_NEG));
  }
  /** X = A. */
  tax(): this {
    return this.emit(stmt(BPF_MISC | BPF_TAX));
  }
  /** A = X. */
  txa(): this {
    return this.emit(stmt(BPF_MISC | BPF_TXA));
  }

  /** Conditional jump comparing A with k. */
  jmp(op: JumpOp, k: number, jt: Target, jf: Target): this {
    this.items.push({ kind: "jcond", code: BPF_JMP | JUMP_OPS[op] | BPF_K, k: checkU32(k, "k"), jt, jf });
    return this;
  }
  /** Conditional jump comparing A with X. */
  jmpX(op: JumpOp, jt: Target, jf: Target): this {
    this.items.push({ kind: "jcond", code: BPF_JMP | JUMP_OPS[op] | BPF_X, k: 0, jt, jf });
    return this;
  }
  /** if (A == k) goto jt else goto jf. */
  jeq(k: number, jt: Target, jf?: Target): this {
    return this.jmp("jeq", k, jt, jf);
  }
  /** if (A > k) goto jt else goto jf (unsigned). */
  jgt(k: number, jt: Target, jf?: Target): this {
    return this.jmp("jgt", k, jt, jf);
  }
  /** if (A >= k) goto jt else goto jf (unsigned). */
  jge(k: number, jt: Target, jf?: Target): this {
    return this.jmp("jge", k, jt, jf);
  }
  /** if (A & k) goto jt else goto jf. */
  jset(k: number, jt: Target, jf?: Target): this {
    return this.jmp("jset", k, jt, jf);
  }
  /** goto target (32-bit offset, never needs a trampoline). */
  ja(target: string): this {
    this.items.push({ kind: "ja", target });
    return this;
  }
  /** return k. */
  ret(k: number): this {
    return this.emit(stmt(BPF_RET | BPF_K, k));
  }
  /** return A. */
  retA(): this {
    return this.emit(stmt(BPF_RET | BPF_A));
  }

  /**
   * Resolves labels into the final program.
   *
   * Layout is iterated to a fixed point: a conditional branch whose target is more than
   * 255 instructions ahead is marked far and gets a `ja` slot right after the jump, which
   * moves later code and may push other branches over the limit in turn. Marks are only
   * ever added, so the loop ends after at most two passes per conditional jump.
   */
  assemble(): Instruction[] {
    const items = this.items;
    const farT = new Uint8Array(items.length);
    const farF = new Uint8Array(items.length);
    const itemPos = new Array<number>(items.length).fill(0);
    const labelPos = new Map<string, number>();
    let total = 0;

    const resolve = (name: string, from: number): number => {
      const t = labelPos.get(name);
      if (t === undefined) throw new BpfError(`jump to undefined label "${name}"`);
      if (t < from) throw new BpfError(`backward jump to label "${name}" (classic BPF jumps forward only)`);
      if (t >= total) throw new BpfError(`jump to label "${name}", which has no instruction after it`);
      return t;
    };

    for (;;) {
      let pos = 0;
      labelPos.clear();
      items.forEach((item, i) => {
        itemPos[i] = pos;
        if (item.kind === "label") labelPos.set(item.name, pos);
        else if (item.kind === "jcond") pos += 1 + (farT[i] ?? 0) + (farF[i] ?? 0);
        else pos += 1;
      });
      total = pos;

      let changed = false;
      items.forEach((item, i) => {
        if (item.kind !== "jcond") return;
        const base = (itemPos[i] ?? 0) + 1;
        if (item.jt !== undefined && farT[i] === 0 && resolve(item.jt, base) - base > BPF_MAX_COND_JUMP) {
          farT[i] = 1;
          changed = true;
        }
        if (item.jf !== undefined && farF[i] === 0 && resolve(item.jf, base) - base > BPF_MAX_COND_JUMP) {
          farF[i] = 1;
          changed = true;
        }
      });
      if (!changed) break;
    }

    if (total === 0) throw new BpfError("empty program");
    if (total > BPF_MAXINSNS) {
      throw new BpfError(`program has ${total} instructions; the kernel accepts at most BPF_MAXINSNS = ${BPF_MAXINSNS}`);
    }

    const out: Instruction[] = [];
    items.forEach((item, i) => {
      const p = itemPos[i] ?? 0;
      switch (item.kind) {
        case "label":
          return;
        case "insn":
          out.push(item.insn);
          return;
        case "ja":
          out.push(stmt(BPF_JMP | BPF_JA, resolve(item.target, p + 1) - (p + 1)));
          return;
        case "jcond": {
          const base = p + 1;
          const slots: string[] = [];
          const offset = (target: Target, far: boolean): number => {
            if (far && target !== undefined) {
              slots.push(target);
              return slots.length - 1;
            }
            return target === undefined ? -1 : resolve(target, base) - base;
          };
          const isFarT = farT[i] === 1;
          const isFarF = farF[i] === 1;
          const nslots = (isFarT ? 1 : 0) + (isFarF ? 1 : 0);
          let jt = offset(item.jt, isFarT);
          let jf = offset(item.jf, isFarF);
          // Fall-through skips this jump's trampolines.
          if (jt === -1) jt = nslots;
          if (jf === -1) jf = nslots;
          out.push({ code: item.code, jt, jf, k: item.k });
          slots.forEach((target, s) => {
            const at = base + s;
            out.push(stmt(BPF_JMP | BPF_JA, resolve(target, at + 1) - (at + 1)));
          });
          return;
        }
      }
    });
    return out;
  }
}

/** Encodes a program as an array of struct sock_filter, little-endian (x86_64 host order). */
export function encode(program: readonly Instruction[]): Uint8Array {
  const bytes = new Uint8Array(program.length * SOCK_FILTER_SIZE);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, pc) => {
    const { code, jt, jf, k } = insn;
    if (!Number.isInteger(code) || code < 0 || code > 0xffff) throw new BpfError(`code ${code} is not a u16`, pc);
    if (!Number.isInteger(jt) || jt < 0 || jt > 0xff) throw new BpfError(`jt ${jt} is not a u8`, pc);
    if (!Number.isInteger(jf) || jf < 0 || jf > 0xff) throw new BpfError(`jf ${jf} is not a u8`, pc);
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new BpfError(`k ${k} is not a u32`, pc);
    const off = pc * SOCK_FILTER_SIZE;
    view.setUint16(off, code, true);
    view.setUint8(off + 2, jt);
    view.setUint8(off + 3, jf);
    view.setUint32(off + 4, k, true);
  });
  return bytes;
}

/** Decodes an array of struct sock_filter (little-endian). */
export function decode(bytes: Uint8Array): Instruction[] {
  if (bytes.length % SOCK_FILTER_SIZE !== 0) {
    throw new BpfError(`${bytes.length} bytes is not a whole number of ${SOCK_FILTER_SIZE}-byte instructions`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  for (let off = 0; off < bytes.length; off += SOCK_FILTER_SIZE) {
    out.push({
      code: view.getUint16(off, true),
      jt: view.getUint8(off + 2),
      jf: view.getUint8(off + 3),
      k: view.getUint32(off + 4, true),
    });
  }
  return out;
}

/**
 * Number of instructions executed on the longest path from the first instruction to a
 * return. Classic BPF has no backward jumps, so this is a single backward pass.
 */
export function longestPath(program: readonly Instruction[]): number {
  const n = program.length;
  const longest = new Array<number>(n).fill(0);
  const at = (pc: number, target: number): number => {
    const v = target < n ? longest[target] : undefined;
    if (v === undefined) throw new BpfError(`jump to ${target} is outside the program`, pc);
    return v;
  };
  for (let pc = n - 1; pc >= 0; pc--) {
    const insn = program[pc] as Instruction;
    const cls = bpfClass(insn.code);
    if (cls === BPF_RET) longest[pc] = 1;
    else if (cls === BPF_JMP && bpfOp(insn.code) === BPF_JA) longest[pc] = 1 + at(pc, pc + 1 + insn.k);
    else if (cls === BPF_JMP) longest[pc] = 1 + Math.max(at(pc, pc + 1 + insn.jt), at(pc, pc + 1 + insn.jf));
    else longest[pc] = 1 + at(pc, pc + 1);
  }
  return longest[0] ?? 0;
}
