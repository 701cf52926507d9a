// uname(2), emulated: the sandbox's own hostname and the host kernel's identity.
// (The UTS namespace gives the kernel's answer the same nodename; the sentry answers when
// uname is traced, and the ptrace platform will need it where there is no UTS namespace.)
// sched_getaffinity(2) of the caller under a CPU limit with filesystem.proc cpuinfo: the
// first CPUs of its real mask, as many as the sandbox sees (nproc agrees with /proc/cpuinfo).
import { release, version } from "node:os";
import type { Reply } from "../../platform/platform.js";
import { ALLOW } from "../../platform/platform.js";
import type { Task } from "../kernel/task.js";
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

function schedGetaffinity(t: Task): Reply {
  const visible = t.k.visibleCpus;
  if (visible === undefined) return ALLOW;
  // Another task's mask (by its pid inside) is the kernel's to give.
  const pid = t.argInt(0);
  if (pid !== 0 && pid !== t.creds().nspid) return ALLOW;
  const mask = new Uint8Array(Math.min(t.argNum(1), 8192));
  const n = t.k.native.schedGetaffinity(t.tid, mask);
  if (n < 0) return errnoReply(-n);
  t.write(t.argNum(2), firstCpus(mask.subarray(0, n), visible));
  return { kind: "value", value: n };
}

function uname(t: Task): Reply {
  t.write(t.argNum(0), utsnameOf(t.k.hostname));
  return ZERO;
}

/** The struct utsname for a host name, made once (a sandbox has one host name). */
let lastUts: { hostname: string; bytes: Uint8Array } | undefined;
function utsnameOf(hostname: string): Uint8Array {
  if (lastUts?.hostname !== hostname) lastUts = { hostname, bytes: utsname(hostname) };
  return lastUts.bytes;
}

/** uname when traced (the sandbox's host name); sched_getaffinity under a CPU limit shown by /proc. */
export const infoFamily: Family = {
  uname: { handler: uname },
  sched_getaffinity: { handler: schedGetaffinity, trap: { when: "cpus-limited" } },
};
