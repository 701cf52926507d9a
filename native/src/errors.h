// Errors that cross into JavaScript shaped like Node's own: errno, code, syscall.
#pragma once
#include <napi.h>

namespace runsc {

// Throws (as a pending JS exception) an Error with Node's fields. errnum is positive.
void ThrowErrno(Napi::Env env, int errnum, const char* syscall, const std::string& detail = "");

// The symbolic name of an errno ("ENOENT"), or "E<n>" when unknown.
const char* ErrnoCode(int errnum);

// Throws (as a pending JS exception) an Error "what: strerror(err)" with code ESETUP and
// errno -err: a setup step of the runtime's (a namespace, a mount, a confinement) that failed.
// Returns undefined, for `return ThrowSetup(...)`.
Napi::Value ThrowSetup(Napi::Env env, const std::string& what, int err);

// Throws a TypeError naming the call's usage.
void ThrowUsage(Napi::Env env, const char* usage);

}  // namespace runsc
