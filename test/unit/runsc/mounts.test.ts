// The mount plan of `runsc-ts do`, shaped by the policy: a private, read-only root, /proc with
// host knobs read-only, a private /tmp, hidden paths, noexec where exec is not allowed, then pivot.
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import type { InitRecord } from "../../../runsc/sandbox/initConfig.js";
import type { HostFs } from "../../../runsc/sandbox/mounts.js";
import { mountPointsOf, NEW_ROOT, overlayMountPoints, overlayWhiteouts, planDoMounts } from "../../../runsc/sandbox/mounts.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import type { Policy } from "../../../sentry/policy/schema.js";

// include/uapi/linux/mount.h, written out.
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOUNT_ATTR_NOEXEC = 0x8;

const MASK = "/run/runsc-ts/.masked";

/** A host with nothing on it: every hidden path keeps its mask (nothing to make absent). */
const BLANK: HostFs = {
  kind: () => undefined,
  realpath: () => undefined,
  symlink: () => undefined,
  reachable: () => false,
  mountPoints: () => [],
  list: () => undefined,
};
const ROOT = "/tmp/root";
const DEFAULT: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));

type Mount = Extract<InitRecord, { op: "mount" }>;
type SetAttr = Extract<InitRecord, { op: "setattr" }>;

function withPolicy(p: { filesystem?: Partial<Policy["filesystem"]>; process?: Policy["process"] }): Policy {
  return {
    ...DEFAULT,
    filesystem: { ...DEFAULT.filesystem, ...p.filesystem },
    process: p.process ?? DEFAULT.process,
  };
}

const mounts = (plan: readonly InitRecord[]): Mount[] => plan.filter((r): r is Mount => r.op === "mount");
const setattrs = (plan: readonly InitRecord[]): SetAttr[] => plan.filter((r): r is SetAttr => r.op === "setattr");

/** The one mount record on target, or a failure naming it. */
function mountOn(plan: readonly InitRecord[], target: string, fstype?: string): Mount {
  const found = mounts(plan).filter((m) => m.target === target && (fstype === undefined || m.fstype === fstype));
  expect(found, `mounts on ${target}`).toHaveLength(1);
  return found[0] as Mount;
}

/** A rule's path without a trailing /**. */
const base = (pattern: string): string => (pattern.endsWith("/**") ? pattern.slice(0, -3) : pattern);

