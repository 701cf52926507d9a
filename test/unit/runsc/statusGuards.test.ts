// One table of status guards for the OCI commands: which statuses each operation accepts,
// and runc's words when it does not. The container here is this test process itself (its
// pid and start time make a live "init"), or a dead one.
import { describe, expect, it } from "vitest";

import type { ContainerState, Operation, Status } from "../../../runsc/oci/state.js";
import { guard, startTime } from "../../../runsc/oci/state.js";

function container(status: Status, alive: boolean): ContainerState {
  return {
    ociVersion: "1.0.2",
    id: "c1",
    status,
    pid: alive ? process.pid : 0,
    bundle: "/b",
    rootfs: "/b/rootfs",
    created: new Date(0).toISOString(),
    owner: "",
    initStart: alive ? startTime(process.pid)! : 0,
    monitorPid: 0,
    cgroups: [],
    cgroupVersion: 1,
  };
}

const refusal = (st: ContainerState, op: Operation): string | undefined => {
  try {
    guard(st, op);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

describe("status guards", () => {
  it("a stopped container (its init gone) may only be deleted", () => {
    const st = container("running", false);
    expect(refusal(st, "start")).toBe("cannot start a container that has stopped");
    expect(refusal(st, "exec")).toBe("cannot exec in a stopped container");
    expect(refusal(st, "kill")).toBe("container not running");
    expect(refusal(st, "pause")).toBe('container "c1" is not running (stopped)');
    expect(refusal(st, "update")).toBe('container "c1" is not running');
    expect(refusal(st, "delete")).toBeUndefined();
  });

  it("a created container starts, takes signals and is deleted, but runs no exec and is not paused", () => {
    const st = container("created", true);
    expect(guard(st, "start")).toBe("created");
    expect(refusal(st, "kill")).toBeUndefined();
    expect(refusal(st, "delete")).toBeUndefined();
    expect(refusal(st, "exec")).toBe("cannot exec in a created container");
    expect(refusal(st, "pause")).toBe('container "c1" is not running (created)');
    expect(refusal(st, "resume")).toBe('container "c1" is not paused (created)');
  });

  it("a running container is not started again, nor deleted without --force", () => {
    const st = container("running", true);
    expect(refusal(st, "start")).toBe("cannot start an already running container");
    expect(refusal(st, "delete")).toBe('cannot delete container "c1" that is not stopped: running');
    expect(refusal(st, "exec")).toBeUndefined();
    expect(refusal(st, "pause")).toBeUndefined();
  });
});
