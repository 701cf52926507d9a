// The confinement of a container's sentry (its monitor process), and the descriptor passing
// the confined monitor is reached by.
//
// A container's monitor performs the workload's operations, so whatever it can do a
// workload that steers it could do. It is started confined:
//
//   * in the sentry's user namespace (runsc/oci/sentryNamespace.ts): a namespace whose root
//     is one unprivileged host id of its own, and which maps the container's id range one to
//     one. The container's user namespace is made inside it, so the monitor holds every
//     capability over the container (its processes, its files, its mounts) and none over the
//     host: no host process to trace or signal, no host file but the world-readable ones,
//     no module, no host sysctl;
//   * in a mount namespace of its own whose root is an empty tmpfs holding only what Node
//     needs to run it (the system's libraries, node, the runtime's own files) and /proc,
//     read-only where it can be; in a network namespace of its own (loopback only, down): it
//     acts on the tasks' sockets, which live in theirs;
//   * with no_new_privs and its capability bounding set cut to the ones it uses.
//
// Its seccomp allowlist is installed by the monitor itself once Node has started
// (confineSelf: an exec would otherwise have to be allowed). A host-network container's
// bind of a port below 1024 as root inside needs CAP_NET_BIND_SERVICE over the host's
// network namespace, which the monitor no longer has: a binder process (startBinder,
// native/helper/binder.c), the sentry's host uid with that one capability, no_new_privs and
// a filter of six calls, binds the sockets the monitor sends it and nothing else.
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "native.h"
#include "sandbox_child.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace runsc {


namespace {


// What the confined child reports before it dies: the step (an index into its table of
// steps' names) and errno.
struct ChildError {
  int step;
  int err;
};

[[noreturn]] void Report(int fd, int step, int err) {
  ChildError e = {step, err};
  (void)!write(fd, &e, sizeof e);
  _exit(127);
}

// The parent's side of a child that reports a failed step on errp (ChildError) or execs
// (the pipe closes with it): its PID, or the step's error thrown.
Napi::Value AwaitExec(Napi::Env env, int errp, pid_t pid, const char* const* steps, int nsteps, const std::string& what) {
  ChildError e = {0, 0};
  ssize_t n;
  do n = read(errp, &e, sizeof e);
  while (n < 0 && errno == EINTR);
  close(errp);
  if (n == 0) {
    // It outlives the call (a container's monitor, its binder), and no one else waits for it.
    ReapLater(pid);
    return Napi::Number::New(env, pid);
  }
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != (ssize_t)sizeof e || e.step < 0 || e.step >= nsteps) return ThrowSetup(env, what, EIO);
  return ThrowSetup(env, what + ": " + steps[e.step], e.err);
}

struct MountBind {
  std::string source;
  std::string target;  // under the new root
  bool file;
  bool writable;
};

}  // namespace

