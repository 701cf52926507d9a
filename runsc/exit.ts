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
 * Runs a command served among others: its status (its exitCommand's code, else
 * process.exitCode's, else 0). One at a time.
 */
export async function servedExit(run: () => Promise<void>): Promise<number> {
  if (served) throw new Error("a served command is running already");
  served = true;
  process.exitCode = undefined;
  try {
    await run();
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommandExit) return err.code;
    throw err;
  } finally {
    served = false;
    process.exitCode = undefined;
  }
}
