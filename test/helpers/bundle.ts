// OCI bundles for the runtime tests: one shared busybox root filesystem under /var/tmp (built
// once, reused by every test file and worker), a bundle directory per test holding only
// config.json (its root.path points at the shared rootfs, read-only by default), and a way to
// run the runtime's verbs against a state root private to the tests.
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./sandbox.js";

/** Everything the bundle fixtures put on the host lives under here (0755, reachable by any uid). */
export const TEST_DIR = "/var/tmp/runsc-ts-test";
export const BUSYBOX_ROOTFS = join(TEST_DIR, "busybox-rootfs");
export const BUNDLES_DIR = join(TEST_DIR, "bundles");
/** The runtime's state root for the tests (`--root`), apart from any real one. */
export const STATE_ROOT = "/run/runsc-ts-test";
/** The built CLI entry point (the bundle bin/runsc-ts runs), run with this node. */
export const MAIN_JS = join(ROOT, "dist", "cli", "main.js");
/** The command line as users and shims run it: the native client, which hands most commands to a warm process. */
export const CLIENT = join(ROOT, "bin", "runsc-ts");

const HOST_BUSYBOX = "/bin/busybox";
const NOT_INSTALLED = "busybox-static is not installed: apt-get install busybox-static";

const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "app:x:1000:1000:app:/tmp:/bin/sh",
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
].join("\n") + "\n";

const GROUP = ["root:x:0:", "app:x:1000:", "extra:x:2000:app", "nobody:x:65534:"].join("\n") + "\n";

/** Directories of the rootfs and their modes (chmod, so the umask does not interfere). */
const DIRS: ReadonlyArray<readonly [string, number]> = [
  ["bin", 0o755],
  ["sbin", 0o755],
  ["etc", 0o755],
  ["proc", 0o755],
  ["sys", 0o755],
  ["dev", 0o755],
  ["tmp", 0o1777],
  ["root", 0o700],
  ["var", 0o755],
  ["run", 0o755],
  ["usr", 0o755],
  ["usr/bin", 0o755],
  ["usr/sbin", 0o755],
];

/** mkdir -p with every created (or existing) component chmod 0755. */
function mkdirReachable(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
}

/**
 * Whether the ELF file at path asks for a program interpreter (PT_INTERP), i.e. is
 * dynamically linked. Throws when the file is missing or not ELF.
 */
