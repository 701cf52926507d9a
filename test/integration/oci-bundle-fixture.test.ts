// The OCI bundle fixture itself: the shared busybox rootfs is laid out and runs natively, and
// the config.json makeBundle writes is one the runtime's own parser accepts.
import { lstatSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { parseOciConfig } from "../../runsc/oci/config.js";
import { BUNDLES_DIR, BUSYBOX_ROOTFS, busyboxRootfs, makeBundle } from "../helpers/bundle.js";
import { describeRun, runNative } from "../helpers/sandbox.js";

describe("OCI bundle fixture", () => {
  it("builds the busybox rootfs with /bin/sh and /etc/passwd", ({ expect }) => {
    const rootfs = busyboxRootfs();
    expect(rootfs).toBe(BUSYBOX_ROOTFS);
    expect(busyboxRootfs()).toBe(rootfs);
    expect(lstatSync(join(rootfs, "bin", "sh")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(rootfs, "bin", "sh"))).toBe("/bin/busybox");
    expect(statSync(join(rootfs, "tmp")).mode & 0o7777).toBe(0o1777);
    const passwd = readFileSync(join(rootfs, "etc", "passwd"), "utf8");
    expect(passwd).toMatch(/^root:x:0:0:/m);
    expect(passwd).toMatch(/^app:x:1000:1000:/m);
    expect(passwd).toMatch(/^nobody:x:65534:65534:/m);
    expect(readFileSync(join(rootfs, "etc", "group"), "utf8")).toMatch(/^extra:x:2000:app$/m);
  });

  it("writes a config.json that parses, with the shared rootfs read-only", ({ expect }) => {
    const b = makeBundle({ args: ["sh", "-c", "echo hi"], config: (c) => (c.hostname = "fixture"), name: "self-check" });
    try {
      expect(b.id).toMatch(/^t-[0-9a-f]{8}$/);
      expect(b.dir.startsWith(`${BUNDLES_DIR}/`)).toBe(true);
      const file = join(b.dir, "config.json");
      const doc = parseOciConfig(readFileSync(file, "utf8"), file);
      expect(doc.root).toEqual({ path: BUSYBOX_ROOTFS, readonly: true });
      expect(doc.process?.args).toEqual(["sh", "-c", "echo hi"]);
      expect(doc.hostname).toBe("fixture");
      expect(doc.linux?.namespaces?.map((n) => n.type)).toEqual(["pid", "ipc", "uts", "mount", "network"]);
    } finally {
      b.cleanup();
    }
    expect(() => statSync(b.dir)).toThrow();
  });

  it("runs the rootfs's busybox natively", async ({ expect }) => {
    const r = await runNative(join(busyboxRootfs(), "bin", "busybox"), ["echo", "ok"]);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toBe("ok\n");
  });
});
