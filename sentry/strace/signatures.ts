// Argument kinds of each amd64 syscall, for strace-style printing (format.ts reads them).
//
// Argument orders are the x86_64 ones (include/linux/syscalls.h, arch/x86/entry/syscalls/
// syscall_64.tbl). A syscall without a signature prints its six registers in hex.

import {
  AT_ACCESS_FLAGS,
  AT_UNLINK_FLAGS,
  O_CLOEXEC,
  O_DIRECT,
  O_EXCL,
  O_NONBLOCK,
  RENAME_FLAGS,
  type FlagTable,
} from "../../platform/abi/fcntl.js";
import { SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK } from "../../platform/abi/signal.js";
import { MSG_FLAGS, SHUTDOWN_HOW, SOCK_FLAGS, SOCKOPT_LEVELS } from "../../platform/abi/socket.js";
import { SECCOMP_FILTER_FLAGS, SECCOMP_OPERATIONS } from "../../platform/abi/seccomp.js";

/**
 * How one argument prints.
 *
 *   fd, pid, int   signed 32-bit decimal          uint      unsigned 32-bit decimal
 *   long           signed 64-bit decimal (offsets) size     unsigned 64-bit decimal
 *   hex            0x… of the full register       ptr      NULL or 0x…
 *   dirfd          AT_FDCWD or the number         path, string  quoted string from memory
 *   mode           octal mode_t (S_IF* type when present)
 *   openFlags, atFlags, cloneFlags (clone(2): low byte is the exit signal),
 *   unshareFlags (CLONE_* with CLONE_NEWTIME), accessMode (F_OK, R_OK|W_OK…),
 *   signal, family, sockType, fcntlCmd, ioctlReq, futexOp
 *   argv           ["a", "b", …] (up to 32 entries)   envp   0x… /* N vars *\/
 *   buf(len)       up to 32 bytes of the buffer, len = index of the length argument
 *   sockaddr(len)  decoded sockaddr, len = index of the addrlen argument
 *   openHow(size)  openat2's struct open_how       cloneArgs(size)  clone3's struct clone_args
 *   createMode(flags)  the mode, printed only when the flags argument creates a file
 *   fcntlArg(cmd)  fcntl's third argument, decoded according to the command
 *   flags(table), enum(table)  a flag word or an enumerated value from a table
 */
export type ArgKind =
  | "fd"
  | "dirfd"
  | "path"
  | "string"
  | "int"
  | "uint"
  | "long"
  | "size"
  | "hex"
  | "ptr"
  | "pid"
  | "mode"
  | "openFlags"
  | "atFlags"
  | "cloneFlags"
  | "unshareFlags"
  | "accessMode"
  | "signal"
  | "family"
  | "sockType"
  | "fcntlCmd"
  | "ioctlReq"
  | "futexOp"
  | "argv"
  | "envp"
  | { readonly kind: "buf"; readonly len: number }
  | { readonly kind: "sockaddr"; readonly len: number }
  | { readonly kind: "openHow"; readonly size: number }
  | { readonly kind: "cloneArgs"; readonly size: number }
  | { readonly kind: "createMode"; readonly flags: number }
  | { readonly kind: "fcntlArg"; readonly cmd: number }
  | { readonly kind: "flags"; readonly table: FlagTable; readonly zero?: string }
  | { readonly kind: "enum"; readonly table: FlagTable };

export interface Signature {
  readonly args: readonly ArgKind[];
  /** How the return value prints: decimal (default) or hex (addresses). */
  readonly ret?: "int" | "hex";
}

const buf = (len: number): ArgKind => ({ kind: "buf", len });
const sockaddr = (len: number): ArgKind => ({ kind: "sockaddr", len });
const flags = (table: FlagTable, zero?: string): ArgKind =>
  zero === undefined ? { kind: "flags", table } : { kind: "flags", table, zero };
const en = (table: FlagTable): ArgKind => ({ kind: "enum", table });

// Decoding tables for arguments no abi/ module owns.

