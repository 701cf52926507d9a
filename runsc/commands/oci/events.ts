// events: a container's statistics and OOM kills as JSON lines.
import { Command } from "commander";
import { checkId, ContainerError, readState } from "../../oci/state.js";
import type { EventsReader } from "../../oci/control.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

/** A running `do` sandbox's recorded events (--record-events), until it ends. */
async function doEvents(id: string, reader: (file: string, id: string) => EventsReader, emit: (e: Record<string, unknown>) => void): Promise<void> {
  const { findSandbox, sandboxEventsFile } = await import("../../sandbox/registry.js");
  if (findSandbox(id) === undefined) throw new ContainerError(`no container "${id}", and no do sandbox of that id is running`);
  const recorded = reader(sandboxEventsFile(id), id);
  try {
    while (findSandbox(id) !== undefined) {
      for (const e of recorded.read()) emit(e);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const e of recorded.read()) emit(e);
  } finally {
    recorded.close();
  }
}

export function eventsCommand(runtime: Runtime): Command {
  const ev = new Command("events")
    .description("print a container's statistics and OOM kills, and what --record-events recorded (execs, exits, refusals; a do sandbox's too), as JSON lines")
    .option("--stats", "print one statistics event and exit", false)
    .option("--interval <duration>", "time between statistics events (5s, 500ms)", "5s")
    .argument("<container-id>")
    .action(async (id: string, f: { stats: boolean; interval: string }) => {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(f.interval);
      if (!m) throw new ContainerError(`--interval: expected a duration like 5s or 500ms, got ${JSON.stringify(f.interval)}`);
      const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60000 : 1000);
      const control = await import("../../oci/control.js");
      const emit = (e: Record<string, unknown>): void => out(JSON.stringify(e) + "\n");
      checkId(id);
      if (id.startsWith("do-") && readState(runtime().root, id) === undefined) {
        await doEvents(id, control.eventsReader, emit);
        return;
      }
      await control.events(runtime().root, id, f.stats, Math.max(ms, 10), emit);
    });
  return ev;
}
