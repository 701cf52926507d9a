// spawn(): clone the sandbox init into fresh namespaces and take its seccomp listener.
//
// Fork discipline (node-pty pty.cc, youki process/channel.rs): everything is prepared
// before clone; the child makes only async-signal-safe calls, then execs runsc-ts-init
// from a sealed memfd (so it runs whatever the host permissions of its file are and
// cannot be swapped under us). The init reports over a SOCK_SEQPACKET control socket;
// the listener is taken with pidfd_getfd(2) (see native/helper/init.c for why).
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "native.h"
#include "protocol.h"
#include "sandbox_child.h"

namespace runsc {
namespace {

int g_init_memfd = -1;  // sealed copy of runsc-ts-init, made once per process

int InitMemfd(const std::string& path, std::string* err) {
  if (g_init_memfd >= 0) return g_init_memfd;
  int src = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    *err = "open " + path + ": " + strerror(errno);
    return -1;
  }
  struct stat st;
  int mfd = memfd_create("runsc-ts-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0 || fstat(src, &st) < 0) {
    *err = std::string("memfd_create: ") + strerror(errno);
    close(src);
    return -1;
  }
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
    if (n <= 0) {
      *err = "copy " + path + ": " + strerror(n < 0 ? errno : EIO);
      close(src);
      close(mfd);
      return -1;
    }
  }
  close(src);
  fchmod(mfd, 0555);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
    *err = std::string("seal init memfd: ") + strerror(errno);
    close(mfd);
    return -1;
  }
  g_init_memfd = mfd;
  return mfd;
}

bool WriteFile(const std::string& path, const std::string& data, std::string* err) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "open " + path + ": " + strerror(errno);
    return false;
  }
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  if (n != (ssize_t)data.size()) {
    *err = "write " + path + ": " + strerror(n < 0 ? e : EIO);
    return false;
  }
  return true;
}

// Receives one control datagram from the process pidfd names, waiting at most timeout_ms.
// Returns its length, 0 at EOF or once that process has exited with nothing more said (a
// guard holds a copy of its end: no EOF comes), -1 on timeout (errno ETIMEDOUT) or error.
ssize_t RecvTimeout(int fd, int pidfd, char* buf, size_t len, int timeout_ms) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
  int r;
  do r = poll(p, pidfd >= 0 ? 2 : 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    errno = ETIMEDOUT;
    return -1;
  }
  if (r < 0) return -1;
  ssize_t n;
  do n = recv(fd, buf, len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN && p[1].revents != 0) return 0;
  return n;
}


