// events: a container's statistics and OOM kills as JSON lines.
import { Command } from "commander";
import { ContainerError } from "../../oci/state.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

export function eventsCommand(runtime: Runtime): Command {
  const ev = new Command("events")
    .description("print a container's statistics (and OOM kills) as JSON lines")
    .option("--stats", "print one statistics event and exit", false)
    .option("--interval <duration>", "time between statistics events (5s, 500ms)", "5s")
    .argument("<container-id>")
    .action(async (id: string, f: { stats: boolean; interval: string }) => {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(f.interval);
      if (!m) throw new ContainerError(`--interval: expected a duration like 5s or 500ms, got ${JSON.stringify(f.interval)}`);
      const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60000 : 1000);
      await (await import("../../oci/control.js")).events(runtime().root, id, f.stats, Math.max(ms, 10), (e) => out(JSON.stringify(e) + "\n"));
    });
  return ev;
}
