// A container's state under the runtime's root directory (--root, default /run/runsc-ts):
// <root>/<id>/state.json, written atomically (a temporary file renamed over it) and
// guarded by an flock(2) on the directory, so that concurrent commands on one container
// take turns. The status is the recorded one checked against the processes: a container
// whose init has gone is stopped whatever the file says.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadNative } from "../../native/index.js";
import { ensureRuntimeDir, RUNTIME_DIR } from "../runtimeDir.js";
import { ContainerError } from "./errors.js";

/** runc's is /run/runc; the runtime's own files beside the containers start with a dot. */
export const DEFAULT_ROOT = RUNTIME_DIR;

export { ContainerError };

export type Status = "creating" | "created" | "running" | "stopped" | "paused";

/** What runsc-ts keeps of a container; the first fields are the OCI state (runtime.md). */
export interface ContainerState {
  ociVersion: string;
  id: string;
  status: Status;
  /** Host PID of the container's init (0 once stopped, as runc reports it). */
  pid: number;
  bundle: string;
  rootfs: string;
  /** RFC 3339, UTC. */
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** Below: runsc-ts's own. init's start time (/proc/PID/stat field 22), against PID reuse. */
  initStart: number;
  monitorPid: number;
  /** The container's cgroup directories, one per hierarchy (cgroups.ts), and their version. */
  cgroups: string[];
  cgroupVersion: 1 | 2;
  /** The freezer's state file (v1 freezer.state or v2 cgroup.freeze), when there is one. */
  freezer?: string;
  /** poststart and poststop hooks, run by start and delete (config.json may have changed or gone). */
  poststart?: Hook[];
  poststop?: Hook[];
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** runc's rule: letters, digits, and _ + - . , not starting with a dot. */
export function checkId(id: string): void {
  if (!/^[A-Za-z0-9_+\-][A-Za-z0-9_+\-.]*$/.test(id) || id.length > 1024) {
    throw new ContainerError(`invalid container id ${JSON.stringify(id)}: letters, digits, _ + - . only, not starting with a dot`);
  }
}

export function containerDir(root: string, id: string): string {
  return join(root, id);
}

/** Where --record-events writes the container's execs, exits and refusals (JSON lines; `events` reads them). */
export function eventsFile(root: string, id: string): string {
  return join(root, id, "events.jsonl");
}

/** The monitor's control socket (monitor.ts). */
export function socketPath(root: string, id: string): string {
  return join(root, id, "monitor.sock");
}

/**
 * The socket's address for bind and connect: a unix socket's path holds 107 bytes, and a
 * container's directory under Docker's root (…/runtime-runc/moby/<64 hex digits>) is longer
 * already. The directory is reached through an fd of it; the caller closes the fd once bound
 * or connected.
 */
export function socketAddress(root: string, id: string): { address: string; dirFd: number } {
  const dirFd = openSync(join(root, id), "r");
  return { address: `/proc/self/fd/${dirFd}/monitor.sock`, dirFd };
}

export function readState(root: string, id: string): ContainerState | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, id, "state.json"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
  return JSON.parse(text) as ContainerState;
}

/** The state of an existing container, or the error runc gives for a missing one. */
export function mustRead(root: string, id: string): ContainerState {
  checkId(id);
  const st = readState(root, id);
  if (st === undefined) throw new ContainerError(`container "${id}" does not exist`);
  return st;
}

