// A container's host unix sockets are network. Under its runtime's network (runsc-ts's
// "host" mode: the kernel's network namespace the runtime gave it), a connect to a unix
// socket that is not the container's own — on a host directory bound in — fails with EACCES
// unless the policy's network.unix names it, while runc connects. The container's own
// sockets (its /tmp) and its TCP connects work as before. Each case runs under runsc-ts and
// under runc with the same bundle.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, runcRun, runtime } from "../helpers/bundle.js";
import { PROBE_SOURCES } from "../helpers/probes.js";
import { hostFixtureDir, removeHostDir } from "../helpers/sandbox.js";

let dir: string;
let server: Server;
const bundles: Bundle[] = [];

beforeAll(async () => {
  dir = hostFixtureDir("host-sockets");
  // Static: the container's root is busybox's.
  await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", join(dir, "net"), join(PROBE_SOURCES, "net.c")]);
  chmodSync(join(dir, "net"), 0o755);
  await promisify(execFile)("gcc", ["-O2", "-o", join(dir, "unixflood"), join(PROBE_SOURCES, "unixflood.c")]);
  mkdirSync(join(dir, "sub"));
  chmodSync(join(dir, "sub"), 0o755);
  server = createServer((c) => c.end("hello from the host\n"));
  await new Promise<void>((resolve) => server.listen(join(dir, "sub", "host.sock"), resolve));
  chmodSync(join(dir, "sub", "host.sock"), 0o777);
}, 120_000);

afterAll(async () => {
  for (const b of bundles) b.cleanup();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  removeHostDir(dir);
});

function policyFile(name: string, unix?: string[]): string {
  const p = join(dir, `${name}.yaml`);
  const lines = ["apiVersion: runsc-ts/v1", "kind: Policy", `name: ${name}`, "extends: container"];
  if (unix !== undefined) lines.push("network:", "  mode: host", `  unix: [${unix.join(", ")}]`);
  writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

function bundle(script: string, policy?: string): Bundle {
  const b = makeBundle({
    args: ["/bin/sh", "-c", script],
    name: "host-sockets",
    config: (c) => {
      c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "rw"] });
      if (policy !== undefined) c.annotations = { "dev.runsc-ts.policy": policy };
    },
  });
  bundles.push(b);
  return b;
}


const EACCES = 13;

