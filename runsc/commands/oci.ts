// runc's lifecycle commands over runsc-ts's sentry: create, start, run, state, kill,
// delete, list, ps. Flags and outputs are runc's, so that Docker, containerd, CRI-O and
// podman can call runsc-ts where they call runc.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { loadNative } from "../../native/index.js";
import type { Resources } from "../sandbox/cgroups.js";
import type { RuntimeOptions } from "../oci/container.js";
import { containerPids, deleteContainer, killContainer, parseSignal, startContainer } from "../oci/container.js";
import { ContainerError, listIds, mustRead, ociState, readState } from "../oci/state.js";

// What only some commands need loads with them: the config's schema and the policy
// compiler (create, run, exec), the cgroup controls (pause, update, events).
const creating = (): Promise<typeof import("../oci/create.js")> => import("../oci/create.js");
const controls = (): Promise<typeof import("../oci/control.js")> => import("../oci/control.js");
import { FORWARDED_SIGNALS } from "../signals.js";
import { writeFully } from "../write.js";

type Runtime = () => RuntimeOptions;

/** The entries whose value is given. */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const out = (text: string): void => writeFully(1, text);
const warn = (msg: string): void => writeFully(2, `runsc-ts: warning: ${msg}\n`);

interface CreateFlags {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  preserveFds: string;
  noPivot: boolean;
  noNewKeyring: boolean;
}

function createOptions(c: Command): Command {
  return c
    .option("-b, --bundle <dir>", "the bundle: config.json and, usually, rootfs/", ".")
    .option("--pid-file <file>", "write the container's host PID there")
    .option("--console-socket <path>", "a unix socket that receives the terminal's master (process.terminal)")
    .option("--preserve-fds <n>", "pass this many descriptors beyond stdio (3, 4, ...) to the container", "0")
    .option("--no-pivot", "accepted for runc's callers; runsc-ts always uses pivot_root")
    .option("--no-new-keyring", "accepted for runc's callers; the keyctl family is denied in every container");
}

/** --preserve-fds's count. */
function preserveCount(flag: string): number {
  if (!/^\d+$/.test(flag)) throw new ContainerError(`--preserve-fds: expected a number, got ${JSON.stringify(flag)}`);
  return Number(flag);
}

