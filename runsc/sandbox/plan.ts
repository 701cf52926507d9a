// A sandbox as data: what `do` and an OCI container are made of, built by two pure
// front-ends — planDo (planDo.ts: a command over the host's root) and planBundle
// (oci/planBundle.ts: a bundle's config.json) — and run by one library (launch.ts). The plan
// is serialisable: namespaces, id maps, control groups, the overlay root and virtual /proc
// files runsc-ts makes, init's records (mounts, process, filter) and the sentry's one
// configuration.
import type { FilterSpec } from "../../platform/seccomp/compile.js";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { RLIMIT_NPROC } from "../../platform/abi/resource.js";
import { SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV } from "../../platform/abi/seccomp.js";
import type { NetworkMode, SentryConfig } from "../../sentry/config.js";
import type { CompiledPolicy } from "../../sentry/filter/compile.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { visibleCpus } from "../../sentry/proc/files.js";
import type { CgroupLayout, CgroupLimits, CgroupSpec } from "./cgroups.js";
import type { InitRecord } from "./initConfig.js";
import type { ProcServerOptions } from "./procfs.js";

export interface NamespacePlan {
  /** CLONE_NEW* flags of the namespaces made for the sandbox. */
  readonly flags: number;
  /** Namespaces joined by path (a pod's), a joined user namespace first. */
  readonly join: readonly { readonly path: string; readonly type: number }[];
  /** uid_map and gid_map of a new user namespace ("" without one). */
  readonly uidMap: string;
  readonly gidMap: string;
  /**
   * A user namespace made ahead by launch, with these maps, and joined first: its mounts
   * (IdmapPlan) are idmapped into it before init exists.
   */
  readonly ahead?: { readonly uidMap: string; readonly gidMap: string };
}

/**
 * Mounts launch makes idmapped into the user namespace made ahead, passed to init (spawn's
 * fds) after the preserved descriptors: the container's root, then its bind mounts.
 */
export interface IdmapPlan {
  /**
   * The rootfs: a directory (bound, with what is mounted beneath it), or a runtime's overlay
   * rebuilt over its layers; absent: the root is the policy's overlay (OverlayPlan).
   */
  readonly root?:
    /**
     * A directory bound; recursive: false when something mounted beneath it cannot be idmapped
     * (a host tree's /proc): the mounts beneath that can are attached on their own
     * (runsc/oci/mounts.ts: rootSubmounts), the others left out.
     */
    | { readonly path: string; readonly recursive?: boolean }
    | { readonly lower: readonly string[]; readonly upper: string; readonly work: string; readonly options: readonly string[] }
    /** The policy's overlay root over the idmapped rootfs (its layers), its writes in a tmpfs of this size. */
    | { readonly lower: readonly string[]; readonly memory: string };
  /** The container root's host id: the overlay's creator. */
  readonly owner: number;
  /** The mounts made for init to attach, in the order of their attach records. */
  readonly binds: readonly MadeMount[];
}

/**
 * A mount launch makes as host root and init attaches: a directory bound, idmapped into the
 * container's user namespace (devices: the device nodes the runtime made, runsc/oci/devices.ts,
 * bound without nodev); or the mqueue or proc filesystem of the host's IPC or PID namespace,
 * for a container on it (hostIPC, hostPID), which root inside may not mount.
 */
export type MadeMount = { readonly source: string; readonly recursive: boolean; readonly devices?: true } | { readonly host: "mqueue" | "proc" };

/**
 * filesystem.root: overlay — made by host root (so that copy-up keeps the host's owners) and
 * attached by init as the sandbox's root.
 */
export interface OverlayPlan {
  /** The lower layer: a bundle's rootfs; absent: the host's root (`do`). */
  readonly lower?: string;
  /** The upper layer's tmpfs size ("" with dir). */
  readonly size: string;
  /** A directory of writes that outlives the sandbox (made root-only); absent: a tmpfs. */
  readonly dir?: string;
  /** Paths shown as absent. */
  readonly whiteouts: readonly string[];
  /** Mount points of the host's tree that the overlay shows as the files they cover (`do`). */
  readonly files?: readonly string[];
}

export type FilterRecord = Extract<InitRecord, { op: "filter" }>;

