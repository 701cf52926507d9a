// audit: true — the policy's refusals are lifted to what the built-in table decides, trapped,
// and reported; the table's own refusals (the sandbox's invariants) stay. And the facts the
// sentry records become "would deny" lines judged like `policy explain`.
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { FakePlatform } from "../../../../platform/fake/fake.js";
import { ALLOW, type Reply } from "../../../../platform/platform.js";
import { judge } from "../../../../runsc/audit.js";
import { EPERM } from "../../../../platform/abi/errno.js";
import { sysnoByName } from "../../../../platform/abi/sysno_amd64.js";
import type { AuditFact } from "../../../../sentry/audit.js";
import type { Kernel } from "../../../../sentry/kernel/kernel.js";
import { compilePolicy } from "../../../../sentry/filter/compile.js";
import { defaultPoliciesDir, loadPolicyFile, parsePolicy } from "../../../../sentry/policy/load.js";
import type { Policy } from "../../../../sentry/policy/schema.js";
import { Dispatcher } from "../../../../sentry/syscalls/dispatch.js";
import type { FilterAction } from "../../../../sentry/syscalls/syscall.js";
import { runFilter } from "../../../../platform/seccomp/interpreter.js";
import { RET_ALLOW, RET_USER_NOTIF } from "../../../helpers/seccomp.js";
import { compileFilter } from "../../../../platform/seccomp/compile.js";

const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
const SECCOMP_RET_TRAP_TO_SENTRY = RET_USER_NOTIF;

function nr(name: string): number {
  const n = sysnoByName(name);
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
}

function policy(yaml: string): Policy {
  return parsePolicy(`apiVersion: runsc-ts/v1\nkind: Policy\nname: t\n${yaml}`, "t.yaml");
}

const AUDITED = policy(`
syscalls:
  deny: [uname, sethostname]
  rules:
    - { names: [socket], args: [{ index: 0, op: ne, value: AF_UNIX }], action: errno(EAFNOSUPPORT) }
audit: true
`);

/** What BPF returns for a call (x86_64, the args given). */
function bpf(p: Policy, name: string, args: bigint[] = []): number {
  const program = compileFilter(compilePolicy(p).filter);
  return runFilter(program, { nr: nr(name), arch: 0xc000003e, ip: 0n, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6) });
}

describe("compiling audit: true", () => {
  const c = compilePolicy(AUDITED);

  it("keeps the policy's refusals apart and answers what the built-in table decides", () => {
    expect(c.audit?.[nr("uname")]).toEqual({ action: { kind: "errno", errno: EPERM } });
    expect(c.decisions[nr("uname")]).not.toEqual({ action: { kind: "errno", errno: EPERM } });
    // The policy's argument rule, kept whole: AF_UNIX passes, any other family fails.
    const socket = c.audit?.[nr("socket")];
    expect(socket).toMatchObject({ rules: [{ when: [{ index: 0, op: "ne", value: 1n }], action: { kind: "errno" } }] });
    expect(c.decisions[nr("socket")]).not.toEqual(socket);
  });

  it("traps what it lifts, so that the sentry can report it", () => {
    expect(bpf(AUDITED, "sethostname") >>> 0).toBe(SECCOMP_RET_TRAP_TO_SENTRY);
    expect(bpf(AUDITED, "socket", [2n]) >>> 0).toBe(SECCOMP_RET_TRAP_TO_SENTRY);
    expect(c.layers.get(nr("uname"))).toBe("sentry");
  });

  it("never lifts the table's own refusals (io_uring, bpf, mount, kexec)", () => {
    for (const name of ["io_uring_setup", "bpf", "mount", "kexec_load"]) {
      expect(c.audit?.[nr(name)], name).toBeUndefined();
      expect(bpf(AUDITED, name) >>> 0, name).not.toBe(SECCOMP_RET_TRAP_TO_SENTRY);
      expect(bpf(AUDITED, name) >>> 0, name).not.toBe(RET_ALLOW);
    }
  });

  it("leaves a policy without audit as it was (nothing kept apart)", () => {
    const plain = compilePolicy({ ...AUDITED, audit: false });
    expect(plain.audit).toBeUndefined();
    expect(plain.decisions[nr("uname")]).toEqual({ action: { kind: "errno", errno: EPERM } });
  });
});

describe("the dispatcher under audit", () => {
  const c = compilePolicy(AUDITED);
  const reported: { name: number; would: FilterAction; answered: FilterAction }[] = [];
  const d = new Dispatcher(
    {} as Kernel,
    c.decisions,
    [],
    {
      bug: () => {},
      audit: (ev, would, answered) => reported.push({ name: ev.nr, would, answered }),
    },
    c.audit,
  );
  const run = (name: string, args: bigint[] = []): Reply => new FakePlatform([{ pid: 7, nr: nr(name), args }]).run((e) => d.handle(e))[0]!;

  it("answers the table's decision and reports the policy's", () => {
    reported.length = 0;
    expect(run("sethostname")).toEqual(ALLOW);
    expect(reported).toEqual([{ name: nr("sethostname"), would: { kind: "errno", errno: EPERM }, answered: { kind: "allow" } }]);
  });

  it("reports nothing when the policy's rule does not refuse these arguments", () => {
    reported.length = 0;
    expect(run("socket", [1n])).toEqual(ALLOW); // AF_UNIX
    expect(reported).toEqual([]);
    expect(run("socket", [2n])).toEqual(ALLOW); // AF_INET: lifted
    expect(reported).toHaveLength(1);
  });
});

describe("judging facts", () => {
  const locate = (path: readonly PropertyKey[]): string => `default.yaml:${path.join(".")}`;
  const strict: Policy = { ...DEFAULT, process: { ...DEFAULT.process, signals: "self", exec: { allow: ["/usr/bin/**"], entrypoint: false } } };

  it.each<[string, AuditFact, RegExp | undefined]>([
    ["a hidden file", { kind: "path", syscall: "openat", path: "/etc/shadow", write: false, dir: false, examine: false }, /would deny: openat \/etc\/shadow: hidden/],
    ["a hidden file reached through a symlink", { kind: "path", syscall: "openat", path: "/var/x", resolved: "/root/.ssh/id", write: false, dir: false, examine: false }, /\/root\/\.ssh\/id: hidden/],
    ["a visible file", { kind: "path", syscall: "openat", path: "/etc/hostname", write: false, dir: false, examine: false }, undefined],
    ["an exec outside the list", { kind: "exec", syscall: "execve", path: "/opt/x" }, /would deny: execve \/opt\/x: denied: EACCES/],
    ["an exec inside it", { kind: "exec", syscall: "execve", path: "/usr/bin/id" }, undefined],
    ["a connect under network none", { kind: "net", syscall: "connect", family: "inet", address: "192.0.2.1", port: 80 }, /would deny: connect 192\.0\.2\.1:80/],
    ["a signal to another process under signals: self", { kind: "signal", syscall: "kill", target: 12, own: false }, /would deny: kill of 12 .*EPERM \(default\.yaml:process\.signals process\.signals self\)/],
    ["a signal to itself", { kind: "signal", syscall: "tgkill", target: 3, own: true }, undefined],
    ["a syscall", { kind: "syscall", syscall: "sethostname", would: "errno(EPERM)", answered: "allow" }, /would deny: sethostname: errno\(EPERM\) \(default\.yaml:syscalls\.deny\.0 syscalls\.deny lists it\)/],
  ])("%s", (_, fact, want) => {
    const line = judge(strict, locate, fact);
    if (want === undefined) expect(line).toBeUndefined();
    else expect(line).toMatch(want);
  });
});
