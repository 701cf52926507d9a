// critest, Kubernetes' CRI validation suite, through containerd: runc as the reference,
// runsc-ts through containerd's runc shim (handler runsc-ts) and through its own shim
// (handler runsc-ts-shim, containerd-shim-runsc-ts-v1), in the same run. runsc-ts may fail only what runc fails
// and the differences the README names ("Where a pod sees a difference from runc"), each
// here with its reason; no spec may hang (critest's own timeout would end the run).
//
// CRI_TOOLS names the directory of the tools that run it: `setup` (containerd with both
// handlers, a local registry of critest's images), `run HANDLER` (critest; its last lines
// are "critest HANDLER: N passed, N failed, N skipped in S s" and "  failed: SPEC (file:line)"),
// and `stop`, and `crictl` against that containerd. With CI=true a missing CRI_TOOLS fails;
// otherwise the suite says it is skipped.
//
// Then crictl by hand, as a user of a pod does: runp, create, start, exec -i, logs, stop, rm,
// stopp, rmp under each handler, what each step says compared.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/sandbox.js";

const TOOLS = process.env.CRI_TOOLS;
const usable = TOOLS !== undefined && ["setup", "run", "stop", "crictl"].every((t) => existsSync(join(TOOLS, t)));
const why = `CRI_TOOLS must name the directory holding critest's setup, run, stop and crictl${TOOLS !== undefined ? ` (${TOOLS} does not)` : ""}`;
if (!usable && process.env.CI === "true") throw new Error(why);

/** Where runsc-ts differs from runc by design (README), by spec name. */
const DIFFERENCES: [RegExp, string][] = [
  [/Mount Propagation .* 'rshared'/, "a mount the container makes cannot reach the host from a user namespace"],
  [/Mount Propagation .* 'rslave'/, "root inside sees a host mount's 0700 directory as nobody's"],
  [/SeccompProfilePath should support nil profile, which is unconfined/, "a sandbox always filters (Seccomp: 2)"],
  [/SeccompProfilePath should support seccomp unconfined on the container/, "a sandbox always filters (Seccomp: 2)"],
  [/should support Privileged is true/, "the CNI network namespace is the host's: no CAP_NET_ADMIN over it"],
  [/should support adding capability/, "the CNI network namespace is the host's: no CAP_NET_ADMIN over it"],
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

/** crictl against the tools' containerd: its stdout, or an error with what it said. */
function crictl(args: string[], input?: string): string {
  const r = spawnSync(join(TOOLS!, "crictl"), args, { encoding: "utf8", timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  if (r.status !== 0) throw new Error(`crictl ${args.join(" ")}: status ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.29-2";

/** The hand flow under a handler: what each step said. */
function handFlow(handler: string, dir: string): Record<string, string> {
  const pod = join(dir, `pod-${handler}.json`);
  const ctr = join(dir, `ctr-${handler}.json`);
  writeFileSync(pod, JSON.stringify({ metadata: { name: `flow-${handler}`, namespace: "default", uid: `flow-${handler}-${process.pid}`, attempt: 1 }, log_directory: dir }));
  writeFileSync(ctr, JSON.stringify({ metadata: { name: "c" }, image: { image: IMAGE }, command: ["sh", "-c", "trap 'echo stopping; exit 0' TERM; echo started; while :; do sleep 0.1; done"], log_path: `c-${handler}.log` }));
  const seen: Record<string, string> = {};
  const p = crictl(["runp", "--runtime", handler, pod]).trim();
  try {
    const c = crictl(["create", p, ctr, pod]).trim();
    crictl(["start", c]);
    seen.exec = crictl(["exec", "-i", c, "sh", "-c", "tr a-z A-Z; echo $?"], "hello from stdin\n");
    seen.status = crictl(["inspect", "-o", "go-template", "--template", "{{.status.state}}", c]).trim();
    crictl(["stop", "-t", "10", c]);
    seen.logs = crictl(["logs", c]);
    seen.exit = crictl(["inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", c]).trim();
    crictl(["rm", c]);
    seen.left = crictl(["ps", "-a", "-q", "--pod", p]);
  } finally {
    crictl(["stopp", p]);
    crictl(["rmp", p]);
  }
  return seen;
}

describe.skipIf(!usable)(`critest and crictl through containerd${usable ? "" : ` (skipped: ${why})`}`, () => {
  // The shim's handler, added to the tools' containerd, which finds the shim on its PATH.
  let extra = "";
  beforeAll(() => {
    extra = mkdtempSync(join(tmpdir(), "runsc-ts-cri-shim-"));
    writeFileSync(join(extra, "shim.toml"), ['[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc-ts-shim]', '  runtime_type = "io.containerd.runsc-ts.v1"', '  pod_annotations = ["dev.runsc-ts.policy"]', ""].join("\n"));
    symlinkSync(join(ROOT, "bin", "containerd-shim-runsc-ts-v1"), join(extra, "containerd-shim-runsc-ts-v1"));
    // A containerd started with another PATH keeps it: stopped first.
    spawnSync(join(TOOLS!, "stop"), [], { cwd: ROOT, stdio: "ignore" });
    const env = { ...process.env, RUNSC_TS: join(ROOT, "bin", "runsc-ts"), CRI_EXTRA_TOML: join(extra, "shim.toml"), PATH: `${extra}:${process.env.PATH ?? ""}` };
    const s = spawnSync(join(TOOLS!, "setup"), [], { cwd: ROOT, encoding: "utf8", env });
    if (s.status !== 0) throw new Error(`CRI setup failed (${s.status}):\n${s.stdout}${s.stderr}`);
  });
  afterAll(() => {
    spawnSync(join(TOOLS!, "stop"), [], { cwd: ROOT, stdio: "ignore" });
    if (extra !== "") rmSync(extra, { recursive: true, force: true });
  });

  it("crictl by hand (runp, create, start, exec -i, stop, logs, rm, stopp, rmp): runsc-ts says what runc says", () => {
    crictl(["pull", IMAGE]);
    const dir = mkdtempSync(join(tmpdir(), "runsc-ts-crictl-"));
    try {
      const runc = handFlow("runc", dir);
      expect(runc).toEqual({ exec: "HELLO FROM STDIN\n0\n", status: "CONTAINER_RUNNING", logs: "started\nstopping\n", exit: "CONTAINER_EXITED 0", left: "" });
      expect(handFlow("runsc-ts", dir)).toEqual(runc);
      expect(handFlow("runsc-ts-shim", dir)).toEqual(runc);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("critest: runsc-ts, through either shim, fails nothing but runc's failures and the differences the README names", () => {
    const runc = critest("runc");
    for (const handler of ["runsc-ts", "runsc-ts-shim"]) {
      const ours = critest(handler);
      const unexplained = ours.failed.filter((f) => !runc.failed.includes(f) && !DIFFERENCES.some(([re]) => re.test(f)));
      const summary = `runc: ${runc.passed} passed in ${runc.seconds} s; ${handler}: ${ours.passed} passed in ${ours.seconds} s (${(ours.seconds / runc.seconds).toFixed(2)}× runc)`;
      // Said whatever the outcome: the run's times, for those who compare (never a gate).
      console.log(`critest ${summary}`);
      expect(unexplained, summary).toEqual([]);
      // Every spec ran to an end: the same number of specs under both.
      expect(ours.passed + ours.failed.length + ours.skipped).toBe(runc.passed + runc.failed.length + runc.skipped);
    }
  });
});
