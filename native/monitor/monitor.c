// A container's monitor before anything needs its sentry (runsc/oci/monitor.ts is the
// monitor in full). create starts this instead of Node: an idle container then costs this
// process (a few hundred KiB) where Node holds ~9 MiB. It does what an idle container's
// monitor does, on descriptors alone:
//
//   * takes init's descriptors (the `init` request on the container's socket) and answers
//     `start` (init's control socket: the start byte and the OCI state, then init's answer);
//   * answers the trapped credential changes, which need no sentry yet (sentry/gate.ts:
//     the same list, given by create);
//   * ends with init (its pidfd), when no task uses the filter any more, when create went
//     away before handing init over, or with the process it is tied to (`run`).
//
// Anything else (a trapped call that needs the sentry, exec's `adopt`, a request it does
// not read as create and start write them) and this process becomes the monitor in full:
// it execs Node (through the descriptor it opened before confining itself, the one exec its
// filter lets through) with what it holds, and Node carries on (monitor.ts: resume=,
// first=, conn=, starting=). What was received and not yet answered goes with it.
//
// argv: CREATOR_PID TIE_PID|0 PASSED LOG_FORMAT ID -- NODE_ARGV...
//   PASSED: the syscall numbers answered here (comma-separated); NODE_ARGV: the monitor's
//   Node command line, node's path first.
// Descriptors: 3 answers create (as monitor.ts does), 4 the container's socket
// (listening), 5 Node's filter (left for Node), 6 the binder's channel (Node's), 7 this
// process's filter: Node's and the exec of descriptor 7 (read to its end; descriptor 7 is
// then node's executable).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define READY_FD 3
#define SOCKET_FD 4
#define STUB_FILTER_FD 7
#define NODE_FD 7
// How long a request's line may take to come whole before Node reads it instead.
#define REQUEST_WAIT_MS 100
// How long create may take to hand init over (monitor.ts: INIT_WAIT_MS).
#define INIT_WAIT_MS 60000
#define CREATOR_CHECK_MS 50
#define GATE_BURST 256

extern char** environ;

static char** node_argv;
static int node_argc;
static const char* log_format = "text";
static const char* container_id = "";
static uint32_t passed[64];
static int npassed;

// init, once handed over.
static struct {
  int served;
  int pid, pidfd, listener, control, start, mountinfo;
} init = {0, 0, -1, -1, -1, -1, -1};
// A start whose answer from init is awaited: the command's connection.
static int starting = -1;

