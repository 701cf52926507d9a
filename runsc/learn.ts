// `runsc-ts policy learn`: the smallest readable policy that lets a command do what one run
// of it did, from the facts its sentry recorded in audit mode (sentry/audit.ts).
//
// What is written:
//   * filesystem: everything hidden ("/**" none) but what the run opened, examined or ran,
//     generalised so that the file stays readable:
//       - system trees (/usr, /lib*, /bin, /sbin) by their first three components
//         (/usr/lib/x86_64-linux-gnu/**, /usr/bin/**, /usr/share/zoneinfo/**);
//       - elsewhere exact files, or a directory's subtree once the run read 4 files or more
//         in it (6 under /etc);
//       - a directory the run listed, below the top level, as its subtree;
//       - writes outside the sandbox's own /tmp: the written file's directory, read-write
//         (failed writes are not granted: the run did not do them);
//     the sandbox's own /proc, /dev and /tmp need no rule;
//   * process.exec.allow: each file the run executed, as exec resolves it (symlinks followed,
//     "#!" interpreters included), and a program it wrote in its own /tmp by its path there
//     (which lifts noexec from /tmp); the ELF interpreter (ld.so) is made readable;
//   * network: none when the run made no TCP connection beyond loopback, else proxy with one
//     egress rule per address it connected to (its ports listed); datagrams it sent beyond
//     loopback and host unix sockets it used are named in comments (neither is carried);
//   * process.signals: self when the run signalled no process but its own, else sandbox;
//   * syscalls: the policy's refusals the run hit are allowed, each named.
// A learned policy is a starting point, not a proof: another input, another code path or a
// later version of the program may need more.
import { closeSync, openSync, readSync } from "node:fs";
import { posix } from "node:path";
import type { AuditFact } from "../sentry/audit.js";
import { literalPattern, normalizePath } from "../sentry/policy/paths.js";
import { hostFs } from "./sandbox/hostFs.js";

/** What learn asks of the host (injectable for tests). */
export interface HostView {
  kind(path: string): "dir" | "file" | undefined;
  realpath(path: string): string | undefined;
  /** Whether the sandbox's ids may reach the path (mounts.ts HostFs.reachable). */
  reachable(path: string): boolean;
  /** The "#!" interpreter (as written) or ELF PT_INTERP of an executable, if any. */
  interpreter(path: string): { kind: "script" | "elf"; path: string } | undefined;
}

export interface LearnInput {
  facts: readonly AuditFact[];
  command: readonly string[];
  /** The policy the run used, which the learned one extends ("default"). */
  base: string;
  name: string;
  /** The working directory of the run. */
  cwd: string;
  /** Where the YAML will live, for the schema modeline. */
  schemaRef: string;
}

const SYSTEM = new Set(["usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin"]);
/** The sandbox provides these itself. */
const OWN = ["/proc", "/dev", "/tmp", "/sys/fs/cgroup"];
const SUBTREE_AFTER = 4;
const SUBTREE_AFTER_ETC = 6;

function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "");
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + "/");
}

function isOwn(p: string): boolean {
  return OWN.some((d) => under(p, d));
}

/** The pattern a system file is listed by, or undefined for a file elsewhere. */
function systemPattern(p: string): string | undefined {
  const c = components(p);
  if (c.length === 0 || !SYSTEM.has(c[0]!)) return undefined;
  const keep = Math.min(c.length - 1, 3);
  if (keep === 0) return `/${c[0]}/**`;
  return `/${c.slice(0, keep).join("/")}/**`;
}

interface Rules {
  read: Set<string>;
  readWrite: Set<string>;
}

