// The OCI front-end: a bundle's config.json and the container's policy, as a sandbox plan
// (../sandbox/plan.ts) — namespaces made and joined, id maps, the container's control groups,
// the overlay of its rootfs, the mount tree built inside it, the process, and the sentry's
// configuration. Pure but for what it reads of the host (the namespaces a path names, the
// cgroup hierarchies); run by the same library as `do` (../sandbox/launch.ts).
import { statSync } from "node:fs";
import { join } from "node:path";
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS } from "../../platform/abi/clone.js";
import type { NetworkMode } from "../../sentry/config.js";
import { compilePolicy, PolicyCompileError } from "../../sentry/filter/compile.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { CgroupLimits, CgroupSpec } from "../sandbox/cgroups.js";
import { cgroupLayout } from "../sandbox/cgroups.js";
import { ID_RANGE } from "../sandbox/ids.js";
import type { HostFacts, IdmapPlan, MadeMount, SandboxPlan } from "../sandbox/plan.js";
import { filterRecord, passedIndexes, processLimitRecords, sentryConfigOf, shownCpus } from "../sandbox/plan.js";
import type { OciConfigDoc } from "./config.js";
import { ContainerError, OciConfigError } from "./errors.js";
import { containerHookRecords } from "./hooks.js";
import type { MountEntry } from "./idmapSources.js";
import { hostMounts, idmapRoot } from "./idmapSources.js";
import { planBundleMounts } from "./mounts.js";
import { grantsCapability, processRecords } from "./process.js";
import { sysctlErrors } from "./sysctl.js";

// linux.namespaces types (config-linux.md) and their clone flags.
const NS_FLAGS: Readonly<Record<string, number>> = {
  mount: CLONE_NEWNS,
  cgroup: CLONE_NEWCGROUP,
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  user: CLONE_NEWUSER,
  pid: CLONE_NEWPID,
  network: CLONE_NEWNET,
};

/**
 * Namespaces a container may join by path (a pod's): the rest are always its own. The mount
 * namespace is never joined: the container's tree is built in one of its own.
 */
const JOINABLE = new Set(["user", "pid", "network", "ipc", "uts"]);

interface Namespaces {
  flags: number;
  /** Paths of namespaces to join, with their CLONE_NEW* type. */
  join: { path: string; type: number }[];
  uidMap: string;
  gidMap: string;
  /** A network namespace of the container's own (its loopback is brought up). */
  ownNet: boolean;
}

/** Namespace flags, namespaces to join and id maps, from linux.namespaces. */
function namespaces(config: OciConfigDoc, network: NetworkMode): Namespaces {
  const linux = config.linux ?? {};
  let flags = 0;
  const join: Namespaces["join"] = [];
  (linux.namespaces ?? []).forEach((ns, i) => {
    const flag = NS_FLAGS[ns.type];
    if (flag === undefined) throw new OciConfigError("config.json", [`linux.namespaces[${i}].type: a ${ns.type} namespace is not supported yet`]);
    if (ns.path === undefined) {
      flags |= flag;
    } else if (!JOINABLE.has(ns.type)) {
      throw new OciConfigError("config.json", [`linux.namespaces[${i}].path: joining a ${ns.type} namespace is not supported (runsc-ts joins user, pid, network, ipc and uts ones; the mount tree is always the container's own)`]);
    } else {
      join.push({ path: ns.path, type: flag });
    }
  });
  // A joined user namespace last: the others are joined as host root (a pod's network
  // namespace belongs to the host's user namespace, where its root has no capability), and
  // the container's own are made as its root.
  join.sort((a, b) => Number(a.type === NS_FLAGS.user) - Number(b.type === NS_FLAGS.user));
  if (join.length > 0 && flags & NS_FLAGS.user!) {
    throw new OciConfigError("config.json", ["linux.namespaces: joining namespaces from a new user namespace is not supported yet"]);
  }
  if (network === "none" && join.some((j) => j.type === NS_FLAGS.network)) {
    throw new OciConfigError("config.json", ["linux.namespaces: the policy's network none refuses a network namespace joined by path"]);
  }
  // The mount tree is always the container's own.
  flags |= NS_FLAGS.mount!;
  // network none (the policy's or --network's) may only take away: a namespace of its own.
  if (network === "none") flags |= NS_FLAGS.network!;
  const map = (m: readonly { containerID: number; hostID: number; size: number }[] | undefined, field: string): string => {
    if (!(flags & NS_FLAGS.user!)) return "";
    if (m === undefined || m.length === 0) throw new OciConfigError("config.json", [`linux.${field}: missing (a user namespace needs its mappings)`]);
    return m.map((e) => `${e.containerID} ${e.hostID} ${e.size}\n`).join("");
  };
  return { flags, join, uidMap: map(linux.uidMappings, "uidMappings"), gidMap: map(linux.gidMappings, "gidMappings"), ownNet: (flags & NS_FLAGS.network!) !== 0 };
}

