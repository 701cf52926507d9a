// An allowed execve, verified at its exec stop.
//
// exec cannot be performed for a task: the new image must replace the caller, so the kernel
// executes the call itself and reads the path again, after the sentry's check. Another task
// sharing the caller's memory could change the string in between. So the sentry answers an
// allowed exec here, on a thread of its own that becomes the caller's tracer for that one call:
//
//   1. PTRACE_SEIZE the calling thread, with PTRACE_O_TRACEEXEC (and EXITKILL: should this
//      thread die while attached, the task dies with it);
//   2. PTRACE_INTERRUPT: whatever the exec does, the task stops once its call returns (and
//      not before: the notification's wait is killable only);
//   3. answer the notification with CONTINUE: the kernel runs the exec;
//   4. wait. At PTRACE_EVENT_EXEC the new image is loaded and none of its code has run: the
//      file /proc/PID/exe names must be the file the sentry allowed (its device and inode),
//      or the task is killed there. Any other stop means the call returned without
//      replacing the image (a failed exec): detach, giving back a signal that stopped it.
//
// The same process may also wait for the task as its parent (a sandbox's init is the
// sentry's child when the sentry spawned it): those waits skip ptrace stops (WaitExitOf),
// and this thread leaves a child's exit to them.
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

struct ExecStop {
  int listener;  // ours (a duplicate): closed when done
  uint64_t id;
  pid_t tid;
  int proc_fd;  // the host's /proc (borrowed: the sentry keeps it open while it serves)
  uint32_t dev_major, dev_minor;
  uint64_t ino;    // 0: any file (the exec is recorded, not checked)
  int events_fd;   // ours (a duplicate), or -1: where the exec is recorded (events.cc)
};

// SECCOMP_IOCTL_NOTIF_SEND: CONTINUE, or -error. 0 | -errno.
int Answer(const ExecStop& s, int error) {
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = s.id;
  if (error == 0) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else resp.error = -error;
  return ioctl(s.listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 ? -errno : 0;
}

// A number field of /proc/PID/status ("Tgid:"), or -1.
long StatusField(int proc_fd, pid_t pid, const char* name) {
  char path[64];
  snprintf(path, sizeof path, "%d/status", (int)pid);
  int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t len = strlen(name);
  for (char* line = buf; line != nullptr && *line != 0;) {
    if (strncmp(line, name, len) == 0) return strtol(line + len, nullptr, 10);
    char* nl = strchr(line, '\n');
    line = nl == nullptr ? nullptr : nl + 1;
  }
  return -1;
}

// Whether pid's executable is the file allowed.
bool IsAllowedImage(const ExecStop& s, pid_t pid) {
  if (s.ino == 0) return true;
  char path[64];
  snprintf(path, sizeof path, "%d/exe", (int)pid);
  struct statx st;
  if (syscall(SYS_statx, s.proc_fd, path, 0, STATX_INO, &st) < 0) return false;
  return st.stx_ino == s.ino && st.stx_dev_major == s.dev_major && st.stx_dev_minor == s.dev_minor;
}

void Detach(pid_t pid, int sig) { ptrace(PTRACE_DETACH, pid, nullptr, (void*)(long)sig); }

void Verify(const ExecStop& s);

void Run(ExecStop s) {
  Verify(s);
  if (s.events_fd >= 0) close(s.events_fd);
}

void Verify(const ExecStop& s) {
  // This thread acts for the sentry, whatever task the sentry's thread was acting as.
  ResetThreadCreds();
  if (ptrace(PTRACE_SEIZE, s.tid, nullptr, (void*)(long)(PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0) {
    // Gone (ESRCH: nothing to answer), or traced by another (EPERM): the exec is refused
    // rather than run unverified.
    Answer(s, errno == ESRCH ? ESRCH : EPERM);
    close(s.listener);
    return;
  }
  // The interrupt before the answer: once answered, a failed exec returns at once, and the
  // task must stop there, before it can make another call (another exec, whose trace this
  // one would hold). The notification's wait is killable only once received
  // (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), so the interrupt waits for the call's end.
  ptrace(PTRACE_INTERRUPT, s.tid, nullptr, nullptr);
  // ENOENT: the call was interrupted after all (a filter without that flag) and is
  // restarted, to be trapped anew; the task stops below, and is let go.
  Answer(s, 0);
  close(s.listener);
  for (;;) {
    // This thread's own tracee, the one task it traces: not by its id, which a thread other
    // than the leader gives up when its exec succeeds (it takes the leader's), and a wait on
    // the old id is never woken.
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | __WALL | __WNOTHREAD | WNOWAIT) < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: collected by its parent (WaitExitOf) once it ended
    }
    if (si.si_code != CLD_TRAPPED) {
      // Ended (killed by another thread's exec, or by a signal). Its parent collects a
      // process that is ours; otherwise collecting it here ends the trace.
      bool exited = si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED;
      // A zombie's status still names its parent; one reaped meanwhile is no one's to take.
      bool our_child = StatusField(s.proc_fd, si.si_pid, "Tgid:") == (long)si.si_pid && StatusField(s.proc_fd, si.si_pid, "PPid:") == (long)getpid();
      if (exited && !our_child) waitid(P_PID, (id_t)si.si_pid, &si, WEXITED | __WALL | __WNOTHREAD);
      if (exited) return;
      continue;
    }
    pid_t pid = si.si_pid;
    int status = si.si_status;
    siginfo_t taken;
    waitid(P_PID, (id_t)pid, &taken, WSTOPPED | __WALL | __WNOTHREAD);
    int event = status >> 8;
    if (event == PTRACE_EVENT_EXEC) {
      bool allowed = IsAllowedImage(s, pid);
      RecordExec(s.events_fd, s.proc_fd, pid, allowed);
      if (allowed) {
        Detach(pid, 0);  // the interrupt still pending is dropped with the trace
        return;
      }
      // Not the file the sentry allowed: the string changed after the check. It dies
      // before its first instruction.
      kill(pid, SIGKILL);
      continue;
    }
    // The call returned without an exec: an interrupt or group stop, or a signal to deliver.
    Detach(pid, event == 0 ? (status & 0xff) : 0);
    return;
  }
}

}  // namespace

