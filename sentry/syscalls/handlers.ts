// Handler types shared by the sys_*.ts families.
import type { Reply, TrapEvent } from "../../platform/platform.js";
import type { Kernel } from "../kernel/task.js";

/** Decides, performs or emulates one trapped syscall. Throws only SyscallError. */
export type Handler = (k: Kernel, ev: TrapEvent) => Reply;

/** Handlers of one family, by syscall name. */
export type HandlerTable = Readonly<Record<string, Handler>>;
