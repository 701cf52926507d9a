// What of a container's filesystems is idmapped into its user namespace: a runtime's overlay
// read back from the mount table (its layers, a work directory of runsc-ts's own, the options
// kept), a directory's filesystem, and which containers get a namespace made for them.
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { idmapRoot, idmappable, idmappedSubmounts, parseMountinfo } from "../../../runsc/oci/idmapSources.js";
import { parseOciConfig } from "../../../runsc/oci/config.js";
import { ownUserNamespace } from "../../../runsc/oci/planBundle.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";

let tmp: string;
beforeEach(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "runsc-ts-idmap-")));
  mkdirSync(join(tmp, "ov", "c1", "merged"), { recursive: true });
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const line = (point: string, fstype: string, superOptions: string): string => `90 27 0:55 / ${point} rw,relatime - ${fstype} ${fstype} ${superOptions}`;

describe("mountinfo", () => {
  it("reads point, type and the filesystem's options, with escapes decoded", () => {
    expect(parseMountinfo(`${line("/a\\040b", "ext4", "rw")}\n\n${line("/", "overlay", "rw,lowerdir=/l")}`)).toEqual([
      { point: "/a b", fstype: "ext4", superOptions: "rw" },
      { point: "/", fstype: "overlay", superOptions: "rw,lowerdir=/l" },
    ]);
  });
});

describe("a runtime's overlay root", () => {
  it("its layers (top first), its upper layer, a work directory of runsc-ts's own beside the runtime's, and the options its layers keep", () => {
    const root = join(tmp, "ov", "c1", "merged");
    const opts = "rw,lowerdir=/l/top:/l/base,upperdir=/u/c1/diff,workdir=/u/c1/work,uuid=on,index=on,fsync=volatile,metacopy=on";
    expect(idmapRoot(root, parseMountinfo(line(root, "overlay", opts)))).toEqual({
      lower: ["/l/top", "/l/base"],
      upper: "/u/c1/diff",
      work: "/u/c1/runsc-ts-work",
      options: ["uuid=on", "volatile", "metacopy=on"],
    });
  });

  it("relative layers (a runtime that mounted from its own directory) are taken from the directory above the container's", () => {
    const root = join(tmp, "ov", "c1", "merged");
    const r = idmapRoot(root, parseMountinfo(line(root, "overlay", "rw,lowerdir=l/A:l/B,upperdir=c1/diff,workdir=c1/work")));
    expect(r).toMatchObject({ lower: [join(tmp, "ov", "l/A"), join(tmp, "ov", "l/B")], upper: join(tmp, "ov", "c1/diff") });
  });

  it("the last mount on the rootfs counts; upper and work apart cannot be rebuilt", () => {
    const root = join(tmp, "ov", "c1", "merged");
    const apart = `${line(root, "overlay", "rw,lowerdir=/l,upperdir=/u/diff,workdir=/w/work")}`;
    expect(idmapRoot(root, parseMountinfo(apart))).toBeUndefined();
  });
});

describe("a directory", () => {
  it("on an idmappable filesystem is bound idmapped, with what is mounted beneath it when that can be too", () => {
    const fsOf = parseMountinfo("");
    const dir = join(tmp, "ov");
    // tmpdir() is on ext4 or tmpfs here: both can be idmapped.
    expect(idmappable(dir, false, fsOf)).toBe(true);
    expect(idmappable(dir, true, parseMountinfo(line(join(dir, "c1"), "tmpfs", "rw")))).toBe(true);
    expect(idmappable(dir, true, parseMountinfo(line(join(dir, "c1"), "proc", "rw")))).toBe(false);
    expect(idmappable(dir, false, parseMountinfo(line(join(dir, "c1"), "proc", "rw")))).toBe(true);
    expect(idmappable("/proc", false, fsOf)).toBe(false);
    expect(idmappable(join(tmp, "missing"), false, fsOf)).toBe(false);
    expect(idmapRoot(dir, fsOf)).toEqual({ path: dir });
  });
});

describe("which containers get a user namespace made for them", () => {
  const POLICY: Policy = loadPolicyFile(join(defaultPoliciesDir(), "container.yaml"));
  const config = (patch: Record<string, unknown>) =>
    parseOciConfig(JSON.stringify({ ociVersion: "1.0.2", root: { path: "rootfs" }, process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" }, ...patch }), "config.json");
  const own = [{ type: "pid" }, { type: "mount" }, { type: "network" }];

  it("every container without a user namespace in its config, on its own network or the host's", () => {
    expect(ownUserNamespace(config({ linux: { namespaces: own } }), POLICY)).toBe(true);
    expect(ownUserNamespace(config({ linux: { namespaces: [{ type: "pid" }] } }), POLICY)).toBe(true);
  });

  it("a pod's containers too (namespaces joined by path: the pod's user namespace or one of their own, create.ts decides)", () => {
    expect(ownUserNamespace(config({ linux: { namespaces: [...own, { type: "ipc", path: "/proc/1/ns/ipc" }, { type: "network", path: "/var/run/netns/cni-1" }] } }), POLICY)).toBe(true);
  });

  it("a policy's overlay root too, in memory or in its directory (made over the idmapped rootfs)", () => {
    expect(ownUserNamespace(config({ linux: { namespaces: own } }), { ...POLICY, filesystem: { ...POLICY.filesystem, root: "overlay" } })).toBe(true);
    expect(ownUserNamespace(config({ linux: { namespaces: own } }), { ...POLICY, filesystem: { ...POLICY.filesystem, root: "overlay", overlay: { ...POLICY.filesystem.overlay, dir: "/var/tmp/x" } } })).toBe(true);
  });

  it("createContainer hooks run in it too; a config's own user namespace is its own", () => {
    expect(ownUserNamespace(config({ linux: { namespaces: [...own, { type: "user" }], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1, size: 1 }] } }), POLICY)).toBe(false);
    expect(ownUserNamespace(config({ linux: { namespaces: own }, hooks: { createContainer: [{ path: "/bin/true" }] } }), POLICY)).toBe(true);
    // The one opt-out a policy has, by a name that says so.
    expect(ownUserNamespace(config({ linux: { namespaces: own } }), { ...POLICY, process: { ...POLICY.process, hostRoot: true } })).toBe(false);
  });
});

describe("a host tree as the rootfs: the mounts beneath it idmapped on their own", () => {
  const m = (point: string, fstype: string) => ({ point, fstype, superOptions: "" });
  const mounts = [
    m("/", "ext4"),
    m("/proc", "proc"),
    m("/proc/sys/fs/binfmt_misc", "binfmt_misc"),
    m("/boot", "ext4"),
    m("/run", "tmpfs"),
    m("/run/user/0", "tmpfs"),
    m("/mnt/nfs", "nfs"),
    m("/mnt/nfs/inner", "ext4"),
    m("/srv", "ext4"),
    m("/srv", "nfs"),
  ];

  it("takes the topmost at each point, outermost first, and leaves out what cannot be idmapped and all beneath it", () => {
    expect(idmappedSubmounts("/", mounts)).toEqual([
      { source: "/boot", rel: "boot" },
      { source: "/run", rel: "run" },
      { source: "/run/user/0", rel: "run/user/0" },
    ]);
  });

  it("the root itself is then idmapped alone", () => {
    expect(idmapRoot("/", [m("/", "ext4"), m("/proc", "proc")])).toEqual(idmappable("/", false, []) ? { path: "/", recursive: false } : undefined);
  });
});
