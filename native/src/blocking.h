// The pool of worker threads that performs a sandbox's calls that may block (blocking.cc
// says what it guarantees): the call, the pool, and what its parts share.
#pragma once
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
namespace blocking {


inline constexpr int kIdleSeconds = 2;
inline constexpr int kCheckMs = 20;
inline constexpr int kSignalCheckMs = 100;
// A sendto the socket cannot wait for (blocking_pool.cc: SendWhileAlive) is tried again
// after pauses from kRetryMinUs, doubling, up to kRetryMaxUs.
inline constexpr long kRetryMinUs = 100;
inline constexpr long kRetryMaxUs = 10000;
// include/linux/errno.h: the syscall is restarted, or fails with EINTR, as the signal says.
inline constexpr int kErestartsys = 512;
inline constexpr size_t kWorkerStack = 128 * 1024;

// The signal that interrupts a worker's call (blocking_pool.cc).
int CancelSignal();
void InstallCancelHandler();
void SetCancelMask(int how);
// Consumes a kCancelSignal left pending (blocked) on this thread.
void DrainCancel();

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
  // sendmsg: control messages sent with the first bytes; descriptors they carry are ours.
  std::vector<uint8_t> control;
  std::vector<int> control_fds;
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
    for (int f : control_fds) close(f);
  }
};

// sendto, or sendmsg when control holds control messages (blocking_pool.cc).
long SendWithControl(int fd, const void* data, size_t len, int flags, const struct sockaddr* addr, socklen_t alen,
                     const std::vector<uint8_t>& control);

class Pool;

struct Worker {
  Pool* pool;
  pthread_t thread;
  std::shared_ptr<Call> call;  // the call it runs (under Pool::mu)
  bool exited = false;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(int listener, size_t max_workers, int proc_fd, size_t max_bytes);
  ~Pool();
  // Starts call on a worker. Runs on the sentry's thread: a new worker inherits its mount
  // namespace, root, credentials and signal mask. -errno when it cannot start.
  int Submit(const std::shared_ptr<Call>& call);
  // Cancels every call, ends every thread. Called once, on the sentry's thread.
  void Close();
  Napi::Object Stats(Napi::Env env);

 private:
  void Wake();
  void JoinExitedLocked(std::unique_lock<std::mutex>&);
  static void* WorkerMain(void* arg);
  static void Run(Pool* p, Call& c, bool own_fs);
  // Interrupts the calls whose task went away, until each has returned. Paced: a call's
  // notification and its task's signals are checked at most every kCheckMs and
  // kSignalCheckMs, and a call being interrupted gets kCancelSignal at most every kCheckMs
  // (real-time signals queue: sent faster than its worker takes them, they would keep it
  // in its handler for good).
  static void* WatcherMain(void* arg);
  // Whether task tid has a signal pending that it will take as soon as its syscall returns:
  // pending for the thread itself, or for its process when the process has that one thread
  // (a process-wide signal in a process of several may go to another of them), and neither
  // blocked nor ignored. Read from the host's /proc (the watcher's "/" is the sandbox's).
  static bool SignalWaits(int proc, uint32_t tid);
  static bool AllExited(Pool* p);

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

}  // namespace blocking
}  // namespace runsc
