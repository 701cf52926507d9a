// A container's terminal relayed by runsc-ts itself (`run` in the foreground, without
// --console-socket, as runc does): our stdin goes to the pty's master, what the container
// writes comes to our stdout, our terminal is raw meanwhile and its size is the container's.
import { AT_EMPTY_PATH, F_DUPFD_CLOEXEC } from "../../platform/abi/fcntl.js";
import { createReadStream, createWriteStream } from "node:fs";
import type { NativeBinding } from "../../native/binding.js";

/** process.terminal: a pty of the config's size. */
export interface Terminal {
  master: number;
  slave: number;
  /** The master, when no console socket takes it: ours to relay (and to close). */
  relayed: number | undefined;
}

/**
 * Where an exec'd process's pty is made: the container's own devpts (root: /proc/PID/root
 * of its init), its slave given to owner (host ids), as runc's exec makes one inside.
 */
export interface InsideContainer {
  root: string;
  owner?: { uid: number };
}

/**
 * Opens the process's pty: in the container's devpts when inside says where (its slave is
 * then the container's /dev/pts/N, as tty(1) inside expects), else the host's (init's, which
 * the container sees as /dev/console). The slave, and the master when a console socket will
 * take it, join `toClose` (the caller closes them once init has its end).
 */
export function openTerminal(native: NativeBinding, size: { height: number; width: number } | undefined, consoleSocket: string | undefined, toClose: number[], inside?: InsideContainer): Terminal {
  const made = inside !== undefined ? native.openPtyIn(inside.root) : undefined;
  const pty = made !== undefined && typeof made !== "number" ? made : native.openPty();
  if (made !== undefined && typeof made !== "number" && inside?.owner !== undefined) {
    // Its group stays the devpts's (the config's gid= option, tty's).
    native.chownAt(pty.slave, EMPTY, 0, inside.owner.uid, -1, AT_EMPTY_PATH);
  }
  toClose.push(pty.slave);
  if (consoleSocket !== undefined) toClose.push(pty.master);
  if (size !== undefined) native.setWinsize(pty.master, size.height, size.width);
  return { ...pty, relayed: consoleSocket === undefined ? pty.master : undefined };
}

const EMPTY = new Uint8Array(0);

export interface Relay {
  /** Resolves once the container's side has closed (every process holding the pty has ended). */
  readonly drained: Promise<void>;
  /** Restores our terminal and lets go of the master (its streams close it). */
  stop(): void;
}

/**
 * Relays the terminal whose master is `master`, which the relay owns from then on. Each
 * stream owns a descriptor of its own (the master and a duplicate) and closes it when
 * destroyed, after any read or write in flight: a descriptor closed twice would close
 * whatever file took its number in between.
 */
export function relayTerminal(native: NativeBinding, master: number): Relay {
  const writeFd = native.fcntl(master, F_DUPFD_CLOEXEC, 0);
  if (writeFd < 0) {
    native.close(master);
    throw new Error(`cannot relay the terminal: dup: errno ${-writeFd}`);
  }
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  const resize = (): void => {
    if (process.stdout.isTTY) native.setWinsize(master, process.stdout.rows, process.stdout.columns);
  };
  resize();
  process.stdout.on("resize", resize);
  const fromContainer = createReadStream("", { fd: master, highWaterMark: 64 * 1024 });
  const toContainer = createWriteStream("", { fd: writeFd });
  toContainer.on("error", () => {}); // the container is gone: what we type goes nowhere
  fromContainer.pipe(process.stdout, { end: false });
  stdin.pipe(toContainer);
  // EIO: the slave side has no holder left.
  const drained = new Promise<void>((resolve) => {
    fromContainer.once("end", resolve);
    fromContainer.once("error", () => resolve());
  });
  return {
    drained,
    stop: () => {
      process.stdout.off("resize", resize);
      stdin.unpipe(toContainer);
      stdin.pause();
      if (raw) stdin.setRawMode(false);
      fromContainer.destroy();
      toContainer.destroy();
    },
  };
}
