// Policy loading: valid files parse with defaults, and every kind of mistake gets an exact FILE:LINE:COL message.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  defaultPoliciesDir,
  formatFieldPath,
  loadPolicyFile,
  parsePolicy,
  PolicyError,
  resolvePolicyPath,
} from "../../../../sentry/policy/load.js";
import { argValue, formatAction, parseAction } from "../../../../sentry/policy/schema.js";
import { errorLines, HEAD } from "../../../helpers/policyErrors.js";


describe("parsePolicy accepts", () => {
  it("a minimal policy and fills every default", () => {
    expect(parsePolicy(HEAD, "p.yaml")).toEqual({
      apiVersion: "runsc-ts/v1",
      kind: "Policy",
      name: "t",
      syscalls: { default: "allow", allow: [], deny: [], rules: [] },
      filesystem: { root: "readonly", overlay: { size: "25%" }, tmp: true, proc: { virtualize: [] }, files: [], rules: [] },
      network: { mode: "none" },
      process: { hostRoot: false, signals: "sandbox" },
      audit: false,
    });
  });

  it("every field of this version", () => {
    const p = parsePolicy(
      `# yaml-language-server: $schema=./schema.json
${HEAD}description: everything
syscalls:
  default: errno(EPERM)
  allow: [read, write, openat2]
  deny: [ptrace]
  rules:
    - names: [socket]
      args: [{ index: 0, op: eq, value: 17 }, { index: 1, op: masked-eq, value: "0x80000", mask: 0x80000 }]
      action: errno(EACCES)
    - { names: [kexec_load, init_module], action: kill }
filesystem:
  root: overlay
  tmp: false
  rules:
    - { path: /etc/shadow, access: none }
    - { path: /data/**, access: read-write }
    - { path: /**, access: read }
network:
  mode: host
process:
  exec:
    allow: [/usr/**, /bin/**, /opt/app/run]
hostname: box-1.example
audit: true
`,
      "p.yaml",
    );
    expect(p.syscalls.rules[0]?.args[1]).toEqual({ index: 1, op: "masked-eq", value: "0x80000", mask: 0x80000 });
    expect(p.syscalls.rules[1]?.args).toEqual([]);
    expect(p.filesystem.root).toBe("overlay");
    expect(p.process.exec?.allow).toEqual(["/usr/**", "/bin/**", "/opt/app/run"]);
    expect(p.hostname).toBe("box-1.example");
  });

  it("process.signals: self, and sandbox when absent", () => {
    expect(parsePolicy(`${HEAD}process:\n  signals: self\n`, "p.yaml").process.signals).toBe("self");
    expect(parsePolicy(`${HEAD}process:\n  signals: sandbox\n`, "p.yaml").process.signals).toBe("sandbox");
    expect(parsePolicy(`${HEAD}process:\n  maxProcesses: 5\n`, "p.yaml").process.signals).toBe("sandbox");
  });

  it("policies/default.yaml", () => {
    const file = resolvePolicyPath("default", defaultPoliciesDir());
    const p = loadPolicyFile(file);
    expect(p.name).toBe("default");
    expect(p.network.mode).toBe("none");
    expect(p.filesystem.root).toBe("readonly");
    expect(p.filesystem.rules.map((r) => r.path)).toContain("/etc/shadow");
    expect(p.filesystem.rules.every((r) => r.access === "none")).toBe(true);
  });
});

