// run: create and start; in the foreground, wait for the container, relay its terminal and signals, and delete it.
import { Command } from "commander";
import { loadNative } from "../../../native/index.js";
import { deleteContainer, startContainer } from "../../oci/container.js";
import { FORWARDED_SIGNALS } from "../../signals.js";
import type { CreateFlags, Runtime } from "./common.js";
import { createOptions, preserveCount, warn } from "./common.js";

export function runCommand(runtime: Runtime): Command {
  const run = createOptions(new Command("run"))
    .description("create and start a container; without --detach, wait for it and delete it")
    .option("-d, --detach", "return once the container has started", false)
    .option("--keep", "do not delete the container after it exits", false)
    .argument("<container-id>")
    .action(async (id: string, f: CreateFlags & { detach: boolean; keep: boolean }) => {
      const rt = runtime();
      // In the foreground the container lives as long as we do: its sentry runs here.
      const { state: st, server, terminal } = await (await import("../../oci/create.js")).createContainer(rt, {
        id,
        bundle: f.bundle,
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
        ...(f.detach ? {} : { inProcess: true }),
      });
      const native = loadNative();
      const relay = terminal === undefined ? undefined : (await import("../../oci/relay.js")).relayTerminal(native, terminal);
      // Without --detach, init is our child: its status is the container's.
      const exited = f.detach ? undefined : new Promise<number>((resolve) => native.onExit(st.pid, (s) => resolve(s < 0 ? 255 : s)));
      const forward = (sig: NodeJS.Signals): void => {
        try {
          process.kill(st.pid, sig);
        } catch {
          // init is gone
        }
      };
      if (!f.detach) for (const s of FORWARDED_SIGNALS) process.on(s, forward);
      try {
        await startContainer(rt, id, warn);
      } catch (err) {
        await deleteContainer(rt, id, true, warn);
        throw err;
      }
      if (exited === undefined) process.exit(0);
      const status = await exited;
      // What the container wrote last is still on its way through the pty.
      if (relay !== undefined) await Promise.race([relay.drained, new Promise((r) => setTimeout(r, 1000))]);
      relay?.stop();
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      server?.close();
      // Deleted already if someone else ran delete --force meanwhile.
      if (!f.keep) await deleteContainer(rt, id, true, warn);
      process.exit(status);
    });
  return run;
}
