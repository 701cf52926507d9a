// The OCI lifecycle (runtime.md) after create: start, kill, delete, and what ps reads.
// create (create.ts) leaves init held before the user's program, under the container's
// sentry (monitor.ts, a detached process per container); start releases it. These commands
// load neither the config's schema nor the policy compiler: the state holds what they need.
import { closeSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { loadNative } from "../../native/index.js";
import type { LogFormat } from "../log.js";
import type { OciConfigDoc } from "./config.js";
import { cgroupPids, removeCgroups } from "../sandbox/cgroups.js";
import { releaseIdRange } from "./idRanges.js";
import { removeDevices } from "./devices.js";
import { runHooks } from "./hooks.js";
import type { MonitorAnswer, MonitorRequest } from "./monitorProtocol.js";
import { encodeMessage, parseAnswer } from "./monitorProtocol.js";
import type { ContainerState } from "./state.js";
import { checkId, containerDir, ContainerError, currentStatus, guard, initAlive, mustRead, ociState, readState, socketAddress, startTime, withLock, writeState } from "./state.js";
import { SIGKILL } from "../../platform/abi/signal.js";
import { ESRCH } from "../../platform/abi/errno.js";


export interface RuntimeOptions {
  root: string;
  /** --policy, for containers whose config names none. */
  policy?: string;
  debug: boolean;
  strace: boolean;
  logFormat: LogFormat;
  /** --network none: every container gets a network namespace of its own. */
  network?: "none" | "host";
  /** --log: the monitor's stderr (the sentry's own messages). */
  logFile?: string;
  /** --metrics-address: the monitor serves the container's Prometheus metrics there (runsc/metrics.ts). */
  metricsAddress?: string;
  /** --record-events: the container's execs, exits and refusals go to its events file (state.ts: eventsFile). */
  recordEvents?: boolean;
}

export interface CreateOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  /** The sentry runs in this process, not in a monitor of its own (`run` in the foreground). */
  inProcess?: boolean;
  /** --preserve-fds: our fds 3 .. 3+N-1 become the container process's, at the same numbers. */
  preserveFds?: number;
}

