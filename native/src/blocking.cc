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
// * Sending nothing for a task that is gone: a sendto is made in MSG_DONTWAIT attempts, each
//   only while the task's pidfd says it lives, waiting in between in ppoll (blocking_pool.cc:
//   SendWhileAlive). A blocking sendto would complete as soon as the peer made room, also in
//   the moment between a task's death and the watcher's signal.
// * Never outliving the sandbox: closing the pool (the sentry does when the sandbox ends)
//   cancels every call and joins every thread.
//
// The sentry waits up to waitUs for a result (the common, quick case) and answers the task
// itself; past that the worker answers the notification when the call returns.
#include "blocking.h"
#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

using blocking::Call;
using blocking::InstallCancelHandler;
using blocking::kConnect;
using blocking::kSendto;
using blocking::Pool;

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
// base?, control?: Uint8Array, controlFds?: number[], injectAt?, cloexec?, reportFd?}. fd,
// alsoClose and controlFds are closed whatever happens.
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
  // Taken over like fd: closed when the call is done, whatever happens.
  Napi::Value control_fds = o.Get("controlFds");
  if (control_fds.IsArray()) {
    Napi::Array a = control_fds.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) c->control_fds.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  Napi::Value control = o.Get("control");
  if (control.IsTypedArray()) {
    Napi::Uint8Array d = control.As<Napi::Uint8Array>();
    c->control.assign(d.Data(), d.Data() + d.ByteLength());
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
