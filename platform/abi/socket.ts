// Socket address families, socket types, message flags and a sockaddr decoder.

import { O_CLOEXEC, O_NONBLOCK, formatFlags, type FlagTable } from "./fcntl.js";

// Address families: include/linux/socket.h.
export const AF_UNSPEC = 0;
export const AF_UNIX = 1;
export const AF_LOCAL = AF_UNIX;
export const AF_INET = 2;
export const AF_AX25 = 3;
export const AF_IPX = 4;
export const AF_APPLETALK = 5;
export const AF_NETROM = 6;
export const AF_BRIDGE = 7;
export const AF_ATMPVC = 8;
export const AF_X25 = 9;
export const AF_INET6 = 10;
export const AF_ROSE = 11;
export const AF_DECnet = 12;
export const AF_NETBEUI = 13;
export const AF_SECURITY = 14;
export const AF_KEY = 15;
export const AF_NETLINK = 16;
export const AF_ROUTE = AF_NETLINK;
export const AF_PACKET = 17;
export const AF_ASH = 18;
export const AF_ECONET = 19;
export const AF_ATMSVC = 20;
export const AF_RDS = 21;
export const AF_SNA = 22;
export const AF_IRDA = 23;
export const AF_PPPOX = 24;
export const AF_WANPIPE = 25;
export const AF_LLC = 26;
export const AF_IB = 27;
export const AF_MPLS = 28;
export const AF_CAN = 29;
export const AF_TIPC = 30;
export const AF_BLUETOOTH = 31;
export const AF_IUCV = 32;
export const AF_RXRPC = 33;
export const AF_ISDN = 34;
export const AF_PHONET = 35;
export const AF_IEEE802154 = 36;
export const AF_CAIF = 37;
export const AF_ALG = 38;
export const AF_NFC = 39;
export const AF_VSOCK = 40;
export const AF_KCM = 41;
export const AF_QIPCRTR = 42;
export const AF_SMC = 43;
export const AF_XDP = 44;
export const AF_MCTP = 45;
/** AF_MAX: one past the highest family. */
export const AF_MAX = 46;

export const FAMILY_NAMES: readonly string[] = [
  "AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_AX25", "AF_IPX", "AF_APPLETALK", "AF_NETROM",
  "AF_BRIDGE", "AF_ATMPVC", "AF_X25", "AF_INET6", "AF_ROSE", "AF_DECnet", "AF_NETBEUI",
  "AF_SECURITY", "AF_KEY", "AF_NETLINK", "AF_PACKET", "AF_ASH", "AF_ECONET", "AF_ATMSVC",
  "AF_RDS", "AF_SNA", "AF_IRDA", "AF_PPPOX", "AF_WANPIPE", "AF_LLC", "AF_IB", "AF_MPLS",
  "AF_CAN", "AF_TIPC", "AF_BLUETOOTH", "AF_IUCV", "AF_RXRPC", "AF_ISDN", "AF_PHONET",
  "AF_IEEE802154", "AF_CAIF", "AF_ALG", "AF_NFC", "AF_VSOCK", "AF_KCM", "AF_QIPCRTR",
  "AF_SMC", "AF_XDP", "AF_MCTP",
];

const familyByUpperName = new Map<string, number>(FAMILY_NAMES.map((n, i) => [n.toUpperCase(), i]));
familyByUpperName.set("AF_LOCAL", AF_LOCAL);
familyByUpperName.set("AF_ROUTE", AF_ROUTE);

/** Name of an address family ("AF_INET"), or undefined. */
export function familyName(n: number): string | undefined {
  return FAMILY_NAMES[n];
}

/** Family for "AF_INET", "PF_INET", "inet" or "unix" (case-insensitive), or undefined. */
export function familyByName(name: string): number | undefined {
  let s = name.trim().toUpperCase();
  if (s.startsWith("PF_")) s = `AF_${s.slice(3)}`;
  if (!s.startsWith("AF_")) s = `AF_${s}`;
  return familyByUpperName.get(s);
}

/** The family's name or "AF_n" for a number this table does not know. */
export function formatFamily(n: number): string {
  return familyName(n) ?? `AF_${n}`;
}

// Socket types: include/linux/net.h; SOCK_NONBLOCK/SOCK_CLOEXEC alias the O_ flags.
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_RDM = 4;
export const SOCK_SEQPACKET = 5;
export const SOCK_DCCP = 6;
export const SOCK_PACKET = 10;
export const SOCK_TYPE_MASK = 0xf;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;

export const SOCK_TYPES: FlagTable = [
  ["SOCK_STREAM", SOCK_STREAM],
  ["SOCK_DGRAM", SOCK_DGRAM],
  ["SOCK_RAW", SOCK_RAW],
  ["SOCK_RDM", SOCK_RDM],
  ["SOCK_SEQPACKET", SOCK_SEQPACKET],
  ["SOCK_DCCP", SOCK_DCCP],
  ["SOCK_PACKET", SOCK_PACKET],
];
/** socket(2) type modifiers, accept4(2) flags. */
export const SOCK_FLAGS: FlagTable = [
  ["SOCK_NONBLOCK", SOCK_NONBLOCK],
  ["SOCK_CLOEXEC", SOCK_CLOEXEC],
];