/** lseek(2) whence: include/uapi/linux/fs.h. */
const SEEK_WHENCE: FlagTable = [
  ["SEEK_SET", 0],
  ["SEEK_CUR", 1],
  ["SEEK_END", 2],
  ["SEEK_DATA", 3],
  ["SEEK_HOLE", 4],
];
/** pipe2(2): O_CLOEXEC, O_NONBLOCK, O_DIRECT; O_NOTIFICATION_PIPE = O_EXCL (include/uapi/linux/watch_queue.h). */
const PIPE_FLAGS: FlagTable = [
  ["O_NONBLOCK", O_NONBLOCK],
  ["O_CLOEXEC", O_CLOEXEC],
  ["O_DIRECT", O_DIRECT],
  ["O_NOTIFICATION_PIPE", O_EXCL],
];
const CLOEXEC_ONLY: FlagTable = [["O_CLOEXEC", O_CLOEXEC]];
/** close_range(2): include/uapi/linux/close_range.h. */
const CLOSE_RANGE_FLAGS: FlagTable = [["CLOSE_RANGE_UNSHARE", 1 << 1], ["CLOSE_RANGE_CLOEXEC", 1 << 2]];
/** memfd_create(2): include/uapi/linux/memfd.h. */
const MFD_FLAGS: FlagTable = [
  ["MFD_CLOEXEC", 0x1],
  ["MFD_ALLOW_SEALING", 0x2],
  ["MFD_HUGETLB", 0x4],
  ["MFD_NOEXEC_SEAL", 0x8],
  ["MFD_EXEC", 0x10],
];
/** eventfd2(2): include/uapi/linux/eventfd.h (EFD_* alias O_* on x86). */
const EFD_FLAGS: FlagTable = [["EFD_SEMAPHORE", 1], ["EFD_NONBLOCK", O_NONBLOCK], ["EFD_CLOEXEC", O_CLOEXEC]];
/** inotify_init1(2), signalfd4(2), timerfd_create(2), epoll_create1(2) flags: aliases of O_NONBLOCK/O_CLOEXEC. */
const NONBLOCK_CLOEXEC: FlagTable = [["O_NONBLOCK", O_NONBLOCK], ["O_CLOEXEC", O_CLOEXEC]];
/** epoll_ctl(2) op: include/uapi/linux/eventpoll.h. */
const EPOLL_CTL_OPS: FlagTable = [["EPOLL_CTL_ADD", 1], ["EPOLL_CTL_DEL", 2], ["EPOLL_CTL_MOD", 3]];
/** flock(2): include/uapi/asm-generic/fcntl.h. */
const LOCK_OPS: FlagTable = [["LOCK_SH", 1], ["LOCK_EX", 2], ["LOCK_NB", 4], ["LOCK_UN", 8]];
/** wait4(2)/waitid(2) options: include/uapi/linux/wait.h. */
const WAIT_OPTIONS: FlagTable = [
  ["WNOHANG", 0x1],
  ["WUNTRACED", 0x2],
  ["WEXITED", 0x4],
  ["WCONTINUED", 0x8],
  ["WNOWAIT", 0x01000000],
  ["__WNOTHREAD", 0x20000000],
  ["__WALL", 0x40000000],
  ["__WCLONE", 0x80000000],
];
/** waitid(2) idtype: include/uapi/linux/wait.h. */
const WAITID_TYPES: FlagTable = [["P_ALL", 0], ["P_PID", 1], ["P_PGID", 2], ["P_PIDFD", 3]];
/** pidfd_open(2): include/uapi/linux/pidfd.h. */
const PIDFD_FLAGS: FlagTable = [["PIDFD_NONBLOCK", O_NONBLOCK], ["PIDFD_THREAD", O_EXCL]];
/** prctl(2) options: include/uapi/linux/prctl.h. */
const PRCTL_OPTIONS: FlagTable = [
  ["PR_SET_PDEATHSIG", 1], ["PR_GET_PDEATHSIG", 2], ["PR_GET_DUMPABLE", 3], ["PR_SET_DUMPABLE", 4],
  ["PR_GET_UNALIGN", 5], ["PR_SET_UNALIGN", 6], ["PR_GET_KEEPCAPS", 7], ["PR_SET_KEEPCAPS", 8],
  ["PR_GET_FPEMU", 9], ["PR_SET_FPEMU", 10], ["PR_GET_FPEXC", 11], ["PR_SET_FPEXC", 12],
  ["PR_GET_TIMING", 13], ["PR_SET_TIMING", 14], ["PR_SET_NAME", 15], ["PR_GET_NAME", 16],
  ["PR_GET_ENDIAN", 19], ["PR_SET_ENDIAN", 20], ["PR_GET_SECCOMP", 21], ["PR_SET_SECCOMP", 22],
  ["PR_CAPBSET_READ", 23], ["PR_CAPBSET_DROP", 24], ["PR_GET_TSC", 25], ["PR_SET_TSC", 26],
  ["PR_GET_SECUREBITS", 27], ["PR_SET_SECUREBITS", 28], ["PR_SET_TIMERSLACK", 29],
  ["PR_GET_TIMERSLACK", 30], ["PR_TASK_PERF_EVENTS_DISABLE", 31], ["PR_TASK_PERF_EVENTS_ENABLE", 32],
  ["PR_MCE_KILL", 33], ["PR_MCE_KILL_GET", 34], ["PR_SET_MM", 35], ["PR_SET_CHILD_SUBREAPER", 36],
  ["PR_GET_CHILD_SUBREAPER", 37], ["PR_SET_NO_NEW_PRIVS", 38], ["PR_GET_NO_NEW_PRIVS", 39],
  ["PR_GET_TID_ADDRESS", 40], ["PR_SET_THP_DISABLE", 41], ["PR_GET_THP_DISABLE", 42],
  ["PR_SET_FP_MODE", 45], ["PR_GET_FP_MODE", 46], ["PR_CAP_AMBIENT", 47],
  ["PR_GET_SPECULATION_CTRL", 52], ["PR_SET_SPECULATION_CTRL", 53], ["PR_SET_TAGGED_ADDR_CTRL", 55],
  ["PR_GET_TAGGED_ADDR_CTRL", 56], ["PR_SET_IO_FLUSHER", 57], ["PR_GET_IO_FLUSHER", 58],
  ["PR_SET_SYSCALL_USER_DISPATCH", 59], ["PR_SCHED_CORE", 62], ["PR_SET_MDWE", 65], ["PR_GET_MDWE", 66],
  ["PR_SET_MEMORY_MERGE", 67], ["PR_GET_MEMORY_MERGE", 68], ["PR_SET_VMA", 0x53564d41],
  ["PR_SET_PTRACER", 0x59616d61],
];
/** mmap(2)/mprotect(2) protection: include/uapi/asm-generic/mman-common.h. */
const PROT_FLAGS: FlagTable = [
  ["PROT_READ", 0x1],
  ["PROT_WRITE", 0x2],
  ["PROT_EXEC", 0x4],
  ["PROT_SEM", 0x8],
  ["PROT_GROWSDOWN", 0x01000000],
  ["PROT_GROWSUP", 0x02000000],
];
/** mmap(2) flags: include/uapi/linux/mman.h, asm-generic/mman-common.h, arch/x86/include/uapi/asm/mman.h. */
const MAP_FLAGS: FlagTable = [
  ["MAP_SHARED_VALIDATE", 0x03],
  ["MAP_SHARED", 0x01],
  ["MAP_PRIVATE", 0x02],
  ["MAP_FIXED", 0x10],
  ["MAP_ANONYMOUS", 0x20],
  ["MAP_32BIT", 0x40],
  ["MAP_GROWSDOWN", 0x0100],
  ["MAP_DENYWRITE", 0x0800],
  ["MAP_EXECUTABLE", 0x1000],
  ["MAP_LOCKED", 0x2000],
  ["MAP_NORESERVE", 0x4000],
  ["MAP_POPULATE", 0x8000],
  ["MAP_NONBLOCK", 0x10000],
  ["MAP_STACK", 0x20000],
  ["MAP_HUGETLB", 0x40000],
  ["MAP_SYNC", 0x80000],
  ["MAP_FIXED_NOREPLACE", 0x100000],
  ["MAP_UNINITIALIZED", 0x4000000],
];
/** mremap(2): include/uapi/linux/mman.h. */
const MREMAP_FLAGS: FlagTable = [["MREMAP_MAYMOVE", 1], ["MREMAP_FIXED", 2], ["MREMAP_DONTUNMAP", 4]];
/** msync(2): include/uapi/asm-generic/mman-common.h. */
const MSYNC_FLAGS: FlagTable = [["MS_ASYNC", 1], ["MS_INVALIDATE", 2], ["MS_SYNC", 4]];
/** arch_prctl(2) codes: arch/x86/include/uapi/asm/prctl.h. */
const ARCH_PRCTL_CODES: FlagTable = [
  ["ARCH_SET_GS", 0x1001],
  ["ARCH_SET_FS", 0x1002],
  ["ARCH_GET_FS", 0x1003],
  ["ARCH_GET_GS", 0x1004],
  ["ARCH_GET_CPUID", 0x1011],
  ["ARCH_SET_CPUID", 0x1012],
  ["ARCH_GET_XCOMP_SUPP", 0x1021],
  ["ARCH_GET_XCOMP_PERM", 0x1022],
  ["ARCH_REQ_XCOMP_PERM", 0x1023],
  ["ARCH_GET_XCOMP_GUEST_PERM", 0x1024],
  ["ARCH_REQ_XCOMP_GUEST_PERM", 0x1025],
  ["ARCH_MAP_VDSO_X32", 0x2001],
  ["ARCH_MAP_VDSO_32", 0x2002],
  ["ARCH_MAP_VDSO_64", 0x2003],
  ["ARCH_GET_UNTAG_MASK", 0x4001],
  ["ARCH_ENABLE_TAGGED_ADDR", 0x4002],
  ["ARCH_GET_MAX_TAG_BITS", 0x4003],
  ["ARCH_FORCE_TAGGED_SVA", 0x4004],
  ["ARCH_SHSTK_ENABLE", 0x5001],
  ["ARCH_SHSTK_DISABLE", 0x5002],
  ["ARCH_SHSTK_LOCK", 0x5003],
  ["ARCH_SHSTK_UNLOCK", 0x5004],
  ["ARCH_SHSTK_STATUS", 0x5005],
];
/** Resource limits: include/uapi/asm-generic/resource.h. */
const RLIMIT_RESOURCES: FlagTable = [
  ["RLIMIT_CPU", 0], ["RLIMIT_FSIZE", 1], ["RLIMIT_DATA", 2], ["RLIMIT_STACK", 3], ["RLIMIT_CORE", 4],
  ["RLIMIT_RSS", 5], ["RLIMIT_NPROC", 6], ["RLIMIT_NOFILE", 7], ["RLIMIT_MEMLOCK", 8], ["RLIMIT_AS", 9],
  ["RLIMIT_LOCKS", 10], ["RLIMIT_SIGPENDING", 11], ["RLIMIT_MSGQUEUE", 12], ["RLIMIT_NICE", 13],
  ["RLIMIT_RTPRIO", 14], ["RLIMIT_RTTIME", 15],
];
/** getrandom(2): include/uapi/linux/random.h. */
const GRND_FLAGS: FlagTable = [["GRND_NONBLOCK", 1], ["GRND_RANDOM", 2], ["GRND_INSECURE", 4]];
const SIG_HOW: FlagTable = [["SIG_BLOCK", SIG_BLOCK], ["SIG_UNBLOCK", SIG_UNBLOCK], ["SIG_SETMASK", SIG_SETMASK]];
/** Clock ids: include/uapi/linux/time.h. */
const CLOCK_IDS: FlagTable = [
  ["CLOCK_REALTIME", 0], ["CLOCK_MONOTONIC", 1], ["CLOCK_PROCESS_CPUTIME_ID", 2],
  ["CLOCK_THREAD_CPUTIME_ID", 3], ["CLOCK_MONOTONIC_RAW", 4], ["CLOCK_REALTIME_COARSE", 5],
  ["CLOCK_MONOTONIC_COARSE", 6], ["CLOCK_BOOTTIME", 7], ["CLOCK_REALTIME_ALARM", 8],
  ["CLOCK_BOOTTIME_ALARM", 9], ["CLOCK_TAI", 11],
];
const TIMER_FLAGS: FlagTable = [["TIMER_ABSTIME", 1]];
/** Scheduling policies: include/uapi/linux/sched.h. */
const SCHED_POLICIES: FlagTable = [
  ["SCHED_OTHER", 0], ["SCHED_FIFO", 1], ["SCHED_RR", 2], ["SCHED_BATCH", 3], ["SCHED_IDLE", 5],
  ["SCHED_DEADLINE", 6], ["SCHED_EXT", 7],
];

