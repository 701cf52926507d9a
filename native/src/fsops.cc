// Descriptors and filesystem operations the sentry performs on a task's behalf.
//
// Path operations run on the sentry's syscall thread after EnterMountNamespace(): that
// thread has its own fs_struct inside the workload's mount namespace, so "/" and
// absolute symlinks resolve exactly as they do for the workload, and after SetCreds()
// permission checks are made with the task's fsuid/fsgid/groups, not the sentry's root.
// Paths arrive as bytes (Uint8Array + length): Linux paths need not be UTF-8.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "native.h"
#include "blocking.h"

namespace runsc {
namespace {

inline int Int(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}
inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// Copies a path (bytes, length) into a NUL-terminated buffer; false if it has a NUL.
bool PathArg(const Napi::CallbackInfo& info, size_t i, char (&out)[4097]) {
  Napi::Uint8Array b = info[i].As<Napi::Uint8Array>();
  size_t len = (size_t)info[i + 1].As<Napi::Number>().Int64Value();
  if (len > b.ByteLength() || len > 4096) return false;
  memcpy(out, b.Data(), len);
  out[len] = 0;
  return memchr(out, 0, len) == nullptr;
}

bool Usage(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() >= n) return true;
  ThrowUsage(info.Env(), usage);
  return false;
}

}  // namespace

// pidfdOpen(pid[, flags]) -> fd | -errno (flags: PIDFD_THREAD = O_EXCL, Linux 6.9)
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "pidfdOpen(pid[, flags])")) return info.Env().Undefined();
  unsigned flags = info.Length() > 1 && info[1].IsNumber() ? (unsigned)Int(info, 1) : 0;
  long r = syscall(SYS_pidfd_open, Int(info, 0), flags);
  return Num(info.Env(), r < 0 ? -errno : (double)r);
}

Napi::Value PidfdGetfd(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "pidfdGetfd(pidfd, targetFd)")) return info.Env().Undefined();
  ScopedSentryCaps caps;  // a ptrace check (PTRACE_MODE_ATTACH_REALCREDS) of the sentry's
  long r = syscall(SYS_pidfd_getfd, Int(info, 0), Int(info, 1), 0);
  return Num(info.Env(), r < 0 ? -errno : (double)r);
}

// pidfdSendSignal(pidfd, signal[, flags[, siginfo]]) -> 0 | -errno (siginfo: 128 bytes)
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  const char* usage = "pidfdSendSignal(pidfd, signal[, flags[, siginfo (128 bytes)]])";
  if (!Usage(info, 2, usage)) return info.Env().Undefined();
  unsigned flags = info.Length() > 2 && info[2].IsNumber() ? (unsigned)Int(info, 2) : 0;
  void* si = nullptr;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsTypedArray() || info[3].As<Napi::Uint8Array>().ByteLength() < 128) {
      ThrowUsage(info.Env(), usage);
      return info.Env().Undefined();
    }
    si = info[3].As<Napi::Uint8Array>().Data();
  }
  ScopedSentryCaps caps;  // the sentry's permission to signal, not the task's
  long r = syscall(SYS_pidfd_send_signal, Int(info, 0), Int(info, 1), si, flags);
  return Num(info.Env(), r < 0 ? -errno : 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "close(fd)")) return info.Env().Undefined();
  return Num(info.Env(), close(Int(info, 0)) < 0 ? -errno : 0);
}

// dup2(oldfd, newfd) -> newfd | -errno (newfd without close-on-exec)
Napi::Value Dup2(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "dup2(oldfd, newfd)")) return info.Env().Undefined();
  int r;
  do r = dup2(Int(info, 0), Int(info, 1));
  while (r < 0 && errno == EINTR);
  return Num(info.Env(), r < 0 ? -errno : r);
}

// dup(fd) -> a new descriptor of the same file, close-on-exec, above 2 | -errno
Napi::Value Dup(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "dup(fd)")) return info.Env().Undefined();
  int r = fcntl(Int(info, 0), F_DUPFD_CLOEXEC, 3);
  return Num(info.Env(), r < 0 ? -errno : r);
}

