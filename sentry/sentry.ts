// The sentry for one sandbox: kernel context, handler families, dispatch and the strace
// tracer, wired to a seccomp user-notify listener. Runs on its own thread (the caller's),
// which it moves into the sandbox's mount namespace.
import type { Rule, SentryStats } from "./metrics.js";
import type { TrapWhen } from "./syscalls/handlers.js";
import { AF_UNIX, SOCK_DGRAM, SOCK_NONBLOCK } from "../platform/abi/socket.js";
import { AT_FDCWD, STATX_MNT_ID, STATX_MNT_ID_OFFSET, STATX_SIZE } from "../platform/abi/fcntl.js";
import type { NativeBinding } from "../native/binding.js";
import type { Reply, TaskMemory, TrapEvent } from "../platform/platform.js";
import { ProcessMemory, SeccompNotify } from "../platform/seccomp/unotify.js";
import { EAGAIN, ENOBUFS, errnoName } from "../platform/abi/errno.js";
import { sysnoByName, sysnoName } from "../platform/abi/sysno_amd64.js";
import type { Kernel } from "./kernel/kernel.js";
import type { SentryConfig } from "./config.js";
import type { IdMap } from "./kernel/idmap.js";
import { insideId, isHostMap, parseIdMap } from "./kernel/idmap.js";
import { CredsCache, taskCreds } from "./kernel/creds.js";
import { Identity } from "./kernel/identity.js";
import { fstatSync, readSync, writeSync } from "node:fs";
import { createPathMatcher } from "./policy/paths.js";
import { Dispatcher } from "./syscalls/dispatch.js";
import { OwnFilesystems } from "./kernel/ownFilesystems.js";
import type { AuditFact } from "./audit.js";
import { actionText, factOf } from "./audit.js";
import { TABLE_AMD64 } from "./syscalls/table_amd64.js";

