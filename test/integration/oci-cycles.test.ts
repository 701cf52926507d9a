// 200 create/start/kill/delete cycles leave nothing behind: no mount, cgroup, process,
// descriptor or state. The lifecycle runs in this process through the built runtime's own
// functions (the CLI around them is tested elsewhere), each container with its monitor.
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { busyboxRootfs, makeBundle, STATE_ROOT } from "../helpers/bundle.js";
import { footprint, settledLeftovers } from "../helpers/footprint.js";
import { ROOT } from "../helpers/sandbox.js";

const CYCLES = 200;

/** This process's descriptors (the lifecycle runs in it): only its own, whatever else runs. */
const fdCount = (): number => readdirSync("/proc/self/fd").length;

/** This process's descriptors of what runsc-ts opens: pidfds, namespaces, its directories, cgroups. */
function runscFds(bundleDir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory listing's own descriptor
    }
    if (/^anon_inode:\[(pidfd|seccomp)/.test(target) || /^\/proc\/\d+\/ns\//.test(target) || /^(pid|mnt|net|user|uts|ipc|cgroup):\[/.test(target) || target.startsWith("/run/runsc-ts") || target.startsWith("/sys/fs/cgroup") || target.startsWith(bundleDir)) out.push(target);
  }
  return out.sort();
}

describe("lifecycle cycles", () => {
  it(`${CYCLES} create/start/kill/delete cycles leave no mount, cgroup, process, fd or state behind`, { timeout: 300_000 }, async ({ expect }) => {
    busyboxRootfs();
    const c = {
      ...((await import(join(ROOT, "dist/runsc/oci/container.js"))) as typeof import("../../runsc/oci/container.js")),
      ...((await import(join(ROOT, "dist/runsc/oci/create.js"))) as typeof import("../../runsc/oci/create.js")),
    };
    const rt = { root: STATE_ROOT, debug: false, strace: false, logFormat: "text" as const };
    const warnings: string[] = [];
    const bundle = makeBundle({ args: ["sleep", "1000"] });
    const ids = new Set<string>();
    // Every container's id starts with the bundle's; the other test files' do not.
    const ours = () => footprint({ roots: [STATE_ROOT], only: [bundle.id], mountDirs: [bundle.dir, busyboxRootfs()] });
    try {
      // One cycle first: what a first container sets up once (the mask file, the parent
      // cgroups, the policy cache, the addon's threads) is not a leak.
      const warm = `${bundle.id}-warm`;
      await c.createContainer(rt, { id: warm, bundle: bundle.dir });
      await c.deleteContainer(rt, warm, true, (w) => warnings.push(w));
      const before = ours();
      const ownBefore = runscFds(bundle.dir);
      let halfway = 0;
      for (let i = 0; i < CYCLES; i++) {
        // A leak grows with the cycles; what the test runner opens once does not.
        if (i === CYCLES / 2) halfway = fdCount();
        const id = `${bundle.id}-${i}`;
        ids.add(id);
        await c.createContainer(rt, { id, bundle: bundle.dir });
        await c.startContainer(rt, id, (w) => warnings.push(w));
        await c.killContainer(rt, id, 9, false);
        await c.deleteContainer(rt, id, false, (w) => warnings.push(w)).catch(async () => {
          // The kill may not have landed yet: delete of a running container is refused.
          await new Promise((r) => setTimeout(r, 50));
          await c.deleteContainer(rt, id, true, (w) => warnings.push(w));
        });
      }
      expect(warnings).toEqual([]);
      expect(runscFds(bundle.dir)).toEqual(ownBefore);
      // A leak of one per cycle would be 100 here; the test runner's own may open one or two.
      expect(fdCount(), "descriptors grew over the second half of the cycles").toBeLessThanOrEqual(halfway + 3);
      // Monitors end with their containers, a moment after delete.
      expect(await settledLeftovers(before, ours)).toEqual([]);
    } finally {
      for (const id of ids) await c.deleteContainer(rt, id, true, () => {}).catch(() => {});
      bundle.cleanup();
    }
  });
});
