// Unit tests of the classic BPF assembler: encoding, labels, trampolines, disassembly.
import { describe, expect, it } from "vitest";

import {
  Assembler,
  BpfError,
  decode,
  encode,
  jump,
  longestPath,
  stmt,
  type Instruction,
} from "../../../../platform/seccomp/bpf.js";
import {
  AUDIT_ARCH_X86_64,
  BPF_ABS,
  BPF_JA,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_MAXINSNS,
  BPF_RET,
  BPF_W,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_USER_NOTIF,
} from "../../../../platform/seccomp/constants.js";
import { describeReturn, disassemble } from "../../../../platform/seccomp/disasm.js";
import { LoadedFilter, type SeccompData } from "../../../../platform/seccomp/interpreter.js";

const data = (nr: number, args: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n]): SeccompData => ({
  nr,
  arch: AUDIT_ARCH_X86_64,
  ip: 0n,
  args,
});

describe("encode", () => {
  it("lays out struct sock_filter as u16 code, u8 jt, u8 jf, u32 k, little-endian", () => {
    const bytes = encode([
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, 1, 2),
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    ]);
    expect([...bytes]).toEqual([
      0x15, 0x00, 0x01, 0x02, 0x3e, 0x00, 0x00, 0xc0, // jeq #0xc000003e, jt 1, jf 2
      0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x7f, // ret #0x7fff0000
    ]);
  });

  it("encodes a 16-bit code in both bytes", () => {
    expect([...encode([{ code: 0x1234, jt: 0xff, jf: 0, k: 0 }])].slice(0, 4)).toEqual([0x34, 0x12, 0xff, 0x00]);
  });

  it("round-trips through decode", () => {
    const program: Instruction[] = [
      stmt(BPF_LD | BPF_W | BPF_ABS, 4),
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 255, 0),
      stmt(BPF_RET | BPF_K, 0),
    ];
    expect(decode(encode(program))).toEqual(program);
  });

  it("decodes from a view with a byte offset", () => {
    const bytes = new Uint8Array(24);
    bytes.set(encode([stmt(BPF_RET | BPF_K, 7)]), 8);
    expect(decode(bytes.subarray(8, 16))).toEqual([stmt(BPF_RET | BPF_K, 7)]);
  });

  it("rejects fields that do not fit their C types", () => {
    expect(() => encode([{ code: 0x10000, jt: 0, jf: 0, k: 0 }])).toThrow(/u16/);
    expect(() => encode([{ code: 0, jt: 256, jf: 0, k: 0 }])).toThrow(/u8/);
    expect(() => encode([{ code: 0, jt: 0, jf: -1, k: 0 }])).toThrow(/u8/);
    expect(() => encode([{ code: 0, jt: 0, jf: 0, k: 2 ** 32 }])).toThrow(/u32/);
    expect(() => encode([{ code: 0, jt: 0, jf: 0, k: 1.5 }])).toThrow(/u32/);
    expect(() => decode(new Uint8Array(9))).toThrow(BpfError);
  });

  it("stmt and jump reject a k outside u32", () => {
    expect(() => stmt(BPF_RET | BPF_K, -1)).toThrow(RangeError);
    expect(() => jump(BPF_JMP | BPF_JEQ, 2 ** 32, 0, 0)).toThrow(RangeError);
  });
});

describe("Assembler labels", () => {
  it("resolves forward labels into relative offsets", () => {
    const asm = new Assembler();
    asm
      .ldNr()
      .jeq(59, "execve", undefined) // 1: jt → 4, jf → 2
      .jeq(60, "exit", "deny") // 2: jt → 5, jf → 3
      .label("deny")
      .ret(SECCOMP_RET_ERRNO | 1) // 3
      .label("execve")
      .ret(SECCOMP_RET_USER_NOTIF) // 4
      .label("exit")
      .ret(SECCOMP_RET_ALLOW); // 5
    const p = asm.assemble();
    expect(p).toHaveLength(6);
    expect(p[1]).toEqual({ code: BPF_JMP | BPF_JEQ | BPF_K, jt: 2, jf: 0, k: 59 });
    expect(p[2]).toEqual({ code: BPF_JMP | BPF_JEQ | BPF_K, jt: 2, jf: 0, k: 60 });
  });

  it("resolves ja into a k offset", () => {
    const p = new Assembler().ja("end").ret(1).ret(2).label("end").ret(3).assemble();
    expect(p[0]).toEqual({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: 2 });
  });

  it("allows several labels at one place and unreferenced labels", () => {
    const p = new Assembler().jeq(1, "a", "b").label("a").label("b").label("unused").ret(0).assemble();
    expect(p[0]).toMatchObject({ jt: 0, jf: 0 });
  });

  it("generates unique label names", () => {
    const asm = new Assembler();
    const names = new Set(Array.from({ length: 100 }, () => asm.newLabel("x")));
    expect(names.size).toBe(100);
  });

  it("rejects undefined, duplicate, backward and dangling labels", () => {
    expect(() => new Assembler().jeq(1, "nowhere").ret(0).assemble()).toThrow(/undefined label "nowhere"/);
    expect(() => new Assembler().label("a").label("a")).toThrow(/defined twice/);
    expect(() => new Assembler().label("top").ret(0).ja("top").assemble()).toThrow(/backward/);
    expect(() => new Assembler().ret(0).label("self").jeq(1, "self").ret(0).assemble()).toThrow(/backward/);
    expect(() => new Assembler().jeq(1, "end").ret(0).label("end").assemble()).toThrow(/no instruction after it/);
  });

  it("rejects an empty program and one longer than BPF_MAXINSNS", () => {
    expect(() => new Assembler().assemble()).toThrow(/empty/);
    const ok = new Assembler();
    for (let i = 0; i < BPF_MAXINSNS; i++) ok.ret(0);
    expect(ok.assemble()).toHaveLength(BPF_MAXINSNS);
    const tooLong = new Assembler();
    for (let i = 0; i <= BPF_MAXINSNS; i++) tooLong.ret(0);
    expect(() => tooLong.assemble()).toThrow(/4097 instructions.*BPF_MAXINSNS = 4096/);
  });

  it("rejects out-of-range scratch memory indexes", () => {
    expect(() => new Assembler().st(16)).toThrow(RangeError);
    expect(() => new Assembler().ldMem(-1)).toThrow(RangeError);
  });
});

