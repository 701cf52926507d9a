// Virtualised /proc files for a sandbox, in the spirit of LXCFS: the sandbox reads its own
// memory limit and usage, its own CPUs, its own uptime and load instead of the host's.
//
// Everything here is text in, text out: the caller reads the host's file and the sandbox's
// cgroup and passes them in, so these functions do no I/O. The host's format is kept
// (line order, spacing, trailing newlines) and only the numbers that describe the machine
// are replaced. Parsing is defensive: a line that does not look as expected passes through
// unchanged, and odd input never throws.

/** What the sandbox is limited to; undefined fields mean "no limit" (the host's value shows). */
export interface ProcLimits {
  /** Memory limit in bytes. */
  readonly memoryBytes?: number;
  /** CPU limit in CPUs (may be fractional, e.g. 1.5). */
  readonly cpus?: number;
}

/** What the sandbox uses now (from its cgroup), all optional: absent = unknown. */
export interface ProcUsage {
  /** Bytes of memory charged to the sandbox (cgroup v2 memory.current / v1 memory.usage_in_bytes). */
  readonly memoryBytes?: number;
  /** The sandbox cgroup's memory.stat parsed into name -> number (v1 or v2 key names, as given). */
  readonly memoryStat?: Readonly<Record<string, number>>;
  /** CPU time used by the sandbox since it started, in seconds. */
  readonly cpuSeconds?: number;
}

/** x if it is a finite number >= 0, else undefined (unknown). */
function nonNegative(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) && x >= 0 ? x : undefined;
}

/** x if it is a finite number > 0, else undefined: a limit of zero or less is no limit. */
function positive(x: number | undefined): number | undefined {
  return x !== undefined && Number.isFinite(x) && x > 0 ? x : undefined;
}

