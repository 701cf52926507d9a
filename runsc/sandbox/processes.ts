// A sandbox's processes as `runsc-ts ps` shows them: each with its PID inside (its own PID
// namespace's) and on the host, its parent, its user inside, its state, start and CPU time,
// and its command line, read from the host's /proc; ordered as a tree, each child under its
// parent.
//
// The kernel's PID namespace is the table: clone, exec and exit are not trapped (trapping
// them would tax every fork), so what the kernel holds at the moment of reading is exact,
// and is read at that moment. A command line is what the process shows in its memory
// (/proc/PID/cmdline, which a program may rewrite, as setproctitle does); its executable
// (/proc/PID/exe) is the file its last exec loaded.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { IdMap } from "../../sentry/kernel/idmap.js";
import { insideId, parseIdMap } from "../../sentry/kernel/idmap.js";

export interface ProcessInfo {
  /** PID in the sandbox's PID namespace (the innermost of NSpid). */
  pid: number;
  /** PID on the host. */
  hostPid: number;
  /** The parent's PID inside; 0 for a process whose parent is outside the sandbox. */
  ppid: number;
  hostPpid: number;
  /** Real uid and gid inside (the sandbox's user namespace), and on the host. */
  uid: number;
  gid: number;
  hostUid: number;
  hostGid: number;
  /** ps's state letter (R, S, D, Z, T, ...). */
  state: string;
  threads: number;
  /** When it started (ISO 8601). */
  started: string;
  /** User and system CPU time, in seconds. */
  cpuSeconds: number;
  /** The executable its last exec loaded, as the host names it; undefined when unreadable. */
  exe: string | undefined;
  /** Its command line (argv); the kernel's name for it in brackets when it has none (a zombie). */
  cmd: string[];
  /**
   * Where cmd and exe come from: "exec", the sandbox's record of its last exec
   * (--record-events: what the exec made, read at its exec stop); "proc", what the process
   * shows now.
   */
  source: "exec" | "proc";
  /** Depth in the tree (0: a root). */
  depth: number;
}

/** Fields of /proc/PID/stat: (comm) then state, ppid, ..., utime (14), stime (15), starttime (22). */
export interface StatFields {
  comm: string;
  state: string;
  ppid: number;
  utimeTicks: number;
  stimeTicks: number;
  startTicks: number;
}

/** Parses /proc/PID/stat; comm may hold spaces and parentheses, so the last ")" ends it. */
export function parseStat(text: string): StatFields | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const num = (n: number): number => Number(rest[n - 3]);
  if (rest.length < 20) return undefined;
  return { comm: text.slice(open + 1, close), state: rest[0]!, ppid: num(4), utimeTicks: num(14), stimeTicks: num(15), startTicks: num(22) };
}

/** The fields of /proc/PID/status ps needs. */
export interface StatusFields {
  nspid: number;
  uid: number;
  gid: number;
  threads: number;
}

/** Parses /proc/PID/status: ids as the host sees them, the innermost NSpid. */
export function parseStatus(text: string): StatusFields | undefined {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(text)?.[1];
  const nspid = field("NSpid")?.trim().split(/\s+/);
  const uid = field("Uid")?.trim().split(/\s+/);
  const gid = field("Gid")?.trim().split(/\s+/);
  const threads = field("Threads");
  if (nspid === undefined || uid === undefined || gid === undefined) return undefined;
  return { nspid: Number(nspid[nspid.length - 1]), uid: Number(uid[0]), gid: Number(gid[0]), threads: Number(threads ?? 1) };
}

/** The id inside a host id is, as ps shows it: -1 (the overflow id, nobody) when unmapped; the host's own id where the map is empty (unreadable). */
export function shownId(map: IdMap, host: number): number {
  return map.length === 0 ? host : (insideId(map, host) ?? -1);
}

/** The sandbox's tree in display order: each root, then its children depth-first, by PID inside. */
export function orderAsTree(list: Omit<ProcessInfo, "depth">[]): ProcessInfo[] {
  const byHost = new Map(list.map((p) => [p.hostPid, p]));
  const children = new Map<number, Omit<ProcessInfo, "depth">[]>();
  const roots: Omit<ProcessInfo, "depth">[] = [];
  for (const p of list) {
    if (byHost.has(p.hostPpid) && p.hostPpid !== p.hostPid) {
      const c = children.get(p.hostPpid) ?? [];
      c.push(p);
      children.set(p.hostPpid, c);
    } else {
      roots.push(p);
    }
  }
  const out: ProcessInfo[] = [];
  const seen = new Set<number>();
  const visit = (p: Omit<ProcessInfo, "depth">, depth: number): void => {
    if (seen.has(p.hostPid)) return;
    seen.add(p.hostPid);
    out.push({ ...p, depth });
    for (const c of (children.get(p.hostPid) ?? []).sort((a, b) => a.pid - b.pid)) visit(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.pid - b.pid)) visit(r, 0);
  return out;
}

/** Clock ticks per second (sysconf(_SC_CLK_TCK)): 100 on Linux's every architecture ABI. */
const CLK_TCK = 100;

function bootTimeMs(proc: string): number {
  const btime = /^btime\s+(\d+)$/m.exec(readFileSync(join(proc, "stat"), "utf8"))?.[1];
  return Number(btime ?? 0) * 1000;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return undefined;
  }
}

