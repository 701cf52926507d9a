// The sentries' watchdog: a sentry thread that spends kCpuLimitMs of its own user CPU time on
// one trapped call (a loop that never ends), or holds one call kWallLimitMs in all (a thread
// blocked, or looping in the kernel, where it must not be), has hung. User time only: a
// legitimate call may spend long in the kernel (an overlay's copy-up of a large file, made
// by the open the sentry performs, ~1 s per GB). Its sandboxes are killed, then this process: a
// thread that runs JavaScript cannot be stopped from outside, and what it holds (its other
// sandboxes' state, the monitor's loop) cannot be trusted any more. Each sandbox's sentry
// process serves that sandbox alone (a container's monitor, a warm process's `do`), so no
// other sandbox is touched.
//
// The hot path is two relaxed stores per call (notify.cc: the receive marks the thread busy,
// the answer idle); this thread looks every kCheckMs and reads the busy thread's CPU clock.
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

constexpr int64_t kCpuLimitMs = 100;
constexpr int64_t kWallLimitMs = 60000;
constexpr int kCheckMs = 10;

int64_t Ns(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) < 0) return -1;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct ThreadWatch {
  std::atomic<int64_t> busy{0};  // CLOCK_MONOTONIC ns when the call was received; 0: idle
  std::mutex mu;              // guards statFd, pidfds and message
  int statFd = -1;            // the thread's /proc/.../task/TID/stat
  std::vector<int> pidfds;    // the sandboxes' inits (ours: dup'd)
  std::string message;        // written to fd 2 when it fires (watchdogWatch's placeholders filled)
  // The watchdog thread's own view.
  int64_t seenBusy = 0;
  int64_t cpuAtSeen = 0;

  ~ThreadWatch() {
    if (statFd >= 0) close(statFd);
    for (int fd : pidfds) close(fd);
  }
};

// The thread's user CPU time (its /proc stat file, open: utime, in clock ticks), in ms; -1
// when it cannot be read.
int64_t UserMs(int statFd) {
  char buf[1024];
  ssize_t n = pread(statFd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  // After the name (which may hold spaces and parentheses): state is field 3, utime 14.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return -1;
  unsigned long long utime = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu", &utime) != 1) return -1;
  static const long hz = sysconf(_SC_CLK_TCK);
  return (int64_t)(utime * 1000 / (hz > 0 ? hz : 100));
}

// Never destroyed: the detached watchdog thread may still run while the process exits, and
// must not find these torn down by exit's destructors.
std::mutex& g_mu = *new std::mutex;
std::vector<std::shared_ptr<ThreadWatch>>& g_watches = *new std::vector<std::shared_ptr<ThreadWatch>>;
bool g_started = false;
thread_local std::shared_ptr<ThreadWatch> t_watch;

[[noreturn]] void Fire(ThreadWatch& w, int64_t cpuMs, int64_t wallMs) {
  std::lock_guard<std::mutex> lock(w.mu);
  for (int fd : w.pidfds) syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  char iso[64], hms[32];
  snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
  snprintf(hms, sizeof hms, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
  std::string line = w.message;
  for (auto [key, value] : {std::pair<const char*, std::string>{"%cpu", std::to_string(cpuMs)}, {"%wall", std::to_string(wallMs)}, {"%time", iso}, {"%hms", hms}}) {
    size_t at = line.find(key);
    if (at != std::string::npos) line.replace(at, strlen(key), value);
  }
  (void)!write(2, line.data(), line.size());
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

// Runs while any thread is watched: a process that serves no sandbox keeps no thread for it.
// Made by a sentry's thread, inside its sandbox's mount namespace: it moves to the process's
// own (home, an fd) first, so that it pins none of the sandbox's mounts, and closes home
// before its maker goes on (ready): a process that serves sandboxes one after another (a
// warm process) counts its descriptors after each, and must find the same.
void Run(int home, std::shared_ptr<std::promise<void>> ready) {
  if (home >= 0) {
    (void)!unshare(CLONE_FS);
    (void)!setns(home, CLONE_NEWNS);
    close(home);
  }
  ready->set_value();
  ready.reset();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kCheckMs));
    std::vector<std::shared_ptr<ThreadWatch>> watches;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      if (g_watches.empty()) {
        g_started = false;
        return;
      }
      watches = g_watches;
    }
    int64_t now = Ns(CLOCK_MONOTONIC);
    for (auto& w : watches) {
      int64_t busy = w->busy.load(std::memory_order_relaxed);
      if (busy == 0) {
        w->seenBusy = 0;
        continue;
      }
      int64_t cpu;
      {
        std::lock_guard<std::mutex> lock(w->mu);
        cpu = w->statFd >= 0 ? UserMs(w->statFd) : -1;
      }
      if (busy != w->seenBusy) {
        w->seenBusy = busy;
        w->cpuAtSeen = cpu;
        continue;
      }
      int64_t cpuMs = cpu < 0 || w->cpuAtSeen < 0 ? 0 : cpu - w->cpuAtSeen;
      int64_t wallMs = (now - busy) / 1000000;
      if (cpuMs >= kCpuLimitMs || wallMs >= kWallLimitMs) Fire(*w, cpuMs, wallMs);
    }
  }
}

}  // namespace

