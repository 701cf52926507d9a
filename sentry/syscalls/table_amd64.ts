// The amd64 syscall table as data: one entry per syscall number, its baseline handling.
//
// Baseline means before any policy: `policy compile` starts from these entries and
// narrows or widens them. The filter is total, with the dangerous families denied by
// default (README, Security model), as Docker's default seccomp profile denies them
// (moby profiles/seccomp/default.json); what Docker gates on a
// capability the container normally lacks is denied here too. Nothing is `sentry` by
// default: a syscall traps only when a policy or --strace needs it, and the notes say
// what the sentry does then.

import { ENOSYS, EPERM } from "../../platform/abi/errno.js";
import type { SyscallEntry } from "./syscall.js";
import { ALLOW, args, CLONE_RULES, denied, errno, IOCTL_RULES, kernel, PERSONALITY_RULES, SECCOMP_RULES, UNSHARE_RULES } from "./entries.js";
import type { Family } from "./handlers.js";
import { credFamily } from "./sys_cred.js";
import { execFamily } from "./sys_exec.js";
import { fileFamily } from "./sys_file.js";
import { fsmutFamily } from "./sys_fsmut.js";
import { infoFamily } from "./sys_info.js";
import { signalFamily } from "./sys_signal.js";
import { socketFamily } from "./sys_socket.js";
import { statFamily } from "./sys_stat.js";

// Notes shared by several entries.

const TRACED_OPEN =
  "path rules enforced by mounts; performed by the sentry and the fd injected when traced (--strace)";
const TRACED_STAT = "path rules enforced by mounts; performed by the sentry when traced (--strace)";
const PATH_NOTE = "path rules enforced by mounts (read-only binds, masked paths)";
const EXEC_NOTE =
  "checked against process.exec by the sentry when the policy restricts exec, then run by the kernel, which " +
  "re-reads the path; the image it loads is verified at the exec stop (the file allowed, or the task dies " +
  "before its first instruction)";
const NET_ADDR =
  "network none: performed by the sentry on a copy of the socket (a call that would block on the sandbox's bounded, " +
  "cancellable worker pool); AF_UNIX paths are " +
  "resolved once and refused outside the sandbox's private filesystems, the network namespace confines the rest; " +
  "host: allowed in the kernel";
const NET_MSG =
  "on a contained network (none, proxy, a container's) every message is sent by the sentry, its destination " +
  "(msg_name) decided as sendto's; on the host's network (do --network host) the kernel's";
const SOCKET_NOTE = "families are register arguments: a policy's socket rules compile to BPF";
const SIGNAL_NOTE = "targets are confined by the PID namespace";
const UNAME_NOTE = "answered by the UTS namespace; emulated by the sentry when traced";
const STATMOUNT_NOTE = "sees the caller's mount namespace; another one needs CAP_SYS_ADMIN over it";
const MKNOD_NOTE = "device nodes need CAP_MKNOD and the device cgroup's permission";
const IO_URING = "io_uring performs file and network operations the filter never sees";
const MOUNT_NOTE =
  "mounts are made by the runtime before the workload starts; changes could undo masked paths (a privileged container in its user namespace: the kernel decides)";
const ADJTIME_NOTE = "read-only use is harmless, but the mode lives in memory where BPF cannot see it";
const VM_RW_NOTE = "a workload writing another task's memory could race the sentry's reads";
const NOT_IMPLEMENTED = "not implemented by Linux on x86_64";
const CLONE3_NOTE =
  "arguments live in memory where BPF cannot see them; ENOSYS makes libc fall back to clone(2), " +
  "whose flags BPF can check";
const CLONE_NOTE =
  "CLONE_NEW* refused: namespaces are made by the runtime (a privileged container in its user namespace: the kernel decides); the low byte is the exit signal";
const UNSHARE_NOTE =
  "CLONE_NEW* refused: a new user namespace would give the workload capabilities over its own mounts (a privileged container in its user namespace: the kernel decides)";
const IOCTL_NOTE =
  "TIOCSTI and TIOCLINUX could type into a terminal outside; compared on the low 32 bits. Under network proxy the interface requests (0x89xx but the socket-level 0x8901-0x8907, wireless 0x8bxx) are answered by the sentry as the sandbox's namespace";
