// Calls the sentry performs for a task that may block: a connect (a full accept queue, a slow
// peer) or a sendto (a unix datagram peer whose queue is full, a full send buffer). They run
// on a pool of worker threads of the sandbox's own, never on the thread that serves the
// sandbox's other tasks, and never longer than the task waits for them:
//
// * Bounded: one worker per call in progress, at most maxWorkers per sandbox; a task holds at
//   most one trapped syscall, so the workers never outnumber the sandbox's blocked tasks.
//   A call beyond the bound fails with EAGAIN; a sendto whose data would take the data
//   the pool holds past maxBytes, with ENOBUFS. Idle workers end after kIdleSeconds.
// * Cancelled: a watcher thread polls each running call's task (a pidfd of the thread, or of
//   its process before Linux 6.9: readable once it has exited) and, every kCheckMs, whether
//   the notification is still awaited (SECCOMP_IOCTL_NOTIF_ID_VALID: a signal interrupted
//   the task's wait, or it died). A call whose task went away is interrupted with
//   kCancelSignal, sent to its worker until the call returns (a signal landing just before
//   the worker enters the syscall is followed by another). kCancelSignal has a handler
//   without SA_RESTART, is unblocked on a worker only around the call itself, and a stray
//   pending one is consumed before the worker takes its next call.
// * Interruptible as the kernel's own wait is: the sandbox's filter waits killably once the
//   sentry has received a call (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: a non-fatal signal
//   must not make the sentry's side effects happen twice), so a signal for a task whose call
//   blocks here would never be taken. Every kSignalCheckMs the watcher reads the task's
//   pending signals (/proc/TID/status); one the task will take (pending for the thread, or
//   for a process of one thread, and neither blocked nor ignored) interrupts the call, and
//   the task is answered -ERESTARTSYS, which the kernel turns into EINTR, a restart
//   (SA_RESTART, no handler) or a stop on the task's way out, as for a socket call it
//   interrupts itself. A call that completed first keeps its result.
// * Never outliving the sandbox: closing the pool (the sentry does when the sandbox ends)
//   cancels every call and joins every thread.
//
// The sentry waits up to waitUs for a result (the common, quick case) and answers the task
// itself; past that the worker answers the notification when the call returns.
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "errors.h"
#include "native.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

namespace runsc {
namespace {

constexpr int kIdleSeconds = 2;
constexpr int kCheckMs = 20;
constexpr int kSignalCheckMs = 100;
// include/linux/errno.h: the syscall is restarted, or fails with EINTR, as the signal says.
constexpr int kErestartsys = 512;
constexpr size_t kWorkerStack = 128 * 1024;

// The signal that interrupts a worker's call. Real-time, so that no standard signal a
// Node process or its libraries use is taken; directed at one thread with pthread_kill.
int CancelSignal() { return SIGRTMIN + 5; }

void OnCancel(int) {}

void InstallCancelHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnCancel;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the call returns EINTR
    sigaction(CancelSignal(), &sa, nullptr);
  });
}

void SetCancelMask(int how) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, CancelSignal());
  pthread_sigmask(how, &set, nullptr);
}

// Consumes a kCancelSignal left pending (blocked) on this thread.
void DrainCancel() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, CancelSignal());
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

enum Op { kConnect = 0, kSendto = 1 };

struct Call {
  // What to do (read-only once submitted).
  Op op;
  uint64_t id;        // the notification
  uint32_t pid;       // the task (thread id, as the notification names it)
  int nr;             // the syscall number, for the trace report
  int fd;             // ours: closed when done
  int also_close;     // a descriptor addr refers to, or -1
  int cwd_fd;         // where a relative unix path resolves from, or -1 (borrowed)
  struct sockaddr_storage addr;
  socklen_t len;
  std::vector<uint8_t> data;  // sendto
  int flags;                  // sendto
  int64_t base;               // sendto: bytes already sent by the sentry
  int inject_at;              // connect: install fd in the task here (like dup2), or -1
  bool inject_cloexec;
  int report;  // a datagram socket (ours) for the trace's resumed record, or -1
  int pidfd;   // the task's, ours