/** A program `jeq #k, far, near` with `gap` filler instructions between the jump and far. */
function farProgram(gap: number, farBranch: "jt" | "jf" | "both"): Instruction[] {
  const asm = new Assembler();
  asm.ldNr();
  if (farBranch === "jt") asm.jeq(1, "far", undefined);
  else if (farBranch === "jf") asm.jeq(1, undefined, "far");
  else asm.jeq(1, "far", "far2");
  asm.ret(SECCOMP_RET_ERRNO | 1); // near target (fall-through)
  for (let i = 1; i < gap; i++) asm.ret(SECCOMP_RET_ERRNO | 2);
  asm.label("far").ret(SECCOMP_RET_ALLOW);
  asm.label("far2").ret(SECCOMP_RET_USER_NOTIF);
  return asm.assemble();
}

describe("Assembler long jumps", () => {
  it("encodes a distance of exactly 255 directly", () => {
    const p = farProgram(255, "jt");
    expect(p[1]).toMatchObject({ jt: 255, jf: 0 });
    expect(p).toHaveLength(2 + 255 + 2);
  });

  it("inserts a ja trampoline for a true branch beyond 255", () => {
    const p = farProgram(256, "jt");
    expect(p).toHaveLength(2 + 1 + 256 + 2);
    expect(p[1]).toMatchObject({ jt: 0, jf: 1 });
    expect(p[2]).toMatchObject({ code: BPF_JMP | BPF_JA, k: 256 });
    const f = new LoadedFilter(p);
    expect(f.run(data(1))).toBe(SECCOMP_RET_ALLOW);
    expect(f.run(data(2))).toBe(SECCOMP_RET_ERRNO | 1);
  });

  it("inserts a trampoline for a false branch beyond 255", () => {
    const p = farProgram(300, "jf");
    expect(p[1]).toMatchObject({ jt: 1, jf: 0 });
    const f = new LoadedFilter(p);
    expect(f.run(data(1))).toBe(SECCOMP_RET_ERRNO | 1);
    expect(f.run(data(2))).toBe(SECCOMP_RET_ALLOW);
  });

  it("inserts two trampolines when both branches are far", () => {
    const p = farProgram(1000, "both");
    expect(p[1]).toMatchObject({ jt: 0, jf: 1 });
    expect(p[2]?.code).toBe(BPF_JMP | BPF_JA);
    expect(p[3]?.code).toBe(BPF_JMP | BPF_JA);
    const f = new LoadedFilter(p);
    expect(f.run(data(1))).toBe(SECCOMP_RET_ALLOW);
    expect(f.run(data(2))).toBe(SECCOMP_RET_USER_NOTIF);
  });

  it("reaches a fixed point when a trampoline pushes an earlier jump over the limit", () => {
    const asm = new Assembler();
    asm.ldNr();
    asm.jeq(1, "a", undefined); // exactly 255 ahead until the next jump grows a trampoline
    asm.jeq(2, "b", undefined); // far from the start
    for (let i = 0; i < 254; i++) asm.ret(SECCOMP_RET_ERRNO | 3);
    asm.label("a").ret(SECCOMP_RET_ALLOW);
    for (let i = 0; i < 10; i++) asm.ret(SECCOMP_RET_ERRNO | 4);
    asm.label("b").ret(SECCOMP_RET_USER_NOTIF);
    const p = asm.assemble();
    expect(p[1]).toMatchObject({ jt: 0, jf: 1 }); // went far in the second pass
    expect(p[3]).toMatchObject({ jt: 0, jf: 1 });
    const f = new LoadedFilter(p);
    expect(f.run(data(1))).toBe(SECCOMP_RET_ALLOW);
    expect(f.run(data(2))).toBe(SECCOMP_RET_USER_NOTIF);
    expect(f.run(data(3))).toBe(SECCOMP_RET_ERRNO | 3);
  });

  it("handles hundreds of far jumps", () => {
    const asm = new Assembler();
    asm.ldNr();
    const n = 300;
    for (let i = 0; i < n; i++) asm.jeq(i, `hit${i}`, undefined);
    asm.ret(SECCOMP_RET_ERRNO | 1);
    for (let i = 0; i < n; i++) asm.label(`hit${i}`).ret(SECCOMP_RET_ERRNO | (100 + i));
    const p = asm.assemble();
    for (const insn of p) expect(insn.jt <= 255 && insn.jf <= 255).toBe(true);
    const f = new LoadedFilter(p);
    for (let i = 0; i < n; i++) expect(f.run(data(i))).toBe(SECCOMP_RET_ERRNO | (100 + i));
    expect(f.run(data(n))).toBe(SECCOMP_RET_ERRNO | 1);
  });

  it("counts trampolines against BPF_MAXINSNS", () => {
    const asm = new Assembler();
    asm.jeq(0, "far", undefined);
    for (let i = 0; i < BPF_MAXINSNS - 2; i++) asm.ret(0);
    asm.label("far").ret(1); // 4096 without the trampoline, 4097 with it
    expect(() => asm.assemble()).toThrow(/4097 instructions/);
  });
});

