// Starts a sandbox: spawns init into fresh namespaces under the compiled filter, runs the
// sentry on its own thread, forwards signals, and resolves with the workload's exit status.
import type { MetricsSource } from "../metrics.js";
import { descendants } from "./processes.js";
import { newSandboxId, registerSandbox, sandboxEventsFile } from "./registry.js";
import { closeSync, constants, openSync, readSync, realpathSync, statSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import type { Logger } from "pino";
import { loadNative } from "../../native/index.js";
import type { NetworkMode } from "../../sentry/config.js";
import type { AuditFact } from "../../sentry/audit.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import { literalPattern } from "../../sentry/policy/paths.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { currentClient } from "../caller.js";
import { statusKnown } from "../exit.js";
import { SandboxError } from "../errors.js";
import { FORWARDED_SIGNALS } from "../signals.js";
import type { CgroupLimits } from "./cgroups.js";
import { removeCgroups } from "./cgroups.js";
import { resolveEgressHosts } from "./egressHosts.js";
import type { Launched } from "./launch.js";
import { Cleanup, hostFacts, launch } from "./launch.js";
import { planDo } from "./planDo.js";
import { SentryThread } from "./sentryThread.js";

export { HOST_ID_BASE, ID_RANGE } from "./ids.js";

export interface DoOptions {
  argv: string[];
  env: string[];
  cwd: string;
  /** The cwd was not asked for: fall back to "/" when the sandbox cannot enter it. */
  cwdFallback: boolean;
  policy: Policy;
  network: NetworkMode;
  trace: "all" | string[] | null;
  /** An OCI linux.seccomp profile applied with the policy (the stricter decision wins). */
  ociSeccomp?: OciSeccomp;
  hostname: string;
  sentry: SentryThread;
  log: Logger | undefined;
  /**
   * Receives what the workload does (sentry/audit.ts): the files it opens and runs, the
   * addresses it uses, and under audit: true what the policy would have refused.
   */
  record?: (fact: AuditFact) => void;
  /** Memory and CPU limits (--memory, --cpus): the sandbox's cgroups. */
  limits?: CgroupLimits;
  /** The process ends with the sandbox: the sentry thread's end is not waited for (the exit ends it). */
  ending?: boolean;
  /** --metrics-address: this process serves the sandbox's Prometheus metrics there while it runs. */
  metricsAddress?: string;
  /** --record-events: execs, exits and refusals go to the sandbox's events file (registry.ts). */
  recordEvents?: boolean;
}

/**
 * process.exec.entrypoint: the file the command names, as execvp will find it (the host's
 * root is the sandbox's for `do`), resolved through symlinks, and a #! script's interpreter.
 */
export function entrypointFiles(cmd: string, cwd: string, env: readonly string[]): string[] {
  const pathVar = env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/bin:/usr/bin:/bin";
  const candidates = cmd.includes("/") ? [resolvePath(cwd, cmd)] : pathVar.split(":").filter((d) => d !== "").map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      const file = realpathSync(c);
      const out = [file];
      const fd = openSync(file, "r");
      const buf = Buffer.alloc(256);
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, 0);
      } finally {
        closeSync(fd);
      }
      const head = buf.toString("latin1", 0, n);
      const interp = head.startsWith("#!") ? head.slice(2).split("\n")[0]!.trim().split(/[ \t]/)[0] : undefined;
      if (interp) {
        try {
          out.push(realpathSync(interp));
        } catch {
          // the kernel will say ENOENT for a missing interpreter
        }
      }
      return out;
    } catch {
      // not here: the next PATH entry
    }
  }
  return [];
}

/** process.exec.entrypoint made concrete: the command's files join the allow list. */
export function withEntrypoint(policy: Policy, cmd: string, cwd: string, env: readonly string[]): Policy {
  const exec = policy.process.exec;
  if (!exec?.entrypoint) return policy;
  return { ...policy, process: { ...policy.process, exec: { ...exec, allow: [...exec.allow, ...entrypointFiles(cmd, cwd, env).map(literalPattern)] } } };
}

export { SandboxError };
export { SentryThread };