  // Progress.
  std::atomic<bool> cancel{false};     // the task or its syscall went away: answer nothing
  std::atomic<bool> interrupt{false};  // a signal for the task: answer -ERESTARTSYS
  // The watcher's pacing (its thread alone uses these).
  std::chrono::steady_clock::time_point next_check, next_signal_check, next_kill;
  std::mutex mu;
  std::condition_variable cv;
  enum { kRunning, kDone, kDetached } state = kRunning;
  int64_t result = 0;

  ~Call() {
    if (fd >= 0) close(fd);
    if (also_close >= 0) close(also_close);
    if (report >= 0) close(report);
    if (pidfd >= 0) close(pidfd);
  }
};

class Pool;

struct Worker {
  Pool* pool;
  pthread_t thread;
  std::shared_ptr<Call> call;  // the call it runs (under Pool::mu)
  bool exited = false;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(int listener, size_t max_workers, int proc_fd, size_t max_bytes)
      : listener_(listener), max_(max_workers), max_bytes_(max_bytes) {
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    proc_ = proc_fd >= 0 ? fcntl(proc_fd, F_DUPFD_CLOEXEC, 0) : -1;
  }
  ~Pool() {
    if (wake_ >= 0) close(wake_);
    if (proc_ >= 0) close(proc_);
  }