const SECCOMP_NOTE =
  "FLAG_NEW_LISTENER refused: a listener the workload installs would take precedence over the sentry's";
const PERSONALITY_NOTE = "the personalities Docker allows, and the 0xffffffff query";

const ENTRIES: readonly SyscallEntry[] = [
  kernel("read"),
  kernel("write"),
  kernel("open", TRACED_OPEN),
  kernel("close"),
  kernel("stat", TRACED_STAT),
  kernel("fstat"),
  kernel("lstat", TRACED_STAT),
  kernel("poll"),
  kernel("lseek"),
  kernel("mmap"),
  kernel("mprotect"),
  kernel("munmap"),
  kernel("brk"),
  kernel("rt_sigaction"),
  kernel("rt_sigprocmask"),
  kernel("rt_sigreturn"),
  args("ioctl", IOCTL_RULES, ALLOW, IOCTL_NOTE),
  kernel("pread64"),
  kernel("pwrite64"),
  kernel("readv"),
  kernel("writev"),
  kernel("access", TRACED_STAT),
  kernel("pipe"),
  kernel("select"),
  kernel("sched_yield"),
  kernel("mremap"),
  kernel("msync"),
  kernel("mincore"),
  kernel("madvise"),
  kernel("shmget"),
  kernel("shmat"),
  kernel("shmctl"),
  kernel("dup"),
  kernel("dup2"),
  kernel("pause"),
  kernel("nanosleep"),
  kernel("getitimer"),
  kernel("alarm"),
  kernel("setitimer"),
  kernel("getpid"),
  kernel("sendfile"),
  kernel("socket", SOCKET_NOTE),
  kernel("connect", NET_ADDR),
  kernel("accept"),
  kernel("sendto", NET_ADDR),
  kernel("recvfrom"),
  kernel("sendmsg", NET_MSG),
  kernel("recvmsg"),
  kernel("shutdown"),
  kernel("bind", NET_ADDR),
  kernel("listen"),
  kernel("getsockname"),
  kernel("getpeername"),
  kernel("socketpair", "AF_UNIX pairs only; no address is involved"),
  kernel("setsockopt"),
  kernel("getsockopt"),
  args("clone", CLONE_RULES, ALLOW, CLONE_NOTE),
  kernel("fork"),
  kernel("vfork"),
  kernel("execve", EXEC_NOTE),
  kernel("exit"),
  kernel("wait4"),
  kernel("kill", SIGNAL_NOTE),
  kernel("uname", UNAME_NOTE),
  kernel("semget"),
  kernel("semop"),
  kernel("semctl"),
  kernel("shmdt"),
  kernel("msgget"),
  kernel("msgsnd"),
  kernel("msgrcv"),
  kernel("msgctl"),
  kernel("fcntl"),
  kernel("flock"),
  kernel("fsync"),
  kernel("fdatasync"),
  kernel("truncate", PATH_NOTE),
  kernel("ftruncate"),
  kernel("getdents"),
  kernel("getcwd"),
  kernel("chdir", PATH_NOTE),
  kernel("fchdir"),
  kernel("rename", PATH_NOTE),
  kernel("mkdir", PATH_NOTE),
  kernel("rmdir", PATH_NOTE),
  kernel("creat", TRACED_OPEN),
  kernel("link", PATH_NOTE),
  kernel("unlink", PATH_NOTE),
  kernel("symlink", PATH_NOTE),
  kernel("readlink", TRACED_STAT),
  kernel("chmod", PATH_NOTE),
  kernel("fchmod"),
  kernel("chown", PATH_NOTE),
  kernel("fchown"),
  kernel("lchown", PATH_NOTE),
  kernel("umask"),
  kernel("gettimeofday"),
  kernel("getrlimit"),
  kernel("getrusage"),
  kernel("sysinfo", "reports host-wide memory, load and uptime"),
  kernel("times"),
  denied("ptrace", EPERM, "a tracer could rewrite registers and memory behind the sentry's decisions"),
  kernel("getuid"),
  denied("syslog", EPERM, "reads or clears the host kernel log (Docker: CAP_SYSLOG)"),
  kernel("getgid"),
  kernel("setuid"),
  kernel("setgid"),
  kernel("geteuid"),
  kernel("getegid"),
  kernel("setpgid"),
  kernel("getppid"),
  kernel("getpgrp"),
  kernel("setsid"),
  kernel("setreuid"),
  kernel("setregid"),
  kernel("getgroups"),
  kernel("setgroups"),
  kernel("setresuid"),
  kernel("getresuid"),
  kernel("setresgid"),
  kernel("getresgid"),
  kernel("getpgid"),
  kernel("setfsuid"),
  kernel("setfsgid"),
  kernel("getsid"),
  kernel("capget"),
  kernel("capset"),
  kernel("rt_sigpending"),
  kernel("rt_sigtimedwait"),
  kernel("rt_sigqueueinfo", SIGNAL_NOTE),
  kernel("rt_sigsuspend"),
  kernel("sigaltstack"),
  kernel("utime", PATH_NOTE),
  kernel("mknod", MKNOD_NOTE),
  denied("uselib", EPERM, "legacy a.out library loader"),
  args("personality", PERSONALITY_RULES, errno(EPERM), PERSONALITY_NOTE),
  denied("ustat", EPERM, "legacy host filesystem statistics by device number"),
  kernel("statfs", PATH_NOTE),
  kernel("fstatfs"),
  denied("sysfs", EPERM, "legacy filesystem type enumeration"),
  kernel("getpriority"),
  kernel("setpriority"),
  kernel("sched_setparam"),
  kernel("sched_getparam"),
  kernel("sched_setscheduler"),
  kernel("sched_getscheduler"),
  kernel("sched_get_priority_max"),
  kernel("sched_get_priority_min"),
  kernel("sched_rr_get_interval"),
  kernel("mlock"),
  kernel("munlock"),
  kernel("mlockall"),
  kernel("munlockall"),
  denied("vhangup", EPERM, "hangs up the terminal (Docker: CAP_SYS_TTY_CONFIG)"),
  denied("modify_ldt", EPERM, "16-bit segment descriptors, a history of kernel bugs (Docker denies it)"),
  denied("pivot_root", EPERM, MOUNT_NOTE),
  denied("_sysctl", EPERM, "removed in Linux 5.5; /proc/sys is read-only or masked"),
  kernel("prctl", "PR_SET_SECCOMP takes no flags, so it cannot install a listener"),
  kernel("arch_prctl"),
  denied("adjtimex", EPERM, ADJTIME_NOTE),
  kernel("setrlimit"),
  denied("chroot", EPERM, "refused until the VFS contains it"),
  kernel("sync"),
  denied("acct", EPERM, "host-global process accounting"),
  denied("settimeofday", EPERM, "sets the host clock; time namespaces do not cover CLOCK_REALTIME"),
  denied("mount", EPERM, MOUNT_NOTE),
  denied("umount2", EPERM, MOUNT_NOTE),
  denied("swapon", EPERM, "host swap configuration"),
  denied("swapoff", EPERM, "host swap configuration"),
  denied("reboot", EPERM, "reboots the host or tears down the PID namespace"),
  kernel("sethostname", "changes the container's UTS namespace only"),
  kernel("setdomainname", "changes the container's UTS namespace only"),
  denied("iopl", EPERM, "raw I/O port access"),
  denied("ioperm", EPERM, "raw I/O port access"),
  denied("create_module", ENOSYS, NOT_IMPLEMENTED),
  denied("init_module", EPERM, "loads or unloads host kernel code"),
  denied("delete_module", EPERM, "loads or unloads host kernel code"),
  denied("get_kernel_syms", ENOSYS, NOT_IMPLEMENTED),
  denied("query_module", ENOSYS, NOT_IMPLEMENTED),
  denied("quotactl", EPERM, "filesystem quotas are host state"),
  denied("nfsservctl", ENOSYS, NOT_IMPLEMENTED),
  denied("getpmsg", ENOSYS, NOT_IMPLEMENTED),
  denied("putpmsg", ENOSYS, NOT_IMPLEMENTED),
  denied("afs_syscall", ENOSYS, NOT_IMPLEMENTED),
  denied("tuxcall", ENOSYS, NOT_IMPLEMENTED),
  denied("security", ENOSYS, NOT_IMPLEMENTED),
  kernel("gettid"),
  kernel("readahead"),
  kernel("setxattr", PATH_NOTE),
  kernel("lsetxattr", PATH_NOTE),
  kernel("fsetxattr"),
  kernel("getxattr", PATH_NOTE),
  kernel("lgetxattr", PATH_NOTE),
  kernel("fgetxattr"),
  kernel("listxattr", PATH_NOTE),
  kernel("llistxattr", PATH_NOTE),
  kernel("flistxattr"),
  kernel("removexattr", PATH_NOTE),
  kernel("lremovexattr", PATH_NOTE),
  kernel("fremovexattr"),
  kernel("tkill", SIGNAL_NOTE),
  kernel("time"),
  kernel("futex"),
  kernel("sched_setaffinity"),
  kernel("sched_getaffinity"),
  kernel("set_thread_area"),
  kernel("io_setup"),
  kernel("io_destroy"),
  kernel("io_getevents"),
  kernel("io_submit"),
  kernel("io_cancel"),
  kernel("get_thread_area"),
  denied("lookup_dcookie", EPERM, "host profiling interface (oprofile), removed from recent kernels"),
  kernel("epoll_create"),
  denied("epoll_ctl_old", ENOSYS, NOT_IMPLEMENTED),
  denied("epoll_wait_old", ENOSYS, NOT_IMPLEMENTED),
  kernel("remap_file_pages"),
  kernel("getdents64"),
  kernel("set_tid_address"),
  kernel("restart_syscall"),
  kernel("semtimedop"),
  kernel("fadvise64"),
  kernel("timer_create"),
  kernel("timer_settime"),
  kernel("timer_gettime"),
  kernel("timer_getoverrun"),
  kernel("timer_delete"),
  denied("clock_settime", EPERM, "sets the host clock; time namespaces do not cover CLOCK_REALTIME"),
  kernel("clock_gettime"),
  kernel("clock_getres"),
  kernel("clock_nanosleep"),
  kernel("exit_group"),
  kernel("epoll_wait"),
  kernel("epoll_ctl"),
  kernel("tgkill", SIGNAL_NOTE),
  kernel("utimes", PATH_NOTE),
  denied("vserver", ENOSYS, NOT_IMPLEMENTED),
  denied("mbind", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  denied("set_mempolicy", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  denied("get_mempolicy", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  kernel("mq_open"),
  kernel("mq_unlink"),
  kernel("mq_timedsend"),
  kernel("mq_timedreceive"),
  kernel("mq_notify"),
  kernel("mq_getsetattr"),
  denied("kexec_load", EPERM, "replaces the host kernel"),
  kernel("waitid"),
  denied("add_key", EPERM, "the kernel keyring is not namespaced"),
  denied("request_key", EPERM, "the kernel keyring is not namespaced"),
  denied("keyctl", EPERM, "the kernel keyring is not namespaced"),
  kernel("ioprio_set"),
  kernel("ioprio_get"),
  kernel("inotify_init"),
  kernel("inotify_add_watch", PATH_NOTE),
  kernel("inotify_rm_watch"),
  denied("migrate_pages", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  kernel("openat", TRACED_OPEN),
  kernel("mkdirat", PATH_NOTE),
  kernel("mknodat", MKNOD_NOTE),
  kernel("fchownat", PATH_NOTE),
  kernel("futimesat", PATH_NOTE),
  kernel("newfstatat", TRACED_STAT),
  kernel("unlinkat", PATH_NOTE),
  kernel("renameat", PATH_NOTE),
  kernel("linkat", PATH_NOTE),
  kernel("symlinkat", PATH_NOTE),
  kernel("readlinkat", TRACED_STAT),
  kernel("fchmodat", PATH_NOTE),
  kernel("faccessat", TRACED_STAT),
  kernel("pselect6"),
  kernel("ppoll"),
  args("unshare", UNSHARE_RULES, ALLOW, UNSHARE_NOTE),
  kernel("set_robust_list"),
  kernel("get_robust_list"),
  kernel("splice"),
  kernel("tee"),
  kernel("sync_file_range"),
  kernel("vmsplice"),
  denied("move_pages", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  kernel("utimensat", PATH_NOTE),
  kernel("epoll_pwait"),
  kernel("signalfd"),
  kernel("timerfd_create"),
  kernel("eventfd"),
  kernel("fallocate"),
  kernel("timerfd_settime"),
  kernel("timerfd_gettime"),
  kernel("accept4"),
  kernel("signalfd4"),
  kernel("eventfd2"),
  kernel("epoll_create1"),
  kernel("dup3"),
  kernel("pipe2"),
  kernel("inotify_init1"),
  kernel("preadv"),
  kernel("pwritev"),
  kernel("rt_tgsigqueueinfo", SIGNAL_NOTE),
  denied("perf_event_open", EPERM, "host-wide performance events, a frequent source of kernel bugs"),
  kernel("recvmmsg"),
  kernel("fanotify_init", "unprivileged use is limited to inode marks; the rest needs CAP_SYS_ADMIN"),
  kernel("fanotify_mark", PATH_NOTE),
  kernel("prlimit64"),
  denied("name_to_handle_at", EPERM, "produces handles for open_by_handle_at"),
  denied("open_by_handle_at", EPERM, "opens files by handle, bypassing the mount namespace"),
  denied("clock_adjtime", EPERM, ADJTIME_NOTE),
  kernel("syncfs"),
  kernel("sendmmsg", NET_MSG),
  denied("setns", EPERM, "joining another namespace would leave the sandbox's (a privileged container in its user namespace: the kernel decides)"),
  kernel("getcpu"),
  denied("process_vm_readv", EPERM, VM_RW_NOTE),
  denied("process_vm_writev", EPERM, VM_RW_NOTE),
  denied("kcmp", EPERM, "compares other tasks' kernel objects (Docker: CAP_SYS_PTRACE)"),
  denied("finit_module", EPERM, "loads or unloads host kernel code"),
  kernel("sched_setattr"),
  kernel("sched_getattr"),
  kernel("renameat2", PATH_NOTE),
  args("seccomp", SECCOMP_RULES, ALLOW, SECCOMP_NOTE),
  kernel("getrandom"),
  kernel("memfd_create"),
  denied("kexec_file_load", EPERM, "replaces the host kernel"),
  denied("bpf", EPERM, "loads programs into the host kernel"),
  kernel("execveat", EXEC_NOTE),
  denied("userfaultfd", EPERM, "lets the workload stall kernel copies at will, a common exploit primitive"),
  kernel("membarrier"),
  kernel("mlock2"),
  kernel("copy_file_range"),
  kernel("preadv2"),
  kernel("pwritev2"),
  kernel("pkey_mprotect"),
  kernel("pkey_alloc"),
  kernel("pkey_free"),
  kernel("statx", TRACED_STAT),
  kernel("io_pgetevents"),
  kernel("rseq"),
  kernel("pidfd_send_signal", SIGNAL_NOTE),
  denied("io_uring_setup", EPERM, IO_URING),
  denied("io_uring_enter", EPERM, IO_URING),
  denied("io_uring_register", EPERM, IO_URING),
  denied("open_tree", EPERM, MOUNT_NOTE),
  denied("move_mount", EPERM, MOUNT_NOTE),
  denied("fsopen", EPERM, MOUNT_NOTE),
  denied("fsconfig", EPERM, MOUNT_NOTE),
  denied("fsmount", EPERM, MOUNT_NOTE),
  denied("fspick", EPERM, MOUNT_NOTE),
  kernel("pidfd_open"),
  denied("clone3", ENOSYS, CLONE3_NOTE),
  kernel("close_range"),
  kernel("openat2", TRACED_OPEN),
  kernel("pidfd_getfd", "needs ptrace access to the target (kernel-checked, PID namespace bounded)"),
  kernel("faccessat2", TRACED_STAT),
  kernel("process_madvise", "needs ptrace access to the target (kernel-checked, PID namespace bounded)"),
  kernel("epoll_pwait2"),
  denied("mount_setattr", EPERM, MOUNT_NOTE),
  denied("quotactl_fd", EPERM, "filesystem quotas are host state"),
  kernel("landlock_create_ruleset"),
  kernel("landlock_add_rule"),
  kernel("landlock_restrict_self"),
  kernel("memfd_secret"),
  kernel("process_mrelease", "only reaps the memory of a task already being killed"),
  kernel("futex_waitv"),
  denied("set_mempolicy_home_node", EPERM, "NUMA placement (Docker: CAP_SYS_NICE)"),
  kernel("cachestat"),
  kernel("fchmodat2", PATH_NOTE),
  kernel("map_shadow_stack"),
  kernel("futex_wake"),
  kernel("futex_wait"),
  kernel("futex_requeue"),
  kernel("statmount", STATMOUNT_NOTE),
  kernel("listmount", STATMOUNT_NOTE),
  kernel("lsm_get_self_attr"),
  denied("lsm_set_self_attr", EPERM, "changes the task's LSM attributes (AppArmor, SELinux)"),
  kernel("lsm_list_modules"),
  kernel("mseal"),
  kernel("setxattrat", PATH_NOTE),
  kernel("getxattrat", PATH_NOTE),
  kernel("listxattrat", PATH_NOTE),
  kernel("removexattrat", PATH_NOTE),
  denied("open_tree_attr", EPERM, MOUNT_NOTE),
  kernel("file_getattr", PATH_NOTE),
  kernel("file_setattr", PATH_NOTE),
];

/** The families of syscalls the sentry handles: each row's handler and trap condition. */
const FAMILIES: readonly Family[] = [fileFamily, fsmutFamily, statFamily, execFamily, socketFamily, signalFamily, credFamily, infoFamily];

/**
 * The entries with the families' handlers and trap conditions joined to their rows. A name
 * the table does not list, or a syscall two families handle, is a bug here.
 */
export function withFamilies(entries: readonly SyscallEntry[], families: readonly Family[]): SyscallEntry[] {
  const rows = new Map(entries.map((e) => [e.name, e]));
  for (const f of families) {
    for (const [name, h] of Object.entries(f)) {
      const e = rows.get(name);
      if (e === undefined) throw new Error(`table_amd64: a handler for ${name}, which is not an amd64 syscall the table lists`);
      if (e.handler !== undefined) throw new Error(`table_amd64: two handlers for ${name}`);
      rows.set(name, Object.freeze({ ...e, ...h }));
    }
  }
  return [...rows.values()];
}

/** Every amd64 syscall, ascending by number. */
/**
 * What root of a user namespace with CAP_SYS_ADMIN may do inside it (a privileged container):
 * mounts in its mount namespace, new namespaces, setns. The kernel checks each against the
 * user namespace owning what it changes, so the host's mounts, names and namespaces stay out
 * of reach (chroot stays refused: the sentry resolves paths from the mount namespace's root).
 */
export const NAMESPACE_ADMIN: ReadonlySet<string> = new Set([
  "mount", "umount2", "pivot_root", "open_tree", "open_tree_attr", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
  "unshare", "clone", "setns",
]);

export const TABLE_AMD64: readonly SyscallEntry[] = Object.freeze(withFamilies(ENTRIES, FAMILIES).sort((a, b) => a.nr - b.nr));

const byNr = new Map<number, SyscallEntry>();
const byName = new Map<string, SyscallEntry>();
for (const e of TABLE_AMD64) {
  if (byNr.has(e.nr) || byName.has(e.name)) throw new Error(`table_amd64: ${e.name} (${e.nr}) listed twice`);
  byNr.set(e.nr, e);
  byName.set(e.name, e);
}

/** The entry for a syscall number, or undefined (unassigned or x32 numbers: deny them). */
export function tableByNr(nr: number): SyscallEntry | undefined {
  return byNr.get(nr);
}

/** The entry for a syscall name, or undefined. */
export function tableByName(name: string): SyscallEntry | undefined {
  return byName.get(name);
}