/** The smallest of the known values, or undefined when none is known. */
function minOf(...xs: (number | undefined)[]): number | undefined {
  const known = xs.filter((x): x is number => x !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

/** A whole count of CPUs of at least one (non-finite input counts as one). */
function wholeCpus(n: number): number {
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1;
}

/** How many CPUs the sandbox sees: ceil(limits.cpus) capped to [1, hostCpus]; hostCpus without a limit. */
export function visibleCpus(hostCpus: number, limits: ProcLimits): number {
  const host = wholeCpus(hostCpus);
  const limit = limits.cpus;
  if (limit === undefined || !Number.isFinite(limit)) return host;
  return Math.min(host, Math.max(1, Math.ceil(limit)));
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

const KIB = 1024;

/** "Name:<spaces><number> kB", the form of every line this file rewrites. */
const MEMINFO_LINE = /^([^:\s]+):(\s+)(\d+) kB$/;

/** A meminfo line's name, its value in kB, and the width its number is right-aligned in. */
interface MeminfoField {
  readonly name: string;
  readonly kb: number;
  /** Characters from just after the colon to the end of the number. */
  readonly width: number;
}

function parseMeminfoLine(line: string): MeminfoField | undefined {
  const m = MEMINFO_LINE.exec(line);
  if (m === null) return undefined;
  const [, name = "", spaces = "", digits = ""] = m;
  return { name, kb: Number(digits), width: spaces.length + digits.length };
}

/**
 * meminfo fields taken from the sandbox cgroup's memory.stat, each with its keys best first:
 * v1's hierarchical "total_" keys before its local ones. v1 and v2 share no key with a
 * different meaning, so one list serves both.
 */
const STAT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  Cached: ["file", "total_cache", "cache"],
  Shmem: ["total_shmem", "shmem"],
  "Active(anon)": ["total_active_anon", "active_anon"],
  "Inactive(anon)": ["total_inactive_anon", "inactive_anon"],
  "Active(file)": ["total_active_file", "active_file"],
  "Inactive(file)": ["total_inactive_file", "inactive_file"],
};

/** The first usable value among keys in a memory.stat. */
function statValue(stat: Readonly<Record<string, number>>, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const value = nonNegative(stat[key]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Sets name to value when the value is known. */
function setKnown(values: Map<string, number>, name: string, value: number | undefined): void {
  if (value !== undefined) values.set(name, value);
}

/** The meminfo fields memory.stat gives, in bytes, with Active/Inactive summed when both parts are known. */
function statFields(stat: Readonly<Record<string, number>>): Map<string, number> {
  const values = new Map<string, number>();
  for (const [name, keys] of Object.entries(STAT_FIELDS)) setKnown(values, name, statValue(stat, keys));
  for (const name of ["Active", "Inactive"]) {
    const anon = values.get(`${name}(anon)`);
    const file = values.get(`${name}(file)`);
    if (anon !== undefined && file !== undefined) values.set(name, anon + file);
  }
  return values;
}

/** The sandbox's meminfo values in bytes, by field name, from the host's values in bytes. */
function sandboxMemory(host: ReadonlyMap<string, number>, limits: ProcLimits, usage: ProcUsage): Map<string, number> {
  const values = statFields(usage.memoryStat ?? {});
  const total = minOf(positive(limits.memoryBytes), host.get("MemTotal"));
  if (total === undefined) return values;
  const used = nonNegative(usage.memoryBytes);
  values.set("MemTotal", total);
  if (used === undefined) {
    // Usage unknown: the host's free and available memory, but never more than the sandbox has.
    setKnown(values, "MemFree", minOf(host.get("MemFree"), total));
    setKnown(values, "MemAvailable", minOf(host.get("MemAvailable"), total));
  } else {
    const free = Math.max(0, total - used);
    values.set("MemFree", free);
    setKnown(values, "MemAvailable", minOf(host.get("MemAvailable"), free + (values.get("Inactive(file)") ?? 0), total));
  }
  return values;
}

/** A number right-aligned in width characters, or after a single space when it is wider. */
function alignRight(digits: string, width: number): string {
  return digits.length < width ? digits.padStart(width) : ` ${digits}`;
}

/** The line with its value replaced by values' (bytes, shown in kB), or unchanged. */
function rewriteMeminfoLine(line: string, values: ReadonlyMap<string, number>): string {
  const field = parseMeminfoLine(line);
  const bytes = field === undefined ? undefined : values.get(field.name);
  if (field === undefined || bytes === undefined) return line;
  return `${field.name}:${alignRight(String(Math.floor(bytes / KIB)), field.width)} kB`;
}

/**
 * /proc/meminfo. Lines keep the host's order and format: only the number is replaced,
 * right-aligned in the width the host's number field had, so the value column lines up.
 * Rewritten when a memory limit or usage is known (like LXCFS):
 *   MemTotal = min(limit, host MemTotal) (host MemTotal without a limit);
 *   MemFree = max(0, MemTotal - usage) (host MemFree capped at MemTotal when usage is unknown);
 *   MemAvailable = min(host MemAvailable, MemFree + the sandbox's inactive file cache, MemTotal);
 *   Cached, Shmem, Active(anon|file), Inactive(anon|file) from memory.stat when known (v1 or v2
 *     names); Active and Inactive as the sums of their parts when both are known.
 * SwapTotal/SwapFree are the host's: swap is not virtualised yet. Every other line passes
 * through unchanged; with neither limit nor usage known, the host text comes back unchanged.
 */
export function meminfo(host: string, limits: ProcLimits, usage: ProcUsage): string {
  const known =
    positive(limits.memoryBytes) !== undefined || nonNegative(usage.memoryBytes) !== undefined || usage.memoryStat !== undefined;
  if (!known) return host;
  const lines = host.split("\n");
  const hostBytes = new Map<string, number>();
  for (const line of lines) {
    const field = parseMeminfoLine(line);
    if (field !== undefined) hostBytes.set(field.name, field.kb * KIB);
  }
  const values = sandboxMemory(hostBytes, limits, usage);
  return lines.map((line) => rewriteMeminfoLine(line, values)).join("\n");
}

// ---------------------------------------------------------------------------------------------
// /proc/cpuinfo

/** "processor\t: 3": the line that opens each CPU's block (number in group 2). */
const PROCESSOR_LINE = /^(processor\s*:\s*)(\d+)(\s*)$/;
/** Topology counts that must not exceed the CPUs the sandbox sees. */
const TOPOLOGY_LINE = /^((?:siblings|cpu cores)\s*:\s*)(\d+)(\s*)$/;
const BLANK_LINE = /^\s*$/;

/** The number of "processor" entries in a /proc/cpuinfo text. */
export function countCpus(cpuinfo: string): number {
  return cpuinfo.split("\n").filter((line) => PROCESSOR_LINE.test(line)).length;
}

/**
 * The lines without the processor blocks after the first keep: a block runs from its
 * "processor" line to the next blank or "processor" line, and goes with the blank lines
 * before it, so the blank lines after the last kept block stay as the host has them.
 */
function keepProcessors(lines: readonly string[], keep: number): string[] {
  const out: string[] = [];
  let seen = 0;
  let dropping = false;
  for (const line of lines) {
    if (PROCESSOR_LINE.test(line)) {
      dropping = seen++ >= keep;
      if (dropping) while (out.length > 0 && BLANK_LINE.test(out[out.length - 1] ?? "")) out.pop();
    } else if (BLANK_LINE.test(line)) {
      dropping = false;
    }
    if (!dropping) out.push(line);
  }
  return out;
}

/** The line with the number in group 2 of pattern replaced by f(number); unchanged if it does not match. */
function replaceNumber(line: string, pattern: RegExp, f: (value: number) => number): string {
  const m = pattern.exec(line);
  if (m === null) return line;
  const [, head = "", value = "", tail = ""] = m;
  return `${head}${f(Number(value))}${tail}`;
}

/**
 * /proc/cpuinfo keeping only the first n "processor" blocks, with the host's blank-line
 * structure. The kept processors are numbered 0..n-1 (host numbers that already are stay as
 * they are), and "siblings" and "cpu cores" become min(their value, n). n >= the host's count:
 * unchanged.
 */
export function cpuinfo(host: string, n: number): string {
  if (!(n < countCpus(host))) return host;
  const keep = wholeCpus(n);
  let ordinal = 0;
  return keepProcessors(host.split("\n"), keep)
    .map((line) =>
      PROCESSOR_LINE.test(line)
        ? replaceNumber(line, PROCESSOR_LINE, () => ordinal++)
        : replaceNumber(line, TOPOLOGY_LINE, (value) => Math.min(value, keep)),
    )
    .join("\n");
}

// ---------------------------------------------------------------------------------------------
// /proc/stat

/** "cpu  1 2 3 ...": the aggregate line (separator after "cpu" in group 1, numbers in group 2). */
const AGGREGATE_LINE = /^cpu(\s+)(\d+(?:\s+\d+)*)\s*$/;
/** "cpu3 1 2 3 ...": one CPU's line. */
const PER_CPU_LINE = /^cpu\d+(?:\s+\d+)*\s*$/;

/** The numbers of a cpu line, after its name. */
function cpuTimes(line: string): bigint[] {
  return line.trim().split(/\s+/).slice(1).map(BigInt);
}

/** The aggregate line with each of its columns replaced by the column's sum over perCpu. */
function aggregateLine(line: string, perCpu: readonly (readonly bigint[])[]): string {
  const m = AGGREGATE_LINE.exec(line);
  if (m === null) return line;
  const [, separator = " ", numbers = ""] = m;
  const sums = numbers.split(/\s+/).map((_, column) => perCpu.reduce((sum, times) => sum + (times[column] ?? 0n), 0n));
  return `cpu${separator}${sums.join(" ")}`;
}

/**
 * /proc/stat with only the first n per-CPU lines, renumbered cpu0..cpu(n-1) in order of
 * appearance, and the aggregate "cpu" line recomputed as their column-wise sum (the host's
 * column count and spacing). All other lines unchanged. n >= the host's count: unchanged.
 */
export function stat(host: string, n: number): string {
  const lines = host.split("\n");
  if (!(n < lines.filter((line) => PER_CPU_LINE.test(line)).length)) return host;
  const keep = wholeCpus(n);
  const out: string[] = [];
  const kept: bigint[][] = [];
  for (const line of lines) {
    if (!PER_CPU_LINE.test(line)) out.push(line);
    else if (kept.length < keep) {
      out.push(line.replace(/^cpu\d+/, `cpu${kept.length}`));
      kept.push(cpuTimes(line));
    }
  }
  return out.map((line) => aggregateLine(line, kept)).join("\n");
}

// ---------------------------------------------------------------------------------------------
// /proc/uptime, /proc/loadavg, /sys/devices/system/cpu/{online,present,possible}

/**
 * /proc/uptime for a sandbox that has run uptimeSeconds: "U I\n" with two decimals each, where
 * U = uptimeSeconds and I (idle) = max(0, uptimeSeconds * cpus - (usage.cpuSeconds ?? 0)).
 */
export function uptime(uptimeSeconds: number, cpus: number, usage: ProcUsage): string {
  const up = nonNegative(uptimeSeconds) ?? 0;
  const idle = Math.max(0, up * (nonNegative(cpus) ?? 0) - (nonNegative(usage.cpuSeconds) ?? 0));
  return `${up.toFixed(2)} ${idle.toFixed(2)}\n`;
}

/** The kernel samples the load every 5 seconds. */
const LOAD_INTERVAL_S = 5;

/** One exponentially decaying average and the period, in seconds, it averages over. */
interface Average {
  readonly periodS: number;
  readonly value: number;
}

/** Load averages kept between reads (exponentially decaying, like the kernel's, sampled lazily). */
export class LoadAverage {
  private averages: readonly Average[] = [60, 300, 900].map((periodS) => ({ periodS, value: 0 }));
  /** When the last whole interval ended; undefined before the first sample. */
  private lastMs: number | undefined;

  /**
   * Advances the averages to nowMs with `running` runnable tasks: load = load * e + n * (1 - e),
   * e = exp(-5s/period) for periods 60, 300, 900 s, applied once per whole 5-second interval
   * elapsed (k intervals at once as e^k). A partial interval carries over to the next call. The
   * first call only records the time and seeds all three averages with `running`.
   */
  sample(nowMs: number, running: number): void {
    if (!Number.isFinite(nowMs)) return;
    const n = nonNegative(running) ?? 0;
    if (this.lastMs === undefined) {
      this.lastMs = nowMs;
      this.averages = this.averages.map(({ periodS }) => ({ periodS, value: n }));
      return;
    }
    const intervals = Math.floor((nowMs - this.lastMs) / (LOAD_INTERVAL_S * 1000));
    if (intervals < 1) return;
    this.lastMs += intervals * LOAD_INTERVAL_S * 1000;
    this.averages = this.averages.map(({ periodS, value }) => {
      const e = Math.exp((-LOAD_INTERVAL_S * intervals) / periodS);
      return { periodS, value: value * e + n * (1 - e) };
    });
  }

  /** "/proc/loadavg" text: "a1 a5 a15 running/total lastPid\n", averages with two decimals. */
  text(running: number, total: number, lastPid: number): string {
    const loads = this.averages.map(({ value }) => value.toFixed(2)).join(" ");
    return `${loads} ${running}/${total} ${lastPid}\n`;
  }
}

/** /sys/devices/system/cpu/online (and /present, /possible): "0\n" for one CPU, "0-(n-1)\n" otherwise. */
export function cpuRange(n: number): string {
  const cpus = wholeCpus(n);
  return cpus === 1 ? "0\n" : `0-${cpus - 1}\n`;
}
