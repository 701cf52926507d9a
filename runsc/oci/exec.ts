// exec: a new process in a running container — its namespaces (joined through init's),
// its cgroups, its filter, served by its sentry. As with create, the process (an init of
// its own, holding the program until the sentry serves it) is our child, so that a shim
// that runs `exec --detach` inherits it and reaps its status. We send the container's monitor
// its listener and control socket with the request (SCM_RIGHTS); the monitor starts it.
import { readFilter } from "./monitorProtocol.js";
import { readFileSync, readlinkSync, openSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { initPath, loadNative } from "../../native/index.js";
import type { InitRecord } from "../sandbox/initConfig.js";
import { encodeInitConfig } from "../sandbox/initConfig.js";
import type { OciConfigDoc } from "./config.js";
import { OciConfigError, OciProcessSchema, fieldPath } from "./config.js";
import type { RuntimeOptions } from "./container.js";
import { askMonitor, readBundleConfig } from "./container.js";
import type { OciProcess } from "./process.js";
import { preservedFds, processRecords } from "./process.js";
import { currentClient } from "../caller.js";
import { hostId, parseIdMap } from "../../sentry/kernel/idmap.js";
import { openTerminal, relayTerminal } from "./relay.js";
import type { InsideContainer } from "./relay.js";
import { containerDir, ContainerError, guard, mustRead, writeAtomic } from "./state.js";

// include/uapi/linux/sched.h
// The user namespace last: host root may join the others whoever owns them (the container's
// user namespace, or the host's for a pod's network namespace), and joining it makes us its
// root (spawn then takes uid 0 there, the host uid its map gives).
const JOINED: readonly [string, number][] = [
  ["ipc", 0x08000000],
  ["uts", 0x04000000],
  ["net", 0x40000000],
  ["pid", 0x20000000],
  ["cgroup", 0x02000000],
  ["mnt", 0x00020000],
  // Last, as create joins it: the others are joined as host root (a pod's network namespace is the host user namespace's).
  ["user", 0x10000000],
];

export interface ExecOptions {
  id: string;
  /** --process: an OCI process JSON; else args with the flags below over config.json's process. */
  processFile?: string;
  args: string[];
  cwd?: string;
  env: string[];
  user?: string;
  caps: string[];
  noNewPrivs: boolean;
  tty: boolean;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  /** --preserve-fds: our fds 3 .. 3+N-1 become the process's, at the same numbers. */
  preserveFds?: number;
}

/** The process to run: --process's, or config.json's process with the command line's changes. */
function execProcess(o: ExecOptions, config: OciConfigDoc): OciProcess {
  if (o.processFile !== undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(o.processFile, "utf8"));
    } catch (err) {
      throw new ContainerError(`${o.processFile}: ${(err as Error).message}`);
    }
    const r = OciProcessSchema.safeParse(doc);
    if (!r.success) throw new OciConfigError(o.processFile, r.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`));
    return r.data;
  }
  if (o.args.length === 0) throw new ContainerError("exec: give the command to run, or --process");
  const base = config.process;
  if (base === undefined) throw new ContainerError("exec: config.json has no process to start from; use --process");
  const p: OciProcess = { ...base, args: o.args, terminal: o.tty, env: [...(base.env ?? []), ...o.env] };
  if (o.cwd !== undefined) p.cwd = o.cwd;
  if (o.user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(o.user);
    if (!m) throw new ContainerError(`--user: expected UID[:GID], got ${JSON.stringify(o.user)}`);
    p.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  }
  if (o.caps.length > 0) {
    const c = p.capabilities ?? {};
    const add = (l: readonly string[] | undefined): string[] => [...new Set([...(l ?? []), ...o.caps])];
    p.capabilities = { ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted), ambient: add(c.ambient), inheritable: add(c.inheritable) };
  }
  if (o.noNewPrivs) p.noNewPrivileges = true;
  return p;
}

/** Runs exec; resolves with the process's status (0 with --detach, once it has started). */
export async function execInContainer(rt: RuntimeOptions, o: ExecOptions): Promise<number> {
  const st = mustRead(rt.root, o.id);
  guard(st, "exec");
  const config = await readBundleConfig(st.bundle);
  const proc = execProcess(o, config);
  if (proc.terminal === true && o.consoleSocket === undefined && o.detach) {
    throw new ContainerError("exec: a detached process's terminal needs --console-socket");
  }
  const native = loadNative();
  const filter = readFilter(containerDir(rt.root, o.id));
  const preserved = preservedFds(native, o.preserveFds ?? 0);
  // In a user namespace (init's is not ours) the config's capability sets are granted exactly.
  const userns = readlinkSync(`/proc/${st.pid}/ns/user`) !== readlinkSync("/proc/self/ns/user");
  const records: InitRecord[] = [...processRecords(proc, "process", { userns }), ...preserved.map((_fd, index) => ({ op: "preserve", index, target: 3 + index }) as const), { op: "hold" }, filter];

  const fds: number[] = [];
  try {
    // init's namespaces, as they are now (each the same for every process of the container).
    const join_: { fd: number; type: number }[] = [];
    for (const [name, type] of JOINED) {
      const path = `/proc/${st.pid}/ns/${name}`;
      if (readlinkSync(path) === readlinkSync(`/proc/self/ns/${name}`)) continue; // the host's: nothing to join
      const fd = openSync(path, "r");
      fds.push(fd);
      join_.push({ fd, type });
    }
    // Without a console socket (in the foreground) the master stays ours, to relay.
    // Made in the container's devpts, the slave the process's own, as runc's exec does.
    const inside = (): InsideContainer => {
      const owner = hostId(parseIdMap(readFileSync(`/proc/${st.pid}/uid_map`, "utf8")), proc.user?.uid ?? 0);
      return { root: `/proc/${st.pid}/root`, ...(owner !== undefined ? { owner: { uid: owner } } : {}) };
    };
    const pty = proc.terminal === true ? openTerminal(native, proc.consoleSize, o.consoleSocket, fds, inside()) : undefined;
    const relayed = pty?.relayed;
    const client = currentClient();
    let spawned;
    try {
      spawned = native.spawn({
        initPath: initPath(),
        cloneFlags: 0,
        uidMap: "",
        gidMap: "",
        config: encodeInitConfig(records),
        cgroupProcs: st.cgroups.map((d) => join(d, "cgroup.procs")),
        ...(pty !== undefined ? { tty: pty.slave } : {}),
        hold: true,
        orphan: true,
        // Detached, its status is our caller's (a shim's, which waits for the pid file's PID).
        watch: !o.detach,
        // A client's command (a warm process serves it): the client clones the process.
        ...(o.detach && client !== undefined ? { cloner: client.cloner } : {}),
        join: join_,
        ...(preserved.length > 0 ? { fds: preserved } : {}),
      });
    } catch (err) {
      throw new ContainerError(`exec failed: ${(err as Error).message}`);
    }
    fds.push(spawned.pidfd, spawned.listener, spawned.mntns, spawned.control!);
    const answer = await askMonitor(rt.root, o.id, { op: "adopt", pid: spawned.pid }, [spawned.listener, spawned.control!]);
    if (!answer.ok) {
      native.pidfdSendSignal(spawned.pidfd, 9);
      if (relayed !== undefined) native.close(relayed);
      throw new ContainerError(`exec: ${answer.error}`);
    }
    if (pty !== undefined && o.consoleSocket !== undefined) native.sendFdToSocket(o.consoleSocket, pty.master, "console");
    if (o.pidFile !== undefined) writeAtomic(resolvePath(o.pidFile), String(spawned.pid));
    if (o.detach) return 0;
    const relay = relayed === undefined ? undefined : relayTerminal(native, relayed);
    const status = await new Promise<number>((resolve) => native.onExit(spawned.pid, (s) => resolve(s < 0 ? 255 : s)));
    if (relay !== undefined) await Promise.race([relay.drained, new Promise((r) => setTimeout(r, 1000))]);
    relay?.stop();
    return status;
  } finally {
    for (const fd of fds) native.close(fd);
  }
}
