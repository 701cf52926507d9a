// The `do` front-end: a command run over the host's root, as a sandbox plan (plan.ts). Pure
// but for what it reads of the host's tree (HostFs) to plan the policy's view of it.
import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from "../../platform/abi/clone.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import type { NetworkMode } from "../../sentry/config.js";
import { RECORDED_SYSCALLS } from "../../sentry/audit.js";
import type { CompiledPolicy } from "../../sentry/filter/compile.js";
import { compilePolicy } from "../../sentry/filter/compile.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { CgroupLimits } from "./cgroups.js";
import { cgroupLayout, DO_GROUP_PREFIX, resourcesOf } from "./cgroups.js";
import { withEgressHosts } from "./egressHosts.js";
import { HOST_ID_BASE, ID_RANGE } from "./ids.js";
import type { InitRecord } from "./initConfig.js";
import type { HostFs } from "./mounts.js";
import { hostFs, overlayMountPoints, overlayWhiteouts, planDoMounts } from "./mounts.js";
import type { HostFacts, SandboxPlan } from "./plan.js";
import type { FilterRecord } from "./plan.js";
import { filterRecord, passedIndexes, processLimitRecords, sentryConfigOf, shownCpus } from "./plan.js";
import { policyKey } from "../policyCache.js";

export interface DoInput {
  /** --record-events: every exec reaches the sentry (compile option recordEvents). */
  recordEvents?: boolean;
  argv: readonly string[];
  env: readonly string[];
  cwd: string;
  /** The cwd was not asked for: fall back to "/" when the sandbox cannot enter it. */
  cwdFallback: boolean;
  /** The policy as asked for (its process.exec.entrypoint already made concrete). */
  policy: Policy;
  network: NetworkMode;
  /** --strace: every trapped call, or these syscalls; null: none. */
  trace: "all" | readonly string[] | null;
  /** What the workload does is reported (audit, `policy learn`). */
  recording: boolean;
  /** An OCI linux.seccomp profile applied with the policy (the stricter decision wins). */
  ociSeccomp?: OciSeccomp;
  hostname: string;
  /** --memory and --cpus. */
  limits?: CgroupLimits;
  /** network.egress host names and the addresses they resolved to (egressHosts.ts). */
  hostNames: Readonly<Record<string, readonly string[]>>;
  /** The runsc-ts process the sandbox belongs to: its control groups are named for it. */
  owner: number;
}

/**
 * audit: true — what the sandbox enforces instead of the policy: hidden paths shown, exec,
 * network and signals unrestricted. What keeps the host safe stays: read-only paths stay read-only, the
 * built-in syscall table still refuses, and the namespaces are the same.
 */
export function liftedForAudit(policy: Policy): Policy {
  if (!policy.audit) return policy;
  const { exec: _exec, ...process } = policy.process;
  return {
    ...policy,
    filesystem: { ...policy.filesystem, rules: policy.filesystem.rules.filter((r) => r.access !== "none") },
    network: { mode: "host", egress: [], bind: [] },
    process: { ...process, signals: "sandbox" },
  };
}

/**
 * Compilations of loaded policies (policyKey) and how they were asked for: a warm process
 * plans one do after another, mostly under the same policy. Pure functions of their inputs,
 * kept as they are (nothing changes a compilation after it is made).
 */
const compilations = new Map<string, { compiled: CompiledPolicy; filter: FilterRecord }>();
const MAX_COMPILATIONS = 16;

