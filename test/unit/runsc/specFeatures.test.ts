// `runsc-ts spec` writes runc's starter config.json, which runsc-ts itself accepts;
// `runsc-ts features` announces no less than what that config uses.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { features } from "../../../runsc/commands/features.js";
import { defaultSpec, specCommand } from "../../../runsc/commands/spec.js";
import { UsageError } from "../../../runsc/errors.js";
import { parseOciConfig } from "../../../runsc/oci/config.js";
import { ociDecisions } from "../../../sentry/policy/oci.js";

const MODES = [{ rootless: false }, { rootless: true }];

function runSpec(...args: string[]): Promise<unknown> {
  return specCommand().exitOverride().parseAsync(args, { from: "user" });
}

describe("defaultSpec", () => {
  it.each(MODES)("passes parseOciConfig (%o)", (mode) => {
    const c = parseOciConfig(JSON.stringify(defaultSpec(mode)), "config.json");
    expect(c.ociVersion).toBe("1.0.2");
    expect(c.process?.args).toEqual(["sh"]);
    expect(c.root).toEqual({ path: "rootfs", readonly: true });
    expect(c.mounts?.map((m) => m.destination)).toEqual(expect.arrayContaining(["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]));
  });

  it("is runc's default: every namespace but user, deny-all devices, no id mappings", () => {
    const c = parseOciConfig(JSON.stringify(defaultSpec({ rootless: false })), "config.json");
    expect(c.linux?.namespaces?.map((n) => n.type)).toEqual(["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    expect(c.linux?.resources?.devices).toEqual([{ allow: false, access: "rwm" }]);
    expect(c.linux?.uidMappings).toBeUndefined();
    expect(c.mounts?.find((m) => m.destination === "/sys")?.type).toBe("sysfs");
    expect(c.mounts?.find((m) => m.destination === "/dev/pts")?.options).toContain("gid=5");
    expect(c.mounts?.some((m) => m.type === "cgroup")).toBe(true);
  });

  it("maps only the caller in rootless mode, without network namespace, cgroup mount or resources", () => {
    const c = parseOciConfig(JSON.stringify(defaultSpec({ rootless: true })), "config.json");
    const types = c.linux?.namespaces?.map((n) => n.type);
    expect(types).toContain("user");
    expect(types).not.toContain("network");
    expect(c.linux?.uidMappings).toEqual([{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
    expect(c.linux?.gidMappings).toEqual([{ containerID: 0, hostID: process.getegid!(), size: 1 }]);
    expect(c.linux?.resources).toBeUndefined();
    expect(c.mounts?.find((m) => m.destination === "/sys")).toEqual({ destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] });
    expect(c.mounts?.some((m) => m.type === "cgroup")).toBe(false);
    expect(c.mounts?.flatMap((m) => m.options ?? []).filter((o) => /^[ug]id=/.test(o))).toEqual([]);
  });
});

describe("spec", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "runsc-ts-spec-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes config.json into the bundle, 2-space indented with a final newline", async () => {
    await runSpec("--bundle", dir);
    const text = readFileSync(join(dir, "config.json"), "utf8");
    expect(text).toBe(JSON.stringify(defaultSpec({ rootless: false }), null, 2) + "\n");
  });

  it("writes the rootless variant with --rootless", async () => {
    await runSpec("-b", dir, "--rootless");
    const c = parseOciConfig(readFileSync(join(dir, "config.json"), "utf8"), "config.json");
    expect(c.linux?.namespaces?.map((n) => n.type)).toContain("user");
  });

  it("refuses to overwrite an existing config.json", async () => {
    writeFileSync(join(dir, "config.json"), "mine\n");
    await expect(runSpec("--bundle", dir)).rejects.toThrow(new UsageError("File config.json exists. Remove it first."));
    expect(readFileSync(join(dir, "config.json"), "utf8")).toBe("mine\n");
  });

  it("names a bundle directory that does not exist", async () => {
    await expect(runSpec("--bundle", join(dir, "missing"))).rejects.toBeInstanceOf(UsageError);
  });
});

describe("features", () => {
  const f = features();

  it("has the shape of runc features", () => {
    expect(Object.keys(f)).toEqual(["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations"]);
    expect(f.ociVersionMin).toBe("1.0.0");
    expect(f.ociVersionMax).toBe("1.1.0");
    expect(f.hooks).toEqual(["prestart", "createRuntime", "poststart", "poststop"]);
    expect(f.mountOptions).toEqual(expect.arrayContaining(["bind", "rbind", "ro", "rro", "nosuid", "rprivate", "tmpcopyup"]));
    expect(f.linux.capabilities).toHaveLength(41);
    expect(f.linux.capabilities.at(-1)).toBe("CAP_CHECKPOINT_RESTORE");
    expect([...f.linux.namespaces].sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
    expect(f.linux.cgroup).toEqual({ v1: true, v2: true, systemd: false, systemdUser: false });
    expect(f.linux.seccomp).toMatchObject({ enabled: true, archs: ["SCMP_ARCH_X86_64"], knownFlags: [], supportedFlags: [] });
    expect([f.linux.apparmor, f.linux.selinux, f.linux.intelRdt]).toEqual([{ enabled: false }, { enabled: false }, { enabled: false }]);
    expect(f.annotations["org.opencontainers.runc.checkpoint.enabled"]).toBe("false");
    expect(f.annotations["dev.runsc-ts.policy.annotation"]).toBe("dev.runsc-ts.policy");
  });

  it("lists exactly the seccomp actions and operators the OCI translation accepts", () => {
    for (const action of f.linux.seccomp.actions) expect(() => ociDecisions({ defaultAction: action })).not.toThrow();
    expect(() => ociDecisions({ defaultAction: "SCMP_ACT_NOTIFY" })).toThrow();
    for (const op of f.linux.seccomp.operators) {
      expect(() => ociDecisions({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 1, op }] }] })).not.toThrow();
    }
  });

  it.each(MODES)("covers every capability and namespace of defaultSpec (%o)", (mode) => {
    const c = parseOciConfig(JSON.stringify(defaultSpec(mode)), "config.json");
    const caps = Object.values(c.process?.capabilities ?? {}).flat();
    expect(caps.length).toBeGreaterThan(0);
    for (const cap of caps) expect(f.linux.capabilities).toContain(cap);
    for (const ns of c.linux?.namespaces ?? []) expect(f.linux.namespaces).toContain(ns.type);
  });

  it.each(MODES)("covers every mount flag of defaultSpec (%o)", (mode) => {
    const c = parseOciConfig(JSON.stringify(defaultSpec(mode)), "config.json");
    // key=value options and devpts' newinstance are filesystem data, passed to mount(2) as is.
    const flags = (c.mounts ?? []).flatMap((m) => m.options ?? []).filter((o) => !o.includes("=") && o !== "newinstance");
    expect(flags.length).toBeGreaterThan(0);
    for (const o of flags) expect(f.mountOptions).toContain(o);
  });
});
