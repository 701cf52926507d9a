// Node-shaped errors for the addon (better-sqlite3 and libuv's uv_err_name style).
#include "errors.h"

#include <errno.h>
#include <string.h>

#include <string>

namespace runsc {

const char* ErrnoCode(int e) {
  // strerrorname_np is glibc 2.32+; Debian 12 has 2.36.
  const char* name = strerrorname_np(e);
  return name ? name : "EUNKNOWN";
}

void ThrowErrno(Napi::Env env, int e, const char* syscall, const std::string& detail) {
  std::string msg = std::string(ErrnoCode(e)) + ": " + strerror(e) + ", " + syscall;
  if (!detail.empty()) msg += " " + detail;
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("errno", Napi::Number::New(env, -e));
  err.Set("code", Napi::String::New(env, ErrnoCode(e)));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.ThrowAsJavaScriptException();
}

void ThrowUsage(Napi::Env env, const char* usage) {
  Napi::TypeError::New(env, std::string("Usage: ") + usage).ThrowAsJavaScriptException();
}

Napi::Value ThrowSetup(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, "ESETUP"));
  e.Set("errno", Napi::Number::New(env, -err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace runsc
