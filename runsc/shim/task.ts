// The Task service of containerd's runtime v2 (containerd.task.v2.Task), served by one shim
// for a pod's containers (or one container's). Each call is carried out by runsc-ts's own
// command line (bin/runsc-ts, with runc's commands), as containerd's runc shim carries out
// its calls with runc: create, start, kill, delete, exec, ps, pause, resume, update. The shim
// is the child subreaper of what those commands leave running — each container's program
// and exec'd processes — and reaps them (native startReaper), which gives Wait its statuses.
import { closeSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, open, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import type { Writable } from "node:stream";
import { join } from "node:path";
import type { NativeBinding } from "../../native/binding.js";
import { O_CLOEXEC } from "../../platform/abi/fcntl.js";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from "../../platform/abi/socket.js";
import { receiveWithFds } from "../fdRequest.js";
import { oomKills } from "../oci/control.js";
import { readState } from "../oci/state.js";
import type { Any, Timestamp } from "./proto.js";
import { Code, decode, encode, messageType, timestamp } from "./proto.js";
import { RpcError } from "./ttrpc.js";
import type { Handler } from "./ttrpc.js";

const TASK = "containerd.task.v2.Task";
/** containerd's type name for a process spec carried as JSON in an Any (exec). */
const PROCESS_SPEC = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/** … and for linux resources (update). */
const LINUX_RESOURCES = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

enum Status {
  UNKNOWN = 0,
  CREATED = 1,
  RUNNING = 2,
  STOPPED = 3,
  PAUSED = 4,
}

/** Where the shim publishes task events (containerd's Events.Forward, or nowhere). */
export type Publish = (topic: string, type: string, event: object) => void;

export interface TaskServiceOptions {
  native: NativeBinding;
  /** bin/runsc-ts: the command line every call runs. */
  runtime: string;
  /** runsc-ts's --root for this namespace's containers. */
  root: string;
  /** A directory of the shim's own (process specs, resources, command output). */
  work: string;
  publish: Publish;
  /** Called when the last container is deleted and containerd asks the shim to go (Shutdown). */
  exit: () => void;
}

interface Process {
  execId: string;
  pid: number;
  status: Status;
  exitStatus: number;
  exitedAt: Timestamp | undefined;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  /** The process spec file (exec), passed to `runsc-ts exec --process`. */
  spec?: string;
  /** Settles once the process has exited (and its status is recorded). */
  exited: Promise<void>;
  markExited: () => void;
  /** The shim's end of the process's stdin, copied from containerd's stdin FIFO. */
  stdinCopy?: { end(): void };
  /** The master of the process's terminal (process.terminal), once the runtime sent it. */
  master?: number;
  /** Settles once what the terminal's master had to give reached containerd's FIFO. */
  drained?: Promise<void>;
}

interface Container {
  id: string;
  bundle: string;
  /** Where the shim mounted the rootfs containerd gave (unmounted at delete), if it did. */
  mountedRoot?: string;
  init: Process;
  execs: Map<string, Process>;
}

interface CommandResult {
  status: number;
  stdout: string;
  /** The last error runsc-ts logged (its --log), or its stderr. */
  error: string;
}

function newProcess(execId: string, io: { stdin: string; stdout: string; stderr: string; terminal: boolean }): Process {
  let markExited!: () => void;
  const exited = new Promise<void>((resolve) => (markExited = resolve));
  return { execId, pid: 0, status: Status.CREATED, exitStatus: 0, exitedAt: undefined, ...io, exited, markExited };
}

/** The last "error"/"fatal" message of a runsc-ts --log file (JSON lines). */
function lastLoggedError(log: string): string {
  let text: string;
  try {
    text = readFileSync(log, "utf8");
  } catch {
    return "";
  }
  let msg = "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if ((e.level === "error" || e.level === "fatal") && typeof e.msg === "string") msg = e.msg;
    } catch {
      // not a line of ours
    }
  }
  return msg;
}

