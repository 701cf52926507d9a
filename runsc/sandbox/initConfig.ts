// The records runsc-ts-init executes, in order; their tags and payloads are the protocol's
// one list (native/helper/protocol.json), which init.c reads through its generated header.
// A closed union, encoded as u32 tag, u32 length, payload (u32 fields, NUL-ended strings).

import { recordTag } from "../../native/protocol.js";

export type InitRecord =
  | { op: "arg"; value: string }
  | { op: "env"; value: string }
  | { op: "cwd"; path: string; fallbackToRoot: boolean }
  | { op: "hostname"; name: string }
  | { op: "domainname"; name: string }
  | { op: "filter"; program: Uint8Array; flags: number }
  /** optional: true skips a missing path; "any" skips any failure (a mount that may not be possible). */
  | { op: "mount"; source: string; target: string; fstype: string; flags: number; data: string; optional?: boolean | "any" }
  | { op: "setattr"; path: string; set: number; clear: number; recursive: boolean; optional?: boolean }
  | { op: "mkdir"; path: string; mode: number }
  | { op: "mkfile"; path: string; mode: number }
  | { op: "symlink"; target: string; link: string }
  | { op: "hide"; path: string }
  | { op: "maskSource"; path: string }
  | { op: "loopbackUp" }
  | { op: "writefile"; path: string; mode: number; content: Uint8Array }
  | { op: "rlimit"; resource: number; soft: bigint; hard: bigint }
  | { op: "whiteout"; path: string }
  /** Attaches the detached mount passed with the config at index (spawn's fds) on path. */
  | { op: "attach"; index: number; path: string }
  | { op: "pivot"; root: string }
  /**
   * The container's root, mounted at path by now: every later path beneath it is resolved
   * inside it as the tree is at that moment (symlinks followed as in a chroot, never out of
   * it), and operated on through a descriptor (native/helper/inroot.h).
   */
  | { op: "root"; path: string }
  /**
   * Once set up, wait for the start signal ("R" on the control socket): OCI create/start.
   * A program that cannot be found fails setup (create), as runc's does.
   */
  | { op: "hold" }
  /** No PR_SET_NO_NEW_PRIVS (OCI noNewPrivileges: false); init installs the filter with CAP_SYS_ADMIN. */
  | { op: "keepPrivs" }
  | { op: "umask"; mask: number }
  /** Writes value to an existing file (a /proc/sys knob: no create, no chmod). */
  | { op: "sysctl"; path: string; value: string }
  /** The workload's ids, set just before exec. */
  | { op: "user"; uid: number; gid: number; groups: readonly number[] }
  /** The workload's capability sets (bit N = capability N), set just before exec. */
  | { op: "caps"; bounding: bigint; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  /** The descriptor passed at index (spawn's fds) becomes the workload's fd target (--preserve-fds). */
  | { op: "preserve"; index: number; target: number }
  /**
   * An OCI hook init runs in the container with the state on its stdin: createContainer
   * ones before pivot_root (init first stops for spawn's onPause), startContainer ones after
   * the start command, before the program. timeout: seconds, 0 for none.
   */
  | { op: "hook"; phase: "createContainer" | "startContainer"; path: string; args: readonly string[]; env: readonly string[]; timeout: number }
  /**
   * (With hold, in a new PID namespace) once started, init execs the program itself: the
   * program is PID 1, as under runc, and a guard outside the namespace kills it if the
   * control socket hangs up (launch asks spawn for the guard when this record is present).
   */
  | { op: "execInPlace" };


const lo = (v: bigint): number => Number(v & 0xffffffffn);
const hi = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);

