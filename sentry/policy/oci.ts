// OCI `linux.seccomp` (as Docker, podman and Kubernetes send it) in the policy's rule model,
// and its combination with a policy: for every syscall and every register value, the
// stricter of the two decisions wins (kill > errno > trap > log > allow).
//
// OCI semantics (config-linux.md, libseccomp): an entry's args all hold (AND); several
// entries for one syscall are tried in order; SCMP_CMP_MASKED_EQ compares
// (arg & value) == valueTwo. Names this table does not know (other architectures, newer
// kernels) are skipped, as runc does.
import { EPERM } from "../../platform/abi/errno.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import type { BpfAction as FilterAction, BpfArgCondition as ArgCondition, BpfArgRule as ArgRule } from "../../platform/seccomp/compile.js";
import type { Decision } from "./decision.js";

export interface OciSeccompArg {
  index: number;
  value: number | bigint;
  valueTwo?: number | bigint;
  op: string;
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: { names: string[]; action: string; errnoRet?: number; args?: OciSeccompArg[] }[];
}

export class OciSeccompError extends Error {}

const OPS: Record<string, ArgCondition["op"]> = {
  SCMP_CMP_NE: "ne",
  SCMP_CMP_LT: "lt",
  SCMP_CMP_LE: "le",
  SCMP_CMP_EQ: "eq",
  SCMP_CMP_GE: "ge",
  SCMP_CMP_GT: "gt",
  SCMP_CMP_MASKED_EQ: "masked-eq",
};

const u64 = (v: number | bigint): bigint => BigInt.asUintN(64, BigInt(v));

function ociAction(action: string, errnoRet: number | undefined, where: string): FilterAction {
  switch (action) {
    case "SCMP_ACT_ALLOW":
      return { kind: "allow" };
    case "SCMP_ACT_ERRNO":
      return { kind: "errno", errno: errnoRet ?? EPERM };
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
    case "SCMP_ACT_KILL_PROCESS":
    case "SCMP_ACT_TRAP": // SIGSYS to the thread: the workload dies as with a kill unless it handles it
      return { kind: "kill" };
    case "SCMP_ACT_LOG":
      return { kind: "log" };
    case "SCMP_ACT_TRACE":
      // No tracer is attached: the kernel answers ENOSYS (seccomp(2), SECCOMP_RET_TRACE).
      return { kind: "errno", errno: 38 };
    default:
      throw new OciSeccompError(`${where}: action ${action} is not supported (SCMP_ACT_NOTIFY needs a listener runsc-ts does not hand out)`);
  }
}

function ociCondition(a: OciSeccompArg, where: string): ArgCondition {
  const op = OPS[a.op];
  if (op === undefined) throw new OciSeccompError(`${where}: unknown comparison ${a.op}`);
  if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new OciSeccompError(`${where}: argument index ${a.index}`);
  if (op === "masked-eq") return { index: a.index, op, mask: u64(a.value), value: u64(a.valueTwo ?? 0) };
  return { index: a.index, op, value: u64(a.value) };
}

/** The OCI profile as a decision per syscall number (undefined: the default action). */
export function ociDecisions(s: OciSeccomp): { decisions: Map<number, Decision>; otherwise: FilterAction } {
  const otherwise = ociAction(s.defaultAction, s.defaultErrnoRet, "linux.seccomp.defaultAction");
  const rules = new Map<number, ArgRule[]>();
  (s.syscalls ?? []).forEach((entry, i) => {
    const where = `linux.seccomp.syscalls[${i}]`;
    const action = ociAction(entry.action, entry.errnoRet, where);
    const when = (entry.args ?? []).map((a, j) => ociCondition(a, `${where}.args[${j}]`));
    for (const name of entry.names) {
      const nr = sysnoByName(name);
      if (nr === undefined) continue;
      const list = rules.get(nr) ?? [];
      list.push({ when, action });
      rules.set(nr, list);
    }
  });
  const decisions = new Map<number, Decision>();
  for (const [nr, list] of rules) {
    const cut = list.findIndex((r) => r.when.length === 0);
    decisions.set(
      nr,
      cut === 0 ? { action: list[0]!.action } : cut > 0 ? { rules: list.slice(0, cut), otherwise: list[cut]!.action } : { rules: list, otherwise },
    );
  }
  return { decisions, otherwise };
}

const RANK: Record<FilterAction["kind"], number> = { allow: 0, log: 1, trap: 2, errno: 3, kill: 4 };

/** The stricter of two actions; between equals, the first (the policy's). */
export function stricter(a: FilterAction, b: FilterAction): FilterAction {
  return RANK[b.kind] > RANK[a.kind] ? b : a;
}

function asRules(d: Decision): { rules: readonly ArgRule[]; otherwise: FilterAction } {
  return "rules" in d ? d : { rules: [], otherwise: d.action };
}

/**
 * Both decisions at once, exactly: a rule for every pair (a rule of a, a rule of b), in
 * order. With first-match semantics the first pair that holds is (first rule of a that
 * holds, first rule of b that holds), whose action is the stricter of the two.
 */
export function combine(a: Decision, b: Decision): Decision {
  const x = asRules(a);
  const y = asRules(b);
  if (x.rules.length === 0 && y.rules.length === 0) return { action: stricter(x.otherwise, y.otherwise) };
  const xs = [...x.rules, { when: [], action: x.otherwise }];
  const ys = [...y.rules, { when: [], action: y.otherwise }];
  const out: ArgRule[] = [];
  for (const r of xs) for (const q of ys) out.push({ when: [...r.when, ...q.when], action: stricter(r.action, q.action) });
  const last = out.pop()!;
  return { rules: out, otherwise: last.action };
}

/** A policy's decisions with an OCI profile applied on top: the stricter wins. */
export function applyOciSeccomp(decisions: readonly (Decision | undefined)[], s: OciSeccomp): (Decision | undefined)[] {
  const oci = ociDecisions(s);
  return decisions.map((d, nr) => {
    if (d === undefined) return undefined;
    return combine(d, oci.decisions.get(nr) ?? { action: oci.otherwise });
  });
}
