// What a workload did, as facts for `audit: true` and `runsc-ts policy learn`: the files it
// opened, examined and executed, the addresses it connected, sent and bound to, and the
// syscalls the policy would have refused. The sentry records facts only; whether the policy
// would have refused a path or an address is judged by runsc-ts, which holds the policy.
//
// A fact is recorded while the task still waits for its answer, so its memory is stable;
// but it is what the task asked, not a decision: audit lifts the policy's refusals and is
// no boundary for what it lifts (policies/README.md, "audit").
import type { Reply, TrapEvent } from "../platform/platform.js";
import { errnoName } from "../platform/abi/errno.js";
import { AT_FDCWD, O_ACCMODE, O_CREAT, O_DIRECTORY, O_RDONLY, O_TRUNC, __O_TMPFILE } from "../platform/abi/fcntl.js";
import { AF_INET, AF_INET6, AF_UNIX } from "../platform/abi/socket.js";
import { sysnoName } from "../platform/abi/sysno_amd64.js";
import type { Kernel } from "./kernel/kernel.js";
import { taskCreds } from "./kernel/creds.js";
import type { FilterAction } from "./syscalls/syscall.js";

export type AuditFact =
  /** A path the task opened (`write`: for writing or creating) or examined (stat, access, readlink). */
  | { kind: "path"; syscall: string; path: string; resolved?: string; write: boolean; dir: boolean; examine: boolean; errno?: string }
  | { kind: "exec"; syscall: string; path: string }
  | { kind: "net"; syscall: string; family: "inet" | "inet6" | "unix"; address: string; port?: number; errno?: string }
  /** A signal sent by the workload (not by the sandbox's init): to its own thread group or not. */
  | { kind: "signal"; syscall: string; target: number; own: boolean }
  /** A syscall the policy refuses: `would` it fail or kill, and what the sandbox answered. */
  | { kind: "syscall"; syscall: string; would: string; answered: string };

/** Where each path syscall keeps its directory fd and path (-1: AT_FDCWD). */
const PATHS: Record<string, { dirfd: number; path: number; flags?: number; examine?: true }> = {
  open: { dirfd: -1, path: 0, flags: 1 },
  openat: { dirfd: 0, path: 1, flags: 2 },
  openat2: { dirfd: 0, path: 1 },
  creat: { dirfd: -1, path: 0 },
  stat: { dirfd: -1, path: 0, examine: true },
  lstat: { dirfd: -1, path: 0, examine: true },
  newfstatat: { dirfd: 0, path: 1, examine: true },
  statx: { dirfd: 0, path: 1, examine: true },
  access: { dirfd: -1, path: 0, examine: true },
  faccessat: { dirfd: 0, path: 1, examine: true },
  faccessat2: { dirfd: 0, path: 1, examine: true },
  readlink: { dirfd: -1, path: 0, examine: true },
  readlinkat: { dirfd: 0, path: 1, examine: true },
  execve: { dirfd: -1, path: 0 },
  execveat: { dirfd: 0, path: 1 },
};

/** Where each socket syscall keeps its address and length. */
const ADDRS: Record<string, { addr: number; len: number }> = {
  connect: { addr: 1, len: 2 },
  sendto: { addr: 4, len: 5 },
  bind: { addr: 1, len: 2 },
};

/**
 * Where the signal syscalls keep their target, and what counts as the caller's own: its
 * process (thread group) id, or for tkill its own thread. pidfd_send_signal names its target
 * by descriptor and is left out.
 */
const SIGNALS: Record<string, "process" | "group" | "thread"> = {
  kill: "process",
  rt_sigqueueinfo: "process",
  tgkill: "group",
  rt_tgsigqueueinfo: "group",
  tkill: "thread",
};

/** The syscalls facts are recorded for: what `policy learn` traces. */
export const RECORDED_SYSCALLS: readonly string[] = [...Object.keys(PATHS), ...Object.keys(ADDRS), ...Object.keys(SIGNALS)];

export function actionText(a: FilterAction): string {
  switch (a.kind) {
    case "errno":
      return `errno(${errnoName(a.errno) ?? a.errno})`;
    default:
      return a.kind;
  }
}

const linkBuf = new Uint8Array(4096);
const decoder = new TextDecoder();

/** readlink(2) of a path under the host's /proc, or undefined. */
function procLink(k: Kernel, rel: string): string | undefined {
  const b = Buffer.from(rel);
  const n = k.native.readlinkAt(k.procFd, b, b.length, linkBuf);
  return n < 0 ? undefined : decoder.decode(linkBuf.subarray(0, n));
}

function join(dir: string, rel: string): string {
  return dir.endsWith("/") ? dir + rel : `${dir}/${rel}`;
}

