// The seccomp allowlist a container's sentry runs under (runsc/oci/sentryFilter.ts), run
// through the BPF interpreter: what a steered sentry would need to escape kills it, what
// Node and the sentry serve with passes, the rest fails with EPERM.
import { describe, expect, it } from "vitest";
import { MONITOR_NODE_FD, monitorStartFilterSpec, sentryFilterSpec } from "../../../runsc/oci/sentryFilter.js";
import { compileFilter } from "../../../platform/seccomp/compile.js";
import { runFilter } from "../../../platform/seccomp/interpreter.js";
import { AUDIT_ARCH_X86_64, sysnoByName } from "../../../platform/abi/sysno_amd64.js";
import { SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS } from "../../../platform/seccomp/constants.js";
import { ENOSYS, EPERM } from "../../../platform/abi/errno.js";

const program = compileFilter(sentryFilterSpec());

function verdict(name: string, args: bigint[] = [], filter = program): number {
  const nr = sysnoByName(name);
  if (nr === undefined) throw new Error(name);
  return runFilter(filter, { nr, arch: AUDIT_ARCH_X86_64, ip: 0n, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6) });
}

const CLONE_THREAD_FLAGS = 0x3d0f00n; // glibc's pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
const CLONE_NEWUSER = 0x10000000n;
const CLONE_NEWNS = 0x20000n;
const CLONE_NEWNET = 0x40000000n;
const CLONE_FS = 0x200n;

describe("the sentry's own filter", () => {
  it("kills exec, ptrace, modules, kexec, bpf, mounts and the calls that reach files by handle", () => {
    for (const name of ["execve", "execveat", "ptrace", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf", "mount", "umount2", "pivot_root", "chroot", "fsopen", "open_tree", "move_mount", "open_by_handle_at", "keyctl", "perf_event_open", "userfaultfd", "reboot", "sethostname"]) {
      expect(verdict(name), name).toBe(SECCOMP_RET_KILL_PROCESS);
    }
  });

  it("lets Node and the sentry serve: files, memory, threads, sockets, task memory and descriptors, credentials", () => {
    for (const name of ["openat", "openat2", "read", "write", "mmap", "futex", "epoll_wait", "recvmsg", "sendmsg", "ioctl", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "pidfd_open", "setfsuid", "capset", "statx", "renameat2", "getrandom"]) {
      expect(verdict(name), name).toBe(SECCOMP_RET_ALLOW);
    }
  });

  it("makes threads with clone and no namespace; clone3 is ENOSYS (glibc falls back to clone); io_uring is absent", () => {
    expect(verdict("clone", [CLONE_THREAD_FLAGS])).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("clone", [CLONE_THREAD_FLAGS | CLONE_NEWUSER])).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("clone", [0x11n | CLONE_NEWNET])).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("clone3")).toBe(SECCOMP_RET_ERRNO | ENOSYS);
    expect(verdict("io_uring_setup")).toBe(SECCOMP_RET_ERRNO | ENOSYS);
  });

  it("enters the container's mount namespace and nothing else; seccomp(2) only for the notification sizes", () => {
    expect(verdict("unshare", [CLONE_FS])).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("unshare", [CLONE_FS | CLONE_NEWUSER])).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("setns", [5n, CLONE_NEWNS])).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("setns", [5n, CLONE_NEWNET])).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("setns", [5n, 0n])).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("seccomp", [3n])).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("seccomp", [1n])).toBe(SECCOMP_RET_ERRNO | EPERM);
  });

  it("traces only for an exec stop: seize, interrupt and detach pass; what reads or writes a tracee kills", () => {
    for (const request of [0x4206n, 0x4207n, 17n]) expect(verdict("ptrace", [request]), String(request)).toBe(SECCOMP_RET_ALLOW);
    // TRACEME, PEEKDATA, POKEDATA, CONT, ATTACH, SETREGS, SETOPTIONS, GETEVENTMSG, PEEKSIGINFO
    for (const request of [0n, 2n, 5n, 7n, 16n, 13n, 0x4200n, 0x4201n, 0x4209n]) expect(verdict("ptrace", [request]), String(request)).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("fails what it does not list with EPERM", () => {
    for (const name of ["kcmp", "mq_open", "personality", "syslog", "lookup_dcookie", "set_mempolicy"]) expect(verdict(name), name).toBe(SECCOMP_RET_ERRNO | EPERM);
  });
});

describe("the filter of a container monitor's native start", () => {
  const start = compileFilter(monitorStartFilterSpec());
  const NODE = BigInt(MONITOR_NODE_FD);
  const AT_EMPTY_PATH = 0x1000n;

  it("lets one exec through: node's executable, by its descriptor, with an empty path; every other exec kills", () => {
    expect(verdict("execveat", [NODE, 0x1234n, 0x5678n, 0x9abcn, AT_EMPTY_PATH], start)).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("execveat", [NODE + 1n, 0n, 0n, 0n, AT_EMPTY_PATH], start)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(verdict("execveat", [NODE, 0n, 0n, 0n, 0n], start)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(verdict("execveat", [NODE | (1n << 32n), 0n, 0n, 0n, AT_EMPTY_PATH], start)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(verdict("execveat", [NODE, 0n, 0n, 0n, AT_EMPTY_PATH | 0x100n], start)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(verdict("execve", [], start)).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("lets Node's filter go over it (a filter only takes away), and no other seccomp(2) operation or flag", () => {
    expect(verdict("seccomp", [1n, 1n], start)).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("seccomp", [3n], start)).toBe(SECCOMP_RET_ALLOW);
    // NEW_LISTENER (8), or TSYNC with it: a listener of its own would be a second sentry.
    expect(verdict("seccomp", [1n, 8n], start)).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("seccomp", [1n, 9n], start)).toBe(SECCOMP_RET_ERRNO | EPERM);
    expect(verdict("seccomp", [0n, 0n], start)).toBe(SECCOMP_RET_ERRNO | EPERM);
  });

  it("is the monitor's filter otherwise", () => {
    for (const name of ["ptrace", "mount", "bpf", "init_module"]) expect(verdict(name, [], start), name).toBe(SECCOMP_RET_KILL_PROCESS);
    for (const name of ["openat", "ioctl", "recvmsg", "pidfd_open"]) expect(verdict(name, [], start), name).toBe(SECCOMP_RET_ALLOW);
    expect(verdict("clone", [CLONE_THREAD_FLAGS | CLONE_NEWUSER], start)).toBe(SECCOMP_RET_ERRNO | EPERM);
  });
});