export class TaskService {
  private readonly containers = new Map<string, Container>();
  private seq = 0;

  constructor(private readonly o: TaskServiceOptions) {}

  /** The handlers, by "service/method". */
  methods(): Map<string, Handler> {
    const m = new Map<string, Handler>();
    const on = <Req>(method: string, request: string, fn: (r: Req) => Promise<{ type: string; value: object }>): void => {
      m.set(`${TASK}/${method}`, async (payload) => {
        const out = await fn(decode<Req>(`containerd.task.v2.${request}`, payload));
        return encode(out.type, out.value);
      });
    };
    const empty = { type: "google.protobuf.Empty", value: {} };
    on<CreateRequest>("Create", "CreateTaskRequest", async (r) => ({ type: "containerd.task.v2.CreateTaskResponse", value: { pid: await this.create(r) } }));
    on<ExecRef>("Start", "StartRequest", async (r) => ({ type: "containerd.task.v2.StartResponse", value: { pid: await this.start(r) } }));
    on<ExecRef>("State", "StateRequest", async (r) => ({ type: "containerd.task.v2.StateResponse", value: this.state(r) }));
    on<ExecRef>("Wait", "WaitRequest", async (r) => ({ type: "containerd.task.v2.WaitResponse", value: await this.wait(r) }));
    on<KillRequest>("Kill", "KillRequest", async (r) => (await this.kill(r), empty));
    on<ExecRef>("Delete", "DeleteRequest", async (r) => ({ type: "containerd.task.v2.DeleteResponse", value: await this.delete(r) }));
    on<ExecRequest>("Exec", "ExecProcessRequest", async (r) => (this.exec(r), empty));
    on<{ id: string }>("Pids", "PidsRequest", async (r) => ({ type: "containerd.task.v2.PidsResponse", value: { processes: (await this.pids(r.id)).map((pid) => ({ pid })) } }));
    on<{ id: string }>("Pause", "PauseRequest", async (r) => (await this.simple(r.id, ["pause", r.id], "/tasks/paused", "containerd.events.TaskPaused"), empty));
    on<{ id: string }>("Resume", "ResumeRequest", async (r) => (await this.simple(r.id, ["resume", r.id], "/tasks/resumed", "containerd.events.TaskResumed"), empty));
    on<UpdateRequest>("Update", "UpdateTaskRequest", async (r) => (await this.update(r), empty));
    on<CloseIORequest>("CloseIO", "CloseIORequest", async (r) => (this.closeIO(r), empty));
    on<{ id: string }>("Connect", "ConnectRequest", async (r) => ({ type: "containerd.task.v2.ConnectResponse", value: { shim_pid: process.pid, task_pid: this.containers.get(r.id)?.init.pid ?? 0 } }));
    on<{ id: string; now: boolean }>("Shutdown", "ShutdownRequest", async (r) => (this.shutdown(r.now), empty));
    on<{ id: string }>("Stats", "StatsRequest", async (r) => ({ type: "containerd.task.v2.StatsResponse", value: { stats: await this.stats(r.id) } }));
    on<{ id: string }>("Checkpoint", "CheckpointTaskRequest", async () => {
      throw new RpcError(Code.UNIMPLEMENTED, "Checkpoint: runsc-ts does not checkpoint containers");
    });
    on<ResizeRequest>("ResizePty", "ResizePtyRequest", async (r) => (this.resize(r), empty));
    return m;
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (c === undefined) throw new RpcError(Code.NOT_FOUND, `container ${id}: not found`);
    return c;
  }

  private process(r: ExecRef): Process {
    const c = this.container(r.id);
    if (r.exec_id === "") return c.init;
    const p = c.execs.get(r.exec_id);
    if (p === undefined) throw new RpcError(Code.NOT_FOUND, `container ${r.id}: no exec ${r.exec_id}`);
    return p;
  }

