// network.egress and network.bind: addresses, CIDRs and port ranges, the pure decisions,
// the schema's errors (with line:col), the BPF side of proxy mode, explain, and the start-up
// resolution of egress host names.
import { describe, expect, it } from "vitest";
import { EOPNOTSUPP, ENOPROTOOPT } from "../../../../platform/abi/errno.js";
import { sysnoByName } from "../../../../platform/abi/sysno_amd64.js";
import { compilePolicy } from "../../../../sentry/filter/compile.js";
import { evaluateDecision } from "../../../../sentry/policy/decision.js";
import { explainBind, explainConnect } from "../../../../sentry/filter/explain.js";
import { PolicyError } from "../../../../sentry/policy/files.js";
import { parsePolicy } from "../../../../sentry/policy/load.js";
import {
  bindDecision,
  egressDecision,
  formatIp,
  isLocalAddress,
  parseCidr,
  parseEgressTarget,
  parseIp,
  parsePortSpec,
  sockaddrInet,
} from "../../../../sentry/policy/network.js";
import type { NetworkRulesInput } from "../../../../sentry/policy/network.js";
import { resolveEgressHosts, withEgressHosts } from "../../../../runsc/sandbox/egressHosts.js";
import { errorLines, HEAD } from "../../../helpers/policyErrors.js";


