// A user namespace made ahead of its container, and mounts idmapped into it (native/src/userns.cc):
// the namespace has the maps asked for, an idmapped mount shows a disk's owners through them
// (root's files as the range's first id), and what cannot be made says which part and why.
import { chownSync, closeSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNative } from "../../native/index.js";
import { hostFixtureDir, removeHostDir } from "../helpers/sandbox.js";

const native = loadNative();
const BASE = 300000;
const MAP = `0 ${BASE} 65536\n`;
let dir: string;
const opened: number[] = [];

beforeAll(() => {
  dir = hostFixtureDir("userns");
  writeFileSync(join(dir, "root-file"), "r");
  writeFileSync(join(dir, "user-file"), "u");
  chownSync(join(dir, "user-file"), 1000, 1000);
  writeFileSync(join(dir, "unmapped-file"), "x");
  chownSync(join(dir, "unmapped-file"), 70000, 70000);
  mkdirSync(join(dir, "sub"));
});

afterAll(() => {
  for (const fd of opened) closeSync(fd);
  removeHostDir(dir);
});

function keep(fd: number): number {
  opened.push(fd);
  return fd;
}

/** st_uid and st_gid of name under the directory (or mount) fd. */
function owner(fd: number, name: string): [number, number] {
  const st = new Uint8Array(144);
  const b = Buffer.from(name);
  expect(native.statAt(fd, b, b.length, 0, st)).toBe(0);
  const v = new DataView(st.buffer);
  return [v.getUint32(28, true), v.getUint32(32, true)];
}

describe("a user namespace made ahead of its container", () => {
  it("has the maps asked for, and lives on in its descriptor after the child that made it", () => {
    const ns = keep(native.createUserNamespace(MAP, MAP));
    expect(readlinkSync(`/proc/self/fd/${ns}`)).toMatch(/^user:\[\d+\]$/);
    // A second one is another namespace.
    const other = keep(native.createUserNamespace(MAP, MAP));
    expect(readlinkSync(`/proc/self/fd/${other}`)).not.toBe(readlinkSync(`/proc/self/fd/${ns}`));
    // No process of ours is left in it: the child ended.
    const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim();
    expect(children).toBe("");
  });

  it("a map the kernel refuses is an error naming it", () => {
    expect(() => native.createUserNamespace("0 0 1\n0 5 1\n", MAP)).toThrow(/uid_map 0 0 1\n0 5 1\n: Invalid argument/);
  });
});

describe("a mount idmapped into it", () => {
  it("shows the disk's owners through the namespace's maps: root's files as the range's first id, 1000's as BASE+1000, an id beyond the range as the overflow id", () => {
    const ns = keep(native.createUserNamespace(MAP, MAP));
    const mnt = keep(native.idmappedMount(dir, ns, false));
    expect(owner(mnt, "root-file")).toEqual([BASE, BASE]);
    expect(owner(mnt, "user-file")).toEqual([BASE + 1000, BASE + 1000]);
    expect(owner(mnt, "unmapped-file")).toEqual([65534, 65534]);
    expect(owner(mnt, "sub")).toEqual([BASE, BASE]);
    // The directory itself is unchanged.
    const plain = keep(Number(native.openat2(-100, Buffer.from(dir), dir.length, 0o10000000 /* O_PATH */, 0, 0)));
    expect(owner(plain, "root-file")).toEqual([0, 0]);
    expect(owner(plain, "user-file")).toEqual([1000, 1000]);
  });

  it("refuses what the kernel cannot idmap (proc), and a path that is not there, naming it", () => {
    const ns = keep(native.createUserNamespace(MAP, MAP));
    expect(() => native.idmappedMount("/proc", ns, false)).toThrow(/idmapping \/proc \(its filesystem cannot be idmapped\): Invalid argument/);
    expect(() => native.idmappedMount(join(dir, "missing"), ns, false)).toThrow(/open_tree .*missing: No such file or directory/);
  });
});

describe("an overlay over idmapped layers (a runtime's overlay cannot itself be idmapped)", () => {
  it("shows every layer's owners through the maps, and what root inside writes lands as root's on the disk", () => {
    const layers = join(dir, "layers");
    for (const d of ["top", "base", "rw/diff", "rw/work"]) mkdirSync(join(layers, d), { recursive: true });
    writeFileSync(join(layers, "base", "etc-file"), "base");
    writeFileSync(join(layers, "top", "user-file"), "top");
    chownSync(join(layers, "top", "user-file"), 1000, 1000);
    const ns = keep(native.createUserNamespace(MAP, MAP));
    const ov = keep(native.idmappedOverlay({ lower: [join(layers, "top"), join(layers, "base")], upper: join(layers, "rw/diff"), work: join(layers, "rw/work"), userns: ns, owner: BASE }));
    expect(owner(ov, "etc-file")).toEqual([BASE, BASE]);
    expect(owner(ov, "user-file")).toEqual([BASE + 1000, BASE + 1000]);
    // Root inside (host BASE) creates a file and changes a lower one: copied up as root's.
    expect(native.setCreds(BASE, BASE, new Int32Array(0))).toBe(0);
    let made: number;
    let changed: number;
    try {
      made = native.openat2(ov, Buffer.from("new-file"), 8, 0o100 | 0o1 | 0o2000000 /* O_CREAT|O_WRONLY|O_CLOEXEC */, 0o644, 0);
      changed = native.openat2(ov, Buffer.from("etc-file"), 8, 0o1 | 0o2000000 /* O_WRONLY|O_CLOEXEC */, 0, 0);
    } finally {
      native.setCreds(0, 0, new Int32Array(0));
    }
    expect(made, "create as root inside").toBeGreaterThanOrEqual(0);
    expect(changed, "open a lower file for writing as root inside").toBeGreaterThanOrEqual(0);
    keep(made);
    keep(changed);
    const plain = keep(native.openat2(-100, Buffer.from(join(layers, "rw/diff")), join(layers, "rw/diff").length, 0o10000000 /* O_PATH */, 0, 0));
    expect(owner(plain, "new-file")).toEqual([0, 0]);
    expect(owner(plain, "etc-file")).toEqual([0, 0]);
  });

  it("a layer that is not there is named", () => {
    const ns = keep(native.createUserNamespace(MAP, MAP));
    expect(() => native.idmappedOverlay({ lower: [join(dir, "nope")], upper: join(dir, "rw/diff"), work: join(dir, "rw/work"), userns: ns, owner: BASE })).toThrow(/idmapping the layer .*nope: No such file or directory/);
    expect(() => native.idmappedOverlay({ lower: [dir], upper: join(dir, "a/diff"), work: join(dir, "b/work"), userns: ns, owner: BASE })).toThrow(/upper and work absolute and in one directory/);
  });
});