  /** Runs `runsc-ts ARGS` with io as its stdio (default: none in, its output kept): status, output, error. */
  private run(args: string[], io?: [number, number, number]): Promise<CommandResult> {
    const n = ++this.seq;
    const log = join(this.o.work, `log-${n}.json`);
    // Without the caller's stdio, the command's output goes to a file of ours, read after.
    const outFile = io === undefined ? join(this.o.work, `out-${n}`) : undefined;
    const own = outFile !== undefined ? { devnull: openSync("/dev/null", "r"), out: openSync(outFile, "w+") } : undefined;
    const fds: [number, number, number] = io ?? [own!.devnull, own!.out, own!.out];
    const pid = this.o.native.spawnCommand([this.o.runtime, "--root", this.o.root, "--log", log, "--log-format", "json", ...args], fds);
    if (own !== undefined) closeSync(own.devnull);
    const finish = (): string => {
      if (own === undefined) return "";
      closeSync(own.out);
      const text = readFileSync(outFile!, "utf8");
      rmSync(outFile!, { force: true });
      return text;
    };
    if (pid < 0) {
      finish();
      return Promise.reject(new RpcError(Code.INTERNAL, `cannot run ${this.o.runtime}: errno ${-pid}`));
    }
    return new Promise((resolve) => {
      this.o.native.onExit(pid, (status) => {
        const stdout = finish();
        const error = lastLoggedError(log) || stdout.trim();
        rmSync(log, { force: true });
        resolve({ status, stdout, error });
      });
    });
  }

  /** Runs `runsc-ts ARGS`, which must succeed: its stdout, or an RpcError with runsc-ts's message. */
  private async must(args: string[], io?: [number, number, number]): Promise<string> {
    const r = await this.run(args, io);
    if (r.status !== 0) throw new RpcError(Code.UNKNOWN, `runsc-ts ${args[0]}: ${r.error || `exit status ${r.status}`}`);
    return r.stdout;
  }

