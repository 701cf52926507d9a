// Unit tests of the classic BPF interpreter and of its copy of the kernel's load-time checks.
import { describe, expect, it } from "vitest";

import { Assembler, BpfError, jump, stmt, type Instruction } from "../../../../platform/seccomp/bpf.js";
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
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
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
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
  SECCOMP_RET_ALLOW,
} from "../../../../platform/seccomp/constants.js";
import {
  LoadedFilter,
  checkFilter,
  runFilter,
  seccompDataBytes,
  type SeccompData,
} from "../../../../platform/seccomp/interpreter.js";

const DATA: SeccompData = {
  nr: 59,
  arch: AUDIT_ARCH_X86_64,
  ip: 0x0000_7fff_1234_5678n,
  args: [
    0x1111_2222_3333_4444n,
    0xffff_ffff_ffff_ffffn,
    0n,
    0x8000_0000_0000_0001n,
    0x0000_0001_0000_0000n,
    0x0000_0000_ffff_ffffn,
  ],
};

const ld = (k: number): Instruction => stmt(BPF_LD | BPF_W | BPF_ABS, k);
const retA = stmt(BPF_RET | BPF_A);
const retK = (k: number): Instruction => stmt(BPF_RET | BPF_K, k);

/** Runs `body` then `ret A`. */
function evalA(body: Instruction[], data: SeccompData = DATA): number {
  return runFilter([...body, retA], data);
}

