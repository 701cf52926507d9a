// The fake platform behaves like the real one where sentry tests rely on it: argument views,
// memory faults and bounds, event lifetime, and one recorded reply per scripted event.
import { describe, expect, it } from "vitest";

import { FakeEvent, FakeMemory, FakePlatform } from "../../../../platform/fake/fake.js";
import { ALLOW, KILL, type Reply } from "../../../../platform/platform.js";

// Written out (include/uapi/asm-generic/errno-base.h, errno.h; include/uapi/linux/audit.h).
const ESRCH = 3;
const EFAULT = 14;
const ENAMETOOLONG = 36;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;

const PID = 77;

describe("FakeEvent", () => {
  it("reports pid, nr and the x86_64 arch unless told otherwise", () => {
    const ev = new FakeEvent({ pid: PID, nr: 39 });
    expect([ev.pid, ev.nr, ev.arch]).toEqual([PID, 39, AUDIT_ARCH_X86_64]);
    expect(new FakeEvent({ pid: PID, nr: 1, arch: AUDIT_ARCH_I386 }).arch).toBe(AUDIT_ARCH_I386);
  });

  it("fills missing arguments with 0", () => {
    const ev = new FakeEvent({ pid: PID, nr: 0, args: [5n] });
    expect([0, 1, 2, 3, 4, 5].map((i) => ev.arg(i))).toEqual([5n, 0n, 0n, 0n, 0n, 0n]);
  });

  it.each([
    // value, arg (u64), argInt (low 32 bits, signed), argNum
    [0n, 0n, 0, 0],
    [42n, 42n, 42, 42],
    [-100n, 0xffffffffffffff9cn, -100, 2 ** 64], // argNum is exact only below 2^53
    [0xffffffffn, 0xffffffffn, -1, 0xffffffff],
    [0x1_0000_0007n, 0x1_0000_0007n, 7, 0x1_0000_0007],
    [0x7fff_ffff_f000n, 0x7fff_ffff_f000n, -4096, 0x7fff_ffff_f000],
    [(1n << 64n) + 3n, 3n, 3, 3],
  ])("views %s as arg %s, argInt %s, argNum %s", (value, u64, int, num) => {
    const ev = new FakeEvent({ pid: PID, nr: 0, args: [0n, 0n, value] });
    expect(ev.arg(2)).toBe(u64);
    expect(ev.argInt(2)).toBe(int);
    expect(ev.argNum(2)).toBe(num);
  });

  it("refuses more than six arguments and indexes outside 0..5", () => {
    expect(() => new FakeEvent({ pid: PID, nr: 0, args: [0n, 0n, 0n, 0n, 0n, 0n, 0n] })).toThrow(RangeError);
    const ev = new FakeEvent({ pid: PID, nr: 0 });
    expect(() => ev.arg(6)).toThrow(RangeError);
    expect(() => ev.argInt(-1)).toThrow(RangeError);
  });

  it("cannot be used once expired", () => {
    const ev = new FakeEvent({ pid: PID, nr: 2, args: [1n] });
    ev.expire();
    expect(() => ev.pid).toThrow(/after its reply/);
    expect(() => ev.nr).toThrow(/after its reply/);
    expect(() => ev.arg(0)).toThrow(/after its reply/);
    expect(() => ev.argNum(0)).toThrow(/after its reply/);
  });
});