void SentryBusy() {
  ThreadWatch* w = t_watch.get();
  if (w != nullptr) w->busy.store(Ns(CLOCK_MONOTONIC), std::memory_order_relaxed);
}

void SentryIdle() {
  ThreadWatch* w = t_watch.get();
  if (w != nullptr) w->busy.store(0, std::memory_order_relaxed);
}

// watchdogWatch(pidfd, message, procFd) -> 0 | -errno: the calling thread serves the sandbox whose
// init pidfd is: a call it holds too long kills that sandbox (and any other this thread
// watches) and this process, after writing message to fd 2 ("%cpu", "%wall": the call's
// user CPU and wall milliseconds; "%time": the time, ISO 8601; "%hms": its time of day).
// procFd: the host's /proc (the thread may be in a sandbox's mount namespace).
Napi::Value WatchdogWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    ThrowUsage(env, "watchdogWatch(pidfd, message, procFd)");
    return env.Undefined();
  }
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return Napi::Number::New(env, -errno);
  if (!t_watch) {
    auto w = std::make_shared<ThreadWatch>();
    char path[64];
    snprintf(path, sizeof path, "self/task/%d/stat", (int)syscall(SYS_gettid));
    w->statFd = openat(info[2].As<Napi::Number>().Int32Value(), path, O_RDONLY | O_CLOEXEC);
    if (w->statFd < 0) {
      int e = errno;
      close(fd);
      return Napi::Number::New(env, -e);
    }
    std::lock_guard<std::mutex> lock(g_mu);
    g_watches.push_back(w);
    if (!g_started) {
      g_started = true;
      // The process's own mount namespace: its first thread's.
      auto ready = std::make_shared<std::promise<void>>();
      std::future<void> started = ready->get_future();
      std::thread(Run, openat(info[2].As<Napi::Number>().Int32Value(), "self/ns/mnt", O_RDONLY | O_CLOEXEC), std::move(ready)).detach();
      started.wait();
    }
    t_watch = w;
  }
  std::lock_guard<std::mutex> lock(t_watch->mu);
  t_watch->pidfds.push_back(fd);
  t_watch->message = info[1].As<Napi::String>().Utf8Value();
  return Napi::Number::New(env, 0);
}

// watchdogUnwatch(pidfd) -> the number of sandboxes the thread still serves: the one whose
// init pidfd refers to the same process as pidfd is no longer watched (its sentry has
// ended). At 0 the thread is no longer watched at all.
Napi::Value WatchdogUnwatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowUsage(env, "watchdogUnwatch(pidfd)");
    return env.Undefined();
  }
  if (!t_watch) return Napi::Number::New(env, 0);
  int target = info[0].As<Napi::Number>().Int32Value();
  struct stat want;
  bool known = fstat(target, &want) == 0;
  size_t left;
  {
    std::lock_guard<std::mutex> lock(t_watch->mu);
    auto& fds = t_watch->pidfds;
    for (auto it = fds.begin(); it != fds.end();) {
      struct stat st;
      // pidfds of one process share their inode (pidfs, Linux 6.9); older kernels give
      // every pidfd the same anon inode: then the first is dropped, as good as any.
      if (known && fstat(*it, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev) {
        close(*it);
        it = fds.erase(it);
        break;
      }
      ++it;
    }
    left = fds.size();
    // Closed now, not with the last reference (the watchdog thread may hold one a moment
    // longer): what the thread opened is closed once it is no longer watched.
    if (left == 0 && t_watch->statFd >= 0) {
      close(t_watch->statFd);
      t_watch->statFd = -1;
    }
  }
  if (left == 0) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_watches.erase(std::remove(g_watches.begin(), g_watches.end(), t_watch), g_watches.end());
    // The watchdog thread may still hold it: the descriptor goes with the last reference.
    t_watch.reset();
  }
  return Napi::Number::New(env, (double)left);
}

// sentryIdle(): the calling thread holds no trapped call (a sentry on an event loop whose
// last call was left to its pool, before it goes back to the loop's other work).
Napi::Value SentryIdleNow(const Napi::CallbackInfo& info) {
  SentryIdle();
  return info.Env().Undefined();
}

// sentryBusy(): the calling thread holds a trapped call from now on (one received before
// the thread was watched, and handed to it).
Napi::Value SentryBusyNow(const Napi::CallbackInfo& info) {
  SentryBusy();
  return info.Env().Undefined();
}

}  // namespace runsc
