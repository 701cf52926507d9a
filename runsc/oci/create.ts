// create (runtime.md): everything up to the user's program, which init holds until start.
// init is cloned into the config's namespaces and cgroups by create's process — or, when a
// warm process serves the command, by the client that called it (runsc/caller.ts) — whose
// exit passes init to the caller's subreaper (a shim waits for it), as runc's does.
// The container's monitor (monitor.ts), confined where the container has a user namespace of
// ours (confinement.ts), is launched before the plan, so that Node's start-up there overlaps
// the work here; create sends it init's descriptors with the request (SCM_RIGHTS) once init
// is set up. Anything that fails undoes what was done: processes, cgroups, state.
import { spawn as spawnProcess } from "node:child_process";
import { appendFileSync, closeSync, constants, existsSync, openSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import type { NativeBinding } from "../../native/binding.js";
import { initPath, loadNative, monitorStartPath } from "../../native/index.js";
import { GATE_PASSED } from "../../sentry/gate.js";
import { AF_INET, AF_INET6, AF_UNIX, SO_REUSEADDR, SOCK_CLOEXEC, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET } from "../../platform/abi/socket.js";
import { EADDRINUSE } from "../../platform/abi/errno.js";
import { parseMetricsAddress, sockaddrOf } from "../metricsAddress.js";
import { SIGKILL } from "../../platform/abi/signal.js";
import type { SentryConfig } from "../../sentry/config.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { currentClient } from "../caller.js";
import { loadPolicy } from "../policyCache.js";
import { resolveEgressHosts } from "../sandbox/egressHosts.js";
import { missingKernelFeatures } from "../requirements.js";
import { writeFully } from "../write.js";
import { ensurePrivateDir, STAGING_DIR } from "../runtimeDir.js";
import type { Launched } from "../sandbox/launch.js";
import { Cleanup, hostFacts, launch, LaunchError } from "../sandbox/launch.js";
import type { OciConfigDoc } from "./config.js";
import type { CreateOptions, RuntimeOptions } from "./container.js";
import { askMonitor, readBundleConfig } from "./container.js";
import { OciConfigError } from "./errors.js";
import { makeDevices, removeDevices } from "./devices.js";
import { runHooks, runHooksSync } from "./hooks.js";
import type { MonitorStart } from "./monitorProtocol.js";
import { parseAnswer, START_FILE, writeFilter, writeStart } from "./monitorProtocol.js";
import { MONITOR_ENV, MONITOR_NODE_FLAGS, podSentryNamespace, sentryHostId, sentryNamespace, spawnConfinedSentry } from "./confinement.js";
import type { PodUserns } from "./podUserns.js";
import { podUserNamespace } from "./podUserns.js";
import { MonitorServer } from "./monitorServer.js";
import { MONITOR_NODE_FD, monitorStartFilter, sentryFilter } from "./sentryFilter.js";
import type { IdRange } from "./idRanges.js";
import { allocateIdRange, releaseIdRange } from "./idRanges.js";
import { ownUserNamespace, planBundle } from "./planBundle.js";
import { preservedFds } from "./process.js";
import { openTerminal } from "./relay.js";
import type { ContainerState } from "./state.js";
import { checkId, containerDir, ContainerError, eventsFile, makeContainerDir, ociState, readState, socketAddress, startTime, writeAtomic, writeState } from "./state.js";

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
  if (policy.process.exec?.entrypoint === true) throw new OciConfigError(name, ["process.exec.entrypoint is not supported for OCI containers yet"]);
  return { name, policy };
}


