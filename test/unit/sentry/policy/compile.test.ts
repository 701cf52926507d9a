// Policy compilation, table-driven: what each syscall is answered under the default policy and
// its variants, where it is decided (layers), and that tracing never changes a decision.
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import type { BpfAction, BpfRuleSet } from "../../../../platform/seccomp/compile.js";
import { CLONE_NEWNET, CLONE_NEWUSER, CLONE_VM } from "../../../../platform/abi/clone.js";
import { EACCES, ENOENT, ENOSYS, EPERM, ESRCH } from "../../../../platform/abi/errno.js";
import { TIOCSTI } from "../../../../platform/abi/ioctl.js";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER } from "../../../../platform/abi/seccomp.js";
import { sysnoByName } from "../../../../platform/abi/sysno_amd64.js";
import {
  compilePolicy,
  evaluateDecision,
  PolicyCompileError,
  type CompiledPolicy,
  type CompileOptions,
  type Decision,
} from "../../../../sentry/filter/compile.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../../sentry/policy/load.js";
import { compileFilter } from "../../../../platform/seccomp/compile.js";
import { LoadedFilter } from "../../../../platform/seccomp/interpreter.js";
import { RET_ALLOW, RET_USER_NOTIF } from "../../../helpers/seccomp.js";
import type { Policy } from "../../../../sentry/policy/schema.js";
import type { FilterAction } from "../../../../sentry/syscalls/syscall.js";
import { CRED_SYSCALLS } from "../../../../sentry/syscalls/sys_cred.js";
import { TABLE_AMD64, tableByName } from "../../../../sentry/syscalls/table_amd64.js";

const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));

const ALLOW: FilterAction = { kind: "allow" };
const TRAP: FilterAction = { kind: "trap" };
const KILL: FilterAction = { kind: "kill" };
const errno = (e: number): FilterAction => ({ kind: "errno", errno: e });

const SIGCHLD = 17n;
const NON_NULL = 0x7fff0000n;

