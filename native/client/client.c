// runsc-ts's command line client (bin/runsc-ts runs it): most commands (do, create, exec
// --detach, start, state, kill, delete, list, ps, pause, resume, update, events, features,
// spec, policy, help...) are handed to a warm runsc-ts process — Node started ahead, its
// modules loaded — over a root-only unix socket, with this process's arguments,
// environment, working directory, stdio and --preserve-fds descriptors; its exit status
// comes back and is this process's. The warm process answers first with its PID, to which
// this process's signals go, or 0 for a command it serves among others (create, exec
// --detach, start, state, kill, delete...): a signal then ends this process. A container's init (and an exec'd
// process) must descend from the caller, whose subreaper (a shim) adopts it and reads its
// status: the warm process plans it and asks this process to clone it (sandbox_child.h),
// then drives the rest itself. do's sandbox is cloned here too, in the caller's process
// group (the terminal's keys reach it, as when Node ran do here), and this process waits
// for it and sends its status back. run is served by a warm process of its own (the
// container's init cloned here, the caller's terminal relayed there through the stdio it
// was given), which then ends. The others (exec in the foreground), any command when no
// warm process answers, and any whose caller lives in other namespaces than the warm
// processes are run by Node in this process (exec), as before.
//
// The warm processes: runsc/service/warm.ts. The first use starts them (this client binds
// the socket and passes it on); each serves the commands that end with their call one
// after another, or one other command, after which its successor replaces it.
// Each checkout has its own socket (name_socket): a warm process serves its own build only.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_child.h"

#define SERVICE_DIR "/run/runsc-ts"
// How many warm processes the first use starts (each replaces itself when it serves).
#define POOL "3"
// The answer a warm process gives when it cannot serve (its code is older than the
// build's): run the command here.
#define STALE 0x7ffffffe
// The answer of a warm process in other namespaces (or another root) than this process's:
// run the command here, and leave the warm processes be.
#define ELSEWHERE 0x7ffffffc
// The answer of a warm process that is serving already (it accepted two connections at
// once): connect again.
#define RETRY 0x7ffffffb
// How many times a client connects again before it runs the command itself.
#define RETRIES 200
#define EXIT_RUNTIME_ERROR 125

extern char** environ;

static char project_root[PATH_MAX];
// This build's socket and lock: SERVICE_DIR/warm-<FNV-1a 64 of the project's root>-<this
// mount namespace's inode>.sock (runsc/service/warmPool.ts: warmSocketPath), so that two
// checkouts never serve each other, and a pool started in another mount namespace that
// shares /run (a private one, unshare -m) never takes this one's socket.
static char socket_path[108];
static char lock_path[PATH_MAX];

static void name_socket(void) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char* p = (const unsigned char*)project_root; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  struct stat ns;
  unsigned long long mnt = stat("/proc/self/ns/mnt", &ns) == 0 ? (unsigned long long)ns.st_ino : 0;
  snprintf(socket_path, sizeof socket_path, SERVICE_DIR "/warm-%016llx-%llu.sock", (unsigned long long)h, mnt);
  snprintf(lock_path, sizeof lock_path, SERVICE_DIR "/warm-%016llx-%llu.lock", (unsigned long long)h, mnt);
}

// The project's root: this binary is <root>/build/native/runsc-ts.
static int find_root(void) {
  ssize_t n = readlink("/proc/self/exe", project_root, sizeof project_root - 1);
  if (n < 0) return -1;
  project_root[n] = 0;
  for (int i = 0; i < 3; i++) {
    char* slash = strrchr(project_root, '/');
    if (slash == NULL) return -1;
    *slash = 0;
  }
  return 0;
}

static void path_in_root(char* out, size_t size, const char* rel) {
  if ((size_t)snprintf(out, size, "%s/%s", project_root, rel) >= size) out[0] = 0;
}

// Node runs the command line in this process.
static void run_here(int argc, char** argv) {
  char main_js[PATH_MAX];
  path_in_root(main_js, sizeof main_js, "dist/cli/main.js");
  if (access(main_js, R_OK) != 0) {
    fprintf(stderr, "runsc-ts: cannot start (%s: %s); run \"npm ci\" or \"npm run build\"\n", main_js, strerror(errno));
    exit(EXIT_RUNTIME_ERROR);
  }
  char** args = calloc((size_t)argc + 3, sizeof *args);
  if (args == NULL) exit(EXIT_RUNTIME_ERROR);
  args[0] = "node";
  args[1] = main_js;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp("node", args);
  fprintf(stderr, "runsc-ts: cannot run node: %s\n", strerror(errno));
  exit(EXIT_RUNTIME_ERROR);
}

