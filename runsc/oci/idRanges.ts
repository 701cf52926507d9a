// Host id ranges for containers' user namespaces: 65536 ids each, disjoint, above every id
// the host and `do` use (`do`'s sandboxes map to runsc/sandbox/ids.ts's range). A range is
// held by a file in the runtime's .ids directory naming its container (state root and id),
// made under an flock of that directory; delete (and a failed create) releases it. A range
// whose container's state directory is gone (a machine that crashed mid-create, a state root
// removed by hand) is taken back the next time one is needed, never while that directory
// exists.
import { existsSync, openSync, closeSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadNative } from "../../native/index.js";
import { ensurePrivateDir, IDS_DIR } from "../runtimeDir.js";
import { ID_RANGE } from "../sandbox/ids.js";
import { ContainerError } from "./errors.js";

/** The first host id of the first range: 2^30, far above any host's users and subordinate ids. */
export const CONTAINER_ID_BASE = 0x40000000;
/** How many ranges there are: up to 2^31 - 1, below the kernel's largest id (2^32 - 2). */
export const CONTAINER_RANGES = 16383;

/** A range: its number and first host id (root inside). */
export interface IdRange {
  readonly slot: number;
  readonly base: number;
}

interface Holder {
  root: string;
  id: string;
}

const LOCK_EX = 2;
const LOCK_UN = 8;

/** Runs fn holding the .ids directory's lock. */
function locked<T>(dir: string, fn: () => T): T {
  const native = loadNative();
  const fd = openSync(dir, "r");
  try {
    const r = native.flock(fd, LOCK_EX);
    if (r < 0) throw new ContainerError(`lock ${dir}: errno ${-r}`);
    return fn();
  } finally {
    native.flock(fd, LOCK_UN);
    closeSync(fd);
  }
}

function holderOf(dir: string, slot: number): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(join(dir, String(slot)), "utf8")) as Holder;
    return typeof h.root === "string" && typeof h.id === "string" ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The slots held now, by number. */
function held(dir: string): Map<number, Holder | undefined> {
  const out = new Map<number, Holder | undefined>();
  for (const name of readdirSync(dir)) {
    if (!/^\d+$/.test(name)) continue;
    const slot = Number(name);
    out.set(slot, holderOf(dir, slot));
  }
  return out;
}

/**
 * Takes a range for container id of state root `root` (whose state directory exists
 * already): the one it holds, or the lowest free one. `dir` is for tests.
 */
export function allocateIdRange(root: string, id: string, dir: string = ensurePrivateDir(IDS_DIR)): IdRange {
  return locked(dir, () => {
    const slots = held(dir);
    for (const [slot, h] of slots) if (h?.root === root && h.id === id) return { slot, base: CONTAINER_ID_BASE + slot * ID_RANGE };
    let slot = 0;
    for (; slot < CONTAINER_RANGES; slot++) {
      const h = slots.get(slot);
      if (!slots.has(slot)) break;
      // A holder whose state directory is gone: its container is gone with it.
      if (h === undefined || !existsSync(join(h.root, h.id))) break;
    }
    if (slot === CONTAINER_RANGES) throw new ContainerError(`all ${CONTAINER_RANGES} id ranges for containers' user namespaces are in use`);
    writeFileSync(join(dir, String(slot)), JSON.stringify({ root, id } satisfies Holder), { mode: 0o600 });
    return { slot, base: CONTAINER_ID_BASE + slot * ID_RANGE };
  });
}

/** Gives back the range container id of `root` holds, if any. */
export function releaseIdRange(root: string, id: string, dir: string = ensurePrivateDir(IDS_DIR)): void {
  locked(dir, () => {
    for (const [slot, h] of held(dir)) {
      if (h?.root === root && h.id === id) unlinkSync(join(dir, String(slot)));
    }
  });
}
