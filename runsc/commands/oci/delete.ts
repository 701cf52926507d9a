// delete: a container's processes (with --force), cgroups, mounts and state.
import { Command } from "commander";
import { deleteContainer } from "../../oci/container.js";
import type { Runtime } from "./common.js";
import { warn } from "./common.js";

export function deleteCommand(runtime: Runtime): Command {
  const del = new Command("delete")
    .description("delete a container: its processes (with --force), cgroups, mounts and state")
    .option("-f, --force", "kill a running container first; a missing one is not an error", false)
    .argument("<container-id>")
    .action(async (id: string, f: { force: boolean }) => {
      await deleteContainer(runtime(), id, f.force, warn);
    });
  return del;
}
