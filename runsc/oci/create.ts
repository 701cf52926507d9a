// create (runtime.md): everything up to the user's program, which init holds until start.
// init is cloned here, into the config's namespaces and cgroups; create is its parent and
// exits, so init passes to the caller's subreaper (a shim waits for it), as runc's does.
// The container's monitor (monitor.ts) is launched first, so that Node's start-up there
// overlaps the work here; it takes init's descriptors from us (pidfd_getfd) once init is
// set up. Anything that fails undoes what was done: processes, cgroups, state.
import { spawn as spawnProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve as resolvePath } from "node:path";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { serialize } from "node:v8";
import { initPath, loadNative } from "../../native/index.js";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { compilePolicy, PolicyCompileError } from "../../sentry/policy/compile.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import { loadPolicy } from "../policyCache.js";
import { kernelAtLeast, missingKernelFeatures } from "../requirements.js";
import type { InitRecord } from "../sandbox/initConfig.js";
import { encodeInitConfig } from "../sandbox/initConfig.js";
import { ensureMaskFile, ensurePrivateDir, ensureRootOnlyDir, STAGING_DIR } from "../runtimeDir.js";
import type { CgroupLimits } from "../sandbox/cgroups.js";
import { mounts as cgroupMounts } from "../sandbox/cgroups.js";
import type { ProcFs } from "../sandbox/procfs.js";
import { mountProcFs, serveProcFs } from "../sandbox/procfs.js";
import { visibleCpus } from "../../sentry/proc/files.js";
import type { OciConfigDoc } from "./config.js";
import { createContainerCgroups, removeCgroups, usageFiles } from "./cgroups.js";
import type { CreateOptions, RuntimeOptions } from "./container.js";
import { askMonitor, readBundleConfig } from "./container.js";
import { OciConfigError } from "./errors.js";
import { sysctlErrors } from "./sysctl.js";
import { containerHookRecords, runHooks, runHooksSync } from "./hooks.js";
import type { MonitorStart } from "./monitorProtocol.js";
import { MONITOR_READY_FD } from "./monitorProtocol.js";
import { MonitorServer } from "./monitorServer.js";
import { planBundleMounts } from "./mounts.js";
import { preservedFds, processRecords } from "./process.js";
import { openTerminal } from "./relay.js";
import type { ContainerState } from "./state.js";
import { checkId, containerDir, ContainerError, makeContainerDir, ociState, readState, startTime, writeState } from "./state.js";
import { SIGKILL } from "../../platform/abi/signal.js";
import { RLIMIT_NPROC } from "../../platform/abi/resource.js";

// include/uapi/linux/sched.h
const NS_FLAGS: Readonly<Record<string, number>> = {
  mount: 0x00020000,
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  network: 0x40000000,
};
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;

/** The annotation that names a container's policy. */
export const POLICY_ANNOTATION = "dev.runsc-ts.policy";
/** The policy OCI containers run under when none is named. */
export const DEFAULT_CONTAINER_POLICY = "container";