describe("planDoMounts for the default policy", () => {
  const plan = planDoMounts(DEFAULT, MASK, BLANK);

  it("builds the new root at /tmp/root", () => {
    expect(NEW_ROOT).toBe(ROOT);
  });

  it("first sets the mask source and makes / private, recursively", () => {
    expect(plan.slice(0, 2)).toEqual([
      { op: "maskSource", path: MASK },
      { op: "mount", source: "", target: "/", fstype: "", flags: MS_REC | MS_PRIVATE, data: "" },
    ]);
  });

  it("binds the host root recursively and then makes all of it read-only and nosuid", () => {
    const bind = mountOn(plan, ROOT);
    expect(bind).toMatchObject({ source: "/", fstype: "" });
    expect(bind.optional).toBeFalsy();
    expect(bind.flags & (MS_BIND | MS_REC)).toBe(MS_BIND | MS_REC);
    const attr = setattrs(plan).filter((s) => s.path === ROOT);
    expect(attr).toHaveLength(1);
    expect(attr[0]).toMatchObject({ recursive: true, clear: 0 });
    expect((attr[0] as SetAttr).set & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)).toBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
    expect((attr[0] as SetAttr).optional).toBeFalsy();
    expect(plan.indexOf(attr[0] as SetAttr)).toBeGreaterThan(plan.indexOf(bind));
  });

  it("mounts a fresh /proc, nosuid, nodev and noexec", () => {
    const proc = mountOn(plan, `${ROOT}/proc`, "proc");
    expect(proc.source).toBe("proc");
    expect(proc.flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)).toBe(MS_NOSUID | MS_NODEV | MS_NOEXEC);
    expect(plan.indexOf(proc)).toBeGreaterThan(plan.indexOf(mountOn(plan, ROOT)));
  });

  it.each(["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"])(
    "makes %s read-only: bound onto itself, then RDONLY recursively",
    (p) => {
      const target = ROOT + p;
      const bind = mountOn(plan, target);
      expect(bind.source).toBe(target);
      expect(bind.flags & MS_BIND).toBe(MS_BIND);
      const attr = setattrs(plan).find((s) => s.path === target);
      expect(attr).toBeDefined();
      expect((attr as SetAttr).set & MOUNT_ATTR_RDONLY).toBe(MOUNT_ATTR_RDONLY);
      expect((attr as SetAttr).recursive).toBe(true);
      expect(plan.indexOf(attr as SetAttr)).toBeGreaterThan(plan.indexOf(bind));
      expect(plan.indexOf(bind)).toBeGreaterThan(plan.indexOf(mountOn(plan, `${ROOT}/proc`, "proc")));
    },
  );

  it.each(["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"])("hides %s", (p) => {
    expect(plan).toContainEqual({ op: "hide", path: ROOT + p });
  });

  it("mounts a private tmpfs on /tmp, nosuid and nodev", () => {
    expect(DEFAULT.filesystem.tmp).toBe(true);
    const tmp = mountOn(plan, `${ROOT}/tmp`, "tmpfs");
    expect(tmp.source).toBe("tmpfs");
    expect(tmp.flags & (MS_NOSUID | MS_NODEV)).toBe(MS_NOSUID | MS_NODEV);
  });

  it("turns every access: none rule into a hide of its path under the new root", () => {
    const none = DEFAULT.filesystem.rules.filter((r) => r.access === "none");
    expect(none.length).toBeGreaterThanOrEqual(7);
    for (const rule of none) expect(plan, rule.path).toContainEqual({ op: "hide", path: ROOT + base(rule.path) });
    for (const p of ["/etc/shadow", "/etc/gshadow", "/root", "/var/lib/docker", "/run"]) {
      expect(plan).toContainEqual({ op: "hide", path: ROOT + p });
    }
  });

  it("hides only under the new root, after it is built and before the pivot", () => {
    const rootBind = plan.indexOf(mountOn(plan, ROOT));
    plan.forEach((r, i) => {
      if (r.op !== "hide") return;
      expect(r.path.startsWith(`${ROOT}/`), r.path).toBe(true);
      expect(i).toBeGreaterThan(rootBind);
    });
  });

  it("mounts nothing outside the new root once it is bound", () => {
    const rootBind = plan.indexOf(mountOn(plan, ROOT));
    for (const r of plan.slice(rootBind + 1)) {
      const path = r.op === "mount" ? r.target : r.op === "pivot" ? r.root : "path" in r ? r.path : r.op === "symlink" ? r.link : ROOT;
      expect(path === ROOT || path.startsWith(`${ROOT}/`), `${r.op} ${path}`).toBe(true);
    }
  });

  it("ends with the pivot into the new root, and pivots once", () => {
    expect(plan.at(-1)).toEqual({ op: "pivot", root: ROOT });
    expect(plan.filter((r) => r.op === "pivot")).toHaveLength(1);
  });

  it("leaves /tmp executable when exec is not restricted", () => {
    expect(DEFAULT.process.exec).toBeUndefined();
    expect(mountOn(plan, `${ROOT}/tmp`, "tmpfs").flags & MS_NOEXEC).toBe(0);
  });
});