// enterMountNamespace(nsfd) -> an O_PATH fd of the host's /proc, opened before entering.
// Moves the calling thread (only) into the mount namespace nsfd refers to, whose root
// becomes this thread's root and cwd.
Napi::Value EnterMountNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 1, "enterMountNamespace(nsfd)")) return env.Undefined();
  int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) {
    ThrowErrno(env, errno, "open", "/proc");
    return env.Undefined();
  }
  // setns(CLONE_NEWNS) needs an fs_struct shared with no other thread.
  if (unshare(CLONE_FS) < 0 || setns(Int(info, 0), CLONE_NEWNS) < 0) {
    int e = errno;
    close(proc);
    ThrowErrno(env, e, "setns", "mnt");
    return env.Undefined();
  }
  umask(0);  // modes arrive with the task's umask already applied
  return Num(env, proc);
}

// openat2(dirfd, path, pathLen, flags, mode, resolve) -> fd (O_CLOEXEC) | -errno
Napi::Value OpenAt2(const Napi::CallbackInfo& info) {
  if (!Usage(info, 6, "openat2(dirfd, path, pathLen, flags, mode, resolve)"))
    return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  struct open_how how;
  memset(&how, 0, sizeof how);
  // Our copy is close-on-exec; the task's copy gets the task's O_CLOEXEC via ADDFD.
  // O_NOCTTY: a tty opened here must never become the sentry's controlling terminal.
  how.flags = (uint64_t)(uint32_t)Int(info, 3) | O_CLOEXEC;
  if (!(how.flags & O_PATH)) how.flags |= O_NOCTTY;  // openat2 refuses O_PATH with others
  how.mode = (how.flags & (O_CREAT | __O_TMPFILE)) ? (uint64_t)Int(info, 4) : 0;
  how.resolve = (uint64_t)Int(info, 5);
  long r = syscall(SYS_openat2, Int(info, 0), path, &how, sizeof how);
  return Num(info.Env(), r < 0 ? -errno : (double)r);
}

// statAt(dirfd, path, pathLen, flags, out) -> 0 | -errno; out receives struct stat (144)
Napi::Value StatAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 5, "statAt(dirfd, path, pathLen, flags, out)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  Napi::Uint8Array out = info[4].As<Napi::Uint8Array>();
  if (out.ByteLength() < sizeof(struct stat)) return Num(info.Env(), -EINVAL);
  long r = syscall(SYS_newfstatat, Int(info, 0), path, out.Data(), Int(info, 3));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// statxAt(dirfd, path, pathLen, flags, mask, out) -> 0 | -errno; out: struct statx (256)
Napi::Value StatxAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 6, "statxAt(dirfd, path, pathLen, flags, mask, out)"))
    return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  Napi::Uint8Array out = info[5].As<Napi::Uint8Array>();
  if (out.ByteLength() < 256) return Num(info.Env(), -EINVAL);
  long r = syscall(SYS_statx, Int(info, 0), path, Int(info, 3),
                   info[4].As<Napi::Number>().Uint32Value(), out.Data());
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// readlinkAt(dirfd, path, pathLen, out) -> length | -errno
Napi::Value ReadlinkAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "readlinkAt(dirfd, path, pathLen, out)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  Napi::Uint8Array out = info[3].As<Napi::Uint8Array>();
  ssize_t n = readlinkat(Int(info, 0), path, (char*)out.Data(), out.ByteLength());
  return Num(info.Env(), n < 0 ? -errno : (double)n);
}

// accessAt(dirfd, path, pathLen, mode, flags) -> 0 | -errno (faccessat2, Linux 5.8)
Napi::Value AccessAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 5, "accessAt(dirfd, path, pathLen, mode, flags)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  long r = syscall(SYS_faccessat2, Int(info, 0), path, Int(info, 3), Int(info, 4));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// The path operations the sentry performs for a task (sentry/syscalls/sys_fsmut.ts), on
// this thread's credentials. Each returns 0 | -errno; paths are (bytes, length) pairs.

// mkdirAt(dirfd, path, pathLen, mode)
Napi::Value MkdirAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "mkdirAt(dirfd, path, pathLen, mode)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), mkdirat(Int(info, 0), path, (mode_t)Int(info, 3)) < 0 ? -errno : 0);
}

// mknodAt(dirfd, path, pathLen, mode, dev)
Napi::Value MknodAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 5, "mknodAt(dirfd, path, pathLen, mode, dev)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  long r = mknodat(Int(info, 0), path, (mode_t)Int(info, 3), (dev_t)info[4].As<Napi::Number>().Int64Value());
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// unlinkAt(dirfd, path, pathLen, flags)
Napi::Value UnlinkAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "unlinkAt(dirfd, path, pathLen, flags)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), unlinkat(Int(info, 0), path, Int(info, 3)) < 0 ? -errno : 0);
}

