// The sentry side of one OCI container: its sentries (one for init, one per exec'd process),
// the control sockets it holds (init ends when its socket hangs up: the sentry's death ends
// the container), and the socket <root>/<id>/monitor.sock on which the lifecycle commands
// reach it, one JSON line each (monitorProtocol.ts), with their descriptors:
//
//   init PID FUSE   init (PID) is set up: serve it with the listener and control socket
//                   that come with the request, as the start data (an open file) says;
//                   with FUSE, serve the virtual /proc files too
//   adopt PID       the same for a process exec started, then start it
//   start STATE     release init's program: init runs the startContainer hooks with STATE
//                   (JSON) first; the answer waits for them
//
// It runs in the container's monitor (monitor.ts, for create), or in `run`'s own process.
// The sentries are served on this thread's event loop (sentry.ts: serveOnLoop), so that a
// container costs one V8 isolate; each gets a thread of its own (worker.ts) only when traced,
// when reporting facts, or beside the virtual /proc files this loop makes.
import type { MetricsSource } from "../metrics.js";
import { SentryStats } from "../../sentry/metrics.js";
import { descendants } from "../sandbox/processes.js";
import { F_GETFL, F_SETFL, O_NONBLOCK } from "../../platform/abi/fcntl.js";
import { MSG_NOSIGNAL } from "../../platform/abi/socket.js";
import { controlByte } from "../../native/protocol.js";
import { closeSync, openSync, readFileSync, readSync, unlinkSync } from "node:fs";
import type { Server } from "node:net";
import { createServer, Socket } from "node:net";
import { loadNative } from "../../native/index.js";
import type { SentryLog } from "../../sentry/sentry.js";
import { gateUntilNeeded } from "../../sentry/gate.js";
import type { SentryConfig } from "../../sentry/config.js";
import { hangLine, quietSentryLog, sentryLog } from "../sandbox/sentryLog.js";
import type { WorkerData } from "../sandbox/worker.js";
import { writeFully } from "../write.js";
import type { MonitorAnswer, MonitorRequest as Request, MonitorStart } from "./monitorProtocol.js";
import { encodeMessage, parseRequest, parseStart, requestDescriptors } from "./monitorProtocol.js";
import { socketAddress, socketPath } from "./state.js";
import { SIGKILL } from "../../platform/abi/signal.js";
import { receiveRequest } from "../fdRequest.js";


export class MonitorServer {
  private readonly native = loadNative();
  private readonly sock: string;
  private readonly server: Server;
  private start: MonitorStart | undefined;
  private init: HeldProcess | undefined;
  /** Host PID of the container's init, once handed over. */
  private initPid: number | undefined;
  private metrics: { loop: SentryStats; threads: Set<SentryStats> } | undefined;
  private eventsFd: number | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** The host's mountinfo, from init's request (ownFilesystems.ts), kept for exec's sentries. */
  private mountinfo: number | undefined;
  /** This thread's mount namespace and working directory (home()). */
  private homeFds: { mntns: number; cwd: number } | undefined;
  /** Where the sentries served on this thread's loop log (pino when debugging, once logLoaded). */
  private log: SentryLog;
  private readonly logLoaded: Promise<void>;

  /**
   * onInitEnd: init has ended (0), or its sentry failed and init was killed (1).
   * listening: the container's socket, made by create (a confined monitor cannot make it);
   * without it the server makes the socket itself. binder: the channel to a confined
   * sentry's binder (native/src/confine.cc), for a container on the host's network.
   */
  constructor(
    private readonly root: string,
    private readonly id: string,
    private readonly worker: WorkerData,
    private readonly onInitEnded: (code: number) => void,
    private readonly listening?: number,
    private readonly binder?: number,
  ) {
    this.sock = socketPath(root, id);
    this.log = quietSentryLog(worker.logFormat);
    this.logLoaded = worker.debug ? sentryLog(worker).then((log) => void (this.log = log)).catch(() => {}) : Promise.resolve();
    // Paused: the request is read with its descriptors (recvmsg), not by Node.
    this.server = createServer({ pauseOnConnect: true }, (conn) => this.serveConnection(conn));
  }

