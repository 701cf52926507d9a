// runsc-ts-init: the sandbox's PID 1. Builds the mount tree, installs the seccomp filter
// the sentry compiled, starts the workload, forwards signals and reaps orphans. An OCI
// container's init (execInPlace) instead becomes the program once started: the program is
// PID 1, as under runc, and a guard outside the namespace (sandbox_child.h) ends it if the
// runtime's end of the control socket goes away.
//
// It is exec'd (from a sealed memfd) by the child the sentry cloned into fresh namespaces,
// after the sentry wrote the uid/gid maps. fd 3 is a SOCK_SEQPACKET control socket to the
// sentry; fd 4 is free so that the seccomp listener lands on it (the sentry takes it with
// pidfd_getfd(2): sending it ourselves would need a syscall the new filter may trap).
// Hidden files get the sentry's mask file bound over them: owned by host root (which has no
// mapping in the sandbox) and mode 000, so no one inside can open it, root included.
//
// Control protocol (one datagram each):
//   runtime -> init   the configuration's records (enum record_tag), with the descriptors
//                     TAG_ATTACH and TAG_PRESERVE refer to (SCM_RIGHTS), then the one-byte
//                     control messages CTL_* (native/helper/protocol.json says who sends
//                     which, when, and what follows it).
// The workload's exit status becomes init's: status, or 128+N for a death by signal N.
#include "init.h"

void fail(const char *fmt, ...) {
  char msg[1024];
  msg[0] = CTL_FAILED;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg + 1, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof msg - 2) n = sizeof msg - 2;
  (void)send(CTL_FD, msg, (size_t)n + 1, MSG_NOSIGNAL);
  _exit(125);
}

enum event { EV_START = 1, EV_SIGNAL = 2 };

// Waits on the control socket and the signalfd. Returns EV_START (the runtime's start), EV_SIGNAL with *out
// filled (a signal; without out, a held container ends on any signal but SIGCHLD, SIGWINCH and
// SIGCONT), or 0 when the control socket hung up or sent anything else.
static int next_event(int sfd, struct signalfd_siginfo *out) {
  for (;;) {
    struct pollfd p[2] = {{CTL_FD, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 0;
    }
    if (p[1].revents & (POLLNVAL | POLLERR)) return 0;  // no signalfd: nothing to wait with
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
      if (out) {
        *out = si;
        return EV_SIGNAL;
      }
      if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH && si.ssi_signo != SIGCONT) _exit(128 + (int)si.ssi_signo);
      continue;
    }
    if (p[0].revents) {
      ssize_t n = recv(CTL_FD, state_msg, sizeof state_msg, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 1 || state_msg[0] != CTL_START || out) return 0;
      // The state for the startContainer hooks follows the start byte.
      state_len = (size_t)n - 1;
      memmove(state_msg, state_msg + 1, state_len);
      return EV_START;
    }
  }
}

// Kills every descendant (they are our children, as we are their subreaper) until none is left.
static void kill_descendants(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  for (;;) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;  // no /proc to find them in: the runtime's delete ends the cgroup
    {
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      buf[n > 0 ? n : 0] = 0;
      for (char *p = buf; *p;) {
        long pid = strtol(p, &p, 10);
        if (pid > 0) kill((pid_t)pid, SIGKILL);
        while (*p == ' ' || *p == '\n') p++;
      }
    }
    if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD) return;
  }
}

// Exits with the workload's status. As PID 1 the kernel ends the namespace with us;
// otherwise (a joined PID namespace) we end what the workload left first.
static void end(int status) __attribute__((noreturn));
static void end(int status) {
  if (getpid() != 1) kill_descendants();
  _exit(status);
}

static int forward_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

struct config cfg = {.cwd = "/", .new_umask = 022};

// The configuration and its descriptors, in one message from the runtime.
static struct reader receive_config(void) {
  static uint8_t buf[1 << 20];
  struct iovec iov = {buf, sizeof buf};
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(64 * sizeof(int))];
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
  ssize_t n = recvmsg(CTL_FD, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) _exit(125);  // the runtime went away before configuring us
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t j = 0; j < k && cfg.npassed < 64; j++) memcpy(&cfg.passed[cfg.npassed++], CMSG_DATA(c) + j * sizeof(int), sizeof(int));
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) fail("config: message truncated");
  // The received descriptors took the lowest free numbers, LISTENER_FD's among them: move
  // any there away, so that freeing the slot for the listener does not close it.
  for (int j = 0; j < cfg.npassed; j++) {
    if (cfg.passed[j] != LISTENER_FD) continue;
    cfg.passed[j] = fcntl(LISTENER_FD, F_DUPFD_CLOEXEC, LISTENER_FD + 1);
    if (cfg.passed[j] < 0) fail("config: move descriptor: %s", strerror(errno));
    close(LISTENER_FD);
  }
  return (struct reader){buf, buf + n};
}

