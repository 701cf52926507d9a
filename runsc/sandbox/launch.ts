// The container library: runs any sandbox plan (plan.ts) — its control groups, the overlay
// root and the virtual /proc files' FUSE filesystem made here by host root, then init cloned
// into the plan's namespaces with its records — and pushes on the caller's cleanup stack how
// to undo each step, so that a failed `do` or `create` leaves nothing behind. What follows
// (serving the sentry on a thread or handing it to a container's monitor) is the caller's.
import { mkdirSync, openSync, realpathSync } from "node:fs";
import { availableParallelism } from "node:os";
import { initPath } from "../../native/index.js";
import type { NativeBinding, Spawned } from "../../native/binding.js";
import { SIGKILL } from "../../platform/abi/signal.js";
import { kernelAtLeast } from "../requirements.js";
import { ensureMaskFile, ensureRootOnlyDir } from "../runtimeDir.js";
import type { Cgroups } from "./cgroups.js";
import { createCgroups, procsFiles, removeCgroups, usageFiles } from "./cgroups.js";
import { encodeInitConfig } from "./initConfig.js";
import type { HostFacts, IdmapPlan, SandboxPlan } from "./plan.js";
import { CLONE_NEWUSER } from "../../platform/abi/clone.js";
import type { ProcServerOptions } from "./procfs.js";
import { mountProcFs, serveProcFs } from "./procfs.js";

/** Steps to undo, last first; a step that fails does not stop the rest. */
export class Cleanup {
  private readonly steps: (() => void)[] = [];

  push(step: () => void): void {
    this.steps.push(step);
  }

  undo(): void {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        step();
      } catch {
        // best effort: the rest still runs
      }
    }
  }
}

/** The host as the front-ends see it. */
export function hostFacts(native: NativeBinding): HostFacts {
  return { cpus: availableParallelism(), waitKillableRecv: kernelAtLeast(native, 5, 19), maskFile: ensureMaskFile() };
}

/** A step of launch that failed, and why: the caller words it for its command. */
export class LaunchError extends Error {
  constructor(
    readonly step: "cgroups" | "overlay" | "proc" | "namespace" | "spawn",
    message: string,
  ) {
    super(message);
  }
}

export interface LaunchOptions {
  /** Where launch records how to undo what it made (the caller's, which it may extend). */
  cleanup: Cleanup;
  /** A pty slave: the sandbox's stdio and controlling terminal. */
  tty?: number;
  /** init holds the workload until started (OCI create/start). */
  hold?: boolean;
  /** init outlives this process (its status is the caller's subreaper's). */
  orphan?: boolean;
  /** Whether this process reaps init (waitExit/onExit answer for it). */
  watch?: boolean;
  /**
   * The user namespace the plan's own (namespaces.ahead) is made inside: a confined
   * container sentry's (runsc/oci/confinement.ts). Absent: made on the host's.
   */
  userNamespaceParent?: number;
  /**
   * The connection to the client whose command this is (runsc/caller.ts): the client clones
   * init, which then descends from the caller. Watched, the client reaps it and sends its
   * status here (waitExit/onExit answer as for a child of ours).
   */
  cloner?: number;
  /** init stops before pivot_root; the returned state text goes to its createContainer hooks. */
  onPause?: (pid: number) => string;
  /** The groups exist (before init does): a container records them in its state. */
  onCgroups?: (cg: Cgroups) => void;
}

export interface Launched extends Spawned {
  cgroups?: Cgroups;
  /** The virtual /proc files: served by this process until stopServing (another process may take over). */
  proc?: { fuse: number; options: ProcServerOptions; stopServing(): void };
}

/** Whether passed[i] is one of the caller's preserved descriptors (they follow overlay and proc). */
function preservedAt(plan: SandboxPlan, i: number): boolean {
  const first = (plan.overlay !== undefined ? 1 : 0) + (plan.proc !== undefined ? 1 : 0);
  return i >= first && i < first + plan.preserve.length;
}

/**
 * The namespaces spawn joins, in order: the plan's by path (a user namespace among them
 * last), then the one made ahead. They are joined as host root, who may join any; the user
 * namespace last, as its root makes the container's own namespaces.
 */
