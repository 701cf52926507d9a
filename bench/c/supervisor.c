// The C reference for the sentry's trap path: a minimal seccomp user-notify supervisor
// (seccomp_unotify(2)) that runs one command with one syscall trapped, so that the
// benchmark can set runsc-ts's round trip against what the kernel mechanism itself costs.
//
//   supervisor [--trap getppid|openat|none] [--cpu N] [--no-sync-wakeup] [--poll]
//              -- PROG [ARGS...]
//
// The child sets NO_NEW_PRIVS, installs a filter returning SECCOMP_RET_USER_NOTIF for the
// trapped syscall (SECCOMP_FILTER_FLAG_NEW_LISTENER), passes the listener to the parent
// over a unix socket (SCM_RIGHTS) and execs PROG. The parent loops RECV / SEND:
//   getppid  answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE (a pure round trip);
//   openat   performed by the supervisor and the fd injected with ADDFD + FLAG_SEND,
//            the way the sentry emulates it (bounded path read with process_vm_readv,
//            ID_VALID, dirfd through /proc/PID/fd or /proc/PID/cwd);
//   none     an allow-all filter without a listener (the cost of having a filter).
// By default nothing is pinned and SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP is set where the
// kernel has it (Linux 6.6), as the sentry does. --poll waits in poll(2) on the listener
// and a pidfd before each RECV, as the sentry's receive does; the default blocks in RECV.
// Exits with PROG's status (128+N for a signal); a summary goes to stderr.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// include/uapi/linux/seccomp.h, Linux 6.6; older userspace headers lack them.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
// Linux 5.14.
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

#define PATH_MAX_BYTES 4096

enum trap { TRAP_NONE, TRAP_GETPPID, TRAP_OPENAT };

static void die(const char* what) {
  fprintf(stderr, "supervisor: %s: %s\n", what, strerror(errno));
  exit(125);
}

static void usage(void) {
  fprintf(stderr,
          "usage: supervisor [--trap getppid|openat|none] [--cpu N] [--no-sync-wakeup] [--poll] -- PROG [ARGS...]\n");
  exit(125);
}

// Child side: filter, hand over the listener, exec. Only what exec needs afterwards.
static void child(int sock, enum trap trap, char** argv) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die("PR_SET_PDEATHSIG");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("PR_SET_NO_NEW_PRIVS");
  int nr = trap == TRAP_OPENAT ? SYS_openat : SYS_getppid;
  struct sock_filter insns[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, trap == TRAP_NONE ? SECCOMP_RET_ALLOW : SECCOMP_RET_USER_NOTIF),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof insns / sizeof insns[0], .filter = insns};
  unsigned flags = trap == TRAP_NONE ? 0 : SECCOMP_FILTER_FLAG_NEW_LISTENER;
  long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (listener < 0) die("seccomp(SECCOMP_SET_MODE_FILTER)");

  if (trap != TRAP_NONE) {
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    char byte = 'L';
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int lfd = (int)listener;
    memcpy(CMSG_DATA(c), &lfd, sizeof lfd);
    if (sendmsg(sock, &msg, 0) < 0) die("sendmsg(listener)");
    close(lfd);
  }
  close(sock);
  execvp(argv[0], argv);
  fprintf(stderr, "supervisor: exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static int recv_listener(int sock) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  char byte;
  struct iovec iov = {&byte, 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) return -1;  // the child failed before sending; it reported why
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// The child is reaped by a watcher thread so that the hot loop stays RECV + SEND only;
// the watcher then interrupts a RECV that is still blocked.
static pid_t g_child;
static pthread_t g_main;
static atomic_int g_done;
static int g_status;

static void on_wake(int sig) { (void)sig; }

static void* watcher(void* arg) {
  (void)arg;
  int st;
  while (waitpid(g_child, &st, 0) < 0 && errno == EINTR) {
  }
  g_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  atomic_store(&g_done, 1);
  for (;;) {
    pthread_kill(g_main, SIGUSR1);
    usleep(1000);
    if (atomic_load(&g_done) == 2) return NULL;
  }
}

// Reads a NUL-terminated string of at most PATH_MAX_BYTES from the task, page by page
// (a path may end just before an unmapped page). Length, or -errno.
static long read_path(pid_t pid, uint64_t addr, char* out) {
  size_t got = 0;
  while (got < PATH_MAX_BYTES) {
    uint64_t at = addr + got;
    size_t chunk = 4096 - (size_t)(at & 4095);
    if (chunk > PATH_MAX_BYTES - got) chunk = PATH_MAX_BYTES - got;
    struct iovec local = {out + got, chunk};
    struct iovec remote = {(void*)at, chunk};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) return n < 0 ? -errno : -EFAULT;
    char* nul = memchr(out + got, 0, (size_t)n);
    if (nul) return nul - out;
    got += (size_t)n;
  }
  return -ENAMETOOLONG;
}

