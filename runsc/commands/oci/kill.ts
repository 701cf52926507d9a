// kill: a signal to a container's init (or, with --all, every process).
import { Command } from "commander";
import { killContainer, parseSignal } from "../../oci/container.js";
import type { Runtime } from "./common.js";

export function killCommand(runtime: Runtime): Command {
  const kill = new Command("kill")
    .description("send a signal (default SIGTERM) to a container's init, which passes it to the program")
    .option("-a, --all", "send it to every process of the container", false)
    .argument("<container-id>")
    .argument("[signal]", "a number or a name (9, KILL, SIGKILL)", "SIGTERM")
    .action(async (id: string, signal: string, f: { all: boolean }) => {
      await killContainer(runtime(), id, parseSignal(signal), f.all);
    });
  return kill;
}
