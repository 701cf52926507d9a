// `runsc-ts policy learn`: run a command in audit mode and write the smallest policy that lets it do what it did.
import type { Command } from "commander";
import type { AuditFact } from "../../../sentry/audit.js";
import type { GlobalOptions } from "../../config.js";
import { UsageError } from "../../errors.js";
import { writeFully } from "../../write.js";

export function addLearn(policy: Command, globals: () => GlobalOptions): void {
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
      const { MAX_DISTINCT_FACTS, runSandboxed } = await import("../do.js");
      const { learnPolicy } = await import("../../learn.js");
      const { dirname, relative, resolve, join } = await import("node:path");
      const { writeFileSync } = await import("node:fs");
      const { defaultPoliciesDir, resolvePolicyPath } = await import("../../../sentry/policy/load.js");
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

