// runsc-ts-init: the sandbox's PID 1. Builds the mount tree, installs the seccomp filter
// the sentry compiled, starts the workload, forwards signals and reaps orphans.
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
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <poll.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inroot.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

enum { CTL_FD = 3, LISTENER_FD = 4 };

// Record tags and control bytes: native/helper/protocol.json, as the build generates them.
#include "protocol.h"

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *fmt, ...) {
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

struct reader {
  const uint8_t *p, *end;
};

static uint32_t rd_u32(struct reader *r) {
  if (r->end - r->p < 4) fail("config: truncated record");
  uint32_t v;
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static const char *rd_str(struct reader *r) {
  const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!nul) fail("config: unterminated string");
  const char *s = (const char *)r->p;
  r->p = nul + 1;
  return s;
}

// mount_setattr(2) on the mount at path (beneath the container's root: resolved in it).
static int sys_mount_setattr(const char *path, unsigned set, unsigned clr, int recursive) {
  struct {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
  } attr = {set, clr, 0, 0};
  int fd = inroot_open(path, 0);
  if (fd < 0) return -1;
  int r = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0),
                       &attr, sizeof attr);
  int err = errno;
  close(fd);
  errno = err;
  return r;
}

// A mount's source or target as mount(2) takes it: beneath the container's root, the
// descriptor of the path resolved in it (/proc/self/fd/N, in buf; *fd is closed by the
// caller), elsewhere the path as given. NULL with errno when it cannot be opened.
static const char *mount_path(const char *path, int *fd, char *buf, size_t len) {
  *fd = -1;
  if (inroot_rel(path) == NULL) return path;
  *fd = inroot_open(path, 0);
  return *fd < 0 ? NULL : fd_path(*fd, buf, len);
}

