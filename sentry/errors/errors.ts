// Errno is the only currency at the syscall boundary: one preallocated reply per errno,
// and translate() as the single conversion point from a thrown value.
import { MAX_ERRNO } from "../../platform/abi/errno.js";
import type { Reply } from "../../platform/platform.js";

const replies: Reply[] = [];

/** The (shared, frozen) reply failing a syscall with errno e. */
export function errnoReply(e: number): Reply {
  if (!Number.isInteger(e) || e <= 0 || e > MAX_ERRNO) {
    throw new RangeError(`not an errno: ${e}`);
  }
  let r = replies[e];
  if (r === undefined) {
    r = Object.freeze({ kind: "errno", errno: e } as const);
    replies[e] = r;
  }
  return r;
}

/** Thrown by helpers deep in a handler to fail the syscall with errno. */
export class SyscallError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/**
 * Maps a thrown value to a reply: a SyscallError or a Node-shaped system error (negative
 * `errno` and a string `code`) becomes its errno. Anything else is a bug in the sentry and
 * yields undefined: the caller must fail closed (kill the task), never let it through.
 */
export function translate(err: unknown): Reply | undefined {
  let e: number | undefined;
  if (err instanceof SyscallError) e = err.errno;
  else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string") {
    const n = (err as NodeJS.ErrnoException).errno;
    if (typeof n === "number") e = Math.abs(n);
  }
  // Not an errno at all (0, out of range, NaN): a bug, not an answer.
  if (e === undefined || !Number.isInteger(e) || e <= 0 || e > MAX_ERRNO) return undefined;
  return errnoReply(e);
}
