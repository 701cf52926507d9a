// Paths inside a container's root, resolved as the tree is at the moment of use: see inroot.h.
#define _GNU_SOURCE
#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { MAX_LINKS = 40 };  // the kernel's own limit on symlinks in one lookup

static const char *root_path;
static size_t root_len;
static int root_fd = -1;

// A path with no symlink and no "..", from dirfd and never above it: what inroot_resolve
// returns. A symlink swapped in after the resolution fails the open (ELOOP).
static const unsigned long long STRICT = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

static int openat2_fd(int dirfd, const char *path, int flags, unsigned long long resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.resolve = resolve;
  // EAGAIN: a rename elsewhere raced the lookup; it is safe to retry.
  for (int tries = 0;; tries++) {
    int fd = (int)syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN || tries >= 16) return fd;
  }
}

void inroot_set(const char *root, int fd) {
  root_path = root;
  root_len = strlen(root);
  while (root_len > 1 && root[root_len - 1] == '/') root_len--;
  root_fd = fd;
}

const char *inroot_rel(const char *path) {
  if (root_fd < 0 || strncmp(path, root_path, root_len) != 0 || path[root_len] != '/') return NULL;
  const char *rel = path + root_len;
  while (*rel == '/') rel++;
  return *rel ? rel : NULL;
}

const char *fd_path(int fd, char *buf, size_t len) {
  snprintf(buf, len, "/proc/self/fd/%d", fd);
  return buf;
}

int inroot_resolve(const char *rel, char *out, size_t outlen) {
  // todo: what is left to walk; out: what has been walked, relative to the root.
  char todo[2 * PATH_MAX], next[2 * PATH_MAX];
  size_t n = strlen(rel);
  if (n >= sizeof todo || outlen == 0) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(todo, rel, n + 1);
  const char *t = todo;
  size_t olen = 0;
  out[0] = '\0';
  int links = 0;
  // How many of out's last components do not exist: past one, nothing is looked up.
  int missing = 0;
  for (;;) {
    while (*t == '/') t++;
    if (*t == '\0') return 0;
    size_t clen = strcspn(t, "/");
    if (clen > NAME_MAX) {
      errno = ENAMETOOLONG;
      return -1;
    }
    char comp[NAME_MAX + 1];
    memcpy(comp, t, clen);
    comp[clen] = '\0';
    t += clen;
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      // As in a chroot: the root's parent is the root.
      char *slash = strrchr(out, '/');
      olen = slash ? (size_t)(slash - out) : 0;
      out[olen] = '\0';
      if (missing > 0) missing--;
      continue;
    }
    if (missing == 0) {
      int dfd = openat2_fd(root_fd, out, O_PATH | O_DIRECTORY, STRICT);
      if (dfd < 0) return -1;
      char target[PATH_MAX];
      ssize_t len = readlinkat(dfd, comp, target, sizeof target - 1);
      int err = errno;
      close(dfd);
      if (len >= 0) {
        if (++links > MAX_LINKS) {
          errno = ELOOP;
          return -1;
        }
        target[len] = '\0';
        // The link's target, then the rest; an absolute target starts again at the root.
        int k = snprintf(next, sizeof next, "%s/%s", target, t);
        if (k < 0 || (size_t)k >= sizeof next) {
          errno = ENAMETOOLONG;
          return -1;
        }
        memcpy(todo, next, (size_t)k + 1);
        t = todo;
        if (target[0] == '/') {
          olen = 0;
          out[0] = '\0';
        }
        continue;
      }
      if (err == ENOENT) {
        missing = 1;
      } else if (err != EINVAL) {  // EINVAL: there, and not a symlink
        errno = err;
        return -1;
      }
    } else {
      missing++;
    }
    if (olen + (olen ? 1 : 0) + clen + 1 > outlen) {
      errno = ENAMETOOLONG;
      return -1;
    }
    if (olen) out[olen++] = '/';
    memcpy(out + olen, comp, clen + 1);
    olen += clen;
  }
}

