// The warm processes as the rest of runsc-ts sees them: where they listen, how they show in
// ps, and finding and ending them (`runsc-ts service status|stop`). The processes
// themselves: warm.ts; their client: native/client/client.c.
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync, unlinkSync } from "node:fs";
import { projectRoot } from "../../native/index.js";

/**
 * Where the client binds the warm processes' socket for the checkout at root, in this mount
 * namespace (client.c: name_socket): FNV-1a 64 of the root's real path, so that two
 * checkouts never serve each other, and the namespace's inode, so that a pool started in
 * another mount namespace sharing /run never takes this one's socket.
 */
export function warmSocketPath(root: string = realpathSync(projectRoot())): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(root)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return `/run/runsc-ts/warm-${h.toString(16).padStart(16, "0")}-${statSync("/proc/self/ns/mnt").ino}.sock`;
}

/** The name an idle warm process shows in ps (process.title): with its checkout's root. */
export function warmTitle(root: string = realpathSync(projectRoot())): string {
  return `runsc-ts-warm ${root}`;
}

export interface WarmProcess {
  pid: number;
  /** Resident memory, KiB. */
  rssKiB: number;
  /** Seconds since it started. */
  ageSeconds: number;
}

/**
 * The idle warm processes of this checkout (root's), by their title, in this mount
 * namespace (another one's /run has a socket of the same name, and a pool of its own).
 */
export function warmProcesses(): WarmProcess[] {
  const title = warmTitle();
  const mountNs = readlinkSync("/proc/self/ns/mnt");
  const found: WarmProcess[] = [];
  const ticks = 100; // USER_HZ
  const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0+$/, "") !== title) continue;
      if (readlinkSync(`/proc/${d}/ns/mnt`) !== mountNs) continue;
      const status = readFileSync(`/proc/${d}/status`, "utf8");
      if (!/\nUid:\s+0\s/.test(status)) continue;
      const rss = Number(/\nVmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      // stat field 22, after the command name's closing parenthesis.
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) / ticks;
      found.push({ pid: Number(d), rssKiB: rss, ageSeconds: Math.max(0, Math.round(uptime - start)) });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Whether the socket exists (the processes end once it no longer names theirs). */
export function warmSocketExists(): boolean {
  try {
    return statSync(warmSocketPath()).isSocket();
  } catch {
    return false;
  }
}

/**
 * Ends the warm processes: the socket first (a client then finds none and runs its command
 * itself), then each idle one, by its PID. A command one is running goes on to its end.
 */
export function stopWarm(): number[] {
  try {
    unlinkSync(warmSocketPath());
  } catch {
    // none
  }
  const ended: number[] = [];
  for (const w of warmProcesses()) {
    try {
      process.kill(w.pid, "SIGTERM");
      ended.push(w.pid);
    } catch {
      // gone meanwhile
    }
  }
  return ended;
}
