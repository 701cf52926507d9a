// Network rules of a policy (network.egress, network.bind): parsing of addresses, CIDRs and
// port ranges, and the pure decisions the sentry and `policy explain` make with them.
//
// Semantics (policies/README.md, "Network"):
//   mode none   the sandbox's own network namespace, loopback only. egress and bind are
//               errors with this mode.
//   mode host   the host's network namespace; egress is unrestricted (egress is an error).
//               With `bind`, bind(2) is trapped and performed by the sentry on a duplicate
//               of the task's socket: an AF_INET/AF_INET6 socket may bind a port only when
//               a rule allows it (port 0, "any ephemeral port", always may); a denied bind
//               fails with EACCES, as the kernel's own refusal of a privileged port does.
//               listen(2) needs no decision: it listens on the port bind allowed, or
//               autobinds an ephemeral one.
//   mode proxy  the sandbox's own network namespace (loopback only) plus egress: a connect(2)
//               of an AF_INET/AF_INET6 TCP socket to a non-loopback address is trapped; when
//               a rule allows the address and port, the sentry connects a socket of its own,
//               in the host's network namespace, and puts it in place of the task's socket
//               (like dup2); otherwise the connect fails with EACCES (what Linux says when a
//               security module refuses a connect, Landlock's TCP rules among them).
//               Loopback and unspecified addresses stay in the sandbox (its own loopback).
//               UDP and other families are not carried. bind(2) and listen(2) are performed
//               by the sentry, which refuses both (EACCES) on a socket of the host's network
//               namespace: a carried socket never listens on the host. `bind` rules, when
//               given, apply to the sandbox's own sockets as under host.
// Rules are an allowlist: a connect or bind is allowed when any rule matches it; the first
// matching rule is reported (explain, logs). An egress `to` is "*", an IP address, a CIDR,
// or a host name, which matches the addresses it resolved to when the sandbox started.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address for every rule.

/** An IP address: 4 bytes (IPv4, also for v4-mapped IPv6) or 16 (IPv6). */
export type IpBytes = Uint8Array;

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** A v4-mapped IPv6 address as its IPv4 address; anything else unchanged. */
export function unmapV4(b: IpBytes): IpBytes {
  if (b.length === 16 && V4_MAPPED_PREFIX.every((v, i) => b[i] === v)) return b.slice(12);
  return b;
}

function parseV4(text: string): IpBytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

function parseV6(text: string): IpBytes | undefined {
  if (text.includes("%")) return undefined; // zone ids are not addresses of a rule
  let head = text;
  let v4: IpBytes | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const group = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = group(halves[0]!);
  const right = halves.length === 2 ? group(halves[1]!) : [];
  if (left === undefined || right === undefined) return undefined;
  const groups = halves.length === 2 ? left.length + right.length : left.length;
  if (halves.length === 2 ? groups > 7 : groups !== 8) return undefined;
  const all = [...left, ...new Array<number>(8 - groups).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4 !== undefined) out.set(v4, 12);
  return out;
}

/** An IPv4 or IPv6 address in its written form, or undefined. v4-mapped IPv6 gives IPv4. */
export function parseIp(text: string): IpBytes | undefined {
  const b = text.includes(":") ? parseV6(text) : parseV4(text);
  return b === undefined ? undefined : unmapV4(b);
}

/** The written form of an address (IPv6 without "::" compression: for messages and tests). */
export function formatIp(b: IpBytes): string {
  if (b.length === 4) return Array.from(b).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(":");
}

export interface Cidr {
  readonly bytes: IpBytes;
  readonly prefix: number;
}

/** A CIDR ("10.0.0.0/8", "2001:db8::/32") or one address (a /32 or /128), or a message. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const written = addrText.includes(":") ? parseV6(addrText) : parseV4(addrText);
  if (written === undefined) return `expected an IP address or a CIDR such as 10.0.0.0/8, got ${JSON.stringify(text)}`;
  const bits = written.length * 8;
  if (slash < 0) return { bytes: unmapV4(written), prefix: unmapV4(written).length * 8 };
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(prefixText) || Number(prefixText) > bits) {
    return `prefix /${prefixText} is not valid for ${bits === 32 ? "IPv4" : "IPv6"} (0-${bits}), in ${JSON.stringify(text)}`;
  }
  const prefix = Number(prefixText);
  const net = written.slice();
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    net[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  if (net.some((v, i) => v !== written[i])) {
    const fixed = `${written.length === 4 ? formatIp(net) : formatV6Short(net)}/${prefix}`;
    return `${JSON.stringify(text)} has host bits set (did you mean ${fixed}?)`;
  }
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
  const unmapped = unmapV4(net);
  if (unmapped.length === 4 && written.length === 16) {
    if (prefix < 96) return { bytes: net, prefix };
    return { bytes: unmapped, prefix: prefix - 96 };
  }
  return { bytes: net, prefix };
}

/** IPv6 with the longest run of zero groups written as "::". */
function formatV6Short(b: IpBytes): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

