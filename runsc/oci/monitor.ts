// The monitor of one OCI container made by `create`: a detached process that lives as long
// as the container and runs its MonitorServer (monitorServer.ts).
//
// argv: root, id, the sentry thread's WorkerData as JSON, and create's PID. fd 3: a pipe on
// which it answers create once it listens, or cannot (a MonitorAnswer, monitorProtocol.ts).
import { closeSync, writeSync } from "node:fs";
import type { WorkerData } from "../sandbox/worker.js";
import type { MonitorAnswer } from "./monitorProtocol.js";
import { encodeMessage, MONITOR_READY_FD } from "./monitorProtocol.js";
import { MonitorServer } from "./monitorServer.js";

const [root, id, workerJson, creatorPid] = process.argv.slice(2) as [string, string, string, string];
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

const server = new MonitorServer(root, id, JSON.parse(workerJson) as WorkerData, (code) => {
  server.close();
  process.exit(code);
});
server.listen().then(
  () => report({ ok: true }),
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
