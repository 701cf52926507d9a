// OCI hooks init runs in the container.
#include "init.h"

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
int nhooks[2];
static const char *const hook_kind[2] = {"createContainer", "startContainer"};

// What the runtime sent with "C" or "R": the container's state, for the hooks.
char state_msg[1 << 18];
size_t state_len;

void rd_hook(struct reader *f) {
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
int run_hooks(int phase, char *msg, size_t msglen) {
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
