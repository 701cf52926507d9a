// connect(2) and sendto(2) with an address, decided by the network mode and performed by
// the sentry on a duplicate of the task's socket (pidfd_getfd(2)): the kernel never
// re-reads the sockaddr the decision was made on.
//
// Network "none": the sandbox has its own network namespace (loopback only), which the
// kernel enforces for AF_INET/AF_INET6 and abstract unix sockets. What it does not cover
// is a unix socket reached through the filesystem: the host's sockets (a Docker or D-Bus
// socket) are network too, so a pathname AF_UNIX address is allowed only when the socket
// lives on one of the sandbox's private filesystems.
// Network "host": no restriction, nothing is decided, the kernel runs the call.
// Network "proxy": as "none", and a TCP connect to an address beyond loopback is decided
// by the egress rules and carried to the host's network (sentry/net/proxy.ts).
//
// bind(2) (proxy, and host with `network.bind`) and listen(2) (proxy) are performed by the
// sentry on a duplicate too: an AF_INET/AF_INET6 port is checked against the bind rules
// (EACCES when none allows it), a socket of the host's network namespace (carried by the
// proxy) may neither bind nor listen (EACCES), and a pathname unix bind is performed as the
// task: its credentials, its cwd, its umask (the sentry's thread has an fs_struct of its own
// since enterMountNamespace, so umask(2) there touches no other thread).
import { posix } from "node:path";
import { CAP_NET_BIND_SERVICE, CAP_SETGID, CAP_SETUID, capBit } from "../../platform/abi/capability.js";
import { hostId } from "../kernel/idmap.js";
import type { Reply } from "../../platform/platform.js";
import { ALLOW, PENDING } from "../../platform/platform.js";
import { EACCES, EAGAIN, ECONNREFUSED, EINVAL, EMSGSIZE, ENOBUFS, ENOTTY, EOPNOTSUPP, EPERM } from "../../platform/abi/errno.js";
import { AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, F_GETFL, O_CLOEXEC, O_DIRECTORY, O_NONBLOCK, O_PATH, S_IFMT, S_IFSOCK, W_OK } from "../../platform/abi/fcntl.js";
import { AF_INET, AF_INET6, AF_PACKET, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP, MSG_DONTWAIT, MSG_FASTOPEN, SOCK_DGRAM, SOCK_PACKET, SOCK_RAW, SCM_CREDENTIALS, SCM_RIGHTS, SO_DOMAIN, SOCK_STREAM, SOL_IP, SOL_IPV6, SOL_SOCKET, SOL_UDP } from "../../platform/abi/socket.js";
import { egressDecision, sockaddrInet } from "../policy/network.js";
import { errnoReply } from "../errors/errors.js";
import { answerIfconf, answerIfreq, IFCONF_SIZE, IFREQ_SIZE, isInterfaceIoctl, refusal, requestShape } from "../net/ifioctl.js";
import { abstractName, abstractReachable } from "../net/abstractSockets.js";
import { carryConnect, isHostSocket, socketKind } from "../net/proxy.js";
import { bindDecision } from "../policy/network.js";
import type { Creds } from "../kernel/creds.js";
import type { Kernel } from "../kernel/kernel.js";
import type { Task } from "../kernel/task.js";
import type { Family } from "./handlers.js";

/** sizeof(struct sockaddr_storage). */
const SOCKADDR_MAX = 128;
/** Largest datagram the sentry copies in for sendto (the kernel's own limit is ~64 KiB for UDP). */
const SENDTO_MAX = 1 << 20;
const statBuf = new Uint8Array(144);
const statView = new DataView(statBuf.buffer);

/** A pathname (not abstract, not unnamed) AF_UNIX address. */
function isUnixPath(addr: Uint8Array): boolean {
  return addr.length > 2 && (addr[0]! | (addr[1]! << 8)) === AF_UNIX && addr[2] !== 0;
}

const EMPTY = new Uint8Array(0);

/**
 * Resolves a pathname unix address once, as the task would (its cwd for relative paths,
 * its credentials), and decides on the file found: an owned O_PATH fd of a socket on one of
 * the sandbox's private filesystems, or -errno. The call then goes to that fd's inode
 * through the host's /proc/self/fd, so a file swapped in after the decision is never reached.
 */