function compiledFor(input: DoInput, policy: Policy, trace: "all" | Set<string> | undefined, limitedCpus: boolean, host: HostFacts): { compiled: CompiledPolicy; filter: FilterRecord } {
  const make = (): { compiled: CompiledPolicy; filter: FilterRecord } => {
    const compiled = compilePolicy(policy, {
      ...(trace !== undefined ? { trace } : {}),
      ...(input.ociSeccomp !== undefined ? { ociSeccomp: input.ociSeccomp } : {}),
      ...(limitedCpus ? { limitedCpus: true } : {}),
      ...(input.recordEvents === true ? { recordEvents: true } : {}),
    });
    return { compiled, filter: filterRecord(compiled.filter, host) };
  };
  const policyId = policyKey(input.policy);
  // An OCI profile is not keyed: compiled each time.
  if (policyId === undefined || input.ociSeccomp !== undefined) return make();
  const key = JSON.stringify([policyId, input.network, trace === undefined || trace === "all" ? (trace ?? null) : [...trace].sort(), limitedCpus, host.waitKillableRecv, input.recordEvents === true]);
  let hit = compilations.get(key);
  if (hit === undefined) {
    hit = make();
    if (compilations.size >= MAX_COMPILATIONS) compilations.clear();
    compilations.set(key, hit);
  }
  return hit;
}

export function planDo(input: DoInput, host: HostFacts, fs: HostFs = hostFs): SandboxPlan {
  const policy: Policy = { ...input.policy, network: { ...input.policy.network, mode: input.network } };
  const recording = input.recording || policy.audit;
  // Recording traces what facts are made of (on top of any --strace selection).
  const trace: "all" | Set<string> | undefined =
    input.trace === "all" ? "all" : input.trace === null && !recording ? undefined : new Set([...(input.trace ?? []), ...(recording ? RECORDED_SYSCALLS : [])]);
  const enforced = liftedForAudit(policy);
  const virtual = [...new Set(enforced.filesystem.proc.virtualize)];
  const limits = input.limits ?? {};
  const cpus = shownCpus(host, limits, virtual);
  const { compiled, filter } = compiledFor(input, policy, trace, cpus < host.cpus, host);
  const network = policy.audit ? "host" : input.network;
  const ownNetns = network === "none" || network === "proxy";
  const overlayRoot = enforced.filesystem.root === "overlay";
  const dir = enforced.filesystem.overlay.dir;
  const overlay = overlayRoot
    ? { size: dir === undefined ? enforced.filesystem.overlay.size : "", ...(dir !== undefined ? { dir } : {}), whiteouts: overlayWhiteouts(enforced, fs), files: overlayMountPoints(enforced, fs) }
    : undefined;
  const proc = virtual.length > 0 ? { files: virtual, limits } : undefined;
  const passed = passedIndexes({ overlay, proc });
  // Limits, and usage for the virtual /proc files: the sandbox's groups, named for its runsc-ts.
  const spec = input.limits !== undefined || proc !== undefined
    ? { path: `/runsc-ts/${DO_GROUP_PREFIX}${input.owner}`, resources: resourcesOf(limits), devices: "unrestricted" as const, staleSiblings: DO_GROUP_PREFIX }
    : undefined;
  const records: InitRecord[] = [
    { op: "hostname", name: input.hostname },
    ...(ownNetns ? [{ op: "loopbackUp" } as const] : []),
    ...planDoMounts(withEgressHosts(enforced, input.hostNames), host.maskFile, fs, passed),
    { op: "cwd", path: input.cwd, fallbackToRoot: input.cwdFallback },
    ...processLimitRecords(policy),
    ...input.argv.map((value): InitRecord => ({ op: "arg", value })),
    ...input.env.map((value): InitRecord => ({ op: "env", value })),
  ];
  return {
    namespaces: {
      flags: CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (ownNetns ? CLONE_NEWNET : 0),
      join: [],
      uidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      gidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
    },
    ...(spec !== undefined ? { cgroups: { spec, layout: cgroupLayout(spec) } } : {}),
    ...(overlay !== undefined ? { overlay } : {}),
    ...(proc !== undefined ? { proc } : {}),
    preserve: [],
    records,
    filter,
    sentry: {
      ...sentryConfigOf(compiled, enforced, { network, hostNames: input.hostNames, hostname: input.hostname, overlay: overlayRoot, cpus, host }),
      ...(compiled.audit !== undefined ? { audit: [...compiled.audit] } : {}),
      ...(recording ? { record: true } : {}),
      // What recording traps besides is not part of the trace asked for.
      ...(Array.isArray(input.trace) ? { straceOnly: input.trace.map((name) => sysnoByName(name)).filter((nr): nr is number => nr !== undefined) } : {}),
    },
  };
}
