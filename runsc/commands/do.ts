// `runsc-ts do [options] -- CMD [ARGS...]`: run one command sandboxed, no bundle.
import { Command, Option } from "commander";
import { loadNative } from "../../native/index.js";
import { PolicyCompileError } from "../../sentry/filter/compile.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import { checkHostname } from "../../sentry/policy/language.js";
import { UsageError } from "../errors.js";
import type { GlobalOptions } from "../config.js";
import { loggerFor } from "../config.js";
import { loadPolicy } from "../policyCache.js";
import { missingKernelFeatures } from "../requirements.js";
import { runDo, SandboxError, withEntrypoint } from "../sandbox/sandbox.js";
import { keepSentryThreadAhead, takeSentryThread } from "../sandbox/sentryThread.js";
import type { AuditFact } from "../../sentry/audit.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { CgroupLimits } from "../sandbox/cgroups.js";
import { parseCpus, parseMemory } from "../sandbox/cgroups.js";
import { writeFully } from "../write.js";
import { commandIsServed, exitCommand } from "../exit.js";

export interface DoFlags {
  policy: string;
  network?: "none" | "host" | "proxy";
  strace: boolean;
  straceSyscalls?: string;
  platform: string;
  cwd?: string;
  env: string[];
  hostname?: string;
  seccomp?: string;
  memory?: string;
  cpus?: string;
}

function collect(value: string, previous: string[]): string[] {
  if (!/^[^=]+=/.test(value)) throw new UsageError(`--env: expected K=V, got "${value}"`);
  return [...previous, value];
}

export function doCommand(globals: () => GlobalOptions): Command {
  return new Command("do")
    .description("run one command sandboxed: host root read-only, fresh namespaces, no network")
    .usage("[options] -- CMD [ARGS...]")
    .option("--policy <file>", "policy file, or the name of one in policies/", "default")
    .addOption(
      new Option("--network <mode>", "network: none (loopback only), host, or proxy (loopback, and the policy's egress rules)").choices([
        "none",
        "host",
        "proxy",
      ]),
    )
    .option("--strace", "trace every syscall through the sentry", false)
    .option("--strace-syscalls <list>", "trace only these syscalls (comma-separated)")
    .addOption(new Option("--platform <name>", "syscall trapping platform").choices(["seccomp"]).default("seccomp"))
    .option("--cwd <dir>", "working directory inside the sandbox (default: the current one)")
    .option("--env <K=V>", "set an environment variable (repeatable)", collect, [])
    .option("--hostname <name>", "the sandbox's hostname (default: the policy's, else runsc-ts)")
    .option("--memory <size>", "memory limit (512m, 2g): a cgroup of the sandbox's own")
    .option("--cpus <n>", "CPU limit in CPUs (1, 0.5): a cgroup of the sandbox's own")
    .option("--seccomp <file>", "an OCI seccomp profile (or a config.json holding one) applied with the policy: the stricter decision wins")
    .argument("[cmd...]", "the command and its arguments")
    .passThroughOptions()
    .action(async (cmd: string[], flags: DoFlags) => {
      // In a process of its own, the process ends with the sandbox: the sentry thread need
      // not be waited for. Served among others (a warm process), it is, before the next.
      const served = commandIsServed();
      exitCommand(await runSandboxed(globals(), cmd, flags, { ending: !served }));
    });
}

/** What `policy learn` adds to a run of `do`. */
export interface RunExtras {
  /** Replaces the loaded policy (learn runs it in audit mode). */
  adjustPolicy?: (p: Policy) => Policy;
  /** Receives what the workload does. */
  record?: (fact: AuditFact) => void;
  /** The process ends with the sandbox (do): its sentry thread's end is not waited for. */
  ending?: boolean;
}

