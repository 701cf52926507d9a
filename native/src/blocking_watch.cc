// The pool's watcher: interrupts the calls whose task or syscall went away, or whose task
// has a signal to take (blocking.cc says why and how often).
#include "blocking.h"

namespace runsc {
namespace blocking {

// Interrupts the calls whose task went away, until each has returned. Paced: a call's
// notification and its task's signals are checked at most every kCheckMs and
// kSignalCheckMs, and a call being interrupted gets kCancelSignal at most every kCheckMs
// (real-time signals queue: sent faster than its worker takes them, they would keep it
// in its handler for good).
void* Pool::WatcherMain(void* arg) {
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
bool Pool::SignalWaits(int proc, uint32_t tid) {
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

bool Pool::AllExited(Pool* p) {
  for (auto& w : p->workers_)
    if (!w->exited) return false;
  return true;
}
}  // namespace blocking
}  // namespace runsc
