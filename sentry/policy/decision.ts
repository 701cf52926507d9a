// A per-syscall decision and its evaluation on register arguments: what BPF decides, for
// the sentry to answer the same when a syscall reaches it. Free of the policy language.
import type { BpfAction as FilterAction, BpfArgCondition as ArgCondition, BpfArgRule as ArgRule } from "../../platform/seccomp/compile.js";

/** What the sandbox answers for one syscall number. */
export type Decision =
  | { readonly action: FilterAction }
  | { readonly rules: readonly ArgRule[]; readonly otherwise: FilterAction };

/** Evaluates a decision against register arguments (what BPF would have done). */
export function evaluateDecision(d: Decision, arg: (i: number) => bigint): FilterAction {
  if (!("rules" in d)) return d.action;
  for (const r of d.rules) if (r.when.every((c) => holds(c, arg(c.index)))) return r.action;
  return d.otherwise;
}

function holds(c: ArgCondition, v: bigint): boolean {
  switch (c.op) {
    case "eq":
      return v === c.value;
    case "ne":
      return v !== c.value;
    case "lt":
      return v < c.value;
    case "le":
      return v <= c.value;
    case "gt":
      return v > c.value;
    case "ge":
      return v >= c.value;
    case "masked-eq":
      return (v & (c.mask ?? 0n)) === c.value;
    case "masked-ne":
      return (v & (c.mask ?? 0n)) !== c.value;
  }
}

