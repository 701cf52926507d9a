// The sandbox's first process (sandbox_child.h). Fork discipline (node-pty pty.cc, youki
// process/channel.rs): everything is prepared before the clone; the child makes only
// async-signal-safe calls, then execs runsc-ts-init from a sealed memfd.
#define _GNU_SOURCE
#include "sandbox_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

void sandbox_default_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < 65; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

__attribute__((noreturn)) static void child_fail(int ctl, int e) {
  char msg[2] = {CTL_CHILD_FAILED, (char)e};
  (void)!write(ctl, msg, 2);
  _exit(127);
}

// The guard of an init exec'd in place (sandbox_clone's guard): outside the container's PID
// namespace, in no session of the caller's (a terminal's ^C is not for it), deaf to every
// signal but SIGKILL. Kills init when ctl hangs up; exits when init has exited.
__attribute__((noreturn)) static void guard_init(int ctl, int init_pidfd) {
  prctl(PR_SET_NAME, "runsc-ts-guard", 0, 0, 0);
  // Nothing of the caller's stays open here (its stdio is the container's, or a pipe its
  // own caller reads to its end): only the two descriptors watched, as 0 and 1.
  int c = fcntl(ctl, F_DUPFD_CLOEXEC, 64), p = fcntl(init_pidfd, F_DUPFD_CLOEXEC, 64);
  if (c < 0 || p < 0 || dup2(c, 0) < 0 || dup2(p, 1) < 0) {
    syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, NULL, 0);
    _exit(127);
  }
  ctl = 0;
  init_pidfd = 1;
  syscall(SYS_close_range, 2, ~0U, 0);
  setsid();
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    // No events asked of ctl: its hangup is reported regardless, and what the runtime sends
    // there is init's to read.
    struct pollfd w[2] = {{ctl, 0, 0}, {init_pidfd, POLLIN, 0}};
    if (poll(w, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (w[1].revents) _exit(0);
    if (w[0].revents) break;
  }
  syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, NULL, 0);
  _exit(0);
}

__attribute__((noreturn)) static void sandbox_child(int ctl, int parent_end, int init_fd, int tty, int orphan,
                                                    const struct sandbox_join* joins, int njoins,
                                                    unsigned long unshare_flags, int guard) {
  // Only the parent may hold the other end: its death must read as EOF below.
  if (parent_end >= 0) close(parent_end);
  // Namespaces given by path (OCI linux.namespaces[].path), first: the descriptors are
  // still where the parent had them. A user namespace comes last among them: the others are
  // joined as host root (a pod's network namespace is the host user namespace's).
  for (int k = 0; k < njoins; k++)
    if (joins[k].type != CLONE_NEWPID && setns(joins[k].fd, joins[k].type) < 0) child_fail(ctl, errno);
  // Joined a user namespace and makes others: they must belong to it, so they are made
  // only now, and the new PID namespace needs one more fork for its PID 1. This process
  // tells the runtime that one's PID (CTL_INIT_PID) and leaves it to its parent's subreaper.
  if (unshare_flags != 0 && unshare((int)unshare_flags) < 0) child_fail(ctl, errno);
  // A new PID namespace takes effect for children only: one more fork makes its PID 1. (A
  // joined one was entered by the parent's thread before the clone: we are in it already,
  // and a PID we saw there would mean nothing to the parent.)
  if (unshare_flags & CLONE_NEWPID) {
    // A raw fork: glibc's fork() would take locks (malloc's among them) that another of the
    // parent's threads may have held when this child was cloned, and wait on them forever.
    // A guarded init is our parent's child, with a pidfd for us.
    int init_pidfd = -1;
    pid_t g = (pid_t)syscall(SYS_clone, guard ? CLONE_PARENT | CLONE_PIDFD : SIGCHLD, NULL, guard ? &init_pidfd : NULL, NULL, NULL);
    if (g < 0) child_fail(ctl, errno);
    if (g > 0) {
      char msg[1 + sizeof g];
      msg[0] = CTL_INIT_PID;
      memcpy(msg + 1, &g, sizeof g);
      int told = write(ctl, msg, sizeof msg) == (ssize_t)sizeof msg;
      if (!guard) _exit(told ? 0 : 127);
      if (!told) {
        syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, NULL, 0);
        _exit(127);
      }
      guard_init(ctl, init_pidfd);
    }
  }
  // Signals: Node ignores SIGPIPE and blocks others; the sandbox starts from defaults.
  sandbox_default_signals();

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
  // 4 stays free for init's listener; nothing else of the parent's reaches init.
  close(4);
  for (int fd = 0; fd <= 2; fd++) fcntl(fd, F_SETFD, 0);
  syscall(SYS_close_range, 5, ~0U, CLOSE_RANGE_CLOEXEC);

  // Wait until the runtime has written our uid/gid maps. EOF: the runtime is gone.
  char go = 0;
  ssize_t n;
  do n = read(3, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || go != CTL_MAPS_WRITTEN) _exit(125);
  // Become root of the new user namespace (host HOST_ID_BASE): exec would otherwise drop
  // every capability, because our host uid 0 has no mapping inside. Raw syscalls: glibc's
  // wrappers would try to broadcast to threads this child does not have.
  if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
    child_fail(3, errno);
  // Fail closed: the runtime's death kills us. Only now: changing credentials clears the
  // parent-death signal (kernel/cred.c: commit_creds). A runtime that died before this
  // point has closed its end of the control socket, which the check below sees.
  if (!orphan) prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct pollfd alive = {3, POLLIN, 0};
  if (poll(&alive, 1, 0) > 0 && (alive.revents & (POLLHUP | POLLERR))) _exit(125);

  static char arg0[] = "runsc-ts-init";
  char* argv[] = {arg0, NULL};
  char* envp[] = {NULL};
  syscall(SYS_execveat, i, "", argv, envp, AT_EMPTY_PATH);
  child_fail(3, errno);
}

pid_t sandbox_clone(unsigned long flags, int join_pid, int* pidfd, int ctl, int parent_end, int init_fd, int tty,
                    int orphan, const struct sandbox_join* joins, int njoins, unsigned long unshare_flags, int guard) {
  // Joining a PID namespace: this thread's children are made in it (setns affects the
  // calling thread's pid_ns_for_children only), and it goes back to its own right after.
  int own_pid_ns = -1;
  if (join_pid >= 0) {
    own_pid_ns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own_pid_ns < 0 || setns(join_pid, CLONE_NEWPID) < 0) {
      int e = errno;
      if (own_pid_ns >= 0) close(own_pid_ns);
      errno = e;
      return -1;
    }
  }
  *pidfd = -1;
  long pid = syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, pidfd, NULL, NULL);
  if (pid == 0) sandbox_child(ctl, parent_end, init_fd, tty, orphan, joins, njoins, unshare_flags, guard);
  int e = errno;
  if (own_pid_ns >= 0) {
    setns(own_pid_ns, CLONE_NEWPID);
    close(own_pid_ns);
  }
  errno = e;
  return (pid_t)pid;
}
