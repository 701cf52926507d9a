// audit: true and `policy learn` on real sandboxes. Audit lifts the policy's refusals and
// reports each one; learn writes a policy under which the same command runs again, while a
// file it never read and a program it never ran are refused.
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { defaultPoliciesDir } from "../../sentry/policy/load.js";
import { describeRun, hostFixtureDir, removeHostDir, runCli, runDo, writeHostFile, writePolicy } from "../helpers/sandbox.js";

let dir: string;
beforeAll(() => {
  dir = hostFixtureDir("learn");
  writeHostFile(join(dir, "input.txt"), "the input\n");
  writeHostFile(join(dir, "secret.txt"), "not for it\n");
});
afterAll(() => removeHostDir(dir));

const DEFAULT = join(defaultPoliciesDir(), "default.yaml");

describe("audit: true", () => {
  it("lets the workload do what the policy refuses and reports each refusal once, with the rule", async ({ expect }) => {
    const policy = writePolicy(
      dir,
      "audited",
      `extends: ${DEFAULT}
syscalls:
  deny: [uname]
filesystem:
  rules:
    - { path: ${dir}/secret.txt, access: none }
process:
  exec:
    allow: [/usr/bin/dash]
audit: true
`,
    );
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", `cat ${dir}/secret.txt; cat ${dir}/secret.txt; uname -s`]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("not for it\nnot for it\nLinux\n");
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("runsc-ts: audit: "));
    const hidden = lines.filter((l) => l.includes(`openat ${dir}/secret.txt: hidden (`) && l.includes("audited.yaml:"));
    expect(hidden, r.stderr).toHaveLength(1);
    expect(lines.some((l) => /would deny: uname: errno\(EPERM\) \(.*audited\.yaml:\d+ syscalls\.deny/.test(l)), r.stderr).toBe(true);
    expect(lines.some((l) => /would deny: execve \/usr\/bin\/cat: denied: EACCES/.test(l)), r.stderr).toBe(true);
    expect(lines.some((l) => l.includes("/usr/bin/dash")), r.stderr).toBe(false);
  });

  it("keeps what protects the host: a read-only root stays read-only, the built-in table still refuses", async ({ expect }) => {
    const policy = writePolicy(dir, "audited-ro", `extends: ${DEFAULT}\naudit: true\n`);
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", `echo x > ${dir}/new.txt; unshare -U true; echo status=$?`]);
    expect(existsSync(join(dir, "new.txt"))).toBe(false);
    expect(r.stderr, describeRun(r)).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/status=[1-9]/);
  });

  it("policy compile counts the refusals audit lifts", async ({ expect }) => {
    const policy = writePolicy(dir, "audited-compile", `extends: ${DEFAULT}\nsyscalls:\n  deny: [uname, getcwd]\naudit: true\n`);
    const r = await runCli(["policy", "compile", policy, "--json"]);
    expect(r.code, describeRun(r)).toBe(0);
    // default.yaml's four refusals and the two named here.
    expect(JSON.parse(r.stdout)).toMatchObject({ auditLifted: 6 });
  });

  it("--strace-syscalls under audit traces only the syscalls named, not what recording traps", async ({ expect }) => {
    const policy = writePolicy(dir, "audited-trace", `extends: ${DEFAULT}\nsyscalls:\n  deny: [uname]\naudit: true\n`);
    const r = await runDo(["--policy", policy, "--strace-syscalls", "uname", "--", "/bin/sh", "-c", `uname -s; cat ${dir}/input.txt`]);
    expect(r.code, describeRun(r)).toBe(0);
    const traced = r.stderr.split("\n").filter((l) => /^I \S+ \[ *\d+\] /.test(l));
    expect(traced.length, r.stderr).toBeGreaterThan(0);
    expect(traced.every((l) => / uname\(/.test(l)), traced.join("\n")).toBe(true);
  });

  it("refuses as usual without audit", async ({ expect }) => {
    const policy = writePolicy(dir, "enforced", `extends: ${DEFAULT}\nsyscalls:\n  deny: [uname]\n`);
    const r = await runDo(["--policy", policy, "--", "uname", "-s"]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/Operation not permitted/);
    expect(r.stderr).not.toMatch(/audit/);
  });
});