  /**
   * The process's stdio: containerd's FIFOs, opened here (stdin copied through a socket, so
   * that CloseIO can end it); with a terminal, a console socket the runtime sends the pty's
   * master on (its args), whose copies to and from the FIFOs attached() starts.
   */
  private prepareIo(p: Process): Io {
    const opened: number[] = [];
    const open = (path: string): number => {
      // Read and write: opening a FIFO so never waits for its other side.
      const fd = openSync(path === "" ? "/dev/null" : path, constants.O_RDWR | O_CLOEXEC);
      opened.push(fd);
      return fd;
    };
    const close = (): void => opened.splice(0).forEach((fd) => closeSync(fd));
    if (p.terminal) {
      const devnull = open("");
      const console = receiveConsole(this.o.native, join(this.o.work, `console-${++this.seq}.sock`));
      return {
        fds: [devnull, devnull, devnull],
        args: ["--console-socket", console.path],
        attached: async () => {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new RpcError(Code.INTERNAL, "the runtime sent no terminal on the console socket within 10 s")), 10_000);
          });
          const master = await Promise.race([console.master, late]).finally(() => clearTimeout(timer));
          p.master = master;
          attachTerminal(this.o.native, p, master);
        },
        close: () => {
          console.close();
          close();
        },
      };
    }
    let stdin: number;
    if (p.stdin === "") stdin = open("");
    else {
      const pair = this.o.native.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (typeof pair === "number") throw new RpcError(Code.INTERNAL, `stdin: socketpair: errno ${-pair}`);
      const [ours, theirs] = pair;
      opened.push(theirs);
      const sink = new Socket({ fd: ours, readable: false, writable: true });
      p.stdinCopy = copyStdin(p.stdin, sink, () => sink.end());
      void p.exited.then(() => p.stdinCopy?.end());
      stdin = theirs;
    }
    return { fds: [stdin, open(p.stdout), open(p.stderr)], args: [], attached: async () => {}, close };
  }

  /** Watches pid's exit: its status recorded, TaskExit published. */
  private watch(c: Container, p: Process, pid: number): void {
    p.pid = pid;
    this.o.native.onExit(pid, (status) => void this.exited(c, p, pid, status));
  }

  /**
   * Records pid's exit and publishes it. A terminal's last output is in containerd's FIFO
   * first (it stops reading once the exit is known), or at most a second later (another
   * process may keep the terminal open).
   */
  private async exited(c: Container, p: Process, pid: number, status: number): Promise<void> {
    const at = timestamp(Date.now());
    if (p.drained !== undefined) await Promise.race([p.drained, new Promise((resolve) => setTimeout(resolve, 1000))]);
    // The program killed for memory: containerd's CRI reports OOMKilled on TaskOOM.
    if (p.execId === "" && status === 128 + 9) {
      const st = readState(this.o.root, c.id);
      if (st !== undefined && oomKills(st) > 0) this.o.publish("/tasks/oom", "containerd.events.TaskOOM", { container_id: c.id });
    }
    p.status = Status.STOPPED;
    p.exitStatus = status;
    p.exitedAt = at;
    p.markExited();
    this.o.publish("/tasks/exit", "containerd.events.TaskExit", { container_id: c.id, id: p.execId === "" ? c.id : p.execId, pid, exit_status: status, exited_at: at });
  }

  private async create(r: CreateRequest): Promise<number> {
    const known = this.containers.get(r.id);
    // One that ended and was never deleted (its containerd went away meanwhile) is forgotten.
    if (known !== undefined && known.init.status === Status.STOPPED) await this.forget(known);
    else if (known !== undefined) throw new RpcError(Code.ALREADY_EXISTS, `container ${r.id}: already exists`);
    if (r.checkpoint !== "") throw new RpcError(Code.UNIMPLEMENTED, "create: runsc-ts does not restore checkpoints");
    const c: Container = { id: r.id, bundle: r.bundle, init: newProcess("", r), execs: new Map() };
    if (r.rootfs.length > 0) c.mountedRoot = await this.mountRootfs(r.bundle, r.rootfs);
    const io = this.prepareIo(c.init);
    const pidFile = join(r.bundle, "init.pid");
    try {
      await this.must(["create", "--bundle", r.bundle, "--pid-file", pidFile, ...io.args, r.id], io.fds);
      await io.attached();
    } catch (err) {
      c.init.stdinCopy?.end();
      if (c.mountedRoot !== undefined) await this.unmount(c.mountedRoot);
      throw err;
    } finally {
      io.close();
    }
    const pid = Number(readFileSync(pidFile, "utf8"));
    this.containers.set(r.id, c);
    this.watch(c, c.init, pid);
    this.o.publish("/tasks/create", "containerd.events.TaskCreate", {
      container_id: r.id,
      bundle: r.bundle,
      rootfs: r.rootfs,
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      checkpoint: "",
      pid,
    });
    return pid;
  }

  /** Mounts containerd's rootfs mounts at BUNDLE/rootfs, as its runc shim does: the path mounted. */
  private async mountRootfs(bundle: string, mounts: readonly Mount[]): Promise<string> {
    const target = join(bundle, "rootfs");
    mkdirSync(target, { recursive: true });
    for (const m of mounts) {
      const r = await this.spawnTool("/usr/bin/mount", ["-t", m.type, ...(m.options.length > 0 ? ["-o", m.options.join(",")] : []), m.source, target]);
      if (r !== 0) throw new RpcError(Code.INTERNAL, `create: mounting the rootfs (${m.type} ${m.source}) at ${target} failed (mount exited ${r})`);
    }
    return target;
  }

  private async unmount(target: string): Promise<void> {
    await this.spawnTool("/usr/bin/umount", [target]);
  }

  /** Runs a host tool (mount, umount) with no stdio: its status. */
  private spawnTool(path: string, args: string[]): Promise<number> {
    const devnull = openSync("/dev/null", "r+");
    const pid = this.o.native.spawnCommand([path, ...args], [devnull, devnull, devnull]);
    closeSync(devnull);
    if (pid < 0) return Promise.resolve(127);
    return new Promise((resolve) => this.o.native.onExit(pid, resolve));
  }

  private async start(r: ExecRef): Promise<number> {
    const c = this.container(r.id);
    const p = this.process(r);
    if (p.status !== Status.CREATED) throw new RpcError(Code.FAILED_PRECONDITION, `${r.exec_id || r.id}: not created (it started already)`);
    if (r.exec_id === "") {
      await this.must(["start", r.id]);
      // A program that ended at once has been reaped meanwhile: it stays stopped.
      if (p.status === Status.CREATED) p.status = Status.RUNNING;
      this.o.publish("/tasks/start", "containerd.events.TaskStart", { container_id: r.id, pid: p.pid });
      return p.pid;
    }
    const io = this.prepareIo(p);
    const pidFile = join(this.o.work, `exec-${++this.seq}.pid`);
    try {
      await this.must(["exec", "--detach", "--process", p.spec!, "--pid-file", pidFile, ...io.args, r.id], io.fds);
      await io.attached();
    } catch (err) {
      p.stdinCopy?.end();
      throw err;
    } finally {
      io.close();
    }
    const pid = Number(readFileSync(pidFile, "utf8"));
    unlinkSync(pidFile);
    p.status = Status.RUNNING;
    this.watch(c, p, pid);
    this.o.publish("/tasks/exec-started", "containerd.events.TaskExecStarted", { container_id: r.id, exec_id: r.exec_id, pid });
    return pid;
  }

  private state(r: ExecRef): object {
    const c = this.container(r.id);
    const p = this.process(r);
    return {
      id: r.id,
      bundle: c.bundle,
      pid: p.pid,
      status: p.status,
      stdin: p.stdin,
      stdout: p.stdout,
      stderr: p.stderr,
      terminal: p.terminal,
      exit_status: p.exitStatus,
      ...(p.exitedAt !== undefined ? { exited_at: p.exitedAt } : {}),
      exec_id: r.exec_id,
    };
  }

  private async wait(r: ExecRef): Promise<object> {
    const p = this.process(r);
    await p.exited;
    return { exit_status: p.exitStatus, exited_at: p.exitedAt };
  }

  private async kill(r: KillRequest): Promise<void> {
    const c = this.container(r.id);
    if (r.exec_id !== "") {
      const p = this.process(r);
      if (p.status !== Status.RUNNING) throw new RpcError(Code.NOT_FOUND, `exec ${r.exec_id}: not running`);
      try {
        process.kill(p.pid, r.signal);
      } catch (err) {
        throw new RpcError(Code.NOT_FOUND, `exec ${r.exec_id}: ${(err as Error).message}`);
      }
      return;
    }
    const res = await this.run(["kill", ...(r.all ? ["--all"] : []), c.id, String(r.signal)]);
    if (res.status !== 0) throw new RpcError(c.init.status === Status.STOPPED ? Code.NOT_FOUND : Code.UNKNOWN, `runsc-ts kill: ${res.error || `exit status ${res.status}`}`);
  }

  private async delete(r: ExecRef): Promise<object> {
    const c = this.container(r.id);
    const p = this.process(r);
    if (r.exec_id !== "") {
      if (p.status === Status.RUNNING) throw new RpcError(Code.FAILED_PRECONDITION, `exec ${r.exec_id}: still running`);
      c.execs.delete(r.exec_id);
      if (p.spec !== undefined) rmSync(p.spec, { force: true });
      return { pid: p.pid, exit_status: p.exitStatus, ...(p.exitedAt !== undefined ? { exited_at: p.exitedAt } : {}) };
    }
    if (p.status === Status.RUNNING || p.status === Status.PAUSED) throw new RpcError(Code.FAILED_PRECONDITION, `container ${r.id}: still running`);
    // A created container that never ran: runsc-ts delete --force ends its init.
    await this.must(["delete", ...(p.status === Status.CREATED ? ["--force"] : []), r.id]);
    if (p.status === Status.CREATED) await p.exited;
    p.stdinCopy?.end();
    if (c.mountedRoot !== undefined) await this.unmount(c.mountedRoot);
    for (const e of c.execs.values()) if (e.spec !== undefined) rmSync(e.spec, { force: true });
    this.containers.delete(r.id);
    const out = { pid: p.pid, exit_status: p.exitStatus, ...(p.exitedAt !== undefined ? { exited_at: p.exitedAt } : {}) };
    this.o.publish("/tasks/delete", "containerd.events.TaskDelete", { container_id: r.id, ...out, id: r.id });
    return out;
  }

  /** A stopped container's runtime state, rootfs mount and files, gone. */
  private async forget(c: Container): Promise<void> {
    await this.run(["delete", "--force", c.id]);
    if (c.mountedRoot !== undefined) await this.unmount(c.mountedRoot);
    for (const e of c.execs.values()) if (e.spec !== undefined) rmSync(e.spec, { force: true });
    this.containers.delete(c.id);
  }

  private exec(r: ExecRequest): void {
    const c = this.container(r.id);
    if (c.execs.has(r.exec_id)) throw new RpcError(Code.ALREADY_EXISTS, `exec ${r.exec_id}: already exists`);
    if (c.init.status !== Status.RUNNING) throw new RpcError(Code.FAILED_PRECONDITION, `container ${r.id}: not running`);
    if (r.spec === null || r.spec.type_url !== PROCESS_SPEC) throw new RpcError(Code.INVALID_ARGUMENT, `exec: spec must be a ${PROCESS_SPEC}`);
    const p = newProcess(r.exec_id, r);
    p.spec = join(this.o.work, `process-${++this.seq}.json`);
    writeFileSync(p.spec, r.spec.value);
    c.execs.set(r.exec_id, p);
    this.o.publish("/tasks/exec-added", "containerd.events.TaskExecAdded", { container_id: r.id, exec_id: r.exec_id });
  }

  private async pids(id: string): Promise<number[]> {
    this.container(id);
    return JSON.parse(await this.must(["ps", "--format", "json", id])) as number[];
  }

  /** The container's cgroup statistics (`runsc-ts events --stats`) as containerd's cgroup v1 Metrics. */
  private async stats(id: string): Promise<{ type_url: string; value: Uint8Array }> {
    this.container(id);
    if (existsSync("/sys/fs/cgroup/cgroup.controllers")) {
      throw new RpcError(Code.UNIMPLEMENTED, "Stats: the shim encodes cgroup v1 metrics only (io.containerd.cgroups.v1.Metrics); on this cgroup v2 host `runsc-ts events --stats ID` prints them");
    }
    const e = JSON.parse(await this.must(["events", "--stats", id])) as { data: StatsData };
    return { type_url: "io.containerd.cgroups.v1.Metrics", value: encode("io.containerd.cgroups.v1.Metrics", metricsV1(e.data)) };
  }

  private async simple(id: string, args: string[], topic: string, type: string): Promise<void> {
    const c = this.container(id);
    await this.must(args);
    if (c.init.status !== Status.STOPPED) c.init.status = args[0] === "pause" ? Status.PAUSED : Status.RUNNING;
    this.o.publish(topic, type, { container_id: id });
  }

  private async update(r: UpdateRequest): Promise<void> {
    this.container(r.id);
    if (r.resources === null) return;
    if (r.resources.type_url !== LINUX_RESOURCES) throw new RpcError(Code.INVALID_ARGUMENT, `update: resources must be a ${LINUX_RESOURCES}`);
    const file = join(this.o.work, `resources-${++this.seq}.json`);
    writeFileSync(file, r.resources.value);
    try {
      await this.must(["update", "--resources", file, r.id]);
    } finally {
      rmSync(file, { force: true });
    }
  }

  private resize(r: ResizeRequest): void {
    const p = this.process(r);
    if (p.master === undefined) throw new RpcError(Code.FAILED_PRECONDITION, `${r.exec_id || r.id}: has no terminal`);
    const e = this.o.native.setWinsize(p.master, r.height, r.width);
    if (e < 0) throw new RpcError(Code.INTERNAL, `ResizePty: errno ${-e}`);
  }

  private closeIO(r: CloseIORequest): void {
    const p = this.process(r);
    if (r.stdin) p.stdinCopy?.end();
  }

  private shutdown(now: boolean): void {
    if (!now && this.containers.size > 0) return;
    // After the answer is written.
    setTimeout(() => this.o.exit(), 10);
  }
}

