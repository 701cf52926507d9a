// `policy explain`: the decision a policy makes for one action, the rule that made it
// (file:line) and the layer that enforces it. Pure: it follows compile.ts's order of
// precedence and the mount plan's meaning of filesystem rules.
import { errnoName } from "../../platform/abi/errno.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import type { FilterAction } from "../syscalls/syscall.js";
import { TABLE_AMD64, tableByNr } from "../syscalls/table_amd64.js";
import { compilePolicy } from "./compile.js";
import { evaluateDecision } from "../policy/decision.js";
import { argValue, parseAction } from "../policy/language.js";
import { createPathMatcher, literalPattern, matchRule, parsePathPattern, patternMatches } from "../policy/paths.js";
import { bindDecision, egressDecision, isLocalAddress, parseEgressTarget, parseIp } from "../policy/network.js";
import type { Policy } from "../policy/schema.js";

/** The kill family: trapped under process.signals: self. */
const SIGNAL_NAMES: ReadonlySet<string> = new Set(TABLE_AMD64.filter((e) => e.trap?.when === "signals-self").map((e) => e.name));

/** Where a field of the policy file is ("FILE:LINE"). */
export type Locate = (path: readonly PropertyKey[]) => string;

export type Layer = "BPF" | "mount" | "sentry" | "namespace" | "host" | "host permissions";

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
  if (trapped && SIGNAL_NAMES.has(name) && policy.process.signals === "self") {
    return {
      decision:
        "trap to the sentry, which decides on the target: the caller's own thread group may be signalled, any other process (or a process group) fails with EPERM",
      because: `${locate(["process", "signals"])} process.signals self`,
      layer,
    };
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

/** The file a host path resolves to (symlinks followed), or undefined when it does not exist. */
export type Resolve = (path: string) => string | undefined;

/**
 * The rules as the mounts apply them: a mount follows symlinks, so a rule on "/bin/**" where
 * /bin -> usr/bin covers /usr/bin (runsc/sandbox/mounts.ts). Same order and indices.
 */
function rulesAsMounted(rules: Policy["filesystem"]["rules"], resolve: Resolve): Policy["filesystem"]["rules"] {
  return rules.map((r) => {
    const p = parsePathPattern(r.path);
    if (p.glob) return r;
    const real = resolve(p.base);
    if (real === undefined || real === p.base) return r;
    return { ...r, path: p.subtree ? (real === "/" ? "/**" : `${literalPattern(real)}/**`) : literalPattern(real) };
  });
}

/**
 * Why opening path for reading, writing or executing is allowed or not. With `resolve`, path
 * is taken as resolved and the rules as the mounts apply them.
 */
export function explainOpen(policy: Policy, locate: Locate, path: string, mode: "r" | "w" | "x", resolve?: Resolve): Explanation {
  const m = matchRule(resolve === undefined ? policy.filesystem.rules : rulesAsMounted(policy.filesystem.rules, resolve), path);
  const written = m === undefined ? "" : policy.filesystem.rules[m.index]!.path;
  // A glob rule is enforced on the paths it matched when the sandbox started (runsc/sandbox/globs.ts).
  const globNote = m !== undefined && parsePathPattern(written).glob ? " (a glob: mounts cover the paths it matches when the sandbox starts)" : "";
  const at = (): string => `${locate(["filesystem", "rules", m!.index])} filesystem.rules[${m!.index}] ${written}${globNote}`;
  if (m?.rule.access === "none") {
    return {
      decision: "denied: ENOENT, absent from its directory (EACCES, or an empty directory, where that directory cannot be shown without it)",
      because: `${at()} access none`,
      layer: "mount",
    };
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
  if (policy.filesystem.root === "overlay") {
    return {
      decision:
        "allowed: written to the overlay's in-memory layer, never to the host (root inside may write the host's files there, the sentry opening them; another uid as the file's permissions let it)",
      because: `${locate(["filesystem", "root"])} filesystem.root overlay`,
      layer: "sentry",
    };
  }
  return { decision: "allowed, as far as the file's own permissions let the sandbox's uid", because: `${locate(["filesystem", "root"])} filesystem.root ${policy.filesystem.root}`, layer: "host permissions" };
}

/** Why executing path is allowed or not. */
export function explainExec(policy: Policy, locate: Locate, path: string): Explanation {
  const m = matchRule(policy.filesystem.rules, path);
  if (m?.rule.access === "none") {
    return { decision: "denied: ENOENT (hidden)", because: `${locate(["filesystem", "rules", m.index])} filesystem.rules[${m.index}] ${m.rule.path} access none`, layer: "mount" };
  }
  const allow = policy.process.exec?.allow;
  if (allow === undefined) return { decision: "allowed", because: "process.exec is not set: any file may run", layer: "host permissions" };
  const i = allow.findIndex((p) => patternMatches(p, path));
  if (i < 0) {
    const noexec = ["/tmp", "/dev/shm"].find((d) => path === d || path.startsWith(d + "/"));
    const how = noexec ? `; ${noexec} is also mounted noexec` : "";
    return { decision: "denied: EACCES", because: `${locate(["process", "exec", "allow"])} process.exec.allow does not list it${how}`, layer: noexec ? "mount" : "sentry" };
  }
  const parsed = parsePathPattern(allow[i]!);
  const shown = parsed.glob ? "a glob" : parsed.base;
  return { decision: "allowed (with #! interpreters checked the same way)", because: `${locate(["process", "exec", "allow", i])} process.exec.allow[${i}] ${allow[i]} (${shown})`, layer: "sentry" };
}

/**
 * Why connecting (TCP) to HOST:PORT or [V6]:PORT is allowed or not. HOST may be a host name,
 * which matches the egress rules that name it (its addresses are resolved only when a
 * sandbox starts).
 */
export function explainConnect(policy: Policy, locate: Locate, target: string): Explanation {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const ip = host === undefined ? undefined : parseIp(host);
  const name = host === undefined || ip !== undefined ? undefined : parseEgressTarget(host);
  if (m === null || host === undefined || port > 65535 || (ip === undefined && (typeof name !== "object" || name.kind !== "name"))) {
    throw new Error(`--connect: expected ADDRESS:PORT, [IPV6]:PORT or HOSTNAME:PORT, got "${target}"`);
  }
  const net = policy.network;
  const where = `${locate(["network", "mode"])} network.mode ${net.mode}`;
  if (net.mode === "host") return { decision: "allowed: the host's network", because: where, layer: "host" };
  // "localhost" and *.localhost name the loopback (RFC 6761), which is the sandbox's own.
  const loopbackName = ip === undefined && /^(?:.+\.)?localhost\.?$/i.test(host);
  if ((ip !== undefined && isLocalAddress(ip)) || loopbackName) {
    return { decision: "allowed, to the sandbox's own loopback (never the host's)", because: where, layer: "namespace" };
  }
  if (net.mode === "none") {
    return { decision: "denied: ENETUNREACH (the sandbox's network namespace has only loopback)", because: where, layer: "namespace" };
  }
  // proxy. A host name stands for its addresses: only "*" and the rules naming it can be
  // told to match them (192.0.2.255, a documentation address, stands in for them).
  const rules = net.egress ?? [];
  const nameOf = (to: string): string | undefined => {
    const t = parseEgressTarget(to);
    return typeof t === "object" && t.kind === "name" ? t.name : undefined;
  };
  const d =
    ip !== undefined
      ? egressDecision(net, { address: ip, port, protocol: "tcp" })
      : egressDecision(
          { ...net, egress: rules.map((r) => (r.to === "*" || nameOf(r.to) === (name as { name: string }).name ? r : { ...r, to: "255.255.255.255" })) },
          { address: "192.0.2.255", port, protocol: "tcp", hostNames: { [(name as { name: string }).name]: ["192.0.2.255"] } },
        );
  if (d.verdict === "allow") {
    return {
      decision: "allowed: the sentry connects it from the host's network and hands the socket to the workload",
      because: `${locate(["network", "egress", d.rule])} network.egress[${d.rule}] to ${rules[d.rule]!.to}`,
      layer: "sentry",
    };
  }
  const more = ip !== undefined && rules.some((r) => nameOf(r.to) !== undefined)
    ? " (unless it is an address of a host name a rule names, resolved when the sandbox starts)"
    : "";
  return {
    decision: `denied: EACCES${more}`,
    because: rules.length === 0 ? `${where} without egress rules` : `${locate(["network", "egress"])} no network.egress rule allows it`,
    layer: "sentry",
  };
}

/**
 * Why connecting (or sending) to the unix socket at PATH is allowed or not. The sandbox's
 * own sockets (on its /tmp, a tmpfs it mounts, its overlay root) are always reachable; one
 * beyond them is network, unless network.unix names it.
 */
export function explainUnix(policy: Policy, locate: Locate, path: string): Explanation {
  if (!path.startsWith("/")) throw new Error(`--connect unix:PATH: expected an absolute path, got "${path}"`);
  const net = policy.network;
  const rules = net.unix ?? [];
  const m = createPathMatcher(rules.map((p) => ({ path: p })))(path);
  if (m !== undefined) {
    return { decision: "allowed, wherever the socket is", because: `${locate(["network", "unix", m.index])} network.unix[${m.index}] ${rules[m.index]!}`, layer: "sentry" };
  }
  const own = "allowed if the socket is the sandbox's own (on its /tmp, a tmpfs it mounts, its overlay root); otherwise";
  const refused = rules.length === 0 ? `${locate(["network", "mode"])} network.mode ${net.mode}, and no network.unix rule` : `${locate(["network", "unix"])} no network.unix rule names it`;
  if (net.mode === "host") {
    return {
      decision: `under runsc-ts do: allowed (the host's network); in a container: ${own} denied: EACCES`,
      because: refused,
      layer: "sentry",
    };
  }
  return { decision: `${own} denied: EACCES`, because: refused, layer: "sentry" };
}

/** Why binding a local TCP or UDP port is allowed or not. */
export function explainBind(policy: Policy, locate: Locate, portText: string, protocol: "tcp" | "udp" = "tcp"): Explanation {
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new Error(`--bind: expected a port (0-65535), got "${portText}"`);
  const port = Number(portText);
  const net = policy.network;
  const where = `${locate(["network", "mode"])} network.mode ${net.mode}`;
  if (net.mode === "none") return { decision: "allowed, in the sandbox's own network namespace (loopback only)", because: where, layer: "namespace" };
  if (net.bind === undefined) {
    return { decision: net.mode === "host" ? "allowed, on the host's network" : "allowed, in the sandbox's own network namespace", because: `${where} without bind rules`, layer: net.mode === "host" ? "host" : "namespace" };
  }
  const d = bindDecision(net, { port, protocol });
  if (d.verdict === "deny") return { decision: "denied: EACCES", because: `${locate(["network", "bind"])} no network.bind rule allows it`, layer: "sentry" };
  if (d.rule === undefined) return { decision: "allowed: port 0 binds an ephemeral port", because: `${locate(["network", "bind"])} network.bind`, layer: "sentry" };
  return { decision: "allowed", because: `${locate(["network", "bind", d.rule])} network.bind[${d.rule}]`, layer: "sentry" };
}
