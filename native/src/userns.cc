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
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {


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


// A detached, idmapped clone of the mount at path (with those beneath it when recursive):
// fd, or -errno with *step the call that failed. devices: without nodev (a device node the
// runtime made, on a /run that is nodev), cleared here by host root: root inside may not.
int IdmappedClone(const std::string& path, int userns, bool recursive = false, const char** step = nullptr, bool devices = false) {
  if (step != nullptr) *step = "open_tree";
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
  if (fd < 0) return -errno;
  if (step != nullptr) *step = "idmapping";
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.attr_clr = devices ? MOUNT_ATTR_NODEV : 0;
  attr.userns_fd = (uint64_t)userns;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// The child's report pipe and the parent's release pipe (close-on-exec): 0 or errno, none left open.
int TwoPipes(int ready[2], int done[2]) {
  if (pipe2(ready, O_CLOEXEC) < 0) return errno;
  if (pipe2(done, O_CLOEXEC) < 0) {
    int e = errno;
    close(ready[0]);
    close(ready[1]);
    return e;
  }
  return 0;
}

// "/proc/<pid>/<file>" into buf, without allocating (a forked child of a threaded process).
void ProcPath(char* buf, pid_t pid, const char* file) {
  char digits[16];
  int n = 0;
  for (unsigned v = (unsigned)pid; n == 0 || v > 0; v /= 10) digits[n++] = (char)('0' + v % 10);
  char* p = stpcpy(buf, "/proc/");
  while (n > 0) *p++ = digits[--n];
  *p++ = '/';
  strcpy(p, file);
}

int WriteAll(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, text.data(), text.size());
  int err = n == (ssize_t)text.size() ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return err;
}

// A user namespace inside parent: only a process of the parent (or of the new one) may write
// its maps, so a child joins parent as its root and makes a grandchild that unshares; the
// child writes the grandchild's maps and tells us its PID; we open its namespace, and both
// end.
Napi::Value CreateNestedUserNamespace(Napi::Env env, const std::string& uidMap, const std::string& gidMap, int parent) {
  int ready[2], done[2];
  int pe = TwoPipes(ready, done);
  if (pe != 0) return ThrowSetup(env, "pipe", pe);
  struct Answer {
    pid_t pid;
    int err;
    int step;  // 0 join, 1 unshare, 2 uid_map, 3 gid_map
  };
  pid_t child = (pid_t)syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (child == 0) {
    close(ready[0]);
    close(done[1]);
    Answer a = {0, 0, 0};
    if (setns(parent, CLONE_NEWUSER) < 0 || syscall(SYS_setgroups, 0, nullptr) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 ||
        syscall(SYS_setresuid, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) {
      // Dumpable again after the id change: /proc/<grandchild> is then ours to write.
      a.err = errno;
      _exit(write(ready[1], &a, sizeof a) < 0 ? 1 : 1);
    }
    int made[2];
    if (pipe2(made, O_CLOEXEC) < 0) _exit(1);
    pid_t g = (pid_t)syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (g == 0) {
      close(made[0]);
      char ok = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
      (void)!write(made[1], &ok, 1);
      char c;
      (void)!read(done[0], &c, 1);
      _exit(0);
    }
    close(made[1]);
    char ok = 0;
    a.pid = g;
    if (g < 0 || read(made[0], &ok, 1) != 1 || ok != 'u') {
      a.err = g < 0 ? errno : EPERM;
      a.step = 1;
    } else {
      char path[64];
      ProcPath(path, g, "uid_map");
      a.err = WriteAll(path, uidMap);
      a.step = 2;
      if (a.err == 0) {
        ProcPath(path, g, "gid_map");
        a.err = WriteAll(path, gidMap);
        a.step = 3;
      }
    }
    (void)!write(ready[1], &a, sizeof a);
    char c;
    (void)!read(done[0], &c, 1);
    if (g > 0) waitpid(g, nullptr, 0);
    _exit(0);
  }
  int forkErr = errno;
  close(ready[1]);
  close(done[0]);
  auto finish = [&]() {
    close(done[1]);
    close(ready[0]);
    if (child > 0)
      while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
      }
  };
  if (child < 0) {
    finish();
    return ThrowSetup(env, "clone", forkErr);
  }
  Answer a = {0, EIO, 0};
  ssize_t n;
  do n = read(ready[0], &a, sizeof a);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof a || a.err != 0) {
    finish();
    static const char* const kSteps[] = {"setns (the parent user namespace)", "unshare(CLONE_NEWUSER)", "uid_map", "gid_map"};
    std::string what = kSteps[a.step >= 0 && a.step <= 3 ? a.step : 0];
    if (a.step == 2) what += " " + uidMap;
    if (a.step == 3) what += " " + gidMap;
    return ThrowSetup(env, what, n == (ssize_t)sizeof a ? a.err : EIO);
  }
  char path[64];
  ProcPath(path, a.pid, "ns/user");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int err = errno;
  finish();
  if (fd < 0) return ThrowSetup(env, std::string("open ") + path, err);
  return Napi::Number::New(env, fd);
}

}  // namespace

