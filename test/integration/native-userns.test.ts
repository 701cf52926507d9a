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