// TAG_PRESERVE: a received descriptor that becomes one of the workload's.
static void record_preserve(struct reader *fr) {
  struct reader f = *fr;
  uint32_t index = rd_u32(&f), target = rd_u32(&f);
  if (index >= (uint32_t)cfg.npassed || cfg.passed[index] < 0) fail("config: no descriptor %u to preserve", index);
  if (npreserve >= 64 || target < 3) fail("config: cannot preserve descriptor %u as %u", index, target);
  preserve_src[npreserve] = cfg.passed[index];
  preserve_dst[npreserve++] = (int)target;
  cfg.passed[index] = -1;
}

// TAG_RLIMIT: a resource limit the workload gets.
static void record_rlimit(struct reader *fr) {
  struct reader f = *fr;
  if (cfg.nrlimits >= 16) fail("config: too many rlimits");
  cfg.rlimits[cfg.nrlimits].resource = (int)rd_u32(&f);
  uint64_t soft = rd_u32(&f);
  soft |= (uint64_t)rd_u32(&f) << 32;
  uint64_t hard = rd_u32(&f);
  hard |= (uint64_t)rd_u32(&f) << 32;
  cfg.rlimits[cfg.nrlimits].limit.rlim_cur = soft;
  cfg.rlimits[cfg.nrlimits].limit.rlim_max = hard;
  cfg.nrlimits++;
}

// TAG_USER and TAG_CAPS: the workload's ids and capability sets.
static void record_user(struct reader *f) {
  struct creds *c = &cfg.creds;
  c->set = 1;
  c->uid = rd_u32(f);
  c->gid = rd_u32(f);
  c->ngroups = rd_u32(f);
  if (c->ngroups > 64) fail("config: more than 64 additional groups");
  for (uint32_t j = 0; j < c->ngroups; j++) c->groups[j] = rd_u32(f);
}

static void record_caps(struct reader *f) {
  struct creds *c = &cfg.creds;
  c->caps_set = 1;
  c->bounding = rd_u64(f);
  c->effective = rd_u64(f);
  c->permitted = rd_u64(f);
  c->inheritable = rd_u64(f);
  c->ambient = rd_u64(f);
}