  // Starts call on a worker. Runs on the sentry's thread: a new worker inherits its mount
  // namespace, root, credentials and signal mask. -errno when it cannot start.
  int Submit(const std::shared_ptr<Call>& call) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return -ESHUTDOWN;
    JoinExitedLocked(lock);
    if (running_ >= max_) {
      rejected_++;
      return -EAGAIN;
    }
    if (bytes_ + call->data.size() > max_bytes_) {
      rejected_++;
      return -ENOBUFS;
    }
    if (!watcher_started_) {
      if (wake_ < 0) return -EMFILE;
      int e = pthread_create(&watcher_, nullptr, WatcherMain, this);
      if (e != 0) return -e;
      watcher_started_ = true;
    }
    running_++;
    bytes_ += call->data.size();
    if (running_ > peak_) peak_ = running_;
    call->next_check = call->next_signal_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCheckMs);
    if (idle_ > 0) {
      queue_.push_back(call);
      cv_.notify_one();
    } else {
      auto w = std::make_unique<Worker>();
      w->pool = this;
      w->call = call;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, kWorkerStack);
      int e = pthread_create(&w->thread, &attr, WorkerMain, w.get());
      pthread_attr_destroy(&attr);
      if (e != 0) {
        running_--;
        bytes_ -= call->data.size();
        return -e;
      }
      workers_.push_back(std::move(w));
    }
    lock.unlock();
    Wake();
    return 0;
  }

  // Cancels every call, ends every thread. Called once, on the sentry's thread.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (auto& c : queue_) {
        c->cancel = true;
        bytes_ -= c->data.size();
      }
      running_ -= queue_.size();
      queue_.clear();
      cv_.notify_all();
    }
    Wake();
    if (watcher_started_) pthread_join(watcher_, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<std::unique_ptr<Worker>> all;
    all.swap(workers_);
    lock.unlock();
    for (auto& w : all) pthread_join(w->thread, nullptr);
  }

  Napi::Object Stats(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mu_);
    Napi::Object o = Napi::Object::New(env);
    o.Set("running", Napi::Number::New(env, (double)running_));
    o.Set("threads", Napi::Number::New(env, (double)(workers_.size() + (watcher_started_ ? 1 : 0))));
    o.Set("peak", Napi::Number::New(env, (double)peak_));
    o.Set("cancelled", Napi::Number::New(env, (double)cancelled_));
    o.Set("interrupted", Napi::Number::New(env, (double)interrupted_));
    o.Set("rejected", Napi::Number::New(env, (double)rejected_));
    return o;
  }

  int listener() const { return listener_; }

 private:
  void Wake() {
    uint64_t one = 1;
    if (wake_ >= 0) (void)!write(wake_, &one, sizeof one);
  }

  void JoinExitedLocked(std::unique_lock<std::mutex>&) {
    for (size_t i = 0; i < workers_.size();) {
      if (workers_[i]->exited) {
        pthread_join(workers_[i]->thread, nullptr);
        workers_.erase(workers_.begin() + (long)i);
      } else {
        i++;
      }
    }
  }

  static void* WorkerMain(void* arg) {
    Worker* w = static_cast<Worker*>(arg);
    Pool* p = w->pool;
    ResetThreadCreds();
    // A relative unix path resolves from the call's cwd_fd: this thread gets an fs_struct of
    // its own (it would otherwise share the sentry thread's, whose root is the sandbox's).
    bool own_fs = unshare(CLONE_FS) == 0;
    std::unique_lock<std::mutex> lock(p->mu_);
    for (;;) {
      std::shared_ptr<Call> call = w->call;
      if (!call) {
        if (p->stopping_) break;
        p->idle_++;
        bool got = p->cv_.wait_for(lock, std::chrono::seconds(kIdleSeconds),
                                   [p] { return p->stopping_ || !p->queue_.empty(); });
        p->idle_--;
        if (p->stopping_ || !got) break;
        w->call = call = p->queue_.front();
        p->queue_.pop_front();
      }
      lock.unlock();
      Run(p, *call, own_fs);
      lock.lock();
      w->call.reset();
      p->running_--;
      p->bytes_ -= call->data.size();
      lock.unlock();
      DrainCancel();  // a cancellation that came after the call returned
      lock.lock();
    }
    w->exited = true;
    return nullptr;
  }

  static void Run(Pool* p, Call& c, bool own_fs) {
    int64_t result;
    if (c.cwd_fd >= 0 && (!own_fs || fchdir(c.cwd_fd) < 0)) {
      result = -(own_fs ? errno : ENOSYS);
    } else {
      long r;
      int err = 0;
      SetCancelMask(SIG_UNBLOCK);
      for (;;) {
        if (c.cancel || c.interrupt) {
          r = -1;
          err = EINTR;
          break;
        }
        if (c.op == kConnect) {
          r = connect(c.fd, (const struct sockaddr*)&c.addr, c.len);
        } else {
          r = sendto(c.fd, c.data.data(), c.data.size(), c.flags | MSG_NOSIGNAL,
                     c.len > 0 ? (const struct sockaddr*)&c.addr : nullptr, c.len);
        }
        err = errno;
        // EINTR comes from kCancelSignal alone (the others are blocked): retry unless it
        // was meant. A blocking TCP connect tried again waits for the same handshake.
        if (r >= 0 || err != EINTR || c.cancel || c.interrupt) break;
      }
      SetCancelMask(SIG_BLOCK);
      if (r < 0 && err == EINTR && c.interrupt) err = kErestartsys;
      if (c.op == kConnect) {
        result = r < 0 ? -err : 0;
      } else {
        // A send the sentry began: what it sent counts, as the kernel's partial send does.
        result = r < 0 ? (c.base > 0 ? c.base : -err) : c.base + r;
      }
    }
    if (c.op == kConnect && c.inject_at >= 0 && (result == 0 || result == -EINPROGRESS) && !c.cancel) {
      struct seccomp_notif_addfd a;
      memset(&a, 0, sizeof a);
      a.id = c.id;
      a.flags = SECCOMP_ADDFD_FLAG_SETFD;
      a.srcfd = (uint32_t)c.fd;
      a.newfd = (uint32_t)c.inject_at;
      a.newfd_flags = c.inject_cloexec ? O_CLOEXEC : 0;
      if (ioctl(p->listener_, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0) result = -errno;
    }
    if (c.cancel || result == -kErestartsys) {
      std::lock_guard<std::mutex> lock(p->mu_);
      (c.cancel ? p->cancelled_ : p->interrupted_)++;
    }
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.state == Call::kDetached) {
      if (c.cancel) return;  // nobody waits for the answer
      // Reported before the answer: the sandbox cannot end before the tracer can read it.
      if (c.report >= 0) {
        int32_t rec[3] = {(int32_t)c.pid, c.nr, (int32_t)result};
        send(c.report, rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      // The sentry moved on: answer the task from here (ENOENT: it is gone).
      struct seccomp_notif_resp resp;
      memset(&resp, 0, sizeof resp);
      resp.id = c.id;
      if (result < 0) {
        resp.error = (int32_t)result;
      } else {
        resp.val = result;
      }
      ioctl(p->listener_, SECCOMP_IOCTL_NOTIF_SEND, &resp);
      return;
    }
    c.state = Call::kDone;
    c.result = result;
    c.cv.notify_all();
  }

  // Interrupts the calls whose task went away, until each has returned. Paced: a call's
  // notification and its task's signals are checked at most every kCheckMs and
  // kSignalCheckMs, and a call being interrupted gets kCancelSignal at most every kCheckMs
  // (real-time signals queue: sent faster than its worker takes them, they would keep it
  // in its handler for good).
  static void* WatcherMain(void* arg) {
    Pool* p = static_cast<Pool*>(arg);
    ResetThreadCreds();
    using Clock = std::chrono::steady_clock;
    const auto check = std::chrono::milliseconds(kCheckMs);
    std::vector<struct pollfd> fds;
    std::vector<std::shared_ptr<Call>> polled;
    for (;;) {
      fds.clear();
      polled.clear();
      fds.push_back({p->wake_, POLLIN, 0});
      bool busy = false, stopping;
      {
        std::lock_guard<std::mutex> lock(p->mu_);
        stopping = p->stopping_;
        for (auto& w : p->workers_) {
          if (!w->call) continue;
          busy = true;
          if (w->call->cancel) continue;  // its task's end is known: no need to poll it
          polled.push_back(w->call);
          fds.push_back({w->call->pidfd, POLLIN, 0});
        }
        if (stopping && !busy && AllExited(p)) return nullptr;
      }
      poll(fds.data(), fds.size(), busy || stopping ? kCheckMs : -1);
      if (fds[0].revents & POLLIN) {
        uint64_t n;
        (void)!read(p->wake_, &n, sizeof n);
      }
      auto now = Clock::now();
      for (size_t i = 0; i < polled.size(); i++) {
        Call& c = *polled[i];
        if (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
          c.cancel = true;
          continue;
        }
        if (now < c.next_check) continue;
        c.next_check = now + check;
        uint64_t id = c.id;
        if (ioctl(p->listener_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) {
          c.cancel = true;
        } else if (!c.interrupt && now >= c.next_signal_check) {
          c.next_signal_check = now + std::chrono::milliseconds(kSignalCheckMs);
          if (SignalWaits(p->proc_, c.pid)) c.interrupt = true;
        }
      }
      // Under the lock: a worker changes its call only under it, so the signal reaches the
      // worker of the call meant (or lands after the call returned, and is consumed).
      std::lock_guard<std::mutex> lock(p->mu_);
      for (auto& w : p->workers_) {
        if (!w->call) continue;
        Call& c = *w->call;
        if (p->stopping_) c.cancel = true;
        if ((c.cancel || c.interrupt) && now >= c.next_kill) {
          c.next_kill = now + check;
          pthread_kill(w->thread, CancelSignal());
        }
      }
      if (p->stopping_) p->cv_.notify_all();
    }
  }

  // Whether task tid has a signal pending that it will take as soon as its syscall returns:
  // pending for the thread itself, or for its process when the process has that one thread
  // (a process-wide signal in a process of several may go to another of them), and neither
  // blocked nor ignored. Read from the host's /proc (the watcher's "/" is the sandbox's).
  static bool SignalWaits(int proc, uint32_t tid) {
    if (proc < 0) return false;
    char path[32];
    snprintf(path, sizeof path, "%u/status", tid);
    int fd = openat(proc, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    auto field = [&buf](const char* name, int base) -> unsigned long long {
      const char* at = strstr(buf, name);
      return at ? strtoull(at + strlen(name), nullptr, base) : 0;
    };
    unsigned long long threads = field("\nThreads:\t", 10);
    unsigned long long mine = field("\nSigPnd:\t", 16);
    unsigned long long shared = field("\nShdPnd:\t", 16);
    unsigned long long blocked = field("\nSigBlk:\t", 16);
    unsigned long long ignored = field("\nSigIgn:\t", 16);
    unsigned long long takes = mine | (threads == 1 ? shared : 0);
    return (takes & ~blocked & ~ignored) != 0;
  }

  static bool AllExited(Pool* p) {
    for (auto& w : p->workers_)
      if (!w->exited) return false;
    return true;
  }

  const int listener_;
  const size_t max_;
  const size_t max_bytes_;  // of the datagrams and stream remainders sendto calls hold
  size_t bytes_ = 0;
  int wake_;
  int proc_;  // the host's /proc
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Call>> queue_;
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t running_ = 0;
  size_t idle_ = 0;
  size_t peak_ = 0;
  uint64_t cancelled_ = 0;
  uint64_t interrupted_ = 0;
  uint64_t rejected_ = 0;
  bool stopping_ = false;
  bool watcher_started_ = false;
  pthread_t watcher_;
};

std::mutex g_pools_mu;
// Never destroyed: at the process's exit its pools' threads may still run (they die with it).
auto* g_pools = new std::map<int, std::shared_ptr<Pool>>();
int g_next_pool = 1;

std::shared_ptr<Pool> FindPool(int id) {
  std::lock_guard<std::mutex> lock(g_pools_mu);
  auto it = g_pools->find(id);
  return it == g_pools->end() ? nullptr : it->second;
}

std::shared_ptr<Pool> TakePool(int id) {
  std::lock_guard<std::mutex> lock(g_pools_mu);
  auto it = g_pools->find(id);
  if (it == g_pools->end()) return nullptr;
  std::shared_ptr<Pool> pool = it->second;
  g_pools->erase(it);
  return pool;
}

// Closes a pool its thread left open: the thread was terminated (a Node worker's
// terminate() ends its JavaScript, finally blocks included) or its environment torn down.
void ClosePoolAtTeardown(void* arg) {
  std::shared_ptr<Pool> pool = TakePool((int)(intptr_t)arg);
  if (pool) pool->Close();
}

int IntOf(const Napi::Object& o, const char* key, int dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}

}  // namespace

// blockingPool(listener, maxWorkers, procFd, maxBytes) -> pool id. Must be called on the
// sentry's thread. procFd: the host's /proc (borrowed; the pool keeps a duplicate).
// maxBytes: the most data the sendto calls in progress may hold together (ENOBUFS beyond).
Napi::Value BlockingPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    ThrowUsage(env, "blockingPool(listener, maxWorkers, procFd, maxBytes)");
    return env.Undefined();
  }
  InstallCancelHandler();
  auto pool = std::make_shared<Pool>(info[0].As<Napi::Number>().Int32Value(),
                                     (size_t)info[1].As<Napi::Number>().Int32Value(),
                                     info[2].As<Napi::Number>().Int32Value(),
                                     (size_t)info[3].As<Napi::Number>().Int64Value());
  int id;
  {
    std::lock_guard<std::mutex> lock(g_pools_mu);
    id = g_next_pool++;
    (*g_pools)[id] = pool;
  }
  napi_add_env_cleanup_hook(env, ClosePoolAtTeardown, (void*)(intptr_t)id);
  return Napi::Number::New(env, id);
}

