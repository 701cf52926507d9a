// The monitor of one OCI container made by `create`: a detached process that lives as long
// as the container and runs its MonitorServer (monitorServer.ts).
//
// argv: root, id, the sentry thread's WorkerData as JSON, create's PID, the descriptor of
// the container's socket (made by create), the descriptor its seccomp allowlist comes on
// (sentryFilter.ts, compiled by create: read to its end), then binder=FD (a confined sentry
// on the host's network: its binder's channel), tie=PID (`run` in the foreground: the
// container lives as long as that process does) and metrics=FD (--metrics-address: a socket
// create made listening on the host's network, where it serves the container's metrics) and
// events=FD (--record-events: the container's events file, for appending). fd 3: where it answers create once it
// listens under its filter, or cannot (a MonitorAnswer, monitorProtocol.ts). Create may have
// started it confined (confinement.ts); it installs its filter itself, once Node has started.
import { closeSync, readFileSync, writeSync } from "node:fs";
import { loadNative } from "../../native/index.js";
import type { WorkerData } from "../sandbox/worker.js";
import type { MonitorAnswer } from "./monitorProtocol.js";
import { encodeMessage, MONITOR_READY_FD } from "./monitorProtocol.js";
import { MonitorServer } from "./monitorServer.js";

const [root, id, workerJson, creatorPid, socketFd, filterFd, ...options] = process.argv.slice(2) as [string, string, string, string, string, string, ...string[]];
const text = (name: string): string | undefined => options.find((x) => x.startsWith(name + "="))?.slice(name.length + 1);
const option = (name: string): number | undefined => {
  const t = text(name);
  return t === undefined ? undefined : Number(t);
};
const binderFd = option("binder");
const tie = option("tie");
const metricsFd = option("metrics");
const eventsFd = option("events");
/**
 * Started by the monitor's native start (native/monitor/monitor.c), which this process was
 * until it needed Node: it answered create already, and hands over what it holds.
 */
const resumed = options.includes("resumed");
/** How long create may take to hand init over before the monitor gives up. */
const INIT_WAIT_MS = 60_000;

function report(answer: MonitorAnswer): void {
  try {
    writeSync(MONITOR_READY_FD, encodeMessage(answer));
    closeSync(MONITOR_READY_FD);
  } catch {
    // create is gone: it undoes the container itself
  }
}

const server = new MonitorServer(
  root,
  id,
  JSON.parse(workerJson) as WorkerData,
  (code) => {
    server.close();
    process.exit(code);
  },
  Number(socketFd),
  binderFd,
);
const metrics = metricsFd !== undefined ? server.countCalls() : undefined;
if (eventsFd !== undefined) server.recordEvents(eventsFd);
server.listen().then(
  async () => {
    if (metrics !== undefined) {
      try {
        await (await import("../metrics.js")).serveMetrics({ fd: metricsFd! }, () => [metrics]);
      } catch (err) {
        report({ ok: false, error: (err as Error).message });
        process.exit(1);
      }
    }
    try {
      // Resumed, this filter goes over the native start's (which let this exec through).
      const filter = readFileSync(Number(filterFd));
      closeSync(Number(filterFd));
      loadNative().confineSelf(filter);
    } catch (err) {
      if (resumed) {
        process.stderr.write(`runsc-ts: container ${id}: the sentry's seccomp filter: ${(err as Error).message}\n`);
        process.kill(process.pid, "SIGKILL");
      }
      report({ ok: false, error: `the sentry's seccomp filter: ${(err as Error).message}` });
      process.exit(1);
    }
    if (!resumed) {
      report({ ok: true });
      return;
    }
    const r = text("resume")?.split(",").map(Number);
    const first = text("first");
    void server.resume({
      ...(r !== undefined && r.length === 6 ? { init: { pid: r[0]!, pidfd: r[1]!, listener: r[2]!, control: r[3]!, start: r[4]!, mountinfo: r[5]! } } : {}),
      ...(first !== undefined ? { first: new Uint8Array(Buffer.from(first, "hex")) } : {}),
      ...(option("conn") !== undefined ? { conn: option("conn")! } : {}),
      ...(option("starting") !== undefined ? { starting: option("starting")! } : {}),
    });
  },
  (err: Error) => {
    report({ ok: false, error: err.message });
    process.exit(1);
  },
);
// A create that died (or gave up) before handing init over leaves nothing to serve.
// create may be gone before this line runs: compare with its PID, not our first parent.
const creator = Number(creatorPid);
const startedAt = Date.now();
const waiting = setInterval(() => {
  if (server.serving) {
    clearInterval(waiting);
  } else if (process.ppid !== creator || Date.now() - startedAt > INIT_WAIT_MS) {
    server.close();
    process.exit(1);
  }
}, 50);
waiting.unref();
// Tied to `run` in the foreground: its end is the container's, as when the sentry ran in
// that process. SIGKILL, not exit: exit would wait for the sentry threads, which wait on
// the container; our death hangs up init's control socket, and init ends.
if (tie !== undefined) {
  const native = loadNative();
  const pidfd = native.pidfdOpen(tie);
  if (pidfd < 0) process.kill(process.pid, "SIGKILL");
  setInterval(() => {
    if (native.pidfdExited(pidfd)) process.kill(process.pid, "SIGKILL");
  }, 100);
}