// Every record, in order: the tree's are carried out as they come, the rest kept in cfg.
static void apply_records(struct reader r) {
  while (r.p < r.end) {
    uint32_t tag = rd_u32(&r), len = rd_u32(&r);
    if ((size_t)(r.end - r.p) < len) fail("config: record %u overruns", tag);
    struct reader f = {r.p, r.p + len};
    r.p += len;
    switch (tag) {
      case TAG_ARG:
        if (cfg.argc >= 1023) fail("config: too many arguments");
        cfg.argv[cfg.argc++] = (char *)rd_str(&f);
        break;
      case TAG_ENV:
        if (cfg.envc >= 4095) fail("config: too many environment entries");
        cfg.envp[cfg.envc++] = (char *)rd_str(&f);
        break;
      case TAG_CWD: cfg.cwd = rd_str(&f); break;
      case TAG_CHDIR_FALLBACK: cfg.cwd_fallback = (int)rd_u32(&f); break;
      case TAG_MASK_SOURCE: cfg.mask_source = rd_str(&f); break;
      case TAG_RLIMIT: record_rlimit(&f); break;
      case TAG_LOOPBACK_UP: loopback_up(); break;
      case TAG_HOSTNAME: {
        const char *h = rd_str(&f);
        if (sethostname(h, strlen(h)) < 0) fail("sethostname %s: %s", h, strerror(errno));
        break;
      }
      case TAG_DOMAINNAME: {
        const char *d = rd_str(&f);
        if (setdomainname(d, strlen(d)) < 0) fail("setdomainname %s: %s", d, strerror(errno));
        break;
      }
      case TAG_FILTER:
        if (len % sizeof(struct sock_filter) != 0 || len == 0) fail("config: bad filter length");
        cfg.filter = (const struct sock_filter *)f.p;
        cfg.filter_len = len / sizeof(struct sock_filter);
        break;
      case TAG_FILTER_FLAGS: cfg.filter_flags = rd_u32(&f); break;
      case TAG_MOUNT: record_mount(&f); break;
      case TAG_SETATTR: {
        unsigned set = rd_u32(&f), clr = rd_u32(&f), rec = rd_u32(&f), optional = rd_u32(&f);
        const char *path = rd_str(&f);
        if (sys_mount_setattr(path, set, clr, (int)rec) < 0 && !(optional && errno == ENOENT))
          fail("mount_setattr %s: %s", path, strerror(errno));
        break;
      }
      case TAG_MKDIR: {
        mode_t mode = rd_u32(&f);
        const char *path = rd_str(&f);
        if (inroot_mkdir(path, mode) < 0) fail("mkdir %s: %s", path, strerror(errno));
        break;
      }
      case TAG_MKFILE: {
        mode_t mode = rd_u32(&f);
        const char *path = rd_str(&f);
        if (inroot_mkfile(path, mode) < 0) fail("create %s: %s", path, strerror(errno));
        break;
      }
      case TAG_WRITEFILE: record_writefile(&f); break;
      case TAG_SYSCTL: record_sysctl(&f); break;
      case TAG_WHITEOUT: {
        const char *path = rd_str(&f);
        if (mknod(path, S_IFCHR | 0, makedev(0, 0)) < 0 && errno != EEXIST)
          fail("whiteout %s: %s", path, strerror(errno));
        break;
      }
      case TAG_SYMLINK: {
        const char *target = rd_str(&f), *link = rd_str(&f);
        if (inroot_symlink(target, link) < 0) fail("symlink %s: %s", link, strerror(errno));
        break;
      }
      case TAG_HIDE: record_hide(&f); break;
      case TAG_ATTACH: record_attach(&f); break;
      case TAG_ROOT: {
        const char *root = rd_str(&f);
        int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) fail("open the container's root %s: %s", root, strerror(errno));
        inroot_set(root, fd);
        break;
      }
      case TAG_PIVOT: record_pivot(&f); break;
      case TAG_HOOK: rd_hook(&f); break;
      case TAG_EXEC_IN_PLACE: cfg.exec_in_place = 1; break;
      case TAG_PRESERVE: record_preserve(&f); break;
      case TAG_HOLD: cfg.hold = 1; break;
      case TAG_KEEP_PRIVS: cfg.keep_privs = 1; break;
      case TAG_UMASK:
        cfg.new_umask = (mode_t)rd_u32(&f);
        cfg.umask_set = 1;
        break;
      case TAG_USER: record_user(&f); break;
      case TAG_CAPS: record_caps(&f); break;
      default:
        fail("config: unknown record %u", tag);
    }
  }
}

// After the records: what they must have said; a held container's program must be findable.
static void check_config(void) {
  for (int j = 0; j < cfg.npassed; j++)
    if (cfg.passed[j] >= 0) close(cfg.passed[j]);
  if (cfg.argc == 0) fail("config: no command");
  if (cfg.exec_in_place && (!cfg.hold || getpid() != 1)) fail("config: execInPlace without hold, or not PID 1");
  if (!cfg.filter) fail("config: no seccomp filter");
  cfg.argv[cfg.argc] = NULL;
  cfg.envp[cfg.envc] = NULL;
  if (cfg.hold) {
    int e = findable(cfg.argv[0], cfg.envp);
    if (e == ENOENT) fail("exec: \"%s\": executable file not found in $PATH", cfg.argv[0]);
    if (e) fail("exec: \"%s\": %s", cfg.argv[0], strerror(e));
  }
}

// The filter, installed while the runtime watches: it takes the listener (fd 4) before init
// goes on. The signals init forwards are blocked first (sigprocmask may be trapped later).
static void install_filter(sigset_t *all) {
  // The workload must never gain privileges through exec, and the filter requires it
  // unless we hold CAP_SYS_ADMIN (an OCI process with noNewPrivileges false).
  if (!cfg.keep_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs: %s", strerror(errno));
  sigemptyset(all);
  sigaddset(all, SIGCHLD);
  for (size_t i = 0; i < sizeof forward_signals / sizeof *forward_signals; i++) sigaddset(all, forward_signals[i]);
  sigprocmask(SIG_BLOCK, all, NULL);
  // fd 4 must be free so the listener lands there.
  close(LISTENER_FD);
  if (send(CTL_FD, (char[]){CTL_FILTER_READY}, 1, MSG_NOSIGNAL) != 1) _exit(125);
  struct sock_fprog prog = {.len = (unsigned short)cfg.filter_len, .filter = (struct sock_filter *)cfg.filter};
  long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | cfg.filter_flags, &prog);
  if (lfd < 0) fail("seccomp: %s", strerror(errno));
  if (lfd != LISTENER_FD) fail("seccomp listener on fd %ld, expected %d", lfd, LISTENER_FD);
  // From here on every syscall obeys the filter (and may be trapped to the sentry).
  char ack = 0;
  if (recv(CTL_FD, &ack, 1, 0) != 1 || ack != CTL_LISTENER_TAKEN) _exit(125);
  close(LISTENER_FD);
}