/**
 * The processes among hostPids, read from proc (the host's /proc); a process gone meanwhile
 * is left out. Ids inside are mapped through each process's own uid_map and gid_map.
 */
export function readProcesses(hostPids: readonly number[], proc = "/proc"): ProcessInfo[] {
  const boot = bootTimeMs(proc);
  const list: Omit<ProcessInfo, "depth">[] = [];
  for (const hostPid of hostPids) {
    const dir = join(proc, String(hostPid));
    const statText = readOr(join(dir, "stat"));
    const statusText = readOr(join(dir, "status"));
    if (statText === undefined || statusText === undefined) continue;
    const stat = parseStat(statText);
    const status = parseStatus(statusText);
    if (stat === undefined || status === undefined) continue;
    const uidMap = parseIdMap(readOr(join(dir, "uid_map")) ?? "");
    const gidMap = parseIdMap(readOr(join(dir, "gid_map")) ?? "");
    const cmdline = readOr(join(dir, "cmdline")) ?? "";
    const argv = cmdline === "" ? [] : Buffer.from(cmdline, "latin1").toString("utf8").replace(/\0$/, "").split("\0");
    let exe: string | undefined;
    try {
      exe = readlinkSync(join(dir, "exe"));
    } catch {
      exe = undefined;
    }
    // The parent's PID inside: its NSpid, when the parent is in the sandbox (filled below).
    list.push({
      pid: status.nspid,
      hostPid,
      ppid: 0,
      hostPpid: stat.ppid,
      uid: shownId(uidMap, status.uid),
      gid: shownId(gidMap, status.gid),
      hostUid: status.uid,
      hostGid: status.gid,
      state: stat.state,
      threads: status.threads,
      started: new Date(boot + (stat.startTicks * 1000) / CLK_TCK).toISOString(),
      cpuSeconds: (stat.utimeTicks + stat.stimeTicks) / CLK_TCK,
      exe,
      cmd: argv.length > 0 ? argv : [`[${stat.comm}]`],
      source: "proc",
    });
  }
  const inside = new Map(list.map((p) => [p.hostPid, p.pid]));
  for (const p of list) p.ppid = inside.get(p.hostPpid) ?? 0;
  return orderAsTree(list);
}

/** An exec as the sandbox recorded it (--record-events). */
export interface ExecRecord {
  hostPid: number;
  time: string;
  exe: string;
  argv: string[];
}

/**
 * The processes with their last recorded exec's command line and executable, where one
 * was recorded after the process started (a PID reused since is another process's).
 */
export function withRecordedExecs(list: ProcessInfo[], execs: readonly ExecRecord[]): ProcessInfo[] {
  const last = new Map<number, ExecRecord>();
  for (const e of execs) last.set(e.hostPid, e);
  return list.map((p) => {
    const e = last.get(p.hostPid);
    // Start times are in clock ticks (10 ms): an exec recorded in the same tick counts.
    if (e === undefined || Date.parse(e.time) < Date.parse(p.started) - 10) return p;
    return { ...p, cmd: e.argv, exe: e.exe, source: "exec" as const };
  });
}

/** The exec records of an events file's lines (runsc-ts events' input). */
export function execRecords(text: string): ExecRecord[] {
  const out: ExecRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith('{"type":"exec"')) continue;
    try {
      const e = JSON.parse(line) as { hostPid: number; time: string; exe: string; argv: string[]; verdict: string };
      if (e.verdict === "allowed") out.push({ hostPid: e.hostPid, time: e.time, exe: e.exe, argv: e.argv });
    } catch {
      // a line cut short
    }
  }
  return out;
}

/** root and its descendants (host PIDs), through /proc/PID/task/TID/children. */
export function descendants(root: number, proc = "/proc"): number[] {
  const out: number[] = [];
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    let tasks: string[];
    try {
      tasks = readdirSync(join(proc, String(pid), "task"));
    } catch {
      continue; // gone
    }
    out.push(pid);
    for (const tid of tasks) {
      const text = readOr(join(proc, String(pid), "task", tid, "children")) ?? "";
      for (const c of text.trim().split(/\s+/)) if (c !== "") queue.push(Number(c));
    }
  }
  return out.sort((a, b) => a - b);
}

/** Seconds as ps's TIME: [[dd-]hh:]mm:ss. */
function cpuTime(seconds: number): string {
  const s = Math.floor(seconds);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/** The start time as ps's STIME: HH:MM today, or the month and day before. */
function startTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const two = (n: number): string => String(n).padStart(2, "0");
  if (d.toDateString() === now.toDateString()) return `${two(d.getHours())}:${two(d.getMinutes())}`;
  return `${d.toLocaleString("en-US", { month: "short" })}${two(d.getDate())}`;
}

/** The table `runsc-ts ps` prints: one line per process, the command indented under its parent. */
export function formatTable(list: readonly ProcessInfo[], now = new Date()): string {
  const rows = [["UID", "PID", "PPID", "HOST-PID", "STAT", "STIME", "TIME", "CMD"]];
  for (const p of list) {
    const cmd = p.cmd.join(" ");
    rows.push([String(p.uid), String(p.pid), String(p.ppid), String(p.hostPid), p.state, startTime(p.started, now), cpuTime(p.cpuSeconds), (p.depth > 0 ? "  ".repeat(p.depth - 1) + "\\_ " : "") + cmd]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (i === rows[0]!.length - 1 ? 0 : r[i]!.length))));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n") + "\n";
}