function openUnixTarget(t: Task, creds: Creds, addr: Uint8Array): number {
  const n = t.k.native;
  const pathBytes = addr.subarray(2);
  const nul = pathBytes.indexOf(0);
  const len = nul < 0 ? pathBytes.length : nul;
  const cwd = pathBytes[0] === 0x2f ? AT_FDCWD : t.cwd();
  const r = t.as(() => {
    const fd = t.own(n.openat2(cwd, pathBytes, len, O_PATH | O_CLOEXEC, 0, 0));
    if (fd < 0) return fd;
    if (n.statAt(fd, EMPTY, 0, AT_EMPTY_PATH, statBuf) < 0) return -ECONNREFUSED;
    // net/unix/af_unix.c: unix_find_bsd: not a socket is ECONNREFUSED, no write access EACCES.
    if ((statView.getUint32(24, true) & S_IFMT) !== S_IFSOCK) return -ECONNREFUSED;
    if (n.accessAt(fd, EMPTY, 0, W_OK, AT_EMPTY_PATH | AT_EACCESS) < 0) return -EACCES;
    return fd;
  }, "fs", creds);
  if (r < 0 || t.k.ownFilesystems.owns(statView.getBigUint64(0, true))) return r;
  // Beyond the sandbox's own: network, unless the policy names it (as named or as found).
  const named = Buffer.from(pathBytes.subarray(0, len)).toString();
  const found = sandboxPath(t, r);
  if ((named.startsWith("/") && t.k.unixAllowed(posix.normalize(named))) || (found !== undefined && t.k.unixAllowed(found))) return r;
  t.k.notice(`refused a connection to the unix socket ${found ?? named}, which is not the sandbox's own: allow it with network.unix in the policy (runsc-ts policy explain --connect unix:${found ?? named})`);
  return -EACCES;
}

const linkBuf = new Uint8Array(4096);

/** The path of our descriptor as the sandbox sees it (d_path from the sentry thread's root). */
function sandboxPath(t: Task, fd: number): string | undefined {
  const self = Buffer.from(`self/fd/${fd}`);
  const n = t.k.native.readlinkAt(t.k.procFd, self, self.length, linkBuf);
  return n > 0 && linkBuf[0] === 0x2f ? Buffer.from(linkBuf.subarray(0, n)).toString() : undefined;
}

/** struct sockaddr_un naming our descriptor, relative to the host's /proc: "self/fd/N". */
function viaDescriptor(fd: number): Uint8Array {
  const path = Buffer.from(`self/fd/${fd}\0`);
  const out = new Uint8Array(2 + path.length);
  out[0] = AF_UNIX & 0xff;
  out[1] = AF_UNIX >> 8;
  out.set(path, 2);
  return out;
}

/**
 * Decides and performs a socket call on a duplicate of the task's descriptor, in the order
 * the kernel checks (net/socket.c: the descriptor, then the address): EBADF before EINVAL
 * or EFAULT. Nothing that can block runs here, on the thread that serves the sandbox's
 * other tasks:
 *   connect: on the sandbox's pool of workers (a full accept queue or a slow peer), which
 *            answers the event when it outlasts a short wait;
 *   sendto:  tried here without waiting (MSG_DONTWAIT); a blocking socket that would wait
 *            (a unix datagram peer's full queue, a full send buffer) sends the rest on the pool.
 * Either is made as the sentry, on the address decided: a unix path reaches the file found
 * as the task through our descriptor of it.
 */
function onTaskSocket(t: Task, sockfd: number, addrIdx: number, lenIdx: number, call: "connect" | "sendto", data?: { bytes: Uint8Array; flags: number }): Reply {
  const fd = t.fd(sockfd);
  const len = t.argNum(lenIdx);
  if (len > SOCKADDR_MAX) return errnoReply(EINVAL);
  const addr = len > 0 ? t.read(t.argNum(addrIdx), len) : EMPTY;
  t.ensureValid();
  return onTaskSocketAt(t, sockfd, fd, addr, call, data);
}