interface ExecRef {
  id: string;
  exec_id: string;
}

interface Mount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

interface CreateRequest {
  id: string;
  bundle: string;
  rootfs: Mount[];
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  checkpoint: string;
}

interface KillRequest extends ExecRef {
  signal: number;
  all: boolean;
}

interface ExecRequest extends ExecRef {
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  spec: Any | null;
}

interface UpdateRequest {
  id: string;
  resources: Any | null;
}

interface ResizeRequest extends ExecRef {
  width: number;
  height: number;
}

interface Io {
  fds: [number, number, number];
  /** What the runtime's command takes for this stdio (--console-socket). */
  args: string[];
  /** After the runtime's command: the terminal's copies started. */
  attached(): Promise<void>;
  close(): void;
}

interface CloseIORequest extends ExecRef {
  stdin: boolean;
}

/**
 * Copies containerd's stdin FIFO to sink until its writer closes it (or end()), then ends
 * sink: the program reads EOF, as under containerd's runc shim. The FIFO is opened for
 * reading on Node's thread pool, where the open waits for containerd's writer; end() before
 * then releases the wait by opening the writing side itself.
 */
function copyStdin(fifo: string, sink: Writable, endSink: () => void): { end(): void } {
  let ended = false;
  let stream: ReturnType<typeof createReadStream> | undefined;
  sink.on("error", () => stream?.destroy());
  const opening = new Promise<number>((resolve, reject) => open(fifo, constants.O_RDONLY | O_CLOEXEC, (err, fd) => (err !== null ? reject(err) : resolve(fd)))).then(
    (fd) => {
      if (ended) {
        closeSync(fd);
        return;
      }
      stream = createReadStream("", { fd });
      stream.on("error", endSink);
      stream.on("end", endSink);
      stream.pipe(sink, { end: false });
    },
    endSink,
  );
  return {
    end: () => {
      if (ended) return;
      ended = true;
      if (stream === undefined) {
        try {
          closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK | O_CLOEXEC));
        } catch {
          // no FIFO any more, or the open finished meanwhile
        }
      }
      void opening.then(() => {
        stream?.destroy();
        endSink();
      });
    },
  };
}

