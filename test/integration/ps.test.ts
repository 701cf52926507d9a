// runsc-ts ps: a sandbox's processes with their PIDs inside and on the host, as a tree, for a
// container (its init, what exec added) and for a running `do` (its id: --debug prints it);
// --format json keeps runc's contract (host PIDs); a fork bomb stays within maxProcesses and
// ps shows it.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, it } from "vitest";
import { makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { describeRun, hostFixtureDir, removeHostDir, startDo, writePolicy } from "../helpers/sandbox.js";

interface Proc {
  pid: number;
  hostPid: number;
  ppid: number;
  hostPpid: number;
  uid: number;
  hostUid: number;
  state: string;
  cmd: string[];
  depth: number;
  source: string;
}

let dir: string;
const bundles: Bundle[] = [];

beforeAll(() => {
  dir = hostFixtureDir("ps");
});

afterAll(() => {
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

async function psJson(id: string): Promise<Proc[]> {
  const r = await runtime(["ps", "--json", id]);
  if (r.code !== 0) throw new Error(`ps --json ${id}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Proc[];
}

/** Polls until check passes on ps's list (processes start after start returns). */
async function psUntil(id: string, check: (l: Proc[]) => boolean, ms = 10_000): Promise<Proc[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const l = await psJson(id);
    if (check(l) || Date.now() > deadline) return l;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The NSpid chain of a host process, as the kernel states it. */
function nspids(hostPid: number): number[] {
  const line = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, "utf8"))![1]!;
  return line.trim().split(/\s+/).map(Number);
}

describe("ps of a container", () => {
  it("shows the tree with PIDs inside and on the host, what exec adds, and --format json's host PIDs", { timeout: 60_000 }, async ({ expect }) => {
    const b = makeBundle({ args: ["sh", "-c", "sleep 30 & sleep 31 & wait"], name: "ps" });
    bundles.push(b);
    try {
      expect((await runtime(["create", "--bundle", b.dir, b.id])).code).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      const exec = await runtime(["exec", "--detach", b.id, "sleep", "32"]);
      expect(exec.code, exec.stderr).toBe(0);
      const list = await psUntil(b.id, (l) => l.some((p) => p.cmd.join(" ") === "sleep 32") && l.some((p) => p.cmd.join(" ") === "sleep 31"));
      const byCmd = (c: string): Proc => {
        const p = list.find((x) => x.cmd.join(" ") === c);
        if (p === undefined) throw new Error(`no ${c} in ${JSON.stringify(list)}`);
        return p;
      };
      const shell = byCmd("sh -c sleep 30 & sleep 31 & wait");
      expect(shell.pid, "the program is PID 1 inside").toBe(1);
      for (const c of ["sleep 30", "sleep 31"]) {
        expect(byCmd(c).ppid, `${c}'s parent is the shell, inside`).toBe(1);
        expect(byCmd(c).hostPpid).toBe(shell.hostPid);
        expect(byCmd(c).depth).toBe(shell.depth + 1);
      }
      // Each PID inside is the kernel's, and each host PID is a process of the container.
      for (const p of list) expect(nspids(p.hostPid).at(-1), JSON.stringify(p)).toBe(p.pid);
      const json = await runtime(["ps", "--format", "json", b.id]);
      expect(JSON.parse(json.stdout)).toEqual(list.map((p) => p.hostPid).sort((x, y) => x - y));
      // Root inside is not root outside.
      expect(shell.uid).toBe(0);
      expect(shell.hostUid).not.toBe(0);
      const table = await runtime(["ps", b.id]);
      expect(table.stdout).toMatch(/^UID\s+PID\s+PPID\s+HOST-PID\s+STAT\s+STIME\s+TIME\s+CMD\n/);
      expect(table.stdout).toMatch(new RegExp(`\\n0\\s+1\\s+0\\s+${shell.hostPid}\\s+\\S+\\s+\\S+\\s+\\S+\\s+sh -c sleep 30`));
      expect(table.stdout).toMatch(/\n.*\\_ sleep 31\n/);
      // runc's form: ps(1)'s lines for the container's PIDs.
      const host = await runtime(["ps", b.id, "--", "-e", "-o", "pid,args"]);
      expect(host.stdout.split("\n")[0]).toMatch(/PID/);
      expect(host.stdout).toContain("sleep 32");
      expect(host.stdout).not.toMatch(/node|vitest/);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
  });

  it("names an unknown id", async ({ expect }) => {
    const r = await runtime(["ps", "do-0123456789ab"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no container "do-0123456789ab", and no do sandbox of that id is running');
  });
});

describe("ps of a do sandbox", () => {
  it("--debug prints the id; ps shows init and the workload's tree; the entry goes with the sandbox", { timeout: 60_000 }, async ({ expect }) => {
    const d = startDo(["--", "/bin/sh", "-c", "sleep 20 & echo ready; wait"], {}, ["--debug"]);
    await d.waitForStdout("ready");
    const id = await d.sandboxId();
    const list = await psUntil(id!, (l) => l.some((p) => p.cmd.join(" ") === "sleep 20"));
    expect(list[0]!.cmd).toEqual(["runsc-ts-init"]);
    expect(list[0]!.pid).toBe(1);
    const sleep = list.find((p) => p.cmd.join(" ") === "sleep 20")!;
    expect(sleep.depth).toBe(2);
    expect(nspids(sleep.hostPid).at(-1)).toBe(sleep.pid);
    d.child.kill("SIGKILL");
    const r = await d.result;
    expect(r.signal).toBe("SIGKILL");
    // Its runsc-ts is gone: the entry is stale (init died with it), and ps says so.
    const after = await runtime(["ps", id!]);
    expect(after.code, describeRun({ ...r, stdout: after.stdout, stderr: after.stderr })).not.toBe(0);
    expect(after.stderr).toContain("no do sandbox of that id is running");
  });

  it("a program that rewrites its command line shows it rewritten, and under --record-events as its exec made it", { timeout: 60_000 }, async ({ expect }) => {
    const script = `$0 = "renamed"; print "ready\\n"; $| = 1; sleep 3`;
    for (const record of [false, true]) {
      const d = startDo(["--", "/usr/bin/perl", "-e", script], {}, record ? ["--debug", "--record-events"] : ["--debug"]);
      try {
        await d.waitForStdout("ready");
        const id = await d.sandboxId();
        const list = await psUntil(id, (l) => l.some((p) => p.cmd[0] === "renamed" || p.cmd[0] === "/usr/bin/perl"));
        const perl = list.find((p) => p.depth === 1)!;
        if (record) expect(perl, JSON.stringify(list)).toMatchObject({ cmd: ["/usr/bin/perl", "-e", script], source: "exec" });
        else expect(perl, JSON.stringify(list)).toMatchObject({ cmd: ["renamed"], source: "proc" });
      } finally {
        d.child.kill("SIGKILL");
        await d.result;
      }
    }
  });

  it("a fork bomb stays within process.maxProcesses, and ps shows it", { timeout: 60_000 }, async ({ expect }) => {
    const policy = writePolicy(dir, "bomb", "process:\n  maxProcesses: 24\n");
    // Each b starts two more and waits; a fork that fails ends only that subshell.
    const bomb = "b() { b & b & sleep 10; }; (b) 2>/dev/null & echo ready; exec sleep 30";
    const d = startDo(["--policy", policy, "--", "/bin/sh", "-c", bomb], {}, ["--debug"]);
    try {
      await d.waitForStdout("ready");
      const id = await d.sandboxId();
      // Let it fill what it may.
      await new Promise((r) => setTimeout(r, 1500));
      const list = await psJson(id);
      const workload = list.filter((p) => p.cmd[0] !== "runsc-ts-init");
      expect(workload.length, JSON.stringify(list.map((p) => p.cmd.join(" ")))).toBeGreaterThan(4);
      expect(workload.length).toBeLessThanOrEqual(24);
      // The tree holds: every process's parent is in the list, init's excepted.
      const hosts = new Set(list.map((p) => p.hostPid));
      for (const p of list.slice(1)) expect(hosts.has(p.hostPpid), JSON.stringify(p)).toBe(true);
    } finally {
      d.child.kill("SIGKILL");
      await d.result;
    }
  });
});