/** onTaskSocket with the address read already (sendmsg's msg_name): fd is our duplicate of sockfd. */
function onTaskSocketAt(t: Task, sockfd: number, fd: number, addr: Uint8Array, call: "connect" | "sendto", data?: { bytes: Uint8Array; flags: number; control?: Carried }): Reply {
  const k = t.k;
  const n = k.native;
  const creds = t.creds();
  // A container under network proxy: the destination decided by network.egress.
  if (k.egressChecked) {
    const refused = egressRefusal(t, fd, addr);
    if (refused !== undefined) return refused;
  }
  if (call === "connect" && k.network === "proxy") {
    const carried = carryConnect(t, fd, sockfd, addr);
    if (carried !== undefined) return carried;
  }
  // A container on the host's network shares the host's abstract sockets: its own or named.
  const abstract = k.hostNetworkProcs !== undefined ? abstractName(addr) : undefined;
  if (abstract !== undefined && !abstractReachable(t, abstract, k.hostNetworkProcs!)) {
    k.notice(`refused a connection to the host's abstract unix socket ${abstract}: allow it with network.unix in the policy (${JSON.stringify(abstract)})`);
    return errnoReply(EACCES);
  }
  // Other families, and abstract or unnamed unix addresses, live in the network namespace.
  const target = isUnixPath(addr) ? openUnixTarget(t, creds, addr) : -1;
  if (isUnixPath(addr) && target < 0) return errnoReply(-target);
  // A unix path goes to our descriptor as "self/fd/N" from the host's /proc.
  const to = target >= 0 ? viaDescriptor(target) : addr;
  const onPool = { nr: t.ev.nr, addr: to, tgid: creds.tgid, alsoClose: target, cwdFd: target >= 0 ? k.procFd : -1 };
  if (call === "connect") return answer(t.offload({ op: 0, fd, ...onPool }));
  const { bytes, flags, control } = data!;
  k.identity.sentry();
  let sent: number;
  if (target >= 0) n.fchdir(k.procFd);
  try {
    sent = n.sendto(fd, bytes, bytes.length, flags | MSG_DONTWAIT, to, to.length, control?.bytes);
  } finally {
    if (target >= 0) backToRoot(t);
  }
  // Done, failed, or the task asked not to wait: the kernel's answer is ours.
  const waits = sent === -EAGAIN || (sent >= 0 && sent < bytes.length);
  if (!waits || (flags & MSG_DONTWAIT) !== 0 || isNonBlocking(k, fd)) return sent < 0 ? errnoReply(-sent) : { kind: "value", value: sent };
  const base = Math.max(sent, 0);
  // Control messages went with the first bytes, if any were sent.
  const carried = base === 0 && control !== undefined ? { control: control.bytes, controlFds: control.fds } : {};
  return answer(t.offload({ op: 1, fd, ...onPool, data: bytes.subarray(base), flags, base, ...carried }));
}

/**
 * network.egress for a container's own network: an AF_INET/AF_INET6 destination no rule
 * allows is refused (EACCES), and the user told which rule would allow it. Its own loopback is
 * the container's. Other families, and a send without an address (a connected socket,
 * decided at its connect), are not egress.
 */
function egressRefusal(t: Task, fd: number, addr: Uint8Array): Reply | undefined {
  const k = t.k;
  const inet = sockaddrInet(addr);
  if (inet === undefined) return undefined;
  const kind = socketKind(k, fd);
  if (typeof kind === "number") return errnoReply(-kind);
  if (kind.domain !== AF_INET && kind.domain !== AF_INET6) return undefined;
  const protocol = kind.type === SOCK_STREAM && (kind.protocol === IPPROTO_TCP || kind.protocol === 0) ? "tcp" : kind.type === SOCK_DGRAM && (kind.protocol === IPPROTO_UDP || kind.protocol === 0) ? "udp" : "other";
  const d = egressDecision(k.netRules.rules, { address: inet.address, port: inet.port, protocol, hostNames: k.netRules.hostNames });
  if (d.verdict === "allow" || d.verdict === "local") return undefined;
  const shown = inet.family === AF_INET ? inet.address.join(".") : `[${ipv6Text(inet.address)}]`;
  k.notice(`refused ${protocol} to ${shown}:${inet.port}: no network.egress rule allows it (policy explain --connect ${protocol}:${shown}:${inet.port})`);
  return errnoReply(EACCES);
}

function ipv6Text(a: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i + 1 < a.length; i += 2) words.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  return words.join(":");
}

/** The reply for an offloaded call's result; null: the pool's worker answers the event. */
function answer(r: number | null): Reply {
  if (r === null) return PENDING;
  if (r < 0) return errnoReply(-r);
  return r === 0 ? ZERO : { kind: "value", value: r };
}

/** O_NONBLOCK on the open file the task's descriptor names (shared with our duplicate). */
function isNonBlocking(k: Kernel, fd: number): boolean {
  const fl = k.native.fcntl(fd, F_GETFL, 0);
  return fl >= 0 && (fl & O_NONBLOCK) !== 0;
}

