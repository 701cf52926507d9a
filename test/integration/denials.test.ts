// The seccomp filter and the exec allowlist: dangerous syscall families are refused, foreign
// ABIs are killed, policy rules apply, and tracing changes none of it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, EXIT_RUNTIME_ERROR, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let fixtures: string;

beforeAll(() => {
  fixtures = hostFixtureDir("denials");
});
afterAll(() => removeHostDir(fixtures));

const EPERM = 1;
const ENOENT = 2;
const EACCES = 13;
const SIGSYS = 31;

/** "name errno=N" lines as a map. */
function parseDenied(stdout: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stdout.trim().split("\n")) {
    const r = /^(\S+) errno=(\d+)$/.exec(line);
    if (r) m.set(r[1]!, Number(r[2]));
  }
  return m;
}

/** Every call the default policy must refuse with EPERM, by the probe's names. */
const REFUSED = [
  "io_uring_setup",
  "bpf",
  "userfaultfd",
  "open_by_handle_at",
  "mount",
  "perf_event_open",
  "keyctl",
  "ptrace",
  "kexec_file_load",
  "finit_module",
  "setns",
  "seccomp_new_listener",
  "unshare_newuser",
];

describe("dangerous syscalls are refused", () => {
  it("each dangerous family the filter denies by default fails with EPERM; a plain seccomp filter is still allowed", async ({ expect }) => {
    const r = await runDo(["--", probes.path("denied")]);
    expect(r.code, describeRun(r)).toBe(0);
    const got = parseDenied(r.stdout);
    expect(Object.fromEntries(REFUSED.map((n) => [n, got.get(n)]))).toEqual(Object.fromEntries(REFUSED.map((n) => [n, EPERM])));
    // Decided by argument, not by number: the same filter without a listener is installed.
    expect(got.get("seccomp_plain")).toBe(0);
    // A syscall number the kernel does not have is refused too.
    expect(got.get("nr_1000")).toBeGreaterThan(0);
  });

  it("natively the same probe reaches the kernel (mount says ENOENT, not EPERM)", async ({ expect }) => {
    // The sandbox's EPERM for mount comes from the filter: the kernel looks the target up
    // first and answers ENOENT, as it does here for host root.
    const r = await runNative(probes.path("denied"));
    expect(r.code, describeRun(r)).toBe(0);
    const got = parseDenied(r.stdout);
    expect(got.get("mount")).toBe(ENOENT);
    expect(got.get("seccomp_plain")).toBe(0);
    expect([...got.keys()].sort()).toEqual([...REFUSED, "seccomp_plain", "nr_1000"].sort());
  });

  it("--strace does not change what is refused, nor the x32 kill", async ({ expect }) => {
    const [plain, traced, x32] = await Promise.all([
      runDo(["--", probes.path("denied")]),
      runDo(["--strace", "--", probes.path("denied")]),
      runDo(["--strace", "--", probes.path("x32")]),
    ]);
    expect(traced.code, describeRun(traced)).toBe(0);
    expect(traced.stdout).toBe(plain.stdout);
    expect(traced.stderr).toMatch(/io_uring_setup\(.*= -1 EPERM/);
    expect(x32.code, describeRun(x32)).toBe(128 + SIGSYS);
    expect(x32.stdout).toBe("calling\n");
  });

  it("an x32-ABI syscall kills the process with SIGSYS (exit 159); natively it returns", async ({ expect }) => {
    const native = await runNative(probes.path("x32"));
    expect(native.code, describeRun(native)).toBe(0);
    expect(native.stdout).toMatch(/^calling\nreturned -?\d+ errno=\d+\n$/);
    const r = await runDo(["--", probes.path("x32")]);
    expect(r.code, describeRun(r)).toBe(128 + SIGSYS);
    expect(r.stdout).toBe("calling\n");
  });

});

describe("a policy's own syscall rules", () => {
  it("syscalls.deny and an argument rule are enforced", async ({ expect }) => {
    const policy = writePolicy(
      fixtures,
      "no-inet",
      [
        "syscalls:",
        "  deny: [uname]",
        "  rules:",
        "    - names: [socket]",
        "      args: [{ index: 0, op: eq, value: 2 }]   # AF_INET",
        "      action: errno(EACCES)",
        "",
      ].join("\n"),
    );
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", `uname -s; echo rc=$?; ${probes.path("net")} loopback; ${probes.path("net")} unixself @runsc-ts-rule`]);
    expect(r.stdout, describeRun(r)).toBe(`rc=1\nloopback socket errno=${EACCES}\nunixself ok\n`);
    expect(r.stderr).toMatch(/uname.*Operation not permitted/);
  });
});

describe("filesystem.files", () => {
  it("the workload reads the policy's content in place of the host's file, read-only; a path that is not there is a setup error", async ({ expect }) => {
    const policy = writePolicy(
      fixtures,
      "synthetic",
      'extends: default\nfilesystem:\n  files:\n    - { path: /etc/hostname, content: "from-the-policy\\n" }\n    - { path: /etc/resolv.conf, content: "nameserver 10.9.8.7\\n" }\n',
    );
    const missing = writePolicy(fixtures, "synthetic-missing", 'filesystem:\n  files:\n    - { path: /etc/runsc-ts-not-there, content: "x" }\n');
    const [r, bad] = await Promise.all([
      runDo(["--policy", policy, "--", "/bin/sh", "-c", "cat /etc/hostname /etc/resolv.conf; echo x > /etc/hostname || echo refused"]),
      runDo(["--policy", missing, "--", "true"]),
    ]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("from-the-policy\nnameserver 10.9.8.7\nrefused\n");
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(bad.code, describeRun(bad)).toBe(125);
    expect(bad.stderr).toMatch(/\/etc\/runsc-ts-not-there.*No such file or directory/);
  });
});

describe("process.maxProcesses", () => {
  it("caps the processes of a user in the sandbox: a fork past it fails with EAGAIN", async ({ expect }) => {
    const policy = writePolicy(fixtures, "nproc", "process:\n  maxProcesses: 8\n");
    const script = [
      "import os, time",
      "kids, err = [], None",
      "for _ in range(20):",
      "    try:",
      "        pid = os.fork()",
      "    except OSError as e:",
      "        err = e.errno",
      "        break",
      "    if pid == 0:",
      "        time.sleep(1)",
      "        os._exit(0)",
      "    kids.append(pid)",
      "for k in kids:",
      "    os.waitpid(k, 0)",
      "print(len(kids), err)",
    ].join("\n");
    const [capped, free] = await Promise.all([
      runDo(["--policy", policy, "--", "python3", "-c", script]),
      runDo(["--", "python3", "-c", script]),
    ]);
    expect(capped.code, describeRun(capped)).toBe(0);
    // init and python count too: 8 - 2 children, then EAGAIN (11).
    expect(capped.stdout).toBe("6 11\n");
    expect(free.stdout, describeRun(free)).toBe("20 None\n");
  });
});

describe("process.exec.allow", () => {
  let policy: string;
  beforeAll(() => {
    policy = writePolicy(fixtures, "exec-usr", "process:\n  exec:\n    allow: [/usr/bin/**, /bin/**]\n");
  });

  it("a program outside the allowlist is refused with 126; /usr/bin/true runs", async ({ expect }) => {
    const [denied, allowed] = await Promise.all([
      runDo(["--policy", policy, "--", probes.path("x32")]),
      runDo(["--policy", policy, "--", "/usr/bin/true"]),
    ]);
    expect(denied.code, describeRun(denied)).toBe(126);
    expect(denied.stdout).toBe("");
    expect(denied.stderr).toContain("Permission denied");
    expect(allowed.code, describeRun(allowed)).toBe(0);
  });

  it("policies/strict.yaml runs its entrypoint (found in PATH, through symlinks) and nothing else", async ({ expect }) => {
    const [shell, direct] = await Promise.all([
      runDo(["--policy", "strict", "--", "sh", "-c", "echo in-sh; ls / >/dev/null; echo ls=$?"]),
      runDo(["--policy", "strict", "--", probes.path("x32")]),
    ]);
    expect(shell.code, describeRun(shell)).toBe(0);
    expect(shell.stdout).toBe("in-sh\nls=126\n");
    // The entrypoint itself runs (and meets the filter: x32 calls are killed).
    expect(direct.code, describeRun(direct)).toBe(159);
  });

  it("/bin (a symlink to /usr/bin) and PATH lookup are allowed, and a shell cannot exec around it", async ({ expect }) => {
    const probe = probes.path("x32");
    const script = [
      "/bin/true && echo bin-true",
      "true && echo path-true",
      `${probe}; echo probe=$?`,
      `cp ${probe} /tmp/copy && /tmp/copy; echo copy=$?`,
      `ln -s ${probe} /tmp/link && /tmp/link; echo link=$?`,
    ].join("; ");
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("bin-true\npath-true\nprobe=126\ncopy=126\nlink=126\n");
    expect(r.stdout).not.toContain("calling");
  });

  it("a script in the allowlist cannot run an interpreter outside it", async ({ expect }) => {
    // The kernel runs the #! interpreter itself, without another execve: checking only the
    // path the task named lets any allowed script launch any program.
    const script = join(fixtures, "script");
    writeHostFile(script, `#!${probes.path("x32")}\n`, 0o755);
    const withScript = writePolicy(fixtures, "exec-script", `process:\n  exec:\n    allow: [/usr/bin/**, /bin/**, ${script}]\n`);
    const r = await runDo(["--policy", withScript, "--", script]);
    expect(r.stdout, `the interpreter ran: ${describeRun(r)}`).not.toContain("calling");
    expect(r.code, describeRun(r)).toBe(126);
  });

  it("follows #! as deep as the kernel does: a fifth interpreter outside the allowlist is refused", async ({ expect }) => {
    // s1 -> s2 -> s3 -> s4 -> s5 -> the probe: the kernel runs five interpreters deep.
    const chain = Array.from({ length: 5 }, (_, i) => join(fixtures, `chain${i + 1}`));
    chain.forEach((file, i) => writeHostFile(file, `#!${chain[i + 1] ?? probes.path("x32")}\n`, 0o755));
    const allowed = writePolicy(fixtures, "exec-chain", `process:\n  exec:\n    allow: [/usr/bin/**, /bin/**, ${fixtures}/chain*]\n`);
    const r = await runDo(["--policy", allowed, "--", chain[0]!]);
    expect(r.stdout, `the fifth interpreter ran: ${describeRun(r)}`).not.toContain("calling");
    expect(r.code, describeRun(r)).toBe(126);
  });

  it("under an overlay root, what may run is kept read-only: it cannot be replaced, and a policy that leaves it writable does not load", async ({ expect }) => {
    const composed = writePolicy(
      fixtures,
      "exec-overlay",
      "filesystem:\n  root: overlay\n  rules:\n    - { path: /usr/bin/**, access: exec }\n    - { path: /bin/**, access: exec }\nprocess:\n  exec:\n    allow: [/usr/bin/**, /bin/**]\n",
    );
    const script = [
      "cp /usr/bin/true /tmp/mine",
      "mv /tmp/mine /usr/bin/python3 2>/dev/null && echo replaced || echo replace-refused",
      "cp /usr/bin/true /usr/bin/newtool 2>/dev/null && echo added || echo add-refused",
      "echo elsewhere > /etc/written && echo overlay-writable",
      "/usr/bin/python3 -c 'print(\"python runs\")'",
    ].join("\n");
    const r = await runDo(["--policy", composed, "--", "/bin/sh", "-c", script]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("replace-refused\nadd-refused\noverlay-writable\npython runs\n");
    const open = writePolicy(fixtures, "exec-overlay-open", "filesystem:\n  root: overlay\nprocess:\n  exec:\n    allow: [/usr/bin/python3.11]\n");
    const refused = await runDo(["--policy", open, "--", "/usr/bin/python3.11", "-c", "print(1)"]);
    expect(refused.code, describeRun(refused)).toBe(EXIT_RUNTIME_ERROR);
    expect(refused.stderr).toMatch(/process\.exec\.allow\[0\]: \/usr\/bin\/python3\.11: under filesystem\.root: overlay the workload may write its own file there/);
  });

  it("exec of a FIFO an allowlist covers is refused as natively, and stalls no other task", async ({ expect }) => {
    // The sentry read a "#!" line from whatever the path named: a FIFO with no writer held
    // its only thread, and every other task of the sandbox, for good.
    const fifoDir = hostFixtureDir("exec-fifo");
    try {
      const fifo = join(fifoDir, "f");
      const mk = await runNative("/bin/sh", ["-c", `mkfifo ${fifo} && chmod 755 ${fifo}`]);
      expect(mk.code, describeRun(mk)).toBe(0);
      const allowed = writePolicy(fixtures, "exec-fifo", `process:\n  exec:\n    allow: [/usr/bin/**, /bin/**, ${fifoDir}/**]\n`);
      const script = `(${fifo}; echo "exec=$?") & sleep 0.5; echo other-task; wait`;
      const [native, inside] = await Promise.all([
        runNative("/bin/sh", ["-c", script]),
        runDo(["--policy", allowed, "--", "/bin/sh", "-c", script], { timeoutMs: 20_000 }),
      ]);
      expect(native.stdout, describeRun(native)).toBe("exec=126\nother-task\n");
      expect(inside, describeRun(inside)).toMatchObject({ code: 0, stdout: "exec=126\nother-task\n" });
    } finally {
      removeHostDir(fifoDir);
    }
  });

  it("the sentry opens with the task's privileges, never its own: --strace changes no answer", async ({ expect }) => {
    // Acting as a task set its fs ids only: the sentry's other capabilities (CAP_SYSLOG,
    // CAP_SYS_PTRACE) and its euid 0 (the owner of the sandbox's user namespace) stayed,
    // so a traced open of /proc/kallsyms showed kernel addresses, and uid 1000 read through
    // /proc/PID/cwd of root's process.
    const script = [
      "head -1 /proc/kallsyms | cut -c1-16",
      "mkdir -m 700 /tmp/priv && echo secret > /tmp/priv/key",
      "(cd /tmp/priv && exec sleep 5) & P=$!; sleep 0.3",
      "python3 -c \"",
      "import os",
      "os.setgroups([]); os.setresgid(1000, 1000, 1000); os.setresuid(1000, 1000, 1000)",
      "for p in ['/proc/$P/cwd/key', '/proc/$P/cwd']:",
      "    try: print(p.replace('$P', 'P'), open(p).read().strip() if p.endswith('key') else os.readlink(p))",
      "    except OSError as e: print(p.replace('$P', 'P'), e.errno)",
      "\"",
      "kill $P",
    ].join("\n");
    const plain = await runDo(["--", "/bin/sh", "-c", script]);
    const traced = await runDo(["--strace-syscalls", "openat,readlink", "--", "/bin/sh", "-c", script]);
    expect(plain.stdout, describeRun(plain)).toBe("0000000000000000\n/proc/P/cwd/key 13\n/proc/P/cwd 13\n");
    expect(traced.stdout, describeRun(traced)).toBe(plain.stdout);
  });

  it("a memfd's name is not a path: one named to look like an allowed file does not run", async ({ expect }) => {
    // Its /proc text is "/memfd:x/../../usr/bin/python3-x (deleted)", which a string
    // comparison would take for /usr/bin/python3-x.
    const script = [
      "import os",
      "fd = os.memfd_create('x/../../usr/bin/python3-x', 0)",
      "os.write(fd, b'#!/bin/sh\\necho escaped\\n')",
      "try:",
      "    os.execve(fd, ['x'], {})",
      "except PermissionError:",
      "    print('refused')",
    ].join("\n");
    const r = await runDo(["--policy", policy, "--", "/usr/bin/python3", "-c", script]);
    expect(r.stdout, describeRun(r)).toBe("refused\n");
  });
});
