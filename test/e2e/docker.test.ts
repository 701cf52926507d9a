// Docker with runsc-ts as a runtime, end to end: `runsc-ts install` edits a real dockerd's
// daemon.json, and `docker run --runtime=runsc-ts` is observed doing what users do with it.
// The dockerd is the tests' own (daemon.ts), started here and stopped at the end, when
// nothing may be left behind: no container, shim, runtime state or mount.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busyboxRootfs } from "../helpers/bundle.js";
import { CLI, CONFIG, CONTAINERD_SOCK, ctr, docker, dockerOk, E2E_DIR, ensurePackages, IMAGE, importImage, leftovers, removeE2EDir, runscTs, startE2EDockerd, stopE2EDockerd, withTty, writeNoMkdirPolicy } from "./daemon.js";

const RT = "--runtime=runsc-ts";
/** docker run --rm with runsc-ts, of the test image. */
const run = (flags: string[], cmd: string[], opts: { input?: string } = {}) => docker(["run", "--rm", RT, ...flags, IMAGE, ...cmd], opts);
/** A detached container (sleep unless told): its full id. */
const detached = (flags: string[] = [], cmd: string[] = ["sleep", "1000"]): string => dockerOk(["run", "-d", RT, ...flags, IMAGE, ...cmd]).trim();
const inspect = (id: string, format: string): string => dockerOk(["inspect", "-f", format, id]).trim();

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** The monitor (sentry) process of a Docker container: a monitor.js process naming its id. */
function findMonitor(id: string): number {
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      if (cmd.some((c) => c.endsWith("monitor.js")) && cmd.includes(id)) return Number(p);
    } catch {
      // gone
    }
  }
  throw new Error(`no monitor for ${id}`);
}

let policyDir: string;

beforeAll(async () => {
  ensurePackages();
  startE2EDockerd();
  importImage();
  policyDir = mkdtempSync(join(E2E_DIR, "policies-"));
}, 600_000);

afterAll(async () => {
  // What dockerd still had, to name the test that left something.
  const containers = docker(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}} {{.Command}}"]).stdout.trim();
  stopE2EDockerd();
  const left = leftovers();
  removeE2EDir();
  expect(left.join("\n"), `left behind by the Docker tests (dockerd's containers before the end: ${containers || "none"})`).toBe("");
}, 300_000);