/** One growing buffer: records are written in place (a config holds every env and mount record). */
class Writer {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  record(tag: number, fields: readonly (number | string | Uint8Array)[]): void {
    let size = 0;
    for (const f of fields) {
      if (typeof f === "number") {
        if (!Number.isInteger(f) || f < 0 || f > 0xffffffff) throw new RangeError(`init config: ${f} is not a u32`);
        size += 4;
      } else if (typeof f === "string") {
        if (f.includes("\0")) throw new Error(`init config: NUL byte in ${JSON.stringify(f)}`);
        size += Buffer.byteLength(f) + 1;
      } else {
        size += f.length;
      }
    }
    this.reserve(8 + size);
    const b = this.buf;
    let at = b.writeUInt32LE(tag, this.len);
    at = b.writeUInt32LE(size, at);
    for (const f of fields) {
      if (typeof f === "number") at = b.writeUInt32LE(f, at);
      else if (typeof f === "string") {
        at += b.write(f, at);
        b[at++] = 0;
      } else {
        b.set(f, at);
        at += f.length;
      }
    }
    this.len = at;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Encodes records for init. */
export function encodeInitConfig(records: readonly InitRecord[]): Uint8Array {
  const w = new Writer();
  for (const r of records) {
    switch (r.op) {
      case "arg":
      case "env":
        w.record(recordTag(r.op), [r.value]);
        break;
      case "cwd":
        w.record(recordTag("cwd"), [r.path]);
        w.record(recordTag("chdirFallback"), [r.fallbackToRoot ? 1 : 0]);
        break;
      case "hostname":
      case "domainname":
        w.record(recordTag(r.op), [r.name]);
        break;
      case "filter":
        if (r.program.length === 0 || r.program.length % 8 !== 0) {
          throw new RangeError(`init config: a filter is whole struct sock_filter entries, got ${r.program.length} bytes`);
        }
        w.record(recordTag("filter"), [r.program]);
        w.record(recordTag("filterFlags"), [r.flags]);
        break;
      case "mount":
        w.record(recordTag("mount"), [r.flags, r.optional === "any" ? 2 : r.optional ? 1 : 0, r.source, r.target, r.fstype, r.data]);
        break;
      case "setattr":
        w.record(recordTag("setattr"), [r.set, r.clear, r.recursive ? 1 : 0, r.optional ? 1 : 0, r.path]);
        break;
      case "mkdir":
      case "mkfile":
        w.record(recordTag(r.op), [r.mode, r.path]);
        break;
      case "symlink":
        w.record(recordTag("symlink"), [r.target, r.link]);
        break;
      case "hide":
      case "whiteout":
        w.record(recordTag(r.op), [r.path]);
        break;
      case "rlimit":
        w.record(recordTag("rlimit"), [r.resource, lo(r.soft), hi(r.soft), lo(r.hard), hi(r.hard)]);
        break;
      case "hold":
      case "keepPrivs":
        w.record(recordTag(r.op), []);
        break;
      case "sysctl":
        w.record(recordTag("sysctl"), [r.path, r.value]);
        break;
      case "umask":
        w.record(recordTag("umask"), [r.mask]);
        break;
      case "user":
        w.record(recordTag("user"), [r.uid, r.gid, r.groups.length, ...r.groups]);
        break;
      case "caps":
        w.record(recordTag("caps"), [r.bounding, r.effective, r.permitted, r.inheritable, r.ambient].flatMap((v) => [lo(v), hi(v)]));
        break;
      case "writefile":
        w.record(recordTag("writefile"), [r.mode, r.path, r.content]);
        break;
      case "loopbackUp":
        w.record(recordTag("loopbackUp"), []);
        break;
      case "maskSource":
        w.record(recordTag("maskSource"), [r.path]);
        break;
      case "attach":
        w.record(recordTag("attach"), [r.index, r.path]);
        break;
      case "pivot":
        w.record(recordTag("pivot"), [r.root]);
        break;
      case "root":
        w.record(recordTag("root"), [r.path]);
        break;
      case "preserve":
        w.record(recordTag("preserve"), [r.index, r.target]);
        break;
      case "execInPlace":
        w.record(recordTag("execInPlace"), []);
        break;
      case "hook":
        w.record(recordTag("hook"), [r.phase === "createContainer" ? 0 : 1, r.timeout, r.args.length, r.env.length, r.path, ...r.args, ...r.env]);
        break;
    }
  }
  return w.bytes();
}
