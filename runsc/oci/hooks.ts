// OCI hooks (config.md "POSIX-platform Hooks"): each runs with the container's state JSON on
// its stdin, killed at its timeout. The runtime's own (prestart, createRuntime, poststart,
// poststop) run here, in the runtime's namespaces; createContainer and startContainer run
// in the container, by its init (native/helper/init.c, initConfig's "hook" records). A
// failed prestart, createRuntime or poststart hook fails the command; a failed poststop
// hook is logged only.
import { spawn, spawnSync } from "node:child_process";
import type { InitRecord } from "../sandbox/initConfig.js";
import type { Hook } from "./state.js";
import { ContainerError } from "./state.js";

const hookEnv = (h: Hook): Record<string, string> => Object.fromEntries((h.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

/** Why a hook failed, naming it as config.json does. */
function failure(kind: string, i: number, h: Hook, r: { error?: Error | undefined; signal: NodeJS.Signals | null; status: number | null; stderr: string }): ContainerError {
  const why =
    r.error !== undefined
      ? r.error.message
      : r.signal === "SIGKILL" && h.timeout !== undefined
        ? `timed out after ${h.timeout} s`
        : r.signal !== null
          ? `killed by ${r.signal}`
          : `exit status ${r.status}`;
  const said = r.stderr.trim().slice(-2000);
  return new ContainerError(`hooks.${kind}[${i}] ${h.path}: ${why}${said !== "" ? `: ${said}` : ""}`);
}

/** Runs the hooks in order; rejects with the first failure, naming the hook. */
export async function runHooks(kind: string, hooks: readonly Hook[] | undefined, state: Record<string, unknown>): Promise<void> {
  for (const [i, h] of (hooks ?? []).entries()) {
    const [arg0, ...rest] = h.args ?? [h.path];
    const child = spawn(h.path, rest, { argv0: arg0 ?? h.path, env: hookEnv(h), stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    child.stdin.on("error", () => {}); // a hook that does not read its stdin
    child.stdin.end(JSON.stringify(state));
    const timer = h.timeout !== undefined ? setTimeout(() => child.kill("SIGKILL"), h.timeout * 1000) : undefined;
    const result = await new Promise<{ status: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once("error", (error) => resolve({ status: null, signal: null, error }));
      child.once("close", (status, signal) => resolve({ status, signal }));
    });
    if (timer !== undefined) clearTimeout(timer);
    if (result.error !== undefined || result.status !== 0) throw failure(kind, i, h, { ...result, stderr });
  }
}

/**
 * runHooks, blocking: for the hooks that run while init waits before pivot_root (spawn's
 * onPause, a synchronous call).
 */
export function runHooksSync(kind: string, hooks: readonly Hook[] | undefined, state: Record<string, unknown>): void {
  for (const [i, h] of (hooks ?? []).entries()) {
    const [arg0, ...rest] = h.args ?? [h.path];
    const r = spawnSync(h.path, rest, {
      argv0: arg0 ?? h.path,
      env: hookEnv(h),
      input: JSON.stringify(state),
      stdio: ["pipe", "ignore", "pipe"],
      ...(h.timeout !== undefined ? { timeout: h.timeout * 1000 } : {}),
      killSignal: "SIGKILL",
      maxBuffer: 16 << 20,
    });
    // EPIPE: a hook that does not read its stdin.
    const error = r.error !== undefined && (r.error as NodeJS.ErrnoException).code !== "EPIPE" && (r.error as NodeJS.ErrnoException).code !== "ETIMEDOUT" ? r.error : undefined;
    if (error !== undefined || r.status !== 0) throw failure(kind, i, h, { error, signal: r.signal, status: r.status, stderr: r.stderr?.toString() ?? "" });
  }
}

/** The hooks init runs in the container: records, as initConfig encodes them. */
export function containerHookRecords(hooks: { createContainer?: readonly Hook[] | undefined; startContainer?: readonly Hook[] | undefined } | undefined): InitRecord[] {
  return (["createContainer", "startContainer"] as const).flatMap((phase) =>
    (hooks?.[phase] ?? []).map((h) => ({ op: "hook", phase, path: h.path, args: h.args ?? [h.path], env: h.env ?? [], timeout: h.timeout ?? 0 }) as const),
  );
}
