// Mechanisms of the OCI runtime's lifecycle (runsc/oci/): a container's pty and the console
// socket that receives its master, the lock on a container's state, and the start signal
// to a held init.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "errors.h"
#include "native.h"

namespace runsc {

// openPty() -> {master, slave}; both close-on-exec, the slave not our controlling terminal.
Napi::Value OpenPty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) {
    ThrowErrno(env, errno, "posix_openpt");
    return env.Undefined();
  }
  char name[128];
  if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof name) != 0) {
    int e = errno;
    close(master);
    ThrowErrno(env, e, "unlockpt");
    return env.Undefined();
  }
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int e = errno;
    close(master);
    ThrowErrno(env, e, "open", name);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("master", Napi::Number::New(env, master));
  out.Set("slave", Napi::Number::New(env, slave));
  return out;
}

// openPtyIn(root) -> {master, slave} | -errno: a pty of the devpts mounted at ROOT/dev/pts (a
// container's, through /proc/PID/root), as runc's exec makes one inside the container, so
// that its slave is one of the container's /dev/pts/N. The container's root user controls
// that tree: the path is resolved inside root with no symlink followed, and what it names is
// looked at through an O_PATH descriptor (opening a device may act: a watchdog bound there
// would start) — a devpts's ptmx, or refused (-ENOTTY) — before that same inode is opened.
// The slave comes from the master (TIOCGPTPEER), never by a path. Both close-on-exec.
Napi::Value OpenPtyIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) {
    ThrowUsage(env, "openPtyIn(root)");
    return env.Undefined();
  }
  std::string root = info[0].As<Napi::String>();
  int dir = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Napi::Number::New(env, -errno);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int path = (int)syscall(SYS_openat2, dir, "dev/pts/ptmx", &how, sizeof how);
  int e = errno;
  close(dir);
  if (path < 0) return Napi::Number::New(env, -e);
  struct stat st;
  struct statfs sf;
  if (fstat(path, &st) < 0 || fstatfs(path, &sf) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(5, 2) ||
      sf.f_type != DEVPTS_SUPER_MAGIC) {
    close(path);
    return Napi::Number::New(env, -ENOTTY);
  }
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", path);
  int master = open(self, O_RDWR | O_NOCTTY | O_CLOEXEC);
  e = errno;
  close(path);
  if (master < 0) return Napi::Number::New(env, -e);
  int zero = 0;
  if (ioctl(master, TIOCSPTLCK, &zero) < 0) {
    e = errno;
    close(master);
    return Napi::Number::New(env, -e);
  }
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    e = errno;
    close(master);
    return Napi::Number::New(env, -e);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("master", Napi::Number::New(env, master));
  out.Set("slave", Napi::Number::New(env, slave));
  return out;
}

// setWinsize(fd, rows, cols) -> 0 or -errno
Napi::Value SetWinsize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  int r = ioctl(info[0].As<Napi::Number>().Int32Value(), TIOCSWINSZ, &ws);
  return Napi::Number::New(env, r < 0 ? -errno : 0);
}

// sendFdToSocket(path, fd, name): connects to the unix socket at path and sends fd with
// SCM_RIGHTS, name as the data (runc's console socket protocol). Throws on failure.
Napi::Value SendFdToSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int s = SendWithFds(env, info[0].As<Napi::String>(), info[2].As<Napi::String>(), {info[1].As<Napi::Number>().Int32Value()});
  if (s >= 0) close(s);
  return env.Undefined();
}

// flock(fd, op) -> 0 or -errno (op: LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8). Blocking.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int r;
  do r = flock(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  while (r < 0 && errno == EINTR);
  return Napi::Number::New(env, r < 0 ? -errno : 0);
}

}  // namespace runsc
