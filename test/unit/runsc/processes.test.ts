// runsc-ts ps's reading of /proc (runsc/sandbox/processes.ts): stat and status fields, ids
// mapped inside, the tree's order and the table.
import { describe, expect, it } from "vitest";
import { execRecords, formatTable, orderAsTree, parseStat, parseStatus, shownId, withRecordedExecs } from "../../../runsc/sandbox/processes.js";
import { parseIdMap } from "../../../sentry/kernel/idmap.js";
import type { ProcessInfo } from "../../../runsc/sandbox/processes.js";

const STAT_TAIL = "1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 123456 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

describe("parseStat", () => {
  it("reads state, parent, CPU ticks and start time after a comm that holds spaces and parentheses", () => {
    const s = parseStat(`4242 (a) b (c)) S 4200 ${STAT_TAIL}`);
    expect(s).toEqual({ comm: "a) b (c)", state: "S", ppid: 4200, utimeTicks: 250, stimeTicks: 50, startTicks: 123456 });
  });

  it("refuses a truncated line", () => {
    expect(parseStat("4242 (x) S 1 2 3")).toBeUndefined();
    expect(parseStat("garbage")).toBeUndefined();
  });
});

describe("parseStatus", () => {
  it("takes the innermost NSpid and the real ids", () => {
    const text = "Name:\tsh\nTgid:\t900\nNSpid:\t900\t7\nUid:\t101000\t101000\t101000\t101000\nGid:\t101000\t101001\t101000\t101000\nThreads:\t3\n";
    expect(parseStatus(text)).toEqual({ nspid: 7, uid: 101000, gid: 101000, threads: 3 });
  });

  it("refuses a status without ids (an exiting task's)", () => {
    expect(parseStatus("Name:\tsh\nNSpid:\t900\n")).toBeUndefined();
  });
});

describe("ids inside", () => {
  const map = parseIdMap("         0     100000      65536\n");
  it("maps a host id into the range, and an id outside it to -1", () => {
    expect(shownId(map, 100000)).toBe(0);
    expect(shownId(map, 101000)).toBe(1000);
    expect(shownId(map, 5)).toBe(-1);
  });

  it("an empty map (the host's own namespace, unreadable) keeps the id", () => {
    expect(shownId([], 42)).toBe(42);
  });
});

function p(hostPid: number, hostPpid: number, pid: number, ppid: number, cmd: string): Omit<ProcessInfo, "depth"> {
  return { pid, hostPid, ppid, hostPpid, uid: 0, gid: 0, hostUid: 100000, hostGid: 100000, state: "S", threads: 1, started: "2026-12-08T10:05:00.000Z", cpuSeconds: 3725.5, exe: undefined, cmd: cmd.split(" "), source: "proc" };
}

describe("orderAsTree", () => {
  it("puts each child under its parent, children by PID inside; a process whose parent is outside is a root", () => {
    const list = [p(50, 40, 4, 2, "sleep 2"), p(30, 1, 1, 0, "init"), p(45, 40, 3, 2, "sleep 1"), p(40, 30, 2, 1, "sh"), p(70, 60, 9, 0, "orphan")];
    const order = orderAsTree(list);
    expect(order.map((x) => [x.pid, x.depth])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 2],
      [9, 0],
    ]);
  });

  it("ends on a cycle (PIDs reused while reading): each process once", () => {
    const order = orderAsTree([p(10, 11, 1, 2, "a"), p(11, 10, 2, 1, "b")]);
    expect(order.length).toBeLessThanOrEqual(2);
  });
});

describe("formatTable", () => {
  it("prints the columns, CPU time as hh:mm:ss and the command indented under its parent", () => {
    const text = formatTable(orderAsTree([p(30, 1, 1, 0, "init"), p(40, 30, 2, 1, "sh -c x")]), new Date("2026-12-08T12:00:00Z"));
    const lines = text.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^UID\s+PID\s+PPID\s+HOST-PID\s+STAT\s+STIME\s+TIME\s+CMD$/);
    expect(lines[1]).toMatch(/^0\s+1\s+0\s+30\s+S\s+\S+\s+01:02:05\s+init$/);
    expect(lines[2]).toMatch(/^0\s+2\s+1\s+40\s+S\s+\S+\s+01:02:05\s+\\_ sh -c x$/);
  });
});

describe("withRecordedExecs", () => {
  const text = [
    '{"type":"exec","time":"2026-12-08T10:04:00.000Z","pid":2,"hostPid":40,"uid":0,"hostUid":1,"exe":"/usr/bin/old","argv":["old"],"verdict":"allowed"}',
    '{"type":"exit","time":"2026-12-08T10:04:30.000Z","pid":2,"hostPid":40,"exe":"/usr/bin/old","status":0,"signal":null}',
    '{"type":"exec","time":"2026-12-08T10:05:01.000Z","pid":2,"hostPid":40,"uid":0,"hostUid":1,"exe":"/usr/bin/perl","argv":["perl","-e","$0=1"],"verdict":"allowed"}',
    '{"type":"exec","time":"2026-12-08T10:05:02.000Z","pid":3,"hostPid":50,"uid":0,"hostUid":1,"exe":"/x/forbidden","argv":["forbidden"],"verdict":"killed: not the file the check allowed"}',
    '{"type":"denial","time":"2026-12-08T10:05:03.000Z","pid":2}',
    '{"type":"exec","time":"2026-12-08T10:0',
  ].join("\n");

  it("takes allowed execs only, and skips other events and a cut line", () => {
    expect(execRecords(text).map((e) => e.exe)).toEqual(["/usr/bin/old", "/usr/bin/perl"]);
  });

  it("shows a process's last exec made after it started; a reused PID's older record is not its own", () => {
    const list = orderAsTree([p(40, 30, 2, 1, "renamed"), p(45, 30, 3, 1, "other")]);
    const shown = withRecordedExecs(list, execRecords(text));
    expect(shown[0]).toMatchObject({ cmd: ["perl", "-e", "$0=1"], exe: "/usr/bin/perl", source: "exec" });
    expect(shown[1]).toMatchObject({ cmd: ["other"], source: "proc" });
    const reused = withRecordedExecs(list, execRecords(text).slice(0, 1));
    expect(reused[0]).toMatchObject({ cmd: ["renamed"], source: "proc" });
  });
});
