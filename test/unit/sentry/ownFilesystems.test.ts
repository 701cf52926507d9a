// The sandbox's own filesystems, told from the host's by device number: mountinfo parsing,
// st_dev encoding, the overlay root, and the judgement over a fake /proc.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { NativeBinding } from "../../../native/binding.js";
import { encodeDev, mountDevices, OwnFilesystems, overlayRootDevice } from "../../../sentry/kernel/ownFilesystems.js";

const HOST = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "27 1 259:1 / / rw,relatime - ext4 /dev/nvme0n1p1 rw",
  "30 27 0:25 / /run rw,nosuid - tmpfs tmpfs rw",
  "41 27 0:48 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw,lowerdir=/l1,upperdir=/u,workdir=/w",
].join("\n");

const CONTAINER = [
  "100 99 0:48 / / rw - overlay overlay rw,lowerdir=/l1,upperdir=/u,workdir=/w",
  "101 100 0:60 / /tmp rw,nosuid - tmpfs tmpfs rw",
  "102 100 0:25 /docker.sock /var/run/docker.sock rw - tmpfs tmpfs rw",
  "103 100 259:1 /srv/data /data rw - ext4 /dev/nvme0n1p1 rw",
].join("\n");

describe("own filesystems", () => {
  it("encodes st_dev as the kernel's new_encode_dev does", () => {
    expect(encodeDev(0, 48)).toBe(48n);
    expect(encodeDev(259, 1)).toBe((259n << 8n) | 1n);
    expect(encodeDev(8, 0x12345)).toBe(0x45n | (8n << 8n) | (0x12300n << 12n));
    expect(encodeDev(0x1234, 0)).toBe((0x234n << 8n) | (0x1000n << 32n));
  });

  it("reads the device of every mount a mountinfo lists", () => {
    expect(mountDevices(HOST)).toEqual(new Set([encodeDev(0, 21), encodeDev(259, 1), encodeDev(0, 25), encodeDev(0, 48)]));
    expect(mountDevices("")).toEqual(new Set());
  });

  it("finds an overlay root (the last mount on /), and nothing for a root of another type", () => {
    expect(overlayRootDevice(CONTAINER)).toBe(encodeDev(0, 48));
    expect(overlayRootDevice(HOST)).toBeUndefined();
    expect(overlayRootDevice(`${CONTAINER}\n200 100 259:1 / / rw - ext4 /dev/x rw`)).toBeUndefined();
  });

  it("the container's tmpfs and overlay root are its own; a host tmpfs or disk bound in is not; a device seen nowhere is looked up again", () => {
    const dir = mkdtempSync(join(tmpdir(), "runsc-ts-own-"));
    const files: Record<string, string> = { "self/mountinfo": HOST, "thread-self/mountinfo": CONTAINER };
    let reads = 0;
    const native = {
      openat2: (_dirfd: number, path: Uint8Array, len: number): number => {
        const rel = Buffer.from(path.subarray(0, len)).toString();
        reads++;
        writeFileSync(join(dir, "f"), files[rel] ?? "");
        return openSync(join(dir, "f"), "r");
      },
      close: (fd: number): number => {
        closeSync(fd);
        return 0;
      },
    } as unknown as NativeBinding;
    try {
      const own = new OwnFilesystems(native, -1);
      expect(reads).toBe(2);
      expect(own.owns(encodeDev(0, 48))).toBe(true); // the overlay root (mounted on the host too)
      expect(own.owns(encodeDev(0, 60))).toBe(true); // the container's /tmp
      expect(own.owns(encodeDev(0, 25))).toBe(false); // the host's /run, bound in
      expect(own.owns(encodeDev(259, 1))).toBe(false); // the host's disk, bound in
      expect(reads).toBe(2);
      // A host mount made since: looked up again, and the host's.
      files["self/mountinfo"] = `${HOST}\n50 27 0:70 / /mnt rw - tmpfs tmpfs rw`;
      expect(own.owns(encodeDev(0, 70))).toBe(false);
      expect(reads).toBe(4);
      // A device seen nowhere (the overlay's upper layer): the sandbox's, remembered.
      expect(own.owns(encodeDev(0, 99))).toBe(true);
      expect(own.owns(encodeDev(0, 99))).toBe(true);
      expect(reads).toBe(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
