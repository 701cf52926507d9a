// The test suite's own model of seccomp return values (include/uapi/linux/seccomp.h),
// written apart from platform/seccomp so that the compiler is checked against it.
import type { FilterAction } from "../../sentry/syscalls/syscall.js";

export const RET_KILL_PROCESS = 0x80000000;
export const RET_ERRNO = 0x00050000;
export const RET_USER_NOTIF = 0x7fc00000;
export const RET_LOG = 0x7ffc0000;
export const RET_ALLOW = 0x7fff0000;

/** What a filter returns for an action. */
export function ret(a: FilterAction): number {
  switch (a.kind) {
    case "allow":
      return RET_ALLOW;
    case "errno":
      return (RET_ERRNO | a.errno) >>> 0;
    case "kill":
      return RET_KILL_PROCESS;
    case "trap":
      return RET_USER_NOTIF;
    case "log":
      return RET_LOG;
  }
}
