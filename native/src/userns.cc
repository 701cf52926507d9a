// A user namespace made before the container that will live in it, and mounts idmapped
// into it, as host root.
//
// An idmapped mount (mount_setattr(2), MOUNT_ATTR_IDMAP) shows a filesystem's owners
// through a user namespace's maps: with the container's namespace (root inside = host id
// BASE), a file the disk says root owns shows as BASE on the host and as root inside, and
// what root inside creates there is written as root's on the disk — a volume keeps the ids
// its writer meant, as under runc, while root inside is never host root. Only host root can
// make one (CAP_SYS_ADMIN over the filesystem's own user namespace), only of a detached mount
// (open_tree(2) OPEN_TREE_CLONE), and with a user namespace that exists already: so the
// namespace is made first, its maps written, and init joins it later (setns) instead of
// creating its own.
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

Napi::Value Fail(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, "ESETUP"));
  e.Set("errno", Napi::Number::New(env, -err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// Writes text to /proc/PID/FILE: 0 or errno.
int WriteProc(pid_t pid, const char* file, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, text.data(), text.size());
  int err = n == (ssize_t)text.size() ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return err;
}

}  // namespace

// createUserNamespace(uidMap, gidMap) -> fd of a new user namespace with those maps
// ("inside outside count" lines, as /proc/PID/uid_map takes them). A child made for the
// purpose unshares it and waits; its maps are written, the namespace opened, the child
// ended: the descriptor keeps the namespace alive.
Napi::Value CreateUserNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowUsage(env, "createUserNamespace(uidMap, gidMap)");
    return env.Undefined();
  }
  std::string uidMap = info[0].As<Napi::String>();
  std::string gidMap = info[1].As<Napi::String>();
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return Fail(env, "pipe", errno);
  if (pipe2(done, O_CLOEXEC) < 0) {
    int e = errno;
    close(ready[0]);
    close(ready[1]);
    return Fail(env, "pipe", e);
  }
  // The child runs only async-signal-safe calls (this process has other threads).
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    close(done[1]);
    char ok = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
    (void)!write(ready[1], &ok, 1);
    char c;
    (void)!read(done[0], &c, 1);  // until the parent has the namespace (or is gone)
    _exit(0);
  }
  int forkErr = errno;
  close(ready[1]);
  close(done[0]);
  auto finish = [&]() {
    close(done[1]);  // the child's read returns: it exits
    close(ready[0]);
    if (child > 0) {
      while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  };
  if (child < 0) {
    finish();
    return Fail(env, "fork", forkErr);
  }
  char c = 0;
  ssize_t n;
  do n = read(ready[0], &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || c != 'u') {
    finish();
    return Fail(env, "unshare(CLONE_NEWUSER)", n == 1 ? EPERM : EIO);
  }
  int err = WriteProc(child, "uid_map", uidMap);
  if (err != 0) {
    finish();
    return Fail(env, "uid_map " + uidMap, err);
  }
  err = WriteProc(child, "gid_map", gidMap);
  if (err != 0) {
    finish();
    return Fail(env, "gid_map " + gidMap, err);
  }
  std::string ns = "/proc/" + std::to_string(child) + "/ns/user";
  int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  err = errno;
  finish();
  if (fd < 0) return Fail(env, "open " + ns, err);
  return Napi::Number::New(env, fd);
}

// idmappedMount(path, usernsFd, recursive) -> fd of a detached copy of the mount at path
// (with the mounts beneath it when recursive) whose owners show through the user
// namespace's maps. EINVAL where the filesystem cannot be idmapped (overlayfs on this kernel,
// proc, sysfs), with the path named.
Napi::Value IdmappedMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    ThrowUsage(env, "idmappedMount(path, usernsFd, recursive)");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  int userns = info[1].As<Napi::Number>().Int32Value();
  bool recursive = info[2].As<Napi::Boolean>().Value();
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
  if (fd < 0) return Fail(env, "open_tree " + path, errno);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)userns;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
    int e = errno;
    close(fd);
    return Fail(env, "idmapping " + path + (e == EINVAL ? " (its filesystem cannot be idmapped)" : ""), e);
  }
  return Napi::Number::New(env, fd);
}

}  // namespace runsc