/** Where the sentry logs: pino's Logger fits; so does a small writer when pino is not loaded. */
export interface SentryLog {
  info(msg: string): void;
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A sandbox's sentry: its configuration, its handles, and where it reports. */
export interface SentryOptions extends Omit<SentryConfig, "record"> {
  native: NativeBinding;
  /** An fd of the sandbox's mount namespace. */
  mntns: number;
  pidfd: number;
  listener: number;
  /** Host PID of the sandbox's init. */
  initPid: number;
  /** Receives what the workload did (audit.ts): set for audit and `policy learn`. */
  record?: (fact: AuditFact) => void;
  /** Trace (strace) the syscalls that reach the sentry with these printers (strace/format.ts). */
  strace: Tracer | undefined;
  /** Counts for the metrics endpoint (--metrics-address), shared with the thread serving it. */
  stats?: SentryStats;
  /**
   * --record-events: the sandbox's events file (borrowed; O_APPEND), where execs, exits and
   * refusals are written as JSON lines.
   */
  events?: number;
  log: SentryLog;
  /**
   * The line the watchdog writes to fd 2 when this sentry hangs (native/src/watchdog.cc;
   * "%cpu" and "%wall": the call's CPU and wall milliseconds), in the log's format.
   */
  hangLine: string;
}

/**
 * For the fail-closed tests: the syscall (by name) on which the sentry spins for good, as a
 * sentry with a bug in a handler would. Read when a sentry is set up, and only beside
 * RUNSC_TS_WARM=0 (a command that runs in its own process): a warm process, which keeps the
 * environment of the command that started it, never has both.
 */
export const TEST_HANG_ENV = "RUNSC_TS_TEST_SENTRY_HANG";

/** The syscall number TEST_HANG_ENV names, when it applies. */
function testHang(): number | undefined {
  const name = process.env[TEST_HANG_ENV];
  return name === undefined || process.env.RUNSC_TS_WARM !== "0" ? undefined : sysnoByName(name);
}

export interface Tracer {
  formatCall(ev: TrapEvent, mem: TaskMemory): string;
  formatResult(name: string, r: Reply): string;
}


/**
 * How long the sentry waits for a call it offloads before leaving it to its worker to answer
 * (a loopback connect: ~50 µs). Short: a burst of calls that block costs this much each.
 */
const OFFLOAD_WAIT_US = 500;

/**
 * Calls that may block in progress at once per sandbox, each on a worker thread of the
 * sandbox's pool (a task has one trapped call at most, so never more than its blocked
 * tasks); one more fails with EAGAIN.
 */
export const MAX_BLOCKED_CALLS = 1024;

/** The most data blocked sendto calls of one sandbox may hold together; one more fails with ENOBUFS. */
export const MAX_BLOCKED_BYTES = 64 << 20;

/** How many distinct refusals the sentry explains in its log (each once). */
const MAX_NOTICES = 100;

/** The policy section whose rules a syscall's handler applies, by the condition that traps it. */
const RULE_OF: readonly (Rule | undefined)[] = (() => {
  const section: Record<TrapWhen, Rule> = {
    "exec-seen": "process.exec",
    "signals-self": "process.signals",
    "network-contained": "network",
    "network-proxy": "network",
    "bind-checked": "network",
    "egress-checked": "network",
    "overlay-root": "filesystem",
    "cpus-limited": "other",
    "any-trap": "other",
  };
  const out: (Rule | undefined)[] = [];
  for (const row of TABLE_AMD64) if (row.trap !== undefined) out[row.nr] = section[row.trap.when];
  return out;
})();

/** The most bytes an events file takes (native/src/events.cc stops there too). */
const MAX_EVENTS_BYTES = 16 << 20;

/** A refusal, as a JSON line on the events file: who, which call, which rule, which answer. */
function recordDenial(k: Kernel, fd: number, ev: TrapEvent, rule: Rule, r: Reply): void {
  try {
    if (fstatSync(fd).size >= MAX_EVENTS_BYTES) return;
    let pid: number | null = null;
    let uid: number | null = null;
    try {
      const c = taskCreds(k, ev.pid);
      pid = c.nspid;
      uid = insideId(k.ids.uid, c.euid) ?? null;
    } catch {
      // gone meanwhile
    }
    const answer = r.kind === "errno" ? (errnoName(r.errno) ?? String(r.errno)) : r.kind;
    const line = { type: "denial", time: new Date().toISOString(), pid, hostPid: ev.pid, uid, syscall: sysnoName(ev.nr) ?? String(ev.nr), rule, answer };
    writeSync(fd, JSON.stringify(line) + "\n");
  } catch {
    // the file is gone or full: the sandbox goes on
  }
}

/** The mount id (statx STATX_MNT_ID) of a path as this thread sees it. */
function mountIdOf(native: NativeBinding, path: string): bigint {
  const b = Buffer.from(path);
  const st = new Uint8Array(STATX_SIZE);
  const r = native.statxAt(AT_FDCWD, b, b.length, 0, STATX_MNT_ID, st);
  if (r < 0) throw new Error(`statx ${path}: errno ${-r}`);
  return new DataView(st.buffer).getBigUint64(STATX_MNT_ID_OFFSET, true);
}

/** /proc/PID/uid_map or gid_map of the sandbox's init. */
function readIdMap(native: NativeBinding, procFd: number, pid: number, file: "uid_map" | "gid_map"): IdMap {
  const b = Buffer.from(`${pid}/${file}`);
  const fd = native.openat2(procFd, b, b.length, 0 /* O_RDONLY */, 0, 0);
  if (fd < 0) return [];
  try {
    const buf = Buffer.alloc(4096);
    return parseIdMap(buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0)));
  } finally {
    native.close(fd);
  }
}

