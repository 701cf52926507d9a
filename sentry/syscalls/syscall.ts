// Syscall table entry kinds: how each amd64 syscall is handled by default.
//
// The table (table_amd64.ts) is data: it drives the BPF compiler, dispatch and
// `runsc-ts help syscalls`. Handlers are registered by name from the sys_*.ts families.

/**
 * How a syscall is handled when the policy says nothing more specific.
 *
 *   kernel    allowed in the kernel: ALLOW in BPF, never reaches the sentry.
 *   args      decided in BPF by register arguments (rules in `argRules`).
 *   sentry    trapped to the sentry, which decides, performs or emulates it.
 *   denied    refused in BPF with `errno` (dangerous or not supported).
 */
export type Handling = "kernel" | "args" | "sentry" | "denied";

/** A comparison of one register argument, as OCI seccomp can say it. */
export interface ArgCondition {
  readonly index: number; // 0..5
  readonly op: "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked-eq" | "masked-ne";
  readonly value: bigint;
  /** Mask for masked-eq and masked-ne: (arg & mask) == value, or !=. */
  readonly mask?: bigint;
}

export type FilterAction =
  | { readonly kind: "allow" }
  | { readonly kind: "errno"; readonly errno: number }
  | { readonly kind: "kill" }
  | { readonly kind: "trap" } // to the sentry (user notification)
  | { readonly kind: "log" }; // allowed and logged by the kernel (SECCOMP_RET_LOG)

/** First matching rule wins; `otherwise` applies when none matches. */
export interface ArgRule {
  readonly when: readonly ArgCondition[]; // all must hold (AND)
  readonly action: FilterAction;
}

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
}
