// A container's state under the runtime root: ids as runc takes them, state.json written and
// read back, the status checked against init's process, the OCI state document, the lock.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { thrown } from "../../helpers/thrown.js";

import { projectRoot } from "../../../native/index.js";
import type { ContainerState } from "../../../runsc/oci/state.js";
import {
  checkId,
  ContainerError,
  currentStatus,
  initAlive,
  listIds,
  makeContainerDir,
  mustRead,
  ociState,
  readState,
  startTime,
  withLock,
  writeState,
} from "../../../runsc/oci/state.js";

let root: string;
beforeEach(() => {
  root = join(mkdtempSync(join(tmpdir(), "runsc-ts-ocistate-")), "root");
});
afterEach(() => {
  rmSync(join(root, ".."), { recursive: true, force: true });
});

function state(patch: Partial<ContainerState> = {}): ContainerState {
  return {
    ociVersion: "1.0.2",
    id: "c1",
    status: "created",
    pid: process.pid,
    bundle: "/bundles/c1",
    rootfs: "/bundles/c1/rootfs",
    created: "2024-05-01T10:00:00.000Z",
    owner: "",
    initStart: startTime(process.pid)!,
    monitorPid: 0,
    cgroups: [],
    cgroupVersion: 1,
    ...patch,
  };
}

describe("checkId", () => {
  it.each(["abc", "a.b-c_d+e", "0", "A1", "x".repeat(1024)])("accepts %s", (id) => {
    expect(() => checkId(id)).not.toThrow();
  });

  it.each(["", ".x", "..", "a/b", "a b", "a\nb", "é", "x".repeat(1025)])("refuses %j", (id) => {
    const err = thrown(() => checkId(id));
    expect(err).toBeInstanceOf(ContainerError);
    expect(err.message).toBe(`invalid container id ${JSON.stringify(id)}: letters, digits, _ + - . only, not starting with a dot`);
  });
});

