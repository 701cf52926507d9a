// Tests of the filter compiler: compiled programs run through the interpreter and are compared
// with a direct evaluation of the spec, on fixed tables and on seeded random specs.
import { describe, expect, it } from "vitest";

import { decode } from "../../../../platform/seccomp/bpf.js";
import { disassemble } from "../../../../platform/seccomp/disasm.js";
import {
  compileFilter,
  compileFilterBytes,
  filterStats,
  type BpfAction,
  type BpfArgCondition,
  type BpfArgRule,
  type BpfRuleSet,
  type FilterSpec,
} from "../../../../platform/seccomp/compile.js";
import { LoadedFilter, type SeccompData } from "../../../../platform/seccomp/interpreter.js";
import type { ArgRule, FilterAction } from "../../../../sentry/syscalls/syscall.js";
import { SYSCALLS_AMD64, sysnoByName } from "../../../../platform/abi/sysno_amd64.js";

// Return values written out literally (include/uapi/linux/seccomp.h), independent of the
// constants module under test.
const KILL_PROCESS = 0x80000000;
const ALLOW = 0x7fff0000;
const USER_NOTIF = 0x7fc00000;
const LOG = 0x7ffc0000;
const ERRNO = (e: number): number => 0x00050000 | e;
const ARCH_X86_64 = 0xc000003e;
const ARCH_I386 = 0x40000003;

const EPERM = 1;
const EACCES = 13;
const EINVAL = 22;
const ENOSYS = 38;

const allow: BpfAction = { kind: "allow" };
const trap: BpfAction = { kind: "trap" };
const kill: BpfAction = { kind: "kill" };
const log: BpfAction = { kind: "log" };
const errno = (e: number): BpfAction => ({ kind: "errno", errno: e });

const ZERO_ARGS = [0n, 0n, 0n, 0n, 0n, 0n];
const call = (nr: number, args: readonly bigint[] = ZERO_ARGS, arch = ARCH_X86_64): SeccompData => ({
  nr,
  arch,
  ip: 0x401000n,
  args,
});
const withArg = (nr: number, index: number, value: bigint): SeccompData => {
  const args = [...ZERO_ARGS];
  args[index] = value;
  return call(nr, args);
};

// ------------------------------------------------------------------------------------------
// The reference: the spec's meaning, evaluated directly on 64-bit values.
// ------------------------------------------------------------------------------------------

function refReturn(a: BpfAction): number {
  switch (a.kind) {
    case "allow":
      return ALLOW;
    case "errno":
      return ERRNO(a.errno);
    case "kill":
      return KILL_PROCESS;
    case "trap":
      return USER_NOTIF;
    case "log":
      return LOG;
  }
}

function refCondition(c: BpfArgCondition, args: readonly bigint[]): boolean {
  const a = BigInt.asUintN(64, args[c.index] ?? 0n);
  switch (c.op) {
    case "eq":
      return a === c.value;
    case "ne":
      return a !== c.value;
    case "lt":
      return a < c.value;
    case "le":
      return a <= c.value;
    case "gt":
      return a > c.value;
    case "ge":
      return a >= c.value;
    case "masked-eq":
      return (a & (c.mask ?? 0n)) === c.value;
    case "masked-ne":
      return (a & (c.mask ?? 0n)) !== c.value;
  }
}

function reference(spec: FilterSpec, d: SeccompData): number {
  if (d.arch >>> 0 !== ARCH_X86_64) return KILL_PROCESS;
  const nr = d.nr >>> 0;
  if (nr >= 0x40000000 && nr !== 0xffffffff) return KILL_PROCESS;
  const entry = spec.syscalls.get(nr);
  if (entry === undefined) return refReturn(spec.defaultAction);
  if (!("rules" in entry)) return refReturn(entry);
  for (const rule of entry.rules) {
    if (rule.when.every((c) => refCondition(c, d.args))) return refReturn(rule.action);
  }
  return refReturn(entry.otherwise);
}

// ------------------------------------------------------------------------------------------
// A small seeded PRNG (mulberry32) so failures reproduce.
// ------------------------------------------------------------------------------------------

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

// ------------------------------------------------------------------------------------------
// Specs
// ------------------------------------------------------------------------------------------

const CLONE_NEWUSER = 0x10000000n;
const CLONE_NAMESPACES = 0x7e020000n; // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
const AF_PACKET = 17n;

