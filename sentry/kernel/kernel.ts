// The sandbox's kernel state as the handlers see it: what the sentry was started with and
// what it keeps across calls. One per sandbox, built by serve() (sentry.ts). A handler
// meets it through its Task (task.ts), which adds the calling task's side.
import type { BlockingCallSpec, NativeBinding } from "../../native/binding.js";
import type { TaskMemory } from "../../platform/platform.js";
import type { NetworkMode, SentryNetRules } from "../config.js";
import type { CredsCache } from "./creds.js";
import type { Identity } from "./identity.js";
import type { IdMap } from "./idmap.js";

export interface Kernel {
  readonly native: NativeBinding;
  readonly mem: TaskMemory;
  /** ID_VALID for the event being handled: false once the task stopped waiting. */
  idValid(): boolean;
  /**
   * Performs a call that may block (a connect, a sendto) off the sentry's thread, on the
   * sandbox's bounded pool, waiting briefly: its result (>= 0 or -errno), or null when the
   * pool's worker will answer the event itself. The call's descriptors are taken over.
   */
  offload(call: BlockingCallSpec): number | null;
  /**
   * Answers the event, an exec the sentry allowed, by letting the kernel run it and checking
   * the image it loaded: the file must be this one (statx device and inode; undefined: any),
   * or the task is killed at its exec stop. The exec is recorded when the sandbox records
   * events. null: answered so; a number: the errno to answer instead.
   */
  execVerified(file: FileIdentity | undefined): number | null;
  /** --record-events: execs (and their exits) and refusals are recorded (sentry.ts). */
  readonly recordsEvents: boolean;
  /** O_PATH fd of the host's /proc (the sentry thread's own "/" is the sandbox root). */
  readonly procFd: number;
  /** The sandbox's own filesystems, where a unix socket is its own (sentry/kernel/ownFilesystems.ts). */
  readonly ownFilesystems: { owns(dev: bigint): boolean };
  /**
   * A unix socket beyond the sandbox's own is network: refused unless network.unix names it.
   * True under network none and proxy, and for a container under host.
   */
  readonly hostSocketsChecked: boolean;
  /** A container in its own user namespace on the host's network: the sentry binds for root inside (config.ts). */
  readonly bindsForRoot: boolean;
  /** A container under network proxy: every destination decided by network.egress (config.ts). */
  readonly egressChecked: boolean;
  /**
   * The sentry may claim a task's credentials for a message it sends for it (host root in the
   * host's namespaces: `do`'s), so that a receiver asking for them (SO_PASSCRED) sees the
   * task's, not the sentry's (sys_socket.ts: withOwnCredentials).
   */
  readonly claimsCredentials: boolean;
  /** The binder that makes those binds for a confined sentry (config.ts); undefined: the sentry binds itself. */
  readonly binderFd: number | undefined;
  /** network.unix: whether the policy names the socket at this path (as the sandbox sees it). */
  unixAllowed(path: string): boolean;
  /** network.unix: whether the policy names this abstract socket ("@NAME", as /proc/net/unix shows it). */
  abstractAllowed(name: string): boolean;
  /** A container on the host's network: its cgroup.procs file (config.ts). */
  readonly hostNetworkProcs: string | undefined;
  /** Tells the user of a refusal they can act on (logged once per message). */
  notice(message: string): void;
  readonly exec: ExecRule;
  readonly network: NetworkMode;
  /** The sandbox's host name, as uname shows it (sys_info.ts). */
  readonly hostname: string;
  /** network.egress/bind and the addresses of egress host names (sentry/policy/network.ts). */
  readonly netRules: SentryNetRules;
  /** process.signals: "self" confines the kill family to the caller's thread group (sys_signal.ts). */
  readonly signals: "sandbox" | "self";
  /** Host PID of the sandbox's init (runsc-ts-init, which forwards the container's signals). */
  readonly initPid: number;
  /** Credentials by tid (creds.ts). */
  readonly creds: CredsCache;
  /** Whose credentials the sentry's thread acts with (identity.ts). */
  readonly identity: Identity;
  /**
   * filesystem.root: overlay — the overlay root's mount id (statx STATX_MNT_ID): where root
   * inside may change what the host owns, the sentry doing it (sys_fsmut.ts). Undefined otherwise.
   */
  readonly overlayMount: bigint | undefined;
  /** How many CPUs the sandbox sees under a CPU limit (sched_getaffinity, sys_info.ts); undefined: all. */
  readonly visibleCpus: number | undefined;
  /** The sandbox's user namespace maps, for ids the workload names (chown). */
  readonly ids: { readonly uid: IdMap; readonly gid: IdMap };
}

/** A file as statx names it. */
export interface FileIdentity {
  readonly devMajor: number;
  readonly devMinor: number;
  readonly ino: bigint;
}

/** The exec allowlist: undefined allows any file. */
export interface ExecRule {
  allowed(path: string): boolean;
  readonly restricted: boolean;
}
