// kill(2), tkill(2), tgkill(2), rt_sigqueueinfo(2), rt_tgsigqueueinfo(2) and
// pidfd_send_signal(2) under process.signals.
//
//   sandbox: the sandbox's PID namespace is what scopes them (a task can name only tasks of
//            its sandbox), so the kernel performs them; they are trapped only when traced.
//   self:    a task may signal only its own thread group. The register forms are decided on
//            registers and the caller's identity (its ids in its PID namespace, from
//            /proc/TID/status NStgid/NSpid): `allow` is legal because no task memory was read,
//            and the ids a register names cannot change meaning while the caller waits (the
//            caller's own tgid and tid are held by the caller). Anything that may reach
//            another process fails with EPERM, as Linux answers for a process one may not
//            signal (kernel/signal.c check_kill_permission); an invalid signal fails with
//            EINVAL and a non-positive id where Linux requires a positive one with EINVAL,
//            before the target is looked at, as Linux does. kill(0, …), kill(-PGRP, …) and
//            kill(-1, …) reach process groups or everyone, and are refused.
//            pidfd_send_signal names its target through a descriptor, which another thread
//            may replace between a decision and the kernel's own lookup: the sentry takes a
//            duplicate (pidfd_getfd), decides on the process it refers to, and performs the
//            send on that duplicate itself.
//
// The sandbox's init (runsc-ts-init, not the workload) forwards the signals sent to the
// container to the workload with kill(2): it is outside the scope.
import { readSync } from "node:fs";
import type { Reply } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { EBADF, EINVAL, EPERM, ESRCH } from "../../platform/abi/errno.js";
import { AT_EMPTY_PATH, O_CLOEXEC, O_PATH, O_RDONLY, S_IFDIR, S_IFMT } from "../../platform/abi/fcntl.js";
import { SIGKILL, SIGRTMAX, SIGSTOP } from "../../platform/abi/signal.js";
import { errnoReply, SyscallError } from "../errors/errors.js";
import type { Creds } from "../kernel/creds.js";
import type { Task } from "../kernel/task.js";
import type { Family } from "./handlers.js";
import { family } from "./handlers.js";

/** The syscalls that send a signal to a process or thread named by the caller. */

/** pidfd_send_signal flags (include/uapi/linux/pidfd.h, Linux 6.9). */
export const PIDFD_SIGNAL_THREAD = 1 << 0;
export const PIDFD_SIGNAL_THREAD_GROUP = 1 << 1;
export const PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2;

/** sizeof(siginfo_t) (include/uapi/asm-generic/siginfo.h, SI_MAX_SIZE). */
const SIGINFO_SIZE = 128;

const ZERO: Reply = Object.freeze({ kind: "value", value: 0 });

/** valid_signal() of include/linux/signal.h, with 0 (the existence check) allowed. */
function validSignal(sig: number): boolean {
  return sig >= 0 && sig <= SIGRTMAX;
}

/** The answer for a target outside the scope: EINVAL for a bad signal first, as Linux checks it first. */
function refuse(sig: number): Reply {
  return errnoReply(validSignal(sig) ? EPERM : EINVAL);
}

/**
 * The caller's credentials when process.signals confines it, or undefined when it may signal
 * anything of the sandbox (scope sandbox, or the caller is the sandbox's init).
 */
function confined(t: Task): Creds | undefined {
  if (t.k.signals === "sandbox") return undefined;
  const c = t.creds();
  return c.tgid === t.k.initPid ? undefined : c;
}

/**
 * kill(pid, sig) and rt_sigqueueinfo(pid, sig, info): a positive pid names the thread group
 * of the task with that id (kernel/signal.c kill_pid_info looks the id up as a PID, so the
 * caller's own tid names its own group too). pid_t is 32 bits: the upper half of the
 * register is ignored, as by the kernel.
 */
function killLike(t: Task): Reply {
  const c = confined(t);
  if (c === undefined) return ALLOW;
  const pid = t.argInt(0);
  if (pid > 0 && (pid === c.nstgid || pid === c.nspid)) return ALLOW;
  return refuse(t.argInt(1));
}

/** tkill(tid, sig): the caller itself, or the leader of its own thread group. */
function tkill(t: Task): Reply {
  const c = confined(t);
  if (c === undefined) return ALLOW;
  const tid = t.argInt(0);
  if (tid <= 0) return errnoReply(EINVAL);
  if (tid === c.nspid || tid === c.nstgid) return ALLOW;
  return refuse(t.argInt(1));
}

/**
 * tgkill(tgid, tid, sig) and rt_tgsigqueueinfo(tgid, tid, sig, info): the kernel signals tid
 * only when it belongs to tgid, so tgid == the caller's own decides it.
 */