describe("planDoMounts follows the policy", () => {
  it("without filesystem.tmp mounts no tmpfs on /tmp", () => {
    const plan = planDoMounts(withPolicy({ filesystem: { tmp: false } }), MASK, BLANK);
    expect(mounts(plan).filter((m) => m.target === `${ROOT}/tmp`)).toEqual([]);
  });

  it("with exec allowed only under /usr mounts /tmp and /dev/shm noexec", () => {
    const plan = planDoMounts(withPolicy({ process: { exec: { allow: ["/usr/**"] } } }), MASK, BLANK);
    expect(mountOn(plan, `${ROOT}/tmp`, "tmpfs").flags & MS_NOEXEC).toBe(MS_NOEXEC);
    expect(mountOn(plan, `${ROOT}/dev/shm`, "tmpfs").flags & MS_NOEXEC).toBe(MS_NOEXEC);
  });

  it.each(["/tmp/**", "/tmp/bin/**", "/**"])("with %s allowed leaves /tmp executable", (pattern) => {
    const plan = planDoMounts(withPolicy({ process: { exec: { allow: ["/usr/**", pattern] } } }), MASK, BLANK);
    expect(mountOn(plan, `${ROOT}/tmp`, "tmpfs").flags & MS_NOEXEC).toBe(0);
  });

  it("with /tmpfoo/** allowed still mounts /tmp noexec", () => {
    const plan = planDoMounts(withPolicy({ process: { exec: { allow: ["/tmpfoo/**"] } } }), MASK, BLANK);
    expect(mountOn(plan, `${ROOT}/tmp`, "tmpfs").flags & MS_NOEXEC).toBe(MS_NOEXEC);
  });

  it("with a writable root leaves RDONLY off the root but keeps nosuid", () => {
    const plan = planDoMounts(withPolicy({ filesystem: { root: "writable" } }), MASK, BLANK);
    const attr = setattrs(plan).filter((s) => s.path === ROOT);
    expect(attr).toHaveLength(1);
    expect((attr[0] as SetAttr).set & MOUNT_ATTR_RDONLY).toBe(0);
    expect((attr[0] as SetAttr).set & MOUNT_ATTR_NOSUID).toBe(MOUNT_ATTR_NOSUID);
    // Host-global knobs stay read-only whatever the root.
    expect(setattrs(plan).find((s) => s.path === `${ROOT}/proc/sys`)?.set ?? 0).toBeGreaterThan(0);
  });

  it("binds read, read-write and exec rules onto themselves with the matching attributes", () => {
    const plan = planDoMounts(
      withPolicy({
        filesystem: {
          rules: [
            { path: "/data/**", access: "read-write" },
            { path: "/opt/tools/**", access: "exec" },
            { path: "/srv", access: "read" },
          ],
        },
      }),
      MASK,
      BLANK,
    );
    const attrOf = (p: string): SetAttr | undefined => setattrs(plan).find((s) => s.path === ROOT + p);
    // Bound from the host's own tree (a directory above could be an overlay, which takes no writes).
    expect(mountOn(plan, `${ROOT}/data`)).toMatchObject({ source: "/data", flags: MS_BIND | MS_REC });
    // Bound from the host's writable tree: nothing to clear, and never setuid.
    expect(attrOf("/data")).toMatchObject({ set: MOUNT_ATTR_NOSUID, clear: 0, recursive: true });
    expect(attrOf("/opt/tools")).toMatchObject({ set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: MOUNT_ATTR_NOEXEC, recursive: true });
    expect(attrOf("/srv")).toMatchObject({ set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, clear: 0 });
  });

  it("hides a deeper rule after mounting the shallower one that contains it", () => {
    const plan = planDoMounts(
      withPolicy({
        filesystem: {
          rules: [
            { path: "/data/secret/**", access: "none" },
            { path: "/data/**", access: "read-write" },
          ],
        },
      }),
      MASK,
      BLANK,
    );
    const hide = plan.findIndex((r) => r.op === "hide" && r.path === `${ROOT}/data/secret`);
    const bind = plan.indexOf(mountOn(plan, `${ROOT}/data`));
    expect(hide).toBeGreaterThan(bind);
  });

  // policies/README.md: the most specific rule wins, whatever the order. A rule for / binds the
  // whole tree again and sets its attributes recursively, so it must come before every other.
  it("applies a rule for / before a rule for a top-level path written ahead of it", () => {
    const plan = planDoMounts(
      withPolicy({
        filesystem: {
          root: "writable",
          rules: [
            { path: "/data/**", access: "read-write" },
            { path: "/**", access: "read" },
          ],
        },
      }),
      MASK,
      BLANK,
    );
    const lastAttr = (p: string): number => {
      let last = -1;
      plan.forEach((r, i) => {
        if (r.op === "setattr" && r.path === p) last = i;
      });
      return last;
    };
    expect(lastAttr(ROOT)).toBeGreaterThan(0);
    expect(lastAttr(`${ROOT}/data`)).toBeGreaterThan(lastAttr(ROOT));
  });

  it("passes the mask file through", () => {
    expect(planDoMounts(DEFAULT, "/elsewhere/m")[0]).toEqual({ op: "maskSource", path: "/elsewhere/m" });
  });
});

