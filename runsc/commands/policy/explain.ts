// `runsc-ts policy explain`: the decision a policy makes for one action, the rule that made it and the layer that enforces it.
import { realpathSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { UsageError } from "../../errors.js";
import { writeFully } from "../../write.js";

export function addExplain(policy: Command): void {
  policy
    .command("explain")
    .description("the decision a policy makes for one action, the rule that made it and the layer that enforces it")
    .argument("<file>", "policy file, or the name of one in policies/")
    .option("--syscall <name>", "a syscall")
    .option("--arg <i=v>", "a register argument of --syscall (repeatable; v decimal or 0x hex)", collectArg, [])
    .option("--open <path>", "opening a path (with --mode)")
    .addOption(new Option("--mode <mode>", "r, w or x").choices(["r", "w", "x"]).default("r"))
    .option("--connect <address:port>", "connecting (TCP) to ADDRESS:PORT, [IPV6]:PORT or HOSTNAME:PORT, or to the unix socket unix:PATH")
    .option("--bind <port>", "binding a local TCP port (UDP with --udp)")
    .option("--udp", "with --bind: a UDP port")
    .option("--exec <path>", "executing a file")
    .action(async (file: string, flags: ExplainFlags) => {
      const chosen = [flags.syscall, flags.open, flags.connect, flags.bind, flags.exec].filter((v) => v !== undefined);
      if (chosen.length !== 1) throw new UsageError("policy explain: give exactly one of --syscall, --open, --connect, --bind, --exec");
      const { loadPolicyWithSource, resolvePolicyPath, defaultPoliciesDir } = await import("../../../sentry/policy/load.js");
      const ex = await import("../../../sentry/filter/explain.js");
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
          e = flags.connect.startsWith("unix:") ? ex.explainUnix(p, locate, flags.connect.slice(5)) : ex.explainConnect(p, locate, flags.connect);
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
      writeFully(1, `${what}: ${e.decision}\n  because: ${e.because}\n  enforced by: ${e.layer}\n`);
    });
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
