// The sentry's thread (worker.ts): started early, so that its start-up overlaps the rest,
// then handed one sandbox (or one OCI container's process) to serve.
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { AuditFact } from "../../sentry/audit.js";
import { SandboxError } from "../errors.js";
import type { StartMessage, WorkerData, WorkerMessage } from "./worker.js";

/** A thread started ahead of its sandbox (a warm process's: service/warm.ts), and its data. */
let spare: { key: string; thread: SentryThread } | undefined;

/**
 * Starts a sentry thread now, for the next takeSentryThread with the same data (a warm
 * process does, so that `do`'s sentry has loaded before the sandbox starts).
 */
export function startSentryThreadAhead(data: WorkerData): void {
  spare = { key: JSON.stringify(data), thread: new SentryThread(data) };
}

/** Ends the thread started ahead, if any (a command that will not take it: it would keep the process up). */
export async function dropSentryThreadAhead(): Promise<void> {
  const ahead = spare;
  spare = undefined;
  if (ahead !== undefined) await ahead.thread.release();
}

/** A sentry thread for data: the one started ahead when it was started for the same data. */
export function takeSentryThread(data: WorkerData): SentryThread {
  const ahead = spare;
  spare = undefined;
  if (ahead !== undefined && ahead.key === JSON.stringify(data)) return ahead.thread;
  if (ahead !== undefined) void ahead.thread.release();
  return new SentryThread(data);
}

/** The sentry's thread, started early so that its startup overlaps the rest. */
export class SentryThread {
  private readonly worker: Worker;
  private readonly done: Promise<number>;
  /** Receives what the workload does, when the start message asked for it. */
  onFact: ((fact: AuditFact) => void) | undefined;

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
      this.worker.on("message", (m: WorkerMessage) => {
        if ("fact" in m) this.onFact?.(m.fact);
        else if ("exit" in m) resolve(m.exit);
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

  /**
   * Lets runsc-ts exit without the sentry thread (the sandbox is over). Resolves once the
   * thread has ended: the descriptors it was given are then the caller's to close.
   */
  release(): Promise<void> {
    this.worker.unref();
    return this.worker.terminate().then(
      () => {},
      () => {},
    );
  }
}