/** socket(2) type argument: "SOCK_STREAM|SOCK_CLOEXEC". */
export function formatSockType(n: number): string {
  const u = n >>> 0;
  const base = u & SOCK_TYPE_MASK;
  const name = SOCK_TYPES.find(([, v]) => v === base)?.[0] ?? String(base);
  const rest = u & ~SOCK_TYPE_MASK;
  return rest === 0 ? name : `${name}|${formatFlags(rest, SOCK_FLAGS)}`;
}

// send/recv flags: include/linux/socket.h.
export const MSG_OOB = 0x1;
export const MSG_PEEK = 0x2;
export const MSG_DONTROUTE = 0x4;
export const MSG_CTRUNC = 0x8;
export const MSG_PROBE = 0x10;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_EOR = 0x80;
export const MSG_WAITALL = 0x100;
export const MSG_FIN = 0x200;
export const MSG_SYN = 0x400;
export const MSG_CONFIRM = 0x800;
export const MSG_RST = 0x1000;
export const MSG_ERRQUEUE = 0x2000;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_MORE = 0x8000;
export const MSG_WAITFORONE = 0x10000;
export const MSG_BATCH = 0x40000;
export const MSG_ZEROCOPY = 0x4000000;
export const MSG_FASTOPEN = 0x20000000;
export const MSG_CMSG_CLOEXEC = 0x40000000;

export const MSG_FLAGS: FlagTable = [
  ["MSG_OOB", MSG_OOB], ["MSG_PEEK", MSG_PEEK], ["MSG_DONTROUTE", MSG_DONTROUTE],
  ["MSG_CTRUNC", MSG_CTRUNC], ["MSG_PROBE", MSG_PROBE], ["MSG_TRUNC", MSG_TRUNC],
  ["MSG_DONTWAIT", MSG_DONTWAIT], ["MSG_EOR", MSG_EOR], ["MSG_WAITALL", MSG_WAITALL],
  ["MSG_FIN", MSG_FIN], ["MSG_SYN", MSG_SYN], ["MSG_CONFIRM", MSG_CONFIRM],
  ["MSG_RST", MSG_RST], ["MSG_ERRQUEUE", MSG_ERRQUEUE], ["MSG_NOSIGNAL", MSG_NOSIGNAL],
  ["MSG_MORE", MSG_MORE], ["MSG_WAITFORONE", MSG_WAITFORONE], ["MSG_BATCH", MSG_BATCH],
  ["MSG_ZEROCOPY", MSG_ZEROCOPY], ["MSG_FASTOPEN", MSG_FASTOPEN],
  ["MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC],
];

// shutdown(2) how: include/linux/net.h.
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export const SHUTDOWN_HOW: FlagTable = [
  ["SHUT_RD", SHUT_RD],
  ["SHUT_WR", SHUT_WR],
  ["SHUT_RDWR", SHUT_RDWR],
];

// Socket option levels: include/linux/socket.h, include/uapi/linux/in.h.
export const SOL_IP = 0;
export const SOL_SOCKET = 1;
/** SOL_SOCKET options (include/uapi/asm-generic/socket.h). */
export const SO_REUSEADDR = 2;
export const SOL_TCP = 6;
export const SOL_UDP = 17;
export const SOL_IPV6 = 41;
export const SOL_RAW = 255;
export const SOL_NETLINK = 270;
/** include/linux/socket.h: a control message passing descriptors. */
export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const SOCKOPT_LEVELS: FlagTable = [
  ["SOL_IP", SOL_IP],
  ["SOL_SOCKET", SOL_SOCKET],
  ["SOL_TCP", SOL_TCP],
  ["SOL_UDP", SOL_UDP],
  ["SOL_IPV6", SOL_IPV6],
  ["SOL_RAW", SOL_RAW],
  ["SOL_NETLINK", SOL_NETLINK],
];

// Struct layouts (little-endian host; ports and IPv4/IPv6 addresses in network order).
/** sizeof(struct sockaddr_un): sa_family_t + char sun_path[108] (include/uapi/linux/un.h). */
export const SOCKADDR_UN_SIZE = 110;
export const UNIX_PATH_MAX = 108;
/** sizeof(struct sockaddr_in) (include/uapi/linux/in.h). */
export const SOCKADDR_IN_SIZE = 16;
/** sizeof(struct sockaddr_in6) (include/uapi/linux/in6.h). */
export const SOCKADDR_IN6_SIZE = 28;
/** sizeof(struct sockaddr_storage) (include/uapi/linux/socket.h). */
export const SOCKADDR_STORAGE_SIZE = 128;

/**
 * C-style quoting of raw bytes: printable ASCII as is, \" \\ \n \r \t, everything
 * else \xNN. `more` appends "..." after the closing quote (the data was cut).
 */
export function quoteBytes(bytes: Uint8Array, more = false): string {
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += "\\\\";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b === 0x09) out += "\\t";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `${out}"${more ? "..." : ""}`;
}

