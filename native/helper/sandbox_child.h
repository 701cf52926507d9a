// The sandbox's first process, from its clone to the exec of runsc-ts-init: shared by the
// addon (native/src/spawn.cc, the runtime's own clone) and the command line's client
// (native/client/client.c, which clones it for a warm runsc-ts process so that it descends
// from the caller, whose subreaper adopts it).
#pragma once

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// A namespace the sandbox joins instead of making: an open nsfs file and its CLONE_NEW* type.
struct sandbox_join {
  int fd;
  int type;
};

// Every signal to its default disposition and none blocked (the runtime's, Node's, the
// client's handlers and mask stay behind). Async-signal-safe.
void sandbox_default_signals(void);

// Clones the sandbox's first process: flags (CLONE_NEW*) with CLONE_PIDFD and SIGCHLD, in
// the PID namespace join_pid names (-1: this thread's own). The child runs sandbox_child
// with the arguments after *pidfd and never returns. Returns the child's PID with *pidfd
// set, or -1 with errno. The calling thread enters join_pid for the clone only.
//
// With unshare_flags holding CLONE_NEWPID, the first child makes the namespaces and forks
// init, PID 1 of the new PID namespace, and reports its PID (CTL_INIT_PID) on ctl. Without
// guard it then exits, and init passes to the caller's subreaper. With guard, init is forked
// as the caller's own child (CLONE_PARENT: the caller's subreaper reaps it as runc's init),
// and the first child stays, outside the namespace, as init's guard: it kills init when
// its copy of the control socket hangs up (the runtime's holder of the other end died),
// and exits when init does. A program exec'd in place as PID 1 (init's execInPlace) has no
// init of ours left inside to end it.
pid_t sandbox_clone(unsigned long flags, int join_pid, int* pidfd, int ctl, int parent_end, int init_fd, int tty,
                    int orphan, const struct sandbox_join* joins, int njoins, unsigned long unshare_flags, int guard);

#ifdef __cplusplus
}
#endif

// A warm runsc-ts process asks the client it serves to clone the sandbox's first process
// (sandbox_clone, in the client) with this message on their connection, and the descriptors
// [reply, ctl, init_fd, tty if has_tty, joins...] attached (SCM_RIGHTS). The client answers
// on reply (a SOCK_SEQPACKET socket): the int32 PID, or a negative errno, with the pidfd
// attached; it reaps the first child itself when that one only forks init (unshare_flags
// has CLONE_NEWPID, without guard: a guard stays as long as init), and never init — unless report_exit is set (`do`: the client waits
// for its workload as Node in its own process would): then the client is init's subreaper
// too, reaps it, and sends its exit status (an int32, as a shell reports it: the code, or
// 128 + the signal) as a second message on reply.
#include <stdint.h>

#define SANDBOX_CLONE_REQUEST 0x7ffffffd
#define SANDBOX_CLONE_MAX_JOINS 16

struct sandbox_clone_request {
  int32_t kind;  // SANDBOX_CLONE_REQUEST
  int32_t orphan;
  uint64_t flags;
  uint64_t unshare_flags;
  int32_t has_tty;
  int32_t njoins;
  int32_t join_types[SANDBOX_CLONE_MAX_JOINS];
  int32_t join_pid;  // the index of the joined PID namespace among joins, or -1
  int32_t report_exit;
  int32_t guard;  // sandbox_clone's guard (never with report_exit): the first child stays
};
