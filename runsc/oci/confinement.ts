// The confinement of a container's sentry (its monitor process, monitor.ts).
//
// The monitor performs the workload's operations: what it may do, a workload that found a
// way to steer it could do. So it is started (native/src/confine.cc: spawnConfined):
//
//   * in a user namespace of its own, the sentry's: root there is one host id that owns
//     nothing (SENTRY_ID_BASE + the container's range slot), and the container's id range
//     is mapped one to one. The container's user namespace is made inside it. The monitor
//     has every capability over the container (its processes, files and namespaces) and
//     none over the host: no host process to trace or signal, no host file but the
//     world-readable ones, no module, no host sysctl, no host mount;
//   * in a mount namespace of its own whose root is an empty tmpfs holding what Node needs
//     to run it (confinedRoot), read-only: the system's libraries, node, the runtime's own
//     files, /proc (through which it reaches the container's processes), /dev/null;
//   * in network and IPC namespaces of its own: the sockets it acts on are the tasks', in
//     theirs, so the host's network is nothing it can reach;
//   * with no_new_privs and the capability bounding set cut to SENTRY_CAPABILITIES;
//   * and, once Node has started, under a seccomp allowlist (sentryFilter.ts).
//
// A container that keeps host root (policy process.hostRoot) or runs in a user namespace
// its config names has a monitor that must act as host root: it gets no_new_privs and the
// allowlist alone.
import { closeSync, existsSync, fstatSync, lstatSync, openSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { NativeBinding } from "../../native/binding.js";
import { projectRoot } from "../../native/index.js";
import { ID_RANGE } from "../sandbox/ids.js";
import type { IdRange } from "./idRanges.js";

/** The host id of a sentry's root: one per container range slot, below every range. */
export const SENTRY_ID_BASE = 0x3f000000;

export function sentryHostId(range: IdRange): number {
  return SENTRY_ID_BASE + range.slot;
}

/**
 * The capabilities a confined sentry keeps, over its own user namespace and the container's
 * (which is inside it) alone, each with what needs it.
 */
export const SENTRY_CAPABILITIES: ReadonlyArray<readonly [name: string, bit: number, why: string]> = [
  ["CAP_CHOWN", 0, "chown, and files made with their owners, as root inside does them"],
  ["CAP_DAC_OVERRIDE", 1, "a task's file access with root inside's override"],
  ["CAP_DAC_READ_SEARCH", 2, "the same for reads and directory search"],
  ["CAP_FOWNER", 3, "chmod, utimes and the like on files root inside does not own"],
  ["CAP_FSETID", 4, "keeping set-id bits where root inside keeps them"],
  ["CAP_KILL", 5, "killing the container's tasks (fail closed) and signals sent for them"],
  ["CAP_SETGID", 6, "acting with a task's group ids"],
  ["CAP_SETUID", 7, "acting with a task's user ids"],
  ["CAP_NET_BIND_SERVICE", 10, "binds below 1024 for root inside in the container's own network namespace"],
  ["CAP_NET_ADMIN", 12, "the network namespace of a task's socket (SIOCGSKNS)"],
  ["CAP_SYS_CHROOT", 18, "entering the container's mount namespace (setns)"],
  ["CAP_SYS_PTRACE", 19, "a task's memory, descriptors (pidfd_getfd) and /proc files"],
  ["CAP_SYS_ADMIN", 21, "entering the container's mount namespace (setns)"],
];

export const SENTRY_CAPS_MASK = SENTRY_CAPABILITIES.reduce((m, [, bit]) => m | (1n << BigInt(bit)), 0n);

/**
 * The sentry's user namespace for a container with this range: its root is the sentry's
 * host id, and the range maps to itself (so that the container's namespace, made inside it,
 * has the same maps as one made on the host).
 */
export function sentryNamespace(native: NativeBinding, range: IdRange): number {
  const map = `0 ${sentryHostId(range)} 1\n${range.base} ${range.base} ${ID_RANGE}\n`;
  return native.createUserNamespace(map, map);
}

/**
 * The sentry's user namespace of a pod (the parent of the pod's, which its sandbox
 * container's create made): the pod's containers' sentries share it, as they share the pod's
 * range. Undefined when the pod's has no parent but the host's (its sentry was not confined).
 */
export function podSentryNamespace(native: NativeBinding, podUserns: string): number | undefined {
  const fd = openSync(podUserns, "r");
  let parent: number;
  try {
    parent = native.nsOwner(fd, true);
  } finally {
    closeSync(fd);
  }
  if (parent < 0) throw new Error(`${podUserns}: its parent user namespace: errno ${-parent}`);
  const host = statSync("/proc/self/ns/user");
  const st = fstatSync(parent);
  if (st.ino === host.ino && st.dev === host.dev) {
    closeSync(parent);
    return undefined;
  }
  return parent;
}

export interface ConfinedRoot {
  dirs: string[];
  binds: { source: string; target: string; file?: boolean; writable?: boolean }[];
  symlinks: { target: string; path: string }[];
}

/** The top-level entries of a merged /usr (symlinks into it) or directories of their own. */
const SYSTEM_DIRS = ["/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"];

/**
 * What the confined monitor's root holds: the system's programs and libraries (node and the
 * dynamic loader need them), node itself, the runtime's files (read by the sentry's threads
 * as they start), /proc, /dev/null and, on the host's network, the cgroup tree (the
 * container's cgroup.procs tells its abstract sockets from the host's).
 */
export function confinedRoot(o: { hostNetwork: boolean }): ConfinedRoot {
  const root: ConfinedRoot = { dirs: ["/dev", "/proc"], binds: [], symlinks: [] };
  const bound: string[] = [];
  const covered = (p: string): boolean => bound.some((b) => p === b || p.startsWith(b + "/"));
  const bindDir = (source: string): void => {
    if (covered(source)) return;
    // Parents first: the target's path is made in the tmpfs.
    const parts = source.split("/").filter((x) => x !== "");
    for (let i = 1; i < parts.length; i++) {
      const dir = "/" + parts.slice(0, i).join("/");
      if (!root.dirs.includes(dir)) root.dirs.push(dir);
    }
    root.binds.push({ source, target: source });
    bound.push(source);
  };
  for (const dir of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) root.symlinks.push({ target: readlinkSync(dir), path: dir });
    else if (st.isDirectory()) bindDir(dir);
  }
  bindDir(dirname(realpathSync(process.execPath)));
  bindDir(projectRoot());
  root.binds.push({ source: "/proc", target: "/proc" });
  root.binds.push({ source: "/dev/null", target: "/dev/null", file: true, writable: true });
  if (o.hostNetwork && existsSync("/sys/fs/cgroup")) {
    for (const dir of ["/sys", "/sys/fs"]) root.dirs.push(dir);
    root.binds.push({ source: "/sys/fs/cgroup", target: "/sys/fs/cgroup" });
  }
  return root;
}