// createUserNamespace(uidMap, gidMap[, parent]) -> fd of a new user namespace with those
// maps ("inside outside count" lines, as /proc/PID/uid_map takes them; with a parent, its
// "outside" ids are the parent's). A child made for the purpose unshares it and waits (with
// a parent: made by its root, who owns the new one, and mapped by it); its maps are written,
// the namespace opened, the child ended: the descriptor keeps the namespace alive.
Napi::Value CreateUserNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowUsage(env, "createUserNamespace(uidMap, gidMap[, parent])");
    return env.Undefined();
  }
  std::string uidMap = info[0].As<Napi::String>();
  std::string gidMap = info[1].As<Napi::String>();
  if (info.Length() > 2 && info[2].IsNumber()) return CreateNestedUserNamespace(env, uidMap, gidMap, info[2].As<Napi::Number>().Int32Value());
  int ready[2], done[2];
  int pe = TwoPipes(ready, done);
  if (pe != 0) return ThrowSetup(env, "pipe", pe);
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
    return ThrowSetup(env, "fork", forkErr);
  }
  char c = 0;
  ssize_t n;
  do n = read(ready[0], &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || c != 'u') {
    finish();
    return ThrowSetup(env, "unshare(CLONE_NEWUSER)", n == 1 ? EPERM : EIO);
  }
  int err = WriteProc(child, "uid_map", uidMap);
  if (err != 0) {
    finish();
    return ThrowSetup(env, "uid_map " + uidMap, err);
  }
  err = WriteProc(child, "gid_map", gidMap);
  if (err != 0) {
    finish();
    return ThrowSetup(env, "gid_map " + gidMap, err);
  }
  std::string ns = "/proc/" + std::to_string(child) + "/ns/user";
  int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  err = errno;
  finish();
  if (fd < 0) return ThrowSetup(env, "open " + ns, err);
  return Napi::Number::New(env, fd);
}

// idmappedMount(path, usernsFd, recursive) -> fd of a detached copy of the mount at path
// (with the mounts beneath it when recursive) whose owners show through the user
// namespace's maps. EINVAL where the filesystem cannot be idmapped (overlayfs on this kernel,
// proc, sysfs), with the path named.
Napi::Value IdmappedMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean() || (info.Length() > 3 && !info[3].IsBoolean())) {
    ThrowUsage(env, "idmappedMount(path, usernsFd, recursive, devices?)");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  int userns = info[1].As<Napi::Number>().Int32Value();
  bool recursive = info[2].As<Napi::Boolean>().Value();
  bool devices = info.Length() > 3 && info[3].As<Napi::Boolean>().Value();
  const char* step = "";
  int fd = IdmappedClone(path, userns, recursive, &step, devices);
  if (fd < 0) return ThrowSetup(env, std::string(step) + " " + path + (fd == -EINVAL ? " (its filesystem cannot be idmapped)" : ""), -fd);
  return Napi::Number::New(env, fd);
}

