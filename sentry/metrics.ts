// What a sentry counts for the metrics endpoint (runsc/metrics.ts), in memory shared with
// the thread that serves the endpoint: the trapped syscalls by number and answer, the
// refusals by the policy section that made them, and how long the sentry took over each
// call. One writer (the sentry's thread); a reader may see a count a call behind, never a
// torn one (aligned 8-byte stores). Kept only for a sandbox started with --metrics-address:
// a sandbox without one pays nothing.
import type { Reply } from "../platform/platform.js";

/** Answers, as the platform's Reply kinds. */
export const ANSWERS = ["allow", "errno", "value", "fd", "kill", "pending"] as const;
export type Answer = (typeof ANSWERS)[number];

/**
 * Where a refusal comes from: the policy's syscall decisions (what the filter also enforces),
 * or the section whose rule a handler applied.
 */
export const RULES = ["syscalls", "filesystem", "network", "process.exec", "process.signals", "other"] as const;
export type Rule = (typeof RULES)[number];

/** Upper bounds (seconds) of the sentry's time per call. */
export const LATENCY_BUCKETS = [0.000_001, 0.000_002_5, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 1] as const;

/** Syscall numbers counted one by one (amd64's are below 512); the rest share the last slot. */
export const MAX_NR = 512;

const COUNTS = 0;
const DENIALS = COUNTS + MAX_NR * ANSWERS.length;
const BUCKETS = DENIALS + RULES.length;
const SUM = BUCKETS + LATENCY_BUCKETS.length + 1;
const TOTAL = SUM + 1;
const SLOTS = TOTAL + 1;

const ANSWER_INDEX = new Map<string, number>(ANSWERS.map((a, i) => [a, i]));

export class SentryStats {
  private readonly v: Float64Array;

  /** buffer: shared with the reader (a new one when absent). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * 8)) {
    if (buffer.byteLength !== SLOTS * 8) throw new Error(`sentry stats: a buffer of ${SLOTS * 8} bytes, not ${buffer.byteLength}`);
    this.v = new Float64Array(buffer);
  }

  /** One trapped call: its number, its answer, and the sentry's time over it (seconds). */
  call(nr: number, r: Reply, seconds: number): void {
    const v = this.v;
    v[COUNTS + Math.min(Math.max(nr, 0), MAX_NR - 1) * ANSWERS.length + ANSWER_INDEX.get(r.kind)!]! += 1;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    v[BUCKETS + b]! += 1;
    v[SUM]! += seconds;
    v[TOTAL]! += 1;
  }

  /** One refusal, by the section whose rule made it. */
  denial(rule: Rule): void {
    this.v[DENIALS + RULES.indexOf(rule)]! += 1;
  }

  /** Adds other's counts to these (a sentry that ended, kept in a living one's; on this one's writer's thread). */
  add(other: SentryStats): void {
    for (let i = 0; i < SLOTS; i++) this.v[i]! += other.v[i]!;
  }

  // ---- the reader's side

  /** Calls by number and answer (non-zero ones). */
  calls(): { nr: number; answer: Answer; count: number }[] {
    const out: { nr: number; answer: Answer; count: number }[] = [];
    for (let nr = 0; nr < MAX_NR; nr++) {
      for (let a = 0; a < ANSWERS.length; a++) {
        const count = this.v[COUNTS + nr * ANSWERS.length + a]!;
        if (count > 0) out.push({ nr, answer: ANSWERS[a]!, count });
      }
    }
    return out;
  }

  denials(): { rule: Rule; count: number }[] {
    return RULES.map((rule, i) => ({ rule, count: this.v[DENIALS + i]! }));
  }

  /** The latency histogram: counts per bucket (not cumulative; the last is above every bound), sum, count. */
  latency(): { buckets: number[]; sum: number; count: number } {
    return { buckets: Array.from(this.v.subarray(BUCKETS, BUCKETS + LATENCY_BUCKETS.length + 1)), sum: this.v[SUM]!, count: this.v[TOTAL]! };
  }
}
