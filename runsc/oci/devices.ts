// linux.devices (config-linux.md, "Devices"): each node is made by the runtime as runc's mknod
// makes it — the config's type, numbers and mode, whatever the host has at that path — in a
// directory of the container's own under /run/runsc-ts/.devices, and bound from there by init.
// Root inside cannot make device nodes (the kernel refuses mknod in a user namespace).
//
// Root inside is never root outside: in a user namespace, a node belongs to an id no user
// namespace maps (NO_OWNER), shown as nobody inside, so it opens for what its mode grants
// others, as the host's own devices bound in did (a privileged container's config lists
// every host device: none becomes root inside's). Without one (process.hostRoot), it has the
// config's owner, as under runc. The device cgroup decides what opens either way. The
// directory is root's, mode 0700: no other host user reaches the nodes (host root binds them).
// A config's own user namespace (no idmapped mounts) has the host's node of the same path
// bound instead, when the host has that device, as runc does in a user namespace.
import { chmodSync, chownSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import type { NativeBinding } from "../../native/binding.js";
import { AT_FDCWD, S_IFBLK, S_IFCHR } from "../../platform/abi/fcntl.js";
import { DEVICES_DIR, ensureDevicesDir } from "../runtimeDir.js";
import type { OciConfigDoc } from "./config.js";
import { ContainerError } from "./errors.js";

export type Device = NonNullable<NonNullable<OciConfigDoc["linux"]>["devices"]>[number];

/** An owner for nodes in a user namespace: beyond any range a user namespace of ours maps. */
const NO_OWNER = 0xfffffffe;

/** The kernel's dev_t of major:minor (makedev). */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
}

/** The container's directory of device nodes: named by its state root and id (ids repeat across roots). */
export function devicesDir(root: string, id: string): string {
  return join(DEVICES_DIR, createHash("sha256").update(resolve(root)).update("\0").update(id).digest("hex").slice(0, 40));
}

/** Removes the container's device nodes, if it had any. */
export function removeDevices(root: string, id: string): void {
  rmSync(devicesDir(root, id), { recursive: true, force: true });
}

/** Whether the host's node at the device's path is that device. */
export function hostHasDevice(d: Device): boolean {
  try {
    const st = statSync(d.path);
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    return (d.type === "b" ? st.isBlockDevice() : st.isCharacterDevice()) && Number(d.major) === major && Number(d.minor) === minor;
  } catch {
    return false;
  }
}

/**
 * Makes each device of linux.devices (FIFOs are refused by the plan) in the container's
 * directory, owned as the header says (userns: the container has a user namespace). Returns
 * each one's index in linux.devices and its node.
 */
export function makeDevices(native: NativeBinding, root: string, id: string, config: OciConfigDoc, userns: boolean): Map<number, string> {
  const made = new Map<number, string>();
  const devices = (config.linux?.devices ?? []).map((d, i) => [d, i] as const).filter(([d]) => d.type !== "p");
  if (devices.length === 0) return made;
  ensureDevicesDir();
  const dir = devicesDir(root, id);
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const [d, i] of devices) {
    if (d.major === undefined || d.minor === undefined) throw new ContainerError(`config.json: linux.devices[${i}]: ${d.path}: a device needs its major and minor numbers`);
    const node = join(dir, String(i));
    const path = Buffer.from(node + "\0");
    const mode = (d.fileMode ?? 0o666) & 0o7777;
    const r = native.mknodAt(AT_FDCWD, path, path.length - 1, (d.type === "b" ? S_IFBLK : S_IFCHR) | mode, makedev(Number(d.major), Number(d.minor)));
    if (r < 0) throw new ContainerError(`config.json: linux.devices[${i}]: making ${d.path} (${d.type} ${String(d.major)}:${String(d.minor)}): errno ${-r}`);
    // mknod's mode went through our umask.
    chmodSync(node, mode);
    if (userns) chownSync(node, NO_OWNER, NO_OWNER);
    else chownSync(node, d.uid ?? 0, d.gid ?? 0);
    made.set(i, node);
  }
  return made;
}
