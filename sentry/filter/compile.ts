// Policy + syscall table -> per-syscall decisions (what the sandbox answers) and the seccomp
// filter (where each decision is made: in BPF, or in the sentry).
//
// Semantics, in order (later steps override earlier ones for the syscalls they name):
//   1. the built-in table (sentry/syscalls/table_amd64.ts);
//   2. `syscalls.default`, when not "allow", replaces what the table allows (its denials and
//      the denials of its argument rules stay);
//   3. `syscalls.allow` allows, `syscalls.deny` fails with EPERM;
//   4. `syscalls.rules` for a name are tried first, in file order; the first whose
//      conditions all hold wins; none matching falls back to steps 1-3;
//   5. what only the sentry can decide is trapped, as each table row's trap condition says
//      (sentry/syscalls/handlers.ts: TrapWhen; the conditions are declared with the handlers
//      in the sys_*.ts families): execve/execveat when `process.exec` restricts exec,
//      connect and sendto-with-address when the network is "none" or "proxy", bind and
//      listen and the interface ioctls under "proxy" (with TCP Fast Open refused in BPF),
//      bind under "host" with `network.bind`, the kill family when `process.signals` is
//      "self", and under `filesystem.root: overlay` the calls that change the filesystem and
//      the opens with a write flag;
//   5b. an OCI linux.seccomp profile, when given, applies too: the stricter decision wins;
//   5c. `audit: true`: where steps 2-5b refuse more than the table, the sandbox answers what
//      the table decides and the sentry logs the policy's refusal (`audit` in the result);
//   5d. under network "none" and "proxy", socket and socketpair of an address family that
//      leaves the sandbox's network namespace fail first (gateFamilies), unless the
//      decision already refuses every call;
//   6. tracing (--strace) traps whatever it covers, and whenever anything is trapped the
//      credential changes are too (the sentry caches credentials); the sentry then answers
//      exactly what steps 1-5 decided, so trapping never changes what is allowed.
// Numbers the table does not know fail with ENOSYS; foreign ABIs are killed in BPF.
import { AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, MSG_FASTOPEN, NETLINK_GENERIC, NETLINK_ROUTE, NETLINK_SOCK_DIAG } from "../../platform/abi/socket.js";
import type { BpfAction, BpfArgRule, BpfRuleSet, FilterSpec } from "../../platform/seccomp/compile.js";
import { EAFNOSUPPORT, ENOPROTOOPT, ENOSYS, EOPNOTSUPP, EPERM, EPROTONOSUPPORT } from "../../platform/abi/errno.js";
import { errnoByName } from "../../platform/abi/errno.js";
import { MAX_SYSCALL_AMD64, sysnoByName } from "../../platform/abi/sysno_amd64.js";
import type { ArgCondition, ArgRule, FilterAction, Handling, SyscallEntry } from "../syscalls/syscall.js";
import { NAMESPACE_ADMIN, TABLE_AMD64 } from "../syscalls/table_amd64.js";

import type { TrapCondition, TrapWhen } from "../syscalls/handlers.js";
import type { Policy } from "../policy/schema.js";
import { argValue, parseAction } from "../policy/language.js";

import type { Decision } from "../policy/decision.js";
import type { OciSeccomp } from "../policy/oci.js";
import { applyOciSeccomp } from "../policy/oci.js";
export type { Decision } from "../policy/decision.js";
export { evaluateDecision } from "../policy/decision.js";

export interface CompileOptions {
  /** Syscalls traced through the sentry: all of them, or those named. */
  readonly trace?: "all" | ReadonlySet<string>;
  /** An OCI linux.seccomp profile to apply as well: the stricter decision wins (oci.ts). */
  readonly ociSeccomp?: OciSeccomp;
  /** A CPU limit the sandbox sees (virtual cpuinfo): sched_getaffinity is answered by the sentry. */
  readonly limitedCpus?: boolean;
  /**
   * A container: under network host (the network its runtime gave it) the host's unix
   * sockets are still network, so connect and addressed sends reach the sentry.
   */
  readonly hostSocketsChecked?: boolean;
  /**
   * A container in a user namespace of its own on the host's network: root inside binds the
   * ports it would under runc through the sentry (the network's user namespace is the host's).
   */
  readonly bindsForRoot?: boolean;
  /**
   * A container under network proxy: its own network (Docker's bridge, a CNI network), every
   * destination it sends to decided by network.egress (sys_socket.ts: sendmsg and sendmmsg
   * reach the sentry too, raw and packet sockets are refused).
   */
  readonly egressChecked?: boolean;
  /**
   * A container in a user namespace, new or joined, whose config grants CAP_SYS_ADMIN
   * (Docker's --privileged, a privileged pod): mounts, new namespaces and setns are decided
   * by the kernel, which confines them to what that user namespace owns (NAMESPACE_ADMIN).
   */
  readonly namespaceAdmin?: boolean;
  /** --record-events: every exec reaches the sentry, which records it (and its exit). */
  readonly recordEvents?: boolean;
}