describe("parsePolicy reports", () => {
  const cases: { what: string; yaml: string; want: string[] }[] = [
    {
      what: "an exec allowlist the workload could overwrite under an overlay root (a file, a glob, a writable subtree)",
      yaml:
        `${HEAD}filesystem:\n  root: overlay\n  rules:\n    - { path: /usr/**, access: exec }\n    - { path: /usr/local/**, access: read-write }\n` +
        `process:\n  exec:\n    allow: [/usr/bin/python3.11, /opt/tool, /srv/bin/*, /usr/local/bin/x]\n`,
      want: [
        "p.yaml:11:34 process.exec.allow[1]: /opt/tool: under filesystem.root: overlay the workload may write its own file there, and it would run; add a rule that keeps it read-only ({ path: /opt/tool, access: exec })",
        "p.yaml:11:45 process.exec.allow[2]: /srv/bin/*: under filesystem.root: overlay the workload may write its own file there, and it would run; add a rule that keeps it read-only ({ path: /srv/bin/**, access: exec })",
        "p.yaml:11:57 process.exec.allow[3]: /usr/local/bin/x: under filesystem.root: overlay the workload may write its own file there, and it would run; add a rule that keeps it read-only ({ path: /usr/local/bin/x, access: exec })",
      ],
    },
    {
      what: "an unknown key, with a suggestion, at the key",
      yaml: `${HEAD}syscalls:\n  alow: [read]\n`,
      want: ['p.yaml:5:3 syscalls.alow: unknown key "alow" (did you mean "allow"?)'],
    },
    {
      what: "an unknown top-level key",
      yaml: `${HEAD}netwrk:\n  mode: none\n`,
      want: ['p.yaml:4:1 netwrk: unknown key "netwrk" (did you mean "network"?)'],
    },
    {
      what: "an unknown key with nothing close",
      yaml: `${HEAD}filesystem:\n  rules:\n    - { path: /x, access: none, recursive: true }\n`,
      want: ['p.yaml:6:33 filesystem.rules[0].recursive: unknown key "recursive"'],
    },
    {
      what: "a bad enum value, at the value",
      yaml: `${HEAD}network:\n  mode: http\n`,
      want: ['p.yaml:5:9 network.mode: expected one of none, host, proxy, got "http"'],
    },
    {
      what: "a relative network.unix path, at the entry",
      yaml: `${HEAD}network:\n  mode: host\n  unix: [/run/a.sock, run/b.sock]\n`,
      want: ['p.yaml:6:23 network.unix[1]: expected an absolute path starting with "/", got "run/b.sock"'],
    },
    {
      what: "an abstract network.unix name without a name",
      yaml: `${HEAD}network:\n  mode: host\n  unix: ["@"]\n`,
      want: ["p.yaml:6:10 network.unix[0]: expected @NAME, an abstract socket's name"],
    },
    {
      what: "a bad access value inside a sequence",
      yaml: `${HEAD}filesystem:\n  rules:\n    - { path: /a, access: none }\n    - { path: /b, access: write }\n`,
      want: ['p.yaml:7:27 filesystem.rules[1].access: expected one of none, read, read-write, exec, got "write"'],
    },
    {
      what: "an overlay size that is not a size",
      yaml: `${HEAD}filesystem:\n  root: overlay\n  overlay: { size: lots }\n`,
      want: ['p.yaml:6:20 filesystem.overlay.size: expected a size like 512m, 2g or 25% (of memory), got "lots"'],
    },
    {
      what: "an overlay size over all of memory",
      yaml: `${HEAD}filesystem:\n  overlay:\n    size: 150%\n`,
      want: ['p.yaml:6:11 filesystem.overlay.size: expected a size like 512m, 2g or 25% (of memory), got "150%"'],
    },
    {
      what: "an overlay directory that is a glob",
      yaml: `${HEAD}filesystem:\n  root: overlay\n  overlay: { dir: /var/lib/* }\n`,
      want: ["p.yaml:6:19 filesystem.overlay.dir: the overlay's directory is one path, not a glob or /"],
    },
    {
      what: "a /proc file that cannot be virtualised",
      yaml: `${HEAD}filesystem:\n  proc:\n    virtualize: [meminfo, mounts]\n`,
      want: ['p.yaml:6:27 filesystem.proc.virtualize[1]: expected one of meminfo, cpuinfo, stat, uptime, loadavg, got "mounts"'],
    },
    {
      what: "a wrong literal",
      yaml: "apiVersion: runsc-ts/v2\nkind: Policy\nname: t\n",
      want: ['p.yaml:1:13 apiVersion: expected "runsc-ts/v1", got "runsc-ts/v2"'],
    },
    {
      what: "a wrong type",
      yaml: `${HEAD}audit: yes\n`,
      want: ['p.yaml:4:8 audit: expected true or false, got "yes"'],
    },
    {
      what: "a bad syscall name, with a suggestion",
      yaml: `${HEAD}syscalls:\n  deny: [ptrace, opn]\n`,
      want: ['p.yaml:5:18 syscalls.deny[1]: unknown syscall "opn" (did you mean "open"?)'],
    },
    {
      what: "a syscall name suggested by prefix",
      yaml: `${HEAD}syscalls:\n  allow: [rt_sigact]\n`,
      want: ['p.yaml:5:11 syscalls.allow[0]: unknown syscall "rt_sigact" (did you mean "rt_sigaction"?)'],
    },
    {
      what: "a bad errno name, with a suggestion",
      yaml: `${HEAD}syscalls:\n  default: errno(EPRM)\n`,
      want: ['p.yaml:5:12 syscalls.default: unknown errno name "EPRM" (did you mean "EPERM"?)'],
    },
    {
      what: "a lower-case errno name",
      yaml: `${HEAD}syscalls:\n  rules:\n    - { names: [socket], action: errno(eacces) }\n`,
      want: ['p.yaml:6:34 syscalls.rules[0].action: unknown errno name "eacces" (did you mean "EACCES"?)'],
    },
    {
      what: "an action that is not one, listing the accepted forms",
      yaml: `${HEAD}syscalls:\n  default: deny\n`,
      want: [
        'p.yaml:5:12 syscalls.default: expected an action: allow, kill, trap, log or errno(NAME) such as errno(EPERM), got "deny"',
      ],
    },
    {
      what: "a malformed character class in a glob",
      yaml: `${HEAD}filesystem:\n  rules:\n    - { path: /etc/*.conf, access: none }\n    - { path: "/srv/[a-", access: none }\n    - { path: "/srv/[z-a]x", access: none }\n`,
      want: [
        'p.yaml:7:15 filesystem.rules[1].path: unterminated character class "[a-" in "/srv/[a-": close it with "]" (a literal "[" is written "[[]")',
        'p.yaml:8:15 filesystem.rules[2].path: character class range "z-a" is out of order in "/srv/[z-a]x"',
      ],
    },
    {
      what: "brace expansion, and a ** that is not a whole component, in exec paths",
      yaml: `${HEAD}process:\n  exec:\n    allow: [/usr/**/bin/*, "/opt/{a,b}/run", /a**b, /usr/lib/x**]\n`,
      want: [
        'p.yaml:6:28 process.exec.allow[1]: brace expansion is not supported: write one rule per alternative instead of "/opt/{a,b}/run" (a literal "{" is written "[{]")',
        'p.yaml:6:46 process.exec.allow[2]: "**" must be a whole path component (as in "/a/**/b"), got "a**b" in "/a**b"',
        'p.yaml:6:53 process.exec.allow[3]: "**" must be a whole path component (as in "/a/**/b"), got "x**" in "/usr/lib/x**"',
      ],
    },
    {
      what: "a glob as a synthetic file's path",
      yaml: `${HEAD}filesystem:\n  files:\n    - { path: /etc/host*, content: x }\n`,
      want: ['p.yaml:6:15 filesystem.files[0].path: a synthetic file is one path, not a glob'],
    },
    {
      what: "an unknown process.signals scope, at the value",
      yaml: `${HEAD}process:\n  signals: others\n`,
      want: ['p.yaml:5:12 process.signals: expected one of sandbox, self, got "others"'],
    },
    {
      what: "a process.signals that is not a string",
      yaml: `${HEAD}process:\n  signals: [self]\n`,
      want: ["p.yaml:5:12 process.signals: expected one of sandbox, self, got a sequence"],
    },
    {
      what: "a misspelt process.signals key, with a suggestion",
      yaml: `${HEAD}process:\n  signal: self\n`,
      want: ['p.yaml:5:3 process.signal: unknown key "signal" (did you mean "signals"?)'],
    },
    {
      what: "a relative path",
      yaml: `${HEAD}filesystem:\n  rules:\n    - { path: etc/shadow, access: none }\n`,
      want: ['p.yaml:6:15 filesystem.rules[0].path: expected an absolute path starting with "/", got "etc/shadow"'],
    },
    {
      what: "a missing required key, at the parent mapping",
      yaml: `${HEAD}filesystem:\n  rules:\n    - path: /x\n`,
      want: ['p.yaml:6:7 filesystem.rules[0].access: missing required key "access"'],
    },
    {
      what: "a missing top-level key, at the document's mapping",
      yaml: "# comment\napiVersion: runsc-ts/v1\nkind: Policy\n",
      want: ['p.yaml:2:1 name: missing required key "name"'],
    },
    {
      what: "an empty section",
      yaml: `${HEAD}network:\n`,
      want: ["p.yaml:4:1 network: expected a mapping, got null"],
    },
    {
      what: "masked-eq without a mask, and an arg value out of range",
      yaml: `${HEAD}syscalls:\n  rules:\n    - names: [ioctl]\n      args:\n        - { index: 6, op: masked-eq, value: 0xffffffffffffffff }\n      action: kill\n`,
      want: [
        "p.yaml:8:11 syscalls.rules[0].args[0].mask: op masked-eq needs a mask",
        "p.yaml:8:20 syscalls.rules[0].args[0].index: must be at most 5, got 6",
        'p.yaml:8:45 syscalls.rules[0].args[0].value: 18446744073709552000 is beyond the integers a YAML number holds exactly (2^53); write it as a hex string such as "0xffffffffffffffff"',
      ],
    },
    {
      what: "a syscall both allowed and denied",
      yaml: `${HEAD}syscalls:\n  allow: [read, ptrace]\n  deny: [ptrace]\n`,
      want: ['p.yaml:6:10 syscalls.deny[0]: syscall "ptrace" is in both allow and deny'],
    },
    {
      what: "a bad name and hostname",
      yaml: "apiVersion: runsc-ts/v1\nkind: Policy\nname: My_Policy\nhostname: -bad-\n",
      want: [
        'p.yaml:3:7 name: expected lowercase letters, digits and "-", starting with a letter or digit, got "My_Policy"',
        'p.yaml:4:11 hostname: expected a hostname (dot-separated labels of letters, digits and "-", not starting or ending with "-"), got "-bad-"',
      ],
    },
    {
      what: "a YAML syntax error",
      yaml: `${HEAD}syscalls:\n  allow: [read\n`,
      want: ["p.yaml:6:1 invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]"],
    },
    {
      what: "tabs used for indentation",
      yaml: `${HEAD}network:\n\tmode: none\n`,
      want: ["p.yaml:5:1 invalid YAML: Tabs are not allowed as indentation"],
    },
    {
      what: "more than one document",
      yaml: `${HEAD}---\nname: u\n`,
      want: ["p.yaml:4:1 invalid YAML: a policy file holds exactly one document"],
    },
    {
      what: "a duplicate key, at the second key",
      yaml: `${HEAD}network:\n  mode: none\n  mode: host\n`,
      want: ['p.yaml:6:3 network.mode: duplicate key "mode"'],
    },
    {
      what: "a key that is not a plain string",
      yaml: `${HEAD}? [a, b]\n: c\n`,
      want: ["p.yaml:4:3 a key must be a plain string"],
    },
    {
      what: "a document that is a sequence",
      yaml: "- apiVersion: runsc-ts/v1\n- kind: Policy\n",
      want: ["p.yaml:1:1 the policy must be a mapping of keys such as apiVersion, kind and name, got a sequence"],
    },
    {
      what: "a document that is a scalar",
      yaml: "# a policy\npolicy\n",
      want: ["p.yaml:2:1 the policy must be a mapping of keys such as apiVersion, kind and name, got a scalar"],
    },
    {
      what: "an empty file",
      yaml: "",
      want: ["p.yaml:1:1 the policy is empty: expected a mapping with apiVersion, kind and name"],
    },
    {
      what: "a file of comments only",
      yaml: "# yaml-language-server: $schema=./schema.json\n\n# nothing yet\n",
      want: ["p.yaml:1:1 the policy is empty: expected a mapping with apiVersion, kind and name"],
    },
    {
      what: "every issue at once, in source order",
      yaml: [
        "apiVersion: runsc-ts/v1",
        "kind: Policy",
        "syscalls:",
        "  alow: [read]",
        "  deny: [opn]",
        "filesystem:",
        "  root: readwrite",
        "  rules:",
        "    - { path: /etc/shadow, access: none }",
        '    - { path: "/home/{a,b}/.ssh", access: none }',
        "network:",
        "  mode: prox",
        "audit: 1",
        "",
      ].join("\n"),
      want: [
        'p.yaml:1:1 name: missing required key "name"',
        'p.yaml:4:3 syscalls.alow: unknown key "alow" (did you mean "allow"?)',
        'p.yaml:5:10 syscalls.deny[0]: unknown syscall "opn" (did you mean "open"?)',
        'p.yaml:7:9 filesystem.root: expected one of readonly, overlay, writable, got "readwrite"',
        'p.yaml:10:15 filesystem.rules[1].path: brace expansion is not supported: write one rule per alternative instead of "/home/{a,b}/.ssh" (a literal "{" is written "[{]")',
        'p.yaml:12:9 network.mode: expected one of none, host, proxy, got "prox"',
        "p.yaml:13:8 audit: expected true or false, got 1",
      ],
    },
  ];

  it.each(cases)("$what", ({ yaml, want }) => {
    expect(errorLines(() => parsePolicy(yaml, "p.yaml"))).toEqual(want);
  });

  it("carries structured issues", () => {
    try {
      parsePolicy(`${HEAD}filesystem:\n  rules:\n    - { path: /a, access: all }\n`, "policies/web.yaml");
      expect.unreachable();
    } catch (err) {
      expect((err as PolicyError).issues).toEqual([
        {
          file: "policies/web.yaml",
          line: 6,
          col: 27,
          path: "filesystem.rules[0].access",
          message: 'expected one of none, read, read-write, exec, got "all"',
        },
      ]);
      expect((err as PolicyError).name).toBe("PolicyError");
    }
  });
});

