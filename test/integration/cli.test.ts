// The command line: bad input is a one-line error with exit status 125 (naming the file and
// line for policies), --strace prints decoded syscalls without changing the program's
// output, and the syscall table is printed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { ExpectStatic } from "vitest";
import {
  CLI,
  describeRun,
  EXIT_RUNTIME_ERROR,
  hostFixtureDir,
  removeHostDir,
  runCli,
  runDo,
  runNative,
  startDo,
  writeHostFile,
  writePolicy,
} from "../helpers/sandbox.js";
import type { RunResult } from "../helpers/sandbox.js";

let fixtures: string;
beforeAll(() => {
  fixtures = hostFixtureDir("cli");
});
afterAll(() => removeHostDir(fixtures));

/** A runsc-ts error: status 125, nothing on stdout, exactly one line on stderr matching re. */
function expectOneLineError(expect: ExpectStatic, r: RunResult, re: RegExp): void {
  expect(r.code, describeRun(r)).toBe(EXIT_RUNTIME_ERROR);
  expect(r.stdout).toBe("");
  expect(r.stderr.endsWith("\n") && !r.stderr.slice(0, -1).includes("\n"), `stderr is not one line: ${JSON.stringify(r.stderr)}`).toBe(true);
  expect(r.stderr).toMatch(re);
}