/** `do`'s run: checks, policy, sandbox; resolves with the workload's exit status. */
export async function runSandboxed(g: GlobalOptions, cmd: string[], flags: DoFlags, extras: RunExtras = {}): Promise<number> {
  if (cmd.length === 0) throw new UsageError("do: missing command (usage: runsc-ts do [options] -- CMD [ARGS...])");
  if (flags.hostname !== undefined) {
    const bad = checkHostname(flags.hostname);
    if (bad) throw new UsageError(`--hostname: ${bad}`);
  }
  const limits = parseLimits(flags);
  const tracing = flags.strace || flags.straceSyscalls !== undefined;
  const sentry = takeSentryThread({ strace: tracing, debug: g.debug, logFormat: g.logFormat });
  try {
    if (process.getuid?.() !== 0) {
      throw new SandboxError("do must run as root: it maps the sandbox's root to an unprivileged host uid");
    }
    const native = loadNative();
    const lack = missingKernelFeatures(native);
    if (lack) throw new SandboxError(lack);
    const loaded = await loadPolicy(flags.policy);
    const policy = extras.adjustPolicy ? extras.adjustPolicy(loaded) : loaded;
    let record = extras.record;
    let trace: "all" | string[] | null = flags.strace ? "all" : null;
    if (flags.straceSyscalls !== undefined) {
      const names = flags.straceSyscalls.split(",").map((s) => s.trim()).filter((s) => s !== "");
      const unknown = names.filter((n) => sysnoByName(n) === undefined);
      if (unknown.length > 0) throw new UsageError(`--strace-syscalls: unknown syscall ${unknown.join(", ")}`);
      trace = names;
    }
    const env = Object.entries(process.env)
      .filter(([k, v]) => v !== undefined && !flags.env.some((e) => e.startsWith(k + "=")))
      .map(([k, v]) => `${k}=${v}`)
      .concat(flags.env);
    const log = g.debug ? await loggerFor(g) : undefined;
    const cwd = flags.cwd ?? process.cwd();
    if (record === undefined && policy.audit) record = await auditPrinter(flags.policy, withEntrypoint(policy, cmd[0]!, cwd, env));
    return await runDo({
      argv: cmd,
      env,
      cwd,
      cwdFallback: flags.cwd === undefined,
      policy,
      network: flags.network ?? policy.network.mode,
      trace,
      // zod loads only for a profile to check.
      ...(flags.seccomp !== undefined ? { ociSeccomp: (await import("../ociSeccomp.js")).readOciSeccomp(flags.seccomp) } : {}),
      hostname: flags.hostname ?? policy.hostname ?? "runsc-ts",
      sentry,
      log,
      ...(record !== undefined ? { record } : {}),
      ...(limits !== undefined ? { limits } : {}),
      ...(extras.ending === true ? { ending: true } : {}),
      ...(g.metricsAddress !== undefined ? { metricsAddress: g.metricsAddress } : {}),
      ...(g.recordEvents === true ? { recordEvents: true } : {}),
    });
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new UsageError(`${flags.policy}: ${err.message}`);
    throw err;
  } finally {
    // A thread that served its sandbox to the end (or none) may serve the next (a warm
    // process serves one do after another); one that failed, or is still serving, is ended.
    if (extras.ending !== true && !keepSentryThreadAhead(sentry)) void sentry.release();
  }
}

/** --memory and --cpus, checked; undefined when neither is given. */
function parseLimits(flags: DoFlags): CgroupLimits | undefined {
  if (flags.memory === undefined && flags.cpus === undefined) return undefined;
  const memory = flags.memory === undefined ? undefined : parseMemory(flags.memory);
  if (typeof memory === "string") throw new UsageError(`--memory: ${memory}`);
  const cpus = flags.cpus === undefined ? undefined : parseCpus(flags.cpus);
  if (typeof cpus === "string") throw new UsageError(`--cpus: ${cpus}`);
  return { ...(memory !== undefined ? { memoryBytes: memory } : {}), ...(cpus !== undefined ? { cpus } : {}) };
}

/** audit: true — one line on stderr per distinct refusal the policy would have made. */
async function auditPrinter(nameOrPath: string, policy: Policy): Promise<(fact: AuditFact) => void> {
  const { loadPolicyWithSource, resolvePolicyPath, defaultPoliciesDir } = await import("../../sentry/policy/load.js");
  const { judge } = await import("../audit.js");
  const { locate } = loadPolicyWithSource(resolvePolicyPath(nameOrPath, defaultPoliciesDir()));
  const seen = new Set<string>();
  return (fact) => {
    if (seen.size > MAX_DISTINCT_FACTS) return;
    const line = judge(policy, locate, fact);
    if (line === undefined || seen.has(line)) return;
    seen.add(line);
    writeFully(2, `runsc-ts: audit: ${line}\n`);
    if (seen.size > MAX_DISTINCT_FACTS) writeFully(2, `runsc-ts: audit: more than ${MAX_DISTINCT_FACTS} distinct refusals; the rest are not listed\n`);
  };
}

/**
 * The most distinct facts (refusals listed, or facts a learned policy is made from) kept
 * from one sandbox: a workload naming new paths without end must not grow runsc-ts without end.
 */
export const MAX_DISTINCT_FACTS = 100_000;