/** A warning on stderr and in --log, as errors are written there (runc's log lines). */
function logWarning(rt: RuntimeOptions, message: string): void {
  writeFully(2, `runsc-ts: warning: ${message}\n`);
  if (rt.logFile === undefined) return;
  const time = new Date().toISOString();
  try {
    appendFileSync(rt.logFile, rt.logFormat === "json" ? JSON.stringify({ level: "warning", msg: message, time }) + "\n" : `time="${time}" level=warning msg=${JSON.stringify(message)}\n`);
  } catch {
    // the log is the caller's; stderr has the message
  }
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
  const undo = new Cleanup();
  undo.push(() => rmSync(dir, { recursive: true, force: true }));
  const fds: number[] = [];
  try {
    // Before the monitor starts: it must not inherit them.
    const preserved = preservedFds(native, o.preserveFds ?? 0);
    const { config, proc, rootfs } = await readBundle(bundle, o);
    const { name: policyName, policy } = await containerPolicy(config, rt.policy);
    const network = policy.network.mode === "none" || rt.network === "none" ? "none" : "host";
    ensurePrivateDir(STAGING_DIR);
    // Without a console socket (run in the foreground) the master stays ours, to relay.
    const pty = proc.terminal === true ? openTerminal(native, proc.consoleSize, o.consoleSocket, fds) : undefined;
    const relayed = pty?.relayed;
    if (relayed !== undefined) undo.push(() => native.close(relayed));
    // Root inside is never host root: a user namespace of the container's own, with a host
    // id range of its own, or its pod's (podUserns.ts).
    let idRange: IdRange | undefined;
    let pod: PodUserns | undefined;
    if (ownUserNamespace(config, policy)) {
      pod = podUserNamespace(native, config);
      if (pod !== undefined) {
        idRange = pod.range;
      } else {
        idRange = allocateIdRange(rt.root, o.id);
        undo.push(() => releaseIdRange(rt.root, o.id));
      }
    } else if (!(config.linux?.namespaces ?? []).some((n) => n.type === "user")) {
      // The policy's opt-out, said.
      logWarning(rt, `container ${o.id}: root inside is host root (policy ${policyName}: process.hostRoot)`);
    }
    // The sentry: confined where the container has a user namespace from us (confinement.ts),
    // launched now so that Node's start-up overlaps the planning and the launch.
    const nss = config.linux?.namespaces ?? [];
    const hostNetwork = network !== "none" && !nss.some((n) => n.type === "network");
    // Root inside binds its low ports through the binder where its user namespace owns no network namespace.
    const ownNet = network === "none" || nss.some((n) => n.type === "network" && n.path === undefined);
    let confined: Confined | undefined;
    if (idRange !== undefined) {
      // A pod's: the sentry's namespace around the pod's (its sandbox container's sentry made it).
      const userns = pod !== undefined ? podSentryNamespace(native, pod.path) : sentryNamespace(native, idRange);
      if (userns !== undefined) {
        fds.push(userns);
        confined = { userns, hostNetwork, ...(!ownNet ? { binderUid: sentryHostId(idRange) } : {}) };
      }
    }
    // In the foreground (run) an unconfined sentry runs in this process; a confined one is tied to it.
    const monitor = o.inProcess === true && confined === undefined ? serveHere(rt, o.id) : launchMonitor(native, rt, o.id, confined, o.inProcess === true ? process.pid : undefined);
    undo.push(() => monitor.kill());
    undo.push(() => removeDevices(rt.root, o.id));
    const plan = planBundle(
      {
        id: o.id,
        config,
        bundle,
        rootfs,
        policy,
        policyName,
        network,
        strace: rt.strace,
        ...(rt.recordEvents === true ? { recordEvents: true } : {}),
        ...(pty !== undefined ? { console: readlinkSync(`/proc/self/fd/${pty.slave}`) } : {}),
        preserved,
        ...(idRange !== undefined ? { idRange } : {}),
        ...(pod !== undefined ? { podUserns: pod.path } : {}),
        // network.egress host names, resolved now by the runtime (the sentry has no resolver).
        hostNames: await resolveEgressHosts(policy),
        // A config's own user namespace binds the host's nodes instead (devices.ts).
        ...(idRange !== undefined || !nss.some((n) => n.type === "user") ? { madeDevices: makeDevices(native, rt.root, o.id, config, idRange !== undefined) } : {}),
      },
      hostFacts(native),
    );
    if (confined !== undefined && (plan.sentry.bindsForRoot === true) !== (confined.binderUid !== undefined)) {
      throw new ContainerError("container sentry: the plan's binds for root inside disagree with the monitor's binder (a runsc-ts bug)");
    }
    // exec's processes get the same filter, served by the same monitor.
    writeFilter(dir, plan.filter);

    const st = initialState(o.id, config, bundle, rootfs, monitor.pid, plan.cgroups!.layout.version);
    // With createContainer hooks, init stops before pivot_root: the runtime's prestart and
    // createRuntime hooks run then, as the spec orders them, and init's follow.
    const pauseForHooks = (config.hooks?.createContainer ?? []).length > 0;
    const onPause = (pid: number): string => {
      const state = { ...ociState(st), status: "creating", pid };
      runHooksSync("prestart", config.hooks?.prestart, state);
      runHooksSync("createRuntime", config.hooks?.createRuntime, state);
      return JSON.stringify(state);
    };
    const client = currentClient();
    let spawned: Launched;
    try {
      spawned = launch(native, plan, {
        cleanup: undo,
        ...(confined !== undefined ? { userNamespaceParent: confined.userns } : {}),
        ...(pty !== undefined ? { tty: pty.slave } : {}),
        hold: true,
        orphan: true,
        // In the foreground we wait for init; otherwise its status is our caller's (a shim's).
        watch: o.inProcess === true,
        // A client's command (a warm process serves it): the client clones init.
        ...(o.inProcess !== true && client !== undefined ? { cloner: client.cloner } : {}),
        ...(pauseForHooks ? { onPause } : {}),
        onCgroups: (cg) => {
          st.cgroups = cg.dirs;
          if (cg.freezer !== undefined) st.freezer = cg.freezer;
          writeState(rt.root, st);
        },
      });
    } catch (err) {
      if (err instanceof LaunchError) {
        // A hook that expected host root's rights: say where it ran and what would keep them.
        const hint = idRange !== undefined && err.message.includes("hooks.createContainer[")
          ? ` (createContainer hooks run as root of the container's user namespace, host id ${idRange.base}; a policy with process.hostRoot: true keeps host root)`
          : "";
        throw new ContainerError(err.step === "spawn" ? `container setup failed: ${err.message}${hint}` : err.message);
      }
      throw err;
    }
    const { pid } = spawned;
    // A pod's network namespace is the host user namespace's: its sysctls are ours to write.
    if (plan.netSysctls !== undefined) {
      try {
        native.writeNetSysctls(plan.netSysctls.netns, [...plan.netSysctls.entries]);
      } catch (err) {
        throw new ContainerError(`linux.sysctl: ${(err as Error).message}`);
      }
    }
    fds.push(spawned.pidfd, spawned.listener, spawned.mntns, spawned.control!, ...(spawned.proc !== undefined ? [spawned.proc.fuse] : []));
    const initStart = startTime(pid);
    if (initStart === undefined) throw new ContainerError("container init exited during setup");
    setOomScoreAdj(pid, proc.oomScoreAdj);
    st.pid = pid;
    st.initStart = initStart;
    writeState(rt.root, st);
    // The sentry, in the monitor: it must be serving before the user's program can run,
    // which init holds until start. Meanwhile the runtime's hooks run (Docker's bridge
    // network is made by its prestart hook, in the namespace init holds): the monitor's
    // start-up overlaps them.
    const handed = handOver(rt, o.id, dir, monitor, plan.sentry, spawned);
    handed.catch(() => {});
    if (!pauseForHooks) {
      await runHooks("prestart", config.hooks?.prestart, ociState(st));
      await runHooks("createRuntime", config.hooks?.createRuntime, ociState(st));
    }
    await handed;

    if (pty !== undefined && o.consoleSocket !== undefined) native.sendFdToSocket(o.consoleSocket, pty.master, "console");
    st.status = "created";
    writeState(rt.root, st);
    if (o.pidFile !== undefined) writeAtomic(resolvePath(o.pidFile), String(pid));
    return { state: st, ...(monitor.server !== undefined ? { server: monitor.server } : {}), ...(relayed !== undefined ? { terminal: relayed } : {}) };
  } catch (err) {
    undo.undo();
    throw err;
  } finally {
    for (const fd of fds) native.close(fd);
  }
}

