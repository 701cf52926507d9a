// The typed contract of the native addon (native/src/*.cc). Every function that sits on
// the syscall hot path returns a number: the result, or a negative errno.

export interface SpawnOptions {
  /** Host path of runsc-ts-init; copied once into a sealed memfd and exec'd from there. */
  initPath: string;
  /** CLONE_NEW* flags for the sandbox. */
  cloneFlags: number;
  /** Contents for /proc/PID/uid_map and gid_map (written by us, a privileged parent). */
  uidMap: string;
  gidMap: string;
  /** Records for init (runsc/sandbox/initConfig.ts encodes them). */
  config: Uint8Array;
  /** Descriptors sent to init with the config (at most 64); "attach" and "preserve" records name them by index. */
  fds?: number[];
  /** cgroup.procs files init joins before it starts (runsc/sandbox/cgroups.ts). */
  cgroupProcs?: string[];
  /** A pty slave: the sandbox's stdio and controlling terminal (a new session). */
  tty?: number;
  /** Keep init's control socket (Spawned.control): init holds the workload until "R". */
  hold?: boolean;
  /**
   * With hold: init outlives the caller (OCI create exits, init stays). No parent-death
   * signal: init ends when its control socket hangs up instead.
   */
  orphan?: boolean;
  /**
   * With hold, orphan and a new PID namespace: init is the caller's child (its subreaper
   * reaps it), and a guard process outside the namespace kills it if the control socket
   * hangs up, then exits with it (for init's execInPlace, where the program is init).
   */
  guard?: boolean;
  /** Namespaces to join rather than make: an open nsfs file each, with its CLONE_NEW* type. */
  join?: { fd: number; type: number }[];
  /**
   * false: init is not reaped here (waitExit and onExit never answer for it). For an init
   * that outlives us, whose status belongs to the subreaper it passes to (a shim).
   */
  watch?: boolean;
  /**
   * A connection to runsc-ts's client (native/client/client.c), which clones init for us
   * (native/helper/sandbox_child.h): init descends from the client's caller. Needs watch false.
   */
  cloner?: number;
  /**
   * Called when init stops before pivot_root for its createContainer hooks (init's PID):
   * runs the runtime's own hooks that come first and returns the state JSON for init's.
   * Throwing fails the spawn (init is killed) with that error.
   */
  onPause?: (pid: number) => string;
}

export interface Spawned {
  /** Host PID of the sandbox init (PID 1 inside). */
  pid: number;
  pidfd: number;
  /** The seccomp user-notification listener. */
  listener: number;
  /** An fd of the sandbox's mount namespace, opened before the workload started. */
  mntns: number;
  /** With hold: init's control socket; "R" and the state start the workload, init answers "G". */
  control?: number;
}

export interface KernelProbe {
  release: string;
  userNotif: boolean;
  openat2: boolean;
  pidfdOpen: boolean;
  pidfdGetfd: boolean;
  mountSetattr: boolean;
}