describe("disassemble", () => {
  it("prints absolute jump targets and seccomp return names", () => {
    const asm = new Assembler();
    asm.ldArch().jeq(AUDIT_ARCH_X86_64, undefined, "kill");
    asm.ldNr().jeq(0x3b, "notify", undefined).jge(0x100, "deny", undefined);
    asm.ldArgHi(2).and(0xff).jset(1, "deny", "allow");
    asm.label("kill").ret(SECCOMP_RET_KILL_PROCESS);
    asm.label("notify").ret(SECCOMP_RET_USER_NOTIF);
    asm.label("deny").ret(SECCOMP_RET_ERRNO | 1);
    asm.label("allow").ret(SECCOMP_RET_ALLOW);
    expect(disassemble(asm.assemble())).toEqual([
      "0000: ld [4] ; arch",
      "0001: jeq #0xc000003e, L0002, L0008",
      "0002: ld [0] ; nr",
      "0003: jeq #0x3b, L0009, L0004",
      "0004: jge #0x100, L0010, L0005",
      "0005: ld [36] ; args[2].hi",
      "0006: and #0xff",
      "0007: jset #0x1, L0010, L0011",
      "0008: ret KILL_PROCESS",
      "0009: ret USER_NOTIF",
      "0010: ret ERRNO(1)",
      "0011: ret ALLOW",
    ]);
  });

  it("prints every seccomp instruction class", () => {
    const asm = new Assembler();
    asm.ldLen().ldxLen().ldImm(5).ldxImm(6).st(1).stx(2).ldMem(1).ldxMem(2);
    asm.alu("add", 1).aluX("sub").alu("lsh", 3).neg().tax().txa();
    asm.jmpX("jgt", "a", undefined).label("a").ja("b").label("b").retA();
    expect(disassemble(asm.assemble()).map((l) => l.slice(6))).toEqual([
      "ld #len",
      "ldx #len",
      "ld #0x5",
      "ldx #0x6",
      "st M[1]",
      "stx M[2]",
      "ld M[1]",
      "ldx M[2]",
      "add #0x1",
      "sub x",
      "lsh #0x3",
      "neg",
      "tax",
      "txa",
      "jgt x, L0015, L0015",
      "ja L0016",
      "ret a",
    ]);
  });

  it("shows unknown opcodes raw", () => {
    expect(disassemble([{ code: 0x30, jt: 0, jf: 0, k: 1 }])).toEqual(["0000: .insn code=0x0030 jt=0 jf=0 k=0x1"]);
  });

  it("names every return action", () => {
    expect(describeReturn(0)).toBe("KILL_THREAD");
    expect(describeReturn(0x80000000)).toBe("KILL_PROCESS");
    expect(describeReturn(0x00030005)).toBe("TRAP(5)");
    expect(describeReturn(0x00050026)).toBe("ERRNO(38)");
    expect(describeReturn(0x7ff00007)).toBe("TRACE(7)");
    expect(describeReturn(0x7ffc0000)).toBe("LOG");
    expect(describeReturn(0x7fff0000)).toBe("ALLOW");
    expect(describeReturn(0x7fff0001)).toBe("ALLOW|0x1");
    expect(describeReturn(0x12340000)).toBe("#0x12340000");
  });
});

describe("longestPath", () => {
  it("counts the instructions on the longest path to a return", () => {
    const p = new Assembler().ldNr().jeq(1, "short", undefined).ldImm(1).ldImm(2).retA().label("short").ret(0).assemble();
    expect(longestPath(p)).toBe(5);
  });
});
