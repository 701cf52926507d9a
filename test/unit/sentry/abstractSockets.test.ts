// Abstract unix socket names as the sentry tells them apart (sentry/net/abstractSockets.ts):
// from a sockaddr, and among /proc/net/unix's sockets.
import { describe, expect, it } from "vitest";
import { abstractName, socketsNamed } from "../../../sentry/net/abstractSockets.js";

const sockaddr = (path: string): Uint8Array => Uint8Array.from([1, 0, ...Buffer.from(path, "latin1")]);

describe("abstract socket names", () => {
  it("an abstract address's name as /proc/net/unix shows it; pathname and unnamed addresses have none", () => {
    expect(abstractName(sockaddr("\0containerd-shim/x.sock"))).toBe("@containerd-shim/x.sock");
    expect(abstractName(sockaddr("\0a\0\0"))).toBe("@a@@");
    expect(abstractName(sockaddr("/run/x.sock"))).toBeUndefined();
    expect(abstractName(sockaddr("\0"))).toBeUndefined();
    expect(abstractName(Uint8Array.from([2, 0, 0, 80]))).toBeUndefined();
  });

  it("the inodes of the sockets bound to a name, nothing else's", () => {
    const text = [
      "Num       RefCount Protocol Flags    Type St Inode Path",
      "0000000000000000: 00000002 00000000 00010000 0001 01 101 @shim",
      "0000000000000000: 00000002 00000000 00000000 0001 03 102 @shim",
      "0000000000000000: 00000002 00000000 00010000 0001 01 103 @shim2",
      "0000000000000000: 00000002 00000000 00010000 0001 01 104 /run/shim",
      "0000000000000000: 00000003 00000000 00000000 0001 03 105",
    ].join("\n");
    expect(socketsNamed(text, "@shim")).toEqual(new Set(["101", "102"]));
    expect(socketsNamed(text, "@none")).toEqual(new Set());
  });
});
