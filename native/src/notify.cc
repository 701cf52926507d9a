// Seccomp user notification (seccomp_unotify(2)) and bounded task memory access.
//
// The hot path is allocation-free: the sentry passes one reused Uint8Array holding a
// struct seccomp_notif; RECV fills it and every reply reads the id from it. Results are
// numbers (negative errno on failure) so that a failing call costs no JS exception.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spawn.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <string>
#include <vector>
#include <memory>
#include <map>
#include <mutex>
#include <thread>

#include "errors.h"
#include "native.h"

// Linux 6.6 (include/uapi/linux/seccomp.h); Debian 12's headers predate it.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace runsc {
namespace {

inline int Int(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}

inline uint64_t Addr(const Napi::CallbackInfo& info, size_t i) {
  return (uint64_t)info[i].As<Napi::Number>().Int64Value();
}

inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

bool ArgsOk(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() < n) {
    ThrowUsage(info.Env(), usage);
    return false;
  }
  return true;
}

}  // namespace

// notifySizes() -> {notif, resp, data}
Napi::Value NotifySizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct seccomp_notif_sizes s;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &s) < 0) {
    ThrowErrno(env, errno, "seccomp", "SECCOMP_GET_NOTIF_SIZES");
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("notif", Num(env, s.seccomp_notif));
  o.Set("resp", Num(env, s.seccomp_notif_resp));
  o.Set("data", Num(env, s.seccomp_data));
  return o;
}

// notifyReceive(listener, buf) -> 1 (an event is in buf) | -errno. Blocks in the kernel.
// -ENOENT: the task died before we received its event, or no task uses the filter any
// more (after the sandbox's init was reaped): the caller tells them apart with pidfdExited.
// One syscall per event: no poll() before the receive (reference/limits.md).
Napi::Value NotifyReceive(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 2, "notifyReceive(listener, buf)")) return info.Env().Undefined();
  int listener = Int(info, 0);
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  if (buf.ByteLength() < sizeof(struct seccomp_notif)) {
    ThrowUsage(info.Env(), "notifyReceive: buf must hold a struct seccomp_notif (80 bytes)");
    return info.Env().Undefined();
  }
  SentryIdle();
  for (;;) {
    // RECV requires a zeroed struct (kernel/seccomp.c: seccomp_notify_recv).
    memset(buf.Data(), 0, sizeof(struct seccomp_notif));
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, buf.Data()) == 0) {
      SentryBusy();
      return Num(info.Env(), 1);
    }
    if (errno != EINTR) return Num(info.Env(), -errno);
  }
}

// pidfdExited(pidfd) -> true once the process has terminated (its pidfd is readable)
Napi::Value PidfdExited(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 1, "pidfdExited(pidfd)")) return info.Env().Undefined();
  struct pollfd p = {Int(info, 0), POLLIN, 0};
  return Napi::Boolean::New(info.Env(), poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)));
}

// notifyRespond(listener, buf, kind, value, errnum) -> 0 | -errno
//   kind 0: continue (FLAG_CONTINUE); 1: fail with errnum; 2: return value.
Napi::Value NotifyRespond(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 5, "notifyRespond(listener, buf, kind, value, errnum)"))
    return info.Env().Undefined();
  int listener = Int(info, 0);
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  int kind = Int(info, 2);
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = NotifId(buf);
  if (kind == 0) {
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  } else if (kind == 1) {
    resp.error = -Int(info, 4);
  } else {
    resp.val = info[3].As<Napi::Number>().Int64Value();
  }
  SentryIdle();
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return Num(info.Env(), -errno);
  return Num(info.Env(), 0);
}

