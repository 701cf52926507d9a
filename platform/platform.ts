// The Platform interface: how trapped syscalls reach the sentry and how it answers them.
//
// A platform starts a task tree under a filter and delivers each trapped syscall as a
// TrapEvent. The sentry answers every event with exactly one Reply. The reply union is
// closed; what each member means is part of the contract:
//
//   allow        the kernel executes the syscall as the task issued it
//                (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Legal only when the decision did not
//                read task memory: a path or sockaddr check must end in value/fd/errno.
//   errno(E)     the syscall fails with -E; nothing was done.
//   value(v)     the sentry emulated the syscall; v is its return value.
//   fd(hostFd)   the sentry performed the syscall and the result is a new descriptor: the
//                platform installs hostFd in the task (atomically with the reply) and closes
//                its own copy. cloexec sets O_CLOEXEC on the task's descriptor.
//   kill         the task is killed (SIGSYS semantics: the syscall never returns).
//   pending      the sentry handed the event to an operation that answers it itself when it
//                completes (a connect that may block); the platform sends nothing now.

/** A trapped syscall. Views over a reused buffer: valid only until the reply is sent. */
export interface TrapEvent {
  /** Host PID (thread id) of the calling task. */
  readonly pid: number;
  /** Syscall number (AUDIT_ARCH_X86_64 numbering). */
  readonly nr: number;
  /** AUDIT_ARCH_* of the call. */
  readonly arch: number;
  /** Argument i as an unsigned 64-bit value. */
  arg(i: number): bigint;
  /** Argument i as a signed 32-bit int (fds, flags, modes, signals). */
  argInt(i: number): number;
  /** Argument i as a non-negative number (pointers, sizes); exact below 2^53. */
  argNum(i: number): number;
}

export type Reply =
  | { readonly kind: "allow" }
  | { readonly kind: "errno"; readonly errno: number }
  | { readonly kind: "value"; readonly value: number }
  | { readonly kind: "fd"; readonly fd: number; readonly cloexec: boolean }
  | { readonly kind: "kill" }
  | { readonly kind: "pending" };

export const ALLOW: Reply = Object.freeze({ kind: "allow" });
export const KILL: Reply = Object.freeze({ kind: "kill" });
export const PENDING: Reply = Object.freeze({ kind: "pending" });

/**
 * Bounded access to a task's memory. Failures are errno numbers: EFAULT for an address the
 * task has not mapped (or a task that is gone), ENAMETOOLONG for a string without a NUL.
 */
export interface TaskMemory {
  /**
   * Reads a NUL-terminated string; max bounds the bytes read, the NUL included (PATH_MAX
   * semantics: at most max - 1 characters).
   */
  readString(pid: number, addr: number, max: number): string | number;
  /** readString's bytes, in a buffer valid until the next read: {bytes, len} or an errno. */
  readBytes(pid: number, addr: number, max: number): { bytes: Uint8Array; len: number } | number;
  /** Reads exactly len bytes; errno (number) on fault. */
  read(pid: number, addr: number, len: number): Uint8Array | number;
  /** Writes bytes; returns 0 or an errno. */
  write(pid: number, addr: number, data: Uint8Array): number;
}
