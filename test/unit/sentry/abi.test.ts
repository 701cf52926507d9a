// Unit tests of the abi/ decoders: errno, signals, open flags, modes, sockaddrs, clone flags.
import { describe, expect, it } from "vitest";

import { EAGAIN, EHWPOISON, ENOENT, ERRNOS, errnoByName, errnoMessage, errnoName } from "../../../platform/abi/errno.js";
import { SIGKILL, SIGRTMAX, SIGRTMIN, SIGTERM, signalByName, signalName } from "../../../platform/abi/signal.js";
import {
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_UNLINK_FLAGS,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_TMPFILE,
  O_RDWR,
  RESOLVE_FLAGS,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  S_IFCHR,
  formatAtFlags,
  formatDirfd,
  formatFlags,
  formatMode,
  formatOpenFlags,
} from "../../../platform/abi/fcntl.js";
import {
  AF_INET,
  AF_INET6,
  AF_MCTP,
  AF_NETLINK,
  AF_PACKET,
  AF_UNIX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  decodeSockaddr,
  familyByName,
  familyName,
  formatIPv6,
  formatSockType,
} from "../../../platform/abi/socket.js";
import {
  CLONE_CHILD_CLEARTID,
  CLONE_CHILD_SETTID,
  CLONE_NEWNS,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEW_NAMESPACE_MASK,
  formatCloneFlags,
} from "../../../platform/abi/clone.js";
import { SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV } from "../../../platform/abi/seccomp.js";
import { TIOCLINUX, TIOCSTI, ioctlName } from "../../../platform/abi/ioctl.js";

function sockaddrIn(ip: [number, number, number, number], port: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = AF_INET;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(ip, 4);
  return b;
}

function sockaddrIn6(addr: number[], port: number, scope = 0): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET6, true);
  v.setUint16(2, port, false);
  b.set(addr, 8);
  v.setUint32(24, scope, true);
  return b;
}

function sockaddrUn(path: Uint8Array): Uint8Array {
  const b = new Uint8Array(2 + path.length);
  b[0] = AF_UNIX;
  b.set(path, 2);
  return b;
}

describe("errno", () => {
  it("covers 1..133 except the two unassigned numbers", () => {
    expect(ERRNOS).toHaveLength(131);
    expect(ERRNOS.map((e) => e.errno)).not.toContain(41);
    expect(ERRNOS.map((e) => e.errno)).not.toContain(58);
    expect(errnoName(1)).toBe("EPERM");
    expect(errnoName(EHWPOISON)).toBe("EHWPOISON");
    expect(EHWPOISON).toBe(133);
  });

  it("maps names, aliases and glibc messages", () => {
    expect(errnoByName("ENOENT")).toBe(ENOENT);
    expect(errnoByName("EWOULDBLOCK")).toBe(EAGAIN);
    expect(errnoByName("ENOTSUP")).toBe(95);
    expect(errnoByName("EDEADLOCK")).toBe(35);
    expect(errnoByName("ENOPE")).toBeUndefined();
    expect(errnoName(EAGAIN)).toBe("EAGAIN");
    expect(errnoMessage(ENOENT)).toBe("No such file or directory");
    expect(errnoMessage(13)).toBe("Permission denied");
    expect(errnoMessage(41)).toBe("Unknown error 41");
  });
});

