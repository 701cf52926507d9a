// The sentry thread of a sandbox. Started before the sandbox exists (its startup overlaps
// policy loading and spawning), it waits for a StartMessage, serves the sandbox's trapped
// syscalls, then posts one WorkerMessage for it: {exit} or {error} ({ready} says it has
// loaded, {fact} carries what the workload did when asked). One that served its sandbox to
// the end may be given the next (a warm process's: keepSentryThreadAhead in sentryThread.ts).
// It loads neither the policy language nor pino unless tracing: the decisions arrive compiled.
import { SentryStats } from "../../sentry/metrics.js";
import { openSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { loadNative } from "../../native/index.js";
import type { SentryConfig } from "../../sentry/config.js";
import type { AuditFact } from "../../sentry/audit.js";
import { serve } from "../../sentry/sentry.js";
import type { SentryLogOptions } from "./sentryLog.js";
import { hangLine, sentryLog } from "./sentryLog.js";

/** What the thread is started with: how its sentry logs. */
export type WorkerData = SentryLogOptions;

/** The sandbox handed to the sentry's thread: its configuration and the handles of its init. */
export interface StartMessage {
  config: SentryConfig;
  /** Host PID of the sandbox's init. */
  pid: number;
  mntns: number;
  pidfd: number;
  listener: number;
  /** init is not this process's child (an OCI container's monitor): its status is not ours to reap. */
  notChild?: boolean;
  /** What the sandbox is called in messages ("container ID"); without it, "sandbox PID". */
  name?: string;
  /** --metrics-address: the sentry's counters (sentry/metrics.ts), shared with the endpoint's thread. */
  stats?: SharedArrayBuffer;
  /** --record-events: the sandbox's events file (this process's descriptor, O_APPEND). */
  events?: number;
}

export type WorkerMessage = { ready: true } | { exit: number } | { error: string } | { fact: AuditFact };

const d = workerData as WorkerData;

const native = loadNative();
const log = await sentryLog(d);
// The strace printers are loaded only for a traced sandbox.
const tracer = d.strace ? await import("../../sentry/strace/format.js") : undefined;
// The mount namespace this thread starts in (the process's): it goes back there after each
// sandbox, holding none of the sandbox's mounts while it waits for the next.
const ownMntns = openSync("/proc/thread-self/ns/mnt", "r");
parentPort!.postMessage({ ready: true } satisfies WorkerMessage);
let broken = false;
parentPort!.on("message", (m: StartMessage) => {
  // A thread whose last sandbox failed serves no other (its owner ends it).
  if (broken) {
    parentPort!.postMessage({ error: "this sentry thread failed before and serves no sandbox" } satisfies WorkerMessage);
    return;
  }
  try {
    const { record, ...config } = m.config;
    try {
      serve({
        ...config,
        native,
        mntns: m.mntns,
        pidfd: m.pidfd,
        listener: m.listener,
        initPid: m.pid,
        ...(record === true ? { record: (fact: AuditFact) => parentPort!.postMessage({ fact } satisfies WorkerMessage) } : {}),
        strace: tracer,
        ...(m.stats !== undefined ? { stats: new SentryStats(m.stats) } : {}),
        ...(m.events !== undefined ? { events: m.events } : {}),
        log,
        hangLine: hangLine(d.logFormat, m.name ?? `sandbox ${m.pid}`),
      });
    } finally {
      native.close(native.enterMountNamespace(ownMntns));
    }
    const status = m.notChild === true ? 0 : native.waitExit(m.pid);
    parentPort!.postMessage({ exit: status < 0 ? 125 : status } satisfies WorkerMessage);
  } catch (err) {
    broken = true;
    parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies WorkerMessage);
  }
});