describe("state files", () => {
  it("reads back what it wrote, and lists the containers in order", () => {
    expect(listIds(root)).toEqual([]);
    const dir = makeContainerDir(root, "c1");
    expect(dir).toBe(join(root, "c1"));
    makeContainerDir(root, "a0");
    const st = state({ annotations: { k: "v" }, cgroups: ["/sys/fs/cgroup/x"], poststop: [{ path: "/bin/true", args: ["true"] }] });
    writeState(root, st);
    expect(readState(root, "c1")).toEqual(st);
    expect(mustRead(root, "c1")).toEqual(st);
    expect(readState(root, "a0")).toBeUndefined();
    expect(listIds(root)).toEqual(["a0", "c1"]);
    // Atomic: no temporary file left behind.
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("replaces the state on a second write", () => {
    makeContainerDir(root, "c1");
    writeState(root, state());
    writeState(root, state({ status: "running" }));
    expect(readState(root, "c1")?.status).toBe("running");
  });

  it("lists directories only", () => {
    makeContainerDir(root, "c1");
    writeFileSync(join(root, "stray"), "");
    expect(listIds(root)).toEqual(["c1"]);
  });

  it("refuses to make a container's directory twice", () => {
    makeContainerDir(root, "c1");
    const err = thrown(() => makeContainerDir(root, "c1"));
    expect(err).toBeInstanceOf(ContainerError);
    expect(err.message).toBe('container "c1" already exists');
  });

  it("says a missing container does not exist, with exit status 1", () => {
    makeContainerDir(root, "other");
    const err = thrown(() => mustRead(root, "ghost"));
    expect(err).toBeInstanceOf(ContainerError);
    expect((err as ContainerError).exitCode).toBe(1);
    expect(err.message).toBe('container "ghost" does not exist');
    expect(readState(join(root, "nowhere"), "ghost")).toBeUndefined();
  });

  it("checks the id before reading", () => {
    expect(() => mustRead(root, "../x")).toThrow(/invalid container id/);
  });
});

describe("currentStatus", () => {
  it("is the recorded status while init runs", () => {
    expect(startTime(process.pid)).toBeGreaterThan(0);
    expect(initAlive(state())).toBe(true);
    expect(currentStatus(state({ status: "created" }))).toBe("created");
    expect(currentStatus(state({ status: "running" }))).toBe("running");
  });

  it("is stopped when the pid now belongs to another process", () => {
    const st = state({ status: "running", initStart: startTime(process.pid)! + 1 });
    expect(initAlive(st)).toBe(false);
    expect(currentStatus(st)).toBe("stopped");
  });

  it("is stopped without a pid, or once recorded stopped", () => {
    expect(currentStatus(state({ status: "running", pid: 0 }))).toBe("stopped");
    expect(currentStatus(state({ status: "stopped" }))).toBe("stopped");
  });

  it("is stopped when init has exited", () => {
    const child = spawnSync(process.execPath, ["-e", "0"]);
    expect(startTime(child.pid!)).toBeUndefined();
    expect(currentStatus(state({ status: "running", pid: child.pid! }))).toBe("stopped");
  });

  it("is paused when the freezer holds the group", () => {
    const freezer = join(root, "..", "freezer.state");
    writeFileSync(freezer, "FROZEN\n");
    expect(currentStatus(state({ status: "running", freezer }))).toBe("paused");
    writeFileSync(freezer, "1\n");
    expect(currentStatus(state({ status: "running", freezer }))).toBe("paused");
    writeFileSync(freezer, "THAWED\n");
    expect(currentStatus(state({ status: "paused", freezer }))).toBe("running");
    // A created container stays created whatever the freezer says.
    writeFileSync(freezer, "FROZEN\n");
    expect(currentStatus(state({ status: "created", freezer }))).toBe("created");
  });
});

describe("ociState", () => {
  it("has exactly runc's fields", () => {
    const doc = ociState(state({ status: "running" }));
    expect(Object.keys(doc)).toEqual(["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]);
    expect(doc).toEqual({
      ociVersion: "1.0.2",
      id: "c1",
      pid: process.pid,
      status: "running",
      bundle: "/bundles/c1",
      rootfs: "/bundles/c1/rootfs",
      created: "2024-05-01T10:00:00.000Z",
      owner: "",
    });
  });

  it("gives pid 0 once stopped", () => {
    const doc = ociState(state({ status: "running", initStart: 1 }));
    expect(doc.status).toBe("stopped");
    expect(doc.pid).toBe(0);
  });

  it("has annotations only when there are some", () => {
    expect(ociState(state({ annotations: {} }))).not.toHaveProperty("annotations");
    expect(ociState(state({ annotations: { "org.opencontainers.image.ref.name": "x" } })).annotations).toEqual({ "org.opencontainers.image.ref.name": "x" });
  });
});

describe("withLock", () => {
  // The addon (npm run build) and flock(1) (util-linux, which .ci/run installs) are needed:
  // without them these tests fail, saying so.
  const addon = join(projectRoot(), "build", "native", "Release", "runsc_native.node");
  const needs = (): void => {
    if (!existsSync(addon)) throw new Error(`the native addon is not built (${addon}): npm run build`);
    if (spawnSync("flock", ["--version"]).status !== 0) throw new Error("flock(1) is missing: apt-get install util-linux");
  };

  it("refuses a container that does not exist", async () => {
    await expect(withLock(root, "ghost", () => 1)).rejects.toThrow('container "ghost" does not exist');
    await expect(withLock(root, "a/b", () => 1)).rejects.toThrow(/invalid container id/);
  });

  // The lock is for separate runsc-ts commands: another process (flock(1)) holds it here.
  it("waits for another holder to let go", async () => {
    needs();
    const dir = makeContainerDir(root, "c1");
    const marker = join(root, "..", "left");
    const holder = spawn("flock", [dir, "sh", "-c", 'echo locked; sleep 0.3; echo left > "$0"', marker], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => holder.on("exit", resolve));
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const order: string[] = [];
    const seen = await withLock(root, "c1", async () => {
      order.push("enter");
      const holderDone = existsSync(marker) && readFileSync(marker, "utf8") === "left\n";
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push("leave");
      return holderDone;
    });
    expect(seen).toBe(true);
    expect(order).toEqual(["enter", "leave"]);
    expect(await exited).toBe(0);
  });

  it("holds the lock while fn runs and lets go after, also when fn throws", async () => {
    needs();
    const dir = makeContainerDir(root, "c1");
    const tryLock = (): number | null => spawnSync("flock", ["-n", dir, "true"]).status;
    expect(tryLock()).toBe(0);
    const during = await withLock(root, "c1", async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return tryLock();
    });
    expect(during).toBe(1);
    expect(tryLock()).toBe(0);
    await expect(
      withLock(root, "c1", () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(tryLock()).toBe(0);
  });
});
