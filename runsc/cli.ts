// runsc-ts: the command line (commander root), run once per process — by main.ts, or by a
// warm process (service/warm.ts) for a client's command. One file per verb in commands/.
import { appendFileSync, existsSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { PolicyError } from "../sentry/policy/files.js";
import type { GlobalOptions } from "./config.js";
import { EXIT_RUNTIME_ERROR, SandboxError, UsageError } from "./errors.js";
import { OciConfigError } from "./oci/errors.js";
import type { RuntimeOptions } from "./oci/container.js";
import { ContainerError, DEFAULT_ROOT } from "./oci/state.js";
import { CommandExit, exitCommand, servedExit } from "./exit.js";
import { writeFully } from "./write.js";

interface Globals {
  debug: boolean;
  logFormat: "text" | "json";
  root: string;
  log?: string;
  systemdCgroup: boolean;
  rootless?: string;
  policy?: string;
  platform: string;
  network?: "none" | "host";
  strace: boolean;
  metricsAddress?: string;
  recordEvents: boolean;
}

/** The root command, with the global options; made anew for each command line run. */
function makeProgram(): Command {
  return new Command("runsc-ts")
    .description("a gVisor-style sandbox whose kernel-side brain is TypeScript")
    .version("0.1.0")
    .option("--debug", "log debug information", false)
    .addOption(new Option("--log-format <format>", "log format").choices(["text", "json"]).default("text"))
    .option("--root <dir>", "where container state lives", DEFAULT_ROOT)
    .option("--log <file>", "append errors (and the sentry's messages) to this file")
    .option("--systemd-cgroup", "use systemd's cgroup driver (not supported: runsc-ts manages cgroupfs itself)", false)
    .option("--rootless <value>", "accepted for runc's callers (true, false, auto); runsc-ts runs as root")
    .option("--policy <file>", "the policy for containers whose config names none (default: container)")
    .addOption(new Option("--platform <name>", "syscall trapping platform").choices(["seccomp"]).default("seccomp"))
    .addOption(new Option("--network <mode>", "none: every container gets a network namespace of its own; host: as config.json says").choices(["none", "host"]))
    .option("--strace", "trace the syscalls that reach each container's sentry (to --log)", false)
    .option("--record-events", "record the sandbox's execs, exits and refusals for `runsc-ts events` (do, create, run)", false)
    .option("--metrics-address <host:port>", "serve the sandbox's Prometheus metrics at http://HOST:PORT/metrics while it runs (do, create, run)")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => {} });
}

/** What the commands read of the global options: do's and policy's, and the runtime's. */
function optionReaders(program: Command): { globals: () => GlobalOptions; runtime: () => RuntimeOptions } {
  const opts = (): Globals => program.opts<Globals>();
  const globals = (): GlobalOptions => {
    const o = opts();
    return { debug: o.debug, logFormat: o.logFormat, recordEvents: o.recordEvents, ...(o.metricsAddress !== undefined ? { metricsAddress: o.metricsAddress } : {}) };
  };
  const runtime = (): RuntimeOptions => {
    const o = opts();
    if (o.systemdCgroup) {
      throw new ContainerError(
        existsSync("/run/systemd/system")
          ? "--systemd-cgroup: systemd's cgroup driver is not supported; runsc-ts manages cgroupfs itself"
          : "--systemd-cgroup: this host does not run systemd (PID 1 is not systemd); use the cgroupfs driver",
      );
    }
    return {
      root: o.root,
      debug: o.debug,
      strace: o.strace,
      logFormat: o.logFormat,
      ...(o.policy !== undefined ? { policy: o.policy } : {}),
      ...(o.network !== undefined ? { network: o.network } : {}),
      ...(o.log !== undefined ? { logFile: o.log } : {}),
      ...(o.metricsAddress !== undefined ? { metricsAddress: o.metricsAddress } : {}),
      ...(o.recordEvents ? { recordEvents: true } : {}),
    };
  };
  return { globals, runtime };
}

type OptionReaders = ReturnType<typeof optionReaders>;

/**
 * The commands, by the module that defines them: a run loads only its own (a container's
 * lifecycle commands then start without the policy compiler or the config schema).
 */
