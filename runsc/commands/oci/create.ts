// create: everything up to the program, which waits for start.
import { Command } from "commander";
import { exitCommand } from "../../exit.js";
import type { CreateFlags, Runtime } from "./common.js";
import { createOptions, preserveCount } from "./common.js";

export function createCommand(runtime: Runtime): Command {
  const create = createOptions(new Command("create"))
    .description("create a container: everything up to its program, which waits for start")
    .argument("<container-id>")
    .action(async (id: string, f: CreateFlags) => {
      await (await import("../../oci/create.js")).createContainer(runtime(), {
        id,
        bundle: f.bundle,
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
      });
      exitCommand(0);
    });
  return create;
}
