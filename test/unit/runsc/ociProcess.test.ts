// config.json's process as init records: directory first, then rlimits, umask, ids,
// capability masks (CAP_MKNOD only in a user namespace), no_new_privs unless asked otherwise, arguments, environment.
import { describe, expect, it } from "vitest";
import { thrown } from "../../helpers/thrown.js";

import { OciConfigError } from "../../../runsc/oci/config.js";
import type { OciProcess } from "../../../runsc/oci/process.js";
import { CAPABILITIES, processRecords } from "../../../runsc/oci/process.js";
import type { InitRecord } from "../../../runsc/sandbox/initConfig.js";

const UNLIMITED = 0xffffffffffffffffn;

function proc(patch: Partial<OciProcess> = {}): OciProcess {
  return { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/", ...patch };
}

const ofOp = <K extends InitRecord["op"]>(r: readonly InitRecord[], op: K): Extract<InitRecord, { op: K }>[] =>
  r.filter((x): x is Extract<InitRecord, { op: K }> => x.op === op);

describe("CAPABILITIES", () => {
  it("lists Linux's capabilities in number order", () => {
    expect(CAPABILITIES).toHaveLength(41);
    expect(CAPABILITIES[0]).toBe("CAP_CHOWN");
    expect(CAPABILITIES[10]).toBe("CAP_NET_BIND_SERVICE");
    expect(CAPABILITIES[21]).toBe("CAP_SYS_ADMIN");
    expect(CAPABILITIES[27]).toBe("CAP_MKNOD");
    expect(CAPABILITIES[40]).toBe("CAP_CHECKPOINT_RESTORE");
    expect(new Set(CAPABILITIES).size).toBe(CAPABILITIES.length);
  });
});

describe("processRecords", () => {
  it("gives the records in order: cwd, rlimits, umask, user, caps, keepPrivs, args, env", () => {
    const r = processRecords(
      proc({
        cwd: "/work",
        user: { uid: 1000, gid: 100, umask: 0o22, additionalGids: [10, 20] },
        args: ["/bin/echo", "a b", ""],
        env: ["PATH=/bin", "HOME=/root"],
        rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 }],
        capabilities: { bounding: ["CAP_CHOWN"] },
      }),
    );
    expect(r).toEqual([
      { op: "cwd", path: "/work", fallbackToRoot: false },
      { op: "rlimit", resource: 7, soft: 1024n, hard: 4096n },
      { op: "umask", mask: 0o22 },
      { op: "user", uid: 1000, gid: 100, groups: [10, 20] },
      { op: "caps", bounding: 1n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n },
      { op: "keepPrivs" },
      { op: "arg", value: "/bin/echo" },
      { op: "arg", value: "a b" },
      { op: "arg", value: "" },
      { op: "env", value: "PATH=/bin" },
      { op: "env", value: "HOME=/root" },
    ]);
  });

  it("maps every rlimit name to its number, -1 to unlimited", () => {
    const r = processRecords(
      proc({
        rlimits: [
          { type: "RLIMIT_CPU", soft: 1, hard: 2 },
          { type: "RLIMIT_CORE", soft: -1, hard: -1 },
          { type: "RLIMIT_NOFILE", soft: 1024, hard: 1048576 },
          { type: "RLIMIT_MEMLOCK", soft: 65536, hard: UNLIMITED },
          { type: "RLIMIT_RTTIME", soft: 0, hard: 0 },
        ],
      }),
    );
    expect(ofOp(r, "rlimit")).toEqual([
      { op: "rlimit", resource: 0, soft: 1n, hard: 2n },
      { op: "rlimit", resource: 4, soft: UNLIMITED, hard: UNLIMITED },
      { op: "rlimit", resource: 7, soft: 1024n, hard: 1048576n },
      { op: "rlimit", resource: 8, soft: 65536n, hard: UNLIMITED },
      { op: "rlimit", resource: 15, soft: 0n, hard: 0n },
    ]);
  });

  it("refuses an unknown rlimit, naming the field", () => {
    const err = thrown(() => processRecords(proc({ rlimits: [{ type: "RLIMIT_NOFILE", soft: 1, hard: 1 }, { type: "RLIMIT_FOO", soft: 1, hard: 1 }] })));
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toBe("config.json: process.rlimits[1].type: unknown rlimit RLIMIT_FOO");
  });

  it("refuses an rlimit given twice, naming the second", () => {
    const err = thrown(() =>
      processRecords(
        proc({
          rlimits: [
            { type: "RLIMIT_NOFILE", soft: 1, hard: 1 },
            { type: "RLIMIT_NPROC", soft: 1, hard: 1 },
            { type: "RLIMIT_NOFILE", soft: 2, hard: 2 },
          ],
        }),
      ),
    );
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toBe("config.json: process.rlimits[2].type: RLIMIT_NOFILE given twice");
  });

  it("names the field it was given in errors", () => {
    expect(() => processRecords(proc({ rlimits: [{ type: "RLIMIT_X", soft: 1, hard: 1 }] }), "exec.process")).toThrow("config.json: exec.process.rlimits[0].type: unknown rlimit RLIMIT_X");
  });

  it("gives the user with no supplementary groups when there are none", () => {
    expect(ofOp(processRecords(proc({ user: { uid: 5, gid: 6 } })), "user")).toEqual([{ op: "user", uid: 5, gid: 6, groups: [] }]);
  });

  it("keeps the permission bits of the umask only", () => {
    expect(ofOp(processRecords(proc({ user: { uid: 0, gid: 0, umask: 0o7077 } })), "umask")).toEqual([{ op: "umask", mask: 0o077 }]);
    expect(ofOp(processRecords(proc()), "umask")).toEqual([]);
  });

  it("sets one bit per capability, each set on its own", () => {
    const [caps] = ofOp(
      processRecords(
        proc({
          capabilities: {
            bounding: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"],
            effective: ["CAP_NET_BIND_SERVICE"],
            permitted: ["CAP_CHOWN", "CAP_KILL"],
            inheritable: [],
            ambient: ["CAP_SYS_ADMIN"],
          },
        }),
      ),
      "caps",
    );
    expect(caps).toEqual({
      op: "caps",
      bounding: (1n << 0n) | (1n << 10n) | (1n << 40n),
      effective: 1n << 10n,
      permitted: (1n << 0n) | (1n << 5n),
      inheritable: 0n,
      ambient: 1n << 21n,
    });
  });

  it("never grants CAP_MKNOD to a container whose root is host root", () => {
    const [caps] = ofOp(processRecords(proc({ capabilities: { bounding: ["CAP_MKNOD", "CAP_CHOWN"], effective: ["CAP_MKNOD"], permitted: [...CAPABILITIES] } })), "caps");
    expect(caps!.bounding).toBe(1n);
    expect(caps!.effective).toBe(0n);
    expect(caps!.permitted).toBe(((1n << 41n) - 1n) & ~(1n << 27n));
  });

  it("grants exactly the config's sets in a user namespace, CAP_MKNOD included", () => {
    const [caps] = ofOp(processRecords(proc({ capabilities: { bounding: ["CAP_MKNOD", "CAP_CHOWN"], effective: ["CAP_MKNOD"], permitted: [...CAPABILITIES] } }), "process", { userns: true }), "caps");
    expect(caps!.bounding).toBe(1n | (1n << 27n));
    expect(caps!.effective).toBe(1n << 27n);
    expect(caps!.permitted).toBe((1n << 41n) - 1n);
  });

  it("grants nothing when the config lists no capabilities", () => {
    expect(ofOp(processRecords(proc()), "caps")).toEqual([{ op: "caps", bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n }]);
  });

  it("refuses an unknown capability, naming the set and index", () => {
    const err = thrown(() => processRecords(proc({ capabilities: { bounding: ["CAP_CHOWN"], permitted: ["CAP_CHOWN", "CAP_TIME_TRAVEL"] } })));
    expect(err).toBeInstanceOf(OciConfigError);
    expect(err.message).toBe('config.json: process.capabilities.permitted[1]: unknown capability "CAP_TIME_TRAVEL"');
  });

  it("keeps privileges unless noNewPrivileges is true", () => {
    expect(ofOp(processRecords(proc()), "keepPrivs")).toHaveLength(1);
    expect(ofOp(processRecords(proc({ noNewPrivileges: false })), "keepPrivs")).toHaveLength(1);
    expect(ofOp(processRecords(proc({ noNewPrivileges: true })), "keepPrivs")).toHaveLength(0);
  });

  it("gives args and env in their order, and no env record without env", () => {
    const r = processRecords(proc({ args: ["a", "b", "c"], env: ["X=1", "X=2"] }));
    expect(ofOp(r, "arg").map((x) => x.value)).toEqual(["a", "b", "c"]);
    expect(ofOp(r, "env").map((x) => x.value)).toEqual(["X=1", "X=2"]);
    expect(ofOp(processRecords(proc()), "env")).toEqual([]);
  });
});
