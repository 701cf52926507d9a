// The Prometheus endpoint of a sandbox started with --metrics-address ADDR: `do`'s process,
// or a container's monitor, serves GET /metrics at ADDR (prom-client's text format) while the
// sandbox runs. What it shows comes from its sentries' shared counters (sentry/metrics.ts)
// and, for the tasks, from /proc at the moment of the scrape:
//
//   runsc_ts_sandboxes_running                      sandboxes this endpoint serves
//   runsc_ts_tasks{sandbox}                         the sandbox's processes
//   runsc_ts_syscalls_trapped_total{sandbox,syscall,answer}
//                                                   calls that reached the sentry, by answer
//                                                   (allow, errno, value, fd, kill, pending)
//   runsc_ts_denials_total{sandbox,rule}            refusals the sentry made, by the policy
//                                                   section whose rule made them
//   runsc_ts_sentry_call_duration_seconds{sandbox}  the sentry's time from a call's receipt to
//                                                   its answer (histogram)
//
// Calls the kernel refuses by the filter alone never reach the sentry, and are not counted.
import { createServer } from "node:http";
import type { Server } from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import { sysnoName } from "../platform/abi/sysno_amd64.js";
import type { SentryStats } from "../sentry/metrics.js";
import { LATENCY_BUCKETS } from "../sentry/metrics.js";
import { MetricsAddressError, parseMetricsAddress } from "./metricsAddress.js";

/** A sandbox the endpoint shows. */
export interface MetricsSource {
  readonly sandbox: string;
  /** Its sentries' counters (a container's init and exec'd processes may have one each), read at each scrape. */
  readonly stats: Iterable<SentryStats>;
  /** How many processes it has now. */
  tasks(): number;
}

/** The registry the endpoint renders: every value read from the sources at the scrape. */
export function metricsRegistry(sources: () => readonly MetricsSource[]): Registry {
  const registry = new Registry();
  new Gauge({
    name: "runsc_ts_sandboxes_running",
    help: "Sandboxes this endpoint serves.",
    registers: [registry],
    collect() {
      this.set(sources().length);
    },
  });
  new Gauge({
    name: "runsc_ts_tasks",
    help: "Processes in the sandbox.",
    labelNames: ["sandbox"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) this.set({ sandbox: s.sandbox }, s.tasks());
    },
  });
  new Counter({
    name: "runsc_ts_syscalls_trapped_total",
    help: "Syscalls that reached the sentry, by number and answer.",
    labelNames: ["sandbox", "syscall", "answer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) {
        for (const st of s.stats) {
          for (const c of st.calls()) this.inc({ sandbox: s.sandbox, syscall: sysnoName(c.nr) ?? String(c.nr), answer: c.answer }, c.count);
        }
      }
    },
  });
  new Counter({
    name: "runsc_ts_denials_total",
    help: "Calls the sentry refused, by the policy section whose rule refused them (syscalls: the policy's syscall decisions).",
    labelNames: ["sandbox", "rule"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) {
        for (const st of s.stats) for (const d of st.denials()) this.inc({ sandbox: s.sandbox, rule: d.rule }, d.count);
      }
    },
  });
  registry.registerMetric(latencyHistogram(sources) as never);
  return registry;
}

/**
 * The sentries' latency as a Prometheus histogram. prom-client's Histogram takes single
 * observations, and these are counted in shared memory: this metric renders the counts.
 */
function latencyHistogram(sources: () => readonly MetricsSource[]): object {
  const name = "runsc_ts_sentry_call_duration_seconds";
  const help = "The sentry's time from a trapped call's receipt to its answer.";
  return {
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    reset() {},
    get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const s of sources()) {
        const buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
        let sum = 0;
        let count = 0;
        for (const st of s.stats) {
          const l = st.latency();
          l.buckets.forEach((n, i) => (buckets[i]! += n));
          sum += l.sum;
          count += l.count;
        }
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((le, i) => {
          cumulative += buckets[i]!;
          values.push({ labels: { sandbox: s.sandbox, le }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { sandbox: s.sandbox, le: "+Inf" }, value: count, metricName: `${name}_bucket` });
        values.push({ labels: { sandbox: s.sandbox }, value: sum, metricName: `${name}_sum` });
        values.push({ labels: { sandbox: s.sandbox }, value: count, metricName: `${name}_count` });
      }
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
  };
}

/**
 * Serves GET /metrics for the sources, on the address (HOST:PORT) or on a listening socket
 * made by another process (fd: a confined monitor's, made by create on the host's network).
 */
export function serveMetrics(at: { address: string } | { fd: number }, sources: () => readonly MetricsSource[]): Promise<Server> {
  const registry = metricsRegistry(sources);
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "/").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("runsc-ts: the metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`runsc-ts: ${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new MetricsAddressError(`--metrics-address ${"address" in at ? at.address : `fd ${at.fd}`}: ${err.code === "EADDRINUSE" ? "address in use (each sandbox serves its own endpoint)" : err.message}`)),
    );
    const listening = (): void => {
      server.removeAllListeners("error");
      server.unref();
      resolve(server);
    };
    if ("fd" in at) server.listen({ fd: at.fd }, listening);
    else {
      const a = parseMetricsAddress(at.address);
      server.listen(a.port, a.host, listening);
    }
  });
}
