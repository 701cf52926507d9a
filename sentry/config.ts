// What a sentry is told about its sandbox: one shape, made by the sandbox plan
// (runsc/sandbox/plan.ts), carried unchanged to the sentry's thread (runsc/sandbox/worker.ts)
// or a container's monitor, and read by serve() (sentry.ts). Structured-clone friendly: it
// crosses threads and is written to a container's state directory.
import type { Decision } from "./policy/decision.js";
import type { NetworkRulesInput } from "./policy/network.js";

/** network.mode: none (own empty netns), host (the host's), proxy (own netns, egress allowlist). */
export type NetworkMode = NetworkRulesInput["mode"];

/** What the sentry needs of the policy's network section. */
export interface SentryNetRules {
  readonly rules: NetworkRulesInput;
  /** Host names of egress rules and the addresses they resolved to at start-up. */
  readonly hostNames: Readonly<Record<string, readonly string[]>>;
}

export interface SentryConfig {
  /** Per syscall number, what the policy decided (sentry/filter/compile.ts). */
  readonly decisions: readonly (Decision | undefined)[];
  /** The policy's process.exec.allow patterns; undefined: any file may be executed. */
  readonly execAllow: readonly string[] | undefined;
  readonly network: NetworkMode;
  /** network.egress/bind with the egress host names' addresses; absent: no rules. */
  readonly netRules?: SentryNetRules;
  /** process.signals: "self" confines the kill family to the caller's thread group. */
  readonly signals: "sandbox" | "self";
  /** The sandbox's host name (uname, as the sentry reports it). */
  readonly hostname: string;
  /** filesystem.root: overlay, served by the sentry (root's writes to what the host owns). */
  readonly overlay?: boolean;
  /** Under a CPU limit with virtual cpuinfo: how many CPUs sched_getaffinity shows. */
  readonly visibleCpus?: number;
  /** audit: the policy's own decisions where it refuses more than `decisions`. */
  readonly audit?: readonly (Decision | undefined)[];
  /** Report what the workload does (audit.ts): audit and `policy learn`. */
  readonly record?: boolean;
  /** Trace only these syscall numbers (--strace-syscalls); absent: all that reach the sentry. */
  readonly straceOnly?: readonly number[];
  /**
   * A container: under network host (the network its runtime gave it) a connect or send to
   * a unix socket beyond its own is still network (sys_socket.ts), as under none and proxy.
   */
  readonly container?: boolean;
  /**
   * A container in a user namespace of its own on the host's network: a bind root inside
   * may make (CAP_NET_BIND_SERVICE in its namespace) is made by the sentry (sys_socket.ts).
   */
  readonly bindsForRoot?: boolean;
  /**
   * A container under network proxy: the destinations of connect, sendto, sendmsg and
   * sendmmsg are decided by network.egress and the calls performed by the sentry in the
   * container's own network namespace (sys_socket.ts).
   */
  readonly egress?: boolean;
  /**
   * A container on the host's network: the cgroup.procs file of its group (its processes), by
   * which an abstract unix socket is told the container's own or the host's (sentry/net/abstractSockets.ts).
   */
  readonly hostNetworkProcs?: string;
  /**
   * A confined container sentry (its mount namespace is not the host's): a descriptor of
   * the host's /proc/self/mountinfo, opened by create, by which OwnFilesystems tells the
   * host's filesystems. Set by the monitor, whose descriptor it is.
   */
  readonly hostMountinfoFd?: number;
  /**
   * A confined container sentry on the host's network: the channel to its binder, which
   * binds root inside's ports below 1024 (native/helper/binder.c). Set by the monitor.
   */
  readonly binderFd?: number;
}
