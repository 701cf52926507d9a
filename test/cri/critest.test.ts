// critest, Kubernetes' CRI validation suite, through containerd: runc as the reference and
// runsc-ts (the runc-binary handler) in the same run. runsc-ts may fail only what runc fails
// and the differences the README names ("Where a pod sees a difference from runc"), each
// here with its reason; no spec may hang (critest's own timeout would end the run).
//
// CRI_TOOLS names the directory of the tools that run it: `setup` (containerd with both
// handlers, a local registry of critest's images), `run HANDLER` (critest; its last lines
// are "critest HANDLER: N passed, N failed, N skipped in S s" and "  failed: SPEC (file:line)"),
// and `stop`. With CI=true a missing CRI_TOOLS fails; otherwise the suite says it is skipped.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/sandbox.js";

const TOOLS = process.env.CRI_TOOLS;
const usable = TOOLS !== undefined && ["setup", "run", "stop"].every((t) => existsSync(join(TOOLS, t)));
const why = `CRI_TOOLS must name the directory holding critest's setup, run and stop${TOOLS !== undefined ? ` (${TOOLS} does not)` : ""}`;
if (!usable && process.env.CI === "true") throw new Error(why);

/** Where runsc-ts differs from runc by design (README), by spec name. */
const DIFFERENCES: [RegExp, string][] = [
  [/Mount Propagation .* 'rshared'/, "a mount the container makes cannot reach the host from a user namespace"],
  [/Mount Propagation .* 'rslave'/, "root inside sees a host mount's 0700 directory as nobody's"],
  [/should support HostIpc is true/, "the host's mqueue cannot be mounted by root inside"],
  [/should support HostPID/, "the host's PID namespace is refused"],
  [/SeccompProfilePath should support nil profile, which is unconfined/, "a sandbox always filters (Seccomp: 2)"],
  [/SeccompProfilePath should support seccomp unconfined on the container/, "a sandbox always filters (Seccomp: 2)"],
  [/should support Privileged is true/, "the CNI network namespace is the host's: no CAP_NET_ADMIN over it"],
  [/should support adding capability/, "the CNI network namespace is the host's: no CAP_NET_ADMIN over it"],
  [/should support ContainerPID/, "the container's PID 1 is runsc-ts-init, the program PID 2"],
];

interface Result {
  passed: number;
  failed: string[];
  skipped: number;
  seconds: number;
  output: string;
}

function critest(handler: string): Result {
  const r = spawnSync(join(TOOLS!, "run"), [handler], { cwd: ROOT, encoding: "utf8", timeout: 1_500_000, killSignal: "SIGKILL" });
  const output = `${r.stdout}${r.stderr}`;
  const m = new RegExp(`critest ${handler}: (\\d+) passed, (\\d+) failed, (\\d+) skipped in (\\d+) s`).exec(output);
  if (m === null) throw new Error(`critest ${handler} printed no summary (status ${r.status}, signal ${r.signal}):\n${output.slice(-3000)}`);
  const failed = [...output.matchAll(/^ {2}failed: (.*?) {2}\(/gm)].map((f) => f[1]!);
  return { passed: Number(m[1]), failed, skipped: Number(m[3]), seconds: Number(m[4]), output };
}

describe.skipIf(!usable)(`critest through containerd${usable ? "" : ` (skipped: ${why})`}`, () => {
  let runc: Result;
  beforeAll(() => {
    const s = spawnSync(join(TOOLS!, "setup"), [], { cwd: ROOT, encoding: "utf8", env: { ...process.env, RUNSC_TS: join(ROOT, "bin", "runsc-ts") } });
    if (s.status !== 0) throw new Error(`CRI setup failed (${s.status}):\n${s.stdout}${s.stderr}`);
    runc = critest("runc");
  });
  afterAll(() => {
    spawnSync(join(TOOLS!, "stop"), [], { cwd: ROOT, stdio: "ignore" });
  });

  it("runsc-ts fails nothing but runc's failures and the differences the README names", () => {
    const ours = critest("runsc-ts");
    const unexplained = ours.failed.filter((f) => !runc.failed.includes(f) && !DIFFERENCES.some(([re]) => re.test(f)));
    expect(unexplained, `runc: ${runc.passed} passed in ${runc.seconds} s; runsc-ts: ${ours.passed} passed in ${ours.seconds} s`).toEqual([]);
    // Every spec ran to an end: the same number of specs under both.
    expect(ours.passed + ours.failed.length + ours.skipped).toBe(runc.passed + runc.failed.length + runc.skipped);
  });
});