// Global options that take a value (runsc/cli.ts: VALUED).
static int valued(const char* a) {
  static const char* const names[] = {"--log-format", "--root", "--log", "--rootless", "--policy", "--platform", "--network", "--metrics-address", NULL};
  for (int i = 0; names[i] != NULL; i++)
    if (strcmp(a, names[i]) == 0) return 1;
  return 0;
}

// Whether exec's options, from argv[from] to the container's id, include --detach: a
// detached exec returns once its process runs (it waits on nothing of ours).
static int exec_detached(int argc, char** argv, int from) {
  static const char* const valued_long[] = {"--process", "--pid-file", "--console-socket", "--cwd", "--env", "--user", "--cap", "--preserve-fds", NULL};
  for (int i = from; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0 || strcmp(a, "--") == 0) return 0;  // the id, or the end of the options
    if (strcmp(a, "--detach") == 0) return 1;
    if (a[1] == '-') {
      if (strchr(a, '=') != NULL) continue;
      for (int j = 0; valued_long[j] != NULL; j++)
        if (strcmp(a, valued_long[j]) == 0) i++;
      continue;
    }
    // Short options, maybe several in one (-dt); one that takes a value takes the rest.
    for (const char* c = a + 1; *c; c++) {
      if (*c == 'd') return 1;
      if (strchr("peuc", *c) != NULL) {
        if (c[1] == 0) i++;
        break;
      }
    }
  }
  return 0;
}

// Whether the command may run in a warm process: it makes no process that must descend from
// the caller but through this client (create's and run's init, a detached exec's process,
// do's sandbox, which this client also waits for).
static int warm_command(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] != '-') {
      if (strcmp(a, "exec") == 0) return exec_detached(argc, argv, i + 1);
      // service: it ends warm processes, and must not be served by one.
      static const char* const here[] = {"service", NULL};
      for (int j = 0; here[j] != NULL; j++)
        if (strcmp(a, here[j]) == 0) return 0;
      // policy learn runs its command in a sandbox, as do does.
      if (strcmp(a, "policy") == 0)
        for (int j = i + 1; j < argc; j++)
          if (strcmp(argv[j], "learn") == 0) return 0;
      return 1;
    }
    if (valued(a)) i++;
  }
  return 1;  // help and version
}

// --preserve-fds N (create's): descriptors 3 to 3+N-1 go to the warm process too, up to the
// first that is not open (the warm process then says which), or -1 when N is not a number
// (run here, where the command line says so).
static int preserved_fds(int argc, char** argv) {
  int n = 0;
  for (int i = 1; i < argc; i++) {
    const char* v = NULL;
    if (strcmp(argv[i], "--preserve-fds") == 0 && i + 1 < argc) v = argv[i + 1];
    else if (strncmp(argv[i], "--preserve-fds=", 15) == 0) v = argv[i] + 15;
    if (v == NULL) continue;
    char* end;
    long k = strtol(v, &end, 10);
    if (*end != 0 || k < 0 || k > 60) return -1;
    n = (int)k;
  }
  for (int fd = 3; fd < 3 + n; fd++)
    if (fcntl(fd, F_GETFD) < 0) return fd - 3;
  return n;
}

static int write_all(int fd, const void* buf, size_t len) {
  const char* p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

// A growing buffer for the request's JSON line.
struct buf {
  char* data;
  size_t len, cap;
};

static void put(struct buf* b, const char* s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap + n + 1) * 2;
    char* d = realloc(b->data, cap);
    if (d == NULL) exit(EXIT_RUNTIME_ERROR);
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void put_str(struct buf* b, const char* s) { put(b, s, strlen(s)); }

// A JSON string: quotes, backslashes and control characters escaped; other bytes as they are.
static void put_json(struct buf* b, const char* s) {
  put_str(b, "\"");
  for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      put(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      put(b, esc, 6);
    } else {
      put(b, (const char*)p, 1);
    }
  }
  put_str(b, "\"");
}

static void put_list(struct buf* b, char** list, int from) {
  put_str(b, "[");
  for (int i = from; list[i] != NULL; i++) {
    if (i > from) put_str(b, ",");
    put_json(b, list[i]);
  }
  put_str(b, "]");
}