describe("bad input", () => {
  it("an unknown flag of do", async ({ expect }) => {
    expectOneLineError(expect, await runDo(["--bogus", "--", "true"]), /unknown option '--bogus'/);
  });

  it("an unknown global flag and an unknown command", async ({ expect }) => {
    const [flag, cmd] = await Promise.all([runCli(["--bogus", "do", "--", "true"]), runCli(["frobnicate"])]);
    expectOneLineError(expect, flag, /--bogus/);
    expectOneLineError(expect, cmd, /frobnicate/);
  });

  it("a missing command, with and without --", async ({ expect }) => {
    const [bare, dashes] = await Promise.all([runDo([]), runDo(["--"])]);
    expectOneLineError(expect, bare, /missing command/);
    expectOneLineError(expect, dashes, /missing command/);
  });

  it("bad option values: --network, --env, --strace-syscalls", async ({ expect }) => {
    const [network, env, strace] = await Promise.all([
      runDo(["--network", "bridge", "--", "true"]),
      runDo(["--env", "NOEQUALS", "--", "true"]),
      runDo(["--strace-syscalls", "openat,nosuchcall", "--", "true"]),
    ]);
    expectOneLineError(expect, network, /--network.*bridge/);
    expectOneLineError(expect, env, /--env.*NOEQUALS/);
    expectOneLineError(expect, strace, /nosuchcall/);
  });

  it("a hostname that is not a valid hostname", async ({ expect }) => {
    // The policy's hostname field must be RFC 1123; the flag must not be looser.
    const [spaces, long] = await Promise.all([
      runDo(["--hostname", "bad host!", "--", "true"]),
      runDo(["--hostname", "a".repeat(70), "--", "true"]),
    ]);
    expectOneLineError(expect, spaces, /hostname/);
    expectOneLineError(expect, long, /hostname/);
  });

  it("a working directory that does not exist in the sandbox", async ({ expect }) => {
    const r = await runDo(["--cwd", "/runsc-ts-no-such-dir", "--", "true"]);
    expectOneLineError(expect, r, /\/runsc-ts-no-such-dir/);
  });

  it("a policy file that does not exist is named", async ({ expect }) => {
    const path = join(fixtures, "missing.yaml");
    const [file, name] = await Promise.all([
      runDo(["--policy", path, "--", "true"]),
      runDo(["--policy", "runsc-ts-no-such-policy", "--", "true"]),
    ]);
    expectOneLineError(expect, file, new RegExp(`${path.replaceAll(".", "\\.")}.*(ENOENT|no such file|not found|does not exist)`, "i"));
    expectOneLineError(expect, name, /policies\/runsc-ts-no-such-policy\.yaml/);
  });

  it("a policy with an unknown key: FILE:LINE:COL and the field", async ({ expect }) => {
    const path = writePolicy(fixtures, "unknown-key", "syscalls:\n  default: allow\n  alow: [read]\n");
    const r = await runDo(["--policy", path, "--", "true"]);
    expectOneLineError(expect, r, new RegExp(`${path.replaceAll(".", "\\.")}:6:3 .*alow`));
  });

  it("a policy with a bad value and a YAML syntax error: FILE:LINE:COL", async ({ expect }) => {
    const badValue = writePolicy(fixtures, "bad-value", "network:\n  mode: http\n");
    const badYaml = writeHostFile(join(fixtures, "bad-yaml.yaml"), "apiVersion: runsc-ts/v1\nkind: Policy\nname: y\nsyscalls: [\n");
    const [value, yaml] = await Promise.all([runDo(["--policy", badValue, "--", "true"]), runDo(["--policy", badYaml, "--", "true"])]);
    expectOneLineError(expect, value, new RegExp(`${badValue.replaceAll(".", "\\.")}:5:9 .*network\\.mode`));
    expect(yaml.code, describeRun(yaml)).toBe(EXIT_RUNTIME_ERROR);
    expect(yaml.stdout).toBe("");
    expect(yaml.stderr).toMatch(new RegExp(`${badYaml.replaceAll(".", "\\.")}:\\d+:\\d+`));
  });

  it("policy validate: 0 for valid files, 1 with every problem of every invalid one", async ({ expect }) => {
    const good = writePolicy(fixtures, "good", "network:\n  mode: host\n");
    const bad = writePolicy(fixtures, "two-problems", "network:\n  mode: http\nsyscalls:\n  alow: [read]\n");
    const [ok, fail] = await Promise.all([
      runCli(["policy", "validate", good, "policies/default.yaml"]),
      runCli(["policy", "validate", good, bad]),
    ]);
    expect(ok.code, describeRun(ok)).toBe(0);
    expect(ok.stdout).toBe(`${good}: valid\npolicies/default.yaml: valid\n`);
    expect(fail.code, describeRun(fail)).toBe(1);
    expect(fail.stdout).toBe(`${good}: valid\n`);
    const lines = fail.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${bad.replaceAll(".", "\\.")}:5:9 network\\.mode: `));
    expect(lines[1]).toMatch(new RegExp(`^${bad.replaceAll(".", "\\.")}:7:3 syscalls\\.alow: unknown key "alow" \\(did you mean "allow"\\?\\)`));
  });

  it("policy compile: the filter's disassembly and where each syscall is decided", async ({ expect }) => {
    const [text, none, host] = await Promise.all([
      runCli(["policy", "compile", "default"]),
      runCli(["policy", "compile", "default", "--json"]),
      runCli(["policy", "compile", "default", "--json", "--network", "host"]),
    ]);
    expect(text.code, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(/^policy default \(network none\): 381 syscalls, 377 decided in the kernel \(99\.0%\):\n/);
    expect(text.stdout).toMatch(/^0000: ld \[4\] ; arch$/m);
    expect(text.stdout).toMatch(/ret KILL_PROCESS$/m);
    expect(text.stdout).toMatch(/ret USER_NOTIF$/m);
    const a = JSON.parse(none.stdout) as { layers: Record<string, number>; decidedInKernel: number };
    const b = JSON.parse(host.stdout) as { layers: Record<string, number>; decidedInKernel: number };
    // Network none traps connect, sendto, sendmsg and sendmmsg to the sentry; host decides everything in BPF.
    expect(a.layers.sentry).toBe(4);
    expect(b.layers.sentry).toBe(0);
    expect(b.decidedInKernel).toBe(381);
  });

  it("policy explain: the decision, the rule as FILE:LINE and the layer", async ({ expect }) => {
    const path = writePolicy(fixtures, "explained", "syscalls:\n  deny: [getpid]\n");
    const [syscall, open, bad] = await Promise.all([
      runCli(["policy", "explain", path, "--syscall", "getpid"]),
      runCli(["policy", "explain", "default", "--open", "/etc/shadow"]),
      runCli(["policy", "explain", "default", "--syscall", "read", "--exec", "/bin/sh"]),
    ]);
    expect(syscall.code, describeRun(syscall)).toBe(0);
    expect(syscall.stdout).toBe(`getpid(): errno(EPERM)\n  because: ${path}:5 syscalls.deny lists it\n  enforced by: BPF\n`);
    expect(open.code, describeRun(open)).toBe(0);
    expect(open.stdout).toMatch(/^open \/etc\/shadow for reading: denied: ENOENT.*\n  because: \S+policies\/default\.yaml:\d+ filesystem\.rules\[0\] \/etc\/shadow access none\n  enforced by: mount\n$/);
    expectOneLineError(expect, bad, /exactly one of --syscall, --open, --connect, --bind, --exec/);
  });

  it("a workload that exits at once reports its own status, never an internal error", async ({ expect }) => {
    // runsc-ts must not depend on the workload still running once it has started it.
    const runs = await Promise.all(
      Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? runDo(["--", "/runsc-ts-missing"]) : runDo(["--", "/usr/bin/true"]))),
    );
    runs.forEach((r, i) => {
      expect(r.stderr, describeRun(r)).not.toContain("internal error");
      expect(r.code, describeRun(r)).toBe(i % 2 === 0 ? 127 : 0);
    });
  });
});

describe("--strace", () => {
  it("prints decoded syscalls on stderr; stdout is unchanged", async ({ expect }) => {
    const [plain, traced] = await Promise.all([
      runDo(["--", "cat", "/etc/os-release", "/etc/hostname"]),
      runDo(["--strace", "--", "cat", "/etc/os-release", "/etc/hostname"]),
    ]);
    expect(plain.code, describeRun(plain)).toBe(0);
    expect(traced.code, describeRun(traced)).toBe(0);
    expect(plain.stdout).toBe(readFileSync("/etc/os-release", "utf8") + readFileSync("/etc/hostname", "utf8"));
    expect(traced.stdout).toBe(plain.stdout);
    expect(plain.stderr).toBe("");
    expect(traced.stderr).toMatch(/execve\("[^"]*\/cat", \["cat", "\/etc\/os-release", "\/etc\/hostname"\]/);
    expect(traced.stderr).toMatch(/openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY\) = \d+/);
    expect(traced.stderr).toMatch(/openat\(AT_FDCWD, "\/etc\/os-release", O_RDONLY\) = \d+/);
    // A failing call shows its errno by name.
    expect(traced.stderr).toMatch(/access\("\/etc\/ld\.so\.preload", R_OK\) = -1 ENOENT/);
  });

  it("decodes socket addresses", async ({ expect }) => {
    // bash's /dev/tcp connects; nothing listens on port 9 of the sandbox's own loopback.
    const r = await runDo(["--strace", "--", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9"]);
    expect(r.code, describeRun(r)).toBe(1);
    // A connect that takes the sentry more than its 2 ms (a busy machine) is shown when it ends.
    expect(r.stderr).toMatch(/connect\(\d+, \{AF_INET 127\.0\.0\.1:9\}, 16\) = (-1 ECONNREFUSED|\? \(answered when it completes\)[^]*<\.\.\. connect resumed> = -1 ECONNREFUSED)/);
  });

  it("shows the result of a connect it did not wait for when the connect ends", async ({ expect }) => {
    // A unix listener with a backlog of 0 takes one connect; the second waits until the
    // listener accepts, 300 ms later, far past the sentry's wait.
    const script = [
      "import socket, threading, time",
      "s = socket.socket(socket.AF_UNIX); s.bind('/tmp/s'); s.listen(0)",
      "a = socket.socket(socket.AF_UNIX); a.connect('/tmp/s')",
      "threading.Thread(target=lambda: (time.sleep(0.3), s.accept(), s.accept())).start()",
      "b = socket.socket(socket.AF_UNIX); b.connect('/tmp/s')",
      "print('connected')",
    ].join("\n");
    const r = await runDo(["--strace", "--strace-syscalls", "connect", "--", "python3", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("connected\n");
    const lines = r.stderr.split("\n").filter((l) => l.includes("connect"));
    const pending = lines.findIndex((l) => /\[ *(\d+)\] connect\(\d+, \{AF_UNIX "\/tmp\/s"\}, 9\) = \? \(answered when it completes\)/.test(l));
    expect(pending, r.stderr).toBeGreaterThanOrEqual(0);
    const pid = /\[ *(\d+)\]/.exec(lines[pending]!)![1];
    expect(lines.slice(pending + 1).some((l) => new RegExp(`\\[ *${pid}\\] <\\.\\.\\. connect resumed> = 0$`).test(l)), r.stderr).toBe(true);
  });

  it("a slow reader of the trace does not kill the sandbox", async ({ expect }) => {
    // The trace is far larger than a pipe's buffer; while nobody reads it, writing it must
    // wait, not fail.
    const run = startDo(["--strace", "--", "/bin/sh", "-c", "for i in $(seq 200); do cat /etc/hostname; done | wc -l"]);
    run.child.stderr!.pause();
    await new Promise((res) => setTimeout(res, 1500));
    run.child.stderr!.resume();
    const r = await run.result;
    expect(r.stderr).not.toContain("sentry failed");
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("200\n");
    expect(r.stderr.split("\n").length).toBeGreaterThan(2000);
  });

  it("--strace-syscalls narrows the trace to the named calls", async ({ expect }) => {
    const r = await runDo(["--strace-syscalls", "openat", "--", "cat", "/etc/hostname"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe(readFileSync("/etc/hostname", "utf8"));
    const lines = r.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/\] openat\(/);
    expect(r.stderr).toMatch(/openat\(AT_FDCWD, "\/etc\/hostname", O_RDONLY\) = \d+/);
  });
});

describe("the syscall table", () => {
  it("a reader that stops early ends the listing quietly (no crash)", async ({ expect }) => {
    const r = await runNative("/bin/sh", ["-c", `"${CLI}" syscalls | head -c 0`]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr, "runsc-ts syscalls must end quietly when its reader goes away").toBe("");
  });

  it("`syscalls` and `help syscalls` print every amd64 syscall with its handling", async ({ expect }) => {
    const [a, b] = await Promise.all([runCli(["syscalls"]), runCli(["help", "syscalls"])]);
    expect(a.code, describeRun(a)).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toMatch(/^policy default: \d+ allowed in the kernel, \d+ decided by argument in BPF, \d+ handled by the sentry, \d+ denied/);
    for (const name of ["io_uring_setup", "bpf", "userfaultfd", "open_by_handle_at", "mount", "kexec_load", "init_module"]) {
      expect(a.stdout).toMatch(new RegExp(`^\\s*\\d+\\s+${name}\\s+denied`, "m"));
    }
    expect(a.stdout).toMatch(/^\s*0\s+read\s+allowed in the kernel/m);
    expect(a.stdout).toMatch(/^\s*42\s+connect\s+handled by the sentry/m);
  });
});