describe("seccomp_data layout", () => {
  it("matches struct seccomp_data, little-endian", () => {
    const b = seccompDataBytes({ ...DATA, nr: -1 });
    expect(b).toHaveLength(64);
    expect([...b.subarray(0, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect([...b.subarray(4, 8)]).toEqual([0x3e, 0x00, 0x00, 0xc0]);
    expect([...b.subarray(8, 16)]).toEqual([0x78, 0x56, 0x34, 0x12, 0xff, 0x7f, 0x00, 0x00]);
    expect([...b.subarray(16, 24)]).toEqual([0x44, 0x44, 0x33, 0x33, 0x22, 0x22, 0x11, 0x11]);
  });

  it("requires six arguments and reduces them modulo 2^64", () => {
    expect(() => seccompDataBytes({ ...DATA, args: [0n] })).toThrow(RangeError);
    expect(evalA([ld(16 + 4)], { ...DATA, args: [-1n, 0n, 0n, 0n, 0n, 0n] })).toBe(0xffffffff);
  });
});

describe("loads", () => {
  it("LD W ABS reads every seccomp_data word", () => {
    expect(evalA([ld(0)])).toBe(59);
    expect(evalA([ld(4)])).toBe(AUDIT_ARCH_X86_64);
    expect(evalA([ld(8)])).toBe(0x12345678);
    expect(evalA([ld(12)])).toBe(0x00007fff);
    expect(evalA([ld(16)])).toBe(0x33334444);
    expect(evalA([ld(20)])).toBe(0x11112222);
    expect(evalA([ld(24)])).toBe(0xffffffff);
    expect(evalA([ld(40)])).toBe(1); // args[3].lo
    expect(evalA([ld(44)])).toBe(0x80000000); // args[3].hi
    expect(evalA([ld(48)])).toBe(0); // args[4].lo
    expect(evalA([ld(52)])).toBe(1); // args[4].hi
    expect(evalA([ld(60)])).toBe(0); // args[5].hi, the last word
    expect(evalA([ld(0)], { ...DATA, nr: -1 })).toBe(0xffffffff);
  });

  it("LD/LDX W LEN give sizeof(struct seccomp_data)", () => {
    expect(evalA([stmt(BPF_LD | BPF_W | BPF_LEN)])).toBe(64);
    expect(evalA([stmt(BPF_LDX | BPF_W | BPF_LEN), stmt(BPF_MISC | BPF_TXA)])).toBe(64);
  });

  it("LD/LDX IMM and TAX/TXA move values between A and X", () => {
    expect(evalA([stmt(BPF_LD | BPF_IMM, 0xdeadbeef)])).toBe(0xdeadbeef);
    expect(evalA([stmt(BPF_LDX | BPF_IMM, 7), stmt(BPF_MISC | BPF_TXA)])).toBe(7);
    expect(evalA([stmt(BPF_LD | BPF_IMM, 9), stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_IMM, 0), stmt(BPF_MISC | BPF_TXA)])).toBe(9);
  });

  it("A and X start at zero", () => {
    expect(runFilter([retA], DATA)).toBe(0);
    expect(evalA([stmt(BPF_MISC | BPF_TXA)])).toBe(0);
  });

  it("ST/STX store to and LD/LDX MEM load from scratch memory", () => {
    expect(
      evalA([
        stmt(BPF_LD | BPF_IMM, 11),
        stmt(BPF_ST, 0),
        stmt(BPF_LDX | BPF_IMM, 22),
        stmt(BPF_STX, 15),
        stmt(BPF_LD | BPF_IMM, 0),
        stmt(BPF_LDX | BPF_MEM, 0), // X = 11
        stmt(BPF_LD | BPF_MEM, 15), // A = 22
        stmt(BPF_ALU | BPF_ADD | BPF_X), // A = 33
      ]),
    ).toBe(33);
  });
});

describe("ALU", () => {
  const withK = (a: number, op: number, k: number): number =>
    evalA([stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_K, k)]);
  const withX = (a: number, op: number, x: number): number =>
    evalA([stmt(BPF_LDX | BPF_IMM, x), stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_X)]);

  const cases: Array<[string, number, number, number, number]> = [
    ["add", BPF_ADD, 5, 7, 12],
    ["add wraps", BPF_ADD, 0xffffffff, 2, 1],
    ["sub", BPF_SUB, 7, 5, 2],
    ["sub wraps", BPF_SUB, 5, 7, 0xfffffffe],
    ["mul", BPF_MUL, 6, 7, 42],
    ["mul wraps", BPF_MUL, 0x10000, 0x10001, 0x10000],
    ["mul large", BPF_MUL, 0xffffffff, 0xffffffff, 1],
    ["div", BPF_DIV, 100, 7, 14],
    ["div unsigned", BPF_DIV, 0xffffffff, 2, 0x7fffffff],
    ["and", BPF_AND, 0xf0f0f0f0, 0xff00ff00, 0xf000f000],
    ["or", BPF_OR, 0xf0000000, 0x0000000f, 0xf000000f],
    ["xor", BPF_XOR, 0xffffffff, 0x0f0f0f0f, 0xf0f0f0f0],
    ["lsh", BPF_LSH, 0x80000001, 1, 2],
    ["lsh 31", BPF_LSH, 1, 31, 0x80000000],
    ["rsh is logical", BPF_RSH, 0x80000000, 31, 1],
  ];
  for (const [name, op, a, v, want] of cases) {
    it(`${name} with K and X`, () => {
      expect(withK(a, op, v)).toBe(want);
      expect(withX(a, op, v)).toBe(want);
    });
  }

  it("shifts by X use only the low five bits of X", () => {
    expect(withX(1, BPF_LSH, 33)).toBe(2);
    expect(withX(0x80000000, BPF_RSH, 32)).toBe(0x80000000);
  });

  it("NEG negates modulo 2^32", () => {
    expect(evalA([stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ALU | BPF_NEG)])).toBe(0xffffffff);
    expect(evalA([stmt(BPF_LD | BPF_IMM, 0), stmt(BPF_ALU | BPF_NEG)])).toBe(0);
  });

  it("division by X == 0 ends the program returning 0 (KILL_THREAD)", () => {
    const p = [stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_DIV | BPF_X), retK(SECCOMP_RET_ALLOW)];
    expect(new LoadedFilter(p).exec(DATA)).toEqual({ value: 0, executed: 2 });
  });
});

