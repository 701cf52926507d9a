// Readiness of a descriptor, told to the caller's event loop: how a sentry serves its
// listener on the thread that runs everything else of a container's monitor (no thread,
// and no isolate, of its own). A small thread waits in poll() and calls back once per
// arming; the callback drains what is pending and arms the watch again. Node's own loop
// cannot be asked: its libuv is not part of Node-API.
#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

struct Watch {
  int fd = -1;
  int wake = -1;  // eventfd: written by arm and stop
  std::atomic<bool> stopping{false};
  std::thread thread;
  Napi::ThreadSafeFunction fn;

  ~Watch() {
    if (wake >= 0) close(wake);
  }

  // Waits for fd once armed (it starts armed), calls back, and waits to be armed again.
  void Run() {
    bool armed = true;
    for (;;) {
      struct pollfd p[2] = {{armed ? fd : -1, POLLIN, 0}, {wake, POLLIN, 0}};
      int n = poll(p, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // EFAULT, ENOMEM: nothing to wait on; stop() still joins
      }
      if (p[1].revents & POLLIN) {
        uint64_t count;
        (void)!read(wake, &count, sizeof count);
        if (stopping.load()) return;
        armed = true;
        continue;
      }
      // Readable, hung up or failed: the callback finds out which.
      if (armed && p[0].revents != 0) {
        armed = false;
        if (fn.NonBlockingCall() != napi_ok) return;  // the loop is going away
      }
    }
  }

  void Poke() {
    uint64_t one = 1;
    (void)!write(wake, &one, sizeof one);
  }
};

}  // namespace

// watchReadable(fd, callback) -> {arm(), stop()}: calls callback on this thread's event loop
// once fd is readable (or hung up, or failed), then not again until arm(). stop() ends the
// watch and returns once its thread has ended; a callback already queued may still run.
// Keeps the event loop alive until stop().
Napi::Value WatchReadable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    ThrowUsage(env, "watchReadable(fd, callback)");
    return env.Undefined();
  }
  auto w = std::make_shared<Watch>();
  w->fd = info[0].As<Napi::Number>().Int32Value();
  w->wake = eventfd(0, EFD_CLOEXEC);
  if (w->wake < 0) return ThrowSetup(env, "eventfd for a descriptor's watch", errno);
  w->fn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "runsc-ts watch", 0, 1);
  w->thread = std::thread([w]() { w->Run(); });
  Napi::Object out = Napi::Object::New(env);
  out.Set("arm", Napi::Function::New(env, [w](const Napi::CallbackInfo& ci) {
            if (!w->stopping.load()) w->Poke();
            return ci.Env().Undefined();
          }));
  out.Set("stop", Napi::Function::New(env, [w](const Napi::CallbackInfo& ci) {
            if (!w->stopping.exchange(true)) {
              w->Poke();
              if (w->thread.joinable()) w->thread.join();
              w->fn.Release();
            }
            return ci.Env().Undefined();
          }));
  return out;
}

// pollIn(fd, timeoutUs) -> 1 (readable, or failed), 2 (hung up with nothing to read),
// 0 (timed out) | -errno: a wait of microseconds, for the next event of a burst before going
// back to the event loop (a seccomp listener hangs up once no task uses its filter).
Napi::Value PollIn(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    ThrowUsage(info.Env(), "pollIn(fd, timeoutUs)");
    return info.Env().Undefined();
  }
  int64_t us = info[1].As<Napi::Number>().Int64Value();
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int r;
  do r = ppoll(&p, 1, &ts, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) return Napi::Number::New(info.Env(), -errno);
  if (r == 0) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), (p.revents & (POLLHUP | POLLIN | POLLERR)) == POLLHUP ? 2 : 1);
}

}  // namespace runsc