/** This thread's working directory back to the sandbox's root. */
function backToRoot(t: Task): void {
  const root = Buffer.from("/");
  const rootFd = t.own(t.k.native.openat2(AT_FDCWD, root, 1, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0));
  if (rootFd >= 0) {
    t.k.native.fchdir(rootFd);
    t.close(rootFd);
  }
}

const ZERO: Reply = Object.freeze({ kind: "value", value: 0 });

function connect(t: Task): Reply {
  if (!t.k.hostSocketsChecked) return ALLOW;
  return onTaskSocket(t, t.argInt(0), 1, 2, "connect");
}

function sendto(t: Task): Reply {
  const network = t.k.network;
  if (!t.k.hostSocketsChecked || t.argNum(4) === 0) return ALLOW;
  // proxy: refused in BPF already; a traced call must not connect a carried socket either.
  if (network === "proxy" && (t.argInt(3) & MSG_FASTOPEN) !== 0) return errnoReply(EOPNOTSUPP);
  const len = t.argNum(2);
  if (len > SENDTO_MAX) return errnoReply(EMSGSIZE);
  const data = len === 0 ? new Uint8Array(0) : t.read(t.argNum(1), len);
  return onTaskSocket(t, t.argInt(0), 4, 5, "sendto", { bytes: data, flags: t.argInt(3) });
}

/** struct msghdr (x86_64): name, namelen, iov, iovlen, control, controllen, flags. */
const MSGHDR_SIZE = 56;
/** struct mmsghdr: a msghdr and the bytes sent (msg_len). */
const MMSGHDR_SIZE = 64;
/** UIO_MAXIOV: the most iovecs (and sendmmsg messages) the kernel takes. */
const UIO_MAXIOV = 1024;

/** A message as sendmsg sends it: its address (empty: the connected peer's), its bytes and control messages. */
interface Message {
  readonly addr: Uint8Array;
  readonly bytes: Uint8Array;
  readonly control?: Carried;
}

/** The message at `at` in the task's memory, or the kernel's refusal. */
function readMessage(t: Task, at: number): Message | Reply {
  const h = t.read(at, MSGHDR_SIZE);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const name = Number(v.getBigUint64(0, true));
  const namelen = v.getUint32(8, true);
  const iov = Number(v.getBigUint64(16, true));
  const iovlen = Number(v.getBigUint64(24, true));
  const controllen = Number(v.getBigUint64(40, true));
  if (iovlen > UIO_MAXIOV) return errnoReply(EMSGSIZE);
  if (name !== 0 && namelen > SOCKADDR_MAX) return errnoReply(EINVAL);
  let control: Carried | undefined;
  if (controllen > 0) {
    if (controllen > CONTROL_MAX) return errnoReply(ENOBUFS);
    const carried = carryControl(t, t.read(Number(v.getBigUint64(32, true)), controllen));
    if ("kind" in carried) return carried;
    control = carried;
  }
  const addr = name !== 0 && namelen > 0 ? t.read(name, namelen) : EMPTY;
  const vec = iovlen > 0 ? t.read(iov, iovlen * 16) : EMPTY;
  const vv = new DataView(vec.buffer, vec.byteOffset, vec.byteLength);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = 0; i < iovlen; i++) {
    const base = Number(vv.getBigUint64(i * 16, true));
    const len = Number(vv.getBigUint64(i * 16 + 8, true));
    total += len;
    if (total > SENDTO_MAX) return errnoReply(EMSGSIZE);
    if (len > 0) parts.push(t.read(base, len));
  }
  return { addr, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts), ...(control !== undefined ? { control } : {}) };
}

/** Control messages as the sentry sends them: descriptors ours (owned by the task's call until handed on). */
interface Carried {
  readonly bytes: Uint8Array;
  readonly fds: number[];
  /** They claim credentials (SCM_CREDENTIALS). */
  readonly credentials?: boolean;
}