/** The policy a container runs under: its annotation's, else --policy's, else container.yaml. */
async function containerPolicy(config: OciConfigDoc, fallback: string | undefined): Promise<{ name: string; policy: Policy }> {
  for (const key of Object.keys(config.annotations ?? {})) {
    if (key.startsWith("dev.runsc-ts.") && key !== POLICY_ANNOTATION) {
      throw new OciConfigError("config.json", [`annotations.${key}: unknown; runsc-ts reads ${POLICY_ANNOTATION}`]);
    }
  }
  const name = config.annotations?.[POLICY_ANNOTATION] ?? fallback ?? DEFAULT_CONTAINER_POLICY;
  const policy = await loadPolicy(name);
  if (policy.network.mode === "proxy") throw new OciConfigError(name, ["network.mode: proxy is not supported for OCI containers yet"]);
  if (policy.process.exec?.entrypoint === true) throw new OciConfigError(name, ["process.exec.entrypoint is not supported for OCI containers yet"]);
  return { name, policy };
}

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
function namespaces(config: OciConfigDoc, network: "none" | "host"): Namespaces {
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
  // A joined user namespace first: the others are joined (and made) as its root.
  join.sort((a, b) => Number(b.type === NS_FLAGS.user) - Number(a.type === NS_FLAGS.user));
  if (!(flags & NS_FLAGS.pid!) && !join.some((j) => j.type === NS_FLAGS.pid)) {
    throw new OciConfigError("config.json", ["linux.namespaces: runsc-ts needs a pid namespace, new or joined (the host's is not supported)"]);
  }
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

/** Writes a file atomically (pid files: a reader never sees it half written). */
function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/**
 * create: everything up to the user's program, which init holds until start. Anything
 * that fails undoes what was done (processes, cgroups, state).
 */
export async function createContainer(rt: RuntimeOptions, o: CreateOptions): Promise<Created> {
  checkId(o.id);
  if (readState(rt.root, o.id) !== undefined || existsSync(containerDir(rt.root, o.id))) throw new ContainerError(`container "${o.id}" already exists`);
  const native = loadNative();
  const lack = missingKernelFeatures(native);
  if (lack) throw new ContainerError(lack);
  const bundle = resolvePath(o.bundle);
  const dir = makeContainerDir(rt.root, o.id);
  const cleanup: (() => void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const undo = (): void => {
    for (const f of cleanup.reverse()) {
      try {
        f();
      } catch {
        // best effort: the rest still runs
      }
    }
  };
  const fds: number[] = [];
  try {
    // Before the monitor starts: it must not inherit them.
    const preserved = preservedFds(native, o.preserveFds ?? 0);
    const monitor = o.inProcess === true ? serveHere(rt, o.id) : launchMonitor(rt, o.id);
    cleanup.push(() => monitor.kill());
    const config = await readBundleConfig(bundle);
    if (config.process === undefined) throw new OciConfigError(join(bundle, "config.json"), ["process: missing (create needs the program to run)"]);
    const proc = config.process;
    if (proc.terminal === true && o.consoleSocket === undefined && o.inProcess !== true) {
      throw new ContainerError("cannot allocate a terminal without --console-socket (process.terminal is true; run in the foreground relays one itself)");
    }
    const rootfs = resolvePath(bundle, config.root.path);
    if (!existsSync(rootfs)) throw new OciConfigError(join(bundle, "config.json"), [`root.path: ${rootfs} does not exist`]);
    const { name: policyName, policy } = await containerPolicy(config, rt.policy);
    const network = policy.network.mode === "none" || rt.network === "none" ? "none" : "host";
    const ns = namespaces(config, network);
    // As runc: the names are set in the container's UTS namespace, new or joined, never the host's.
    const uts = ns.flags & NS_FLAGS.uts! || ns.join.some((j) => j.type === NS_FLAGS.uts);
    for (const field of ["hostname", "domainname"] as const) {
      if (config[field] !== undefined && !uts) {
        throw new OciConfigError(join(bundle, "config.json"), [`${field}: needs a UTS namespace (linux.namespaces has none)`]);
      }
    }
    const sysctl = sysctlErrors(config.linux?.sysctl, {
      ipc: ownNamespace(ns, "ipc"),
      net: ownNamespace(ns, "network"),
      uts: ownNamespace(ns, "uts"),
      pid: ownNamespace(ns, "pid"),
    });
    if (sysctl.length > 0) throw new OciConfigError(join(bundle, "config.json"), sysctl);
    // An overlay root needs the sentry only where root inside is not root (a user namespace:
    // root's writes to what host root owns are made by the sentry); otherwise the kernel
    // decides every write, and none is trapped.
    const userns = (ns.flags & NS_FLAGS.user!) !== 0 || ns.join.some((j) => j.type === NS_FLAGS.user);
    const overlay = policy.filesystem.root === "overlay";
    const compiledFs = overlay && !userns ? { ...policy.filesystem, root: "writable" as const } : policy.filesystem;
    // Virtual /proc files show the config's limits: under a CPU limit with cpuinfo,
    // sched_getaffinity shows as many CPUs as /proc does.
    const virtual = [...new Set(policy.filesystem.proc.virtualize)];
    const limits = limitsOf(config);
    const hostCpus = availableParallelism();
    const shownCpus = limits.cpus !== undefined && virtual.includes("cpuinfo") ? visibleCpus(hostCpus, limits) : hostCpus;
    let compiled;
    try {
      compiled = compilePolicy(
        { ...policy, filesystem: compiledFs, network: { ...policy.network, mode: network } },
        {
          ...(rt.strace ? { trace: "all" as const } : {}),
          ...(config.linux?.seccomp !== undefined ? { ociSeccomp: config.linux.seccomp as OciSeccomp } : {}),
          ...(shownCpus < hostCpus ? { limitedCpus: true } : {}),
        },
      );
    } catch (err) {
      if (err instanceof PolicyCompileError) throw new ContainerError(`${policyName}: ${err.message}`);
      throw err;
    }
    ensurePrivateDir(STAGING_DIR);

    const cgroupsPath = config.linux?.cgroupsPath ?? `/runsc-ts/${o.id}`;
    const cg = createContainerCgroups(cgroupsPath, config.linux?.resources, config.linux?.devices ?? []);
    cleanup.push(() => removeCgroups(cg.dirs));
    // From here on the state names what to remove: a create killed midway (kill -9) leaves
    // a container in "creating" (no init yet: stopped) that delete --force cleans up.
    const st: ContainerState = {
      ociVersion: config.ociVersion,
      id: o.id,
      status: "creating",
      pid: 0,
      bundle,
      rootfs,
      created: new Date().toISOString(),
      owner: "",
      ...(config.annotations !== undefined ? { annotations: config.annotations } : {}),
      initStart: 0,
      monitorPid: monitor.pid,
      cgroups: cg.dirs,
      cgroupVersion: cg.version,
      ...(cg.freezer !== undefined ? { freezer: cg.freezer } : {}),
      ...(config.hooks?.poststart !== undefined ? { poststart: config.hooks.poststart } : {}),
      ...(config.hooks?.poststop !== undefined ? { poststop: config.hooks.poststop } : {}),
    };
    writeState(rt.root, st);
    const hierarchies = cgroupMounts().filter((m) => m.fstype === "cgroup" || m.fstype === "cgroup2");
    const cgroupView = cg.dirs.flatMap((dir) => hierarchies.filter((m) => dir.startsWith(m.point + "/")).map((mount) => ({ mount, dir })));

    // Without a console socket (run in the foreground) the master stays ours, to relay.
    const pty = proc.terminal === true ? openTerminal(native, proc.consoleSize, o.consoleSocket, fds) : undefined;
    const relayed = pty?.relayed;
    if (relayed !== undefined) cleanup.push(() => native.close(relayed));
    const consolePath = pty !== undefined ? readlinkSync(`/proc/self/fd/${pty.slave}`) : undefined;

    // The overlay of the rootfs, made here (host root) and attached by init.
    const passed: number[] = [];
    if (overlay) {
      const upper = policy.filesystem.overlay.dir;
      if (upper !== undefined) ensureRootOnlyDir(upper);
      try {
        passed.push(native.overlayRoot({ size: policy.filesystem.overlay.size, whiteouts: [], lower: rootfs, ...(upper !== undefined ? { dir: upper } : {}) }));
      } catch (err) {
        throw new ContainerError(`filesystem.root: overlay: ${(err as Error).message}`);
      }
      fds.push(passed[0]!);
    }
    let procFs: ProcFs | undefined;
    let stopServing: (() => void) | undefined;
    const procFiles = virtual.length > 0 ? { files: virtual, limits, usage: usageFiles(cg), startedMs: Date.now() } : undefined;
    if (procFiles !== undefined) {
      try {
        procFs = mountProcFs(native);
      } catch (err) {
        throw new ContainerError(`filesystem.proc.virtualize: ${(err as Error).message}`);
      }
      fds.push(procFs.fuse, procFs.mount);
      passed.push(procFs.mount);
      // init's setup binds the files (FUSE lookups): we serve them until the monitor takes over.
      stopServing = serveProcFs(native, procFs.fuse, procFiles);
    }

    // --preserve-fds: ours, passed on at the same numbers (the caller keeps them).
    const preserve = preserved.map((fd) => {
      passed.push(fd);
      return { op: "preserve", index: passed.length - 1, target: fd } as const;
    });

    // exec's processes get the same filter, served by the same monitor.
    const filter = { op: "filter", program: compileFilterBytes(compiled.filter), flags: kernelAtLeast(native, 5, 19) ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0 } as const;
    writeFileSync(join(dir, "filter.bin"), serialize(filter), { mode: 0o600 });
    const records: InitRecord[] = [
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
        maskFile: ensureMaskFile(),
        cgroupView,
        ...(consolePath !== undefined ? { console: consolePath } : {}),
        ...(overlay ? { overlay: 0 } : {}),
        ...(procFs !== undefined ? { proc: passed.indexOf(procFs.mount) } : {}),
      }),
      ...processRecords(proc),
      ...(policy.process.maxProcesses !== undefined
        ? [{ op: "rlimit", resource: RLIMIT_NPROC, soft: BigInt(policy.process.maxProcesses), hard: BigInt(policy.process.maxProcesses) } as const]
        : []),
      ...preserve,
      // The program takes its orphans as PID 1 would under runc (not in a pod's PID namespace, where it is not PID 1 there either).
      ...(ns.flags & NS_FLAGS.pid! ? [{ op: "subreaper" } as const] : []),
      { op: "hold" },
      filter,
    ];
    // With createContainer hooks, init stops before pivot_root: the runtime's prestart and
    // createRuntime hooks run then, as the spec orders them, and init's follow.
    const pauseForHooks = (config.hooks?.createContainer ?? []).length > 0;
    const onPause = (pid: number): string => {
      const state = { ...ociState(st), status: "creating", pid };
      runHooksSync("prestart", config.hooks?.prestart, state);
      runHooksSync("createRuntime", config.hooks?.createRuntime, state);
      return JSON.stringify(state);
    };
    let spawned;
    try {
      for (const j of ns.join) {
        try {
          fds.push(openSync(j.path, "r"));
        } catch (err) {
          throw new ContainerError(`namespace ${j.path}: ${(err as Error).message}`);
        }
      }
      const joinFds = ns.join.map((j, i) => ({ fd: fds[fds.length - ns.join.length + i]!, type: j.type }));
      spawned = native.spawn({
        initPath: initPath(),
        cloneFlags: ns.flags,
        uidMap: ns.uidMap,
        gidMap: ns.gidMap,
        config: encodeInitConfig(records),
        cgroupProcs: cg.dirs.map((d) => join(d, "cgroup.procs")),
        ...(pty !== undefined ? { tty: pty.slave } : {}),
        hold: true,
        orphan: true,
        // In the foreground we wait for init; otherwise its status is our caller's (a shim's).
        watch: o.inProcess === true,
        ...(joinFds.length > 0 ? { join: joinFds } : {}),
        ...(passed.length > 0 ? { fds: passed } : {}),
        ...(pauseForHooks ? { onPause } : {}),
      });
    } catch (err) {
      // A hook of onPause's: its own message.
      if (err instanceof ContainerError) throw err;
      throw new ContainerError(`container setup failed: ${(err as Error).message}`);
    }
    const { pid } = spawned;
    fds.push(spawned.pidfd, spawned.listener, spawned.mntns, spawned.control!);
    const pidfd = spawned.pidfd;
    cleanup.push(() => {
      native.pidfdSendSignal(pidfd, SIGKILL);
      if (o.inProcess === true) native.waitExit(pid);
      else for (let i = 0; i < 200 && !native.pidfdExited(pidfd); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    });
    const initStart = startTime(pid);
    if (initStart === undefined) throw new ContainerError("container init exited during setup");
    if (proc.oomScoreAdj !== undefined) {
      try {
        writeFileSync(`/proc/${pid}/oom_score_adj`, String(proc.oomScoreAdj));
      } catch (err) {
        throw new ContainerError(`process.oomScoreAdj ${proc.oomScoreAdj}: ${(err as Error).message}`);
      }
    }

    // The sentry, in the monitor: it must be serving before the user's program can run.
    const start: MonitorStart = {
      pid,
      decisions: [...compiled.decisions],
      execAllow: policy.process.exec?.allow,
      network,
      netRules: { rules: policy.network, hostNames: {} },
      signals: policy.process.signals,
      hostname: config.hostname ?? o.id,
      ...(overlay && userns ? { overlay: true } : {}),
      ...(shownCpus < hostCpus ? { visibleCpus: shownCpus } : {}),
      ...(procFiles !== undefined ? { proc: procFiles } : {}),
    };
    writeFileSync(join(dir, "sentry.bin"), serialize(start), { mode: 0o600 });
    await monitor.ready;
    // The monitor serves the virtual /proc files from then on: it takes our /dev/fuse too.
    stopServing?.();
    const answer = await askMonitor(rt.root, o.id, `init ${process.pid} ${pid} ${spawned.listener} ${spawned.control!}${procFs !== undefined ? ` ${procFs.fuse}` : ""}`);
    if (answer !== "ok") throw new ContainerError(`container sentry: ${answer.replace(/^error: /, "")}`);

    st.pid = pid;
    st.initStart = initStart;
    writeState(rt.root, st);
    // Docker's bridge network is made by its prestart hook, in the namespace init holds.
    if (!pauseForHooks) {
      await runHooks("prestart", config.hooks?.prestart, ociState(st));
      await runHooks("createRuntime", config.hooks?.createRuntime, ociState(st));
    }

    if (pty !== undefined && o.consoleSocket !== undefined) native.sendFdToSocket(o.consoleSocket, pty.master, "console");
    st.status = "created";
    writeState(rt.root, st);
    if (o.pidFile !== undefined) writeAtomic(resolvePath(o.pidFile), String(pid));
    return { state: st, ...(monitor.server !== undefined ? { server: monitor.server } : {}), ...(relayed !== undefined ? { terminal: relayed } : {}) };
  } catch (err) {
    undo();
    throw err;
  } finally {
    for (const fd of fds) native.close(fd);
  }
}

export interface Created {
  state: ContainerState;
  /** The sentry, when it runs in this process (CreateOptions.inProcess). */
  server?: MonitorServer;
  /** The terminal's master, for the caller to relay (process.terminal without a console socket). */
  terminal?: number;
}

/** Where the container's sentry runs: ready once it listens on the container's socket. */
interface Monitor {
  pid: number;
  ready: Promise<void>;
  server?: MonitorServer;
  kill(): void;
}

/** The sentry in this process (`run` in the foreground: the container lives as long as we do). */
function serveHere(rt: RuntimeOptions, id: string): Monitor {
  const server = new MonitorServer(rt.root, id, { strace: rt.strace, debug: rt.debug, logFormat: rt.logFormat }, () => {});
  const ready = server.listen();
  ready.catch(() => {});
  return { pid: process.pid, ready, server, kill: () => server.close() };
}

/**
 * Launches the container's monitor (monitor.ts): ready resolves once it listens on its
 * socket, and rejects (with its message) when it cannot.
 */
function launchMonitor(rt: RuntimeOptions, id: string): Monitor {
  const script = fileURLToPath(new URL("./monitor.js", import.meta.url));
  const log = rt.logFile !== undefined ? openSync(rt.logFile, "a") : "ignore";
  let child;
  try {
    child = spawnProcess(process.execPath, [script, rt.root, id, JSON.stringify({ strace: rt.strace, debug: rt.debug, logFormat: rt.logFormat }), String(process.pid)], {
      detached: true,
      stdio: ["ignore", "ignore", log, "pipe"],
    });
  } finally {
    if (typeof log === "number") closeSync(log);
  }
  child.unref();
  const pipe = child.stdio[MONITOR_READY_FD]!;
  const ready = new Promise<void>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new ContainerError("container sentry: the monitor did not start within 10 s")), 10000);
    const done = (line: string): void => {
      clearTimeout(timer);
      (pipe as unknown as { destroy(): void }).destroy();
      if (line === "ready") resolve();
      else reject(new ContainerError(`container sentry: ${line.replace(/^error: /, "") || "the monitor exited before serving"}`));
    };
    pipe.on("data", (b: Buffer) => {
      buf += b.toString();
      if (buf.includes("\n")) done(buf.slice(0, buf.indexOf("\n")));
    });
    pipe.on("end", () => done(buf.trim()));
  });
  ready.catch(() => {});
  const pid = child.pid!;
  return {
    pid,
    ready,
    kill: () => {
      try {
        process.kill(pid, SIGKILL);
      } catch {
        // gone already
      }
    },
  };
}
