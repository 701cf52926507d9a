// Logging for the CLI and the sentry: pino, to a file descriptor, as JSON lines or as
// readable text ("I 17:34:56.123 message key=value").
import { writeFully } from "./write.js";
import pino from "pino";
import type { Logger } from "pino";

export type LogFormat = "text" | "json";

export interface LogOptions {
  level: pino.Level | "silent";
  format: LogFormat;
  /** File descriptor to write to (2 = stderr). */
  fd: number;
}

const LEVEL_LETTER: Record<number, string> = { 10: "T", 20: "D", 30: "I", 40: "W", 50: "E", 60: "F" };
const OMIT = new Set(["level", "time", "msg", "pid", "hostname"]);

/** A pino destination that renders each JSON line as one line of text. */
function textDestination(fd: number): pino.DestinationStream {
  return {
    write(line: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        writeFully(fd, line);
        return;
      }
      const t = new Date(typeof rec.time === "number" ? rec.time : Date.now());
      const ts = t.toISOString().slice(11, 23);
      const extra = Object.entries(rec)
        .filter(([k]) => !OMIT.has(k))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const letter = LEVEL_LETTER[rec.level as number] ?? "?";
      writeFully(fd, `${letter} ${ts} ${String(rec.msg ?? "")}${extra ? " " + extra : ""}\n`);
    },
  };
}

/** JSON lines, as pino makes them. */
function jsonDestination(fd: number): pino.DestinationStream {
  return { write: (line: string) => writeFully(fd, line) };
}

export function createLogger(opts: LogOptions): Logger {
  if (opts.format === "text") return pino({ level: opts.level, base: undefined }, textDestination(opts.fd));
  // runc's log lines ({"level":"info","msg":…,"time":"…"}): the runtime's --log file is read
  // by containerd's shim, which takes a JSON line whose level is "error" as the failure's message.
  return pino(
    { level: opts.level, base: undefined, formatters: { level: (label) => ({ level: label }) }, timestamp: pino.stdTimeFunctions.isoTime },
    jsonDestination(opts.fd),
  );
}
