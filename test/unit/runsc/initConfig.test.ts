// The init records as runsc-ts-init reads them: encoded here, decoded by a copy of
// native/helper/init.c's reader (u32 tag, u32 len, payload; u32 little-endian; NUL-ended strings).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import { encodeInitConfig, type InitRecord } from "../../../runsc/sandbox/initConfig.js";

const PROTOCOL_H = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "build", "native", "generated", "protocol.h");

/** init.c's enum record_tag, by the names it uses. */
const TAGS = {
  TAG_ARG: 1,
  TAG_ENV: 2,
  TAG_CWD: 3,
  TAG_HOSTNAME: 4,
  TAG_FILTER: 5,
  TAG_MOUNT: 6,
  TAG_SETATTR: 7,
  TAG_MKDIR: 8,
  TAG_MKFILE: 9,
  TAG_SYMLINK: 10,
  TAG_PIVOT: 11,
  TAG_HIDE: 12,
  TAG_FILTER_FLAGS: 13,
  TAG_CHDIR_FALLBACK: 14,
  TAG_MASK_SOURCE: 15,
  TAG_LOOPBACK_UP: 16,
  TAG_RLIMIT: 17,
  TAG_WRITEFILE: 18,
  TAG_WHITEOUT: 19,
  TAG_ATTACH: 20,
  TAG_HOLD: 21,
  TAG_USER: 22,
  TAG_CAPS: 23,
  TAG_UMASK: 24,
  TAG_KEEP_PRIVS: 25,
  TAG_SYSCTL: 26,
  TAG_DOMAINNAME: 27,
  TAG_PRESERVE: 28,
  TAG_HOOK: 29,
  TAG_EXEC_IN_PLACE: 30,
  TAG_ROOT: 31,
} as const;

type Decoded = { tag: keyof typeof TAGS } & Record<string, string | number | Uint8Array>;

/** A reader of one record's payload, failing where init.c's rd_u32 and rd_str fail. */
class Reader {
  private p = 0;
  constructor(private readonly b: Uint8Array) {}
  u32(): number {
    if (this.b.length - this.p < 4) throw new Error("config: truncated record");
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.p, 4).getUint32(0, true);
    this.p += 4;
    return v;
  }
  str(): string {
    const nul = this.b.indexOf(0, this.p);
    if (nul < 0) throw new Error("config: unterminated string");
    const s = new TextDecoder("utf-8", { fatal: true }).decode(this.b.subarray(this.p, nul));
    this.p = nul + 1;
    return s;
  }
  /** The next len bytes (init.c: "record overruns" when fewer are left). */
  take(len: number, tag: number): Uint8Array {
    if (this.b.length - this.p < len) throw new Error(`config: record ${tag} overruns`);
    const r = this.b.subarray(this.p, this.p + len);
    this.p += len;
    return r;
  }
  rest(): Uint8Array {
    return this.take(this.b.length - this.p, -1);
  }
  done(): boolean {
    return this.p === this.b.length;
  }
}

/**
 * Decodes a config the way init.c's main loop does. Stricter in one way: a record must be
 * consumed exactly, so a field the encoder adds and init does not read is caught here.
 */