function joinedNamespaces(plan: SandboxPlan, joined: readonly number[]): { fd: number; type: number }[] {
  const ahead = plan.namespaces.ahead !== undefined ? [{ fd: joined[0]!, type: CLONE_NEWUSER }] : [];
  const rest = joined.slice(ahead.length);
  return [...plan.namespaces.join.map((j, i) => ({ fd: rest[i]!, type: j.type })), ...ahead];
}

/** The user namespace the idmapped mounts are made for: the one made ahead, or the one joined by path. */
function idmapUserns(plan: SandboxPlan, joined: readonly number[]): number {
  if (plan.namespaces.ahead !== undefined) return joined[0]!;
  const i = plan.namespaces.join.findIndex((j) => j.type === CLONE_NEWUSER);
  if (i < 0) throw new LaunchError("namespace", "idmapped mounts without a user namespace to map them into");
  return joined[i]!;
}

/** The plan's idmapped mounts, made as host root into the user namespace usernsFd: the root, then the binds. */
function idmappedMounts(native: NativeBinding, idmap: IdmapPlan, usernsFd: number): number[] {
  const made: number[] = [];
  try {
    const root = idmap.root;
    // A policy's overlay directory: its upper layer made when missing (a runtime's exists).
    if (root !== undefined && "upper" in root) mkdirSync(root.upper, { recursive: true, mode: 0o755 });
    if (root !== undefined) {
      made.push(
        "path" in root
          ? native.idmappedMount(root.path, usernsFd, root.recursive !== false)
          : "memory" in root
            ? native.idmappedOverlay({ lower: [...root.lower], upper: "", work: "", memory: root.memory, userns: usernsFd, owner: idmap.owner })
            : native.idmappedOverlay({ lower: [...root.lower], upper: root.upper, work: root.work, options: [...root.options], userns: usernsFd, owner: idmap.owner }),
      );
    }
    for (const b of idmap.binds) made.push("host" in b ? native.hostFilesystem(b.host) : native.idmappedMount(b.source, usernsFd, b.recursive, b.devices === true));
    return made;
  } catch (err) {
    for (const fd of made) native.close(fd);
    throw new LaunchError("namespace", `the container's root or volumes in its user namespace: ${(err as Error).message}`);
  }
}

/**
 * Makes the plan's sandbox. Its init has been cloned and set up when this returns; the
 * caller closes the handles it returns (pidfd, listener, mntns, control, proc.fuse) once
 * done with them. On failure, the caller's cleanup.undo() removes everything made.
 */
