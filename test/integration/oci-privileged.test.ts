// A privileged container (Docker's --privileged: every capability, no seccomp profile, no
// masked or read-only paths) runs in a user namespace of its own like every other: what
// needs capabilities over its own namespaces works as under runc — mounts in its mount
// namespace, its host name, new namespaces, network devices in its network namespace —
// and what would need host root fails inside, whatever it unmounts or mounts first.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { CAPABILITIES } from "../../runsc/oci/process.js";
import type { Bundle } from "../helpers/bundle.js";
import { makeBundle, runcRun, runtime } from "../helpers/bundle.js";

const made: Bundle[] = [];
afterAll(() => {
  for (const b of made) b.cleanup();
});

/** The capabilities this process may grant (Docker's --privileged gives the daemon's bounding set). */
function hostCapabilities(): string[] {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"))!;
  const mask = BigInt(`0x${line.split(/\s+/)[1]}`);
  return CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** A bundle with Docker's --privileged shape: all capabilities, no seccomp, nothing masked. */
function privileged(script: string): Bundle {
  const b = makeBundle({
    args: ["/bin/sh", "-c", script],
    name: "privileged",
    config: (c) => {
      const all = hostCapabilities();
      c.process.capabilities = { bounding: all, effective: all, permitted: all };
      delete c.linux.seccomp;
      delete c.linux.maskedPaths;
      delete c.linux.readonlyPaths;
      for (const m of c.mounts) if (m.destination === "/sys") m.options = m.options.filter((o: string) => o !== "ro");
    },
  });
  made.push(b);
  return b;
}

async function run(b: Bundle): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runtime(["run", "--bundle", b.dir, b.id], { timeoutMs: 60_000 });
  await runtime(["delete", "--force", b.id]);
  return r;
}

/** Each step prints its name and whether it worked. */
const steps = (list: [string, string][]): string => list.map(([name, cmd]) => `if ${cmd} >/dev/null 2>&1; then echo ${name}=ok; else echo ${name}=refused; fi`).join("\n");

describe("privileged containers", () => {
  it("mounts, names, namespaces and network devices of its own work as under runc", async () => {
    const script = steps([
      ["tmpfs", "mkdir -p /tmp/m && mount -t tmpfs t /tmp/m && touch /tmp/m/f && test -f /tmp/m/f && umount /tmp/m"],
      ["bind", "mount --bind /etc /tmp/m && test -f /tmp/m/passwd && umount /tmp/m"],
      ["propagation", "mount --make-rprivate / && mount --make-rshared /"],
      ["hostname", "hostname inside-name && test $(hostname) = inside-name"],
      ["unshare", "unshare -m -n -u true"],
      ["bridge", "ip link add br9 type bridge && ip link set br9 up && ip link del br9"],
      ["sysctl", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
    ]);
    const b = privileged(script);
    const ours = await run(b);
    const runc = await runcRun(b);
    expect(ours.code, ours.stderr).toBe(0);
    expect(runc.code, runc.stderr).toBe(0);
    expect(runc.stdout, `runc: ${runc.stdout}; runsc-ts: ${ours.stdout}`).not.toMatch(/=refused/);
    expect(ours.stdout).toBe(runc.stdout);
    expect(hostname()).not.toBe("inside-name");
  });

  it("root inside is still no host root: the host's knobs, modules and devices stay out of reach after unmounting what hides them", async () => {
    const script = [
      "id -u; cat /proc/self/uid_map",
      steps([
        // /proc/sys read-only: made writable again, then written.
        ["core_pattern", "mount -o remount,rw /proc/sys; echo '|/tmp/x' > /proc/sys/kernel/core_pattern"],
        ["sysrq", "umount /proc/sysrq-trigger; echo h > /proc/sysrq-trigger"],
        // A procfs of its own, nothing over it.
        ["fresh_proc", "mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo '|/tmp/x' > /tmp/p/sys/kernel/core_pattern"],
        ["kcore", "head -c 1 /tmp/p/kcore"],
        ["module", "insmod /bin/busybox"],
        ["mknod_disk", "mknod /tmp/disk b 254 0 && head -c 1 /tmp/disk"],
        ["kmsg", "head -c 1 /dev/kmsg"],
        ["sysfs_write", "mkdir -p /tmp/s && mount -t sysfs s /tmp/s && echo 1 > /tmp/s/kernel/mm/ksm/run"],
        ["userns_map_host_root", "unshare -U -r sh -c 'echo c > /proc/sys/kernel/core_pattern'"],
        ["chroot", "chroot / true"],
      ]),
    ].join("\n");
    const b = privileged(script);
    const before = readFileSync("/proc/sys/kernel/core_pattern", "utf8");
    const r = await run(b);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("0");
    expect(lines[1]!.trim().split(/\s+/).map(Number)[1]).toBeGreaterThanOrEqual(0x40000000);
    expect(lines.slice(2)).toEqual([
      "core_pattern=refused",
      "sysrq=refused",
      "fresh_proc=refused",
      "kcore=refused",
      "module=refused",
      "mknod_disk=refused",
      "kmsg=refused",
      "sysfs_write=refused",
      "userns_map_host_root=refused",
      "chroot=refused",
    ]);
    expect(readFileSync("/proc/sys/kernel/core_pattern", "utf8")).toBe(before);
  });

  it("without CAP_SYS_ADMIN the same calls are refused, as Docker's default profile refuses them", async () => {
    const b = makeBundle({
      args: ["/bin/sh", "-c", steps([["tmpfs", "mkdir -p /tmp/m && mount -t tmpfs t /tmp/m"], ["hostname", "hostname x"], ["unshare", "unshare -n true"]])],
      name: "unprivileged",
    });
    made.push(b);
    const r = await run(b);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["tmpfs=refused", "hostname=refused", "unshare=refused"]);
  });
});
