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

/** Warnings and errors only, one line each on fd 2. */
export function quietSentryLog(logFormat: LogFormat): SentryLog {
  const line = (level: "warn" | "error", obj: object, msg: string): void => {
    const fields = "err" in obj ? { ...obj, err: String((obj as { err?: unknown }).err) } : obj;
    const text =
      logFormat === "json"
        ? JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields })
        : `${level === "warn" ? "W" : "E"} ${new Date().toISOString().slice(11, 23)} ${msg} ${JSON.stringify(fields)}`;
    writeFully(2, text + "\n");
  };
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
