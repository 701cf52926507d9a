// An OCI bundle's mount plan: config.json's mount options split into flags, propagation and
// data; mount points resolved inside the rootfs as the container sees it (symlinks never lead
// out of it); the records that build the tree up to pivot_root, with the policy on top.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { thrown } from "../../helpers/thrown.js";

import type { OciConfigDoc } from "../../../runsc/oci/config.js";
import { OciConfigError, parseOciConfig } from "../../../runsc/oci/config.js";
import { parseMountOptions, planBundleMounts, resolveInRoot } from "../../../runsc/oci/mounts.js";
import { STAGING_DIR as STAGING } from "../../../runsc/runtimeDir.js";

const NEW_ROOT = `${STAGING}/root`;
import type { PlanInput } from "../../../runsc/oci/mounts.js";
import type { InitRecord } from "../../../runsc/sandbox/initConfig.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";

// include/uapi/linux/mount.h, written out.
const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_UNBINDABLE = 1 << 17;
const MS_PRIVATE = 1 << 18;
const MS_SLAVE = 1 << 19;
const MS_SHARED = 1 << 20;
const MS_STRICTATIME = 1 << 24;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOUNT_ATTR_NOEXEC = 0x8;
const MOUNT_ATTR_NOATIME = 0x10;
const MOUNT_ATTR_STRICTATIME = 0x20;
const MOUNT_ATTR__ATIME = 0x70;

const FIXTURES = join(__dirname, "../../fixtures/oci");
const DOCKER = readFileSync(join(FIXTURES, "docker-config.json"), "utf8");
const CONTAINER_POLICY: Policy = loadPolicyFile(join(defaultPoliciesDir(), "container.yaml"));
const MASK = "/run/runsc-ts/.masked";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "runsc-ts-ocimounts-"));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("parseMountOptions", () => {
  it("turns flag options into mount(2) flags and mount_setattr attributes", () => {
    const o = parseMountOptions(["ro", "nosuid", "nodev", "noexec", "strictatime"], "mounts[0].options");
    expect(o.flags).toBe(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_STRICTATIME);
    expect(o.attr).toBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_STRICTATIME);
    // An access-time mode replaces the field's value: mount_setattr wants the field cleared with it.
    expect(o.clearAttr).toBe(MOUNT_ATTR__ATIME);
    expect(o).toMatchObject({ recursiveAttr: 0, recursiveClearAttr: 0 });
    expect(o).toMatchObject({ bind: false, recursive: false, propagation: [], data: "" });
  });

  it("lets a later rw undo an earlier ro, and the other way round", () => {
    const rw = parseMountOptions(["ro", "nosuid", "rw"], "f");
    expect(rw.flags).toBe(MS_NOSUID);
    expect(rw.attr).toBe(MOUNT_ATTR_NOSUID);
    // A bind must clear the read-only attribute it may have inherited.
    expect(rw.clearAttr).toBe(MOUNT_ATTR_RDONLY);
    const ro = parseMountOptions(["rw", "ro"], "f");
    expect(ro.flags).toBe(MS_RDONLY);
    expect(ro.attr).toBe(MOUNT_ATTR_RDONLY);
    expect(ro.clearAttr).toBe(0);
  });

  it("tells bind from rbind", () => {
    expect(parseMountOptions(["bind"], "f")).toMatchObject({ bind: true, recursive: false, flags: 0 });
    expect(parseMountOptions(["rbind"], "f")).toMatchObject({ bind: true, recursive: true, flags: 0 });
    // rbind anywhere makes the bind recursive.
    expect(parseMountOptions(["rbind", "bind"], "f")).toMatchObject({ bind: true, recursive: true });
  });

  it.each([
    ["private", MS_PRIVATE],
    ["rprivate", MS_PRIVATE | MS_REC],
    ["shared", MS_SHARED],
    ["rshared", MS_SHARED | MS_REC],
    ["slave", MS_SLAVE],
    ["rslave", MS_SLAVE | MS_REC],
    ["unbindable", MS_UNBINDABLE],
    ["runbindable", MS_UNBINDABLE | MS_REC],
  ])("reads propagation %s", (option, flags) => {
    const o = parseMountOptions(["rbind", option], "f");
    expect(o.propagation).toEqual([flags]);
    expect(o.flags).toBe(0);
    expect(o.data).toBe("");
  });

  it("keeps several propagation options in order", () => {
    expect(parseMountOptions(["rshared", "private"], "f").propagation).toEqual([MS_SHARED | MS_REC, MS_PRIVATE]);
  });

  it("passes the filesystem's own options on as data, in their order", () => {
    const o = parseMountOptions(["nosuid", "mode=755", "strictatime", "size=65536k"], "f");
    expect(o.data).toBe("mode=755,size=65536k");
    expect(o.flags).toBe(MS_NOSUID | MS_STRICTATIME);
    expect(parseMountOptions(["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"], "f").data).toBe("newinstance,ptmxmode=0666,mode=0620,gid=5");
  });

  it("keeps the recursive forms (rro, rnosuid, …) apart from the plain ones, which change the mount itself only", () => {
    const o = parseMountOptions(["rbind", "ro", "rnosuid", "rnoexec", "rrw", "rnoatime"], "f");
    expect(o.attr).toBe(MOUNT_ATTR_RDONLY);
    expect(o.clearAttr).toBe(0);
    expect(o.recursiveAttr).toBe(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOATIME);
    expect(o.recursiveClearAttr).toBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR__ATIME);
    expect(o.flags).toBe(MS_RDONLY);
  });

  it("sets an access-time mode with the field cleared, the last one given winning", () => {
    expect(parseMountOptions(["noatime"], "f")).toMatchObject({ attr: MOUNT_ATTR_NOATIME, clearAttr: MOUNT_ATTR__ATIME });
    expect(parseMountOptions(["noatime", "strictatime"], "f")).toMatchObject({ attr: MOUNT_ATTR_STRICTATIME, clearAttr: MOUNT_ATTR__ATIME });
    expect(parseMountOptions(["strictatime", "relatime"], "f")).toMatchObject({ attr: 0, clearAttr: MOUNT_ATTR__ATIME });
  });

  it.each(["tmpcopyup", "idmap", "ridmap", "recursive", "rsync", "rmand"])("refuses %s, naming the field", (option) => {
    const err = thrown(() => parseMountOptions(["nosuid", option], "mounts[3].options"));
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toBe(`config.json: mounts[3].options: mount option "${option}" is not supported by runsc-ts`);
  });
});

