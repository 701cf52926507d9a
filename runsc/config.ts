// Options every command shares (the root command's global flags).
import type { Logger } from "pino";
import type { LogFormat } from "./log.js";

export interface GlobalOptions {
  debug: boolean;
  logFormat: LogFormat;
  /** --metrics-address: where the sandbox's Prometheus endpoint listens (runsc/metrics.ts). */
  metricsAddress?: string;
  /** --record-events: the sandbox's execs, exits and refusals are recorded for `events`. */
  recordEvents?: boolean;
}

/** The CLI's logger; pino is loaded only when one is asked for. */
export async function loggerFor(g: GlobalOptions): Promise<Logger> {
  const { createLogger } = await import("./log.js");
  return createLogger({ level: g.debug ? "debug" : "warn", format: g.logFormat, fd: 2 });
}