export function launch(native: NativeBinding, plan: SandboxPlan, o: LaunchOptions): Launched {
  // Descriptors only init needs: closed once it has them.
  const passed: number[] = [];
  const joined: number[] = [];
  try {
    let cgroups: Cgroups | undefined;
    if (plan.cgroups !== undefined) {
      try {
        cgroups = createCgroups(plan.cgroups.spec, plan.cgroups.layout);
      } catch (err) {
        throw new LaunchError("cgroups", (err as Error).message);
      }
      const made = cgroups;
      o.cleanup.push(() => removeCgroups(made.dirs));
      o.onCgroups?.(made);
    }
    if (plan.overlay !== undefined) {
      const ov = plan.overlay;
      try {
        // A directory of writes is hidden from the sandbox, which would see it through the lower layer.
        if (ov.dir !== undefined) ensureRootOnlyDir(ov.dir);
        const whiteouts = [...ov.whiteouts, ...(ov.dir !== undefined && ov.lower === undefined ? [realpathSync(ov.dir)] : [])];
        passed.push(
          native.overlayRoot({
            size: ov.size,
            whiteouts,
            ...(ov.dir !== undefined ? { dir: ov.dir } : {}),
            ...(ov.files !== undefined ? { files: [...ov.files] } : {}),
            ...(ov.lower !== undefined ? { lower: ov.lower } : {}),
          }),
        );
      } catch (err) {
        throw new LaunchError("overlay", `filesystem.root: overlay: ${(err as Error).message}`);
      }
    }
    let proc: Launched["proc"];
    if (plan.proc !== undefined) {
      if (cgroups === undefined) throw new LaunchError("proc", "filesystem.proc.virtualize: the plan has no control groups to read usage from");
      const options: ProcServerOptions = { files: [...plan.proc.files], limits: plan.proc.limits, usage: usageFiles(cgroups), startedMs: Date.now() };
      let fs;
      try {
        fs = mountProcFs(native);
      } catch (err) {
        throw new LaunchError("proc", `filesystem.proc.virtualize: ${(err as Error).message}`);
      }
      const fuse = fs.fuse;
      passed.push(fs.mount);
      const stop = serveProcFs(native, fuse, options);
      proc = { fuse, options, stopServing: stop };
      o.cleanup.push(() => {
        stop();
        native.close(fuse);
      });
    }
    passed.push(...plan.preserve);
    // A user namespace made ahead, joined last.
    const ahead = plan.namespaces.ahead;
    if (ahead !== undefined) {
      try {
        joined.push(o.userNamespaceParent !== undefined ? native.createUserNamespace(ahead.uidMap, ahead.gidMap, o.userNamespaceParent) : native.createUserNamespace(ahead.uidMap, ahead.gidMap));
      } catch (err) {
        throw new LaunchError("namespace", `the container's user namespace: ${(err as Error).message}`);
      }
    }
    for (const j of plan.namespaces.join) {
      try {
        joined.push(openSync(j.path, "r"));
      } catch (err) {
        throw new LaunchError("namespace", `namespace ${j.path}: ${(err as Error).message}`);
      }
    }
    // What is idmapped into the user namespace (made ahead, or a pod's) is made now.
    if (plan.idmap !== undefined) passed.push(...idmappedMounts(native, plan.idmap, idmapUserns(plan, joined)));
    let spawned: Spawned;
    // A hook's failure (onPause) keeps its own error rather than becoming a spawn step's.
    let hookError: unknown;
    const onPause = o.onPause;
    try {
      spawned = native.spawn({
        initPath: initPath(),
        cloneFlags: plan.namespaces.flags,
        uidMap: plan.namespaces.uidMap,
        gidMap: plan.namespaces.gidMap,
        config: encodeInitConfig([...plan.records, plan.filter]),
        ...(passed.length > 0 ? { fds: passed } : {}),
        ...(cgroups !== undefined ? { cgroupProcs: procsFiles(cgroups) } : {}),
        ...(o.tty !== undefined ? { tty: o.tty } : {}),
        ...(o.hold === true ? { hold: true } : {}),
        ...(o.orphan === true ? { orphan: true } : {}),
        // The program becomes init: spawn leaves a guard outside its PID namespace.
        ...(plan.records.some((r) => r.op === "execInPlace") ? { guard: true } : {}),
        ...(o.watch !== undefined ? { watch: o.watch } : {}),
        ...(o.cloner !== undefined ? { cloner: o.cloner } : {}),
        ...(joined.length > 0 ? { join: joinedNamespaces(plan, joined) } : {}),
        ...(onPause !== undefined
          ? {
              onPause: (pid: number): string => {
                try {
                  return onPause(pid);
                } catch (err) {
                  hookError = err;
                  throw err;
                }
              },
            }
          : {}),
      });
    } catch (err) {
      if (hookError !== undefined) throw hookError;
      throw new LaunchError("spawn", (err as Error).message);
    }
    const { pid, pidfd } = spawned;
    o.cleanup.push(() => {
      native.pidfdSendSignal(pidfd, SIGKILL);
      if (o.watch !== false) native.waitExit(pid);
      else for (let i = 0; i < 200 && !native.pidfdExited(pidfd); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    });
    return { ...spawned, ...(cgroups !== undefined ? { cgroups } : {}), ...(proc !== undefined ? { proc } : {}) };
  } finally {
    // Preserved descriptors stay the caller's.
    for (const fd of [...passed.filter((_fd, i) => !preservedAt(plan, i)), ...joined]) native.close(fd);
  }
}