static int connect_socket(void) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, socket_path);
  if (connect(s, (struct sockaddr*)&a, sizeof a) < 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

// The warm processes, started now: this process binds the socket (under a lock, so that
// two first uses make one) and hands it to them as their descriptor 3.
static void start_warm(void) {
  char warm_js[PATH_MAX];
  path_in_root(warm_js, sizeof warm_js, "dist/cli/warm.js");
  if (access(warm_js, R_OK) != 0) return;
  if (mkdir(SERVICE_DIR, 0711) < 0 && errno != EEXIST) return;
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return;
  if (flock(lock, LOCK_EX) < 0) {
    close(lock);
    return;
  }
  // Under the lock: a socket someone answers on is theirs; one nobody does is stale.
  int probe = connect_socket();
  if (probe >= 0) {
    close(probe);
    close(lock);
    return;
  }
  unlink(socket_path);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);  // inherited by the warm processes
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, socket_path);
  mode_t old = umask(0177);
  int bound = s >= 0 && bind(s, (struct sockaddr*)&a, sizeof a) == 0 && listen(s, 64) == 0;
  umask(old);
  if (!bound) {
    if (s >= 0) close(s);
    close(lock);
    return;
  }
  // The warm processes end once the path names another socket, or none.
  struct stat st;
  char ino[32];
  if (stat(socket_path, &st) < 0) {
    close(s);
    close(lock);
    return;
  }
  snprintf(ino, sizeof ino, "%llu", (unsigned long long)st.st_ino);
  // With the change time: a later file may reuse the inode's number, never both.
  char ctime_ns[48];
  snprintf(ctime_ns, sizeof ctime_ns, "%lld%09ld", (long long)st.st_ctim.tv_sec, (long)st.st_ctim.tv_nsec);
  pid_t pid = fork();
  if (pid == 0) {
    // A daemon: its own session, no stdio of ours, the socket at 3, / as its directory (ours
    // may be removed: a bundle's).
    setsid();
    if (chdir("/") < 0) _exit(1);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(s, 3) < 0) _exit(1);
    // Nothing else of our caller's (a shim's pipes) may stay open in it.
    if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
      for (int fd = 4; fd < 1024; fd++) close(fd);
    // Detached from us: its parent ends at once, so init (or a subreaper) adopts it.
    if (fork() != 0) _exit(0);
    execlp("node", "node", warm_js, "--first", "--pool", POOL, "--socket", socket_path, "--socket-ino", ino, "--socket-ctime", ctime_ns,
           (char*)NULL);
    _exit(1);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
  close(s);
  close(lock);
}

static volatile pid_t served_by;
// do's sandbox, cloned here with report_exit: the socket its exit status goes back on (-1:
// none), and the pipe SIGCHLD writes to, to wake the loop that waits for it.
static volatile int exit_reply = -1;
// That sandbox's init (our child): the signals we get go to it (forward).
static volatile pid_t sandbox_pid = 0;
static int chld_pipe[2] = {-1, -1};

