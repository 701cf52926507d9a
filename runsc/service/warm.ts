// A warm runsc-ts process: Node started and the command line's modules loaded ahead of a
// command. The client (native/client/client.c, bin/runsc-ts) connects to the socket these
// processes share (their descriptor 3, bound by the client at /run/runsc-ts/warm-*.sock),
// sends one request line — {"op":"run", argv, env, cwd, umask} — with its stdin, stdout,
// stderr and --preserve-fds descriptors, and gets back the serving process's PID, then the
// command's exit status (4 bytes each); in between, create and do ask the client to clone
// the sandbox's init (runsc/caller.ts).
//
// Two ways to serve. The commands that end with their call and leave nothing running in
// the process (do, create, exec --detach, start, state, kill, delete, list, ps, pause,
// resume, update: SHARED) are run one after another by the same warm process, each with the
// client's descriptors at 0, 1 and 2 (and its --preserve-fds ones), its environment,
// working directory and umask for its duration; its exit is the command's (runsc/exit.ts),
// not the process's; the process answers 0 for its PID (a signal to the client ends the
// client, not the process; do's client passes its signals to the sandbox's init, its own
// child) and goes back to waiting — unless the command ran on past SUCCESSOR_DELAY_MS
// (DO_SUCCESSOR_DELAY_MS for do), when a successor took its place and the process ends, or
// left a descriptor open, when the process ends too. do's sentry thread, started ahead,
// serves one sandbox after another (runsc/sandbox/sentryThread.ts). The others (events,
// the policy tools, help) make the process theirs: it starts its successor (which inherits
// the socket) once the command ends or runs on, becomes the command's process and ends with
// it, so that such a command runs as it would in a process of its own. A connection that
// reaches a process already serving is answered RETRY (the client connects again).
// A client in other namespaces or under another root than ours is told to run the command
// itself (ELSEWHERE): the command would see another system's files and processes here.
//
// Root only: the socket is mode 0600 in a root-owned directory, and a peer that is not uid 0
// is refused. Nothing here outlives what it serves: an idle process ends after IDLE_MS, and
// every process ends once the socket path no longer names its socket (`runsc-ts service
// stop`, or a newer build that replaced it). A process whose code is older than the
// build's answers STALE: the client then runs the command itself and starts new ones.
import { spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readdirSync, readlinkSync, statSync, unlinkSync, writeSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { createServer } from "node:net";
import { setPriority } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { initPath, loadNative } from "../../native/index.js";
import { receiveRequest } from "../fdRequest.js";
import { clearClient, setClient } from "../caller.js";
import { commandName, preloadCommands, runCli, runCliServed, warmUp } from "../cli.js";
import { dropSentryThreadAhead, hasSentryThreadAhead, sentryThreadAheadReady, startSentryThreadAhead } from "../sandbox/sentryThread.js";
import { warmTitle } from "./warmPool.js";

/** The status that tells the client to run the command itself (client.c: STALE). */
const STALE = 0x7ffffffe;
/** The status that tells a client in other namespaces to run the command itself (client.c: ELSEWHERE). */
const ELSEWHERE = 0x7ffffffc;
/** The answer of a process that is serving already: connect again (client.c: RETRY). */
const RETRY = 0x7ffffffb;
/** Where a warm process gets the socket (client.c: start_warm; startSuccessor). */
const INHERITED_LISTENER = 3;
const IDLE_MS = Number(process.env.RUNSC_TS_WARM_IDLE_MS ?? 10 * 60_000);
const CHECK_MS = 5_000;
/** The commands a client hands over (client.c: warm_command), loaded ahead. */
const PRELOADED = ["create", "exec", "start", "state", "kill", "delete", "list", "ps", "pause", "update", "events", "do"];
/**
 * The commands served in a process that goes on serving: they end with their call and leave
 * nothing running in the process (create's monitor and init, a detached exec's process, are
 * processes of their own). exec comes here detached only (client.c: exec_detached).
 */
const SHARED = new Set(["create", "exec", "start", "state", "kill", "delete", "list", "ls", "ps", "pause", "resume", "update", "containerd-shim", "do"]);
/** Help and version print through process.stdout, which a shared process does not swap. */
const OWN_PROCESS_FLAGS = new Set(["-h", "--help", "-v", "-V", "--version"]);

/** Whether argv is one of the SHARED commands (and asks for no help). */
function isShared(argv: readonly string[]): boolean {
  const name = commandName(argv);
  const end = argv.indexOf("--");
  return name !== undefined && SHARED.has(name) && !argv.slice(0, end < 0 ? argv.length : end).some((a) => OWN_PROCESS_FLAGS.has(a));
}

interface RunRequest {
  op: "run";
  argv: string[];
  env: string[];
  cwd: string;
  umask: number;
}

function parseRun(text: string): RunRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "the request is not JSON";
  }
  const r = v as Partial<RunRequest>;
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === "string");
  if (r.op !== "run" || !strings(r.argv) || !strings(r.env) || typeof r.cwd !== "string" || !Number.isInteger(r.umask)) return "expected {op: run, argv, env, cwd, umask}";
  return r as RunRequest;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The build this process runs: its bundle's files, by inode and time. */