/**
 * A monitor's environment besides TZ: one libuv worker (it reads its files synchronously;
 * the pool is started only by Node's module loader), each idle thread ~40 KiB.
 */
export const MONITOR_ENV = ["UV_THREADPOOL_SIZE=1"];

/** A monitor's Node flags: one V8 worker thread (its heap is a few MiB; each idle thread ~40 KiB). */
export const MONITOR_NODE_FLAGS = ["--v8-pool-size=1"];

/**
 * Starts argv confined as a container's sentry in the sentry's user namespace userns (the
 * monitor; a test's probe): fds[i] becomes its descriptor i. Its PID; throws (ESETUP) with
 * the step that failed.
 */
export function spawnConfinedSentry(native: NativeBinding, o: { userns: number; argv: string[]; fds: number[]; hostNetwork: boolean }): number {
  return native.spawnConfined({
    userns: o.userns,
    argv: o.argv,
    // UTC: Node would otherwise look for the zone's file, in the container's tree once a thread has entered it.
    env: ["TZ=UTC", ...MONITOR_ENV],
    fds: o.fds,
    // Where the empty root is mounted before the pivot (in the new mount namespace only).
    scratch: "/tmp",
    ...confinedRoot({ hostNetwork: o.hostNetwork }),
    keepCaps: SENTRY_CAPS_MASK,
  });
}
