// `policy learn`'s generator: facts of one run -> the smallest readable policy, which must be
// a valid policy that shows what the run touched and hides the rest.
import { describe, expect, it } from "vitest";

import type { HostView } from "../../../runsc/learn.js";
import { learnPolicy } from "../../../runsc/learn.js";
import type { AuditFact } from "../../../sentry/audit.js";
import { explainExec, explainOpen } from "../../../sentry/filter/explain.js";
import { parsePolicy } from "../../../sentry/policy/load.js";
import { join } from "node:path";
import { defaultPoliciesDir } from "../../../sentry/policy/load.js";

const DIRS = new Set(["/usr/bin", "/var/data", "/var/data/in", "/srv/out", "/etc/ssl/certs"]);
/** A merged-/usr host: /bin -> usr/bin; /bin/sh is dash, a script's interpreter is sh. */
const host: HostView = {
  kind: (p) => (DIRS.has(p) ? "dir" : p.startsWith("/missing") ? undefined : "file"),
  realpath: (p) => (p === "/bin/sh" ? "/usr/bin/dash" : p.replace(/^\/bin\//, "/usr/bin/")),
  reachable: (p) => !p.startsWith("/root/"),
  interpreter: (p) =>
    p === "/opt/tool/run.sh"
      ? { kind: "script", path: "/bin/sh" }
      : p.startsWith("/usr/bin/") || p.startsWith("/opt/")
        ? { kind: "elf", path: "/lib64/ld-linux-x86-64.so.2" }
        : undefined,
};

const open = (path: string, extra: Partial<Extract<AuditFact, { kind: "path" }>> = {}): AuditFact => ({
  kind: "path",
  syscall: "openat",
  path,
  write: false,
  dir: false,
  examine: false,
  ...extra,
});

const FACTS: AuditFact[] = [
  { kind: "exec", syscall: "execve", path: "/root/.local/bin/run.sh" }, // PATH search: out of reach, failed
  { kind: "exec", syscall: "execve", path: "/opt/tool/run.sh" },
  { kind: "exec", syscall: "execve", path: "/bin/sh" },
  { kind: "exec", syscall: "execve", path: "/tmp/build/a.out" }, // what the run built in its own /tmp
  open("/etc/ld.so.cache"),
  open("/lib/x86_64-linux-gnu/libc.so.6", { resolved: "/usr/lib/x86_64-linux-gnu/libc.so.6" }),
  open("/usr/share/zoneinfo/Europe/Paris"),
  open("/var/data/a"),
  open("/var/data/b"),
  open("/var/data/c"),
  open("/var/data/d"),
  open("/srv/config.json"),
  open("/srv/missing", { errno: "ENOENT" }),
  open("/srv/out/result.txt", { write: true }),
  open("/proc/self/status"),
  open("/tmp/scratch", { write: true }),
  open("/var/data/in", { dir: true }),
  { kind: "syscall", syscall: "sethostname", would: "errno(EPERM)", answered: "allow" },
  { kind: "signal", syscall: "tgkill", target: 7, own: true },
  { kind: "net", syscall: "connect", family: "inet", address: "192.0.2.10", port: 443 },
  { kind: "net", syscall: "connect", family: "inet6", address: "0:0:0:0:0:ffff:c000:20a", port: 8443 },
  { kind: "net", syscall: "connect", family: "inet", address: "127.0.0.1", port: 5432 },
  { kind: "net", syscall: "sendto", family: "inet", address: "192.0.2.53", port: 53 },
  { kind: "net", syscall: "connect", family: "unix", address: "/run/dbus/system_bus_socket" },
];

const yaml = learnPolicy({ facts: FACTS, command: ["/opt/tool/run.sh", "a b"], base: "default", name: "tool", cwd: "/srv", schemaRef: "schema.json" }, host);

/** The learned policy as the loader sees it, extending the real default.yaml. */
function loaded() {
  return parsePolicy(yaml, join(defaultPoliciesDir(), "tool.yaml"));
}

describe("learnPolicy", () => {
  const policy = loaded();
  const locate = (): string => "tool.yaml";
  const visible = (p: string): boolean => !explainOpen(policy, locate, p, "r").decision.startsWith("denied");

  it("says plainly that it is a starting point, names the command and validates", () => {
    expect(yaml).toMatch(/^# yaml-language-server: \$schema=schema\.json\n/);
    expect(yaml).toContain("from one run of: /opt/tool/run.sh 'a b'");
    expect(yaml).toContain("A starting point, not a proof");
    expect(policy.name).toBe("tool");
    // Enforced even when the policy learned from says audit: true.
    expect(yaml).toMatch(/^audit: false /m);
    expect(policy.audit).toBe(false);
  });

  it("shows what the run read, generalising system trees and busy directories", () => {
    for (const p of ["/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/share/zoneinfo/Europe/Paris", "/var/data/a", "/var/data/zzz", "/srv/config.json", "/lib64/ld-linux-x86-64.so.2"]) {
      expect(visible(p), p).toBe(true);
    }
    expect(yaml).toContain("/usr/share/zoneinfo/**");
    expect(yaml).toContain("{ path: /var/data/**, access: read }");
  });

  it("hides what the run did not touch, failed opens and the sandbox's own trees included", () => {
    for (const p of ["/etc/passwd", "/srv/missing", "/srv/other.json", "/home/u/.ssh/id_rsa", "/var/log/syslog"]) {
      expect(visible(p), p).toBe(false);
    }
    expect(yaml).not.toMatch(/path: \/(proc|tmp)/);
  });

  it("makes the directory a file was written in read-write, and nothing else", () => {
    expect(yaml).toContain("{ path: /srv/out/**, access: read-write }");
    expect(explainOpen(policy, locate, "/srv/out/new.txt", "w").decision).toMatch(/^allowed/);
    expect(explainOpen(policy, locate, "/srv/config.json", "w").decision).toMatch(/^denied/);
  });

  it("allows exactly the files the run executed, as exec resolves them, with a script's interpreter", () => {
    expect(policy.process.exec?.allow).toEqual(["/opt/tool/run.sh", "/tmp/build/a.out", "/usr/bin/dash"]);
    expect(explainExec(policy, locate, "/usr/bin/dash").decision).toMatch(/^allowed/);
    expect(explainExec(policy, locate, "/usr/bin/id").decision).toMatch(/^denied/);
    // The path the run named (/bin/sh) stays reachable.
    expect(visible("/bin/sh")).toBe(true);
  });

  it("allows the refused syscalls the run used, and carries exactly the TCP connections it made", () => {
    expect(policy.syscalls.allow).toContain("sethostname");
    expect(policy.network.mode).toBe("proxy");
    // One rule per address, its ports listed; a v4-mapped address is its IPv4 address.
    expect(policy.network.egress).toEqual([{ to: "192.0.2.10", ports: [443, 8443], protocol: "tcp" }]);
    // Loopback is the sandbox's own; datagrams and host sockets are named, not carried.
    expect(yaml).toContain("127.0.0.1:5432");
    expect(yaml).toContain("192.0.2.53:53");
    expect(yaml).toContain("/run/dbus/system_bus_socket");
  });

  it("confines signals to the process when the run signalled nothing else, and not otherwise", () => {
    expect(policy.process.signals).toBe("self");
    const other = learnPolicy(
      { facts: [...FACTS, { kind: "signal", syscall: "kill", target: 12, own: false }], command: ["x"], base: "default", name: "t", cwd: "/", schemaRef: "s.json" },
      host,
    );
    expect(parsePolicy(other, join(defaultPoliciesDir(), "t.yaml")).process.signals).toBe("sandbox");
  });
});