const build = (): string =>
  [join(here, "warm.js"), join(here, "main.js")]
    .map((f) => {
      const s = statSync(f);
      return `${s.ino}:${s.mtimeMs}`;
    })
    .join(",");

/** The value after a flag of our command line (set by the client, passed on to successors). */
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
/** The inode and change time of the path the socket was bound to. */
const socketIno = Number(flag("--socket-ino"));
const socketCtime = flag("--socket-ctime") ?? "";
/** The socket's path (client.c: name_socket). */
const WARM_SOCKET = flag("--socket") ?? "";

/**
 * Whether WARM_SOCKET still names our socket: the path's inode and change time
 * (a file made later may reuse the number, never both).
 */
function socketIsOurs(): boolean {
  try {
    const st = statSync(WARM_SOCKET, { bigint: true });
    return Number(st.ino) === socketIno && st.ctimeNs.toString() === socketCtime;
  } catch {
    return false;
  }
}

const NAMESPACES = ["mnt", "pid", "net", "user", "uts", "ipc", "cgroup"];

/** Our namespaces and root, as sameSystem compares them (they are ours for life). */
const OWN_SYSTEM = ((): { ns: string[]; dev: number; ino: number } | undefined => {
  try {
    const root = statSync("/");
    return { ns: NAMESPACES.map((ns) => readlinkSync(`/proc/self/ns/${ns}`)), dev: root.dev, ino: root.ino };
  } catch {
    return undefined;
  }
})();

/** Whether process pid (a client) sees the system as we do: our namespaces and our root. */
function sameSystem(pid: number): boolean {
  if (pid <= 0 || OWN_SYSTEM === undefined) return false;
  try {
    for (let i = 0; i < NAMESPACES.length; i++) if (readlinkSync(`/proc/${pid}/ns/${NAMESPACES[i]}`) !== OWN_SYSTEM.ns[i]) return false;
    const theirs = statSync(`/proc/${pid}/root`);
    return theirs.dev === OWN_SYSTEM.dev && theirs.ino === OWN_SYSTEM.ino;
  } catch {
    return false;
  }
}

/** How long a command may keep its process before the process's successor starts regardless. */
const SUCCESSOR_DELAY_MS = 300;
/**
 * The same for do, whose sandbox runs a program of the caller's: a successor's Node start
 * would take CPU from it, and most run for less (a build step, a script, a test).
 */
const DO_SUCCESSOR_DELAY_MS = 1000;
/** A successor's priority while Node starts (setpriority's nice value). */
const BOOT_NICE = 19;

/** How long a successor keeps BOOT_NICE at most. */
const BOOT_NICE_MS = 300;

/** How many wait (--pool, from the client). */
const POOL = Math.max(1, Number(flag("--pool") ?? 1) || 1);

/**
 * What a warm process holds of its own, whatever the command it serves: the environment it
 * was started with, and / as its directory (a caller's may be removed: a bundle's).
 */
const OWN_ENV = { ...process.env };
process.chdir("/");

/** A warm process like this one, detached, the socket (listener, ours) at its descriptor 3. */
function startSuccessor(listener: number): void {
  const args = [fileURLToPath(import.meta.url), "--pool", String(POOL), "--socket", WARM_SOCKET, "--socket-ino", String(socketIno), "--socket-ctime", socketCtime];
  const child = spawn(process.execPath, args, { detached: true, cwd: "/", env: OWN_ENV, stdio: ["ignore", "ignore", "ignore", listener] });
  child.on("error", () => {});
  child.unref();
  // It starts at the lowest priority: Node's start-up takes CPU the command being served
  // (this one, the client's next) needs. It takes the normal one back once ready (main),
  // once this process ends, or after BOOT_NICE_MS: on a loaded machine a process at the
  // lowest priority hardly runs, and the pool would stay empty.
  const pid = child.pid;
  if (pid === undefined) return;
  const normal = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      setPriority(pid, 0);
    } catch {
      // gone already
    }
  };
  try {
    setPriority(pid, BOOT_NICE);
  } catch {
    return;
  }
  setTimeout(normal, BOOT_NICE_MS).unref();
  process.once("exit", normal);
}

/** do's sentry thread as a command without tracing or debugging options takes it. */
const DO_SENTRY = { strace: false, debug: false, logFormat: "text" } as const;