function modules({ globals, runtime }: OptionReaders): readonly [names: readonly string[], load: () => Promise<Command[]>][] {
  return [
    [["do"], async () => [(await import("./commands/do.js")).doCommand(globals)]],
    [["syscalls"], async () => [(await import("./commands/syscalls.js")).syscallsCommand()]],
    [["policy"], async () => [(await import("./commands/policy/index.js")).policyCommand(globals)]],
    [["create"], async () => [(await import("./commands/oci/create.js")).createCommand(runtime)]],
    [["start"], async () => [(await import("./commands/oci/start.js")).startCommand(runtime)]],
    [["run"], async () => [(await import("./commands/oci/run.js")).runCommand(runtime)]],
    [["state"], async () => [(await import("./commands/oci/state.js")).stateCommand(runtime)]],
    [["kill"], async () => [(await import("./commands/oci/kill.js")).killCommand(runtime)]],
    [["delete"], async () => [(await import("./commands/oci/delete.js")).deleteCommand(runtime)]],
    [["list", "ls"], async () => [(await import("./commands/oci/list.js")).listCommand(runtime)]],
    [["ps"], async () => [(await import("./commands/oci/ps.js")).psCommand(runtime)]],
    [["exec"], async () => [(await import("./commands/oci/exec.js")).execCommand(runtime)]],
    [["pause", "resume"], async () => (await import("./commands/oci/pause.js")).pauseCommand(runtime)],
    [["update"], async () => [(await import("./commands/oci/update.js")).updateCommand(runtime)]],
    [["events"], async () => [(await import("./commands/oci/events.js")).eventsCommand(runtime)]],
    [["spec"], async () => [(await import("./commands/spec.js")).specCommand()]],
    [["features"], async () => [(await import("./commands/features.js")).featuresCommand()]],
    [["install", "uninstall"], async () => (await import("./commands/install.js")).installCommands()],
    [["service"], async () => [(await import("./commands/service.js")).serviceCommand()]],
  ];
}

/** Global options that take a value: what follows them is not the command's name. */
const VALUED = new Set(["--log-format", "--root", "--log", "--rootless", "--policy", "--platform", "--network", "--metrics-address"]);

/** The command named on the command line (the first word that is not a global option). */
export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-")) return a;
    if (VALUED.has(a)) i++;
  }
  return undefined;
}

/**
 * An error, in --log (one JSON line with --log-format json: Docker and containerd show its
 * msg) and on stderr. The log comes first, and a stderr that takes nothing (closed, or the
 * read-only /dev/null containerd gives a pod's sandbox) changes neither it nor the status.
 */
function fail(program: Command, message: string, code: number): never {
  const o = program.opts<Partial<Globals>>();
  if (o.log !== undefined) {
    const time = new Date().toISOString();
    try {
      appendFileSync(
        o.log,
        o.logFormat === "json" ? JSON.stringify({ level: "error", msg: message, time }) + "\n" : `time="${time}" level=error msg=${JSON.stringify(message)}\n`,
      );
    } catch {
      // the log is the caller's; stderr has the message
    }
  }
  try {
    writeFully(2, `runsc-ts: ${message}\n`);
  } catch {
    // stderr takes nothing: the log, when there is one, has the message
  }
  exitCommand(code);
}

/** Loads the modules of the commands named (a warm process does, ahead of its command). */
export async function preloadCommands(names: readonly string[]): Promise<void> {
  const readers = optionReaders(makeProgram());
  for (const [, load] of modules(readers).filter(([n]) => n.some((x) => names.includes(x)))) await load();
}

/**
 * What create and do load lazily and compile on first use, loaded and run once ahead (a
 * warm process, service/warm.ts): the OCI config's schema, parsing runc's default spec, the
 * planning of a container from it and of a `do` of /bin/true under the default policy
 * (pure: they inspect the root they are given, / here, and make nothing). A warm-up that
 * fails leaves the command to do it.
 */