export interface NativeBinding {
  /** Throws an Error with code "ESETUP" (init's own message) or Node-shaped errno errors. */
  spawn(opts: SpawnOptions): Spawned;
  /** Makes the process's sealed copy of runsc-ts-init (spawn makes it at its first call otherwise). */
  loadInit(initPath: string): void;
  notifySizes(): { notif: number; resp: number; data: number };
  /**
   * Blocks until an event is in buf (1), or fails with a negative errno: -ENOENT when the
   * task died first or when no task uses the filter any more (see pidfdExited).
   */
  notifyReceive(listener: number, buf: Uint8Array): number;
  /** True once the process of pidfd has terminated. */
  pidfdExited(pidfd: number): boolean;
  /** kind 0 continue, 1 errno, 2 value. */
  notifyRespond(listener: number, buf: Uint8Array, kind: 0 | 1 | 2, value: number, errnum: number): number;
  /** Injects srcFd as the syscall's result; at targetFd (SETFD) when given. */
  notifyAddFd(listener: number, buf: Uint8Array, srcFd: number, cloexec: boolean, targetFd?: number): number;
  notifyIdValid(listener: number, buf: Uint8Array): number;
  /**
   * Answers buf's notification, an exec the sentry allowed, on a thread that verifies the
   * new image at its exec stop: /proc/PID/exe must be the file (device, inode) allowed, or
   * the task dies before its first instruction (native/src/execstop.cc); ino 0n: any file.
   * With eventsFd, the exec and later its exit are recorded there (native/src/events.cc).
   * 0: that thread answers; -errno: nothing was answered.
   */
  execContinueVerified(listener: number, buf: Uint8Array, procFd: number, devMajor: number, devMinor: number, ino: bigint, eventsFd?: number): number;
  notifySetSyncWakeUp(listener: number): number;
  /**
   * Blocks every asynchronous signal on the calling thread (the sentry's): a signal that
   * interrupts ADDFD with SEND would leave the task's syscall returning 0. 0 or -errno.
   */
  blockSignals(): number;
  /** Unblocks on the calling thread what blockSignals blocked (a thread that serves a sentry between other work). 0 or -errno. */
  unblockSignals(): number;
  readMemory(pid: number, addr: number, len: number, out: Uint8Array): number;
  readString(pid: number, addr: number, max: number, out: Uint8Array): number;
  writeMemory(pid: number, addr: number, data: Uint8Array): number;
  /**
   * Blocks until a sandbox init started by spawn() has been reaped (by the addon's watcher
   * thread); returns its status as a shell reports it (code, or 128+signal).
   */
  waitExit(pid: number): number;
  /** Calls back on this thread's event loop once spawn()'s watcher (or startReaper's) has reaped pid. */
  onExit(pid: number, callback: (status: number) => void): void;
  /**
   * Makes this process a child subreaper; from now on one thread reaps every child of it
   * (its own, and orphans that pass to it), keeping their statuses for onExit and waitExit. Node's
   * child_process must not be used after: its children would be reaped there.
   */
  startReaper(): void;
  /** Runs argv[0] (a path) with io as its stdin, stdout and stderr: its PID, or -errno. For startReaper's process. */
  spawnCommand(argv: readonly string[], io: readonly [number, number, number]): number;
  /** flags: PIDFD_THREAD (O_EXCL, Linux 6.9) for a pidfd of one thread. */
  pidfdOpen(pid: number, flags?: number): number;
  pidfdGetfd(pidfd: number, targetFd: number): number;
  /** pidfd_send_signal(2); siginfo, when given, is a siginfo_t (128 bytes) passed as its info. */
  pidfdSendSignal(pidfd: number, signal: number, flags?: number, siginfo?: Uint8Array): number;
  close(fd: number): number;
  /** dup2(2): newfd, without close-on-exec, or -errno. */
  dup2(oldfd: number, newfd: number): number;
  /** fcntl(F_DUPFD_CLOEXEC, 3): a new descriptor (close-on-exec, above stdio) of fd's file, or -errno. */
  dup(fd: number): number;
  /** Moves the calling thread into the mount namespace of nsfd; returns an O_PATH fd of host /proc. */
  enterMountNamespace(nsfd: number): number;
  /**
   * The calling thread's fs credentials (host ids). elevated: then raise again the file
   * capabilities (chown, dac_override, dac_read_search, fowner, fsetid): what is created is
   * the task's, and permission checks pass (sentry/syscalls/sys_fsmut.ts).
   */
  /** caps: the effective capabilities to act with (absent: all the thread holds). */
  setCreds(fsuid: number, fsgid: number, groups: Int32Array, elevated?: boolean, caps?: bigint): number;
  openat2(dirfd: number, path: Uint8Array, pathLen: number, flags: number, mode: number, resolve: number): number;
  statAt(dirfd: number, path: Uint8Array, pathLen: number, flags: number, out: Uint8Array): number;
  statxAt(dirfd: number, path: Uint8Array, pathLen: number, flags: number, mask: number, out: Uint8Array): number;
  readlinkAt(dirfd: number, path: Uint8Array, pathLen: number, out: Uint8Array): number;
  accessAt(dirfd: number, path: Uint8Array, pathLen: number, mode: number, flags: number): number;
  // Path operations on the calling thread's credentials: 0 or -errno.
  mkdirAt(dirfd: number, path: Uint8Array, pathLen: number, mode: number): number;
  mknodAt(dirfd: number, path: Uint8Array, pathLen: number, mode: number, dev: number): number;
  unlinkAt(dirfd: number, path: Uint8Array, pathLen: number, flags: number): number;
  renameAt2(olddirfd: number, oldPath: Uint8Array, oldLen: number, newdirfd: number, newPath: Uint8Array, newLen: number, flags: number): number;
  linkAt(olddirfd: number, oldPath: Uint8Array, oldLen: number, newdirfd: number, newPath: Uint8Array, newLen: number, flags: number): number;
  symlinkAt(target: Uint8Array, targetLen: number, dirfd: number, path: Uint8Array, pathLen: number): number;
  /** fchmodat(2) without flags: follows a final symlink. */
  chmodAt(dirfd: number, path: Uint8Array, pathLen: number, mode: number): number;
  chownAt(dirfd: number, path: Uint8Array, pathLen: number, uid: number, gid: number, flags: number): number;
  /** times: two struct timespec (32 bytes), or null for now. */
  utimensAt(dirfd: number, path: Uint8Array, pathLen: number, times: Uint8Array | null, flags: number): number;
  ftruncate(fd: number, length: number): number;
  fsetxattr(fd: number, name: string, value: Uint8Array, flags: number): number;
  fremovexattr(fd: number, name: string): number;
  /** sched_getaffinity(2) of a host tid into out: the bytes written, or -errno. */
  schedGetaffinity(tid: number, out: Uint8Array): number;
  /** A new pty: both ends close-on-exec, the slave not our controlling terminal. */
  openPty(): { master: number; slave: number };
  /**
   * A pty of the devpts at ROOT/dev/pts (a container's, root being /proc/PID/root): its slave
   * is one of the container's /dev/pts/N. -errno when there is none (-ENOTTY: not a devpts's ptmx).
   */
  openPtyIn(root: string): { master: number; slave: number } | number;
  setWinsize(fd: number, rows: number, cols: number): number;
  /** Sends fd over SCM_RIGHTS to the unix socket at path (an OCI console socket). Throws. */
  sendFdToSocket(path: string, fd: number, name: string): void;
  /** flock(2), blocking unless LOCK_NB: 0 or -errno. */
  flock(fd: number, op: number): number;
  /**
   * A container's sentry started confined (native/src/confine.cc): the child joins userns as
   * its root, pivots into a tmpfs mounted on `scratch` holding `dirs`, `binds` (recursive;
   * read-only, nosuid, nodev unless writable) and `symlinks`, keeps `keepCaps` in its bounding
   * set, sets no_new_privs, gets fds[i] as descriptor i and execs argv. Its PID; throws (code
   * ESETUP) naming the step that failed.
   */
  spawnConfined(o: {
    userns: number;
    argv: string[];
    env: string[];
    fds: number[];
    scratch: string;
    dirs: string[];
    binds: { source: string; target: string; file?: boolean; writable?: boolean }[];
    symlinks: { target: string; path: string }[];
    keepCaps: bigint;
  }): number;
  /** no_new_privs and a seccomp filter (compileFilterBytes) on every thread of this process. Throws. */
  confineSelf(filter: Uint8Array): void;
  /**
   * The binder (native/helper/binder.c): runsc-ts-init exec'd from `binary` as host `uid`
   * with CAP_NET_BIND_SERVICE alone, serving `channel` (a SOCK_SEQPACKET end). Its PID; throws.
   */
  startBinder(channel: number, uid: number, binary: string): number;
  /** The binder on channel binds socket fd to addr: 0 or -errno. */
  bindVia(channel: number, fd: number, addr: Uint8Array, addrlen: number): number;
  /** Connects to the unix socket at path and sends message with fds (SCM_RIGHTS): the connection's fd. Throws. */
  sendFds(path: string, message: string, fds: number[]): number;
  /** One non-blocking recvmsg of up to max bytes and 16 descriptors: what came, or -errno (-EAGAIN: nothing yet; 0 bytes: the peer closed). */
  recvFds(fd: number, max: number): { data: Buffer; fds: number[] } | number;
  /** Waits up to timeoutMs (blocking) for fd to be readable: 1 readable (or hung up), 0 timed out, or -errno. */
  waitReadable(fd: number, timeoutMs: number): number;
  /** A connected unix socket's peer (SO_PEERCRED), or -errno. */
  peerCred(fd: number): { pid: number; uid: number; gid: number } | number;
  /** A listening unix stream socket bound at path, mode 0600, close-on-exec. Throws. */
  listenUnix(path: string): number;
  /** The user namespace owning the namespace fd (NS_GET_USERNS), or with parent a user namespace's parent (NS_GET_PARENT): fd or -errno. */
  nsOwner(fd: number, parent: boolean): number;
  /** Writes net.* sysctls ([key, value]) in the network namespace at netnsPath as host root (a thread that joins it). Throws naming the key. */
  writeNetSysctls(netnsPath: string, entries: [string, string][]): void;
  /**
   * filesystem.root: overlay — a detached overlay mount (nosuid, nodev) of `lower` (a bundle's
   * rootfs; default "/", the host's root filesystem) under an in-memory upper layer of `size` (tmpfs size=), or `dir`'s upper/ and
   * work/ when given, with whiteouts at the given absolute paths and empty files (mount
   * points) at `files`. Made by the caller (host root). Throws on failure.
   */
  overlayRoot(o: { size: string; whiteouts: string[]; dir?: string; files?: string[]; lower?: string }): number;
  /**
   * A detached FUSE mount (read-only, nosuid, nodev, noexec, allow_other) served through
   * fuseFd (an open /dev/fuse), its root a directory owned by host root. Throws on failure.
   */
  fuseMount(fuseFd: number, source: string): number;
  /**
   * A new user namespace with these maps ("inside outside count" lines), made by a child
   * that ends at once: the descriptor keeps it. With parent, it is made inside that one (by
   * its root, who owns it; "outside" ids are the parent's). Throws (code ESETUP) on failure.
   */
  createUserNamespace(uidMap: string, gidMap: string, parent?: number): number;
  /**
   * A detached copy of the mount at path (and those beneath it when recursive) whose owners
   * show through the user namespace usernsFd's maps. Throws (code ESETUP, errno) on failure:
   * EINVAL where the filesystem cannot be idmapped (overlayfs, proc, sysfs).
   */
  /** devices: the clone without nodev (a device node the runtime made). */
  idmappedMount(path: string, usernsFd: number, recursive: boolean, devices?: boolean): number;
  /** A detached mqueue or proc mount of this process's IPC or PID namespace (nosuid, nodev, noexec). Throws (code ESETUP). */
  hostFilesystem(type: "mqueue" | "proc"): number;
  /**
   * A detached overlay (nosuid, nodev) over idmapped clones of a runtime's layers (lower:
   * top first; upper and work in one directory), made with owner (the container's root on
   * the host) as its creator, so its own writes land as root's on the disk. Throws (code
   * ESETUP) naming the layer or the kernel's message.
   */
  idmappedOverlay(o: { lower: string[]; upper: string; work: string; options?: string[]; memory?: string; userns: number; owner: number }): number;
  /**
   * Serves fuseMount's filesystem on a thread of its own until it is unmounted: a directory
   * of `names`, each file's text asked of text(name) on this thread's event loop when it is
   * opened. Does not keep the event loop alive. The function it returns stops serving
   * (between two requests) so that another process can take over.
   */
  procServe(fuseFd: number, names: string[], text: (name: string) => string): () => void;
  /**
   * Calls callback on this thread's event loop once fd is readable (or hung up, or failed),
   * then not again until arm(). stop() ends the watch, once its thread has ended (a callback
   * already queued may still run). Keeps the event loop alive until stop().
   */
  watchReadable(fd: number, callback: () => void): { arm(): void; stop(): void };
  /**
   * Within timeoutUs microseconds: 1 once fd is readable (or failed), 2 once it has hung up
   * with nothing to read, 0 if neither, or -errno.
   */
  pollIn(fd: number, timeoutUs: number): number;
  /**
   * The calling thread serves the sandbox whose init pidfd is: a trapped call it holds for
   * 100 ms of its user CPU time, or 60 s in all, kills that sandbox (and any other the thread
   * watches) and this process, after writing message to fd 2 ("%cpu", "%wall": the call's
   * CPU and wall milliseconds). procFd: the host's /proc. 0 or -errno.
   */
  watchdogWatch(pidfd: number, message: string, procFd: number): number;
  /** The sandbox of pidfd is no longer watched on this thread: how many still are. */
  watchdogUnwatch(pidfd: number): number;
  /** The calling thread holds no trapped call (one it left to its pool answers for itself). */
  sentryIdle(): void;
  /** The calling thread holds a trapped call from now on (received before it was watched). */
  sentryBusy(): void;
  connect(fd: number, addr: Uint8Array, len: number): number;
  /**
   * A pool of worker threads for the calls of one sandbox (listener) that may block, at most
   * maxWorkers at once. Created on the sentry's thread: its workers share that thread's
   * mount namespace, root and credentials. procFd: the host's /proc (where the pool reads a
   * task's pending signals). maxBytes: the most data the sendto calls in progress may hold
   * together (beyond, a call fails with ENOBUFS). Returns the pool's id.
   */
  blockingPool(listener: number, maxWorkers: number, procFd: number, maxBytes: number): number;
  /** Cancels every call still running, joins every thread; the pool's counters at the end. */
  blockingPoolClose(pool: number): BlockingPoolStats | undefined;
  blockingPoolStats(pool: number): BlockingPoolStats | undefined;
  /**
   * Runs call on the pool for the event in notif and waits up to waitUs: its result (>= 0 or
   * -errno) for the caller to answer with, or null when the worker will answer the event
   * itself. The call's descriptors (fd, alsoClose) are taken over whatever happens.
   * -EAGAIN: the pool is full.
   */
  blockingCall(pool: number, notif: Uint8Array, call: BlockingCallSpec, waitUs: number): number | null;
  /** With control (struct cmsghdr records, descriptors ours), a sendmsg that carries them. */
  sendto(fd: number, data: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number, control?: Uint8Array): number;
  fchdir(fd: number): number;
  /** True when fd is a terminal whose foreground process group is the caller's. */
  inTerminalForeground(fd: number): boolean;
  probe(): KernelProbe;
  /** A socket in the calling thread's network namespace (close-on-exec). */
  socket(domain: number, type: number, protocol: number): number;
  /** A connected pair of sockets (close-on-exec), or -errno. */
  socketpair(domain: number, type: number, protocol: number): [number, number] | number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  /** An int socket option's value (>= 0 for the options the sentry reads) or -errno. */
  getsockoptInt(fd: number, level: number, name: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** The inode number of the network namespace fd's socket belongs to (SIOCGSKNS), or -errno. */
  socketNetns(fd: number): number;
  /** fcntl(2) with an int argument: F_GETFL, F_GETFD... */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** umask(2) of the calling thread's fs_struct; returns the previous mask. */
  umask(mask: number): number;
}

/** A call the sentry performs for a task on the sandbox's pool (native/src/blocking.cc). */
export interface BlockingCallSpec {
  /** 0 connect(fd, addr), 1 sendto(fd, data, flags, addr). */
  op: 0 | 1;
  /** The trapped syscall's number, for the trace's resumed record. */
  nr: number;
  /** Ours, taken over: closed when done. */
  fd: number;
  /** Empty for a sendto without an address. */
  addr: Uint8Array;
  /** The task's thread group: its pidfd tells the pool when the task is gone. */
  tgid: number;
  /** A descriptor addr refers to (self/fd/N), closed when done. */
  alsoClose?: number;
  /** The working directory for a relative unix path (borrowed). */
  cwdFd?: number;
  data?: Uint8Array;
  /** sendmsg's control messages, sent with the first bytes. */
  control?: Uint8Array;
  /** Ours, the descriptors control carries: closed when done. */
  controlFds?: number[];
  flags?: number;
  /** sendto: bytes of the task's buffer already sent; data is the rest. */
  base?: number;
  /** connect: install fd in the task at this number (like dup2) once connected or in progress. */
  injectAt?: number;
  cloexec?: boolean;
  /** A datagram socket: a call left to its worker sends {pid, nr, result} (three int32) here first. */
  reportFd?: number;
}

export interface BlockingPoolStats {
  /** Calls in progress. */
  running: number;
  /** Live threads: workers and the watcher. */
  threads: number;
  /** Most calls in progress at once. */
  peak: number;
  /** Calls interrupted because their task or its syscall went away. */
  cancelled: number;
  /** Calls interrupted for a signal the task takes (answered -ERESTARTSYS). */
  interrupted: number;
  /** Calls refused because the pool was full (EAGAIN) or held maxBytes (ENOBUFS). */
  rejected: number;
}
