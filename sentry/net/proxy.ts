// network mode proxy: carrying a workload's TCP connection to the host's network.
//
// The workload lives in a network namespace of its own (loopback only). A connect(2) of its
// AF_INET/AF_INET6 TCP socket to a non-loopback address reaches carryConnect() with the
// sockaddr already copied in: when an egress rule allows address and port
// (sentry/policy/network.ts), the sentry creates a socket of the same family and protocol in
// its own network namespace (the host's: the sentry's thread changed only its mount
// namespace), copies the descriptor's O_NONBLOCK and the usual TCP options, connects it to
// the copied sockaddr off the sentry's thread, and installs it in the task at the socket's
// descriptor number (SECCOMP_ADDFD_FLAG_SETFD, like dup2) before the connect returns. The
// kernel never re-reads the task's sockaddr. Denied: EACCES.
//
// A carried socket belongs to the host's network namespace. It must never listen there:
// bind(2) and listen(2) on such a socket are refused (sys_socket.ts asks isHostSocket), and
// TCP Fast Open, which connects without connect(2), is refused in BPF (compile.ts).
import type { Reply } from "../../platform/platform.js";
import { PENDING } from "../../platform/platform.js";
import { readSync } from "node:fs";
import { EACCES } from "../../platform/abi/errno.js";
import { F_GETFL, O_CLOEXEC, O_NONBLOCK, O_RDONLY } from "../../platform/abi/fcntl.js";
import { AF_INET, AF_INET6, AF_UNSPEC, IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SOCK_STREAM, SOL_SOCKET, SO_DOMAIN, SO_KEEPALIVE, SO_PROTOCOL, SO_TYPE, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_NODELAY, TCP_SYNCNT, TCP_USER_TIMEOUT } from "../../platform/abi/socket.js";
import { errnoReply } from "../errors/errors.js";
import type { Kernel } from "../kernel/kernel.js";
import type { Task } from "../kernel/task.js";
import { egressDecision, isLocalAddress, sockaddrInet } from "../policy/network.js";

// include/uapi/asm-generic/socket.h, include/uapi/linux/in.h, tcp.h, in6.h

/** Options of the task's socket that the carried socket gets too: [level, name, families]. */
const COPIED_OPTIONS: readonly (readonly [number, number, "any" | "v6"])[] = [
  [SOL_SOCKET, SO_KEEPALIVE, "any"],
  [IPPROTO_TCP, TCP_NODELAY, "any"],
  [IPPROTO_TCP, TCP_KEEPIDLE, "any"],
  [IPPROTO_TCP, TCP_KEEPINTVL, "any"],
  [IPPROTO_TCP, TCP_KEEPCNT, "any"],
  [IPPROTO_TCP, TCP_SYNCNT, "any"],
  [IPPROTO_TCP, TCP_USER_TIMEOUT, "any"],
  [IPPROTO_IPV6, IPV6_V6ONLY, "v6"],
];

/** A socket's family, type and protocol (SO_DOMAIN, SO_TYPE, SO_PROTOCOL), or -errno. */
export function socketKind(k: Kernel, fd: number): { domain: number; type: number; protocol: number } | number {
  const n = k.native;
  const domain = n.getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  if (domain < 0) return domain;
  const type = n.getsockoptInt(fd, SOL_SOCKET, SO_TYPE);
  const protocol = n.getsockoptInt(fd, SOL_SOCKET, SO_PROTOCOL);
  return { domain, type: type < 0 ? 0 : type, protocol: protocol < 0 ? 0 : protocol };
}

const hostNetnsOf = new WeakMap<Kernel, number>();

/** The inode of the sentry's network namespace (the host's). */
function hostNetns(k: Kernel): number {
  let ino = hostNetnsOf.get(k);
  if (ino !== undefined) return ino;
  const st = new Uint8Array(144);
  const path = Buffer.from("thread-self/ns/net");
  const r = k.native.statAt(k.procFd, path, path.length, 0, st);
  if (r < 0) throw new Error(`stat /proc/thread-self/ns/net: errno ${-r}`);
  ino = Number(new DataView(st.buffer).getBigUint64(8, true));
  hostNetnsOf.set(k, ino);
  return ino;
}

