// Before a sentry is loaded: its listener watched from the event loop, and the trapped calls
// that need no sentry yet answered here. Those are the credential changes: the kernel runs
// them, and the sentry traps them only to forget what it cached of the caller's credentials
// (sys_cred.ts), of which a sentry not yet made holds nothing. A container's init drops to the
// process's user under its filter, so without this every container would load its sentry at
// start. The first call that needs the sentry is handed over, received: the sentry answers it
// first (serveOnLoop's `first`).
//
// Light on purpose: it runs in every container's monitor, which loads the sentry's code only
// when this hands a call over.
import type { NativeBinding } from "../native/binding.js";
import { SeccompNotify } from "../platform/seccomp/unotify.js";
import { sysnoByName } from "../platform/abi/sysno_amd64.js";
import { CRED_SYSCALLS } from "./syscalls/sys_cred.js";

const PASSED = new Set(CRED_SYSCALLS.map((name) => sysnoByName(name)!));

/** The syscall numbers answered without a sentry (a container monitor's native start answers them too). */
export const GATE_PASSED: readonly number[] = [...PASSED];

/** The most calls answered before the loop's other work has a turn. */
const BURST = 256;

export interface Gate {
  /** Stops watching (the caller ends the sandbox). */
  stop(): void;
}

/**
 * Watches listener (of the task whose pidfd is given) until a trapped call needs the sentry:
 * then calls needed with that call's notification (struct seccomp_notif, received and not yet
 * answered), or over once no task uses the filter. failed: the listener failed (the caller
 * ends the sandbox).
 */
export function gateUntilNeeded(
  native: NativeBinding,
  listener: number,
  pidfd: number,
  on: { needed(first: Uint8Array): void; over(): void; failed(err: Error): void },
): Gate {
  const notify = new SeccompNotify(native, listener, pidfd);
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    watch.stop();
  };
  const drain = (): void => {
    if (stopped) return;
    // No signal may interrupt the answer's ioctl (notify.cc: blockSignals).
    native.blockSignals();
    let got: boolean | null = false;
    try {
      // At most BURST at a time: a task that changes credentials without pause must not
      // keep the monitor's commands (exec, start) from their turn on the loop.
      for (let i = 0; i < BURST; i++) {
        got = notify.receiveReady(0);
        if (got !== true || !PASSED.has(notify.event.nr)) break;
        notify.reply({ kind: "allow" });
        got = false;
      }
    } catch (err) {
      stop();
      on.failed(err instanceof Error ? err : new Error(String(err)));
      return;
    } finally {
      native.unblockSignals();
    }
    if (got === false) {
      watch.arm();
      return;
    }
    stop();
    if (got === null) on.over();
    else on.needed(notify.received());
  };
  const watch = native.watchReadable(listener, drain);
  return { stop };
}
