// Dispatch over the fake platform: decisions before handlers, errno as the only currency,
// and every other failure of a handler killing the task (fail closed).
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { FakeEvent, FakeMemory, FakePlatform, type FakeEventInit } from "../../../platform/fake/fake.js";
import { ALLOW, KILL, type Reply, type TrapEvent } from "../../../platform/platform.js";
import { CLONE_NEWNET, CLONE_NEWUSER, CLONE_VM } from "../../../platform/abi/clone.js";
import { EACCES, ENOENT, ENOSYS, EPERM } from "../../../platform/abi/errno.js";
import { sysnoByName } from "../../../platform/abi/sysno_amd64.js";
import { SyscallError } from "../../../sentry/errors/errors.js";
import type { Kernel } from "../../../sentry/kernel/kernel.js";
import type { Task } from "../../../sentry/kernel/task.js";
import { compilePolicy, type Decision } from "../../../sentry/filter/compile.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";
import { Dispatcher } from "../../../sentry/syscalls/dispatch.js";
import type { Handler } from "../../../sentry/syscalls/handlers.js";
import { family } from "../../../sentry/syscalls/handlers.js";
import { TABLE_AMD64, withFamilies } from "../../../sentry/syscalls/table_amd64.js";

const PID = 4100;
const SIGCHLD = 17;

const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
const DECISIONS = compilePolicy(DEFAULT).decisions;

/** Handlers here never touch the kernel context; it only has to be passed through. */
const KERNEL = { tag: "kernel" } as unknown as Kernel;