function nr(name: string): number {
  const n = sysnoByName(name);
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

/** Something like the default policy: most syscalls allowed, paths trapped, a few denied. */
function realisticSpec(): FilterSpec {
  const trapped = [
    "open", "openat", "openat2", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "execve", "execveat", "connect", "bind", "sendto", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "chdir", "kill", "tgkill", "uname",
  ];
  const denied = [
    "bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root",
  ];
  const syscalls = new Map<number, BpfAction | BpfRuleSet>();
  for (const [n] of SYSCALLS_AMD64) syscalls.set(n, allow);
  for (const name of trapped) syscalls.set(nr(name), trap);
  for (const name of denied) syscalls.set(nr(name), errno(EPERM));
  syscalls.set(nr("ptrace"), errno(EPERM));
  syscalls.set(nr("acct"), kill);
  syscalls.set(nr("syslog"), log);
  syscalls.set(nr("clone"), {
    rules: [{ when: [{ index: 0, op: "masked-eq", mask: CLONE_NEWUSER, value: CLONE_NEWUSER }], action: errno(EPERM) }],
    otherwise: allow,
  });
  syscalls.set(nr("unshare"), {
    rules: [{ when: [{ index: 0, op: "masked-eq", mask: CLONE_NAMESPACES, value: 0n }], action: allow }],
    otherwise: errno(EPERM),
  });
  syscalls.set(nr("socket"), {
    rules: [
      { when: [{ index: 0, op: "eq", value: AF_PACKET }], action: errno(EACCES) },
      { when: [{ index: 0, op: "le", value: 0xffffn }], action: trap },
    ],
    otherwise: errno(EINVAL),
  });
  syscalls.set(nr("personality"), {
    rules: [
      { when: [{ index: 0, op: "eq", value: 0n }], action: allow },
      { when: [{ index: 0, op: "eq", value: 0x0008n }], action: allow },
      { when: [{ index: 0, op: "eq", value: 0xffffffffn }], action: allow },
    ],
    otherwise: errno(EPERM),
  });
  syscalls.set(nr("ioctl"), {
    rules: [
      { when: [{ index: 1, op: "eq", value: 0x5412n }], action: errno(EPERM) }, // TIOCSTI
      { when: [{ index: 1, op: "eq", value: 0x541cn }], action: errno(EPERM) }, // TIOCLINUX
    ],
    otherwise: allow,
  });
  return { defaultAction: errno(ENOSYS), syscalls };
}

/** 470 numbers 0..469, ~350 allowed, the rest a scattered mix: as fragmented as it gets. */
function denseSpec(seed: number): FilterSpec {
  const rng = new Rng(seed);
  const others: Array<BpfAction | BpfRuleSet> = [
    errno(EPERM),
    errno(ENOSYS),
    errno(EACCES),
    trap,
    kill,
    log,
    { rules: [{ when: [{ index: 2, op: "gt", value: 0xffffffffn }], action: errno(EINVAL) }], otherwise: allow },
  ];
  const syscalls = new Map<number, BpfAction | BpfRuleSet>();
  for (let n = 0; n < 470; n++) syscalls.set(n, rng.chance(350 / 470) ? allow : rng.pick(others));
  return { defaultAction: errno(ENOSYS), syscalls };
}

function expectAgreement(spec: FilterSpec, cases: Iterable<SeccompData>): number {
  const filter = new LoadedFilter(compileFilter(spec));
  let n = 0;
  for (const d of cases) {
    const got = filter.run(d);
    const want = reference(spec, d);
    if (got !== want) {
      throw new Error(
        `nr ${d.nr} arch 0x${(d.arch >>> 0).toString(16)} args [${d.args.map((a) => `0x${a.toString(16)}`).join(", ")}]: ` +
          `filter returned 0x${got.toString(16)}, spec says 0x${want.toString(16)}`,
      );
    }
    n++;
  }
  return n;
}

// ------------------------------------------------------------------------------------------

describe("compileFilter: architecture and ABI checks", () => {
  const spec = realisticSpec();
  const filter = new LoadedFilter(compileFilter(spec));

  it("kills a foreign architecture (i386 compat entry) whatever the number", () => {
    for (const n of [0, 1, 59, 0xffffffff]) expect(filter.run(call(n, ZERO_ARGS, ARCH_I386))).toBe(KILL_PROCESS);
    expect(filter.run(call(0, ZERO_ARGS, 0xc00000b7))).toBe(KILL_PROCESS); // aarch64
    expect(filter.run(call(0, ZERO_ARGS, 0))).toBe(KILL_PROCESS);
  });

  it("kills x32 system calls (nr with __X32_SYSCALL_BIT)", () => {
    for (const n of [0x40000000, 0x40000000 | 1, 0x40000000 | 59, 0x40000000 | 512, 0x7fffffff, 0x80000000, -2]) {
      expect(filter.run(call(n))).toBe(KILL_PROCESS);
    }
  });

  it("gives nr -1 the default action, as the kernel answers it with ENOSYS", () => {
    expect(filter.run(call(-1))).toBe(ERRNO(ENOSYS));
  });

  it("begins with the arch and x32 checks", () => {
    expect(disassemble(compileFilter(spec)).slice(0, 6)).toEqual([
      "0000: ld [4] ; arch",
      "0001: jeq #0xc000003e, L0002, L0005",
      "0002: ld [0] ; nr",
      "0003: jge #0x40000000, L0004, L0006",
      "0004: jeq #0xffffffff, L0006, L0005",
      "0005: ret KILL_PROCESS",
    ]);
  });
});

describe("compileFilter: dispatch on the syscall number", () => {
  it("compiles a small spec into a binary search", () => {
    const spec: FilterSpec = {
      defaultAction: errno(ENOSYS),
      syscalls: new Map<number, BpfAction>([
        [0, allow],
        [1, allow],
        [59, trap],
      ]),
    };
    expect(disassemble(compileFilter(spec)).slice(6)).toEqual([
      "0006: jge #0x3b, L0010, L0007",
      "0007: jge #0x2, L0009, L0008",
      "0008: ret ALLOW",
      "0009: ret ERRNO(38)",
      "0010: jge #0x3c, L0012, L0011",
      "0011: ret USER_NOTIF",
      "0012: ret ERRNO(38)",
    ]);
  });

  it("compiles an empty table to the default action", () => {
    const f = new LoadedFilter(compileFilter({ defaultAction: errno(EPERM), syscalls: new Map() }));
    for (const n of [0, 1, 469, 0x3fffffff, -1]) expect(f.run(call(n))).toBe(ERRNO(EPERM));
  });

  for (const [name, make] of [
    ["realistic", realisticSpec],
    ["dense 470-entry", () => denseSpec(1)],
  ] as const) {
    it(`gives every number 0..1023 exactly its action (${name} spec)`, () => {
      const spec = make();
      const filter = new LoadedFilter(compileFilter(spec));
      for (let n = 0; n < 1024; n++) {
        const entry = spec.syscalls.get(n);
        const want =
          entry === undefined ? refReturn(spec.defaultAction) : "rules" in entry ? reference(spec, call(n)) : refReturn(entry);
        expect({ n, ret: filter.run(call(n)) }).toEqual({ n, ret: want });
      }
      expect(filter.run(call(0x3fffffff))).toBe(refReturn(spec.defaultAction));
    });
  }

  it("has the mix the realistic spec is meant to have", () => {
    const stats = filterStats(realisticSpec());
    expect(stats.syscalls.allow).toBeGreaterThan(320);
    expect(stats.syscalls.trap).toBe(29);
    expect(stats.syscalls.args).toBe(5);
    expect(stats.defaultAction).toBe("errno");
  });

  it("stays well under 1000 instructions for a fragmented 470-entry spec", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const spec = denseSpec(seed);
      const stats = filterStats(spec);
      expect(spec.syscalls.size).toBe(470);
      expect(stats.syscalls.allow).toBeGreaterThan(300);
      expect(stats.instructions).toBeLessThan(1000);
    }
  });

  it("costs O(log n) instructions for a plain syscall", () => {
    for (const spec of [realisticSpec(), denseSpec(7)]) {
      const stats = filterStats(spec);
      const filter = new LoadedFilter(compileFilter(spec));
      const depth = Math.ceil(Math.log2(stats.ranges));
      let worst = 0;
      for (const [n, entry] of spec.syscalls) {
        if ("rules" in entry) continue;
        worst = Math.max(worst, filter.exec(call(n)).executed);
      }
      // ld arch, jeq, ld nr, jge x32, the search, a few trampolines near the root, ret.
      expect(worst).toBeLessThanOrEqual(4 + depth + 3 + 1);
      expect(worst).toBeLessThan(20);
    }
    const read = new LoadedFilter(compileFilter(realisticSpec())).exec(call(0));
    expect(read.value).toBe(ALLOW);
    expect(read.executed).toBeLessThan(16);
  });

  it("merges neighbours with the same action, including the default", () => {
    const syscalls = new Map<number, BpfAction>();
    for (let n = 0; n < 300; n++) syscalls.set(n, n < 150 ? allow : errno(ENOSYS));
    const stats = filterStats({ defaultAction: errno(ENOSYS), syscalls });
    expect(stats.ranges).toBe(2);
    expect(stats.instructions).toBe(6 + 3);
  });
});

