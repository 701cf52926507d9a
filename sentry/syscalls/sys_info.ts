// uname(2), emulated: the sandbox's own hostname and the host kernel's identity.
// (The UTS namespace gives the kernel's answer the same nodename; the sentry answers when
// uname is traced, and the ptrace platform will need it where there is no UTS namespace.)
import { release, version } from "node:os";
import type { Reply } from "../../platform/platform.js";
import { EFAULT } from "../abi/errno.js";
import { errnoReply } from "../errors/errors.js";
import type { HandlerTable } from "./handlers.js";

/** __NEW_UTS_LEN + 1 (include/uapi/linux/utsname.h). */
const FIELD = 65;
const ZERO: Reply = Object.freeze({ kind: "value", value: 0 });

/** struct new_utsname for the given hostname. */
export function utsname(hostname: string, domainname = "(none)"): Uint8Array {
  const out = new Uint8Array(FIELD * 6);
  const fields = ["Linux", hostname, release(), version(), "x86_64", domainname];
  fields.forEach((f, i) => out.set(Buffer.from(f).subarray(0, FIELD - 1), i * FIELD));
  return out;
}

export function infoHandlers(hostname: string): HandlerTable {
  const uts = utsname(hostname);
  return {
    uname: (k, ev) => (k.mem.write(ev.pid, ev.argNum(0), uts) === 0 ? ZERO : errnoReply(EFAULT)),
  };
}
