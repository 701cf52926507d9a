// The process a command is run for. Node running the command line in its own process is its
// own caller. A warm process (service/warm.ts) runs a client's command (native/client/
// client.c): the client's --preserve-fds descriptors came with the request, and a
// container's init is cloned by the client (sandbox_child.h), so that it descends from the
// caller, whose subreaper (a shim) adopts it and reads its status, as runc's init.
export interface Client {
  /** The client's PID: the runsc-ts process its caller ran. */
  pid: number;
  /** The client's descriptors 3, 4, ... (--preserve-fds), as received here. */
  preserved: readonly number[];
  /** The connection to the client, on which it takes requests to clone (native spawn's cloner). */
  cloner: number;
}

let client: Client | undefined;

/** The command is a client's (a warm process serves it). */
export function setClient(c: Client): void {
  client = c;
}

/** The command is over (a warm process serves others after it). */
export function clearClient(): void {
  client = undefined;
}

/** The client whose command this process runs, if not its own. */
export function currentClient(): Client | undefined {
  return client;
}
