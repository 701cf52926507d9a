// state: a container's OCI state.
import { Command } from "commander";
import { mustRead, ociState } from "../../oci/state.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

export function stateCommand(runtime: Runtime): Command {
  const state = new Command("state")
    .description("print a container's state (OCI runtime spec)")
    .argument("<container-id>")
    .action((id: string) => {
      out(JSON.stringify(ociState(mustRead(runtime().root, id)), null, 2) + "\n");
    });
  return state;
}