// The directory resolved (relative to the root, as inroot_resolve gives it), made with its
// missing parents: an O_PATH descriptor of it, or -1.
static int mkdir_resolved(const char *resolved, mode_t mode) {
  int cur = openat2_fd(root_fd, "", O_PATH | O_DIRECTORY, STRICT);
  const char *p = resolved;
  while (cur >= 0) {
    while (*p == '/') p++;
    if (*p == '\0') return cur;
    size_t clen = strcspn(p, "/");
    char comp[NAME_MAX + 1];
    memcpy(comp, p, clen);
    comp[clen] = '\0';
    p += clen;
    int fd = openat2_fd(cur, comp, O_PATH | O_DIRECTORY, STRICT);
    if (fd < 0 && errno == ENOENT) {
      // Made through the parent's descriptor: nothing is followed on the way.
      if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST) {
        int err = errno;
        close(cur);
        errno = err;
        return -1;
      }
      fd = openat2_fd(cur, comp, O_PATH | O_DIRECTORY, STRICT);
    }
    int err = errno;
    close(cur);
    errno = err;
    cur = fd;
  }
  return -1;
}

int inroot_open(const char *path, int flags) {
  const char *rel = inroot_rel(path);
  if (rel == NULL) return open(path, O_PATH | O_CLOEXEC | flags);
  char resolved[PATH_MAX];
  if (inroot_resolve(rel, resolved, sizeof resolved) < 0) return -1;
  return openat2_fd(root_fd, resolved, O_PATH | flags, STRICT);
}

int inroot_mkdir(const char *path, mode_t mode) {
  const char *rel = inroot_rel(path);
  if (rel == NULL) return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
  char resolved[PATH_MAX];
  if (inroot_resolve(rel, resolved, sizeof resolved) < 0) return -1;
  int fd = mkdir_resolved(resolved, mode);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

// Splits a resolved path into its directory (in dir) and its last component.
static const char *split_last(const char *resolved, char *dir, size_t len) {
  const char *slash = strrchr(resolved, '/');
  size_t dlen = slash ? (size_t)(slash - resolved) : 0;
  if (dlen >= len) dlen = len - 1;
  memcpy(dir, resolved, dlen);
  dir[dlen] = '\0';
  return slash ? slash + 1 : resolved;
}

int inroot_mkfile(const char *path, mode_t mode) {
  const char *rel = inroot_rel(path);
  if (rel == NULL) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    close(fd);
    return 0;
  }
  char resolved[PATH_MAX], dir[PATH_MAX];
  if (inroot_resolve(rel, resolved, sizeof resolved) < 0) return -1;
  if (resolved[0] == '\0') {
    errno = EISDIR;
    return -1;
  }
  const char *name = split_last(resolved, dir, sizeof dir);
  int dfd = mkdir_resolved(dir, 0755);
  if (dfd < 0) return -1;
  struct stat st;
  int r = 0;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    // There already (a symlink now would be one swapped in since the resolution).
    if (S_ISLNK(st.st_mode)) {
      errno = ELOOP;
      r = -1;
    }
  } else {
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) close(fd);
    else if (errno != EEXIST) r = -1;
  }
  int err = errno;
  close(dfd);
  errno = err;
  return r;
}

int inroot_symlink(const char *target, const char *link) {
  const char *rel = inroot_rel(link);
  if (rel == NULL) return symlink(target, link) < 0 && errno != EEXIST ? -1 : 0;
  // The link itself is not followed: only its directory is resolved.
  char dir[PATH_MAX], resolved[PATH_MAX];
  const char *name = split_last(rel, dir, sizeof dir);
  if (inroot_resolve(dir, resolved, sizeof resolved) < 0) return -1;
  int dfd = openat2_fd(root_fd, resolved, O_PATH | O_DIRECTORY, STRICT);
  if (dfd < 0) return -1;
  int r = symlinkat(target, dfd, name) < 0 && errno != EEXIST ? -1 : 0;
  int err = errno;
  close(dfd);
  errno = err;
  return r;
}

int inroot_open_write(const char *path) {
  const char *rel = inroot_rel(path);
  if (rel == NULL) return open(path, O_WRONLY | O_CLOEXEC);
  char resolved[PATH_MAX];
  if (inroot_resolve(rel, resolved, sizeof resolved) < 0) return -1;
  return openat2_fd(root_fd, resolved, O_WRONLY, STRICT);
}

int inroot_plain_dir(const char *path) {
  const char *rel = inroot_rel(path);
  if (rel == NULL) return 1;
  // rel as planned: normalized, no "..".
  int fd = openat2_fd(root_fd, rel, O_PATH | O_DIRECTORY, STRICT);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  return errno == ELOOP || errno == ENOTDIR ? 0 : -1;
}