export function writeState(root: string, st: ContainerState): void {
  const dir = join(root, st.id);
  const tmp = join(dir, `.state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(st) + "\n", { mode: 0o600 });
  renameSync(tmp, join(dir, "state.json"));
}

/** Makes the container's directory; a container of that id must not exist yet. */
export function makeContainerDir(root: string, id: string): string {
  // A root under the runtime's directory must not make that directory root-only.
  ensureRuntimeDir();
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = join(root, id);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new ContainerError(`container "${id}" already exists`);
    throw err;
  }
  return dir;
}

export function listIds(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

const LOCK_EX = 2;
const LOCK_UN = 8;

/** Runs fn holding the container's lock; a container deleted meanwhile is an error. */
export async function withLock<T>(root: string, id: string, fn: () => T | Promise<T>): Promise<T> {
  checkId(id);
  let fd: number;
  try {
    fd = openSync(join(root, id), "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ContainerError(`container "${id}" does not exist`);
    throw err;
  }
  const native = loadNative();
  try {
    const r = native.flock(fd, LOCK_EX);
    if (r < 0) throw new ContainerError(`lock container "${id}": errno ${-r}`);
    return await fn();
  } finally {
    native.flock(fd, LOCK_UN);
    closeSync(fd);
  }
}

/** A process's start time (clock ticks after boot), or undefined when it is gone or a zombie. */
export function startTime(pid: number): number | undefined {
  if (!(pid > 0)) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return Number(fields[19]);
}

/** Whether the container's init is the process that runs (not a reused PID). */
export function initAlive(st: ContainerState): boolean {
  return st.pid > 0 && startTime(st.pid) === st.initStart;
}

/** The status as it is now: the recorded one, unless init has gone or the freezer holds it. */
export function currentStatus(st: ContainerState): Status {
  if (st.status === "stopped" || !initAlive(st)) return "stopped";
  if (st.freezer !== undefined && (st.status === "running" || st.status === "paused")) {
    try {
      const f = readFileSync(st.freezer, "utf8").trim();
      if (f === "FROZEN" || f === "1") return "paused";
      return "running";
    } catch {
      // the group is gone with the container
    }
  }
  return st.status;
}

/** What a command does to a container, for its status guard. */
export type Operation = "start" | "exec" | "kill" | "delete" | "pause" | "resume" | "update";

/**
 * The status guards, in one place: the statuses each operation accepts, and runc's words
 * for refusing it otherwise.
 */
const GUARDS: Readonly<Record<Operation, { allowed: readonly Status[]; refusal: (id: string, status: Status) => string }>> = {
  start: { allowed: ["created"], refusal: (_id, s) => (s === "stopped" ? "cannot start a container that has stopped" : `cannot start an already ${s} container`) },
  exec: { allowed: ["running"], refusal: (_id, s) => `cannot exec in a ${s} container` },
  kill: { allowed: ["creating", "created", "running", "paused"], refusal: () => "container not running" },
  // delete --force skips the guard: it ends whatever runs.
  delete: { allowed: ["creating", "created", "stopped"], refusal: (id, s) => `cannot delete container "${id}" that is not stopped: ${s}` },
  pause: { allowed: ["running"], refusal: (id, s) => `container "${id}" is not running (${s})` },
  resume: { allowed: ["paused"], refusal: (id, s) => `container "${id}" is not paused (${s})` },
  update: { allowed: ["creating", "created", "running", "paused"], refusal: (id) => `container "${id}" is not running` },
};

/** The container's status now, when the operation may go on; a ContainerError saying why not otherwise. */
export function guard(st: ContainerState, op: Operation): Status {
  const status = currentStatus(st);
  const g = GUARDS[op];
  if (!g.allowed.includes(status)) throw new ContainerError(g.refusal(st.id, status));
  return status;
}

/** Writes a file atomically (pid files: a reader never sees it half written). */
export function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** The OCI state document, as `state` prints it (runc's fields). */
export function ociState(st: ContainerState): Record<string, unknown> {
  const status = currentStatus(st);
  return {
    ociVersion: st.ociVersion,
    id: st.id,
    pid: status === "stopped" ? 0 : st.pid,
    status,
    bundle: st.bundle,
    rootfs: st.rootfs,
    created: st.created,
    owner: st.owner,
    ...(st.annotations !== undefined && Object.keys(st.annotations).length > 0 ? { annotations: st.annotations } : {}),
  };
}