static void do_pivot(const char *root) {
  if (chdir(root) < 0) fail("chdir %s: %s", root, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root %s: %s", root, strerror(errno));
  // The old root is now stacked under the new one at "/": detach it.
  if (umount2(".", MNT_DETACH) < 0) fail("detach old root: %s", strerror(errno));
  if (chdir("/") < 0) fail("chdir /: %s", strerror(errno));
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail("socket: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail("lo: SIOCGIFFLAGS: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail("lo: SIOCSIFFLAGS: %s", strerror(errno));
  close(s);
}

// process.user and process.capabilities, applied just before exec.
struct creds {
  int set;
  uint32_t uid, gid, ngroups;
  gid_t groups[64];
  int caps_set;
  uint64_t bounding, effective, permitted, inheritable, ambient;
};

static uint64_t rd_u64(struct reader *r) {
  uint64_t lo = rd_u32(r);
  return lo | (uint64_t)rd_u32(r) << 32;
}

// Returns 0, or -1 with a message on stderr (the workload's): we are past setup here.
static int apply_creds(const struct creds *c) {
  if (c->caps_set) {
    for (int cap = 0; cap < 64; cap++)
      if (!(c->bounding >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
        fprintf(stderr, "runsc-ts: drop capability %d from the bounding set: %s\n", cap, strerror(errno));
        return -1;
      }
    // Keep the permitted set across the change of uid; capset below narrows it.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return -1;
  }
  if (c->set) {
    // Raw syscalls: this process has one thread, and glibc's wrappers may broadcast.
    if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0) {
      fprintf(stderr, "runsc-ts: setgroups: %s\n", strerror(errno));
      return -1;
    }
    if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 || syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0) {
      fprintf(stderr, "runsc-ts: set uid %u gid %u: %s\n", c->uid, c->gid, strerror(errno));
      return -1;
    }
  }
  if (c->caps_set) {
    struct {
      uint32_t version;
      int pid;
    } head = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    struct {
      uint32_t effective, permitted, inheritable;
    } data[2] = {{(uint32_t)c->effective, (uint32_t)c->permitted, (uint32_t)c->inheritable},
                 {(uint32_t)(c->effective >> 32), (uint32_t)(c->permitted >> 32), (uint32_t)(c->inheritable >> 32)}};
    if (syscall(SYS_capset, &head, data) < 0) {
      fprintf(stderr, "runsc-ts: capset: %s\n", strerror(errno));
      return -1;
    }
    // An ambient capability needs to be permitted and inheritable: one that is not (runc's
    // default spec lists ambient capabilities without inheritable ones) stays down, as under
    // runc, which only warns in its log.
    for (int cap = 0; cap < 64; cap++)
      if ((c->ambient >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM) {
        fprintf(stderr, "runsc-ts: raise ambient capability %d: %s\n", cap, strerror(errno));
        return -1;
      }
  }
  return 0;
}

// execvp's lookup, done at setup so that a missing program fails create, as runc's does
// (TAG_HOLD: an OCI container).
static int findable(const char *file, char *const envp[]) {
  if (strchr(file, '/')) return access(file, X_OK) == 0 ? 0 : errno;
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (char *const *e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  int found = ENOENT;
  while (*path) {
    const char *end = strchrnul(path, ':');
    char full[4096];
    int n = snprintf(full, sizeof full, "%.*s/%s", (int)(end - path), end == path ? "." : path, file);
    if (n > 0 && n < (int)sizeof full) {
      if (access(full, X_OK) == 0) return 0;
      if (errno == EACCES) found = EACCES;
    }
    path = *end ? end + 1 : end;
  }
  return found;
}

struct rlimit_rec {
  int resource;
  struct rlimit limit;
};

// OCI hooks that run in the container (config.md): createContainer before pivot_root,
// startContainer after start, before the program. Each gets the state JSON on stdin.
enum { MAX_HOOKS = 16, MAX_HOOK_ARGS = 64, MAX_HOOK_ENV = 256 };
struct hook {
  const char *path;
  unsigned timeout;
  char *argv[MAX_HOOK_ARGS + 1];
  char *envp[MAX_HOOK_ENV + 1];
};
static struct hook hooks[2][MAX_HOOKS];
static int nhooks[2];
static const char *const hook_kind[2] = {"createContainer", "startContainer"};

// What the runtime sent with "C" or "R": the container's state, for the hooks.
static char state_msg[1 << 18];
static size_t state_len;

static void rd_hook(struct reader *f) {
  uint32_t phase = rd_u32(f);
  if (phase > 1) fail("config: hook phase %u", phase);
  if (nhooks[phase] >= MAX_HOOKS) fail("config: more than %d %s hooks", MAX_HOOKS, hook_kind[phase]);
  struct hook *h = &hooks[phase][nhooks[phase]++];
  h->timeout = rd_u32(f);
  uint32_t nargs = rd_u32(f), nenv = rd_u32(f);
  if (nargs > MAX_HOOK_ARGS || nenv > MAX_HOOK_ENV) fail("config: a hook with too many arguments or variables");
  h->path = rd_str(f);
  for (uint32_t i = 0; i < nargs; i++) h->argv[i] = (char *)rd_str(f);
  h->argv[nargs] = NULL;
  for (uint32_t i = 0; i < nenv; i++) h->envp[i] = (char *)rd_str(f);
  h->envp[nenv] = NULL;
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

// Keeps the last cap bytes of what a hook wrote: what a failing hook says last says why.
static void keep_tail(char *tail, size_t *ntail, size_t cap, const char *b, size_t n) {
  size_t take = n < cap ? n : cap;
  size_t keep = *ntail + take <= cap ? *ntail : cap - take;
  memmove(tail, tail + *ntail - keep, keep);
  memcpy(tail + keep, b + n - take, take);
  *ntail = keep + take;
}

// Runs one hook with the state on its stdin; its stdout and stderr are kept for the message.
// Returns 0, or -1 with why filled in.
static int run_hook(const struct hook *h, char *why, size_t whylen) {
  int in[2], out[2];
  // A socket for stdin: a hook that does not read it must not cost us a SIGPIPE.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(out, O_CLOEXEC) < 0) {
    snprintf(why, whylen, "%s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, whylen, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(in[1], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    execve(h->path, h->argv[0] ? h->argv : (char *[]){(char *)h->path, NULL}, h->envp);
    dprintf(2, "%s", strerror(errno));
    _exit(127);
  }
  close(in[1]);
  close(out[1]);
  fcntl(in[0], F_SETFL, O_NONBLOCK);
  (void)!send(in[0], state_msg, state_len, MSG_NOSIGNAL);
  shutdown(in[0], SHUT_WR);
  char tail[512];
  size_t ntail = 0;
  long deadline = h->timeout ? now_ms() + h->timeout * 1000L : 0;
  int status = 0, timed_out = 0, open_out = 1;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (deadline && now_ms() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = 1;
      break;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    if (open_out && poll(&p, 1, 50) > 0) {
      char b[4096];
      ssize_t n = read(out[0], b, sizeof b);
      if (n <= 0) {
        open_out = 0;
        continue;
      }
      keep_tail(tail, &ntail, sizeof tail, b, (size_t)n);
    } else if (!open_out) {
      struct timespec pause = {0, 10000000};
      nanosleep(&pause, NULL);
    }
  }
  // What the hook wrote just before it ended is still in the pipe: its last words. Read it
  // without waiting, since a child the hook left behind may hold the pipe open.
  if (open_out) {
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    char b[4096];
    ssize_t n;
    while ((n = read(out[0], b, sizeof b)) > 0) keep_tail(tail, &ntail, sizeof tail, b, (size_t)n);
  }
  close(in[0]);
  close(out[0]);
  while (ntail > 0 && (tail[ntail - 1] == '\n' || tail[ntail - 1] == ' ')) ntail--;
  for (size_t i = 0; i < ntail; i++)
    if (tail[i] == '\n') tail[i] = ' ';
  char said[sizeof tail + 3] = "";
  if (ntail > 0) snprintf(said, sizeof said, ": %.*s", (int)ntail, tail);
  if (timed_out) {
    snprintf(why, whylen, "timed out after %u s%s", h->timeout, said);
    return -1;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status))
    snprintf(why, whylen, "exit status %d%s", WEXITSTATUS(status), said);
  else
    snprintf(why, whylen, "killed by signal %d%s", WTERMSIG(status), said);
  return -1;
}

// Runs a phase's hooks in order. Returns 0, or -1 with msg naming the failed hook.
static int run_hooks(int phase, char *msg, size_t msglen) {
  for (int i = 0; i < nhooks[phase]; i++) {
    char why[700];
    if (run_hook(&hooks[phase][i], why, sizeof why) < 0) {
      snprintf(msg, msglen, "hooks.%s[%d] %s: %s", hook_kind[phase], i, hooks[phase][i].path, why);
      return -1;
    }
  }
  return 0;
}

// Descriptors the runtime was asked to pass on (--preserve-fds): source here, target there.
static int preserve_src[64], preserve_dst[64], npreserve;

// In the workload: each preserved descriptor on its number, without close-on-exec.
static int place_preserved(void) {
  int above = 3;
  for (int i = 0; i < npreserve; i++)
    if (preserve_dst[i] >= above) above = preserve_dst[i] + 1;
  int tmp[64];
  // First above every target (a source may sit on another's target), then into place.
  for (int i = 0; i < npreserve; i++)
    if ((tmp[i] = fcntl(preserve_src[i], F_DUPFD_CLOEXEC, above)) < 0) return -1;
  for (int i = 0; i < npreserve; i++)
    if (dup2(tmp[i], preserve_dst[i]) < 0) return -1;
  return 0;
}

// The workload's side (init's child): limits, directory, credentials, then exec.
static int workload_subreaper;

static void start_workload(char **argv, char **envp, const char *cwd, int cwd_fallback,
                           const struct rlimit_rec *rlimits, int nrlimits, int umask_set,
                           mode_t new_umask, const struct creds *creds) {
  // Kept across exec: an init program in the container (Docker's --init, tini) sees it
  // may reap, as it would as PID 1.
  if (workload_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    fprintf(stderr, "runsc-ts: subreaper: %s\n", strerror(errno));
    _exit(125);
  }
  for (int i = 0; i < nrlimits; i++) {
    if (setrlimit(rlimits[i].resource, &rlimits[i].limit) < 0) {
      fprintf(stderr, "runsc-ts: setrlimit %d: %s\n", rlimits[i].resource, strerror(errno));
      _exit(125);
    }
  }
  if (chdir(cwd) < 0) {
    if (!cwd_fallback || chdir("/") < 0) {
      fprintf(stderr, "runsc-ts: cannot enter working directory %s: %s\n", cwd, strerror(errno));
      _exit(125);
    }
  }
  if (umask_set) umask(new_umask);
  if (place_preserved() < 0) {
    fprintf(stderr, "runsc-ts: preserved descriptors: %s\n", strerror(errno));
    _exit(125);
  }
  if (apply_creds(creds) < 0) _exit(125);
  environ = envp;
  execvp(argv[0], argv);
  int e = errno;
  fprintf(stderr, "runsc-ts: %s: %s\n", argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

// Waits on the control socket and the signalfd. Returns EV_START (the runtime's start), EV_SIGNAL with *out filled
// (a signal; without out, a held container ends on any signal but SIGCHLD, SIGWINCH and
// SIGCONT), or 0 when the control socket hung up or sent anything else.
enum event { EV_START = 1, EV_SIGNAL = 2 };

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

// Whether pid has a handler for sig (SigCgt in /proc/PID/status). Unknown: yes.
static int catches(pid_t pid, int sig) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  const char *c = strstr(buf, "\nSigCgt:");
  if (!c) return 1;
  unsigned long long mask = strtoull(c + 8, NULL, 16);
  return (mask >> (sig - 1)) & 1;
}

static int forward_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// What the configuration's records leave for the steps after them: the workload's process
// and the filter. (The tree records act at once, as they are read.)
struct config {
  char *argv[1024];
  char *envp[4096];
  int argc, envc;
  const char *cwd;
  int cwd_fallback;
  const char *mask_source;
  struct rlimit_rec rlimits[16];
  int nrlimits;
  const struct sock_filter *filter;
  unsigned filter_len, filter_flags;
  int hold, keep_privs, umask_set;
  mode_t new_umask;
  struct creds creds;
  // Descriptors received with the records, by index (TAG_ATTACH, TAG_PRESERVE); -1 once used.
  int passed[64], npassed;
};
static struct config cfg = {.cwd = "/", .new_umask = 022};

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

// TAG_MOUNT: a mount at a path resolved inside the root (inroot.h).
static void record_mount(struct reader *fr) {
  struct reader f = *fr;
  unsigned long flags = rd_u32(&f);
  unsigned optional = rd_u32(&f);
  const char *src = rd_str(&f), *dst = rd_str(&f), *fs = rd_str(&f), *data = rd_str(&f);
  // A kernel filesystem whose files are protected by path goes on the path the
  // container names, not where an image's symlink points.
  if (strcmp(fs, "proc") == 0 || strcmp(fs, "sysfs") == 0) {
    int plain = inroot_plain_dir(dst);
    if (plain < 0) fail("mount %s on %s: %s", fs, dst, strerror(errno));
    if (plain == 0) fail("mount %s on %s: must be mounted on an ordinary directory, and the image has a symlink there", fs, dst);
  }
  char sbuf[64], tbuf[64];
  int sfd = -1, tfd = -1;
  const char *source = *src ? mount_path(src, &sfd, sbuf, sizeof sbuf) : NULL;
  const char *target = (!*src || source) ? mount_path(dst, &tfd, tbuf, sizeof tbuf) : NULL;
  int r = (*src && !source) || !target ? -1 : mount(source, target, *fs ? fs : NULL, flags, *data ? data : NULL);
  int err = errno;
  if (sfd >= 0) close(sfd);
  if (tfd >= 0) close(tfd);
  if (r < 0 && !(optional == 1 && err == ENOENT) && optional != 2)
    fail("mount %s on %s (%s): %s", *src ? src : "none", dst, *fs ? fs : "bind",
         strerror(err));
}

// TAG_WRITEFILE: a file created with its content (in the staging tmpfs).
static void record_writefile(struct reader *fr) {
  struct reader f = *fr;
  mode_t mode = rd_u32(&f);
  const char *path = rd_str(&f);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("create %s: %s", path, strerror(errno));
  while (f.p < f.end) {
    ssize_t w = write(fd, f.p, (size_t)(f.end - f.p));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write %s: %s", path, strerror(w < 0 ? errno : EIO));
    f.p += w;
  }
  if (fchmod(fd, mode) < 0) fail("chmod %s: %s", path, strerror(errno));
  close(fd);
}

// TAG_SYSCTL: a value written to an existing /proc/sys file.
static void record_sysctl(struct reader *fr) {
  struct reader f = *fr;
  const char *path = rd_str(&f), *value = rd_str(&f);
  int fd = inroot_open_write(path);
  if (fd < 0) fail("sysctl %s: %s", path, strerror(errno));
  ssize_t w = write(fd, value, strlen(value));
  if (w != (ssize_t)strlen(value)) fail("sysctl %s = %s: %s", path, value, strerror(w < 0 ? errno : EIO));
  close(fd);
}

// TAG_HIDE: a file masked by the mask file, a directory by an empty read-only tmpfs.
static void record_hide(struct reader *fr) {
  struct reader f = *fr;
  const char *path = rd_str(&f);
  // A path that does not exist needs no mask (nothing to hide).
  int fd = inroot_open(path, 0);
  if (fd < 0 && errno == ENOENT) return;
  if (fd < 0) fail("hide %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) < 0) fail("hide %s: %s", path, strerror(errno));
  char tbuf[64];
  const char *target = fd_path(fd, tbuf, sizeof tbuf);
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=000,size=4k") < 0)
      fail("hide %s: %s", path, strerror(errno));
    close(fd);
    return;
  }
  if (!cfg.mask_source) fail("hide %s: no mask file configured", path);
  if (mount(cfg.mask_source, target, NULL, MS_BIND, NULL) < 0)
    fail("hide %s: %s", path, strerror(errno));
  close(fd);
  // Opened again: the descriptor above is of what the mask now covers.
  if (sys_mount_setattr(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC, 0, 0) < 0)
    fail("hide %s read-only: %s", path, strerror(errno));
}

// TAG_ATTACH: a detached mount received with the configuration, attached on a path.
static void record_attach(struct reader *fr) {
  struct reader f = *fr;
  uint32_t index = rd_u32(&f);
  const char *path = rd_str(&f);
  if (index >= (uint32_t)cfg.npassed) fail("config: no descriptor %u to attach on %s", index, path);
  int tfd = inroot_rel(path) ? inroot_open(path, 0) : AT_FDCWD;
  if (tfd == -1) fail("attach mount on %s: %s", path, strerror(errno));
  if (syscall(SYS_move_mount, cfg.passed[index], "", tfd, tfd == AT_FDCWD ? path : "",
              MOVE_MOUNT_F_EMPTY_PATH | (tfd == AT_FDCWD ? 0 : MOVE_MOUNT_T_EMPTY_PATH)) < 0)
    fail("attach mount on %s: %s", path, strerror(errno));
  if (tfd != AT_FDCWD) close(tfd);
  close(cfg.passed[index]);
  cfg.passed[index] = -1;
}

// TAG_PIVOT: the createContainer hooks (the runtime's first), then pivot_root.
static void record_pivot(struct reader *fr) {
  struct reader f = *fr;
  const char *root = rd_str(&f);
  if (nhooks[0] > 0) {
    // The runtime's prestart and createRuntime hooks come first, then ours, here: in
    // the container's mount namespace, before pivot_root.
    if (send(CTL_FD, (char[]){CTL_PAUSED_FOR_HOOKS}, 1, MSG_NOSIGNAL) != 1) _exit(125);
    ssize_t n = recv(CTL_FD, state_msg, sizeof state_msg, 0);
    if (n < 1 || state_msg[0] != CTL_CREATE_HOOKS) _exit(125);
    state_len = (size_t)n - 1;
    memmove(state_msg, state_msg + 1, state_len);
    char msg[1000];
    if (run_hooks(0, msg, sizeof msg) < 0) fail("%s", msg);
  }
  do_pivot(root);
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
      case TAG_SUBREAPER: workload_subreaper = 1; break;
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
      // process group, the workload included: forward only what was sent to us. An OCI
      // container's program gets what its PID 1 would: only the signals it catches.
      if (si.si_code != SI_KERNEL && (!cfg.hold || catches(child, sig))) kill(child, sig);
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

int main(void) {
  // Exec'd from a memfd, our name would be "memfd:…": ps and /proc/1/comm say what we are.
  prctl(PR_SET_NAME, "runsc-ts-init", 0, 0, 0);
  apply_records(receive_config());
  check_config();
  sigset_t all;
  install_filter(&all);
  int sfd = cfg.hold ? await_start(&all) : -1;
  supervise(start_child(&all), sfd, &all);
}
