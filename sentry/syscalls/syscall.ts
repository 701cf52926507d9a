// Syscall table entry kinds: how each amd64 syscall is handled by default.
//
// The table (table_amd64.ts) is the registry: one row per syscall, with its baseline, its
// handler and when it is trapped (from the sys_*.ts families). It drives the filter compiler
// (sentry/filter/compile.ts), dispatch and `runsc-ts help syscalls`.

/**
 * How a syscall is handled when the policy says nothing more specific.
 *
 *   kernel    allowed in the kernel: ALLOW in BPF, never reaches the sentry.
 *   args      decided in BPF by register arguments (rules in `argRules`).
 *   sentry    trapped to the sentry, which decides, performs or emulates it.
 *   denied    refused in BPF with `errno` (dangerous or not supported).
 */
export type Handling = "kernel" | "args" | "sentry" | "denied";

/** A filter action, an argument comparison and a rule: the seccomp compiler's (platform/seccomp/compile.ts). */
export type { BpfAction as FilterAction, BpfArgCondition as ArgCondition, BpfArgRule as ArgRule } from "../../platform/seccomp/compile.js";
import type { BpfAction as FilterAction, BpfArgRule as ArgRule } from "../../platform/seccomp/compile.js";
import type { Handler, TrapCondition } from "./handlers.js";

export interface SyscallEntry {
  readonly nr: number;
  readonly name: string;
  readonly handling: Handling;
  /** For `denied`: the errno name returned (e.g. "EPERM", "ENOSYS"). */
  readonly errno?: string;
  /** For `args`: rules evaluated in order, then `otherwise`. */
  readonly argRules?: readonly ArgRule[];
  readonly otherwise?: FilterAction;
  /** Where support is partial or the reason for a denial. */
  readonly note?: string;
  /** What the sentry does with the call when it is trapped (its family's, sys_*.ts). */
  readonly handler?: Handler;
  /** When the filter sends the call to the sentry besides tracing; absent: only when traced. */
  readonly trap?: TrapCondition;
}
