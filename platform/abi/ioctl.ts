// Terminal and generic file ioctl(2) request numbers the sentry names or filters.

// include/uapi/asm-generic/ioctls.h (x86 uses the generic values)
export const TCGETS = 0x5401;
export const TCSETS = 0x5402;
export const TCSETSW = 0x5403;
export const TCSETSF = 0x5404;
export const TIOCEXCL = 0x540c;
export const TIOCNXCL = 0x540d;
export const TIOCSCTTY = 0x540e;
export const TIOCGPGRP = 0x540f;
export const TIOCSPGRP = 0x5410;
export const TIOCOUTQ = 0x5411;
/** Pushes a byte into the terminal's input queue: a sandboxed process typing into the host shell. */
export const TIOCSTI = 0x5412;
export const TIOCGWINSZ = 0x5413;
export const TIOCSWINSZ = 0x5414;
export const FIONREAD = 0x541b;
/** Virtual-console control; subcodes include selection paste into the console input. */
export const TIOCLINUX = 0x541c;
export const TIOCCONS = 0x541d;
export const FIONBIO = 0x5421;
export const TIOCNOTTY = 0x5422;
export const TIOCGPTN = 0x80045430;
export const TIOCSPTLCK = 0x40045431;
export const TIOCGPTPEER = 0x5441;
export const FIONCLEX = 0x5450;
export const FIOCLEX = 0x5451;
export const FIOASYNC = 0x5452;

const NAMES: ReadonlyMap<number, string> = new Map([
  [TCGETS, "TCGETS"], [TCSETS, "TCSETS"], [TCSETSW, "TCSETSW"], [TCSETSF, "TCSETSF"],
  [TIOCEXCL, "TIOCEXCL"], [TIOCNXCL, "TIOCNXCL"], [TIOCSCTTY, "TIOCSCTTY"],
  [TIOCGPGRP, "TIOCGPGRP"], [TIOCSPGRP, "TIOCSPGRP"], [TIOCOUTQ, "TIOCOUTQ"],
  [TIOCSTI, "TIOCSTI"], [TIOCGWINSZ, "TIOCGWINSZ"], [TIOCSWINSZ, "TIOCSWINSZ"],
  [FIONREAD, "FIONREAD"], [TIOCLINUX, "TIOCLINUX"], [TIOCCONS, "TIOCCONS"],
  [FIONBIO, "FIONBIO"], [TIOCNOTTY, "TIOCNOTTY"], [TIOCGPTN, "TIOCGPTN"],
  [TIOCSPTLCK, "TIOCSPTLCK"], [TIOCGPTPEER, "TIOCGPTPEER"], [FIONCLEX, "FIONCLEX"],
  [FIOCLEX, "FIOCLEX"], [FIOASYNC, "FIOASYNC"],
]);

/** Name of an ioctl request (compared on its low 32 bits, as the kernel does), or undefined. */
export function ioctlName(request: number | bigint): string | undefined {
  const low = typeof request === "bigint" ? Number(BigInt.asUintN(32, request)) : request >>> 0;
  return NAMES.get(low);
}