  /** One command on the container's socket: its request, then its answer. */
  private serveConnection(conn: Socket): void {
    conn.on("error", () => {});
    const answer = receiveRequest(this.native, conn)
      .then(({ text, fds }) => {
        const request = parseRequest(text.slice(0, text.indexOf("\n")));
        if (typeof request === "string") {
          this.closeAll(fds);
          return fail(request);
        }
        const want = requestDescriptors(request);
        if (fds.length !== want.length) {
          this.closeAll(fds);
          return fail(`${request.op}: ${want.length} descriptors (${want.join(", ") || "none"}) must come with it, not ${fds.length}`);
        }
        // Answered before the monitor ends with init (a failure from init comes with its exit).
        return this.command(request, fds).catch((err: Error) => fail(`${request.op}: ${err.message}`));
      })
      .catch((err: Error) => fail(`request: ${err.message}`));
    this.answerOn(conn, answer);
  }

  /** Sends answer on conn once it is known; the monitor ends with init only after it. */
  private answerOn(conn: Socket, answer: Promise<MonitorAnswer>): void {
    const answered = answer.then((a) => new Promise<void>((resolve) => conn.end(encodeMessage(a), resolve)));
    this.inFlight.add(answered);
    void answered.finally(() => this.inFlight.delete(answered));
  }

  /**
   * Carries on from the monitor's native start (native/monitor/monitor.c), which this
   * process was until it needed Node: init as it took it over (its pid, pidfd, listener,
   * control socket, start data and the host's mountinfo), the trapped call it received and
   * did not answer (first: the sentry answers it first), a command's connection it did not
   * read (conn), and a start it sent whose answer from init is awaited (starting).
   */
  async resume(o: { init?: ResumedInit; first?: Uint8Array; conn?: number; starting?: number }): Promise<void> {
    if (o.init !== undefined) {
      const { pid, pidfd, listener, control, start, mountinfo } = o.init;
      const answer = await this.serveProcess({ op: "init", pid, fuse: false }, [listener, control, start, mountinfo], { pidfd, first: o.first });
      if (!answer.ok) {
        // Fail closed: init cannot be served.
        this.native.pidfdSendSignal(pidfd, SIGKILL);
        this.logError(`container ${this.id}: ${answer.error}`);
        this.onInitEnded(1);
        return;
      }
    }
    if (o.starting !== undefined) {
      const waited = this.init?.using((control, pidfd) => this.awaitStarted(control, pidfd));
      this.answerOn(adoptedSocket(o.starting), waited ?? Promise.resolve(fail("init exited before the program started")));
    }
    if (o.conn !== undefined) this.serveConnection(adoptedSocket(o.conn));
  }

  private closeAll(fds: readonly number[]): void {
    for (const fd of fds) this.native.close(fd);
  }