// spawnConfined({userns, argv, env, fds, scratch, dirs, binds, symlinks, keepCaps}) -> pid.
// The child joins userns as its root, makes a mount namespace whose root is a tmpfs mounted
// on scratch, holding dirs (made in order), binds (recursive; read-only, nosuid, nodev
// unless writable) and symlinks; pivots into it; keeps keepCaps (a bitmask) in its bounding
// set, sets no_new_privs, moves fds[i] to descriptor i and execs argv. Throws with the step
// that failed.
Napi::Value SpawnConfined(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowUsage(env, "spawnConfined({userns, argv, env, fds, scratch, dirs, binds, symlinks, keepCaps})");
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  int userns = o.Get("userns").As<Napi::Number>().Int32Value();
  auto strings = [](Napi::Value v) {
    std::vector<std::string> out;
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::String>());
    return out;
  };
  std::vector<std::string> argv = strings(o.Get("argv"));
  std::vector<std::string> envs = strings(o.Get("env"));
  std::vector<int> fds;
  Napi::Array fa = o.Get("fds").As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); i++) fds.push_back(fa.Get(i).As<Napi::Number>().Int32Value());
  std::string scratch = o.Get("scratch").As<Napi::String>();
  std::vector<std::string> dirs;
  for (const std::string& d : strings(o.Get("dirs"))) dirs.push_back(scratch + d);
  std::vector<MountBind> binds;
  Napi::Array ba = o.Get("binds").As<Napi::Array>();
  for (uint32_t i = 0; i < ba.Length(); i++) {
    Napi::Object b = ba.Get(i).As<Napi::Object>();
    binds.push_back({b.Get("source").As<Napi::String>(), scratch + std::string(b.Get("target").As<Napi::String>()),
                     b.Get("file").ToBoolean().Value(), b.Get("writable").ToBoolean().Value()});
  }
  std::vector<std::pair<std::string, std::string>> links;
  Napi::Array la = o.Get("symlinks").As<Napi::Array>();
  for (uint32_t i = 0; i < la.Length(); i++) {
    Napi::Object l = la.Get(i).As<Napi::Object>();
    links.emplace_back(l.Get("target").As<Napi::String>(), scratch + std::string(l.Get("path").As<Napi::String>()));
  }
  bool lossless = false;
  uint64_t keep = o.Get("keepCaps").As<Napi::BigInt>().Uint64Value(&lossless);
  if (argv.empty() || !lossless) {
    ThrowUsage(env, "spawnConfined: argv must not be empty; keepCaps a 64-bit bigint");
    return env.Undefined();
  }
  // Everything the child uses is made now: after the clone it makes syscalls only.
  std::vector<char*> cargv, cenv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (std::string& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  static const char* const kSteps[] = {
      "setns (the sentry's user namespace)", "setresuid/setresgid (root of the sentry's user namespace)",
      "unshare (mount, network and IPC namespaces)", "mount (private)", "mount tmpfs", "mkdir", "bind", "read-only bind", "symlink",
      "pivot_root", "umount (the host's root)", "chdir", "capability bounding set", "no_new_privs", "descriptors", "exec",
  };
  enum { S_SETNS, S_IDS, S_UNSHARE, S_PRIVATE, S_TMPFS, S_MKDIR, S_BIND, S_RO, S_SYMLINK, S_PIVOT, S_UMOUNT, S_CHDIR, S_BSET, S_NNP, S_FDS, S_EXEC };
  std::vector<int> sources(binds.size(), -1);
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) return ThrowSetup(env, "pipe", errno);
  const int nfds = (int)fds.size();
  // A raw fork: glibc's would take locks another thread of this process may hold.
  pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) {
    int w = errp[1];
    close(errp[0]);
    if (setns(userns, CLONE_NEWUSER) < 0) Report(w, S_SETNS, errno);
    if (syscall(SYS_setgroups, 0, nullptr) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
      Report(w, S_IDS, errno);
    // Mounts, network and System V IPC of its own: the container's sockets are the tasks'
    // (in the container's network namespace), the host's network is nothing the sentry needs.
    if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0) Report(w, S_UNSHARE, errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) Report(w, S_PRIVATE, errno);
    // The sources, taken (detached copies) before the tmpfs covers scratch: one may lie beneath it.
    for (size_t i = 0; i < binds.size(); i++) {
      sources[i] = (int)syscall(SYS_open_tree, AT_FDCWD, binds[i].source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (sources[i] < 0) Report(w, S_BIND, errno);
    }
    if (mount("tmpfs", scratch.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") < 0) Report(w, S_TMPFS, errno);
    for (const std::string& d : dirs)
      if (mkdir(d.c_str(), 0755) < 0 && errno != EEXIST) Report(w, S_MKDIR, errno);
    for (size_t i = 0; i < binds.size(); i++) {
      const MountBind& b = binds[i];
      if (b.file) {
        int f = open(b.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (f < 0) Report(w, S_MKDIR, errno);
        close(f);
      } else if (mkdir(b.target.c_str(), 0755) < 0 && errno != EEXIST) {
        Report(w, S_MKDIR, errno);
      }
      if (syscall(SYS_move_mount, sources[i], "", AT_FDCWD, b.target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0) Report(w, S_BIND, errno);
      close(sources[i]);
      struct mount_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b.writable ? 0 : MOUNT_ATTR_RDONLY);
      if (syscall(SYS_mount_setattr, AT_FDCWD, b.target.c_str(), AT_RECURSIVE, &attr, sizeof attr) < 0) Report(w, S_RO, errno);
    }
    for (const auto& l : links)
      if (symlink(l.first.c_str(), l.second.c_str()) < 0) Report(w, S_SYMLINK, errno);
    // The host's tree goes: pivot into the tmpfs, and detach the old root stacked on it.
    if (chdir(scratch.c_str()) < 0) Report(w, S_CHDIR, errno);
    if (syscall(SYS_pivot_root, ".", ".") < 0) Report(w, S_PIVOT, errno);
    if (umount2(".", MNT_DETACH) < 0) Report(w, S_UMOUNT, errno);
    if (chdir("/") < 0) Report(w, S_CHDIR, errno);
    // The root itself read-only: nothing of the monitor's is written to its own tree.
    if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) < 0) Report(w, S_RO, errno);
    for (int c = 0; c <= CAP_LAST_CAP; c++)
      if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) Report(w, S_BSET, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) Report(w, S_NNP, errno);
    sandbox_default_signals();
    if (setsid() < 0) Report(w, S_FDS, errno);
    // fds[i] becomes i: each moved above every target first, the error pipe too.
    int high = nfds + 64;
    int moved[64];
    if (nfds > 64) Report(w, S_FDS, EMFILE);
    w = fcntl(w, F_DUPFD_CLOEXEC, high);
    if (w < 0) _exit(127);
    for (int i = 0; i < nfds; i++) {
      moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, high);
      if (moved[i] < 0) Report(w, S_FDS, errno);
    }
    for (int i = 0; i < nfds; i++)
      if (dup2(moved[i], i) < 0) Report(w, S_FDS, errno);
    if (syscall(SYS_close_range, nfds, ~0U, CLOSE_RANGE_CLOEXEC) < 0) Report(w, S_FDS, errno);
    execve(cargv[0], cargv.data(), cenv.data());
    Report(w, S_EXEC, errno);
  }
  int cloneErr = errno;
  close(errp[1]);
  if (pid < 0) {
    close(errp[0]);
    return ThrowSetup(env, "clone", cloneErr);
  }
  return AwaitExec(env, errp[0], pid, kSteps, S_EXEC + 1, "the sentry's confinement");
}

