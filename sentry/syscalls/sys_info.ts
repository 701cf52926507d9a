// uname(2), emulated: the sandbox's own hostname and the host kernel's identity.
// (The UTS namespace gives the kernel's answer the same nodename; the sentry answers when
// uname is traced, and the ptrace platform will need it where there is no UTS namespace.)
// sched_getaffinity(2) of the caller under a CPU limit with filesystem.proc cpuinfo: the
// first CPUs of its real mask, as many as the sandbox sees (nproc agrees with /proc/cpuinfo).
import { release, version } from "node:os";
import type { Reply, TrapEvent } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import { EFAULT } from "../../platform/abi/errno.js";
import type { Kernel } from "../kernel/task.js";
import { taskCreds } from "../kernel/task.js";
import { errnoReply } from "../errors/errors.js";
import type { Family } from "./handlers.js";

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

/** Keeps the first n set bits of a CPU mask (little-endian bytes), clearing the rest. */
export function firstCpus(mask: Uint8Array, n: number): Uint8Array {
  let left = n;
  for (let i = 0; i < mask.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      if ((mask[i]! & (1 << bit)) === 0) continue;
      if (left > 0) left--;
      else mask[i] = mask[i]! & ~(1 << bit);
    }
  }
  return mask;
}

function schedGetaffinity(k: Kernel, ev: TrapEvent): Reply {
  if (k.visibleCpus === undefined) return ALLOW;
  // Another task's mask (by its pid inside) is the kernel's to give.
  const pid = ev.argInt(0);
  if (pid !== 0 && pid !== taskCreds(k, ev.pid).nspid) return ALLOW;
  const mask = new Uint8Array(Math.min(ev.argNum(1), 8192));
  const n = k.native.schedGetaffinity(ev.pid, mask);
  if (n < 0) return errnoReply(-n);
  const out = firstCpus(mask.subarray(0, n), k.visibleCpus);
  return k.mem.write(ev.pid, ev.argNum(2), out) === 0 ? { kind: "value", value: n } : errnoReply(EFAULT);
}

/** The struct utsname for a host name, made once (a sandbox has one host name). */
let lastUts: { hostname: string; bytes: Uint8Array } | undefined;
function utsnameOf(hostname: string): Uint8Array {
  if (lastUts?.hostname !== hostname) lastUts = { hostname, bytes: utsname(hostname) };
  return lastUts.bytes;
}

/** uname when traced (the sandbox's host name); sched_getaffinity under a CPU limit shown by /proc. */
export const infoFamily: Family = {
  uname: { handler: (k, ev) => (k.mem.write(ev.pid, ev.argNum(0), utsnameOf(k.hostname)) === 0 ? ZERO : errnoReply(EFAULT)) },
  sched_getaffinity: { handler: schedGetaffinity, trap: { when: "cpus-limited" } },
};
