// process.signals in the sentry: the register forms of the kill family, decided on the
// caller's ids in its PID namespace (a fake kernel with the caller's credentials cached).
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { FakeEvent } from "../../../platform/fake/fake.js";
import { ALLOW, type Reply } from "../../../platform/platform.js";
import { EINVAL, EPERM } from "../../../platform/abi/errno.js";
import { sysnoByName } from "../../../platform/abi/sysno_amd64.js";
import { type Creds, CredsCache } from "../../../sentry/kernel/creds.js";
import { Identity } from "../../../sentry/kernel/identity.js";
import type { Kernel } from "../../../sentry/kernel/kernel.js";
import { Task } from "../../../sentry/kernel/task.js";
import { compilePolicy } from "../../../sentry/filter/compile.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";
import { Dispatcher } from "../../../sentry/syscalls/dispatch.js";
import { signalFamily } from "../../../sentry/syscalls/sys_signal.js";
import { TABLE_AMD64 } from "../../../sentry/syscalls/table_amd64.js";

/** The caller: host tgid 4107, thread 4109; in its PID namespace tgid 7, thread 9. */
const HOST_TGID = 4107;
const HOST_TID = 4109;
const NS_TGID = 7;
const NS_TID = 9;
const INIT_PID = 4001;
const NON_NULL = 0x7fff0000n;