/** The most control bytes carried (the kernel's optmem_max is 20 KiB by default: ENOBUFS beyond). */
const CONTROL_MAX = 65536;
/** struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type; data at CMSG_ALIGN(16). */
const CMSG_HEADER = 16;
/** include/net/scm.h: SCM_MAX_FD. */
const SCM_MAX_FD = 253;
/**
 * The control messages carried as they are: they change how this one message leaves (TTL,
 * TOS, source address and interface, hop limit, traffic class, fragmentation, UDP segment
 * size) and need no privilege the sentry has and the task lacks. Others that would be
 * checked against the sender's capabilities (SO_MARK, IPv6 routing headers...) are refused;
 * SCM_CREDENTIALS is checked against the task and translated (claimedCredentials) where the
 * sentry may claim a task's credentials (do's), and refused where it may not (a confined
 * container monitor: the kernel would refuse its claim).
 */
const CARRIED_AS_IS: ReadonlySet<string> = new Set([
  `${SOL_IP}:1`, // IP_TOS
  `${SOL_IP}:2`, // IP_TTL
  `${SOL_IP}:8`, // IP_PKTINFO
  `${SOL_IPV6}:50`, // IPV6_PKTINFO
  `${SOL_IPV6}:52`, // IPV6_HOPLIMIT
  `${SOL_IPV6}:62`, // IPV6_DONTFRAG
  `${SOL_IPV6}:67`, // IPV6_TCLASS
  `${SOL_UDP}:103`, // UDP_SEGMENT
]);

/**
 * A message on a unix socket that claims no credentials: sent by the sentry, it would carry
 * the sentry's to a receiver that asks (SO_PASSCRED: the kernel adds the sender's), so the
 * task's own are claimed for it (its thread group, real uid and gid, as the kernel's
 * default), where the sentry may claim them (Kernel.claimsCredentials).
 */
function withOwnCredentials(t: Task, fd: number, m: Message): Message {
  if (!t.k.claimsCredentials || (m.control?.credentials ?? false)) return m;
  if (t.k.native.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN) !== AF_UNIX) return m;
  const c = t.creds();
  const rec = new Uint8Array(CMSG_HEADER + 16);
  const v = new DataView(rec.buffer);
  v.setBigUint64(0, BigInt(CMSG_HEADER + UCRED_SIZE), true);
  v.setInt32(8, SOL_SOCKET, true);
  v.setInt32(12, SCM_CREDENTIALS, true);
  v.setInt32(CMSG_HEADER, c.tgid, true);
  v.setUint32(CMSG_HEADER + 4, c.ruid, true);
  v.setUint32(CMSG_HEADER + 8, c.rgid, true);
  const before = m.control;
  // After the task's records, at the next aligned offset (CMSG_NXTHDR's).
  const pad = before === undefined ? 0 : (8 - (before.bytes.length % 8)) % 8;
  const bytes = before === undefined ? rec : Buffer.concat([before.bytes, new Uint8Array(pad), rec]);
  return { ...m, control: { bytes, fds: before?.fds ?? [], credentials: true } };
}

/** struct ucred: pid, uid, gid. */
const UCRED_SIZE = 12;

/**
 * SCM_CREDENTIALS: the kernel checks the credentials a message claims against its sender's
 * and reads them in the sender's namespaces (net/core/scm.c: scm_check_creds, scm_send) —
 * the sentry's, which sends it. So the sentry checks the claim against the task as the
 * kernel would, and writes it as its own namespaces name it: the receiver reads it in its
 * own, the task's values back. A task may claim its own thread group (another's would need
 * its host PID; the kernel lets CAP_SYS_ADMIN claim any), its real or effective uid and gid,
 * or any mapped id with CAP_SETUID / CAP_SETGID. 0, or the errno.
 */
function claimedCredentials(t: Task, v: DataView, at: number): number {
  const c = t.creds();
  const pid = v.getInt32(at, true);
  const uid = hostId(t.k.ids.uid, v.getUint32(at + 4, true));
  const gid = hostId(t.k.ids.gid, v.getUint32(at + 8, true));
  if (uid === undefined || gid === undefined) return EINVAL;
  if (pid !== c.nstgid) return EPERM;
  if (uid !== c.ruid && uid !== c.euid && (c.capEff & capBit(CAP_SETUID)) === 0n) return EPERM;
  if (gid !== c.rgid && gid !== c.egid && (c.capEff & capBit(CAP_SETGID)) === 0n) return EPERM;
  v.setInt32(at, c.tgid, true);
  v.setUint32(at + 4, uid, true);
  v.setUint32(at + 8, gid, true);
  return 0;
}

