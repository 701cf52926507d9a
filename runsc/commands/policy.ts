// `runsc-ts policy validate FILE...`: check policy files without running anything.
import { Command } from "commander";
import { PolicyError } from "../../sentry/policy/files.js";
import { writeFully } from "../write.js";

export function policyCommand(): Command {
  const policy = new Command("policy").description("work with policy files");
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
  return policy;
}
