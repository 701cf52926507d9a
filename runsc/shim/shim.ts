// containerd-shim-runsc-ts-v1: runsc-ts as a containerd runtime v2 shim (runtime_type
// io.containerd.runsc-ts.v1). containerd runs it in the bundle's directory as
//
//   containerd-shim-runsc-ts-v1 -namespace NS -address SOCK -publish-binary BIN [-debug] -id ID start|delete
//
// start: finds the shim of the container's pod (the CRI sandbox annotation groups a pod's
// containers on one shim), or starts one — a detached process serving the Task API over
// ttrpc on a root-only socket — and prints its address. delete: cleans up after a shim that
// died (runsc-ts delete --force, the rootfs unmounted) and prints a DeleteResponse.
// The serving process's lines go to containerd's shim log (the bundle's "log" FIFO).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadNative, projectRoot } from "../../native/index.js";
import { encode, timestamp } from "./proto.js";
import { freshWorkDir, TaskService } from "./task.js";
import { TtrpcClient, TtrpcServer } from "./ttrpc.js";

/** Where each shim's socket and work directory live (root only). */
const SHIM_DIR = "/run/runsc-ts/shim";
/** The CRI annotation naming a container's pod sandbox: its containers share the sandbox's shim. */
const SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

interface Flags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  /** The socket a serving shim listens on (start passes it to the process it starts). */
  socket: string;
  action: string;
}

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = { namespace: "", address: "", publishBinary: "", id: "", bundle: "", debug: false, socket: "", action: "" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!.replace(/^--?/, "");
    const [name, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => inline ?? argv[++i] ?? "";
    switch (name) {
      case "namespace":
        f.namespace = value();
        break;
      case "address":
        f.address = value();
        break;
      case "publish-binary":
        f.publishBinary = value();
        break;
      case "id":
        f.id = value();
        break;
      case "bundle":
        f.bundle = value();
        break;
      case "debug":
        f.debug = true;
        break;
      case "socket":
        f.socket = value();
        f.action = "serve";
        break;
      case "v":
      case "version":
        f.action = "version";
        break;
      default:
        if (argv[i]!.startsWith("-")) fail(`unknown flag ${argv[i]}`);
        f.action = argv[i]!;
    }
  }
  return f;
}

function fail(msg: string): never {
  process.stderr.write(`containerd-shim-runsc-ts-v1: ${msg}\n`);
  process.exit(1);
}

/** The socket of the shim for group (a pod's sandbox id, or the container's own id) in namespace. */
function socketPath(f: Flags, group: string): string {
  const h = createHash("sha256").update(`${f.address}\0${f.namespace}\0${group}`).digest("hex").slice(0, 32);
  return join(SHIM_DIR, `${h}.sock`);
}

function groupOf(bundle: string, id: string): string {
  try {
    const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { annotations?: Record<string, string> };
    return config.annotations?.[SANDBOX_ID] ?? id;
  } catch {
    return id;
  }
}

/** Whether a shim answers on path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function start(f: Flags): Promise<void> {
  const bundle = process.cwd();
  const path = socketPath(f, groupOf(bundle, f.id));
  const address = `unix://${path}`;
  if (!(await answers(path))) {
    mkdirSync(SHIM_DIR, { recursive: true, mode: 0o700 });
    rmSync(path, { force: true });
    // The server: detached (a session of its own, so containerd's end is not its), its
    // errors to the bundle's shim log when containerd made one.
    const log = existsSync(join(bundle, "log")) ? openSync(join(bundle, "log"), "r+") : "ignore";
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "-namespace", f.namespace, "-address", f.address, "-id", f.id, ...(f.debug ? ["-debug"] : []), "-socket", path], {
      cwd: bundle,
      detached: true,
      // Each container's stdin FIFO waits for containerd's writer on a thread of the pool.
      env: { ...process.env, UV_THREADPOOL_SIZE: "32" },
      stdio: ["ignore", "ignore", log, "pipe"],
    });
    const ready = await new Promise<string>((resolve) => {
      let said = "";
      child.stdio[3]!.on("data", (d: Buffer) => (said += d.toString()));
      child.stdio[3]!.on("end", () => resolve(said));
      child.once("exit", (code) => resolve(said || `exited ${code}`));
    });
    if (typeof log === "number") closeSync(log);
    if (ready.trim() !== "ready") fail(`the shim did not start: ${ready.trim()}`);
    child.unref();
  }
  writeFileSync(join(bundle, "address"), address);
  process.stdout.write(address);
}

/** The runtime's own command line, beside this project's dist. */
function runtimePath(): string {
  return join(projectRoot(), "bin", "runsc-ts");
}

function runtimeRoot(f: Flags): string {
  return join("/run/containerd/runsc-ts", f.namespace);
}

/** delete: what a dead shim left. Prints a DeleteResponse (the program killed: 128 + SIGKILL). */
async function cleanup(f: Flags): Promise<void> {
  const bundle = f.bundle || process.cwd();
  const { spawnSync } = await import("node:child_process");
  spawnSync(runtimePath(), ["--root", runtimeRoot(f), "delete", "--force", f.id], { stdio: "ignore" });
  spawnSync("umount", [join(bundle, "rootfs")], { stdio: "ignore" });
  process.stdout.write(encode("containerd.task.v2.DeleteResponse", { pid: 0, exit_status: 137, exited_at: timestamp(Date.now()) }));
}

async function serve(f: Flags): Promise<void> {
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
  const tasks = new TaskService({
    native,
    runtime: runtimePath(),
    root: runtimeRoot(f),
    work,
    publish,
    exit: () => {
      server?.close();
      rmSync(f.socket, { force: true });
      rmSync(work, { recursive: true, force: true });
      process.exit(0);
    },
  });
  server = new TtrpcServer(tasks.methods(), (err) => log(`connection: ${err.message}`));
  await server.listen({ path: f.socket });
  const ready = 3;
  writeFileSync(ready, "ready");
  closeSync(ready);
}

const flags = parseFlags(process.argv.slice(2));
switch (flags.action) {
  case "start":
    await start(flags);
    break;
  case "delete":
    await cleanup(flags);
    break;
  case "serve":
    await serve(flags);
    break;
  case "version":
    process.stdout.write("containerd-shim-runsc-ts-v1 (runsc-ts)\n");
    break;
  default:
    fail(`usage: containerd-shim-runsc-ts-v1 -namespace NS -address SOCK -publish-binary BIN -id ID start|delete (got ${JSON.stringify(flags.action)})`);
}
