// Starts a sandbox: spawns init into fresh namespaces under the compiled filter, runs the
// sentry on its own thread, forwards signals, and resolves with the workload's exit status.
import { closeSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { availableParallelism } from "node:os";
import { visibleCpus } from "../../sentry/proc/files.js";
import { initPath, loadNative } from "../../native/index.js";
import type { Logger } from "pino";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { compilePolicy } from "../../sentry/policy/compile.js";
import { sysnoByName } from "../../platform/abi/sysno_amd64.js";
import type { Policy } from "../../sentry/policy/schema.js";
import type { OciSeccomp } from "../../sentry/policy/oci.js";
import { kernelAtLeast } from "../requirements.js";
import { SandboxError } from "../errors.js";
import { SentryThread } from "./sentryThread.js";
import { encodeInitConfig } from "./initConfig.js";
import type { InitRecord } from "./initConfig.js";
import { ensureMaskFile, ensureRootOnlyDir } from "../runtimeDir.js";
import { resolveEgressHosts, withEgressHosts } from "./egressHosts.js";
import { hostFs, overlayMountPoints, overlayWhiteouts, planDoMounts } from "./mounts.js";
import type { CgroupLimits, SandboxCgroups } from "./cgroups.js";
import { createCgroups } from "./cgroups.js";
import { startProcServer } from "./procfs.js";
import { HOST_ID_BASE, ID_RANGE } from "./ids.js";
import { literalPattern } from "../../sentry/policy/paths.js";
import type { AuditFact } from "../../sentry/audit.js";
import { RECORDED_SYSCALLS } from "../../sentry/audit.js";
import { FORWARDED_SIGNALS } from "../signals.js";
import { RLIMIT_NPROC } from "../../platform/abi/resource.js";

// include/uapi/linux/seccomp.h
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;

// include/uapi/linux/sched.h
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;

export { HOST_ID_BASE, ID_RANGE } from "./ids.js";

export interface DoOptions {
  argv: string[];
  env: string[];
  cwd: string;
  /** The cwd was not asked for: fall back to "/" when the sandbox cannot enter it. */
  cwdFallback: boolean;
  policy: Policy;
  network: "none" | "host" | "proxy";
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
}

/**
 * audit: true — what the sandbox enforces instead of the policy: hidden paths shown, exec,
 * network and signals unrestricted. What keeps the host safe stays: read-only paths stay read-only, the
 * built-in syscall table still refuses, and the namespaces are the same.
 */
export function liftedForAudit(policy: Policy): Policy {
  if (!policy.audit) return policy;
  const { exec: _exec, ...process } = policy.process;
  return {
    ...policy,
    filesystem: { ...policy.filesystem, rules: policy.filesystem.rules.filter((r) => r.access !== "none") },
    network: { mode: "host", egress: [], bind: [] },
    process: { ...process, signals: "sandbox" },
  };
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
  const policy: Policy = { ...withEntrypoint(o.policy, o.argv[0]!, o.cwd, o.env), network: { ...o.policy.network, mode: o.network } };
  // Recording traces what facts are made of (on top of any --strace selection).
  const recording = o.record !== undefined || policy.audit;
  const trace: "all" | Set<string> | undefined =
    o.trace === "all" ? "all" : o.trace === null && !recording ? undefined : new Set([...(o.trace ?? []), ...(recording ? RECORDED_SYSCALLS : [])]);
  const enforced = liftedForAudit(policy);
  // A CPU limit under virtual cpuinfo: sched_getaffinity shows as many CPUs as /proc does.
  const hostCpus = availableParallelism();
  const shownCpus = o.limits?.cpus !== undefined && enforced.filesystem.proc.virtualize.includes("cpuinfo") ? visibleCpus(hostCpus, o.limits) : hostCpus;
  const compiled = compilePolicy(policy, {
    ...(trace !== undefined ? { trace } : {}),
    ...(o.ociSeccomp !== undefined ? { ociSeccomp: o.ociSeccomp } : {}),
    ...(shownCpus < hostCpus ? { limitedCpus: true } : {}),
  });
  const network = policy.audit ? "host" : o.network;
  // network.egress host names, resolved before the workload runs (egressHosts.ts).
  const hostNames = await resolveEgressHosts(policy);
  const ownNetns = network === "none" || network === "proxy";
  // Mounts made here and passed to init: the overlay root, the virtual /proc files.
  const virtual = [...new Set(enforced.filesystem.proc.virtualize)];
  const overlayRoot = enforced.filesystem.root === "overlay";
  const passed = { ...(overlayRoot ? { overlay: 0 } : {}), ...(virtual.length > 0 ? { proc: overlayRoot ? 1 : 0 } : {}) };
  const records: InitRecord[] = [
    { op: "hostname", name: o.hostname },
    ...(ownNetns ? [{ op: "loopbackUp" } as const] : []),
    ...planDoMounts(withEgressHosts(enforced, hostNames), ensureMaskFile(), hostFs, passed),
    { op: "cwd", path: o.cwd, fallbackToRoot: o.cwdFallback },
    // RLIMIT_NPROC (include/uapi/asm-generic/resource.h): counted per user, in the
    // sandbox's user namespace.
    ...(policy.process.maxProcesses !== undefined
      ? [{ op: "rlimit", resource: RLIMIT_NPROC, soft: BigInt(policy.process.maxProcesses), hard: BigInt(policy.process.maxProcesses) } as const]
      : []),
    ...o.argv.map((value): InitRecord => ({ op: "arg", value })),
    ...o.env.map((value): InitRecord => ({ op: "env", value })),
    // Linux 5.19: once the sentry has received a call, a signal no longer interrupts the
    // task's wait, so an operation the sentry performed is never restarted and run twice.
    { op: "filter", program: compileFilterBytes(compiled.filter), flags: kernelAtLeast(native, 5, 19) ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0 },
  ];
  let flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (ownNetns) flags |= CLONE_NEWNET;

  let spawned;
  // Limits and usage: the sandbox's cgroups, joined by init before anything runs.
  let cgroups: SandboxCgroups | undefined;
  // Detached mounts made here, by host root, for init to attach (mounts.ts): the overlay
  // root (so that copy-up keeps the host's owners) and the virtual /proc's FUSE filesystem.
  const fds: number[] = [];
  try {
    if (o.limits !== undefined || virtual.length > 0) cgroups = createCgroups(o.limits ?? {});
    if (overlayRoot) {
      // A directory of writes is hidden from the sandbox, which would see it through the lower layer.
      const dir = enforced.filesystem.overlay.dir;
      if (dir !== undefined) ensureRootOnlyDir(dir);
      const whiteouts = overlayWhiteouts(enforced);
      const files = overlayMountPoints(enforced);
      fds.push(
        native.overlayRoot(
          dir === undefined
            ? { size: enforced.filesystem.overlay.size, whiteouts, files }
            : { size: "", whiteouts: [...whiteouts, realpathSync(dir)], dir, files },
        ),
      );
    }
    if (virtual.length > 0) {
      fds.push(startProcServer(native, { files: virtual, limits: o.limits ?? {}, usage: cgroups!.usage, startedMs: Date.now() }));
    }
    spawned = native.spawn({
      initPath: initPath(),
      cloneFlags: flags,
      uidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      gidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      config: encodeInitConfig(records),
      ...(fds.length > 0 ? { fds } : {}),
      ...(cgroups !== undefined ? { cgroupProcs: cgroups.procs } : {}),
    });
  } catch (err) {
    cgroups?.remove();
    throw new SandboxError(`sandbox setup failed: ${(err as Error).message}`);
  } finally {
    for (const fd of fds) native.close(fd);
  }
  const { pid, mntns } = spawned;
  o.log?.debug({ pid, listener: spawned.listener }, "sandbox started");

  const forward = (sig: NodeJS.Signals): void => {
    // Keys typed at our terminal already signalled the workload (same process group).
    if ((sig === "SIGINT" || sig === "SIGQUIT") && native.inTerminalForeground(0)) return;
    try {
      process.kill(pid, sig);
    } catch {
      // init already gone
    }
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);

  // The sandbox is over when its init has been reaped: nothing is left to serve, so the
  // status does not wait for the sentry thread (which may still be starting).
  const exited = new Promise<number>((resolve) => native.onExit(pid, (status) => resolve(status < 0 ? 125 : status)));
  o.sentry.onFact = o.record;
  try {
    const served = o.sentry.serve({
      pid,
      mntns,
      pidfd: spawned.pidfd,
      listener: spawned.listener,
      decisions: [...compiled.decisions],
      execAllow: enforced.process.exec?.allow,
      network,
      netRules: { rules: enforced.network, hostNames },
      signals: enforced.process.signals,
      hostname: o.hostname,
      ...(enforced.filesystem.root === "overlay" ? { overlay: true } : {}),
      ...(shownCpus < hostCpus ? { visibleCpus: shownCpus } : {}),
      ...(compiled.audit !== undefined ? { audit: [...compiled.audit] } : {}),
      ...(recording ? { record: true } : {}),
      // What recording traps besides is not part of the trace asked for.
      ...(Array.isArray(o.trace) ? { straceOnly: o.trace.map((name) => sysnoByName(name)).filter((nr): nr is number => nr !== undefined) } : {}),
    });
    const status = await Promise.race([exited, served]);
    // A trace ends with the sentry's last lines, a recording with its last facts, a debug
    // log with the sentry's count of events: wait for the sentry to finish sending them.
    if (o.trace !== null || recording || o.log !== undefined) await served;
    return status;
  } catch (err) {
    // Fail closed: without its sentry the sandbox must not go on.
    forward("SIGKILL");
    native.waitExit(pid);
    throw err;
  } finally {
    cgroups?.remove();
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    // The sentry thread may still be using its descriptors (or not have started): they are
    // closed once it has ended, never under it. If it will not end, the process's exit closes them.
    // The timer keeps the process alive meanwhile: the released thread no longer does, and a
    // thread still loading can take a while to end on a busy machine.
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([o.sentry.release().then(() => true), new Promise<false>((r) => (timer = setTimeout(r, 1000, false)))]);
    clearTimeout(timer);
    if (ended) for (const fd of [spawned.pidfd, spawned.listener, mntns]) native.close(fd);
  }
}