// execContinueVerified(listener, buf, procFd, devMajor, devMinor, ino[, eventsFd]) -> 0 | -errno.
// Answers buf's notification (an exec the sentry allowed) on a thread of its own, which
// verifies the image at the exec stop (above; ino 0: any image) and records the exec on
// eventsFd when given. 0: that thread answers; -errno: nothing was answered, the sentry must.
Napi::Value ExecContinueVerified(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[1].IsTypedArray() || !info[5].IsBigInt()) {
    ThrowUsage(env, "execContinueVerified(listener, buf, procFd, devMajor, devMinor, ino[, eventsFd])");
    return env.Undefined();
  }
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  if (buf.ByteLength() < sizeof(struct seccomp_notif)) {
    ThrowUsage(env, "execContinueVerified: buf is not a struct seccomp_notif");
    return env.Undefined();
  }
  ExecStop s;
  s.id = NotifId(buf);
  uint32_t pid;
  memcpy(&pid, buf.Data() + 8, sizeof pid);
  s.tid = (pid_t)pid;
  s.proc_fd = info[2].As<Napi::Number>().Int32Value();
  s.dev_major = info[3].As<Napi::Number>().Uint32Value();
  s.dev_minor = info[4].As<Napi::Number>().Uint32Value();
  bool lossless = true;
  s.ino = info[5].As<Napi::BigInt>().Uint64Value(&lossless);
  // The sentry may close its listener (and events file) before this thread is done with them.
  s.listener = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (s.listener < 0) return Napi::Number::New(env, -errno);
  int events = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Int32Value() : -1;
  s.events_fd = events >= 0 ? fcntl(events, F_DUPFD_CLOEXEC, 0) : -1;
  try {
    std::thread(Run, s).detach();
  } catch (const std::system_error& e) {
    close(s.listener);
    if (s.events_fd >= 0) close(s.events_fd);
    return Napi::Number::New(env, -(e.code().value() > 0 ? e.code().value() : EAGAIN));
  }
  return Napi::Number::New(env, 0);
}

// The status a shell reports for pid (code, or 128 + signal), once it has ended, or -errno.
// Waits as its parent: ptrace stops (this process's exec stops, above) are the tracer's to
// take, so they are looked at, left, and waited past.
int WaitExitOf(int pid) {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL | WNOWAIT) < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
      waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL);
      return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    }
    usleep(500);  // stopped for its tracer, which takes the stop
  }
}

}  // namespace runsc
