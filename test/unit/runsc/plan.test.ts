// The two front-ends of the one sandbox pipeline: planDo (a command over the host's root) and
// planBundle (an OCI bundle) make the same kind of plan, which is plain data, and the same
// policy gives the same sentry whichever front-end planned it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { deserialize, serialize } from "node:v8";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from "../../../platform/abi/clone.js";
import { SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV } from "../../../platform/abi/seccomp.js";
import { sysnoByName, sysnoName } from "../../../platform/abi/sysno_amd64.js";
import { parseOciConfig } from "../../../runsc/oci/config.js";
import { planBundle } from "../../../runsc/oci/planBundle.js";
import type { BundleInput } from "../../../runsc/oci/planBundle.js";
import { HOST_ID_BASE, ID_RANGE } from "../../../runsc/sandbox/ids.js";
import type { HostFacts, SandboxPlan } from "../../../runsc/sandbox/plan.js";
import { passedIndexes } from "../../../runsc/sandbox/plan.js";
import type { DoInput } from "../../../runsc/sandbox/planDo.js";
import { planDo } from "../../../runsc/sandbox/planDo.js";
import { defaultPoliciesDir, loadPolicyFile, parsePolicy } from "../../../sentry/policy/load.js";
import type { OciSeccomp } from "../../../sentry/policy/oci.js";
import { evaluateDecision } from "../../../sentry/policy/decision.js";
import type { Policy } from "../../../sentry/policy/schema.js";

const HOST: HostFacts = { cpus: 4, waitKillableRecv: true, maskFile: "/run/runsc-ts/.masked" };
const DOCKER = readFileSync(join(__dirname, "../../fixtures/oci/docker-config.json"), "utf8");
const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
const CONTAINER: Policy = loadPolicyFile(join(defaultPoliciesDir(), "container.yaml"));

function doInput(patch: Partial<DoInput> = {}): DoInput {
  return { argv: ["/bin/true"], env: ["PATH=/usr/bin:/bin"], cwd: "/", cwdFallback: true, policy: DEFAULT, network: "none", trace: null, recording: false, hostname: "sandbox", hostNames: {}, owner: 4242, ...patch };
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "runsc-ts-plan-"));
  for (const d of ["rootfs/proc", "rootfs/dev", "rootfs/sys", "rootfs/tmp", "rootfs/bin"]) mkdirSync(join(tmp, d), { recursive: true });
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function bundleInput(policy: Policy, patch: Partial<BundleInput> = {}): BundleInput {
  return { id: "c1", config: parseOciConfig(DOCKER, "config.json"), bundle: tmp, rootfs: join(tmp, "rootfs"), policy, policyName: "test", network: "host", strace: false, preserved: [], ...patch };
}

/** A plan survives the trip to another process or thread unchanged: it is data. */
function roundTrips(plan: SandboxPlan): void {
  expect(deserialize(serialize(plan))).toEqual(plan);
}

