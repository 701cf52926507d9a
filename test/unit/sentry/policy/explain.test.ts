// policy explain: the decision, the rule (file:line) and the layer, for each kind of action.
import { describe, expect, it } from "vitest";
import { explainConnect, explainExec, explainOpen, explainSyscall } from "../../../../sentry/filter/explain.js";
import { parsePolicy } from "../../../../sentry/policy/load.js";

const TEXT = `apiVersion: runsc-ts/v1
kind: Policy
name: explained
syscalls:
  deny: [getpid]
  allow: [ptrace]
  rules:
    - names: [socket]
      args: [{ index: 0, op: eq, value: 17 }]
      action: errno(EACCES)
filesystem:
  rules:
    - { path: /secret/**, access: none }
    - { path: /data/**, access: read-write }
process:
  exec:
    allow: [/usr/**]
`;
const policy = parsePolicy(TEXT, "p.yaml");
/** A locate that names the field path instead of a line: the tests check which field. */
const locate = (path: readonly PropertyKey[]): string => `p.yaml@${path.join(".")}`;
const none = new Map<number, bigint>();

describe("explainSyscall", () => {
  it.each([
    ["getpid", none, "errno(EPERM)", "p.yaml@syscalls.deny.0", "BPF"],
    ["ptrace", none, "allow", "p.yaml@syscalls.allow.0", "BPF"],
    ["socket", new Map([[0, 17n]]), "errno(EACCES)", "p.yaml@syscalls.rules.0", "BPF"],
    ["socket", new Map([[0, 2n]]), "allow", "the built-in syscall table (kernel)", "BPF"],
    ["bpf", none, "errno(EPERM)", "the built-in syscall table (denied)", "BPF"],
    ["clone", new Map([[0, 0x10000000n]]), "errno(EPERM)", "an argument rule of the built-in syscall table", "BPF"],
    ["execve", none, "trap to the sentry", "p.yaml@process.exec", "sentry"],
    ["connect", none, "trap to the sentry", "p.yaml@network.mode", "sentry"],
  ] as const)("%s %o: %s because %s, in %s", (name, args, decision, because, layer) => {
    const e = explainSyscall(policy, locate, name, args);
    expect(e.decision.startsWith(decision), e.decision).toBe(true);
    expect(e.because.startsWith(because), e.because).toBe(true);
    expect(e.layer).toBe(layer);
  });

  it.each(["kill", "tgkill", "pidfd_send_signal"])("%s under process.signals self: decided by the sentry on the target", (name) => {
    const self = parsePolicy(`${TEXT}  signals: self\n`, "p.yaml");
    const e = explainSyscall(self, locate, name, new Map([[0, 7n], [1, 15n]]));
    expect(e.decision).toMatch(/^trap to the sentry, which decides on the target: the caller's own thread group .* EPERM/);
    expect(e.because).toBe("p.yaml@process.signals process.signals self");
    expect(e.layer).toBe("sentry");
  });

  it("kill under process.signals sandbox: the kernel, confined by the PID namespace", () => {
    const e = explainSyscall(policy, locate, "kill", new Map([[0, 7n], [1, 15n]]));
    expect(e.decision).toBe("allow");
    expect(e.because).toBe("the built-in syscall table (kernel): targets are confined by the PID namespace");
    expect(e.layer).toBe("BPF");
  });

  it("refuses an unknown syscall", () => {
    expect(() => explainSyscall(policy, locate, "getpidd", none)).toThrow(/unknown syscall/);
  });
});

describe("explainOpen, explainExec, explainConnect", () => {
  it.each([
    ["/secret/key", "r", "denied: ENOENT", "p.yaml@filesystem.rules.0", "mount"],
    ["/data/x", "w", "allowed", "p.yaml@filesystem.rules.1", "mount"],
    ["/etc/passwd", "w", "denied: EROFS", "p.yaml@filesystem.root", "mount"],
    ["/tmp/x", "w", "allowed: a private tmpfs", "p.yaml@filesystem.tmp", "mount"],
    ["/etc/passwd", "r", "allowed", "nothing hides it", "host permissions"],
    ["/usr/bin/ls", "x", "allowed", "p.yaml@process.exec.allow.0", "sentry"],
    ["/opt/tool", "x", "denied: EACCES", "p.yaml@process.exec.allow", "sentry"],
    ["/tmp/tool", "x", "denied: EACCES", "p.yaml@process.exec.allow", "mount"],
  ] as const)("%s for %s: %s because %s, in %s", (path, mode, decision, because, layer) => {
    const e = mode === "x" ? explainExec(policy, locate, path) : explainOpen(policy, locate, path, mode);
    expect(e.decision.startsWith(decision), e.decision).toBe(true);
    expect(e.because.startsWith(because), e.because).toBe(true);
    expect(e.layer).toBe(layer);
  });

  it("open for writing under an overlay root: allowed in the overlay, by the sentry; rules and /tmp decide as before", () => {
    const overlay = { ...policy, filesystem: { ...policy.filesystem, root: "overlay" as const } };
    const e = explainOpen(overlay, locate, "/etc/passwd", "w");
    expect(e.decision).toMatch(/^allowed: written to the overlay's in-memory layer, never to the host/);
    expect(e).toMatchObject({ because: "p.yaml@filesystem.root filesystem.root overlay", layer: "sentry" });
    expect(explainOpen(overlay, locate, "/secret/key", "w").decision).toMatch(/^denied: ENOENT/);
    expect(explainOpen(overlay, locate, "/tmp/x", "w").decision).toMatch(/^allowed: a private tmpfs/);
  });

  it("connect: loopback only, to the sandbox's own; host mode reaches the host", () => {
    expect(explainConnect(policy, locate, "127.0.0.1:80").decision).toMatch(/^allowed, to the sandbox's own loopback/);
    expect(explainConnect(policy, locate, "[::1]:80").decision).toMatch(/^allowed/);
    expect(explainConnect(policy, locate, "10.1.2.3:5432").decision).toMatch(/^denied: ENETUNREACH/);
    const host = { ...policy, network: { mode: "host" as const } };
    expect(explainConnect(host, locate, "10.1.2.3:5432").decision).toMatch(/^allowed: the host's network/);
    expect(() => explainConnect(policy, locate, "example..org:443")).toThrow(/expected ADDRESS:PORT/);
    expect(() => explainConnect(policy, locate, "10.1.2.3:70000")).toThrow(/expected ADDRESS:PORT/);
  });
});

describe("explainOpen and explainExec with globs", () => {
  const globs = parsePolicy(
    `apiVersion: runsc-ts/v1
kind: Policy
name: globs
filesystem:
  rules:
    - { path: /home/alice/**, access: read-write }
    - { path: /home/*/.ssh/**, access: none }
process:
  exec:
    allow: [/usr/lib/python3*/bin/*]
`,
    "g.yaml",
  );

  it.each([
    ["/home/alice/.ssh/id", "r", "denied: ENOENT", "p.yaml@filesystem.rules.1 filesystem.rules[1] /home/*/.ssh/** (a glob: mounts cover the paths it matches when the sandbox starts) access none", "mount"],
    ["/home/bob/.ssh/id", "w", "denied: ENOENT", "p.yaml@filesystem.rules.1", "mount"],
    ["/home/alice/notes", "w", "allowed", "p.yaml@filesystem.rules.0 filesystem.rules[0] /home/alice/** access read-write", "mount"],
    ["/usr/lib/python3.11/bin/tool", "x", "allowed", "p.yaml@process.exec.allow.0 process.exec.allow[0] /usr/lib/python3*/bin/* (a glob)", "sentry"],
    ["/usr/lib/python2.7/bin/tool", "x", "denied: EACCES", "p.yaml@process.exec.allow", "sentry"],
  ] as const)("%s for %s: %s because %s", (path, mode, decision, because, layer) => {
    const e = mode === "x" ? explainExec(globs, locate, path) : explainOpen(globs, locate, path, mode);
    expect(e.decision.startsWith(decision), e.decision).toBe(true);
    expect(e.because.startsWith(because), e.because).toBe(true);
    expect(e.layer).toBe(layer);
  });
});

describe("explainOpen with the rules as the mounts apply them (symlinks followed)", () => {
  const allowlist = parsePolicy(
    `apiVersion: runsc-ts/v1
kind: Policy
name: t
filesystem:
  rules:
    - { path: /**, access: none }
    - { path: /bin/**, access: read }
`,
    "a.yaml",
  );
  // /bin -> usr/bin, as on a merged-/usr system.
  const resolve = (p: string): string | undefined => p.replace(/^\/bin(?=\/|$)/, "/usr/bin");

  it("a rule on a symlinked directory covers the directory it leads to, and names the rule as written", () => {
    const e = explainOpen(allowlist, locate, "/usr/bin/dash", "r", resolve);
    expect(e.decision).toMatch(/^allowed/);
    expect(e.because).toBe("p.yaml@filesystem.rules.1 filesystem.rules[1] /bin/** access read");
  });

  it("without the resolver the rule is matched as written (what a pure caller gets)", () => {
    expect(explainOpen(allowlist, locate, "/usr/bin/dash", "r").decision).toMatch(/^denied/);
    expect(explainOpen(allowlist, locate, "/etc/passwd", "r", resolve).decision).toMatch(/^denied/);
  });
});

describe("explainConnect and the loopback's names", () => {
  it("localhost is the sandbox's own loopback, under none as under proxy", () => {
    for (const mode of ["none", "proxy"] as const) {
      const p = { ...policy, network: { ...policy.network, mode } };
      expect(explainConnect(p, locate, "localhost:80").decision, mode).toMatch(/^allowed, to the sandbox's own loopback/);
      expect(explainConnect(p, locate, "db.localhost:5432").decision, mode).toMatch(/^allowed, to the sandbox's own loopback/);
    }
    expect(explainConnect({ ...policy, network: { ...policy.network, mode: "none" } }, locate, "example.org:80").decision).toMatch(/^denied/);
  });
});
