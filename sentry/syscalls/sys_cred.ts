// setuid(2) and the other calls that change a task's credentials or umask: the kernel runs
// them; the sentry only forgets what it cached of the caller's credentials first (see
// CredsCache). Trapped only when something else reaches the sentry and needs credentials.
import { ALLOW } from "../../platform/platform.js";
import type { Family, Handler } from "./handlers.js";
import { family } from "./handlers.js";

/** The syscalls after which a task's fsuid, fsgid, groups or umask may differ. */
export const CRED_SYSCALLS = [
  "setuid",
  "setgid",
  "setreuid",
  "setregid",
  "setresuid",
  "setresgid",
  "setfsuid",
  "setfsgid",
  "setgroups",
  "capset",
  "umask",
] as const;

const forget: Handler = (t) => {
  t.forgetCreds();
  return ALLOW;
};

/** Trapped whenever anything else is: the sentry caches credentials. */
export const credFamily: Family = family(Object.fromEntries(CRED_SYSCALLS.map((name) => [name, forget])), { when: "any-trap" });