// One message of len bytes on sock, with fds attached (SCM_RIGHTS): sendmsg's result.
ssize_t SendWithFds(int sock, const void* data, size_t len, const std::vector<int>& fds) {
  struct iovec iov = {const_cast<void*>(data), len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(fds.size() * sizeof(int)) + sizeof(struct cmsghdr));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

// One message: the config records, and the descriptors they refer to.
bool SendConfig(int ctl, const std::string& config, const std::vector<int>& fds) {
  return SendWithFds(ctl, config.data(), config.size(), fds) == (ssize_t)config.size();
}

// Has the client at cloner clone init (sandbox_child.h: the request and its answer): its
// PID with *pidfd set, or -1 with errno and *step naming what failed.
// With reply set, the client reaps init and sends its status on the socket returned there
// (WatchExitFrom reads it).
long CloneInClient(int cloner, unsigned long flags, unsigned long unshare_flags, bool orphan, bool guard, int tty, int ctl,
                   int init_fd, const std::vector<sandbox_join>& joins, int join_pid, int* pidfd, std::string* step, int* reply) {
  struct sandbox_clone_request req;
  memset(&req, 0, sizeof req);
  req.kind = SANDBOX_CLONE_REQUEST;
  req.report_exit = reply != nullptr ? 1 : 0;
  req.orphan = orphan ? 1 : 0;
  req.guard = guard ? 1 : 0;
  req.flags = flags;
  req.unshare_flags = unshare_flags;
  req.has_tty = tty >= 0 ? 1 : 0;
  req.join_pid = -1;
  if (joins.size() > SANDBOX_CLONE_MAX_JOINS) {
    *step = "clone in the client";
    errno = E2BIG;
    return -1;
  }
  req.njoins = (int32_t)joins.size();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    *step = "socketpair";
    return -1;
  }
  std::vector<int> fds = {sv[1], ctl, init_fd};
  if (tty >= 0) fds.push_back(tty);
  for (size_t k = 0; k < joins.size(); k++) {
    req.join_types[k] = joins[k].type;
    if (joins[k].fd == join_pid) req.join_pid = (int32_t)k;
    fds.push_back(joins[k].fd);
  }
  ssize_t sent = SendWithFds(cloner, &req, sizeof req, fds);
  int e = errno;
  close(sv[1]);
  if (sent != (ssize_t)sizeof req) {
    close(sv[0]);
    *step = "asking the client to clone";
    errno = sent < 0 ? e : EIO;
    return -1;
  }
  // The answer: the PID (or -errno) and the pidfd. A client that died answers nothing.
  int32_t answer = 0;
  struct iovec riov = {&answer, sizeof answer};
  struct msghdr r;
  memset(&r, 0, sizeof r);
  r.msg_iov = &riov;
  r.msg_iovlen = 1;
  alignas(struct cmsghdr) char rcontrol[CMSG_SPACE(sizeof(int))];
  r.msg_control = rcontrol;
  r.msg_controllen = sizeof rcontrol;
  struct pollfd p = {sv[0], POLLIN, 0};
  int ready;
  do ready = poll(&p, 1, 10000);
  while (ready < 0 && errno == EINTR);
  ssize_t n = ready > 0 ? recvmsg(sv[0], &r, MSG_CMSG_CLOEXEC) : -1;
  e = ready == 0 ? ETIMEDOUT : errno;
  if (reply != nullptr && n == (ssize_t)sizeof answer && answer > 0) *reply = sv[0];
  else close(sv[0]);
  int got = -1;
  struct cmsghdr* rc = n > 0 ? CMSG_FIRSTHDR(&r) : nullptr;
  if (rc != nullptr && rc->cmsg_level == SOL_SOCKET && rc->cmsg_type == SCM_RIGHTS) memcpy(&got, CMSG_DATA(rc), sizeof got);
  *step = "clone in the client";
  if (n != (ssize_t)sizeof answer) {
    if (got >= 0) close(got);
    errno = n < 0 ? e : EPIPE;
    return -1;
  }
  if (answer <= 0 || got < 0) {
    if (got >= 0) close(got);
    errno = answer < 0 ? -answer : EIO;
    return -1;
  }
  *pidfd = got;
  return answer;
}

bool IsSeccompListener(int fd) {
  char link[64], target[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return false;
  target[n] = 0;
  return strcmp(target, "anon_inode:seccomp notify") == 0;
}

}  // namespace