/** What `runsc-ts events --stats` says of a container (runc's shape), the fields read here. */
interface StatsData {
  cpu?: { usage?: { total?: number; user?: number; kernel?: number; percpu?: number[] } };
  memory?: { usage?: { usage?: number; max?: number; limit?: number; failcnt?: number }; raw?: Record<string, number> };
  pids?: { current?: number; limit?: number };
}

/** memory.stat's names for the MemoryStat fields whose names differ. */
const MEMORY_STAT_NAMES: Record<string, string> = {
  pgpgin: "pg_pg_in",
  pgpgout: "pg_pg_out",
  pgfault: "pg_fault",
  pgmajfault: "pg_maj_fault",
  hierarchical_memsw_limit: "hierarchical_swap_limit",
  total_pgpgin: "total_pg_pg_in",
  total_pgpgout: "total_pg_pg_out",
  total_pgfault: "total_pg_fault",
  total_pgmajfault: "total_pg_maj_fault",
};
/** MemoryStat's counters (usage, swap, kernel and kernel_tcp are MemoryEntry messages, filled from elsewhere). */
const MEMORY_STAT_FIELDS = new Set(Object.values(messageType("io.containerd.cgroups.v1.MemoryStat").fields).filter((f) => f.type === "uint64").map((f) => f.name));

