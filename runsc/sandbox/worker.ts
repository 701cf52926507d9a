// The sentry thread of a sandbox: serves its trapped syscalls, then reports how init exited.
// Started by sandbox.ts with workerData; posts exactly one message: {exit} or {error}.
import { parentPort, workerData } from "node:worker_threads";
import { loadNative } from "../../native/index.js";
import { compilePolicy } from "../../sentry/policy/compile.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { serve } from "../../sentry/sentry.js";
import { createLogger } from "../log.js";
import type { LogFormat } from "../log.js";

export interface WorkerData {
  pid: number;
  mntns: number;
  pidfd: number;
  listener: number;
  policy: Policy;
  trace: "all" | string[] | null;
  hostname: string;
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: LogFormat;
}

export type WorkerMessage = { exit: number } | { error: string };

const d = workerData as WorkerData;
const native = loadNative();
const log = createLogger({ level: d.trace ? "info" : d.logLevel, format: d.logFormat, fd: 2 });
try {
  const compiled = compilePolicy(d.policy, { trace: d.trace === null ? undefined : d.trace === "all" ? "all" : new Set(d.trace) });
  serve({
    native,
    mntns: d.mntns,
    pidfd: d.pidfd,
    listener: d.listener,
    policy: d.policy,
    compiled,
    hostname: d.hostname,
    strace: d.trace !== null,
    log,
  });
  const status = native.waitExit(d.pid);
  parentPort!.postMessage({ exit: status < 0 ? 125 : status } satisfies WorkerMessage);
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies WorkerMessage);
}