static void log_error(const char* msg) {
  char line[1024];
  int n;
  if (strcmp(log_format, "json") == 0) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    // msg holds no character JSON must escape: the messages below are ours.
    n = snprintf(line, sizeof line, "{\"level\":\"error\",\"msg\":\"container %s: %s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"}\n", container_id, msg, tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
  } else {
    n = snprintf(line, sizeof line, "runsc-ts: container %s: %s\n", container_id, msg);
  }
  if (n > 0) (void)!write(2, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

// Fail closed: init (and the container with it) goes with its sentry.
static void fail_closed(const char* msg) __attribute__((noreturn));
static void fail_closed(const char* msg) {
  if (init.pidfd >= 0) syscall(SYS_pidfd_send_signal, init.pidfd, SIGKILL, NULL, 0);
  log_error(msg);
  _exit(1);
}

// The answer line, as monitorProtocol.ts encodes it: {"ok":true}, or the error as a JSON string.
static void answer(int conn, const char* error) {
  char line[8192];
  size_t n = 0;
  if (error == NULL) {
    n = (size_t)snprintf(line, sizeof line, "{\"ok\":true}\n");
  } else {
    n = (size_t)snprintf(line, sizeof line, "{\"ok\":false,\"error\":\"");
    for (const unsigned char* c = (const unsigned char*)error; *c && n < sizeof line - 16; c++) {
      if (*c == '"' || *c == '\\') n += (size_t)snprintf(line + n, sizeof line - n, "\\%c", *c);
      else if (*c < 0x20) n += (size_t)snprintf(line + n, sizeof line - n, "\\u%04x", *c);
      else line[n++] = (char)*c;
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
  }
  (void)!send(conn, line, n, MSG_NOSIGNAL);
  close(conn);
}

static int keep(int fd) {
  if (fd < 0) return fd;
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  return fd;
}

// This process becomes the monitor in full, carrying on with what it holds: the pending
// connection conn (unread), the notification first (received, unanswered).
static void handoff(int conn, const struct seccomp_notif* first) __attribute__((noreturn));
static void handoff(int conn, const struct seccomp_notif* first) {
  char resume[128], first_arg[8 + 2 * sizeof *first], conn_arg[32], starting_arg[32];
  char** argv = calloc((size_t)node_argc + 6, sizeof *argv);
  if (argv == NULL) fail_closed("the monitor's hand-over to Node: out of memory");
  int n = 0;
  for (int i = 0; i < node_argc; i++) argv[n++] = node_argv[i];
  argv[n++] = "resumed";
  if (init.served) {
    snprintf(resume, sizeof resume, "resume=%d,%d,%d,%d,%d,%d", init.pid, keep(init.pidfd), keep(init.listener), keep(init.control), keep(init.start), keep(init.mountinfo));
    argv[n++] = resume;
  }
  if (first != NULL) {
    strcpy(first_arg, "first=");
    const unsigned char* b = (const unsigned char*)first;
    for (size_t i = 0; i < sizeof *first; i++) sprintf(first_arg + 6 + 2 * i, "%02x", b[i]);
    argv[n++] = first_arg;
  }
  if (conn >= 0) {
    snprintf(conn_arg, sizeof conn_arg, "conn=%d", keep(conn));
    argv[n++] = conn_arg;
  }
  if (starting >= 0) {
    snprintf(starting_arg, sizeof starting_arg, "starting=%d", keep(starting));
    argv[n++] = starting_arg;
  }
  argv[n] = NULL;
  syscall(SYS_execveat, (long)NODE_FD, "", argv, environ, (long)AT_EMPTY_PATH);
  char msg[128];
  snprintf(msg, sizeof msg, "the monitor could not start Node: %s", strerror(errno));
  fail_closed(msg);
}

static int is_passed(uint32_t nr) {
  for (int i = 0; i < npassed; i++)
    if (passed[i] == nr) return 1;
  return 0;
}

// The listener is readable: the credential changes answered, the first other call handed
// over. Returns 0, or -1 once no task uses the filter.
static int gate(void) {
  // At most GATE_BURST at a time: a task that changes credentials without pause must not
  // keep the container's commands (exec, start) waiting.
  for (int burst = 0; burst < GATE_BURST; burst++) {
    struct pollfd p = {init.listener, POLLIN, 0};
    int r = poll(&p, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_closed("the seccomp listener's poll failed");
    if (r == 0) return 0;
    if (p.revents & POLLIN) {
      struct seccomp_notif notif;
      memset(&notif, 0, sizeof notif);
      if (ioctl(init.listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0) {
        // The task died before it was received, or a signal came: look again.
        if (errno == ENOENT || errno == EINTR) continue;
        fail_closed("the seccomp listener failed");
      }
      if (!is_passed((uint32_t)notif.data.nr)) handoff(-1, &notif);
      struct seccomp_notif_resp resp = {.id = notif.id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
      if (ioctl(init.listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT) fail_closed("the seccomp listener failed to answer");
      continue;
    }
    if (p.revents & (POLLHUP | POLLERR)) return -1;
    return 0;
  }
  return 0;
}

// init's answer to the start is readable (or init exited: final). Returns 1 once answered.
static int start_answered(int final) {
  char buf[2048];
  ssize_t n = recv(init.control, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR) && !final) return 0;
  if (n <= 0) {
    answer(starting, "init exited before the program started");
  } else if (buf[0] == CTL_STARTED) {
    answer(starting, NULL);
  } else if (buf[0] == CTL_FAILED) {
    buf[n] = 0;
    answer(starting, buf + 1);
  } else {
    answer(starting, "init answered something else than started or failed");
  }
  starting = -1;
  return 1;
}

// A request line, peeked (left queued for Node): its length with the newline, or -1 when it
// did not come whole in time.
static ssize_t peek_line(int conn, char* buf, size_t size) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    ssize_t n = recv(conn, buf, size - 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
      buf[n] = 0;
      char* nl = memchr(buf, '\n', (size_t)n);
      if (nl != NULL) return nl - buf + 1;
      if ((size_t)n == size - 1) return -1;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return -1;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (waited >= REQUEST_WAIT_MS) return -1;
    struct pollfd p = {conn, POLLIN, 0};
    (void)!poll(&p, 1, (int)(REQUEST_WAIT_MS - waited));
  }
}

// Consumes len bytes of the request and the descriptors with them (at most max): their count.
static int take_line(int conn, size_t len, int* fds, int max) {
  char buf[65536];
  char control[CMSG_SPACE(sizeof(int) * 8)];
  int got = 0;
  size_t left = len;
  while (left > 0) {
    struct iovec iov = {buf, left < sizeof buf ? left : sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int* in = (int*)CMSG_DATA(c);
      for (int i = 0; i < k; i++) {
        if (got < max) fds[got] = in[i];
        else close(in[i]);
        got++;
      }
    }
    left -= (size_t)n;
  }
  return got;
}

// One connection on the container's socket: init and start as create and start write them
// are taken here; anything else goes to Node.
static void serve_connection(int conn) {
  static char line[65536];
  ssize_t len = peek_line(conn, line, sizeof line);
  if (len < 0) handoff(conn, NULL);
  line[len - 1] = 0;
  int pid;
  char tail[16];
  if (sscanf(line, "{\"op\":\"init\",\"pid\":%d,\"fuse\":false%15s", &pid, tail) == 2 && strcmp(tail, "}") == 0 && pid > 0) {
    if (init.served) handoff(conn, NULL);  // Node answers what is wrong with it
    int fds[4];
    int got = take_line(conn, (size_t)len, fds, 4);
    if (got != 4) {
      for (int i = 0; i < got && i < 4; i++) close(fds[i]);
      char msg[160];
      snprintf(msg, sizeof msg, "init: 4 descriptors (listener, control, start, mountinfo) must come with it, not %d", got);
      answer(conn, msg);
      return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
      char msg[64];
      snprintf(msg, sizeof msg, "process %d: errno %d", pid, errno);
      for (int i = 0; i < 4; i++) close(fds[i]);
      answer(conn, msg);
      return;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    init.served = 1;
    init.pid = pid;
    init.pidfd = pidfd;
    init.listener = fds[0];
    init.control = fds[1];
    init.start = fds[2];
    init.mountinfo = fds[3];
    answer(conn, NULL);
    return;
  }
  static const char start_prefix[] = "{\"op\":\"start\",\"state\":";
  size_t plen = sizeof start_prefix - 1;
  if (strncmp(line, start_prefix, plen) == 0 && (size_t)len - 1 > plen + 1 && line[len - 2] == '}' && starting < 0) {
    if (!init.served) handoff(conn, NULL);
    if (take_line(conn, (size_t)len, NULL, 0) != 0) {
      answer(conn, "start: no descriptor may come with it");
      return;
    }
    // The state: between the prefix and the object's closing brace.
    line[0] = CTL_START;
    size_t slen = (size_t)len - 2 - plen;
    memmove(line + 1, line + plen, slen);
    if (send(init.control, line, slen + 1, MSG_NOSIGNAL) < 0) {
      char msg[64];
      snprintf(msg, sizeof msg, "init did not take the start (errno %d)", errno);
      answer(conn, msg);
      return;
    }
    starting = conn;
    return;
  }
  handoff(conn, NULL);
}

static void read_passed(const char* list) {
  for (const char* p = list; *p && npassed < (int)(sizeof passed / sizeof passed[0]);) {
    char* end;
    unsigned long nr = strtoul(p, &end, 10);
    if (end == p) break;
    passed[npassed++] = (uint32_t)nr;
    p = *end == ',' ? end + 1 : end;
  }
}

static void confine(void) {
  static unsigned char program[65536];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(STUB_FILTER_FD, program + len, sizeof program - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(STUB_FILTER_FD);
  if (len == 0 || len % sizeof(struct sock_filter) != 0) {
    dprintf(READY_FD, "{\"ok\":false,\"error\":\"the monitor's seccomp filter did not come whole\"}\n");
    _exit(1);
  }
  // Node's executable, the one exec the filter lets through (descriptor NODE_FD, empty path).
  int node = open(node_argv[0], O_PATH | O_CLOEXEC);
  if (node < 0 || (node != NODE_FD && dup3(node, NODE_FD, O_CLOEXEC) < 0)) {
    dprintf(READY_FD, "{\"ok\":false,\"error\":\"the monitor cannot open %s: %s\"}\n", node_argv[0], strerror(errno));
    _exit(1);
  }
  if (node != NODE_FD) close(node);
  struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (struct sock_filter*)program};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
    dprintf(READY_FD, "{\"ok\":false,\"error\":\"the sentry's seccomp filter: %s\"}\n", strerror(errno));
    _exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc < 8 || strcmp(argv[6], "--") != 0) {
    fprintf(stderr, "usage: runsc-ts-monitor CREATOR TIE PASSED LOG_FORMAT ID -- NODE_ARGV...\n");
    return 2;
  }
  pid_t creator = (pid_t)atoi(argv[1]);
  int tie = atoi(argv[2]);
  read_passed(argv[3]);
  log_format = argv[4];
  container_id = argv[5];
  node_argv = argv + 7;
  node_argc = argc - 7;
  confine();
  (void)!write(READY_FD, "{\"ok\":true}\n", 12);
  close(READY_FD);

  int tiefd = -1;
  if (tie > 0) {
    tiefd = (int)syscall(SYS_pidfd_open, tie, 0);
    if (tiefd < 0) kill(getpid(), SIGKILL);
    fcntl(tiefd, F_SETFD, FD_CLOEXEC);
  }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p[5];
    int n = 0, at_sock, at_listener = -1, at_pidfd = -1, at_start = -1, at_tie = -1;
    p[at_sock = n++] = (struct pollfd){SOCKET_FD, POLLIN, 0};
    if (init.served) {
      p[at_listener = n++] = (struct pollfd){init.listener, POLLIN, 0};
      p[at_pidfd = n++] = (struct pollfd){init.pidfd, POLLIN, 0};
    }
    if (starting >= 0) p[at_start = n++] = (struct pollfd){init.control, POLLIN, 0};
    if (tiefd >= 0) p[at_tie = n++] = (struct pollfd){tiefd, POLLIN, 0};
    int r = poll(p, (nfds_t)n, init.served ? -1 : CREATOR_CHECK_MS);
    if (r < 0 && errno != EINTR) fail_closed("the monitor's poll failed");
    // A create that died (or gave up) before handing init over leaves nothing to serve.
    if (!init.served) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (getppid() != creator || (now.tv_sec - t0.tv_sec) * 1000 > INIT_WAIT_MS) _exit(1);
    }
    if (r <= 0) continue;
    // Tied to `run` in the foreground: its end is the container's.
    if (at_tie >= 0 && p[at_tie].revents) kill(getpid(), SIGKILL);
    if (at_start >= 0 && p[at_start].revents) start_answered(0);
    if (at_listener >= 0 && p[at_listener].revents && gate() < 0) {
      // No task uses the filter: the container has ended.
      if (starting >= 0) start_answered(1);
      _exit(0);
    }
    if (at_pidfd >= 0 && p[at_pidfd].revents) {
      // init has ended (also while a zombie its parent has not reaped).
      if (starting >= 0) start_answered(1);
      _exit(0);
    }
    if (p[at_sock].revents & POLLIN) {
      int conn = accept4(SOCKET_FD, NULL, NULL, SOCK_CLOEXEC);
      if (conn >= 0) serve_connection(conn);
    }
  }
}
