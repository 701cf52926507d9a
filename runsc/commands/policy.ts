// `runsc-ts policy validate|compile|explain`: policy files, without running anything.
import { realpathSync } from "node:fs";
import { Command, Option } from "commander";
import { PolicyError } from "../../sentry/policy/files.js";
import { UsageError } from "../errors.js";
import { writeFully } from "../write.js";
import type { GlobalOptions } from "../config.js";
import type { AuditFact } from "../../sentry/audit.js";

export function policyCommand(globals: () => GlobalOptions): Command {
  // learn passes what follows its command through to the command: options are positional.
  const policy = new Command("policy").description("work with policy files").enablePositionalOptions();
  policy
    .command("validate")
    .description("check policy files: exit 0 when all are valid, 1 with every problem listed")
    .argument("<file...>", "policy files")
    .action(async (files: string[]) => {
      const { loadPolicyFile } = await import("../../sentry/policy/load.js");
      let bad = false;
      for (const file of files) {
        try {
          loadPolicyFile(file);
          writeFully(1, `${file}: valid\n`);
        } catch (err) {
          if (!(err instanceof PolicyError)) throw err;
          bad = true;
          writeFully(2, err.message + "\n");
        }
      }
      process.exitCode = bad ? 1 : 0;
    });
  policy
    .command("compile")
    .description("print the seccomp filter a policy compiles to (BPF disassembly) and where it decides each syscall")
    .argument("<file>", "policy file, or the name of one in policies/")
    .addOption(new Option("--network <mode>", "compile for this network mode instead of the policy's").choices(["none", "host", "proxy"]))
    .option("--json", "print the statistics as JSON, without the disassembly", false)
    .option("--seccomp <file>", "apply an OCI seccomp profile (or a config.json holding one) too: the stricter decision wins")
    .action(async (file: string, flags: { network?: "none" | "host" | "proxy"; json: boolean; seccomp?: string }) => {
      const { loadPolicy } = await import("../policyCache.js");
      const { compilePolicy } = await import("../../sentry/filter/compile.js");
      const { compileFilter, filterStats } = await import("../../platform/seccomp/compile.js");
      const { disassemble } = await import("../../platform/seccomp/bpf.js");
      const loaded = await loadPolicy(file);
      const p = flags.network ? { ...loaded, network: { ...loaded.network, mode: flags.network } } : loaded;
      const { readOciSeccomp } = await import("../ociSeccomp.js");
      const compiled = compilePolicy(p, flags.seccomp !== undefined ? { ociSeccomp: readOciSeccomp(flags.seccomp) } : {});
      const program = compileFilter(compiled.filter);
      const stats = filterStats(compiled.filter);
      const layers = { kernel: 0, args: 0, sentry: 0, denied: 0 };
      for (const l of compiled.layers.values()) layers[l]++;
      const total = compiled.layers.size;
      const inKernel = total - layers.sentry;
      const summary = {
        policy: p.name,
        network: p.network.mode,
        syscalls: total,
        decidedInKernel: inKernel,
        decidedInKernelShare: Number((inKernel / total).toFixed(4)),
        layers,
        instructions: stats.instructions,
        longestPath: stats.longestPath,
        unknownNumbers: "errno(ENOSYS)",
        foreignArchitecturesAndX32: "kill",
        ...(p.audit ? { auditLifted: (compiled.audit ?? []).filter((d) => d !== undefined).length } : {}),
      };
      if (flags.json) {
        writeFully(1, JSON.stringify(summary, null, 2) + "\n");
        return;
      }
      const pct = (100 * summary.decidedInKernelShare).toFixed(1);
      writeFully(
        1,
        [
          `policy ${p.name} (network ${p.network.mode}): ${total} syscalls, ${inKernel} decided in the kernel (${pct}%):`,
          `  ${layers.kernel} allowed in the kernel, ${layers.args} decided by argument in BPF, ${layers.denied} denied, ${layers.sentry} trapped to the sentry`,
          ...(summary.auditLifted !== undefined
            ? [`  audit: true: ${summary.auditLifted} syscalls the policy refuses are answered as the built-in table decides, and reported`]
            : []),
          `  unknown numbers fail with ENOSYS; foreign architectures and x32 calls are killed`,
          `  ${stats.instructions} BPF instructions, at most ${stats.longestPath} executed per syscall`,
          "",
          ...disassemble(program),
          "",
        ].join("\n"),
      );
    });
  policy
    .command("explain")
    .description("the decision a policy makes for one action, the rule that made it and the layer that enforces it")
    .argument("<file>", "policy file, or the name of one in policies/")
    .option("--syscall <name>", "a syscall")
    .option("--arg <i=v>", "a register argument of --syscall (repeatable; v decimal or 0x hex)", collectArg, [])
    .option("--open <path>", "opening a path (with --mode)")
    .addOption(new Option("--mode <mode>", "r, w or x").choices(["r", "w", "x"]).default("r"))
    .option("--connect <address:port>", "connecting (TCP) to ADDRESS:PORT, [IPV6]:PORT or HOSTNAME:PORT")
    .option("--bind <port>", "binding a local TCP port (UDP with --udp)")
    .option("--udp", "with --bind: a UDP port")
    .option("--exec <path>", "executing a file")
    .action(async (file: string, flags: ExplainFlags) => {
      const chosen = [flags.syscall, flags.open, flags.connect, flags.bind, flags.exec].filter((v) => v !== undefined);
      if (chosen.length !== 1) throw new UsageError("policy explain: give exactly one of --syscall, --open, --connect, --bind, --exec");
      const { loadPolicyWithSource, resolvePolicyPath, defaultPoliciesDir } = await import("../../sentry/policy/load.js");
      const ex = await import("../../sentry/filter/explain.js");
      const { policy: p, locate } = loadPolicyWithSource(resolvePolicyPath(file, defaultPoliciesDir()));
      let what: string;
      let e;
      try {
        if (flags.syscall !== undefined) {
          const args = new Map(flags.arg);
          what = `${flags.syscall}(${[...args].map(([i, v]) => `arg${i}=0x${v.toString(16)}`).join(", ")})`;
          e = ex.explainSyscall(p, locate, flags.syscall, args);
        } else if (flags.open !== undefined) {
          what = `open ${flags.open} for ${{ r: "reading", w: "writing", x: "executing" }[flags.mode]}`;
          e = ex.explainOpen(p, locate, resolved(flags.open), flags.mode, realpathOrUndefined);
        } else if (flags.connect !== undefined) {
          what = `connect ${flags.connect}`;
          e = ex.explainConnect(p, locate, flags.connect);
        } else if (flags.bind !== undefined) {
          what = `bind ${flags.udp ? "udp" : "tcp"} port ${flags.bind}`;
          e = ex.explainBind(p, locate, flags.bind, flags.udp ? "udp" : "tcp");
        } else {
          what = `exec ${flags.exec!}`;
          e = ex.explainExec(p, locate, resolved(flags.exec!));
        }
        const real = flags.open ?? flags.exec;
        if (real !== undefined && resolved(real) !== real) what += ` (${resolved(real)})`;
      } catch (err) {
        throw new UsageError(`policy explain: ${(err as Error).message}`);
      }
      writeFully(1, `${what}: ${e.decision}
  because: ${e.because}
  enforced by: ${e.layer}
`);
    });
  policy
    .command("learn")
    .description(
      "run a command in audit mode and write the smallest policy that lets it do what it did " +
        "(a starting point, not a proof: review it)",
    )
    .usage("[options] -- CMD [ARGS...]")
    .option("--out <file>", "write the policy here (default: stdout, after the command's own output)")
    .option("--policy <file>", "the policy to learn from, which the result extends", "default")
    .option("--name <name>", "the learned policy's name", "learned")
    .option("--cwd <dir>", "working directory inside the sandbox (default: the current one)")
    .option("--env <K=V>", "set an environment variable (repeatable)", collectEnv, [])
    .option("--check", "then run the command again under the written policy: exit 0 when it exits as it did, 1 when not (needs --out)", false)
    .argument("[cmd...]", "the command and its arguments")
    .passThroughOptions()
    .action(async (cmd: string[], flags: LearnFlags) => {
      if (flags.check && flags.out === undefined) throw new UsageError("policy learn: --check needs --out (the policy file to run the command under)");
      if (!/^[a-z0-9][a-z0-9-]*$/.test(flags.name)) throw new UsageError(`--name: expected lowercase letters, digits and "-", got "${flags.name}"`);
      if (cmd.length === 0) throw new UsageError("policy learn: missing command (usage: runsc-ts policy learn [options] -- CMD [ARGS...])");
      const { MAX_DISTINCT_FACTS, runSandboxed } = await import("./do.js");
      const { learnPolicy } = await import("../learn.js");
      const { dirname, relative, resolve, join } = await import("node:path");
      const { writeFileSync } = await import("node:fs");
      const { defaultPoliciesDir, resolvePolicyPath } = await import("../../sentry/policy/load.js");
      // Each distinct fact once, and at most MAX_DISTINCT_FACTS of them.
      const facts: AuditFact[] = [];
      const seen = new Set<string>();
      const record = (f: AuditFact): void => {
        if (seen.size > MAX_DISTINCT_FACTS) return;
        const key = JSON.stringify(f);
        if (seen.has(key)) return;
        seen.add(key);
        if (seen.size > MAX_DISTINCT_FACTS) {
          writeFully(2, `runsc-ts: policy learn: more than ${MAX_DISTINCT_FACTS} distinct facts; the rest are not learned\n`);
          return;
        }
        facts.push(f);
      };
      const status = await runSandboxed(
        globals(),
        cmd,
        { policy: flags.policy, strace: false, platform: "seccomp", env: flags.env, ...(flags.cwd !== undefined ? { cwd: flags.cwd } : {}) },
        { adjustPolicy: (p) => ({ ...p, audit: true }), record },
      );
      // The learned policy extends the one learned from: by name from policies/, else by path.
      const basePath = resolvePolicyPath(flags.policy, defaultPoliciesDir());
      const outDir = flags.out !== undefined ? dirname(resolve(flags.out)) : process.cwd();
      const isName = !flags.policy.includes("/") && !flags.policy.endsWith(".yaml");
      const base = isName && outDir === defaultPoliciesDir() ? flags.policy : isName ? basePath : relative(outDir, basePath);
      const yaml = learnPolicy({
        facts,
        command: cmd,
        base,
        name: flags.name,
        cwd: resolve(flags.cwd ?? process.cwd()),
        schemaRef: relative(outDir, join(defaultPoliciesDir(), "schema.json")) || "schema.json",
      });
      if (flags.out !== undefined) {
        writeFileSync(flags.out, yaml);
        writeFully(2, `runsc-ts: learned policy written to ${flags.out} (the command exited with ${status})\n`);
      } else {
        writeFully(1, yaml);
      }
      if (!flags.check) process.exit(status);
      const again = await runSandboxed(globals(), cmd, {
        policy: flags.out!,
        strace: false,
        platform: "seccomp",
        env: flags.env,
        ...(flags.cwd !== undefined ? { cwd: flags.cwd } : {}),
      });
      const same = again === status;
      writeFully(
        2,
        `runsc-ts: check: under ${flags.out} the command exited with ${again}${same ? ", as it did while learning" : `, not ${status} as while learning: the policy refuses something it needs (run it with a policy that says audit: true to see what)`}\n`,
      );
      process.exit(same ? 0 : 1);
    });
  return policy;
}

interface LearnFlags {
  out?: string;
  check: boolean;
  policy: string;
  name: string;
  cwd?: string;
  env: string[];
}

function collectEnv(value: string, previous: string[]): string[] {
  if (!/^[^=]+=/.test(value)) throw new UsageError(`--env: expected K=V, got "${value}"`);
  return [...previous, value];
}

interface ExplainFlags {
  syscall?: string;
  arg: [number, bigint][];
  open?: string;
  mode: "r" | "w" | "x";
  connect?: string;
  bind?: string;
  udp?: boolean;
  exec?: string;
}

/**
 * The file a path names, symlinks followed, as the sandbox resolves it (for `do` the host's
 * root is the sandbox's base); the path as given when it does not exist.
 */
function resolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function collectArg(value: string, previous: [number, bigint][]): [number, bigint][] {
  const m = /^([0-5])=(0x[0-9a-fA-F]+|\d+)$/.exec(value);
  if (!m) throw new UsageError(`--arg: expected i=v with i in 0..5 and v decimal or 0x hex, got "${value}"`);
  return [...previous, [Number(m[1]), BigInt(m[2]!)]];
}
