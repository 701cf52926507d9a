// ps: a container's processes (host PIDs; --format json is Docker's top).
import { spawnSync } from "node:child_process";
import { Command, Option } from "commander";
import { containerPids } from "../../oci/container.js";
import { ContainerError } from "../../oci/state.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

export function psCommand(runtime: Runtime): Command {
  const ps = new Command("ps")
    .description("list a container's processes (host PIDs)")
    .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
    .argument("<container-id>")
    .argument("[ps-options...]", "options for ps(1) (table format)")
    .action((id: string, psArgs: string[], f: { format: "table" | "json" }) => {
      const pids = containerPids(runtime(), id);
      if (f.format === "json") {
        out(JSON.stringify(pids) + "\n");
        return;
      }
      const r = spawnSync("ps", psArgs.length > 0 ? psArgs : ["-ef"], { encoding: "utf8" });
      if (r.error !== undefined || r.status !== 0) throw new ContainerError(`ps: ${r.error?.message ?? r.stderr.trim()}`);
      const lines = r.stdout.split("\n");
      const header = lines[0] ?? "";
      const col = header.trim().split(/\s+/).indexOf("PID");
      if (col < 0) throw new ContainerError("ps: its output has no PID column");
      const keep = new Set(pids);
      out([header, ...lines.slice(1).filter((l) => keep.has(Number(l.trim().split(/\s+/)[col])))].join("\n") + "\n");
    });
  return ps;
}