describe("signals", () => {
  it("parses names in every spelling and numbers", () => {
    for (const s of ["TERM", "SIGTERM", "term", "sigterm", "15", " 15 "]) expect(signalByName(s)).toBe(SIGTERM);
    expect(signalByName("KILL")).toBe(SIGKILL);
    expect(signalByName("SIGIOT")).toBe(6);
    expect(signalByName("RTMIN")).toBe(SIGRTMIN);
    expect(signalByName("SIGRT_1")).toBe(33);
    expect(signalByName("RTMIN+3")).toBe(35);
    expect(signalByName("SIGRTMAX-1")).toBe(63);
    expect(signalByName("RTMAX")).toBe(SIGRTMAX);
  });

  it("rejects what is not a signal", () => {
    for (const s of ["0", "65", "SIGFOO", "", "RTMIN+40", "-9", "1.5"]) expect(signalByName(s)).toBeUndefined();
  });

  it("names 1..64 as strace does", () => {
    expect(signalName(1)).toBe("SIGHUP");
    expect(signalName(31)).toBe("SIGSYS");
    expect(signalName(32)).toBe("SIGRTMIN");
    expect(signalName(33)).toBe("SIGRT_1");
    expect(signalName(64)).toBe("SIGRT_32");
    expect(signalName(0)).toBeUndefined();
    expect(signalName(65)).toBeUndefined();
    for (let n = 1; n <= 64; n++) expect(signalByName(signalName(n) ?? "")).toBe(n);
  });
});

