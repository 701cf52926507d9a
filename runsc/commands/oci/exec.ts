// exec: a new process in a running container, under its policy and sentry.
import { Command } from "commander";
import { exitCommand } from "../../exit.js";
import type { Runtime } from "./common.js";
import { preserveCount } from "./common.js";

export function execCommand(runtime: Runtime): Command {
  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  const exec = new Command("exec")
    .description("run a new process in a running container (its namespaces, cgroups, policy and sentry)")
    .option("-p, --process <file>", "the process as OCI process JSON (instead of ARGS)")
    .option("-d, --detach", "return once the process has started", false)
    .option("--pid-file <file>", "write the process's host PID there")
    .option("--console-socket <path>", "a unix socket that receives the terminal's master")
    .option("-t, --tty", "give the process a terminal", false)
    .option("--cwd <dir>", "its working directory")
    .option("-e, --env <K=V>", "an environment variable (repeatable)", collect, [])
    .option("-u, --user <uid[:gid]>", "its user")
    .option("-c, --cap <cap>", "add a capability (repeatable)", collect, [])
    .option("--no-new-privs", "set no_new_privs", false)
    .option("--preserve-fds <n>", "pass this many descriptors beyond stdio", "0")
    .argument("<container-id>")
    .argument("[args...]")
    .passThroughOptions()
    .action(async (id: string, args: string[], f: { process?: string; detach: boolean; pidFile?: string; consoleSocket?: string; tty: boolean; cwd?: string; env: string[]; user?: string; cap: string[]; newPrivs: boolean; noNewPrivs?: boolean; preserveFds: string }) => {
      const { execInContainer } = await import("../../oci/exec.js");
      const status = await execInContainer(runtime(), {
        id,
        args,
        env: f.env,
        caps: f.cap,
        noNewPrivs: f.newPrivs === false || f.noNewPrivs === true,
        tty: f.tty,
        detach: f.detach,
        ...(f.process !== undefined ? { processFile: f.process } : {}),
        ...(f.cwd !== undefined ? { cwd: f.cwd } : {}),
        ...(f.user !== undefined ? { user: f.user } : {}),
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
      });
      exitCommand(status);
    });
  return exec;
}
