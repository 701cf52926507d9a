// The network-interface ioctls under network proxy, answered as the sandbox's own namespace
// (loopback alone) would answer them.
import { describe, expect, it } from "vitest";
import { answerIfconf, answerIfreq, isInterfaceIoctl, requestShape } from "../../../../sentry/net/ifioctl.js";

const ifreq = (name: string, tail: (v: DataView) => void = () => {}): Uint8Array => {
  const b = new Uint8Array(40);
  b.set(new TextEncoder().encode(name));
  tail(new DataView(b.buffer, 16, 24));
  return b;
};
const ipv4At = (b: Uint8Array): string => `${new DataView(b.buffer).getUint16(16, true)} ${[...b.subarray(20, 24)].join(".")}`;

describe("which requests are the namespace's", () => {
  it("the interface and wireless requests, by their low 32 bits; the socket-level ones stay the kernel's", () => {
    for (const c of [0x8912, 0x8915, 0x8927, 0x894c, 0x89f0, 0x8b01, 0x1_0000_8912]) expect(isInterfaceIoctl(c), c.toString(16)).toBe(true);
    for (const c of [0x8901, 0x8905, 0x8906, 0x8907, 0x541b, 0x5411, 0x5401]) expect(isInterfaceIoctl(c), c.toString(16)).toBe(false);
    expect(requestShape(0x8912)).toBe("ifconf");
    expect(requestShape(0x8915)).toBe("ifreq");
    expect(requestShape(0x8916)).toBe("refused"); // SIOCSIFADDR
  });
});

describe("answers for loopback", () => {
  it("address, netmask, flags, MTU, index, hardware address", () => {
    expect(ipv4At(answerIfreq(0x8915, ifreq("lo")) as Uint8Array)).toBe("2 127.0.0.1");
    expect(ipv4At(answerIfreq(0x891b, ifreq("lo")) as Uint8Array)).toBe("2 255.0.0.0");
    const flags = answerIfreq(0x8913, ifreq("lo")) as Uint8Array;
    expect(new DataView(flags.buffer).getInt16(16, true)).toBe(0x49);
    expect(new DataView((answerIfreq(0x8921, ifreq("lo")) as Uint8Array).buffer).getInt32(16, true)).toBe(65536);
    expect(new DataView((answerIfreq(0x8933, ifreq("lo")) as Uint8Array).buffer).getInt32(16, true)).toBe(1);
    const hw = answerIfreq(0x8927, ifreq("lo")) as Uint8Array;
    expect(new DataView(hw.buffer).getUint16(16, true)).toBe(772);
    expect([...hw.subarray(18, 24)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("no other interface exists: ENODEV; by index only 1", () => {
    expect(answerIfreq(0x8915, ifreq("eth0"))).toBe(19);
    expect(answerIfreq(0x8927, ifreq("docker0"))).toBe(19);
    const byIndex = answerIfreq(0x8910, ifreq("", (v) => v.setInt32(0, 1, true))) as Uint8Array;
    expect(new TextDecoder().decode(byIndex.subarray(0, 2))).toBe("lo");
    expect(answerIfreq(0x8910, ifreq("", (v) => v.setInt32(0, 2, true)))).toBe(19);
  });

  it("changes are refused (EPERM), wireless is not there (EOPNOTSUPP)", () => {
    expect(answerIfreq(0x8914, ifreq("lo"))).toBe(1); // SIOCSIFFLAGS
    expect(answerIfreq(0x890b, ifreq("lo"))).toBe(1); // SIOCADDRT
    expect(answerIfreq(0x8b01, ifreq("wlan0"))).toBe(95); // SIOCGIWNAME
  });

  it("SIOCGIFCONF lists loopback alone, in whole entries", () => {
    expect(answerIfconf(0, false).len).toBe(40);
    expect(answerIfconf(39, true)).toEqual({ len: 0, entries: new Uint8Array(0) });
    const all = answerIfconf(400, true);
    expect(all.len).toBe(40);
    expect(new TextDecoder().decode(all.entries.subarray(0, 2))).toBe("lo");
    expect(ipv4At(all.entries)).toBe("2 127.0.0.1");
  });
});
