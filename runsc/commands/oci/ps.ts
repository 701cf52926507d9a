// ps: a container's processes, or a running `do` sandbox's (its id: `do --debug` prints it).
//
//   ps ID                 each process with its PID inside and on the host, its parent, user
//                         inside, state, start and CPU time, and command line, as a tree
//                         (under --record-events, the command line its last exec made)
//   ps --json ID          the same as a JSON array of objects
//   ps --format json ID   runc's contract: a JSON array of host PIDs (what `docker top` reads)
//   ps ID -- PS-OPTIONS   runc's: ps(1) run with those options, its lines kept for the
//                         sandbox's host PIDs
import { spawnSync } from "node:child_process";
import { Command, Option } from "commander";
import { containerPids } from "../../oci/container.js";
import { readFileSync } from "node:fs";
import { checkId, ContainerError, eventsFile, readState } from "../../oci/state.js";
import { descendants, execRecords, formatTable, readProcesses, withRecordedExecs } from "../../sandbox/processes.js";
import type { ExecRecord } from "../../sandbox/processes.js";
import { findSandbox, sandboxEventsFile } from "../../sandbox/registry.js";
import type { Runtime } from "./common.js";
import { out } from "./common.js";

/** The host PIDs of the container or `do` sandbox named id, and where its events are recorded. */
function sandboxOf(runtime: Runtime, id: string): { pids: number[]; events: string } {
  checkId(id);
  if (readState(runtime().root, id) === undefined && id.startsWith("do-")) {
    const sandbox = findSandbox(id);
    if (sandbox === undefined) throw new ContainerError(`no container "${id}", and no do sandbox of that id is running`);
    return { pids: descendants(sandbox.initPid), events: sandboxEventsFile(id) };
  }
  return { pids: containerPids(runtime(), id), events: eventsFile(runtime().root, id) };
}

/** The sandbox's recorded execs (--record-events), or none. */
function recordedExecs(file: string): ExecRecord[] {
  try {
    return execRecords(readFileSync(file, "utf8"));
  } catch {
    return [];
  }
}

export function psCommand(runtime: Runtime): Command {
  const ps = new Command("ps")
    .description("list a container's (or a do sandbox's) processes: PIDs inside and on the host, as a tree")
    .addOption(new Option("-f, --format <format>", "table, or json: the host PIDs (runc's)").choices(["table", "json"]).default("table"))
    .option("--json", "each process as a JSON object (the table's fields)", false)
    .argument("<container-id>")
    .argument("[ps-options...]", "options for ps(1), whose lines are kept for the sandbox's PIDs")
    .action((id: string, psArgs: string[], f: { format: "table" | "json"; json: boolean }) => {
      const { pids, events } = sandboxOf(runtime, id);
      if (f.format === "json") {
        out(JSON.stringify(pids) + "\n");
        return;
      }
      if (psArgs.length === 0) {
        const list = withRecordedExecs(readProcesses(pids), recordedExecs(events));
        out(f.json ? JSON.stringify(list) + "\n" : formatTable(list));
        return;
      }
      const r = spawnSync("ps", psArgs, { encoding: "utf8" });
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