// spawn({initPath, cloneFlags, uidMap, gidMap, config}) -> {pid, pidfd, listener}
// loadInit(initPath): makes this process's sealed copy of runsc-ts-init now, rather than at
// its first spawn (a process that counts its descriptors around each command).
Napi::Value LoadInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowUsage(env, "loadInit(initPath)");
    return env.Undefined();
  }
  std::string err;
  if (InitMemfd(info[0].As<Napi::String>().Utf8Value(), &err) < 0) Napi::Error::New(env, "runsc-ts-init: " + err).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "spawn({initPath: string, cloneFlags: number, uidMap: string, gidMap: string, config: "
      "Uint8Array})";
  if (info.Length() != 1 || !info[0].IsObject()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("initPath").IsString() || !o.Get("cloneFlags").IsNumber() ||
      !o.Get("uidMap").IsString() || !o.Get("gidMap").IsString() ||
      !o.Get("config").IsTypedArray()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }
  std::string init_path = o.Get("initPath").As<Napi::String>();
  unsigned long flags = (unsigned long)o.Get("cloneFlags").As<Napi::Number>().Int64Value();
  std::string uid_map = o.Get("uidMap").As<Napi::String>();
  std::string gid_map = o.Get("gidMap").As<Napi::String>();
  Napi::Uint8Array cfg = o.Get("config").As<Napi::Uint8Array>();
  std::string config((const char*)cfg.Data(), cfg.ByteLength());
  // cgroup.procs files init joins before it runs anything (runsc/sandbox/cgroups.ts).
  std::vector<std::string> cgroup_procs;
  if (o.Has("cgroupProcs") && o.Get("cgroupProcs").IsArray()) {
    Napi::Array a = o.Get("cgroupProcs").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) cgroup_procs.push_back(a.Get(i).As<Napi::String>());
  }
  // Descriptors sent with the config (SCM_RIGHTS): init's records name them by index.
  std::vector<int> pass;
  if (o.Has("fds") && o.Get("fds").IsArray()) {
    Napi::Array a = o.Get("fds").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length() && i < 64; i++) pass.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  // A pty slave to become the sandbox's stdio and controlling terminal.
  int tty = o.Has("tty") && o.Get("tty").IsNumber() ? o.Get("tty").As<Napi::Number>().Int32Value() : -1;
  // Keep the control socket: init holds the workload until CTL_START (initConfig's "hold").
  bool hold = o.Has("hold") && o.Get("hold").ToBoolean().Value();
  // Outlives us (OCI create): no parent-death signal; the holder of the control socket
  // stands in for it (init ends when that socket hangs up).
  bool orphan = hold && o.Has("orphan") && o.Get("orphan").ToBoolean().Value();
  // The program becomes init, PID 1 of the new PID namespace (init's execInPlace): a guard
  // outside it stands in for init's own watch of the control socket (sandbox_child.h).
  bool guard = o.Has("guard") && o.Get("guard").ToBoolean().Value();
  if (guard && !(orphan && (flags & CLONE_NEWPID))) {
    Napi::TypeError::New(env, "spawn: guard needs hold, orphan and a new PID namespace").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Reap init here (waitExit, onExit). Not for one that outlives us: its status is for the
  // subreaper it passes to (a shim), and reaping it first would take it away.
  bool watch = !(o.Has("watch") && !o.Get("watch").ToBoolean().Value());
  // The client this process serves a command for clones init (CloneInClient): init then
  // descends from the caller. It is the client's child, never ours to reap: watched, the
  // client reaps it and sends us its status (WatchExitFrom).
  int cloner = o.Has("cloner") && o.Get("cloner").IsNumber() ? o.Get("cloner").As<Napi::Number>().Int32Value() : -1;
  int reply = -1;
  // Namespaces to join ({fd, type}); a PID namespace is entered for the clone below.
  std::vector<sandbox_join> joins;
  int join_pid = -1;
  if (o.Has("join") && o.Get("join").IsArray()) {
    Napi::Array a = o.Get("join").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object j = a.Get(i).As<Napi::Object>();
      sandbox_join k = {j.Get("fd").As<Napi::Number>().Int32Value(), j.Get("type").As<Napi::Number>().Int32Value()};
      if (k.type == CLONE_NEWPID) join_pid = k.fd;
      joins.push_back(k);
    }
  }

  std::string err;
  int init_fd = InitMemfd(init_path, &err);
  if (init_fd < 0) {
    Napi::Error::New(env, "runsc-ts-init: " + err).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    ThrowErrno(env, errno, "socketpair");
    return env.Undefined();
  }

  // A joined user namespace with new ones: the child makes them after joining it
  // (sandbox_child). A guarded init is forked by the child that made its namespaces too.
  bool join_user = false;
  for (const sandbox_join& j : joins) join_user = join_user || j.type == CLONE_NEWUSER;
  bool write_maps = (flags & CLONE_NEWUSER) && !join_user;
  unsigned long unshare_flags = join_user ? (flags & ~(unsigned long)CLONE_NEWUSER) : guard ? flags : 0;
  if (unshare_flags != 0) {
    flags = 0;
    // In the foreground, init passes to us when its first parent exits: we reap it.
    if (watch && cloner < 0 && !guard && (unshare_flags & CLONE_NEWPID)) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  int pidfd = -1;
  long pid;
  std::string clone_step = "clone";
  if (cloner >= 0) {
    pid = CloneInClient(cloner, flags, unshare_flags, orphan, guard, tty, sv[1], init_fd, joins, join_pid, &pidfd, &clone_step,
                        watch ? &reply : nullptr);
  } else {
    pid = sandbox_clone(flags, join_pid, &pidfd, sv[1], sv[0], init_fd, tty, orphan, joins.data(), (int)joins.size(), unshare_flags,
                        guard ? 1 : 0);
  }
  int clone_errno = errno;
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    ThrowErrno(env, clone_errno, clone_step.c_str(), join_pid >= 0 ? "or entering the PID namespace" : "");
    return env.Undefined();
  }
  int ctl = sv[0];

  if (unshare_flags & CLONE_NEWPID) {
    // The first child reports init's PID and exits (or stays as its guard): init is the
    // process from here on.
    static char pbuf[64];
    ssize_t n = RecvTimeout(ctl, pidfd, pbuf, sizeof pbuf, 10000);
    int e = errno;
    close(pidfd);
    pid_t g = -1;
    if (n == (ssize_t)(1 + sizeof g) && pbuf[0] == CTL_INIT_PID) memcpy(&g, pbuf + 1, sizeof g);
    // The client that cloned it reaps it (it is not ours); a guard, once it has done.
    if (cloner < 0 && guard && g > 0) ReapLater((int)pid);
    else if (cloner < 0) waitpid((pid_t)pid, nullptr, 0);
    pidfd = g > 0 ? (int)syscall(SYS_pidfd_open, g, 0) : -1;
    if (pidfd < 0) {
      if (g > 0) kill(g, SIGKILL);
      close(ctl);
      if (reply >= 0) close(reply);
      std::string why = n < 0 ? std::string("no report: ") + strerror(e)
                        : n >= 2 && pbuf[0] == CTL_CHILD_FAILED ? strerror((unsigned char)pbuf[1])
                                                   : "no init";
      Napi::Error err = Napi::Error::New(env, "joining a user namespace: " + why);
      err.Set("code", Napi::String::New(env, "ESETUP"));
      err.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    pid = g;
  }

  auto abort_child = [&](const std::string& msg, const char* code) {
    kill((pid_t)pid, SIGKILL);
    waitpid((pid_t)pid, nullptr, __WALL);
    close(ctl);
    close(pidfd);
    if (reply >= 0) close(reply);
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  };

  std::string proc = "/proc/" + std::to_string(pid);
  if (write_maps &&
      (!WriteFile(proc + "/uid_map", uid_map, &err) || !WriteFile(proc + "/gid_map", gid_map, &err)))
    return abort_child("user namespace: " + err, "ESETUP");
  for (const std::string& procs : cgroup_procs)
    if (!WriteFile(procs, std::to_string(pid), &err)) return abort_child("cgroup: " + err, "ESETUP");
  if (send(ctl, (const char[]){CTL_MAPS_WRITTEN}, 1, MSG_NOSIGNAL) != 1 || !SendConfig(ctl, config, pass)) {
    // The child may have failed before reading (a namespace it could not join or make): its report says why.
    int e = errno;
    char report[2];
    if (recv(ctl, report, sizeof report, MSG_DONTWAIT) == 2 && report[0] == CTL_CHILD_FAILED)
      return abort_child(std::string("sandbox child, joining or making its namespaces: ") + strerror((unsigned char)report[1]), "ESETUP");
    return abort_child(std::string("configure init: ") + strerror(e), "ESETUP");
  }

  // Wait for CTL_FILTER_READY (about to install the filter) or an error report.
  static char buf[1100];
  ssize_t n = RecvTimeout(ctl, pidfd, buf, sizeof buf - 1, 10000);
  // "H": init stopped before pivot_root for the createContainer hooks. onPause runs the
  // runtime's own hooks first and returns the state init gives its hooks.
  if (n > 0 && buf[0] == CTL_PAUSED_FOR_HOOKS && o.Has("onPause") && o.Get("onPause").IsFunction()) {
    Napi::Value state = o.Get("onPause").As<Napi::Function>().Call({Napi::Number::New(env, (double)pid)});
    if (env.IsExceptionPending() || !state.IsString()) {
      kill((pid_t)pid, SIGKILL);
      waitpid((pid_t)pid, nullptr, __WALL);
      close(ctl);
      close(pidfd);
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "onPause must return the state JSON").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string msg = std::string(1, CTL_CREATE_HOOKS) + state.As<Napi::String>().Utf8Value();
    if (send(ctl, msg.data(), msg.size(), MSG_NOSIGNAL) != (ssize_t)msg.size())
      return abort_child(std::string("init exited before its createContainer hooks: ") + strerror(errno), "ESETUP");
    // The hooks take their own time (and timeouts): init's exit ends the wait.
    n = RecvTimeout(ctl, pidfd, buf, sizeof buf - 1, -1);
  }
  if (n <= 0 || buf[0] != CTL_FILTER_READY) {
    std::string msg;
    if (n < 0)
      msg = std::string("init did not report: ") + strerror(errno);
    else if (n == 0)
      msg = "init exited during setup";
    else if (buf[0] == CTL_CHILD_FAILED)
      msg = std::string("sandbox child: ") + strerror(n > 1 ? (unsigned char)buf[1] : EIO);
    else
      msg = std::string(buf + 1, (size_t)(n - 1));
    return abort_child(msg, "ESETUP");
  }

  // The listener appears as fd 4 of init once seccomp(2) returns.
  int listener = -1;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, 4, 0);
    if (fd >= 0) {
      if (IsSeccompListener(fd)) {
        listener = fd;
        break;
      }
      close(fd);
    }
    // An error report from init, or its exit, ends the wait.
    struct pollfd p[2] = {{ctl, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (poll(p, 2, 0) > 0) {
      n = recv(ctl, buf, sizeof buf - 1, MSG_DONTWAIT);
      if (n <= 0) return abort_child("init exited while installing the filter", "ESETUP");
      return abort_child(std::string(buf + 1, (size_t)(n - 1)), "ESETUP");
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > 10000)
      return abort_child("timed out waiting for the seccomp listener", "ESETUP");
    struct timespec pause = {0, 20000};
    nanosleep(&pause, nullptr);
  }
  // The mount namespace, held before the workload starts: a workload that exits at once
  // leaves a zombie init whose namespaces are gone, and the sentry must still enter it.
  int mntns = openat(AT_FDCWD, (proc + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
  if (mntns < 0) {
    close(listener);
    return abort_child(std::string("open mount namespace: ") + strerror(errno), "ESETUP");
  }
  if (send(ctl, (const char[]){CTL_LISTENER_TAKEN}, 1, MSG_NOSIGNAL) != 1) {
    close(listener);
    close(mntns);
    return abort_child("init exited before starting the workload", "ESETUP");
  }
  if (!hold) close(ctl);
  if (watch && reply >= 0) WatchExitFrom((int)pid, reply);
  else if (watch) WatchExit((int)pid);
  reply = -1;

  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, (double)pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  out.Set("listener", Napi::Number::New(env, listener));
  out.Set("mntns", Napi::Number::New(env, mntns));
  if (hold) out.Set("control", Napi::Number::New(env, ctl));
  return out;
}

}  // namespace runsc
