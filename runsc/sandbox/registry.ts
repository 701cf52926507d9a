// Running `do` sandboxes, so that `runsc-ts ps ID` finds one: a file per sandbox under the
// runtime's directory (root's alone), written once its init runs and removed when it ends.
// A sandbox whose runsc-ts was killed leaves its file: an entry whose init is gone, or whose
// PID now names another process (its start time differs), is stale, and is removed by
// whoever reads it.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, SANDBOXES_DIR } from "../runtimeDir.js";
import { parseStat } from "./processes.js";

export interface SandboxEntry {
  id: string;
  /** Host PID of its init, and that process's start time (clock ticks after boot). */
  initPid: number;
  initStart: number;
  /** What it runs. */
  argv: string[];
  started: string;
}

/** A sandbox id: "do-" and 12 hex digits (never a container's: the prefix is reserved for it). */
export function newSandboxId(): string {
  return `do-${randomBytes(6).toString("hex")}`;
}

function startOf(pid: number): number | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "latin1"))?.startTicks;
  } catch {
    return undefined;
  }
}

/** Where a `do` sandbox's events are written (--record-events), while it runs. */
export function sandboxEventsFile(id: string): string {
  return join(SANDBOXES_DIR, `${id}.events.jsonl`);
}

/**
 * Records a running sandbox; returns what removes the record (also run at this process's
 * exit). Stale entries (sandboxes whose runsc-ts was killed) are removed first.
 */
export function registerSandbox(id: string, initPid: number, argv: string[]): () => void {
  const start = startOf(initPid);
  if (start === undefined) return () => {};
  const dir = ensurePrivateDir(SANDBOXES_DIR);
  listSandboxes();
  const file = join(dir, `${id}.json`);
  const entry: SandboxEntry = { id, initPid, initStart: start, argv, started: new Date().toISOString() };
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(entry) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
  const remove = (): void => {
    process.off("exit", remove);
    for (const f of [file, sandboxEventsFile(id)]) {
      try {
        unlinkSync(f);
      } catch {
        // removed as stale, or never made
      }
    }
  };
  process.on("exit", remove);
  return remove;
}

/** Whether the entry's init is still the process it names. */
function live(e: SandboxEntry): boolean {
  return startOf(e.initPid) === e.initStart;
}

/** The running sandbox with that id, or undefined; a stale entry is removed. */
export function findSandbox(id: string): SandboxEntry | undefined {
  if (!/^do-[0-9a-f]{12}$/.test(id)) return undefined;
  const file = join(SANDBOXES_DIR, `${id}.json`);
  let e: SandboxEntry;
  try {
    e = JSON.parse(readFileSync(file, "utf8")) as SandboxEntry;
  } catch {
    return undefined;
  }
  if (live(e)) return e;
  for (const f of [file, sandboxEventsFile(id)]) {
    try {
      unlinkSync(f);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** The running sandboxes (stale entries removed). */
export function listSandboxes(): SandboxEntry[] {
  let names: string[];
  try {
    names = readdirSync(SANDBOXES_DIR);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".json"))
    .map((n) => findSandbox(n.slice(0, -".json".length)))
    .filter((e): e is SandboxEntry => e !== undefined);
}