/** A sandbox's sentry, set up: its listener, its dispatcher, and what it must undo. */
interface Prepared {
  notify: SeccompNotify;
  dispatcher: Dispatcher;
  /** The dispatcher's handle (with the test's hang, TEST_HANG_ENV, when asked for). */
  handle: (ev: TrapEvent) => Reply;
  mem: ProcessMemory;
  resumed: CompletionReports | undefined;
  /** The thread's own credentials again (after serving, before other work). */
  ownIdentity(): void;
  /** The sandbox is over (or the sentry failed): what it holds, closed; its thread's identity, its own again. */
  finish(): void;
}

/** Sets the sentry up on the calling thread, which is in the sandbox's mount namespace (procFd: the host's /proc). */
function prepare(o: SentryOptions, procFd: number): Prepared {
  const { native, log } = o;
  const notify = new SeccompNotify(native, o.listener, o.pidfd);
  const syncWake = notify.enableSyncWakeUp();
  log.debug({ syncWakeUp: syncWake }, "sentry serving");

  const execMatcher = o.execAllow ? createPathMatcher(o.execAllow.map((path) => ({ path }))) : undefined;
  const noticed = new Set<string>();
  const unixAllow = o.netRules?.rules.unix;
  const unixPaths = (unixAllow ?? []).filter((p) => p.startsWith("/"));
  const unixMatcher = unixPaths.length > 0 ? createPathMatcher(unixPaths.map((path) => ({ path }))) : undefined;
  const abstractNames = (unixAllow ?? []).filter((p) => p.startsWith("@"));
  const mem = new ProcessMemory(native);
  // Traced: connects left to their threads report their results, shown when they come.
  const resumed = o.strace !== undefined ? completionReports(native) : undefined;
  notify.openPool(MAX_BLOCKED_CALLS, procFd, MAX_BLOCKED_BYTES);
  let warnedFull = false;
  const k: Kernel = {
    native,
    mem,
    idValid: () => notify.idValid(),
    offload: (call) => {
      const r = notify.offload(resumed === undefined ? call : { ...call, reportFd: resumed.reportFd }, OFFLOAD_WAIT_US);
      // EAGAIN is also a call's own result (a non-blocking connect to a full queue).
      if ((r === -EAGAIN || r === -ENOBUFS) && !warnedFull && (notify.poolStats()?.rejected ?? 0) > 0) {
        warnedFull = true;
        log.warn({ calls: MAX_BLOCKED_CALLS, bytes: MAX_BLOCKED_BYTES }, "sandbox has the most blocked calls it may have: more fail with EAGAIN (ENOBUFS for data)");
      }
      return r;
    },
    execVerified: (f) => notify.continueExecVerified(procFd, f?.devMajor ?? 0, f?.devMinor ?? 0, f?.ino ?? 0n, o.events ?? -1),
    recordsEvents: o.events !== undefined,
    procFd,
    ownFilesystems: new OwnFilesystems(native, procFd, o.hostMountinfoFd),
    hostSocketsChecked: o.network !== "host" || o.container === true,
    claimsCredentials: process.getuid?.() === 0 && isHostMap(readIdMap(native, procFd, process.pid, "uid_map")),
    bindsForRoot: o.bindsForRoot === true,
    binderFd: o.binderFd,
    egressChecked: o.egress === true,
    unixAllowed: (path) => unixMatcher !== undefined && unixMatcher(path) !== undefined,
    abstractAllowed: (name) => abstractNames.some((a) => (a.endsWith("*") ? name.startsWith(a.slice(0, -1)) : name === a)),
    hostNetworkProcs: o.hostNetworkProcs,
    notice: (message) => {
      if (noticed.size >= MAX_NOTICES || noticed.has(message)) return;
      noticed.add(message);
      log.warn({}, message);
    },
    exec: {
      restricted: execMatcher !== undefined,
      allowed: (path) => execMatcher === undefined || execMatcher(path) !== undefined,
    },
    network: o.network,
    hostname: o.hostname,
    netRules: o.netRules ?? { rules: { mode: o.network }, hostNames: {} },
    signals: o.signals,
    initPid: o.initPid,
    creds: new CredsCache(),
    identity: new Identity(native),
    overlayMount: o.overlay === true ? mountIdOf(native, "/") : undefined,
    visibleCpus: o.visibleCpus,
    ids: { uid: readIdMap(native, procFd, o.initPid, "uid_map"), gid: readIdMap(native, procFd, o.initPid, "gid_map") },
  };
  const record = o.record;
  const stats = o.stats;
  const dispatcher = new Dispatcher(
    k,
    o.decisions,
    TABLE_AMD64,
    {
      bug: (ev, err) => log.error({ pid: ev.pid, syscall: sysnoName(ev.nr) ?? ev.nr, err }, "sentry bug: task killed"),
      ...(stats !== undefined || o.events !== undefined
        ? {
            denied: (ev: TrapEvent, by: "decision" | "handler", r: Reply) => {
              const rule = by === "decision" ? "syscalls" : (RULE_OF[ev.nr] ?? "other");
              stats?.denial(rule);
              if (o.events !== undefined) recordDenial(k, o.events, ev, rule, r);
            },
          }
        : {}),
      ...(record !== undefined
        ? {
            audit: (ev, would, answered) =>
              record({ kind: "syscall", syscall: sysnoName(ev.nr) ?? String(ev.nr), would: actionText(would), answered: actionText(answered) }),
            observe: (ev, r) => {
              const f = factOf(k, ev, r);
              if (f !== undefined) record(f);
            },
          }
        : {}),
    },
    o.audit,
  );
  const hangNr = testHang();
  let spins = 0;
  const handle =
    hangNr === undefined
      ? (ev: TrapEvent): Reply => dispatcher.handle(ev)
      : (ev: TrapEvent): Reply => {
          // As a handler with a bug would: the watchdog's to end.
          while (ev.nr === hangNr) spins++;
          return dispatcher.handle(ev);
        };
  return {
    notify,
    dispatcher,
    handle:
      stats === undefined
        ? handle
        : (ev) => {
            const start = performance.now();
            const r = handle(ev);
            stats.call(ev.nr, r, (performance.now() - start) / 1000);
            return r;
          },
    mem,
    resumed,
    ownIdentity: () => k.identity.sentry(),
    finish() {
      // The sandbox is over (or the sentry failed and the caller kills it): no call outlives it.
      const pool = notify.closePool();
      if (pool !== undefined && pool.peak > 0) log.debug({ blockedCalls: pool }, "blocking calls ended");
      // The thread keeps nothing of this sandbox: its own credentials back, the tasks' pidfds
      // and the host's /proc closed (it may serve another: runsc/sandbox/worker.ts).
      k.identity.sentry();
      k.creds.clear(k);
      resumed?.close();
      native.close(procFd);
    },
  };
}

