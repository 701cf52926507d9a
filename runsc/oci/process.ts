// config.json's process, as init records: arguments, environment, directory, rlimits,
// umask, user and groups, the five capability sets and no_new_privs.
import { fstatSync } from "node:fs";
import type { NativeBinding } from "../../native/binding.js";
import type { InitRecord } from "../sandbox/initConfig.js";
import type { OciConfigDoc } from "./config.js";
import { ContainerError, OciConfigError } from "./errors.js";
import { RLIMITS } from "../../platform/abi/resource.js";
import { currentClient } from "../caller.js";

export type OciProcess = NonNullable<OciConfigDoc["process"]>;

/** Linux's capabilities up to CAP_CHECKPOINT_RESTORE (5.9), in number order. */
// prettier-ignore
export const CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
] as const;

/**
 * Withheld from a container whose root is host root (process.hostRoot): device nodes it made
 * would open the host's devices. In a user namespace the kernel refuses device nodes
 * whatever the capability sets say (vfs_mknod checks CAP_MKNOD over the host), so the
 * config's set is granted exactly.
 */
const MKNOD = 1n << BigInt(CAPABILITIES.indexOf("CAP_MKNOD"));

function capMask(names: readonly string[] | undefined, field: string, withheld: bigint): bigint {
  let mask = 0n;
  (names ?? []).forEach((n, i) => {
    const bit = CAPABILITIES.indexOf(n as (typeof CAPABILITIES)[number]);
    if (bit < 0) throw new OciConfigError("config.json", [`${field}[${i}]: unknown capability ${JSON.stringify(n)}`]);
    mask |= 1n << BigInt(bit);
  });
  return mask & ~withheld;
}

/** Whether any of the process's capability sets names cap (as Docker's seccomp profile reads them). */
export function grantsCapability(config: OciConfigDoc, cap: (typeof CAPABILITIES)[number]): boolean {
  const c = config.process?.capabilities ?? {};
  return [c.bounding, c.effective, c.permitted].some((set) => (set ?? []).includes(cap));
}

/** An rlimit value: -1 (or 2^64-1) is unlimited. */
function limit(v: number | bigint): bigint {
  const b = BigInt(v);
  return b < 0n ? 0xffffffffffffffffn : b;
}

/** The records for process (field: its place in the document, for errors). */
export function processRecords(p: OciProcess, field = "process", where: { userns: boolean } = { userns: false }): InitRecord[] {
  const r: InitRecord[] = [{ op: "cwd", path: p.cwd, fallbackToRoot: false }];
  const seen = new Set<string>();
  (p.rlimits ?? []).forEach((l, i) => {
    const resource = RLIMITS[l.type];
    if (resource === undefined) throw new OciConfigError("config.json", [`${field}.rlimits[${i}].type: unknown rlimit ${l.type}`]);
    if (seen.has(l.type)) throw new OciConfigError("config.json", [`${field}.rlimits[${i}].type: ${l.type} given twice`]);
    seen.add(l.type);
    r.push({ op: "rlimit", resource, soft: limit(l.soft), hard: limit(l.hard) });
  });
  if (p.user.umask !== undefined) r.push({ op: "umask", mask: p.user.umask & 0o777 });
  r.push({ op: "user", uid: p.user.uid, gid: p.user.gid, groups: p.user.additionalGids ?? [] });
  const c = p.capabilities ?? {};
  const withheld = where.userns ? 0n : MKNOD;
  r.push({
    op: "caps",
    bounding: capMask(c.bounding, `${field}.capabilities.bounding`, withheld),
    effective: capMask(c.effective, `${field}.capabilities.effective`, withheld),
    permitted: capMask(c.permitted, `${field}.capabilities.permitted`, withheld),
    inheritable: capMask(c.inheritable, `${field}.capabilities.inheritable`, withheld),
    ambient: capMask(c.ambient, `${field}.capabilities.ambient`, withheld),
  });
  if (p.noNewPrivileges !== true) r.push({ op: "keepPrivs" });
  for (const value of p.args) r.push({ op: "arg", value });
  for (const value of p.env ?? []) r.push({ op: "env", value });
  return r;
}

/**
 * --preserve-fds N: the caller's fds 3 .. 3+N-1, each of which must be open, as this process
 * holds them (a client's came with its request: other numbers here). Ours become
 * close-on-exec: the container gets them from init, and no other process of ours may hold them.
 */
export function preservedFds(native: NativeBinding, n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 60) throw new ContainerError(`--preserve-fds ${n}: must be a whole number from 0 to 60`);
  // A client's command: its descriptors came with the request.
  const client = currentClient();
  if (client !== undefined) {
    if (client.preserved.length < n) throw new ContainerError(`--preserve-fds ${n}: fd ${3 + client.preserved.length} is not open`);
    return client.preserved.slice(0, n);
  }
  return Array.from({ length: n }, (_, i) => {
    const fd = 3 + i;
    try {
      fstatSync(fd);
    } catch {
      throw new ContainerError(`--preserve-fds ${n}: fd ${fd} is not open`);
    }
    native.fcntl(fd, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
    return fd;
  });
}
