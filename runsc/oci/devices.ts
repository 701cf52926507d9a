// linux.devices (config-linux.md, "Devices"): each node is made by the runtime as runc's mknod
// makes it — the config's type, numbers, mode and owner, whatever the host has at that path —
// in the container's state directory (root's alone, removed with the container), and bound
// from there. Root inside cannot make device nodes (the kernel refuses mknod in a user
// namespace); the device cgroup still decides what opens.
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { NativeBinding } from "../../native/binding.js";
import { AT_FDCWD, S_IFBLK, S_IFCHR } from "../../platform/abi/fcntl.js";
import type { OciConfigDoc } from "./config.js";
import { ContainerError } from "./errors.js";

export type Device = NonNullable<NonNullable<OciConfigDoc["linux"]>["devices"]>[number];

/** The kernel's dev_t of major:minor (makedev). */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
}

/**
 * Makes, under stateDir/devices, each device of linux.devices (FIFOs are refused by the plan):
 * its node, with the config's mode and owner (host ids; an idmapped bind shows them as the
 * same ids inside). Returns each one's index in linux.devices and its node's path.
 */
export function makeDevices(native: NativeBinding, stateDir: string, config: OciConfigDoc): Map<number, string> {
  const made = new Map<number, string>();
  const devices = config.linux?.devices ?? [];
  devices.forEach((d, i) => {
    if (d.type === "p") return;
    if (d.major === undefined || d.minor === undefined) throw new ContainerError(`config.json: linux.devices[${i}]: ${d.path}: a device needs its major and minor numbers`);
    const dir = join(stateDir, "devices");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const node = join(dir, String(i));
    const path = Buffer.from(node + "\0");
    const mode = (d.fileMode ?? 0o666) & 0o7777;
    const r = native.mknodAt(AT_FDCWD, path, path.length - 1, (d.type === "b" ? S_IFBLK : S_IFCHR) | mode, makedev(Number(d.major), Number(d.minor)));
    if (r < 0) throw new ContainerError(`config.json: linux.devices[${i}]: making ${d.path} (${d.type} ${String(d.major)}:${String(d.minor)}): errno ${-r}`);
    // mknod's mode went through our umask.
    chmodSync(node, mode);
    chownSync(node, d.uid ?? 0, d.gid ?? 0);
    made.set(i, node);
  });
  return made;
}
