// podman with runsc-ts as its OCI runtime (`podman --runtime runsc-ts`), end to end: conmon
// creates and execs, podman starts, kills, pauses and deletes. The tests' podman keeps its
// storage under PODMAN_DIR and uses the cgroupfs manager (no systemd here).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxRootfs } from "../helpers/bundle.js";
import { CLI, ensurePackages, writeNoMkdirPolicy } from "./daemon.js";

const PODMAN_DIR = "/var/lib/runsc-ts-e2e-podman";
const IMAGE = "localhost/runsc-ts-e2e/bb:latest";
/** podman's own runsc-ts state root: the runtime's default. */
const STATE_ROOT = "/run/runsc-ts";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function podman(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Result {
  const r = spawnSync(
    "podman",
    ["--root", join(PODMAN_DIR, "storage"), "--runroot", join(PODMAN_DIR, "run"), "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", CLI, ...args],
    { input: opts.input ?? "", timeout: opts.timeoutMs ?? 60_000, killSignal: "SIGKILL" },
  );
  return { code: r.status, stdout: r.stdout?.toString() ?? "", stderr: r.stderr?.toString() ?? "" };
}

/** podman's hosts here refuse its default limits above root's hard ones: give its own. */
const LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"];
const run = (flags: string[], cmd: string[], opts: { input?: string } = {}): Result => podman(["run", "--rm", ...LIMITS, "--network", "none", ...flags, IMAGE, ...cmd], opts);

/** runsc-ts's containers under its default root (podman's): its directories, apart from its shared ones. */
const containersInRoot = (): string[] =>
  existsSync(STATE_ROOT) ? readdirSync(STATE_ROOT, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith(".")).map((d) => d.name) : [];

let before: string[];

beforeAll(() => {
  ensurePackages(["podman"]);
  mkdirSync(PODMAN_DIR, { recursive: true });
  before = containersInRoot();
  const tar = execFileSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 256 << 20 });
  const r = podman(["import", "-", IMAGE], { input: tar, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`podman import: ${r.stderr}`);
}, 600_000);

afterAll(() => {
  const ids = podman(["ps", "-aq"]).stdout.trim().split("\n").filter(Boolean);
  if (ids.length > 0) podman(["rm", "-f", ...ids], { timeoutMs: 120_000 });
  const left = containersInRoot().filter((d) => !before.includes(d));
  podman(["system", "reset", "--force"], { timeoutMs: 120_000 });
  spawnSync("sh", ["-c", `grep -o " ${PODMAN_DIR}/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  rmSync(PODMAN_DIR, { recursive: true, force: true });
  expect(left, "runsc-ts containers podman left behind").toEqual([]);
  // No conmon, init or monitor of the tests' containers is left either.
  const procs = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
      } catch {
        return "";
      }
    })
    .filter((c) => (c.startsWith("/usr/bin/conmon") && c.includes(PODMAN_DIR)) || (c.includes("/monitor.js ") && c.includes(`${STATE_ROOT} `)));
  expect(procs, "processes podman's containers left behind").toEqual([]);
}, 300_000);

describe("podman --runtime runsc-ts", () => {
  it("runs a container: output, exit status and stdin", () => {
    const r = run([], ["sh", "-c", "echo out; echo err >&2; exit 5"]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toContain("err\n");
    const i = run(["-i"], ["tr", "a-z", "A-Z"], { input: "piped\n" });
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toBe("PIPED\n");
  });

  it("root inside is a host id of the container's own range (a user namespace podman did not ask for)", () => {
    const r = run([], ["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    expect(r.code, r.stderr).toBe(0);
    const [uid, map] = r.stdout.trim().split("\n");
    expect(uid).toBe("0");
    const [inside, outside, count] = map!.trim().split(/\s+/).map(Number);
    expect([inside, count]).toEqual([0, 65536]);
    expect(outside).toBeGreaterThanOrEqual(0x40000000);
  });

  it("exec, kill, pause and unpause a detached container; rm -f ends it", () => {
    const d = podman(["run", "-d", ...LIMITS, "--network", "none", "--name", "pm-a", IMAGE, "sh", "-c", "trap 'exit 12' USR1; while :; do sleep 0.1; done"]);
    expect(d.code, d.stderr).toBe(0);
    const e = podman(["exec", "pm-a", "sh", "-c", "echo $((3*4))"]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toBe("12\n");
    expect(podman(["pause", "pm-a"]).code).toBe(0);
    expect(podman(["inspect", "-f", "{{.State.Status}}", "pm-a"]).stdout.trim()).toBe("paused");
    expect(podman(["unpause", "pm-a"]).code).toBe(0);
    expect(podman(["kill", "-s", "USR1", "pm-a"]).code).toBe(0);
    expect(podman(["wait", "pm-a"]).stdout.trim()).toBe("12");
    expect(podman(["rm", "-f", "pm-a"]).code).toBe(0);
  });

  it("--annotation dev.runsc-ts.policy chooses the container's policy", () => {
    const dir = join(PODMAN_DIR, "policies");
    mkdirSync(dir, { recursive: true });
    const policy = join(dir, "no-mkdir.yaml");
    writeNoMkdirPolicy(policy, "podman-no-mkdir");
    const r = run(["--annotation", `dev.runsc-ts.policy=${policy}`], ["sh", "-c", "mkdir /tmp/d 2>&1; echo status=$?"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Operation not permitted");
    expect(r.stdout).toContain("status=1");
  });
});