/**
 * prepare, with the calling thread under the watchdog (native/src/watchdog.cc) for this
 * sandbox; procFd is the sentry's from then on. Undoes both when either fails.
 */
function prepareWatched(o: SentryOptions, procFd: number): Prepared {
  let s: Prepared;
  try {
    s = prepare(o, procFd);
  } catch (err) {
    o.native.close(procFd);
    throw err;
  }
  const watched = o.native.watchdogWatch(o.pidfd, o.hangLine, procFd);
  if (watched < 0) {
    s.finish();
    throw new Error(`the sentry's watchdog: errno ${-watched}`);
  }
  return s;
}

/**
 * Serves the sandbox's trapped syscalls until its init exits. Blocks the calling thread
 * (a sentry thread of its own: the round trip is then the kernel's and one call).
 * Any exception escaping this function means the sandbox must be killed by the caller.
 */
export function serve(o: SentryOptions): void {
  const { native, log } = o;
  // No signal may interrupt this thread's ioctls (native/src/notify.cc: blockSignals).
  const blocked = native.blockSignals();
  if (blocked < 0) throw new Error(`cannot block signals on the sentry's thread: errno ${-blocked}`);
  // o.mntns stays the caller's to close, as the listener and pidfd do, once this returns.
  const procFd = native.enterMountNamespace(o.mntns);
  const s = prepareWatched(o, procFd);
  try {
    if (o.strace === undefined || s.resumed === undefined) s.notify.run(s.handle);
    else traced(s.notify, s.handle, s.mem, o.strace, s.resumed, o.straceOnly, log);
    log.debug({ events: s.notify.stats.events }, "sentry done");
  } finally {
    native.watchdogUnwatch(o.pidfd);
    s.finish();
  }
}

