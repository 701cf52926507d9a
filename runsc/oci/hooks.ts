// OCI hooks (config.md "POSIX-platform Hooks"): each runs with the container's state JSON on
// its stdin, in the runtime's namespaces, killed at its timeout. A failed prestart,
// createRuntime or poststart hook fails the command; a failed poststop hook is logged only.
import { spawn } from "node:child_process";
import type { Hook } from "./state.js";
import { ContainerError } from "./state.js";

/** Runs the hooks in order; rejects with the first failure, naming the hook. */
export async function runHooks(kind: string, hooks: readonly Hook[] | undefined, state: Record<string, unknown>): Promise<void> {
  for (const [i, h] of (hooks ?? []).entries()) {
    const [arg0, ...rest] = h.args ?? [h.path];
    const child = spawn(h.path, rest, {
      argv0: arg0 ?? h.path,
      env: Object.fromEntries((h.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    child.stdin.on("error", () => {}); // a hook that does not read its stdin
    child.stdin.end(JSON.stringify(state));
    const timer = h.timeout !== undefined ? setTimeout(() => child.kill("SIGKILL"), h.timeout * 1000) : undefined;
    const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
    if (timer !== undefined) clearTimeout(timer);
    if (result.error !== undefined || result.code !== 0) {
      const why =
        result.error !== undefined
          ? result.error.message
          : result.signal === "SIGKILL" && h.timeout !== undefined
            ? `timed out after ${h.timeout} s`
            : result.signal !== null
              ? `killed by ${result.signal}`
              : `exit status ${result.code}`;
      throw new ContainerError(`hooks.${kind}[${i}] ${h.path}: ${why}${stderr.trim() !== "" ? `: ${stderr.trim()}` : ""}`);
    }
  }
}
