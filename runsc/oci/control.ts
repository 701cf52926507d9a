// pause and resume (the freezer), update (linux.resources on a running container) and
// events (its cgroup statistics, and OOM kills, as runc prints them; with --record-events,
// its execs, exits and refusals).
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Cgroups, Resources } from "../sandbox/cgroups.js";
import { applyResources } from "../sandbox/cgroups.js";
import type { ContainerState } from "./state.js";
import { ContainerError, currentStatus, eventsFile, guard, mustRead, withLock, writeState } from "./state.js";

function groups(st: ContainerState): Cgroups {
  return { version: st.cgroupVersion, dirs: st.cgroups, freezer: st.freezer };
}

/** Waits until the freezer reports the state asked for (v1 passes through FREEZING). */
async function settle(file: string, want: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (readFileSync(file, "utf8").trim() === want) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new ContainerError(`the freezer did not reach ${want} within 5 s`);
}

/** pause (freeze) or resume (thaw) every process of the container. */
export async function setFrozen(root: string, id: string, frozen: boolean): Promise<void> {
  await withLock(root, id, async () => {
    const st = mustRead(root, id);
    guard(st, frozen ? "pause" : "resume");
    if (st.freezer === undefined) throw new ContainerError("this host has no freezer cgroup: pause is not possible");
    const v2 = st.freezer.endsWith("cgroup.freeze");
    writeFileSync(st.freezer, v2 ? (frozen ? "1" : "0") : frozen ? "FROZEN" : "THAWED");
    if (!v2) await settle(st.freezer, frozen ? "FROZEN" : "THAWED");
    st.status = frozen ? "paused" : "running";
    writeState(root, st);
  });
}

/** update: resources as linux.resources JSON (a file, or "-" for stdin), with flags on top. */
export async function updateContainer(root: string, id: string, resources: Resources): Promise<void> {
  await withLock(root, id, () => {
    const st = mustRead(root, id);
    guard(st, "update");
    applyResources(groups(st), resources);
  });
}

/** Parses linux.resources JSON (update --resources); zod loads for it. */
export async function parseResources(text: string, source: string): Promise<Resources> {
  const { fieldPath, OciResourcesSchema } = await import("./config.js");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ContainerError(`${source}: ${(err as Error).message}`);
  }
  const r = OciResourcesSchema.safeParse(doc);
  if (!r.success) throw new ContainerError(r.error.issues.map((i) => `${source}: ${fieldPath(i.path)}: ${i.message}`).join("\n"));
  return r.data;
}

const readNumber = (file: string): number | undefined => {
  try {
    const t = readFileSync(file, "utf8").trim();
    return t === "max" ? undefined : Number(t);
  } catch {
    return undefined;
  }
};

const statLines = (file: string): Record<string, number> => {
  try {
    return Object.fromEntries(
      readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/))
        .map(([k, v]) => [k!, Number(v)]),
    );
  } catch {
    return {};
  }
};

/** The container's statistics, in runc's events "stats" shape (the fields this host has). */
export function stats(st: ContainerState): Record<string, unknown> {
  if (st.cgroupVersion === 2) {
    const d = st.cgroups[0]!;
    const cpu = statLines(join(d, "cpu.stat"));
    return {
      cpu: { usage: { total: (cpu.usage_usec ?? 0) * 1000, user: (cpu.user_usec ?? 0) * 1000, kernel: (cpu.system_usec ?? 0) * 1000 } },
      memory: { usage: { usage: readNumber(join(d, "memory.current")) ?? 0, limit: readNumber(join(d, "memory.max")) ?? 0 }, raw: statLines(join(d, "memory.stat")) },
      pids: { current: readNumber(join(d, "pids.current")) ?? 0, limit: readNumber(join(d, "pids.max")) ?? 0 },
    };
  }
  const find = (file: string): string => st.cgroups.map((d) => join(d, file)).find((f) => readNumber(f) !== undefined) ?? "";
  const mem = st.cgroups.map((d) => join(d, "memory.stat")).find((f) => Object.keys(statLines(f)).length > 0) ?? "";
  return {
    cpu: { usage: { total: readNumber(find("cpuacct.usage")) ?? 0, user: readNumber(find("cpuacct.usage_user")) ?? 0, kernel: readNumber(find("cpuacct.usage_sys")) ?? 0 } },
    memory: {
      usage: { usage: readNumber(find("memory.usage_in_bytes")) ?? 0, max: readNumber(find("memory.max_usage_in_bytes")) ?? 0, limit: readNumber(find("memory.limit_in_bytes")) ?? 0, failcnt: readNumber(find("memory.failcnt")) ?? 0 },
      raw: statLines(mem),
    },
    pids: { current: readNumber(find("pids.current")) ?? 0, limit: readNumber(find("pids.max")) ?? 0 },
  };
}

/** OOM kills so far (v2 memory.events, v1 memory.oom_control's oom_kill). */
export function oomKills(st: ContainerState): number {
  for (const d of st.cgroups) {
    const v = statLines(join(d, st.cgroupVersion === 2 ? "memory.events" : "memory.oom_control")).oom_kill;
    if (v !== undefined) return v;
  }
  return 0;
}

/** A sandbox's events file as it grows (eventsReader). */
export interface EventsReader {
  /** The events of the lines completed since the last call, as {type, id, data}. */
  read(): Record<string, unknown>[];
  close(): void;
}

/**
 * A sandbox's events file (--record-events), read as it grows. It is kept open once found:
 * what was written stays readable after the sandbox's end removes the file.
 */
export function eventsReader(file: string, id: string): EventsReader {
  let offset = 0;
  let partial = "";
  let fd: number | undefined;
  const buf = Buffer.alloc(64 << 10);
  const read = (): Record<string, unknown>[] => {
    if (fd === undefined) {
      try {
        fd = openSync(file, "r");
      } catch {
        return [];
      }
    }
    const out: Record<string, unknown>[] = [];
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      partial += buf.toString("utf8", 0, n);
    }
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line === "") continue;
      try {
        const { type, ...data } = JSON.parse(line) as { type: string };
        out.push({ type, id, data });
      } catch {
        // a line cut by a full disk: skipped
      }
    }
    return out;
  };
  return {
    read,
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * events: with once, one stats event; else a stats event every interval and an oom event
 * for each OOM kill, and under --record-events its exec, exit and denial events as they
 * come, until the container stops.
 */
export async function events(root: string, id: string, once: boolean, intervalMs: number, emit: (e: Record<string, unknown>) => void): Promise<void> {
  let st = mustRead(root, id);
  if (once) {
    emit({ type: "stats", id, data: stats(st) });
    return;
  }
  const recorded = eventsReader(eventsFile(root, id), id);
  try {
    await follow(root, id, st, intervalMs, recorded, emit);
  } finally {
    recorded.close();
  }
}

async function follow(root: string, id: string, first: ContainerState, intervalMs: number, recorded: EventsReader, emit: (e: Record<string, unknown>) => void): Promise<void> {
  let st = first;
  let ooms = oomKills(st);
  let next = Date.now();
  while (currentStatus(st) !== "stopped") {
    for (const e of recorded.read()) emit(e);
    const now = oomKills(st);
    if (now > ooms) emit({ type: "oom", id });
    ooms = now;
    if (Date.now() >= next) {
      emit({ type: "stats", id, data: stats(st) });
      next = Date.now() + intervalMs;
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, 200)));
    st = mustRead(root, id);
  }
  // What it recorded up to its end.
  for (const e of recorded.read()) emit(e);
}
