// The runtime's own directory and everything runsc-ts keeps in it, each with the mode its
// use needs. Every command creates what it uses through these functions, in whatever order
// they are first called, and repairs a wrong mode (an older layout, a hand-made directory):
//
//   /run/runsc-ts/           0711 root   the runtime's directory and the default --root:
//                                        sandboxes' ids must pass through it to the mask file,
//                                        no one but root may list it
//     .masked                0000 root   the empty file hidden paths are bound over
//     .policies/             0700 root   validated policies (policyCache.ts)
//     .staging/              0700 root   where create's init builds a container's root
//     .ids/                  0700 root   containers' host id ranges, one file each (oci/idRanges.ts)
//     .devices/              0700 root   linux.devices' nodes (oci/devices.ts), a directory per
//                                        container; host root binds them
//     .sandboxes/            0700 root   running `do` sandboxes, a file each, for `ps`
//                                        (sandbox/registry.ts)
//     <id>/                  0700 root   a container's state (oci/state.ts)
//
// The runtime's own names start with a dot, which a container id cannot.
import { chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import type { Stats } from "node:fs";
import { join } from "node:path";

export const RUNTIME_DIR = "/run/runsc-ts";
export const MASK_FILE = join(RUNTIME_DIR, ".masked");
export const POLICY_CACHE_DIR = join(RUNTIME_DIR, ".policies");
export const STAGING_DIR = join(RUNTIME_DIR, ".staging");
export const IDS_DIR = join(RUNTIME_DIR, ".ids");
export const DEVICES_DIR = join(RUNTIME_DIR, ".devices");
export const SANDBOXES_DIR = join(RUNTIME_DIR, ".sandboxes");

export class RuntimeDirError extends Error {}

const lstatOrUndefined = (path: string): Stats | undefined => {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
};

/** A root-owned directory of the given mode at path (its parent exists): made, or repaired. */
function ensureDir(path: string, mode: number): void {
  let st = lstatOrUndefined(path);
  if (st === undefined) {
    try {
      mkdirSync(path, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new RuntimeDirError(`${path}: ${(err as Error).message}`);
    }
    st = lstatSync(path);
  }
  if (!st.isDirectory()) throw new RuntimeDirError(`${path}: not a directory (remove it; runsc-ts makes it)`);
  if (st.uid !== 0) throw new RuntimeDirError(`${path}: owned by uid ${st.uid}, not root (remove it; runsc-ts makes it)`);
  // mkdir's mode went through the umask; an older version may have left another mode.
  if ((st.mode & 0o7777) !== mode) chmodSync(path, mode);
}

/** Checked once per process: each command may need it from several places. */
let runtimeDirReady = false;

/** The runtime's directory, traversable by a sandbox's ids (mode 0711). */
export function ensureRuntimeDir(): string {
  if (runtimeDirReady) return RUNTIME_DIR;
  mkdirSync("/run", { recursive: true, mode: 0o755 });
  ensureDir(RUNTIME_DIR, 0o711);
  runtimeDirReady = true;
  return RUNTIME_DIR;
}

/** A root-only directory of the runtime's (the policy cache, the staging point). */
export function ensurePrivateDir(path: typeof POLICY_CACHE_DIR | typeof STAGING_DIR | typeof IDS_DIR | typeof SANDBOXES_DIR): string {
  ensureRuntimeDir();
  ensureDir(path, 0o700);
  return path;
}

/** Where containers' device nodes are made: root's alone (mode 0700). */
export function ensureDevicesDir(): string {
  ensureRuntimeDir();
  ensureDir(DEVICES_DIR, 0o700);
  return DEVICES_DIR;
}

/**
 * A directory of root's alone (mode 0700, made with its parents when missing, repaired when
 * not): where an overlay root keeps its writes on the host (filesystem.overlay.dir), whose
 * files are the workload's and must be reachable by no host user but root.
 */
export function ensureRootOnlyDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  ensureDir(path, 0o700);
  return path;
}

/**
 * The mask file: empty, mode 000, owned by host root, which has no mapping inside a sandbox,
 * so no one there can open it, root inside included. Returns its path, made or repaired.
 */
export function ensureMaskFile(): string {
  ensureRuntimeDir();
  const path = MASK_FILE;
  const st = lstatOrUndefined(path);
  if (st !== undefined && st.isFile() && st.uid === 0 && st.size === 0 && (st.mode & 0o7777) === 0) return path;
  if (st !== undefined) unlinkSync(path);
  const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0);
  closeSync(fd);
  chmodSync(path, 0);
  return path;
}
