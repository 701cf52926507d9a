// `runsc-ts policy validate|compile|explain|learn`: policy files, without running anything
// but what learn runs. Each subcommand is a file of its own in this directory.
import { Command } from "commander";
import type { GlobalOptions } from "../../config.js";
import { addCompile } from "./compile.js";
import { addExplain } from "./explain.js";
import { addLearn } from "./learn.js";
import { addValidate } from "./validate.js";

export function policyCommand(globals: () => GlobalOptions): Command {
  // learn passes what follows its command through to the command: options are positional.
  const policy = new Command("policy").description("work with policy files").enablePositionalOptions();
  addValidate(policy);
  addCompile(policy);
  addExplain(policy);
  addLearn(policy, globals);
  return policy;
}