describe("compileFilter: argument rules", () => {
  it("masked-eq on clone flags", () => {
    const f = new LoadedFilter(compileFilter(realisticSpec()));
    const clone = nr("clone");
    expect(f.run(withArg(clone, 0, 0x01200011n))).toBe(ALLOW); // fork-like clone
    expect(f.run(withArg(clone, 0, 0x003d0f00n))).toBe(ALLOW); // pthread_create
    expect(f.run(withArg(clone, 0, CLONE_NEWUSER))).toBe(ERRNO(EPERM));
    expect(f.run(withArg(clone, 0, CLONE_NEWUSER | 0x11n))).toBe(ERRNO(EPERM));
    expect(f.run(withArg(clone, 0, 0xffffffff_00000000n))).toBe(ALLOW); // high word ignored by the mask
    const unshare = nr("unshare");
    expect(f.run(withArg(unshare, 0, 0x00000200n))).toBe(ALLOW); // CLONE_FS
    expect(f.run(withArg(unshare, 0, 0x20000000n))).toBe(ERRNO(EPERM)); // CLONE_NEWUTS
    expect(f.run(withArg(unshare, 0, 0x1_00000000n))).toBe(ALLOW);
  });

  it("eq compares all 64 bits", () => {
    const f = new LoadedFilter(compileFilter(realisticSpec()));
    const personality = nr("personality");
    expect(f.run(withArg(personality, 0, 0xffffffffn))).toBe(ALLOW);
    expect(f.run(withArg(personality, 0, 0xffffffff_ffffffffn))).toBe(ERRNO(EPERM));
    expect(f.run(withArg(personality, 0, 0x1_00000000n))).toBe(ERRNO(EPERM)); // low word 0
    expect(f.run(withArg(personality, 0, 0x1_00000008n))).toBe(ERRNO(EPERM));
    expect(f.run(withArg(personality, 0, 8n))).toBe(ALLOW);
    const socket = nr("socket");
    expect(f.run(withArg(socket, 0, AF_PACKET))).toBe(ERRNO(EACCES));
    expect(f.run(withArg(socket, 0, 0x1_00000000n | AF_PACKET))).toBe(ERRNO(EINVAL));
    expect(f.run(withArg(socket, 0, 2n))).toBe(USER_NOTIF);
  });

  /** One syscall (nr 7) with a single rule `args[3] op value` → ERRNO(1), otherwise ALLOW. */
  function single(c: Omit<BpfArgCondition, "index">): LoadedFilter {
    const rule: BpfArgRule = { when: [{ ...c, index: 3 }], action: errno(EPERM) };
    return new LoadedFilter(
      compileFilter({ defaultAction: errno(ENOSYS), syscalls: new Map([[7, { rules: [rule], otherwise: allow }]]) }),
    );
  }
  const boundaries = [
    0n, 1n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 0x1_00000000n, 0x1_00000001n,
    0x1_ffffffffn, 0x2_00000000n, 0xffffffff_00000000n, 0xffffffff_fffffffen, 0xffffffff_ffffffffn,
    0x80000000_00000000n, 0x7fffffff_ffffffffn, 0x12345678_9abcdef0n,
  ];

  for (const op of ["eq", "ne", "lt", "le", "gt", "ge"] as const) {
    it(`${op} on 64-bit boundary values`, () => {
      for (const value of boundaries) {
        const f = single({ op, value });
        for (const arg of boundaries) {
          const d = withArg(7, 3, arg);
          const want = refCondition({ index: 3, op, value }, d.args) ? ERRNO(EPERM) : ALLOW;
          expect({ value, arg, ret: f.run(d) }).toEqual({ value, arg, ret: want });
        }
      }
    });
  }

  for (const op of ["masked-eq", "masked-ne"] as const) {
    it(`${op} with masks across both words`, () => {
      const masks = [0n, 0xffn, 0xffffffffn, 0xffffffff_00000000n, 0xffffffff_ffffffffn, 0x80000000_00000001n];
      for (const mask of masks) {
        for (const value of [0n, 1n, 0xffn, 0x80000000_00000000n, 0x80000000_00000001n, 0xffffffff_00000000n]) {
          const f = single({ op, mask, value });
          for (const arg of boundaries) {
            const d = withArg(7, 3, arg);
            const equal = (arg & mask) === value;
            const want = equal === (op === "masked-eq") ? ERRNO(EPERM) : ALLOW;
            expect({ mask, value, arg, ret: f.run(d) }).toEqual({ mask, value, arg, ret: want });
          }
        }
      }
    });
  }

  it("ANDs conditions within a rule and takes the first matching rule", () => {
    const rules: BpfArgRule[] = [
      {
        when: [
          { index: 0, op: "ge", value: 10n },
          { index: 0, op: "lt", value: 20n },
          { index: 1, op: "ne", value: 0n },
        ],
        action: errno(1),
      },
      { when: [{ index: 0, op: "ge", value: 10n }], action: errno(2) },
      { when: [], action: errno(3) },
      { when: [{ index: 0, op: "eq", value: 0n }], action: errno(4) }, // unreachable
    ];
    const f = new LoadedFilter(
      compileFilter({ defaultAction: allow, syscalls: new Map([[100, { rules, otherwise: errno(5) }]]) }),
    );
    expect(f.run(call(100, [15n, 1n, 0n, 0n, 0n, 0n]))).toBe(ERRNO(1));
    expect(f.run(call(100, [15n, 0n, 0n, 0n, 0n, 0n]))).toBe(ERRNO(2));
    expect(f.run(call(100, [25n, 1n, 0n, 0n, 0n, 0n]))).toBe(ERRNO(2));
    expect(f.run(call(100, [0n, 0n, 0n, 0n, 0n, 0n]))).toBe(ERRNO(3));
    expect(f.run(call(99))).toBe(ALLOW);
  });

  it("drops rules that can never match and conditions that always hold", () => {
    const never: BpfRuleSet = {
      rules: [
        { when: [{ index: 0, op: "masked-eq", mask: 0xffn, value: 0x100n }], action: kill },
        { when: [{ index: 0, op: "lt", value: 0n }], action: kill },
        { when: [{ index: 0, op: "gt", value: 0xffffffff_ffffffffn }], action: kill },
      ],
      otherwise: log,
    };
    const always: BpfRuleSet = {
      rules: [{ when: [{ index: 0, op: "ge", value: 0n }, { index: 1, op: "le", value: 0xffffffff_ffffffffn }], action: trap }],
      otherwise: kill,
    };
    const spec: FilterSpec = { defaultAction: allow, syscalls: new Map([[1, never], [3, always]]) };
    const program = compileFilter(spec);
    expect(disassemble(program).filter((l) => l.includes("args"))).toEqual([]);
    const f = new LoadedFilter(program);
    expect(f.run(call(1, [0x100n, 0n, 0n, 0n, 0n, 0n]))).toBe(LOG);
    expect(f.run(call(3, [5n, 0xffffffff_ffffffffn, 0n, 0n, 0n, 0n]))).toBe(USER_NOTIF);
  });

  it("accepts the sentry's FilterAction and ArgRule values", () => {
    const action: FilterAction = { kind: "errno", errno: EPERM };
    const rules: readonly ArgRule[] = [{ when: [{ index: 0, op: "eq", value: 1n }], action: { kind: "allow" } }];
    const spec: FilterSpec = { defaultAction: action, syscalls: new Map([[5, { rules, otherwise: action }]]) };
    expect(new LoadedFilter(compileFilter(spec)).run(withArg(5, 0, 1n))).toBe(ALLOW);
  });
});

