// Mechanisms of the OCI runtime's lifecycle (runsc/oci/): a container's pty and the console
// socket that receives its master, the lock on a container's state, and the start signal
// to a held init.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
