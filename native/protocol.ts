// The runtime-to-init protocol for the TypeScript side, read from the one list both sides
// use (helper/protocol.json; the build generates init's C header from the same file): the
// record tags of init's configuration and the one-byte control messages.
import protocol from "./helper/protocol.json" with { type: "json" };

/** Records the runtime sends (runsc/sandbox/initConfig.ts encodes them). */
export type RecordName =
  | "arg" | "env" | "cwd" | "hostname" | "filter" | "mount" | "setattr" | "mkdir" | "mkfile" | "symlink" | "pivot" | "hide"
  | "filterFlags" | "chdirFallback" | "maskSource" | "loopbackUp" | "rlimit" | "writefile" | "whiteout" | "attach" | "hold"
  | "user" | "caps" | "umask" | "keepPrivs" | "sysctl" | "domainname" | "preserve" | "hook" | "execInPlace" | "root";

/** Control messages on init's control socket. */
export type ControlName =
  | "childFailed" | "initPid" | "mapsWritten" | "filterReady" | "listenerTaken" | "pausedForHooks" | "createHooks" | "start" | "started" | "failed";

const tags = new Map<string, number>(protocol.records.map((r) => [r.name, r.tag]));
const bytes = new Map<string, number>(protocol.control.map((c) => [c.name, c.byte.charCodeAt(0)]));

/** The tag of a record (throws for a name the list lacks: a build out of step). */
export function recordTag(name: RecordName): number {
  const t = tags.get(name);
  if (t === undefined) throw new Error(`native/helper/protocol.json has no record ${name}`);
  return t;
}

/** The byte of a control message. */
export function controlByte(name: ControlName): number {
  const b = bytes.get(name);
  if (b === undefined) throw new Error(`native/helper/protocol.json has no control message ${name}`);
  return b;
}

/** Every name the list holds, for the test that keeps these types and the list equal. */
export const PROTOCOL_NAMES = { records: protocol.records.map((r) => r.name), control: protocol.control.map((c) => c.name) };
