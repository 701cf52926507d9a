// The default policy compiled to BPF and run through the interpreter: for every syscall number
// and a set of register values, the filter answers what the policy's decisions say.
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { compileFilter } from "../../../platform/seccomp/compile.js";
import { LoadedFilter } from "../../../platform/seccomp/interpreter.js";
import { CLONE_NEWUSER } from "../../../platform/abi/clone.js";
import { TIOCSTI } from "../../../platform/abi/ioctl.js";
import { sysnoByName, sysnoName } from "../../../platform/abi/sysno_amd64.js";
import { compilePolicy, evaluateDecision, type CompileOptions } from "../../../sentry/filter/compile.js";
import { CRED_SYSCALLS } from "../../../sentry/syscalls/sys_cred.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";
import { RET_ERRNO, RET_KILL_PROCESS, RET_USER_NOTIF, ret } from "../../helpers/seccomp.js";

// Written out (include/uapi/linux/seccomp.h, include/uapi/linux/audit.h, errno-base.h),
// independent of the modules under test.
const ARCH_X86_64 = 0xc000003e;
const ARCH_I386 = 0x40000003;
const ARCH_AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;
const ENOSYS = 38;
const EPERM = 1;

const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));

const ONES = (1n << 64n) - 1n;
const zeros = (): bigint[] => [0n, 0n, 0n, 0n, 0n, 0n];
const withArg = (i: number, v: bigint): bigint[] => zeros().map((z, j) => (j === i ? v : z));

/** Register sets every number is tried with: each one decides some syscall's rules. */
const REGISTERS: readonly (readonly bigint[])[] = [
  zeros(),
  withArg(0, BigInt(CLONE_NEWUSER)), // clone, unshare
  withArg(0, (1n << 32n) | BigInt(CLONE_NEWUSER)),
  withArg(1, BigInt(TIOCSTI)), // ioctl
  withArg(1, (0xdeadn << 32n) | BigInt(TIOCSTI)),
  withArg(4, 0n), // sendto without an address
  withArg(4, 0x7fff0000n), // sendto with one
  [1n, 8n, 0n, 0n, 0n, 0n], // seccomp(SET_MODE_FILTER, FLAG_NEW_LISTENER)
  zeros().map(() => ONES),
];


const hex = (v: number): string => `0x${v.toString(16)}`;

describe.each<[string, Policy, CompileOptions]>([
  ["the default policy", DEFAULT, {}],
  ["the default policy traced (trace all)", DEFAULT, { trace: "all" }],
  ["the default policy with exec restricted, traced for openat", { ...DEFAULT, process: { exec: { allow: ["/usr/**"], entrypoint: false } } }, { trace: new Set(["openat"]) }],
])("%s compiled to BPF", (_, policy, opts) => {
  const cp = compilePolicy(policy, opts);
  const filter = new LoadedFilter(compileFilter(cp.filter));
  const run = (nr: number, args: readonly bigint[] = zeros(), arch = ARCH_X86_64): number =>
    filter.run({ nr, arch, ip: 0n, args });

  /** What the filter must return: the decision, trapped when tracing covers the syscall. */
  const expected = (nr: number, args: readonly bigint[]): number => {
    const d = cp.decisions[nr];
    if (d === undefined) return (RET_ERRNO | ENOSYS) >>> 0;
    const a = evaluateDecision(d, (i) => args[i] ?? 0n);
    const name = sysnoName(nr) ?? "";
    // Credential changes reach the sentry whenever anything does (it caches credentials).
    const anyTrap = opts.trace !== undefined || [...cp.layers.values()].includes("sentry");
    const traced =
      opts.trace === "all" ||
      (opts.trace !== undefined && opts.trace.has(name)) ||
      (anyTrap && (CRED_SYSCALLS as readonly string[]).includes(name));
    return traced && a.kind !== "kill" ? RET_USER_NOTIF : ret(a);
  };

  it("kills the i386 and other foreign ABIs whatever the number", () => {
    for (const arch of [ARCH_I386, ARCH_AARCH64, 0]) {
      for (const nr of [0, 1, 39, 59, 1000]) expect(run(nr, zeros(), arch), `${hex(arch)} ${nr}`).toBe(RET_KILL_PROCESS);
    }
  });

  it("kills x32 calls", () => {
    for (const nr of [0, 39, 59, 512, 1000]) expect(run(X32_BIT | nr), hex(X32_BIT | nr)).toBe(RET_KILL_PROCESS);
  });

  it("answers nr -1 (a skipped syscall) and unassigned numbers with ENOSYS", () => {
    expect(run(-1)).toBe(RET_ERRNO | ENOSYS);
    expect(run(X32_BIT - 1)).toBe(RET_ERRNO | ENOSYS);
    expect(run(1000)).toBe(RET_ERRNO | ENOSYS);
  });

  it("agrees with the decisions for every number in 0..1023 and every register set", () => {
    let compared = 0;
    for (let nr = 0; nr < 1024; nr++) {
      for (const args of REGISTERS) {
        const want = expected(nr, args);
        const got = run(nr, args);
        if (got !== want) {
          expect.fail(`nr ${nr} args [${args.map((a) => hex(Number(a & 0xffffffffn))).join(", ")}]: got ${hex(got)}, want ${hex(want)}`);
        }
        compared++;
      }
    }
    expect(compared).toBe(1024 * REGISTERS.length);
  });

  it("denies the dangerous families and the namespace flags in BPF", () => {
    const nr = (name: string): number => sysnoByName(name) ?? -1;
    const traced = opts.trace === "all";
    const denied = traced ? RET_USER_NOTIF : RET_ERRNO | EPERM;
    for (const name of ["bpf", "io_uring_setup", "kexec_load", "ptrace", "mount"]) expect(run(nr(name)), name).toBe(denied);
    expect(run(nr("clone"), withArg(0, BigInt(CLONE_NEWUSER)))).toBe(denied);
    expect(run(nr("ioctl"), withArg(1, BigInt(TIOCSTI)))).toBe(denied);
  });
});