  /** Listens on the container's socket. */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.listening !== undefined) {
        this.server.once("error", (err) => reject(new Error(`${this.sock}: ${err.message}`)));
        this.server.listen({ fd: this.listening }, () => resolve());
        return;
      }
      let at: { address: string; dirFd: number };
      try {
        at = socketAddress(this.root, this.id);
      } catch (err) {
        reject(new Error(`${this.sock}: ${(err as Error).message}`));
        return;
      }
      this.server.once("error", (err) => {
        closeSync(at.dirFd);
        reject(new Error(`${this.sock}: ${err.message}`));
      });
      this.server.listen(at.address, () => {
        closeSync(at.dirFd);
        resolve();
      });
    });
  }

  /** init has ended: once the commands in flight have their answers. */
  private onInitEnd(code: number): void {
    void Promise.allSettled([...this.inFlight]).then(() => this.onInitEnded(code));
  }

  /** Whether init has been handed over. */
  get serving(): boolean {
    return this.start !== undefined;
  }

  /** Stops listening and removes the socket (the sentry threads end with the process). */
  close(): void {
    this.server.close();
    // Made by create: delete removes it with the container's directory.
    if (this.listening !== undefined) return;
    try {
      unlinkSync(this.sock);
    } catch {
      // not made, or gone with the container's directory
    }
  }

  /** An error on stderr (the runtime's --log): a JSON line under --log-format json, as Docker reads it. */
  private logError(msg: string): void {
    const line = this.worker.logFormat === "json" ? JSON.stringify({ level: "error", msg, time: new Date().toISOString() }) : `runsc-ts: ${msg}`;
    writeFully(2, line + "\n");
  }

  private async command(r: Request, fds: number[]): Promise<MonitorAnswer> {
    switch (r.op) {
      case "start":
        return this.init === undefined ? fail("init is not served yet") : this.release(this.init, JSON.stringify(r.state));
      case "init":
      case "adopt":
        await this.logLoaded;
        return this.serveProcess(r, fds);
    }
  }

  /**
   * Sends the start message and the state to a held init, which runs the startContainer hooks
   * and then the program: "ok" once it says it started, or why not (its failure message, or its exit).
   */
  private release(held: HeldProcess, state: string): Promise<MonitorAnswer> {
    // A program that ends at once ends its sentry while this waits for init's answer: the
    // control socket stays open until the answer is read.
    return held.using((control, pidfd) => this.releaseOn(control, pidfd, state)) ?? Promise.resolve(fail("init exited before the program started"));
  }

  /**
   * The start on control, and init's answer. Its exit with nothing said reads as EOF, or,
   * when a guard holds a copy of init's end (execInPlace), as pidfd's exit.
   */
  private async releaseOn(control: number, pidfd: number, state: string): Promise<MonitorAnswer> {
    const native = this.native;
    const msg = Buffer.concat([Buffer.of(controlByte("start")), Buffer.from(state)]);
    const r = native.sendto(control, msg, msg.length, MSG_NOSIGNAL, new Uint8Array(0), 0);
    if (r < 0) return fail(`init did not take the start (errno ${-r})`);
    return this.awaitStarted(control, pidfd);
  }

  /** init's answer to the start sent on control. */
  private async awaitStarted(control: number, pidfd: number): Promise<MonitorAnswer> {
    const native = this.native;
    // Waited for without blocking: the hooks may read the virtual /proc files this thread serves.
    const flags = native.fcntl(control, F_GETFL, 0);
    if (flags >= 0) native.fcntl(control, F_SETFL, flags | O_NONBLOCK);
    const buf = Buffer.alloc(2048);
    let exited = false;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      let n: number;
      try {
        n = readSync(control, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return fail(`init: ${(err as Error).message}`);
        // Exited: anything it said is queued by now, and the next read finds it.
        if (exited) return fail("init exited before the program started");
        exited = native.pidfdExited(pidfd);
        if (!exited) await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      if (n === 0) return fail("init exited before the program started");
      if (buf[0] === controlByte("started")) return OK;
      if (buf[0] === controlByte("failed")) return fail(buf.toString("utf8", 1, n));
      return fail(`init answered ${JSON.stringify(buf.toString("latin1", 0, Math.min(n, 16)))}`);
    }
  }

  /**
   * Serves a process on a sentry thread with the listener and control socket that came with
   * the request (fds, in requestDescriptors' order; all of them ours now): "ok", or why not.
   */
  private async serveProcess(r: Extract<Request, { op: "init" | "adopt" }>, fds: number[], given?: { pidfd: number; first?: Uint8Array | undefined }): Promise<MonitorAnswer> {
    const native = this.native;
    const { op: kind, pid } = r;
    const [listener, control, startFd, mountinfo, fuse] = fds as [number, number, number?, number?, number?];
    const refuse = (why: string): MonitorAnswer => {
      this.closeAll(fds);
      return fail(why);
    };
    if (kind === "init" && this.start !== undefined) return refuse("init was handed over already");
    if (kind === "adopt" && this.start === undefined) return refuse("the container's init is not served yet");
    if (kind === "init") {
      try {
        this.start = parseStart(readFileSync(startFd!, "utf8"), "the sentry's start data");
      } catch (err) {
        return refuse((err as Error).message);
      }
      native.close(startFd!);
      this.mountinfo = mountinfo;
    }
    const taken = [listener, control];
    const close = (): void => {
      for (const fd of taken) native.close(fd);
    };
    const pidfd = given?.pidfd ?? native.pidfdOpen(pid);
    if (pidfd < 0) {
      close();
      if (fuse !== undefined) native.close(fuse);
      return fail(`process ${pid}: errno ${-pidfd}`);
    }
    taken.push(pidfd);
    let mntns: number;
    try {
      mntns = openSync(`/proc/${pid}/ns/mnt`, "r");
    } catch (err) {
      close();
      if (fuse !== undefined) native.close(fuse);
      return fail((err as Error).message);
    }
    taken.push(mntns);
    if (kind === "init" && this.start!.proc !== undefined) {
      if (fuse === undefined) {
        close();
        return fail("the virtual /proc files' /dev/fuse did not come with init");
      }
      // Loaded for the containers that have them.
      const { serveProcFs } = await import("../sandbox/procfs.js");
      serveProcFs(native, fuse, this.start!.proc);
    }
    if (given?.first !== undefined && !this.onLoop(this.start!.config)) {
      close();
      return fail("a trapped call came before Node did, for a sentry that runs on a thread of its own");
    }
    const held = new HeldProcess(native, taken, control, pidfd);
    if (kind === "init") {
      this.init = held;
      this.initPid = pid;
      // Ended with init, also while init is a zombie its parent has not reaped (its
      // sentry's listener outlives it then).
      held.whenExited(() => this.onInitEnd(0));
    }
    const config = {
      ...this.start!.config,
      ...(this.mountinfo !== undefined ? { hostMountinfoFd: this.mountinfo } : {}),
      ...(this.binder !== undefined ? { binderFd: this.binder } : {}),
    };
    const ended = (): void => {
      if (kind === "init") this.onInitEnd(0);
    };
    const failed = (err: Error): void => {
      // Fail closed: the process goes with its sentry (init: the container with it).
      native.pidfdSendSignal(pidfd, SIGKILL);
      this.logError(`container ${this.id}: ${kind === "init" ? "" : "exec: "}${err.message}`);
      if (kind === "init") this.onInitEnd(1);
    };
    if (this.onLoop(config)) {
      // On this thread's event loop: no isolate of its own (~8 MiB each). Its code is loaded
      // (and its state made) at the first trapped call that needs it (gate.ts): a container
      // that makes none (an idle one) holds none of it (~3 MiB).
      const { record: _, ...plain } = config;
      this.log.debug({ pid, process: kind }, "served on the monitor's loop; its sentry loads at the first trapped call that needs it");
      const needed = (first: Uint8Array | undefined): void =>
          void import("../../sentry/sentry.js")
            .then(({ serveOnLoop }) => serveOnLoop({ ...plain, native, mntns, pidfd, listener, initPid: pid, strace: undefined, ...(this.metrics !== undefined ? { stats: this.metrics.loop } : {}), ...(this.eventsFd !== undefined ? { events: this.eventsFd } : {}), log: this.log, hangLine: hangLine(this.worker.logFormat, `container ${this.id}`) }, this.home(), first).done)
            .then(ended, failed)
            .finally(() => held.end());
      // Received already (the native start's): the sentry answers it first.
      if (given?.first !== undefined) needed(given.first);
      else
        gateUntilNeeded(native, listener, pidfd, {
          needed,
          over: () => {
            ended();
            held.end();
          },
          failed: (err) => {
            failed(err);
            held.end();
          },
        });
    } else {
      // A thread of its own: traced, reporting facts, or beside the virtual /proc files this
      // loop makes (an open of one by the sentry would wait for the loop it holds).
      const { SentryThread } = await import("../sandbox/sentryThread.js");
      const sentry = new SentryThread(this.worker);
      const metrics = this.metrics;
      const stats = metrics !== undefined ? new SentryStats() : undefined;
      if (stats !== undefined) metrics!.threads.add(stats);
      sentry
        .serve({ config, pid, listener, pidfd, mntns, notChild: true, name: `container ${this.id}`, ...(stats !== undefined ? { stats: stats.buffer } : {}), ...(this.eventsFd !== undefined ? { events: this.eventsFd } : {}) })
        .then(ended, failed)
        .finally(() => {
          if (stats !== undefined) {
            metrics!.loop.add(stats);
            metrics!.threads.delete(stats);
          }
          void sentry.release().then(() => held.end());
        });
    }
    return kind === "init" ? OK : this.release(held, "");
  }

  /**
   * Starts counting for the metrics endpoint (--metrics-address): what the sentries on this
   * thread's loop count, and what the ones on threads of their own do, each on its own (one
   * writer each) until it ends and its counts join the loop's.
   */
  countCalls(): MetricsSource {
    const loop = new SentryStats();
    this.metrics = { loop, threads: new Set() };
    const threads = this.metrics.threads;
    const stats = {
      *[Symbol.iterator](): Iterator<SentryStats> {
        yield loop;
        yield* threads;
      },
    };
    return { sandbox: this.id, stats, tasks: () => (this.initPid === undefined ? 0 : descendants(this.initPid).length) };
  }

  /** --record-events: the container's sentries record its execs, exits and refusals on fd (O_APPEND). */
  recordEvents(fd: number): void {
    this.eventsFd = fd;
  }

  /** Whether a process of the container is served on this thread's event loop (serveOnLoop). */
  private onLoop(config: SentryConfig): boolean {
    return !this.worker.strace && config.record !== true && this.start!.proc === undefined;
  }

  /** This thread's own mount namespace and working directory, where a sentry served on its loop returns after each burst. */
  private home(): { mntns: number; cwd: number } {
    this.homeFds ??= { mntns: openSync("/proc/thread-self/ns/mnt", "r"), cwd: openSync(".", "r") };
    return this.homeFds;
  }
}

