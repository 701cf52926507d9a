// A private dockerd: its own config file, data root, exec root and socket under one
// directory, so that it touches nothing of a Docker the machine may run. The benchmark's
// Docker section and the end-to-end tests (test/e2e) start theirs with it.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pause } from "./measure.js";

export interface PrivateDockerd {
  readonly dir: string;
  /** The daemon.json it reads (SIGHUP reloads its runtimes). */
  readonly config: string;
  readonly execRoot: string;
  /** The environment for the docker CLI: DOCKER_HOST is this dockerd's socket. */
  readonly env: NodeJS.ProcessEnv;
  /** The containerd it started (ctr --address). */
  readonly containerdSock: string;
}


export function dockerdFiles(dir: string): PrivateDockerd {
  const execRoot = join(dir, "exec");
  return {
    dir,
    config: join(dir, "daemon.json"),
    execRoot,
    env: { ...process.env, DOCKER_HOST: `unix://${join(dir, "docker.sock")}` },
    containerdSock: join(execRoot, "containerd", "containerd.sock"),
  };
}

function pidOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, "dockerd.pid"), "utf8"));
    return existsSync(`/proc/${pid}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts dockerd with config (daemon.json's contents); throws with its log's end when it cannot. */
export function startDockerd(dir: string, config: object): PrivateDockerd {
  const d = dockerdFiles(dir);
  if (pidOf(dir) !== undefined) stopDockerd(d);
  mkdirSync(dir, { recursive: true });
  writeFileSync(d.config, JSON.stringify(config, null, 2) + "\n");
  const logFile = join(dir, "dockerd.log");
  const log = openSync(logFile, "w");
  const child = spawn(
    "dockerd",
    ["--config-file", d.config, "--data-root", join(dir, "data"), "--exec-root", d.execRoot, "--pidfile", join(dir, "dockerd.pid"), "-H", d.env.DOCKER_HOST!, "--storage-driver", "overlay2"],
    { detached: true, stdio: ["ignore", log, log] },
  );
  child.unref();
  for (let i = 0; i < 300; i++) {
    if (spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { env: d.env, timeout: 5000 }).status === 0) return d;
    pause(100);
  }
  const tail = readFileSync(logFile, "utf8").split("\n").slice(-15).join("\n");
  throw new Error(`dockerd did not start (its log, ${logFile}, ends):\n${tail}`);
}

/** Removes every container, stops dockerd and waits for it (and its containerd) to exit. */
export function stopDockerd(d: PrivateDockerd): void {
  const ids = (spawnSync("docker", ["ps", "-aq"], { env: d.env, encoding: "utf8", timeout: 30_000 }).stdout ?? "").trim().split("\n").filter(Boolean);
  if (ids.length > 0) spawnSync("docker", ["rm", "-f", ...ids], { env: d.env, timeout: 120_000 });
  const pid = pidOf(d.dir);
  if (pid === undefined) return;
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 300 && existsSync(`/proc/${pid}`); i++) pause(100);
  if (existsSync(`/proc/${pid}`)) process.kill(pid, "SIGKILL");
}

/** Unmounts what is left under dir and removes it (after stopDockerd). */
export function removeDockerdDir(dir: string): void {
  spawnSync("sh", ["-c", `grep -o " ${dir}/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
}

/** Imports a directory tree as image (docker import of its tar). */
export function importRootfs(d: PrivateDockerd, rootfs: string, image: string): void {
  if (spawnSync("docker", ["image", "inspect", image], { env: d.env }).status === 0) return;
  const tar = spawnSync("tar", ["-C", rootfs, "-c", "."], { maxBuffer: 512 << 20 });
  if (tar.status !== 0) throw new Error(`tar of ${rootfs}: ${tar.stderr?.toString()}`);
  const r = spawnSync("docker", ["import", "-", image], { env: d.env, input: tar.stdout, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`docker import: ${r.stderr?.toString()}`);
}