export function cidrContains(c: Cidr, addr: IpBytes): boolean {
  if (c.bytes.length !== addr.length) return false;
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefix - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((addr[i]! & mask) !== c.bytes[i]) return false;
  }
  return true;
}

/** 127.0.0.0/8, ::1, and the unspecified addresses (connecting to them reaches loopback). */
export function isLocalAddress(addr: IpBytes): boolean {
  if (addr.length === 4) return addr[0] === 127 || addr.every((v) => v === 0);
  return addr.subarray(0, 15).every((v) => v === 0) && (addr[15] === 1 || addr[15] === 0);
}

// ---------------------------------------------------------------------------------------------
// Ports

export type PortRange = readonly [number, number];
export type PortSpec = number | string;

/** Why one port or range is invalid, or its range. */
export function parsePortSpec(spec: unknown): PortRange | string {
  const bad = `expected a port or a range like 8000-8080, got ${typeof spec === "string" ? JSON.stringify(spec) : String(spec)}`;
  const one = (v: number): string | undefined => (v >= 1 && v <= 65535 ? undefined : `port ${v} is out of range (1-65535)`);
  if (typeof spec === "number") {
    if (!Number.isInteger(spec)) return bad;
    return one(spec) ?? [spec, spec];
  }
  if (typeof spec !== "string") return bad;
  const m = /^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$/.exec(spec);
  if (m === null) return bad;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  const msg = one(lo) ?? one(hi);
  if (msg !== undefined) return msg;
  if (hi < lo) return `range ${JSON.stringify(spec)} ends before it starts`;
  return [lo, hi];
}

/** The ranges of a `ports` field (one spec or a list); throws on invalid input (validated by the schema). */
export function portRanges(ports: PortSpec | readonly PortSpec[] | undefined): PortRange[] | undefined {
  if (ports === undefined) return undefined;
  const list = Array.isArray(ports) ? (ports as readonly PortSpec[]) : [ports as PortSpec];
  return list.map((p) => {
    const r = parsePortSpec(p);
    if (typeof r === "string") throw new Error(r);
    return r;
  });
}

function portMatches(ranges: readonly PortRange[] | undefined, port: number): boolean {
  return ranges === undefined || ranges.some(([lo, hi]) => port >= lo && port <= hi);
}

// ---------------------------------------------------------------------------------------------
// Egress targets

export type EgressTarget =
  | { readonly kind: "any" }
  | { readonly kind: "cidr"; readonly cidr: Cidr }
  | { readonly kind: "name"; readonly name: string };

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** An egress `to`: "*", an address, a CIDR, or a host name; or a message. */
export function parseEgressTarget(text: string): EgressTarget | string {
  if (text === "*") return { kind: "any" };
  if (text.includes("/") || text.includes(":") || /^[0-9.]+$/.test(text)) {
    const c = parseCidr(text);
    return typeof c === "string" ? c : { kind: "cidr", cidr: c };
  }
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  const labels = name.split(".");
  if (name.length > 253 || labels.some((l) => !HOST_LABEL.test(l)) || /^[0-9]+$/.test(labels.at(-1)!)) {
    return `expected an IP address, a CIDR such as 10.0.0.0/8, a host name or "*", got ${JSON.stringify(text)}`;
  }
  return { kind: "name", name: name.toLowerCase() };
}

// ---------------------------------------------------------------------------------------------
// Decisions

/** network.mode values. */
export const NETWORK_MODES = ["none", "host", "proxy"] as const;

export type Protocol = "tcp" | "udp" | "any";

/** The policy's network section, as far as these decisions read it (schema.ts). */
export interface NetworkRulesInput {
  readonly mode: (typeof NETWORK_MODES)[number];
  readonly egress?: readonly { readonly to: string; readonly ports?: PortSpec | readonly PortSpec[]; readonly protocol?: Protocol }[];
  readonly bind?: readonly { readonly ports: PortSpec | readonly PortSpec[]; readonly protocol?: Protocol }[];
  /** Unix sockets beyond the sandbox's own the workload may reach, by path pattern. */
  readonly unix?: readonly string[];
}

interface CompiledEgress {
  readonly target: EgressTarget;
  readonly ports: readonly PortRange[] | undefined;
  readonly protocol: Protocol;
}
interface CompiledBind {
  readonly ports: readonly PortRange[];
  readonly protocol: Protocol;
}
interface Compiled {
  readonly egress: readonly CompiledEgress[];
  readonly bind: readonly CompiledBind[] | undefined;
}

const compiledCache = new WeakMap<object, Compiled>();

