// Glob rules expanded against a real directory tree for the mount plan: matches, dotfiles,
// symlinks (followed by one-name steps, never by "**", so a loop ends), the visit cap, order.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { expandRules, GlobError } from "../../../runsc/sandbox/globs.js";
import type { Entry, FsAccess } from "../../../runsc/sandbox/globs.js";
import { NEW_ROOT, planDoMounts } from "../../../runsc/sandbox/mounts.js";
import { UsageError } from "../../../runsc/errors.js";
import { defaultPoliciesDir, loadPolicyFile } from "../../../sentry/policy/load.js";
import { matchRule, parsePathPattern } from "../../../sentry/policy/paths.js";
import type { Policy } from "../../../sentry/policy/schema.js";

let T = "";

function file(rel: string): void {
  mkdirSync(dirname(join(T, rel)), { recursive: true });
  writeFileSync(join(T, rel), "x");
}

beforeAll(() => {
  T = mkdtempSync(join(tmpdir(), "runsc-ts-globs-"));
  file("home/alice/.ssh/id_ed25519");
  file("home/alice/.bashrc");
  file("home/bob/.ssh/id_rsa");
  file("home/.hidden/.ssh/k");
  file("home/carol/notes");
  symlinkSync("alice", join(T, "home/dave")); // a link to a directory, reached by "*"
  file("srv/secrets.yaml");
  file("srv/a/b/secrets.yaml");
  file("srv/c/secrets.yaml.bak");
  symlinkSync("..", join(T, "srv/a/up")); // a loop for "**"
  symlinkSync(join(T, "srv"), join(T, "srv/c/again")); // another
  mkdirSync(join(T, "srv/d"));
  symlinkSync(join(T, "srv/a/b/secrets.yaml"), join(T, "srv/d/secrets.yaml")); // a link matched by name
  file("usr/lib/python3.11/os.py");
  mkdirSync(join(T, "usr/lib/python3.12"));
  file("usr/lib/python2.7/os.py");
  file("weird/a*b");
  file("weird/[x");
});

afterAll(() => {
  rmSync(T, { recursive: true, force: true });
});

const paths = (rules: readonly { path: string }[]): string[] => rules.map((r) => r.path);

