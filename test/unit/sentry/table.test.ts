// Invariants of the amd64 syscall table: total, consistent, and denying the dangerous families.
import { describe, expect, it } from "vitest";

import { SYSCALLS_AMD64, MAX_SYSCALL_AMD64 } from "../../../platform/abi/sysno_amd64.js";
import { EPERM, errnoByName } from "../../../platform/abi/errno.js";
import { CLONE_NEWNET, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_VM } from "../../../platform/abi/clone.js";
import { TIOCSTI } from "../../../platform/abi/ioctl.js";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER } from "../../../platform/abi/seccomp.js";
import { TABLE_AMD64, tableByName, tableByNr } from "../../../sentry/syscalls/table_amd64.js";
import type { ArgCondition, FilterAction, SyscallEntry } from "../../../sentry/syscalls/syscall.js";

/** Evaluates an args entry for register values, as the BPF program will. */
function decide(entry: SyscallEntry, regs: readonly bigint[]): FilterAction {
  const holds = (c: ArgCondition): boolean => {
    const a = regs[c.index] ?? 0n;
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
    }
  };
  for (const rule of entry.argRules ?? []) if (rule.when.every(holds)) return rule.action;
  if (entry.otherwise === undefined) throw new Error(`${entry.name}: no otherwise`);
  return entry.otherwise;
}

function entry(name: string): SyscallEntry {
  const e = tableByName(name);
  if (e === undefined) throw new Error(`no entry for ${name}`);
  return e;
}

const EPERM_ACTION = { kind: "errno", errno: EPERM };

/** The dangerous families: denied unless a policy says otherwise. */
const DANGEROUS = [
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
  "bpf",
  "userfaultfd",
  "perf_event_open",
  "kexec_load",
  "kexec_file_load",
  "init_module",
  "finit_module",
  "delete_module",
  "open_by_handle_at",
  "keyctl",
  "ptrace",
  "mount",
  "umount2",
  "fsopen",
  "fsmount",
  "move_mount",
  "open_tree",
  "mount_setattr",
  "pivot_root",
  "setns",
];