describe("jumps", () => {
  /** 1 if the jump `op` with A = a and operand v is taken, else 0, for both sources. */
  const taken = (op: number, a: number, v: number): number => {
    const k = runFilter([stmt(BPF_LD | BPF_IMM, a), jump(BPF_JMP | op | BPF_K, v, 1, 0), retK(0), retK(1)], DATA);
    const x = runFilter(
      [stmt(BPF_LDX | BPF_IMM, v), stmt(BPF_LD | BPF_IMM, a), jump(BPF_JMP | op | BPF_X, 0, 1, 0), retK(0), retK(1)],
      DATA,
    );
    expect(x).toBe(k);
    return k;
  };

  it("JEQ", () => {
    expect(taken(BPF_JEQ, 5, 5)).toBe(1);
    expect(taken(BPF_JEQ, 5, 6)).toBe(0);
    expect(taken(BPF_JEQ, 0xffffffff, 0xffffffff)).toBe(1);
  });

  it("JGT compares unsigned", () => {
    expect(taken(BPF_JGT, 6, 5)).toBe(1);
    expect(taken(BPF_JGT, 5, 5)).toBe(0);
    expect(taken(BPF_JGT, 0x80000000, 0x7fffffff)).toBe(1);
    expect(taken(BPF_JGT, 0x7fffffff, 0x80000000)).toBe(0);
  });

  it("JGE compares unsigned", () => {
    expect(taken(BPF_JGE, 5, 5)).toBe(1);
    expect(taken(BPF_JGE, 4, 5)).toBe(0);
    expect(taken(BPF_JGE, 0xffffffff, 0)).toBe(1);
  });

  it("JSET tests any common bit", () => {
    expect(taken(BPF_JSET, 0b1010, 0b0010)).toBe(1);
    expect(taken(BPF_JSET, 0b1010, 0b0101)).toBe(0);
    expect(taken(BPF_JSET, 0x80000000, 0x80000000)).toBe(1);
  });

  it("JA skips k instructions; jt and jf are relative to the next instruction", () => {
    const p = [stmt(BPF_JMP | BPF_JA, 2), retK(1), retK(2), retK(3)];
    expect(runFilter(p, DATA)).toBe(3);
    const q = [ld(0), jump(BPF_JMP | BPF_JEQ | BPF_K, 59, 2, 1), retK(1), retK(2), retK(3)];
    expect(runFilter(q, DATA)).toBe(3);
    expect(runFilter(q, { ...DATA, nr: 0 })).toBe(2);
  });

  it("counts executed instructions", () => {
    const p = [ld(4), jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 1), retK(SECCOMP_RET_ALLOW), retK(0)];
    const f = new LoadedFilter(p);
    expect(f.exec(DATA)).toEqual({ value: SECCOMP_RET_ALLOW, executed: 3 });
    expect(f.exec({ ...DATA, arch: AUDIT_ARCH_I386 })).toEqual({ value: 0, executed: 3 });
  });
});

describe("returns", () => {
  it("RET K returns k and RET A returns A", () => {
    expect(runFilter([retK(0x7fff0000)], DATA)).toBe(0x7fff0000);
    expect(runFilter([retK(0x80000000)], DATA)).toBe(0x80000000);
    expect(evalA([ld(4)])).toBe(AUDIT_ARCH_X86_64);
  });
});