// renameAt2(olddirfd, old, oldLen, newdirfd, new, newLen, flags)
Napi::Value RenameAt2(const Napi::CallbackInfo& info) {
  if (!Usage(info, 7, "renameAt2(olddirfd, old, oldLen, newdirfd, new, newLen, flags)"))
    return info.Env().Undefined();
  char from[4097], to[4097];
  if (!PathArg(info, 1, from) || !PathArg(info, 4, to)) return Num(info.Env(), -EINVAL);
  long r = syscall(SYS_renameat2, Int(info, 0), from, Int(info, 3), to, (unsigned)Int(info, 6));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// linkAt(olddirfd, old, oldLen, newdirfd, new, newLen, flags)
Napi::Value LinkAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 7, "linkAt(olddirfd, old, oldLen, newdirfd, new, newLen, flags)"))
    return info.Env().Undefined();
  char from[4097], to[4097];
  if (!PathArg(info, 1, from) || !PathArg(info, 4, to)) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), linkat(Int(info, 0), from, Int(info, 3), to, Int(info, 6)) < 0 ? -errno : 0);
}

// symlinkAt(target, targetLen, dirfd, path, pathLen)
Napi::Value SymlinkAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 5, "symlinkAt(target, targetLen, dirfd, path, pathLen)")) return info.Env().Undefined();
  char target[4097], path[4097];
  if (!PathArg(info, 0, target) || !PathArg(info, 3, path)) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), symlinkat(target, Int(info, 2), path) < 0 ? -errno : 0);
}

// chmodAt(dirfd, path, pathLen, mode): follows a final symlink (fchmodat(2) flags 0).
Napi::Value ChmodAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "chmodAt(dirfd, path, pathLen, mode)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  long r = syscall(SYS_fchmodat, Int(info, 0), path, (mode_t)Int(info, 3));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// chownAt(dirfd, path, pathLen, uid, gid, flags); uid/gid -1 leave that id.
Napi::Value ChownAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 6, "chownAt(dirfd, path, pathLen, uid, gid, flags)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  long r = fchownat(Int(info, 0), path, (uid_t)Int(info, 3), (gid_t)Int(info, 4), Int(info, 5));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// utimensAt(dirfd, path, pathLen, times: Uint8Array (2 struct timespec) | null, flags)
Napi::Value UtimensAt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 5, "utimensAt(dirfd, path, pathLen, times, flags)")) return info.Env().Undefined();
  char path[4097];
  if (!PathArg(info, 1, path)) return Num(info.Env(), -EINVAL);
  const struct timespec* ts = nullptr;
  if (info[3].IsTypedArray()) {
    Napi::Uint8Array t = info[3].As<Napi::Uint8Array>();
    if (t.ByteLength() < 2 * sizeof(struct timespec)) return Num(info.Env(), -EINVAL);
    ts = (const struct timespec*)t.Data();
  }
  return Num(info.Env(), utimensat(Int(info, 0), path, ts, Int(info, 4)) < 0 ? -errno : 0);
}

// schedGetaffinity(tid, out) -> bytes written to out (the kernel's result) | -errno
Napi::Value SchedGetaffinity(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "schedGetaffinity(tid, out)")) return info.Env().Undefined();
  Napi::Uint8Array out = info[1].As<Napi::Uint8Array>();
  long r = syscall(SYS_sched_getaffinity, Int(info, 0), out.ByteLength(), out.Data());
  return Num(info.Env(), r < 0 ? -errno : (double)r);
}

// fsetxattr(fd, name, value: Uint8Array, flags) -> 0 | -errno
Napi::Value Fsetxattr(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "fsetxattr(fd, name, value, flags)")) return info.Env().Undefined();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Uint8Array v = info[2].As<Napi::Uint8Array>();
  long r = fsetxattr(Int(info, 0), name.c_str(), v.Data(), v.ByteLength(), Int(info, 3));
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// fremovexattr(fd, name) -> 0 | -errno
Napi::Value Fremovexattr(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "fremovexattr(fd, name)")) return info.Env().Undefined();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  return Num(info.Env(), fremovexattr(Int(info, 0), name.c_str()) < 0 ? -errno : 0);
}