// confineSelf(filter) -> undefined: no_new_privs, then the seccomp filter (classic BPF, as
// compileFilterBytes makes it) on every thread of this process (TSYNC). Throws on failure.
Napi::Value ConfineSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    ThrowUsage(env, "confineSelf(filter: Uint8Array)");
    return env.Undefined();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  if (bytes.ByteLength() == 0 || bytes.ByteLength() % sizeof(struct sock_filter) != 0) {
    ThrowUsage(env, "confineSelf: the filter is whole sock_filter instructions");
    return env.Undefined();
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ThrowSetup(env, "no_new_privs", errno);
  std::vector<struct sock_filter> insns(bytes.ByteLength() / sizeof(struct sock_filter));
  memcpy(insns.data(), bytes.Data(), bytes.ByteLength());
  struct sock_fprog prog = {(unsigned short)insns.size(), insns.data()};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (r < 0) return ThrowSetup(env, "seccomp (the sentry's filter)", errno);
  if (r > 0) return ThrowSetup(env, "seccomp (the sentry's filter): thread " + std::to_string(r) + " could not take it", EBUSY);
  return env.Undefined();
}

// startBinder(channel, uid, binary) -> pid: the binder (native/helper/binder.c), exec'd from
// binary (runsc-ts-init, which is the binder when its argv[0] says so) as host uid `uid`
// with CAP_NET_BIND_SERVICE alone (ambient) and no_new_privs, channel as its descriptor 3.
// It binds each socket sent on channel (a SOCK_SEQPACKET end; see bindVia) and ends when
// the channel's other end closes.
Napi::Value StartBinder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    ThrowUsage(env, "startBinder(channel, uid, binary)");
    return env.Undefined();
  }
  int chan = info[0].As<Napi::Number>().Int32Value();
  uint32_t uid = info[1].As<Napi::Number>().Uint32Value();
  std::string binary = info[2].As<Napi::String>();
  static char arg0[] = "runsc-ts-binder";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) return ThrowSetup(env, "pipe", errno);
  enum { B_FDS, B_IDS, B_CAPS, B_NNP, B_EXEC };
  pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) {
    int w = fcntl(errp[1], F_DUPFD_CLOEXEC, 100);
    int c = fcntl(chan, F_DUPFD_CLOEXEC, 100);
    if (w < 0) _exit(127);
    if (c < 0 || dup2(c, 3) < 0) Report(w, B_FDS, errno);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2; fd++)
      if (devnull < 0 || dup2(devnull, fd) < 0) Report(w, B_FDS, errno);
    if (syscall(SYS_close_range, 4, ~0U, CLOSE_RANGE_CLOEXEC) < 0) Report(w, B_FDS, errno);
    sandbox_default_signals();
    if (setsid() < 0) Report(w, B_FDS, errno);
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
      if (cap != CAP_NET_BIND_SERVICE && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) Report(w, B_CAPS, errno);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) Report(w, B_IDS, errno);
    if (syscall(SYS_setgroups, 0, nullptr) < 0 || syscall(SYS_setresgid, uid, uid, uid) < 0 || syscall(SYS_setresuid, uid, uid, uid) < 0)
      Report(w, B_IDS, errno);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = data[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
    if (syscall(SYS_capset, &hdr, data) < 0) Report(w, B_CAPS, errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0) Report(w, B_CAPS, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) Report(w, B_NNP, errno);
    execve(binary.c_str(), argv, envp);
    Report(w, B_EXEC, errno);
  }
  int cloneErr = errno;
  close(errp[1]);
  if (pid < 0) {
    close(errp[0]);
    return ThrowSetup(env, "clone", cloneErr);
  }
  static const char* const kSteps[] = {"descriptors", "ids", "capabilities", "no_new_privs", "exec"};
  return AwaitExec(env, errp[0], pid, kSteps, B_EXEC + 1, "the binder");
}

