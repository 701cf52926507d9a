// 200 create/start/kill/delete cycles leave nothing behind: no mount, cgroup, process,
// descriptor or state. The lifecycle runs in this process through the built runtime's own
// functions (the CLI around them is tested elsewhere), each container with its monitor.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { busyboxRootfs, makeBundle, STATE_ROOT } from "../helpers/bundle.js";
import { ROOT } from "../helpers/sandbox.js";

const CYCLES = 200;

const mountCount = (): number => readFileSync("/proc/self/mountinfo", "utf8").split("\n").length;
const fdCount = (): number => readdirSync("/proc/self/fd").length;

/** Host processes whose command line names the container (its monitor) or its init. */
function processesOf(ids: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (cmd.some((a) => ids.has(a))) found.push(`${d}: ${cmd.join(" ")}`);
    } catch {
      // gone
    }
  }
  return found;
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
    const cgroupDirs = new Set<string>();
    try {
      // One cycle first: what a first container sets up once (the mask file, the parent
      // cgroups, the policy cache, the addon's threads) is not a leak.
      const warm = `${bundle.id}-warm`;
      await c.createContainer(rt, { id: warm, bundle: bundle.dir });
      await c.deleteContainer(rt, warm, true, (w) => warnings.push(w));
      const mounts = mountCount();
      const fds = fdCount();
      for (let i = 0; i < CYCLES; i++) {
        const id = `${bundle.id}-${i}`;
        ids.add(id);
        const { state: st } = await c.createContainer(rt, { id, bundle: bundle.dir });
        for (const d of st.cgroups) cgroupDirs.add(d);
        await c.startContainer(rt, id, (w) => warnings.push(w));
        await c.killContainer(rt, id, 9, false);
        await c.deleteContainer(rt, id, false, (w) => warnings.push(w)).catch(async () => {
          // The kill may not have landed yet: delete of a running container is refused.
          await new Promise((r) => setTimeout(r, 50));
          await c.deleteContainer(rt, id, true, (w) => warnings.push(w));
        });
      }
      expect(warnings).toEqual([]);
      expect(mountCount()).toBe(mounts);
      // At most as many: one the warm-up's monitor pipe held may have closed since.
      expect(fdCount()).toBeLessThanOrEqual(fds);
      expect([...cgroupDirs].filter((d) => existsSync(d))).toEqual([]);
      expect(readdirSync(STATE_ROOT).filter((n) => ids.has(n))).toEqual([]);
      // Monitors end with their containers: none is left.
      const left = await (async () => {
        for (let i = 0; i < 100; i++) {
          const p = processesOf(ids);
          if (p.length === 0) return p;
          await new Promise((r) => setTimeout(r, 50));
        }
        return processesOf(ids);
      })();
      expect(left).toEqual([]);
    } finally {
      for (const id of ids) await c.deleteContainer(rt, id, true, () => {}).catch(() => {});
      bundle.cleanup();
    }
  });
});
