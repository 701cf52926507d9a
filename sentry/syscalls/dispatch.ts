// Dispatch: the one place a trapped syscall meets its decision and handler, and the only
// catch site. A handler that throws anything but an errno is a sentry bug: the task is
// killed, the syscall never goes through (fail closed).
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW, KILL } from "../../platform/platform.js";
import type { FilterAction } from "./syscall.js";
import { EACCES, ENOSYS, EPERM } from "../../platform/abi/errno.js";
import { errnoReply, translate } from "../errors/errors.js";
import type { Kernel } from "../kernel/kernel.js";
import { Task } from "../kernel/task.js";
import type { Decision } from "../policy/decision.js";
import { evaluateDecision } from "../policy/decision.js";
import type { Handler } from "./handlers.js";

export interface DispatchLog {
  /** A handler failed with something that is not an errno; the task is killed. */
  bug(ev: TrapEvent, err: unknown): void;
  /** audit: the policy would have refused this call (`would`); the sandbox answered `answered`. */
  audit?(ev: TrapEvent, would: FilterAction, answered: FilterAction): void;
  /** Sees every answer before it is sent (the task still waits: its memory is stable). */
  observe?(ev: TrapEvent, r: Reply): void;
  /**
   * A refusal: by the policy's decision for the syscall (errno or kill on its registers), or
   * by its handler (EACCES or EPERM: a rule of the section that traps it).
   */
  denied?(ev: TrapEvent, by: "decision" | "handler", r: Reply): void;
}

export class Dispatcher {
  private readonly handlers: (Handler | undefined)[] = [];

  constructor(
    private readonly k: Kernel,
    private readonly decisions: readonly (Decision | undefined)[],
    /** The table's rows (table_amd64.ts), or any rows: each row's handler serves its number. */
    rows: readonly { readonly nr: number; readonly name: string; readonly handler?: Handler }[],
    private readonly log: DispatchLog,
    /** audit: the policy's own decision where it refuses more than `decisions` (compile.ts). */
    private readonly audit?: readonly (Decision | undefined)[],
  ) {
    for (const row of rows) {
      if (row.handler === undefined) continue;
      if (this.handlers[row.nr] !== undefined) throw new Error(`two handlers for ${row.name}`);
      this.handlers[row.nr] = row.handler;
    }
  }

  /** True when a handler is registered for nr. */
  hasHandler(nr: number): boolean {
    return this.handlers[nr] !== undefined;
  }

  /**
   * Answers one event: the policy's decision first (a denial never reaches a handler), then
   * the handler when the decision lets the syscall run, or `allow` when there is none
   * (legal: without a handler no task memory was read).
   */
  handle(ev: TrapEvent): Reply {
    const r = this.answer(ev);
    this.log.observe?.(ev, r);
    return r;
  }

  private answer(ev: TrapEvent): Reply {
    const d = this.decisions[ev.nr];
    if (d === undefined) return errnoReply(ENOSYS);
    let action = evaluateDecision(d, (i) => ev.arg(i));
    const audited = this.audit?.[ev.nr];
    if (audited !== undefined) {
      const would = evaluateDecision(audited, (i) => ev.arg(i));
      if (would.kind === "errno" || would.kind === "kill") this.log.audit?.(ev, would, action);
      else action = would;
    }
    switch (action.kind) {
      case "errno": {
        const r = errnoReply(action.errno);
        this.log.denied?.(ev, "decision", r);
        return r;
      }
      case "kill":
        this.log.denied?.(ev, "decision", KILL);
        return KILL;
      default:
        break;
    }
    const h = this.handlers[ev.nr];
    if (h === undefined) return ALLOW;
    const t = new Task(this.k, ev);
    try {
      return this.refused(ev, h(t));
    } catch (err) {
      const r = translate(err);
      if (r !== undefined) return this.refused(ev, r);
      this.log.bug(ev, err);
      return KILL;
    } finally {
      t.end();
    }
  }

  /** r, reported as a refusal when it is one (EACCES, EPERM). */
  private refused(ev: TrapEvent, r: Reply): Reply {
    if (r.kind === "errno" && (r.errno === EACCES || r.errno === EPERM)) this.log.denied?.(ev, "handler", r);
    return r;
  }
}