export interface CompiledPolicy {
  /** Indexed by syscall number; undefined for numbers the table does not know. */
  readonly decisions: readonly (Decision | undefined)[];
  /** The seccomp filter to install. */
  readonly filter: FilterSpec;
  /** Where each known syscall is decided, for `help syscalls` and `policy compile`. */
  readonly layers: ReadonlyMap<number, Handling>;
  /**
   * audit: true — per syscall number, what the policy would decide where that is stricter
   * than what the sandbox answers (`decisions`, the built-in table's). The sentry logs the
   * policy's denial and answers the table's decision.
   */
  readonly audit?: readonly (Decision | undefined)[];
}

export class PolicyCompileError extends Error {}

const ALLOW: FilterAction = { kind: "allow" };
const TRAP: FilterAction = { kind: "trap" };

function errnoAction(errno: number): FilterAction {
  return { kind: "errno", errno };
}

type RuleDecision = Extract<Decision, { rules: unknown }>;

function isRules(d: Decision): d is RuleDecision {
  return "rules" in d;
}

function fromTable(e: SyscallEntry): Decision {
  switch (e.handling) {
    case "kernel":
      return { action: ALLOW };
    case "sentry":
      return { action: TRAP };
    case "denied": {
      const errno = e.errno === undefined ? EPERM : errnoByName(e.errno);
      if (errno === undefined) throw new PolicyCompileError(`table: ${e.name}: unknown errno ${e.errno}`);
      return { action: errnoAction(errno) };
    }
    case "args":
      return { rules: e.argRules ?? [], otherwise: e.otherwise ?? ALLOW };
  }
}

/** Replaces allow (and log) outcomes with a trap to the sentry. */
function trapAllowed(d: Decision): Decision {
  const t = (a: FilterAction): FilterAction => (a.kind === "allow" || a.kind === "log" ? TRAP : a);
  if (!isRules(d)) return { action: t(d.action) };
  return { rules: d.rules.map((r) => ({ when: r.when, action: t(r.action) })), otherwise: t(d.otherwise) };
}

/** Traces everything but kills: the sentry answers with the decision itself. */
function trapAll(d: Decision): Decision {
  const t = (a: FilterAction): FilterAction => (a.kind === "kill" ? a : TRAP);
  if (!isRules(d)) return { action: t(d.action) };
  return { rules: d.rules.map((r) => ({ when: r.when, action: t(r.action) })), otherwise: t(d.otherwise) };
}