describe("loadPolicyFile", () => {
  const dir = mkdtempSync(join(tmpdir(), "policy-load-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names the file in positioned messages", () => {
    const file = join(dir, "web.yaml");
    writeFileSync(file, `${HEAD}network:\n  mode: http\n`);
    expect(errorLines(() => loadPolicyFile(file))).toEqual([
      `${file}:5:9 network.mode: expected one of none, host, proxy, got "http"`,
    ]);
  });

  it("reports a missing file", () => {
    const file = join(dir, "absent.yaml");
    expect(errorLines(() => loadPolicyFile(file))).toEqual([
      `${file}: cannot read policy: ENOENT: no such file or directory, stat '${file}'`,
    ]);
  });

  it("reports a directory", () => {
    expect(errorLines(() => loadPolicyFile(dir))).toEqual([`${dir}: cannot read policy: EISDIR: is a directory, '${dir}'`]);
  });
});

describe("resolvePolicyPath", () => {
  it.each([
    ["default", "/p/default.yaml"],
    ["strict", "/p/strict.yaml"],
    ["./mine.yaml", "./mine.yaml"],
    ["mine.yaml", "mine.yaml"],
    ["mine.yml", "mine.yml"],
    ["sub/mine", "sub/mine"],
    ["/etc/runsc-ts/web.yaml", "/etc/runsc-ts/web.yaml"],
  ])("%s → %s", (arg, want) => {
    expect(resolvePolicyPath(arg, "/p")).toBe(want);
  });
});

describe("helpers", () => {
  it.each([
    ["allow", { kind: "allow" }],
    ["kill", { kind: "kill" }],
    ["trap", { kind: "trap" }],
    ["log", { kind: "log" }],
    ["errno(EACCES)", { kind: "errno", errno: 13 }],
    ["errno(EPERM)", { kind: "errno", errno: 1 }],
    ["errno(EWOULDBLOCK)", { kind: "errno", errno: 11 }],
  ])("parseAction(%s)", (text, want) => {
    expect(parseAction(text)).toEqual(want);
  });

  it("parseAction refuses what the schema refuses", () => {
    expect(() => parseAction("errno(EFOO)")).toThrow('unknown errno name "EFOO"');
    expect(() => parseAction("errno( EPERM )")).toThrow(/expected an action/);
    expect(() => parseAction("Allow")).toThrow('(did you mean "allow"?)');
  });

  it("formatAction is parseAction's inverse", () => {
    expect(formatAction({ kind: "errno", errno: 13 })).toBe("errno(EACCES)");
    expect(formatAction(parseAction("trap"))).toBe("trap");
  });

  it("argValue gives the unsigned 64-bit register value", () => {
    expect(argValue(17)).toBe(17n);
    expect(argValue("0x10")).toBe(16n);
    expect(argValue(-1)).toBe(0xffffffffffffffffn);
    expect(argValue("0xffffffffffffffff")).toBe(0xffffffffffffffffn);
  });

  it("formatFieldPath uses dots and [i]", () => {
    expect(formatFieldPath(["filesystem", "rules", 2, "access"])).toBe("filesystem.rules[2].access");
    expect(formatFieldPath([])).toBe("");
    expect(formatFieldPath(["a b"])).toBe('["a b"]');
  });
});