// ftruncate(fd, length)
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "ftruncate(fd, length)")) return info.Env().Undefined();
  return Num(info.Env(), ftruncate(Int(info, 0), (off_t)info[1].As<Napi::Number>().Int64Value()) < 0 ? -errno : 0);
}

// connect(fd, addr: Uint8Array, len) -> 0 | -errno
Napi::Value Connect(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "connect(fd, addr, len)")) return info.Env().Undefined();
  Napi::Uint8Array a = info[1].As<Napi::Uint8Array>();
  socklen_t len = (socklen_t)Int(info, 2);
  if (len > a.ByteLength()) return Num(info.Env(), -EINVAL);
  int r;
  do r = connect(Int(info, 0), (const struct sockaddr*)a.Data(), len);
  while (r < 0 && errno == EINTR);
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// sendto(fd, data, len, flags, addr, addrLen[, control]) -> bytes sent | -errno; with
// control (struct cmsghdr records), a sendmsg that carries them.
Napi::Value SendTo(const Napi::CallbackInfo& info) {
  if (!Usage(info, 6, "sendto(fd, data, len, flags, addr, addrLen[, control])")) return info.Env().Undefined();
  Napi::Uint8Array d = info[1].As<Napi::Uint8Array>();
  size_t len = (size_t)info[2].As<Napi::Number>().Int64Value();
  Napi::Uint8Array a = info[4].As<Napi::Uint8Array>();
  socklen_t alen = (socklen_t)Int(info, 5);
  if (len > d.ByteLength() || alen > a.ByteLength()) return Num(info.Env(), -EINVAL);
  std::vector<uint8_t> control;
  if (info.Length() > 6 && info[6].IsTypedArray()) {
    Napi::Uint8Array c = info[6].As<Napi::Uint8Array>();
    control.assign(c.Data(), c.Data() + c.ByteLength());
  }
  ssize_t n;
  // No address: NULL, as a connected socket's send has it (a non-NULL one of length 0 is EINVAL for UDP).
  do n = blocking::SendWithControl(Int(info, 0), d.Data(), len, Int(info, 3), alen == 0 ? nullptr : (const struct sockaddr*)a.Data(), alen, control);
  while (n < 0 && errno == EINTR);
  return Num(info.Env(), n < 0 ? -errno : (double)n);
}

// fchdir(fd) -> 0 | -errno (this thread only, after enterMountNamespace)
Napi::Value Fchdir(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "fchdir(fd)")) return info.Env().Undefined();
  return Num(info.Env(), fchdir(Int(info, 0)) < 0 ? -errno : 0);
}

// inTerminalForeground(fd) -> true when fd is a terminal whose foreground process group
// is ours: a SIGINT we got then came from that terminal, to the whole group.
Napi::Value InTerminalForeground(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "inTerminalForeground(fd)")) return info.Env().Undefined();
  pid_t fg = tcgetpgrp(Int(info, 0));
  return Napi::Boolean::New(info.Env(), fg >= 0 && fg == getpgrp());
}

// probe() -> what this kernel offers that the sandbox relies on
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  struct utsname u;
  uname(&u);
  o.Set("release", Napi::String::New(env, u.release));
  uint32_t action = 0x7fc00000U;  // SECCOMP_RET_USER_NOTIF
  o.Set("userNotif", Napi::Boolean::New(env, syscall(SYS_seccomp, 2 /* GET_ACTION_AVAIL */, 0,
                                                     &action) == 0));
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC;
  long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
  o.Set("openat2", Napi::Boolean::New(env, fd >= 0));
  if (fd >= 0) close((int)fd);
  long pfd = syscall(SYS_pidfd_open, getpid(), 0);
  o.Set("pidfdOpen", Napi::Boolean::New(env, pfd >= 0));
  bool getfd = false;
  if (pfd >= 0) {
    getfd = syscall(SYS_pidfd_getfd, (int)pfd, -1, 0) < 0 && errno == EBADF;
    close((int)pfd);
  }
  o.Set("pidfdGetfd", Napi::Boolean::New(env, getfd));
  bool setattr = syscall(SYS_mount_setattr, -1, "", 0, nullptr, 0) < 0 && errno != ENOSYS;
  o.Set("mountSetattr", Napi::Boolean::New(env, setattr));
  return o;
}

}  // namespace runsc
