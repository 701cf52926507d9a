// What create hands a container's monitor (monitor.ts, a script of its own): the sentry's
// start message (in <root>/<id>/sentry.bin) and, on its socket, where init's descriptors are.
import type { ProcServerOptions } from "../sandbox/procfs.js";
import type { SentryConfig } from "../../sentry/config.js";

/** The monitor's fd on which it reports "ready" (or "error: why") to create. */
export const MONITOR_READY_FD = 3;

/**
 * The sentry's start message, less the descriptors the monitor takes itself; and what the
 * virtual /proc files are made from, when the policy has them.
 */
export interface MonitorStart {
  config: SentryConfig;
  proc?: ProcServerOptions;
}
