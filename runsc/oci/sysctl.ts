// Which linux.sysctl keys a container may set: only those of a kernel namespace the container
// has of its own, as runc decides (libcontainer/configs/validate: sysctl). Init writes them as
// root of the host's user namespace before the workload starts: a key that is not namespaced
// (kernel.core_pattern, kernel.printk_ratelimit, vm.*) would change the host itself.

/** The namespaces a container has of its own (new, or joined and not the host's). */
export interface OwnNamespaces {
  ipc: boolean;
  net: boolean;
  uts: boolean;
  pid: boolean;
}

/** IPC-namespaced sysctls besides fs.mqueue.* (ipc/ipc_sysctl.c). */
const IPC_SYSCTLS = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);

/** The errors of linux.sysctl for a container with these namespaces; empty when all may be set. */
export function sysctlErrors(sysctl: Readonly<Record<string, string>> | undefined, own: OwnNamespaces): string[] {
  const errors: string[] = [];
  for (const key of Object.keys(sysctl ?? {})) {
    const at = `linux.sysctl.${key}`;
    if (IPC_SYSCTLS.has(key) || key.startsWith("fs.mqueue.")) {
      if (!own.ipc) errors.push(`${at}: not allowed in the host's IPC namespace (linux.namespaces has no ipc of the container's own)`);
    } else if (key.startsWith("net.")) {
      if (!own.net) errors.push(`${at}: not allowed in the host's network namespace (linux.namespaces has no network of the container's own)`);
    } else if (key === "kernel.domainname") {
      if (!own.uts) errors.push(`${at}: not allowed in the host's UTS namespace (linux.namespaces has no uts of the container's own)`);
    } else if (key === "kernel.hostname") {
      errors.push(`${at}: set the hostname field instead`);
    } else if (key === "kernel.ns_last_pid") {
      if (!own.pid) errors.push(`${at}: not allowed in the host's PID namespace`);
    } else {
      errors.push(`${at}: not in a kernel namespace of the container's own; it would change the host`);
    }
  }
  return errors;
}
