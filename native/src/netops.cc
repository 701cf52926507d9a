// Socket operations the sentry performs on a task's behalf (network.egress, network.bind):
// creating a socket in the sentry's own (the host's) network namespace, binding and
// listening on a duplicate of the task's socket, socket options, and the network namespace
// a socket belongs to. Results are numbers: the value, or a negative errno.
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "errors.h"
#include "native.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C  // include/uapi/linux/sockios.h, Linux 4.9
#endif

namespace runsc {
namespace {

inline int Int(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}
inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

bool Usage(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() >= n) return true;
  ThrowUsage(info.Env(), usage);
  return false;
}

}  // namespace

// socket(domain, type, protocol) -> fd (close-on-exec) | -errno, in this thread's network
// namespace (the sentry's: it changed only its mount namespace).
Napi::Value Socket(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "socket(domain, type, protocol)")) return info.Env().Undefined();
  int fd = socket(Int(info, 0), Int(info, 1) | SOCK_CLOEXEC, Int(info, 2));
  return Num(info.Env(), fd < 0 ? -errno : fd);
}

// socketpair(domain, type, protocol) -> [fd, fd] (close-on-exec) | -errno
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "socketpair(domain, type, protocol)")) return info.Env().Undefined();
  int sv[2];
  if (socketpair(Int(info, 0), Int(info, 1) | SOCK_CLOEXEC, Int(info, 2), sv) < 0) return Num(info.Env(), -errno);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, Num(info.Env(), sv[0]));
  a.Set(1u, Num(info.Env(), sv[1]));
  return a;
}

// bind(fd, addr: Uint8Array, len) -> 0 | -errno. A pathname unix address resolves from this
// thread's cwd and root, and the file is created with its fsuid/fsgid and umask.
Napi::Value Bind(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "bind(fd, addr, len)")) return info.Env().Undefined();
  Napi::Uint8Array a = info[1].As<Napi::Uint8Array>();
  socklen_t len = (socklen_t)Int(info, 2);
  if (len > a.ByteLength()) return Num(info.Env(), -EINVAL);
  int r = bind(Int(info, 0), (const struct sockaddr*)a.Data(), len);
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// listen(fd, backlog) -> 0 | -errno
Napi::Value Listen(const Napi::CallbackInfo& info) {
  if (!Usage(info, 2, "listen(fd, backlog)")) return info.Env().Undefined();
  return Num(info.Env(), listen(Int(info, 0), Int(info, 1)) < 0 ? -errno : 0);
}

// getsockoptInt(fd, level, name) -> the int value (>= 0 for the options read) | -errno
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "getsockoptInt(fd, level, name)")) return info.Env().Undefined();
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(Int(info, 0), Int(info, 1), Int(info, 2), &v, &len) < 0) return Num(info.Env(), -errno);
  return Num(info.Env(), v);
}

// setsockoptInt(fd, level, name, value) -> 0 | -errno
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info) {
  if (!Usage(info, 4, "setsockoptInt(fd, level, name, value)")) return info.Env().Undefined();
  int v = Int(info, 3);
  int r = setsockopt(Int(info, 0), Int(info, 1), Int(info, 2), &v, sizeof v);
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// socketNetns(fd) -> the inode number of the network namespace the socket belongs to
// (SIOCGSKNS, Linux 4.9; needs CAP_NET_ADMIN over that namespace) | -errno
Napi::Value SocketNetns(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "socketNetns(fd)")) return info.Env().Undefined();
  int ns = ioctl(Int(info, 0), SIOCGSKNS);
  if (ns < 0) return Num(info.Env(), -errno);
  struct stat st;
  int r = fstat(ns, &st);
  int e = errno;
  close(ns);
  if (r < 0) return Num(info.Env(), -e);
  return Num(info.Env(), (double)st.st_ino);
}

// fcntl(fd, cmd, arg) -> the result | -errno (integer commands only: F_GETFL, F_GETFD...)
Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "fcntl(fd, cmd, arg)")) return info.Env().Undefined();
  int r = fcntl(Int(info, 0), Int(info, 1), Int(info, 2));
  return Num(info.Env(), r < 0 ? -errno : r);
}

// umask(mask) -> the previous mask. This thread's only once it has an fs_struct of its own
// (the sentry thread unshared CLONE_FS in enterMountNamespace).
Napi::Value Umask(const Napi::CallbackInfo& info) {
  if (!Usage(info, 1, "umask(mask)")) return info.Env().Undefined();
  return Num(info.Env(), umask((mode_t)Int(info, 0)));
}

}  // namespace runsc
