// Starts a sandbox: spawns init into fresh namespaces under the compiled filter, runs the
// sentry on its own thread, forwards signals, and resolves with the workload's exit status.
import { closeSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { join, resolve as resolvePath } from "node:path";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { initPath, loadNative } from "../../native/index.js";
import type { Logger } from "pino";
import { compileFilterBytes } from "../../platform/seccomp/compile.js";
import { compilePolicy } from "../../sentry/policy/compile.js";
import type { Policy } from "../../sentry/policy/schema.js";
import { kernelAtLeast } from "../requirements.js";
import { encodeInitConfig } from "./initConfig.js";
import type { InitRecord } from "./initConfig.js";
import { ensureMaskFile } from "./maskFile.js";
import { planDoMounts } from "./mounts.js";
import type { StartMessage, WorkerData, WorkerMessage } from "./worker.js";

// include/uapi/linux/seccomp.h
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5;

// include/uapi/linux/sched.h
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;

/**
 * Host ids that the sandbox's ids 0..65535 map to: root inside is this unprivileged uid
 * outside, which owns nothing on the host.
 */
export const HOST_ID_BASE = 100000;
export const ID_RANGE = 65536;

/** The sentry's thread, started early so that its startup overlaps the rest. */
export class SentryThread {
  private readonly worker: Worker;
  private readonly done: Promise<number>;

  constructor(data: WorkerData) {
    // stdout/stderr: true keeps the worker's streams off ours; the sentry writes to fd 2
    // directly. (Node would otherwise set O_NONBLOCK on stdio we share with the workload.)
    this.worker = new Worker(fileURLToPath(new URL("./worker.js", import.meta.url)), {
      workerData: data,
      stdout: true,
      stderr: true,
    });
    // Idle until started: it must not keep runsc-ts alive after an early error.
    this.worker.unref();
    this.done = new Promise<number>((resolve, reject) => {
      this.worker.once("message", (m: WorkerMessage) => {
        if ("exit" in m) resolve(m.exit);
        else reject(new SandboxError(`sentry failed: ${m.error}`));
      });
      this.worker.once("error", (err) => reject(new SandboxError(`sentry failed: ${err.stack ?? err.message}`)));
      this.worker.once("exit", (code) => reject(new SandboxError(`sentry thread exited (${code}) before the sandbox`)));
    });
    this.done.catch(() => {});
  }

  /**
   * Hands the sandbox to the sentry. Resolves with the workload's exit status when the
   * sentry reports it; rejects when the sentry fails (the caller must kill the sandbox).
   */
  serve(m: StartMessage): Promise<number> {
    this.worker.ref();
    this.worker.postMessage(m);
    return this.done;
  }

  /** Lets runsc-ts exit without the sentry thread (the sandbox is over). */
  release(): void {
    this.worker.unref();
    void this.worker.terminate();
  }
}

export interface DoOptions {
  argv: string[];
  env: string[];
  cwd: string;
  /** The cwd was not asked for: fall back to "/" when the sandbox cannot enter it. */
  cwdFallback: boolean;
  policy: Policy;
  network: "none" | "host";
  trace: "all" | string[] | null;
  hostname: string;
  sentry: SentryThread;
  log: Logger | undefined;
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

/** An error of runsc-ts itself (exit status 125), as opposed to the workload's. */
export class SandboxError extends Error {}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"] as const;

/** Runs argv sandboxed; resolves with its exit status (128+N for a death by signal N). */
export async function runDo(o: DoOptions): Promise<number> {
  const native = loadNative();
  const exec = o.policy.process.exec;
  const policy: Policy = {
    ...o.policy,
    network: { ...o.policy.network, mode: o.network },
    process: exec?.entrypoint
      ? { ...o.policy.process, exec: { ...exec, allow: [...exec.allow, ...entrypointFiles(o.argv[0]!, o.cwd, o.env)] } }
      : o.policy.process,
  };
  const compiled = compilePolicy(policy, {
    trace: o.trace === null ? undefined : o.trace === "all" ? "all" : new Set(o.trace),
  });
  const records: InitRecord[] = [
    { op: "hostname", name: o.hostname },
    ...(o.network === "none" ? [{ op: "loopbackUp" } as const] : []),
    ...planDoMounts(policy, ensureMaskFile()),
    { op: "cwd", path: o.cwd, fallbackToRoot: o.cwdFallback },
    // RLIMIT_NPROC (include/uapi/asm-generic/resource.h): counted per user, in the
    // sandbox's user namespace.
    ...(policy.process.maxProcesses !== undefined
      ? [{ op: "rlimit", resource: 6, soft: BigInt(policy.process.maxProcesses), hard: BigInt(policy.process.maxProcesses) } as const]
      : []),
    ...o.argv.map((value): InitRecord => ({ op: "arg", value })),
    ...o.env.map((value): InitRecord => ({ op: "env", value })),
    // Linux 5.19: once the sentry has received a call, a signal no longer interrupts the
    // task's wait, so an operation the sentry performed is never restarted and run twice.
    { op: "filter", program: compileFilterBytes(compiled.filter), flags: kernelAtLeast(native, 5, 19) ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0 },
  ];
  let flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (o.network === "none") flags |= CLONE_NEWNET;

  let spawned;
  try {
    spawned = native.spawn({
      initPath: initPath(),
      cloneFlags: flags,
      uidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      gidMap: `0 ${HOST_ID_BASE} ${ID_RANGE}\n`,
      config: encodeInitConfig(records),
    });
  } catch (err) {
    throw new SandboxError(`sandbox setup failed: ${(err as Error).message}`);
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
  for (const s of FORWARDED) process.on(s, forward);

  // The sandbox is over when its init has been reaped: nothing is left to serve, so the
  // status does not wait for the sentry thread (which may still be starting).
  const exited = new Promise<number>((resolve) => native.onExit(pid, (status) => resolve(status < 0 ? 125 : status)));
  try {
    const served = o.sentry.serve({
      pid,
      mntns,
      pidfd: spawned.pidfd,
      listener: spawned.listener,
      decisions: [...compiled.decisions],
      execAllow: policy.process.exec?.allow,
      network: o.network,
      hostname: o.hostname,
    });
    const status = await Promise.race([exited, served]);
    // A trace ends with the sentry's last lines: wait for it to finish writing them.
    if (o.trace !== null) await served;
    return status;
  } catch (err) {
    // Fail closed: without its sentry the sandbox must not go on.
    forward("SIGKILL");
    native.waitExit(pid);
    throw err;
  } finally {
    o.sentry.release();
    for (const s of FORWARDED) process.off(s, forward);
    native.close(spawned.pidfd);
    native.close(spawned.listener);
    native.close(mntns);
  }
}
