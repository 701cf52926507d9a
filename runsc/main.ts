// runsc-ts: the command line (commander root). One file per verb in commands/.
import { Command, CommanderError, Option } from "commander";
import { PolicyError } from "../sentry/policy/files.js";
import { doCommand } from "./commands/do.js";
import { policyCommand } from "./commands/policy.js";
import { syscallsCommand } from "./commands/syscalls.js";
import type { GlobalOptions } from "./config.js";
import { EXIT_RUNTIME_ERROR, UsageError } from "./errors.js";
import { SandboxError } from "./sandbox/sandbox.js";
import { writeFully } from "./write.js";

const program = new Command("runsc-ts")
  .description("a gVisor-style sandbox whose kernel-side brain is TypeScript")
  .version("0.1.0")
  .option("--debug", "log debug information", false)
  .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({ outputError: () => {} });

const globals = (): GlobalOptions => {
  const o = program.opts<{ debug: boolean; logFormat: "text" | "json" }>();
  return { debug: o.debug, logFormat: o.logFormat };
};

for (const c of [doCommand(globals), syscallsCommand(), policyCommand(globals)]) program.addCommand(c.exitOverride().configureOutput({ outputError: () => {} }));

function fail(message: string): never {
  writeFully(2, `runsc-ts: ${message}\n`);
  process.exit(EXIT_RUNTIME_ERROR);
}

// `runsc-ts help syscalls` is the syscall table, as in gVisor's `runsc help syscalls`.
const argv = process.argv.slice(2);
if (argv[0] === "help" && argv[1] === "syscalls") argv.splice(0, 2, "syscalls");

try {
  await program.parseAsync(argv, { from: "user" });
} catch (err) {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) process.exit(0);
    fail(err.message.replace(/^error: /, ""));
  }
  if (err instanceof PolicyError || err instanceof UsageError || err instanceof SandboxError) fail(err.message);
  fail(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
