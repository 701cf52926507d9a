// A probe run under the confinement of a container's sentry (runsc/oci/confinement.ts and
// sentryFilter.ts), built from dist/. Two modes:
//
//   node confinedProbe.mjs launch SLOT BASE   makes the sentry's user namespace for the id
//       range (SLOT, BASE), starts this script confined in "probe" mode, and prints one JSON
//       line: what the probe found, and its /proc status as the host sees it
//   node confinedProbe.mjs probe PORT         (confined) installs the sentry's filter, tries
//       what a steered sentry would, prints one JSON line and waits for stdin to close
import { readFileSync, writeFileSync, readdirSync, openSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { connect as netConnect, createServer, Socket } from "node:net";

const dist = new URL("../../dist/", import.meta.url);
const { loadNative } = await import(new URL("native/index.js", dist).href);
const native = loadNative();

function attempt(fn) {
  try {
    const r = fn();
    return r === undefined ? "ok" : r;
  } catch (err) {
    return err.code ?? err.message;
  }
}

function statusLines(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^(Uid|Gid|CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

if (process.argv[2] === "probe") {
  const { sentryFilter } = await import(new URL("runsc/oci/sentryFilter.js", dist).href);
  native.confineSelf(sentryFilter());
  const found = {
    root: readdirSync("/").sort(),
    status: statusLines(readFileSync("/proc/self/status", "utf8")),
    // Host files: not in its view; through a host process's root, refused.
    hostPasswd: attempt(() => void readFileSync("/etc/passwd")),
    hostShadowThroughProc: attempt(() => void readFileSync("/proc/1/root/etc/shadow")),
    hostRootListing: attempt(() => void readdirSync("/proc/1/root/")),
    procSys: attempt(() => writeFileSync("/proc/sys/kernel/core_pattern", "|/tmp/x")),
    procSysOpen: attempt(() => void openSync("/proc/sys/vm/drop_caches", "w")),
    // A host process: its memory, its descriptors, a signal.
    hostMemory: native.readMemory(1, 0x400000, 8, new Uint8Array(8)) < 0 ? "refused" : "read",
    hostFd: (() => {
      const pidfd = native.pidfdOpen(1);
      if (pidfd < 0) return `pidfd_open ${pidfd}`;
      const r = native.pidfdGetfd(pidfd, 0);
      native.close(pidfd);
      return r < 0 ? "refused" : "taken";
    })(),
    hostSignal: attempt(() => process.kill(1, 0)),
    // The host's network: a listener on the host's loopback (the launcher's).
    hostNetwork: await new Promise((resolve) => {
      const c = netConnect(Number(process.argv[3]), "127.0.0.1");
      c.on("connect", () => (c.destroy(), resolve("connected")));
      c.on("error", (err) => resolve(err.code));
    }),
    // exec: killed at execve (the child libuv forks for it dies of SIGSYS).
    exec: (() => {
      const r = spawnSync("/usr/bin/true");
      return r.status === 0 ? "ran" : `status ${r.status} signal ${r.signal} ${r.error?.code ?? ""}`.trim();
    })(),
  };
  process.stdout.write(JSON.stringify(found) + "\n");
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => process.exit(0));
} else if (process.argv[2] === "launch") {
  const { sentryNamespace, spawnConfinedSentry } = await import(new URL("runsc/oci/confinement.js", dist).href);
  const range = { slot: Number(process.argv[3]), base: Number(process.argv[4]) };
  const userns = sentryNamespace(native, range);
  const pair = native.socketpair(1, 1 | 0o2000000, 0);
  const devNull = openSync("/dev/null", "r+");
  const listener = createServer((c) => c.end());
  await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
  listener.unref();
  const pid = spawnConfinedSentry(native, { userns, argv: [process.execPath, new URL(import.meta.url).pathname, "probe", String(listener.address().port)], fds: [pair[1], pair[1], 2], hostNetwork: false });
  native.close(pair[1]);
  native.close(userns);
  native.close(devNull);
  const conn = new Socket({ fd: pair[0], readable: true, writable: true });
  let buf = "";
  conn.on("data", (b) => {
    buf += b.toString();
    if (!buf.includes("\n")) return;
    const probe = JSON.parse(buf.slice(0, buf.indexOf("\n")));
    const host = statusLines(readFileSync(`/proc/${pid}/status`, "utf8"));
    const mountinfo = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
    process.stdout.write(JSON.stringify({ pid, probe, host, mounts: mountinfo.split("\n").filter((l) => l !== "").map((l) => l.split(" ")[4]) }) + "\n");
    conn.end();
    conn.destroy();
  });
} else {
  process.stderr.write("usage: confinedProbe.mjs launch SLOT BASE | probe\n");
  process.exit(2);
}