export function ociCommands(runtime: Runtime): Command[] {
  const create = createOptions(new Command("create"))
    .description("create a container: everything up to its program, which waits for start")
    .argument("<container-id>")
    .action(async (id: string, f: CreateFlags) => {
      await (await creating()).createContainer(runtime(), {
        id,
        bundle: f.bundle,
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
      });
      process.exit(0);
    });

  const start = new Command("start")
    .description("start the program of a created container")
    .argument("<container-id>")
    .action(async (id: string) => {
      await startContainer(runtime(), id, warn);
      process.exit(0);
    });

  const run = createOptions(new Command("run"))
    .description("create and start a container; without --detach, wait for it and delete it")
    .option("-d, --detach", "return once the container has started", false)
    .option("--keep", "do not delete the container after it exits", false)
    .argument("<container-id>")
    .action(async (id: string, f: CreateFlags & { detach: boolean; keep: boolean }) => {
      const rt = runtime();
      // In the foreground the container lives as long as we do: its sentry runs here.
      const { state: st, server, terminal } = await (await creating()).createContainer(rt, {
        id,
        bundle: f.bundle,
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
        ...(f.detach ? {} : { inProcess: true }),
      });
      const native = loadNative();
      const relay = terminal === undefined ? undefined : (await import("../oci/relay.js")).relayTerminal(native, terminal);
      // Without --detach, init is our child: its status is the container's.
      const exited = f.detach ? undefined : new Promise<number>((resolve) => native.onExit(st.pid, (s) => resolve(s < 0 ? 255 : s)));
      const forward = (sig: NodeJS.Signals): void => {
        try {
          process.kill(st.pid, sig);
        } catch {
          // init is gone
        }
      };
      if (!f.detach) for (const s of FORWARDED_SIGNALS) process.on(s, forward);
      try {
        await startContainer(rt, id, warn);
      } catch (err) {
        await deleteContainer(rt, id, true, warn);
        throw err;
      }
      if (exited === undefined) process.exit(0);
      const status = await exited;
      // What the container wrote last is still on its way through the pty.
      if (relay !== undefined) await Promise.race([relay.drained, new Promise((r) => setTimeout(r, 1000))]);
      relay?.stop();
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      server?.close();
      // Deleted already if someone else ran delete --force meanwhile.
      if (!f.keep) await deleteContainer(rt, id, true, warn);
      process.exit(status);
    });

  const state = new Command("state")
    .description("print a container's state (OCI runtime spec)")
    .argument("<container-id>")
    .action((id: string) => {
      out(JSON.stringify(ociState(mustRead(runtime().root, id)), null, 2) + "\n");
    });

  const kill = new Command("kill")
    .description("send a signal (default SIGTERM) to a container's init, which passes it to the program")
    .option("-a, --all", "send it to every process of the container", false)
    .argument("<container-id>")
    .argument("[signal]", "a number or a name (9, KILL, SIGKILL)", "SIGTERM")
    .action(async (id: string, signal: string, f: { all: boolean }) => {
      await killContainer(runtime(), id, parseSignal(signal), f.all);
    });

  const del = new Command("delete")
    .description("delete a container: its processes (with --force), cgroups, mounts and state")
    .option("-f, --force", "kill a running container first; a missing one is not an error", false)
    .argument("<container-id>")
    .action(async (id: string, f: { force: boolean }) => {
      await deleteContainer(runtime(), id, f.force, warn);
    });

  const list = new Command("list")
    .alias("ls")
    .description("list the containers under --root")
    .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
    .option("-q, --quiet", "print the ids only", false)
    .action((f: { format: "table" | "json"; quiet: boolean }) => {
      const root = runtime().root;
      const states = listIds(root)
        .map((id) => readState(root, id))
        .filter((s) => s !== undefined)
        .map((s) => ociState(s));
      if (f.quiet) {
        out(states.map((s) => `${String(s.id)}\n`).join(""));
      } else if (f.format === "json") {
        out(JSON.stringify(states) + "\n");
      } else {
        const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...states.map((s) => [s.id, s.pid, s.status, s.bundle, s.created, s.owner].map(String))];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("") + "\n").join(""));
      }
    });

  const ps = new Command("ps")
    .description("list a container's processes (host PIDs)")
    .addOption(new Option("-f, --format <format>", "table or json").choices(["table", "json"]).default("table"))
    .argument("<container-id>")
    .argument("[ps-options...]", "options for ps(1) (table format)")
    .action((id: string, psArgs: string[], f: { format: "table" | "json" }) => {
      const pids = containerPids(runtime(), id);
      if (f.format === "json") {
        out(JSON.stringify(pids) + "\n");
        return;
      }
      const r = spawnSync("ps", psArgs.length > 0 ? psArgs : ["-ef"], { encoding: "utf8" });
      if (r.error !== undefined || r.status !== 0) throw new ContainerError(`ps: ${r.error?.message ?? r.stderr.trim()}`);
      const lines = r.stdout.split("\n");
      const header = lines[0] ?? "";
      const col = header.trim().split(/\s+/).indexOf("PID");
      if (col < 0) throw new ContainerError("ps: its output has no PID column");
      const keep = new Set(pids);
      out([header, ...lines.slice(1).filter((l) => keep.has(Number(l.trim().split(/\s+/)[col])))].join("\n") + "\n");
    });

  const collect = (v: string, prev: string[]): string[] => [...prev, v];
  const exec = new Command("exec")
    .description("run a new process in a running container (its namespaces, cgroups, policy and sentry)")
    .option("-p, --process <file>", "the process as OCI process JSON (instead of ARGS)")
    .option("-d, --detach", "return once the process has started", false)
    .option("--pid-file <file>", "write the process's host PID there")
    .option("--console-socket <path>", "a unix socket that receives the terminal's master")
    .option("-t, --tty", "give the process a terminal", false)
    .option("--cwd <dir>", "its working directory")
    .option("-e, --env <K=V>", "an environment variable (repeatable)", collect, [])
    .option("-u, --user <uid[:gid]>", "its user")
    .option("-c, --cap <cap>", "add a capability (repeatable)", collect, [])
    .option("--no-new-privs", "set no_new_privs", false)
    .option("--preserve-fds <n>", "pass this many descriptors beyond stdio", "0")
    .argument("<container-id>")
    .argument("[args...]")
    .passThroughOptions()
    .action(async (id: string, args: string[], f: { process?: string; detach: boolean; pidFile?: string; consoleSocket?: string; tty: boolean; cwd?: string; env: string[]; user?: string; cap: string[]; newPrivs: boolean; noNewPrivs?: boolean; preserveFds: string }) => {
      const { execInContainer } = await import("../oci/exec.js");
      const status = await execInContainer(runtime(), {
        id,
        args,
        env: f.env,
        caps: f.cap,
        noNewPrivs: f.newPrivs === false || f.noNewPrivs === true,
        tty: f.tty,
        detach: f.detach,
        ...(f.process !== undefined ? { processFile: f.process } : {}),
        ...(f.cwd !== undefined ? { cwd: f.cwd } : {}),
        ...(f.user !== undefined ? { user: f.user } : {}),
        ...(f.pidFile !== undefined ? { pidFile: f.pidFile } : {}),
        ...(f.consoleSocket !== undefined ? { consoleSocket: f.consoleSocket } : {}),
        preserveFds: preserveCount(f.preserveFds),
      });
      process.exit(status);
    });

  const pause = new Command("pause")
    .description("freeze every process of a container")
    .argument("<container-id>")
    .action(async (id: string) => (await controls()).setFrozen(runtime().root, id, true));
  const resume = new Command("resume")
    .description("thaw a paused container")
    .argument("<container-id>")
    .action(async (id: string) => (await controls()).setFrozen(runtime().root, id, false));

  const update = new Command("update")
    .description("change a running container's resources (memory, cpu, pids)")
    .option("-r, --resources <file>", "linux.resources as JSON; - reads stdin")
    .option("--memory <bytes>", "memory limit")
    .option("--memory-swap <bytes>", "memory plus swap limit")
    .option("--memory-reservation <bytes>", "memory soft limit")
    .option("--cpu-shares <n>", "CPU shares")
    .option("--cpu-quota <us>", "CPU CFS quota")
    .option("--cpu-period <us>", "CPU CFS period")
    .option("--cpuset-cpus <list>", "CPUs allowed")
    .option("--cpuset-mems <list>", "memory nodes allowed")
    .option("--pids-limit <n>", "maximum number of processes")
    .argument("<container-id>")
    .action(async (id: string, f: Record<string, string | undefined>) => {
      const { parseResources, updateContainer } = await controls();
      let r: Resources = {};
      if (f.resources !== undefined) {
        r = await parseResources(f.resources === "-" ? readFileSync(0, "utf8") : readFileSync(f.resources, "utf8"), f.resources === "-" ? "stdin" : f.resources);
      }
      const n = (flag: string): number | undefined => {
        const v = f[flag];
        if (v === undefined) return undefined;
        if (!/^-?\d+$/.test(v)) throw new ContainerError(`--${flag.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: expected an integer, got ${JSON.stringify(v)}`);
        return Number(v);
      };
      const memory = { ...r.memory, ...defined({ limit: n("memory"), swap: n("memorySwap"), reservation: n("memoryReservation") }) };
      const cpu = { ...r.cpu, ...defined({ shares: n("cpuShares"), quota: n("cpuQuota"), period: n("cpuPeriod"), cpus: f.cpusetCpus, mems: f.cpusetMems }) };
      const pids = n("pidsLimit");
      await updateContainer(runtime().root, id, {
        ...r,
        ...(Object.keys(memory).length > 0 ? { memory } : {}),
        ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
        ...(pids !== undefined ? { pids: { limit: pids } } : {}),
      });
    });

  const ev = new Command("events")
    .description("print a container's statistics (and OOM kills) as JSON lines")
    .option("--stats", "print one statistics event and exit", false)
    .option("--interval <duration>", "time between statistics events (5s, 500ms)", "5s")
    .argument("<container-id>")
    .action(async (id: string, f: { stats: boolean; interval: string }) => {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(f.interval);
      if (!m) throw new ContainerError(`--interval: expected a duration like 5s or 500ms, got ${JSON.stringify(f.interval)}`);
      const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60000 : 1000);
      await (await controls()).events(runtime().root, id, f.stats, Math.max(ms, 10), (e) => out(JSON.stringify(e) + "\n"));
    });

  return [create, start, run, state, kill, del, list, ps, exec, pause, resume, update, ev];
}