/** init as the monitor's native start took it over (MonitorServer.resume). */
export interface ResumedInit {
  readonly pid: number;
  readonly pidfd: number;
  readonly listener: number;
  readonly control: number;
  readonly start: number;
  readonly mountinfo: number;
}

/** A connection accepted before this process was Node's, unread: paused, as the server's are. */
function adoptedSocket(fd: number): Socket {
  return new Socket({ fd, readable: true, writable: true, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]);
}

/** How often a served process is checked for its end when nothing else reports it. */
const EXIT_CHECK_MS = 200;

const OK: MonitorAnswer = { ok: true };

function fail(error: string): MonitorAnswer {
  return { ok: false, error };
}

/**
 * The descriptors taken for one served process (listener, control socket, pidfd, mount
 * namespace). Its sentry's end and a command reading its control socket race: the
 * descriptors are closed once the sentry has ended and no command uses them any more, never
 * under a reader (whose next read would hit a closed, or another file's, descriptor).
 */
class HeldProcess {
  private users = 0;
  private ended = false;
  private closed = false;

  constructor(
    private readonly native: ReturnType<typeof loadNative>,
    private readonly fds: readonly number[],
    private readonly control: number,
    private readonly pidfd: number,
  ) {}

  /** Runs fn on the control socket and the pidfd, held open until it settles; undefined once closed. */
  using<T>(fn: (control: number, pidfd: number) => Promise<T>): Promise<T> | undefined {
    if (this.closed) return undefined;
    this.users++;
    return fn(this.control, this.pidfd).finally(() => {
      this.users--;
      this.closeIfDone();
    });
  }

  /**
   * Calls fn once the process has exited, checked every EXIT_CHECK_MS (keeping nothing
   * alive); never once its descriptors are closed (its sentry's end has reported it).
   */
  whenExited(fn: () => void): void {
    const watch = setInterval(() => {
      if (this.closed) clearInterval(watch);
      else if (this.native.pidfdExited(this.pidfd)) {
        clearInterval(watch);
        fn();
      }
    }, EXIT_CHECK_MS);
    watch.unref();
  }

  /** The process's sentry has ended. */
  end(): void {
    this.ended = true;
    this.closeIfDone();
  }

  private closeIfDone(): void {
    if (!this.ended || this.users > 0 || this.closed) return;
    this.closed = true;
    for (const fd of this.fds) this.native.close(fd);
  }
}