// notifyAddFd(listener, buf, srcFd, cloexec[, targetFd]) -> the task's new fd | -errno.
// Installs srcFd in the task and completes the notification with that fd as the result,
// atomically (SECCOMP_ADDFD_FLAG_SEND, Linux 5.14). With targetFd >= 0 the fd is installed
// at that number, replacing what was there (SECCOMP_ADDFD_FLAG_SETFD, like dup2).
Napi::Value NotifyAddFd(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 4, "notifyAddFd(listener, buf, srcFd, cloexec)")) return info.Env().Undefined();
  int listener = Int(info, 0);
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  struct seccomp_notif_addfd a;
  memset(&a, 0, sizeof a);
  a.id = NotifId(buf);
  a.flags = SECCOMP_ADDFD_FLAG_SEND;
  a.srcfd = (uint32_t)Int(info, 2);
  a.newfd_flags = info[3].ToBoolean().Value() ? O_CLOEXEC : 0;
  if (info.Length() > 4 && info[4].IsNumber() && Int(info, 4) >= 0) {
    a.flags |= SECCOMP_ADDFD_FLAG_SETFD;
    a.newfd = (uint32_t)Int(info, 4);
  }
  int r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
  SentryIdle();
  return Num(info.Env(), r < 0 ? -errno : r);
}

// notifyIdValid(listener, buf) -> 0 | -ENOENT (the task is gone or the syscall interrupted)
Napi::Value NotifyIdValid(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 2, "notifyIdValid(listener, buf)")) return info.Env().Undefined();
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  uint64_t id = NotifId(buf);
  if (ioctl(Int(info, 0), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return Num(info.Env(), -errno);
  return Num(info.Env(), 0);
}

// blockSignals() -> 0 | -errno. Blocks every asynchronous signal on the calling thread (the
// sentry's), so that none is delivered to it while it waits in an ioctl. It matters for
// SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND: that request marks the
// notification answered before the target takes the fd, and a signal that interrupts the
// wait withdraws the fd but not the answer, so the task's syscall returns 0 (stdin) instead
// of its descriptor (kernel/seccomp.c: seccomp_notify_addfd). Process-directed signals go to
// another thread; a thread-directed one (the V8 profiler's SIGPROF) stays pending. Faults
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are left alone: blocking them is
// meaningless. Threads the sentry starts later inherit the mask.
namespace {
sigset_t SentrySignals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  return set;
}
}  // namespace

Napi::Value BlockSignals(const Napi::CallbackInfo& info) {
  sigset_t set = SentrySignals();
  int e = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return Num(info.Env(), e == 0 ? 0 : -e);
}

// unblockSignals() -> 0 | -errno: what blockSignals blocked, unblocked on the calling thread
// (a thread that serves a sentry between other work, once it has answered what was pending).
Napi::Value UnblockSignals(const Napi::CallbackInfo& info) {
  sigset_t set = SentrySignals();
  int e = pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return Num(info.Env(), e == 0 ? 0 : -e);
}

// notifySetSyncWakeUp(listener) -> 0 | -errno (EINVAL before Linux 6.6)
Napi::Value NotifySetSyncWakeUp(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 1, "notifySetSyncWakeUp(listener)")) return info.Env().Undefined();
  uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
  if (ioctl(Int(info, 0), SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) < 0) return Num(info.Env(), -errno);
  return Num(info.Env(), 0);
}

// readMemory(pid, addr, len, out) -> bytes read | -errno
Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 4, "readMemory(pid, addr, len, out)")) return info.Env().Undefined();
  Napi::Uint8Array out = info[3].As<Napi::Uint8Array>();
  size_t len = (size_t)info[2].As<Napi::Number>().Int64Value();
  if (len > out.ByteLength()) len = out.ByteLength();
  struct iovec local = {out.Data(), len};
  struct iovec remote = {(void*)Addr(info, 1), len};
  ScopedSentryCaps caps;
  ssize_t n = process_vm_readv(Int(info, 0), &local, 1, &remote, 1, 0);
  return Num(info.Env(), n < 0 ? -errno : (double)n);
}