/** Reads and listings, generalised (see the file's header). */
function readRules(files: Set<string>, listed: Set<string>, host: HostView): Set<string> {
  const out = new Set<string>();
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const sys = systemPattern(f);
    if (sys !== undefined) {
      out.add(sys);
      continue;
    }
    const dir = posix.dirname(f);
    byDir.set(dir, [...(byDir.get(dir) ?? []), f]);
  }
  for (const [dir, list] of byDir) {
    const limit = under(dir, "/etc") ? SUBTREE_AFTER_ETC : SUBTREE_AFTER;
    if (list.length >= limit && components(dir).length >= 2) out.add(`${dir}/**`);
    else for (const f of list) out.add(host.kind(f) === "dir" ? `${f}/**` : f);
  }
  for (const d of listed) {
    if (components(d).length < 2 || systemPattern(d) !== undefined) continue;
    out.add(`${d}/**`);
  }
  return withoutCovered(out);
}

/** A learned path (or "PATH/**") as a pattern: the path's own characters taken literally. */
function asPattern(p: string): string {
  return p.endsWith("/**") ? `${literalPattern(p.slice(0, -3))}/**` : literalPattern(p);
}

function baseOf(pattern: string): string {
  return pattern.endsWith("/**") ? pattern.slice(0, -3) : pattern;
}

/** Drops the patterns a subtree in the set already covers. */
function withoutCovered(patterns: Set<string>): Set<string> {
  const subtrees = [...patterns].filter((p) => p.endsWith("/**")).map(baseOf);
  return new Set([...patterns].filter((p) => !subtrees.some((s) => p !== `${s}/**` && under(baseOf(p), s))));
}

/** Executables as exec checks them (resolved, with their #! interpreters), and ld.so. */
function execFiles(facts: readonly AuditFact[], host: HostView): { exec: Set<string>; loaders: Set<string> } {
  const exec = new Set<string>();
  const loaders = new Set<string>();
  for (const f of facts) {
    if (f.kind !== "exec") continue;
    // A program the run made in its own /tmp (or /dev/shm): that file, by its path there (the
    // host cannot see it; exec resolves it in the sandbox).
    if (isOwn(normalizePath(f.path))) {
      if (!under(normalizePath(f.path), "/proc") && !under(normalizePath(f.path), "/dev/fd")) exec.add(normalizePath(f.path));
      continue;
    }
    // An exec the sandbox could not reach failed (the fact is recorded before the kernel runs it).
    if (!host.reachable(f.path)) continue;
    let file = host.realpath(f.path);
    for (let depth = 0; file !== undefined && depth < 4 && !exec.has(file); depth++) {
      exec.add(file);
      const interp = host.interpreter(file);
      if (interp === undefined) break;
      if (interp.kind === "elf") {
        loaders.add(interp.path);
        const real = host.realpath(interp.path);
        if (real !== undefined) loaders.add(real);
        break;
      }
      file = host.realpath(interp.path);
    }
  }
  return { exec, loaders };
}

