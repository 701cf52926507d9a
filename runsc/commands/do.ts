// `runsc-ts do [options] -- CMD [ARGS...]`: run one command sandboxed, no bundle.
import { Command, Option } from "commander";
import { loadNative } from "../../native/index.js";
import { PolicyCompileError } from "../../sentry/policy/compile.js";
import { sysnoByName } from "../../sentry/abi/sysno_amd64.js";
import { checkHostname } from "../../sentry/policy/language.js";
import { UsageError } from "../errors.js";
import type { GlobalOptions } from "../config.js";
import { loggerFor } from "../config.js";
import { loadPolicy } from "../policyCache.js";
import { missingKernelFeatures } from "../requirements.js";
import { runDo, SandboxError, SentryThread } from "../sandbox/sandbox.js";

interface DoFlags {
  policy: string;
  network?: "none" | "host";
  strace: boolean;
  straceSyscalls?: string;
  platform: string;
  cwd?: string;
  env: string[];
  hostname?: string;
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
    .addOption(new Option("--network <mode>", "network: none (loopback only) or host").choices(["none", "host"]))
    .option("--strace", "trace every syscall through the sentry", false)
    .option("--strace-syscalls <list>", "trace only these syscalls (comma-separated)")
    .addOption(new Option("--platform <name>", "syscall trapping platform").choices(["seccomp"]).default("seccomp"))
    .option("--cwd <dir>", "working directory inside the sandbox (default: the current one)")
    .option("--env <K=V>", "set an environment variable (repeatable)", collect, [])
    .option("--hostname <name>", "the sandbox's hostname (default: the policy's, else runsc-ts)")
    .argument("[cmd...]", "the command and its arguments")
    .passThroughOptions()
    .action(async (cmd: string[], flags: DoFlags) => {
      const g = globals();
      if (cmd.length === 0) throw new UsageError("do: missing command (usage: runsc-ts do [options] -- CMD [ARGS...])");
      if (flags.hostname !== undefined) {
        const bad = checkHostname(flags.hostname);
        if (bad) throw new UsageError(`--hostname: ${bad}`);
      }
      const tracing = flags.strace || flags.straceSyscalls !== undefined;
      const sentry = new SentryThread({ strace: tracing, debug: g.debug, logFormat: g.logFormat });
      if (process.getuid?.() !== 0) {
        throw new SandboxError("do must run as root: it maps the sandbox's root to an unprivileged host uid");
      }
      const native = loadNative();
      const lack = missingKernelFeatures(native);
      if (lack) throw new SandboxError(lack);
      const policy = await loadPolicy(flags.policy);
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
      try {
        const status = await runDo({
          argv: cmd,
          env,
          cwd: flags.cwd ?? process.cwd(),
          cwdFallback: flags.cwd === undefined,
          policy,
          network: flags.network ?? (policy.network.mode === "host" ? "host" : "none"),
          trace,
          hostname: flags.hostname ?? policy.hostname ?? "runsc-ts",
          sentry,
          log,
        });
        // The sandbox is over; the sentry thread need not be waited for.
        process.exit(status);
      } catch (err) {
        if (err instanceof PolicyCompileError) throw new UsageError(`${flags.policy}: ${err.message}`);
        throw err;
      }
    });
}