function hasInterpreter(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(head, 0x1c);
    const phentsize = u16(head, is64 ? 0x36 : 0x2a);
    const phnum = u16(head, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === 3 /* PT_INTERP */) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Checks that the host's busybox is the static one, which runs in any rootfs. */
function checkHostBusybox(): void {
  let dynamic: boolean;
  try {
    dynamic = hasInterpreter(HOST_BUSYBOX);
  } catch {
    throw new Error(NOT_INSTALLED);
  }
  if (dynamic) throw new Error(`${NOT_INSTALLED} (${HOST_BUSYBOX} is dynamically linked)`);
}

/** Whether dir holds a finished rootfs built from the host's current busybox. */
function rootfsComplete(dir: string): boolean {
  try {
    if (statSync(join(dir, "bin", "busybox")).size !== statSync(HOST_BUSYBOX).size) return false;
    return (
      readlinkSync(join(dir, "bin", "sh")) === "/bin/busybox" &&
      existsSync(join(dir, "etc", "passwd")) &&
      existsSync(join(dir, "etc", "group"))
    );
  } catch {
    return false;
  }
}

/** Lays out the rootfs in dir (which exists and is empty). */
function populateRootfs(dir: string): void {
  chmodSync(dir, 0o755);
  for (const [d, mode] of DIRS) {
    mkdirSync(join(dir, d), { recursive: true });
    chmodSync(join(dir, d), mode);
  }
  const busybox = join(dir, "bin", "busybox");
  copyFileSync(HOST_BUSYBOX, busybox);
  chmodSync(busybox, 0o755);
  const applets = execFileSync(HOST_BUSYBOX, ["--list"], { encoding: "utf8" })
    .split("\n")
    .map((a) => a.trim())
    .filter((a) => a !== "" && a !== "busybox" && !a.includes("/"));
  for (const applet of applets) symlinkSync("/bin/busybox", join(dir, "bin", applet));
  writeFileSync(join(dir, "etc", "passwd"), PASSWD);
  chmodSync(join(dir, "etc", "passwd"), 0o644);
  writeFileSync(join(dir, "etc", "group"), GROUP);
  chmodSync(join(dir, "etc", "group"), 0o644);
}

/**
 * The shared busybox root filesystem (/var/tmp/runsc-ts-test/busybox-rootfs), built on first
 * use from Debian's static busybox with a symlink in /bin for every applet, an /etc/passwd
 * (root, app 1000, nobody) and an /etc/group (root, app, extra 2000 with app, nobody).
 * Parallel callers are safe: each builds into its own temporary directory and renames it into
 * place; whoever loses the race removes its copy and uses the winner's.
 */
export function busyboxRootfs(): string {
  checkHostBusybox();
  if (rootfsComplete(BUSYBOX_ROOTFS)) return BUSYBOX_ROOTFS;
  mkdirReachable(TEST_DIR);
  // A stale or broken copy (another busybox, an interrupted older layout): move it aside
  // atomically, then delete it.
  // Checked again just before, so a copy another worker has just put in place stays.
  if ((existsSync(BUSYBOX_ROOTFS) || isSymlink(BUSYBOX_ROOTFS)) && !rootfsComplete(BUSYBOX_ROOTFS)) {
    const stale = `${BUSYBOX_ROOTFS}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      renameSync(BUSYBOX_ROOTFS, stale);
      rmSync(stale, { recursive: true, force: true });
    } catch {
      // someone else moved it first
    }
  }
  const tmp = mkdtempSync(`${BUSYBOX_ROOTFS}.tmp-${process.pid}-`);
  try {
    populateRootfs(tmp);
    try {
      renameSync(tmp, BUSYBOX_ROOTFS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      // Another worker finished first.
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!rootfsComplete(BUSYBOX_ROOTFS)) throw new Error(`building ${BUSYBOX_ROOTFS} failed: it is incomplete`);
  return BUSYBOX_ROOTFS;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A minimal runc-style config.json (`runc spec`) running args in the shared busybox rootfs. */
function defaultSpec(args: string[], rootfs: string): Record<string, any> {
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"];
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...args],
      env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: "bb",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
      { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"],
    },
  };
}

export interface BundleOptions {
  /** process.args of the container. */
  args: string[];
  /** Mutates the default spec before config.json is written. */
  config?: (c: any) => void;
  /** Prefix of the bundle directory's name (default "bundle"). */
  name?: string;
}

export interface Bundle {
  /** The bundle directory (holds config.json only; root.path is the shared rootfs). */
  dir: string;
  /** A fresh container id, `t-` and 8 hex digits. */
  id: string;
  /** Removes the bundle directory. */
  cleanup(): void;
}

/** A new bundle directory under /var/tmp/runsc-ts-test/bundles/ with its config.json. */
export function makeBundle(opts: BundleOptions): Bundle {
  const rootfs = busyboxRootfs();
  mkdirReachable(BUNDLES_DIR);
  const id = `t-${randomBytes(4).toString("hex")}`;
  const prefix = (opts.name ?? "bundle").replace(/[^A-Za-z0-9_.-]/g, "_");
  const dir = mkdtempSync(join(BUNDLES_DIR, `${prefix}-${id}-`));
  chmodSync(dir, 0o755);
  try {
    const spec = defaultSpec(opts.args, rootfs);
    opts.config?.(spec);
    const file = join(dir, "config.json");
    writeFileSync(file, JSON.stringify(spec, null, 2) + "\n");
    chmodSync(file, 0o644);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    id,
    cleanup: () => {
      if (dir.startsWith(`${BUNDLES_DIR}/`)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RuntimeOptions {
  /** Written to the runtime's stdin (through a file). Without it stdin is /dev/null. */
  input?: string;
  /** State root passed as `--root` (default /run/runsc-ts-test). */
  root?: string;
  /** The runtime is SIGKILLed after this long (default 30 s); stderr then says so. */
  timeoutMs?: number;
  /** Descriptors the runtime gets as its fds 3, 4, ... (for --preserve-fds). */
  extraFds?: number[];
  /** Added to the runtime's environment (NODE_OPTIONS, for one). */
  env?: Record<string, string>;
}

export interface RuntimeResult {
  /** Exit code, or null when the process died by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/runsc-ts --root <root> ...args` as a shim does: through the client, so that
 * create is served by a warm process (NODE_OPTIONS in opts.env is for a Node of the
 * command's own: the client then runs Node itself). Its stdio are files, not pipes: `create`
 * leaves a detached process behind that inherits them, and a pipe would stay open until that
 * process exits. The result is ready when the runtime process itself exits.
 */
export function runtime(args: string[], opts: RuntimeOptions = {}): Promise<RuntimeResult> {
  const root = opts.root ?? STATE_ROOT;
  if (opts.root === undefined) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
  }
  const io = mkdtempSync(join(tmpdir(), "runsc-ts-io-"));
  const outPath = join(io, "stdout");
  const errPath = join(io, "stderr");
  const fds: number[] = [];
  const open = (path: string, flags: string): number => {
    const fd = openSync(path, flags, 0o600);
    fds.push(fd);
    return fd;
  };
  let child: ChildProcess;
  try {
    let stdin: number | "ignore" = "ignore";
    if (opts.input !== undefined) {
      writeFileSync(join(io, "stdin"), opts.input);
      stdin = open(join(io, "stdin"), "r");
    }
    child = spawn(CLIENT, ["--root", root, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env, ...(opts.env?.NODE_OPTIONS !== undefined ? { RUNSC_TS_WARM: "0" } : {}) },
      stdio: [stdin, open(outPath, "w"), open(errPath, "w"), ...(opts.extraFds ?? [])],
    });
  } catch (err) {
    rmSync(io, { recursive: true, force: true });
    throw err;
  } finally {
    // The child has its own copies.
    for (const fd of fds) closeSync(fd);
  }
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    const finish = (): { stdout: string; stderr: string } => {
      clearTimeout(timer);
      try {
        return { stdout: readFileSync(outPath, "utf8"), stderr: readFileSync(errPath, "utf8") };
      } finally {
        rmSync(io, { recursive: true, force: true });
      }
    };
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      finish();
      reject(err);
    });
    child.on("exit", (code) => {
      if (settled) return;
      settled = true;
      const out = finish();
      if (timedOut) out.stderr += `\n[runtime ${args.join(" ")}: killed after ${timeoutMs} ms]\n`;
      resolve({ code, ...out });
    });
  });
}

/** Where tests keep runc's state when they compare with it. */
export const RUNC_ROOT = "/run/runsc-ts-test-runc";

/**
 * The bundle under runc (`run`, then `delete --force`), asynchronously: a listener the test
 * serves in this process keeps answering meanwhile.
 */
export async function runcRun(b: Bundle): Promise<{ code: number | null; stdout: string; stderr: string }> {
  mkdirSync(RUNC_ROOT, { recursive: true, mode: 0o700 });
  try {
    const r = await promisify(execFile)("runc", ["--root", RUNC_ROOT, "run", "--bundle", b.dir, `${b.id}-runc`], { encoding: "utf8", timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : null, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  } finally {
    spawnSync("runc", ["--root", RUNC_ROOT, "delete", "--force", `${b.id}-runc`], { stdio: "ignore" });
  }
}