describe("TABLE_AMD64", () => {
  it("has exactly one entry per amd64 syscall, with matching names, ascending", () => {
    expect(TABLE_AMD64).toHaveLength(SYSCALLS_AMD64.length);
    const seenNr = new Set<number>();
    const seenName = new Set<string>();
    for (const e of TABLE_AMD64) {
      expect(seenNr.has(e.nr), `${e.nr} twice`).toBe(false);
      expect(seenName.has(e.name), `${e.name} twice`).toBe(false);
      seenNr.add(e.nr);
      seenName.add(e.name);
    }
    for (const [nr, name] of SYSCALLS_AMD64) {
      expect(tableByNr(nr)?.name, `nr ${nr}`).toBe(name);
      expect(tableByName(name)?.nr, name).toBe(nr);
    }
    const nrs = TABLE_AMD64.map((e) => e.nr);
    expect(nrs).toEqual([...nrs].sort((a, b) => a - b));
    expect(Math.max(...nrs)).toBe(MAX_SYSCALL_AMD64);
  });

  it("knows nothing about unassigned or x32 numbers", () => {
    expect(tableByNr(400)).toBeUndefined();
    expect(tableByNr(MAX_SYSCALL_AMD64 + 1)).toBeUndefined();
    expect(tableByNr(0x40000000)).toBeUndefined();
    expect(tableByName("vm86")).toBeUndefined();
  });

  it("denies every dangerous family", () => {
    for (const name of DANGEROUS) expect(entry(name).handling, name).toBe("denied");
  });

  it("gives every denied entry a valid errno name and a note", () => {
    for (const e of TABLE_AMD64.filter((x) => x.handling === "denied")) {
      expect(e.errno, e.name).toBeDefined();
      expect(errnoByName(e.errno ?? ""), `${e.name}: ${e.errno}`).toBeDefined();
      expect(e.note?.length ?? 0, e.name).toBeGreaterThan(0);
      expect(e.argRules, e.name).toBeUndefined();
    }
  });

  it("gives every args entry rules, a fallback and a note", () => {
    const argsEntries = TABLE_AMD64.filter((x) => x.handling === "args");
    expect(argsEntries.map((e) => e.name).sort()).toEqual(["clone", "ioctl", "personality", "seccomp", "unshare"]);
    for (const e of argsEntries) {
      expect(e.argRules?.length ?? 0, e.name).toBeGreaterThan(0);
      expect(e.otherwise, e.name).toBeDefined();
      expect(e.note?.length ?? 0, e.name).toBeGreaterThan(0);
      for (const r of e.argRules ?? []) {
        expect(r.when.length, e.name).toBeGreaterThan(0);
        for (const c of r.when) {
          expect(c.index).toBeGreaterThanOrEqual(0);
          expect(c.index).toBeLessThanOrEqual(5);
          if (c.op === "masked-eq") expect(c.mask, e.name).toBeDefined();
        }
        if (r.action.kind === "errno") expect(r.action.errno).toBeGreaterThan(0);
      }
    }
  });

  it("allows ordinary syscalls in the kernel", () => {
    for (const name of ["read", "write", "mmap", "futex", "close", "exit_group", "openat", "connect", "execve"]) {
      expect(entry(name).handling, name).toBe("kernel");
    }
    expect(TABLE_AMD64.some((e) => e.handling === "sentry")).toBe(false);
  });

  it("answers clone3 with ENOSYS so libc falls back to clone", () => {
    expect(entry("clone3")).toMatchObject({ handling: "denied", errno: "ENOSYS" });
  });

  it("refuses namespace flags in clone and unshare, and nothing else", () => {
    const clone = entry("clone");
    expect(decide(clone, [BigInt(CLONE_VM | 17)])).toEqual({ kind: "allow" });
    expect(decide(clone, [BigInt(CLONE_NEWUSER | 17)])).toEqual(EPERM_ACTION);
    expect(decide(clone, [BigInt(CLONE_NEWNET)])).toEqual(EPERM_ACTION);
    // In clone(2) 0x80 is part of the exit signal, not CLONE_NEWTIME.
    expect(decide(clone, [BigInt(CLONE_NEWTIME)])).toEqual({ kind: "allow" });
    const unshare = entry("unshare");
    expect(decide(unshare, [BigInt(CLONE_NEWUSER)])).toEqual(EPERM_ACTION);
    expect(decide(unshare, [BigInt(CLONE_NEWTIME)])).toEqual(EPERM_ACTION);
    expect(decide(unshare, [0x200n /* CLONE_FS */])).toEqual({ kind: "allow" });
  });

  it("refuses TIOCSTI on the low 32 bits of the request", () => {
    const ioctl = entry("ioctl");
    expect(decide(ioctl, [0n, BigInt(TIOCSTI)])).toEqual(EPERM_ACTION);
    expect(decide(ioctl, [0n, 0xdead_0000_0000n + BigInt(TIOCSTI)])).toEqual(EPERM_ACTION);
    expect(decide(ioctl, [0n, 0x541cn])).toEqual(EPERM_ACTION);
    expect(decide(ioctl, [0n, 0x5401n /* TCGETS */])).toEqual({ kind: "allow" });
  });

  it("refuses a seccomp filter that asks for a listener", () => {
    const seccomp = entry("seccomp");
    const filter = BigInt(SECCOMP_SET_MODE_FILTER);
    expect(decide(seccomp, [filter, BigInt(SECCOMP_FILTER_FLAG_NEW_LISTENER | 1)])).toEqual(EPERM_ACTION);
    expect(decide(seccomp, [filter, 1n])).toEqual({ kind: "allow" });
    expect(decide(seccomp, [2n, BigInt(SECCOMP_FILTER_FLAG_NEW_LISTENER)])).toEqual({ kind: "allow" });
  });

  it("allows only Docker's personalities", () => {
    const p = entry("personality");
    for (const v of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) {
      expect(decide(p, [v]), String(v)).toEqual({ kind: "allow" });
    }
    expect(decide(p, [0x0040000n /* ADDR_NO_RANDOMIZE */])).toEqual(EPERM_ACTION);
  });

  it("keeps entries immutable", () => {
    expect(Object.isFrozen(TABLE_AMD64)).toBe(true);
    expect(Object.isFrozen(entry("read"))).toBe(true);
  });
});