function decode(bytes: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  const top = new Reader(bytes);
  while (!top.done()) {
    const tag = top.u32();
    const len = top.u32();
    const f = new Reader(top.take(len, tag));
    const name = (Object.keys(TAGS) as (keyof typeof TAGS)[]).find((k) => TAGS[k] === tag);
    let rec: Decoded;
    switch (name) {
      case "TAG_ARG":
      case "TAG_ENV":
      case "TAG_CWD":
      case "TAG_HOSTNAME":
      case "TAG_DOMAINNAME":
      case "TAG_PIVOT":
      case "TAG_HIDE":
      case "TAG_WHITEOUT":
      case "TAG_MASK_SOURCE":
      case "TAG_ROOT":
        rec = { tag: name, s: f.str() };
        break;
      case "TAG_LOOPBACK_UP":
      case "TAG_EXEC_IN_PLACE":
      case "TAG_HOLD":
      case "TAG_KEEP_PRIVS":
        rec = { tag: name };
        break;
      case "TAG_UMASK":
        rec = { tag: name, v: f.u32() };
        break;
      case "TAG_SYSCTL":
        rec = { tag: name, path: f.str(), value: f.str() };
        break;
      case "TAG_USER": {
        const uid = f.u32();
        const gid = f.u32();
        const n = f.u32();
        if (n > 64) throw new Error("config: more than 64 additional groups");
        rec = { tag: name, uid, gid, groups: Array.from({ length: n }, () => f.u32()).join(",") };
        break;
      }
      case "TAG_CAPS": {
        const u64 = (): number => f.u32() + f.u32() * 2 ** 32;
        rec = { tag: name, bounding: u64(), effective: u64(), permitted: u64(), inheritable: u64(), ambient: u64() };
        break;
      }
      case "TAG_WRITEFILE": {
        const mode = f.u32();
        const path = f.str();
        rec = { tag: name, mode, path, content: Uint8Array.from(f.rest()) };
        break;
      }
      case "TAG_RLIMIT": {
        const resource = f.u32();
        const soft = f.u32() + f.u32() * 2 ** 32;
        const hard = f.u32() + f.u32() * 2 ** 32;
        rec = { tag: name, resource, soft, hard };
        break;
      }
      case "TAG_CHDIR_FALLBACK":
      case "TAG_FILTER_FLAGS":
        rec = { tag: name, v: f.u32() };
        break;
      case "TAG_FILTER":
        if (len % 8 !== 0 || len === 0) throw new Error("config: bad filter length");
        rec = { tag: name, program: Uint8Array.from(f.rest()) };
        break;
      case "TAG_MOUNT":
        rec = { tag: name, flags: f.u32(), optional: f.u32(), source: f.str(), target: f.str(), fstype: f.str(), data: f.str() };
        break;
      case "TAG_SETATTR":
        rec = { tag: name, set: f.u32(), clear: f.u32(), recursive: f.u32(), optional: f.u32(), path: f.str() };
        break;
      case "TAG_MKDIR":
      case "TAG_MKFILE":
        rec = { tag: name, mode: f.u32(), path: f.str() };
        break;
      case "TAG_SYMLINK":
        rec = { tag: name, target: f.str(), link: f.str() };
        break;
      case "TAG_ATTACH":
        rec = { tag: name, index: f.u32(), path: f.str() };
        break;
      case "TAG_PRESERVE":
        rec = { tag: name, index: f.u32(), target: f.u32() };
        break;
      case "TAG_HOOK": {
        const phase = f.u32();
        if (phase > 1) throw new Error(`config: hook phase ${phase}`);
        const timeout = f.u32();
        const nargs = f.u32();
        const nenv = f.u32();
        if (nargs > 64 || nenv > 256) throw new Error("config: a hook with too many arguments or variables");
        const path = f.str();
        const args = Array.from({ length: nargs }, () => f.str());
        const env = Array.from({ length: nenv }, () => f.str());
        rec = { tag: name, phase, timeout, path, args: args.join("|"), env: env.join("|") };
        break;
      }
      default:
        throw new Error(`config: unknown record ${tag}`);
    }
    if (!f.done()) throw new Error(`config: ${len}-byte record ${name} has bytes init does not read`);
    out.push(rec);
  }
  return out;
}

const roundTrip = (records: readonly InitRecord[]): Decoded[] => decode(encodeInitConfig(records));

