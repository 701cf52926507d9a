// How a command ends. Run by Node in a process of its own (main.ts, or a warm process that
// became the command's), a command's exit is the process's. A warm process also serves the
// commands that end with their call (start, state, kill, delete...: service/warm.ts) one
// after another in the same process: there an exit ends the command alone, and its status
// goes back to the client.

/** A served command's exit, thrown from exitCommand up to runCliServed. */
export class CommandExit {
  constructor(readonly code: number) {}
}

let served = false;
/** Where a served command's status goes once it is known (service/warm.ts: the client). */
let statusListener: ((code: number) => void) | undefined;

/** Whether the command running is served among others (its exit is not the process's). */
export function commandIsServed(): boolean {
  return served;
}

/** Ends the command with code: the process's exit, or a served command's status. */
export function exitCommand(code: number): never {
  if (served) throw new CommandExit(code);
  process.exit(code);
}

/**
 * The command's status is code, whatever it does before it ends (do: its sandbox has
 * ended, and what is left — removing its groups, its sentry thread's last steps — writes
 * nothing): a served command's caller may have it now. In a process of its own, nothing.
 */
export function statusKnown(code: number): void {
  const tell = statusListener;
  statusListener = undefined;
  tell?.(code);
}

/**
 * Runs a command served among others: its status (its exitCommand's code, else
 * process.exitCode's, else 0). One at a time. onStatus, when given, gets the status as soon
 * as the command makes it known (statusKnown), if it does.
 */
export async function servedExit(run: () => Promise<void>, onStatus?: (code: number) => void): Promise<number> {
  if (served) throw new Error("a served command is running already");
  served = true;
  statusListener = onStatus;
  process.exitCode = undefined;
  try {
    await run();
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommandExit) return err.code;
    throw err;
  } finally {
    served = false;
    statusListener = undefined;
    process.exitCode = undefined;
  }
}
