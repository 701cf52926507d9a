// init's resolution of a mount plan's paths inside a container's root (native/helper/inroot.c),
// driven on a real tree: symlinks are followed as in a chroot, never out of the root, and
// what is made is made inside it.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../helpers/sandbox.js";

let dir: string;
let driver: string;
let root: string;
let outside: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "runsc-ts-inroot-"));
  driver = join(dir, "inroot-driver");
  execFileSync("gcc", ["-O2", "-Wall", "-o", driver, join(ROOT, "test/fixtures/inroot/driver.c"), join(ROOT, "native/helper/inroot.c")]);
  root = join(dir, "root");
  outside = join(dir, "outside");
  mkdirSync(outside);
  for (const d of ["etc", "proc", "run/systemd", "usr/lib", "vol"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "etc/hosts"), "");
  symlinkSync("/run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf")); // dangling, absolute
  symlinkSync("usr/lib", join(root, "lib")); // relative
  symlinkSync("/decoy/sys", join(root, "proc/sys"));
  symlinkSync(outside, join(root, "vol/abs")); // the host's path, absolute
  symlinkSync("../../../../../../../../..", join(root, "vol/up")); // climbs far past /
  symlinkSync("loop2", join(root, "loop1"));
  symlinkSync("loop1", join(root, "loop2"));
  symlinkSync("/etc/hosts", join(root, "hostsfile"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...ops: string[]): string[] => execFileSync(driver, [root, ...ops], { encoding: "utf8" }).trimEnd().split("\n");

describe("inroot_resolve", () => {
  it("follows symlinks inside the root: relative, absolute, dangling, and .. that stops at the root", () => {
    expect(run("resolve:etc/hosts", "resolve:lib/x", "resolve:etc/resolv.conf", "resolve:proc/sys/kernel", "resolve:vol/up/etc", "resolve:../../etc", "resolve:a/b/../../etc/./hosts")).toEqual([
      "/etc/hosts",
      "/usr/lib/x",
      "/run/systemd/resolve/stub-resolv.conf",
      "/decoy/sys/kernel",
      "/etc",
      "/etc",
      "/etc/hosts",
    ]);
  });

  it("takes an absolute symlink to the host's path as that path inside the root", () => {
    expect(run(`resolve:vol/abs/x`)).toEqual([`${outside}/x`]);
  });

  it("refuses a symlink loop (ELOOP) and a name too long", () => {
    expect(run("resolve:loop1/x", `resolve:${"a".repeat(300)}`)).toEqual(["error ELOOP", "error ENAMETOOLONG"]);
  });
});

describe("making and opening mount points", () => {
  it("makes missing directories inside the root, through a volume's symlink to a host path", () => {
    expect(run("mkdir:vol/abs/made/deep", "mkfile:vol/abs/file")).toEqual(["ok", "ok"]);
    expect(readdirSync(outside)).toEqual([]);
    expect(lstatSync(join(root, outside, "made/deep")).isDirectory()).toBe(true);
    expect(lstatSync(join(root, outside, "file")).isFile()).toBe(true);
  });

  it("makes a dangling symlink's target as a file inside the root, and leaves an existing file alone", () => {
    expect(run("mkfile:etc/resolv.conf", "mkfile:hostsfile", "mkdir:etc")).toEqual(["ok", "ok", "ok"]);
    expect(lstatSync(join(root, "run/systemd/resolve/stub-resolv.conf")).isFile()).toBe(true);
    expect(lstatSync(join(root, "etc/resolv.conf")).isSymbolicLink()).toBe(true);
  });

  it("opens the resolved path, never outside the root", () => {
    expect(run("open:vol/up", "open:lib", "open:nowhere")).toEqual([root, join(root, "usr/lib"), "error ENOENT"]);
  });

  it("tells a plain directory from one reached through a symlink (where proc and sysfs may go)", () => {
    expect(run("plain:proc", "plain:proc/sys", "plain:lib", "plain:etc/hosts")).toEqual(["plain", "not plain", "not plain", "not plain"]);
    expect(existsSync(join(root, "decoy"))).toBe(false);
  });
});
