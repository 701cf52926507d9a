// --record-events and `runsc-ts events`: a sandbox's execs (who ran what, with which argv, as
// which uid), their exits (status or signal) and the sentry's refusals (with the policy
// section of the rule), as JSON lines, for a do sandbox and a container. Without the flag,
// nothing is recorded and exec is not trapped.
import { chmodSync, copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { makeBundle, runtime, STATE_ROOT } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { hostFixtureDir, removeHostDir, startDo, writePolicy } from "../helpers/sandbox.js";

interface Event {
  type: string;
  id: string;
  data: { pid?: number; hostPid?: number; uid?: number; exe?: string; argv?: string[]; status?: number | null; signal?: string | null; verdict?: string; syscall?: string; rule?: string; answer?: string };
}

let dir: string;
const bundles: Bundle[] = [];

beforeAll(() => {
  dir = hostFixtureDir("events");
  copyFileSync("/bin/true", join(dir, "refused"));
  chmodSync(join(dir, "refused"), 0o755);
});

afterAll(() => {
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

function parse(stdout: string): Event[] {
  return stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Event);
}

describe("events of a do sandbox", () => {
  it("records execs with argv and uid, exits with status or signal, and refusals with their rule", { timeout: 60_000 }, async ({ expect }) => {
    const policy = writePolicy(dir, "events", "process:\n  exec:\n    allow: [/usr/bin/**, /bin/**]\n");
    const script = `sleep 0.5; sh -c 'exit 3'; sh -c 'kill -9 $$'; ${dir}/refused; echo done; sleep 0.3`;
    const d = startDo(["--policy", policy, "--", "/bin/sh", "-c", script], {}, ["--debug", "--record-events"]);
    const id = await d.sandboxId();
    const ev = await runtime(["events", id], { timeoutMs: 20_000 });
    const r = await d.result;
    expect(r.stdout).toContain("done");
    expect(ev.code, ev.stderr).toBe(0);
    const list = parse(ev.stdout);
    for (const e of list) expect(e.id).toBe(id);
    const execs = list.filter((e) => e.type === "exec");
    const exit3 = execs.find((e) => e.data.argv?.join(" ") === "sh -c exit 3");
    expect(exit3?.data, ev.stdout).toMatchObject({ uid: 0, verdict: "allowed", exe: expect.stringMatching(/\/(dash|bash|sh)$/) });
    const exits = list.filter((e) => e.type === "exit");
    expect(exits.find((e) => e.data.hostPid === exit3!.data.hostPid)?.data.status).toBe(3);
    const killed = execs.find((e) => e.data.argv?.[2] === "kill -9 $$")!;
    expect(exits.find((e) => e.data.hostPid === killed.data.hostPid)?.data.signal).toBe("SIGKILL");
    const denial = list.find((e) => e.type === "denial");
    expect(denial, ev.stdout).toMatchObject({ data: { syscall: "execve", rule: "process.exec", answer: "EACCES", uid: 0 } });
    // The refused program never ran.
    expect(execs.some((e) => e.data.exe === join(dir, "refused"))).toBe(false);
  });

  it("without --record-events nothing is recorded", { timeout: 30_000 }, async ({ expect }) => {
    const d = startDo(["--", "/bin/sh", "-c", "/bin/true; echo ready; sleep 1"], {}, ["--debug"]);
    await d.waitForStdout("ready");
    const id = await d.sandboxId();
    expect(existsSync(`/run/runsc-ts/.sandboxes/${id}.events.jsonl`)).toBe(false);
    const ev = await runtime(["events", id], { timeoutMs: 10_000 });
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toBe("");
    await d.result;
  });
});

describe("events of a container", () => {
  it("adds what exec runs and how it ends to the stats events; the file goes with delete", { timeout: 60_000 }, async ({ expect }) => {
    const b = makeBundle({ args: ["sleep", "30"], name: "events" });
    bundles.push(b);
    try {
      const c = await runtime(["--record-events", "create", "--bundle", b.dir, b.id]);
      expect(c.code, c.stderr).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      // Followed from before the exec to the container's end.
      const following = runtime(["events", "--interval", "10s", b.id], { timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, 300));
      const e = await runtime(["exec", b.id, "sh", "-c", "exit 5"]);
      expect(e.code).toBe(5);
      await new Promise((r) => setTimeout(r, 300));
      await runtime(["kill", b.id, "KILL"]);
      const ev = await following;
      const list = parse(ev.stdout);
      expect(list.some((x) => x.type === "stats"), ev.stdout).toBe(true);
      const sh = list.find((x) => x.type === "exec" && x.data.argv?.join(" ") === "sh -c exit 5");
      expect(sh?.data, ev.stdout).toMatchObject({ uid: 0, pid: expect.any(Number) });
      expect(sh!.data.pid).toBeGreaterThan(1);
      expect(list.find((x) => x.type === "exit" && x.data.hostPid === sh!.data.hostPid)?.data.status).toBe(5);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
    expect(existsSync(join(STATE_ROOT, b.id))).toBe(false);
  });
});