function nr(name: string): number {
  const n = sysnoByName(name);
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

type Patch = {
  syscalls?: Partial<Policy["syscalls"]>;
  filesystem?: Partial<Policy["filesystem"]>;
  network?: Partial<Policy["network"]>;
  process?: Partial<Policy["process"]>;
  audit?: boolean;
};

/** The default policy with some sections changed. */
function variant(p: Patch): Policy {
  return {
    ...DEFAULT,
    syscalls: { ...DEFAULT.syscalls, ...p.syscalls },
    filesystem: { ...DEFAULT.filesystem, ...p.filesystem },
    network: { ...DEFAULT.network, ...p.network },
    process: { ...DEFAULT.process, ...p.process },
    ...(p.audit !== undefined ? { audit: p.audit } : {}),
  };
}

function decision(cp: CompiledPolicy, name: string): Decision {
  const d = cp.decisions[nr(name)];
  if (d === undefined) throw new Error(`no decision for ${name}`);
  return d;
}

/** What the sandbox answers `name` called with these registers. */
function answer(cp: CompiledPolicy, name: string, args: readonly bigint[] = []): FilterAction {
  return evaluateDecision(decision(cp, name), (i) => args[i] ?? 0n);
}

/** Every action a filter entry can return, rule actions and `otherwise` included. */
function filterActions(entry: BpfAction | BpfRuleSet | undefined): BpfAction[] {
  if (entry === undefined) throw new Error("no filter entry");
  return "rules" in entry ? [...entry.rules.map((r) => r.action), entry.otherwise] : [entry];
}

describe("the default policy", () => {
  const cp = compilePolicy(DEFAULT);

  it.each([
    "io_uring_setup",
    "io_uring_enter",
    "bpf",
    "userfaultfd",
    "open_by_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "keyctl",
    "ptrace",
    "mount",
    "umount2",
  ])("denies %s with EPERM", (name) => {
    expect(answer(cp, name)).toEqual(errno(EPERM));
    expect(cp.layers.get(nr(name))).toBe("denied");
  });

  it.each(["read", "write", "mmap", "close", "futex", "getpid"])("allows %s in the kernel", (name) => {
    expect(decision(cp, name)).toEqual({ action: ALLOW });
    expect(cp.layers.get(nr(name))).toBe("kernel");
    expect(cp.filter.syscalls.get(nr(name))).toEqual(ALLOW);
  });

  it.each<[string, string, bigint[], FilterAction]>([
    ["connect", "to an address", [3n, NON_NULL, 16n], TRAP],
    ["connect", "with zero registers", [], TRAP],
    ["sendto", "without an address", [3n, NON_NULL, 5n, 0n, 0n, 0n], ALLOW],
    ["sendto", "to an address", [3n, NON_NULL, 5n, 0n, NON_NULL, 16n], TRAP],
    ["sendto", "to an address above 4 GiB", [3n, NON_NULL, 5n, 0n, 1n << 32n, 16n], TRAP],
    ["execve", "of any file", [NON_NULL, NON_NULL, NON_NULL], ALLOW],
    ["execveat", "of any file", [], ALLOW],
    ["clone", "with CLONE_NEWUSER", [BigInt(CLONE_NEWUSER) | SIGCHLD], errno(EPERM)],
    ["clone", "with CLONE_NEWNET", [BigInt(CLONE_NEWNET)], errno(EPERM)],
    ["clone", "of a thread-like child", [BigInt(CLONE_VM) | SIGCHLD], ALLOW],
    ["unshare", "with CLONE_NEWUSER", [BigInt(CLONE_NEWUSER)], errno(EPERM)],
    ["unshare", "with CLONE_FILES (denied outright, as in Docker's profile)", [0x400n], errno(EPERM)],
    ["ioctl", "with TIOCSTI", [1n, BigInt(TIOCSTI), NON_NULL], errno(EPERM)],
    ["ioctl", "with TIOCSTI and junk in the upper half", [1n, (1n << 32n) | BigInt(TIOCSTI)], errno(EPERM)],
    ["ioctl", "with TCGETS", [1n, 0x5401n], ALLOW],
    ["seccomp", "installing a listener", [BigInt(SECCOMP_SET_MODE_FILTER), BigInt(SECCOMP_FILTER_FLAG_NEW_LISTENER)], errno(EPERM)],
    ["seccomp", "installing a plain filter", [BigInt(SECCOMP_SET_MODE_FILTER), 0n], ALLOW],
    ["clone3", "at all", [], errno(ENOSYS)],
  ])("answers %s %s", (name, _, args, expected) => {
    expect(answer(cp, name, args)).toEqual(expected);
  });

  it("traps execve and execveat when process.exec restricts exec", () => {
    const exec = compilePolicy(variant({ process: { exec: { allow: ["/usr/**"] } } }));
    expect(answer(exec, "execve")).toEqual(TRAP);
    expect(answer(exec, "execveat")).toEqual(TRAP);
    expect(exec.layers.get(nr("execve"))).toBe("sentry");
  });

  const KILL_FAMILY = ["kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal"];

  it.each(KILL_FAMILY)("leaves %s to the kernel under process.signals sandbox", (name) => {
    expect(DEFAULT.process.signals).toBe("sandbox");
    expect(decision(cp, name)).toEqual({ action: ALLOW });
    expect(cp.layers.get(nr(name))).toBe("kernel");
    expect(cp.filter.syscalls.get(nr(name))).toEqual(ALLOW);
  });

  it.each(KILL_FAMILY)("traps %s to the sentry under process.signals self", (name) => {
    const self = compilePolicy(variant({ process: { signals: "self" } }));
    expect(decision(self, name)).toEqual({ action: TRAP });
    expect(self.layers.get(nr(name))).toBe("sentry");
    expect(self.filter.syscalls.get(nr(name))).toEqual(TRAP);
  });

  it("under process.signals self keeps a denial of the kill family, and traps credential changes too", () => {
    const syscalls = {
      deny: [...DEFAULT.syscalls.deny, "tkill"],
      rules: [{ names: ["kill"], args: [{ index: 1, op: "eq" as const, value: 9 }], action: "errno(EACCES)" }],
    };
    const self = compilePolicy(variant({ process: { signals: "self" }, syscalls }));
    const sandbox = compilePolicy(variant({ syscalls }));
    expect(answer(self, "tkill")).toEqual(errno(EPERM));
    expect(self.layers.get(nr("tkill"))).toBe("denied");
    expect(answer(self, "kill", [5n, 9n])).toEqual(errno(EACCES));
    expect(answer(self, "kill", [5n, 15n])).toEqual(TRAP);
    // The sentry caches the caller's credentials (and its ids) per task.
    expect(filterActions(self.filter.syscalls.get(nr("setuid")))).toEqual([TRAP]);
    // Nothing else changes.
    for (const e of TABLE_AMD64) {
      if (KILL_FAMILY.includes(e.name)) continue;
      expect(self.decisions[e.nr], e.name).toEqual(sandbox.decisions[e.nr]);
    }
  });

  it("leaves connect and sendto to the kernel on the host network", () => {
    const host = compilePolicy(variant({ network: { mode: "host" } }));
    expect(decision(host, "connect")).toEqual({ action: ALLOW });
    expect(decision(host, "sendto")).toEqual({ action: ALLOW });
    expect(host.layers.get(nr("connect"))).toBe("kernel");
  });

  it("fails unknown numbers with ENOSYS", () => {
    expect(cp.decisions[1000]).toBeUndefined();
    expect(cp.decisions[400]).toBeUndefined(); // unassigned on x86_64
    expect(cp.filter.defaultAction).toEqual(errno(ENOSYS));
    expect(cp.filter.syscalls.has(1000)).toBe(false);
    expect(cp.filter.syscalls.has(400)).toBe(false);
  });

  it("decides every syscall of the table, and lists each in the filter and the layers", () => {
    for (const e of TABLE_AMD64) {
      expect(cp.decisions[e.nr], e.name).toBeDefined();
      expect(cp.filter.syscalls.has(e.nr), e.name).toBe(true);
      expect(cp.layers.has(e.nr), e.name).toBe(true);
    }
    expect(cp.filter.syscalls.size).toBe(TABLE_AMD64.length);
  });

  it.each<[string, string]>([
    ["read", "kernel"],
    ["bpf", "denied"],
    ["connect", "sentry"],
    ["sendto", "sentry"],
    ["clone", "args"],
    ["ioctl", "args"],
    ["execve", "kernel"],
  ])("decides %s in layer %s", (name, layer) => {
    expect(cp.layers.get(nr(name))).toBe(layer);
  });
});

describe("syscalls lists and default", () => {
  it("deny fails a syscall with EPERM", () => {
    const cp = compilePolicy(variant({ syscalls: { deny: ["getpid"] } }));
    expect(answer(cp, "getpid")).toEqual(errno(EPERM));
    expect(cp.layers.get(nr("getpid"))).toBe("denied");
    expect(cp.filter.syscalls.get(nr("getpid"))).toEqual(errno(EPERM));
  });

  it("allow overrides the table's denial", () => {
    const cp = compilePolicy(variant({ syscalls: { allow: ["ptrace"] } }));
    expect(answer(cp, "ptrace")).toEqual(ALLOW);
    expect(cp.layers.get(nr("ptrace"))).toBe("kernel");
  });

  it("allow of an args syscall lifts its argument rules", () => {
    const cp = compilePolicy(variant({ syscalls: { allow: ["clone"] } }));
    expect(answer(cp, "clone", [BigInt(CLONE_NEWUSER)])).toEqual(ALLOW);
  });

  it("default errno(EACCES) fails ordinary syscalls and keeps the table's own denials", () => {
    const cp = compilePolicy(variant({ syscalls: { default: "errno(EACCES)" } }));
    expect(answer(cp, "getpid")).toEqual(errno(EACCES));
    expect(answer(cp, "read")).toEqual(errno(EACCES));
    expect(answer(cp, "clone", [SIGCHLD])).toEqual(errno(EACCES));
    expect(answer(cp, "bpf")).toEqual(errno(EPERM));
    expect(answer(cp, "clone3")).toEqual(errno(ENOSYS));
  });

  it("default errno(EPERM) with an allow list runs only what is listed", () => {
    const cp = compilePolicy(variant({ syscalls: { default: "errno(EPERM)", allow: ["read", "write"] } }));
    expect(answer(cp, "read")).toEqual(ALLOW);
    expect(answer(cp, "write")).toEqual(ALLOW);
    expect(answer(cp, "getpid")).toEqual(errno(EPERM));
    expect(answer(cp, "bpf")).toEqual(errno(EPERM));
  });

  // The filter denies the dangerous families by default: new user namespaces, TIOCSTI and seccomp listeners stay denied
  // "unless a policy says otherwise"; a default for the syscalls a policy does not name does
  // not say so.
  it.each<[string, bigint[]]>([
    ["clone", [BigInt(CLONE_NEWUSER) | SIGCHLD]],
    ["unshare", [BigInt(CLONE_NEWUSER)]],
    ["ioctl", [1n, BigInt(TIOCSTI)]],
    ["seccomp", [BigInt(SECCOMP_SET_MODE_FILTER), BigInt(SECCOMP_FILTER_FLAG_NEW_LISTENER)]],
  ])("default log keeps the table's argument denial of %s", (name, args) => {
    const cp = compilePolicy(variant({ syscalls: { default: "log" } }));
    expect(answer(cp, "getpid")).toEqual({ kind: "log" });
    expect(answer(cp, name, args)).toEqual(errno(EPERM));
  });
});

describe("syscalls.rules", () => {
  const arg0 = (value: number): Policy["syscalls"]["rules"][number]["args"][number] => ({ index: 0, op: "eq", value });

  it("come first, in file order, and a rule without conditions cuts the list", () => {
    const cp = compilePolicy(
      variant({
        syscalls: {
          rules: [
            { names: ["getpid"], args: [arg0(1)], action: "errno(EACCES)" },
            { names: ["getpid"], args: [arg0(1)], action: "errno(ENOENT)" },
            { names: ["getpid"], args: [arg0(2)], action: "errno(ENOENT)" },
            { names: ["getpid"], args: [], action: "errno(ESRCH)" },
            { names: ["getpid"], args: [arg0(3)], action: "allow" },
          ],
        },
      }),
    );
    expect(answer(cp, "getpid", [1n])).toEqual(errno(EACCES));
    expect(answer(cp, "getpid", [2n])).toEqual(errno(ENOENT));
    expect(answer(cp, "getpid", [3n])).toEqual(errno(ESRCH));
    expect(answer(cp, "getpid", [0n])).toEqual(errno(ESRCH));
    expect(decision(cp, "getpid")).toEqual({
      rules: [
        { when: [{ index: 0, op: "eq", value: 1n }], action: errno(EACCES) },
        { when: [{ index: 0, op: "eq", value: 1n }], action: errno(ENOENT) },
        { when: [{ index: 0, op: "eq", value: 2n }], action: errno(ENOENT) },
      ],
      otherwise: errno(ESRCH),
    });
  });

  it("without a condition-less rule fall back to what decided the name before", () => {
    const cp = compilePolicy(
      variant({ syscalls: { deny: ["getpid"], rules: [{ names: ["getpid"], args: [arg0(7)], action: "allow" }] } }),
    );
    expect(answer(cp, "getpid", [7n])).toEqual(ALLOW);
    expect(answer(cp, "getpid", [8n])).toEqual(errno(EPERM));
    expect(cp.layers.get(nr("getpid"))).toBe("args");
  });

  it("a first rule without conditions is the whole decision", () => {
    const cp = compilePolicy(
      variant({
        syscalls: {
          rules: [
            { names: ["getppid"], args: [], action: "kill" },
            { names: ["getppid"], args: [arg0(1)], action: "allow" },
          ],
        },
      }),
    );
    expect(decision(cp, "getppid")).toEqual({ action: KILL });
  });

  it("go ahead of the table's argument rules, which still apply after them", () => {
    const cp = compilePolicy(
      variant({
        syscalls: {
          rules: [
            {
              names: ["clone"],
              args: [{ index: 0, op: "masked-eq", mask: CLONE_NEWUSER, value: CLONE_NEWUSER }],
              action: "allow",
            },
          ],
        },
      }),
    );
    expect(answer(cp, "clone", [BigInt(CLONE_NEWUSER)])).toEqual(ALLOW);
    expect(answer(cp, "clone", [BigInt(CLONE_NEWNET)])).toEqual(errno(EPERM));
    expect(answer(cp, "clone", [SIGCHLD])).toEqual(ALLOW);
  });

  it("apply to every name they list; hex and negative values become 64-bit registers", () => {
    const cp = compilePolicy(
      variant({
        syscalls: {
          rules: [
            { names: ["getuid", "getgid"], args: [{ index: 1, op: "eq", value: "0xffffffffffffffff" }], action: "errno(EACCES)" },
            { names: ["getuid"], args: [{ index: 2, op: "eq", value: -1 }], action: "errno(ENOENT)" },
          ],
        },
      }),
    );
    const ones = (1n << 64n) - 1n;
    expect(answer(cp, "getuid", [0n, ones])).toEqual(errno(EACCES));
    expect(answer(cp, "getgid", [0n, ones])).toEqual(errno(EACCES));
    expect(answer(cp, "getuid", [0n, 0n, ones])).toEqual(errno(ENOENT));
    expect(answer(cp, "getgid", [0n, 0n, ones])).toEqual(ALLOW);
  });
});

describe("what only the sentry can decide", () => {
  it("a rule that allows connect under network none still traps it", () => {
    const cp = compilePolicy(variant({ syscalls: { rules: [{ names: ["connect"], args: [], action: "allow" }] } }));
    expect(answer(cp, "connect")).toEqual(TRAP);
  });

  it("a denied connect stays denied under network none", () => {
    const cp = compilePolicy(variant({ syscalls: { deny: ["connect"] } }));
    expect(answer(cp, "connect")).toEqual(errno(EPERM));
  });

  // An address inside the message cannot be told apart by the filter: on a contained network
  // every message reaches the sentry, and on the host's network none does.
  it.each(["sendmsg", "sendmmsg"])("%s reaches the sentry under network none and proxy, and stays in the kernel under host", (name) => {
    expect(answer(compilePolicy(DEFAULT), name, [3n, NON_NULL, 0n])).toEqual(TRAP);
    expect(answer(compilePolicy(variant({ network: { mode: "proxy" } })), name, [3n, NON_NULL, 0n])).toEqual(TRAP);
    expect(answer(compilePolicy(variant({ network: { mode: "host" } })), name, [3n, NON_NULL, 0n])).toEqual(ALLOW);
    expect(tableByName(name)?.note).not.toMatch(/^partial/);
  });
});

describe("tracing", () => {
  const variants: [string, Policy][] = [
    ["default", DEFAULT],
    ["exec restricted", variant({ process: { exec: { allow: ["/usr/**"] } } })],
    ["host network", variant({ network: { mode: "host" } })],
    ["deny-by-default with rules", variant({
      syscalls: {
        default: "errno(EPERM)",
        allow: ["read", "write"],
        rules: [
          { names: ["getppid"], args: [], action: "kill" },
          { names: ["getuid"], args: [{ index: 0, op: "gt", value: 5 }], action: "log" },
        ],
      },
    })],
  ];
  const traces: [string, CompileOptions["trace"]][] = [
    ["all", "all"],
    ["openat", new Set(["openat"])],
    ["nothing", new Set<string>()],
  ];

  describe.each(variants)("of the %s policy", (_, policy) => {
    const plain = compilePolicy(policy);

    it.each(traces)("(%s) never changes a decision or a layer", (_, trace) => {
      const traced = compilePolicy(policy, { trace });
      expect(traced.decisions).toEqual(plain.decisions);
      expect(traced.layers).toEqual(plain.layers);
      expect(traced.filter.defaultAction).toEqual(plain.filter.defaultAction);
    });

    it("(all) traps every action in the filter but kills", () => {
      const traced = compilePolicy(policy, { trace: "all" });
      for (const e of TABLE_AMD64) {
        const before = filterActions(plain.filter.syscalls.get(e.nr));
        const after = filterActions(traced.filter.syscalls.get(e.nr));
        expect(after, e.name).toEqual(before.map((a) => (a.kind === "kill" ? a : TRAP)));
      }
    });

    it("(openat) traps openat, and the credential changes the sentry must see, only", () => {
      const traced = compilePolicy(policy, { trace: new Set(["openat"]) });
      const creds: readonly string[] = CRED_SYSCALLS;
      for (const e of TABLE_AMD64) {
        const entry = traced.filter.syscalls.get(e.nr);
        if (e.name === "openat" || creds.includes(e.name)) {
          expect(filterActions(entry).every((a) => a.kind === "trap" || a.kind === "kill"), e.name).toBe(true);
        } else expect(entry, e.name).toEqual(plain.filter.syscalls.get(e.nr));
      }
    });

    it("traps the credential changes exactly when something else reaches the sentry", () => {
      const anyTrap = [...plain.layers.values()].includes("sentry");
      for (const name of ["setuid", "umask"]) {
        const d = plain.decisions[nr(name)];
        const decided = d !== undefined && "action" in d ? d.action : undefined;
        expect(plain.filter.syscalls.get(nr(name)), name).toEqual(anyTrap ? TRAP : decided);
      }
    });
  });

  it("keeps kills in the filter under trace all", () => {
    const cp = compilePolicy(variant({ syscalls: { rules: [{ names: ["getppid"], args: [], action: "kill" }] } }), {
      trace: "all",
    });
    expect(cp.filter.syscalls.get(nr("getppid"))).toEqual(KILL);
    expect(cp.filter.syscalls.get(nr("read"))).toEqual(TRAP);
    expect(cp.filter.syscalls.get(nr("bpf"))).toEqual(TRAP);
    expect(cp.decisions[nr("bpf")]).toEqual({ action: errno(EPERM) });
  });
});

describe("filesystem.root: overlay", () => {
  const overlay = compilePolicy(variant({ filesystem: { root: "overlay" } }));
  const readonly = compilePolicy(variant({}));
  const filter = new LoadedFilter(compileFilter(overlay.filter));
  const run = (name: string, args: bigint[] = []): number =>
    filter.run({ nr: nr(name), arch: 0xc000003e, ip: 0n, args: [0, 1, 2, 3, 4, 5].map((i) => args[i] ?? 0n) });
  // include/uapi/asm-generic/fcntl.h
  const O = { RDONLY: 0n, WRONLY: 1n, RDWR: 2n, CREAT: 0o100n, TRUNC: 0o1000n, DIRECTORY: 0o200000n, CLOEXEC: 0o2000000n, APPEND: 0o2000n };

  it("opens for reading stay in the kernel; a write flag reaches the sentry (in BPF, from the flags register)", () => {
    for (const flags of [O.RDONLY, O.RDONLY | O.CLOEXEC, O.RDONLY | O.DIRECTORY]) {
      expect(run("openat", [0n, 0n, flags]), `openat ${flags}`).toBe(RET_ALLOW);
      expect(run("open", [0n, flags]), `open ${flags}`).toBe(RET_ALLOW);
    }
    for (const flags of [O.WRONLY, O.RDWR, O.RDONLY | O.CREAT, O.RDONLY | O.TRUNC, O.WRONLY | O.APPEND | O.CLOEXEC]) {
      expect(run("openat", [0n, 0n, flags]), `openat ${flags}`).toBe(RET_USER_NOTIF);
      expect(run("open", [0n, flags]), `open ${flags}`).toBe(RET_USER_NOTIF);
    }
    // The flags are an int: bits above 32 do not make a read-only open a write.
    expect(run("openat", [0n, 0n, 1n << 32n])).toBe(RET_ALLOW);
    expect(run("creat")).toBe(RET_USER_NOTIF);
    expect(run("openat2")).toBe(RET_USER_NOTIF);
  });

  it("every call that changes the filesystem reaches the sentry, which a read-only root leaves to the kernel", () => {
    for (const name of ["mkdir", "mkdirat", "unlink", "unlinkat", "rmdir", "rename", "renameat2", "link", "linkat", "symlink", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "truncate", "utimensat", "mknodat"]) {
      expect(overlay.filter.syscalls.get(nr(name)), name).toEqual(TRAP);
      expect(overlay.layers.get(nr(name)), name).toBe("sentry");
      expect(readonly.filter.syscalls.get(nr(name)), name).toEqual(ALLOW);
    }
    // What does not change the filesystem stays in the kernel.
    for (const name of ["read", "write", "ftruncate", "newfstatat", "getdents64"]) expect(run(name), name).toBe(RET_ALLOW);
  });

  it("a policy's denial still wins over the overlay's trap", () => {
    const cp = compilePolicy(variant({ filesystem: { root: "overlay" }, syscalls: { deny: ["mkdir"] } }));
    expect(cp.filter.syscalls.get(nr("mkdir"))).toEqual(errno(EPERM));
  });

  it("cannot hide / itself (/** none): the overlay is the host's root", () => {
    const hidden = variant({ filesystem: { root: "overlay", rules: [{ path: "/**", access: "none" }, { path: "/usr/**", access: "read" }] } });
    expect(() => compilePolicy(hidden)).toThrow(PolicyCompileError);
    expect(() => compilePolicy(hidden)).toThrow(/overlay.*\/\*\*/);
    // A later rule on the same path decides it.
    expect(() => compilePolicy(variant({ filesystem: { root: "overlay", rules: [{ path: "/**", access: "none" }, { path: "/**", access: "read" }] } }))).not.toThrow();
  });
});

describe("a CPU limit shown by a virtual cpuinfo", () => {
  it("sched_getaffinity reaches the sentry, and only then", () => {
    expect(compilePolicy(variant({}), { limitedCpus: true }).filter.syscalls.get(nr("sched_getaffinity"))).toEqual(TRAP);
    expect(compilePolicy(variant({})).filter.syscalls.get(nr("sched_getaffinity"))).toEqual(ALLOW);
  });
});

describe("what this version cannot enforce", () => {
  it("a syscall name the table does not know is a PolicyCompileError", () => {
    expect(() => compilePolicy(variant({ syscalls: { deny: ["nosuchcall"] } }))).toThrow(PolicyCompileError);
  });
});
