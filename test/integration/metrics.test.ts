// --metrics-address: a sandbox's Prometheus endpoint, scraped while it runs — `do`'s (served
// by its runsc-ts process) and a container's (served by its confined monitor on a socket
// create made): trapped calls by syscall and answer, refusals by rule, the sentry's time
// histogram, tasks. Bad addresses and an address in use are refused, naming the flag.
import { chmodSync, copyFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { Server } from "node:net";
import { afterAll, beforeAll, describe, it } from "vitest";
import { makeBundle, runtime } from "../helpers/bundle.js";
import type { Bundle } from "../helpers/bundle.js";
import { hostFixtureDir, removeHostDir, runCli, startDo, writePolicy } from "../helpers/sandbox.js";

let dir: string;
const bundles: Bundle[] = [];

beforeAll(() => {
  dir = hostFixtureDir("metrics");
});

afterAll(() => {
  for (const b of bundles) b.cleanup();
  removeHostDir(dir);
});

/** A free TCP port on 127.0.0.1 (bound and released). */
async function freePort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The samples of a Prometheus text exposition: "name{labels}" -> value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

async function scrape(port: number): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
}

/** Scrapes until check passes (counts arrive as the workload runs). */
async function scrapeUntil(port: number, check: (s: Map<string, number>) => boolean, ms = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    let s = new Map<string, number>();
    try {
      s = samples((await scrape(port)).text);
    } catch {
      // not listening yet
    }
    if (check(s) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const key = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;

describe("metrics of a do sandbox", () => {
  it("counts the trapped calls by answer, the exec allowlist's refusals, the sentry's time and the tasks", { timeout: 60_000 }, async ({ expect }) => {
    const port = await freePort();
    const policy = writePolicy(dir, "metrics-exec", "process:\n  exec:\n    allow: [/usr/bin/**, /bin/**]\n");
    copyFileSync("/bin/true", join(dir, "nope"));
    chmodSync(join(dir, "nope"), 0o755);
    // Three refused execs (a program outside the list), then a wait while it is scraped.
    const script = `for i in 1 2 3; do ${dir}/nope 2>/dev/null; done; echo ready; sleep 30`;
    const d = startDo(["--policy", policy, "--", "/bin/sh", "-c", script], {}, ["--debug", "--metrics-address", `127.0.0.1:${port}`]);
    try {
      await d.waitForStdout("ready");
      const first = await scrape(port);
      expect(first.status).toBe(200);
      expect(first.type).toContain("text/plain");
      const s = await scrapeUntil(port, (x) => (x.get("runsc_ts_sandboxes_running") ?? 0) === 1);
      // Labelled with the id --debug printed (the one ps and events take).
      const sandbox = await d.sandboxId();
      const labelled = new Set([...s.keys()].flatMap((k) => /sandbox="([^"]*)"/.exec(k)?.[1] ?? []));
      expect([...labelled]).toEqual([sandbox]);
      expect(s.get(key("runsc_ts_syscalls_trapped_total", { sandbox, syscall: "execve", answer: "errno" })), first.text).toBeGreaterThanOrEqual(3);
      // The allowed execs (sh's, sleep's) were answered by the exec-stop thread.
      expect(s.get(key("runsc_ts_syscalls_trapped_total", { sandbox, syscall: "execve", answer: "pending" })), first.text).toBeGreaterThanOrEqual(1);
      expect(s.get(key("runsc_ts_denials_total", { sandbox, rule: "process.exec" }))).toBeGreaterThanOrEqual(3);
      expect(s.get(key("runsc_ts_denials_total", { sandbox, rule: "network" }))).toBe(0);
      const count = s.get(key("runsc_ts_sentry_call_duration_seconds_count", { sandbox }))!;
      expect(count).toBeGreaterThanOrEqual(4);
      expect(s.get(key("runsc_ts_sentry_call_duration_seconds_bucket", { sandbox, le: "+Inf" }))).toBe(count);
      expect(s.get(key("runsc_ts_sentry_call_duration_seconds_sum", { sandbox }))).toBeGreaterThan(0);
      // init, the shell, sleep.
      expect(s.get(key("runsc_ts_tasks", { sandbox }))).toBe(3);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      d.child.kill("SIGTERM");
      await d.result;
    }
    // Gone with the sandbox.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it("refuses a malformed address and one in use, naming the flag", async ({ expect }) => {
    const bad = await runCli(["--metrics-address", "localhost", "do", "--", "/bin/true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain("--metrics-address: expected HOST:PORT");
    const held: Server = createServer();
    await new Promise<void>((r) => held.listen(0, "127.0.0.1", r));
    try {
      const port = (held.address() as { port: number }).port;
      const busy = await runCli(["--metrics-address", `127.0.0.1:${port}`, "do", "--", "/bin/true"]);
      expect(busy.code).toBe(125);
      expect(busy.stderr).toContain(`--metrics-address 127.0.0.1:${port}: address in use`);
    } finally {
      held.close();
    }
  });
});

describe("metrics of a container", () => {
  it("its confined monitor serves them on a socket create made; an exec's calls are counted; delete ends the endpoint", { timeout: 60_000 }, async ({ expect }) => {
    const port = await freePort();
    const b = makeBundle({ args: ["sleep", "30"], name: "metrics" });
    bundles.push(b);
    const at = ["--metrics-address", `127.0.0.1:${port}`];
    try {
      const c = await runtime([...at, "create", "--bundle", b.dir, b.id]);
      expect(c.code, c.stderr).toBe(0);
      expect((await runtime(["start", b.id])).code).toBe(0);
      // A connect (trapped: the sentry decides a container's destinations).
      const e = await runtime(["exec", b.id, "sh", "-c", "nc -w1 127.0.0.1 1 </dev/null; echo done"]);
      expect(e.stdout).toContain("done");
      const s = await scrapeUntil(port, (x) => (x.get(key("runsc_ts_syscalls_trapped_total", { sandbox: b.id, syscall: "connect", answer: "errno" })) ?? 0) >= 1);
      expect(s.get("runsc_ts_sandboxes_running")).toBe(1);
      expect(s.get(key("runsc_ts_tasks", { sandbox: b.id }))).toBe(1);
      expect(s.get(key("runsc_ts_syscalls_trapped_total", { sandbox: b.id, syscall: "connect", answer: "errno" })), JSON.stringify([...s.entries()])).toBeGreaterThanOrEqual(1);
      expect(s.get(key("runsc_ts_sentry_call_duration_seconds_count", { sandbox: b.id }))).toBeGreaterThan(0);
      // Another container may not take the same address.
      const b2 = makeBundle({ args: ["true"], name: "metrics-busy" });
      bundles.push(b2);
      const busy = await runtime([...at, "create", "--bundle", b2.dir, b2.id]);
      expect(busy.code).not.toBe(0);
      expect(busy.stderr).toContain(`--metrics-address 127.0.0.1:${port}: address in use`);
      await runtime(["delete", "--force", b2.id]);
    } finally {
      await runtime(["delete", "--force", b.id]);
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
