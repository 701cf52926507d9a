// What create hands a container's monitor (monitor.ts, a script of its own): descriptors
// at fixed numbers, and the sentry's start message.
import type { StartMessage, WorkerData } from "../sandbox/worker.js";

/** 3 the ready pipe, then init's listener, pidfd, mount namespace and control socket. */
export const MONITOR_FDS = { ready: 3, listener: 4, pidfd: 5, mntns: 6, control: 7 } as const;

export interface MonitorStart {
  worker: WorkerData;
  message: Omit<StartMessage, "listener" | "pidfd" | "mntns">;
}