export async function warmUp(): Promise<void> {
  const { parseOciConfig } = await import("./oci/config.js");
  const { defaultSpec } = await import("./commands/spec.js");
  const config = parseOciConfig(JSON.stringify(defaultSpec({ rootless: false })), "config.json");
  try {
    const [{ planBundle }, { hostFacts }, { loadNative }, { loadPolicy }, { DEFAULT_CONTAINER_POLICY }] = await Promise.all([
      import("./oci/planBundle.js"),
      import("./sandbox/launch.js"),
      import("../native/index.js"),
      import("./policyCache.js"),
      import("./oci/create.js"),
    ]);
    const policy = await loadPolicy(DEFAULT_CONTAINER_POLICY);
    const input = { id: "warm-up", config, bundle: "/", rootfs: "/", policy, policyName: DEFAULT_CONTAINER_POLICY, network: "host" as const, strace: false, preserved: [], idRange: { base: 0, slot: 0 }, hostNames: {} };
    planBundle(input, hostFacts(loadNative()));
  } catch {
    // the command plans it cold
  }
  // do's: the default policy compiled, a sandbox of /bin/true planned and encoded for init
  // (nothing is made), its command line parsed (stopped before the action), its signal
  // forwarding set up and taken down: WARM_UP_ROUNDS times, so that V8 has compiled the
  // path a command takes rather than interpreting it.
  try {
    const [{ planDo }, { hostFacts }, { loadNative }, { loadPolicy }, { withEntrypoint }, { encodeInitConfig }, { FORWARDED_SIGNALS }] = await Promise.all([
      import("./sandbox/planDo.js"),
      import("./sandbox/launch.js"),
      import("../native/index.js"),
      import("./policyCache.js"),
      import("./sandbox/sandbox.js"),
      import("./sandbox/initConfig.js"),
      import("./signals.js"),
    ]);
    const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ""}`);
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      const policy = await loadPolicy("default");
      const input = { argv: ["/bin/true"], env, cwd: "/", cwdFallback: true, policy: withEntrypoint(policy, "/bin/true", "/", env), network: policy.network.mode, trace: null, recording: false, hostname: "warm-up", hostNames: {}, owner: process.pid };
      const plan = planDo(input, hostFacts(loadNative()));
      encodeInitConfig([...plan.records, plan.filter]);
      await parseStopped(["do", "--policy", "default", "--", "/bin/true"]);
      const ignore = (): void => {};
      for (const sig of FORWARDED_SIGNALS) process.on(sig, ignore);
      for (const sig of FORWARDED_SIGNALS) process.off(sig, ignore);
    }
  } catch {
    // the command plans it cold
  }
}

/** How many times warmUp runs do's path: enough for V8 to compile its hot functions. */
const WARM_UP_ROUNDS = 12;

class StopBeforeAction extends Error {}

/** Parses a command line as runCli does, stopping before the command's action. */
async function parseStopped(argv: readonly string[]): Promise<void> {
  const program = makeProgram();
  program.hook("preAction", () => {
    throw new StopBeforeAction();
  });
  const name = commandName(argv);
  for (const [, load] of modules(optionReaders(program)).filter(([names]) => name !== undefined && names.includes(name))) {
    for (const c of await load()) program.addCommand(c.exitOverride().configureOutput({ outputError: () => {} }));
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (!(err instanceof StopBeforeAction)) throw err;
  }
}

/** Runs the command line args (process.argv without node and the script); exits on error. */
export async function runCli(args: readonly string[]): Promise<void> {
  // `runsc-ts help syscalls` is the syscall table, as in gVisor's `runsc help syscalls`.
  const argv = [...args];
  if (argv[0] === "help" && argv[1] === "syscalls") argv.splice(0, 2, "syscalls");
  // containerd's runtime v2 shim (bin/containerd-shim-runsc-ts-v1): its own flags, Go's style.
  if (argv[0] === "containerd-shim") return (await import("./shim/start.js")).shimCommand(argv.slice(1));
  const program = makeProgram();
  const mods = modules(optionReaders(program));
  try {
    const name = commandName(argv);
    const wanted = mods.filter(([names]) => name !== undefined && names.includes(name));
    // Help, or an unknown command: every command, for the listing or the error.
    for (const [, load] of wanted.length > 0 ? wanted : mods) {
      for (const c of await load()) program.addCommand(c.exitOverride().configureOutput({ outputError: () => {} }));
    }
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    failWith(program, err);
  }
}

/**
 * Runs a command line in this process among others (a warm process serving one of the
 * commands that end with their call: service/warm.ts) and resolves with its exit status:
 * an exit the command asks for (exitCommand) ends the command, not the process; onStatus
 * gets the status first when the command makes it known before it ends (statusKnown).
 */
export async function runCliServed(args: readonly string[], onStatus?: (code: number) => void): Promise<number> {
  return servedExit(() => runCli(args), onStatus);
}

function failWith(program: Command, err: unknown): never {
  if (err instanceof CommandExit) throw err;
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) exitCommand(0);
    fail(program, err.message.replace(/^error: /, ""), EXIT_RUNTIME_ERROR);
  }
  // runc's lifecycle errors exit 1; runsc-ts's own (do, policy) 125.
  if (err instanceof ContainerError) fail(program, err.message, err.exitCode);
  if (err instanceof OciConfigError) fail(program, err.message, 1);
  if (err instanceof PolicyError || err instanceof UsageError || err instanceof SandboxError) fail(program, err.message, EXIT_RUNTIME_ERROR);
  fail(program, `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, EXIT_RUNTIME_ERROR);
}
