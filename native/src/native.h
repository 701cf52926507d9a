// Entry points of the addon, one per mechanism; registered in addon.cc.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include <cstdint>

namespace runsc {

// spawn.cc
Napi::Value Spawn(const Napi::CallbackInfo& info);
Napi::Value LoadInit(const Napi::CallbackInfo& info);

// notify.cc: seccomp user notification and task memory
Napi::Value NotifySizes(const Napi::CallbackInfo& info);
Napi::Value NotifyReceive(const Napi::CallbackInfo& info);
Napi::Value NotifyRespond(const Napi::CallbackInfo& info);
Napi::Value NotifyAddFd(const Napi::CallbackInfo& info);
Napi::Value NotifyIdValid(const Napi::CallbackInfo& info);
Napi::Value NotifySetSyncWakeUp(const Napi::CallbackInfo& info);
Napi::Value BlockSignals(const Napi::CallbackInfo& info);
Napi::Value UnblockSignals(const Napi::CallbackInfo& info);
Napi::Value ReadMemory(const Napi::CallbackInfo& info);
Napi::Value ReadString(const Napi::CallbackInfo& info);
Napi::Value WriteMemory(const Napi::CallbackInfo& info);
Napi::Value WaitExit(const Napi::CallbackInfo& info);
Napi::Value OnExit(const Napi::CallbackInfo& info);
Napi::Value StartReaper(const Napi::CallbackInfo& info);
Napi::Value SpawnCommand(const Napi::CallbackInfo& info);
Napi::Value PidfdExited(const Napi::CallbackInfo& info);
// Starts the thread that reaps a sandbox init (spawn() calls it).
void WatchExit(int pid);
// Reaps pid whenever it ends, on a thread of its own, its status unrecorded: a child of
// ours that outlives the call that made it and that no one waits for (init's guard, a
// confined monitor, its binder).
void ReapLater(int pid);
// As WatchExit, for an init the client of a warm process cloned and reaps: its status comes
// as an int32 on reply (sandbox_child.h: report_exit), which is closed after.
void WatchExitFrom(int pid, int reply);

// A received struct seccomp_notif's id (its first field).
inline uint64_t NotifId(const Napi::Uint8Array& buf) {
  uint64_t id;
  memcpy(&id, buf.Data(), sizeof id);
  return id;
}

// execstop.cc: an allowed exec, answered and verified at its exec stop
Napi::Value ExecContinueVerified(const Napi::CallbackInfo& info);
// events.cc: records an exec seen at its exec stop on events_fd (-1: none), and then its exit.
void RecordExec(int events_fd, int proc_fd, pid_t pid, bool allowed);
// Waits for pid to end, as its parent, past the stops of a trace: its status as a shell
// reports it, or -errno.
int WaitExitOf(int pid);

// blocking.cc: calls that may block, on a bounded, cancellable pool of the sandbox's own
Napi::Value BlockingPool(const Napi::CallbackInfo& info);
Napi::Value BlockingPoolClose(const Napi::CallbackInfo& info);
Napi::Value BlockingPoolStats(const Napi::CallbackInfo& info);
Napi::Value BlockingCall(const Napi::CallbackInfo& info);

// fsops.cc: a thread started from the sentry's takes the credentials that thread had at
// that moment, a task's perhaps (setCreds): this puts the sentry's own back, as a thread that
// acts for the sentry must start.
void ResetThreadCreds();

// fsops.cc: while this thread acts as a task with the task's capabilities (setCreds), the
// sentry's own accesses to task memory (process_vm_readv/writev: a ptrace check) run with
// its full set for the scope of one of these.
class ScopedSentryCaps {
 public:
  ScopedSentryCaps();
  ~ScopedSentryCaps();
  ScopedSentryCaps(const ScopedSentryCaps&) = delete;
  ScopedSentryCaps& operator=(const ScopedSentryCaps&) = delete;