// readString(pid, addr, max, out) -> length without the NUL | -errno
// (-ENAMETOOLONG when no NUL within max bytes, -EFAULT for an unmapped address).
// Reads page by page so that a string ending just before an unmapped page is fine.
Napi::Value ReadString(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 4, "readString(pid, addr, max, out)")) return info.Env().Undefined();
  int pid = Int(info, 0);
  uint64_t addr = Addr(info, 1);
  size_t max = (size_t)info[2].As<Napi::Number>().Int64Value();
  Napi::Uint8Array out = info[3].As<Napi::Uint8Array>();
  if (max > out.ByteLength()) max = out.ByteLength();
  if (addr == 0) return Num(info.Env(), -EFAULT);
  uint8_t* dst = out.Data();
  size_t got = 0;
  ScopedSentryCaps caps;
  while (got < max) {
    uint64_t at = addr + got;
    size_t chunk = 4096 - (size_t)(at & 4095);
    if (chunk > max - got) chunk = max - got;
    struct iovec local = {dst + got, chunk};
    struct iovec remote = {(void*)at, chunk};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) return Num(info.Env(), n < 0 ? -errno : -EFAULT);
    void* nul = memchr(dst + got, 0, (size_t)n);
    if (nul) return Num(info.Env(), (double)((uint8_t*)nul - dst));
    got += (size_t)n;
  }
  return Num(info.Env(), -ENAMETOOLONG);
}

// writeMemory(pid, addr, data) -> bytes written | -errno
Napi::Value WriteMemory(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 3, "writeMemory(pid, addr, data)")) return info.Env().Undefined();
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  struct iovec local = {data.Data(), data.ByteLength()};
  struct iovec remote = {(void*)Addr(info, 1), data.ByteLength()};
  ScopedSentryCaps caps;
  ssize_t n = process_vm_writev(Int(info, 0), &local, 1, &remote, 1, 0);
  return Num(info.Env(), n < 0 ? -errno : (double)n);
}

// The exit status of the sandboxes' inits, reaped by one watcher thread each. Reaping
// must not wait for the sentry: only a reaped init lets the listener report the end.
namespace {
std::mutex g_exit_mu;
std::condition_variable g_exit_cv;
std::map<int, int> g_exit_status;                  // pid -> status as a shell reports it, or -errno
std::map<int, Napi::ThreadSafeFunction> g_exit_fn;  // pid -> callback waiting for it

int ShellStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void CallExit(Napi::ThreadSafeFunction fn, int status) {
  fn.BlockingCall(new int(status), [](Napi::Env env, Napi::Function cb, int* s) {
    int v = *s;
    delete s;
    cb.Call({Napi::Number::New(env, v)});
  });
  fn.Release();
}
}  // namespace

// Records pid's status and calls the callback waiting for it, if any.
static void ExitReaped(int pid, int result) {
  std::unique_lock<std::mutex> lock(g_exit_mu);
  g_exit_status[pid] = result;
  g_exit_cv.notify_all();
  auto it = g_exit_fn.find(pid);
  if (it == g_exit_fn.end()) return;
  Napi::ThreadSafeFunction fn = it->second;
  g_exit_fn.erase(it);
  lock.unlock();
  CallExit(fn, result);
}

void WatchExit(int pid) {
  std::thread([pid] { ExitReaped(pid, WaitExitOf(pid)); }).detach();
}

void ReapLater(int pid) {
  std::thread([pid] { WaitExitOf(pid); }).detach();
}

void WatchExitFrom(int pid, int reply) {
  std::thread([pid, reply] {
    int32_t status = 0;
    ssize_t n;
    do n = recv(reply, &status, sizeof status, 0);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(reply);
    // A client gone without a status: its init died with it (parent-death signal).
    ExitReaped(pid, n == (ssize_t)sizeof status ? status : n < 0 ? -e : -EPIPE);
  }).detach();
}

// Statuses the reaper took that no one has asked for (a child's orphans that passed to us),
// oldest first: at most kUnclaimed are kept.
namespace {
std::deque<int> g_unclaimed;
constexpr size_t kUnclaimed = 1024;
bool g_reaping = false;
}  // namespace