/** Runs argv sandboxed; resolves with its exit status (128+N for a death by signal N). */
export async function runDo(o: DoOptions): Promise<number> {
  const native = loadNative();
  const client = currentClient();
  const policy = withEntrypoint(o.policy, o.argv[0]!, o.cwd, o.env);
  const recording = o.record !== undefined || policy.audit;
  const plan = planDo(
    {
      argv: o.argv,
      env: o.env,
      cwd: o.cwd,
      cwdFallback: o.cwdFallback,
      policy,
      network: o.network,
      trace: o.trace,
      recording,
      ...(o.recordEvents === true ? { recordEvents: true } : {}),
      ...(o.ociSeccomp !== undefined ? { ociSeccomp: o.ociSeccomp } : {}),
      hostname: o.hostname,
      ...(o.limits !== undefined ? { limits: o.limits } : {}),
      // network.egress host names, resolved before the workload runs (egressHosts.ts).
      hostNames: await resolveEgressHosts(udpNotCarried(policy)),
      // The runsc-ts process its caller ran (the client, when a warm process serves it).
      owner: client?.pid ?? process.pid,
    },
    hostFacts(native),
  );
  // The endpoint listens before anything is made: an address in use fails the run here.
  const stats = o.metricsAddress !== undefined ? new (await import("../../sentry/metrics.js")).SentryStats() : undefined;
  let shown: MetricsSource | undefined;
  const metrics =
    o.metricsAddress !== undefined
      ? await (await import("../metrics.js")).serveMetrics({ address: o.metricsAddress }, () => (shown === undefined ? [] : [shown])).catch((err: Error) => {
          throw new SandboxError(err.message);
        })
      : undefined;
  const cleanup = new Cleanup();
  let spawned: Launched;
  try {
    // A client's command (a warm process serves it): the client clones init and waits for it,
    // so that the sandbox is in the caller's process group, as when Node runs `do` there.
    spawned = launch(native, plan, { cleanup, ...(client !== undefined ? { cloner: client.cloner } : {}) });
  } catch (err) {
    cleanup.undo();
    metrics?.close();
    throw new SandboxError(`sandbox setup failed: ${(err as Error).message}`);
  }
  const cgroups = spawned.cgroups;
  const { pid, mntns } = spawned;
  const forward = (sig: NodeJS.Signals): void => {
    // Keys typed at our terminal already signalled the workload (same process group).
    if ((sig === "SIGINT" || sig === "SIGQUIT") && native.inTerminalForeground(0)) return;
    try {
      process.kill(pid, sig);
    } catch {
      // init already gone
    }
  };
  // A client's sandbox is its child: the client passes its signals to init itself
  // (client.c: forward), and none reach the warm process serving it.
  const forwarded = client === undefined ? FORWARDED_SIGNALS : [];
  for (const s of forwarded) process.on(s, forward);

  // Its id, for `runsc-ts ps ID` (printed under --debug): registered once the signals are
  // forwarded (the workload runs meanwhile), in the try below, whose end undoes it.
  const id = newSandboxId();
  let unregister = (): void => {};
  let events: number | undefined;

  // The sandbox is over when its init has been reaped: nothing is left to serve, so the
  // status does not wait for the sentry thread (which may still be starting).
  const exited = new Promise<number>((resolve) => native.onExit(pid, (status) => resolve(status < 0 ? 125 : status)));
  o.sentry.onFact = o.record;
  let served: Promise<number> | undefined;
  try {
    unregister = registerSandbox(id, pid, o.argv);
    // Fail closed: a sandbox asked to record what it does does not run unrecorded.
    if (o.recordEvents === true) events = openSync(sandboxEventsFile(id), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    if (stats !== undefined) shown = { sandbox: id, stats: [stats], tasks: () => descendants(pid).length };
    o.log?.debug({ sandbox: id, pid, listener: spawned.listener }, "sandbox started");
    served = o.sentry.serve({ config: plan.sentry, pid, mntns, pidfd: spawned.pidfd, listener: spawned.listener, ...(stats !== undefined ? { stats: stats.buffer } : {}), ...(events !== undefined ? { events } : {}) });
    const status = await Promise.race([exited, served]);
    // A trace ends with the sentry's last lines, a recording with its last facts, a debug
    // log with the sentry's count of events: wait for the sentry to finish sending them.
    if (o.trace !== null || recording || o.log !== undefined) await served;
    // What follows writes nothing: the caller may have the status now.
    statusKnown(status);
    return status;
  } catch (err) {
    // Fail closed: without its sentry the sandbox must not go on.
    forward("SIGKILL");
    native.waitExit(pid);
    throw err;
  } finally {
    unregister();
    metrics?.close();
    // The sentry's threads hold their own copies of it while they need it.
    if (events !== undefined) native.close(events);
    if (cgroups !== undefined) removeCgroups(cgroups.dirs);
    for (const s of forwarded) process.off(s, forward);
    // The virtual /proc files' server: nothing is left to read them.
    if (spawned.proc !== undefined) {
      spawned.proc.stopServing();
      native.close(spawned.proc.fuse);
    }
    // The sentry thread may still be using its descriptors (or not have started): they are
    // closed once it is done with them, never under it: once it has reported the sandbox
    // served to its end (it may then serve another: the caller's to keep), or else ended.
    // If it will not end, the process's exit closes them. The timer keeps the process alive
    // meanwhile: the released thread no longer does, and a thread still loading can take a
    // while to end on a busy machine. A process that ends with the sandbox leaves both to
    // its exit.
    if (o.ending !== true) {
      let timer: NodeJS.Timeout | undefined;
      const within = (p: Promise<boolean>): Promise<boolean> => Promise.race([p, new Promise<false>((r) => (timer = setTimeout(r, 1000, false)))]);
      const done = served !== undefined && (await within(served.then(() => o.sentry.reusable, () => false)));
      clearTimeout(timer);
      const ended = done || (await within(o.sentry.release().then(() => true)));
      clearTimeout(timer);
      if (ended) for (const fd of [spawned.pidfd, spawned.listener, mntns]) native.close(fd);
    }
  }
}

/**
 * A `do` sandbox's proxy carries TCP connections to the host's network (sentry/net/proxy.ts):
 * a udp rule would allow what cannot happen, and is refused, naming the rule.
 */
function udpNotCarried(policy: Policy): Policy {
  const i = (policy.network.egress ?? []).findIndex((r) => r.protocol === "udp");
  if (policy.network.mode === "proxy" && i >= 0) {
    throw new SandboxError(`network.egress[${i}].protocol: udp egress is not carried for a sandbox of \`do\` yet: its proxy carries TCP connections (a container's network.egress decides UDP too)`);
  }
  return policy;
}