describe("checkFilter rejects what the kernel rejects", () => {
  const rejects = (program: Instruction[], pattern: RegExp): void => {
    expect(() => checkFilter(program)).toThrow(BpfError);
    expect(() => checkFilter(program)).toThrow(pattern);
    expect(() => new LoadedFilter(program)).toThrow(pattern);
  };

  it("accepts programs built by the assembler", () => {
    expect(() => checkFilter(new Assembler().ldNr().jeq(1, "a", undefined).ret(0).label("a").ret(1).assemble())).not.toThrow();
  });

  it("empty and oversized programs", () => {
    rejects([], /empty/);
    rejects(new Array<Instruction>(BPF_MAXINSNS + 1).fill(retK(0)), /4097/);
    expect(() => checkFilter(new Array<Instruction>(BPF_MAXINSNS).fill(retK(0)))).not.toThrow();
  });

  it("jumps out of range", () => {
    rejects([stmt(BPF_JMP | BPF_JA, 1), retK(0)], /ja \+1/);
    rejects([stmt(BPF_JMP | BPF_JA, 0xffffffff), retK(0)], /outside/);
    rejects([jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), retK(0)], /outside/);
    rejects([jump(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1), retK(0)], /outside/);
    // The last instruction cannot be a jump (nor anything but a return).
    rejects([retK(0), stmt(BPF_JMP | BPF_JA, 0)], /outside|return/);
  });

  it("unknown opcodes and classic opcodes seccomp does not accept", () => {
    rejects([{ code: 0xffff, jt: 0, jf: 0, k: 0 }, retK(0)], /opcode 0xffff/);
    rejects([stmt(BPF_LD | BPF_H | BPF_ABS, 0), retK(0)], /opcode 0x28/);
    rejects([stmt(BPF_LD | BPF_B | BPF_ABS, 0), retK(0)], /opcode 0x30/);
    rejects([stmt(BPF_LD | BPF_W | BPF_IND, 0), retK(0)], /opcode 0x40/);
    rejects([stmt(BPF_LDX | BPF_B | BPF_MSH, 0), retK(0)], /opcode 0xb1/);
    rejects([stmt(BPF_RET | BPF_X), retK(0)], /opcode 0x0e/);
    rejects([stmt(BPF_ALU | BPF_MOD | BPF_K, 3), retK(0)], /BPF_MOD/);
    rejects([stmt(BPF_ALU | BPF_MOD | BPF_X), retK(0)], /BPF_MOD/);
    rejects([stmt(BPF_ALU | BPF_NEG | BPF_X), retK(0)], /opcode 0x8c/);
  });

  it("loads outside seccomp_data or misaligned", () => {
    rejects([ld(64), retA], /outside struct seccomp_data/);
    rejects([ld(2), retA], /not 32-bit aligned/);
    rejects([ld(0xfffff000), retA], /outside/); // an SKF_AD_* ancillary load
  });

  it("no final return", () => {
    rejects([ld(0)], /last instruction must be a return/);
    rejects([retK(0), ld(0)], /last instruction must be a return/);
  });

  it("constant division by zero, shifts of 32 or more, scratch index past 15", () => {
    rejects([stmt(BPF_ALU | BPF_DIV | BPF_K, 0), retA], /division by constant zero/);
    rejects([stmt(BPF_ALU | BPF_LSH | BPF_K, 32), retA], /shift by 32/);
    rejects([stmt(BPF_ALU | BPF_RSH | BPF_K, 40), retA], /shift by 40/);
    rejects([stmt(BPF_ST, 16), retA], /scratch memory index 16/);
    rejects([stmt(BPF_LDX | BPF_MEM, 16), retA], /scratch memory index 16/);
  });

  it("loads from scratch memory not stored on every path", () => {
    rejects([stmt(BPF_LD | BPF_MEM, 0), retA], /M\[0\] is loaded before/);
    rejects([stmt(BPF_ST, 1), stmt(BPF_LDX | BPF_MEM, 0), retA], /M\[0\]/);
    // Stored only on the fall-through path of a jump that skips the store.
    rejects(
      [ld(0), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), stmt(BPF_ST, 3), stmt(BPF_LD | BPF_MEM, 3), retA],
      /M\[3\]/,
    );
    // Stored before the branch: fine on both paths.
    expect(() =>
      checkFilter([stmt(BPF_ST, 3), ld(0), jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), ld(4), stmt(BPF_LD | BPF_MEM, 3), retA]),
    ).not.toThrow();
  });

  it("malformed field values", () => {
    rejects([{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: -1 }], /malformed/);
    rejects([{ code: BPF_RET | BPF_K, jt: 300, jf: 0, k: 0 }], /malformed/);
  });

  it("names the failing instruction", () => {
    try {
      checkFilter([ld(0), ld(3), retA]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BpfError);
      expect((e as BpfError).pc).toBe(1);
      expect((e as BpfError).message).toMatch(/^instruction 1: /);
    }
  });
});
