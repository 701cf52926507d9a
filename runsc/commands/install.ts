// `runsc-ts install` and `uninstall`: runsc-ts as a Docker runtime. Docker's daemon.json is
// edited as a JSON document: every other key stays as it was, a second install changes
// nothing, and the file as it was before a change is kept beside it (FILE.bak).
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Command } from "commander";
import { projectRoot } from "../../native/index.js";
import { UsageError } from "../errors.js";
import { writeFully } from "../write.js";

export const DAEMON_JSON = "/etc/docker/daemon.json";
export const DEFAULT_RUNTIME_NAME = "runsc-ts";

/** The launcher Docker runs: bin/runsc-ts of this installation. */
export function launcherPath(): string {
  return join(projectRoot(), "bin", "runsc-ts");
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: Json };

/** daemon.json as an object; a missing or empty file is {}. Errors name the file and the place. */
export function readDaemonJson(file: string): Doc {
  if (!existsSync(file)) return {};
  const text = readFileSync(file, "utf8");
  if (text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // Where: JSON.parse says "position N"; people look for a line.
    const msg = (err as Error).message;
    const at = /position (\d+)/.exec(msg);
    const before = at !== null ? text.slice(0, Number(at[1])) : undefined;
    const where = before !== undefined ? `:${before.split("\n").length}:${before.length - before.lastIndexOf("\n")}` : "";
    throw new UsageError(`${file}${where}: not valid JSON (${msg}); fix it or move it away first`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new UsageError(`${file}: expected a JSON object at the top`);
  const runtimes = (doc as Doc).runtimes;
  if (runtimes !== undefined && (typeof runtimes !== "object" || runtimes === null || Array.isArray(runtimes))) {
    throw new UsageError(`${file}: "runtimes" must be an object`);
  }
  return doc as Doc;
}

/** What an edit did: the document to write, or nothing when it was already so. */
export interface Edit {
  doc: Doc;
  changed: boolean;
}

/** daemon.json with runtimes[name] = { path, runtimeArgs }. */
export function withRuntime(doc: Doc, name: string, path: string, runtimeArgs: readonly string[]): Edit {
  const entry: Doc = { path, ...(runtimeArgs.length > 0 ? { runtimeArgs: [...runtimeArgs] } : {}) };
  const runtimes = (doc.runtimes ?? {}) as Doc;
  if (JSON.stringify(runtimes[name]) === JSON.stringify(entry)) return { doc, changed: false };
  return { doc: { ...doc, runtimes: { ...runtimes, [name]: entry } }, changed: true };
}

/** daemon.json without runtimes[name] (and without "runtimes" when it is left empty). */
export function withoutRuntime(doc: Doc, name: string): Edit {
  const runtimes = doc.runtimes as Doc | undefined;
  if (runtimes === undefined || !(name in runtimes)) return { doc, changed: false };
  const { [name]: _gone, ...rest } = runtimes;
  const { runtimes: _all, ...others } = doc;
  return { doc: Object.keys(rest).length > 0 ? { ...doc, runtimes: rest } : others, changed: true };
}

/** Writes the document atomically, keeping the previous file as FILE.bak; returns the backup's path. */
function writeDaemonJson(file: string, doc: Doc): string | undefined {
  const existed = existsSync(file);
  const backup = existed ? `${file}.bak` : undefined;
  if (backup !== undefined) copyFileSync(file, backup);
  // Made as Docker makes its own (/etc/docker): 0755.
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(file), `.${process.pid}.daemon.json.tmp`);
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + "\n", { mode: existed ? statSync(file).mode & 0o7777 : 0o644 });
  renameSync(tmp, file);
  return backup;
}

/** PIDs of running dockerd processes. */
function dockerdPids(): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "dockerd";
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Reloads dockerd's runtimes (SIGHUP), or says how. */
function reload(doIt: boolean): string {
  if (!doIt) return "Reload dockerd for the change to take effect: kill -HUP $(pidof dockerd), or runsc-ts install --reload.";
  const pids = dockerdPids();
  if (pids.length === 0) return "No dockerd is running: it reads the file when it starts.";
  for (const pid of pids) process.kill(pid, "SIGHUP");
  return `Reloaded dockerd (pid ${pids.join(", ")}).`;
}

interface Flags {
  runtime: string;
  config: string;
  reload: boolean;
}

const say = (text: string): void => writeFully(1, text + "\n");

export function installCommands(): Command[] {
  const install = new Command("install")
    .description("add runsc-ts to Docker's runtimes (daemon.json): docker run --runtime=runsc-ts")
    .option("--runtime <name>", "the runtime's name in Docker", DEFAULT_RUNTIME_NAME)
    .option("--config <file>", "Docker's daemon.json", DAEMON_JSON)
    .option("--reload", "reload dockerd (SIGHUP) once the file is written", false)
    .argument("[runtime-args...]", "arguments Docker passes to runsc-ts first (after --), e.g. -- --policy /etc/runsc-ts/web.yaml")
    .action((runtimeArgs: string[], f: Flags) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(f.runtime)) throw new UsageError(`--runtime: ${JSON.stringify(f.runtime)} is not a runtime name (letters, digits, . _ -)`);
      const { doc, changed } = withRuntime(readDaemonJson(f.config), f.runtime, launcherPath(), runtimeArgs);
      if (!changed) {
        say(`${f.config}: runtime "${f.runtime}" is installed already; nothing changed.`);
        return;
      }
      const backup = writeDaemonJson(f.config, doc);
      say(`${f.config}: runtime "${f.runtime}" → ${launcherPath()}${runtimeArgs.length > 0 ? ` ${runtimeArgs.join(" ")}` : ""}${backup !== undefined ? ` (the previous file is ${backup})` : ""}.`);
      say(reload(f.reload));
      say(`Then: docker run --runtime=${f.runtime} ...`);
    });
  const uninstall = new Command("uninstall")
    .description("remove runsc-ts from Docker's runtimes (daemon.json)")
    .option("--runtime <name>", "the runtime's name in Docker", DEFAULT_RUNTIME_NAME)
    .option("--config <file>", "Docker's daemon.json", DAEMON_JSON)
    .option("--reload", "reload dockerd (SIGHUP) once the file is written", false)
    .action((f: Flags) => {
      const { doc, changed } = withoutRuntime(readDaemonJson(f.config), f.runtime);
      if (!changed) {
        say(`${f.config}: no runtime "${f.runtime}"; nothing changed.`);
        return;
      }
      const backup = writeDaemonJson(f.config, doc);
      say(`${f.config}: runtime "${f.runtime}" removed${backup !== undefined ? ` (the previous file is ${backup})` : ""}.`);
      say(reload(f.reload));
    });
  return [install, uninstall];
}
