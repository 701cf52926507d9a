// OCI linux.seccomp in the rule model, combined with a policy: the stricter decision wins,
// checked on the profile Docker really sends (reference/configs/docker-config.json) and
// through the compiled BPF.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileFilter } from "../../../../platform/seccomp/compile.js";
import { LoadedFilter } from "../../../../platform/seccomp/interpreter.js";
import { sysnoByName } from "../../../../platform/abi/sysno_amd64.js";
import { compilePolicy, evaluateDecision } from "../../../../sentry/filter/compile.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../../sentry/policy/load.js";
import { combine, ociDecisions, OciSeccompError, type OciSeccomp } from "../../../../sentry/policy/oci.js";
import type { FilterAction } from "../../../../sentry/syscalls/syscall.js";
import { TABLE_AMD64 as TABLE } from "../../../../sentry/syscalls/table_amd64.js";

/** linux.seccomp of config.json files Docker 20.10 and podman 4.3 generated (test/fixtures/oci). */
const FIXTURES = join(__dirname, "../../../fixtures/oci");
function referenceProfile(file: string): OciSeccomp {
  const text = readFileSync(join(FIXTURES, file), "utf8");
  return (JSON.parse(text) as { linux: { seccomp: OciSeccomp } }).linux.seccomp;
}

const DEFAULT = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
const nr = (name: string): number => sysnoByName(name)!;
const ALLOW: FilterAction = { kind: "allow" };

describe("OCI seccomp, Docker's profile with the default policy", () => {
  const docker = referenceProfile("docker-seccomp.json");
  const plain = compilePolicy(DEFAULT);
  const both = compilePolicy(DEFAULT, { ociSeccomp: docker });
  const filter = new LoadedFilter(compileFilter(both.filter));
  const run = (name: string, args: bigint[] = []): number =>
    filter.run({ nr: nr(name), arch: 0xc000003e, ip: 0n, args: [0, 1, 2, 3, 4, 5].map((i) => args[i] ?? 0n) });
  const decide = (name: string, args: bigint[] = []): FilterAction => evaluateDecision(both.decisions[nr(name)]!, (i) => args[i] ?? 0n);

  it("keeps what both allow in the kernel", () => {
    for (const name of ["read", "write", "mmap", "futex", "openat", "execve"]) {
      expect(decide(name), name).toEqual(ALLOW);
      expect(run(name), name).toBe(0x7fff0000);
    }
  });

  it("takes Docker's denials the policy would allow (its default action, errno EPERM)", () => {
    // unshare(CLONE_FILES): the built-in table allows it (no namespace flag); Docker's
    // profile does not list unshare at all (it needs CAP_SYS_ADMIN there).
    const tableOnly = { ...DEFAULT, syscalls: { ...DEFAULT.syscalls, deny: [] } };
    const files = (i: number): bigint => (i === 0 ? 0x400n : 0n);
    expect(evaluateDecision(compilePolicy(tableOnly).decisions[nr("unshare")]!, files)).toEqual(ALLOW);
    const withDocker = compilePolicy(tableOnly, { ociSeccomp: docker });
    expect(evaluateDecision(withDocker.decisions[nr("unshare")]!, files)).toEqual({ kind: "errno", errno: 1 });
    expect(run("unshare", [0x400n])).toBe((0x00050000 | 1) >>> 0);
    expect(run("clone3")).toBe((0x00050000 | 38) >>> 0); // errnoRet 38 in Docker's profile and ENOSYS in the table
  });

  it("keeps the policy's denials Docker would allow, and its traps", () => {
    expect(evaluateDecision(plain.decisions[nr("io_uring_setup")]!, () => 0n).kind).toBe("errno");
    expect(decide("io_uring_setup").kind).toBe("errno");
    expect(decide("connect")).toEqual({ kind: "trap" }); // network none: the sentry still decides
  });

  it("argument rules of both apply: personality and clone", () => {
    expect(decide("personality", [0n])).toEqual(ALLOW);
    expect(decide("personality", [0x40000n])).toEqual({ kind: "errno", errno: 1 });
    expect(decide("clone", [0x11n])).toEqual(ALLOW); // SIGCHLD only
    expect(decide("clone", [0x10000000n | 0x11n]).kind).toBe("errno"); // CLONE_NEWUSER
    expect(run("clone", [0x10000000n | 0x11n]) & 0xffff0000).toBe(0x00050000);
    expect(run("clone", [0x11n])).toBe(0x7fff0000);
  });

  it("podman's profile translates too", () => {
    const podman = referenceProfile("podman-seccomp.json");
    const { otherwise } = ociDecisions(podman);
    expect(otherwise).toEqual({ kind: "errno", errno: 38 });
    expect(() => compilePolicy(DEFAULT, { ociSeccomp: podman })).not.toThrow();
  });
});

describe("combine", () => {
  it("is exact: for any registers, the stricter of the two decisions", () => {
    const a = { rules: [{ when: [{ index: 0, op: "eq" as const, value: 1n }], action: { kind: "errno" as const, errno: 13 } }], otherwise: ALLOW };
    const b = { rules: [{ when: [{ index: 1, op: "gt" as const, value: 5n }], action: { kind: "kill" as const } }], otherwise: { kind: "trap" as const } };
    const c = combine(a, b);
    for (const [x, y, want] of [
      [1n, 9n, "kill"],
      [1n, 0n, "errno"],
      [2n, 9n, "kill"],
      [2n, 0n, "trap"],
    ] as const) {
      expect(evaluateDecision(c, (i) => (i === 0 ? x : i === 1 ? y : 0n)).kind, `${x},${y}`).toBe(want);
    }
  });

  it("refuses what it cannot enforce, naming the field", () => {
    expect(() => ociDecisions({ defaultAction: "SCMP_ACT_NOTIFY" })).toThrow(OciSeccompError);
    expect(() => ociDecisions({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_WHAT" }] }] })).toThrow(
      /linux\.seccomp\.syscalls\[0\]\.args\[0\]: unknown comparison SCMP_CMP_WHAT/,
    );
  });
});

describe("policies/default.yaml against Docker's default seccomp profile", () => {
  // Syscalls newer than the profile in reference/configs (Docker 20.10), which later
  // profiles allow or which only act on what the caller holds.
  const NEWER = new Set([
    "pkey_mprotect", "pkey_alloc", "pkey_free", "pidfd_getfd", "process_madvise", "cachestat", "fchmodat2",
    "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount", "lsm_get_self_attr",
    "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat", "removexattrat", "file_getattr", "file_setattr",
  ]);

  it("allows nothing Docker's profile refuses, but for syscalls newer than it", () => {
    const docker = referenceProfile("docker-seccomp.json");
    const allowed = new Set((docker.syscalls ?? []).filter((e) => e.action === "SCMP_ACT_ALLOW").flatMap((e) => e.names));
    const compiled = compilePolicy(DEFAULT);
    const extra: string[] = [];
    for (const [n, layer] of compiled.layers) {
      const name = TABLE.find((e) => e.nr === n)!.name;
      if (layer !== "denied" && !allowed.has(name) && !NEWER.has(name)) extra.push(name);
    }
    expect(extra).toEqual([]);
  });

  it("and denies io_uring, which that profile still allowed", () => {
    for (const name of ["io_uring_setup", "io_uring_enter", "io_uring_register"]) {
      expect(compilePolicy(DEFAULT).layers.get(nr(name)), name).toBe("denied");
    }
  });
});