/**
 * sendmsg's control messages as the sentry sends them: SCM_RIGHTS with the task's
 * descriptors replaced by our duplicates of them (EBADF for one it lacks), the allowed IP
 * and UDP messages as they are, SCM_CREDENTIALS as the sentry's namespaces name the task's
 * own (claimedCredentials); anything else refused (EOPNOTSUPP), the user told.
 * Malformed records get the kernel's EINVAL (net/core/scm.c: __scm_send).
 */
function carryControl(t: Task, raw: Uint8Array): Carried | Reply {
  const out = Buffer.from(raw);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const fds: number[] = [];
  let credentials = false;
  let at = 0;
  while (at + CMSG_HEADER <= out.length) {
    const len = Number(v.getBigUint64(at, true));
    if (len < CMSG_HEADER || at + len > out.length) return errnoReply(EINVAL);
    const level = v.getInt32(at + 8, true);
    const type = v.getInt32(at + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      const n = Math.floor((len - CMSG_HEADER) / 4);
      if (n === 0 || fds.length + n > SCM_MAX_FD) return errnoReply(EINVAL);
      for (let i = 0; i < n; i++) {
        const ours = t.fd(v.getInt32(at + CMSG_HEADER + i * 4, true));
        fds.push(ours);
        v.setInt32(at + CMSG_HEADER + i * 4, ours, true);
      }
    } else if (level === SOL_SOCKET && type === SCM_CREDENTIALS && t.k.claimsCredentials) {
      if (len < CMSG_HEADER + UCRED_SIZE) return errnoReply(EINVAL);
      const e = claimedCredentials(t, v, at + CMSG_HEADER);
      if (e !== 0) return errnoReply(e);
      credentials = true;
    } else if (!CARRIED_AS_IS.has(`${level}:${type}`)) {
      t.k.notice(`refused a sendmsg with a control message of level ${level}, type ${type}: on a contained network (none, proxy, a container's) the sandbox's messages are sent by the sentry, which carries descriptors (SCM_RIGHTS), the IP and UDP options that need no privilege and, for do, credentials (SCM_CREDENTIALS), not this one`);
      return errnoReply(EOPNOTSUPP);
    }
    at += (len + 7) & ~7;
  }
  return { bytes: out, fds, credentials };
}

/**
 * sendmsg(2) under a contained network (none, proxy, a container's): its destination (msg_name)
 * decided as sendto's — a unix path beyond the sandbox's own only where network.unix names
 * it, a container's abstract sockets on the host's network, under a container's proxy
 * network.egress — and the message sent by the sentry: the kernel never re-reads the msghdr
 * the decision was made on, so a message without an address is sent by the sentry too (a
 * racing thread could add one). Control messages go with it (carryControl): descriptors as
 * ours.
 */
function sendmsg(t: Task): Reply {
  if (!t.k.hostSocketsChecked) return ALLOW;
  const sockfd = t.argInt(0);
  const fd = t.fd(sockfd);
  // As sendto's: a carried socket must not be connected by a send.
  if ((t.argInt(2) & MSG_FASTOPEN) !== 0) return errnoReply(EOPNOTSUPP);
  const read = readMessage(t, t.argNum(1));
  if ("kind" in read) return read;
  t.ensureValid();
  const m = withOwnCredentials(t, fd, read);
  return onTaskSocketAt(t, sockfd, fd, m.addr, "sendto", { bytes: m.bytes, flags: t.argInt(2), ...(m.control !== undefined ? { control: m.control } : {}) });
}

/**
 * sendmmsg(2) likewise, one message after another: each msg_len is written back, and the
 * count sent returned (the first one's error when none was). A message that would wait stops
 * the batch (the count so far), as the kernel's non-blocking sendmmsg does; the first one
 * on a blocking socket that would wait fails with EAGAIN (not carried to the pool yet).
 */
function sendmmsg(t: Task): Reply {
  if (!t.k.hostSocketsChecked) return ALLOW;
  const sockfd = t.argInt(0);
  const fd = t.fd(sockfd);
  const vec = t.argNum(1);
  const vlen = Math.min(t.argNum(2), UIO_MAXIOV);
  const flags = t.argInt(3);
  if ((flags & MSG_FASTOPEN) !== 0) return errnoReply(EOPNOTSUPP);
  let sent = 0;
  for (let i = 0; i < vlen; i++) {
    const read = readMessage(t, vec + i * MMSGHDR_SIZE);
    if ("kind" in read) return sent > 0 ? { kind: "value", value: sent } : read;
    t.ensureValid();
    const m = withOwnCredentials(t, fd, read);
    const r = onTaskSocketAt(t, sockfd, fd, m.addr, "sendto", { bytes: m.bytes, flags: flags | MSG_DONTWAIT, ...(m.control !== undefined ? { control: m.control } : {}) });
    if (r.kind !== "value") return sent > 0 ? { kind: "value", value: sent } : r;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, Number(r.value), true);
    t.write(vec + i * MMSGHDR_SIZE + MSGHDR_SIZE, len);
    sent++;
  }
  return { kind: "value", value: sent };
}