describe("resolveInRoot", () => {
  let root: string;
  beforeEach(() => {
    root = join(tmp, "rootfs");
    mkdirSync(join(root, "etc"), { recursive: true });
    mkdirSync(join(root, "usr/lib"), { recursive: true });
  });

  it("returns a plain path as it is, without . and duplicate slashes", () => {
    expect(resolveInRoot(root, "/etc")).toBe("/etc");
    expect(resolveInRoot(root, "//usr/./lib/")).toBe("/usr/lib");
    expect(resolveInRoot(root, "/")).toBe("/");
  });

  it("follows an absolute symlink from the rootfs's root, not the host's", () => {
    symlinkSync("/etc", join(root, "proc"));
    expect(resolveInRoot(root, "/proc")).toBe("/etc");
    expect(resolveInRoot(root, "/proc/sys")).toBe("/etc/sys");
  });

  it("follows a relative symlink from its directory", () => {
    symlinkSync("../usr/lib", join(root, "etc/lib"));
    expect(resolveInRoot(root, "/etc/lib/x")).toBe("/usr/lib/x");
  });

  it("stops .. at the rootfs's root", () => {
    symlinkSync("../../../../etc", join(root, "usr/lib/up"));
    expect(resolveInRoot(root, "/usr/lib/up")).toBe("/etc");
    symlinkSync("../../..", join(root, "usr/top"));
    expect(resolveInRoot(root, "/usr/top/etc")).toBe("/etc");
    expect(resolveInRoot(root, "/../../etc")).toBe("/etc");
  });

  it("follows a chain of symlinks", () => {
    symlinkSync("/b", join(root, "a"));
    symlinkSync("c/d", join(root, "b"));
    mkdirSync(join(root, "c"));
    symlinkSync("/usr/lib", join(root, "c/d"));
    expect(resolveInRoot(root, "/a/file")).toBe("/usr/lib/file");
  });

  it("refuses a symlink loop", () => {
    symlinkSync("/loop2", join(root, "loop1"));
    symlinkSync("loop1", join(root, "loop2"));
    expect(() => resolveInRoot(root, "/loop1/x")).toThrow(/too many levels of symbolic links/);
  });

  it("stops .. at the rootfs's root beneath a component that does not exist", () => {
    symlinkSync("nothere/../../../../../etc", join(root, "a"));
    expect(resolveInRoot(root, "/a/x")).toBe("/etc/x");
    expect(resolveInRoot(root, "/missing/../../../../host")).toBe("/host");
  });

  it("keeps the components that do not exist yet", () => {
    expect(resolveInRoot(root, "/etc/missing/deeper")).toBe("/etc/missing/deeper");
    symlinkSync("/run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf"));
    expect(resolveInRoot(root, "/etc/resolv.conf")).toBe("/run/systemd/resolve/stub-resolv.conf");
  });
});

