// start: releases a created container's program.
import { Command } from "commander";
import { startContainer } from "../../oci/container.js";
import { exitCommand } from "../../exit.js";
import type { Runtime } from "./common.js";
import { warn } from "./common.js";

export function startCommand(runtime: Runtime): Command {
  const start = new Command("start")
    .description("start the program of a created container")
    .argument("<container-id>")
    .action(async (id: string) => {
      await startContainer(runtime(), id, warn);
      exitCommand(0);
    });
  return start;
}
