// The sentry thread's credentials: setCreds acts as a task (its fs ids, groups, euid and
// host capabilities) and remembers what it applied, ScopedSentryCaps raises the thread's
// own capabilities for one privileged call, ResetThreadCreds returns a thread to the
// sentry's own. Capabilities and ids are per thread: the sentry's other threads keep theirs.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

bool Usage(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() >= n) return true;
  ThrowUsage(info.Env(), usage);
  return false;
}

// Per-thread credentials currently set by SetCreds (raw syscalls: glibc would
// broadcast setgroups to every thread of the process).
thread_local uid_t t_fsuid = 0;
thread_local gid_t t_fsgid = 0;
thread_local std::vector<gid_t> t_groups;
thread_local bool t_groups_known = false;
// Fs capabilities raised again after the ids were set (SetCreds elevated).
thread_local bool t_elevated = false;

}  // namespace

// setCreds(fsuid, fsgid, groups: Int32Array[, elevated[, caps]]) -> 0 | -errno. Host ids.
// caps: the effective capabilities to act with (a bigint; absent: all the thread holds).
// A task's own, where the task is in the host's user namespace; none where it is not (its
// capabilities reach only what its namespace owns, never the host's /proc/kallsyms or
// another user's /proc/PID/cwd): without this the sentry acted as the task with every
// capability but the file ones that a non-zero fsuid drops (kernel/capability.c:
// cap_emulate_setxuid). With caps, the euid becomes fsuid as well (see below).
// Capabilities and ids are per thread: the sentry's other threads keep theirs.
// elevated: the ids are set and then the file capabilities that stand for "root inside
// owns the overlay" (chown, dac_override, dac_read_search, fowner, fsetid) are raised too,
// so that what is created gets the task's owner while permission checks pass.
namespace {
thread_local bool t_reduced = false;
thread_local uid_t t_euid = 0;

// What the last setCreds on this thread applied: the same request again changes nothing
// (the sentry serves a task's calls one after another), so it makes no syscall.
struct Applied {
  bool valid = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool elevate = false;
  bool all_caps = true;
  uint64_t caps = 0;
};
thread_local Applied t_applied;

// This thread's effective set as wanted (within its permitted one): 0 | -errno.
int SetEffective(bool all, uint64_t want) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return -errno;
  uint64_t permitted = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
  uint64_t effective = all ? permitted : (want & permitted);
  data[0].effective = (uint32_t)effective;
  data[1].effective = (uint32_t)(effective >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) return -errno;
  t_reduced = effective != permitted;
  return 0;
}
}  // namespace

void ResetThreadCreds() {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) == 0) {
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    syscall(SYS_capset, &hdr, data);
  }
  syscall(SYS_setresuid, (uid_t)-1, (uid_t)0, (uid_t)-1);
  syscall(SYS_setgroups, 0, nullptr);
  syscall(SYS_setfsgid, 0);
  syscall(SYS_setfsuid, 0);
  t_reduced = false;
  t_euid = 0;
  t_applied.valid = false;
}

ScopedSentryCaps::ScopedSentryCaps() {
  if (!t_reduced) return;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return;
  saved_ = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  raised_ = syscall(SYS_capset, &hdr, data) == 0;
}

ScopedSentryCaps::~ScopedSentryCaps() {
  if (!raised_) return;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return;
  data[0].effective = (uint32_t)saved_;
  data[1].effective = (uint32_t)(saved_ >> 32);
  syscall(SYS_capset, &hdr, data);
}

Napi::Value SetCreds(const Napi::CallbackInfo& info) {
  if (!Usage(info, 3, "setCreds(fsuid, fsgid, groups[, elevated[, caps]])")) return info.Env().Undefined();
  uid_t uid = (uid_t)info[0].As<Napi::Number>().Uint32Value();
  gid_t gid = (gid_t)info[1].As<Napi::Number>().Uint32Value();
  Napi::Int32Array g = info[2].As<Napi::Int32Array>();
  bool elevate = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  bool all_caps = !(info.Length() > 4 && info[4].IsBigInt());
  uint64_t caps = 0;
  if (!all_caps) {
    bool lossless = true;
    caps = info[4].As<Napi::BigInt>().Uint64Value(&lossless);
  }
  std::vector<gid_t> groups(g.ElementLength());
  for (size_t i = 0; i < groups.size(); i++) groups[i] = (gid_t)g[i];
  if (t_applied.valid && t_applied.uid == uid && t_applied.gid == gid && t_applied.groups == groups &&
      t_applied.elevate == elevate && t_applied.all_caps == all_caps && t_applied.caps == caps)
    return Num(info.Env(), 0);
  t_applied.valid = false;
  // Back to the full set and euid 0 first: setgroups needs CAP_SETGID, the id changes
  // CAP_SETUID.
  if (t_reduced) {
    int e = SetEffective(true, 0);
    if (e < 0) return Num(info.Env(), e);
  }
  if (t_euid != 0) {
    if (syscall(SYS_setresuid, (uid_t)-1, (uid_t)0, (uid_t)-1) < 0) return Num(info.Env(), -errno);
    t_euid = 0;
  }
  // Leaving an elevated state: through fsuid 0, whose transitions are the ones that set
  // the fs capabilities (back to full, then dropped again below for a non-zero fsuid).
  if (t_elevated) {
    syscall(SYS_setfsuid, 0);
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != 0) return Num(info.Env(), -EPERM);
    t_fsuid = 0;
    t_elevated = false;
  }
  // Order: groups and gid while still privileged, uid last; the reverse to go back.
  if (!t_groups_known || groups != t_groups) {
    if (syscall(SYS_setgroups, groups.size(), groups.data()) < 0) return Num(info.Env(), -errno);
    t_groups = groups;
    t_groups_known = true;
  }
  if (gid != t_fsgid) {
    syscall(SYS_setfsgid, gid);
    if ((gid_t)syscall(SYS_setfsgid, (gid_t)-1) != gid) return Num(info.Env(), -EPERM);
    t_fsgid = gid;
  }
  if (uid != t_fsuid) {
    syscall(SYS_setfsuid, uid);
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != uid) return Num(info.Env(), -EPERM);
    t_fsuid = uid;
  }
  const uint64_t fs = (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_DAC_READ_SEARCH) |
                      (1ull << CAP_FOWNER) | (1ull << CAP_FSETID);
  if (elevate) t_elevated = true;  // even if capset fails: the next call goes back through fsuid 0
  auto applied = [&]() {
    t_applied = Applied{true, uid, gid, groups, elevate, all_caps, caps};
    return Num(info.Env(), 0);
  };
  if (all_caps && !elevate) return applied();
  // The euid too (this thread's alone: the raw syscall, not glibc's, which sets every
  // thread's): the owner of a user namespace has every capability in it
  // (security/commoncap.c: cap_capable), and the sandbox's is owned by host root. With euid
  // 0, a task's open through /proc/PID/cwd passed the ptrace check it fails on its own.
  if (uid != 0) {
    if (syscall(SYS_setresuid, (uid_t)-1, uid, (uid_t)-1) < 0) return Num(info.Env(), -errno);
    t_euid = uid;
  }
  // A non-zero fsuid has dropped the file capabilities: they come back only when elevated,
  // or for a task of the host's user namespace that holds them with fsuid 0.
  uint64_t want = all_caps ? ~0ull : caps;
  if (uid != 0) want &= ~fs;
  if (elevate) want |= fs;
  int e = SetEffective(false, want);
  return e < 0 ? Num(info.Env(), e) : applied();
}

}  // namespace runsc