/** Dotted quad from 4 bytes. */
export function formatIPv4(b: Uint8Array): string {
  return `${b[0] ?? 0}.${b[1] ?? 0}.${b[2] ?? 0}.${b[3] ?? 0}`;
}

/** RFC 5952 text of a 16-byte IPv6 address ("::1", "fe80::1", "::ffff:10.0.0.1"). */
export function formatIPv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0));
  // IPv4-mapped (::ffff:a.b.c.d) keeps the dotted tail (RFC 5952 section 5).
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIPv4(b.subarray(12, 16))}`;
  }
  // The longest run of two or more zero words becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export interface DecodedSockaddr {
  /** sa_family, or -1 when fewer than 2 bytes were given. */
  readonly family: number;
  /** "{AF_INET 127.0.0.1:8080}", "{AF_UNIX "/run/x.sock"}", "{AF_UNIX @"name"}", ... */
  readonly text: string;
}

function u16le(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}
function u16be(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) << 8) | (b[off + 1] ?? 0);
}
function u32le(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) | ((b[off + 1] ?? 0) << 8) | ((b[off + 2] ?? 0) << 16) | ((b[off + 3] ?? 0) << 24)) >>> 0;
}

/**
 * Renders a sockaddr exactly as long as the caller's addrlen (bytes.length):
 *   {AF_INET 127.0.0.1:8080}  {AF_INET6 [::1]:80}  {AF_INET6 [fe80::1%2]:80}
 *   {AF_UNIX "/run/x.sock"}   {AF_UNIX @"abstract"} (leading NUL; the name is the rest
 *   of addrlen, NULs included)  {AF_UNIX unnamed} (addrlen == 2)
 *   {AF_NETLINK pid=0 groups=0x0}  {AF_PACKET proto=0x0003 ifindex=2}
 *   {AF_VSOCK cid=2 port=1024}  {AF_BLUETOOTH} (known, not decoded)  {AF_99} (unknown)
 * A structure shorter than its family needs prints "(truncated, N bytes)".
 */
export function decodeSockaddr(bytes: Uint8Array): DecodedSockaddr {
  if (bytes.length < 2) return { family: -1, text: "{}" };
  const family = u16le(bytes, 0);
  const name = formatFamily(family);
  const short = (): DecodedSockaddr => ({ family, text: `{${name} (truncated, ${bytes.length} bytes)}` });
  switch (family) {
    case AF_INET: {
      if (bytes.length < 8) return short();
      return { family, text: `{${name} ${formatIPv4(bytes.subarray(4, 8))}:${u16be(bytes, 2)}}` };
    }
    case AF_INET6: {
      if (bytes.length < 24) return short();
      const scope = bytes.length >= SOCKADDR_IN6_SIZE ? u32le(bytes, 24) : 0;
      const addr = formatIPv6(bytes.subarray(8, 24)) + (scope !== 0 ? `%${scope}` : "");
      return { family, text: `{${name} [${addr}]:${u16be(bytes, 2)}}` };
    }
    case AF_UNIX: {
      const path = bytes.subarray(2, Math.min(bytes.length, SOCKADDR_UN_SIZE));
      if (path.length === 0) return { family, text: `{${name} unnamed}` };
      if (path[0] === 0) return { family, text: `{${name} @${quoteBytes(path.subarray(1))}}` };
      const nul = path.indexOf(0);
      return { family, text: `{${name} ${quoteBytes(nul < 0 ? path : path.subarray(0, nul))}}` };
    }
    case AF_NETLINK: {
      // struct sockaddr_nl (include/uapi/linux/netlink.h): family, pad, u32 pid, u32 groups.
      if (bytes.length < 12) return short();
      return { family, text: `{${name} pid=${u32le(bytes, 4)} groups=0x${u32le(bytes, 8).toString(16)}}` };
    }
    case AF_PACKET: {
      // struct sockaddr_ll (include/uapi/linux/if_packet.h): family, be16 protocol, int ifindex.
      if (bytes.length < 8) return short();
      const proto = u16be(bytes, 2).toString(16).padStart(4, "0");
      return { family, text: `{${name} proto=0x${proto} ifindex=${u32le(bytes, 4) | 0}}` };
    }
    case AF_VSOCK: {
      // struct sockaddr_vm (include/uapi/linux/vm_sockets.h): family, reserved, u32 port, u32 cid.
      if (bytes.length < 12) return short();
      return { family, text: `{${name} cid=${u32le(bytes, 8)} port=${u32le(bytes, 4)}}` };
    }
    default:
      return { family, text: `{${name}}` };
  }
}

// Socket options and levels the proxy copies: include/uapi/asm-generic/socket.h, linux/in.h, tcp.h, in6.h.
export const SO_TYPE = 3;
export const SO_KEEPALIVE = 9;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const TCP_NODELAY = 1;
export const TCP_KEEPIDLE = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const TCP_SYNCNT = 7;
export const TCP_USER_TIMEOUT = 18;
export const IPV6_V6ONLY = 26;

// Netlink protocols: include/uapi/linux/netlink.h.
export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
export const NETLINK_GENERIC = 16;
