// The terminal relay of `run` and `exec --tty` in the foreground: it owns the pty's master
// once it starts, relays both ways, and closes each descriptor exactly once. A descriptor
// closed twice (once by a stream, once by hand) closes whatever file took its number in
// between: Node then aborts in its own close of that file.
import { closeSync, fstatSync, openSync, readdirSync, readlinkSync, writeSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { loadNative } from "../../native/index.js";
import { relayTerminal } from "../../runsc/oci/relay.js";

const native = loadNative();
const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) closeSync(fd);
});

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("terminal relay", () => {
  it("relays what the container's side writes and lets go of the master exactly once", async () => {
    const pty = native.openPty();
    opened.push(pty.slave);
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array): boolean => {
      written.push(Buffer.from(chunk).toString());
      return true;
    }) as typeof process.stdout.write;
    let relay;
    try {
      relay = relayTerminal(native, pty.master);
      writeSync(pty.slave, "from the container\n");
      for (let i = 0; i < 100 && !written.join("").includes("from the container"); i++) await tick(10);
    } finally {
      process.stdout.write = write;
    }
    expect(written.join("")).toContain("from the container");
    // Stopped while its read of the master is in flight (as when the container's last
    // output is still on its way), which then ends: the container's side closes.
    relay.stop();
    // The master's number may be free again at once: files opened now may take it, and
    // must stay ours.
    const mine = Array.from({ length: 8 }, () => openSync("/dev/null", "r"));
    opened.push(...mine);
    closeSync(opened.shift()!);
    await tick(200);
    for (const fd of mine) expect(() => fstatSync(fd), `fd ${fd} was closed under us`).not.toThrow();
    // And the relay did let go of the master.
    const ptys = readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === "/dev/ptmx";
      } catch {
        return false;
      }
    });
    expect(ptys).toEqual([]);
  });
});
