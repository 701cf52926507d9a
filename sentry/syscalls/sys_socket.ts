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
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW, PENDING } from "../../platform/platform.js";
import { EACCES, EBADF, EFAULT, EINVAL, EMSGSIZE } from "../abi/errno.js";
import { AT_FDCWD, O_CLOEXEC, O_DIRECTORY, O_PATH } from "../abi/fcntl.js";
import { AF_UNIX } from "../abi/socket.js";
import { errnoReply } from "../errors/errors.js";
import type { Creds, Kernel } from "../kernel/task.js";
import { asSentry, asTask, ensureValid, openProc, taskCreds } from "../kernel/task.js";
import type { HandlerTable } from "./handlers.js";

/** sizeof(struct sockaddr_storage). */
const SOCKADDR_MAX = 128;
/** Largest datagram the sentry copies in for sendto (the kernel's own limit is ~64 KiB for UDP). */
const SENDTO_MAX = 1 << 20;
const statBuf = new Uint8Array(144);
const statView = new DataView(statBuf.buffer);

/**
 * For a pathname unix address: may the task reach it? Resolves the socket file as the task
 * would (its cwd for relative paths) and requires it to be on a sandbox-private filesystem.
 * Returns 0 when allowed, else an errno.
 */
function unixPathAllowed(k: Kernel, ev: TrapEvent, creds: Creds, addr: Uint8Array): number {
  const pathBytes = addr.subarray(2);
  const nul = pathBytes.indexOf(0);
  const len = nul < 0 ? pathBytes.length : nul;
  const relative = pathBytes[0] !== 0x2f;
  let cwd = AT_FDCWD;
  if (relative) cwd = openProc(k, `${ev.pid}/cwd`, O_PATH | O_DIRECTORY | O_CLOEXEC);
  try {
    asTask(k, creds);
    const r = k.native.statAt(cwd, pathBytes, len, 0, statBuf);
    if (r < 0) return -r;
    const dev = statView.getBigUint64(0, true);
    return k.privateDevices.has(dev) ? 0 : EACCES;
  } finally {
    if (cwd >= 0) k.native.close(cwd);
  }
}

/**
 * Decides and performs a socket call on a duplicate of the task's descriptor, in the order
 * the kernel checks (net/socket.c: the descriptor, then the address): EBADF before EINVAL
 * or EFAULT. Relative unix paths resolve from the task's cwd.
 */
function onTaskSocket(
  k: Kernel,
  ev: TrapEvent,
  sockfd: number,
  addrIdx: number,
  lenIdx: number,
  op: (fd: number, addr: Uint8Array) => number,
  /** Perform op off the sentry's thread when it may block (not for unix paths, see below). */
  mayBlock = false,
): Reply {
  const n = k.native;
  const creds = taskCreds(k, ev.pid);
  const pidfd = n.pidfdOpen(creds.tgid);
  if (pidfd < 0) return errnoReply(-pidfd);
  let fd = -1;
  let cwd = -1;
  try {
    fd = n.pidfdGetfd(pidfd, sockfd);
    if (fd < 0) return errnoReply(-fd === EBADF ? EBADF : -fd);
    const len = ev.argNum(lenIdx);
    if (len > SOCKADDR_MAX) return errnoReply(EINVAL);
    let addr: Uint8Array = new Uint8Array(0);
    if (len > 0) {
      const got = k.mem.read(ev.pid, ev.argNum(addrIdx), len);
      if (typeof got === "number") return errnoReply(EFAULT);
      addr = got;
    }
    ensureValid(k);
    const denied = decide(k, ev, creds, addr);
    if (denied !== 0) return errnoReply(denied);
    // Anything but a unix path connects from another thread, which answers the event:
    // a full accept queue or a slow peer must not stall the sentry. (A unix path needs this
    // thread's mount namespace and the task's credentials, so it connects here.)
    if (mayBlock && !isUnixPath(addr)) {
      const r = k.connectAsync(fd, addr);
      fd = -1; // taken over
      if (r === 1) return PENDING;
      return r < 0 ? errnoReply(-r) : { kind: "value", value: 0 };
    }
    if (isUnixPath(addr) && addr[2] !== 0x2f) {
      cwd = openProc(k, `${ev.pid}/cwd`, O_PATH | O_DIRECTORY | O_CLOEXEC);
      n.fchdir(cwd);
    }
    asTask(k, creds);
    const r = op(fd, addr);
    return r < 0 ? errnoReply(-r) : { kind: "value", value: r };
  } finally {
    asSentry(k);
    if (cwd >= 0) {
      n.close(cwd);
      const root = Buffer.from("/");
      const rootFd = n.openat2(AT_FDCWD, root, 1, O_PATH | O_DIRECTORY, 0, 0);
      if (rootFd >= 0) {
        n.fchdir(rootFd);
        n.close(rootFd);
      }
    }
    if (fd >= 0) n.close(fd);
    n.close(pidfd);
  }
}

/** A pathname (not abstract, not unnamed) AF_UNIX address. */
function isUnixPath(addr: Uint8Array): boolean {
  return addr.length > 2 && (addr[0]! | (addr[1]! << 8)) === AF_UNIX && addr[2] !== 0;
}

function decide(k: Kernel, ev: TrapEvent, creds: Creds, addr: Uint8Array): number {
  // Other families, and abstract or unnamed unix addresses, live in the network namespace.
  return isUnixPath(addr) ? unixPathAllowed(k, ev, creds, addr) : 0;
}

function connect(k: Kernel, ev: TrapEvent): Reply {
  if (k.network === "host") return ALLOW;
  return onTaskSocket(k, ev, ev.argInt(0), 1, 2, (fd, addr) => k.native.connect(fd, addr, addr.length), true);
}

function sendto(k: Kernel, ev: TrapEvent): Reply {
  if (k.network === "host" || ev.argNum(4) === 0) return ALLOW;
  const len = ev.argNum(2);
  if (len > SENDTO_MAX) return errnoReply(EMSGSIZE);
  const data = len === 0 ? new Uint8Array(0) : k.mem.read(ev.pid, ev.argNum(1), len);
  if (typeof data === "number") return errnoReply(EFAULT);
  const flags = ev.argInt(3);
  return onTaskSocket(k, ev, ev.argInt(0), 4, 5, (fd, addr) => k.native.sendto(fd, data, len, flags, addr, addr.length));
}

export const socketHandlers: HandlerTable = { connect, sendto };
