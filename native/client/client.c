// runsc-ts's command line client (bin/runsc-ts runs it): a command that neither spawns a
// container's processes nor waits on a terminal (start, state, kill, delete, list, ps,
// pause, resume, update, events, features, spec, policy, help...) is handed to a warm
// runsc-ts process — Node started ahead, its modules loaded — over a root-only unix socket,
// with this process's arguments, environment, working directory and stdio; its exit status
// comes back and is this process's. The others (create, run, exec, do: their processes
// must descend from the caller, whose subreaper adopts them, or hold its terminal) and any
// command when no warm process answers are run by Node in this process (exec), as before.
//
// The warm processes: runsc/service/warm.ts. The first use starts them (this client binds
// the socket and passes it on); each serves one command and starts its successor first.
// Each checkout has its own socket (name_socket): a warm process serves its own build only.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVICE_DIR "/run/runsc-ts"
// How many warm processes the first use starts (each replaces itself when it serves).
#define POOL "3"
// The answer a warm process gives when it cannot serve (its code is older than the
// build's): run the command here.
#define STALE 0x7ffffffe
#define EXIT_RUNTIME_ERROR 125

extern char** environ;

static char project_root[PATH_MAX];
// This build's socket and lock: SERVICE_DIR/warm-<FNV-1a 64 of the project's root>.sock
// (runsc/service/warmPool.ts: warmSocketPath), so that two checkouts never serve each other.
static char socket_path[108];
static char lock_path[PATH_MAX];

static void name_socket(void) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char* p = (const unsigned char*)project_root; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ULL;
  }
  snprintf(socket_path, sizeof socket_path, SERVICE_DIR "/warm-%016llx.sock", (unsigned long long)h);
  snprintf(lock_path, sizeof lock_path, SERVICE_DIR "/warm-%016llx.lock", (unsigned long long)h);
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

// Global options that take a value (runsc/main.ts: VALUED).
static int valued(const char* a) {
  static const char* const names[] = {"--log-format", "--root", "--log", "--rootless", "--policy", "--platform", "--network", NULL};
  for (int i = 0; names[i] != NULL; i++)
    if (strcmp(a, names[i]) == 0) return 1;
  return 0;
}

// Whether the command may run in a warm process: it makes no process that must descend from
// the caller, and holds no terminal of the caller's.
static int warm_command(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (a[0] != '-') {
      // service: it ends warm processes, and must not be served by one.
      static const char* const here[] = {"create", "run", "exec", "do", "service", NULL};
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
    // A daemon: its own session, no stdio of ours, the socket at 3.
    setsid();
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

// One 4-byte word from the warm process: 0, or -1 when the connection ended first.
static int read_word(int s, int32_t* w) {
  size_t got = 0;
  while (got < sizeof *w) {
    ssize_t n = read(s, (char*)w + got, sizeof *w - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    got += (size_t)n;
  }
  return 0;
}

// Signals to this process go to the warm process running the command.
static void forward(int sig) {
  if (served_by > 0) kill(served_by, sig);
}

// The command in a warm process: its exit status, or -1 when none answered (STALE: it
// could not serve this build).
static int run_warm(int argc, char** argv) {
  // Only root's socket serves root's commands.
  struct stat st;
  if (stat(socket_path, &st) < 0 || st.st_uid != 0 || (st.st_mode & 077) != 0) return -1;
  int s = connect_socket();
  if (s < 0) return -1;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof cwd) == NULL) {
    close(s);
    return -1;
  }
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
  // The line's first byte carries our stdin, stdout and stderr.
  int fds[3] = {0, 1, 2};
  char cbuf[CMSG_SPACE(sizeof fds)];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {b.data, 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  if (sendmsg(s, &m, MSG_NOSIGNAL) != 1 || write_all(s, b.data + 1, b.len - 1) < 0) {
    free(b.data);
    close(s);
    return -1;
  }
  free(b.data);
  // The answer: the serving process's PID once it has taken the command (or STALE), then
  // the command's status when it has ended, 4 bytes each.
  int32_t pid;
  if (read_word(s, &pid) < 0) {
    close(s);
    return -1;
  }
  if (pid == STALE) {
    close(s);
    return STALE;
  }
  served_by = pid;
  struct sigaction sa = {.sa_handler = forward};
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  int32_t status;
  int ended = read_word(s, &status);
  close(s);
  if (ended < 0) {
    fprintf(stderr, "runsc-ts: the warm process running the command (pid %d) ended without its status\n", (int)pid);
    return EXIT_RUNTIME_ERROR;
  }
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
  int status = run_warm(argc, argv);
  if (status >= 0 && status != STALE) return status;
  // No warm process answered, or an old one: this command runs here, and the next finds one.
  start_warm();
  run_here(argc, argv);
  return EXIT_RUNTIME_ERROR;
}