describe("planDoMounts: a hidden directory with visible paths beneath it (an allowlist)", () => {
  const kinds: Record<string, "dir" | "file"> = {
    "/usr": "dir",
    "/usr/bin": "dir",
    "/etc/passwd": "file",
    "/root/.profile": "file",
    "/srv/app": "dir",
    "/srv/app/cache": "dir",
  };
  // /bin -> usr/bin, as on a merged-/usr system.
  const kind: HostFs = {
    kind: (p) => kinds[p.replace(/^\/bin(?=\/|$)/, "/usr/bin")],
    realpath: (p) => (kinds[p.replace(/^\/bin(?=\/|$)/, "/usr/bin")] ? p.replace(/^\/bin(?=\/|$)/, "/usr/bin") : undefined),
    symlink: (p) => (p === "/bin" ? "usr/bin" : undefined),
    reachable: (p) => !p.startsWith("/root/"),
    mountPoints: () => [],
    list: () => undefined,
  };

  it("makes / an empty tmpfs holding mount points for what the rules show, bound from the host", () => {
    const plan = planDoMounts(
      withPolicy({
        filesystem: {
          tmp: true,
          rules: [
            { path: "/**", access: "none" },
            { path: "/usr/**", access: "read" },
            { path: "/etc/passwd", access: "read" },
            { path: "/nothere/**", access: "read" },
            { path: "/root/.profile", access: "read" },
          ],
        },
      }),
      MASK,
      kind,
    );
    expect(mountOn(plan, ROOT)).toMatchObject({ fstype: "tmpfs" });
    expect(mounts(plan).some((m) => m.source === "/" && m.target === ROOT)).toBe(false);
    expect(mountOn(plan, `${ROOT}/usr`)).toMatchObject({ source: "/usr", flags: MS_BIND | MS_REC });
    expect(mountOn(plan, `${ROOT}/etc/passwd`)).toMatchObject({ source: "/etc/passwd" });
    const idx = (rec: InitRecord | undefined): number => plan.indexOf(rec as InitRecord);
    // Mount points are made before their mounts: /etc as a directory, passwd as a file.
    expect(idx(plan.find((r) => r.op === "mkdir" && r.path === `${ROOT}/etc`))).toBeLessThan(idx(mountOn(plan, `${ROOT}/etc/passwd`)));
    expect(plan.some((r) => r.op === "mkfile" && r.path === `${ROOT}/etc/passwd`)).toBe(true);
    // What the host lacks, or the sandbox's ids could not reach there (/root is 0700), gets no
    // mount point; the sandbox's own /proc, /dev and /tmp are there.
    expect(plan.some((r) => "path" in r && r.path === `${ROOT}/nothere`)).toBe(false);
    expect(plan.some((r) => "path" in r && r.path.startsWith(`${ROOT}/root`))).toBe(false);
    mountOn(plan, `${ROOT}/proc`, "proc");
    mountOn(plan, `${ROOT}/tmp`, "tmpfs");
    // The root takes no new entries, and the attribute comes after every mount point.
    const last = setattrs(plan).find((s) => s.path === ROOT && !s.recursive);
    expect(last?.set & MOUNT_ATTR_RDONLY).toBe(MOUNT_ATTR_RDONLY);
    expect(idx(last)).toBeGreaterThan(idx(mountOn(plan, `${ROOT}/etc/passwd`)));
    expect(idx(last)).toBeLessThan(plan.findIndex((r) => r.op === "pivot"));
  });

  it("does the same for a directory below the root, and hides again inside a visible path", () => {
    const plan = planDoMounts(
      withPolicy({
        filesystem: {
          rules: [
            { path: "/srv/**", access: "none" },
            { path: "/srv/app/**", access: "read" },
            { path: "/srv/app/cache/**", access: "none" },
          ],
        },
      }),
      MASK,
      kind,
    );
    expect(mountOn(plan, `${ROOT}/srv`)).toMatchObject({ fstype: "tmpfs" });
    // /srv/app is bound from the host, then overlaid without its hidden cache (the mask stays
    // as the fallback should the overlay fail).
    const onApp = mounts(plan).filter((m) => m.target === `${ROOT}/srv/app`);
    expect(onApp.map((m) => m.source)).toEqual(["/srv/app", "overlay"]);
    expect(onApp[1]?.data).toMatch(/^lowerdir=\/tmp\/absent\/0:\/srv\/app$/);
    expect(plan.some((r) => r.op === "whiteout" && r.path === "/tmp/absent/0/cache")).toBe(true);
    expect(plan.some((r) => r.op === "hide" && r.path === `${ROOT}/srv/app/cache`)).toBe(true);
    expect(plan.some((r) => r.op === "hide" && r.path === `${ROOT}/srv`)).toBe(false);
  });

  it("keeps the host's symlinks on the way: /bin/** becomes the symlink /bin and the rule /usr/bin/**", () => {
    const plan = planDoMounts(
      withPolicy({ filesystem: { rules: [{ path: "/**", access: "none" }, { path: "/bin/**", access: "read" }] } }),
      MASK,
      kind,
    );
    expect(mountOn(plan, `${ROOT}/usr/bin`)).toMatchObject({ source: "/usr/bin" });
    expect(mounts(plan).some((m) => m.target === `${ROOT}/bin`)).toBe(false);
    const link = plan.find((r) => r.op === "symlink" && r.link === `${ROOT}/bin`);
    expect(link).toMatchObject({ target: "usr/bin" });
    expect(plan.indexOf(link!)).toBeLessThan(plan.findIndex((r) => r.op === "setattr" && r.path === ROOT && !r.recursive));
  });

  it("keeps a plain hidden directory a mask when nothing beneath it is shown", () => {
    const plan = planDoMounts(withPolicy({ filesystem: { rules: [{ path: "/srv/**", access: "none" }] } }), MASK, kind);
    expect(plan.some((r) => r.op === "hide" && r.path === `${ROOT}/srv`)).toBe(true);
    expect(mounts(plan).some((m) => m.target === `${ROOT}/srv`)).toBe(false);
  });
});

