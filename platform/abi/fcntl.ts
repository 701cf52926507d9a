// x86_64 open(2) flags, *at(2) flags, openat2 resolve flags, fcntl commands, file modes
// and their strace-style decoders.

/** A flag table: [name, value] rows, matched in order; a multi-bit value matches only whole. */
export type FlagTable = ReadonlyArray<readonly [name: string, value: number]>;

// open(2) flags: include/uapi/asm-generic/fcntl.h (x86 uses the generic values).
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const FASYNC = 0o20000;
export const O_DIRECT = 0o40000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const __O_SYNC = 0o4000000;
export const O_SYNC = __O_SYNC | O_DSYNC;
export const O_PATH = 0o10000000;
export const __O_TMPFILE = 0o20000000;
/** O_TMPFILE carries O_DIRECTORY so that kernels without it fail with EISDIR/ENOTDIR. */
export const O_TMPFILE = __O_TMPFILE | O_DIRECTORY;
export const O_NDELAY = O_NONBLOCK;

/** Open flags other than the access mode, in the order strace prints them. */
export const OPEN_FLAGS: FlagTable = [
  ["O_CREAT", O_CREAT],
  ["O_EXCL", O_EXCL],
  ["O_NOCTTY", O_NOCTTY],
  ["O_TRUNC", O_TRUNC],
  ["O_APPEND", O_APPEND],
  ["O_NONBLOCK", O_NONBLOCK],
  ["O_SYNC", O_SYNC],
  ["O_DSYNC", O_DSYNC],
  ["__O_SYNC", __O_SYNC],
  ["O_ASYNC", FASYNC],
  ["O_DIRECT", O_DIRECT],
  ["O_LARGEFILE", O_LARGEFILE],
  ["O_NOFOLLOW", O_NOFOLLOW],
  ["O_NOATIME", O_NOATIME],
  ["O_CLOEXEC", O_CLOEXEC],
  ["O_PATH", O_PATH],
  ["O_TMPFILE", O_TMPFILE],
  ["__O_TMPFILE", __O_TMPFILE],
  ["O_DIRECTORY", O_DIRECTORY],
];

// *at(2) flags: include/uapi/linux/fcntl.h.
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** faccessat2(2): check with the effective ids (shares its value with AT_REMOVEDIR). */
export const AT_EACCESS = 0x200;
/** unlinkat(2): remove a directory. */
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_NO_AUTOMOUNT = 0x800;
export const AT_EMPTY_PATH = 0x1000;
export const AT_STATX_SYNC_TYPE = 0x6000;
export const AT_STATX_SYNC_AS_STAT = 0x0000;
export const AT_STATX_FORCE_SYNC = 0x2000;
export const AT_STATX_DONT_SYNC = 0x4000;
export const AT_RECURSIVE = 0x8000;