namespace {

int FsConfigString(int fc, const char* key, const std::string& value) {
  return (int)syscall(SYS_fsconfig, fc, FSCONFIG_SET_STRING, key, value.c_str(), 0);
}

// A detached tmpfs of `size` holding upper/ and work/ (made by host root: root's, which is
// root inside's through the idmapping), idmapped into userns: fd, or -errno with *step.
int MemoryLayer(const std::string& size, int userns, const char** step) {
  *step = "fsopen tmpfs";
  int fc = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
  if (fc < 0) return -errno;
  *step = "tmpfs size";
  int r = FsConfigString(fc, "size", size);
  if (r == 0) r = FsConfigString(fc, "mode", "0755");
  if (r == 0) {
    *step = "tmpfs";
    r = (int)syscall(SYS_fsconfig, fc, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0);
  }
  int mnt = r == 0 ? (int)syscall(SYS_fsmount, fc, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) : -1;
  int e = errno;
  close(fc);
  if (mnt < 0) return -e;
  *step = "mkdir upper, work";
  if (mkdirat(mnt, "upper", 0755) < 0 || mkdirat(mnt, "work", 0700) < 0) {
    e = errno;
    close(mnt);
    return -e;
  }
  *step = "idmapping";
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)userns;
  if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    e = errno;
    close(mnt);
    return -e;
  }
  return mnt;
}

// This thread's effective capabilities raised to its permitted set (a non-zero fsuid drops
// the file ones).
void RaiseEffective() {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return;
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  syscall(SYS_capset, &hdr, data);
}

}  // namespace

