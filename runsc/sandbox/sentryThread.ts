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
  if (spare !== undefined) void spare.thread.release();
  spare = { key: JSON.stringify(data), thread: new SentryThread(data) };
}

/** Whether a thread for data waits to be taken. */
export function hasSentryThreadAhead(data: WorkerData): boolean {
  return spare !== undefined && spare.key === JSON.stringify(data);
}

/** Resolves once the thread started ahead (if any) has loaded; the wait keeps the process up. */
export async function sentryThreadAheadReady(): Promise<void> {
  const thread = spare?.thread;
  if (thread === undefined) return;
  const keep = setInterval(() => {}, 1 << 30);
  try {
    await thread.ready;
  } finally {
    clearInterval(keep);
  }
}

/** Ends the thread started ahead, if any (a command that will not take it: it would keep the process up). */
export async function dropSentryThreadAhead(): Promise<void> {
  const ahead = spare;
  spare = undefined;
  if (ahead !== undefined) await ahead.thread.release();
}

/**
 * Keeps a thread that served its sandbox to the end as the next one's, when none waits yet
 * (a warm process serves one `do` after another: no thread to load for the next). Whether
 * it was kept; if not, the caller releases it.
 */
export function keepSentryThreadAhead(thread: SentryThread): boolean {
  if (spare?.thread === thread) return true;
  if (spare !== undefined || !thread.reusable) return false;
  thread.idle();
  spare = { key: thread.key, thread };
  return true;
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
  /** The data it was started with, as takeSentryThread compares it. */
  readonly key: string;
  /** The sandbox being served: its status's promise, settled by the thread's message. */
  private serving: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;
  /** Why the thread can serve no sandbox (it failed, or ended). */
  private failure: SandboxError | undefined;
  /** Receives what the workload does, when the start message asked for it. */
  onFact: ((fact: AuditFact) => void) | undefined;
  /** Resolves once the thread has loaded (or has ended without). */
  readonly ready: Promise<void>;

  constructor(data: WorkerData) {
    this.key = JSON.stringify(data);
    // stdout/stderr: true keeps the worker's streams off ours; the sentry writes to fd 2
    // directly. (Node would otherwise set O_NONBLOCK on stdio we share with the workload.)
    this.worker = new Worker(fileURLToPath(new URL("./worker.js", import.meta.url)), {
      workerData: data,
      stdout: true,
      stderr: true,
    });
    let loaded: () => void = () => {};
    this.ready = new Promise<void>((resolve) => (loaded = resolve));
    const fail = (err: SandboxError): void => {
      this.failure ??= err;
      const s = this.serving;
      this.serving = undefined;
      s?.reject(err);
    };
    this.worker.on("message", (m: WorkerMessage) => {
      if ("ready" in m) loaded();
      else if ("fact" in m) this.onFact?.(m.fact);
      else if ("exit" in m) {
        const s = this.serving;
        this.serving = undefined;
        s?.resolve(m.exit);
      } else fail(new SandboxError(`sentry failed: ${m.error}`));
    });
    this.worker.once("error", (err) => fail(new SandboxError(`sentry failed: ${err.stack ?? err.message}`)));
    this.worker.once("exit", (code) => {
      loaded();
      fail(new SandboxError(`sentry thread exited (${code}) before the sandbox`));
    });
    // Idle until started: it must not keep runsc-ts alive after an early error. (After the
    // listeners: adding a "message" listener refs the thread again.)
    this.worker.unref();
  }

  /**
   * Hands the sandbox to the sentry. Resolves with the workload's exit status when the
   * sentry reports it; rejects when the sentry fails (the caller must kill the sandbox).
   */
  serve(m: StartMessage): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.serving !== undefined) return Promise.reject(new SandboxError("the sentry thread is serving another sandbox"));
    const done = new Promise<number>((resolve, reject) => (this.serving = { resolve, reject }));
    done.catch(() => {});
    this.worker.ref();
    this.worker.postMessage(m);
    return done;
  }

  /** Whether it may serve another sandbox: it served its last one to the end, and waits. */
  get reusable(): boolean {
    return this.failure === undefined && this.serving === undefined;
  }

  /** Waiting for a sandbox again: it keeps no process alive, and reports to no one. */
  idle(): void {
    this.onFact = undefined;
    this.worker.unref();
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