export interface SandboxPlan {
  readonly namespaces: NamespacePlan;
  /** The sandbox's control groups; absent: none of its own (`do` without limits or virtual files). */
  readonly cgroups?: { readonly spec: CgroupSpec; readonly layout: CgroupLayout };
  readonly overlay?: OverlayPlan;
  /** filesystem.proc.virtualize: the files served from the FUSE filesystem passed to init. */
  readonly proc?: { readonly files: readonly ProcServerOptions["files"][number][]; readonly limits: CgroupLimits };
  /** The caller's descriptors init passes on at their numbers (--preserve-fds). */
  readonly preserve: readonly number[];
  readonly idmap?: IdmapPlan;
  /** What init does before the filter, in order: mounts, process, limits. */
  readonly records: readonly InitRecord[];
  /** The seccomp filter, installed last (exec's processes get the same). */
  readonly filter: FilterRecord;
  readonly sentry: SentryConfig;
}

/** What a front-end needs to know of the host: read once by the caller (launch.ts: hostFacts). */
export interface HostFacts {
  /** CPUs this process may run on. */
  readonly cpus: number;
  /** Linux 5.19's SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is available. */
  readonly waitKillableRecv: boolean;
  /** The empty root-only file bound over hidden files. */
  readonly maskFile: string;
}

/**
 * Indexes of the descriptors passed to init (spawn's fds), which "attach" and "preserve"
 * records name: the overlay root, then the virtual /proc files' mount, then preserved fds.
 */
export function passedIndexes(p: { readonly overlay?: unknown; readonly proc?: unknown }): { overlay?: number; proc?: number; preserved: number } {
  let next = 0;
  const overlay = p.overlay !== undefined ? next++ : undefined;
  const proc = p.proc !== undefined ? next++ : undefined;
  return { ...(overlay !== undefined ? { overlay } : {}), ...(proc !== undefined ? { proc } : {}), preserved: next };
}

/** How many CPUs sched_getaffinity shows: as many as /proc does under a CPU limit with virtual cpuinfo. */
export function shownCpus(host: HostFacts, limits: CgroupLimits, virtual: readonly string[]): number {
  return limits.cpus !== undefined && virtual.includes("cpuinfo") ? visibleCpus(host.cpus, limits) : host.cpus;
}

/**
 * The filter record. With Linux 5.19's flag, once the sentry has received a call a signal no
 * longer interrupts the task's wait, so an operation the sentry performed is never restarted
 * and run twice.
 */
export function filterRecord(filter: FilterSpec, host: HostFacts): FilterRecord {
  return { op: "filter", program: compileFilterBytes(filter), flags: host.waitKillableRecv ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0 };
}

/** process.maxProcesses: RLIMIT_NPROC, counted per user in the sandbox's user namespace. */
export function processLimitRecords(policy: Policy): InitRecord[] {
  const max = policy.process.maxProcesses;
  return max === undefined ? [] : [{ op: "rlimit", resource: RLIMIT_NPROC, soft: BigInt(max), hard: BigInt(max) }];
}

/**
 * The sentry's configuration: the compiled decisions, and what the enforced policy says of
 * exec, network and signals; `cpus` is what sched_getaffinity shows (shownCpus).
 */
export function sentryConfigOf(
  compiled: CompiledPolicy,
  policy: Policy,
  o: { network: NetworkMode; hostNames: Readonly<Record<string, readonly string[]>>; hostname: string; overlay: boolean; cpus: number; host: HostFacts; container?: boolean; bindsForRoot?: boolean; hostNetworkProcs?: string; egress?: boolean },
): SentryConfig {
  return {
    decisions: [...compiled.decisions],
    execAllow: policy.process.exec?.allow,
    network: o.network,
    netRules: { rules: policy.network, hostNames: o.hostNames },
    signals: policy.process.signals,
    hostname: o.hostname,
    ...(o.overlay ? { overlay: true } : {}),
    ...(o.cpus < o.host.cpus ? { visibleCpus: o.cpus } : {}),
    ...(o.container === true ? { container: true } : {}),
    ...(o.bindsForRoot === true ? { bindsForRoot: true } : {}),
    ...(o.egress === true ? { egress: true } : {}),
    ...(o.hostNetworkProcs !== undefined ? { hostNetworkProcs: o.hostNetworkProcs } : {}),
  };
}