describe("expandRules", () => {
  it("expands a subtree glob to one subtree per match, dotfiles included, through a linked directory", () => {
    const out = expandRules([{ path: `${T}/home/*/.ssh/**`, access: "none" }]);
    expect(paths(out)).toEqual([
      `${T}/home/.hidden/.ssh/**`,
      `${T}/home/alice/.ssh/**`,
      `${T}/home/bob/.ssh/**`,
      `${T}/home/dave/.ssh/**`,
    ]);
    expect(out.every((r) => r.access === "none")).toBe(true);
  });

  it("expands an interior ** without following links, so loops end", () => {
    const out = expandRules([{ path: `${T}/srv/**/secrets.yaml`, access: "none" }]);
    expect(paths(out)).toEqual([`${T}/srv/a/b/secrets.yaml`, `${T}/srv/d/secrets.yaml`, `${T}/srv/secrets.yaml`]);
  });

  it("expands ** alone beneath a prefix to every real directory, links not entered", () => {
    const out = expandRules([{ path: `${T}/srv/**/*`, access: "read" }]);
    expect(paths(out)).toContain(`${T}/srv/a/up`);
    expect(paths(out).some((p) => p.includes("/up/") || p.includes("/again/"))).toBe(false);
  });

  it("keeps a glob prefix ending in /** as subtrees of the matched directories", () => {
    const out = expandRules([{ path: `${T}/usr/lib/python3*/**`, access: "exec" }]);
    expect(out).toEqual([
      { path: `${T}/usr/lib/python3.11/**`, access: "exec" },
      { path: `${T}/usr/lib/python3.12/**`, access: "exec" },
    ]);
  });

  it("writes matched names with glob characters as literal patterns", () => {
    const out = expandRules([{ path: `${T}/weird/*`, access: "none" }]);
    expect(paths(out)).toEqual([`${T}/weird/[[]x`, `${T}/weird/a[*]b`]);
    expect(out.map((r) => parsePathPattern(r.path))).toMatchObject([
      { glob: false, base: `${T}/weird/[x` },
      { glob: false, base: `${T}/weird/a*b` },
    ]);
  });

  it("leaves glob-free rules as they are and drops a glob that matches nothing", () => {
    const rules = [
      { path: "/etc/shadow", access: "none" },
      { path: `${T}/nothing/*/here`, access: "none" },
      { path: "/data/**", access: "read-write" },
    ];
    const out = expandRules(rules);
    // Ordered by depth here (see the ordering test): /data before /etc/shadow.
    expect(out).toEqual([rules[2], rules[0]]);
    expect(out[1]).toBe(rules[0]);
  });

  it("orders rules for the same concrete path so that the one matchRule picks comes last", () => {
    const rules = [
      { path: `${T}/home/alice/.ssh/**`, access: "read" },
      { path: `${T}/home/*/.ssh/**`, access: "none" },
    ];
    const out = expandRules(rules).filter((r) => r.path === `${T}/home/alice/.ssh/**`);
    expect(out.map((r) => r.access)).toEqual(["none", "read"]);
    expect(matchRule(rules, `${T}/home/alice/.ssh/id_ed25519`)?.rule.access).toBe("read");
    // For glob-free rules that is file order.
    const plain = [
      { path: "/x/**", access: "read" },
      { path: "/x/**", access: "none" },
    ];
    expect(expandRules(plain)).toEqual(plain);
  });

  it("stops with an error naming the rule past the visit cap", () => {
    const run = (): unknown => expandRules([{ path: "/etc/shadow" }, { path: `${T}/**/*.py` }], undefined, { maxVisited: 5 });
    expect(run).toThrow(GlobError);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(`filesystem.rules[1] ${T}/**/*.py: expanding the glob visited more than 5 directory entries; narrow the pattern`);
    expect(() => expandRules([{ path: `${T}/**/*.py` }], undefined, { maxVisited: 1000 })).not.toThrow();
  });

  it("never reaches into /proc, /sys or /dev, and refuses a glob beneath them", () => {
    const listed: string[] = [];
    const tree: Record<string, Entry[]> = {
      "/": ["proc", "sys", "dev", "etc"].map((name) => ({ name, isDirectory: true, isSymbolicLink: false })),
      "/etc": [{ name: "secret", isDirectory: false, isSymbolicLink: false }],
    };
    const fake: FsAccess = {
      readdir: (p) => {
        listed.push(p);
        const e = tree[p];
        if (e === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
        return e;
      },
      kind: (p) => (p === "/" || p in tree || ["/proc", "/sys", "/dev"].includes(p) ? "dir" : p === "/etc/secret" ? "other" : undefined),
    };
    expect(paths(expandRules([{ path: "/*/**" }], fake))).toEqual(["/etc/**"]);
    expect(paths(expandRules([{ path: "/**/secret" }], fake))).toEqual(["/etc/secret"]);
    expect(listed.filter((p) => /^\/(proc|sys|dev)/.test(p))).toEqual([]);
    expect(() => expandRules([{ path: "/etc/x" }, { path: "/proc/*/environ" }], fake)).toThrow(
      "filesystem.rules[1] /proc/*/environ: a glob cannot be expanded beneath /proc (the sandbox has its own /proc); name the paths literally",
    );
  });
});

describe("planDoMounts with a glob rule", () => {
  it("hides each concrete match", () => {
    const base: Policy = loadPolicyFile(join(defaultPoliciesDir(), "default.yaml"));
    const policy: Policy = { ...base, filesystem: { ...base.filesystem, rules: [{ path: `${T}/home/*/.ssh/**`, access: "none" }] } };
    const hidden = planDoMounts(policy, "/run/mask").flatMap((r) => (r.op === "hide" ? [r.path] : []));
    for (const u of [".hidden", "alice", "bob", "dave"]) expect(hidden).toContain(`${NEW_ROOT}${T}/home/${u}/.ssh`);
    expect(hidden.some((p) => p.includes("*"))).toBe(false);
  });
});