// bindVia(channel, fd, addr, addrlen) -> 0 | -errno: the binder binds socket fd to addr.
Napi::Value BindVia(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int chan = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  Napi::Uint8Array addr = info[2].As<Napi::Uint8Array>();
  size_t len = info[3].As<Napi::Number>().Uint32Value();
  if (len == 0 || len > addr.ByteLength() || len > 128) return Napi::Number::New(env, -EINVAL);
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) return Napi::Number::New(env, -errno);
  int fds[2] = {fd, pair[1]};
  struct iovec iov = {addr.Data(), len};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof fds)];
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t n = sendmsg(chan, &msg, MSG_NOSIGNAL);
  int e = errno;
  close(pair[1]);
  if (n < 0) {
    close(pair[0]);
    return Napi::Number::New(env, -e);
  }
  int r = EIO;
  do n = recv(pair[0], &r, sizeof r, 0);
  while (n < 0 && errno == EINTR);
  close(pair[0]);
  if (n != (ssize_t)sizeof r) return Napi::Number::New(env, -EIO);  // the binder is gone
  return Napi::Number::New(env, -r);
}

int SendWithFds(Napi::Env env, const std::string& path, const std::string& message, const std::vector<int>& fds) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ThrowErrno(env, ENAMETOOLONG, "connect", path);
    return -1;
  }
  memcpy(addr.sun_path, path.data(), path.size());
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int e = errno;
    if (s >= 0) close(s);
    ThrowErrno(env, e, "connect", path);
    return -1;
  }
  struct iovec iov = {(void*)message.data(), message.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = sendmsg(s, &msg, MSG_NOSIGNAL);
  if (n != (ssize_t)message.size()) {
    int e = n < 0 ? errno : EIO;
    close(s);
    ThrowErrno(env, e, "sendmsg", path);
    return -1;
  }
  return s;
}

// sendFds(path, message, fds) -> fd of the connection: SendWithFds; the answer is read on
// the connection. Throws on failure.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsArray()) {
    ThrowUsage(env, "sendFds(path, message, fds)");
    return env.Undefined();
  }
  std::vector<int> fds;
  Napi::Array fa = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); i++) fds.push_back(fa.Get(i).As<Napi::Number>().Int32Value());
  std::string message = info[1].As<Napi::String>();
  if (fds.size() > 16 || message.empty()) {
    ThrowUsage(env, "sendFds: up to 16 descriptors, and a message");
    return env.Undefined();
  }
  int s = SendWithFds(env, info[0].As<Napi::String>(), message, fds);
  return s < 0 ? env.Undefined() : Napi::Number::New(env, s);
}

// peerCred(fd) -> {pid, uid, gid} of a connected unix socket's peer (SO_PEERCRED) | -errno
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  struct ucred c;
  socklen_t len = sizeof c;
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERCRED, &c, &len) < 0) return Napi::Number::New(info.Env(), -errno);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("pid", (double)c.pid);
  o.Set("uid", (double)c.uid);
  o.Set("gid", (double)c.gid);
  return o;
}

// waitReadable(fd, timeoutMs) -> 1 (readable, or hung up), 0 (timed out) or -errno: a short
// blocking wait for what a peer is about to send (recvFds' caller, before its timers).
Napi::Value WaitReadable(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    ThrowUsage(info.Env(), "waitReadable(fd, timeoutMs)");
    return info.Env().Undefined();
  }
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int r;
  do r = poll(&p, 1, info[1].As<Napi::Number>().Int32Value());
  while (r < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r > 0 ? 1 : 0);
}

