// containerd-shim-runsc-ts-v1's commands that end with their call: containerd runs the shim
// in the bundle's directory as
//
//   containerd-shim-runsc-ts-v1 -namespace NS -address SOCK -publish-binary BIN [-debug] -id ID start|delete
//
// and bin/containerd-shim-runsc-ts-v1 hands that to runsc-ts's command line (`runsc-ts
// containerd-shim ...`), which a warm runsc-ts process serves without a Node start.
// start: finds the shim of the container's pod (the CRI sandbox annotation groups a pod's
// containers on one shim), or starts one — a detached process serving the Task API over
// ttrpc on a root-only socket (shim.ts) — and prints its address. delete: cleans up after a
// shim that died (runsc-ts delete --force, the rootfs unmounted) and prints a DeleteResponse.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { projectRoot } from "../../native/index.js";
import { CommandExit, exitCommand } from "../exit.js";
import { writeFully } from "../write.js";

/** Where each shim's socket and work directory live (root only). */
export const SHIM_DIR = "/run/runsc-ts/shim";
/** The CRI annotation naming a container's pod sandbox: its containers share the sandbox's shim. */
const SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

export interface ShimFlags {
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

function fail(msg: string): never {
  writeFully(2, `containerd-shim-runsc-ts-v1: ${msg}\n`);
  exitCommand(1);
}

/** containerd's flags (Go's flag package: one dash or two, "-name value" or "-name=value"). */
export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const f: ShimFlags = { namespace: "", address: "", publishBinary: "", id: "", bundle: "", debug: false, socket: "", action: "" };
  const valued: Record<string, keyof ShimFlags> = { namespace: "namespace", address: "address", "publish-binary": "publishBinary", id: "id", bundle: "bundle", socket: "socket" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-")) {
      f.action = arg;
      continue;
    }
    const a = arg.replace(/^--?/, "");
    const eq = a.indexOf("=");
    const name = eq < 0 ? a : a.slice(0, eq);
    if (name === "debug") f.debug = true;
    else if (name === "v" || name === "version") f.action = "version";
    else if (valued[name] !== undefined) (f as unknown as Record<string, string>)[valued[name]] = eq < 0 ? (argv[++i] ?? "") : a.slice(eq + 1);
    else fail(`unknown flag ${arg}`);
  }
  if (f.socket !== "") f.action = "serve";
  return f;
}

/** The socket of the shim for group (a pod's sandbox id, or the container's own id) in namespace. */
function socketPath(f: ShimFlags, group: string): string {
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

/** The serving shim's entry (the bundled shim.ts). */
function serverScript(): string {
  return fileURLToPath(new URL("./shim.js", import.meta.url));
}

async function start(f: ShimFlags): Promise<void> {
  const bundle = process.cwd();
  const path = socketPath(f, groupOf(bundle, f.id));
  const address = `unix://${path}`;
  if (!(await answers(path))) {
    mkdirSync(SHIM_DIR, { recursive: true, mode: 0o700 });
    rmSync(path, { force: true });
    // The server: detached (a session of its own, so containerd's end is not its), its
    // errors to the bundle's shim log when containerd made one.
    const log = existsSync(join(bundle, "log")) ? openSync(join(bundle, "log"), "r+") : "ignore";
    const child = spawn(process.execPath, [serverScript(), "-namespace", f.namespace, "-address", f.address, "-id", f.id, ...(f.debug ? ["-debug"] : []), "-socket", path], {
      cwd: bundle,
      detached: true,
      stdio: ["ignore", "ignore", log, "pipe"],
      // Each container's stdin FIFO waits for containerd's writer on a thread of the pool.
      env: { ...process.env, UV_THREADPOOL_SIZE: "32" },
    });
    const ready = await new Promise<string>((resolve) => {
      let said = "";
      child.stdio[3]!.on("data", (d: Buffer) => (said += d.toString()));
      child.stdio[3]!.on("end", () => resolve(said));
      child.once("exit", (code) => resolve(said || `exited ${code}`));
    });
    // Our ends closed now: the warm process serving this command holds nothing after it.
    child.stdio[3]!.destroy();
    if (typeof log === "number") closeSync(log);
    if (ready.trim() !== "ready") fail(`the shim did not start: ${ready.trim()}`);
    child.unref();
  }
  writeFileSync(join(bundle, "address"), address);
  writeFully(1, address);
}

/** The runtime's own command line, beside this project's dist. */
export function runtimePath(): string {
  return join(projectRoot(), "bin", "runsc-ts");
}

export function runtimeRoot(f: ShimFlags): string {
  return join("/run/containerd/runsc-ts", f.namespace);
}

/** delete: what a dead shim left. Prints a DeleteResponse (the program killed: 128 + SIGKILL). */
async function cleanup(f: ShimFlags): Promise<void> {
  const bundle = f.bundle || process.cwd();
  spawnSync(runtimePath(), ["--root", runtimeRoot(f), "delete", "--force", f.id], { stdio: "ignore" });
  spawnSync("umount", [join(bundle, "rootfs")], { stdio: "ignore" });
  // protobufjs is loaded for delete only: start stays light.
  const { encode, timestamp } = await import("./proto.js");
  const out = encode("containerd.task.v2.DeleteResponse", { pid: 0, exit_status: 137, exited_at: timestamp(Date.now()) });
  writeFully(1, out);
}

/** `runsc-ts containerd-shim ARGS`: the shim's start, delete and version. */
export async function shimCommand(argv: readonly string[]): Promise<void> {
  const f = parseShimFlags(argv);
  switch (f.action) {
    case "start":
    case "delete":
      try {
        return await (f.action === "start" ? start(f) : cleanup(f));
      } catch (err) {
        if (err instanceof CommandExit) throw err;
        fail(`${f.action}: ${(err as Error).message}`);
      }
    case "version":
      writeFully(1, "containerd-shim-runsc-ts-v1 (runsc-ts)\n");
      return;
    default:
      fail(`usage: containerd-shim-runsc-ts-v1 -namespace NS -address SOCK -publish-binary BIN -id ID start|delete (got ${JSON.stringify(f.action)})`);
  }
}
