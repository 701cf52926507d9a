// containerd-shim-runsc-ts-v1's serving process, started by its start command (start.ts):
// one per pod (or container), a child subreaper serving containerd's Task API over ttrpc on
// the socket it is given (-socket), until containerd shuts it down. Its lines go to
// containerd's shim log (the bundle's "log" FIFO).
import { closeSync, rmSync, writeFileSync } from "node:fs";
import { loadNative } from "../../native/index.js";
import { encode, timestamp } from "./proto.js";
import type { ShimFlags } from "./start.js";
import { parseShimFlags, runtimePath, runtimeRoot } from "./start.js";
import { freshWorkDir, TaskService } from "./task.js";
import { TtrpcClient, TtrpcServer } from "./ttrpc.js";

async function serve(f: ShimFlags): Promise<void> {
  const native = loadNative();
  native.startReaper();
  const work = f.socket.replace(/\.sock$/, ".d");
  freshWorkDir(work);
  const log = (msg: string): void => void process.stderr.write(`${new Date().toISOString()} containerd-shim-runsc-ts-v1 ${f.namespace}/${f.id}: ${msg}\n`);
  // Events go to containerd's ttrpc socket (TTRPC_ADDRESS), one connection, made on first use.
  const eventsAddress = process.env.TTRPC_ADDRESS ?? (f.address !== "" ? `${f.address}.ttrpc` : "");
  let events: Promise<TtrpcClient> | undefined;
  const publish = (topic: string, type: string, event: object): void => {
    if (eventsAddress === "") return;
    events ??= TtrpcClient.connect(eventsAddress);
    const envelope = { timestamp: timestamp(Date.now()), namespace: f.namespace, topic, event: { type_url: type, value: encode(type, event) } };
    events
      .then((c) => c.call("containerd.services.events.ttrpc.v1.Events", "Forward", encode("containerd.services.events.ttrpc.v1.ForwardRequest", { envelope })))
      .catch((err: Error) => {
        log(`publishing ${topic}: ${err.message}`);
        events = undefined;
      });
  };
  let server: TtrpcServer | undefined;
  const exit = (): never => {
    server?.close();
    rmSync(f.socket, { force: true });
    rmSync(work, { recursive: true, force: true });
    process.exit(0);
  };
  // Ended by hand: its socket and files go with it (the containers it served run on).
  process.once("SIGTERM", exit);
  process.once("SIGINT", exit);
  const tasks = new TaskService({ native, runtime: runtimePath(), root: runtimeRoot(f), work, publish, exit });
  server = new TtrpcServer(tasks.methods(), (err) => log(`connection: ${err.message}`));
  await server.listen({ path: f.socket });
  const ready = 3;
  writeFileSync(ready, "ready");
  closeSync(ready);
}

const flags = parseShimFlags(process.argv.slice(2));
if (flags.action !== "serve") {
  process.stderr.write("containerd-shim-runsc-ts-v1: the serving process takes -socket; containerd runs bin/containerd-shim-runsc-ts-v1\n");
  process.exit(1);
}
await serve(flags);
