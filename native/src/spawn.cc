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

// Receives one control datagram, waiting at most timeout_ms. Returns its length, 0 at
// EOF, -1 on timeout (errno ETIMEDOUT) or error.
ssize_t RecvTimeout(int fd, char* buf, size_t len, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    errno = ETIMEDOUT;
    return -1;
  }
  if (r < 0) return -1;
  ssize_t n;
  do n = recv(fd, buf, len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n;
}

[[noreturn]] void ChildFail(int ctl, int e) {
  char msg[2] = {CTL_CHILD_FAILED, (char)e};
  (void)!write(ctl, msg, 2);
  _exit(127);
}

// Runs in the cloned child: async-signal-safe calls only.
// A namespace the sandbox joins instead of making: an open nsfs file and its CLONE_NEW* type.
struct Join {
  int fd;
  int type;
};

[[noreturn]] void ChildMain(int ctl, int parent_end, int init_fd, int tty, bool orphan, const std::vector<Join>& joins,
                            unsigned long unshare_flags) {
  // Only the parent may hold the other end: its death must read as EOF below.
  close(parent_end);
  // Namespaces given by path (OCI linux.namespaces[].path), first: the descriptors are
  // still where the parent had them. A user namespace comes last among them: the others are
  // joined as host root (a pod's network namespace is the host user namespace's).
  for (const Join& j : joins)
    if (j.type != CLONE_NEWPID && setns(j.fd, j.type) < 0) ChildFail(ctl, errno);
  // Joined a user namespace and makes others: they must belong to it, so they are made
  // only now, and the new PID namespace needs one more fork for its PID 1. This process
  // tells the parent that one's PID (CTL_INIT_PID) and leaves it to the parent's subreaper.
  if (unshare_flags != 0) {
    if (unshare((int)unshare_flags) < 0) ChildFail(ctl, errno);
  }
  // A new PID namespace takes effect for children only: one more fork makes its PID 1. (A
  // joined one was entered by the parent's thread before the clone: we are in it already,
  // and a PID we saw there would mean nothing to the parent.)
  if (unshare_flags & CLONE_NEWPID) {
    // A raw fork: glibc's fork() would take locks (malloc's among them) that another of the
    // runtime's threads may have held when this child was cloned, and wait on them forever.
    pid_t g = (pid_t)syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (g < 0) ChildFail(ctl, errno);
    if (g > 0) {
      char msg[1 + sizeof g];
      msg[0] = CTL_INIT_PID;
      memcpy(msg + 1, &g, sizeof g);
      _exit(write(ctl, msg, sizeof msg) == (ssize_t)sizeof msg ? 0 : 127);
    }
  }
  // Signals: Node ignores SIGPIPE and blocks others; the sandbox starts from defaults.
  DefaultSignals();

  // Move our fds above the target slot first, then into place: 3 is the control socket.
  int c = fcntl(ctl, F_DUPFD_CLOEXEC, 64);
  int i = fcntl(init_fd, F_DUPFD_CLOEXEC, 64);
  if (c < 0 || i < 0) _exit(127);
  if (tty >= 0) {
    // A terminal: the pty's slave is the sandbox's stdio and controlling terminal.
    int t = fcntl(tty, F_DUPFD_CLOEXEC, 64);
    if (t < 0 || setsid() < 0) _exit(127);
    for (int fd = 0; fd <= 2; fd++)
      if (dup2(t, fd) < 0) _exit(127);
    if (ioctl(0, TIOCSCTTY, 0) < 0) _exit(127);
  }
  if (dup2(c, 3) < 0) _exit(127);
  close(4);
  for (int fd = 0; fd <= 2; fd++) fcntl(fd, F_SETFD, 0);
  syscall(SYS_close_range, 6, ~0U, CLOSE_RANGE_CLOEXEC);

  // Wait until the sentry has written our uid/gid maps. EOF: the sentry is gone.
  char go = 0;
  ssize_t n;
  do n = read(3, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != CTL_MAPS_WRITTEN) _exit(125);
  // Become root of the new user namespace (host HOST_ID_BASE): exec would otherwise drop
  // every capability, because our host uid 0 has no mapping inside. Raw syscalls: glibc's
  // wrappers would try to broadcast to threads this child does not have.
  if (syscall(SYS_setgroups, 0, nullptr) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 ||
      syscall(SYS_setresuid, 0, 0, 0) < 0)
    ChildFail(3, errno);
  // Fail closed: the sentry's death kills us. Only now: changing credentials clears the
  // parent-death signal (kernel/cred.c: commit_creds). A sentry that died before this
  // point has closed its end of the control socket, which the check below sees.
  if (!orphan) prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct pollfd alive = {3, POLLIN, 0};
  if (poll(&alive, 1, 0) > 0 && (alive.revents & (POLLHUP | POLLERR))) _exit(125);

  static char arg0[] = "runsc-ts-init";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, i, "", argv, envp, AT_EMPTY_PATH);
  ChildFail(3, errno);
}

