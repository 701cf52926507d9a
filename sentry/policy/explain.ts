// `policy explain`: the decision a policy makes for one action, the rule that made it
// (file:line) and the layer that enforces it. Pure: it follows compile.ts's order of
// precedence and the mount plan's meaning of filesystem rules.
import { isIP } from "node:net";
import { errnoName } from "../abi/errno.js";
import { sysnoByName } from "../abi/sysno_amd64.js";
import type { FilterAction } from "../syscalls/syscall.js";
import { tableByNr } from "../syscalls/table_amd64.js";
import { compilePolicy } from "./compile.js";
import { evaluateDecision } from "./decision.js";
import { argValue, parseAction } from "./language.js";
import { matchRule, parsePathPattern, patternMatches } from "./paths.js";
import type { Policy } from "./schema.js";

/** Where a field of the policy file is ("FILE:LINE"). */
export type Locate = (path: readonly PropertyKey[]) => string;

export type Layer = "BPF" | "mount" | "sentry" | "namespace" | "host permissions";

export interface Explanation {
  /** What happens: "allow", "errno(EPERM)", "trap to the sentry, then allow"... */
  readonly decision: string;
  /** The rule that made it: "FILE:LINE field: ..." or "the built-in syscall table: ...". */
  readonly because: string;
  readonly layer: Layer;
}

function actionText(a: FilterAction): string {
  return a.kind === "errno" ? `errno(${errnoName(a.errno) ?? a.errno})` : a.kind;
}

/** Why a syscall with these register arguments gets its decision. */
export function explainSyscall(policy: Policy, locate: Locate, name: string, args: ReadonlyMap<number, bigint>): Explanation {
  const nr = sysnoByName(name);
  if (nr === undefined) throw new Error(`unknown syscall "${name}"`);
  const compiled = compilePolicy(policy);
  const d = compiled.decisions[nr];
  const entry = tableByNr(nr);
  if (d === undefined || entry === undefined) return { decision: "errno(ENOSYS)", because: "not a syscall this table knows", layer: "BPF" };
  const arg = (i: number): bigint => args.get(i) ?? 0n;
  const action = evaluateDecision(d, arg);
  const trapped = action.kind === "trap";
  const decision = trapped ? "trap to the sentry, which decides, performs or emulates it" : actionText(action);
  const layer: Layer = trapped ? "sentry" : "BPF";

  // Policy rules come first, in file order: the first whose conditions hold decides.
  const rules = policy.syscalls.rules;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (!r.names.includes(name)) continue;
    const holds = r.args.every((c) => {
      const v = arg(c.index);
      const want = argValue(c.value);
      switch (c.op) {
        case "eq":
          return v === want;
        case "ne":
          return v !== want;
        case "lt":
          return v < want;
        case "le":
          return v <= want;
        case "gt":
          return v > want;
        case "ge":
          return v >= want;
        case "masked-eq":
          return (v & argValue(c.mask ?? 0)) === want;
      }
    });
    if (holds) {
      const what = r.args.length === 0 ? "names it" : "names it and its argument conditions hold";
      return { decision, because: `${locate(["syscalls", "rules", i])} syscalls.rules[${i}] ${what} (action ${r.action})`, layer };
    }
  }
  if (trapped && (name === "execve" || name === "execveat") && policy.process.exec !== undefined) {
    return { decision: "trap to the sentry, which checks the file against process.exec.allow", because: `${locate(["process", "exec"])} process.exec restricts what may run`, layer };
  }
  if (trapped && (name === "connect" || name === "sendto") && policy.network.mode === "none") {
    return {
      decision: "trap to the sentry, which performs it: unix paths outside the sandbox refused, other addresses confined to its network namespace",
      because: `${locate(["network", "mode"])} network.mode none`,
      layer,
    };
  }
  const deny = policy.syscalls.deny.indexOf(name);
  if (deny >= 0) return { decision, because: `${locate(["syscalls", "deny", deny])} syscalls.deny lists it`, layer };
  const allow = policy.syscalls.allow.indexOf(name);
  if (allow >= 0) return { decision, because: `${locate(["syscalls", "allow", allow])} syscalls.allow lists it`, layer };
  const byDefault = parseAction(policy.syscalls.default);
  // A non-allow default replaces what the table allows, not its denials (compile.ts).
  const tableRuleHit =
    entry.argRules !== undefined &&
    evaluateDecision({ rules: entry.argRules, otherwise: entry.otherwise ?? { kind: "allow" } }, arg).kind !== "allow";
  const tableDecided = entry.handling === "denied" || tableRuleHit;
  if (byDefault.kind !== "allow" && !tableDecided) {
    return { decision, because: `${locate(["syscalls", "default"])} syscalls.default is ${policy.syscalls.default}`, layer };
  }
  const how =
    entry.handling !== "args"
      ? `the built-in syscall table (${entry.handling})`
      : tableRuleHit
        ? "an argument rule of the built-in syscall table"
        : "the built-in syscall table, no argument rule matching";
  return { decision, because: `${how}${entry.note ? `: ${entry.note}` : ""}`, layer: entry.handling === "sentry" ? "sentry" : "BPF" };
}