/** The bundle's config.json, its process and the rootfs's absolute path, checked. */
async function readBundle(bundle: string, o: CreateOptions): Promise<{ config: OciConfigDoc; proc: NonNullable<OciConfigDoc["process"]>; rootfs: string }> {
  const config = await readBundleConfig(bundle);
  if (config.process === undefined) throw new OciConfigError(join(bundle, "config.json"), ["process: missing (create needs the program to run)"]);
  const proc = config.process;
  if (proc.terminal === true && o.consoleSocket === undefined && o.inProcess !== true) {
    throw new ContainerError("cannot allocate a terminal without --console-socket (process.terminal is true; run in the foreground relays one itself)");
  }
  const rootfs = resolvePath(bundle, config.root.path);
  if (!existsSync(rootfs)) throw new OciConfigError(join(bundle, "config.json"), [`root.path: ${rootfs} does not exist`]);
  return { config, proc, rootfs };
}

/**
 * The state written once the groups exist: it names what to remove, so that a create killed
 * midway (kill -9) leaves a container in "creating" (no init yet: stopped) that delete
 * --force cleans up.
 */
function initialState(id: string, config: OciConfigDoc, bundle: string, rootfs: string, monitorPid: number, cgroupVersion: 1 | 2): ContainerState {
  return {
    ociVersion: config.ociVersion,
    id,
    status: "creating",
    pid: 0,
    bundle,
    rootfs,
    created: new Date().toISOString(),
    owner: "",
    ...(config.annotations !== undefined ? { annotations: config.annotations } : {}),
    initStart: 0,
    monitorPid,
    cgroups: [],
    cgroupVersion,
    ...(config.hooks?.poststart !== undefined ? { poststart: config.hooks.poststart } : {}),
    ...(config.hooks?.poststop !== undefined ? { poststop: config.hooks.poststop } : {}),
  };
}