/** runc's statistics as containerd's cgroup v1 Metrics (CRI reads usage and total_inactive_file for the working set). */
export function metricsV1(d: StatsData): object {
  const memory: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d.memory?.raw ?? {})) {
    const field = MEMORY_STAT_NAMES[k] ?? k;
    if (MEMORY_STAT_FIELDS.has(field)) memory[field] = v;
  }
  const u = d.memory?.usage ?? {};
  memory.usage = { usage: u.usage ?? 0, max: u.max ?? 0, limit: u.limit ?? 0, failcnt: u.failcnt ?? 0 };
  const cpu = d.cpu?.usage ?? {};
  return {
    pids: { current: d.pids?.current ?? 0, limit: d.pids?.limit ?? 0 },
    cpu: { usage: { total: cpu.total ?? 0, user: cpu.user ?? 0, kernel: cpu.kernel ?? 0, per_cpu: cpu.percpu ?? [] } },
    memory,
  };
}

/**
 * A console socket at path (runc's --console-socket): master resolves with the pty's master
 * the runtime sends on it, or rejects when none came by close().
 */
function receiveConsole(native: NativeBinding, path: string): { path: string; master: Promise<number>; close(): void } {
  // Paused: Node must not read the message itself, which would drop its descriptor.
  const server = createServer({ pauseOnConnect: true });
  let settle: { resolve(fd: number): void; reject(e: Error): void } | undefined;
  const master = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  master.catch(() => {});
  server.on("connection", (conn: Socket) => {
    // runc's console socket protocol: one message, the master attached.
    void receiveWithFds(native, conn, (_parts, fds) => fds.length > 0)
      .then(({ fds }) => {
        for (const extra of fds.slice(1)) native.close(extra);
        if (fds.length > 0) settle?.resolve(fds[0]!);
      })
      .catch(() => {})
      .finally(() => conn.destroy());
  });
  server.listen(path);
  return {
    path,
    master,
    close: () => {
      server.close();
      rmSync(path, { force: true });
      settle?.reject(new RpcError(Code.INTERNAL, "the runtime sent no terminal on the console socket"));
    },
  };
}