function tgkillLike(t: Task): Reply {
  const c = confined(t);
  if (c === undefined) return ALLOW;
  const tgid = t.argInt(0);
  if (tgid <= 0 || t.argInt(1) <= 0) return errnoReply(EINVAL);
  if (tgid === c.nstgid) return ALLOW;
  return refuse(t.argInt(2));
}

const fdinfoBuf = Buffer.alloc(1024);
const statBuf = new Uint8Array(144);
const EMPTY = new Uint8Array(0);

/** st_mode of struct stat (x86_64: after st_dev, st_ino, st_nlink). */
const ST_MODE_OFFSET = 24;

/**
 * The host PID a pidfd of ours refers to: its fdinfo "Pid:" (-1 once that task has exited),
 * or undefined when fd is not a pidfd.
 */
function pidfdTarget(t: Task, fd: number): number | undefined {
  const info = t.proc(`thread-self/fdinfo/${fd}`, O_RDONLY | O_CLOEXEC);
  let n: number;
  try {
    n = readSync(info, fdinfoBuf, 0, fdinfoBuf.length, 0);
  } finally {
    t.close(info);
  }
  const m = /(?:^|\n)Pid:\s*(-?\d+)/.exec(fdinfoBuf.toString("latin1", 0, n));
  return m === null ? undefined : Number(m[1]);
}

/** True when host task `pid` is a thread of host thread group `tgid` (/proc/TGID/task/PID exists). */
function inThreadGroup(t: Task, tgid: number, pid: number): boolean {
  if (pid === tgid) return true;
  try {
    t.close(t.proc(`${tgid}/task/${pid}`, O_PATH | O_CLOEXEC));
    return true;
  } catch (e) {
    if (e instanceof SyscallError) return false;
    throw e;
  }
}

/**
 * pidfd_send_signal(pidfd, sig, info, flags) under scope self, performed by the sentry on a
 * duplicate of the caller's descriptor, so the process decided on is the one signalled.
 *
 * The receiver then sees the sentry as the sender: Linux clears si_pid for a signal from an
 * ancestor PID namespace (kernel/signal.c send_signal_locked), so si_pid is 0, and si_uid is
 * the sentry's uid as the receiver's user namespace maps it (the overflow uid, 65534). A
 * caller's own siginfo keeps its other fields; one with si_code >= 0 (or SI_TKILL) is
 * refused by Linux with EPERM, since the sentry is not the receiver.
 * A signal from an ancestor namespace is also forced past a PID namespace init's
 * protection, so SIGKILL/SIGSTOP that an init sends itself (which Linux ignores) are sent
 * as signal 0: every check is made, nothing is delivered.
 */
function pidfdSendSignal(t: Task): Reply {
  const c = confined(t);
  if (c === undefined) return ALLOW;
  const n = t.k.native;
  const sig = t.argInt(1);
  const infoAddr = t.argNum(2);
  const flags = t.argInt(3);
  // A process group reaches other processes.
  if (flags & PIDFD_SIGNAL_PROCESS_GROUP) return refuse(sig);
  const dup = t.fd(t.argInt(0));
  const target = pidfdTarget(t, dup);
  if (target === undefined) {
    // Linux also accepts a /proc/PID directory; the sentry does not resolve those.
    if (n.statAt(dup, EMPTY, 0, AT_EMPTY_PATH, statBuf) < 0) return errnoReply(EBADF);
    const mode = new DataView(statBuf.buffer).getUint32(ST_MODE_OFFSET, true);
    return (mode & S_IFMT) === S_IFDIR ? refuse(sig) : errnoReply(EBADF);
  }
  if (target < 0) return errnoReply(ESRCH);
  if (!inThreadGroup(t, c.tgid, target)) return refuse(sig);
  const info = infoAddr !== 0 ? t.read(infoAddr, SIGINFO_SIZE) : undefined;
  t.ensureValid();
  const send = c.nstgid === 1 && (sig === SIGKILL || sig === SIGSTOP) ? 0 : sig;
  const r = n.pidfdSendSignal(dup, send, flags, send === sig ? info : undefined);
  return r < 0 ? errnoReply(-r) : ZERO;
}

/**
 * The kill family: under process.signals: self, the target of each is the caller's identity
 * compared with a register (or the process behind a descriptor): only the sentry knows the caller.
 */
export const signalFamily: Family = family(
  {
    kill: killLike,
    rt_sigqueueinfo: killLike,
    tkill,
    tgkill: tgkillLike,
    rt_tgsigqueueinfo: tgkillLike,
    pidfd_send_signal: pidfdSendSignal,
  },
  { when: "signals-self" },
);