/**
 * How long a sentry on an event loop waits for the next call of a burst before it goes back
 * to the loop (a task that traps again does so within microseconds of its answer).
 */
const BURST_WAIT_US = 20;

/** The longest a sentry on an event loop serves before letting the loop's other work run. */
const DRAIN_BUDGET_MS = 2;

/** A sentry served on an event loop (serveOnLoop). */
export interface LoopSentry {
  /** Settles once the sandbox is over (resolves) or the sentry has failed (rejects: kill the sandbox). */
  readonly done: Promise<void>;
  /** Stops serving (the caller ends the sandbox). */
  stop(): void;
}

/**
 * Serves the sandbox's trapped syscalls from the calling thread's event loop, beside the
 * thread's other work (a container's monitor: one isolate for all). Each time the listener
 * is readable the thread enters the sandbox's mount namespace, blocks signals, answers what
 * is pending (and what follows within BURST_WAIT_US, for at most DRAIN_BUDGET_MS), then takes
 * its own credentials, mount namespace and working directory (home: fds of both), umask
 * and signal mask back. Not for a
 * sandbox whose virtual /proc files this thread's loop makes: an open of one by the sentry
 * would wait for the loop it holds. Tracing (strace) needs serve(). first: an event already
 * received (gate.ts), answered before any other.
 */
