// What passes between the runtime's commands and a container's monitor (monitor.ts), typed:
// the files create leaves in the container's directory (the sentry's start data, and the
// filter exec's processes get), JSON with bigints and bytes spelt out; one request and one
// answer per connection on the container's socket, each a JSON line; and the monitor's
// readiness, one JSON line on fd 3 to create. Parsed here, checked field by field: what is
// not one of these is refused with what is wrong, never half obeyed.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProcServerOptions } from "../sandbox/procfs.js";
import type { FilterRecord } from "../sandbox/plan.js";
import type { SentryConfig } from "../../sentry/config.js";
import { NETWORK_MODES } from "../../sentry/policy/network.js";

/** The monitor's fd on which it reports readiness (a MonitorAnswer) to create. */
export const MONITOR_READY_FD = 3;

/** The sentry's configuration, and what the virtual /proc files are made from when the policy has them. */
export interface MonitorStart {
  config: SentryConfig;
  proc?: ProcServerOptions;
}

/**
 * init: create hands over the container's init; adopt: exec hands over a process it started
 * in the container. Their descriptors come with the request (SCM_RIGHTS), in the order
 * requestDescriptors names: the monitor may be confined where it cannot take them from
 * the command's process. start: release the held program, with the OCI state its
 * startContainer hooks get.
 */
export type MonitorRequest =
  | { op: "init"; pid: number; fuse: boolean }
  | { op: "adopt"; pid: number }
  | { op: "start"; state: Record<string, unknown> };

/**
 * The descriptors a request comes with, in order: init's seccomp listener and control
 * socket; for init, the sentry's start data (an open file), the host's mountinfo (the
 * monitor may not be in the host's mount namespace) and, with fuse, the virtual /proc
 * files' /dev/fuse.
 */
export function requestDescriptors(r: MonitorRequest): readonly string[] {
  switch (r.op) {
    case "init":
      return ["listener", "control", "start", "mountinfo", ...(r.fuse ? ["fuse"] : [])];
    case "adopt":
      return ["listener", "control"];
    case "start":
      return [];
  }
}

export type MonitorAnswer = { ok: true } | { ok: false; error: string };

export function encodeMessage(m: MonitorRequest | MonitorAnswer): string {
  return JSON.stringify(m) + "\n";
}

const isPid = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;

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
      if (!isPid(r.pid)) return `${r.op}: pid must be a positive integer`;
      if (r.op === "adopt") return { op: "adopt", pid: r.pid };
      if (typeof r.fuse !== "boolean") return "init: fuse must be true or false";
      return { op: "init", pid: r.pid, fuse: r.fuse };
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

/**
 * JSON with what JSON lacks spelt out: a bigint as {"$bigint": "123"}, bytes as
 * {"$bytes": base64}. Policy decisions compare 64-bit registers; a filter is bytes.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === "bigint") return { $bigint: v.toString() };
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
    return v;
  });
}

export function fromJson(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$bigint === "string" && Object.keys(o).length === 1) return BigInt(o.$bigint);
      if (typeof o.$bytes === "string" && Object.keys(o).length === 1) return new Uint8Array(Buffer.from(o.$bytes, "base64"));
    }
    return v;
  });
}

/** The files create leaves in the container's directory. */
export const START_FILE = "sentry.json";
export const FILTER_FILE = "filter.json";

export function writeStart(dir: string, start: MonitorStart): void {
  writeFileSync(join(dir, START_FILE), toJson(start), { mode: 0o600 });
}

/** The sentry's start data, checked: an error names the file and the field. */
export function readStart(dir: string): MonitorStart {
  const file = join(dir, START_FILE);
  return parseStart(readFileSync(file, "utf8"), file);
}

/** The sentry's start data from its text (file: where it came from, for the error). */
export function parseStart(text: string, file: string): MonitorStart {
  const s = fromJson(text) as { config?: Partial<SentryConfig>; proc?: unknown };
  const c = s.config;
  const bad =
    c === undefined || typeof c !== "object" ? "config"
    : !Array.isArray(c.decisions) ? "config.decisions"
    : !(NETWORK_MODES as readonly unknown[]).includes(c.network) ? "config.network"
    : c.signals !== "sandbox" && c.signals !== "self" ? "config.signals"
    : typeof c.hostname !== "string" ? "config.hostname"
    : c.execAllow !== undefined && !(Array.isArray(c.execAllow) && c.execAllow.every((p) => typeof p === "string")) ? "config.execAllow"
    : s.proc !== undefined && (typeof s.proc !== "object" || s.proc === null) ? "proc"
    : undefined;
  if (bad !== undefined) throw new Error(`${file}: ${bad}: not what create writes`);
  return s as MonitorStart;
}

export function writeFilter(dir: string, filter: FilterRecord): void {
  writeFileSync(join(dir, FILTER_FILE), toJson(filter), { mode: 0o600 });
}

/** The filter exec's processes get, checked: a whole number of sock_filter instructions. */
export function readFilter(dir: string): FilterRecord {
  const file = join(dir, FILTER_FILE);
  const f = fromJson(readFileSync(file, "utf8")) as Partial<FilterRecord>;
  if (f.op !== "filter" || !(f.program instanceof Uint8Array) || f.program.length === 0 || f.program.length % 8 !== 0 || !Number.isInteger(f.flags)) {
    throw new Error(`${file}: not a seccomp filter as create writes it`);
  }
  return f as FilterRecord;
}
