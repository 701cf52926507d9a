// Where a sentry logs: warnings and errors as one line each without loading pino, or pino
// itself when tracing or debugging (the sentry's thread, or a container's monitor).
import type { SentryLog } from "../../sentry/sentry.js";
import type { LogFormat } from "../log.js";
import { writeFully } from "../write.js";

export interface SentryLogOptions {
  strace: boolean;
  debug: boolean;
  logFormat: LogFormat;
}

/** One line of the log, as quietSentryLog writes it (time: its ISO 8601 form; the text format shows the time of day). */
function logLine(logFormat: LogFormat, level: "warn" | "error", obj: object, msg: string, time = new Date().toISOString()): string {
  const fields = "err" in obj ? { ...obj, err: String((obj as { err?: unknown }).err) } : obj;
  return logFormat === "json"
    ? JSON.stringify({ level, msg, time, ...fields }) + "\n"
    : `${level === "warn" ? "W" : "E"} ${time.slice(11, 23)} ${msg} ${JSON.stringify(fields)}\n`;
}

/**
 * The line the sentry's watchdog writes when it fires (SentryOptions.hangLine): the time
 * ("%time", then "%hms" in the text format's place for it) and the figures are its own.
 */
export function hangLine(logFormat: LogFormat, sandbox: string): string {
  const msg = `${sandbox}: sentry hung: a trapped call held %cpu ms of its user CPU time (%wall ms in all); the sandbox and its sentry's process are killed`;
  return logLine(logFormat, "error", {}, msg, logFormat === "json" ? "%time" : "01234567890%hms");
}

/** Warnings and errors only, one line each on fd 2. */
export function quietSentryLog(logFormat: LogFormat): SentryLog {
  const line = (level: "warn" | "error", obj: object, msg: string): void => writeFully(2, logLine(logFormat, level, obj, msg));
  return {
    info: () => {},
    debug: () => {},
    warn: (obj, msg) => line("warn", obj, msg),
    error: (obj, msg) => line("error", obj, msg),
  };
}

/** The sentry's log for these options: pino only when tracing or debugging. */
export async function sentryLog(o: SentryLogOptions): Promise<SentryLog> {
  if (!o.strace && !o.debug) return quietSentryLog(o.logFormat);
  const { createLogger } = await import("../log.js");
  return createLogger({ level: o.strace ? "info" : "debug", format: o.logFormat, fd: 2 });
}
