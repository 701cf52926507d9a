// The binder: runsc-ts-init exec'd as "runsc-ts-binder" (runtime side: startBinder in
// native/src/confine.cc). A host-network container's sentry runs without any capability
// over the host's network namespace; when root inside binds a port below 1024 (which the
// policy allows), the sentry sends the socket here. The binder runs as the sentry's host
// uid with CAP_NET_BIND_SERVICE alone, no_new_privs, not dumpable, and a filter that kills
// it on any call but the six of its loop: it binds what it is sent, answers with the errno,
// and ends when its channel (descriptor 3) hangs up.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

static const struct sock_filter binder_filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_recvmsg, 6, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendmsg, 5, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_bind, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

enum { CHANNEL = 3 };

int binder_main(void) {
  prctl(PR_SET_NAME, "runsc-ts-binder", 0, 0, 0);
  struct sock_fprog prog = {sizeof binder_filter / sizeof binder_filter[0], (struct sock_filter*)binder_filter};
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return 1;
  for (;;) {
    // One request: the address (bytes), and two descriptors: the socket, the end to answer on.
    unsigned char addr[128];
    struct iovec iov = {addr, sizeof addr};
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE(2 * sizeof(int))];
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n = recvmsg(CHANNEL, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) syscall(SYS_exit_group, 0);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int fds[2] = {-1, -1};
    memcpy(fds, CMSG_DATA(c), (k < 2 ? k : 2) * sizeof(int));
    if (k == 2 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
      int r = bind(fds[0], (struct sockaddr*)addr, (socklen_t)n) < 0 ? errno : 0;
      struct iovec riov = {&r, sizeof r};
      struct msghdr reply;
      memset(&reply, 0, sizeof reply);
      reply.msg_iov = &riov;
      reply.msg_iovlen = 1;
      (void)!sendmsg(fds[1], &reply, MSG_NOSIGNAL);
    }
    for (size_t i = 0; i < k && i < 2; i++) close(fds[i]);
  }
}