describe("runsc-ts install", () => {
  it("adds runsc-ts to the daemon.json of a running dockerd and reloads it; again changes nothing; uninstall removes it", () => {
    writeFileSync(CONFIG, JSON.stringify({ "log-level": "warn", runtimes: { other: { path: "/usr/sbin/runc" } } }, null, 2));
    const i = runscTs(["install", "--config", CONFIG, "--reload"]);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toContain(`runtime "runsc-ts" → ${CLI}`);
    expect(i.stdout).toMatch(/Reloaded dockerd \(pid \d+/);
    const doc = JSON.parse(readFileSync(CONFIG, "utf8"));
    expect(doc).toEqual({ "log-level": "warn", runtimes: { other: { path: "/usr/sbin/runc" }, "runsc-ts": { path: CLI } } });
    expect(existsSync(`${CONFIG}.bak`)).toBe(true);
    const again = runscTs(["install", "--config", CONFIG]);
    expect(again.stdout).toContain("installed already; nothing changed");
    // dockerd reloads on SIGHUP asynchronously: its runtimes list shows the new one.
    return until("dockerd lists runsc-ts", () => docker(["info", "--format", "{{json .Runtimes}}"]).stdout.includes('"runsc-ts"')).then(() => {
      const u = runscTs(["uninstall", "--runtime", "other", "--config", CONFIG]);
      expect(u.code, u.stderr).toBe(0);
      expect(JSON.parse(readFileSync(CONFIG, "utf8")).runtimes).toEqual({ "runsc-ts": { path: CLI } });
    });
  });
});

describe("docker run --runtime=runsc-ts", () => {
  it("returns the program's exit status, its stdout and stderr apart, and -i's stdin", () => {
    const r = run([], ["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
    const i = run(["-i"], ["sh", "-c", "tr a-z A-Z"], { input: "from stdin\n" });
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toBe("FROM STDIN\n");
  });

  it("-t and -it give a terminal (what the user types reaches the program); exec and exec -it join the running container", () => {
    const t = run(["-t"], ["sh", "-c", "[ -t 1 ] && echo is-a-tty"]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout.replace(/\r/g, "")).toBe("is-a-tty\n");
    // -it: what a user at a terminal types reaches the program, which has the terminal.
    const interactive = withTty(`docker run -it --rm ${RT} ${IMAGE} sh -c 'read x; [ -t 0 ] && echo got-$x'`, 60_000, "typed\n");
    expect(interactive.stdout, interactive.stderr).toContain("got-typed");
    const id = detached(["--hostname", "box"]);
    const e = docker(["exec", id, "sh", "-c", "echo $(hostname) $((6*7))"]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toBe("box 42\n");
    expect(docker(["exec", id, "sh", "-c", "exit 9"]).code).toBe(9);
    const it_ = withTty(`docker exec -it ${id} sh -c '[ -t 0 ] && [ -t 1 ] && echo tty-both'`);
    expect(it_.code, it_.stderr + it_.stdout).toBe(0);
    expect(it_.stdout).toContain("tty-both");
    dockerOk(["rm", "-f", id]);
  });

  it("top shows the container's processes by their host PIDs", async () => {
    const id = detached([], ["sh", "-c", "sleep 1001 & sleep 1002"]);
    try {
      let pids: number[] = [];
      let cmds: string[] = [];
      // The program is running when run -d returns; its shell forks its sleeps soon after.
      await until("top lists both sleeps", () => {
        const rows = dockerOk(["top", id]).trim().split("\n").slice(1);
        pids = rows.map((l) => Number(l.trim().split(/\s+/)[1]));
        // Each PID is the host's: its command line is the one top shows.
        cmds = pids.map((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim();
          } catch {
            return "";
          }
        });
        return cmds.includes("sleep 1001") && cmds.includes("sleep 1002");
      });
      expect(cmds).toContain("sleep 1001");
      expect(cmds).toContain("sleep 1002");
      expect(pids).toContain(Number(inspect(id, "{{.State.Pid}}")));
    } finally {
      dockerOk(["rm", "-f", id]);
    }
  });

  it("stop sends TERM, then KILL after the timeout; kill -s passes the signal", async () => {
    // sleep as PID 1's child ignores nothing, but init passes TERM only to what catches it.
    const stubborn = detached([], ["sleep", "1000"]);
    const started = Date.now();
    dockerOk(["stop", "-t", "1", stubborn]);
    expect(Date.now() - started).toBeGreaterThan(900);
    expect(inspect(stubborn, "{{.State.ExitCode}}")).toBe("137");
    const polite = detached([], ["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
    await new Promise((r) => setTimeout(r, 300));
    dockerOk(["stop", "-t", "10", polite]);
    expect(inspect(polite, "{{.State.ExitCode}}")).toBe("7");
    const usr = detached([], ["sh", "-c", "trap 'exit 10' USR1; while :; do sleep 0.1; done"]);
    await new Promise((r) => setTimeout(r, 300));
    dockerOk(["kill", "-s", "USR1", usr]);
    await until("the USR1 container exits", () => inspect(usr, "{{.State.Status}}") === "exited");
    expect(inspect(usr, "{{.State.ExitCode}}")).toBe("10");
    dockerOk(["rm", "-f", stubborn, polite, usr]);
  });

  it("pause freezes the container and unpause thaws it; update changes its memory, pids and CPU limits", () => {
    const id = detached();
    dockerOk(["pause", id]);
    expect(inspect(id, "{{.State.Status}}")).toBe("paused");
    const pid = inspect(id, "{{.State.Pid}}");
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^State:\s+[SD]/m);
    dockerOk(["unpause", id]);
    expect(inspect(id, "{{.State.Status}}")).toBe("running");
    expect(dockerOk(["exec", id, "echo", "thawed"])).toBe("thawed\n");

    dockerOk(["update", "--memory", "64m", "--memory-swap", "64m", "--pids-limit", "50", "--cpus", "0.5", id]);
    // What the container's own cgroup says, read inside.
    const seen = dockerOk(["exec", id, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"]);
    expect(seen.trim().split(/\s+/).slice(0, 3)).toEqual(expect.arrayContaining(["67108864", "50"]));
    expect(seen).toMatch(/\b50000\b/);
    dockerOk(["rm", "-f", id]);
  });

  it("honours --read-only, --user, -e, -w, --hostname and -v", () => {
    const host = mkdtempSync(join(E2E_DIR, "vol-"));
    chmodSync(host, 0o755);
    writeFileSync(join(host, "in"), "from the host\n");
    const r = run(
      ["--read-only", "--user", "1000:1000", "-e", "WHO=e2e", "-w", "/data", "--hostname", "h1", "-v", `${host}:/data`],
      ["sh", "-c", "touch /x 2>/dev/null && echo wrote-root; echo $WHO $(id -u):$(id -g) $(pwd) $(hostname) $(cat in); echo back > /data/out 2>/dev/null || echo no-write"],
    );
    expect(r.code, r.stderr).toBe(0);
    // The bind is writable only by its owner (root): uid 1000 may not write it.
    expect(r.stdout).toBe("e2e 1000:1000 /data h1 from the host\nno-write\n");
    const w = run(["-v", `${host}:/data`], ["sh", "-c", "echo back > /data/out"]);
    expect(w.code, w.stderr).toBe(0);
    expect(readFileSync(join(host, "out"), "utf8")).toBe("back\n");
    rmSync(host, { recursive: true, force: true });
  });

  it("networks: none has only loopback, the default bridge has an address (its prestart hook ran), host is the host's", () => {
    const none = run(["--network", "none"], ["sh", "-c", "ls /sys/class/net"]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout.trim().split(/\s+/)).toEqual(["lo"]);
    const bridge = run([], ["sh", "-c", "ip -4 addr show eth0"]);
    expect(bridge.code, bridge.stderr).toBe(0);
    expect(bridge.stdout).toMatch(/inet 172\.\d+\.\d+\.\d+/);
    const hostNet = run(["--network", "host"], ["sh", "-c", "ls /sys/class/net"]);
    expect(hostNet.code, hostNet.stderr).toBe(0);
    expect(hostNet.stdout.trim().split(/\s+/).sort()).toEqual(readFileSync("/proc/net/dev", "utf8").split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter(Boolean).sort());
  });

  it("--init runs Docker's init (under runsc-ts's PID 1), the program under it, and it reaps", () => {
    // An orphan (the backgrounded sleep's parent exits) is reaped: no zombie stays.
    const r = run(["--init"], ["sh", "-c", "cat /proc/$PPID/comm; (sh -c 'sleep 0.2 &'); sleep 0.5; grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l"]);
    expect(r.code, r.stderr).toBe(0);
    const [parent, zombies] = r.stdout.trim().split("\n");
    expect(parent).toMatch(/^(docker-init|tini)$/);
    expect(zombies).toBe("0");
    // The program is a child subreaper, so Docker's init has nothing to warn of.
    expect(r.stderr).not.toContain("Tini is not running as PID 1");
  });

  it("root inside is a host id range of the container's own; the image and volumes behave as under runc; the sentry is confined", async () => {
    const a = detached();
    const b = detached();
    try {
      const hostUid = (id: string): number => Number(readFileSync(`/proc/${inspect(id, "{{.State.Pid}}")}/status`, "utf8").match(/\nUid:\s+(\d+)/)![1]);
      const [ua, ub] = [hostUid(a), hostUid(b)];
      expect(ua).toBeGreaterThanOrEqual(0x40000000);
      expect(Math.abs(ua - ub), "disjoint ranges").toBeGreaterThanOrEqual(65536);
      expect(dockerOk(["exec", a, "id", "-u"]).trim()).toBe("0");
      // The image's files are root's inside, and root inside changes them.
      const img = dockerOk(["exec", a, "sh", "-c", "stat -c %u /bin/busybox; mkdir -p /usr/local/x && chown -R 1000:1000 /usr/local/x && stat -c %u /usr/local/x; echo 'u:x:1001:1001::/tmp:/bin/sh' >> /etc/passwd && id -u u"]);
      expect(img.trim().split("\n")).toEqual(["0", "1000", "1001"]);
      // The sentry: its own host id, its filter, no_new_privs.
      const monitor = findMonitor(a);
      const ms = readFileSync(`/proc/${monitor}/status`, "utf8");
      expect(ms).toMatch(/\nSeccomp:\s+2\n/);
      expect(ms).toMatch(/\nNoNewPrivs:\s+1\n/);
      expect(Number(ms.match(/\nUid:\s+(\d+)/)![1])).toBeLessThan(0x40000000);
      expect(Number(ms.match(/\nUid:\s+(\d+)/)![1])).toBeGreaterThanOrEqual(0x3f000000);
    } finally {
      dockerOk(["rm", "-f", a, b]);
    }
    // A volume gets the ids its writers meant: root's files are host root's, 1000's are 1000's.
    const host = mkdtempSync(join(E2E_DIR, "userns-vol-"));
    chmodSync(host, 0o777);
    try {
      expect(run(["-v", `${host}:/v`], ["sh", "-c", "echo r > /v/root-file"]).code).toBe(0);
      expect(run(["--user", "1000:1000", "-v", `${host}:/v`], ["sh", "-c", "echo u > /v/user-file"]).code).toBe(0);
      expect(statSync(join(host, "root-file")).uid).toBe(0);
      expect(statSync(join(host, "user-file")).uid).toBe(1000);
    } finally {
      rmSync(host, { recursive: true, force: true });
    }
    // The host-global knobs stay out of reach, whatever the config.
    const knobs = run(["--privileged"], ["sh", "-c", "echo x > /proc/sys/kernel/core_pattern 2>/dev/null && echo wrote || echo refused"]);
    expect(knobs.stdout).toBe("refused\n");
  });

  it("--privileged: mounts, its host name and network devices of its own work in its user namespace; the host's knobs and disks stay refused", () => {
    // The host's root disk: --privileged lists it among the container's devices, as runc's.
    const disk = /^\S+ \S+ \S+ \S+ \/ .*? - \S+ (\/dev\/\S+)/m.exec(readFileSync("/proc/self/mountinfo", "utf8"))?.[1];
    expect(disk, "the host's root filesystem is on no /dev node").toBeDefined();
    const script = [
      "mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && touch /tmp/m/f && umount /tmp/m && echo mount=ok",
      "hostname inside && echo hostname=$(hostname)",
      "ip link add br9 type bridge && ip link del br9 && echo bridge=ok",
      "awk 'NR==1 {print \"mapped=\" ($2 >= 1073741824)}' /proc/self/uid_map",
      "mount -o remount,rw /proc/sys 2>/dev/null; echo x > /proc/sys/kernel/core_pattern 2>/dev/null && echo knob=wrote || echo knob=refused",
      `[ -b ${disk} ] && echo disk=there; head -c1 ${disk} >/dev/null 2>&1 && echo disk=read || echo disk=refused`,
    ].join("; ");
    const r = run(["--privileged"], ["sh", "-c", script]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["mount=ok", "hostname=inside", "bridge=ok", "mapped=1", "knob=refused", "disk=there", "disk=refused"]);
  });

  it("a runtime installed with its own policy applies it: what it denies fails with EPERM inside", () => {
    const policy = join(policyDir, "no-mkdir.yaml");
    writeNoMkdirPolicy(policy, "e2e-no-mkdir");
    const i = runscTs(["install", "--runtime", "runsc-ts-nomkdir", "--config", CONFIG, "--reload", "--", "--policy", policy]);
    expect(i.code, i.stderr).toBe(0);
    return until("dockerd lists runsc-ts-nomkdir", () => docker(["info", "--format", "{{json .Runtimes}}"]).stdout.includes("runsc-ts-nomkdir")).then(() => {
      const r = docker(["run", "--rm", "--runtime=runsc-ts-nomkdir", IMAGE, "sh", "-c", "mkdir /tmp/d; echo status=$?"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("status=1\n");
      expect(r.stderr).toContain("Operation not permitted");
      // The default runtime's policy allows it.
      expect(run([], ["sh", "-c", "mkdir /tmp/d && echo made"]).stdout).toBe("made\n");
    });
  });

  it("network.mode proxy on Docker's bridge: the container reaches what network.egress allows, and nothing else", async () => {
    // The bridge's address: its IPAM gateway, which a dockerd that made the bridge itself
    // (a machine's first) leaves unset, else the address on the bridge's interface.
    const ipam = dockerOk(["network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"]).trim();
    const bridge = dockerOk(["network", "inspect", "bridge", "-f", '{{index .Options "com.docker.network.bridge.name"}}']).trim();
    const gateway = ipam !== "" ? ipam : (JSON.parse(execFileSync("ip", ["-j", "-4", "addr", "show", "dev", bridge], { encoding: "utf8" })) as { addr_info: { local: string }[] }[])[0]!.addr_info[0]!.local;
    expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // The host's servers, in a process of their own: docker() blocks this one's event loop.
    const serve = `const net = require("net"); const a = net.createServer((c) => c.end("hello from the host\\n")); const b = net.createServer((c) => c.end("should not be reached\\n"));
      a.listen(0, ${JSON.stringify(gateway)}, () => b.listen(0, ${JSON.stringify(gateway)}, () => console.log(a.address().port + " " + b.address().port)));`;
    const servers = spawn(process.execPath, ["-e", serve], { stdio: ["ignore", "pipe", "inherit"] });
    const ports = await new Promise<string>((resolve) => servers.stdout!.once("data", (d: Buffer) => resolve(d.toString())));
    const [allowed, denied] = ports.trim().split(" ").map(Number);
    try {
      const policy = join(policyDir, "egress.yaml");
      writeFileSync(policy, ["apiVersion: runsc-ts/v1", "kind: Policy", "name: e2e-egress", "extends: container", "network:", "  mode: proxy", "  egress:", `    - { to: "${gateway}", ports: [${allowed}] }`, ""].join("\n"));
      const i = runscTs(["install", "--runtime", "runsc-ts-egress", "--config", CONFIG, "--reload", "--", "--policy", policy]);
      expect(i.code, i.stderr).toBe(0);
      await until("dockerd lists runsc-ts-egress", () => docker(["info", "--format", "{{json .Runtimes}}"]).stdout.includes("runsc-ts-egress"));
      const r = docker(["run", "--rm", "--runtime=runsc-ts-egress", IMAGE, "sh", "-c", `nc -w 2 ${gateway} ${allowed} </dev/null; echo rc=$?; nc -w 2 ${gateway} ${denied} </dev/null; echo rc=$?`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("hello from the host\nrc=0\nrc=1\n");
      expect(r.stderr).toContain("Permission denied");
    } finally {
      servers.kill("SIGKILL");
    }
  });

  it("a failing start shows runsc-ts's own message and leaves no process behind", () => {
    const i = runscTs(["install", "--runtime", "runsc-ts-broken", "--config", CONFIG, "--reload", "--", "--policy", "/nonexistent/e2e-policy.yaml"]);
    expect(i.code, i.stderr).toBe(0);
    return until("dockerd lists runsc-ts-broken", () => docker(["info", "--format", "{{json .Runtimes}}"]).stdout.includes("runsc-ts-broken")).then(() => {
      const r = docker(["run", "--rm", "--runtime=runsc-ts-broken", IMAGE, "true"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("/nonexistent/e2e-policy.yaml");
      const missing = docker(["run", "--rm", RT, IMAGE, "/no/such/program"]);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toContain('exec: "/no/such/program"');
      // The runs above are over (--rm): none of their processes or state may remain.
      expect(leftovers().join("\n"), docker(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Status}} {{.Command}}"]).stdout).toBe("");
    });
  });
});

describe("containerd: ctr run --runc-binary runsc-ts", () => {
  /** A rootfs of ctr's own (ctr uses it in place, writable). */
  function rootfs(): string {
    const dir = mkdtempSync(join(E2E_DIR, "ctr-rootfs-"));
    execFileSync("cp", ["-a", `${busyboxRootfs()}/.`, dir]);
    return dir;
  }
  const base = (id: string, dir: string, extra: string[] = []) => ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary", CLI, ...extra, "--rootfs", dir, id];

  it("runs a container: its output and exit status; an annotation chooses its policy", () => {
    const dir = rootfs();
    const r = ctr([...base("ctr-a", dir, ["--rm"]), "sh", "-c", "echo from-ctr $(hostname); id -u; cat /proc/self/uid_map; exit 4"]);
    expect(r.stdout).toContain("from-ctr");
    expect(r.code, r.stderr).toBe(4);
    // Root inside: a host id of the container's own range.
    const [, uid, map] = r.stdout.trim().split("\n");
    expect(uid).toBe("0");
    expect(Number(map!.trim().split(/\s+/)[1])).toBeGreaterThanOrEqual(0x40000000);
    const policy = join(policyDir, "ctr-no-mkdir.yaml");
    writeNoMkdirPolicy(policy, "ctr-no-mkdir");
    const denied = ctr([...base("ctr-b", dir, ["--rm", "--annotation", `dev.runsc-ts.policy=${policy}`]), "sh", "-c", "mkdir /made 2>&1; echo status=$?"]);
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toContain("Operation not permitted");
    expect(denied.stdout).toContain("status=1");
    expect(existsSync(join(dir, "made"))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it("task kill --all ends every process of a detached container; delete removes it", async () => {
    const dir = rootfs();
    const r = ctr([...base("ctr-c", dir, ["-d"]), "sh", "-c", "sleep 1001 & sleep 1002"]);
    expect(r.code, r.stderr).toBe(0);
    // The heading and the two sleeps (sh execs the last one: it is PID 1).
    await until("ctr-c runs both sleeps", () => ctr(["task", "ps", "ctr-c"]).stdout.trim().split("\n").length >= 3);
    expect(ctr(["task", "kill", "--all", "--signal", "SIGKILL", "ctr-c"]).code).toBe(0);
    await until("ctr-c stops", () => /STOPPED/.test(ctr(["task", "ls"]).stdout));
    expect(ctr(["task", "delete", "ctr-c"]).code).toBe(0);
    expect(ctr(["container", "delete", "ctr-c"]).code).toBe(0);
    const sleeps = execFileSync("sh", ["-c", "pgrep -f 'sleep 100[12]' || true"], { encoding: "utf8" }).trim();
    expect(sleeps).toBe("");
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("containerd: ctr run --runtime containerd-shim-runsc-ts-v1 (runtime v2)", () => {
  const SHIM = join(CLI, "..", "containerd-shim-runsc-ts-v1");
  function rootfs(): string {
    const dir = mkdtempSync(join(E2E_DIR, "shim-rootfs-"));
    execFileSync("cp", ["-a", `${busyboxRootfs()}/.`, dir]);
    return dir;
  }
  const base = (id: string, dir: string, extra: string[] = []) => ["run", "--runtime", SHIM, ...extra, "--rootfs", dir, id];

  it("runs a container through the shim: stdin to its end, output, exit status; nothing left after --rm", () => {
    const dir = rootfs();
    const r = ctr([...base("shim-a", dir, ["--rm"]), "sh", "-c", "cat; echo pid=$$; echo err >&2; exit 3"], { input: "piped through\n" });
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(3);
    expect(r.stdout).toBe("piped through\npid=1\n");
    expect(r.stderr).toContain("err");
    expect(ctr(["task", "ls"]).stdout).not.toContain("shim-a");
    rmSync(dir, { recursive: true, force: true });
  });

  it("a detached container: exec, ps, kill and delete through the shim, its task events published, and the shim gone after", async () => {
    const dir = rootfs();
    const events = spawn("ctr", ["--address", CONTAINERD_SOCK, "events"], { stdio: ["ignore", "pipe", "ignore"] });
    let seen = "";
    events.stdout!.on("data", (d: Buffer) => (seen += d.toString()));
    try {
      const r = ctr([...base("shim-b", dir, ["-d"]), "sh", "-c", "sleep 1001 & exec sleep 1002"]);
      expect(r.code, r.stderr).toBe(0);
      await until("shim-b runs both sleeps", () => ctr(["task", "ps", "shim-b"]).stdout.trim().split("\n").length >= 3);
      const e = ctr(["task", "exec", "--exec-id", "e1", "shim-b", "sh", "-c", "echo exec-out; ps -o pid,comm | grep -c sleep; exit 4"]);
      expect(e.code, e.stderr).toBe(4);
      expect(e.stdout).toBe("exec-out\n2\n");
      // SIGTERM is not for a PID 1 that does not catch it (as under runc); SIGKILL ends it.
      expect(ctr(["task", "kill", "--signal", "SIGKILL", "shim-b"]).code).toBe(0);
      await until("shim-b stops", () => /shim-b\s+\d+\s+STOPPED/.test(ctr(["task", "ls"]).stdout));
      expect(ctr(["task", "delete", "shim-b"]).code).toBe(0);
      expect(ctr(["container", "delete", "shim-b"]).code).toBe(0);
      await until("the task events", () => ["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", "/tasks/delete"].every((t) => seen.includes(t)));
      await until("the shim and the container's processes are gone", () => leftovers().length === 0 && execFileSync("sh", ["-c", "pgrep -f 'sleep 100[12]' || true"], { encoding: "utf8" }).trim() === "");
    } finally {
      events.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a terminal through the shim: the program's on it, what is typed reaches it; stats as containerd's metrics; checkpoint refused with why", () => {
    const dir = rootfs();
    const t = withTty(["ctr", "--address", CONTAINERD_SOCK, "--namespace", "runsc-ts-e2e", ...base("shim-c", dir, ["--rm", "--tty"]), "sh"].join(" "), 60_000, "tty\necho typed-$((1+2))\nexit 5\n");
    expect(t.code, t.stdout).toBe(5);
    expect(t.stdout).toContain("/dev/console");
    expect(t.stdout).toContain("typed-3");
    const r = ctr([...base("shim-d", dir, ["-d"]), "sleep", "1000"]);
    expect(r.code, r.stderr).toBe(0);
    const m = ctr(["task", "metrics", "shim-d"]);
    if (existsSync("/sys/fs/cgroup/cgroup.controllers")) {
      // The shim encodes cgroup v1 metrics only: on a v2 host containerd drops its refusal.
      expect(m.stderr).toContain("no metrics received");
    } else {
      expect(m.code, m.stderr).toBe(0);
      expect(m.stdout).toMatch(/memory\.usage_in_bytes\s+[1-9]/);
      expect(m.stdout).toMatch(/cpuacct\.usage\s+[1-9]/);
    }
    const c = ctr(["task", "checkpoint", "shim-d"]);
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain("runsc-ts does not checkpoint containers");
    expect(ctr(["task", "kill", "--signal", "SIGKILL", "shim-d"]).code).toBe(0);
    ctr(["task", "delete", "shim-d"]);
    ctr(["container", "delete", "shim-d"]);
    rmSync(dir, { recursive: true, force: true });
  });
});
