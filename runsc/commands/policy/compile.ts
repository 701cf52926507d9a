// `runsc-ts policy compile`: the seccomp filter a policy compiles to, and where it decides each syscall.
import type { Command } from "commander";
import { Option } from "commander";
import { writeFully } from "../../write.js";

export function addCompile(policy: Command): void {
  policy
    .command("compile")
    .description("print the seccomp filter a policy compiles to (BPF disassembly) and where it decides each syscall")
    .argument("<file>", "policy file, or the name of one in policies/")
    .addOption(new Option("--network <mode>", "compile for this network mode instead of the policy's").choices(["none", "host", "proxy"]))
    .option("--json", "print the statistics as JSON, without the disassembly", false)
    .option("--seccomp <file>", "apply an OCI seccomp profile (or a config.json holding one) too: the stricter decision wins")
    .action(async (file: string, flags: { network?: "none" | "host" | "proxy"; json: boolean; seccomp?: string }) => {
      const { loadPolicy } = await import("../../policyCache.js");
      const { compilePolicy } = await import("../../../sentry/filter/compile.js");
      const { compileFilter, filterStats } = await import("../../../platform/seccomp/compile.js");
      const { disassemble } = await import("../../../platform/seccomp/disasm.js");
      const loaded = await loadPolicy(file);
      const p = flags.network ? { ...loaded, network: { ...loaded.network, mode: flags.network } } : loaded;
      const { readOciSeccomp } = await import("../../ociSeccomp.js");
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
}
