// No TOCTOU on path arguments: one thread flips a path buffer between an allowed file and a
// hidden one while another opens it 20 000 times; the hidden content is never read, whether
// the kernel performs the opens (default) or the sentry does (--strace-syscalls openat, or
// an open for writing under an overlay root, which the sentry performs with root inside's
// rights on the host's files).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { useProbes } from "../helpers/probes.js";
import { describeRun, hostFixtureDir, removeHostDir, runDo, runNative, writeHostFile, writePolicy } from "../helpers/sandbox.js";
import type { RunResult } from "../helpers/sandbox.js";

const probes = useProbes();
const ITERATIONS = 20_000;
const MARKER = `TOP-SECRET-${process.pid}-${Date.now()}`;

let fixtures: string;
let policy: string;
/** Where the traced runs write their 20 000 trace lines: the point here is the race, not the pipe. */
let traceFile: string;
/** Same-length paths: an allowed file and files the policy hides (world-readable on the host). */
let publicFile: string, secretFile: string, publicInDir: string, secretInDir: string;
/** Host-root-owned: readable by all (0644), and by its owner only (0600, not hidden by any rule). */
let rootPublic: string, rootSecret: string;
let overlayPolicy: string;

beforeAll(() => {
  fixtures = hostFixtureDir("race");
  traceFile = join(fixtures, "trace.log");
  publicFile = writeHostFile(join(fixtures, "public"), "public content\n");
  secretFile = writeHostFile(join(fixtures, "secret"), `${MARKER}\n`);
  for (const d of ["pubdir", "secdir"]) mkdirSync(join(fixtures, d), { mode: 0o755 });
  publicInDir = writeHostFile(join(fixtures, "pubdir", "data"), "public content\n");
  secretInDir = writeHostFile(join(fixtures, "secdir", "data"), `${MARKER}\n`);
  rootPublic = writeHostFile(join(fixtures, "rootpub"), "public content\n");
  rootSecret = writeHostFile(join(fixtures, "rootsec"), `${MARKER}\n`, 0o600);
  policy = writePolicy(
    fixtures,
    "race",
    `filesystem:\n  rules:\n    - { path: /etc/shadow, access: none }\n    - { path: ${secretFile}, access: none }\n    - { path: ${join(fixtures, "secdir")}/**, access: none }\n`,
  );
  overlayPolicy = writePolicy(
    fixtures,
    "race-overlay",
    `filesystem:\n  root: overlay\n  rules:\n    - { path: ${secretFile}, access: none }\n`,
  );
});
afterAll(() => removeHostDir(fixtures));

interface RaceCounts {
  iterations: number;
  hidden: number;
  allowed: number;
  failed: number;
  other: number;
}

function parseRace(r: RunResult): RaceCounts {
  const m = /iterations=(\d+) hidden=(\d+) allowed=(\d+) failed=(\d+) other=(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`race probe printed no counts: ${describeRun(r)}`);
  const [iterations, hidden, allowed, failed, other] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { iterations, hidden, allowed, failed, other };
}

describe("path race", () => {
  it("the probe detects the race where nothing hides the file (natively)", async ({ expect }) => {
    const r = await runNative(probes.path("race"), [publicFile, secretFile, MARKER, String(ITERATIONS)]);
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.hidden).toBeGreaterThan(0);
    expect(c.allowed).toBeGreaterThan(0);
  });

  it("a policy-hidden file is never read: opens performed by the kernel", async ({ expect }) => {
    const r = await runDo(["--policy", policy, "--", probes.path("race"), publicFile, secretFile, MARKER, String(ITERATIONS)]);
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.iterations).toBe(ITERATIONS);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
  });

  it("a policy-hidden file is never read: opens performed by the sentry (--strace-syscalls openat)", async ({ expect }) => {
    const r = await runDo(["--policy", policy, "--strace-syscalls", "openat", "--", probes.path("race"), publicFile, secretFile, MARKER, String(ITERATIONS)], {
      stderrFile: traceFile,
    });
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.iterations).toBe(ITERATIONS);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
    // The opens really went through the sentry.
    expect(r.stderr).toContain(`openat(AT_FDCWD, "${publicFile}"`);
    expect(r.stderr).toContain(`openat(AT_FDCWD, "${secretFile}"`);
  });

  it("a file in a hidden directory is never read (--strace-syscalls openat)", async ({ expect }) => {
    const r = await runDo(["--policy", policy, "--strace-syscalls", "openat", "--", probes.path("race"), publicInDir, secretInDir, MARKER, String(ITERATIONS)], {
      stderrFile: traceFile,
    });
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
  });

  it("overlay root, O_RDWR (the sentry's elevated open): a file root inside may not read is never read", async ({ expect }) => {
    const native = await runNative(probes.path("race"), [rootPublic, rootSecret, MARKER, String(ITERATIONS), "rw"]);
    expect(parseRace(native).hidden, "natively (as root) the probe reads both").toBeGreaterThan(0);
    const r = await runDo(["--policy", overlayPolicy, "--", probes.path("race"), rootPublic, rootSecret, MARKER, String(ITERATIONS), "rw"]);
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.iterations).toBe(ITERATIONS);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
    expect(readFileSync(rootSecret, "utf8")).toBe(`${MARKER}\n`);
  });

  it("overlay root, O_RDWR: a policy-hidden file (a whiteout) is never read", async ({ expect }) => {
    const r = await runDo(["--policy", overlayPolicy, "--", probes.path("race"), publicFile, secretFile, MARKER, String(ITERATIONS), "rw"]);
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
  });

  it("/etc/shadow of the default policy is never read (--strace-syscalls openat)", async ({ expect }) => {
    // Its first line (never in /etc/passwd, which has the same path length) marks a leak.
    const firstLine = readFileSync("/etc/shadow", "utf8").split("\n")[0]!;
    expect(readFileSync("/etc/passwd", "utf8")).not.toContain(firstLine);
    const r = await runDo(["--strace-syscalls", "openat", "--", probes.path("race"), "/etc/passwd", "/etc/shadow", firstLine, String(ITERATIONS)], {
      stderrFile: traceFile,
    });
    expect(r.code, describeRun(r)).toBe(0);
    const c = parseRace(r);
    expect(c.hidden).toBe(0);
    expect(c.allowed).toBeGreaterThan(0);
  });
});