describe("addresses", () => {
  it.each([
    ["10.1.2.3", "10.1.2.3"],
    ["0.0.0.0", "0.0.0.0"],
    ["::1", "0:0:0:0:0:0:0:1"],
    ["2001:db8::7", "2001:db8:0:0:0:0:0:7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:c000:0207", "192.0.2.7"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ])("parseIp(%s) = %s", (text, want) => {
    expect(formatIp(parseIp(text)!)).toBe(want);
  });

  it.each(["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "1::2::3", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "", "x"])(
    "parseIp(%s) is not an address",
    (text) => {
      expect(parseIp(text)).toBeUndefined();
    },
  );

  it.each([
    ["10.0.0.0/8", "10.0.0.0", 8],
    ["192.0.2.7", "192.0.2.7", 32],
    ["0.0.0.0/0", "0.0.0.0", 0],
    ["2001:db8::/32", "2001:db8:0:0:0:0:0:0", 32],
    ["::ffff:10.0.0.0/104", "10.0.0.0", 8],
  ])("parseCidr(%s)", (text, bytes, prefix) => {
    const c = parseCidr(text);
    expect(typeof c).toBe("object");
    if (typeof c === "string") return;
    expect([formatIp(c.bytes), c.prefix]).toEqual([bytes, prefix]);
  });

  it.each([
    ["10.0.0.1/8", '"10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)'],
    ["2001:db8::1/32", '"2001:db8::1/32" has host bits set (did you mean 2001:db8::/32?)'],
    ["10.0.0.0/33", 'prefix /33 is not valid for IPv4 (0-32), in "10.0.0.0/33"'],
    ["2001:db8::/129", 'prefix /129 is not valid for IPv6 (0-128), in "2001:db8::/129"'],
    ["10.0.0.0/x", 'prefix /x is not valid for IPv4 (0-32), in "10.0.0.0/x"'],
    ["10.0.0/8", 'expected an IP address or a CIDR such as 10.0.0.0/8, got "10.0.0/8"'],
  ])("parseCidr(%s): %s", (text, message) => {
    expect(parseCidr(text)).toBe(message);
  });

  it("loopback and unspecified addresses are local, others not", () => {
    for (const a of ["127.0.0.1", "127.255.0.9", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1"]) expect(isLocalAddress(parseIp(a)!), a).toBe(true);
    for (const a of ["10.0.0.1", "192.0.2.2", "::2", "2001:db8::1", "128.0.0.1"]) expect(isLocalAddress(parseIp(a)!), a).toBe(false);
  });

  it("egress targets: *, addresses, CIDRs and host names; numbers are never names", () => {
    expect(parseEgressTarget("*")).toEqual({ kind: "any" });
    expect(parseEgressTarget("DB.Internal.")).toEqual({ kind: "name", name: "db.internal" });
    expect(parseEgressTarget("999.1.1.1")).toMatch(/expected an IP address/);
    expect(parseEgressTarget("host_name")).toMatch(/expected an IP address, a CIDR such as 10.0.0.0\/8, a host name or "\*"/);
    expect(parseEgressTarget("a.123")).toMatch(/a host name/);
  });

  it("sockaddr_in and sockaddr_in6 decode to address and port (v4-mapped as IPv4)", () => {
    const v4 = new Uint8Array(16);
    v4.set([2, 0, 0x1f, 0x90, 192, 0, 2, 7]);
    expect(sockaddrInet(v4)).toEqual({ family: 2, port: 8080, address: new Uint8Array([192, 0, 2, 7]) });
    const v6 = new Uint8Array(28);
    v6.set([10, 0, 1, 0xbb]);
    v6.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], 8);
    expect(sockaddrInet(v6)).toEqual({ family: 10, port: 443, address: new Uint8Array([10, 1, 2, 3]) });
    expect(sockaddrInet(v4.subarray(0, 8))).toBeUndefined();
  });
});

describe("ports", () => {
  it.each([
    [443, [443, 443]],
    ["8000-8080", [8000, 8080]],
    [" 22 ", [22, 22]],
    [65535, [65535, 65535]],
  ] as const)("parsePortSpec(%o)", (spec, want) => {
    expect(parsePortSpec(spec)).toEqual(want);
  });

  it.each([
    ["http", 'expected a port or a range like 8000-8080, got "http"'],
    [0, "port 0 is out of range (1-65535)"],
    [70000, "port 70000 is out of range (1-65535)"],
    ["8080-8000", 'range "8080-8000" ends before it starts'],
    [1.5, "expected a port or a range like 8000-8080, got 1.5"],
    ["1-2-3", 'expected a port or a range like 8000-8080, got "1-2-3"'],
  ] as const)("parsePortSpec(%o): %s", (spec, message) => {
    expect(parsePortSpec(spec)).toBe(message);
  });
});

describe("egressDecision", () => {
  const proxy: NetworkRulesInput = {
    mode: "proxy",
    egress: [
      { to: "10.0.0.0/8", ports: [5432] },
      { to: "192.0.2.7", ports: ["8000-8080", 443] },
      { to: "2001:db8::/32" },
      { to: "db.internal", ports: 443 },
      { to: "*", ports: 53, protocol: "any" },
    ],
  };
  const hostNames = { "db.internal": ["198.51.100.9", "2001:db8:ffff::9"] };
  it.each([
    ["10.9.8.7", 5432, { verdict: "allow", rule: 0 }],
    ["10.9.8.7", 5433, { verdict: "deny" }],
    ["11.0.0.1", 5432, { verdict: "deny" }],
    ["192.0.2.7", 8000, { verdict: "allow", rule: 1 }],
    ["192.0.2.7", 8080, { verdict: "allow", rule: 1 }],
    ["192.0.2.7", 8081, { verdict: "deny" }],
    ["192.0.2.7", 443, { verdict: "allow", rule: 1 }],
    ["192.0.2.8", 443, { verdict: "deny" }],
    ["::ffff:192.0.2.7", 443, { verdict: "allow", rule: 1 }],
    ["2001:db8:1::1", 22, { verdict: "allow", rule: 2 }],
    ["2001:db9::1", 22, { verdict: "deny" }],
    ["198.51.100.9", 443, { verdict: "allow", rule: 3 }],
    ["198.51.100.9", 80, { verdict: "deny" }],
    ["198.51.100.10", 443, { verdict: "deny" }],
    ["8.8.8.8", 53, { verdict: "allow", rule: 4 }],
    ["127.0.0.1", 5432, { verdict: "local" }],
    ["::1", 1, { verdict: "local" }],
    ["0.0.0.0", 80, { verdict: "local" }],
  ] as const)("proxy: %s port %d -> %o", (address, port, want) => {
    expect(egressDecision(proxy, { address, port, protocol: "tcp", hostNames })).toEqual(want);
  });

  it("host names match only the addresses they resolved to; absent resolution matches nothing", () => {
    expect(egressDecision(proxy, { address: "2001:db8:ffff::9", port: 443, protocol: "tcp", hostNames })).toEqual({ verdict: "allow", rule: 2 });
    expect(egressDecision(proxy, { address: "198.51.100.9", port: 443, protocol: "tcp" })).toEqual({ verdict: "deny" });
  });

  it("protocol: a tcp rule does not match udp, any does", () => {
    expect(egressDecision(proxy, { address: "10.0.0.1", port: 5432, protocol: "udp" })).toEqual({ verdict: "deny" });
    expect(egressDecision(proxy, { address: "8.8.8.8", port: 53, protocol: "udp" })).toEqual({ verdict: "allow", rule: 4 });
  });

  it("none denies beyond loopback, host decides nothing, proxy without rules denies", () => {
    expect(egressDecision({ mode: "none" }, { address: "10.0.0.1", port: 1, protocol: "tcp" })).toEqual({ verdict: "deny" });
    expect(egressDecision({ mode: "host" }, { address: "10.0.0.1", port: 1, protocol: "tcp" })).toEqual({ verdict: "host" });
    expect(egressDecision({ mode: "proxy" }, { address: "10.0.0.1", port: 1, protocol: "tcp" })).toEqual({ verdict: "deny" });
  });
});

describe("bindDecision", () => {
  const host: NetworkRulesInput = {
    mode: "host",
    bind: [
      { ports: 8080, protocol: "tcp" },
      { ports: ["9000-9010", 53], protocol: "udp" },
      { ports: "7000-7001" },
    ],
  };
  it.each([
    [8080, "tcp", { verdict: "allow", rule: 0 }],
    [8080, "udp", { verdict: "deny" }],
    [9005, "udp", { verdict: "allow", rule: 1 }],
    [9005, "tcp", { verdict: "deny" }],
    [53, "udp", { verdict: "allow", rule: 1 }],
    [7001, "other", { verdict: "allow", rule: 2 }],
    [8081, "tcp", { verdict: "deny" }],
    [0, "tcp", { verdict: "allow", rule: undefined }],
    [0, "udp", { verdict: "allow", rule: undefined }],
  ] as const)("host: port %d %s -> %o", (port, protocol, want) => {
    expect(bindDecision(host, { port, protocol })).toEqual(want);
  });

  it("without bind rules any port may be bound", () => {
    expect(bindDecision({ mode: "host" }, { port: 22, protocol: "tcp" })).toEqual({ verdict: "allow", rule: undefined });
  });
});

describe("the schema", () => {
  const cases: { what: string; yaml: string; want: string[] }[] = [
    {
      what: "a port that is a word",
      yaml: `${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: "*", ports: 443 }\n    - { to: "*", ports: [80] }\n    - { to: 10.0.0.0/8, ports: http }\n`,
      want: ['p.yaml:9:32 network.egress[2].ports: expected a port or a range like 8000-8080, got "http"'],
    },
    {
      what: "a port in a list out of range, and a backwards range",
      yaml: `${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: "*", ports: [80, 70000, "90-80"] }\n`,
      want: [
        "p.yaml:7:30 network.egress[0].ports[1]: port 70000 is out of range (1-65535)",
        'p.yaml:7:37 network.egress[0].ports[2]: range "90-80" ends before it starts',
      ],
    },
    {
      what: "a CIDR with host bits set",
      yaml: `${HEAD}network:\n  mode: proxy\n  egress:\n    - to: 10.0.0.1/8\n`,
      want: ['p.yaml:7:11 network.egress[0].to: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)'],
    },
    {
      what: "a bad prefix",
      yaml: `${HEAD}network:\n  mode: proxy\n  egress:\n    - to: 2001:db8::/200\n`,
      want: ['p.yaml:7:11 network.egress[0].to: prefix /200 is not valid for IPv6 (0-128), in "2001:db8::/200"'],
    },
    {
      what: "egress with mode host",
      yaml: `${HEAD}network:\n  mode: host\n  egress:\n    - to: "*"\n`,
      want: ["p.yaml:7:5 network.egress: applies only with mode: proxy (host gives the host's whole network; none gives none)"],
    },
    {
      what: "egress with the default mode (none)",
      yaml: `${HEAD}network:\n  egress: []\n`,
      want: ["p.yaml:5:11 network.egress: applies only with mode: proxy (host gives the host's whole network; none gives none)"],
    },
    {
      what: "bind with mode none",
      yaml: `${HEAD}network:\n  mode: none\n  bind:\n    - ports: 80\n`,
      want: ["p.yaml:7:5 network.bind: applies only with mode: host or proxy (none has only the sandbox's own loopback)"],
    },
    {
      what: "a bind rule without ports, and an unknown key",
      yaml: `${HEAD}network:\n  mode: host\n  bind:\n    - { protocol: tcp, port: 80 }\n`,
      want: [
        'p.yaml:7:7 network.bind[0].ports: missing required key "ports"',
        'p.yaml:7:24 network.bind[0].port: unknown key "port" (did you mean "ports"?)',
      ],
    },
  ];
  it.each(cases)("$what", ({ yaml, want }) => {
    expect(errorLines(() => parsePolicy(yaml, "p.yaml"))).toEqual(want);
  });

  it("accepts the language and fills defaults (egress tcp, bind any)", () => {
    const p = parsePolicy(
      `${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: db.internal, ports: [443, "8000-8080"] }\n    - to: "2001:db8::/32"\n  bind:\n    - ports: 8080\n`,
      "p.yaml",
    );
    expect(p.network).toEqual({
      mode: "proxy",
      egress: [
        { to: "db.internal", ports: [443, "8000-8080"], protocol: "tcp" },
        { to: "2001:db8::/32", protocol: "tcp" },
      ],
      bind: [{ ports: 8080, protocol: "any" }],
    });
  });
});

describe("compile: what proxy and host-with-bind trap or refuse in BPF", () => {
  const base = parsePolicy(`${HEAD}network:\n  mode: proxy\n  egress: [{ to: "*" }]\n`, "p.yaml");
  const c = compilePolicy(base);
  const at = (name: string, args: Record<number, bigint> = {}) =>
    evaluateDecision(c.decisions[sysnoByName(name)!]!, (i) => args[i] ?? 0n);

  it("traps connect, bind, listen and sendto with an address", () => {
    expect(at("connect").kind).toBe("trap");
    expect(at("bind").kind).toBe("trap");
    expect(at("listen").kind).toBe("trap");
    expect(at("sendto", { 4: 0x1000n }).kind).toBe("trap");
    expect(at("sendto").kind).toBe("allow");
  });

  it("refuses TCP Fast Open in BPF: MSG_FASTOPEN and TCP_FASTOPEN_CONNECT (upper register bits ignored)", () => {
    expect(at("sendto", { 3: 0x20000000n })).toEqual({ kind: "errno", errno: EOPNOTSUPP });
    expect(at("sendmsg", { 2: 0x20000040n })).toEqual({ kind: "errno", errno: EOPNOTSUPP });
    expect(at("sendmmsg", { 3: 0x20000000n })).toEqual({ kind: "errno", errno: EOPNOTSUPP });
    // Without MSG_FASTOPEN the message goes to the sentry, which decides its address.
    expect(at("sendmsg", { 2: 0x40n }).kind).toBe("trap");
    expect(at("setsockopt", { 1: 6n, 2: 30n })).toEqual({ kind: "errno", errno: ENOPROTOOPT });
    expect(at("setsockopt", { 1: 0xffffffff00000006n, 2: 0x100000001en })).toEqual({ kind: "errno", errno: ENOPROTOOPT });
    expect(at("setsockopt", { 1: 6n, 2: 1n }).kind).toBe("allow");
  });

  it("host with bind traps bind only; host without leaves both to the kernel", () => {
    const withBind = compilePolicy(parsePolicy(`${HEAD}network:\n  mode: host\n  bind: [{ ports: 80 }]\n`, "p.yaml"));
    const plain = compilePolicy(parsePolicy(`${HEAD}network:\n  mode: host\n`, "p.yaml"));
    const kind = (cp: typeof c, name: string) => evaluateDecision(cp.decisions[sysnoByName(name)!]!, () => 0n).kind;
    expect([kind(withBind, "bind"), kind(withBind, "listen"), kind(withBind, "connect")]).toEqual(["trap", "allow", "allow"]);
    expect([kind(plain, "bind"), kind(plain, "listen"), kind(plain, "setsockopt")]).toEqual(["allow", "allow", "allow"]);
  });
});

describe("explain --connect and --bind", () => {
  const text = `${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: 10.0.0.0/8, ports: 5432 }\n    - { to: db.internal, ports: 443 }\n  bind:\n    - ports: "8000-8080"\n`;
  const policy = parsePolicy(text, "p.yaml");
  const locate = (path: readonly PropertyKey[]): string => `p.yaml@${path.join(".")}`;
  it.each([
    ["10.1.2.3:5432", "allowed: the sentry connects it", "p.yaml@network.egress.0", "sentry"],
    ["10.1.2.3:5433", "denied: EACCES", "p.yaml@network.egress", "sentry"],
    ["[2001:db8::1]:443", "denied: EACCES", "p.yaml@network.egress", "sentry"],
    ["db.internal:443", "allowed", "p.yaml@network.egress.1", "sentry"],
    ["other.internal:443", "denied: EACCES", "p.yaml@network.egress", "sentry"],
    ["127.0.0.1:5432", "allowed, to the sandbox's own loopback", "p.yaml@network.mode", "namespace"],
    ["[::1]:1", "allowed, to the sandbox's own loopback", "p.yaml@network.mode", "namespace"],
  ])("%s: %s because %s, in %s", (target, decision, because, layer) => {
    const e = explainConnect(policy, locate, target);
    expect(e.decision.startsWith(decision), e.decision).toBe(true);
    expect(e.because.startsWith(because), e.because).toBe(true);
    expect(e.layer).toBe(layer);
  });

  it("the layer: namespace for none, host for host", () => {
    expect(explainConnect({ ...policy, network: { mode: "none" } }, locate, "10.1.2.3:5432")).toMatchObject({ layer: "namespace", decision: expect.stringMatching(/^denied: ENETUNREACH/) });
    expect(explainConnect({ ...policy, network: { mode: "host" } }, locate, "10.1.2.3:5432")).toMatchObject({ layer: "host", decision: expect.stringMatching(/^allowed/) });
  });

  it("--bind", () => {
    expect(explainBind(policy, locate, "8080")).toMatchObject({ decision: "allowed", because: "p.yaml@network.bind.0 network.bind[0]", layer: "sentry" });
    expect(explainBind(policy, locate, "22")).toMatchObject({ decision: "denied: EACCES", layer: "sentry" });
    expect(explainBind(policy, locate, "0").decision).toMatch(/ephemeral/);
    expect(() => explainBind(policy, locate, "http")).toThrow(/expected a port/);
  });
});

describe("egress host names at start-up", () => {
  const policy = parsePolicy(`${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: "*", ports: 1 }\n    - { to: DB.internal, ports: 443 }\n    - { to: cache.internal }\n`, "p.yaml");
  const table: Record<string, string[]> = { "db.internal": ["198.51.100.9", "2001:db8::9"], "cache.internal": ["198.51.100.10"] };
  const lookup = async (name: string) => {
    const found = table[name];
    if (found === undefined) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
    return found.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };

  it("resolves every name, lowercase, all addresses", async () => {
    expect(await resolveEgressHosts(policy, lookup)).toEqual(table);
  });

  it("an unresolvable name is an error naming its rule", async () => {
    const bad = parsePolicy(`${HEAD}network:\n  mode: proxy\n  egress:\n    - { to: "*", ports: 1 }\n    - { to: nowhere.internal }\n`, "p.yaml");
    await expect(resolveEgressHosts(bad, lookup)).rejects.toThrow('network.egress[1].to: cannot resolve host name "nowhere.internal" (ENOTFOUND)');
  });

  it("writes /etc/hosts: the base, then a line per name and address, as a synthetic file", () => {
    const p = withEgressHosts(policy, table, "127.0.0.1 localhost\n");
    expect(p.filesystem.files).toEqual([
      {
        path: "/etc/hosts",
        content: "127.0.0.1 localhost\n# network.egress host names\n198.51.100.10\tcache.internal\n198.51.100.9\tdb.internal\n2001:db8::9\tdb.internal\n",
      },
    ]);
    expect(withEgressHosts(policy, {}, "x")).toBe(policy);
    const own = { ...policy, filesystem: { ...policy.filesystem, files: [{ path: "/etc/hosts", content: "10.0.0.1 mine" }] } };
    expect(withEgressHosts(own, table, "ignored").filesystem.files).toEqual([
      { path: "/etc/hosts", content: expect.stringMatching(/^10\.0\.0\.1 mine\n# network\.egress host names\n/) },
    ]);
  });
});