/** socket(2) of a raw or packet socket under a container's network proxy: it would send around the egress rules. */
function socketRefused(t: Task): Reply {
  if (!t.k.egressChecked) return ALLOW;
  t.k.notice("refused a raw or packet socket: under network.mode proxy every destination is decided by network.egress, which such a socket would bypass");
  return errnoReply(EACCES);
}

/**
 * Runs `op` on a duplicate of the task's socket (argument 0) and its kind, in the order
 * net/socket.c checks: the descriptor first (EBADF, ENOTSOCK).
 */
function onTaskSocketKind(t: Task, op: (fd: number, kind: { domain: number; type: number; protocol: number }, creds: Creds) => Reply): Reply {
  const creds = t.creds();
  const fd = t.fd(t.argInt(0));
  const kind = socketKind(t.k, fd);
  return typeof kind === "number" ? errnoReply(-kind) : op(fd, kind, creds);
}

/**
 * bind(2), performed on a duplicate of the task's socket after the decision, with the
 * sockaddr the decision read.
 */
function bind(t: Task): Reply {
  const k = t.k;
  if (k.network === "none" || (k.network === "host" && k.netRules.rules.bind === undefined && !k.bindsForRoot)) return ALLOW;
  return onTaskSocketKind(t, (fd, kind, creds) => {
    const len = t.argNum(2);
    if (len > SOCKADDR_MAX) return errnoReply(EINVAL);
    const addr = len > 0 ? t.read(t.argNum(1), len).slice() : EMPTY;
    t.ensureValid();
    const inet = kind.domain === AF_INET || kind.domain === AF_INET6;
    if (inet && k.network === "proxy" && isHostSocket(k, fd)) return errnoReply(EACCES);
    // inet_bind/inet6_bind read the port at the same offset whatever the family field says.
    if (inet && addr.length >= 4) {
      const protocol = kind.protocol === IPPROTO_TCP ? "tcp" : kind.protocol === IPPROTO_UDP ? "udp" : "other";
      const d = bindDecision(k.netRules.rules, { port: (addr[2]! << 8) | addr[3]!, protocol });
      if (d.verdict === "deny") return errnoReply(EACCES);
    }
    if (kind.domain === AF_UNIX && isUnixPath(addr)) {
      const r = bindUnixAsTask(t, creds, fd, addr);
      return r < 0 ? errnoReply(-r) : ZERO;
    }
    // Nothing is decided on another family's address (netlink groups, abstract names): the
    // kernel binds it with the task's own privileges, which the sentry's are not.
    if (!inet) return ALLOW;
    // A port below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE over the socket's
    // network namespace: root inside has it over the sandbox's own (the sentry binds for it,
    // as itself), never over the host's, where the bind is made as the task and the kernel
    // decides — but for a container on the host's network, whose root binds there under runc.
    const own = k.bindsForRoot || (k.network !== "host" && !isHostSocket(k, fd));
    let r: number;
    if (own && (creds.capEff & capBit(CAP_NET_BIND_SERVICE)) !== 0n) {
      k.identity.sentry();
      // A confined sentry has no capability over the host's network: its binder binds there.
      r = k.bindsForRoot && k.binderFd !== undefined ? k.native.bindVia(k.binderFd, fd, addr, addr.length) : k.native.bind(fd, addr, addr.length);
    } else {
      r = t.as(() => k.native.bind(fd, addr, addr.length), "fs", creds);
    }
    return r < 0 ? errnoReply(-r) : ZERO;
  });
}

/** A pathname unix bind as the task would make it: its credentials, cwd and umask. */
function bindUnixAsTask(t: Task, creds: Creds, fd: number, addr: Uint8Array): number {
  const n = t.k.native;
  const cwd = addr[2] !== 0x2f ? t.cwd() : -1;
  try {
    if (cwd >= 0) {
      const r = n.fchdir(cwd);
      if (r < 0) return r;
    }
    n.umask(creds.umask);
    return t.as(() => n.bind(fd, addr, addr.length), "fs", creds);
  } finally {
    n.umask(0);
    if (cwd >= 0) backToRoot(t);
  }
}