describe("compileFilter: bad specs are errors", () => {
  const one = (entry: BpfAction | BpfRuleSet, n = 1): FilterSpec => ({ defaultAction: allow, syscalls: new Map([[n, entry]]) });
  const rule = (c: BpfArgCondition): BpfRuleSet => ({ rules: [{ when: [c], action: kill }], otherwise: allow });

  it("rejects syscall numbers outside 0..X32_SYSCALL_BIT-1", () => {
    expect(() => compileFilter(one(allow, -1))).toThrow(/syscall number/);
    expect(() => compileFilter(one(allow, 0x40000000))).toThrow(/syscall number/);
    expect(() => compileFilter(one(allow, 1.5))).toThrow(/syscall number/);
  });

  it("rejects bad actions", () => {
    expect(() => compileFilter(one(errno(4096)))).toThrow(/errno/);
    expect(() => compileFilter(one(errno(-1)))).toThrow(/errno/);
    expect(() => compileFilter({ defaultAction: { kind: "nope" } as unknown as BpfAction, syscalls: new Map() })).toThrow(
      /unknown filter action/,
    );
    expect(() => compileFilter(one({ rules: [], otherwise: errno(70000) }))).toThrow(/errno/);
  });

  it("rejects bad conditions", () => {
    expect(() => compileFilter(one(rule({ index: 6, op: "eq", value: 0n })))).toThrow(/argument index/);
    expect(() => compileFilter(one(rule({ index: 0, op: "eq", value: -1n })))).toThrow(/value/);
    expect(() => compileFilter(one(rule({ index: 0, op: "eq", value: 1n << 64n })))).toThrow(/value/);
    expect(() => compileFilter(one(rule({ index: 0, op: "eq", value: 0n, mask: 1n })))).toThrow(/mask/);
    expect(() => compileFilter(one(rule({ index: 0, op: "masked-eq", value: 0n })))).toThrow(/mask/);
    expect(() =>
      compileFilter(one(rule({ index: 0, op: "between", value: 0n } as unknown as BpfArgCondition))),
    ).toThrow(/unknown comparison/);
  });
});