/** futex(2) commands without the PRIVATE/CLOCK_REALTIME bits: include/uapi/linux/futex.h. */
export const FUTEX_COMMANDS: readonly string[] = [
  "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
  "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
  "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
];
export const FUTEX_PRIVATE_FLAG = 128;
export const FUTEX_CLOCK_REALTIME = 256;

const fdOnly: Signature = { args: ["fd"] };
const none: Signature = { args: [] };
const pathOnly: Signature = { args: ["path"] };
const pathPtr: Signature = { args: ["path", "ptr"] };
const fdPtr: Signature = { args: ["fd", "ptr"] };
const ids3: Signature = { args: ["int", "int", "int"] };
const ptrs3: Signature = { args: ["ptr", "ptr", "ptr"] };

const SIGS: Readonly<Record<string, Signature>> = {
  // Files.
  read: { args: ["fd", "ptr", "size"] },
  write: { args: ["fd", buf(2), "size"] },
  open: { args: ["path", "openFlags", { kind: "createMode", flags: 1 }] },
  openat: { args: ["dirfd", "path", "openFlags", { kind: "createMode", flags: 2 }] },
  openat2: { args: ["dirfd", "path", { kind: "openHow", size: 3 }, "size"] },
  creat: { args: ["path", "mode"] },
  close: fdOnly,
  close_range: { args: ["uint", "uint", flags(CLOSE_RANGE_FLAGS)] },
  pread64: { args: ["fd", "ptr", "size", "long"] },
  pwrite64: { args: ["fd", buf(2), "size", "long"] },
  readv: { args: ["fd", "ptr", "int"] },
  writev: { args: ["fd", "ptr", "int"] },
  preadv: { args: ["fd", "ptr", "int", "long"] },
  pwritev: { args: ["fd", "ptr", "int", "long"] },
  preadv2: { args: ["fd", "ptr", "int", "long", "hex", "hex"] },
  pwritev2: { args: ["fd", "ptr", "int", "long", "hex", "hex"] },
  lseek: { args: ["fd", "long", en(SEEK_WHENCE)] },
  dup: fdOnly,
  dup2: { args: ["fd", "fd"] },
  dup3: { args: ["fd", "fd", flags(CLOEXEC_ONLY)] },
  fcntl: { args: ["fd", "fcntlCmd", { kind: "fcntlArg", cmd: 1 }] },
  ioctl: { args: ["fd", "ioctlReq", "hex"] },
  pipe: { args: ["ptr"] },
  pipe2: { args: ["ptr", flags(PIPE_FLAGS)] },
  getdents: { args: ["fd", "ptr", "size"] },
  getdents64: { args: ["fd", "ptr", "size"] },
  mkdir: { args: ["path", "mode"] },
  mkdirat: { args: ["dirfd", "path", "mode"] },
  rmdir: pathOnly,
  unlink: pathOnly,
  unlinkat: { args: ["dirfd", "path", flags(AT_UNLINK_FLAGS)] },
  rename: { args: ["path", "path"] },
  renameat: { args: ["dirfd", "path", "dirfd", "path"] },
  renameat2: { args: ["dirfd", "path", "dirfd", "path", flags(RENAME_FLAGS)] },
  link: { args: ["path", "path"] },
  linkat: { args: ["dirfd", "path", "dirfd", "path", "atFlags"] },
  symlink: { args: ["string", "path"] },
  symlinkat: { args: ["string", "dirfd", "path"] },
  chmod: { args: ["path", "mode"] },
  fchmod: { args: ["fd", "mode"] },
  fchmodat: { args: ["dirfd", "path", "mode"] },
  fchmodat2: { args: ["dirfd", "path", "mode", "atFlags"] },
  chown: { args: ["path", "int", "int"] },
  lchown: { args: ["path", "int", "int"] },
  fchown: { args: ["fd", "int", "int"] },
  fchownat: { args: ["dirfd", "path", "int", "int", "atFlags"] },
  truncate: { args: ["path", "long"] },
  ftruncate: { args: ["fd", "long"] },
  utimensat: { args: ["dirfd", "path", "ptr", "atFlags"] },
  fsync: fdOnly,
  fdatasync: fdOnly,
  flock: { args: ["fd", flags(LOCK_OPS)] },
  fallocate: { args: ["fd", "int", "long", "long"] },
  sendfile: { args: ["fd", "fd", "ptr", "size"] },
  copy_file_range: { args: ["fd", "ptr", "fd", "ptr", "size", "uint"] },
  memfd_create: { args: ["string", flags(MFD_FLAGS)] },
  chdir: pathOnly,
  fchdir: fdOnly,
  getcwd: { args: ["ptr", "size"] },
  umask: { args: ["mode"] },
  mknod: { args: ["path", "mode", "hex"] },
  mknodat: { args: ["dirfd", "path", "mode", "hex"] },
  statfs: pathPtr,
  fstatfs: fdPtr,
  eventfd2: { args: ["uint", flags(EFD_FLAGS)] },
  epoll_create1: { args: [flags(CLOEXEC_ONLY)] },
  epoll_ctl: { args: ["fd", en(EPOLL_CTL_OPS), "fd", "ptr"] },
  epoll_wait: { args: ["fd", "ptr", "int", "int"] },
  epoll_pwait: { args: ["fd", "ptr", "int", "int", "ptr", "size"] },
  poll: { args: ["ptr", "uint", "int"] },
  ppoll: { args: ["ptr", "uint", "ptr", "ptr", "size"] },
  select: { args: ["int", "ptr", "ptr", "ptr", "ptr"] },
  pselect6: { args: ["int", "ptr", "ptr", "ptr", "ptr", "ptr"] },
  inotify_init1: { args: [flags(NONBLOCK_CLOEXEC)] },
  inotify_add_watch: { args: ["fd", "path", "hex"] },

  // Status.
  stat: pathPtr,
  lstat: pathPtr,
  fstat: fdPtr,
  newfstatat: { args: ["dirfd", "path", "ptr", "atFlags"] },
  statx: { args: ["dirfd", "path", "atFlags", "hex", "ptr"] },
  access: { args: ["path", "accessMode"] },
  faccessat: { args: ["dirfd", "path", "accessMode"] },
  faccessat2: { args: ["dirfd", "path", "accessMode", flags(AT_ACCESS_FLAGS)] },
  readlink: { args: ["path", "ptr", "size"] },
  readlinkat: { args: ["dirfd", "path", "ptr", "size"] },

  // Processes.
  execve: { args: ["path", "argv", "envp"] },
  execveat: { args: ["dirfd", "path", "argv", "envp", "atFlags"] },
  clone: { args: ["cloneFlags", "ptr", "ptr", "ptr", "hex"] },
  clone3: { args: [{ kind: "cloneArgs", size: 1 }, "size"] },
  fork: none,
  vfork: none,
  exit: { args: ["int"] },
  exit_group: { args: ["int"] },
  wait4: { args: ["pid", "ptr", flags(WAIT_OPTIONS), "ptr"] },
  waitid: { args: [en(WAITID_TYPES), "int", "ptr", flags(WAIT_OPTIONS), "ptr"] },
  getpid: none,
  gettid: none,
  getppid: none,
  getpgrp: none,
  setsid: none,
  getuid: none,
  geteuid: none,
  getgid: none,
  getegid: none,
  setuid: { args: ["int"] },
  setgid: { args: ["int"] },
  setresuid: ids3,
  setresgid: ids3,
  getresuid: ptrs3,
  getresgid: ptrs3,
  setpgid: { args: ["pid", "pid"] },
  getpgid: { args: ["pid"] },
  getsid: { args: ["pid"] },
  kill: { args: ["pid", "signal"] },
  tgkill: { args: ["pid", "pid", "signal"] },
  tkill: { args: ["pid", "signal"] },
  pidfd_open: { args: ["pid", flags(PIDFD_FLAGS)] },
  pidfd_send_signal: { args: ["fd", "signal", "ptr", "uint"] },
  pidfd_getfd: { args: ["fd", "fd", "uint"] },
  prctl: { args: [en(PRCTL_OPTIONS), "hex", "hex", "hex", "hex"] },
  unshare: { args: ["unshareFlags"] },
  setns: { args: ["fd", "unshareFlags"] },
  seccomp: { args: [en(SECCOMP_OPERATIONS), flags(SECCOMP_FILTER_FLAGS), "ptr"] },
  personality: { args: ["hex"] },
  capget: { args: ["ptr", "ptr"] },
  capset: { args: ["ptr", "ptr"] },
  chroot: pathOnly,

  // Network.
  socket: { args: ["family", "sockType", "int"] },
  socketpair: { args: ["family", "sockType", "int", "ptr"] },
  connect: { args: ["fd", sockaddr(2), "uint"] },
  bind: { args: ["fd", sockaddr(2), "uint"] },
  listen: { args: ["fd", "int"] },
  accept: { args: ["fd", "ptr", "ptr"] },
  accept4: { args: ["fd", "ptr", "ptr", flags(SOCK_FLAGS)] },
  sendto: { args: ["fd", buf(2), "size", flags(MSG_FLAGS), sockaddr(5), "uint"] },
  recvfrom: { args: ["fd", "ptr", "size", flags(MSG_FLAGS), "ptr", "ptr"] },
  sendmsg: { args: ["fd", "ptr", flags(MSG_FLAGS)] },
  recvmsg: { args: ["fd", "ptr", flags(MSG_FLAGS)] },
  sendmmsg: { args: ["fd", "ptr", "uint", flags(MSG_FLAGS)] },
  recvmmsg: { args: ["fd", "ptr", "uint", flags(MSG_FLAGS), "ptr"] },
  setsockopt: { args: ["fd", en(SOCKOPT_LEVELS), "int", "ptr", "uint"] },
  getsockopt: { args: ["fd", en(SOCKOPT_LEVELS), "int", "ptr", "ptr"] },
  shutdown: { args: ["fd", en(SHUTDOWN_HOW)] },
  getsockname: { args: ["fd", "ptr", "ptr"] },
  getpeername: { args: ["fd", "ptr", "ptr"] },

  // Memory.
  mmap: { args: ["ptr", "size", flags(PROT_FLAGS, "PROT_NONE"), flags(MAP_FLAGS), "fd", "hex"], ret: "hex" },
  munmap: { args: ["ptr", "size"] },
  mprotect: { args: ["ptr", "size", flags(PROT_FLAGS, "PROT_NONE")] },
  mremap: { args: ["ptr", "size", "size", flags(MREMAP_FLAGS), "ptr"], ret: "hex" },
  brk: { args: ["ptr"], ret: "hex" },
  madvise: { args: ["ptr", "size", "int"] },
  msync: { args: ["ptr", "size", flags(MSYNC_FLAGS)] },
  mlock: { args: ["ptr", "size"] },
  munlock: { args: ["ptr", "size"] },

  // Everything else libc calls at start-up or often.
  uname: { args: ["ptr"] },
  sysinfo: { args: ["ptr"] },
  arch_prctl: { args: [en(ARCH_PRCTL_CODES), "hex"] },
  set_tid_address: { args: ["ptr"] },
  set_robust_list: { args: ["ptr", "size"] },
  get_robust_list: { args: ["pid", "ptr", "ptr"] },
  rseq: { args: ["ptr", "uint", "hex", "hex"] },
  prlimit64: { args: ["pid", en(RLIMIT_RESOURCES), "ptr", "ptr"] },
  getrlimit: { args: [en(RLIMIT_RESOURCES), "ptr"] },
  setrlimit: { args: [en(RLIMIT_RESOURCES), "ptr"] },
  getrandom: { args: ["ptr", "size", flags(GRND_FLAGS)] },
  rt_sigaction: { args: ["signal", "ptr", "ptr", "size"] },
  rt_sigprocmask: { args: [en(SIG_HOW), "ptr", "ptr", "size"] },
  rt_sigreturn: none,
  rt_sigsuspend: { args: ["ptr", "size"] },
  rt_sigpending: { args: ["ptr", "size"] },
  rt_sigtimedwait: { args: ["ptr", "ptr", "ptr", "size"] },
  sigaltstack: { args: ["ptr", "ptr"] },
  futex: { args: ["ptr", "futexOp", "int", "ptr", "ptr", "hex"] },
  nanosleep: { args: ["ptr", "ptr"] },
  clock_nanosleep: { args: [en(CLOCK_IDS), flags(TIMER_FLAGS), "ptr", "ptr"] },
  clock_gettime: { args: [en(CLOCK_IDS), "ptr"] },
  clock_getres: { args: [en(CLOCK_IDS), "ptr"] },
  clock_settime: { args: [en(CLOCK_IDS), "ptr"] },
  gettimeofday: { args: ["ptr", "ptr"] },
  time: { args: ["ptr"] },
  alarm: { args: ["uint"] },
  pause: none,
  getcpu: ptrs3,
  sched_yield: none,
  sched_getaffinity: { args: ["pid", "size", "ptr"] },
  sched_setaffinity: { args: ["pid", "size", "ptr"] },
  sched_setscheduler: { args: ["pid", en(SCHED_POLICIES), "ptr"] },
  sched_getscheduler: { args: ["pid"] },
  sched_setparam: { args: ["pid", "ptr"] },
  sched_getparam: { args: ["pid", "ptr"] },
  sched_get_priority_max: { args: [en(SCHED_POLICIES)] },
  sched_get_priority_min: { args: [en(SCHED_POLICIES)] },
  sched_rr_get_interval: { args: ["pid", "ptr"] },
  sched_setattr: { args: ["pid", "ptr", "hex"] },
  sched_getattr: { args: ["pid", "ptr", "uint", "hex"] },
  signalfd4: { args: ["fd", "ptr", "size", flags(NONBLOCK_CLOEXEC)] },
  timerfd_create: { args: [en(CLOCK_IDS), flags(NONBLOCK_CLOEXEC)] },
};

const SIGNATURES: ReadonlyMap<string, Signature> = new Map(Object.entries(SIGS));

/** The argument kinds of a syscall by name, or undefined (print raw registers). */
export function signatureOf(name: string): Signature | undefined {
  return SIGNATURES.get(name);
}

/** Names that have a signature (for tests and `help syscalls`). */
export function signatureNames(): readonly string[] {
  return [...SIGNATURES.keys()];
}