function compiled(net: NetworkRulesInput): Compiled {
  let c = compiledCache.get(net);
  if (c !== undefined) return c;
  c = {
    egress: (net.egress ?? []).map((r) => {
      const target = parseEgressTarget(r.to);
      if (typeof target === "string") throw new Error(target);
      return { target, ports: portRanges(r.ports), protocol: r.protocol ?? "tcp" };
    }),
    bind: net.bind?.map((r) => ({ ports: portRanges(r.ports)!, protocol: r.protocol ?? "any" })),
  };
  compiledCache.set(net, c);
  return c;
}

/** A connect's or bind's protocol as the socket says (SO_PROTOCOL): "other" for neither TCP nor UDP. */
export type SocketProtocol = "tcp" | "udp" | "other";

function protocolMatches(rule: Protocol, p: SocketProtocol): boolean {
  return rule === "any" || rule === p;
}

export interface EgressQuery {
  /** The destination: bytes (4 or 16) or its written form. */
  readonly address: IpBytes | string;
  readonly port: number;
  readonly protocol: SocketProtocol;
  /** Host names of `to` rules and the addresses each resolved to (resolved at start-up). */
  readonly hostNames?: Readonly<Record<string, readonly string[]>>;
}

export type EgressDecision =
  /** Allowed by egress[rule]: the sentry carries the connection to the host's network. */
  | { readonly verdict: "allow"; readonly rule: number }
  /** Not carried: loopback or unspecified, the sandbox's own. */
  | { readonly verdict: "local" }
  /** No rule allows it (EACCES); or the mode carries nothing (none: ENETUNREACH). */
  | { readonly verdict: "deny" }
  /** mode host: the host's network, nothing decided. */
  | { readonly verdict: "host" };

function toBytes(a: IpBytes | string): IpBytes {
  if (typeof a !== "string") return unmapV4(a);
  const b = parseIp(a);
  if (b === undefined) throw new Error(`not an IP address: ${JSON.stringify(a)}`);
  return b;
}

function sameBytes(a: IpBytes, b: IpBytes): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The decision on a connect to address:port under the policy's network section. */
export function egressDecision(net: NetworkRulesInput, q: EgressQuery): EgressDecision {
  if (net.mode === "host") return { verdict: "host" };
  const addr = toBytes(q.address);
  if (isLocalAddress(addr)) return { verdict: "local" };
  if (net.mode !== "proxy") return { verdict: "deny" };
  const rules = compiled(net).egress;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (!protocolMatches(r.protocol, q.protocol) || !portMatches(r.ports, q.port)) continue;
    const t = r.target;
    if (t.kind === "any") return { verdict: "allow", rule: i };
    if (t.kind === "cidr" && cidrContains(t.cidr, addr)) return { verdict: "allow", rule: i };
    if (t.kind === "name") {
      const resolved = q.hostNames?.[t.name] ?? [];
      if (resolved.some((a) => { const b = parseIp(a); return b !== undefined && sameBytes(b, addr); })) {
        return { verdict: "allow", rule: i };
      }
    }
  }
  return { verdict: "deny" };
}

export type BindDecision =
  /** Allowed by bind[rule]; rule is undefined when no rules apply (port 0, or no `bind`). */
  | { readonly verdict: "allow"; readonly rule: number | undefined }
  | { readonly verdict: "deny" };

/** The decision on binding an AF_INET/AF_INET6 socket of this protocol to port. */
export function bindDecision(net: NetworkRulesInput, q: { readonly port: number; readonly protocol: SocketProtocol }): BindDecision {
  const rules = compiled(net).bind;
  if (rules === undefined || net.mode === "none" || q.port === 0) return { verdict: "allow", rule: undefined };
  const i = rules.findIndex((r) => protocolMatches(r.protocol, q.protocol) && portMatches(r.ports, q.port));
  return i >= 0 ? { verdict: "allow", rule: i } : { verdict: "deny" };
}

/** Host names the egress rules name (lowercase, without a trailing dot), with their rule index. */
export function egressHostNames(net: NetworkRulesInput): { name: string; rule: number }[] {
  const out: { name: string; rule: number }[] = [];
  (net.egress ?? []).forEach((r, i) => {
    const t = parseEgressTarget(r.to);
    if (typeof t !== "string" && t.kind === "name") out.push({ name: t.name, rule: i });
  });
  return out;
}

/** The IP address and port of a struct sockaddr_in / sockaddr_in6, or undefined when too short. */
export function sockaddrInet(addr: Uint8Array): { address: IpBytes; port: number; family: number } | undefined {
  if (addr.length < 4) return undefined;
  const family = addr[0]! | (addr[1]! << 8);
  const port = (addr[2]! << 8) | addr[3]!;
  if (family === 2 && addr.length >= 16) return { family, port, address: addr.slice(4, 8) };
  if (family === 10 && addr.length >= 24) return { family, port, address: unmapV4(addr.slice(8, 24)) };
  return undefined;
}