/**
 * True when fd's socket belongs to the host's network namespace (a carried socket), or when
 * that cannot be told (fail closed).
 */
export function isHostSocket(k: Kernel, fd: number): boolean {
  const ns = k.native.socketNetns(fd);
  return ns < 0 || ns === hostNetns(k);
}

/** Whether the task's descriptor is close-on-exec (the "flags:" line of /proc/TID/fdinfo/FD). */
function taskCloexec(t: Task, fd: number): boolean {
  const info = t.proc(`${t.tid}/fdinfo/${fd}`, O_RDONLY | O_CLOEXEC);
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(info, buf, 0, buf.length, 0);
    const m = /flags:\s*([0-7]+)/.exec(buf.toString("latin1", 0, n));
    return m !== null && (parseInt(m[1]!, 8) & O_CLOEXEC) !== 0;
  } finally {
    t.close(info);
  }
}

const ZERO: Reply = Object.freeze({ kind: "value", value: 0 });

/**
 * Decides a connect under network proxy, given a duplicate of the task's socket (ours, kept
 * by the caller) and the sockaddr copied in: a reply when the sentry answered or carried it,
 * undefined when the connect stays in the sandbox (loopback, UDP, other families), for the
 * caller to perform on the duplicate.
 */
export function carryConnect(t: Task, dup: number, sockfd: number, addr: Uint8Array): Reply | undefined {
  const k = t.k;
  const kind = socketKind(k, dup);
  if (typeof kind === "number") return errnoReply(-kind);
  if (kind.domain !== AF_INET && kind.domain !== AF_INET6) return undefined;
  const family = addr.length >= 2 ? addr[0]! | (addr[1]! << 8) : AF_UNSPEC;
  const inet = sockaddrInet(addr);
  const host = isHostSocket(k, dup);
  // A mismatched family or a short sockaddr fails in the kernel; AF_UNSPEC disconnects.
  if (inet === undefined || inet.family !== kind.domain) {
    return host && family !== AF_UNSPEC && family !== AF_INET && family !== AF_INET6 ? errnoReply(EACCES) : undefined;
  }
  const local = isLocalAddress(inet.address);
  const tcp = kind.type === SOCK_STREAM && kind.protocol === IPPROTO_TCP;
  if (local || !tcp) {
    // A carried socket (after a failed connect) must not reach the host's loopback.
    return host ? errnoReply(EACCES) : undefined;
  }
  const d = egressDecision(k.netRules.rules, { address: inet.address, port: inet.port, protocol: "tcp", hostNames: k.netRules.hostNames });
  if (d.verdict !== "allow") return errnoReply(EACCES);

  const n = k.native;
  const fl = n.fcntl(dup, F_GETFL, 0);
  const nonblock = fl >= 0 && (fl & O_NONBLOCK) !== 0;
  // The sentry's own socket, in the host's network namespace, made and set up as itself.
  const cloexec = taskCloexec(t, sockfd);
  const fd = t.own(n.socket(kind.domain, SOCK_STREAM | (nonblock ? O_NONBLOCK : 0), kind.protocol));
  if (fd < 0) return errnoReply(-fd);
  for (const [level, name, which] of COPIED_OPTIONS) {
    if (which === "v6" && kind.domain !== AF_INET6) continue;
    const v = n.getsockoptInt(dup, level, name);
    if (v >= 0) n.setsockoptInt(fd, level, name, v);
  }
  // fd taken over; installed at the task's sockfd once connected or in progress.
  const r = t.offload({ op: 0, nr: t.ev.nr, fd, addr, tgid: t.creds().tgid, injectAt: sockfd, cloexec });
  if (r === null) return PENDING;
  return r < 0 ? errnoReply(-r) : ZERO;
}
