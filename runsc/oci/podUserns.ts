// A pod's user namespace. Kubernetes' containers join their pod's namespaces by path (ipc,
// uts, network, perhaps pid: /proc/<sandbox's PID>/ns/...). The pod's sandbox container was
// given a user namespace of its own by runsc-ts (a range of its own, the sentry's namespace
// around it); its ipc and uts namespaces belong to that user namespace. A container that
// joins them joins that user namespace too, with the pod's range: root inside is the pod's
// root, never host root, and the pod is one range (as the design says: per container, or per
// pod). The network namespace a CNI plugin made belongs to the host's user namespace: it is
// joined as host root, before the user namespace (launch.ts).
import { closeSync, fstatSync, openSync, readFileSync, statSync } from "node:fs";
import type { NativeBinding } from "../../native/binding.js";
import type { OciConfigDoc } from "./config.js";
import { OciConfigError } from "./errors.js";
import { CONTAINER_ID_BASE, CONTAINER_RANGES } from "./idRanges.js";
import type { IdRange } from "./idRanges.js";
import { ID_RANGE } from "../sandbox/ids.js";

export interface PodUserns {
  /** The pod's user namespace, to join: /proc/PID/ns/user. */
  path: string;
  range: IdRange;
}

/** The range a user namespace's uid_map (as the host reads it) holds, when it is one of runsc-ts's. */
export function rangeOfMap(uidMap: string): IdRange | undefined {
  const lines = uidMap.trim().split("\n");
  if (lines.length !== 1) return undefined;
  const [inside, outside, count] = lines[0]!.trim().split(/\s+/).map(Number);
  if (inside !== 0 || count !== ID_RANGE || outside === undefined || outside < CONTAINER_ID_BASE) return undefined;
  const slot = (outside - CONTAINER_ID_BASE) / ID_RANGE;
  return Number.isInteger(slot) && slot < CONTAINER_RANGES ? { slot, base: outside } : undefined;
}

/**
 * The pod's user namespace, when a namespace the config joins by path belongs to a user
 * namespace other than the host's: it must be one of runsc-ts's (a pod made by runsc-ts),
 * found through a /proc/PID/ns path. Undefined when every joined namespace is the host
 * user namespace's (a CNI network namespace, a pod made by runc): the container then gets
 * a range of its own.
 */
export function podUserNamespace(native: NativeBinding, config: OciConfigDoc): PodUserns | undefined {
  const host = statSync("/proc/self/ns/user");
  for (const [i, ns] of (config.linux?.namespaces ?? []).entries()) {
    // The types a container may join (planBundle.ts refuses the others, naming them).
    if (ns.path === undefined || !["pid", "network", "ipc", "uts"].includes(ns.type)) continue;
    let fd: number;
    try {
      fd = openSync(ns.path, "r");
    } catch {
      continue; // launch names the path it cannot open
    }
    let owner: number;
    try {
      owner = native.nsOwner(fd, false);
    } finally {
      closeSync(fd);
    }
    if (owner < 0) continue;
    let st;
    try {
      st = fstatSync(owner);
    } finally {
      closeSync(owner);
    }
    if (st.ino === host.ino && st.dev === host.dev) continue;
    const field = `linux.namespaces[${i}].path`;
    const pid = /^\/proc\/(\d+)\/ns\/[a-z]+$/.exec(ns.path)?.[1];
    if (pid === undefined) throw new OciConfigError("config.json", [`${field}: ${ns.path} belongs to a user namespace other than the host's; join it through /proc/PID/ns/${ns.type === "network" ? "net" : ns.type}, or name that user namespace (type user, with its path)`]);
    let range: IdRange | undefined;
    try {
      const userns = statSync(`/proc/${pid}/ns/user`);
      if (userns.ino === st.ino && userns.dev === st.dev) range = rangeOfMap(readFileSync(`/proc/${pid}/uid_map`, "utf8"));
    } catch {
      range = undefined;
    }
    if (range === undefined) throw new OciConfigError("config.json", [`${field}: ${ns.path} belongs to a user namespace runsc-ts did not make; name it in linux.namespaces (type user, with its path)`]);
    return { path: `/proc/${pid}/ns/user`, range };
  }
  return undefined;
}
