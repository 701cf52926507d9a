// `runsc-ts syscalls` (also `runsc-ts help syscalls`): the syscall table and, for a
// policy, where each syscall is decided.
import { Command } from "commander";
import { compilePolicy } from "../../sentry/filter/compile.js";
import { loadPolicy } from "../policyCache.js";
import { writeFully } from "../write.js";
import { TABLE_AMD64 } from "../../sentry/syscalls/table_amd64.js";
import type { Handling } from "../../sentry/syscalls/syscall.js";

const WORDS: Record<Handling, string> = {
  kernel: "allowed in the kernel",
  args: "decided by argument in BPF",
  sentry: "handled by the sentry",
  denied: "denied",
};

/** Prints to stdout; a reader that went away (`| head`) ends the listing quietly. */
function print(text: string): void {
  try {
    writeFully(1, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPIPE") throw err;
  }
}

export function syscallsCommand(): Command {
  return new Command("syscalls")
    .description("print the amd64 syscall table: how each syscall is handled under a policy")
    .option("--policy <file>", "policy file, or the name of one in policies/", "default")
    .option("--json", "print JSON", false)
    .action(async (flags: { policy: string; json: boolean }) => {
      const policy = await loadPolicy(flags.policy);
      const compiled = compilePolicy(policy);
      const rows = TABLE_AMD64.map((e) => ({
        nr: e.nr,
        name: e.name,
        handling: compiled.layers.get(e.nr) ?? e.handling,
        ...(e.errno ? { errno: e.errno } : {}),
        ...(e.note ? { note: e.note } : {}),
      }));
      if (flags.json) {
        print(JSON.stringify(rows, null, 2) + "\n");
        return;
      }
      const lines = rows.map((r) => {
        const how = WORDS[r.handling] + (r.handling === "denied" && r.errno ? ` (${r.errno})` : "");
        return `${String(r.nr).padStart(3)}  ${r.name.padEnd(24)} ${how.padEnd(30)} ${r.note ?? ""}`.trimEnd();
      });
      const counts = (Object.keys(WORDS) as Handling[]).map((h) => `${rows.filter((r) => r.handling === h).length} ${WORDS[h]}`);
      print(`policy ${policy.name}: ${counts.join(", ")}\n\n` + lines.join("\n") + "\n");
    });
}