/** listen(2) under proxy: refused on a socket of the host's network namespace. */
function listen(t: Task): Reply {
  const k = t.k;
  if (k.network !== "proxy") return ALLOW;
  return onTaskSocketKind(t, (fd, kind) => {
    if ((kind.domain === AF_INET || kind.domain === AF_INET6) && isHostSocket(k, fd)) return errnoReply(EACCES);
    const r = k.native.listen(fd, t.argInt(1));
    return r < 0 ? errnoReply(-r) : ZERO;
  });
}

/**
 * ioctl(2) under network proxy: the network-interface requests, which compile.ts traps, are
 * answered as the sandbox's own namespace would answer them (net/ifioctl.ts) whichever
 * socket asks, a carried one of the host's namespace included. Anything else (seen here only
 * when traced) is the kernel's.
 */
function ioctl(t: Task): Reply {
  const cmd = t.argInt(1) >>> 0;
  if (t.k.network !== "proxy" || !isInterfaceIoctl(cmd)) return ALLOW;
  // On a descriptor that is not a socket the kernel says ENOTTY.
  const fd = t.fd(t.argInt(0));
  const notSocket = typeof socketKind(t.k, fd) === "number";
  t.close(fd);
  if (notSocket) return errnoReply(ENOTTY);
  const shape = requestShape(cmd);
  if (shape === "refused") return errnoReply(refusal(cmd));
  const addr = t.argNum(2);
  const raw = t.read(addr, shape === "ifconf" ? IFCONF_SIZE : IFREQ_SIZE);
  t.ensureValid();
  if (shape === "ifconf") {
    const view = new DataView(raw.buffer, raw.byteOffset, IFCONF_SIZE);
    const buf = view.getBigUint64(8, true);
    const a = answerIfconf(view.getInt32(0, true), buf !== 0n);
    if (a.entries.length > 0) t.write(Number(buf), a.entries);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setInt32(0, a.len, true);
    t.write(addr, len);
    return ZERO;
  }
  const out = answerIfreq(cmd, raw);
  if (typeof out === "number") return errnoReply(out);
  t.write(addr, out);
  return ZERO;
}

export const socketFamily: Family = {
  connect: { handler: connect, trap: { when: "network-contained" } },
  // Every message's destination (an address inside the message cannot be told apart by the
  // filter), and under a container's proxy no socket that would go around it.
  sendmsg: { handler: sendmsg, trap: { when: "network-contained" } },
  sendmmsg: { handler: sendmmsg, trap: { when: "network-contained" } },
  socket: {
    handler: socketRefused,
    trap: {
      when: "egress-checked",
      args: [
        [{ index: 0, op: "masked-eq", mask: 0xffffffffn, value: BigInt(AF_PACKET) }],
        [{ index: 1, op: "masked-eq", mask: 0xfn, value: BigInt(SOCK_RAW) }],
        [{ index: 1, op: "masked-eq", mask: 0xfn, value: BigInt(SOCK_PACKET) }],
      ],
    },
  },
  // A sendto with a NULL address (a connected socket) needs no decision.
  sendto: { handler: sendto, trap: { when: "network-contained", args: [[{ index: 4, op: "ne", value: 0n }]] } },
  // A carried socket belongs to the host's network namespace: the sentry performs bind and
  // listen (refusing both on such a socket), and checks bind's port against network.bind.
  bind: { handler: bind, trap: { when: "bind-checked" } },
  listen: { handler: listen, trap: { when: "network-proxy" } },
  // The network-interface requests (0x89xx but the socket-level 0x8901-0x8907, and the
  // wireless 0x8bxx), answered as the sandbox's own namespace would: a carried socket would
  // answer from the host's.
  ioctl: {
    handler: ioctl,
    trap: {
      when: "network-proxy",
      args: [
        [
          { index: 1, op: "masked-eq", mask: 0xffffff00n, value: 0x8900n },
          { index: 1, op: "masked-ne", mask: 0xfffffff8n, value: 0x8900n },
        ],
        [{ index: 1, op: "masked-eq", mask: 0xffffff00n, value: 0x8b00n }],
      ],
      ahead: true,
    },
  },
};