describe("planDo", () => {
  it("a user namespace mapped to runsc-ts's id range, its own namespaces, no groups without limits", () => {
    const plan = planDo(doInput(), HOST);
    expect(plan.namespaces).toEqual({
      flags: CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET,
      join: [],
      uidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      gidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
    });
    expect(plan.cgroups).toBeUndefined();
    expect(plan.filter.flags).toBe(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    expect(planDo(doInput(), { ...HOST, waitKillableRecv: false }).filter.flags).toBe(0);
    expect(plan.records.filter((r) => r.op === "arg")).toEqual([{ op: "arg", value: "/bin/true" }]);
    expect(plan.sentry).toMatchObject({ network: "none", hostname: "sandbox" });
    roundTrips(plan);
  });

  it("network host keeps the host's network namespace", () => {
    expect(planDo(doInput({ network: "host" }), HOST).namespaces.flags & CLONE_NEWNET).toBe(0);
  });

  it("--memory and --cpus are linux.resources of a group named for the runsc-ts, with no device group", () => {
    const plan = planDo(doInput({ limits: { memoryBytes: 256 << 20, cpus: 0.5 } }), HOST);
    expect(plan.cgroups!.spec).toEqual({
      path: "/runsc-ts/sandbox-4242",
      resources: { memory: { limit: 256 << 20, swap: 256 << 20 }, cpu: { quota: 50000, period: 100000 } },
      devices: "unrestricted",
      staleSiblings: "sandbox-",
    });
    expect(plan.cgroups!.layout.groups.map((g) => g.controller)).not.toContain("devices");
    expect(plan.cgroups!.layout.groups.every((g) => g.dir.endsWith("/runsc-ts/sandbox-4242"))).toBe(true);
    roundTrips(plan);
  });
});

describe("planBundle", () => {
  it("the config's namespaces, the default cgroups path, the container's id as host name", () => {
    const config = { ...parseOciConfig(DOCKER, "config.json"), hostname: undefined, linux: { ...parseOciConfig(DOCKER, "config.json").linux, cgroupsPath: undefined } };
    const plan = planBundle(bundleInput(CONTAINER, { config }), HOST);
    expect(plan.namespaces.flags).toBe(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWIPC);
    expect(plan.namespaces.uidMap).toBe("");
    expect(plan.userns).toBe(false);
    expect(plan.cgroups!.spec.path).toBe("/runsc-ts/c1");
    expect(plan.cgroups!.spec.devices).toEqual([]);
    expect(plan.sentry.hostname).toBe("c1");
    expect(plan.records.at(-1)).toEqual({ op: "hold" });
    roundTrips(plan);
  });

  it("preserved descriptors follow the overlay and the virtual /proc mount in the passed list", () => {
    const policy = parsePolicy(
      "apiVersion: runsc-ts/v1\nkind: Policy\nname: p\nextends: container\nfilesystem:\n  root: overlay\n  proc:\n    virtualize: [meminfo]\n",
      "p.yaml",
    );
    const plan = planBundle(bundleInput(policy, { preserved: [3, 4] }), HOST);
    expect(passedIndexes(plan)).toEqual({ overlay: 0, proc: 1, preserved: 2 });
    expect(plan.records.filter((r) => r.op === "preserve")).toEqual([
      { op: "preserve", index: 2, target: 3 },
      { op: "preserve", index: 3, target: 4 },
    ]);
    expect(plan.records).toContainEqual({ op: "attach", index: 0, path: expect.stringMatching(/\/root$/) });
    expect(plan.overlay).toMatchObject({ lower: join(tmp, "rootfs"), whiteouts: [] });
    // Root inside is host root without a user namespace: the kernel decides its writes.
    expect(plan.sentry.overlay).toBeUndefined();
  });
});

describe("one pipeline", () => {
  it("the same policy, seccomp profile and network give the same filter and sentry from either front-end", () => {
    const profile = parseOciConfig(DOCKER, "config.json").linux!.seccomp as OciSeccomp;
    const d = planDo(doInput({ policy: CONTAINER, network: "none", ociSeccomp: profile }), HOST);
    const b = planBundle(bundleInput(CONTAINER, { network: "none" }), HOST);
    expect(b.sentry.decisions).toEqual(d.sentry.decisions);
    expect(b.filter).toEqual(d.filter);
    expect(b.sentry.signals).toBe(d.sentry.signals);
    expect(b.sentry.network).toBe(d.sentry.network);
  });

  it("under network host, a container's connect, addressed sendto and sendmsg still reach the sentry (host unix sockets are network); do's stay in the kernel", () => {
    const profile = parseOciConfig(DOCKER, "config.json").linux!.seccomp as OciSeccomp;
    const d = planDo(doInput({ policy: CONTAINER, network: "host", ociSeccomp: profile }), HOST);
    const b = planBundle(bundleInput(CONTAINER), HOST);
    const differ = b.sentry.decisions.flatMap((x, nr) => (isDeepStrictEqual(x, d.sentry.decisions[nr]) ? [] : [sysnoName(nr)]));
    expect(differ).toEqual(["sendto", "connect", "sendmsg", "sendmmsg"].sort((x, y) => sysnoByName(x)! - sysnoByName(y)!));
    expect(b.sentry.container).toBe(true);
    expect(d.sentry.container).toBeUndefined();
    expect(evaluateDecision(b.sentry.decisions[sysnoByName("connect")!]!, () => 0n).kind).toBe("trap");
    expect(evaluateDecision(d.sentry.decisions[sysnoByName("connect")!]!, () => 0n).kind).toBe("allow");
  });
});