/** process.oomScoreAdj, written for init (the program inherits it). */
function setOomScoreAdj(pid: number, adj: number | undefined): void {
  if (adj === undefined) return;
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(adj));
  } catch (err) {
    throw new ContainerError(`process.oomScoreAdj ${adj}: ${(err as Error).message}`);
  }
}

/**
 * Hands init to the container's monitor: the sentry's start data in the state directory,
 * then the descriptors on its socket; the monitor serves the virtual /proc files from then
 * on (it takes our /dev/fuse too).
 */
async function handOver(rt: RuntimeOptions, id: string, dir: string, monitor: Monitor, config: SentryConfig, spawned: Launched): Promise<void> {
  const start: MonitorStart = { config, ...(spawned.proc !== undefined ? { proc: spawned.proc.options } : {}) };
  // Given as open files: a confined monitor can open neither.
  writeStart(dir, start);
  const startFd = openSync(join(dir, START_FILE), "r");
  rmSync(join(dir, START_FILE));
  const mountinfo = openSync("/proc/self/mountinfo", "r");
  try {
    await monitor.ready;
    spawned.proc?.stopServing();
    const request = { op: "init" as const, pid: spawned.pid, fuse: spawned.proc !== undefined };
    const answer = await askMonitor(rt.root, id, request, [spawned.listener, spawned.control!, startFd, mountinfo, ...(spawned.proc !== undefined ? [spawned.proc.fuse] : [])]);
    if (!answer.ok) throw new ContainerError(`container sentry: ${answer.error}`);
  } finally {
    closeSync(startFd);
    closeSync(mountinfo);
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
  const source = rt.metricsAddress !== undefined ? server.countCalls() : undefined;
  if (rt.recordEvents === true) server.recordEvents(openEventsFile(rt.root, id));
  const ready = server.listen().then(async () => {
    if (source !== undefined) await (await import("../metrics.js")).serveMetrics({ address: rt.metricsAddress! }, () => [source]).catch((err: Error) => Promise.reject(new ContainerError(err.message)));
  });
  ready.catch(() => {});
  return { pid: process.pid, ready, server, kill: () => server.close() };
}

/** A confined monitor's user namespace, and what its root and binder need (confinement.ts). */
interface Confined {
  userns: number;
  hostNetwork: boolean;
  /** Root inside binds ports below 1024 on the host's network: a binder, as this host uid. */
  binderUid?: number;
}

/** The monitor's descriptors: 3 answers create once it listens (a MonitorAnswer line), 4 is its socket, 5 its binder's channel. */
const MONITOR_SOCKET_FD = 4;
const MONITOR_FILTER_FD = 5;
const MONITOR_BINDER_FD = 6;

/** The monitor's own seccomp filter (sentryFilter.ts): the same for every container, compiled once per process. */
let monitorFilter: Uint8Array | undefined;
let monitorStartFilterBytes: Uint8Array | undefined;

/**
 * Launches the container's monitor (monitor.ts), confined when given its user namespace, and
 * tied to process `tie` when given (it ends with it): ready resolves once it listens on its
 * socket, and rejects (with its message) when it cannot.
 */
function launchMonitor(native: NativeBinding, rt: RuntimeOptions, id: string, confined: Confined | undefined, tie: number | undefined): Monitor {
  const script = fileURLToPath(new URL("./monitor.js", import.meta.url));
  const made: number[] = [];
  let pid: number;
  let binder: number | undefined;
  let readyEnd: number;
  try {
    const at = socketAddress(rt.root, id);
    try {
      made.push(native.listenUnix(at.address));
    } finally {
      closeSync(at.dirFd);
    }
    const pair = native.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (typeof pair === "number") throw new ContainerError(`container sentry: socketpair: errno ${-pair}`);
    made.push(pair[1]);
    readyEnd = pair[0];
    // Ours to keep once the monitor runs; closed with the rest if it cannot be started.
    made.push(readyEnd);
    const devNull = openSync("/dev/null", "r+");
    made.push(devNull);
    // Its messages: to --log; tied to run in the foreground, to run's stderr, as when the sentry ran there.
    const log = rt.logFile !== undefined ? openSync(rt.logFile, "a") : tie !== undefined ? 2 : devNull;
    if (log !== devNull && log !== 2) made.push(log);
    // Its filters, compiled here: the monitor holds none of the compiler (~2 MiB each).
    const filterFd = (program: Uint8Array): number => {
      const filter = native.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (typeof filter === "number") throw new ContainerError(`container sentry: socketpair: errno ${-filter}`);
      made.push(filter[0]);
      try {
        writeFully(filter[1], program);
      } finally {
        native.close(filter[1]);
      }
      return filter[0];
    };
    monitorFilter ??= sentryFilter();
    const fds = [devNull, devNull, log, pair[1], made[0]!, filterFd(monitorFilter)];
    if (confined?.binderUid !== undefined) {
      const chan = native.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
      if (typeof chan === "number") throw new ContainerError(`container sentry: socketpair: errno ${-chan}`);
      made.push(...chan);
      binder = native.startBinder(chan[1], confined.binderUid, initPath());
      fds.push(chan[0]);
    }
    // Its metrics endpoint: a socket listening on the host's network, made here (the
    // monitor's network namespace is its own).
    const metricsAt = rt.metricsAddress !== undefined ? fds.push(metricsSocket(native, rt.metricsAddress, made)) - 1 : undefined;
    // --record-events: the container's events file, opened here (the monitor's root is its own).
    let eventsAt: number | undefined;
    if (rt.recordEvents === true) {
      const fd = openEventsFile(rt.root, id);
      made.push(fd);
      eventsAt = fds.push(fd) - 1;
    }
    const args = [
      script,
      rt.root,
      id,
      JSON.stringify({ strace: rt.strace, debug: rt.debug, logFormat: rt.logFormat }),
      String(process.pid),
      String(MONITOR_SOCKET_FD),
      String(MONITOR_FILTER_FD),
      ...(binder !== undefined ? [`binder=${MONITOR_BINDER_FD}`] : []),
      ...(tie !== undefined ? [`tie=${tie}`] : []),
      ...(metricsAt !== undefined ? [`metrics=${metricsAt}`] : []),
      ...(eventsAt !== undefined ? [`events=${eventsAt}`] : []),
    ];
    let argv = [process.execPath, ...MONITOR_NODE_FLAGS, ...args];
    // Node starts when something needs it (native/monitor/monitor.c); until then the
    // monitor is a native process. Traced, debugging, serving metrics or recording events, Node from the start.
    if (!rt.strace && !rt.debug && metricsAt === undefined && eventsAt === undefined) {
      monitorStartFilterBytes ??= monitorStartFilter();
      while (fds.length < MONITOR_NODE_FD) fds.push(devNull);
      fds[MONITOR_NODE_FD] = filterFd(monitorStartFilterBytes);
      argv = [monitorStartPath(), String(process.pid), String(tie ?? 0), GATE_PASSED.join(","), rt.logFormat, id, "--", ...argv];
    }
    if (confined !== undefined) {
      pid = spawnConfinedSentry(native, { userns: confined.userns, argv, fds, hostNetwork: confined.hostNetwork });
    } else {
      const env = Object.fromEntries(MONITOR_ENV.map((e) => e.split("=") as [string, string]));
      const child = spawnProcess(argv[0]!, argv.slice(1), { detached: true, stdio: fds, env: { ...process.env, TZ: "UTC", ...env } });
      child.unref();
      pid = child.pid!;
    }
  } catch (err) {
    if (binder !== undefined) killQuietly(binder);
    for (const fd of made) native.close(fd);
    throw err instanceof ContainerError ? err : new ContainerError(`container sentry: ${(err as Error).message}`);
  }
  for (const fd of made) if (fd !== readyEnd) native.close(fd);
  const pipe = new Socket({ fd: readyEnd, readable: true, writable: false });
  const ready = new Promise<void>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new ContainerError("container sentry: the monitor did not start within 10 s")), 10000);
    const done = (line: string): void => {
      clearTimeout(timer);
      pipe.destroy();
      const answer = line === "" ? { ok: false as const, error: "the monitor exited before serving" } : parseAnswer(line);
      if (answer.ok) resolve();
      else reject(new ContainerError(`container sentry: ${answer.error}`));
    };
    pipe.on("data", (b: Buffer) => {
      buf += b.toString();
      if (buf.includes("\n")) done(buf.slice(0, buf.indexOf("\n")));
    });
    pipe.on("end", () => done(buf.trim()));
    pipe.on("error", () => done(""));
  });
  ready.catch(() => {});
  return {
    pid,
    ready,
    kill: () => {
      killQuietly(pid);
      if (binder !== undefined) killQuietly(binder);
    },
  };
}

/** The container's events file (--record-events), opened for appending. */
function openEventsFile(root: string, id: string): number {
  return openSync(eventsFile(root, id), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
}

/** A TCP socket listening on --metrics-address (close-on-exec; added to made). */
function metricsSocket(native: NativeBinding, address: string, made: number[]): number {
  let a: { host: string; port: number };
  try {
    a = parseMetricsAddress(address);
  } catch (err) {
    throw new ContainerError((err as Error).message);
  }
  const addr = sockaddrOf(a);
  const fd = native.socket(addr.length === 16 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new ContainerError(`--metrics-address ${address}: socket: errno ${-fd}`);
  made.push(fd);
  native.setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  const b = native.bind(fd, addr, addr.length);
  if (b < 0) throw new ContainerError(`--metrics-address ${address}: ${-b === EADDRINUSE ? "address in use (each container serves its own endpoint)" : `bind: errno ${-b}`}`);
  const l = native.listen(fd, 128);
  if (l < 0) throw new ContainerError(`--metrics-address ${address}: listen: errno ${-l}`);
  return fd;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, SIGKILL);
  } catch {
    // gone already
  }
}