export function serveOnLoop(o: SentryOptions, home: { readonly mntns: number; readonly cwd: number }, first?: Uint8Array): LoopSentry {
  const { native, log } = o;
  if (o.strace !== undefined) throw new Error("a traced sentry serves on a thread of its own");
  const umask = native.umask(0);
  native.umask(umask);
  const enter = (): number => {
    const blocked = native.blockSignals();
    if (blocked < 0) throw new Error(`cannot block signals on the sentry's thread: errno ${-blocked}`);
    return native.enterMountNamespace(o.mntns);
  };
  // The thread must get all of its own back: one that cannot would do the caller's other
  // work as a task, or in the sandbox's namespace. Fail closed: its process ends (and its
  // sandboxes with it, their control sockets hung up).
  const leave = (): void => {
    try {
      native.close(native.enterMountNamespace(home.mntns));
      const r = native.fchdir(home.cwd);
      if (r < 0) throw new Error(`fchdir: errno ${-r}`);
      native.umask(umask);
      native.unblockSignals();
    } catch (err) {
      log.error({ err }, "the sentry's thread cannot return to its own namespace: its process ends");
      process.kill(process.pid, "SIGKILL");
    }
  };
  let settle: { resolve: () => void; reject: (err: Error) => void } = { resolve: () => {}, reject: () => {} };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {});
  let s: Prepared;
  try {
    s = prepareWatched(o, enter());
    if (first !== undefined) {
      try {
        s.notify.adopt(first);
        native.sentryBusy();
        s.notify.reply(s.handle(s.notify.event));
      } catch (err) {
        native.watchdogUnwatch(o.pidfd);
        s.finish();
        throw err;
      } finally {
        native.sentryIdle();
        s.ownIdentity();
      }
    }
  } finally {
    // The pool's threads keep the namespace they were made in (the sandbox's).
    leave();
  }
  let over = false;
  const end = (err?: Error): void => {
    if (over) return;
    over = true;
    watch.stop();
    native.watchdogUnwatch(o.pidfd);
    s.finish();
    log.debug({ events: s.notify.stats.events }, "sentry done");
    if (err === undefined) settle.resolve();
    else settle.reject(err);
  };
  const drain = (): void => {
    if (over) return;
    let ended = false;
    let failure: Error | undefined;
    try {
      try {
        native.close(enter());
        const deadline = performance.now() + DRAIN_BUDGET_MS;
        for (let wait = 0; performance.now() < deadline; wait = BURST_WAIT_US) {
          const got = s.notify.receiveReady(wait);
          if (got === null) {
            ended = true;
            break;
          }
          if (!got) break;
          s.notify.reply(s.handle(s.notify.event));
        }
      } finally {
        // A call left to the pool answers for itself: the thread holds none now.
        native.sentryIdle();
        try {
          s.ownIdentity();
        } finally {
          leave();
        }
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    if (failure !== undefined || ended) end(failure);
    else watch.arm();
  };
  const watch = native.watchReadable(o.listener, drain);
  return { done, stop: () => end() };
}

/** The serving loop with each call rendered before the task runs on, its result after the reply. */
function traced(
  notify: SeccompNotify,
  handle: (ev: TrapEvent) => Reply,
  mem: ProcessMemory,
  tracer: Tracer,
  resumed: CompletionReports,
  straceOnly: readonly number[] | undefined,
  log: SentryLog,
): void {
  const only = straceOnly === undefined ? undefined : new Set(straceOnly);
  let call = "";
  let us = 0;
  const showResumed = (): void => {
    for (const { pid, nr, result } of resumed.take()) {
      const shown: Reply = result < 0 ? { kind: "errno", errno: -result } : { kind: "value", value: result };
      const name = sysnoName(nr) ?? String(nr);
      log.info(`[${String(pid).padStart(6)}] <... ${name} resumed> ${tracer.formatResult(name, shown)}`);
    }
  };
  notify.run(
    (ev: TrapEvent): Reply => {
      if (only !== undefined && !only.has(ev.nr)) {
        call = "";
        return handle(ev);
      }
      call = tracer.formatCall(ev, mem);
      const start = process.hrtime.bigint();
      const r = handle(ev);
      us = Number(process.hrtime.bigint() - start) / 1000;
      return r;
    },
    (ev, r, outcome) => {
      showResumed();
      if (call === "") return;
      const shown: Reply = r.kind === "fd" ? (outcome >= 0 ? { kind: "value", value: outcome } : { kind: "errno", errno: -outcome }) : r;
      log.info(`[${String(ev.pid).padStart(6)}] ${call} ${tracer.formatResult(sysnoName(ev.nr) ?? String(ev.nr), shown)} (${us.toFixed(1)}µs)`);
    },
  );
  showResumed();
}

/** Results of the calls the sentry left to the pool's workers, for the trace. */
interface CompletionReports {
  readonly reportFd: number;
  take(): { pid: number; nr: number; result: number }[];
  close(): void;
}

/**
 * A datagram socket pair on which the pool's workers report the results the sentry did not
 * wait for (native/src/blocking.cc): {pid, nr, result}, three int32 each.
 */
function completionReports(native: NativeBinding): CompletionReports {
  const pair = native.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (typeof pair === "number") throw new Error(`socketpair for the trace: errno ${-pair}`);
  const [readFd, reportFd] = pair;
  const buf = Buffer.alloc(12);
  return {
    reportFd,
    take() {
      const out: { pid: number; nr: number; result: number }[] = [];
      for (;;) {
        let n: number;
        try {
          n = readSync(readFd, buf, 0, 12, null);
        } catch {
          return out; // EAGAIN: none left
        }
        if (n === 12) out.push({ pid: buf.readUInt32LE(0), nr: buf.readInt32LE(4), result: buf.readInt32LE(8) });
      }
    },
    close() {
      native.close(readFd);
      native.close(reportFd);
    },
  };
}