// startReaper(): this process becomes a child subreaper, and from now on one thread reaps
// every child of it, its own and the orphans that pass to it, and keeps their statuses for
// onExit/waitExit. Node's child_process must not be used after (its children would be
// reaped here).
Napi::Value StartReaper(const Napi::CallbackInfo& info) {
  {
    std::lock_guard<std::mutex> lock(g_exit_mu);
    if (g_reaping) return info.Env().Undefined();
    g_reaping = true;
  }
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    ThrowErrno(info.Env(), errno, "prctl(PR_SET_CHILD_SUBREAPER)");
    return info.Env().Undefined();
  }
  std::thread([] {
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, __WALL);
      if (p < 0) {
        // No child now: one may be made, or pass to us, at any time.
        if (errno != EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      bool claimed;
      {
        std::lock_guard<std::mutex> lock(g_exit_mu);
        claimed = g_exit_fn.count(p) > 0;
        if (!claimed) {
          g_unclaimed.push_back(p);
          if (g_unclaimed.size() > kUnclaimed) {
            g_exit_status.erase(g_unclaimed.front());
            g_unclaimed.pop_front();
          }
        }
      }
      ExitReaped(p, ShellStatus(status));
    }
  }).detach();
  return info.Env().Undefined();
}

// spawnCommand(argv, [stdin, stdout, stderr]) -> pid | -errno: runs argv[0] (a path) with
// those descriptors as its stdio and this process's environment. For a process whose
// children startReaper's thread reaps: onExit(pid) answers its status.
Napi::Value SpawnCommand(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsArray() || !info[1].IsArray()) {
    ThrowUsage(env, "spawnCommand(argv, [stdin, stdout, stderr])");
    return env.Undefined();
  }
  Napi::Array a = info[0].As<Napi::Array>();
  Napi::Array io = info[1].As<Napi::Array>();
  if (a.Length() == 0 || io.Length() != 3) {
    ThrowUsage(env, "spawnCommand(argv, [stdin, stdout, stderr])");
    return env.Undefined();
  }
  std::vector<std::string> args;
  for (uint32_t i = 0; i < a.Length(); i++) args.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char*> argv;
  for (std::string& x : args) argv.push_back(x.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd = 0; fd < 3; fd++) posix_spawn_file_actions_adddup2(&fa, io.Get(fd).As<Napi::Number>().Int32Value(), fd);
  // The child starts from default signal dispositions and an empty mask, whatever Node's are.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int r = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return Num(env, r == 0 ? pid : -r);
}

// waitExit(pid) -> exit status as a shell reports it (code, or 128+signal) | -errno.
// Blocks until the watcher started by spawn() has reaped pid.
Napi::Value WaitExit(const Napi::CallbackInfo& info) {
  if (!ArgsOk(info, 1, "waitExit(pid)")) return info.Env().Undefined();
  int pid = Int(info, 0);
  std::unique_lock<std::mutex> lock(g_exit_mu);
  g_exit_cv.wait(lock, [pid] { return g_exit_status.count(pid) > 0; });
  return Num(info.Env(), g_exit_status[pid]);
}

// onExit(pid, callback): calls callback(status) on this thread's event loop once the
// watcher started by spawn() has reaped pid (at once if it has). Keeps the loop alive
// until then. One threadsafe-function call per sandbox, never per syscall.
Napi::Value OnExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsFunction()) {
    ThrowUsage(env, "onExit(pid, callback)");
    return env.Undefined();
  }
  int pid = Int(info, 0);
  Napi::ThreadSafeFunction fn =
      Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "runsc-ts exit", 0, 1);
  std::unique_lock<std::mutex> lock(g_exit_mu);
  auto done = g_exit_status.find(pid);
  if (done != g_exit_status.end()) {
    int status = done->second;
    lock.unlock();
    CallExit(fn, status);
    return env.Undefined();
  }
  g_exit_fn[pid] = fn;
  return env.Undefined();
}

}  // namespace runsc
