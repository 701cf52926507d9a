// What runc's lifecycle commands share: the runtime options' type, create's and run's flags,
// and the output helpers. Each command is a file of its own in this directory, loaded alone.
import type { Command } from "commander";
import type { RuntimeOptions } from "../../oci/container.js";
import { ContainerError } from "../../oci/state.js";
import { writeFully } from "../../write.js";

export type Runtime = () => RuntimeOptions;

/** The entries whose value is given. */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const out = (text: string): void => writeFully(1, text);
export const warn = (msg: string): void => writeFully(2, `runsc-ts: warning: ${msg}\n`);

export interface CreateFlags {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: string;
  noPivot: boolean;
  noNewKeyring: boolean;
}

export function createOptions(c: Command): Command {
  return c
    .option("-b, --bundle <dir>", "the bundle: config.json and, usually, rootfs/", ".")
    .option("--pid-file <file>", "write the container's host PID there")
    .option("--console-socket <path>", "a unix socket that receives the terminal's master (process.terminal)")
    .option("--preserve-fds <n>", "pass this many descriptors beyond stdio (3, 4, ...) to the container", "0")
    .option("--no-pivot", "accepted for runc's callers; runsc-ts always uses pivot_root")
    .option("--no-new-keyring", "accepted for runc's callers; the keyctl family is denied in every container");
}

/** --preserve-fds's count. */
export function preserveCount(flag: string): number {
  if (!/^\d+$/.test(flag)) throw new ContainerError(`--preserve-fds: expected a number, got ${JSON.stringify(flag)}`);
  return Number(flag);
}