/** The descriptors this process has open, but those of except. */
function openDescriptors(except: readonly number[]): Set<number> {
  const open = new Set<number>();
  for (const name of readdirSync("/proc/self/fd")) {
    const d = Number(name);
    if (except.includes(d)) continue;
    // The listing's own descriptor was closed with it.
    try {
      fstatSync(d);
      open.add(d);
    } catch {
      // closed
    }
  }
  return open;
}

function answer(fd: number, status: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(status);
  try {
    writeSync(fd, b);
  } catch {
    // the client is gone
  }
}

async function main(): Promise<void> {
  process.title = warmTitle();
  const native = loadNative();
  // The socket, close-on-exec from now on: what the commands run (hooks, ps) must not inherit it.
  const LISTENER = native.dup(INHERITED_LISTENER);
  native.close(INHERITED_LISTENER);
  if (LISTENER < 0) process.exit(0);
  const built = build();
  // Made once now: it stays open for the process's life, as what the commands make must not.
  native.loadInit(initPath());
  await preloadCommands(PRELOADED);
  await warmUp();
  // do's sentry thread, loading now (do takes it when its options are the defaults).
  startSentryThreadAhead(DO_SENTRY);
  await sentryThreadAheadReady();
  // Ready: the commands we serve run at the normal priority (a successor starts at BOOT_NICE).
  setPriority(0);
  if (!Number.isInteger(socketIno) || !socketIsOurs()) process.exit(0);
  // The first one the client starts (--first): the rest of the pool.
  if (process.argv.includes("--first")) for (let i = 1; i < POOL; i++) startSuccessor(LISTENER);

  let idle = setTimeout(() => process.exit(0), IDLE_MS);
  const watch = setInterval(() => {
    if (!socketIsOurs()) process.exit(0);
  }, CHECK_MS);
  watch.unref();
  // What a shared command changes for its duration, put back after it.
  const own = { argv: [...process.argv], umask: process.umask() };
  let serving = false;
  let server: Server | undefined;

  // Accepting on a copy of the socket: closing it (while a command runs) leaves the socket
  // to the other warm processes.
  function listen(): void {
    const copy = native.dup(LISTENER);
    if (copy < 0) process.exit(0);
    server = createServer({ pauseOnConnect: true }, (conn: Socket) => {
      conn.on("error", () => {});
      const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      // Accepted with another in one go: that one's client connects again (another process,
      // or this one once it waits again, takes it).
      if (serving) {
        answer(fd, RETRY);
        return conn.destroy();
      }
      serving = true;
      clearTimeout(idle);
      server?.close();
      server = undefined;
      void serve(conn, fd).then(
        (again) => {
          if (again) waitAgain();
        },
        () => {
          // Refused before it was taken on: the next client is served here.
          conn.destroy();
          waitAgain();
        },
      );
    });
    server.listen({ fd: copy });
  }

  function waitAgain(): void {
    serving = false;
    idle = setTimeout(() => process.exit(0), IDLE_MS);
    listen();
  }

  /** Serves one connection: resolves true when this process may serve another. */
  async function serve(conn: Socket, fd: number): Promise<boolean> {
    const cred = native.peerCred(fd);
    if (typeof cred === "number" || cred.uid !== 0) throw new Error("only root's commands are served");
    const { text, fds } = await receiveRequest(native, conn);
    const request = parseRun(text.slice(0, text.indexOf("\n")));
    if (typeof request === "string" || fds.length < 3) {
      for (const d of fds) native.close(d);
      throw new Error(typeof request === "string" ? request : "stdin, stdout and stderr must come with the request");
    }
    // Another system's command (a container's, a chroot's): the client runs it.
    if (!sameSystem(cred.pid)) {
      for (const d of fds) native.close(d);
      answer(fd, ELSEWHERE);
      throw new Error("the client lives in other namespaces");
    }
    // Older code than the build's: the client runs it, and new processes replace us.
    if (build() !== built) {
      for (const d of fds) native.close(d);
      // The path first: the client, told, finds no socket and binds a new one.
      if (socketIsOurs()) unlinkSync(WARM_SOCKET);
      answer(fd, STALE);
      process.exit(0);
    }
    if (isShared(request.argv)) return await serveShared(conn, fd, cred.pid, request, fds);
    // Taken: the client learns who serves it (signals go there), then the status at the end.
    answer(fd, process.pid);
    // The successor, with the socket: once the command has ended (its Node start would take
    // CPU from the command, and from the caller's next step), or after SUCCESSOR_DELAY_MS
    // if the command runs on.
    let succeeded = false;
    const succeed = (): void => {
      if (succeeded) return;
      succeeded = true;
      startSuccessor(LISTENER);
      native.close(LISTENER);
    };
    setTimeout(succeed, SUCCESSOR_DELAY_MS).unref();
    process.title = "runsc-ts";
    // The status goes back when the command ends, however it ends.
    process.on("exit", (code) => {
      answer(fd, code);
      succeed();
    });
    for (let i = 0; i < 3; i++) {
      if (native.dup2(fds[i]!, i) < 0) process.exit(125);
      native.close(fds[i]!);
    }
    setClient({ pid: cred.pid, preserved: fds.slice(3), cloner: fd });
    try {
      process.chdir(request.cwd);
    } catch (err) {
      process.stderr.write(`runsc-ts: ${request.cwd}: ${(err as Error).message}\n`);
      process.exit(125);
    }
    setEnvironment(request.env);
    process.umask(request.umask & 0o777);
    process.argv = [process.execPath, join(here, "main.js"), ...request.argv];
    // A client that goes away (killed) ends the command with it; the connection alone keeps
    // nothing alive, so the process ends when the command does.
    conn.on("end", () => process.exit(125));
    conn.resume();
    conn.unref();
    // The sentry thread started ahead is do's: any other command ends it (meanwhile).
    void dropSentryThreadAhead();
    await runCli(request.argv);
    return false;
  }

  /**
   * A SHARED command, run here with the client's stdio, environment, directory, umask and
   * --preserve-fds descriptors; resolves true when this process may serve another. One that
   * runs on past SUCCESSOR_DELAY_MS (a slow hook, a container slow to end) has a successor
   * take this process's place among those waiting, and this process ends with it.
   */
  async function serveShared(conn: Socket, fd: number, pid: number, request: RunRequest, fds: number[]): Promise<boolean> {
    answer(fd, 0);
    // What the process holds besides the command's descriptors and the connection: a
    // command that leaves more open (a sentry thread that would not end keeps its
    // sandbox's) retires the process.
    const held = openDescriptors([...fds, fd]);
    let retiring = false;
    const slow = setTimeout(
      () => {
        retiring = true;
        startSuccessor(LISTENER);
      },
      commandName(request.argv) === "do" ? DO_SUCCESSOR_DELAY_MS : SUCCESSOR_DELAY_MS,
    );
    // A client that goes away (killed) ends the command with it, as it would end a process
    // of its own: this process, after starting its successor.
    const gone = (): void => {
      if (!retiring) startSuccessor(LISTENER);
      process.exit(125);
    };
    conn.on("end", gone);
    conn.resume();
    let status = 125;
    let answered = false;
    try {
      for (let i = 0; i < 3; i++) {
        const r = native.dup2(fds[i]!, i);
        if (r < 0) throw new Error(`dup2 of the caller's descriptor ${i}: errno ${-r}`);
      }
      for (const d of fds.splice(0, 3)) native.close(d);
      // create's init and a detached exec's process are cloned by the client.
      setClient({ pid, preserved: fds, cloner: fd });
      process.chdir(request.cwd);
      setEnvironment(request.env);
      process.umask(request.umask & 0o777);
      process.argv = [process.execPath, join(here, "main.js"), ...request.argv];
      // A status known before the command ends (do's, once its sandbox has ended) goes
      // back at once: the client ends, and what is left of the command is ours alone.
      status = await runCliServed(request.argv, (code) => {
        conn.off("end", gone);
        answered = true;
        answer(fd, code);
      });
    } catch (err) {
      try {
        writeSync(2, `runsc-ts: ${(err as Error).message}\n`);
      } catch {
        // the client's stderr is gone
      }
    } finally {
      clearTimeout(slow);
      clearClient();
      for (const d of fds) native.close(d);
      const nul = openSync("/dev/null", "r+");
      for (let i = 0; i < 3; i++) native.dup2(nul, i);
      closeSync(nul);
      process.chdir("/");
      setEnvironment(Object.entries(OWN_ENV).map(([k, v]) => `${k}=${v ?? ""}`));
      process.umask(own.umask);
      process.argv = [...own.argv];
      conn.off("end", gone);
    }
    if (!answered) answer(fd, status);
    conn.destroy();
    // Handles the command ended close their descriptors on the loop's next turn.
    await new Promise((resolve) => setImmediate(resolve));
    if (!retiring && [...openDescriptors([fd])].some((d) => !held.has(d))) {
      retiring = true;
      startSuccessor(LISTENER);
    }
    if (retiring) process.exit(0);
    // do took the sentry thread started ahead: the next do's starts now, and this process
    // waits again once it has loaded (meanwhile the others take the commands).
    if (!hasSentryThreadAhead(DO_SENTRY)) startSentryThreadAhead(DO_SENTRY);
    await sentryThreadAheadReady();
    return true;
  }

  listen();
}

/** process.env becomes exactly env (K=V strings). */
function setEnvironment(env: readonly string[]): void {
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of env) {
    const eq = kv.indexOf("=");
    if (eq > 0) process.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
}

await main();