/** /proc/self/ns names of the joinable namespace types. */
const NS_FILES: Record<string, string> = { user: "user", pid: "pid", network: "net", ipc: "ipc", uts: "uts" };

/**
 * Whether the container has a namespace of this type of its own: a new one, or one joined by
 * path that is not the runtime's (the host's) own.
 */
function ownNamespace(ns: Namespaces, type: string): boolean {
  const flag = NS_FLAGS[type]!;
  if (ns.flags & flag) return true;
  const joined = ns.join.find((j) => j.type === flag);
  if (joined === undefined) return false;
  try {
    const a = statSync(joined.path);
    const b = statSync(`/proc/self/ns/${NS_FILES[type]}`);
    return a.dev !== b.dev || a.ino !== b.ino;
  } catch {
    return false;
  }
}

/** The limits the virtual /proc files show: linux.resources' memory limit and CPU quota. */
function limitsOf(config: OciConfigDoc): CgroupLimits {
  const r = config.linux?.resources;
  const memory = Number(r?.memory?.limit ?? 0);
  const quota = Number(r?.cpu?.quota ?? 0);
  const period = Number(r?.cpu?.period ?? 100000);
  return { ...(memory > 0 ? { memoryBytes: memory } : {}), ...(quota > 0 && period > 0 ? { cpus: quota / period } : {}) };
}

export interface BundleInput {
  id: string;
  config: OciConfigDoc;
  /** The bundle directory and the rootfs's absolute host path. */
  bundle: string;
  rootfs: string;
  /** The container's policy and the name it was found by (for messages). */
  policy: Policy;
  policyName: string;
  /** none: the policy's or --network's; host otherwise (proxy is refused before). */
  network: "none" | "host";
  /** --strace: every trapped call is traced. */
  strace: boolean;
  /** --record-events: every exec reaches the sentry (compile option recordEvents). */
  recordEvents?: boolean;
  /** The host path of the terminal's slave, bound onto /dev/console. */
  console?: string;
  /** --preserve-fds: the caller's descriptors 3, 4, ... as we hold them; the container gets them at 3, 4, ... */
  preserved: readonly number[];
  /** The host id range of a user namespace made for the container (ownUserNamespace; oci/idRanges.ts), or of its pod's. */
  idRange?: { readonly base: number };
  /**
   * The pod's user namespace (/proc/PID/ns/user of a container whose namespaces this one
   * joins, podUserNamespace in create.ts): joined instead of one made, with idRange its range.
   */
  podUserns?: string;
  /** network.egress host names and the addresses they resolved to (network.mode proxy). */
  hostNames?: Readonly<Record<string, readonly string[]>>;
  /** linux.devices, made by the runtime (devices.ts): each one's index and node. */
  madeDevices?: ReadonlyMap<number, string>;
}

/**
 * Whether the container gets a user namespace from runsc-ts, though config.json asks for
 * none: one of its own, or its pod's when it joins namespaces a container of runsc-ts's made
 * in one (create.ts: podUserNamespace). Root inside is then never host root, and the rootfs
 * and volumes are idmapped into it (a policy's overlay root is made over the idmapped
 * rootfs). Only a policy that says process.hostRoot opts out. createContainer hooks run in
 * it too, as the spec runs them in the container's namespaces: root of the container's user
 * namespace, the host's files seen before pivot_root with the rights of any other user.
 */
export function ownUserNamespace(config: OciConfigDoc, policy: Policy): boolean {
  const nss = config.linux?.namespaces ?? [];
  if (nss.some((n) => n.type === "user")) return false;
  return !policy.process.hostRoot;
}

/** A container's plan, and what create needs of the config besides. */
export interface BundlePlan extends SandboxPlan {
  /** The container has a user namespace of its own or joined (root inside is not root). */
  readonly userns: boolean;
  /** net.* sysctls of a joined network namespace its user namespace does not own: create writes them, as host root. */
  readonly netSysctls?: { readonly netns: string; readonly entries: readonly [string, string][] };
}