describe("compileFilterBytes and filterStats", () => {
  it("encodes the compiled program", () => {
    const spec = realisticSpec();
    const bytes = compileFilterBytes(spec);
    const program = compileFilter(spec);
    expect(bytes.length).toBe(8 * program.length);
    expect(decode(bytes)).toEqual(program);
  });

  it("counts syscalls per action kind", () => {
    const spec: FilterSpec = {
      defaultAction: kill,
      syscalls: new Map<number, BpfAction | BpfRuleSet>([
        [0, allow],
        [1, allow],
        [2, errno(EPERM)],
        [3, errno(ENOSYS)],
        [4, trap],
        [5, log],
        [6, kill],
        [7, { rules: [], otherwise: allow }],
      ]),
    };
    const stats = filterStats(spec);
    expect(stats.syscalls).toEqual({ allow: 2, errno: 2, kill: 1, trap: 1, log: 1, args: 1 });
    expect(stats.defaultAction).toBe("kill");
    expect(stats.instructions).toBe(compileFilter(spec).length);
    expect(stats.ranges).toBe(8); // 0-1, 2, 3, 4, 5, 6, 7 (rules), 8.. (default)
    expect(stats.longestPath).toBeGreaterThan(4);
  });
});

describe("differential: compiled filter vs the spec, seeded random", () => {
  const INTERESTING: readonly bigint[] = [
    0n, 1n, 2n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn, 0x1_00000000n, 0x1_00000001n,
    0xffffffff_00000000n, 0xffffffff_ffffffffn, 0xffffffff_fffffffen, 0x80000000_00000000n,
  ];
  const ACTIONS: readonly BpfAction[] = [allow, trap, kill, log, errno(EPERM), errno(ENOSYS), errno(0), errno(4095)];
  const OPS = ["eq", "ne", "lt", "le", "gt", "ge", "masked-eq", "masked-ne"] as const;

  function randomValue(rng: Rng): bigint {
    switch (rng.int(4)) {
      case 0:
        return rng.pick(INTERESTING);
      case 1:
        return BigInt(rng.u32());
      case 2:
        return BigInt(rng.u32()) << 32n;
      default:
        return rng.u64();
    }
  }

  function randomCondition(rng: Rng): BpfArgCondition {
    const op = rng.pick(OPS);
    const index = rng.int(6);
    if (op !== "masked-eq" && op !== "masked-ne") return { index, op, value: randomValue(rng) };
    const mask = randomValue(rng);
    // Mostly satisfiable values; sometimes bits outside the mask (never matches).
    const value = rng.chance(0.8) ? randomValue(rng) & mask : randomValue(rng);
    return { index, op, mask, value };
  }

  function randomSpec(rng: Rng): FilterSpec {
    const syscalls = new Map<number, BpfAction | BpfRuleSet>();
    const count = rng.int(80);
    for (let i = 0; i < count; i++) {
      const n = rng.chance(0.95) ? rng.int(600) : rng.int(0x40000000);
      if (rng.chance(0.2)) {
        const rules: BpfArgRule[] = Array.from({ length: rng.int(5) }, () => ({
          when: Array.from({ length: rng.int(4) }, () => randomCondition(rng)),
          action: rng.pick(ACTIONS),
        }));
        syscalls.set(n, { rules, otherwise: rng.pick(ACTIONS) });
      } else {
        syscalls.set(n, rng.pick(ACTIONS));
      }
    }
    return { defaultAction: rng.pick(ACTIONS), syscalls };
  }

  /** Argument values near the spec's constants, where off-by-one and word-split bugs live. */
  function randomArg(rng: Rng, near: readonly bigint[]): bigint {
    const v = near.length > 0 && rng.chance(0.7) ? rng.pick(near) : randomValue(rng);
    switch (rng.int(6)) {
      case 0:
        return BigInt.asUintN(64, v + 1n);
      case 1:
        return BigInt.asUintN(64, v - 1n);
      case 2:
        return v ^ (1n << 32n); // same low word, other high word
      case 3:
        return v ^ BigInt(rng.u32()); // same high word
      default:
        return v;
    }
  }

  function* randomCalls(rng: Rng, spec: FilterSpec, count: number): Generator<SeccompData> {
    const nrs = [...spec.syscalls.keys()];
    const near: bigint[] = [];
    for (const entry of spec.syscalls.values()) {
      if (!("rules" in entry)) continue;
      for (const r of entry.rules) for (const c of r.when) near.push(c.value, c.mask ?? 0n, c.value | ~(c.mask ?? 0n) & 0xffffffff_ffffffffn);
    }
    for (let i = 0; i < count; i++) {
      let n: number;
      switch (rng.int(8)) {
        case 0:
          n = rng.u32() | 0; // anything, x32 and negative included
          break;
        case 1:
          n = rng.pick([-1, 0x40000000, 0x3fffffff, 0x7fffffff]);
          break;
        case 2:
          n = rng.int(700);
          break;
        default:
          n = nrs.length > 0 ? rng.pick(nrs) + rng.pick([0, 0, 0, -1, 1]) : 0;
      }
      const arch = rng.chance(0.95) ? ARCH_X86_64 : rng.pick([ARCH_I386, 0xc00000b7, rng.u32()]);
      yield { nr: n, arch, ip: rng.u64(), args: Array.from({ length: 6 }, () => randomArg(rng, near)) };
    }
  }

  it("agrees on 300 random specs × 100 random calls", () => {
    const rng = new Rng(0x5ecc0b);
    let cases = 0;
    for (let s = 0; s < 300; s++) {
      const spec = randomSpec(rng);
      cases += expectAgreement(spec, randomCalls(rng, spec, 100));
    }
    expect(cases).toBe(30_000);
  });

  it("agrees on a rule-heavy spec whose program needs trampolines", () => {
    const rng = new Rng(42);
    const syscalls = new Map<number, BpfAction | BpfRuleSet>();
    for (let n = 0; n < 40; n++) {
      const rules: BpfArgRule[] = Array.from({ length: 4 }, () => ({
        when: Array.from({ length: 3 }, () => randomCondition(rng)),
        action: rng.pick(ACTIONS),
      }));
      syscalls.set(n * 3, { rules, otherwise: rng.pick(ACTIONS) });
    }
    const spec: FilterSpec = { defaultAction: errno(ENOSYS), syscalls };
    const program = compileFilter(spec);
    expect(program.length).toBeGreaterThan(600); // jumps from the root span more than 255
    expect(program.some((i) => i.code === 0x05)).toBe(true); // at least one ja trampoline
    expect(expectAgreement(spec, randomCalls(rng, spec, 5000))).toBe(5000);
  });
});
