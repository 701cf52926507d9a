// The network-interface ioctls (SIOCGIFCONF, SIOCGIFADDR, SIOCGIFHWADDR…) under network
// proxy, answered as the sandbox's own network namespace would answer them. A socket the
// sentry carries for the workload belongs to the host's namespace, where these ioctls would
// list the host's interfaces with their addresses and MACs; the sandbox's namespace has
// loopback alone, so that is what every socket of the sandbox sees. Changes (SIOCSIF*,
// routes, ARP, bridges, device-private calls) are refused with EPERM, wireless extensions
// with EOPNOTSUPP as for a device without them. Which socket is asked never matters, so a
// task that swaps its descriptors meanwhile learns nothing.
// Layouts: include/uapi/linux/if.h (struct ifreq: 16-byte name, 24-byte union; struct ifconf).
import { ENODEV, EOPNOTSUPP, EPERM } from "../../platform/abi/errno.js";
import { AF_INET } from "../../platform/abi/socket.js";

/** The requests left to the kernel: socket-level, not the namespace's (include/uapi/linux/sockios.h). */
export const SOCKET_LEVEL_FIRST = 0x8900; // (none), then FIOSETOWN
export const SOCKET_LEVEL_LAST = 0x8907; // SIOCGSTAMPNS

const SIOCGIFNAME = 0x8910;
const SIOCGIFCONF = 0x8912;
const SIOCGIFFLAGS = 0x8913;
const SIOCGIFADDR = 0x8915;
const SIOCGIFDSTADDR = 0x8917;
const SIOCGIFBRDADDR = 0x8919;
const SIOCGIFNETMASK = 0x891b;
const SIOCGIFMETRIC = 0x891d;
const SIOCGIFMTU = 0x8921;
const SIOCGIFHWADDR = 0x8927;
const SIOCGIFINDEX = 0x8933;
const SIOCGIFPFLAGS = 0x8935;
const SIOCGIFTXQLEN = 0x8942;
const SIOCGIFMAP = 0x8970;

export const IFREQ_SIZE = 40;
export const IFCONF_SIZE = 16;
const IFNAMSIZ = 16;

// The loopback device as a fresh network namespace has it (net/core/dev.c, drivers/net/loopback.c).
const LO = "lo";
const LO_INDEX = 1;
const LO_MTU = 65536;
const LO_FLAGS = 0x1 /* IFF_UP */ | 0x8 /* IFF_LOOPBACK */ | 0x40; /* IFF_RUNNING */
const LO_TXQLEN = 1000;
const ARPHRD_LOOPBACK = 772;

/** Whether a request (its low 32 bits, as the kernel reads it) is one of this module's. */
export function isInterfaceIoctl(cmd: number): boolean {
  const c = cmd >>> 0;
  return ((c & 0xffffff00) === 0x8900 && (c < SOCKET_LEVEL_FIRST || c > SOCKET_LEVEL_LAST)) || (c & 0xffffff00) === 0x8b00;
}

/** What the request reads and writes: a struct ifreq, a struct ifconf, or nothing (refused). */
export function requestShape(cmd: number): "ifreq" | "ifconf" | "refused" {
  const c = cmd >>> 0;
  if (c === SIOCGIFCONF) return "ifconf";
  return ANSWERS.has(c) ? "ifreq" : "refused";
}

/** The errno for a request that is not answered. */
export function refusal(cmd: number): number {
  return (cmd >>> 0 & 0xffffff00) === 0x8b00 ? EOPNOTSUPP : EPERM;
}

function inet(addr: readonly [number, number, number, number]): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = AF_INET & 0xff;
  b.set(addr, 4);
  return b;
}

const ANSWERS = new Map<number, (u: DataView, out: Uint8Array) => void>([
  [SIOCGIFFLAGS, (u) => u.setInt16(0, LO_FLAGS, true)],
  [SIOCGIFADDR, (_u, out) => out.set(inet([127, 0, 0, 1]), IFNAMSIZ)],
  [SIOCGIFDSTADDR, (_u, out) => out.set(inet([127, 0, 0, 1]), IFNAMSIZ)],
  [SIOCGIFBRDADDR, (_u, out) => out.set(inet([0, 0, 0, 0]), IFNAMSIZ)],
  [SIOCGIFNETMASK, (_u, out) => out.set(inet([255, 0, 0, 0]), IFNAMSIZ)],
  [SIOCGIFMETRIC, (u) => u.setInt32(0, 0, true)],
  [SIOCGIFMTU, (u) => u.setInt32(0, LO_MTU, true)],
  [SIOCGIFHWADDR, (u) => u.setUint16(0, ARPHRD_LOOPBACK, true)],
  [SIOCGIFINDEX, (u) => u.setInt32(0, LO_INDEX, true)],
  [SIOCGIFPFLAGS, (u) => u.setInt32(0, 0, true)],
  [SIOCGIFTXQLEN, (u) => u.setInt32(0, LO_TXQLEN, true)],
  [SIOCGIFMAP, () => {}],
  [SIOCGIFNAME, () => {}],
]);

function nameOf(req: Uint8Array): string {
  const end = req.subarray(0, IFNAMSIZ).indexOf(0);
  return new TextDecoder().decode(req.subarray(0, end < 0 ? IFNAMSIZ : end));
}

/** Answers an ifreq request: the struct to write back, or an errno. */
export function answerIfreq(cmd: number, req: Uint8Array): Uint8Array | number {
  const c = cmd >>> 0;
  const answer = ANSWERS.get(c);
  if (answer === undefined) return refusal(c);
  const out = new Uint8Array(IFREQ_SIZE);
  out.set(req.subarray(0, IFNAMSIZ));
  const union = new DataView(out.buffer, IFNAMSIZ, IFREQ_SIZE - IFNAMSIZ);
  if (c === SIOCGIFNAME) {
    // By index: the name is the answer.
    if (new DataView(req.buffer, req.byteOffset + IFNAMSIZ, 4).getInt32(0, true) !== LO_INDEX) return ENODEV;
    out.fill(0, 0, IFNAMSIZ);
    out.set(new TextEncoder().encode(LO), 0);
    union.setInt32(0, LO_INDEX, true);
    return out;
  }
  if (nameOf(req) !== LO) return ENODEV;
  answer(union, out);
  return out;
}

/**
 * SIOCGIFCONF: with no buffer, the length all entries need; else as many whole entries as
 * fit in bufLen (loopback's 127.0.0.1), and their length.
 */
export function answerIfconf(bufLen: number, hasBuffer: boolean): { len: number; entries: Uint8Array } {
  const lo = new Uint8Array(IFREQ_SIZE);
  lo.set(new TextEncoder().encode(LO), 0);
  lo.set(inet([127, 0, 0, 1]), IFNAMSIZ);
  if (!hasBuffer) return { len: IFREQ_SIZE, entries: new Uint8Array(0) };
  return bufLen >= IFREQ_SIZE ? { len: IFREQ_SIZE, entries: lo } : { len: 0, entries: new Uint8Array(0) };
}
