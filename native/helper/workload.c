// The workload's process: its credentials, limits and descriptors, set just before exec.
#include "init.h"

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
int findable(const char *file, char *const envp[]) {
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

int preserve_src[64], preserve_dst[64], npreserve;

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

// The workload's side (init's child, or init itself): limits, directory, credentials, then exec.
pid_t workload_parent;

void start_workload(char **argv, char **envp, const char *cwd, int cwd_fallback,
                           const struct rlimit_rec *rlimits, int nrlimits, int umask_set,
                           mode_t new_umask, const struct creds *creds) {
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
  // The workload dies with init (set after the credentials, whose change clears it): an exec'd
  // process's init is the PID a caller kills (containerd, when an exec times out), and the
  // program must not run on, adopted by the container's PID 1. An exec of a setuid program
  // clears it again; init's own ends kill the workload themselves.
  if (workload_parent != 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != workload_parent)) _exit(125);
  environ = envp;
  execvp(argv[0], argv);
  int e = errno;
  fprintf(stderr, "runsc-ts: %s: %s\n", argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}