// blockingPoolClose(pool) -> stats: cancels every call still running and joins every thread.
Napi::Value BlockingPoolClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowUsage(env, "blockingPoolClose(pool)");
    return env.Undefined();
  }
  int id = info[0].As<Napi::Number>().Int32Value();
  std::shared_ptr<Pool> pool = TakePool(id);
  if (!pool) return env.Undefined();
  napi_remove_env_cleanup_hook(env, ClosePoolAtTeardown, (void*)(intptr_t)id);
  pool->Close();
  return pool->Stats(env);
}

// blockingPoolStats(pool) -> {running, threads, peak, cancelled, interrupted, rejected}
Napi::Value BlockingPoolStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Pool> pool = info.Length() > 0 && info[0].IsNumber() ? FindPool(info[0].As<Napi::Number>().Int32Value()) : nullptr;
  if (!pool) return env.Undefined();
  return pool->Stats(env);
}

// blockingCall(pool, notif, call, waitUs) -> the result (>= 0, or -errno) to answer with, or
// null when the worker will answer the notification. call: {op: 0 connect | 1 sendto, nr,
// fd (taken over), addr: Uint8Array, alsoClose?, cwdFd?, tgid, data?: Uint8Array, flags?,
// base?, injectAt?, cloexec?, reportFd?}. fd and alsoClose are closed whatever happens.
Napi::Value BlockingCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsObject() || !info[3].IsNumber()) {
    ThrowUsage(env, "blockingCall(pool, notif, call, waitUs)");
    return env.Undefined();
  }
  Napi::Object o = info[2].As<Napi::Object>();
  auto c = std::make_shared<Call>();
  c->fd = IntOf(o, "fd", -1);
  c->also_close = IntOf(o, "alsoClose", -1);
  c->report = -1;
  c->pidfd = -1;
  std::shared_ptr<Pool> pool = FindPool(info[0].As<Napi::Number>().Int32Value());
  if (!pool) return Napi::Number::New(env, -ESHUTDOWN);  // c closes fd
  Napi::Uint8Array notif = info[1].As<Napi::Uint8Array>();
  memcpy(&c->id, notif.Data(), sizeof c->id);
  memcpy(&c->pid, notif.Data() + offsetof(struct seccomp_notif, pid), sizeof c->pid);
  c->op = IntOf(o, "op", 0) == 1 ? kSendto : kConnect;
  c->nr = IntOf(o, "nr", -1);
  c->cwd_fd = IntOf(o, "cwdFd", -1);
  c->flags = IntOf(o, "flags", 0);
  c->inject_at = IntOf(o, "injectAt", -1);
  c->inject_cloexec = o.Get("cloexec").ToBoolean().Value();
  Napi::Value base = o.Get("base");
  c->base = base.IsNumber() ? base.As<Napi::Number>().Int64Value() : 0;
  Napi::Value addr = o.Get("addr");
  c->len = 0;
  if (addr.IsTypedArray()) {
    Napi::Uint8Array a = addr.As<Napi::Uint8Array>();
    if (a.ByteLength() > sizeof c->addr) return Napi::Number::New(env, -EINVAL);
    memcpy(&c->addr, a.Data(), a.ByteLength());
    c->len = (socklen_t)a.ByteLength();
  }
  Napi::Value data = o.Get("data");
  if (data.IsTypedArray()) {
    Napi::Uint8Array d = data.As<Napi::Uint8Array>();
    c->data.assign(d.Data(), d.Data() + d.ByteLength());
  }
  // The task's own pidfd (readable when it exits), or its process's before Linux 6.9.
  int pidfd = (int)syscall(SYS_pidfd_open, c->pid, PIDFD_THREAD);
  if (pidfd < 0 && errno == EINVAL) pidfd = (int)syscall(SYS_pidfd_open, IntOf(o, "tgid", (int)c->pid), 0);
  if (pidfd < 0) return Napi::Number::New(env, -errno);
  c->pidfd = pidfd;
  int report_at = IntOf(o, "reportFd", -1);
  // The worker's own copy: the caller may close its socket before the call ends.
  if (report_at >= 0) c->report = fcntl(report_at, F_DUPFD_CLOEXEC, 0);
  int r = pool->Submit(c);
  if (r < 0) return Napi::Number::New(env, r);
  std::unique_lock<std::mutex> lock(c->mu);
  c->cv.wait_for(lock, std::chrono::microseconds(info[3].As<Napi::Number>().Int32Value()),
                 [&c] { return c->state == Call::kDone; });
  if (c->state == Call::kDone) return Napi::Number::New(env, (double)c->result);
  c->state = Call::kDetached;
  return env.Null();
}

}  // namespace runsc