/** The IPv4 address of an IPv4-mapped IPv6 address (0:0:0:0:0:ffff:a00:5), else undefined. */
function v4Mapped(address: string): string | undefined {
  const m = /^0:0:0:0:0:ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (!m) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** A word as a shell would need it quoted. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

function yamlString(s: string): string {
  return /^[A-Za-z0-9_./*+-][A-Za-z0-9_./*+@:-]*$/.test(s) && !/^[-?:]/.test(s) ? s : JSON.stringify(s);
}

/** The learned policy, as YAML text with comments. */
export function learnPolicy(input: LearnInput, host: HostView = hostView): string {
  return render(input, learn(input.facts, host));
}

/** What one run did, as the learned policy will allow it. */
interface Learned {
  readonly syscalls: ReadonlyMap<string, string>;
  readonly rules: Rules;
  readonly exec: ReadonlySet<string>;
  readonly signalsOthers: boolean;
  /** TCP destinations (a connect), by address; datagrams sent to an address. */
  readonly tcp: ReadonlyMap<string, ReadonlySet<number>>;
  readonly udp: ReadonlySet<string>;
  readonly localOnly: readonly string[];
  readonly hostSockets: ReadonlySet<string>;
}

function learn(facts: LearnInput["facts"], host: HostView): Learned {
  const files = new Set<string>();
  const listed = new Set<string>();
  const written = new Set<string>();
  const created = new Set<string>();
  const syscalls = new Map<string, string>();
  /** TCP destinations (a connect), by address; datagrams sent to an address. */
  const tcp = new Map<string, Set<number>>();
  const udp = new Set<string>();
  const localOnly: string[] = [];
  const hostSockets = new Set<string>();
  let signalsOthers = false;

  for (const f of facts) {
    switch (f.kind) {
      case "path": {
        if (f.errno !== undefined) break;
        const paths = [f.path, ...(f.resolved !== undefined ? [f.resolved] : [])].map(normalizePath).filter((p) => !isOwn(p));
        for (const p of paths) {
          if (f.write && !f.examine) {
            if (host.kind(p) === "file" || host.kind(p) === undefined) created.add(posix.dirname(p));
            written.add(p);
          } else if (f.dir || host.kind(p) === "dir") listed.add(p);
          else files.add(p);
        }
        break;
      }
      case "syscall":
        if (!f.answered.startsWith("errno") && f.answered !== "kill") syscalls.set(f.syscall, f.would);
        break;
      case "net": {
        if (f.family === "unix") {
          if (f.syscall !== "bind" && !f.address.startsWith("@") && !isOwn(f.address)) hostSockets.add(f.address);
          break;
        }
        if (f.syscall === "bind" || f.port === undefined) break;
        const address = f.family === "inet6" ? v4Mapped(f.address) ?? f.address : f.address;
        const loop = address.startsWith("127.") || address === "0:0:0:0:0:0:0:1" || address === "0.0.0.0" || address === "0:0:0:0:0:0:0:0";
        const key = address.includes(":") ? `[${address}]:${f.port}` : `${address}:${f.port}`;
        if (loop) localOnly.push(key);
        else if (f.syscall === "connect") tcp.set(address, new Set([...(tcp.get(address) ?? []), f.port]));
        else udp.add(key);
        break;
      }
      case "signal":
        if (!f.own) signalsOthers = true;
        break;
      case "exec":
        break;
    }
  }
  const { exec, loaders } = execFiles(facts, host);
  for (const e of exec) if (!isOwn(e)) files.add(e);
  // The paths the run named must lead there too (/bin/sh through the /bin symlink).
  for (const f of facts) if (f.kind === "exec" && !isOwn(f.path) && host.reachable(f.path)) files.add(normalizePath(f.path));
  for (const l of loaders) files.add(l);
  // Read access to what was written is implied by read-write on its directory.
  const rules: Rules = { read: readRules(files, listed, host), readWrite: new Set([...created].filter((d) => d !== "/").map((d) => `${d}/**`)) };
  for (const w of written) {
    if (![...created].some((d) => under(w, d))) rules.readWrite.add(w);
  }
  for (const rw of rules.readWrite) rules.read.delete(rw);

  return { syscalls, rules, exec, signalsOthers, tcp, udp, localOnly, hostSockets };
}

/** The learned policy's YAML. */
function render(input: LearnInput, l: Learned): string {
  const { syscalls, rules, exec, signalsOthers, tcp, udp, localOnly, hostSockets } = l;
  const out: string[] = [];
  out.push(`# yaml-language-server: $schema=${input.schemaRef}`);
  out.push(`# Learned by \`runsc-ts policy learn\` from one run of: ${input.command.map(shellWord).join(" ").replace(/\n/g, "\\n")}`);
  out.push("# A starting point, not a proof: it allows what that run did and hides everything else.");
  out.push("# Another input, another code path or another version of the program may need more;");
  out.push("# review it before relying on it (`runsc-ts policy explain` says why a thing is refused).");
  out.push("apiVersion: runsc-ts/v1");
  out.push("kind: Policy");
  out.push(`name: ${input.name}`);
  out.push(`extends: ${yamlString(input.base)}`);
  out.push("audit: false              # enforced, whatever the policy learned from says");
  if (syscalls.size > 0) {
    out.push("");
    out.push("syscalls:");
    out.push(`  # Refused by ${input.base}, used by the run:`);
    out.push(`  allow: [${[...syscalls.keys()].sort().join(", ")}]`);
  }
  out.push("");
  out.push("filesystem:");
  out.push("  rules:");
  out.push("    - { path: /**, access: none }   # what the run did not touch is hidden");
  const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();
  for (const p of sorted(rules.read)) out.push(`    - { path: ${yamlString(asPattern(p))}, access: read }`);
  for (const p of sorted(rules.readWrite)) out.push(`    - { path: ${yamlString(asPattern(p))}, access: read-write }`);
  if (![...rules.read, ...rules.readWrite].some((p) => under(input.cwd, p.endsWith("/**") ? p.slice(0, -3) : p)) && input.cwd !== "/") {
    out.push(`    # The run's working directory, ${input.cwd}, holds nothing it used: it is hidden too.`);
  }
  out.push("");
  out.push("process:");
  if (exec.size > 0) {
    out.push("  exec:");
    out.push("    allow:");
    for (const e of sorted(exec)) out.push(`      - ${yamlString(literalPattern(e))}`);
  }
  out.push(signalsOthers ? "  signals: sandbox         # the run signalled other processes" : "  signals: self            # the run signalled no process but itself");
  out.push("");
  out.push("network:");
  if (tcp.size === 0) {
    out.push("  mode: none");
  } else {
    out.push("  mode: proxy                # the TCP connections the run made, carried by the sentry");
    out.push("  egress:");
    for (const [address, ports] of [...tcp].sort(([a], [b]) => a.localeCompare(b))) {
      const list = [...ports].sort((a, b) => a - b);
      out.push(`    - { to: ${yamlString(address)}, ports: ${list.length === 1 ? list[0] : `[${list.join(", ")}]`} }`);
    }
  }
  if (udp.size > 0) {
    out.push(`  # The run also sent datagrams (${sorted(udp).join(", ")}): they are not carried (proxy mode carries TCP);`);
    out.push("  # use mode: host if the program needs them.");
  }
  if (localOnly.length > 0) {
    out.push(`  # The run also used loopback (${[...new Set(localOnly)].sort().join(", ")}): inside the sandbox that is its own.`);
  }
  if (hostSockets.size > 0) {
    out.push(`  # Host unix sockets the run used count as network and stay refused: ${sorted(hostSockets).join(", ")}`);
  }
  out.push("");
  return out.join("\n");
}

/** The host as the sandbox of `do` sees it (its root is the host's). */
export const hostView: HostView = {
  kind: (path) => hostFs.kind(path),
  realpath: (path) => hostFs.realpath(path),
  reachable: (path) => hostFs.reachable(path),
  interpreter(path) {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return undefined;
    }
    try {
      const head = Buffer.alloc(4096);
      const n = readSync(fd, head, 0, head.length, 0);
      if (n >= 2 && head[0] === 0x23 && head[1] === 0x21) {
        const interp = head.toString("latin1", 2, n).split("\n")[0]!.trim().split(/[ \t]/)[0];
        return interp ? { kind: "script", path: interp } : undefined;
      }
      return elfInterpreter(fd, head, n);
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  },
};

/** PT_INTERP of a 64-bit little-endian ELF file (include/uapi/linux/elf.h). */
function elfInterpreter(fd: number, head: Buffer, n: number): { kind: "elf"; path: string } | undefined {
  if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  const PT_INTERP = 3;
  const ph = Buffer.alloc(phentsize);
  for (let i = 0; i < phnum; i++) {
    if (readSync(fd, ph, 0, phentsize, phoff + i * phentsize) < phentsize) return undefined;
    if (ph.readUInt32LE(0) !== PT_INTERP) continue;
    const off = Number(ph.readBigUInt64LE(8));
    const size = Math.min(Number(ph.readBigUInt64LE(32)), 4096);
    const buf = Buffer.alloc(size);
    readSync(fd, buf, 0, size, off);
    const end = buf.indexOf(0);
    return { kind: "elf", path: buf.toString("latin1", 0, end < 0 ? size : end) };
  }
  return undefined;
}