/** Flags common to the *at family; 0x200 is left out because its meaning depends on the call. */
export const AT_FLAGS: FlagTable = [
  ["AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW],
  ["AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW],
  ["AT_NO_AUTOMOUNT", AT_NO_AUTOMOUNT],
  ["AT_EMPTY_PATH", AT_EMPTY_PATH],
  ["AT_STATX_FORCE_SYNC", AT_STATX_FORCE_SYNC],
  ["AT_STATX_DONT_SYNC", AT_STATX_DONT_SYNC],
  ["AT_RECURSIVE", AT_RECURSIVE],
];
/** unlinkat(2) flags. */
export const AT_UNLINK_FLAGS: FlagTable = [["AT_REMOVEDIR", AT_REMOVEDIR]];
/** faccessat2(2) flags. */
export const AT_ACCESS_FLAGS: FlagTable = [
  ["AT_EACCESS", AT_EACCESS],
  ["AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW],
  ["AT_EMPTY_PATH", AT_EMPTY_PATH],
];

// access(2) modes: include/linux/fs.h MAY_* / unistd.h.
export const F_OK = 0;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;
export const ACCESS_MODES: FlagTable = [
  ["R_OK", R_OK],
  ["W_OK", W_OK],
  ["X_OK", X_OK],
];

// openat2(2) struct open_how.resolve: include/uapi/linux/openat2.h.
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;
export const RESOLVE_CACHED = 0x20;
/** sizeof(struct open_how): u64 flags, u64 mode, u64 resolve. */
export const OPEN_HOW_SIZE_VER0 = 24;
export const RESOLVE_FLAGS: FlagTable = [
  ["RESOLVE_NO_XDEV", RESOLVE_NO_XDEV],
  ["RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS],
  ["RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS],
  ["RESOLVE_BENEATH", RESOLVE_BENEATH],
  ["RESOLVE_IN_ROOT", RESOLVE_IN_ROOT],
  ["RESOLVE_CACHED", RESOLVE_CACHED],
];

// renameat2(2) flags: include/uapi/linux/fs.h.
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const RENAME_FLAGS: FlagTable = [
  ["RENAME_NOREPLACE", RENAME_NOREPLACE],
  ["RENAME_EXCHANGE", RENAME_EXCHANGE],
  ["RENAME_WHITEOUT", RENAME_WHITEOUT],
];

// fcntl(2) commands: include/uapi/asm-generic/fcntl.h and include/uapi/linux/fcntl.h.
export const F_DUPFD = 0;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_GETLK = 5;
export const F_SETLK = 6;
export const F_SETLKW = 7;
export const F_SETOWN = 8;
export const F_GETOWN = 9;
export const F_SETSIG = 10;
export const F_GETSIG = 11;
export const F_SETOWN_EX = 15;
export const F_GETOWN_EX = 16;
export const F_GETOWNER_UIDS = 17;
export const F_OFD_GETLK = 36;
export const F_OFD_SETLK = 37;
export const F_OFD_SETLKW = 38;
const F_LINUX_SPECIFIC_BASE = 1024;
export const F_SETLEASE = F_LINUX_SPECIFIC_BASE + 0;
export const F_GETLEASE = F_LINUX_SPECIFIC_BASE + 1;
export const F_NOTIFY = F_LINUX_SPECIFIC_BASE + 2;
export const F_DUPFD_QUERY = F_LINUX_SPECIFIC_BASE + 3;
export const F_CREATED_QUERY = F_LINUX_SPECIFIC_BASE + 4;
export const F_CANCELLK = F_LINUX_SPECIFIC_BASE + 5;
export const F_DUPFD_CLOEXEC = F_LINUX_SPECIFIC_BASE + 6;
export const F_SETPIPE_SZ = F_LINUX_SPECIFIC_BASE + 7;
export const F_GETPIPE_SZ = F_LINUX_SPECIFIC_BASE + 8;
export const F_ADD_SEALS = F_LINUX_SPECIFIC_BASE + 9;
export const F_GET_SEALS = F_LINUX_SPECIFIC_BASE + 10;
export const F_GET_RW_HINT = F_LINUX_SPECIFIC_BASE + 11;
export const F_SET_RW_HINT = F_LINUX_SPECIFIC_BASE + 12;
export const F_GET_FILE_RW_HINT = F_LINUX_SPECIFIC_BASE + 13;
export const F_SET_FILE_RW_HINT = F_LINUX_SPECIFIC_BASE + 14;
/** F_SETFD/F_GETFD value. */
export const FD_CLOEXEC = 1;

export const FCNTL_COMMANDS: FlagTable = [
  ["F_DUPFD", F_DUPFD], ["F_GETFD", F_GETFD], ["F_SETFD", F_SETFD], ["F_GETFL", F_GETFL],
  ["F_SETFL", F_SETFL], ["F_GETLK", F_GETLK], ["F_SETLK", F_SETLK], ["F_SETLKW", F_SETLKW],
  ["F_SETOWN", F_SETOWN], ["F_GETOWN", F_GETOWN], ["F_SETSIG", F_SETSIG],
  ["F_GETSIG", F_GETSIG], ["F_SETOWN_EX", F_SETOWN_EX], ["F_GETOWN_EX", F_GETOWN_EX],
  ["F_GETOWNER_UIDS", F_GETOWNER_UIDS], ["F_OFD_GETLK", F_OFD_GETLK],
  ["F_OFD_SETLK", F_OFD_SETLK], ["F_OFD_SETLKW", F_OFD_SETLKW], ["F_SETLEASE", F_SETLEASE],
  ["F_GETLEASE", F_GETLEASE], ["F_NOTIFY", F_NOTIFY], ["F_DUPFD_QUERY", F_DUPFD_QUERY],
  ["F_CREATED_QUERY", F_CREATED_QUERY], ["F_CANCELLK", F_CANCELLK],
  ["F_DUPFD_CLOEXEC", F_DUPFD_CLOEXEC], ["F_SETPIPE_SZ", F_SETPIPE_SZ],
  ["F_GETPIPE_SZ", F_GETPIPE_SZ], ["F_ADD_SEALS", F_ADD_SEALS], ["F_GET_SEALS", F_GET_SEALS],
  ["F_GET_RW_HINT", F_GET_RW_HINT], ["F_SET_RW_HINT", F_SET_RW_HINT],
  ["F_GET_FILE_RW_HINT", F_GET_FILE_RW_HINT], ["F_SET_FILE_RW_HINT", F_SET_FILE_RW_HINT],
];

// File types and permission bits: include/uapi/linux/stat.h.
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;

const FILE_TYPES: ReadonlyMap<number, string> = new Map([
  [S_IFSOCK, "S_IFSOCK"],
  [S_IFLNK, "S_IFLNK"],
  [S_IFREG, "S_IFREG"],
  [S_IFBLK, "S_IFBLK"],
  [S_IFDIR, "S_IFDIR"],
  [S_IFCHR, "S_IFCHR"],
  [S_IFIFO, "S_IFIFO"],
]);

function toUnsigned(n: number | bigint): bigint {
  if (typeof n === "bigint") return BigInt.asUintN(64, n);
  if (!Number.isInteger(n)) throw new RangeError(`flags must be an integer, got ${n}`);
  // A negative number is a C int whose top bit is set: read it as 32 bits.
  return n < 0 ? BigInt(n >>> 0) : BigInt(n);
}

/**
 * Decodes a flag word with a table: matching names joined by "|" in table order, any
 * bits no row claims appended as hex, "0" when nothing is set.
 */
export function formatFlags(n: number | bigint, table: FlagTable): string {
  let rest = toUnsigned(n);
  const parts: string[] = [];
  for (const [name, value] of table) {
    const v = BigInt(value);
    if (v !== 0n && (rest & v) === v) {
      parts.push(name);
      rest &= ~v;
    }
  }
  if (rest !== 0n) parts.push(`0x${rest.toString(16)}`);
  return parts.length === 0 ? "0" : parts.join("|");
}

/** The name of an enumerated value from a table, or its decimal number. */
export function formatEnum(n: number, table: FlagTable): string {
  for (const [name, value] of table) if (value === n) return name;
  return String(n);
}

const ACCESS_MODE_NAMES: readonly string[] = ["O_RDONLY", "O_WRONLY", "O_RDWR"];

/** open(2) flags: the access mode first, then the flags ("O_RDONLY|O_CLOEXEC|O_DIRECTORY"). */
export function formatOpenFlags(n: number | bigint): string {
  const u = toUnsigned(n);
  const acc = Number(u & BigInt(O_ACCMODE));
  const mode = ACCESS_MODE_NAMES[acc] ?? "O_ACCMODE";
  const rest = u & ~BigInt(O_ACCMODE);
  return rest === 0n ? mode : `${mode}|${formatFlags(rest, OPEN_FLAGS)}`;
}

/** *at(2) flags; pass AT_UNLINK_FLAGS or AT_ACCESS_FLAGS where 0x200 has a meaning. */
export function formatAtFlags(n: number | bigint, table: FlagTable = AT_FLAGS): string {
  return formatFlags(n, table);
}

/** A directory fd argument: "AT_FDCWD" or the number. */
export function formatDirfd(fd: number): string {
  return fd === AT_FDCWD ? "AT_FDCWD" : String(fd);
}

/**
 * A mode_t in octal with a leading zero (C's "%#03o"): "0644", "022", "000"; with the file type when one is
 * present (mknod): "S_IFCHR|0666". An unknown type prints the whole value in octal.
 */
export function formatMode(n: number): string {
  const m = n >>> 0;
  const type = m & S_IFMT;
  const typeName = FILE_TYPES.get(type);
  const digits = (typeName === undefined ? m : m & ~S_IFMT).toString(8).padStart(3, "0");
  const perm = digits.startsWith("0") ? digits : `0${digits}`;
  return typeName === undefined ? perm : `${typeName}|${perm}`;
}

// statx(2) mask bits and struct statx offsets: include/uapi/linux/stat.h.
export const STATX_TYPE = 0x1;
export const STATX_MODE = 0x2;
export const STATX_UID = 0x8;
export const STATX_GID = 0x10;
export const STATX_INO = 0x100;
export const STATX_MNT_ID = 0x1000;
/** sizeof(struct statx). */
export const STATX_SIZE = 256;
/** Offset of stx_mode (u16) in struct statx. */
export const STATX_MODE_OFFSET = 28;
/** Offsets of stx_dev_major and stx_dev_minor (u32) in struct statx. */
export const STATX_DEV_MAJOR_OFFSET = 136;
export const STATX_DEV_MINOR_OFFSET = 140;
/** Offset of stx_mnt_id (u64) in struct statx. */
export const STATX_MNT_ID_OFFSET = 144;

/** The longest path the kernel takes, NUL included (include/uapi/linux/limits.h). */
export const PATH_MAX = 4096;
