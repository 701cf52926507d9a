// The escape suite, run as a container: Docker's default capabilities, a sloppy config (no
// maskedPaths, no readonlyPaths, a host directory bound in read-write) and root inside. Each
// way out a workload tries fails: the kernel families the filter denies (keyrings, ptrace, a
// seccomp listener of its own, bpf, io_uring, modules, mounts, namespaces), the host-global
// knobs, a host unix socket, a host process's signals; what root inside writes to a volume
// is host root's on the disk, as under runc (the volume's own owners show through).
// Where runc's answer differs (root inside is host root there), runc is asked the same.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, runcRun, runtime } from "../helpers/bundle.js";
import { PROBE_SOURCES } from "../helpers/probes.js";
import { hostFixtureDir, removeHostDir } from "../helpers/sandbox.js";

/** Docker's default capabilities (moby's oci/caps/defaults.go). */
const DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"];

/** Every family the container's filter must refuse with EPERM, by the probe's names (test/fixtures/probes/denied.c). */
const REFUSED = ["io_uring_setup", "bpf", "userfaultfd", "open_by_handle_at", "mount", "perf_event_open", "keyctl", "ptrace", "kexec_file_load", "finit_module", "setns", "seccomp_new_listener", "unshare_newuser"];

let dir: string;
let server: Server;
let victim: ChildProcess;
const bundles: Bundle[] = [];

beforeAll(async () => {
  dir = hostFixtureDir("escapes");
  // Static: the container's root is busybox's.
  for (const p of ["denied", "net"]) {
    await promisify(execFile)("gcc", ["-static", "-O2", "-pthread", "-o", join(dir, p), join(PROBE_SOURCES, `${p}.c`)]);
    chmodSync(join(dir, p), 0o755);
  }
  mkdirSync(join(dir, "vol"));
  chmodSync(join(dir, "vol"), 0o777);
  server = createServer((c) => c.end("hello from the host\n"));
  await new Promise<void>((resolve) => server.listen(join(dir, "vol", "host.sock"), resolve));
  chmodSync(join(dir, "vol", "host.sock"), 0o777);
  victim = spawn("sleep", ["300"], { stdio: "ignore" });
}, 120_000);

afterAll(async () => {
  victim.kill("SIGKILL");
  for (const b of bundles) b.cleanup();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  removeHostDir(dir);
});

function sloppy(script: string): Bundle {
  const b = makeBundle({
    args: ["/bin/sh", "-c", script],
    name: "escapes",
    config: (c: any) => {
      const caps = [...DOCKER_CAPS];
      c.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      delete c.linux.maskedPaths;
      delete c.linux.readonlyPaths;
      c.mounts.push({ destination: "/x", type: "bind", source: dir, options: ["rbind", "rw"] });
    },
  });
  bundles.push(b);
  return b;
}

const SCRIPT = [
  "/x/denied",
  // The host-global knobs: opened for writing (nothing is written).
  "for k in /proc/sys/kernel/core_pattern /proc/sysrq-trigger /proc/sys/vm/drop_caches /proc/sys/kernel/modprobe /sys/kernel/uevent_helper; do (exec 3>>$k) 2>/dev/null && echo \"knob $k open\" || echo \"knob $k refused\"; done",
  "/x/net unix /x/vol/host.sock",
  // A host process, by its host PID: not in the container's PID namespace.
  "kill -9 $VICTIM 2>/dev/null && echo signal-delivered || echo signal-refused",
  "chown 0:0 /x/vol/made-inside 2>/dev/null; touch /x/vol/made-inside; echo done",
].join("; ");

describe("the escape suite as a container (Docker's capabilities, a sloppy config)", () => {
  it("no way out: kernel families, knobs, host sockets, host signals", async () => {
    const b = sloppy(SCRIPT.replace("$VICTIM", String(victim.pid)));
    const r = await runtime(["run", "--bundle", b.dir, b.id]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const denied = new Map(lines.map((l) => /^(\S+) errno=(\d+)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, Number(m![2])]));
    expect(Object.fromEntries(REFUSED.map((n) => [n, denied.get(n)]))).toEqual(Object.fromEntries(REFUSED.map((n) => [n, 1])));
    for (const k of ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/modprobe", "/sys/kernel/uevent_helper"]) {
      expect(lines, k).toContain(`knob ${k} refused`);
    }
    expect(lines).toContain("unix errno=13");
    expect(lines).toContain("signal-refused");
    expect(victim.exitCode, "the host process lives").toBeNull();
    // What root inside made on the volume is host root's on the disk (as under runc), and nothing else changed.
    expect(statSync(join(dir, "vol", "made-inside")).uid).toBe(0);
  });

  it("runc, with the same bundle, leaves the knobs and the host socket open to root inside (host root)", async () => {
    const b = sloppy("for k in /proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches; do (exec 3>>$k) 2>/dev/null && echo \"knob $k open\" || echo \"knob $k refused\"; done; /x/net unix /x/vol/host.sock");
    const r = await runcRun(b);
    expect(r.stdout, r.stderr).toContain("knob /proc/sys/kernel/core_pattern open");
    expect(r.stdout).toContain("unix ok hello from the host");
  });
});
