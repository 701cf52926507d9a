// audit: true — what the policy would have refused, judged from what the workload did
// (sentry/audit.ts facts) with the same reasoning as `policy explain`, one line per refusal.
import type { AuditFact } from "../sentry/audit.js";
import type { Locate } from "../sentry/filter/explain.js";
import { explainConnect, explainExec, explainOpen, explainSyscall } from "../sentry/filter/explain.js";
import type { Policy } from "../sentry/policy/schema.js";
import { hostFs } from "./sandbox/hostFs.js";

/** "would deny: WHAT: DECISION (because)" for a fact the policy refuses, else undefined. */
export function judge(policy: Policy, locate: Locate, f: AuditFact): string | undefined {
  switch (f.kind) {
    case "syscall": {
      // The arguments are not in the fact: the rule shown is the one for the name.
      let because = `${locate(["syscalls"])} syscalls`;
      try {
        because = explainSyscall(policy, locate, f.syscall, new Map()).because;
      } catch {
        // a name the table does not know: keep the section
      }
      return `would deny: ${f.syscall}: ${f.would} (${because})`;
    }
    case "path": {
      // Hidden paths are what audit lifts; writes the mounts refuse are refused anyway.
      for (const p of f.resolved !== undefined ? [f.path, f.resolved] : [f.path]) {
        const e = explainOpen(policy, locate, hostFs.realpath(p) ?? p, "r", (q) => hostFs.realpath(q));
        if (e.decision.startsWith("denied")) return `would deny: ${f.syscall} ${p}: hidden (${e.because})`;
      }
      return undefined;
    }
    case "exec": {
      const e = explainExec(policy, locate, f.path);
      return e.decision.startsWith("denied") ? `would deny: ${f.syscall} ${f.path}: ${e.decision} (${e.because})` : undefined;
    }
    case "signal":
      return policy.process.signals === "self" && !f.own
        ? `would deny: ${f.syscall} of ${f.target} (not the caller's own process): EPERM (${locate(["process", "signals"])} process.signals self)`
        : undefined;
    case "net": {
      if (f.family === "unix" || f.port === undefined || f.syscall === "bind") return undefined;
      const target = f.family === "inet6" ? `[${f.address}]:${f.port}` : `${f.address}:${f.port}`;
      const e = explainConnect(policy, locate, target);
      return e.decision.startsWith("denied") ? `would deny: ${f.syscall} ${target}: ${e.decision} (${e.because})` : undefined;
    }
  }
}