// One message of len bytes on s with descriptors attached (SCM_RIGHTS): sendmsg's result.
static ssize_t send_fds(int s, const void* data, size_t len, const int* fds, int nfds) {
  struct iovec iov = {(void*)data, len};
  char cbuf[CMSG_SPACE(sizeof(int) * 64)];
  memset(cbuf, 0, sizeof cbuf);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  ssize_t n;
  do n = sendmsg(s, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

// Exactly len bytes from the warm process, and the descriptors that come with them (at most
// *nfds, which is set to how many came): 0, or -1 when the connection ended first.
static int read_message(int s, void* buf, size_t len, int* fds, int* nfds) {
  int max = *nfds;
  *nfds = 0;
  size_t got = 0;
  while (got < len) {
    struct iovec iov = {(char*)buf + got, len - got};
    char cbuf[CMSG_SPACE(sizeof(int) * (4 + SANDBOX_CLONE_MAX_JOINS))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int* in = (int*)CMSG_DATA(c);
      for (int j = 0; j < k; j++) {
        if (*nfds < max) fds[(*nfds)++] = in[j];
        else close(in[j]);
      }
    }
    got += (size_t)n;
  }
  return 0;
}

// Signals to this process go to the sandbox we cloned and wait for (do's init, which passes
// them to the program), or else to the warm process running the command, when the command
// has the process to itself; a command served among others (PID 0) ends with this process,
// as it would in a process of its own.
static void forward(int sig) {
  // The terminal's keys signalled our process group, the sandbox in it too (do, as Node
  // running it here): passed on, they would reach it twice.
  if ((sig == SIGINT || sig == SIGQUIT) && exit_reply >= 0 && tcgetpgrp(0) == getpgrp()) return;
  if (sandbox_pid > 0) {
    kill(sandbox_pid, sig);
    return;
  }
  if (served_by > 0) {
    kill(served_by, sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void on_child(int sig) {
  (void)sig;
  int e = errno;
  (void)!write(chld_pipe[1], "", 1);
  errno = e;
}

// Reaps what ended: a sandbox's init we wait for (report_exit; as its subreaper, we reap
// nothing else once its first child is reaped) has its status sent back.
static void reap(void) {
  char drain[64];
  while (read(chld_pipe[0], drain, sizeof drain) > 0) {
  }
  for (;;) {
    // Looked at before it is reaped: once reaped, its PID may name another process, which
    // forward must not signal.
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0) break;
    if (si.si_pid == sandbox_pid) sandbox_pid = 0;
    int status;
    if (waitpid(si.si_pid, &status, 0) <= 0 || exit_reply < 0) continue;
    int32_t shell = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    (void)!send(exit_reply, &shell, sizeof shell, MSG_NOSIGNAL);
    close(exit_reply);
    exit_reply = -1;
  }
}

// Ready to wait for a sandbox's init here: the self-pipe and SIGCHLD's handler, and this
// process as the subreaper of what it clones (init passes to us when its first parent,
// which made its PID namespace, exits).
static int watch_children(void) {
  if (chld_pipe[0] >= 0) return 0;
  if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -1;
  struct sigaction sa = {.sa_handler = on_child, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return -1;
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

// The warm process's request to clone a container's init here (sandbox_child.h), so that it
// descends from our caller: done, and answered on the request's reply socket.
static void serve_clone(const struct sandbox_clone_request* req, int* fds, int nfds) {
  int tty = req->has_tty ? 1 : 0;
  int njoins = req->njoins;
  int32_t answer;
  pid_t pid = -1;
  int pidfd = -1;
  // No reply socket: nothing to answer on.
  if (nfds < 1) return;
  if (njoins < 0 || njoins > SANDBOX_CLONE_MAX_JOINS || nfds != 3 + tty + njoins ||
      req->join_pid >= njoins || (req->report_exit && exit_reply >= 0) || (req->report_exit && req->guard)) {
    answer = -EPROTO;
  } else if (req->report_exit && watch_children() < 0) {
    answer = -errno;
  } else {
    struct sandbox_join joins[SANDBOX_CLONE_MAX_JOINS];
    for (int k = 0; k < njoins; k++) {
      joins[k].fd = fds[3 + tty + k];
      joins[k].type = req->join_types[k];
    }
    int join_pid = req->join_pid >= 0 ? joins[req->join_pid].fd : -1;
    pid = sandbox_clone(req->flags, join_pid, &pidfd, fds[1], -1, fds[2], tty ? fds[3] : -1, req->orphan, joins, njoins,
                        req->unshare_flags, req->guard);
    answer = pid < 0 ? -errno : (int32_t)pid;
  }
  (void)!send_fds(fds[0], &answer, sizeof answer, &pidfd, pidfd >= 0 ? 1 : 0);
  if (pidfd >= 0) close(pidfd);
  // A first child that only forks init (a new PID namespace made after joining a user
  // namespace) exits at once: ours to reap. init itself is our caller's to reap, and so is
  // a guard (it stays as long as init, and passes to our subreaper when we exit).
  if (pid > 0 && (req->unshare_flags & CLONE_NEWPID) && !req->guard) waitpid(pid, NULL, 0);
  // Waited for here: its status goes back on the reply socket (reap).
  if (pid > 0 && req->report_exit) {
    exit_reply = fds[0];
    fds[0] = -1;
    // init itself, unless a first child that exits stands between (it made the PID namespace).
    if (!(req->unshare_flags & CLONE_NEWPID)) sandbox_pid = pid;
  }
  for (int i = 0; i < nfds; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (exit_reply >= 0) reap();
}

// The command in a warm process: its exit status, or STALE or ELSEWHERE when it was not
// taken, or -1 when none answered.
static int run_warm(int argc, char** argv, int preserved) {
  // Only root's socket serves root's commands.
  struct stat st;
  if (stat(socket_path, &st) < 0 || st.st_uid != 0 || (st.st_mode & 077) != 0) return -1;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) return -1;
  struct buf b = {0};
  mode_t mask = umask(0);
  umask(mask);
  char umask_text[32];
  snprintf(umask_text, sizeof umask_text, ",\"umask\":%u", (unsigned)mask);
  put_str(&b, "{\"op\":\"run\",\"cwd\":");
  put_json(&b, cwd);
  put_str(&b, umask_text);
  put_str(&b, ",\"argv\":");
  put_list(&b, argv, 1);
  put_str(&b, ",\"env\":");
  put_list(&b, environ, 0);
  put_str(&b, "}\n");
  (void)argc;
  // The line carries our stdin, stdout, stderr and preserved descriptors.
  int fds[3 + 60];
  int nfds = 3 + preserved;
  for (int i = 0; i < nfds; i++) fds[i] = i;
  // The answer: the serving process's PID once it has taken the command (0: a command
  // served among others; or STALE, ELSEWHERE, RETRY), then requests to clone
  // (serve_clone), then the command's status when it has ended, 4 bytes each.
  int32_t pid = RETRY;
  int s = -1;
  for (int attempt = 0; attempt < RETRIES && pid == RETRY; attempt++) {
    if (s >= 0) {
      close(s);
      usleep(1000);
    }
    s = connect_socket();
    // In one message when it fits (the warm process reads it at once), the descriptors
    // with its first byte; what did not fit follows.
    ssize_t sent = s < 0 ? -1 : send_fds(s, b.data, b.len, fds, nfds);
    if (sent <= 0 || write_all(s, b.data + sent, b.len - (size_t)sent) < 0) {
      if (s >= 0) close(s);
      free(b.data);
      return -1;
    }
    int none = 0;
    if (read_message(s, &pid, sizeof pid, NULL, &none) < 0) {
      close(s);
      free(b.data);
      return -1;
    }
  }
  free(b.data);
  if (pid == STALE || pid == ELSEWHERE || pid == RETRY) {
    close(s);
    return pid == RETRY ? -1 : pid;
  }
  served_by = pid;
  struct sigaction sa = {.sa_handler = forward};
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  int32_t status;
  for (;;) {
    struct sandbox_clone_request req;
    int got[4 + SANDBOX_CLONE_MAX_JOINS];
    int ngot = 4 + SANDBOX_CLONE_MAX_JOINS;
    // A sandbox we wait for: its end, or the next message, whichever comes first.
    while (chld_pipe[0] >= 0) {
      struct pollfd p[2] = {{s, POLLIN, 0}, {chld_pipe[0], POLLIN, 0}};
      int r = poll(p, 2, -1);
      if (r < 0 && errno != EINTR) break;
      if (r > 0 && (p[1].revents & POLLIN)) reap();
      if (r > 0 && p[0].revents != 0) break;
    }
    if (read_message(s, &req.kind, sizeof req.kind, got, &ngot) < 0) {
      for (int i = 0; i < ngot; i++) close(got[i]);
      close(s);
      if (pid > 0) fprintf(stderr, "runsc-ts: the warm process running the command (pid %d) ended without its status\n", (int)pid);
      else fprintf(stderr, "runsc-ts: the warm process running the command ended without its status\n");
      return EXIT_RUNTIME_ERROR;
    }
    if (req.kind != SANDBOX_CLONE_REQUEST) {
      for (int i = 0; i < ngot; i++) close(got[i]);
      status = req.kind;
      break;
    }
    int more = 4 + SANDBOX_CLONE_MAX_JOINS - ngot;
    if (read_message(s, (char*)&req + sizeof req.kind, sizeof req - sizeof req.kind, got + ngot, &more) < 0) {
      for (int i = 0; i < ngot + more; i++) close(got[i]);
      continue;  // the status read next says the connection ended
    }
    serve_clone(&req, got, ngot + more);
  }
  close(s);
  return status;
}

int main(int argc, char** argv) {
  if (find_root() < 0) {
    fprintf(stderr, "runsc-ts: cannot find the project's root from /proc/self/exe\n");
    return EXIT_RUNTIME_ERROR;
  }
  name_socket();
  // RUNSC_TS_WARM=0: every command runs here.
  const char* want = getenv("RUNSC_TS_WARM");
  if (geteuid() != 0 || (want != NULL && strcmp(want, "0") == 0) || !warm_command(argc, argv)) run_here(argc, argv);
  int preserved = preserved_fds(argc, argv);
  if (preserved < 0) run_here(argc, argv);
  int status = run_warm(argc, argv, preserved);
  if (status == ELSEWHERE) run_here(argc, argv);
  if (status >= 0 && status != STALE) return status;
  // No warm process answered, or an old one: this command runs here, and the next finds one.
  start_warm();
  run_here(argc, argv);
  return EXIT_RUNTIME_ERROR;
}