describe("the decoder in this test", () => {
  it("uses the tag numbers init.c is built with (its generated header)", () => {
    const src = readFileSync(PROTOCOL_H, "utf8");
    const body = /enum record_tag \{([\s\S]*?)\};/.exec(src)?.[1];
    expect(body, "enum record_tag in the generated protocol.h").toMatch(/TAG_ARG = 1,/);
    const found: Record<string, number> = {};
    for (const m of (body ?? "").matchAll(/(TAG_[A-Z_]+)\s*=\s*(\d+)/g)) found[m[1] as string] = Number(m[2]);
    expect(found).toEqual(TAGS);
  });

  it("refuses what init.c refuses", () => {
    expect(() => decode(new Uint8Array([1, 0, 0, 0, 9, 0, 0, 0, 0x61, 0]))).toThrow(/overruns/);
    expect(() => decode(new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 0x61]))).toThrow(/unterminated/);
    expect(() => decode(new Uint8Array([99, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/unknown record 99/);
    expect(() => decode(new Uint8Array([1, 0, 0]))).toThrow(/truncated/);
    expect(() => decode(new Uint8Array([5, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4]))).toThrow(/bad filter length/);
  });
});

describe("encodeInitConfig", () => {
  it("lays out a mkdir record byte for byte", () => {
    expect([...encodeInitConfig([{ op: "mkdir", path: "/a", mode: 0o755 }])]).toEqual([
      8, 0, 0, 0, // TAG_MKDIR
      7, 0, 0, 0, // payload length
      0xed, 0x01, 0, 0, // mode 0755
      0x2f, 0x61, 0, // "/a\0"
    ]);
  });

  it("lays out a mount record byte for byte", () => {
    const bytes = encodeInitConfig([{ op: "mount", source: "", target: "/t", fstype: "", flags: 0x5000, data: "", optional: true }]);
    expect([...bytes]).toEqual([
      6, 0, 0, 0, // TAG_MOUNT
      14, 0, 0, 0, // 4 + 4 + "\0" + "/t\0" + "\0" + "\0"
      0x00, 0x50, 0, 0, // MS_BIND | MS_REC
      1, 0, 0, 0, // optional
      0, 0x2f, 0x74, 0, 0, 0,
    ]);
  });

  it("encodes nothing for no records", () => {
    expect(encodeInitConfig([])).toHaveLength(0);
  });

  it("round-trips argv and environment in order, UTF-8 included", () => {
    expect(
      roundTrip([
        { op: "arg", value: "/bin/sh" },
        { op: "arg", value: "-c" },
        { op: "arg", value: "" },
        { op: "env", value: "LANG=fr_FR.UTF-8" },
        { op: "env", value: "GREETING=héllo wörld ✓" },
      ]),
    ).toEqual([
      { tag: "TAG_ARG", s: "/bin/sh" },
      { tag: "TAG_ARG", s: "-c" },
      { tag: "TAG_ARG", s: "" },
      { tag: "TAG_ENV", s: "LANG=fr_FR.UTF-8" },
      { tag: "TAG_ENV", s: "GREETING=héllo wörld ✓" },
    ]);
  });

  it("sends cwd with its fallback flag and the filter with its flags", () => {
    const program = new Uint8Array([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]); // ret ALLOW
    expect(
      roundTrip([
        { op: "cwd", path: "/work", fallbackToRoot: true },
        { op: "cwd", path: "/w2", fallbackToRoot: false },
        { op: "filter", program, flags: 0x8 },
      ]),
    ).toEqual([
      { tag: "TAG_CWD", s: "/work" },
      { tag: "TAG_CHDIR_FALLBACK", v: 1 },
      { tag: "TAG_CWD", s: "/w2" },
      { tag: "TAG_CHDIR_FALLBACK", v: 0 },
      { tag: "TAG_FILTER", program },
      { tag: "TAG_FILTER_FLAGS", v: 8 },
    ]);
  });

  it("round-trips every mount-plan record", () => {
    expect(
      roundTrip([
        { op: "maskSource", path: "/run/runsc-ts/.masked" },
        { op: "mount", source: "tmpfs", target: "/tmp/root/tmp", fstype: "tmpfs", flags: 0x6 | 0x8, data: "mode=1777" },
        { op: "mount", source: "/", target: "/tmp/root", fstype: "", flags: 0x5000, data: "", optional: true },
        { op: "setattr", path: "/tmp/root", set: 0x3, clear: 0x8, recursive: true, optional: true },
        { op: "setattr", path: "/tmp/root/dev", set: 0x1, clear: 0, recursive: false },
        { op: "mkdir", path: "/tmp/root/dev/shm", mode: 0o1777 },
        { op: "mkfile", path: "/tmp/root/dev/null", mode: 0o666 },
        { op: "symlink", target: "pts/ptmx", link: "/tmp/root/dev/ptmx" },
        { op: "hide", path: "/tmp/root/etc/shadow" },
        { op: "hostname", name: "sandbox" },
        { op: "loopbackUp" },
        { op: "pivot", root: "/tmp/root" },
      ]),
    ).toEqual([
      { tag: "TAG_MASK_SOURCE", s: "/run/runsc-ts/.masked" },
      { tag: "TAG_MOUNT", flags: 0xe, optional: 0, source: "tmpfs", target: "/tmp/root/tmp", fstype: "tmpfs", data: "mode=1777" },
      { tag: "TAG_MOUNT", flags: 0x5000, optional: 1, source: "/", target: "/tmp/root", fstype: "", data: "" },
      { tag: "TAG_SETATTR", set: 3, clear: 8, recursive: 1, optional: 1, path: "/tmp/root" },
      { tag: "TAG_SETATTR", set: 1, clear: 0, recursive: 0, optional: 0, path: "/tmp/root/dev" },
      { tag: "TAG_MKDIR", mode: 0o1777, path: "/tmp/root/dev/shm" },
      { tag: "TAG_MKFILE", mode: 0o666, path: "/tmp/root/dev/null" },
      { tag: "TAG_SYMLINK", target: "pts/ptmx", link: "/tmp/root/dev/ptmx" },
      { tag: "TAG_HIDE", s: "/tmp/root/etc/shadow" },
      { tag: "TAG_HOSTNAME", s: "sandbox" },
      { tag: "TAG_LOOPBACK_UP" },
      { tag: "TAG_PIVOT", s: "/tmp/root" },
    ]);
  });

  it("carries a file's content as the rest of its record, NUL bytes included", () => {
    const content = new Uint8Array([0x61, 0, 0x62, 10]);
    expect(roundTrip([{ op: "writefile", path: "/tmp/files/0", mode: 0o444, content }])).toEqual([
      { tag: "TAG_WRITEFILE", mode: 0o444, path: "/tmp/files/0", content },
    ]);
  });

  it("carries a whiteout's path, and a mount that may fail as optional 2", () => {
    expect(
      roundTrip([
        { op: "whiteout", path: "/tmp/absent/0/shadow" },
        { op: "mount", source: "overlay", target: "/tmp/root/etc", fstype: "overlay", flags: 2, data: "lowerdir=/tmp/absent/0:/etc", optional: "any" },
        { op: "mount", source: "/a", target: "/b", fstype: "", flags: 0, data: "", optional: true },
      ]),
    ).toEqual([
      { tag: "TAG_WHITEOUT", s: "/tmp/absent/0/shadow" },
      { tag: "TAG_MOUNT", flags: 2, optional: 2, source: "overlay", target: "/tmp/root/etc", fstype: "overlay", data: "lowerdir=/tmp/absent/0:/etc" },
      { tag: "TAG_MOUNT", flags: 0, optional: 1, source: "/a", target: "/b", fstype: "", data: "" },
    ]);
  });

  it("carries which passed descriptor a mount attaches, and where", () => {
    expect(roundTrip([{ op: "attach", index: 0, path: "/tmp/root" }])).toEqual([{ tag: "TAG_ATTACH", index: 0, path: "/tmp/root" }]);
  });

  it("carries an rlimit's 64-bit soft and hard values in two u32 halves each", () => {
    expect(roundTrip([{ op: "rlimit", resource: 6, soft: 0x1_0000_0005n, hard: 8n }])).toEqual([
      { tag: "TAG_RLIMIT", resource: 6, soft: 0x1_0000_0005, hard: 8 },
    ]);
  });

  it("carries an OCI process: held start, ids and groups, 64-bit capability sets, umask, sysctl", () => {
    expect(
      roundTrip([
        { op: "user", uid: 1000, gid: 1000, groups: [2000, 10] },
        { op: "caps", bounding: 0x1_2000_0420n, effective: 0x420n, permitted: 0x1_0000_0000n, inheritable: 0n, ambient: 1n },
        { op: "umask", mask: 0o22 },
        { op: "keepPrivs" },
        { op: "sysctl", path: "/tmp/root/proc/sys/net/ipv4/ping_group_range", value: "0 2147483647" },
        { op: "hold" },
      ]),
    ).toEqual([
      { tag: "TAG_USER", uid: 1000, gid: 1000, groups: "2000,10" },
      { tag: "TAG_CAPS", bounding: 0x1_2000_0420, effective: 0x420, permitted: 0x1_0000_0000, inheritable: 0, ambient: 1 },
      { tag: "TAG_UMASK", v: 0o22 },
      { tag: "TAG_KEEP_PRIVS" },
      { tag: "TAG_SYSCTL", path: "/tmp/root/proc/sys/net/ipv4/ping_group_range", value: "0 2147483647" },
      { tag: "TAG_HOLD" },
    ]);
  });

  it("carries preserved descriptors and the hooks init runs, with their arguments, environment and timeout", () => {
    expect(
      roundTrip([
        { op: "preserve", index: 2, target: 3 },
        { op: "hook", phase: "createContainer", path: "/usr/bin/hook", args: ["hook", "create"], env: ["A=1", "B=2"], timeout: 5 },
        { op: "hook", phase: "startContainer", path: "/bin/true", args: [], env: [], timeout: 0 },
        { op: "execInPlace" },
        { op: "root", path: "/run/runsc-ts/.staging/root" },
      ]),
    ).toEqual([
      { tag: "TAG_PRESERVE", index: 2, target: 3 },
      { tag: "TAG_HOOK", phase: 0, timeout: 5, path: "/usr/bin/hook", args: "hook|create", env: "A=1|B=2" },
      { tag: "TAG_HOOK", phase: 1, timeout: 0, path: "/bin/true", args: "", env: "" },
      { tag: "TAG_EXEC_IN_PLACE" },
      { tag: "TAG_ROOT", s: "/run/runsc-ts/.staging/root" },
    ]);
  });

  it("writes u32 fields little-endian over their full range", () => {
    expect(roundTrip([{ op: "mkdir", path: "/x", mode: 0xfedcba98 }])).toEqual([
      { tag: "TAG_MKDIR", mode: 0xfedcba98, path: "/x" },
    ]);
  });

  it.each<[string, InitRecord]>([
    ["an argument", { op: "arg", value: "a\0b" }],
    ["an environment entry", { op: "env", value: "K=v\0LD_PRELOAD=/x.so" }],
    ["a cwd", { op: "cwd", path: "/w\0", fallbackToRoot: false }],
    ["a hostname", { op: "hostname", name: "h\0" }],
    ["a mount source", { op: "mount", source: "/a\0", target: "/t", fstype: "", flags: 0, data: "" }],
    ["a mount target", { op: "mount", source: "/a", target: "/t\0/x", fstype: "", flags: 0, data: "" }],
    ["a mount fstype", { op: "mount", source: "", target: "/t", fstype: "tmp\0fs", flags: 0, data: "" }],
    ["mount data", { op: "mount", source: "", target: "/t", fstype: "tmpfs", flags: 0, data: "mode=0\0" }],
    ["a setattr path", { op: "setattr", path: "/r\0", set: 1, clear: 0, recursive: true }],
    ["a mkdir path", { op: "mkdir", path: "\0", mode: 0o755 }],
    ["a mkfile path", { op: "mkfile", path: "/d/\0null", mode: 0o666 }],
    ["a symlink target", { op: "symlink", target: "a\0", link: "/l" }],
    ["a symlink path", { op: "symlink", target: "a", link: "/l\0" }],
    ["a hidden path", { op: "hide", path: "/etc/\0shadow" }],
    ["the mask source", { op: "maskSource", path: "/m\0" }],
    ["the new root", { op: "pivot", root: "/tmp/root\0" }],
  ])("rejects a NUL byte in %s", (_, record) => {
    expect(() => encodeInitConfig([{ op: "arg", value: "ok" }, record])).toThrow(/NUL/);
  });
});