describe("planBundleMounts", () => {
  let rootfs: string;
  let bundle: string;
  beforeEach(() => {
    bundle = join(tmp, "bundle");
    rootfs = join(bundle, "rootfs");
    mkdirSync(rootfs, { recursive: true });
  });

  const plan = (config: OciConfigDoc, policy: Policy = CONTAINER_POLICY, extra: Partial<PlanInput> = {}): InitRecord[] =>
    planBundleMounts({ config, bundle, rootfs, policy, maskFile: MASK, cgroupView: [], ...extra });

  /** The smallest valid config, with `patch` on top. */
  const minimal = (patch: Record<string, unknown> = {}): OciConfigDoc =>
    parseOciConfig(JSON.stringify({ ociVersion: "1.0.2", root: { path: "rootfs" }, process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" }, ...patch }), "config.json");

  const mountsOn = (r: readonly InitRecord[], target: string): InitRecord[] => r.filter((x) => x.op === "mount" && x.target === target);

  it("starts with a private tree, the staging tmpfs and the rootfs bound onto the new root, nodev", () => {
    const r = plan(parseOciConfig(DOCKER, "config.json"));
    expect(r.slice(0, 7)).toEqual([
      { op: "maskSource", path: MASK },
      { op: "mount", source: "", target: "/", fstype: "", flags: MS_REC | MS_PRIVATE, data: "" },
      { op: "mount", source: "tmpfs", target: STAGING, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=0700,size=8m" },
      { op: "mkdir", path: NEW_ROOT, mode: 0o755 },
      { op: "mount", source: rootfs, target: NEW_ROOT, fstype: "", flags: MS_BIND | MS_REC, data: "" },
      { op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_NODEV, clear: 0, recursive: true },
      { op: "mount", source: "", target: NEW_ROOT, fstype: "", flags: MS_PRIVATE | MS_REC, data: "" },
    ]);
    expect(r.at(-1)).toEqual({ op: "pivot", root: NEW_ROOT });
  });

  it("mounts each of config.json's mounts in the new root", () => {
    const config = parseOciConfig(DOCKER, "config.json");
    const r = plan(config);
    for (const m of config.mounts ?? []) {
      expect(mountsOn(r, `${NEW_ROOT}${m.destination}`).length, m.destination).toBeGreaterThan(0);
    }
    expect(mountsOn(r, `${NEW_ROOT}/proc`)).toEqual([{ op: "mount", source: "proc", target: `${NEW_ROOT}/proc`, fstype: "proc", flags: MS_NOSUID | MS_NOEXEC | MS_NODEV, data: "" }]);
    expect(mountsOn(r, `${NEW_ROOT}/dev`)).toEqual([
      { op: "mount", source: "tmpfs", target: `${NEW_ROOT}/dev`, fstype: "tmpfs", flags: MS_NOSUID | MS_STRICTATIME, data: "mode=755,size=65536k" },
    ]);
    // Read-only applied after the mount, not with it.
    const sys = r.findIndex((x) => x.op === "mount" && x.target === `${NEW_ROOT}/sys`);
    expect(r[sys]).toMatchObject({ fstype: "sysfs", flags: MS_NOSUID | MS_NOEXEC | MS_NODEV });
    expect(r[sys + 1]).toEqual({ op: "setattr", path: `${NEW_ROOT}/sys`, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false });
    // The bind: recursive, nosuid by default, then its propagation.
    const hosts = config.mounts!.find((m) => m.destination === "/etc/hosts")!;
    const i = r.findIndex((x) => x.op === "mount" && x.target === `${NEW_ROOT}/etc/hosts`);
    expect(r.slice(i, i + 3)).toEqual([
      { op: "mount", source: hosts.source, target: `${NEW_ROOT}/etc/hosts`, fstype: "", flags: MS_BIND | MS_REC, data: "" },
      { op: "setattr", path: `${NEW_ROOT}/etc/hosts`, set: MOUNT_ATTR_NOSUID, clear: 0, recursive: true },
      { op: "mount", source: "", target: `${NEW_ROOT}/etc/hosts`, fstype: "", flags: MS_PRIVATE | MS_REC, data: "" },
    ]);
  });

  it("makes each mount point before its mount, every one after the root is named to init", () => {
    const r = plan(parseOciConfig(DOCKER, "config.json"));
    // init makes the parents, inside the root as mounted by then.
    const mkdir = r.findIndex((x) => x.op === "mkdir" && x.path === `${NEW_ROOT}/sys/fs/cgroup`);
    const mount = r.findIndex((x) => x.op === "mount" && x.target === `${NEW_ROOT}/sys/fs/cgroup`);
    expect(mkdir).toBeGreaterThan(0);
    expect(mkdir).toBeLessThan(mount);
    const root = r.findIndex((x) => x.op === "root");
    expect(r[root]).toEqual({ op: "root", path: NEW_ROOT });
    const beneath = (p: string): boolean => p.startsWith(`${NEW_ROOT}/`);
    const first = r.findIndex((x) => ("path" in x && typeof x.path === "string" && beneath(x.path)) || ("target" in x && typeof x.target === "string" && beneath(x.target)) || (x.op === "symlink" && beneath(x.link)));
    expect(root).toBeLessThan(first);
    // The root itself is mounted before it is named.
    expect(r.findIndex((x) => x.op === "mount" && x.target === NEW_ROOT)).toBeLessThan(root);
  });

  it("binds the default devices into the config's /dev", () => {
    const r = plan(parseOciConfig(DOCKER, "config.json"));
    for (const d of ["null", "zero", "full", "random", "urandom", "tty"]) {
      expect(r).toContainEqual({ op: "mount", source: `/dev/${d}`, target: `${NEW_ROOT}/dev/${d}`, fstype: "", flags: MS_BIND, data: "" });
    }
    expect(r).toContainEqual({ op: "symlink", target: "/proc/self/fd", link: `${NEW_ROOT}/dev/fd` });
    expect(r).toContainEqual({ op: "symlink", target: "pts/ptmx", link: `${NEW_ROOT}/dev/ptmx` });
  });

  it("hides maskedPaths and makes readonlyPaths read-only", () => {
    const config = parseOciConfig(DOCKER, "config.json");
    const r = plan(config);
    const hidden = r.filter((x) => x.op === "hide").map((x) => (x.op === "hide" ? x.path : ""));
    expect(hidden.slice(0, config.linux!.maskedPaths!.length)).toEqual(config.linux!.maskedPaths!.map((p) => `${NEW_ROOT}${p}`));
    for (const p of config.linux!.readonlyPaths!) {
      const target = `${NEW_ROOT}${p}`;
      const i = r.findIndex((x) => x.op === "mount" && x.target === target);
      expect(r.slice(i, i + 2), p).toEqual([
        { op: "mount", source: target, target, fstype: "", flags: MS_BIND | MS_REC, data: "", optional: true },
        { op: "setattr", path: target, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, clear: 0, recursive: true, optional: true },
      ]);
    }
  });

  describe("a floor no config lowers", () => {
    const RO = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    const hiddenOf = (r: readonly InitRecord[]): string[] => r.flatMap((x) => (x.op === "hide" ? [x.path] : []));
    const readonlyOf = (r: readonly InitRecord[]): string[] => r.flatMap((x) => (x.op === "setattr" && (x.set & MOUNT_ATTR_RDONLY) !== 0 ? [x.path] : []));
    const writableAgain = (r: readonly InitRecord[]): string[] => r.flatMap((x) => (x.op === "setattr" && (x.clear & MOUNT_ATTR_RDONLY) !== 0 ? [x.path] : []));
    /** Docker's --privileged: proc and a read-write sysfs, no maskedPaths, no readonlyPaths. */
    const sloppy = (patch: Record<string, unknown> = {}): OciConfigDoc =>
      minimal({
        mounts: [
          { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
          { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "rw"] },
        ],
        ...patch,
      });

    it("masks the host-global /proc and /sys entries and makes /proc/sys, sysrq-trigger and sysfs read-only without maskedPaths or readonlyPaths", () => {
      const r = plan(sloppy());
      expect(hiddenOf(r)).toEqual(expect.arrayContaining(["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"].map((p) => `${NEW_ROOT}${p}`)));
      expect(readonlyOf(r)).toEqual(expect.arrayContaining(["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/sys"].map((p) => `${NEW_ROOT}${p}`)));
      const sys = r.findIndex((x) => x.op === "setattr" && x.path === `${NEW_ROOT}/proc/sys`);
      expect(r[sys]).toMatchObject({ set: RO, recursive: true });
    });

    it("applies to a procfs mounted anywhere, not only on /proc", () => {
      const r = plan(minimal({ mounts: [{ destination: "/host/proc", type: "proc", source: "proc" }] }));
      expect(hiddenOf(r)).toContain(`${NEW_ROOT}/host/proc/kcore`);
      expect(readonlyOf(r)).toContain(`${NEW_ROOT}/host/proc/sys`);
    });

    it("keeps the config's own lists, once each", () => {
      const r = plan(sloppy({ linux: { maskedPaths: ["/proc/kcore", "/etc/secret"], readonlyPaths: ["/proc/sys"] } }));
      expect(hiddenOf(r).filter((p) => p === `${NEW_ROOT}/proc/kcore`)).toHaveLength(1);
      expect(hiddenOf(r)).toContain(`${NEW_ROOT}/etc/secret`);
      expect(readonlyOf(r).filter((p) => p === `${NEW_ROOT}/proc/sys`)).toHaveLength(1);
    });

    it("leaves /proc/sys/net writable only for a network namespace of the container's own, where the config leaves /proc/sys writable", () => {
      const own = plan(sloppy(), CONTAINER_POLICY, { ownNetwork: true });
      expect(writableAgain(own)).toEqual([`${NEW_ROOT}/proc/sys/net`]);
      // After /proc/sys is made read-only, so the net entries are a mount of their own above it.
      const ro = own.findIndex((x) => x.op === "setattr" && x.path === `${NEW_ROOT}/proc/sys`);
      const rw = own.findIndex((x) => x.op === "setattr" && x.path === `${NEW_ROOT}/proc/sys/net`);
      expect(ro).toBeLessThan(rw);
      expect(writableAgain(plan(sloppy(), CONTAINER_POLICY, { ownNetwork: false }))).toEqual([]);
      expect(writableAgain(plan(sloppy({ linux: { readonlyPaths: ["/proc/sys"] } }), CONTAINER_POLICY, { ownNetwork: true }))).toEqual([]);
    });

    it("makes a bind of the host's /proc or /sys read-only, whatever its options say", () => {
      const r = plan(
        minimal({
          mounts: [
            { destination: "/hostsys", type: "bind", source: "/proc/sys", options: ["rbind", "rw"] },
            { destination: "/hostfs", type: "bind", source: "/sys/fs", options: ["bind", "rw"] },
            { destination: "/data", type: "bind", source: bundle, options: ["rbind", "rw"] },
          ],
        }),
      );
      for (const d of ["/hostsys", "/hostfs"]) {
        const set = r.find((x) => x.op === "setattr" && x.path === `${NEW_ROOT}${d}`);
        expect(set, d).toMatchObject({ recursive: true });
        expect(set?.op === "setattr" && (set.set & MOUNT_ATTR_RDONLY) !== 0, d).toBe(true);
      }
      const data = r.find((x) => x.op === "setattr" && x.path === `${NEW_ROOT}/data`);
      expect(data?.op === "setattr" && (data.set & MOUNT_ATTR_RDONLY) === 0).toBe(true);
    });
  });

  it("writes sysctls under the new root's /proc/sys", () => {
    const r = plan(parseOciConfig(DOCKER, "config.json"));
    expect(r.filter((x) => x.op === "sysctl")).toEqual([
      { op: "sysctl", path: `${NEW_ROOT}/proc/sys/net/ipv4/ip_unprivileged_port_start`, value: "0" },
      { op: "sysctl", path: `${NEW_ROOT}/proc/sys/net/ipv4/ping_group_range`, value: "0 2147483647" },
    ]);
    // Before /proc/sys is made read-only.
    const sysctl = r.findIndex((x) => x.op === "sysctl");
    const ro = r.findIndex((x) => x.op === "setattr" && x.path === `${NEW_ROOT}/proc/sys`);
    expect(sysctl).toBeLessThan(ro);
  });

  it("refuses a sysctl name that could leave /proc/sys", () => {
    const err = thrown(() => plan(minimal({ linux: { sysctl: { "net/../../x": "1" } } })));
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toMatch(/^config.json: linux.sysctl: "net\/..\/..\/x" is not a sysctl name$/);
  });

  it("makes the root read-only last, before pivot, when config.json says so", () => {
    const config = parseOciConfig(DOCKER, "config.json");
    expect(plan(config).some((x) => x.op === "setattr" && x.path === NEW_ROOT && (x.set & MOUNT_ATTR_RDONLY) !== 0)).toBe(false);
    config.root.readonly = true;
    expect(plan(config).slice(-2)).toEqual([
      { op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false },
      { op: "pivot", root: NEW_ROOT },
    ]);
  });

  it("makes the root read-only when the policy's root is readonly", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, root: "readonly" } };
    expect(plan(minimal(), policy).slice(-2)).toEqual([
      { op: "setattr", path: NEW_ROOT, set: MOUNT_ATTR_RDONLY, clear: 0, recursive: false },
      { op: "pivot", root: NEW_ROOT },
    ]);
  });

  it("names destinations as the container sees them: init resolves the image's symlinks inside the root when it mounts", () => {
    mkdirSync(join(rootfs, "etc"));
    symlinkSync("/run/systemd/resolve/stub-resolv.conf", join(rootfs, "etc/resolv.conf"));
    symlinkSync("/etc", join(rootfs, "proc"));
    const r = plan(parseOciConfig(DOCKER, "config.json"));
    // Resolved here, /proc/sys would be the image's /etc/sys, not the fresh procfs's.
    expect(mountsOn(r, `${NEW_ROOT}/proc`)[0]).toMatchObject({ fstype: "proc" });
    expect(mountsOn(r, `${NEW_ROOT}/proc/sys`)[0]).toMatchObject({ source: `${NEW_ROOT}/proc/sys`, flags: MS_BIND | MS_REC });
    expect(mountsOn(r, `${NEW_ROOT}/etc/resolv.conf`)).toHaveLength(2);
    expect(mountsOn(r, `${NEW_ROOT}/run/systemd/resolve/stub-resolv.conf`)).toEqual([]);
    // No mount point anywhere outside the new root.
    for (const x of r) {
      if (x.op === "mount" && x.target !== "/" && x.target !== STAGING) expect(x.target.startsWith(NEW_ROOT), x.target).toBe(true);
      if (x.op === "mkdir" || x.op === "mkfile") expect(x.path.startsWith(NEW_ROOT), x.path).toBe(true);
    }
  });

  it("makes a file mount point for a file source, a directory for a directory", () => {
    writeFileSync(join(bundle, "hosts.txt"), "127.0.0.1 localhost\n");
    mkdirSync(join(bundle, "data"));
    const r = plan(
      minimal({
        mounts: [
          { destination: "/etc/hosts", type: "bind", source: "hosts.txt", options: ["bind", "ro"] },
          { destination: "/data", source: "data", options: ["rbind"] },
        ],
      }),
    );
    // A relative source is the bundle's.
    expect(mountsOn(r, `${NEW_ROOT}/etc/hosts`)).toEqual([{ op: "mount", source: join(bundle, "hosts.txt"), target: `${NEW_ROOT}/etc/hosts`, fstype: "", flags: MS_BIND, data: "" }]);
    expect(r).toContainEqual({ op: "mkfile", path: `${NEW_ROOT}/etc/hosts`, mode: 0o644 });
    expect(r).toContainEqual({ op: "setattr", path: `${NEW_ROOT}/etc/hosts`, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: 0, recursive: false });
    expect(mountsOn(r, `${NEW_ROOT}/data`)).toEqual([{ op: "mount", source: join(bundle, "data"), target: `${NEW_ROOT}/data`, fstype: "", flags: MS_BIND | MS_REC, data: "" }]);
    expect(r).toContainEqual({ op: "mkdir", path: `${NEW_ROOT}/data`, mode: 0o755 });
  });

  it("leaves a bind suid when the config asks for it", () => {
    mkdirSync(join(bundle, "data"));
    const r = plan(minimal({ mounts: [{ destination: "/data", type: "bind", source: "data", options: ["bind", "suid"] }] }));
    expect(r).toContainEqual({ op: "setattr", path: `${NEW_ROOT}/data`, set: 0, clear: MOUNT_ATTR_NOSUID, recursive: false });
  });

  it("hides a path the policy says none to", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, rules: [{ path: "/etc/secret", access: "none" }] } };
    expect(plan(minimal(), policy)).toContainEqual({ op: "hide", path: `${NEW_ROOT}/etc/secret` });
  });

  it("makes a path the policy says read to read-only", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, rules: [{ path: "/srv/**", access: "read" }] } };
    const r = plan(minimal(), policy);
    expect(r).toContainEqual({ op: "setattr", path: `${NEW_ROOT}/srv`, set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: 0, recursive: true, optional: true });
  });

  it("gives a private /tmp when the policy asks for one", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, tmp: true } };
    expect(mountsOn(plan(minimal(), policy), `${NEW_ROOT}/tmp`)).toEqual([
      { op: "mount", source: "tmpfs", target: `${NEW_ROOT}/tmp`, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV, data: "mode=1777" },
    ]);
  });

  it("attaches the overlay passed to init as the root under a policy whose root is an overlay, and needs it", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, root: "overlay" } };
    expect(() => plan(minimal(), policy)).toThrow(/needs the overlay mount passed to init/);
    const r = planBundleMounts({ config: minimal(), bundle, rootfs, policy, maskFile: "/run/mask", cgroupView: [], overlay: 0 });
    expect(r).toContainEqual({ op: "attach", index: 0, path: NEW_ROOT });
    expect(r.some((x) => x.op === "mount" && x.source === rootfs)).toBe(false);
  });

  it("expands a policy's glob against the rootfs: only the paths it matches there are hidden", () => {
    mkdirSync(join(rootfs, "etc"), { recursive: true });
    for (const f of ["a.key", "b.key", "c.txt"]) writeFileSync(join(rootfs, "etc", f), "");
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, rules: [{ path: "/etc/*.key", access: "none" }] } };
    const hidden = plan(minimal(), policy).filter((x) => x.op === "hide" && x.path.startsWith(`${NEW_ROOT}/etc`));
    expect(hidden.map((x) => (x as { path: string }).path).sort()).toEqual([`${NEW_ROOT}/etc/a.key`, `${NEW_ROOT}/etc/b.key`]);
  });

  it("binds the policy's synthetic files read-only over their paths, made in the rootfs when missing", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, files: [{ path: "/etc/motd", content: "hi\n" }] } };
    const r = plan(minimal(), policy);
    expect(r).toContainEqual({ op: "writefile", path: `${STAGING}/files/0`, mode: 0o444, content: Buffer.from("hi\n") });
    expect(r).toContainEqual({ op: "mkfile", path: `${NEW_ROOT}/etc/motd`, mode: 0o644 });
    expect(r).toContainEqual({ op: "mount", source: `${STAGING}/files/0`, target: `${NEW_ROOT}/etc/motd`, fstype: "", flags: MS_BIND, data: "" });
    const i = r.findIndex((x) => x.op === "mount" && x.target === `${NEW_ROOT}/etc/motd`);
    expect(r[i + 1]).toMatchObject({ op: "setattr", path: `${NEW_ROOT}/etc/motd`, recursive: false });
  });

  it("refuses a policy rule hiding the whole root", () => {
    const policy: Policy = { ...CONTAINER_POLICY, filesystem: { ...CONTAINER_POLICY.filesystem, rules: [{ path: "/**", access: "none" }] } };
    expect(() => plan(minimal(), policy)).toThrow(/would hide the container's whole root/);
  });

  it("refuses a bind mount without a source, naming the field", () => {
    const err = thrown(() => plan(minimal({ mounts: [{ destination: "/proc", type: "proc" }, { destination: "/data", type: "bind", options: ["rbind"] }] })));
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toBe("config.json: mounts[1].source: missing (a bind mount needs one)");
  });

  it("refuses a mount with neither type nor bind", () => {
    expect(() => plan(minimal({ mounts: [{ destination: "/x", source: "none" }] }))).toThrow("config.json: mounts[0].type: missing (and the options do not say bind)");
  });

  it("names the mount of an unsupported option", () => {
    expect(() => plan(minimal({ mounts: [{ destination: "/x", type: "tmpfs", options: ["tmpcopyup"] }] }))).toThrow('config.json: mounts[0].options: mount option "tmpcopyup" is not supported by runsc-ts');
  });

  it("shows a cgroup v1 view as read-only binds on a tmpfs", () => {
    const view: PlanInput["cgroupView"] = [{ mount: { point: "/sys/fs/cgroup/memory", root: "/", fstype: "cgroup", options: ["memory"] }, dir: "/sys/fs/cgroup/memory/runsc-ts/c1" }];
    const r = plan(parseOciConfig(DOCKER, "config.json"), CONTAINER_POLICY, { cgroupView: view });
    expect(mountsOn(r, `${NEW_ROOT}/sys/fs/cgroup`)).toEqual([
      { op: "mount", source: "tmpfs", target: `${NEW_ROOT}/sys/fs/cgroup`, fstype: "tmpfs", flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: "mode=755" },
    ]);
    expect(mountsOn(r, `${NEW_ROOT}/sys/fs/cgroup/memory`)).toEqual([
      { op: "mount", source: "/sys/fs/cgroup/memory/runsc-ts/c1", target: `${NEW_ROOT}/sys/fs/cgroup/memory`, fstype: "", flags: MS_BIND, data: "" },
    ]);
    expect(r).toContainEqual({ op: "setattr", path: `${NEW_ROOT}/sys/fs/cgroup`, set: 0xf, clear: 0, recursive: true });
  });

  it("shows a cgroup v2 view as the container's group, read-only", () => {
    const view: PlanInput["cgroupView"] = [{ mount: { point: "/sys/fs/cgroup", root: "/", fstype: "cgroup2", options: [] }, dir: "/sys/fs/cgroup/runsc-ts/c1" }];
    const r = plan(parseOciConfig(DOCKER, "config.json"), CONTAINER_POLICY, { cgroupView: view });
    expect(mountsOn(r, `${NEW_ROOT}/sys/fs/cgroup`)).toEqual([
      { op: "mount", source: "/sys/fs/cgroup/runsc-ts/c1", target: `${NEW_ROOT}/sys/fs/cgroup`, fstype: "", flags: MS_BIND, data: "" },
    ]);
    expect(r).toContainEqual({ op: "setattr", path: `${NEW_ROOT}/sys/fs/cgroup`, set: 0xf, clear: 0, recursive: true });
  });

  it("binds the terminal onto /dev/console", () => {
    const r = plan(parseOciConfig(DOCKER, "config.json"), CONTAINER_POLICY, { console: "/dev/pts/7" });
    expect(mountsOn(r, `${NEW_ROOT}/dev/console`)).toEqual([{ op: "mount", source: "/dev/pts/7", target: `${NEW_ROOT}/dev/console`, fstype: "", flags: MS_BIND, data: "" }]);
  });

  it("keeps mounts slave when rootfsPropagation asks for it", () => {
    const r = plan(minimal({ linux: { rootfsPropagation: "rslave" } }));
    expect(r[1]).toEqual({ op: "mount", source: "", target: "/", fstype: "", flags: MS_REC | MS_SLAVE, data: "" });
    expect(r[6]).toEqual({ op: "mount", source: "", target: NEW_ROOT, fstype: "", flags: MS_SLAVE | MS_REC, data: "" });
  });
});
