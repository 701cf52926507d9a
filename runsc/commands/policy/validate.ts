// `runsc-ts policy validate`: check policy files, listing every problem.
import type { Command } from "commander";
import { PolicyError } from "../../../sentry/policy/files.js";
import { writeFully } from "../../write.js";

export function addValidate(policy: Command): void {
  policy
    .command("validate")
    .description("check policy files: exit 0 when all are valid, 1 with every problem listed")
    .argument("<file...>", "policy files")
    .action(async (files: string[]) => {
      const { loadPolicyFile } = await import("../../../sentry/policy/load.js");
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
}