describe("open and *at flags", () => {
  it("prints the access mode first, then flags in strace order", () => {
    expect(formatOpenFlags(0)).toBe("O_RDONLY");
    expect(formatOpenFlags(O_CLOEXEC | O_DIRECTORY)).toBe("O_RDONLY|O_CLOEXEC|O_DIRECTORY");
    expect(formatOpenFlags(0o1 | O_CREAT | 0o1000)).toBe("O_WRONLY|O_CREAT|O_TRUNC");
    expect(formatOpenFlags(O_RDWR | O_TMPFILE)).toBe("O_RDWR|O_TMPFILE");
    expect(formatOpenFlags(0o2000000 | 0o10000000)).toBe("O_RDONLY|O_CLOEXEC|O_PATH");
    expect(formatOpenFlags(0o4010000)).toBe("O_RDONLY|O_SYNC");
    expect(formatOpenFlags(3)).toBe("O_ACCMODE");
  });

  it("appends bits no name claims as hex", () => {
    expect(formatOpenFlags(O_CLOEXEC | 0x40000000)).toBe("O_RDONLY|O_CLOEXEC|0x40000000");
    expect(formatFlags(0x81, [["A", 1]])).toBe("A|0x80");
    expect(formatFlags(0, [["A", 1]])).toBe("0");
  });

  it("decodes *at flags and directory fds", () => {
    expect(formatAtFlags(0x100 | 0x1000)).toBe("AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
    expect(formatAtFlags(AT_REMOVEDIR, AT_UNLINK_FLAGS)).toBe("AT_REMOVEDIR");
    expect(formatAtFlags(0)).toBe("0");
    expect(formatDirfd(AT_FDCWD)).toBe("AT_FDCWD");
    expect(formatDirfd(3)).toBe("3");
    expect(formatFlags(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, RESOLVE_FLAGS)).toBe(
      "RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT",
    );
  });

  it("prints modes in octal with the file type when present", () => {
    expect(formatMode(0o644)).toBe("0644");
    expect(formatMode(0o4755)).toBe("04755");
    expect(formatMode(0o22)).toBe("022");
    expect(formatMode(0)).toBe("000");
    expect(formatMode(S_IFCHR | 0o666)).toBe("S_IFCHR|0666");
    expect(formatMode(0o100644)).toBe("S_IFREG|0644");
    expect(formatMode(0o170644)).toBe("0170644");
  });
});

describe("sockets", () => {
  it("names families both ways", () => {
    expect(familyName(AF_NETLINK)).toBe("AF_NETLINK");
    expect(familyName(AF_MCTP)).toBe("AF_MCTP");
    expect(familyName(46)).toBeUndefined();
    expect(familyByName("AF_INET6")).toBe(AF_INET6);
    expect(familyByName("inet")).toBe(AF_INET);
    expect(familyByName("PF_PACKET")).toBe(AF_PACKET);
    expect(familyByName("AF_LOCAL")).toBe(AF_UNIX);
    expect(familyByName("AF_DECNET")).toBe(12);
    expect(familyByName("AF_NOPE")).toBeUndefined();
  });

  it("prints socket types with their modifiers", () => {
    expect(formatSockType(SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK)).toBe("SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC");
    expect(formatSockType(2)).toBe("SOCK_DGRAM");
  });

  it("decodes sockaddr_in", () => {
    expect(decodeSockaddr(sockaddrIn([127, 0, 0, 1], 8080))).toEqual({
      family: AF_INET,
      text: "{AF_INET 127.0.0.1:8080}",
    });
    expect(decodeSockaddr(sockaddrIn([10, 1, 2, 3], 443).subarray(0, 6)).text).toBe("{AF_INET (truncated, 6 bytes)}");
  });

  it("decodes sockaddr_in6 with RFC 5952 text", () => {
    const loop = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(decodeSockaddr(sockaddrIn6(loop, 80)).text).toBe("{AF_INET6 [::1]:80}");
    const ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(decodeSockaddr(sockaddrIn6(ll, 22, 2)).text).toBe("{AF_INET6 [fe80::1%2]:22}");
    expect(formatIPv6(new Uint8Array(16))).toBe("::");
    expect(formatIPv6(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]))).toBe(
      "2001:db8::1:0:0:1",
    );
    expect(formatIPv6(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]))).toBe(
      "2001:db8:0:1:1:1:1:1",
    );
    expect(formatIPv6(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]))).toBe(
      "::ffff:192.0.2.1",
    );
  });

  it("decodes unix paths, abstract names and unnamed sockets", () => {
    const enc = new TextEncoder();
    const path = new Uint8Array([...enc.encode("/run/x.sock"), 0, 0, 0]);
    expect(decodeSockaddr(sockaddrUn(path)).text).toBe('{AF_UNIX "/run/x.sock"}');
    const abstract = new Uint8Array([0, ...enc.encode("abstract")]);
    expect(decodeSockaddr(sockaddrUn(abstract)).text).toBe('{AF_UNIX @"abstract"}');
    expect(decodeSockaddr(sockaddrUn(new Uint8Array([0, 0x61, 0, 0x0a]))).text).toBe('{AF_UNIX @"a\\x00\\n"}');
    expect(decodeSockaddr(sockaddrUn(new Uint8Array(0)))).toEqual({ family: AF_UNIX, text: "{AF_UNIX unnamed}" });
  });

  it("names other families and unknown ones", () => {
    const nl = new Uint8Array(12);
    nl[0] = AF_NETLINK;
    nl[4] = 7;
    expect(decodeSockaddr(nl).text).toBe("{AF_NETLINK pid=7 groups=0x0}");
    expect(decodeSockaddr(new Uint8Array([31, 0, 1, 2])).text).toBe("{AF_BLUETOOTH}");
    expect(decodeSockaddr(new Uint8Array([99, 0, 1, 2]))).toEqual({ family: 99, text: "{AF_99}" });
    expect(decodeSockaddr(new Uint8Array([1])).family).toBe(-1);
  });
});

describe("clone, seccomp and ioctl constants", () => {
  it("formats clone flags with the exit signal last", () => {
    expect(formatCloneFlags(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | 17)).toBe(
      "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD",
    );
    expect(formatCloneFlags(0x80000000)).toBe("CLONE_IO");
    expect(formatCloneFlags(0)).toBe("0");
    expect(formatCloneFlags(CLONE_NEWUSER | CLONE_NEWTIME, false)).toBe("CLONE_NEWUSER|CLONE_NEWTIME");
  });

  it("has every CLONE_NEW* bit in the namespace mask", () => {
    expect(CLONE_NEW_NAMESPACE_MASK).toBe(0x7e020080);
    expect(CLONE_NEW_NAMESPACE_MASK & CLONE_NEWNS).toBe(CLONE_NEWNS);
  });

  it("matches the uapi values", () => {
    expect(SECCOMP_FILTER_FLAG_NEW_LISTENER).toBe(8);
    expect(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV).toBe(32);
    expect(TIOCSTI).toBe(0x5412);
    expect(TIOCLINUX).toBe(0x541c);
    expect(ioctlName(0x1_0000_5412n)).toBe("TIOCSTI");
    expect(ioctlName(0x1234)).toBeUndefined();
  });
});