// idmappedOverlay({lower: string[], upper, work, options?, userns, owner}) -> fd of a detached overlay
// mount over idmapped clones of a runtime's layers (an overlayfs mount cannot itself be
// idmapped): lower top first, as lowerdir lists them; upper and work in one directory (the
// overlay takes them from one mount). It is made with owner (the container's root: the
// first host id of its range) as its creator's fs ids, the file capabilities raised, so that
// what the overlay writes for itself (copy-up, its work directory) is written as root inside
// would: root's on the disk.
Napi::Value IdmappedOverlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowUsage(env, "idmappedOverlay({lower, upper, work, userns, owner})");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("lower").IsArray() || !o.Get("upper").IsString() || !o.Get("work").IsString() || !o.Get("userns").IsNumber() || !o.Get("owner").IsNumber()) {
    ThrowUsage(env, "idmappedOverlay({lower: string[], upper: string, work: string, userns: number, owner: number})");
    return env.Undefined();
  }
  Napi::Array lowerArr = o.Get("lower").As<Napi::Array>();
  std::vector<std::string> lower;
  for (uint32_t i = 0; i < lowerArr.Length(); i++) lower.push_back(lowerArr.Get(i).As<Napi::String>());
  std::string upper = o.Get("upper").As<Napi::String>();
  std::string work = o.Get("work").As<Napi::String>();
  int userns = o.Get("userns").As<Napi::Number>().Int32Value();
  uid_t owner = (uid_t)o.Get("owner").As<Napi::Number>().Uint32Value();
  // memory: the upper layer in a tmpfs of this size of its own (a policy's overlay root), upper and work unused.
  bool memory = o.Get("memory").IsString();
  if (memory) {
    upper = "/m/upper";
    work = "/m/work";
  }
  size_t slash = upper.rfind('/');
  if (lower.empty() || slash == std::string::npos || slash == 0 || work.rfind('/') != slash || work.compare(0, slash, upper, 0, slash) != 0) {
    ThrowUsage(env, "idmappedOverlay: at least one lower layer; upper and work absolute and in one directory");
    return env.Undefined();
  }
  std::vector<int> fds;
  auto closeAll = [&fds]() {
    for (int fd : fds) close(fd);
  };
  for (const std::string& l : lower) {
    int fd = IdmappedClone(l, userns);
    if (fd < 0) {
      closeAll();
      return ThrowSetup(env, "idmapping the layer " + l, -fd);
    }
    fds.push_back(fd);
  }
  int rw;
  if (memory) {
    const char* step = "";
    rw = MemoryLayer(o.Get("memory").As<Napi::String>(), userns, &step);
    if (rw < 0) {
      closeAll();
      return ThrowSetup(env, std::string("the overlay's memory layer: ") + step, -rw);
    }
  } else {
    // The work directory, made by host root before its parent is idmapped (root's on the disk:
    // the overlay's creator, root inside, owns it).
    if (mkdir(work.c_str(), 0700) < 0 && errno != EEXIST) {
      int e = errno;
      closeAll();
      return ThrowSetup(env, "mkdir " + work, e);
    }
    std::string parent = upper.substr(0, slash);
    rw = IdmappedClone(parent, userns);
    if (rw < 0) {
      closeAll();
      return ThrowSetup(env, "idmapping the upper layer's directory " + parent, -rw);
    }
  }
  fds.push_back(rw);
  int fc = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fc < 0) {
    int e = errno;
    closeAll();
    return ThrowSetup(env, "fsopen overlay", e);
  }
  fds.push_back(fc);
  auto self = [](int fd) { return "/proc/self/fd/" + std::to_string(fd); };
  int r = FsConfigString(fc, "source", "runsc-ts-idmapped");
  // One layer a call (Linux 6.8's lowerdir+), or the whole list before it.
  bool plus = r == 0 && FsConfigString(fc, "lowerdir+", self(fds[0])) == 0;
  for (size_t i = 1; r == 0 && plus && i < lower.size(); i++) r = FsConfigString(fc, "lowerdir+", self(fds[i]));
  if (r == 0 && !plus) {
    std::string all;
    for (size_t i = 0; i < lower.size(); i++) all += (i > 0 ? ":" : "") + self(fds[i]);
    r = FsConfigString(fc, "lowerdir", all);
  }
  if (r == 0) r = FsConfigString(fc, "upperdir", self(rw) + upper.substr(slash));
  if (r == 0) r = FsConfigString(fc, "workdir", self(rw) + work.substr(slash));
  // Options the runtime's overlay had: "key=value", or a flag ("volatile").
  if (o.Get("options").IsArray()) {
    Napi::Array opts = o.Get("options").As<Napi::Array>();
    for (uint32_t i = 0; r == 0 && i < opts.Length(); i++) {
      std::string opt = opts.Get(i).As<Napi::String>();
      size_t eq = opt.find('=');
      r = eq == std::string::npos ? (int)syscall(SYS_fsconfig, fc, FSCONFIG_SET_FLAG, opt.c_str(), nullptr, 0)
                                  : FsConfigString(fc, opt.substr(0, eq).c_str(), opt.substr(eq + 1));
    }
  }
  if (r < 0) {
    int e = errno;
    std::string k = FsError(fc);
    closeAll();
    return ThrowSetup(env, "overlay layers" + (k.empty() ? "" : " (" + k + ")"), e);
  }
  // The creator's credentials are what the overlay acts with in its upper layer.
  setfsgid(owner);
  setfsuid(owner);
  RaiseEffective();
  r = (int)syscall(SYS_fsconfig, fc, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0);
  int e = errno;
  ResetThreadCreds();
  if (r < 0) {
    std::string k = FsError(fc);
    closeAll();
    return ThrowSetup(env, "overlay of " + lower[0] + "..." + (k.empty() ? "" : " (" + k + ")"), e);
  }
  // nodev: a device node of the image opens nothing. Not nosuid: a setuid program of the
  // image raises its caller to the file's owner inside the container (root inside at most, a
  // host id of the container's range), as under runc; noNewPrivileges is what forbids it.
  int mnt = (int)syscall(SYS_fsmount, fc, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
  e = errno;
  closeAll();
  if (mnt < 0) return ThrowSetup(env, "fsmount overlay", e);
  return Napi::Number::New(env, mnt);
}

}  // namespace runsc