function sameDecision(a: Decision, b: Decision): boolean {
  const text = (d: Decision): string => JSON.stringify(d, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
  return text(a) === text(b);
}

/** Whether some arguments make the decision fail or kill. */
function refuses(d: Decision): boolean {
  const all = isRules(d) ? [...d.rules.map((r) => r.action), d.otherwise] : [d.action];
  return all.some((a) => a.kind === "errno" || a.kind === "kill");
}

function layerOf(d: Decision): Handling {
  if (isRules(d)) {
    const all = [...d.rules.map((r) => r.action), d.otherwise];
    if (all.some((a) => a.kind === "trap")) return "sentry";
    return "args";
  }
  switch (d.action.kind) {
    case "allow":
    case "log":
      return "kernel";
    case "trap":
      return "sentry";
    default:
      return "denied";
  }
}

/** Whether a trap condition holds for this policy (sentry/syscalls/handlers.ts: TrapWhen). */
function trapsUnder(when: TrapWhen, policy: Policy, opts: CompileOptions): boolean {
  const net = policy.network.mode;
  switch (when) {
    case "exec-seen":
      return policy.process.exec !== undefined || opts.recordEvents === true;
    case "signals-self":
      return policy.process.signals === "self";
    case "network-contained":
      return net === "none" || net === "proxy" || (net === "host" && opts.hostSocketsChecked === true);
    case "network-proxy":
      return net === "proxy";
    case "bind-checked":
      return net === "proxy" || (net === "host" && (policy.network.bind !== undefined || opts.bindsForRoot === true));
    case "overlay-root":
      return policy.filesystem.root === "overlay";
    case "cpus-limited":
      return opts.limitedCpus === true;
    case "egress-checked":
      return opts.egressChecked === true;
    case "any-trap":
      // Decided once the rest is known (compilePolicy's end).
      return false;
  }
}

/**
 * The decision with the calls a trap condition covers sent to the sentry: every call it
 * lets through, or, with args, those whose registers match one of them — where the decision
 * is a plain allow, or always with `ahead` (unless it refuses every call).
 */
function trapped(d: Decision, args: TrapCondition["args"], ahead: boolean): Decision {
  if (args === undefined) return trapAllowed(d);
  const rules: ArgRule[] = args.map((when) => ({ when, action: TRAP }));
  if (!isRules(d) && (d.action.kind === "allow" || d.action.kind === "log")) return { rules, otherwise: d.action };
  if (!ahead) return trapAllowed(d);
  // A plain trap already sends every call; a plain refusal needs none.
  if (!isRules(d)) return d;
  return { rules: [...rules, ...d.rules], otherwise: d.otherwise };
}

function policyAction(a: { kind: string; errno?: number }): FilterAction {
  switch (a.kind) {
    case "errno":
      return errnoAction(a.errno ?? EPERM);
    case "allow":
    case "kill":
    case "trap":
    case "log":
      return { kind: a.kind } as FilterAction;
    default:
      throw new PolicyCompileError(`unknown action ${a.kind}`);
  }
}

function mustNr(name: string): number {
  const nr = sysnoByName(name);
  if (nr === undefined) throw new PolicyCompileError(`unknown syscall ${name}`);
  return nr;
}

/** Compiles a validated policy. Throws PolicyCompileError for what it cannot enforce yet. */
export function compilePolicy(policy: Policy, opts: CompileOptions = {}): CompiledPolicy {
  const rootRule = [...policy.filesystem.rules].reverse().find((r) => r.path === "/**" || r.path === "/");
  if (policy.filesystem.root === "overlay" && rootRule?.access === "none") {
    throw new PolicyCompileError(
      "filesystem.root: overlay writes over the host's root, which a rule on /** hides: use root: readonly with read-write rules for what the workload writes",
    );
  }
  const decisions = baseline(policy, opts);
  applyRules(decisions, policy);
  applyTraps(decisions, policy, opts);
  const audit = policy.audit ? liftForAudit(decisions) : undefined;
  // Like the table's own refusals, never lifted by audit.
  if (policy.network.mode === "none" || policy.network.mode === "proxy") gateFamilies(decisions);
  if (opts.ociSeccomp !== undefined) {
    const combined = applyOciSeccomp(decisions, opts.ociSeccomp);
    combined.forEach((d, nr) => (decisions[nr] = d));
  }

  return { decisions, ...filterOf(decisions, audit, opts), ...(audit ? { audit } : {}) };
}

/**
 * Step 6: the filter — each decision in BPF, with what tracing and audit cover trapped, and
 * the credential changes whenever anything reaches the sentry (which caches credentials per
 * task and must forget them first, sentry/syscalls/sys_cred.ts); and where each syscall is decided.
 */
function filterOf(decisions: readonly (Decision | undefined)[], audit: readonly (Decision | undefined)[] | undefined, opts: CompileOptions): Pick<CompiledPolicy, "filter" | "layers"> {
  const anyTrap =
    opts.trace !== undefined ||
    audit?.some((d) => d !== undefined) === true ||
    TABLE_AMD64.some((e) => layerOf(decisions[e.nr]!) === "sentry");
  const syscalls = new Map<number, BpfAction | BpfRuleSet>();
  const layers = new Map<number, Handling>();
  for (const e of TABLE_AMD64) {
    const d = decisions[e.nr]!;
    const audited = audit?.[e.nr] !== undefined;
    layers.set(e.nr, audited ? "sentry" : layerOf(d));
    const traced =
      audited ||
      opts.trace === "all" ||
      (opts.trace !== undefined && opts.trace.has(e.name)) ||
      (anyTrap && e.trap?.when === "any-trap");
    const f = traced ? trapAll(d) : d;
    syscalls.set(e.nr, isRules(f) ? { rules: f.rules as BpfArgRule[], otherwise: f.otherwise } : f.action);
  }
  return { filter: { defaultAction: errnoAction(ENOSYS), syscalls }, layers };
}

/** Steps 1-3: the table's decisions under syscalls.default, allow and deny. */
function baseline(policy: Policy, opts: CompileOptions): (Decision | undefined)[] {
  const decisions: (Decision | undefined)[] = new Array(MAX_SYSCALL_AMD64 + 1).fill(undefined);
  const defaultAction = policyAction(parseActionText(policy.syscalls.default));
  for (const listed of TABLE_AMD64) {
    // Root of a user namespace with CAP_SYS_ADMIN: the kernel confines these to its namespaces.
    const e: SyscallEntry = opts.namespaceAdmin === true && NAMESPACE_ADMIN.has(listed.name) ? { ...listed, handling: "kernel" } : listed;
    let d = fromTable(e);
    // A non-allow default replaces what the table allows, never what it refuses: the
    // table's argument rules (namespace flags, TIOCSTI...) keep their denials.
    if (defaultAction.kind !== "allow" && e.handling !== "denied") {
      const byDefault = (a: FilterAction): FilterAction => (a.kind === "allow" ? defaultAction : a);
      d = isRules(d)
        ? { rules: d.rules.map((r) => ({ when: r.when, action: byDefault(r.action) })), otherwise: byDefault(d.otherwise) }
        : { action: defaultAction };
    }
    decisions[e.nr] = d;
  }
  for (const name of policy.syscalls.allow) decisions[mustNr(name)] = { action: ALLOW };
  for (const name of policy.syscalls.deny) decisions[mustNr(name)] = { action: errnoAction(EPERM) };

  return decisions;
}

/** Step 4: syscalls.rules, first in file order, ahead of whatever decided the name before. */
function applyRules(decisions: (Decision | undefined)[], policy: Policy): void {
  const ruleLists = new Map<number, ArgRule[]>();
  for (const rule of policy.syscalls.rules) {
    const action = policyAction(parseActionText(rule.action));
    const when: ArgCondition[] = rule.args.map((a) => ({
      index: a.index,
      op: a.op,
      value: argValue(a.value),
      ...(a.mask !== undefined ? { mask: argValue(a.mask) } : {}),
    }));
    for (const name of rule.names) {
      const nr = mustNr(name);
      const list = ruleLists.get(nr) ?? [];
      list.push({ when, action });
      ruleLists.set(nr, list);
    }
  }
  for (const [nr, list] of ruleLists) {
    const before = decisions[nr] ?? { action: errnoAction(ENOSYS) };
    const tail = isRules(before) ? before.rules : [];
    const otherwise = isRules(before) ? before.otherwise : before.action;
    // A rule without conditions always matches: nothing after it can apply.
    const cut = list.findIndex((r) => r.when.length === 0);
    decisions[nr] =
      cut >= 0
        ? list.slice(0, cut).length === 0
          ? { action: list[cut]!.action }
          : { rules: list.slice(0, cut), otherwise: list[cut]!.action }
        : { rules: [...list, ...tail], otherwise };
  }

}

/** Step 5: what only the sentry can decide, trapped; proxy's BPF refusals. */
function applyTraps(decisions: (Decision | undefined)[], policy: Policy, opts: CompileOptions): void {
  // What only the sentry can decide: each row says when (its family's trap condition,
  // sentry/syscalls/handlers.ts), and which calls when not all of them.
  const net = policy.network.mode;
  for (const e of TABLE_AMD64) {
    const d = decisions[e.nr];
    if (e.trap === undefined || d === undefined || !trapsUnder(e.trap.when, policy, opts)) continue;
    decisions[e.nr] = trapped(d, e.trap.args, e.trap.ahead === true);
  }
  // proxy (sentry/policy/network.ts): TCP Fast Open, which connects without connect(2), is
  // refused in BPF.
  if (net === "proxy") {
    const first = (name: string, rule: ArgRule): void => {
      const nr = mustNr(name);
      const d = decisions[nr];
      // An unconditional refusal already covers it.
      if (d === undefined || (!isRules(d) && d.action.kind !== "allow" && d.action.kind !== "log" && d.action.kind !== "trap")) return;
      decisions[nr] = isRules(d) ? { rules: [rule, ...d.rules], otherwise: d.otherwise } : { rules: [rule], otherwise: d.action };
    };
    // include/linux/socket.h MSG_FASTOPEN; include/uapi/linux/tcp.h TCP_FASTOPEN_CONNECT.
    const fastOpen = (index: number): ArgRule => ({
      when: [{ index, op: "masked-eq", mask: BigInt(MSG_FASTOPEN), value: BigInt(MSG_FASTOPEN) }],
      action: errnoAction(EOPNOTSUPP),
    });
    first("sendto", fastOpen(3));
    first("sendmsg", fastOpen(2));
    first("sendmmsg", fastOpen(3));
    // Ints: the kernel reads the low 32 bits of the register, so must the filter.
    first("setsockopt", {
      when: [
        { index: 1, op: "masked-eq", mask: 0xffffffffn, value: 6n /* IPPROTO_TCP */ },
        { index: 2, op: "masked-eq", mask: 0xffffffffn, value: 30n /* TCP_FASTOPEN_CONNECT */ },
      ],
      action: errnoAction(ENOPROTOOPT),
    });
  }

}

/**
 * Step 5c, audit: the policy's denials are lifted to what the built-in table decides (its
 * denials are the sandbox's own invariants: io_uring, bpf, mount...): returns the policy's
 * own decisions where they refused more, which the sentry logs.
 */
function liftForAudit(decisions: (Decision | undefined)[]): (Decision | undefined)[] {
  const audit: (Decision | undefined)[] = new Array(MAX_SYSCALL_AMD64 + 1).fill(undefined);
  for (const e of TABLE_AMD64) {
    const d = decisions[e.nr]!;
    if (!refuses(d)) continue;
    const floor = fromTable(e);
    if (sameDecision(floor, d)) continue;
    audit[e.nr] = d;
    decisions[e.nr] = floor;
  }
  return audit;
}

function parseActionText(text: string): { kind: string; errno?: number } {
  return parseAction(text);
}

/**
 * Under network none and proxy the sandbox has a network namespace of its own, and only the
 * address families that stay in it are allowed: AF_UNIX, AF_INET, AF_INET6, AF_PACKET, and of
 * AF_NETLINK the protocols that read or change that namespace alone (route, sock_diag,
 * generic). Every other family (AF_VSOCK shares the machine's port space, AF_BLUETOOTH, AF_RDS,
 * AF_TIPC, AF_KEY, AF_ALG, AF_XDP… and those the kernel adds later) fails with EAFNOSUPPORT,
 * and netlink's others (audit, uevents, the process connector, crypto…) with
 * EPROTONOSUPPORT: as if the kernel did not have them. gVisor supports the same set.
 * Decided in BPF on the low 32 bits of the registers, as the kernel reads an int.
 */
const STAYING_FAMILIES = [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET];
const STAYING_NETLINK = [NETLINK_ROUTE, NETLINK_SOCK_DIAG, NETLINK_GENERIC];

function gateFamilies(decisions: (Decision | undefined)[]): void {
  const low = (index: number, op: "masked-eq" | "masked-ne", value: number | bigint): ArgCondition => ({ index, op, mask: 0xffffffffn, value: BigInt(value) });
  const otherFamily: ArgRule = { when: STAYING_FAMILIES.map((f) => low(0, "masked-ne", f)), action: errnoAction(EAFNOSUPPORT) };
  const otherNetlink: ArgRule = { when: [low(0, "masked-eq", AF_NETLINK), ...STAYING_NETLINK.map((p) => low(2, "masked-ne", p))], action: errnoAction(EPROTONOSUPPORT) };
  for (const [name, gates] of [
    ["socket", [otherFamily, otherNetlink]],
    ["socketpair", [otherFamily]],
  ] as const) {
    const nr = mustNr(name);
    const d = decisions[nr];
    // An unconditional refusal already covers it.
    if (d === undefined || (!isRules(d) && d.action.kind === "errno") || (!isRules(d) && d.action.kind === "kill")) continue;
    decisions[nr] = isRules(d) ? { rules: [...gates, ...d.rules], otherwise: d.otherwise } : { rules: [...gates], otherwise: d.action };
  }
}
