// The file hidden paths are bound over: empty, mode 000, owned by host root. Host root has
// no mapping inside a sandbox, so no one there can open it, root inside included.
import { chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/** The runtime's state directory (runc's /run/runc). */
export const RUNTIME_ROOT = "/run/runsc-ts";

/** Returns the path of the mask file under root, creating or repairing it. */
export function ensureMaskFile(root = RUNTIME_ROOT): string {
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const path = join(root, "masked");
  try {
    const st = lstatSync(path);
    if (st.isFile() && st.uid === 0 && st.size === 0 && (st.mode & 0o7777) === 0) return path;
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0);
  closeSync(fd);
  chmodSync(path, 0);
  return path;
}