/** config.json of a bundle, checked (zod is loaded for it). */
export async function readBundleConfig(bundle: string): Promise<OciConfigDoc> {
  const file = join(bundle, "config.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ContainerError(`${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file (is --bundle right?)" : (err as Error).message}`);
  }
  const { parseOciConfig } = await import("./config.js");
  return parseOciConfig(text, file);
}

/** Sends one command to a container's monitor; resolves with its answer line. */
export function askMonitor(root: string, id: string, request: MonitorRequest, fds: readonly number[] = []): Promise<MonitorAnswer> {
  return new Promise((resolve, reject) => {
    const unanswered = (err: Error): void => reject(new ContainerError(`container "${id}": its sentry does not answer: ${err.message}`));
    let at: { address: string; dirFd: number };
    try {
      at = socketAddress(root, id);
    } catch (err) {
      unanswered(err as Error);
      return;
    }
    // The request and its descriptors in one message; the answer is read on the connection.
    let conn: Socket;
    try {
      conn = new Socket({ fd: loadNative().sendFds(at.address, encodeMessage(request), [...fds]), readable: true, writable: false });
    } catch (err) {
      unanswered(err as Error);
      return;
    } finally {
      closeSync(at.dirFd);
    }
    let buf = "";
    conn.on("data", (b: Buffer) => (buf += b.toString()));
    conn.on("end", () => {
      conn.destroy();
      resolve(parseAnswer(buf.trim()));
    });
    conn.on("error", unanswered);
  });
}

/** start: releases the user's program; poststart hooks follow (their failure is a warning). */
export async function startContainer(rt: RuntimeOptions, id: string, warn: (msg: string) => void): Promise<void> {
  const config = await withLock(rt.root, id, async () => {
    const st = mustRead(rt.root, id);
    guard(st, "start");
    // The state the startContainer hooks get, which init runs before the program.
    const answer = await askMonitor(rt.root, id, { op: "start", state: ociState(st) });
    if (!answer.ok) throw new ContainerError(`container "${id}": ${answer.error}`);
    st.status = "running";
    writeState(rt.root, st);
    return { st, hooks: st.poststart };
  });
  try {
    // The state of poststart's moment: the program may have ended already.
    await runHooks("poststart", config.hooks, { ...ociState(config.st), status: "running", pid: config.st.pid });
  } catch (err) {
    warn((err as Error).message);
  }
}

/** Linux's signal numbers by name (without SIG), for kill's argument. */
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13,
  ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25,
  VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** A signal by number, name or SIGNAME; RTMIN+n as well. */
export function parseSignal(text: string): number {
  const t = text.trim().toUpperCase().replace(/^SIG/, "");
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else if (SIGNALS[t] !== undefined) {
    return SIGNALS[t]!;
  } else {
    const rt = /^RTMIN(?:\+(\d+))?$/.exec(t);
    if (rt && 34 + Number(rt[1] ?? 0) <= 64) return 34 + Number(rt[1] ?? 0);
  }
  throw new ContainerError(`invalid signal ${JSON.stringify(text)}`);
}

/** kill: the signal to init (which passes it on to the program), or with all to every process. */
export async function killContainer(rt: RuntimeOptions, id: string, signal: number, all: boolean): Promise<void> {
  const st = mustRead(rt.root, id);
  // --all reaches what is left in the container's groups after init has gone, as runc's
  // (nothing left is no error): processes of a container without a PID namespace of its own
  // (a pod's) outlive init, and a shim kills them so once it has seen init exit.
  if (!(all && currentStatus(st) === "stopped")) guard(st, "kill");
  const native = loadNative();
  if (all) {
    for (const pid of cgroupPids(st.cgroups)) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
    return;
  }
  const pidfd = native.pidfdOpen(st.pid);
  if (pidfd < 0) throw new ContainerError("container not running");
  // SIGKILL cannot be passed on: it ends init, and with init, as PID 1 of the container's
  // PID namespace, every process there. In another's PID namespace (a pod's) the rest of
  // the container's processes would outlive it: they are killed with it, as runc's
  // SIGKILL ends its program.
  let rest: number[] = [];
  try {
    // The PID may have been reused between the check and the open: the pidfd pins it now.
    if (startTime(st.pid) !== st.initStart) throw new ContainerError("container not running");
    if (signal === SIGKILL && !ownsPidNamespace(st.pid)) rest = cgroupPids(st.cgroups).filter((p) => p !== st.pid);
    const r = native.pidfdSendSignal(pidfd, signal);
    // Reaped since the open (its shim saw it exit): what runc says of a container that has
    // ended, which a shim takes for "already finished", not for a failure.
    if (r === -ESRCH) throw new ContainerError("container not running");
    if (r < 0) throw new ContainerError(`kill: errno ${-r}`);
  } finally {
    native.close(pidfd);
  }
  for (const pid of rest) {
    try {
      process.kill(pid, SIGKILL);
    } catch {
      // gone meanwhile
    }
  }
}

/** Whether pid is PID 1 of its PID namespace (NSpid's last field, /proc/PID/status). */
function ownsPidNamespace(pid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^NSpid:\s+(.*)$/m)?.[1];
    return line !== undefined && line.trim().split(/\s+/).pop() === "1";
  } catch {
    return false;
  }
}

/** Waits until every process of the container has gone (at most ms). */
async function waitGone(st: ContainerState, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!initAlive(st) && cgroupPids(st.cgroups).length === 0) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** delete: removes a stopped (or created) container; force kills a running one first. */
export async function deleteContainer(rt: RuntimeOptions, id: string, force: boolean, warn: (msg: string) => void): Promise<void> {
  checkId(id);
  if (readState(rt.root, id) === undefined) {
    if (force) {
      // A create killed before it wrote its state leaves a directory, and maybe its id range: remove them.
      releaseIdRange(rt.root, id);
      removeDevices(rt.root, id);
      rmSync(containerDir(rt.root, id), { recursive: true, force: true });
      return;
    }
    throw new ContainerError(`container "${id}" does not exist`);
  }
  // Another delete may remove it meanwhile: with --force, that is success.
  const gone = (): boolean => readState(rt.root, id) === undefined && !existsSync(containerDir(rt.root, id));
  try {
    await withLock(rt.root, id, () => deleteLocked(rt, id, force, warn));
  } catch (err) {
    if (force && err instanceof ContainerError && gone()) return;
    throw err;
  }
}

async function deleteLocked(rt: RuntimeOptions, id: string, force: boolean, warn: (msg: string) => void): Promise<void> {
  const st = readState(rt.root, id);
  if (st === undefined) {
    if (force) return;
    throw new ContainerError(`container "${id}" does not exist`);
  }
  const status = force ? currentStatus(st) : guard(st, "delete");
  if (status === "paused" && st.freezer !== undefined) thaw(st.freezer);
  // Whatever is left in its cgroups goes too: a stopped container's leftovers, a process
  // its create cloned before it was killed.
  for (const pid of [...(initAlive(st) ? [st.pid] : []), ...cgroupPids(st.cgroups)]) {
    try {
      process.kill(pid, SIGKILL);
    } catch {
      // gone meanwhile
    }
  }
  if (!(await waitGone(st, 10000))) throw new ContainerError(`container "${id}": its processes did not end within 10 s`);
  if (startTime(st.monitorPid) !== undefined && isMonitorOf(st.monitorPid, id)) {
    try {
      process.kill(st.monitorPid, SIGKILL);
    } catch {
      // it ended with init
    }
  }
  removeCgroups(st.cgroups);
  try {
    await runHooks("poststop", st.poststop, { ...ociState(st), status: "stopped", pid: 0 });
  } catch (err) {
    warn((err as Error).message);
  }
  releaseIdRange(rt.root, id);
  removeDevices(rt.root, id);
  rmSync(containerDir(rt.root, id), { recursive: true, force: true });
}

/** Whether pid is container id's monitor (not a process that took its PID since): node [FLAGS] monitor.js ROOT ID ..., or its native start, whose command line ends in that one (runsc-ts-monitor ... -- node ...). */
function isMonitorOf(pid: number, id: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const script = argv.findIndex((a) => a.endsWith("/monitor.js"));
    return script >= 1 && argv[script + 2] === id;
  } catch {
    return false;
  }
}

function thaw(freezer: string): void {
  try {
    writeFileSync(freezer, freezer.endsWith("cgroup.freeze") ? "0" : "THAWED");
  } catch {
    // the group is gone
  }
}

/** The host PIDs of the container's processes (ps --format json: what `docker top` reads). */
export function containerPids(rt: RuntimeOptions, id: string): number[] {
  const st = mustRead(rt.root, id);
  if (currentStatus(st) === "stopped") return [];
  return cgroupPids(st.cgroups);
}
