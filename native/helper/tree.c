// The mount tree's records: each carried out as init reads it, every path beneath the
// container's root resolved inside it (inroot.h).
#include "init.h"

// mount_setattr(2) on the mount at path (beneath the container's root: resolved in it).
int sys_mount_setattr(const char *path, unsigned set, unsigned clr, int recursive) {
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

void loopback_up(void) {
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

// TAG_MOUNT: a mount at a path resolved inside the root (inroot.h).
void record_mount(struct reader *fr) {
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
void record_writefile(struct reader *fr) {
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
void record_sysctl(struct reader *fr) {
  struct reader f = *fr;
  const char *path = rd_str(&f), *value = rd_str(&f);
  int fd = inroot_open_write(path);
  if (fd < 0) fail("sysctl %s: %s", path, strerror(errno));
  ssize_t w = write(fd, value, strlen(value));
  if (w != (ssize_t)strlen(value)) fail("sysctl %s = %s: %s", path, value, strerror(w < 0 ? errno : EIO));
  close(fd);
}

// TAG_HIDE: a file masked by the mask file, a directory by an empty read-only tmpfs.
void record_hide(struct reader *fr) {
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
void record_attach(struct reader *fr) {
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
void record_pivot(struct reader *fr) {
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

