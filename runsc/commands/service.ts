// `runsc-ts service status|stop`: the warm processes that serve the client's commands
// (runsc/service/warm.ts). They start on first use; nothing needs configuring.
import { Command } from "commander";
import { stopWarm, warmProcesses, warmSocketExists, warmSocketPath } from "../service/warmPool.js";
import { writeFully } from "../write.js";

export function serviceCommand(): Command {
  const service = new Command("service").description("the warm processes that serve runsc-ts's commands (started on first use)");
  service
    .command("status")
    .description("list the idle warm processes and their socket")
    .action(() => {
      const list = warmProcesses();
      const lines = [`socket: ${warmSocketPath()} (${warmSocketExists() ? "present" : "absent"})`, `idle warm processes: ${list.length}`];
      for (const w of list) lines.push(`  pid ${w.pid}  rss ${Math.round(w.rssKiB / 1024)} MiB  up ${w.ageSeconds} s`);
      writeFully(1, lines.join("\n") + "\n");
    });
  service
    .command("stop")
    .description("end the idle warm processes and remove their socket (the next command starts new ones)")
    .action(() => {
      const ended = stopWarm();
      writeFully(1, ended.length === 0 ? "no warm process was running\n" : `ended ${ended.length} warm process${ended.length === 1 ? "" : "es"}: ${ended.join(", ")}\n`);
    });
  return service;
}
