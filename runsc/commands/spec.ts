// `runsc-ts spec`: a starter config.json for a bundle, as `runc spec` writes it
// (libcontainer/specconv Example and ToRootless), so bundles made for runc run here too.
import { MASKED_PATHS, READONLY_PATHS } from "../sandbox/tree.js";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { UsageError } from "../errors.js";

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

interface Mount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** runc's default spec; `rootless` adapts it to an unprivileged caller as `runc spec --rootless` does. */
export function defaultSpec(opts: { rootless: boolean }) {
  const mounts: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
  ];
  const spec = {
    ociVersion: "1.0.2",
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "runsc-ts",
    mounts,
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((type) => ({ type })),
      // The paths every runsc-ts sandbox masks and makes read-only (`do` does too).
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (!opts.rootless) return spec;
  const { namespaces, maskedPaths, readonlyPaths } = spec.linux;
  return {
    ...spec,
    // sysfs cannot be mounted outside the host's network namespace, nor cgroupfs without
    // privilege: /sys comes from the host by a recursive bind, /sys/fs/cgroup with it.
    mounts: mounts
      .filter((m) => m.type !== "cgroup")
      .map((m) =>
        m.destination === "/sys"
          ? { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
          : // Only the caller's ids are mapped: uid=/gid= options would name unmapped ones.
            { ...m, options: m.options?.filter((o) => !/^[ug]id=/.test(o)) },
      ),
    // An unprivileged caller owns no network device, can map only itself (as root) and
    // cannot set cgroup limits: no network namespace, one-id mappings, no resources.
    linux: {
      uidMappings: [{ containerID: 0, hostID: process.geteuid!(), size: 1 }],
      gidMappings: [{ containerID: 0, hostID: process.getegid!(), size: 1 }],
      namespaces: [...namespaces.filter((n) => n.type !== "network"), { type: "user" }],
      maskedPaths,
      readonlyPaths,
    },
  };
}

export function specCommand(): Command {
  return new Command("spec")
    .description("create a new specification file (config.json) for a bundle")
    .option("-b, --bundle <dir>", "the bundle directory", ".")
    .option("--rootless", "generate a configuration for a rootless container", false)
    .action((flags: { bundle: string; rootless: boolean }) => {
      const file = join(resolve(flags.bundle), "config.json");
      try {
        // "wx": an existing config.json is never overwritten, even one created meanwhile.
        writeFileSync(file, JSON.stringify(defaultSpec({ rootless: flags.rootless }), null, 2) + "\n", { flag: "wx" });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw new UsageError("File config.json exists. Remove it first.");
        if (code === "ENOENT" || code === "ENOTDIR") throw new UsageError(`bundle ${flags.bundle}: no such directory`);
        throw err;
      }
    });
}
