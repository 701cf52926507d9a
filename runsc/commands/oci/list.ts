// list: the containers under --root, as runc prints them.
import { Command, Option } from "commander";
import { listIds, ociState, readState } from "../../oci/state.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

export function listCommand(runtime: Runtime): Command {
  const list = new Command("list")
    .alias("ls")
    .description("list the containers under --root")
    .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
    .option("-q, --quiet", "print the ids only", false)
    .action((f: { format: "table" | "json"; quiet: boolean }) => {
      const root = runtime().root;
      const states = listIds(root)
        .map((id) => readState(root, id))
        .filter((s) => s !== undefined)
        .map((s) => ociState(s));
      if (f.quiet) {
        out(states.map((s) => `${String(s.id)}\n`).join(""));
      } else if (f.format === "json") {
        out(JSON.stringify(states) + "\n");
      } else {
        const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...states.map((s) => [s.id, s.pid, s.status, s.bundle, s.created, s.owner].map(String))];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("") + "\n").join(""));
      }
    });
  return list;
}
