// Running the benchmark's probes: one process per sample, variants of a case interleaved
// so that load from elsewhere on the machine drifts over all of them alike, medians.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Named numbers one sample yields (mean_ns, p50_ns, wall_ns...). */
export type Metrics = Record<string, number>;

/** A failure of the probe itself (not a missed target): its output explains it. */
export class ProbeError extends Error {}

/** One way of running a case (natively, under runsc-ts, under the C supervisor...). */
export interface Probe {
  readonly id: string;
  /** A timed sample. */
  run(): Metrics;
  /** The untimed first run: warms caches and checks the output is right. Defaults to run(). */
  warm?(): void;
}

export interface ProbeResult {
  /** Median of each metric over the samples. */
  readonly median: Metrics;
  readonly samples: number;
  readonly error?: string;
}

export interface RunOptions {
  readonly cwd: string;
  /** Prefix for every measured command (e.g. taskset -c N). */
  readonly prefix: readonly string[];
  readonly timeoutMs: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function tail(text: string, lines = 6): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Runs argv to completion; its stdout, or a ProbeError naming what went wrong. */
export function exec(argv: readonly string[], o: RunOptions): { stdout: string; stderr: string } {
  const full = [...o.prefix, ...argv];
  const r = spawnSync(full[0]!, full.slice(1), {
    cwd: o.cwd,
    encoding: "utf8",
    timeout: o.timeoutMs,
    maxBuffer: 16 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.error !== undefined) throw new ProbeError(`${full.join(" ")}: ${r.error.message}`);
  if (r.signal !== null) throw new ProbeError(`${full.join(" ")}: killed by ${r.signal}\n${tail(r.stderr)}`);
  if (r.status !== 0) throw new ProbeError(`${full.join(" ")}: exit status ${r.status}\n${tail(r.stderr)}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const KV = /(\w+)=(-?[0-9.]+)/g;

/** "a=1 b=2.5" -> { a: 1, b: 2.5 } (the last such line of the text). */
export function parseKv(text: string): Metrics {
  const line = text
    .trimEnd()
    .split("\n")
    .reverse()
    .find((l) => /\w+=-?[0-9]/.test(l));
  const out: Metrics = {};
  if (line === undefined) return out;
  for (const m of line.matchAll(KV)) out[m[1]!] = Number(m[2]);
  return out;
}

/**
 * A probe running bench/c/loop.c (directly or under a launcher): the loop's own in-process
 * timings. `minEvents`, when given, is checked against the supervisor's event count, so a
 * filter that did not trap cannot pass for a fast round trip.
 */
export function loopProbe(id: string, argv: readonly string[], o: RunOptions, minEvents?: number): Probe {
  return {
    id,
    run(): Metrics {
      const { stdout, stderr } = exec(argv, o);
      const m = parseKv(stdout);
      if (m.mean_ns === undefined) throw new ProbeError(`${id}: no result from the loop\n${tail(stdout + stderr)}`);
      if (m.errors !== 0) throw new ProbeError(`${id}: the loop's syscall failed ${m.errors} times`);
      if (minEvents !== undefined) {
        const events = parseKv(stderr.split("\n").filter((l) => l.startsWith("supervisor:")).join("\n")).events ?? 0;
        if (events < minEvents) throw new ProbeError(`${id}: the supervisor saw ${events} events, expected ≥ ${minEvents}`);
      }
      return m;
    },
  };
}

/**
 * A probe timing one run of argv with bench/c/timeit.c (wall and CPU time, stdout
 * discarded). The warm-up runs argv directly and hands its stdout to `check`.
 */
export function wallProbe(
  id: string,
  timeit: string,
  argv: readonly string[],
  o: RunOptions,
  check?: (stdout: string) => string | undefined,
): Probe {
  return {
    id,
    run(): Metrics {
      const { stdout } = exec([timeit, "--", ...argv], o);
      const m = parseKv(stdout);
      if (m.status !== 0) throw new ProbeError(`${id}: ${argv.join(" ")} exited with status ${m.status}`);
      return { wall_ns: m.wall_ns ?? NaN, cpu_ns: m.cpu_ns ?? NaN };
    },
    warm(): void {
      const { stdout } = exec(argv, o);
      const why = check?.(stdout);
      if (why !== undefined) throw new ProbeError(`${id}: wrong output: ${why}`);
    },
  };
}

/**
 * A probe for argv that runs bench/c/timeit.c somewhere inside it (in the sandbox, under
 * the supervisor) and passes its result line through on stdout.
 */
export function innerWallProbe(id: string, argv: readonly string[], o: RunOptions): Probe {
  return {
    id,
    run(): Metrics {
      const { stdout, stderr } = exec(argv, o);
      const m = parseKv(stdout);
      if (m.wall_ns === undefined) throw new ProbeError(`${id}: no result from timeit\n${tail(stdout + stderr)}`);
      if (m.status !== 0) throw new ProbeError(`${id}: the workload exited with status ${m.status}\n${tail(stderr)}`);
      return { wall_ns: m.wall_ns, cpu_ns: m.cpu_ns ?? NaN };
    },
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps ms milliseconds, blocking: the bench runs its samples one after another. */
export function pause(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Waits (at most 3 s) until nothing but this process is runnable (/proc/loadavg's running
 * count, twice in a row): what the previous sample left running (a warm runsc-ts process
 * that replaces the one that served it starts Node) must not be timed with the next sample,
 * whichever variant that is. That work is real, and is reported apart (the notes).
 */
export function settle(): void {
  let quiet = 0;
  for (const end = Date.now() + 3000; Date.now() < end && quiet < 2; ) {
    const running = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[3]?.split("/")[0]);
    quiet = running <= 1 ? quiet + 1 : 0;
    pause(5);
  }
}

/**
 * Warms every probe once, then takes `reps` samples of each, interleaved (all probes in
 * turn, `reps` times). A probe that fails is dropped with its error; the others go on.
 */
export function collect(probes: readonly Probe[], reps: number, progress: (msg: string) => void): Map<string, ProbeResult> {
  const samples = new Map<string, Metrics[]>(probes.map((p) => [p.id, []]));
  const errors = new Map<string, string>();
  const attempt = (p: Probe, f: () => void): void => {
    if (errors.has(p.id)) return;
    try {
      f();
    } catch (err) {
      errors.set(p.id, err instanceof Error ? err.message : String(err));
      progress(`  ${p.id}: FAILED: ${errors.get(p.id)!.split("\n")[0]}`);
    }
  };
  for (const p of probes) attempt(p, () => (p.warm ? p.warm() : p.run()));
  for (let r = 0; r < reps; r++) {
    for (const p of probes) {
      settle();
      attempt(p, () => samples.get(p.id)!.push(p.run()));
    }
  }
  const out = new Map<string, ProbeResult>();
  for (const p of probes) {
    const got = samples.get(p.id)!;
    const keys = new Set(got.flatMap((m) => Object.keys(m)));
    const med: Metrics = {};
    for (const k of keys) med[k] = median(got.map((m) => m[k]!).filter((v) => Number.isFinite(v)));
    const error = errors.get(p.id);
    out.set(p.id, error === undefined ? { median: med, samples: got.length } : { median: med, samples: got.length, error });
  }
  return out;
}
