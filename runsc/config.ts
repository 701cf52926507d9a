// Options every command shares (the root command's global flags).
import type { Logger } from "pino";
import type { LogFormat } from "./log.js";
import { createLogger } from "./log.js";

export interface GlobalOptions {
  debug: boolean;
  logFormat: LogFormat;
}

export function loggerFor(g: GlobalOptions): Logger {
  return createLogger({ level: g.debug ? "debug" : "warn", format: g.logFormat, fd: 2 });
}
