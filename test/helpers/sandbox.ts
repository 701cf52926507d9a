// Runs `runsc-ts do` (and the same programs natively) as child processes and collects what
// they did: stdout, stderr, exit code, signal. Also host-side helpers the integration tests
// share: world-readable fixture directories, process-tree inspection, small policies.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = join(ROOT, "bin", "runsc-ts");

/** Exit status of runsc-ts's own errors (like `docker run`). */
export const EXIT_RUNTIME_ERROR = 125;

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. Without it stdin is closed at once. */
  input?: string;
  /** The child is SIGKILLed after this long (default 30 s); the result says timedOut. */
  timeoutMs?: number;
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Send the child's stderr to this file instead of a pipe (result.stderr is read back from
   * it): for output too large or too fast for a pipe to be the point of the test.
   */
  stderrFile?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process died by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
}

/** The first and last lines of a long text. */
function clip(text: string, max = 3000): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max / 2)}\n[... ${text.length - max} characters ...]\n${text.slice(-max / 2)}`;
}

/** A result as one string, for assertion messages (long outputs clipped). */
export function describeRun(r: RunResult): string {
  return `code=${r.code} signal=${r.signal}${r.timedOut ? " (timed out)" : ""}\n--- stdout ---\n${clip(r.stdout)}--- stderr ---\n${clip(r.stderr)}`;
}

function collect(child: ChildProcess, opts: RunOptions): Promise<RunResult> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (opts.stderrFile !== undefined) stderr = readFileSync(opts.stderrFile, "utf8");
      resolve({ stdout, stderr, code, signal, timedOut, durationMs: Date.now() - start });
    });
    // A child that exits without reading its input must not fail the test with EPIPE.
    child.stdin!.on("error", () => {});
    child.stdin!.end(opts.input ?? "");
  });
}

function spawnWith(cmd: string, args: string[], opts: RunOptions): ChildProcess {
  const errFd = opts.stderrFile === undefined ? undefined : openSync(opts.stderrFile, "w", 0o644);
  try {
    return spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", errFd ?? "pipe"],
    });
  } finally {
    if (errFd !== undefined) closeSync(errFd);
  }
}

/** Runs `runsc-ts ...args` (no implicit "do"). */
export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return collect(spawnWith(CLI, args, opts), opts);
}

/** Runs `runsc-ts do ...args` and collects its output and exit status. */
export function runDo(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCli(["do", ...args], opts);
}

/** Runs cmd natively (no sandbox), the same way runDo runs it sandboxed. */
export function runNative(cmd: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return collect(spawnWith(cmd, args, opts), opts);
}

/** A `runsc-ts do` left running, for tests that signal it or kill it. */
export interface RunningDo {
  child: ChildProcess;
  /** Resolves when the process has exited and its pipes are drained. */
  result: Promise<RunResult>;
  /** Resolves once stdout contains text (rejects if the process exits first or after timeoutMs). */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
  stdout(): string;
  stderr(): string;
  /** The sandbox's id, as `--debug` prints it ("sandbox=do-…"; its log line may follow the workload's first output). */
  sandboxId(timeoutMs?: number): Promise<string>;
}

/** globalArgs: runsc-ts's own options, before "do" (--debug). */
export function startDo(args: string[], opts: RunOptions = {}, globalArgs: string[] = []): RunningDo {
  const child = spawnWith(CLI, [...globalArgs, "do", ...args], opts);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  const result = collect(child, { timeoutMs: 60_000, ...opts });
  let exited = false;
  void result.then(() => (exited = true), () => (exited = true));
  return {
    child,
    result,
    stdout: () => out,
    stderr: () => err,
    sandboxId: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const id = /sandbox=(do-[0-9a-f]{12})/.exec(err)?.[1];
        if (id !== undefined) return id;
        if (exited || Date.now() > deadline) throw new Error(`no sandbox id in --debug's output: ${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    waitForStdout: (text, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const poll = (): void => {
          if (out.includes(text)) return resolve();
          if (exited) return reject(new Error(`runsc-ts exited before printing ${JSON.stringify(text)}; stdout: ${out}`));
          if (Date.now() > deadline) return reject(new Error(`no ${JSON.stringify(text)} on stdout after ${timeoutMs} ms; stdout: ${out}`));
          setTimeout(poll, 5);
        };
        poll();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Host fixtures

/**
 * A fresh directory under /var/tmp that the sandbox can see: the sandbox's /tmp is its own
 * tmpfs, and its root is an unprivileged host uid, so the directory is 0755.
 */
export function hostFixtureDir(prefix: string): string {
  const dir = mkdtempSync(join("/var/tmp", `runsc-ts-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

/** Writes a file with the given mode (chmod, so the umask does not interfere). */
export function writeHostFile(path: string, content: string, mode = 0o644): string {
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

export function removeHostDir(dir: string | undefined): void {
  if (dir !== undefined && dir.startsWith("/var/tmp/runsc-ts-")) rmSync(dir, { recursive: true, force: true });
}

/**
 * Writes a policy file: the required header plus `body` (YAML, already indented at the top
 * level). Returns its path.
 */
export function writePolicy(dir: string, name: string, body: string): string {
  const header = `apiVersion: runsc-ts/v1\nkind: Policy\nname: ${name}\n`;
  return writeHostFile(join(dir, `${name}.yaml`), header + body);
}

// ---------------------------------------------------------------------------------------------
// Process trees, read from /proc

interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).split(" ");
  return { pid, comm: text.slice(text.indexOf("(") + 1, close), state: rest[0] ?? "?", ppid: Number(rest[1]) };
}

/** Every live process on the host. */
function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** The processes descended from pid (children, grandchildren, ...), not pid itself. */
export function descendants(pid: number): ProcStat[] {
  const procs = allProcesses();
  const found: ProcStat[] = [];
  let frontier = new Set([pid]);
  while (frontier.size > 0) {
    const next = new Set<number>();
    for (const p of procs) {
      if (frontier.has(p.ppid) && !found.some((f) => f.pid === p.pid)) {
        found.push(p);
        next.add(p.pid);
      }
    }
    frontier = next;
  }
  return found;
}

/** Whether pid no longer runs: gone from /proc, or a zombie waiting for its reaper. */
export function isDead(pid: number): boolean {
  const s = readStat(pid);
  return s === undefined || s.state === "Z" || s.state === "X";
}

/** Polls fn every intervalMs until it returns a value that is not undefined, or timeoutMs passes. */
export async function pollFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 5): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // An async check is awaited: its promise is not its answer.
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** SIGKILLs the given processes if they still run (cleanup after a failed fail-closed test). */
export function killIfAlive(pids: number[]): void {
  for (const pid of pids) {
    if (isDead(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