/**
 * Copies between a process's terminal and containerd's FIFOs: its stdin FIFO to the master,
 * the master to its stdout FIFO, until the terminal's last slave closes (EIO). Reads and
 * writes are Node's thread pool's, as for a FIFO. Each stream owns a duplicate of the master
 * (a stream's destroy closes its descriptor); the master itself stays for ResizePty until
 * the process has exited.
 */
function attachTerminal(native: NativeBinding, p: Process, master: number): void {
  const own = (): number => {
    const fd = native.dup(master);
    if (fd < 0) throw new RpcError(Code.INTERNAL, `the terminal: dup: errno ${-fd}`);
    return fd;
  };
  const out = p.stdout === "" ? undefined : createWriteStream("", { fd: openSync(p.stdout, constants.O_RDWR | O_CLOEXEC) });
  const fromMaster = createReadStream("", { fd: own() });
  let drained!: () => void;
  p.drained = new Promise<void>((resolve) => (drained = resolve));
  const done = (): void => {
    fromMaster.destroy();
    if (out === undefined) drained();
    else out.end(drained);
  };
  fromMaster.on("error", done);
  fromMaster.on("end", done);
  if (out !== undefined) fromMaster.pipe(out, { end: false });
  else fromMaster.resume();
  let toMaster: ReturnType<typeof createWriteStream> | undefined;
  if (p.stdin !== "") {
    toMaster = createWriteStream("", { fd: own() });
    toMaster.on("error", () => {});
    p.stdinCopy = copyStdin(p.stdin, toMaster, () => {});
  }
  void p.exited.then(() => {
    p.stdinCopy?.end();
    // Read what is left, then let the terminal go.
    setTimeout(() => {
      done();
      toMaster?.destroy();
      p.master = undefined;
      native.close(master);
    }, 100);
  });
}

/** The work directory's files of an earlier shim of the same socket are gone. */
export function freshWorkDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}
