// What the sentry knows of a syscall besides the table's baseline: its handler (what it does
// when the call is trapped) and when the filter sends the call to it. Each sys_*.ts family
// declares both for its syscalls; the table (table_amd64.ts) joins them to its rows, which
// the filter compiler (sentry/filter/compile.ts) and dispatch (dispatch.ts) read.
import type { BpfArgCondition } from "../../platform/seccomp/compile.js";
import type { Reply } from "../../platform/platform.js";
import type { Task } from "../kernel/task.js";

/**
 * Decides, performs or emulates one trapped syscall for its task. Throws only SyscallError;
 * what it opens through the task is closed when the call ends (kernel/task.ts).
 */
export type Handler = (t: Task) => Reply;

/**
 * What in a policy (or its compile options) makes the sentry see a syscall, besides tracing,
 * which traps whatever it covers:
 *
 *   exec-seen           process.exec restricts what may run, or the sandbox records its
 *                       events (--record-events: every exec, sys_exec.ts)
 *   signals-self        process.signals: self (sys_signal.ts)
 *   network-contained   network none or proxy, or a container's network: connect and
 *                       addressed sends (sys_socket.ts)
 *   network-proxy       network proxy: what a carried socket must not do itself
 *   bind-checked        network proxy, or host with network.bind rules
 *   overlay-root        filesystem.root: overlay: what changes the filesystem (sys_fsmut.ts)
 *   cpus-limited        a CPU limit shown by virtual cpuinfo (sys_info.ts)
 *   any-trap            whenever anything else reaches the sentry (sys_cred.ts)
 *   egress-checked      a container under network proxy: every send's destination is decided
 */
export type TrapWhen = "exec-seen" | "signals-self" | "network-contained" | "network-proxy" | "bind-checked" | "overlay-root" | "cpus-limited" | "any-trap" | "egress-checked";

export interface TrapCondition {
  readonly when: TrapWhen;
  /**
   * Only the calls whose registers match one of these (all conditions of one hold) are
   * trapped where the decision is a plain allow: an open without a write flag, a sendto
   * without an address stay in the kernel. Absent: every call the decision lets through.
   */
  readonly args?: readonly (readonly BpfArgCondition[])[];
  /**
   * With args: the trap rules go ahead of the decision's own rules whatever they are (the
   * requests they match are not among those the decision tells apart), unless the decision
   * refuses every call.
   */
  readonly ahead?: boolean;
}

/** One syscall of a family: its handler, and when it is trapped (absent: only when traced). */
export interface SyscallHandling {
  readonly handler: Handler;
  readonly trap?: TrapCondition;
}

/** A family's syscalls by name (amd64 names: the table checks them). */
export type Family = Readonly<Record<string, SyscallHandling>>;

/** A family whose syscalls share one trap condition (or are trapped only when traced). */
export function family(handlers: Readonly<Record<string, Handler>>, trap?: TrapCondition): Family {
  return Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [name, trap === undefined ? { handler } : { handler, trap }]));
}