describe("planDoMounts: hidden means absent", () => {
  /** A small host: / holds etc, usr, bin -> usr/bin, root, run, proc (a mount), data. */
  const tree: Record<string, { type: "dir" | "file" | "symlink"; target?: string }> = {
    "/etc": { type: "dir" },
    "/etc/shadow": { type: "file" },
    "/etc/passwd": { type: "file" },
    "/usr": { type: "dir" },
    "/bin": { type: "symlink", target: "usr/bin" },
    "/root": { type: "dir" },
    "/run": { type: "dir" },
    "/proc": { type: "dir" },
    "/data": { type: "dir" },
    "/data/secret": { type: "file" },
    "/data/notes": { type: "file" },
  };
  const children = (dir: string): string[] =>
    Object.keys(tree).filter((p) => p !== dir && (dir === "/" ? p.lastIndexOf("/") === 0 : p.startsWith(dir + "/") && !p.slice(dir.length + 1).includes("/")));
  const host: HostFs = {
    kind: (p) => (p === "/" ? "dir" : tree[p]?.type === "symlink" ? "dir" : (tree[p]?.type as "dir" | "file" | undefined)),
    realpath: (p) => (p === "/" || tree[p] !== undefined ? p : undefined),
    symlink: (p) => tree[p]?.target,
    reachable: () => true,
    mountPoints: () => ["/", "/proc"],
    list: (dir) => children(dir).map((p) => ({ name: p.slice(p.lastIndexOf("/") + 1), type: tree[p]!.type })),
  };
  const plan = planDoMounts(
    withPolicy({
      filesystem: {
        rules: [
          { path: "/etc/shadow", access: "none" },
          { path: "/root/**", access: "none" },
          { path: "/run/**", access: "none" },
          { path: "/data/**", access: "read-write" },
          { path: "/data/secret", access: "none" },
        ],
      },
    }),
    MASK,
    host,
  );

  it("a read-only directory without mounts beneath it: a read-only overlay over a whiteout per hidden name", () => {
    const overlay = mounts(plan).find((m) => m.fstype === "overlay" && m.target === `${ROOT}/etc`);
    expect(overlay).toMatchObject({ source: "overlay", data: "lowerdir=/tmp/absent/0:/etc", optional: "any" });
    expect(plan.filter((r) => r.op === "whiteout").map((r) => (r as { path: string }).path)).toContain("/tmp/absent/0/shadow");
    // The mask stays, after the overlay, for an overlay that fails (it finds nothing otherwise).
    const hide = plan.findIndex((r) => r.op === "hide" && r.path === `${ROOT}/etc/shadow`);
    expect(hide).toBeGreaterThan(plan.indexOf(overlay!));
    expect(setattrs(plan).find((s) => s.path === `${ROOT}/etc`)?.set ?? 0).toBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
  });

  it("the root (mounts beneath it): an opaque tmpfs showing every other entry as the host has it", () => {
    expect(mountOn(plan, ROOT)).toMatchObject({ fstype: "tmpfs" });
    expect(mountOn(plan, `${ROOT}/usr`)).toMatchObject({ source: "/usr" });
    expect(mountOn(plan, `${ROOT}/etc`, "")).toMatchObject({ source: "/etc" });
    expect(plan.find((r) => r.op === "symlink" && r.link === `${ROOT}/bin`)).toMatchObject({ target: "usr/bin" });
    for (const gone of ["/root", "/run"]) {
      expect(plan.some((r) => "path" in r && r.path === ROOT + gone && r.op !== "hide"), gone).toBe(false);
      expect(mounts(plan).some((m) => m.target === ROOT + gone), gone).toBe(false);
    }
    // The sandbox's own /proc, not the host's bound again.
    expect(mounts(plan).filter((m) => m.target === `${ROOT}/proc`).map((m) => m.fstype)).toEqual(["proc"]);
  });

  it("under a writable root, the root's other entries are bound as the root would have them: nosuid, read-only left alone", () => {
    const writable = planDoMounts(withPolicy({ filesystem: { root: "writable", rules: [{ path: "/root/**", access: "none" }] } }), MASK, host);
    const usr = setattrs(writable).find((a) => a.path === `${ROOT}/usr`);
    expect(usr).toMatchObject({ set: MOUNT_ATTR_NOSUID, clear: 0, recursive: true });
  });

  it("a writable directory: opaque too, its other entries bound writable", () => {
    expect(mountOn(plan, `${ROOT}/data`, "tmpfs")).toMatchObject({ source: "tmpfs", flags: MS_NOSUID | MS_NODEV });
    // The tmpfs takes no new entries once its mount points are made.
    const ro = setattrs(plan).find((a) => a.path === `${ROOT}/data` && !a.recursive);
    expect(ro?.set).toBe(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    expect(mountOn(plan, `${ROOT}/data/notes`)).toMatchObject({ source: "/data/notes" });
    expect(setattrs(plan).find((s) => s.path === `${ROOT}/data/notes`)).toMatchObject({ set: MOUNT_ATTR_NOSUID, clear: 0 });
    expect(mounts(plan).some((m) => m.target === `${ROOT}/data/secret`)).toBe(false);
  });
});

describe("planDoMounts: root: overlay", () => {
  /** / holds etc (shadow, hosts), root, var/lib/docker, data (a mount of its own), sys, mnt/ro (a mount). */
  const tree = new Set(["/etc", "/etc/shadow", "/etc/hosts", "/root", "/var", "/var/lib", "/var/lib/docker", "/data", "/data/secret", "/usr", "/usr/share", "/usr/share/keys", "/usr/share/keys/pub"]);
  const host: HostFs = {
    kind: (p) => (p === "/" || (tree.has(p) && !/shadow|hosts|secret|pub$/.test(p)) ? "dir" : tree.has(p) ? "file" : undefined),
    realpath: (p) => (p === "/" || tree.has(p) ? p : undefined),
    symlink: () => undefined,
    reachable: () => true,
    mountPoints: () => ["/", "/proc", "/sys", "/sys/fs/cgroup", "/data", "/mnt/ro", "/dev", "/dev/pts", "/tmp"],
    list: () => undefined,
  };
  const policy = withPolicy({
    filesystem: {
      root: "overlay",
      overlay: { size: "25%" },
      rules: [
        { path: "/etc/shadow", access: "none" },
        { path: "/root/**", access: "none" },
        { path: "/var/lib/docker/**", access: "none" },
        { path: "/data/secret", access: "none" },
        { path: "/usr/share/**", access: "read" },
        { path: "/usr/share/keys/**", access: "none" },
        { path: "/usr/share/keys/pub", access: "read" },
      ],
    },
  });
  const plan = planDoMounts(policy, MASK, host, { overlay: 0 });

  it("attaches the overlay runsc-ts passed to init (descriptor 0) as the new root, and binds no host root", () => {
    expect(() => planDoMounts(policy, MASK, host)).toThrow(/filesystem.root: overlay needs the overlay mount/);
    expect(plan).toContainEqual({ op: "attach", index: 0, path: ROOT });
    expect(mounts(plan).some((m) => m.target === ROOT)).toBe(false);
    const attach = plan.findIndex((r) => r.op === "attach");
    expect(attach).toBeLessThan(plan.findIndex((r) => r.op === "mount" && r.fstype === "proc"));
  });

  it("binds the host's other mounts onto it, each once (with what lies beneath), read-only: the base never changes", () => {
    for (const m of ["/sys", "/data", "/mnt/ro"]) {
      expect(mountOn(plan, ROOT + m, "")).toMatchObject({ source: m, flags: MS_BIND | MS_REC, optional: true });
      expect(setattrs(plan).find((a) => a.path === ROOT + m)).toMatchObject({ set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, recursive: true });
    }
    // Beneath another mount, or the sandbox's own trees: not bound again.
    for (const m of ["/sys/fs/cgroup", "/dev/pts"]) expect(mounts(plan).some((x) => x.target === ROOT + m && x.source === m), m).toBe(false);
    expect(mounts(plan).filter((m) => m.target === `${ROOT}/proc`).map((m) => m.fstype)).toEqual(["proc"]);
  });

  it("hidden paths of the overlay's own directories become whiteouts in its upper layer, not mounts", () => {
    expect(overlayWhiteouts(policy, host)).toEqual(["/etc/shadow", "/root", "/var/lib/docker"]);
    for (const p of ["/etc/shadow", "/root", "/var/lib/docker"]) {
      expect(plan.some((r) => "path" in r && r.path === ROOT + p), p).toBe(false);
      expect(mounts(plan).some((m) => m.target === ROOT + p || m.target === ROOT + p.slice(0, p.lastIndexOf("/"))), p).toBe(false);
    }
  });

  it("makes mount points in its layer for synthetic files the host lacks, in its own directories only", () => {
    const withFiles = withPolicy({
      filesystem: {
        ...policy.filesystem,
        files: [
          { path: "/etc/new.conf", content: "x" },
          { path: "/etc/hosts", content: "exists" },
          { path: "/data/new", content: "on a host mount" },
          { path: "/usr/share/new", content: "under a read rule" },
          { path: "/nowhere/new", content: "no such directory" },
        ],
      },
    });
    expect(overlayMountPoints(withFiles, host)).toEqual(["/etc/new.conf"]);
  });

  it("hides the rest as under the other roots: on a host mount, under a read rule, with visible paths beneath", () => {
    // /data is a host mount (read-only, with mounts beneath it in the plan): its other entries are shown.
    expect(plan.some((r) => r.op === "hide" && r.path === `${ROOT}/data/secret`) || mounts(plan).some((m) => m.target === `${ROOT}/data` && m.fstype === "tmpfs")).toBe(true);
    // /usr/share/keys holds a visible path: an opaque tmpfs with a mount point for it.
    expect(mountOn(plan, `${ROOT}/usr/share/keys`, "tmpfs")).toMatchObject({ fstype: "tmpfs" });
    expect(mountOn(plan, `${ROOT}/usr/share/keys/pub`)).toMatchObject({ source: "/usr/share/keys/pub" });
    expect(overlayWhiteouts(policy, host)).not.toContain("/usr/share/keys");
  });
});

describe("planDoMounts: root: overlay on a machine whose /run is a mount of its own", () => {
  // /run is a tmpfs on most machines, with mounts beneath it (/run/user/0); / holds etc,
  // home (with a visible user's directory) and run.
  const tree = new Set(["/etc", "/etc/shadow", "/home", "/home/app", "/home/other", "/run", "/run/user", "/run/user/0"]);
  const host: HostFs = {
    kind: (p) => (p === "/" || (tree.has(p) && p !== "/etc/shadow") ? "dir" : tree.has(p) ? "file" : undefined),
    realpath: (p) => (p === "/" || tree.has(p) ? p : undefined),
    symlink: () => undefined,
    reachable: () => true,
    mountPoints: () => ["/", "/proc", "/dev", "/run", "/run/user/0"],
    list: (p) => (p === "/" ? ["etc", "home", "run"].map((name) => ({ name, type: "dir" as const })) : undefined),
  };
  const overlay = (rules: Policy["filesystem"]["rules"]): Policy => withPolicy({ filesystem: { root: "overlay", overlay: { size: "25%" }, rules } });

  it("a hidden mount point is a whiteout: neither it nor the mounts beneath it are bound, and the root stays the overlay", () => {
    const policy = overlay([
      { path: "/run/**", access: "none" },
      { path: "/etc/shadow", access: "none" },
    ]);
    const plan = planDoMounts(policy, MASK, host, { overlay: 0 });
    expect(overlayWhiteouts(policy, host)).toEqual(["/etc/shadow", "/run"]);
    expect(plan).toContainEqual({ op: "attach", index: 0, path: ROOT });
    expect(mounts(plan).some((m) => m.target === ROOT && m.fstype === "tmpfs")).toBe(false);
    expect(mounts(plan).filter((m) => m.target.startsWith(`${ROOT}/run`))).toEqual([]);
  });

  it("a hidden entry of / that cannot be a whiteout keeps its mask, and the whiteouts still hold: the root stays the overlay", () => {
    // /home holds a visible path: not a whiteout. Siblings for / would replace the overlay by
    // a tmpfs and bind /etc from the host, whose whiteout would then hide nothing.
    const policy = overlay([
      { path: "/home/**", access: "none" },
      { path: "/home/app/**", access: "read" },
      { path: "/etc/shadow", access: "none" },
    ]);
    const plan = planDoMounts(policy, MASK, host, { overlay: 0 });
    expect(plan).toContainEqual({ op: "attach", index: 0, path: ROOT });
    expect(mounts(plan).some((m) => m.target === ROOT && m.fstype === "tmpfs")).toBe(false);
    expect(mounts(plan).some((m) => m.target === `${ROOT}/etc`)).toBe(false);
    expect(overlayWhiteouts(policy, host)).toContain("/etc/shadow");
    expect(mountOn(plan, `${ROOT}/home/app`)).toMatchObject({ source: "/home/app" });
  });
});

describe("planDoMounts: filesystem.proc.virtualize", () => {
  const policy = withPolicy({ filesystem: { proc: { virtualize: ["meminfo", "cpuinfo", "meminfo"] } } });
  const plan = planDoMounts(policy, MASK, BLANK, { proc: 1 });

  it("attaches the FUSE filesystem passed to init in the staging tmpfs and binds each file over its path, once", () => {
    expect(plan).toContainEqual({ op: "attach", index: 1, path: "/tmp/proc" });
    const binds = mounts(plan).filter((m) => m.source.startsWith("/tmp/proc/"));
    expect(binds.map((m) => [m.source, m.target])).toEqual([
      ["/tmp/proc/meminfo", `${ROOT}/proc/meminfo`],
      ["/tmp/proc/cpuinfo", `${ROOT}/proc/cpuinfo`],
      ["/tmp/proc/cpu-online", `${ROOT}/sys/devices/system/cpu/online`],
    ]);
    for (const b of binds) expect(b).toMatchObject({ flags: MS_BIND, optional: true });
  });

  it("binds them last, after /proc and whatever rule binds /sys, before the pivot", () => {
    const first = plan.findIndex((r) => r.op === "attach");
    expect(first).toBeGreaterThan(plan.findIndex((r) => r.op === "mount" && r.fstype === "proc"));
    expect(plan.slice(first + 1, -1).every((r) => r.op === "mount" && r.source.startsWith("/tmp/proc/"))).toBe(true);
    expect(plan[plan.length - 1]).toEqual({ op: "pivot", root: ROOT });
  });

  it("without the FUSE mount passed, planning fails rather than leave /proc the host's", () => {
    expect(() => planDoMounts(policy, MASK, BLANK)).toThrow(/filesystem.proc.virtualize needs the FUSE mount/);
  });
});

describe("mountPointsOf", () => {
  it("reads field 5 of each mountinfo line, undoing proc(5)'s octal escapes", () => {
    const info = [
      "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "27 26 0:5 / /proc rw,nosuid - proc proc rw",
      "40 26 0:40 / /mnt/with\\040space\\011tab rw - tmpfs t rw",
      "41 26 0:41 / /mnt/back\\134slash rw - tmpfs t rw",
      "",
    ].join("\n");
    expect(mountPointsOf(info)).toEqual(["/", "/proc", "/mnt/with space\ttab", "/mnt/back\\slash"]);
  });
});