/** Why opening path for reading, writing or executing is allowed or not. */
export function explainOpen(policy: Policy, locate: Locate, path: string, mode: "r" | "w" | "x"): Explanation {
  const m = matchRule(policy.filesystem.rules, path);
  const at = (): string => `${locate(["filesystem", "rules", m!.index])} filesystem.rules[${m!.index}] ${m!.rule.path}`;
  if (m?.rule.access === "none") {
    return { decision: "denied: EACCES (a hidden file) or ENOENT (beneath a hidden directory)", because: `${at()} access none`, layer: "mount" };
  }
  if (mode === "x") return explainExec(policy, locate, path);
  if (mode === "r") {
    const why = m ? `${at()} access ${m.rule.access}` : "nothing hides it";
    return { decision: "allowed, as far as the file's own permissions let the sandbox's uid (root inside is host uid 100000)", because: why, layer: "host permissions" };
  }
  const privateFs = [policy.filesystem.tmp ? "/tmp/**" : undefined, "/dev/shm/**"].find((p) => p !== undefined && patternMatches(p, path));
  if (m?.rule.access === "read-write") {
    return { decision: "allowed, as far as the file's own permissions let the sandbox's uid", because: `${at()} access read-write`, layer: "mount" };
  }
  if (privateFs !== undefined) {
    return { decision: "allowed: a private tmpfs of the sandbox", because: privateFs === "/tmp/**" ? `${locate(["filesystem", "tmp"])} filesystem.tmp` : "the sandbox's own /dev/shm", layer: "mount" };
  }
  if (m && (m.rule.access === "read" || m.rule.access === "exec")) {
    return { decision: "denied: EROFS", because: `${at()} access ${m.rule.access}`, layer: "mount" };
  }
  if (policy.filesystem.root === "readonly") {
    return { decision: "denied: EROFS", because: `${locate(["filesystem", "root"])} filesystem.root readonly`, layer: "mount" };
  }
  return { decision: "allowed, as far as the file's own permissions let the sandbox's uid", because: `${locate(["filesystem", "root"])} filesystem.root ${policy.filesystem.root}`, layer: "host permissions" };
}

/** Why executing path is allowed or not. */
export function explainExec(policy: Policy, locate: Locate, path: string): Explanation {
  const m = matchRule(policy.filesystem.rules, path);
  if (m?.rule.access === "none") {
    return { decision: "denied: EACCES", because: `${locate(["filesystem", "rules", m.index])} filesystem.rules[${m.index}] ${m.rule.path} access none`, layer: "mount" };
  }
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return { decision: "allowed", because: "process.exec is not set: any file may run", layer: "host permissions" };
  const i = allow.findIndex((p) => patternMatches(p, path));
  if (i < 0) {
    const noexec = ["/tmp", "/dev/shm"].find((d) => path === d || path.startsWith(d + "/"));
    const how = noexec ? `; ${noexec} is also mounted noexec` : "";
    return { decision: "denied: EACCES", because: `${locate(["process", "exec", "allow"])} process.exec.allow does not list it${how}`, layer: noexec ? "mount" : "sentry" };
  }
  const base = parsePathPattern(allow[i]!).base;
  return { decision: "allowed (with #! interpreters checked the same way)", because: `${locate(["process", "exec", "allow", i])} process.exec.allow[${i}] ${allow[i]} (${base})`, layer: "sentry" };
}

/** Why connecting to HOST:PORT is allowed or not. */
export function explainConnect(policy: Policy, locate: Locate, target: string): Explanation {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (!m || isIP(m[1]!) === 0) throw new Error(`--connect: expected ADDRESS:PORT with an IP address, got "${target}"`);
  const host = m[1]!;
  const where = `${locate(["network", "mode"])} network.mode ${policy.network.mode}`;
  if (policy.network.mode === "host") return { decision: "allowed: the host's network", because: where, layer: "namespace" };
  const loopback = host === "::1" || host.startsWith("127.");
  if (loopback) {
    return { decision: "allowed, to the sandbox's own loopback (never the host's)", because: where, layer: "namespace" };
  }
  return { decision: "denied: ENETUNREACH (the sandbox's network namespace has only loopback)", because: where, layer: "namespace" };
}