// recvFds(fd, max) -> {data: Buffer, fds: number[]} | -errno: one recvmsg, non-blocking
// (-EAGAIN when nothing has come yet); descriptors beyond what fits are closed by the kernel
// (MSG_CTRUNC: reported as -EMSGSIZE after closing those that came).
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int s = info[0].As<Napi::Number>().Int32Value();
  size_t max = info[1].As<Napi::Number>().Uint32Value();
  std::vector<char> buf(max == 0 ? 1 : max);
  struct iovec iov = {buf.data(), buf.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * 16));
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = recvmsg(s, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return Napi::Number::New(env, -errno);
  std::vector<int> got;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      got.push_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    for (int fd : got) close(fd);
    return Napi::Number::New(env, -EMSGSIZE);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), (size_t)n));
  Napi::Array fa = Napi::Array::New(env, got.size());
  for (size_t i = 0; i < got.size(); i++) fa.Set((uint32_t)i, Napi::Number::New(env, got[i]));
  out.Set("fds", fa);
  return out;
}

// listenUnix(path) -> fd: a SOCK_STREAM unix socket bound at path (0600) and listening;
// close-on-exec: pass it on explicitly. Throws on failure.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowUsage(env, "listenUnix(path)");
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    ThrowErrno(env, ENAMETOOLONG, "bind", path);
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    ThrowErrno(env, errno, "socket", path);
    return env.Undefined();
  }
  // In the runtime's root-only directory: the moment before chmod exposes nothing.
  int r = bind(s, (struct sockaddr*)&addr, sizeof addr);
  if (r == 0) r = chmod(path.c_str(), 0600);
  int e = errno;
  if (r < 0 || listen(s, 64) < 0) {
    if (r == 0) e = errno;
    close(s);
    ThrowErrno(env, e, r < 0 ? "bind" : "listen", path);
    return env.Undefined();
  }
  return Napi::Number::New(env, s);
}

}  // namespace runsc

namespace runsc {

// nsOwner(fd, parent) -> fd | -errno: the user namespace that owns the namespace fd refers to
// (NS_GET_USERNS), or with parent the parent of the user namespace fd refers to
// (NS_GET_PARENT). ENOENT/EPERM where there is none the caller may see.
Napi::Value NsOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean()) {
    ThrowUsage(env, "nsOwner(fd, parent)");
    return env.Undefined();
  }
  const unsigned long NS_GET_USERNS = 0xb701, NS_GET_PARENT = 0xb702;
  int r = ioctl(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Boolean>().Value() ? NS_GET_PARENT : NS_GET_USERNS);
  if (r >= 0) fcntl(r, F_SETFD, FD_CLOEXEC);
  return Napi::Number::New(env, r < 0 ? -errno : r);
}

// writeNetSysctls(netnsPath, entries) -> undefined: writes [key, value] pairs under
// /proc/sys/net as a process of that network namespace (a thread that joins it; the rest of
// the process stays where it is), with host root's privilege: a pod's network namespace
// belongs to the host's user namespace, where root in the container's has none. Throws
// naming the key.
Napi::Value WriteNetSysctls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) {
    ThrowUsage(env, "writeNetSysctls(netnsPath, entries)");
    return env.Undefined();
  }
  std::string ns = info[0].As<Napi::String>();
  std::vector<std::pair<std::string, std::string>> entries;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Array e = a.Get(i).As<Napi::Array>();
    std::string key = e.Get(0u).As<Napi::String>();
    if (key.rfind("net.", 0) != 0 || key.find("..") != std::string::npos || key.find('/') != std::string::npos) {
      ThrowUsage(env, "writeNetSysctls: net.* keys only");
      return env.Undefined();
    }
    std::string path = "/proc/sys/" + key;
    for (char& c : path)
      if (c == '.') c = '/';
    entries.emplace_back(path, e.Get(1u).As<Napi::String>());
  }
  std::string failed;
  int err = 0;
  std::thread t([&]() {
    int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    // setns(CLONE_NEWNET) moves this thread alone.
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
      err = errno;
      failed = "setns " + ns;
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    for (const auto& [path, value] : entries) {
      int f = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      ssize_t n = f < 0 ? -1 : write(f, value.data(), value.size());
      if (n != (ssize_t)value.size()) {
        err = n < 0 ? errno : EIO;
        failed = path;
        if (f >= 0) close(f);
        return;
      }
      close(f);
    }
  });
  t.join();
  if (err != 0) return ThrowSetup(env, "sysctl " + failed, err);
  return env.Undefined();
}

}  // namespace runsc
