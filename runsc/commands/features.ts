// `runsc-ts features`: what this runtime implements, in the shape of `runc features`
// (runtime-spec features.md), for engines that ask before they build a config.json.
import { Command } from "commander";
import { writeFully } from "../write.js";
import { CAPABILITIES } from "../oci/process.js";

// The mount flags and propagation types of runc's option parser, the set a bundle's
// mounts[].options may use beyond filesystem-specific data such as mode=.
const MOUNT_OPTIONS = [
  "acl", "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion",
  "lazytime", "loud", "mand", "noacl", "noatime", "nodev", "nodiratime", "noexec", "noiversion",
  "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private",
  "ratime", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec", "rnoatime", "rnodev",
  "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "rnosymfollow", "ro",
  "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid",
  "rsymfollow", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid",
  "symfollow", "sync", "tmpcopyup", "unbindable",
];


export function features() {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: "1.1.0",
    hooks: ["prestart", "createRuntime", "poststart", "poststop"],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
      capabilities: CAPABILITIES,
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        // What sentry/policy/oci.ts translates; SCMP_ACT_NOTIFY it refuses.
        actions: ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
        operators: ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        archs: ["SCMP_ARCH_X86_64"],
        knownFlags: [] as string[],
        supportedFlags: [] as string[],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
    },
    annotations: {
      "org.opencontainers.runc.checkpoint.enabled": "false",
      "dev.runsc-ts.version": "0.1.0",
      "dev.runsc-ts.policy.annotation": "dev.runsc-ts.policy",
    },
  };
}

export function featuresCommand(): Command {
  return new Command("features")
    .description("show the enabled features, as JSON")
    .action(() => {
      // Indented as runc indents it, so the two outputs compare line by line.
      writeFully(1, JSON.stringify(features(), null, 4) + "\n");
    });
}