// One message: the config records, and the descriptors they refer to.
bool SendConfig(int ctl, const std::string& config, const std::vector<int>& fds) {
  struct iovec iov = {(void*)config.data(), config.size()};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(8 * sizeof(int))];
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  return sendmsg(ctl, &msg, MSG_NOSIGNAL) == (ssize_t)config.size();
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
  // Reap init here (waitExit, onExit). Not for one that outlives us: its status is for the
  // subreaper it passes to (a shim), and reaping it first would take it away.
  bool watch = !(o.Has("watch") && !o.Get("watch").ToBoolean().Value());
  // Namespaces to join ({fd, type}); a PID namespace is entered for the clone below.
  std::vector<Join> joins;
  int join_pid = -1;
  if (o.Has("join") && o.Get("join").IsArray()) {
    Napi::Array a = o.Get("join").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object j = a.Get(i).As<Napi::Object>();
      Join k = {j.Get("fd").As<Napi::Number>().Int32Value(), j.Get("type").As<Napi::Number>().Int32Value()};
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

  // Joining a PID namespace: this thread's children are made in it (setns affects the
  // calling thread's pid_ns_for_children only), and it goes back to its own right after.
  int own_pid_ns = -1;
  if (join_pid >= 0) {
    own_pid_ns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own_pid_ns < 0 || setns(join_pid, CLONE_NEWPID) < 0) {
      int e = errno;
      if (own_pid_ns >= 0) close(own_pid_ns);
      close(sv[0]);
      close(sv[1]);
      ThrowErrno(env, e, "setns", "pid namespace");
      return env.Undefined();
    }
  }
  // A joined user namespace with new ones: the child makes them after joining it (ChildMain).
  bool join_user = false;
  for (const Join& j : joins) join_user = join_user || j.type == CLONE_NEWUSER;
  unsigned long unshare_flags = join_user ? (flags & ~(unsigned long)CLONE_NEWUSER) : 0;
  if (unshare_flags != 0) {
    flags = 0;
    // In the foreground, init passes to us when its first parent exits: we reap it.
    if (watch && (unshare_flags & CLONE_NEWPID)) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  int pidfd = -1;
  long pid = syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid == 0) ChildMain(sv[1], sv[0], init_fd, tty, orphan, joins, unshare_flags);
  int clone_errno = errno;
  if (own_pid_ns >= 0) {
    setns(own_pid_ns, CLONE_NEWPID);
    close(own_pid_ns);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    ThrowErrno(env, clone_errno, "clone");
    return env.Undefined();
  }
  int ctl = sv[0];

  if (unshare_flags & CLONE_NEWPID) {
    // The first child reports init's PID and exits: init is the process from here on.
    static char pbuf[64];
    ssize_t n = RecvTimeout(ctl, pbuf, sizeof pbuf, 10000);
    int e = errno;
    waitpid((pid_t)pid, nullptr, 0);
    close(pidfd);
    pid_t g = -1;
    if (n == (ssize_t)(1 + sizeof g) && pbuf[0] == CTL_INIT_PID) memcpy(&g, pbuf + 1, sizeof g);
    pidfd = g > 0 ? (int)syscall(SYS_pidfd_open, g, 0) : -1;
    if (pidfd < 0) {
      if (g > 0) kill(g, SIGKILL);
      close(ctl);
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
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("code", Napi::String::New(env, code));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  };

  std::string proc = "/proc/" + std::to_string(pid);
  if ((flags & CLONE_NEWUSER) &&
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
  ssize_t n = RecvTimeout(ctl, buf, sizeof buf - 1, 10000);
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
    n = RecvTimeout(ctl, buf, sizeof buf - 1, -1);
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
    // An error report from init ends the wait.
    struct pollfd p = {ctl, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
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
  if (watch) WatchExit((int)pid);

  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, (double)pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  out.Set("listener", Napi::Number::New(env, listener));
  out.Set("mntns", Napi::Number::New(env, mntns));
  if (hold) out.Set("control", Napi::Number::New(env, ctl));
  return out;
}

}  // namespace runsc