describe("FakeMemory", () => {
  it("reads back what was poked", () => {
    const m = new FakeMemory(PID);
    m.poke(0x1000, new Uint8Array([1, 2, 3, 4]));
    expect(m.read(PID, 0x1001, 2)).toEqual(new Uint8Array([2, 3]));
    expect(m.read(PID, 0x1000, 0)).toEqual(new Uint8Array(0));
  });

  it("faults on a read that touches an unmapped byte", () => {
    const m = new FakeMemory(PID);
    m.poke(0x1000, new Uint8Array([1, 2, 3, 4]));
    expect(m.read(PID, 0x2000, 1)).toBe(EFAULT);
    expect(m.read(PID, 0x1002, 3)).toBe(EFAULT);
    expect(m.read(PID, 0xfff, 2)).toBe(EFAULT);
  });

  it("reads strings up to their NUL", () => {
    const m = new FakeMemory(PID);
    m.pokeString(0x5000, "/etc/passwd");
    m.pokeString(0x6000, "héllo");
    expect(m.readString(PID, 0x5000, 4096)).toBe("/etc/passwd");
    expect(m.readString(PID, 0x5005, 4096)).toBe("passwd");
    expect(m.readString(PID, 0x6000, 4096)).toBe("héllo");
  });

  it("counts the NUL in max, like the native reader: a string of max bytes is too long", () => {
    const m = new FakeMemory(PID);
    m.pokeString(0x5000, "abcd");
    expect(m.readString(PID, 0x5000, 5)).toBe("abcd");
    expect(m.readString(PID, 0x5000, 4)).toBe(ENAMETOOLONG);
    expect(m.readString(PID, 0x5000, 1)).toBe(ENAMETOOLONG);
  });

  it("faults on a string that runs into unmapped memory, and on NULL", () => {
    const m = new FakeMemory(PID);
    m.poke(0x5000, new TextEncoder().encode("no terminator"));
    expect(m.readString(PID, 0x5000, 4096)).toBe(EFAULT);
    expect(m.readString(PID, 0x9000, 4096)).toBe(EFAULT);
    m.poke(0, new Uint8Array([0x61, 0]));
    expect(m.readString(PID, 0, 4096)).toBe(EFAULT);
  });

  it("writes only to mapped memory, all or nothing", () => {
    const m = new FakeMemory(PID);
    m.poke(0x1000, new Uint8Array(4));
    expect(m.write(PID, 0x1000, new Uint8Array([9, 8]))).toBe(0);
    expect(m.read(PID, 0x1000, 4)).toEqual(new Uint8Array([9, 8, 0, 0]));
    expect(m.write(PID, 0x1002, new Uint8Array([7, 7, 7]))).toBe(EFAULT);
    expect(m.read(PID, 0x1000, 4)).toEqual(new Uint8Array([9, 8, 0, 0]));
  });

  it("unmaps", () => {
    const m = new FakeMemory(PID);
    m.poke(0x1000, new Uint8Array([1, 2, 3]));
    m.unmap(0x1001, 1);
    expect(m.read(PID, 0x1000, 1)).toEqual(new Uint8Array([1]));
    expect(m.read(PID, 0x1000, 3)).toBe(EFAULT);
  });

  it("answers ESRCH for another task", () => {
    const m = new FakeMemory(PID);
    m.pokeString(0x1000, "x");
    expect(m.readString(PID + 1, 0x1000, 10)).toBe(ESRCH);
    expect(m.read(PID + 1, 0x1000, 1)).toBe(ESRCH);
    expect(m.write(PID + 1, 0x1000, new Uint8Array([1]))).toBe(ESRCH);
  });

  it("counts every access", () => {
    const m = new FakeMemory(PID);
    m.readString(PID, 0x1000, 10);
    m.read(PID, 0x1000, 1);
    m.write(PID, 0x1000, new Uint8Array(1));
    expect(m.accesses).toBe(3);
  });
});

describe("FakePlatform", () => {
  it("delivers each scripted event once, in order, and records each reply", () => {
    const p = new FakePlatform([
      { pid: 1, nr: 39 },
      { pid: 2, nr: 62, args: [5n, 9n] },
      { pid: 3, nr: 1000 },
    ]);
    const seen: string[] = [];
    const answers: Reply[] = [ALLOW, { kind: "errno", errno: 3 }, KILL];
    const replies = p.run((ev) => {
      seen.push(`${ev.pid}:${ev.nr}:${ev.arg(1)}`);
      return answers[seen.length - 1] as Reply;
    });
    expect(seen).toEqual(["1:39:0", "2:62:9", "3:1000:0"]);
    expect(replies).toEqual(answers);
    expect(p.log.map((x) => [x.event.nr, x.reply])).toEqual([
      [39, ALLOW],
      [62, { kind: "errno", errno: 3 }],
      [1000, KILL],
    ]);
  });

  it("expires each event once it is answered", () => {
    const kept: { arg(i: number): bigint }[] = [];
    new FakePlatform([{ pid: 1, nr: 0 }]).run((ev) => {
      kept.push(ev);
      return ALLOW;
    });
    expect(() => kept[0]?.arg(0)).toThrow(/after its reply/);
  });

  it("replays an empty script to no replies", () => {
    expect(new FakePlatform([]).run(() => KILL)).toEqual([]);
  });
});