/** The flags an open asked for (openat2 keeps them in its struct open_how). */
function openFlags(k: Kernel, ev: TrapEvent, name: string, idx: number | undefined): number {
  if (name === "creat") return O_CREAT | O_TRUNC | 1;
  if (idx !== undefined) return ev.argInt(idx);
  if (name !== "openat2") return O_RDONLY;
  const how = k.mem.read(ev.pid, ev.argNum(2), 8);
  return typeof how === "number" ? O_RDONLY : Number(new DataView(how.buffer, how.byteOffset, 8).getBigUint64(0, true) & 0xffffffffn);
}

function errnoOf(r: Reply): string | undefined {
  return r.kind === "errno" ? (errnoName(r.errno) ?? String(r.errno)) : undefined;
}

/** The fact an answered event stands for, or undefined. Never throws. */
export function factOf(k: Kernel, ev: TrapEvent, r: Reply): AuditFact | undefined {
  const name = sysnoName(ev.nr);
  if (name === undefined) return undefined;
  try {
    k.identity.sentry();
    const p = PATHS[name];
    if (p !== undefined) return pathFact(k, ev, name, p, r);
    const a = ADDRS[name];
    if (a !== undefined) return addrFact(k, ev, name, a, r);
    const sig = SIGNALS[name];
    if (sig !== undefined && ev.pid !== k.initPid) {
      const creds = taskCreds(k, ev.pid);
      const target = ev.argInt(0);
      const own = sig === "group" ? target === creds.nstgid : target === creds.nstgid || target === creds.nspid;
      return { kind: "signal", syscall: name, target, own };
    }
  } catch {
    // A task that vanished, or memory that cannot be read: nothing to record.
  }
  return undefined;
}

function pathFact(k: Kernel, ev: TrapEvent, name: string, p: (typeof PATHS)[string], r: Reply): AuditFact | undefined {
  const got = k.mem.readString(ev.pid, ev.argNum(p.path), 4096);
  if (typeof got !== "string") return undefined;
  let path = got;
  if (!path.startsWith("/")) {
    const dirfd = p.dirfd < 0 ? AT_FDCWD : ev.argInt(p.dirfd);
    const base = procLink(k, dirfd === AT_FDCWD ? `${ev.pid}/cwd` : `${ev.pid}/fd/${dirfd}`);
    if (base === undefined || !base.startsWith("/")) return undefined;
    path = path === "" ? base : join(base, path);
  }
  if (name === "execve" || name === "execveat") {
    return r.kind === "errno" ? undefined : { kind: "exec", syscall: name, path };
  }
  const flags = p.examine ? O_RDONLY : openFlags(k, ev, name, p.flags);
  const write = (flags & O_ACCMODE) !== O_RDONLY || (flags & (O_CREAT | __O_TMPFILE)) !== 0;
  const resolved = r.kind === "fd" ? procLink(k, `self/fd/${r.fd}`) : undefined;
  const errno = errnoOf(r);
  return {
    kind: "path",
    syscall: name,
    path,
    ...(resolved !== undefined && resolved !== path ? { resolved } : {}),
    write,
    dir: (flags & O_DIRECTORY) !== 0,
    examine: p.examine === true,
    ...(errno !== undefined ? { errno } : {}),
  };
}

function addrFact(k: Kernel, ev: TrapEvent, name: string, a: (typeof ADDRS)[string], r: Reply): AuditFact | undefined {
  const len = ev.argNum(a.len);
  const ptr = ev.argNum(a.addr);
  if (ptr === 0 || len < 2 || len > 128) return undefined;
  const got = k.mem.read(ev.pid, ptr, len);
  if (typeof got === "number") return undefined;
  const v = new DataView(got.buffer, got.byteOffset, got.byteLength);
  const family = v.getUint16(0, true);
  const errno = errnoOf(r);
  const e = errno !== undefined ? { errno } : {};
  if (family === AF_INET && len >= 8) {
    return { kind: "net", syscall: name, family: "inet", address: [...got.subarray(4, 8)].join("."), port: v.getUint16(2, false), ...e };
  }
  if (family === AF_INET6 && len >= 24) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(v.getUint16(8 + 2 * i, false).toString(16));
    return { kind: "net", syscall: name, family: "inet6", address: words.join(":"), port: v.getUint16(2, false), ...e };
  }
  if (family === AF_UNIX && len > 2) {
    const bytes = got.subarray(2);
    const abstract = bytes[0] === 0;
    const nul = abstract ? bytes.length : bytes.indexOf(0);
    const text = decoder.decode(bytes.subarray(abstract ? 1 : 0, nul < 0 ? bytes.length : nul));
    return { kind: "net", syscall: name, family: "unix", address: abstract ? `@${text}` : text, ...e };
  }
  return undefined;
}