describe("namespaceAdmin (a privileged container in its user namespace)", () => {
  const CONTAINER: Policy = loadPolicyFile(join(defaultPoliciesDir(), "container.yaml"));
  const nr = (name: string): number => sysnoByName(name) ?? -1;
  const filterOf = (policy: Policy, opts: CompileOptions): LoadedFilter => new LoadedFilter(compileFilter(compilePolicy(policy, opts).filter));
  const run = (f: LoadedFilter, name: string, args: readonly bigint[] = zeros()): number => f.run({ nr: nr(name), arch: ARCH_X86_64, ip: 0n, args });
  const ALLOW = 0x7fff0000;
  const ADMIN = ["mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "setns"];

  it("leaves mounts, setns and namespace flags to the kernel", () => {
    const f = filterOf(CONTAINER, { namespaceAdmin: true });
    for (const name of ADMIN) expect(run(f, name), name).toBe(ALLOW);
    expect(run(f, "unshare", withArg(0, BigInt(CLONE_NEWUSER)))).toBe(ALLOW);
    expect(run(f, "clone", withArg(0, BigInt(CLONE_NEWUSER)))).toBe(ALLOW);
    expect(run(f, "sethostname")).toBe(ALLOW);
  });

  it("keeps what no user namespace confines refused: modules, kexec, bpf, io_uring, ptrace, chroot", () => {
    const f = filterOf(CONTAINER, { namespaceAdmin: true });
    for (const name of ["init_module", "finit_module", "kexec_load", "bpf", "io_uring_setup", "ptrace", "chroot", "open_by_handle_at", "swapon", "syslog"]) {
      expect(run(f, name), name).toBe(RET_ERRNO | EPERM);
    }
  });

  it("without it the container refuses mounts, setns and namespace flags in BPF", () => {
    const f = filterOf(CONTAINER, {});
    for (const name of ADMIN) expect(run(f, name), name).toBe(RET_ERRNO | EPERM);
    expect(run(f, "unshare", withArg(0, BigInt(CLONE_NEWUSER)))).toBe(RET_ERRNO | EPERM);
  });

  it("a policy's own denial and a default other than allow still decide", () => {
    const denies: Policy = { ...CONTAINER, syscalls: { ...CONTAINER.syscalls, deny: ["mount"] } };
    expect(run(filterOf(denies, { namespaceAdmin: true }), "mount")).toBe(RET_ERRNO | EPERM);
    const strict: Policy = { ...CONTAINER, syscalls: { ...CONTAINER.syscalls, default: "errno(EACCES)" } };
    expect(run(filterOf(strict, { namespaceAdmin: true }), "mount")).toBe(RET_ERRNO | 13);
  });
});
