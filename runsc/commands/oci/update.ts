// update: a running container's resources.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { Resources } from "../../sandbox/cgroups.js";
import { ContainerError } from "../../oci/state.js";
import type { Runtime } from "./common.js";
import { defined } from "./common.js";

export function updateCommand(runtime: Runtime): Command {
  const update = new Command("update")
    .description("change a running container's resources (memory, cpu, pids)")
    .option("-r, --resources <file>", "linux.resources as JSON; - reads stdin")
    .option("--memory <bytes>", "memory limit")
    .option("--memory-swap <bytes>", "memory plus swap limit")
    .option("--memory-reservation <bytes>", "memory soft limit")
    .option("--cpu-shares <n>", "CPU shares")
    .option("--cpu-quota <us>", "CPU CFS quota")
    .option("--cpu-period <us>", "CPU CFS period")
    .option("--cpuset-cpus <list>", "CPUs allowed")
    .option("--cpuset-mems <list>", "memory nodes allowed")
    .option("--pids-limit <n>", "maximum number of processes")
    .argument("<container-id>")
    .action(async (id: string, f: Record<string, string | undefined>) => {
      const { parseResources, updateContainer } = await import("../../oci/control.js");
      let r: Resources = {};
      if (f.resources !== undefined) {
        r = await parseResources(f.resources === "-" ? readFileSync(0, "utf8") : readFileSync(f.resources, "utf8"), f.resources === "-" ? "stdin" : f.resources);
      }
      const n = (flag: string): number | undefined => {
        const v = f[flag];
        if (v === undefined) return undefined;
        if (!/^-?\d+$/.test(v)) throw new ContainerError(`--${flag.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: expected an integer, got ${JSON.stringify(v)}`);
        return Number(v);
      };
      const memory = { ...r.memory, ...defined({ limit: n("memory"), swap: n("memorySwap"), reservation: n("memoryReservation") }) };
      const cpu = { ...r.cpu, ...defined({ shares: n("cpuShares"), quota: n("cpuQuota"), period: n("cpuPeriod"), cpus: f.cpusetCpus, mems: f.cpusetMems }) };
      const pids = n("pidsLimit");
      await updateContainer(runtime().root, id, {
        ...r,
        ...(Object.keys(memory).length > 0 ? { memory } : {}),
        ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
        ...(pids !== undefined ? { pids: { limit: pids } } : {}),
      });
    });
  return update;
}
