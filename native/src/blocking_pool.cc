// The pool's workers: starting a call on one, running it as the task, answering the task,
// and closing the pool.
#include "blocking.h"

namespace runsc {
namespace blocking {

// The signal that interrupts a worker's call. Real-time, so that no standard signal a
// Node process or its libraries use is taken; directed at one thread with pthread_kill.
int CancelSignal() { return SIGRTMIN + 5; }

static void OnCancel(int) {}

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

void DrainCancel() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, CancelSignal());
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

Pool::Pool(int listener, size_t max_workers, int proc_fd, size_t max_bytes) : listener_(listener), max_(max_workers), max_bytes_(max_bytes) {
  wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  proc_ = proc_fd >= 0 ? fcntl(proc_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

Pool::~Pool() {
  if (wake_ >= 0) close(wake_);
  if (proc_ >= 0) close(proc_);
}

// Starts call on a worker. Runs on the sentry's thread: a new worker inherits its mount
// namespace, root, credentials and signal mask. -errno when it cannot start.
int Pool::Submit(const std::shared_ptr<Call>& call) {
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
void Pool::Close() {
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

Napi::Object Pool::Stats(Napi::Env env) {
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

void Pool::Wake() {
  uint64_t one = 1;
  if (wake_ >= 0) (void)!write(wake_, &one, sizeof one);
}

void Pool::JoinExitedLocked(std::unique_lock<std::mutex>&) {
  for (size_t i = 0; i < workers_.size();) {
    if (workers_[i]->exited) {
      pthread_join(workers_[i]->thread, nullptr);
      workers_.erase(workers_.begin() + (long)i);
    } else {
      i++;
    }
  }
}

void* Pool::WorkerMain(void* arg) {
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

// sendto, or sendmsg when there are control messages: bytes sent, or -1 with errno.
long SendWithControl(int fd, const void* data, size_t len, int flags, const struct sockaddr* addr, socklen_t alen,
                     const std::vector<uint8_t>& control) {
  if (control.empty()) return sendto(fd, data, len, flags, addr, alen);
  struct iovec iov = {const_cast<void*>(data), len};
  struct msghdr m = {};
  m.msg_name = const_cast<struct sockaddr*>(addr);
  m.msg_namelen = addr != nullptr ? alen : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = const_cast<uint8_t*>(control.data());
  m.msg_controllen = control.size();
  return sendmsg(fd, &m, flags);
}

// A sendto for a task that still waits: MSG_DONTWAIT attempts, each made only while the
// task's pidfd says it lives, with the waits in between in ppoll (room on the socket, the
// task's end, or the watcher's kCancelSignal, which makes it EINTR for the caller's loop).
// A blocking sendto would wait inside the kernel and complete as soon as the peer made
// room — also after its task was killed, in the moment before the watcher interrupts it:
// a killed sender's datagram would arrive after its death. A socket that reports room it
// lacks (an unconnected datagram socket whose target's queue is full: poll sees only its
// own buffer) is tried again after pauses growing to kRetryMaxUs. The socket's
// SO_SNDTIMEO holds as in the kernel's blocking send: EAGAIN once it has passed.
static long SendWhileAlive(Call& c) {
  using Clock = std::chrono::steady_clock;
  struct timeval tv = {0, 0};
  socklen_t tvlen = sizeof tv;
  bool timed = getsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tvlen) == 0 && (tv.tv_sec > 0 || tv.tv_usec > 0);
  auto deadline = Clock::now() + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  long pause_us = kRetryMinUs;
  bool said_room = false;
  size_t sent = 0;  // a stream socket takes the data in parts, as the kernel's blocking send does
  // What the caller gets when the wait ends early: the bytes sent, or -1 with errno.
  auto stop = [&sent](int err) -> long {
    if (sent > 0) return (long)sent;
    errno = err;
    return -1;
  };
  for (;;) {
    struct pollfd gone = {c.pidfd, POLLIN, 0};
    int dead = poll(&gone, 1, 0);
    if (dead < 0) return stop(errno);
    if (dead > 0) {
      c.cancel = true;  // nobody waits for the answer any more
      return stop(EINTR);
    }
    // Control messages go with the first bytes, as the kernel's sendmsg sends them.
    long r = SendWithControl(c.fd, c.data.data() + sent, c.data.size() - sent, c.flags | MSG_NOSIGNAL | MSG_DONTWAIT,
                             c.len > 0 ? (const struct sockaddr*)&c.addr : nullptr, c.len, sent == 0 ? c.control : std::vector<uint8_t>());
    if (r >= 0) {
      sent += (size_t)r;
      if (sent >= c.data.size()) return (long)sent;
      said_room = false;
      continue;
    }
    if (errno != EAGAIN) return stop(errno);
    long wait_us = said_room ? pause_us : -1;
    if (said_room) pause_us = std::min(pause_us * 2, kRetryMaxUs);
    if (timed) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
      if (left <= 0) return stop(EAGAIN);
      wait_us = wait_us < 0 ? left : std::min<long>(wait_us, left);
    }
    struct pollfd fds[2] = {{c.pidfd, POLLIN, 0}, {c.fd, POLLOUT, 0}};
    nfds_t n = said_room ? 1 : 2;  // a socket that lied about room is not asked again now
    struct timespec ts = {wait_us / 1000000, (wait_us % 1000000) * 1000};
    if (ppoll(fds, n, wait_us < 0 ? nullptr : &ts, nullptr) < 0) return stop(errno);
    said_room = n == 2 && (fds[1].revents & POLLOUT) != 0;
  }
}

void Pool::Run(Pool* p, Call& c, bool own_fs) {
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
        r = SendWhileAlive(c);
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
}  // namespace blocking
}  // namespace runsc
