// The end-to-end tests' Docker: Debian's docker.io, installed when missing, run as a private
// dockerd (its own config file, data root, exec root and socket under E2E_DIR) that the
// tests start and stop themselves. Its managed containerd serves ctr too.
import { spawnSync } from "node:child_process";
import type { SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dockerdFiles, importRootfs, removeDockerdDir, startDockerd, stopDockerd } from "../../bench/dockerd.js";
import { busyboxRootfs, MAIN_JS } from "../helpers/bundle.js";

export const E2E_DIR = "/var/lib/runsc-ts-e2e";
const D = dockerdFiles(E2E_DIR);
export const CONFIG = D.config;
export const EXEC_ROOT = D.execRoot;
/** Where the runtime keeps its containers' state under this dockerd (runc's root, as Docker passes it). */
export const RUNTIME_ROOT = join(EXEC_ROOT, "runtime-runc", "moby");
export const IMAGE = "runsc-ts-e2e/bb:latest";
export const CLI = join(MAIN_JS, "..", "..", "..", "bin", "runsc-ts");

const env = D.env;

/** Debian packages the tests need, installed when missing (as root); an error says which could not be. */
const PACKAGES: Record<string, string> = {
  "docker.io": "/usr/sbin/dockerd",
  "busybox-static": "/bin/busybox",
  "util-linux": "/usr/bin/script",
  iproute2: "/usr/sbin/ip",
  podman: "/usr/bin/podman",
};

export function ensurePackages(wanted: readonly string[] = ["docker.io", "busybox-static", "util-linux", "iproute2"]): void {
  const missing = wanted.map((name) => [name, PACKAGES[name]!] as const).filter(([, file]) => !existsSync(file));
  if (missing.length === 0) return;
  const names = missing.map(([name]) => name!);
  // policy-rc.d 101: the packages' scripts start no service (a system dockerd would take the
  // bridge and iptables chains the tests' own dockerd sets up).
  const script = [
    "set -e",
    "rc=/usr/sbin/policy-rc.d",
    'if [ ! -e $rc ]; then printf "#!/bin/sh\\nexit 101\\n" > $rc; chmod +x $rc; trap "rm -f $rc" EXIT; fi',
    "export DEBIAN_FRONTEND=noninteractive",
    "apt-get update -qq",
    `apt-get install -y -qq --no-install-recommends ${names.join(" ")}`,
  ].join("\n");
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`the end-to-end tests need ${names.join(", ")} from Debian, and apt-get could not install them: ${(r.stderr ?? "").slice(-500)}`);
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the docker CLI against the private dockerd. */
export function docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Result {
  const r: SpawnSyncReturns<string> = spawnSync("docker", args, { env, encoding: "utf8", input: opts.input ?? "", timeout: opts.timeoutMs ?? 60_000, killSignal: "SIGKILL" });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") return { code: null, stdout: r.stdout ?? "", stderr: `docker ${args.join(" ")}: timed out\n${r.stderr ?? ""}` };
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** docker ARGS, which must succeed: its stdout. */
export function dockerOk(args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = docker(args, opts);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The private dockerd's containerd (it starts one of its own under the exec root). */
export const CONTAINERD_SOCK = D.containerdSock;

/** Runs ctr against that containerd, in the namespace the tests use. */
export function ctr(args: string[], opts: { timeoutMs?: number; input?: string } = {}): Result {
  const r = spawnSync("ctr", ["--address", CONTAINERD_SOCK, "--namespace", "runsc-ts-e2e", ...args], { encoding: "utf8", input: opts.input ?? "", timeout: opts.timeoutMs ?? 60_000, killSignal: "SIGKILL" });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs a command with a terminal of its own (script(1)), as a user at a shell would. */
export function withTty(command: string, timeoutMs = 60_000, input = ""): Result {
  const r = spawnSync("script", ["-qec", command, "/dev/null"], { env, encoding: "utf8", input, timeout: timeoutMs, killSignal: "SIGKILL" });
  return { code: r.status, stdout: (r.stdout ?? "").replace(/\r/g, ""), stderr: r.stderr ?? "" };
}

/** The runsc-ts CLI of this checkout. */
export function runscTs(args: string[]): Result {
  const r = spawnSync(process.execPath, [MAIN_JS, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Starts the private dockerd (an empty daemon.json: the tests install runsc-ts into it). */
export function startE2EDockerd(): void {
  endShimContainers();
  startDockerd(E2E_DIR, {});
}

export function stopE2EDockerd(): void {
  stopDockerd(D);
  endShimContainers();
}

/** Where runsc-ts's shim keeps the state of this daemon's containerd's containers. */
const SHIM_ROOT = "/run/containerd/runsc-ts/runsc-ts-e2e";

/**
 * Ends what a failed run's shims left: their containers (runsc-ts delete --force) and the
 * shims themselves (SIGTERM), which outlive their containerd by design.
 */
function endShimContainers(): void {
  if (existsSync(SHIM_ROOT)) for (const id of readdirSync(SHIM_ROOT)) spawnSync(CLI, ["--root", SHIM_ROOT, "delete", "--force", id], { stdio: "ignore" });
  for (const d of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.includes("/dist/cli/shim.js") && cmd.includes("runsc-ts-e2e")) process.kill(Number(d), "SIGTERM");
    } catch {
      // gone meanwhile
    }
  }
}

/** The busybox image the tests run, imported from the rootfs the tests build. */
export function importImage(): void {
  importRootfs(D, busyboxRootfs(), IMAGE);
}

/** What the Docker tests may leave behind, and must not: shims, runtime state, mounts. */
export function leftovers(): string[] {
  const found: string[] = [];
  for (const d of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
      if (cmd.includes("containerd-shim") && cmd.includes(EXEC_ROOT)) found.push(`shim ${d}: ${cmd.trim()}`);
      if (cmd.startsWith("runsc-ts-init")) found.push(`init ${d}`);
      // The shims and guards of this daemon's containers (another containerd's are not ours).
      const ours = cmd.includes("runsc-ts-e2e");
      if (ours && cmd.includes("/dist/cli/shim.js")) found.push(`runsc-ts shim ${d}: ${cmd.trim()}`);
      if (ours && readFileSync(`/proc/${d}/comm`, "utf8") === "runsc-ts-guard\n") found.push(`guard ${d}: ${cmd.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  if (existsSync(RUNTIME_ROOT)) for (const id of readdirSync(RUNTIME_ROOT)) found.push(`state ${join(RUNTIME_ROOT, id)}`);
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const point = line.split(" ")[4];
    if (point !== undefined && point.startsWith("/run/runsc-ts/.staging/")) found.push(`mount ${point}`);
  }
  return found;
}

/** Removes the private dockerd's files (after stopE2EDockerd). */
export function removeE2EDir(): void {
  removeDockerdDir(E2E_DIR);
}

/** Writes a policy that is the container policy with mkdir denied (EPERM inside), named name. */
export function writeNoMkdirPolicy(file: string, name: string): string {
  writeFileSync(file, ["apiVersion: runsc-ts/v1", "kind: Policy", `name: ${name}`, "extends: container", "syscalls:", "  deny: [mkdir, mkdirat]", ""].join("\n"));
  return file;
}