describe("policy learn", () => {
  const script = (d: string): string => `cat ${d}/input.txt; id -u`;

  it("writes a valid policy that runs the command again and refuses what it never did", async ({ expect }) => {
    const out = join(dir, "learned.yaml");
    const learn = await runCli(["policy", "learn", "--out", out, "--name", "input-reader", "--", "/bin/sh", "-c", script(dir)]);
    expect(learn.code, describeRun(learn)).toBe(0);
    expect(learn.stdout).toBe("the input\n0\n");
    expect(learn.stderr).toContain(`learned policy written to ${out}`);
    const text = readFileSync(out, "utf8");
    expect(text).toContain("A starting point, not a proof");
    expect(text).toContain(`{ path: ${dir}/input.txt, access: read }`);
    expect(text).toMatch(/^  signals: self /m);

    const valid = await runCli(["policy", "validate", out]);
    expect(valid.code, describeRun(valid)).toBe(0);

    // The same run, under the learned policy.
    const again = await runDo(["--policy", out, "--", "/bin/sh", "-c", script(dir)]);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toBe("the input\n0\n");

    // A file it never read does not exist for it; a program it never ran is refused.
    const other = await runDo(["--policy", out, "--", "/bin/sh", "-c", `cat ${dir}/secret.txt`]);
    expect(other.code, describeRun(other)).not.toBe(0);
    expect(other.stderr).toMatch(/No such file or directory/);
    const ls = await runDo(["--policy", out, "--", "/bin/sh", "-c", `ls ${dir}`]);
    expect(ls.code, describeRun(ls)).toBe(126);
    expect(ls.stderr).toMatch(/Permission denied/);
  });

  it("prints the policy on stdout without --out, after the command's output, and exits with its status", async ({ expect }) => {
    const r = await runCli(["policy", "learn", "--", "/bin/sh", "-c", "echo out; exit 3"]);
    expect(r.code, describeRun(r)).toBe(3);
    expect(r.stdout).toMatch(/^out\n# yaml-language-server: /);
    expect(r.stdout).toContain("name: learned");
  });

  it("leaves signals to the sandbox when the run signalled another process, and audit reports such a signal", async ({ expect }) => {
    const out = join(dir, "jobs.yaml");
    const learn = await runCli(["policy", "learn", "--out", out, "--", "/bin/sh", "-c", "sleep 5 & kill $!; wait; echo done"]);
    expect(learn.code, describeRun(learn)).toBe(0);
    expect(readFileSync(out, "utf8")).toMatch(/^  signals: sandbox /m);
    const policy = writePolicy(dir, "audited-signals", `extends: ${DEFAULT}\nprocess:\n  signals: self\naudit: true\n`);
    const r = await runDo(["--policy", policy, "--", "/bin/sh", "-c", "sleep 5 & kill $!; wait; echo done"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("done\n");
    expect(r.stderr).toMatch(/audit: would deny: kill of \d+ \(not the caller's own process\): EPERM \(.*audited-signals\.yaml:\d+ process\.signals self\)/);
  });

  it("--check runs the command again under the written policy and says it exited as before", async ({ expect }) => {
    const out = join(dir, "checked.yaml");
    const r = await runCli(["policy", "learn", "--check", "--out", out, "--", "/bin/sh", "-c", script(dir)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("the input\n0\n".repeat(2));
    expect(r.stderr).toContain(`check: under ${out} the command exited with 0, as it did while learning`);
    const usage = await runCli(["policy", "learn", "--check", "--", "true"]);
    expect(usage.code).toBe(125);
    expect(usage.stderr).toMatch(/--check needs --out/);
  });

  it("refuses a bad name and a missing command with a one-line error", async ({ expect }) => {
    const bad = await runCli(["policy", "learn", "--name", "Bad Name", "--", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/--name: expected lowercase/);
    const none = await runCli(["policy", "learn"]);
    expect(none.code).toBe(125);
    expect(none.stderr).toMatch(/missing command/);
  });
});

describe("policy learn with a network client", () => {
  let server: Server;
  let other: Server;
  let address: string;
  const CLIENT = [
    "import socket, sys",
    "s = socket.socket()",
    "try:",
    "    s.connect((sys.argv[1], int(sys.argv[2])))",
    "    s.sendall(b'hi\\n')",
    "    print(s.recv(100).decode().strip())",
    "except OSError as e:",
    "    print('errno', e.errno)",
  ].join("\n");
  const listen = (s: Server): Promise<number> =>
    new Promise((resolve, reject) => {
      s.once("error", reject);
      s.listen({ port: 0, host: address }, () => resolve((s.address() as AddressInfo).port));
    });
  let port = 0;
  let otherPort = 0;

  beforeAll(async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a !== undefined && a.family === "IPv4" && !a.internal);
    if (external === undefined) throw new Error("this machine has no non-internal IPv4 address: the test needs one to connect to");
    address = external.address;
    const serve = (sock: import("node:net").Socket): void => {
      sock.on("error", () => {});
      sock.once("data", () => sock.end("pong\n"));
    };
    server = createServer(serve);
    other = createServer(serve);
    port = await listen(server);
    otherPort = await listen(other);
  });
  afterAll(() => {
    server.close();
    other.close();
  });

  it("carries the connection the run made under proxy, and refuses another port", async ({ expect }) => {
    const out = join(dir, "client.yaml");
    const learn = await runCli(["policy", "learn", "--out", out, "--", "python3", "-c", CLIENT, address, String(port)]);
    expect(learn.code, describeRun(learn)).toBe(0);
    expect(learn.stdout).toBe("pong\n");
    const text = readFileSync(out, "utf8");
    expect(text).toContain("mode: proxy");
    expect(text).toContain(`- { to: ${address}, ports: ${port} }`);

    const again = await runDo(["--policy", out, "--", "python3", "-c", CLIENT, address, String(port)]);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.stdout).toBe("pong\n");
    const elsewhere = await runDo(["--policy", out, "--", "python3", "-c", CLIENT, address, String(otherPort)]);
    expect(elsewhere.code, describeRun(elsewhere)).toBe(0);
    expect(elsewhere.stdout).toBe("errno 13\n"); // EACCES
  });

  it("under audit a connection proxy egress refuses is made, and reported with the rule", async ({ expect }) => {
    const policy = writePolicy(dir, "audited-egress", `extends: ${DEFAULT}\nnetwork:\n  mode: proxy\n  egress:\n    - { to: ${address}/32, ports: ${port} }\naudit: true\n`);
    const r = await runDo(["--policy", policy, "--", "python3", "-c", CLIENT, address, String(otherPort)]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("pong\n");
    expect(r.stderr).toMatch(new RegExp(`audit: would deny: connect ${address.replace(/\./g, "\\.")}:${otherPort}: denied: EACCES \\(.*audited-egress\\.yaml:\\d+`));
    expect(r.stderr).not.toMatch(new RegExp(`connect ${address.replace(/\./g, "\\.")}:${port}:`));
  });
});
