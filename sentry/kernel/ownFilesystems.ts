// Which filesystems are the sandbox's own, for unix sockets reached by path: a socket on one
// of them was made in the sandbox (its /tmp, a tmpfs its config mounts, its overlay root's
// upper layer); a socket anywhere else is the host's — a host directory bound in, the host's
// tree seen through the root — and counts as network (sys_socket.ts).
//
// Told by device number: a filesystem the host's mount namespace also has mounted is the
// host's, whatever the sandbox's mounts call it; one only the sandbox has (a tmpfs init made,
// the overlay's in-memory upper layer) is the sandbox's. The exception is an overlay root made
// for the sandbox by its runtime (Docker's, containerd's): the host has it mounted too, but
// what it holds is the container's.
import { readSync } from "node:fs";
import type { NativeBinding } from "../../native/binding.js";

/** The device numbers ("major:minor" as st_dev) of the mounts a mountinfo text lists. */
export function mountDevices(mountinfo: string): Set<bigint> {
  const out = new Set<bigint>();
  for (const line of mountinfo.split("\n")) {
    const dev = line.split(" ")[2];
    if (dev === undefined) continue;
    const [major, minor] = dev.split(":").map(Number);
    if (major === undefined || minor === undefined || !Number.isInteger(major) || !Number.isInteger(minor)) continue;
    out.add(encodeDev(major, minor));
  }
  return out;
}

/** st_dev as the kernel's new_encode_dev makes it (what stat(2) reports on x86_64). */
export function encodeDev(major: number, minor: number): bigint {
  return BigInt((minor & 0xff) | ((major & 0xfff) << 8)) | (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
}

/** The device of the mount on "/" in a mountinfo text when it is an overlay, else undefined. */
export function overlayRootDevice(mountinfo: string): bigint | undefined {
  // The last mount on "/" is the one seen (mount ID, parent, major:minor, root, point, ... - fstype).
  let found: bigint | undefined;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    if (f[4] !== "/") continue;
    const sep = f.indexOf("-");
    const [major, minor] = (f[2] ?? "").split(":").map(Number);
    found = sep > 0 && f[sep + 1] === "overlay" && major !== undefined && minor !== undefined ? encodeDev(major, minor) : undefined;
  }
  return found;
}

/**
 * An open file read whole from its start (pread: threads may share it), or "" when it cannot
 * be: a /proc seq file of any length, in 64 KiB reads.
 */
export function readWhole(fd: number): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  try {
    for (let at = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, at);
      if (n <= 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      at += n;
    }
  } catch {
    return "";
  }
  return Buffer.concat(chunks).toString("latin1");
}

/** Reads a file under the host's /proc (procFd) as text, or "" when it cannot. */
function readProc(native: NativeBinding, procFd: number, rel: string): string {
  const b = Buffer.from(rel);
  const fd = native.openat2(procFd, b, b.length, 0 /* O_RDONLY */, 0, 0);
  if (fd < 0) return "";
  try {
    return readWhole(fd);
  } finally {
    native.close(fd);
  }
}

/**
 * The sandbox's own filesystems, as the sentry's thread (in the sandbox's mount namespace)
 * and the process's first thread (in the host's) see them. A device seen neither way is
 * looked up again (a mount made since, on either side) before it is judged.
 */
export class OwnFilesystems {
  private host = new Set<bigint>();
  private own = new Set<bigint>();
  private root: bigint | undefined;

  /** hostMountinfo: an open mountinfo of the host's mount namespace, for a sentry not in it. */
  constructor(
    private readonly native: NativeBinding,
    private readonly procFd: number,
    private readonly hostMountinfo?: number,
  ) {
    this.refresh();
  }

  private refresh(): void {
    // thread-self: the sentry's thread, in the sandbox's mount namespace; self: the
    // process's first thread, which stays in the host's, unless the sentry is confined to
    // one of its own (hostMountinfo then).
    const inside = readProc(this.native, this.procFd, "thread-self/mountinfo");
    this.host = mountDevices(this.hostMountinfo !== undefined ? readWhole(this.hostMountinfo) : readProc(this.native, this.procFd, "self/mountinfo"));
    this.own = new Set([...mountDevices(inside)].filter((d) => !this.host.has(d)));
    this.root = overlayRootDevice(inside);
  }

  /** Whether a file on device dev is on one of the sandbox's own filesystems. */
  owns(dev: bigint): boolean {
    if (dev === this.root || this.own.has(dev)) return true;
    if (this.host.has(dev)) return false;
    // Neither: a mount made since (or the overlay's upper layer, which no mountinfo lists).
    this.refresh();
    if (dev === this.root || this.own.has(dev)) return true;
    if (this.host.has(dev)) return false;
    this.own.add(dev);
    return true;
  }
}
