// Abstract unix sockets of a container on the host's network: they live in the host's network
// namespace, where the host's services listen too (containerd's shims did: CVE-2020-15257). A
// connect or send to one is the container's own when a process of the container holds the
// listening socket, the host's otherwise, and the host's are network: refused unless the
// policy's network.unix names them (@NAME). Told from the host's /proc: the sockets bound to
// the name (net/unix), and the descriptors of the container's processes (its cgroup's list).
import { O_CLOEXEC, O_RDONLY } from "../../platform/abi/fcntl.js";
import type { Task } from "../kernel/task.js";
import { readWhole } from "../kernel/ownFilesystems.js";

/** An abstract AF_UNIX address: its name as /proc/net/unix shows it ("@" first, NULs as "@"), or undefined. */
export function abstractName(addr: Uint8Array): string | undefined {
  if (addr.length < 4 || (addr[0]! | (addr[1]! << 8)) !== 1 /* AF_UNIX */ || addr[2] !== 0) return undefined;
  return "@" + Buffer.from(addr.subarray(3)).toString("latin1").replace(/\0/g, "@");
}

/** The inodes of the sockets bound to name, from a /proc/net/unix text. */
export function socketsNamed(netUnix: string, name: string): Set<string> {
  const out = new Set<string>();
  for (const line of netUnix.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode [Path]
    if (f.length >= 8 && f.slice(7).join(" ") === name) out.add(f[6]!);
  }
  return out;
}

/** A file under the host's /proc as text ("" when it cannot be read); its descriptor is the call's. */
function readProc(t: Task, rel: string): string {
  let fd: number;
  try {
    fd = t.proc(rel, O_RDONLY | O_CLOEXEC);
  } catch {
    return "";
  }
  try {
    return readWhole(fd);
  } finally {
    t.close(fd);
  }
}

const link = new Uint8Array(256);
/** The most descriptors looked at per process. */
const MAX_FDS = 65536;

/** Whether a process of the container (listed in procs, a cgroup.procs file) holds one of the sockets. */
function heldByContainer(t: Task, procs: string, inodes: ReadonlySet<string>): boolean {
  const k = t.k;
  // The host's path, through the process's own root (the sentry thread's is the container's).
  for (const pid of readProc(t, `self/root${procs}`).split("\n").filter((p) => /^\d+$/.test(p))) {
    const size = /\nFDSize:\s*(\d+)/.exec(readProc(t, `${pid}/status`))?.[1];
    const n = Math.min(Number(size ?? 0), MAX_FDS);
    for (let fd = 0; fd < n; fd++) {
      const p = Buffer.from(`${pid}/fd/${fd}`);
      const len = k.native.readlinkAt(k.procFd, p, p.length, link);
      if (len <= 8) continue;
      const text = Buffer.from(link.subarray(0, len)).toString("latin1");
      if (text.startsWith("socket:[") && inodes.has(text.slice(8, -1))) return true;
    }
  }
  return false;
}

/**
 * Whether a container on the host's network may reach the abstract socket `name`: nothing
 * listens there (the kernel refuses it), a process of the container does, or the policy
 * names it.
 */
export function abstractReachable(t: Task, name: string, procs: string): boolean {
  const inodes = socketsNamed(readProc(t, `${t.k.initPid}/net/unix`), name);
  return inodes.size === 0 || t.k.abstractAllowed(name) || heldByContainer(t, procs, inodes);
}