// Paths that name the reader (/proc/self, /dev/fd/N): left to the kernel, as the sentry does.
static int per_reader(const char* p) {
  return strncmp(p, "/proc/self", 10) == 0 || strncmp(p, "/proc/thread-self", 17) == 0 ||
         strncmp(p, "/dev/fd/", 8) == 0 || strncmp(p, "/dev/std", 8) == 0;
}

static int reply(int listener, uint64_t id, int64_t val, int err, uint32_t flags) {
  struct seccomp_notif_resp resp = {.id = id, .val = val, .error = err, .flags = flags};
  return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

// openat(dirfd, path, flags, mode) performed for the task; the fd injected atomically.
static void emulate_openat(int listener, const struct seccomp_notif* req, char* path) {
  uint64_t id = req->id;
  long len = read_path((pid_t)req->pid, req->data.args[1], path);
  if (len < 0) {
    reply(listener, id, 0, len == -ENAMETOOLONG ? -ENAMETOOLONG : -EFAULT, 0);
    return;
  }
  if (per_reader(path)) {
    reply(listener, id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
    return;
  }
  // The path is only trusted once the task is known to still be waiting (seccomp_unotify(2)).
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return;
  int dirfd = (int)req->data.args[0];
  int dir = AT_FDCWD;
  if (path[0] != '/') {
    char proc[64];
    if (dirfd == AT_FDCWD) snprintf(proc, sizeof proc, "/proc/%u/cwd", req->pid);
    else snprintf(proc, sizeof proc, "/proc/%u/fd/%d", req->pid, dirfd);
    dir = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
      reply(listener, id, 0, dirfd == AT_FDCWD ? -ESRCH : -EBADF, 0);
      return;
    }
  }
  int flags = (int)req->data.args[2];
  int fd = openat(dir, path, flags | O_CLOEXEC, (mode_t)req->data.args[3]);
  int err = errno;
  if (dir >= 0) close(dir);
  if (fd < 0) {
    reply(listener, id, 0, -err, 0);
    return;
  }
  struct seccomp_notif_addfd a = {
      .id = id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)fd, .newfd_flags = (uint32_t)(flags & O_CLOEXEC)};
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 && errno != ENOENT) reply(listener, id, 0, -errno, 0);
  close(fd);
}

int main(int argc, char** argv) {
  enum trap trap = TRAP_GETPPID;
  int cpu = -1, sync_wakeup = 1, use_poll = 0, i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--trap") == 0 && i + 1 < argc) {
      const char* t = argv[++i];
      if (strcmp(t, "getppid") == 0) trap = TRAP_GETPPID;
      else if (strcmp(t, "openat") == 0) trap = TRAP_OPENAT;
      else if (strcmp(t, "none") == 0) trap = TRAP_NONE;
      else usage();
    } else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
      cpu = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--no-sync-wakeup") == 0) {
      sync_wakeup = 0;
    } else if (strcmp(argv[i], "--poll") == 0) {
      use_poll = 1;
    } else {
      usage();
    }
  }
  if (i >= argc) usage();

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) die("sched_setaffinity");
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
  // Block SIGUSR1 until the handler is installed, then only the main thread takes it.
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, &old);
  g_child = fork();
  if (g_child < 0) die("fork");
  if (g_child == 0) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[0]);
    child(sv[1], trap, argv + i);
  }
  close(sv[1]);
  int listener = trap == TRAP_NONE ? -1 : recv_listener(sv[0]);
  close(sv[0]);

  const char* wake = "n/a";
  if (listener >= 0) {
    wake = "off";
    if (sync_wakeup) {
      wake = ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0
                 ? "on"
                 : "unsupported";
    }
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_wake;  // no SA_RESTART: a blocked RECV returns EINTR
  sigaction(SIGUSR1, &sa, NULL);
  g_main = pthread_self();
  pthread_t w;
  if (pthread_create(&w, NULL, watcher, NULL) != 0) die("pthread_create");
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  int pidfd = (int)syscall(SYS_pidfd_open, g_child, 0);
  long events = 0;
  static struct seccomp_notif req;
  static char path[PATH_MAX_BYTES + 1];
  while (listener >= 0 && !atomic_load(&g_done)) {
    if (use_poll) {
      struct pollfd p[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
      if (poll(p, pidfd >= 0 ? 2 : 1, -1) < 0) {
        if (errno == EINTR) continue;
        die("poll");
      }
      if (!(p[0].revents & POLLIN)) break;
    }
    memset(&req, 0, sizeof req);  // RECV requires a zeroed struct
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      die("SECCOMP_IOCTL_NOTIF_RECV");
    }
    events++;
    if (trap == TRAP_OPENAT && req.data.nr == SYS_openat) emulate_openat(listener, &req, path);
    else reply(listener, req.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
  }
  while (!atomic_load(&g_done)) pause();
  atomic_store(&g_done, 2);
  pthread_join(w, NULL);
  fprintf(stderr, "supervisor: trap=%s events=%ld sync_wakeup=%s poll=%s cpu=%d\n",
          trap == TRAP_NONE ? "none" : trap == TRAP_OPENAT ? "openat" : "getppid", events, wake, use_poll ? "yes" : "no",
          cpu);
  return g_status;
}