export function planBundle(input: BundleInput, host: HostFacts): BundlePlan {
  const { config, bundle, rootfs, policy, network } = input;
  const configFile = join(bundle, "config.json");
  const ns = namespaces(config, network);
  // As runc: the names are set in the container's UTS namespace, new or joined, never the host's.
  const uts = ns.flags & NS_FLAGS.uts! || ns.join.some((j) => j.type === NS_FLAGS.uts);
  for (const field of ["hostname", "domainname"] as const) {
    if (config[field] !== undefined && !uts) throw new OciConfigError(configFile, [`${field}: needs a UTS namespace (linux.namespaces has none)`]);
  }
  const sysctl = sysctlErrors(config.linux?.sysctl, {
    ipc: ownNamespace(ns, "ipc"),
    net: ownNamespace(ns, "network"),
    uts: ownNamespace(ns, "uts"),
    pid: ownNamespace(ns, "pid"),
  });
  if (sysctl.length > 0) throw new OciConfigError(configFile, sysctl);
  // An overlay root needs the sentry only where root inside is not root (a user namespace:
  // root's writes to what host root owns are made by the sentry); otherwise the kernel
  // decides every write, and none is trapped.
  // Ours: made ahead, or the pod's, joined (after the others: see namespaces()).
  const mine = input.idRange !== undefined && ownUserNamespace(config, policy) ? input.idRange : undefined;
  const ahead = mine !== undefined && input.podUserns === undefined ? mine : undefined;
  if (mine !== undefined && input.podUserns !== undefined) ns.join.push({ path: input.podUserns, type: NS_FLAGS.user! });
  const userns = mine !== undefined || (ns.flags & NS_FLAGS.user!) !== 0 || ns.join.some((j) => j.type === NS_FLAGS.user);
  const overlayRoot = policy.filesystem.root === "overlay";
  // On a network its user namespace does not own (the host's, a pod's), root inside binds through the sentry.
  const bindsForRoot = mine !== undefined && !ns.ownNet;
  // A joined network namespace is the host's user namespace's: its sysctls are written by create, as host root.
  const joinedNet = ns.join.find((j) => j.type === NS_FLAGS.network);
  const netSysctls = mine !== undefined && joinedNet !== undefined ? Object.entries(config.linux?.sysctl ?? {}).filter(([k]) => k.startsWith("net.")) : [];
  // The policy's overlay over the idmapped rootfs: root inside owns root's files there, the kernel decides every write.
  const overlayIdmapped = overlayRoot && mine !== undefined;
  const compiledFs = overlayRoot && (!userns || overlayIdmapped) ? { ...policy.filesystem, root: "writable" as const } : policy.filesystem;
  // network proxy: the container keeps the network its runtime gave it, every destination decided by network.egress.
  const egress = policy.network.mode === "proxy" && network !== "none";
  if (egress && !ns.ownNet && !ns.join.some((j) => j.type === NS_FLAGS.network)) {
    throw new OciConfigError(input.policyName, ["network.mode: proxy needs the container's own network namespace (Docker's bridge, a CNI network): on the host's network its loopback would be the host's"]);
  }
  // Virtual /proc files show the config's limits.
  const virtual = [...new Set(policy.filesystem.proc.virtualize)];
  const limits = limitsOf(config);
  const cpus = shownCpus(host, limits, virtual);
  let compiled;
  try {
    compiled = compilePolicy(
      { ...policy, filesystem: compiledFs, network: { ...policy.network, mode: network } },
      {
        ...(input.strace ? { trace: "all" as const } : {}),
        ...(input.recordEvents === true ? { recordEvents: true } : {}),
        ...(config.linux?.seccomp !== undefined ? { ociSeccomp: config.linux.seccomp as OciSeccomp } : {}),
        ...(cpus < host.cpus ? { limitedCpus: true } : {}),
        hostSocketsChecked: true,
        ...(bindsForRoot ? { bindsForRoot: true } : {}),
        ...(egress ? { egressChecked: true } : {}),
        ...(userns && grantsCapability(config, "CAP_SYS_ADMIN") ? { namespaceAdmin: true } : {}),
      },
    );
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new ContainerError(`${input.policyName}: ${err.message}`);
    throw err;
  }
  const spec: CgroupSpec = { path: config.linux?.cgroupsPath ?? `/runsc-ts/${input.id}`, ...(config.linux?.resources !== undefined ? { resources: config.linux.resources } : {}), devices: config.linux?.devices ?? [] };
  const layout = cgroupLayout(spec);
  // The host's network (no network namespace, new or joined): its abstract sockets are the host's.
  const hostNetwork = network !== "none" && !(config.linux?.namespaces ?? []).some((n) => n.type === "network");
  const upper = policy.filesystem.overlay.dir;
  const overlay = overlayRoot && !overlayIdmapped ? { size: policy.filesystem.overlay.size, whiteouts: [], lower: rootfs, ...(upper !== undefined ? { dir: upper } : {}) } : undefined;
  const proc = virtual.length > 0 ? { files: virtual, limits } : undefined;
  const { preserved: firstPreserved, ...passed } = passedIndexes({ overlay, proc });
  // Made ahead: the rootfs (unless the policy's overlay is the root) and what binds can be, idmapped into it.
  let idmapped: { root?: number; first: number; binds: MadeMount[]; mounts: MountEntry[] } | undefined;
  let idmapRootPlan: IdmapPlan["root"];
  if (mine !== undefined) {
    const mounts = hostMounts();
    const afterPreserved = firstPreserved + input.preserved.length;
    if (overlay === undefined) {
      idmapRootPlan = idmapRoot(rootfs, mounts);
      // The policy's overlay: the rootfs (a runtime's overlay: its layers, its upper read-only among them) under a memory layer.
      if (idmapRootPlan !== undefined && overlayIdmapped) {
        const r = idmapRootPlan;
        const lower = "path" in r ? [r.path] : "upper" in r ? [r.upper, ...r.lower] : [...r.lower];
        // Its writes in memory, or in the policy's directory (upper/ and work/, made when missing), idmapped too.
        const dir = policy.filesystem.overlay.dir;
        idmapRootPlan = dir === undefined ? { lower, memory: policy.filesystem.overlay.size } : { lower, upper: join(dir, "upper"), work: join(dir, "work"), options: [] };
      }
      if (idmapRootPlan === undefined) {
        throw new ContainerError(`${rootfs}: the container's root cannot be idmapped into its user namespace (its filesystem allows no idmapped mounts: ext4, xfs, btrfs, tmpfs and f2fs do, and a runtime's overlay of them)`);
      }
    }
    const alone = idmapRootPlan !== undefined && "path" in idmapRootPlan && idmapRootPlan.recursive === false;
    idmapped = { ...(idmapRootPlan !== undefined ? { root: afterPreserved } : {}), first: afterPreserved + (idmapRootPlan !== undefined ? 1 : 0), binds: [], mounts, ...(alone ? { rootSubmounts: true as const } : {}) };
  }
  const records = [
    // Data for init, which runs them before pivot_root and after start.
    ...containerHookRecords(config.hooks),
    ...(config.hostname !== undefined ? [{ op: "hostname", name: config.hostname } as const] : []),
    ...(config.domainname !== undefined ? [{ op: "domainname", name: config.domainname } as const] : []),
    ...(ns.ownNet ? [{ op: "loopbackUp" } as const] : []),
    ...planBundleMounts({
      config,
      bundle,
      rootfs,
      policy,
      maskFile: host.maskFile,
      // What a "cgroup" mount shows: the container's v1 hierarchies or its v2 group.
      cgroupView: [...new Map(layout.groups.map((g) => [g.dir, { mount: g.mount, dir: g.dir }])).values()],
      ...(input.console !== undefined ? { console: input.console } : {}),
      ...passed,
      ownNetwork: ns.ownNet,
      ...(idmapped !== undefined ? { idmapped } : {}),
      ...(!ownNamespace(ns, "ipc") ? { hostIpc: true } : {}),
      ...(!ownNamespace(ns, "pid") ? { hostPid: true } : {}),
      ...(netSysctls.length > 0 ? { sysctlsElsewhere: netSysctls.map(([k]) => k) } : {}),
      ...(input.madeDevices !== undefined ? { madeDevices: input.madeDevices } : {}),
    }),
    ...processRecords(config.process!, "process", { userns }),
    ...processLimitRecords(policy),
    ...input.preserved.map((_fd, i) => ({ op: "preserve", index: firstPreserved + i, target: 3 + i }) as const),
    // The program is PID 1 of its own PID namespace, as under runc (in a pod's, it is not PID 1 there either).
    ...(ns.flags & NS_FLAGS.pid! ? [{ op: "execInPlace" } as const] : []),
    { op: "hold" } as const,
  ];
  return {
    namespaces: {
      flags: ns.flags,
      join: ns.join,
      uidMap: ns.uidMap,
      gidMap: ns.gidMap,
      ...(ahead !== undefined ? { ahead: { uidMap: `0 ${ahead.base} ${ID_RANGE}\n`, gidMap: `0 ${ahead.base} ${ID_RANGE}\n` } } : {}),
    },
    cgroups: { spec, layout },
    ...(overlay !== undefined ? { overlay } : {}),
    ...(proc !== undefined ? { proc } : {}),
    preserve: input.preserved,
    ...(mine !== undefined ? { idmap: { ...(idmapRootPlan !== undefined ? { root: idmapRootPlan } : {}), owner: mine.base, binds: idmapped!.binds } } : {}),
    records,
    filter: filterRecord(compiled.filter, host),
    sentry: sentryConfigOf(compiled, policy, { network, hostNames: input.hostNames ?? {}, hostname: config.hostname ?? input.id, overlay: overlayRoot && userns && !overlayIdmapped, cpus, host, container: true, bindsForRoot, egress, ...(hostNetwork ? { hostNetworkProcs: `${layout.groups[0]!.dir}/cgroup.procs` } : {}) }),
    userns,
    ...(netSysctls.length > 0 ? { netSysctls: { netns: joinedNet!.path, entries: netSysctls } } : {}),
  };
}
