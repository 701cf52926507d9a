// pause and resume: the container's freezer.
import { Command } from "commander";
import type { Runtime } from "./common.js";

export function pauseCommand(runtime: Runtime): Command[] {
  const pause = new Command("pause")
    .description("freeze every process of a container")
    .argument("<container-id>")
    .action(async (id: string) => (await import("../../oci/control.js")).setFrozen(runtime().root, id, true));
  const resume = new Command("resume")
    .description("thaw a paused container")
    .argument("<container-id>")
    .action(async (id: string) => (await import("../../oci/control.js")).setFrozen(runtime().root, id, false));
  return [pause, resume];
}
