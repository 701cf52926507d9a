// `runsc-ts do` runs the host's own programs: output, exit statuses, stdio, identity,
// namespaces and the read-only root, each compared with the same program run natively where
// the policy allows it to behave the same.
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, ROOT, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";

const probes = useProbes();
let fixtures: string;

beforeAll(() => {
  fixtures = hostFixtureDir("do");
  // Readable by host root only (0600, owned by root): root inside the sandbox is not host root.
  writeHostFile(join(fixtures, "root-only"), "root only\n", 0o600);
  // A script that is not executable: exec must fail with EACCES (126).
  writeHostFile(join(fixtures, "not-executable"), "#!/bin/sh\necho ran\n", 0o644);
});
afterAll(() => removeHostDir(fixtures));

describe("runs the host's programs", () => {
  it("echo prints its arguments and exits 0", async ({ expect }) => {
    const r = await runDo(["--", "/bin/echo", "hello", "from the sandbox"]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "hello from the sandbox\n", stderr: "" });
  });

  it("sh runs a script with pipes and builtins", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", "for i in 1 2 3; do echo line$i; done | tr a-z A-Z | tail -n 2"]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "LINE2\nLINE3\n" });
  });

  it("cat of a host file prints the same bytes as natively", async ({ expect }) => {
    const r = await runDo(["--", "cat", "/etc/os-release"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe(readFileSync("/etc/os-release", "utf8"));
  });

  it("ls / lists the same names as natively (the host root is the base), but for what the policy hides", async ({ expect }) => {
    const [inside, native] = await Promise.all([runDo(["--", "ls", "-A", "/"]), runNative("ls", ["-A", "/"])]);
    expect(inside.code, describeRun(inside)).toBe(0);
    // default.yaml hides /root and /run; the sandbox has its own /proc, /dev and /tmp.
    const hidden = new Set(["root", "run"]);
    const expected = native.stdout.split("\n").filter((n) => n !== "" && !hidden.has(n));
    expect(inside.stdout.split("\n").filter((n) => n !== "")).toEqual(expected);
  });

  it("a command is looked up in PATH, and a bare name that is nowhere exits 127", async ({ expect }) => {
    const r = await runDo(["--", "runsc-ts-no-such-command-anywhere"]);
    expect(r.code, describeRun(r)).toBe(127);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/runsc-ts-no-such-command-anywhere.*(No such file|not found)/);
  });
});

describe("exit statuses propagate", () => {
  it.for([
    ["exit 3", 3],
    ["kill -TERM $$", 128 + 15],
    ["kill -SEGV $$", 128 + 11],
  ] as const)("sh -c '%s' exits %i", async ([script, status], { expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", script]);
    expect(r.code, describeRun(r)).toBe(status);
    expect(r.signal).toBeNull();
  });

  it("a workload that ends before its sentry thread reports its status, however slowly that thread ends", async ({ expect }) => {
    // The sandbox, with a sentry thread that holds nothing open and takes 300 ms to end (as a
    // thread still loading on a busy machine does): runsc-ts once exited while waiting for it,
    // with 0 and without the status.
    const script = join(fixtures, "slow-sentry.mjs");
    writeHostFile(
      script,
      `const { runDo } = await import(${JSON.stringify(join(ROOT, "dist", "runsc", "sandbox", "sandbox.js"))});
const { loadPolicy } = await import(${JSON.stringify(join(ROOT, "dist", "runsc", "policyCache.js"))});
const sentry = {
  onFact: undefined,
  serve: () => new Promise(() => {}),
  release: () => new Promise((resolve) => setTimeout(resolve, 300).unref()),
};
const status = await runDo({ argv: ["/bin/sh", "-c", "exit 3"], env: ["PATH=/usr/bin:/bin"], cwd: "/", cwdFallback: false,
  policy: await loadPolicy("default"), network: "none", trace: null, hostname: "t", sentry, log: undefined });
process.stdout.write("status " + status + "\\n");
`,
      0o644,
    );
    const r = await runNative(process.execPath, [script]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "status 3\n" });
  });

  it("an absolute path that does not exist exits 127", async ({ expect }) => {
    const r = await runDo(["--", join(fixtures, "missing")]);
    expect(r.code, describeRun(r)).toBe(127);
    expect(r.stderr).toContain("No such file or directory");
  });

  it("a file that is not executable exits 126 (and natively too)", async ({ expect }) => {
    const path = join(fixtures, "not-executable");
    const r = await runDo(["--", path]);
    expect(r.code, describeRun(r)).toBe(126);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Permission denied");
    const native = await runNative("/bin/sh", ["-c", `"${path}"`]);
    expect(native.code).toBe(126);
  });
});