// Created (TAG_HOLD): the workload waits for start, then the startContainer hooks run. The
// runtime's monitor holds the other end for the container's life: its hangup (the monitor
// died) ends the container, and so does a signal sent before start. Returns the signalfd
// init then waits on.
static int await_start(const sigset_t *all) {
  int sfd = signalfd(-1, all, SFD_CLOEXEC);
  if (sfd < 0) fail("signalfd: %s", strerror(errno));
  if (next_event(sfd, 0) != EV_START) _exit(125);
  char msg[1000];
  if (run_hooks(1, msg, sizeof msg) < 0) {
    char e[1001];
    int n = snprintf(e, sizeof e, "%c%s", CTL_FAILED, msg);
    (void)!send(CTL_FD, e, (size_t)(n < (int)sizeof e ? n : (int)sizeof e - 1), MSG_NOSIGNAL);
    _exit(125);
  }
  return sfd;
}

// The workload's process.
static pid_t start_child(const sigset_t *all) {
  // In a PID namespace joined by path (a pod's), init is not its PID 1: what the workload
  // leaves behind becomes ours, and ends with us (end()).
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) fail("subreaper: %s", strerror(errno));
  workload_parent = getpid();
  pid_t child = fork();
  if (child < 0) fail("fork: %s", strerror(errno));
  if (child == 0) {
    close(CTL_FD);
    sigprocmask(SIG_UNBLOCK, all, NULL);
    start_workload(cfg.argv, cfg.envp, cfg.cwd, cfg.cwd_fallback, cfg.rlimits, cfg.nrlimits, cfg.umask_set, cfg.new_umask, &cfg.creds);
  }
  if (!cfg.hold) close(CTL_FD);
  else (void)!send(CTL_FD, (char[]){CTL_STARTED}, 1, MSG_NOSIGNAL);
  for (int i = 0; i < npreserve; i++) close(preserve_src[i]);
  return child;
}

// Forwards signals to the workload and reaps until it exits; its status becomes init's.
static void supervise(pid_t child, int sfd, const sigset_t *all) __attribute__((noreturn));
static void supervise(pid_t child, int sfd, const sigset_t *all) {
  for (;;) {
    siginfo_t si;
    int sig;
    if (cfg.hold) {
      struct signalfd_siginfo ssi;
      if (next_event(sfd, &ssi) != EV_SIGNAL) end(125);  // the monitor is gone: fail closed
      sig = (int)ssi.ssi_signo;
      si.si_code = ssi.ssi_code;
    } else {
      sig = sigwaitinfo(all, &si);
    }
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      // A terminal's SIGINT/SIGQUIT/SIGWINCH (SI_KERNEL) reached the whole foreground
      // process group, the workload included: forward only what was sent to us.
      if (si.si_code != SI_KERNEL) kill(child, sig);
      continue;
    }
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
      if (p != child) continue;
      // The workload is done: exiting tears the PID namespace down with it.
      if (WIFEXITED(status)) end(WEXITSTATUS(status));
      if (WIFSIGNALED(status)) end(128 + WTERMSIG(status));
    }
  }
}

// execInPlace: this process becomes the program, with the signals it blocked for the wait
// unblocked (what arrived meanwhile and was not for a held container's end is the
// program's, under the kernel's rules for a PID 1).
static void exec_in_place(int sfd, const sigset_t *all) __attribute__((noreturn));
static void exec_in_place(int sfd, const sigset_t *all) {
  close(sfd);
  sigprocmask(SIG_UNBLOCK, all, NULL);
  (void)!send(CTL_FD, (char[]){CTL_STARTED}, 1, MSG_NOSIGNAL);
  close(CTL_FD);
  start_workload(cfg.argv, cfg.envp, cfg.cwd, cfg.cwd_fallback, cfg.rlimits, cfg.nrlimits, cfg.umask_set, cfg.new_umask, &cfg.creds);
}

int main(int argc, char** argv) {
  // The same binary is the binder of a confined sentry (binder.c), by its name.
  if (argc > 0 && strcmp(argv[0], "runsc-ts-binder") == 0) return binder_main();
  // Exec'd from a memfd, our name would be "memfd:…": ps and /proc/1/comm say what we are.
  prctl(PR_SET_NAME, "runsc-ts-init", 0, 0, 0);
  apply_records(receive_config());
  check_config();
  sigset_t all;
  install_filter(&all);
  int sfd = cfg.hold ? await_start(&all) : -1;
  if (cfg.exec_in_place) exec_in_place(sfd, &all);
  supervise(start_child(&all), sfd, &all);
}
