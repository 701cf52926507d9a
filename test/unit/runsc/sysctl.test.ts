// linux.sysctl keys against the namespaces a container has of its own (runc's rule).
import { describe, expect, it } from "vitest";
import { sysctlErrors } from "../../../runsc/oci/sysctl.js";

const ALL = { ipc: true, net: true, uts: true, pid: true };
const NONE = { ipc: false, net: false, uts: false, pid: false };

describe("sysctlErrors", () => {
  it("allows the namespaced keys where the container has that namespace", () => {
    const keys = { "kernel.shmmax": "1", "fs.mqueue.msg_max": "1", "net.ipv4.ip_forward": "1", "kernel.domainname": "x", "kernel.ns_last_pid": "1" };
    expect(sysctlErrors(keys, ALL)).toEqual([]);
    expect(sysctlErrors(undefined, NONE)).toEqual([]);
  });

  it("refuses each namespaced key in the host's namespace, naming the field", () => {
    expect(sysctlErrors({ "kernel.sem": "1" }, { ...ALL, ipc: false })).toEqual([
      "linux.sysctl.kernel.sem: not allowed in the host's IPC namespace (linux.namespaces has no ipc of the container's own)",
    ]);
    expect(sysctlErrors({ "net.core.somaxconn": "1" }, { ...ALL, net: false })[0]).toMatch(/^linux\.sysctl\.net\.core\.somaxconn: .*host's network namespace/);
    expect(sysctlErrors({ "kernel.domainname": "x" }, { ...ALL, uts: false })[0]).toMatch(/UTS/);
    expect(sysctlErrors({ "kernel.ns_last_pid": "1" }, { ...ALL, pid: false })[0]).toMatch(/PID/);
  });

  it("refuses a key of no namespace whatever the container has, and kernel.hostname for the hostname field", () => {
    expect(sysctlErrors({ "kernel.core_pattern": "|/x", "vm.swappiness": "1", "kernel.hostname": "h" }, ALL)).toEqual([
      "linux.sysctl.kernel.core_pattern: not in a kernel namespace of the container's own; it would change the host",
      "linux.sysctl.vm.swappiness: not in a kernel namespace of the container's own; it would change the host",
      "linux.sysctl.kernel.hostname: set the hostname field instead",
    ]);
  });
});