describe("stdio is passed straight through", () => {
  it("stdin reaches the workload; stdout and stderr stay separate", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", "echo first; cat; echo to-err >&2; echo last"], { input: "one\ntwo\n" });
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "first\none\ntwo\nlast\n", stderr: "to-err\n" });
  });

  it("a large stdin comes back unchanged through stdout", async ({ expect }) => {
    // The sleep lets runsc-ts finish starting up before the workload writes its output.
    const input = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${"x".repeat(i % 50)}`).join("\n") + "\n";
    const r = await runDo(["--", "/bin/sh", "-c", "sleep 0.3; cat"], { input });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(input.length);
    expect(r.stdout === input).toBe(true);
  });

  it("the workload holds exactly stdin, stdout and stderr, of the same kinds as natively (no fd leaks in)", async ({ expect }) => {
    const fdprobe = probes.path("fdprobe");
    const [inside, native] = await Promise.all([runDo(["--", fdprobe]), runNative(fdprobe)]);
    const fds = (out: string): string[] => out.trim().split("\n").map((l) => l.split(" ").slice(0, 2).join(" "));
    // Node hands the child socketpairs for "pipe" stdio.
    const stdio = ["0 socket", "1 socket", "2 socket"];
    expect(fds(native.stdout).slice(0, 3), describeRun(native)).toEqual(stdio);
    expect(inside.code, describeRun(inside)).toBe(0);
    // Whatever else the test process let the native run inherit, the sandbox holds nothing more.
    expect(fds(inside.stdout)).toEqual(stdio);
  });

  it("stdio keeps its file status flags while runsc-ts runs (stdout/stderr do not turn non-blocking)", async ({ expect }) => {
    // The descriptors are shared with runsc-ts: a flag it sets on its own stdio (O_NONBLOCK)
    // changes the workload's, whose writes then fail with EAGAIN.
    const fdprobe = probes.path("fdprobe");
    const [inside, native] = await Promise.all([runDo(["--", fdprobe, "500"]), runNative(fdprobe, ["500"])]);
    const stdio = (out: string): string[] => out.trim().split("\n").slice(0, 3);
    expect(stdio(native.stdout), describeRun(native)).toEqual(["0 socket 2", "1 socket 2", "2 socket 2"]);
    expect(inside.code, describeRun(inside)).toBe(0);
    expect(stdio(inside.stdout)).toEqual(stdio(native.stdout));
  });

  it("--env sets variables, the host environment is passed, --cwd sets the working directory", async ({ expect }) => {
    const r = await runDo(
      ["--env", "RUNSC_TS_A=alpha", "--env", "RUNSC_TS_B=b=c", "--cwd", "/usr/share", "--", "/bin/sh", "-c", 'echo "$RUNSC_TS_A|$RUNSC_TS_B|$RUNSC_TS_HOSTVAR"; pwd; ls -d doc'],
      { env: { RUNSC_TS_HOSTVAR: "from-host" } },
    );
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "alpha|b=c|from-host\n/usr/share\ndoc\n" });
  });
});

describe("identity and namespaces", () => {
  it("the hostname is the sandbox's own, and --hostname sets it", async ({ expect }) => {
    const host = readFileSync("/proc/sys/kernel/hostname", "utf8").trim();
    const [dflt, named] = await Promise.all([
      runDo(["--", "/bin/sh", "-c", "hostname; uname -n"]),
      runDo(["--hostname", "probe-box", "--", "/bin/sh", "-c", "hostname; cat /proc/sys/kernel/hostname"]),
    ]);
    expect(dflt.code, describeRun(dflt)).toBe(0);
    expect(dflt.stdout).toBe("runsc-ts\nrunsc-ts\n");
    expect(host).not.toBe("runsc-ts");
    expect(named, describeRun(named)).toMatchObject({ code: 0, stdout: "probe-box\nprobe-box\n" });
    // The host's hostname is untouched.
    expect(readFileSync("/proc/sys/kernel/hostname", "utf8").trim()).toBe(host);
  });

  it("uid 0 inside is an unprivileged uid outside", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"]);
    expect(r.code, describeRun(r)).toBe(0);
    const lines = r.stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    expect(lines.slice(0, 2)).toEqual(["0", "0"]);
    // "inside outside count": uid 0 maps to a non-zero host uid.
    const [uidMap, gidMap] = [lines[2]!.split(" "), lines[3]!.split(" ")];
    expect(uidMap[0]).toBe("0");
    expect(Number(uidMap[1])).toBeGreaterThan(0);
    expect(gidMap[0]).toBe("0");
    expect(Number(gidMap[1])).toBeGreaterThan(0);
  });

  it("root inside cannot read a host root's 0600 file that host root can", async ({ expect }) => {
    const path = join(fixtures, "root-only");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const native = await runNative("cat", [path]);
    expect(native.stdout).toBe("root only\n");
    const r = await runDo(["--", "cat", path]);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Permission denied");
  });

  it("the workload is in its own PID namespace", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", 'echo $$; ls /proc | grep -c "^[0-9][0-9]*$"; cat /proc/1/cmdline | tr "\\0" " "']);
    expect(r.code, describeRun(r)).toBe(0);
    const [pid, count] = r.stdout.split("\n");
    expect(Number(pid)).toBeLessThanOrEqual(3);
    expect(Number(count)).toBeLessThan(10);
    // PID 1 is the sandbox's init, not the host's.
    const hostInit = readFileSync("/proc/1/cmdline", "utf8").replaceAll("\0", " ");
    expect(r.stdout.split("\n")[2]).not.toBe(hostInit);
  });

  it("with --network none only a loopback interface exists", async ({ expect }) => {
    const r = await runDo(["--", "/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"]);
    expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "lo\n" });
  });

  it("System V IPC is private: a host message queue is not visible", async ({ expect }) => {
    // ipcmk is part of util-linux, present wherever the test suite runs.
    const made = await runNative("ipcmk", ["-Q"]);
    expect(made.code, describeRun(made)).toBe(0);
    const id = /(\d+)\s*$/.exec(made.stdout.trim())?.[1];
    expect(id, made.stdout).toBeDefined();
    try {
      const native = await runNative("/bin/sh", ["-c", `grep -cw "${id}" /proc/sysvipc/msg`]);
      expect(native.stdout.trim()).not.toBe("0");
      const r = await runDo(["--", "/bin/sh", "-c", "tail -n +2 /proc/sysvipc/msg | wc -l"]);
      expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "0\n" });
    } finally {
      await runNative("ipcrm", ["-q", id!]);
    }
  });
});

describe("the filesystem: read-only root, private /tmp, hidden paths", () => {
  it("creating files anywhere outside /tmp fails with Read-only file system", async ({ expect }) => {
    const paths = ["/x", "/usr/runsc-ts-x", "/etc/runsc-ts-x", "/var/tmp/runsc-ts-x", join(fixtures, "new")];
    const r = await runDo(["--", "/bin/sh", "-c", `for p in ${paths.join(" ")}; do touch $p && echo created $p; done; mkdir /runsc-ts-dir`]);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.stdout).toBe("");
    for (const p of paths) {
      expect(r.stderr).toContain(`touch: cannot touch '${p}': Read-only file system`);
      expect(existsSync(p)).toBe(false);
    }
    expect(r.stderr).toMatch(/mkdir: cannot create directory .\/runsc-ts-dir.: Read-only file system/);
  });

  it("a host file cannot be changed through the sandbox", async ({ expect }) => {
    const path = writeHostFile(join(fixtures, "world-writable"), "original\n", 0o666);
    const r = await runDo(["--", "/bin/sh", "-c", `echo changed > ${path}`]);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(r.stderr).toContain("Read-only file system");
    expect(readFileSync(path, "utf8")).toBe("original\n");
  });

  it("/tmp is writable and private to the sandbox", async ({ expect }) => {
    const marker = `/tmp/runsc-ts-host-marker-${process.pid}`;
    writeHostFile(marker, "host\n");
    try {
      const inside = `/tmp/runsc-ts-inside-${process.pid}`;
      const script = `echo data > ${inside} && cat ${inside} && ls -A /tmp | wc -l; if test -e ${marker}; then echo host-file-visible; fi`;
      const r = await runDo(["--", "/bin/sh", "-c", script]);
      // Only the file just written is there: the host's /tmp is not.
      expect(r, describeRun(r)).toMatchObject({ code: 0, stdout: "data\n1\n" });
      expect(existsSync(inside)).toBe(false);
    } finally {
      rmSync(marker, { force: true });
    }
  });

  it("/etc/shadow and /etc/gshadow are absent: ENOENT, and ls /etc does not list them (natively readable)", async ({ expect }) => {
    expect((await runNative("head", ["-c", "1", "/etc/shadow"])).code).toBe(0);
    const r = await runDo(["--", "/bin/sh", "-c", "cat /etc/shadow; echo rc=$?; stat /etc/gshadow; echo rc=$?; ls -A /etc | grep -c shadow; ls /etc/passwd"]);
    expect(r.stdout).toBe("rc=1\nrc=1\n0\n/etc/passwd\n");
    expect(r.stderr).toContain("/etc/shadow: No such file or directory");
    expect(r.stderr).toMatch(/\/etc\/gshadow.*No such file or directory/);
  });

  it("under a writable root too: hidden paths are absent and host files the sandbox may write are written (setup keeps read-only host mounts read-only)", async ({ expect }) => {
    const policy = writePolicy(fixtures, "writable-root", `extends: ${join(ROOT, "policies", "default.yaml")}\nfilesystem:\n  root: writable\n`);
    const dir = join(fixtures, "writable");
    const { mkdirSync, chmodSync } = await import("node:fs");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", `echo hi > ${dir}/out; ls /etc/shadow; ls -d /root; touch /newfile; echo done`]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("done\n");
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("hi\n");
    expect(r.stderr).toMatch(/\/etc\/shadow.*No such file or directory/);
    expect(r.stderr).toMatch(/\/root.*No such file or directory/);
    // The root itself holds hidden entries, so it takes no new ones (policies/README.md).
    expect(r.stderr).toMatch(/\/newfile.*Read-only file system/);
  });

  it("hidden directories (/root, /run) are absent: ENOENT, and not listed", async ({ expect }) => {
    const hostRoot = (await runNative("ls", ["-A", "/root"])).stdout;
    expect(hostRoot, "the host's /root must have something to hide").not.toBe("");
    const r = await runDo(["--", "/bin/sh", "-c", "ls -A /root; echo rc=$?; cat /root/.bashrc; echo rc=$?; ls /run/systemd; echo rc=$?; ls -A / | grep -cx -e root -e run"]);
    expect(r.stdout).toBe("rc=2\nrc=1\nrc=2\n0\n");
    expect(r.stderr).toMatch(/\/root.*No such file or directory/);
    expect(r.stderr).toMatch(/\/run\/systemd.*No such file or directory/);
  });

  it("/proc/sys, /sys and masked /proc files are not writable or readable", async ({ expect }) => {
    const native = await runNative("cat", ["/proc/keys"]);
    expect(native.code, "natively /proc/keys is readable").toBe(0);
    const r = await runDo([
      "--",
      "/bin/sh",
      "-c",
      "echo x > /proc/sys/kernel/core_pattern; echo x > /proc/sys/kernel/hostname; echo never > /sys/kernel/mm/transparent_hugepage/enabled; cat /proc/keys; echo done",
    ]);
    expect(r.stdout).toBe("done\n");
    expect(r.stderr).toMatch(/core_pattern: Read-only file system/);
    expect(r.stderr).toMatch(/kernel\/hostname: Read-only file system/);
    expect(r.stderr).toMatch(/transparent_hugepage\/enabled: Read-only file system/);
    expect(r.stderr).toMatch(/\/proc\/keys: Permission denied/);
  });
});

describe("the same program natively and sandboxed agree where the policy allows", () => {
  /** The columns of `ls -la` that do not depend on the id mapping: mode, links, size, name. */
  const stable = (ls: string): string[] =>
    ls
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => {
        const f = l.split(/\s+/);
        return [f[0], f[1], f[4], f.slice(8).join(" ")].join(" ");
      });
  const owners = (ls: string): Set<string> => new Set(ls.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[2]!));

  it("ls -la /usr/share/doc: same names, modes, sizes; root-owned shows as nobody inside", async ({ expect }) => {
    const cmd = "ls -la /usr/share/doc | head -n 25";
    const [inside, native] = await Promise.all([runDo(["--", "/bin/sh", "-c", cmd]), runNative("/bin/sh", ["-c", cmd])]);
    expect(inside.code, describeRun(inside)).toBe(0);
    expect(stable(inside.stdout)).toEqual(stable(native.stdout));
    expect(owners(native.stdout)).toEqual(new Set(["root"]));
    expect(owners(inside.stdout)).toEqual(new Set(["nobody"]));
  });

  it("stat, sha256sum and find report the same as natively", async ({ expect }) => {
    const script = [
      "stat -c '%n %s %F %a %h %i' /etc/hostname /etc/os-release /usr/bin/ls /usr/share/doc",
      "sha256sum /usr/bin/ls /usr/bin/sh /etc/passwd",
      "find /usr/share/doc -maxdepth 2 -name copyright | sort",
    ].join("; ");
    const [inside, native] = await Promise.all([runDo(["--", "/bin/sh", "-c", script]), runNative("/bin/sh", ["-c", script])]);
    expect(inside.code, describeRun(inside)).toBe(0);
    expect(native.stdout.split("\n").length, "the host has a populated /usr/share/doc").toBeGreaterThan(20);
    expect(inside.stdout).toBe(native.stdout);
  });
});
