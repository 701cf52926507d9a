// kill(2), tgkill(2), tkill(2): decided on register arguments only. The sandbox's PID
// namespace is what scopes them (a task can name only tasks of its sandbox), so the
// kernel performs them; `allow` is legal here because no task memory was read.
import { ALLOW } from "../../platform/platform.js";
import type { HandlerTable } from "./handlers.js";

export const signalHandlers: HandlerTable = {
  kill: () => ALLOW,
  tgkill: () => ALLOW,
  tkill: () => ALLOW,
};