describe("a container's host unix sockets are network", () => {
  it("a socket on a host directory bound in: refused with EACCES (and the log says which rule would allow it), where runc connects", async () => {
    const b = bundle("/x/net unix /x/sub/host.sock");
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`unix errno=${EACCES}\n`);
    expect(r.stderr).toContain("network.unix");
    expect(r.stderr).toContain("policy explain --connect unix:/x/sub/host.sock");
    expect((await runcRun(b)).stdout).toBe("unix ok hello from the host\n");
  });

  it("reached through a symlink or a relative path: refused all the same", async () => {
    const b = bundle("ln -s /x/sub/host.sock /tmp/link && /x/net unix /tmp/link; cd /x/sub && /x/net unix host.sock");
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`unix errno=${EACCES}\nunix errno=${EACCES}\n`);
  });

  it("network.unix naming the socket (or its directory's, with /**) allows it", async () => {
    for (const rule of ["/x/sub/host.sock", "/x/sub/**"]) {
      const b = bundle("/x/net unix /x/sub/host.sock", policyFile(`unix-${rule.length}`, [JSON.stringify(rule)]));
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, rule).toBe("unix ok hello from the host\n");
    }
  });

  it("the container's own sockets (its /tmp) and its TCP connects work as under runc", async () => {
    const b = bundle("/x/net unixself /tmp/own.sock; /x/net loopback");
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("unixself ok\nloopback ok\n");
    expect((await runcRun(b)).stdout).toBe(r.stdout);
  });

  it("on the host's network: an abstract socket the host listens on is refused, where runc connects; one of the container's own works; network.unix @NAME allows the host's", async () => {
    const name = `runsc-ts-test-${process.pid}-${Date.now()}`;
    const host = createServer((c) => c.end("hello from the host\n"));
    await new Promise<void>((resolve) => host.listen(`\0${name}`, resolve));
    const hostNet = (c: any): void => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
      c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "rw"] });
    };
    try {
      // Node binds an abstract name padded with NULs to the whole sockaddr_un: "@NAME@" asks for that.
      const script = `/x/net unix @${name}@; /x/net unixself @${name}-own`;
      const b = makeBundle({ args: ["/bin/sh", "-c", script], name: "host-sockets", config: hostNet });
      bundles.push(b);
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`unix errno=${EACCES}\nunixself ok\n`);
      expect(r.stderr).toContain(`abstract unix socket @${name}@`);
      expect((await runcRun(b)).stdout).toBe("unix ok hello from the host\nunixself ok\n");
      const allowed = makeBundle({
        args: ["/bin/sh", "-c", `/x/net unix @${name}@`],
        name: "host-sockets",
        config: (c) => {
          hostNet(c);
          c.annotations = { "dev.runsc-ts.policy": policyFile("abstract", [JSON.stringify(`@${name.slice(0, 10)}*`)]) };
        },
      });
      bundles.push(allowed);
      const ra = await runtime(["run", "--bundle", allowed.dir, allowed.id]);
      expect(ra.code, ra.stderr).toBe(0);
      expect(ra.stdout).toBe("unix ok hello from the host\n");
    } finally {
      await new Promise<void>((resolve) => host.close(() => resolve()));
    }
  });

  it("on the host's network: a host abstract socket is refused wherever /proc/net/unix lists it, past its first MiB too", { timeout: 120_000 }, async () => {
    // 30 000 listening abstract sockets (in as many processes as their descriptor limit
    // needs): /proc/net/unix grows past 2 MiB, its lines in hash order.
    const prefix = `runsc-ts-flood-${process.pid}`;
    const floods: ChildProcess[] = [];
    try {
      for (let made = 0; made < 30_000; ) {
        const f = spawn(join(dir, "unixflood"), [String(30_000 - made), `${prefix}-${floods.length}`], { stdio: ["ignore", "pipe", "inherit"] });
        floods.push(f);
        made += await new Promise<number>((resolve, reject) => {
          let out = "";
          f.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /^ready (\d+)\n/.exec(out);
            if (m !== null) resolve(Number(m[1]));
          });
          f.on("exit", () => reject(new Error(`unixflood ended: ${out}`)));
        });
        expect(floods.length, "unixflood processes").toBeLessThan(100);
      }
      // Names whose lines start past the first MiB: a sentry that read only that much would
      // find no one listening there, and let the connect through.
      const text = readFileSync("/proc/net/unix", "latin1");
      expect(text.length, "the host's /proc/net/unix").toBeGreaterThan(1.5 * (1 << 20));
      const far: string[] = [];
      for (let at = text.indexOf("\n") + 1; at > 0 && at < text.length && far.length < 5; ) {
        const end = text.indexOf("\n", at);
        const name = / @(runsc-ts-flood-\S+)$/.exec(text.slice(at, end < 0 ? undefined : end))?.[1];
        if (name?.startsWith(prefix) === true && at > 1 << 20) far.push(name);
        at = end + 1;
      }
      expect(far.length, "names listed past the first MiB").toBe(5);
      const script = far.map((n) => `timeout 5 /x/net unix @${n} || echo "unix reached"`).join("; ");
      const b = makeBundle({
        args: ["/bin/sh", "-c", script],
        name: "host-sockets",
        config: (c) => {
          c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
          c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "rw"] });
        },
      });
      bundles.push(b);
      const r = await runtime(["run", "--bundle", b.dir, b.id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`unix errno=${EACCES}\n`.repeat(5));
    } finally {
      for (const f of floods) f.kill("SIGKILL");
    }
  });

  it("policy explain --connect unix:PATH says what decides it", async () => {
    const none = await runtime(["policy", "explain", "container", "--connect", "unix:/var/run/docker.sock"]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain("in a container: allowed if the socket is the sandbox's own");
    expect(none.stdout).toContain("denied: EACCES");
    const named = await runtime(["policy", "explain", policyFile("docker-sock", ["/var/run/docker.sock"]), "--connect", "unix:/var/run/docker.sock"]);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toMatch(/allowed, wherever the socket is\n {2}because: .*network\.unix\[0\] \/var\/run\/docker\.sock/);
    expect(readFileSync(join(dir, "docker-sock.yaml"), "utf8")).toContain("unix:");
  });
});