function nr(name: string): number {
  const n = sysnoByName(name);
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

function creds(tgid: number, nstgid: number, nspid: number): Creds {
  return { tgid, nstgid, nspid, ruid: 0, euid: 0, fsuid: 0, rgid: 0, egid: 0, fsgid: 0, groups: new Int32Array(0), umask: 0o22, threads: 2, capEff: 0n };
}

/** A kernel whose only task is the caller (and the sandbox's init); anything else it touches throws. */
function kernel(signals: "sandbox" | "self"): Kernel {
  const cache = new CredsCache();
  cache.entries.set(HOST_TID, { creds: creds(HOST_TGID, NS_TGID, NS_TID), pidfd: 100 });
  cache.entries.set(INIT_PID, { creds: creds(INIT_PID, 1, 1), pidfd: 101 });
  const native = new Proxy(
    { pidfdExited: () => false },
    {
      get(target, prop) {
        if (prop in target) return target[prop as keyof typeof target];
        throw new Error(`unexpected native call ${String(prop)}`);
      },
    },
  );
  return { signals, initPid: INIT_PID, creds: cache, native, identity: new Identity(native as never) } as unknown as Kernel;
}

function call(k: Kernel, name: string, args: bigint[], pid = HOST_TID): Reply {
  const h = signalFamily[name]?.handler;
  if (h === undefined) throw new Error(`no handler for ${name}`);
  const t = new Task(k, new FakeEvent({ pid, nr: nr(name), args }));
  try {
    return h(t);
  } finally {
    t.end();
  }
}

const errno = (e: number): Reply => ({ kind: "errno", errno: e });
const neg = (n: number): bigint => BigInt.asUintN(64, BigInt(n));

describe("process.signals self, decided on registers", () => {
  const k = kernel("self");

  it.each<[string, bigint[], Reply]>([
    ["kill", [BigInt(NS_TGID), 10n], ALLOW],
    ["kill", [BigInt(NS_TGID), 0n], ALLOW],
    ["kill", [BigInt(NS_TID), 10n], ALLOW],
    ["kill", [8n, 10n], errno(EPERM)],
    ["kill", [8n, 0n], errno(EPERM)],
    ["kill", [1n, 15n], errno(EPERM)],
    ["kill", [0n, 10n], errno(EPERM)],
    ["kill", [neg(-NS_TGID), 10n], errno(EPERM)],
    ["kill", [neg(-1), 0n], errno(EPERM)],
    ["kill", [8n, 99n], errno(EINVAL)],
    ["kill", [8n, neg(-1)], errno(EINVAL)],
    // pid_t is 32 bits: the kernel ignores the register's upper half, and so does the decision.
    ["kill", [(1n << 32n) | BigInt(NS_TGID), 10n], ALLOW],
    ["kill", [(1n << 32n) | 8n, 10n], errno(EPERM)],
    ["kill", [(BigInt(NS_TGID) << 32n) | 8n, 10n], errno(EPERM)],
    ["rt_sigqueueinfo", [BigInt(NS_TGID), 10n, NON_NULL], ALLOW],
    ["rt_sigqueueinfo", [8n, 10n, NON_NULL], errno(EPERM)],
    ["rt_sigqueueinfo", [0n, 10n, NON_NULL], errno(EPERM)],
    ["tkill", [BigInt(NS_TID), 10n], ALLOW],
    ["tkill", [BigInt(NS_TGID), 10n], ALLOW],
    ["tkill", [8n, 10n], errno(EPERM)],
    ["tkill", [0n, 10n], errno(EINVAL)],
    ["tkill", [neg(-NS_TID), 10n], errno(EINVAL)],
    ["tgkill", [BigInt(NS_TGID), BigInt(NS_TID), 10n], ALLOW],
    ["tgkill", [BigInt(NS_TGID), 123n, 10n], ALLOW],
    ["tgkill", [8n, 8n, 10n], errno(EPERM)],
    ["tgkill", [BigInt(NS_TID), BigInt(NS_TID), 10n], errno(EPERM)],
    ["tgkill", [BigInt(NS_TGID), 0n, 10n], errno(EINVAL)],
    ["tgkill", [0n, BigInt(NS_TID), 10n], errno(EINVAL)],
    ["rt_tgsigqueueinfo", [BigInt(NS_TGID), BigInt(NS_TID), 10n, NON_NULL], ALLOW],
    ["rt_tgsigqueueinfo", [8n, 8n, 10n, NON_NULL], errno(EPERM)],
  ])("%s %o: %o", (name, args, want) => {
    expect(call(k, name, args)).toEqual(want);
  });

  it("lets the sandbox's init forward signals to the workload", () => {
    expect(call(k, "kill", [2n, 15n], INIT_PID)).toEqual(ALLOW);
    expect(call(k, "kill", [2n, 15n])).toEqual(errno(EPERM));
  });
});

describe("process.signals sandbox", () => {
  it.each<[string, bigint[]]>([
    ["kill", [8n, 9n]],
    ["kill", [neg(-1), 9n]],
    ["tkill", [8n, 9n]],
    ["tgkill", [8n, 8n, 9n]],
    ["rt_sigqueueinfo", [8n, 10n, NON_NULL]],
    ["rt_tgsigqueueinfo", [8n, 8n, 10n, NON_NULL]],
    ["pidfd_send_signal", [3n, 9n, 0n, 0n]],
  ])("lets the kernel run %s %o without looking at the caller", (name, args) => {
    const k = kernel("sandbox");
    k.creds.entries.clear();
    expect(call(k, name, args)).toEqual(ALLOW);
  });
});

describe("dispatch under process.signals self", () => {
  const policy: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
  const self = compilePolicy({ ...policy, process: { ...policy.process, signals: "self" } });
  const d = new Dispatcher(kernel("self"), self.decisions, TABLE_AMD64.filter((e) => e.name in signalFamily), { bug: (_, err) => { throw err; } });

  it("answers from the handler: the caller itself runs in the kernel, another process fails with EPERM", () => {
    expect(d.handle(new FakeEvent({ pid: HOST_TID, nr: nr("kill"), args: [BigInt(NS_TGID), 6n] }))).toEqual(ALLOW);
    expect(d.handle(new FakeEvent({ pid: HOST_TID, nr: nr("kill"), args: [8n, 15n] }))).toEqual(errno(EPERM));
    expect(d.handle(new FakeEvent({ pid: HOST_TID, nr: nr("tgkill"), args: [8n, 8n, 15n] }))).toEqual(errno(EPERM));
  });
});