function nr(name: string): number {
  const n = sysnoByName(name);
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

function errno(e: number): Reply {
  return { kind: "errno", errno: e };
}

/** A handler that counts its calls and answers with `reply` (or runs `body`). */
function spy(body: Reply | ((t: Task) => Reply)): Handler & { calls: number } {
  const h = (t: Task): Reply => {
    h.calls++;
    return typeof body === "function" ? body(t) : body;
  };
  h.calls = 0;
  return h;
}

interface Bug {
  readonly pid: number;
  readonly nr: number;
  readonly err: unknown;
}

/** A dispatcher over the table's rows with these handlers joined, and the bug reports it makes. */
function dispatcher(
  tables: readonly Readonly<Record<string, Handler>>[],
  decisions: readonly (Decision | undefined)[] = DECISIONS,
): { d: Dispatcher; bugs: Bug[] } {
  const bugs: Bug[] = [];
  const bare = TABLE_AMD64.map(({ handler: _h, trap: _t, ...e }) => e);
  const d = new Dispatcher(KERNEL, decisions, withFamilies(bare, tables.map((t) => family(t))), {
    bug: (ev, err) => bugs.push({ pid: ev.pid, nr: ev.nr, err }),
  });
  return { d, bugs };
}

/** Runs one scripted call through the dispatcher and returns its reply. */
function call(d: Dispatcher, name: string | number, args: readonly bigint[] = []): Reply {
  const ev: FakeEventInit = { pid: PID, nr: typeof name === "number" ? name : nr(name), args };
  const replies = new FakePlatform([ev]).run((e) => d.handle(e));
  expect(replies).toHaveLength(1);
  return replies[0] as Reply;
}

describe("decisions come first", () => {
  it.each(["bpf", "ptrace", "mount", "io_uring_setup"])("a denied %s never reaches its handler", (name) => {
    const h = spy(ALLOW);
    const { d } = dispatcher([{ [name]: h }]);
    expect(call(d, name)).toEqual(errno(EPERM));
    expect(h.calls).toBe(0);
  });

  it("a kill decision kills without calling the handler", () => {
    const decisions: (Decision | undefined)[] = [];
    decisions[nr("getpid")] = { action: { kind: "kill" } };
    const h = spy(ALLOW);
    const { d } = dispatcher([{ getpid: h }], decisions);
    expect(call(d, "getpid")).toBe(KILL);
    expect(h.calls).toBe(0);
  });

  it("an allowed syscall without a handler is allowed", () => {
    const { d } = dispatcher([]);
    expect(call(d, "read", [0n, 0x1000n, 10n])).toBe(ALLOW);
    expect(d.hasHandler(nr("read"))).toBe(false);
  });

  it("a trapped syscall with a handler gets the handler's reply, object for object", () => {
    const mine: Reply = { kind: "value", value: 1234 };
    const h = spy(mine);
    const { d } = dispatcher([{ connect: h }]);
    expect(d.hasHandler(nr("connect"))).toBe(true);
    expect(call(d, "connect", [3n, 0x1000n, 16n])).toBe(mine);
    expect(h.calls).toBe(1);
  });

  it("hands the handler a task of the kernel context and the event", () => {
    const mem = new FakeMemory(PID);
    mem.pokeString(0x2000, "/etc/hostname");
    const h = spy((t) => {
      const ev = t.ev;
      expect(t.k).toBe(KERNEL);
      expect(t.tid).toBe(PID);
      expect([ev.pid, ev.nr, ev.argInt(0), ev.argNum(1)]).toEqual([PID, nr("openat"), -100, 0x2000]);
      expect(mem.readString(ev.pid, ev.argNum(1), 4096)).toBe("/etc/hostname");
      return { kind: "fd", fd: 9, cloexec: true };
    });
    const { d } = dispatcher([{ openat: h }]);
    expect(call(d, "openat", [BigInt.asUintN(64, -100n), 0x2000n, 0n])).toEqual({ kind: "fd", fd: 9, cloexec: true });
    expect(h.calls).toBe(1);
  });

  it.each([
    ["an unassigned number", 1000],
    ["a number inside the table's range that Linux never assigned", 400],
    ["nr -1 (a skipped syscall)", -1],
    ["an x32 number", 0x40000000 | 39],
  ])("%s is ENOSYS", (_, n) => {
    const { d } = dispatcher([]);
    expect(call(d, n)).toEqual(errno(ENOSYS));
  });
});

describe("argument rules are evaluated on the registers", () => {
  const h = spy({ kind: "value", value: 4242 });
  const { d } = dispatcher([{ clone: h }]);

  it.each([
    ["CLONE_NEWUSER", BigInt(CLONE_NEWUSER | SIGCHLD)],
    ["CLONE_NEWNET", BigInt(CLONE_NEWNET)],
    ["CLONE_NEWUSER with high bits set", (0xffn << 32n) | BigInt(CLONE_NEWUSER)],
  ])("clone with %s is EPERM without reaching the handler", (_, flags) => {
    const before = h.calls;
    expect(call(d, "clone", [flags])).toEqual(errno(EPERM));
    expect(h.calls).toBe(before);
  });

  it("clone without namespace flags reaches the handler", () => {
    const before = h.calls;
    expect(call(d, "clone", [BigInt(CLONE_VM | SIGCHLD)])).toEqual({ kind: "value", value: 4242 });
    expect(h.calls).toBe(before + 1);
  });

  it("clone without namespace flags and without a handler is allowed", () => {
    const { d: bare } = dispatcher([]);
    expect(call(bare, "clone", [BigInt(SIGCHLD)])).toBe(ALLOW);
    expect(call(bare, "clone", [BigInt(CLONE_NEWUSER)])).toEqual(errno(EPERM));
  });
});

describe("errno is the only currency", () => {
  it("a SyscallError becomes its errno", () => {
    const { d, bugs } = dispatcher([
      {
        connect: () => {
          throw new SyscallError(ENOENT);
        },
      },
    ]);
    expect(call(d, "connect")).toEqual(errno(ENOENT));
    expect(bugs).toEqual([]);
  });

  it("a SyscallError thrown from a helper deep in the handler becomes its errno", () => {
    const deep = (): never => {
      throw new SyscallError(EACCES);
    };
    const { d } = dispatcher([{ connect: () => (deep(), ALLOW) }]);
    expect(call(d, "connect")).toEqual(errno(EACCES));
  });

  it("a Node-shaped system error becomes its errno", () => {
    const err = Object.assign(new Error("EACCES: permission denied, open '/x'"), {
      errno: -13,
      code: "EACCES",
      syscall: "open",
    });
    const { d, bugs } = dispatcher([
      {
        connect: () => {
          throw err;
        },
      },
    ]);
    expect(call(d, "connect")).toEqual(errno(13));
    expect(bugs).toEqual([]);
  });

  it.each([
    ["a plain Error", new Error("boom")],
    ["a TypeError", new TypeError("cannot read properties of undefined")],
    ["a RangeError", new RangeError("offset out of range")],
    ["a string", "boom"],
    ["undefined", undefined],
    ["an Error with a numeric errno but no code", Object.assign(new Error("x"), { errno: -2 })],
    ["an Error with errno 0", Object.assign(new Error("x"), { errno: 0, code: "OK" })],
  ])("%s kills the task and is reported as a bug", (_, thrown) => {
    const { d, bugs } = dispatcher([
      {
        connect: () => {
          throw thrown;
        },
      },
    ]);
    expect(call(d, "connect")).toBe(KILL);
    expect(bugs).toEqual([{ pid: PID, nr: nr("connect"), err: thrown }]);
  });

  // handle() is the only catch site: whatever a handler throws must end in a reply. An errno
  // outside 1..4095 cannot be sent, so it is a sentry bug like any other.
  it.each([
    ["SyscallError(0)", new SyscallError(0)],
    ["SyscallError(-1)", new SyscallError(-1)],
    ["SyscallError(5000)", new SyscallError(5000)],
    ["a Node-shaped error with errno -5000", Object.assign(new Error("x"), { errno: -5000, code: "EWEIRD" })],
    ["a Node-shaped error with errno NaN", Object.assign(new Error("x"), { errno: Number.NaN, code: "EWEIRD" })],
  ])("%s kills the task and is reported as a bug, not thrown out of handle()", (_, thrown) => {
    const { d, bugs } = dispatcher([
      {
        connect: () => {
          throw thrown;
        },
      },
    ]);
    let reply: Reply | undefined;
    expect(() => {
      reply = d.handle(new FakeEvent({ pid: PID, nr: nr("connect") }));
    }).not.toThrow();
    expect(reply).toBe(KILL);
    expect(bugs).toHaveLength(1);
  });
});

describe("policy actions reach the dispatcher as written", () => {
  // policies/README.md: `trap` sends the syscall to the sentry; one it has no handler for runs
  // as `allow` (a pure round trip, legal because no memory was read). A handler decides.
  it("a policy rule with action trap reaches the sentry: its handler decides, else allow", () => {
    const policy: Policy = {
      ...DEFAULT,
      syscalls: { ...DEFAULT.syscalls, rules: [{ names: ["getpid"], args: [], action: "trap" }] },
    };
    const compiled = compilePolicy(policy);
    expect(compiled.layers.get(nr("getpid"))).toBe("sentry");
    expect(call(dispatcher([], compiled.decisions).d, "getpid")).toEqual(ALLOW);
    const refuse = spy(errno(EACCES));
    expect(call(dispatcher([{ getpid: refuse }], compiled.decisions).d, "getpid")).toEqual(errno(EACCES));
    expect(refuse.calls).toBe(1);
  });
});

describe("the table as registry: families joined to its rows", () => {
  it("refuses two handlers for one syscall, within or across families", () => {
    expect(() => dispatcher([{ getpid: spy(ALLOW) }, { getpid: spy(ALLOW) }])).toThrow(/two handlers for getpid/);
  });

  it("refuses a handler for a name that is not an amd64 syscall", () => {
    expect(() => dispatcher([{ getpidd: spy(ALLOW) }])).toThrow(/a handler for getpidd, which is not an amd64 syscall/);
    expect(() => dispatcher([{ constructor: spy(ALLOW) }])).toThrow(/not an amd64 syscall/);
  });

  it("registers every handler of every family", () => {
    const { d } = dispatcher([{ connect: spy(ALLOW), sendto: spy(ALLOW) }, { execve: spy(ALLOW) }]);
    expect(["connect", "sendto", "execve", "openat"].map((n) => d.hasHandler(nr(n)))).toEqual([true, true, true, false]);
  });

  it("every row the filter may trap has its handler on the same row", () => {
    const trapped = TABLE_AMD64.filter((e) => e.trap !== undefined);
    expect(trapped.filter((e) => e.handler === undefined).map((e) => e.name)).toEqual([]);
    const byWhen = (when: string): string[] => trapped.filter((e) => e.trap!.when === when).map((e) => e.name).sort();
    expect(byWhen("signals-self")).toEqual(["kill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "tgkill", "tkill"]);
    expect(byWhen("exec-seen")).toEqual(["execve", "execveat"]);
    expect(byWhen("network-contained")).toEqual(["connect", "sendmmsg", "sendmsg", "sendto"]);
    expect(byWhen("network-proxy")).toEqual(["ioctl", "listen"]);
    expect(byWhen("bind-checked")).toEqual(["bind"]);
    expect(byWhen("cpus-limited")).toEqual(["sched_getaffinity"]);
    expect(byWhen("overlay-root")).toContain("openat");
    expect(byWhen("overlay-root")).toContain("renameat2");
    expect(byWhen("any-trap")).toContain("setresuid");
  });
});
