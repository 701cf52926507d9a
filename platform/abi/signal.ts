// x86_64 signal numbers and names, and the sigprocmask "how" values.
//
// Standard signals from arch/x86/include/uapi/asm/signal.h; real-time signals 32..64
// (_NSIG = 64) are named as strace names them: 32 is SIGRTMIN, 33 is SIGRT_1, ... 64 is
// SIGRT_32. glibc reserves 32 and 33 for itself, so its SIGRTMIN is 34; the kernel's is 32.

export const SIGHUP = 1;
export const SIGINT = 2;
export const SIGQUIT = 3;
export const SIGILL = 4;
export const SIGTRAP = 5;
export const SIGABRT = 6;
export const SIGBUS = 7;
export const SIGFPE = 8;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
export const SIGUSR2 = 12;
export const SIGPIPE = 13;
export const SIGALRM = 14;
export const SIGTERM = 15;
export const SIGSTKFLT = 16;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTSTP = 20;
export const SIGTTIN = 21;
export const SIGTTOU = 22;
export const SIGURG = 23;
export const SIGXCPU = 24;
export const SIGXFSZ = 25;
export const SIGVTALRM = 26;
export const SIGPROF = 27;
export const SIGWINCH = 28;
export const SIGIO = 29;
export const SIGPWR = 30;
export const SIGSYS = 31;
/** Kernel SIGRTMIN (asm/signal.h); glibc's user-visible SIGRTMIN is 34. */
export const SIGRTMIN = 32;
/** SIGRTMAX = _NSIG (asm/signal.h). */
export const SIGRTMAX = 64;

/** Aliases from asm/signal.h. */
export const SIGIOT = SIGABRT;
export const SIGPOLL = SIGIO;
export const SIGCLD = SIGCHLD;

/** rt_sigprocmask(2) "how" (include/uapi/asm-generic/signal-defs.h). */
export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;

const STANDARD: readonly string[] = [
  "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
  "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
  "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
  "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
];

const ALIASES: ReadonlyMap<string, number> = new Map([
  ["SIGIOT", SIGIOT],
  ["SIGPOLL", SIGPOLL],
  ["SIGCLD", SIGCLD],
  ["SIGRTMAX", SIGRTMAX],
]);

const byName = new Map<string, number>();
for (let n = 1; n < SIGRTMAX + 1; n++) byName.set(signalNameOrThrow(n), n);
for (const [name, n] of ALIASES) byName.set(name, n);

function signalNameOrThrow(n: number): string {
  const name = signalName(n);
  if (name === undefined) throw new Error(`signal ${n} has no name`);
  return name;
}

/** The name of signal n ("SIGTERM", "SIGRTMIN", "SIGRT_5"), or undefined outside 1..64. */
export function signalName(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) return undefined;
  if (n < SIGRTMIN) return STANDARD[n - 1];
  return n === SIGRTMIN ? "SIGRTMIN" : `SIGRT_${n - SIGRTMIN}`;
}

/**
 * Parses a signal as kill(1) and OCI runtimes accept it: "TERM", "SIGTERM", "term",
 * "15", "SIGRT_3", "RTMIN+3", "SIGRTMAX-1". Returns undefined for anything else,
 * including numbers outside 1..64.
 */
export function signalByName(text: string): number | undefined {
  const s = text.trim();
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= SIGRTMAX ? n : undefined;
  }
  let name = s.toUpperCase();
  if (!name.startsWith("SIG")) name = `SIG${name}`;
  const direct = byName.get(name);
  if (direct !== undefined) return direct;
  const rel = /^SIGRT(MIN|MAX)([+-])([0-9]+)$/.exec(name);
  if (rel === null) return undefined;
  const base = rel[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
  const n = base + (rel[2] === "+" ? 1 : -1) * Number(rel[3]);
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}

/** signalName, or the decimal number when n is not a signal (0 prints as "0"). */
export function formatSignal(n: number): string {
  return signalName(n) ?? String(n);
}
