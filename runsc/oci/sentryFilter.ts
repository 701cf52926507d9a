// The seccomp allowlist a container's monitor (its sentry) installs on itself once Node has
// started (monitor.ts; native confineSelf: no_new_privs, every thread).
//
// Listed: what Node, libuv, V8 and the sentry's own native calls make while serving (the
// syscalls a task's trapped operations are performed with among them). Killed outright,
// since only a steered sentry would make them: exec, ptrace beyond an exec stop's
// (seize, interrupt, detach: native/src/execstop.cc), modules, kexec, bpf, mounts and
// the new mount API, pivot_root and chroot, handles to files by number, keyrings, perf,
// userfaultfd, and the host's clocks, names, swap and reboot. Everything else fails with
// EPERM. clone3 fails with ENOSYS, so that threads are made with clone, whose flags a filter
// can read: no namespace flag passes. unshare takes CLONE_FS alone and setns CLONE_NEWNS
// alone (a sentry thread enters the container's mount namespace); seccomp(2) only asks
// for the notification sizes; io_uring is absent (libuv falls back to its thread pool).
import type { BpfAction, BpfRuleSet, FilterSpec } from "../../platform/seccomp/compile.js";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import { EPERM, ENOSYS } from "../../platform/abi/errno.js";
import { CLONE_FS, CLONE_NEW_NAMESPACE_MASK, CLONE_NEWNS } from "../../platform/abi/clone.js";
import { SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_GET_NOTIF_SIZES, SECCOMP_SET_MODE_FILTER } from "../../platform/abi/seccomp.js";
import { AT_EMPTY_PATH } from "../../platform/abi/fcntl.js";

const ALLOWED = `
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek close close_range
open openat openat2 creat stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
readlink readlinkat getdents getdents64 getcwd chdir fchdir
mkdir mkdirat mknod mknodat unlink unlinkat rmdir rename renameat renameat2 link linkat symlink symlinkat
chmod fchmod fchmodat chown fchown lchown fchownat utime utimes futimesat utimensat truncate ftruncate fallocate
fsync fdatasync sync_file_range fadvise64 readahead flock fcntl ioctl dup dup2 dup3 pipe pipe2
getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
mmap munmap mprotect mremap madvise mincore msync brk membarrier memfd_create mlock munlock
poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime
futex futex_waitv set_robust_list get_robust_list rseq set_tid_address arch_prctl prctl
clone exit exit_group wait4 waitid restart_syscall
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack
kill tkill tgkill pidfd_open pidfd_getfd pidfd_send_signal
nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time
sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min getpriority setpriority getcpu
getpid getppid gettid getpgid getpgrp getsid setsid setpgid
getuid geteuid getgid getegid getresuid getresgid getgroups
setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups capget capset
getrlimit setrlimit prlimit64 getrusage sysinfo uname umask getrandom
socket socketpair bind listen accept accept4 connect shutdown getsockname getpeername getsockopt setsockopt
sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg
process_vm_readv process_vm_writev sendfile splice tee pkey_alloc pkey_free pkey_mprotect
`;

/** What only a steered sentry would call: the process dies (its container with it). */
const KILLED = `
execve execveat init_module finit_module delete_module kexec_load kexec_file_load bpf
mount umount2 pivot_root chroot fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr
open_by_handle_at name_to_handle_at add_key request_key keyctl perf_event_open userfaultfd
swapon swapoff reboot acct quotactl quotactl_fd settimeofday clock_settime clock_adjtime adjtimex
sethostname setdomainname iopl ioperm vhangup
`;

// include/uapi/linux/ptrace.h
const PTRACE_DETACH = 17;
const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;

const CLONE_FS_ARG = BigInt(CLONE_FS);
const CLONE_NEWNS_ARG = BigInt(CLONE_NEWNS);
const CLONE_NAMESPACES = BigInt(CLONE_NEW_NAMESPACE_MASK);
const NOTIF_SIZES = BigInt(SECCOMP_GET_NOTIF_SIZES);
const SET_MODE_FILTER = BigInt(SECCOMP_SET_MODE_FILTER);
const FLAG_TSYNC = BigInt(SECCOMP_FILTER_FLAG_TSYNC);
const AT_EMPTY_PATH_ARG = BigInt(AT_EMPTY_PATH);