 private:
  bool raised_ = false;
  uint64_t saved_ = 0;
};

// fsops.cc: descriptors and filesystem operations performed for a task
Napi::Value PidfdOpen(const Napi::CallbackInfo& info);
Napi::Value PidfdGetfd(const Napi::CallbackInfo& info);
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value Dup2(const Napi::CallbackInfo& info);
Napi::Value Dup(const Napi::CallbackInfo& info);
Napi::Value EnterMountNamespace(const Napi::CallbackInfo& info);
Napi::Value SetCreds(const Napi::CallbackInfo& info);
Napi::Value OpenAt2(const Napi::CallbackInfo& info);
Napi::Value StatAt(const Napi::CallbackInfo& info);
Napi::Value StatxAt(const Napi::CallbackInfo& info);
Napi::Value ReadlinkAt(const Napi::CallbackInfo& info);
Napi::Value AccessAt(const Napi::CallbackInfo& info);
Napi::Value MkdirAt(const Napi::CallbackInfo& info);
Napi::Value MknodAt(const Napi::CallbackInfo& info);
Napi::Value UnlinkAt(const Napi::CallbackInfo& info);
Napi::Value RenameAt2(const Napi::CallbackInfo& info);
Napi::Value LinkAt(const Napi::CallbackInfo& info);
Napi::Value SymlinkAt(const Napi::CallbackInfo& info);
Napi::Value ChmodAt(const Napi::CallbackInfo& info);
Napi::Value ChownAt(const Napi::CallbackInfo& info);
Napi::Value UtimensAt(const Napi::CallbackInfo& info);
Napi::Value Ftruncate(const Napi::CallbackInfo& info);
Napi::Value Fsetxattr(const Napi::CallbackInfo& info);
Napi::Value Fremovexattr(const Napi::CallbackInfo& info);
Napi::Value SchedGetaffinity(const Napi::CallbackInfo& info);
Napi::Value Connect(const Napi::CallbackInfo& info);
Napi::Value SendTo(const Napi::CallbackInfo& info);
Napi::Value Fchdir(const Napi::CallbackInfo& info);
Napi::Value InTerminalForeground(const Napi::CallbackInfo& info);
Napi::Value Probe(const Napi::CallbackInfo& info);

// overlay.cc: detached mounts made by runsc-ts: the overlay root, the virtual /proc (FUSE);
// FsError: the kernel's own account of a failed fs_context (fsopen(2)), read from its fd.
std::string FsError(int fc);
Napi::Value OverlayRoot(const Napi::CallbackInfo& info);
Napi::Value FuseMount(const Napi::CallbackInfo& info);
Napi::Value HostFilesystem(const Napi::CallbackInfo& info);

// userns.cc: a user namespace made ahead of its container, mounts idmapped into it
Napi::Value CreateUserNamespace(const Napi::CallbackInfo& info);
Napi::Value IdmappedMount(const Napi::CallbackInfo& info);
Napi::Value IdmappedOverlay(const Napi::CallbackInfo& info);

// procfs.cc: serving the virtual /proc files' FUSE filesystem
Napi::Value ProcServe(const Napi::CallbackInfo& info);
Napi::Value WatchReadable(const Napi::CallbackInfo& info);
Napi::Value PollIn(const Napi::CallbackInfo& info);
Napi::Value WatchdogWatch(const Napi::CallbackInfo& info);
Napi::Value WatchdogUnwatch(const Napi::CallbackInfo& info);
Napi::Value SentryIdleNow(const Napi::CallbackInfo& info);
Napi::Value SentryBusyNow(const Napi::CallbackInfo& info);
// The calling sentry thread holds a trapped call from now on, or none (watchdog.cc).
void SentryBusy();
void SentryIdle();

// netops.cc: socket operations performed for a task (network.egress, network.bind)
Napi::Value Socket(const Napi::CallbackInfo& info);
Napi::Value Socketpair(const Napi::CallbackInfo& info);
Napi::Value Bind(const Napi::CallbackInfo& info);
Napi::Value Listen(const Napi::CallbackInfo& info);
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info);
Napi::Value SetsockoptInt(const Napi::CallbackInfo& info);
Napi::Value SocketNetns(const Napi::CallbackInfo& info);
Napi::Value Fcntl(const Napi::CallbackInfo& info);
Napi::Value Umask(const Napi::CallbackInfo& info);

// oci.cc: the OCI lifecycle's pty, console socket, state lock and start signal
Napi::Value OpenPtyIn(const Napi::CallbackInfo& info);
Napi::Value OpenPty(const Napi::CallbackInfo& info);
Napi::Value SetWinsize(const Napi::CallbackInfo& info);
Napi::Value SendFdToSocket(const Napi::CallbackInfo& info);
Napi::Value Flock(const Napi::CallbackInfo& info);

// confine.cc: connects to the unix socket at path and sends message with fds (SCM_RIGHTS)
// in one sendmsg: the connection's fd, or -1 with the JS exception thrown.
int SendWithFds(Napi::Env env, const std::string& path, const std::string& message, const std::vector<int>& fds);

// confine.cc: the confined sentry (its process, its own filter, its binder) and the
// descriptors passed to it
Napi::Value SpawnConfined(const Napi::CallbackInfo& info);
Napi::Value ConfineSelf(const Napi::CallbackInfo& info);
Napi::Value StartBinder(const Napi::CallbackInfo& info);
Napi::Value BindVia(const Napi::CallbackInfo& info);
Napi::Value SendFds(const Napi::CallbackInfo& info);
Napi::Value PeerCred(const Napi::CallbackInfo& info);
Napi::Value RecvFds(const Napi::CallbackInfo& info);
Napi::Value WaitReadable(const Napi::CallbackInfo& info);
Napi::Value ListenUnix(const Napi::CallbackInfo& info);
Napi::Value NsOwner(const Napi::CallbackInfo& info);
Napi::Value WriteNetSysctls(const Napi::CallbackInfo& info);

}  // namespace runsc
