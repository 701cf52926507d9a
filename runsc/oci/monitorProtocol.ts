// What passes between the runtime's commands and a container's monitor (monitor.ts), typed:
// the sentry's start data create leaves in <root>/<id>/sentry.bin; one request and one answer
// per connection on the container's socket, each a JSON line; and the monitor's readiness,
// one JSON line on fd 3 to create. Parsed here, checked field by field: a request that is not
// one of these is answered with an error, never half obeyed.
import type { ProcServerOptions } from "../sandbox/procfs.js";
import type { SentryConfig } from "../../sentry/config.js";

/** The monitor's fd on which it reports readiness (a MonitorAnswer) to create. */
export const MONITOR_READY_FD = 3;

/** The sentry's configuration, and what the virtual /proc files are made from when the policy has them. */
export interface MonitorStart {
  config: SentryConfig;
  proc?: ProcServerOptions;
}

/**
 * init: create hands over the container's init; adopt: exec hands over a process it started
 * in the container. The numbers are descriptors of process `cli` (the command's), which the
 * monitor takes with pidfd_getfd: init's seccomp listener, its control socket and, for
 * init, the virtual /proc files' /dev/fuse. start: release the held program, with the OCI
 * state its startContainer hooks get.
 */
export type MonitorRequest =
  | { op: "init"; cli: number; pid: number; listener: number; control: number; fuse?: number }
  | { op: "adopt"; cli: number; pid: number; listener: number; control: number }
  | { op: "start"; state: Record<string, unknown> };

export type MonitorAnswer = { ok: true } | { ok: false; error: string };

export function encodeMessage(m: MonitorRequest | MonitorAnswer): string {
  return JSON.stringify(m) + "\n";
}

const isFd = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** A request line, or why it is none. */
export function parseRequest(line: string): MonitorRequest | string {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    return "a request is one JSON object";
  }
  if (typeof m !== "object" || m === null) return "a request is one JSON object";
  const r = m as Record<string, unknown>;
  switch (r.op) {
    case "init":
    case "adopt": {
      const fields = ["cli", "pid", "listener", "control", ...(r.op === "init" && r.fuse !== undefined ? ["fuse"] : [])];
      const bad = fields.find((f) => !isFd(r[f]));
      if (bad !== undefined) return `${r.op}: ${bad} must be a non-negative integer`;
      const base = { cli: r.cli as number, pid: r.pid as number, listener: r.listener as number, control: r.control as number };
      return r.op === "init" ? { op: "init", ...base, ...(r.fuse !== undefined ? { fuse: r.fuse as number } : {}) } : { op: "adopt", ...base };
    }
    case "start":
      if (typeof r.state !== "object" || r.state === null || Array.isArray(r.state)) return "start: state must be the container's OCI state";
      return { op: "start", state: r.state as Record<string, unknown> };
    default:
      return `unknown request ${JSON.stringify(r.op)}`;
  }
}

/** An answer line (a monitor that said something else answered nothing usable). */
export function parseAnswer(line: string): MonitorAnswer {
  try {
    const a = JSON.parse(line) as unknown;
    if (typeof a === "object" && a !== null && (a as { ok?: unknown }).ok === true) return { ok: true };
    if (typeof a === "object" && a !== null && typeof (a as { error?: unknown }).error === "string") return { ok: false, error: (a as { error: string }).error };
  } catch {
    // below
  }
  return { ok: false, error: line === "" ? "the monitor answered nothing" : `the monitor answered ${JSON.stringify(line.slice(0, 80))}` };
}
