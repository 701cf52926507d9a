// extends: how a policy builds on another (policies/README.md), errors positioned at the
// extends key, and explain's file:line for merged fields.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { argValue } from "../../../../sentry/policy/language.js";
import { loadPolicyFile, loadPolicyWithSource, mergePolicies, PolicyError } from "../../../../sentry/policy/load.js";

const dir = mkdtempSync(join(tmpdir(), "runsc-ts-extends-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `apiVersion: runsc-ts/v1\nkind: Policy\nname: ${name.replace(/\.yaml$/, "")}\n${body}`);
  return path;
}

const base = write(
  "base.yaml",
  `syscalls:
  default: errno(EPERM)
  allow: [read, write, getpid]
  deny: [ptrace, getppid]
  rules:
    - { names: [socket], args: [{ index: 0, op: eq, value: 17 }], action: errno(EACCES) }
filesystem:
  root: readonly
  rules:
    - { path: /data/**, access: read-write }
    - { path: /secret, access: none }
network:
  mode: host
process:
  exec:
    allow: [/usr/**]
hostname: base-host
`,
);

describe("extends", () => {
  const child = write(
    "child.yaml",
    `extends: ./base.yaml
syscalls:
  allow: [getppid]
  deny: [getpid]
  rules:
    - { names: [socket], action: allow }
filesystem:
  rules:
    - { path: /data/**, access: read }
network:
  mode: none
process:
  exec:
    allow: [/usr/bin/true]
`,
  );

  it("merges as documented: the child's word wins, lists combine in a fixed order", () => {
    const p = loadPolicyFile(child);
    expect(p.name).toBe("child");
    expect(p.hostname).toBe("base-host"); // not set by the child: the parent's
    expect(p.syscalls.default).toBe("errno(EPERM)");
    expect(p.syscalls.allow).toEqual(["read", "write", "getppid"]); // getpid moved to deny
    expect(p.syscalls.deny).toEqual(["ptrace", "getpid"]); // getppid moved to allow
    expect(p.syscalls.rules.map((r) => r.action)).toEqual(["allow", "errno(EACCES)"]); // child's first
    expect(p.filesystem.rules).toEqual([
      { path: "/data/**", access: "read-write" },
      { path: "/secret", access: "none" },
      { path: "/data/**", access: "read" }, // the child's, later: wins for the same path
    ]);
    expect(p.network.mode).toBe("none");
    expect(p.process.exec?.allow).toEqual(["/usr/bin/true"]); // replaced, not joined
    expect("extends" in p).toBe(false);
  });

  it("extends a policy of the library by name", () => {
    const p = loadPolicyFile(write("lib.yaml", "extends: default\nnetwork:\n  mode: host\n"));
    expect(p.filesystem.rules.some((r) => r.path === "/etc/shadow" && r.access === "none")).toBe(true);
    expect(p.network.mode).toBe("host");
  });

  it("names each merged field's own file and line", () => {
    const { locate } = loadPolicyWithSource(child);
    expect(locate(["filesystem", "rules", 1])).toBe(`${base}:14`); // /secret, from the parent
    expect(locate(["filesystem", "rules", 2])).toBe(`${child}:12`); // the child's /data/**
    expect(locate(["syscalls", "rules", 0])).toBe(`${child}:9`);
    expect(locate(["syscalls", "rules", 1])).toBe(`${base}:9`);
    expect(locate(["syscalls", "deny", 0])).toBe(`${base}:7`); // ptrace
    expect(locate(["syscalls", "deny", 1])).toBe(`${child}:7`); // getpid
    expect(locate(["hostname"])).toBe(`${base}:20`);
    expect(locate(["network", "mode"])).toBe(`${child}:14`);
  });

  it("refuses a cycle, a missing parent and a merge that is not valid, at the extends key", () => {
    const a = write("a.yaml", "extends: b.yaml\n");
    write("b.yaml", "extends: ./a.yaml\n");
    expect(() => loadPolicyFile(a)).toThrow(PolicyError);
    expect(() => loadPolicyFile(a)).toThrow(/b\.yaml:4:10 extends: extends makes a cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml/);
    const missing = write("missing.yaml", "extends: nosuchpolicy\n");
    expect(() => loadPolicyFile(missing)).toThrow(/missing\.yaml:4:10 extends: cannot read policy: ENOENT/);
    const self = write("self.yaml", "extends: self.yaml\n");
    expect(() => loadPolicyFile(self)).toThrow(/self\.yaml:4:10 extends: extends makes a cycle/);
    // Each file must be valid on its own: an error in the parent names the parent.
    write("broken.yaml", "network:\n  mode: http\n");
    expect(() => loadPolicyFile(write("kid.yaml", "extends: broken.yaml\n"))).toThrow(/broken\.yaml:5:9 network\.mode/);
  });

  it("mergePolicies never mutates its inputs", () => {
    const parent = { syscalls: { allow: ["read"], deny: [] as string[], rules: [] as unknown[] } };
    const kid = { syscalls: { deny: ["read"] } };
    const merged = mergePolicies(parent, kid);
    expect(parent.syscalls.allow).toEqual(["read"]);
    expect((merged.syscalls as { allow: string[] }).allow).toEqual([]);
  });
});

describe("process.exec", () => {
  it("allows nothing is an error; entrypoint: true alone is a policy", () => {
    expect(() => loadPolicyFile(write("nothing.yaml", "process:\n  exec:\n    allow: []\n"))).toThrow(
      /nothing\.yaml:6:12 process\.exec\.allow: process\.exec allows nothing: list paths in allow, or set entrypoint: true/,
    );
    const p = loadPolicyFile(write("entry.yaml", "process:\n  exec:\n    entrypoint: true\n"));
    expect(p.process.exec).toEqual({ allow: [], entrypoint: true });
  });

  it("the library's strict policy runs only its entrypoint, on top of default", () => {
    const p = loadPolicyFile(join(__dirname, "../../../../policies/strict.yaml"));
    expect(p.process.exec).toEqual({ allow: [], entrypoint: true });
    expect(p.network.mode).toBe("none");
    expect(p.filesystem.root).toBe("readonly");
    expect(p.filesystem.rules.some((r) => r.path === "/etc/shadow" && r.access === "none")).toBe(true);
  });
});

describe("argument values by name", () => {
  it("takes AF_*, SOCK_*, CLONE_* and O_* names, joined with |", () => {
    const p = loadPolicyFile(
      write(
        "names.yaml",
        `syscalls:
  rules:
    - { names: [socket], args: [{ index: 0, op: eq, value: AF_INET6 }], action: errno(EAFNOSUPPORT) }
    - { names: [clone], args: [{ index: 0, op: masked-eq, mask: CLONE_NEWUSER|CLONE_NEWNET, value: 0 }], action: allow }
`,
      ),
    );
    expect(p.syscalls.rules[0]!.args[0]!.value).toBe("AF_INET6");
    expect(argValue("AF_INET6")).toBe(10n);
    expect(argValue("CLONE_NEWUSER|CLONE_NEWNET")).toBe(0x50000000n);
    expect(argValue("SOCK_STREAM|SOCK_CLOEXEC")).toBe(0x80001n);
    expect(argValue("O_CREAT")).toBe(0o100n);
  });

  it("a misspelt name is an error at its line, with a suggestion", () => {
    const path = write("typo.yaml", "syscalls:\n  rules:\n    - { names: [socket], args: [{ index: 0, op: eq, value: AF_UNXI }], action: allow }\n");
    expect(() => loadPolicyFile(path)).toThrow(/typo\.yaml:6:60 syscalls\.rules\[0\]\.args\[0\]\.value: unknown constant "AF_UNXI" \(did you mean "AF_UNIX"\?\)/);
  });
});
