// The monitor of one OCI container: a detached process that `create` starts and that lives
// as long as the container. It runs the container's sentry (on a worker thread, as `do`
// does), holds init's control socket (init ends when it hangs up: the sentry's death ends
// the container) and answers the lifecycle commands on <root>/<id>/monitor.sock.
//
// Its descriptors, from create: 3 a pipe on which it reports "ready" (or why not), 4 the
// seccomp listener, 5 init's pidfd, 6 init's mount namespace, 7 init's control socket.
// The start message waits in <root>/<id>/sentry.bin (v8-serialized: it holds bigints).
import { closeSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { deserialize } from "node:v8";
import { loadNative } from "../../native/index.js";
import { SentryThread } from "../sandbox/sandbox.js";
import { writeFully } from "../write.js";
import type { MonitorStart } from "./monitorProtocol.js";
import { MONITOR_FDS } from "./monitorProtocol.js";
import { containerDir, socketPath } from "./state.js";

const [root, id] = process.argv.slice(2) as [string, string];
const native = loadNative();
const sock = socketPath(root, id);
const SIGKILL = 9;

function report(line: string): void {
  try {
    writeSync(MONITOR_FDS.ready, line + "\n");
    closeSync(MONITOR_FDS.ready);
  } catch {
    // create is gone: it undoes the container itself
  }
}

let finished = false;
function finish(code: number): never {
  finished = true;
  try {
    unlinkSync(sock);
  } catch {
    // not made yet
  }
  process.exit(code);
}

let start: MonitorStart;

/**
 * exec's process: its listener and control socket taken from the exec command (fds of
 * process cli), served by a sentry thread of its own, then started. "ok" or "error: why".
 */
function adopt([cli, pid, listenerFd, controlFd]: number[]): string {
  if (![cli, pid, listenerFd, controlFd].every((n) => Number.isInteger(n) && n! > 0)) return "error: adopt: bad arguments";
  const taken: number[] = [];
  const close = (): void => {
    for (const fd of taken) native.close(fd);
  };
  const cliFd = native.pidfdOpen(cli!);
  if (cliFd < 0) return `error: exec's process ${cli}: errno ${-cliFd}`;
  try {
    const listener = native.pidfdGetfd(cliFd, listenerFd!);
    const control = native.pidfdGetfd(cliFd, controlFd!);
    const pidfd = native.pidfdOpen(pid!);
    for (const fd of [listener, control, pidfd]) if (fd >= 0) taken.push(fd);
    if (taken.length !== 3) {
      close();
      return "error: cannot take exec's descriptors";
    }
    let mntns: number;
    try {
      mntns = openSync(`/proc/${pid}/ns/mnt`, "r");
    } catch (err) {
      close();
      return `error: ${(err as Error).message}`;
    }
    taken.push(mntns);
    const sentry = new SentryThread(start.worker);
    sentry
      .serve({ ...start.message, pid: pid!, listener, pidfd, mntns, notChild: true })
      .catch((err: Error) => {
        // Fail closed: the exec'd process goes with its sentry.
        native.pidfdSendSignal(pidfd, SIGKILL);
        writeFully(2, `runsc-ts: container ${id}: exec: ${err.message}\n`);
      })
      .finally(() => {
        sentry.release();
        close();
      });
    const r = native.sendByte(control, "R".charCodeAt(0));
    return r === 0 ? "ok" : `error: exec's process did not take the start (errno ${-r})`;
  } finally {
    native.close(cliFd);
  }
}

try {
  const file = join(containerDir(root, id), "sentry.bin");
  start = deserialize(readFileSync(file)) as MonitorStart;
  rmSync(file);
  const sentry = new SentryThread(start.worker);
  const served = sentry.serve({
    ...start.message,
    listener: MONITOR_FDS.listener,
    pidfd: MONITOR_FDS.pidfd,
    mntns: MONITOR_FDS.mntns,
    notChild: true,
  });
  served.then(
    () => finish(0),
    (err: Error) => {
      // Fail closed: without its sentry the container must not go on.
      native.pidfdSendSignal(MONITOR_FDS.pidfd, SIGKILL);
      writeFully(2, `runsc-ts: container ${id}: ${err.message}\n`);
      finish(1);
    },
  );
  // The sentry's listener outlives init while init is a zombie its parent has not reaped.
  setInterval(() => {
    if (native.pidfdExited(MONITOR_FDS.pidfd)) finish(0);
  }, 200).unref();

  const server = createServer((conn) => {
    let buf = "";
    conn.on("error", () => {});
    conn.on("data", (chunk: Buffer) => {
      buf += chunk.toString();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const cmd = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (cmd === "start") {
        const r = native.sendByte(MONITOR_FDS.control, "R".charCodeAt(0));
        conn.end(r === 0 ? "ok\n" : `error: init did not take the start (errno ${-r})\n`);
      } else if (cmd.startsWith("adopt ")) {
        conn.end(adopt(cmd.split(" ").slice(1).map(Number)) + "\n");
      } else {
        conn.end(`error: unknown command ${JSON.stringify(cmd)}\n`);
      }
    });
  });
  server.on("error", (err) => {
    report(`error: ${sock}: ${err.message}`);
    finish(1);
  });
  server.listen(sock, () => {
    if (!finished) report("ready");
  });
} catch (err) {
  report(`error: ${(err as Error).message}`);
  finish(1);
}
