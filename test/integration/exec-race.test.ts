// Exec verified: the exec allowlist holds against a task that changes what execve names
// between the sentry's check and the kernel's read. Two threads of a child race: one flips
// the path (or the descriptor execveat runs) between an allowed file and a forbidden one,
// both visible and read-only, the other execs; 20 000 attempts. Natively the forbidden
// program runs; sandboxed it never does: a check that passed on the allowed file while the
// kernel loaded the forbidden one ends in the task's death at its exec stop.
import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, it } from "vitest";
import { PROBE_SOURCES } from "../helpers/probes.js";
import { makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writePolicy } from "../helpers/sandbox.js";

const ATTEMPTS = 20_000;

let dir: string;
let probe: string;
/** Copies of the probe at paths of one length: one the policy allows, one it does not. */
let allowed: string, forbidden: string;
let policy: string;
const bundles: Bundle[] = [];

beforeAll(async () => {
  dir = hostFixtureDir("exec-race");
  probe = join(dir, "execrace");
  // Static: the same binary runs on the host, under do and in the busybox container.
  await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", probe, join(PROBE_SOURCES, "execrace.c")]);
  chmodSync(probe, 0o755);
  for (const d of ["allowed", "forbidd"]) mkdirSync(join(dir, d), { mode: 0o755 });
  allowed = join(dir, "allowed", "p");
  forbidden = join(dir, "forbidd", "p");
  for (const p of [allowed, forbidden]) {
    copyFileSync(probe, p);
    chmodSync(p, 0o755);
  }
  policy = writePolicy(dir, "exec-race", `process:\n  exec:\n    allow: [${probe}, ${allowed}]\n`);
}, 60_000);

afterAll(() => {
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

interface Counts {
  attempts: number;
  allowed: number;
  forbidden: number;
  denied: number;
  failed: number;
  killed: number;
  other: number;
}

function counts(r: { stdout: string; stderr: string }): Counts {
  const m = /attempts=(\d+) allowed=(\d+) forbidden=(\d+) denied=(\d+) failed=(\d+) killed=(\d+) other=(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`execrace printed no counts: ${r.stdout}${r.stderr}`);
  const [attempts, ok, bad, denied, failed, killed, other] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return { attempts, allowed: ok, forbidden: bad, denied, failed, killed, other };
}

describe("exec race", () => {
  it("natively, the forbidden program runs: the probe races", async ({ expect }) => {
    for (const mode of ["path", "fd"]) {
      const r = await runNative(probe, [allowed, forbidden, "400", mode]);
      expect(r.code, describeRun(r)).toBe(0);
      const c = counts(r);
      expect(c.forbidden, `${mode}: ${r.stdout}`).toBeGreaterThan(0);
      expect(c.allowed, `${mode}: ${r.stdout}`).toBeGreaterThan(0);
    }
  });

  for (const mode of ["path", "fd"] as const) {
    const what = mode === "path" ? "the path string flips" : "the descriptor execveat runs flips (dup2)";
    it(`do: ${what}, ${ATTEMPTS} attempts: the forbidden program never runs`, { timeout: 180_000 }, async ({ expect }) => {
      const r = await runDo(["--policy", policy, "--", probe, allowed, forbidden, String(ATTEMPTS), mode], { timeoutMs: 170_000 });
      expect(r.code, describeRun(r)).toBe(0);
      const c = counts(r);
      expect(c.attempts).toBe(ATTEMPTS);
      expect(c.forbidden, r.stdout).toBe(0);
      expect(c.other, r.stdout + r.stderr).toBe(0);
      // Both ends of the race happened: execs of the allowed program, execs refused at the
      // check, and checks that passed while the kernel loaded the forbidden file (killed).
      expect(c.allowed, r.stdout).toBeGreaterThan(0);
      expect(c.denied, r.stdout).toBeGreaterThan(0);
      expect(c.killed, r.stdout).toBeGreaterThan(0);
    });
  }

  it("a container (its confined monitor): the path flips, 5 000 attempts: the forbidden program never runs", { timeout: 120_000 }, async ({ expect }) => {
    const containerPolicy = join(dir, "container-exec.yaml");
    writeFileSync(containerPolicy, `apiVersion: runsc-ts/v1\nkind: Policy\nname: container-exec\nextends: container\nprocess:\n  exec:\n    allow: [/bin/**, /x/execrace, /x/allowed/p]\n`);
    const b = makeBundle({
      args: ["/x/execrace", "/x/allowed/p", "/x/forbidd/p", "5000", "path"],
      name: "exec-race",
      config: (c) => {
        c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] });
        c.annotations = { "dev.runsc-ts.policy": containerPolicy };
      },
    });
    bundles.push(b);
    const r = await runtime(["run", "--bundle", b.dir, b.id], { timeoutMs: 110_000 });
    try {
      expect(r.code, r.stderr).toBe(0);
      const c = counts(r);
      expect(c.attempts).toBe(5000);
      expect(c.forbidden, r.stdout).toBe(0);
      expect(c.allowed, r.stdout).toBeGreaterThan(0);
      expect(c.killed, r.stdout).toBeGreaterThan(0);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("an exec that fails (a PATH search) is followed at once by the next: each is verified, none refused", { timeout: 120_000 }, async ({ expect }) => {
    const p = writePolicy(dir, "exec-path", "process:\n  exec:\n    allow: [/usr/bin/**, /bin/**]\n");
    // dash tries each PATH entry with execve, and env's execvp does too: five failed execs
    // before each that succeeds.
    const loop = "i=0; while [ $i -lt 300 ]; do PATH=/x1:/x2:/x3:/x4:/x5:/usr/bin env true || echo FAIL $i; i=$((i+1)); done; echo end";
    const r = await runDo(["--policy", p, "--", "/bin/sh", "-c", loop], { timeoutMs: 110_000 });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("end\n");
  });

  it("the same in a container recording its events (execs answered on its monitor's loop)", { timeout: 120_000 }, async ({ expect }) => {
    const loop = "i=0; while [ $i -lt 200 ]; do PATH=/x1:/x2:/x3:/x4:/x5:/x execrace exit || echo FAIL $i; i=$((i+1)); done; echo end";
    const b = makeBundle({
      args: ["sh", "-c", loop],
      name: "exec-path",
      config: (c) => c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "ro"] }),
    });
    bundles.push(b);
    try {
      const r = await runtime(["--record-events", "run", "--bundle", b.dir, b.id], { timeoutMs: 110_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("end\n");
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("a script's interpreter is what is verified; an allowed script runs, and a memfd is refused", async ({ expect }) => {
    const script = join(dir, "script.sh");
    writeFileSync(script, "#!/bin/sh\necho script-ran\n");
    chmodSync(script, 0o755);
    const p = writePolicy(dir, "exec-script", `process:\n  exec:\n    allow: [/usr/bin/**, /bin/**, ${script}]\n`);
    const r = await runDo(["--policy", p, "--", "/bin/sh", "-c", `${script}; python3 -c 'import os; fd = os.memfd_create("x"); os.write(fd, open("/bin/true","rb").read()); os.execve(fd, ["x"], {})' 2>&1 | tail -1`]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toContain("script-ran");
    expect(r.stdout).toMatch(/PermissionError|Permission denied/);
  });
});
