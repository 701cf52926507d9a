// Whose credentials the sentry's syscall thread acts with.
//
// The sentry performs a task's operations with the task's credentials on its own thread
// (ids and capabilities are per thread, set by raw syscalls). Two rules, held here rather
// than by each handler:
//
//   * Acting as a task is scoped: Task.as(fn) switches, runs fn and ends the scope, even
//     when fn throws. Scopes do not nest.
//   * Everything the sentry does as itself (opening a task's /proc files, its pidfds)
//     asks for its own identity first (sentry()), which restores it if a task's scope left
//     the thread with the task's credentials. Asking for it inside a task's scope is a bug
//     (an operation meant as the task would run as the sentry): it throws, and dispatch
//     kills the task (fail closed).
//
// The restore is made when the sentry next needs its own identity, not at every scope's
// end: a task's calls come one after another, and the native setCreds makes no syscall for
// the credentials it holds already, so a trapped open by the same task changes no
// credentials at all. Restoring at each scope's end costs two credential changes per call
// (a trapped open 15% slower, measured with npm run bench). Privileged native operations
// raise the sentry's capabilities for their call alone (native/src/creds.cc: ScopedSentryCaps).
import type { NativeBinding } from "../../native/binding.js";

/** The ids the sentry acts with for a task (creds.ts: Creds has them). */
export interface TaskIds {
  readonly ruid: number;
  readonly rgid: number;
  readonly fsuid: number;
  readonly fsgid: number;
  readonly groups: Int32Array;
}

/**
 * How the sentry acts as a task:
 *   fs        its fs ids and groups (the kernel's permission checks for files)
 *   real      its real ids (access(2) without AT_EACCESS)
 *   elevated  its fs ids with the file capabilities raised: root inside changing the
 *             overlay's base, which the host owns (sys_fsmut.ts)
 */
export type ActAs = "fs" | "real" | "elevated";

const NO_GROUPS = new Int32Array(0);

export class Identity {
  /** Inside a task's scope. */
  private scoped = false;
  /** The thread holds the sentry's own credentials. */
  private own = true;
  /** Credential changes made (for tests and the benchmark's counters). */
  switches = 0;

  constructor(private readonly native: Pick<NativeBinding, "setCreds">) {}

  /** Runs fn with the task's credentials (caps: the host capabilities it acts with). */
  asTask<T>(c: TaskIds, how: ActAs, caps: bigint, fn: () => T): T {
    if (this.scoped) throw new Error("a task's identity is already in effect on this thread");
    // Not the sentry's own from here, even if the change fails half-way (groups set, ids not).
    this.own = false;
    const r = how === "real" ? this.native.setCreds(c.ruid, c.rgid, c.groups, false, caps) : this.native.setCreds(c.fsuid, c.fsgid, c.groups, how === "elevated", caps);
    if (r < 0) throw new Error(`setCreds (${how}) failed: errno ${-r}`);
    this.switches++;
    this.scoped = true;
    try {
      return fn();
    } finally {
      this.scoped = false;
    }
  }

  /** The sentry's own credentials, for an operation of its own. */
  sentry(): void {
    if (this.scoped) throw new Error("the sentry's own identity was asked for while acting as a task");
    if (this.own) return;
    const r = this.native.setCreds(0, 0, NO_GROUPS);
    if (r < 0) throw new Error(`setCreds (sentry) failed: errno ${-r}`);
    this.switches++;
    this.own = true;
  }

  /** Whether the thread is inside a task's scope. */
  get inTaskScope(): boolean {
    return this.scoped;
  }
}