function names(list: string): string[] {
  return list.split(/\s+/).filter((n) => n !== "");
}

/** The monitor's filter as a spec (for tests: the interpreter runs it). */
export function sentryFilterSpec(): FilterSpec {
  const allow: BpfAction = { kind: "allow" };
  const perm: BpfAction = { kind: "errno", errno: EPERM };
  const syscalls = new Map<number, BpfAction | BpfRuleSet>();
  const nr = (name: string): number => {
    const n = sysnoByName(name);
    if (n === undefined) throw new Error(`sentry filter: unknown syscall ${name}`);
    return n;
  };
  for (const name of names(ALLOWED)) syscalls.set(nr(name), allow);
  for (const name of names(KILLED)) syscalls.set(nr(name), { kind: "kill" });
  for (const name of ["io_uring_setup", "io_uring_enter", "io_uring_register", "clone3"]) syscalls.set(nr(name), { kind: "errno", errno: ENOSYS });
  syscalls.set(nr("clone"), { rules: [{ when: [{ index: 0, op: "masked-eq", mask: CLONE_NAMESPACES, value: 0n }], action: allow }], otherwise: perm });
  syscalls.set(nr("unshare"), { rules: [{ when: [{ index: 0, op: "eq", value: CLONE_FS_ARG }], action: allow }], otherwise: perm });
  syscalls.set(nr("setns"), { rules: [{ when: [{ index: 1, op: "eq", value: CLONE_NEWNS_ARG }], action: allow }], otherwise: perm });
  syscalls.set(nr("seccomp"), { rules: [{ when: [{ index: 0, op: "eq", value: NOTIF_SIZES }], action: allow }], otherwise: perm });
  syscalls.set(nr("ptrace"), {
    rules: [PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH].map((request) => ({ when: [{ index: 0, op: "eq" as const, value: BigInt(request) }], action: allow })),
    otherwise: { kind: "kill" },
  });
  return { defaultAction: perm, syscalls };
}

/** The descriptor of node's executable in the monitor's native start (native/monitor/monitor.c). */
export const MONITOR_NODE_FD = 7;

/**
 * The filter of the monitor's native start: the monitor's, with two calls more, for the
 * moment it becomes the monitor in full: the exec of node's executable through
 * MONITOR_NODE_FD (execveat of that descriptor with an empty path: no other file), and the
 * filter Node then installs over this one (seccomp's SET_MODE_FILTER, TSYNC; a filter
 * only takes away).
 */
export function monitorStartFilterSpec(): FilterSpec {
  const base = sentryFilterSpec();
  const syscalls = new Map(base.syscalls);
  syscalls.set(sysnoByName("execveat")!, {
    rules: [
      {
        when: [
          { index: 0, op: "eq", value: BigInt(MONITOR_NODE_FD) },
          { index: 4, op: "eq", value: AT_EMPTY_PATH_ARG },
        ],
        action: { kind: "allow" },
      },
    ],
    otherwise: { kind: "kill" },
  });
  syscalls.set(sysnoByName("seccomp")!, {
    rules: [
      { when: [{ index: 0, op: "eq", value: NOTIF_SIZES }], action: { kind: "allow" } },
      {
        when: [
          { index: 0, op: "eq", value: SET_MODE_FILTER },
          { index: 1, op: "eq", value: FLAG_TSYNC },
        ],
        action: { kind: "allow" },
      },
    ],
    otherwise: { kind: "errno", errno: EPERM },
  });
  return { ...base, syscalls };
}

export function monitorStartFilter(): Uint8Array {
  return compileFilterBytes(monitorStartFilterSpec());
}

/** The monitor's filter, as confineSelf takes it. */
export function sentryFilter(): Uint8Array {
  return compileFilterBytes(sentryFilterSpec());
}
