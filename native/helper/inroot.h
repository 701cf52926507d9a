// Paths inside a container's root, resolved as the tree is at the moment of use (runc's
// answer to CVE-2021-30465). A mount plan names its destinations as the container will see
// them; the image's symlinks, and a volume's mounted earlier, must not move them outside
// the root or onto what another path protects. Each path is resolved component by component
// against the root directory as mounted so far, its symlinks followed as a chroot would
// (an absolute target or ".." never leaves the root), into a path with no symlink left;
// that path is then opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a symlink
// swapped in meanwhile fails the open instead of being followed. Mounts and their flags go
// on through /proc/self/fd/N of the descriptor opened, never through the path again.
#pragma once

#include <stddef.h>
#include <sys/types.h>

// The root's directory: paths strictly beneath it are resolved inside it. fd: O_PATH of it.
void inroot_set(const char *root, int fd);

// The part of path beneath the root ("etc/hosts"), or NULL for a path elsewhere (the
// staging tmpfs, the host) or the root itself.
const char *inroot_rel(const char *path);

// Resolves rel inside the root as it is now into out (relative, no symlink, no "..");
// missing components are kept as named. 0, or -1 with errno (ELOOP, ENAMETOOLONG).
int inroot_resolve(const char *rel, char *out, size_t outlen);

// An O_PATH descriptor (close-on-exec) of an existing path: beneath the root, resolved in it;
// elsewhere, opened as given. -1 with errno (ENOENT for a missing path).
int inroot_open(const char *path, int flags);

// Makes the directory path and its missing parents (mode for each); beneath the root,
// inside it. An existing directory is success. 0, or -1 with errno.
int inroot_mkdir(const char *path, mode_t mode);

// Makes an empty file at path (and its missing parents, 0755) unless something is there. 0,
// or -1 with errno.
int inroot_mkfile(const char *path, mode_t mode);

// symlink(target, link), link's parent resolved inside the root. EEXIST is success.
int inroot_symlink(const char *target, const char *link);

// Opens an existing file for writing (a /proc/sys knob), resolved inside the root. fd or -1.
int inroot_open_write(const char *path);

// Whether path, beneath the root, is a directory reached through no symlink at all: where
// proc and sysfs may be mounted (runc's rule). 1, 0, or -1 with errno.
int inroot_plain_dir(const char *path);

// "/proc/self/fd/N" of fd, in buf.
const char *fd_path(int fd, char *buf, size_t len);
