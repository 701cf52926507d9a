// Detached mounts runsc-ts makes for a sandbox, as host root, and hands to its init.
//
// The overlay root of `filesystem.root: overlay`: the host's root filesystem as the lower
// layer, an in-memory tmpfs as the upper one, made by runsc-ts itself (host root) so that
// copy-up can preserve the host's owners, and handed to the sandbox's init as a detached
// mount (init attaches it with move_mount(2)). Hidden paths are whiteouts in the upper
// layer: absent for stat, open and readdir, while their directories stay writable.
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

int FsConfig(int fc, unsigned cmd, const char* key, const char* value) {
  return (int)syscall(SYS_fsconfig, fc, cmd, key, value, 0);
}

struct Closer {
  int fd = -1;
  ~Closer() {
    if (fd >= 0) close(fd);
  }
};


// The lower layer's path of rel (relative, no leading '/'; "" is the lower root).
std::string InLower(const std::string& lower, const std::string& rel) {
  if (rel.empty()) return lower;
  return lower == "/" ? "/" + rel : lower + "/" + rel;
}

// Makes dir (relative to base, no leading '/') and its parents in the upper layer, each
// with the owner and mode of the lower layer's directory at the same path; made lists
// them (their times are set once every entry is in place).
bool MirrorDirs(int upper, const std::string& lower, const std::string& rel, std::vector<std::string>* made, std::string* err) {
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t slash = rel.find('/', pos);
    std::string part = rel.substr(0, slash == std::string::npos ? rel.size() : slash);
    pos = slash == std::string::npos ? rel.size() : slash + 1;
    struct stat st;
    if (fstatat(AT_FDCWD, InLower(lower, part).c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
      *err = InLower(lower, part) + ": not a directory";
      return false;
    }
    if (mkdirat(upper, part.c_str(), st.st_mode & 07777) < 0) {
      if (errno == EEXIST) continue;
      *err = "mkdir upper/" + part + ": " + strerror(errno);
      return false;
    }
    if (fchownat(upper, part.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(upper, part.c_str(), st.st_mode & 07777, 0) < 0) {
      *err = "upper/" + part + ": " + strerror(errno);
      return false;
    }
    made->push_back(part);
  }
  return true;
}

// The lower layer's times on a mirrored directory ("" is the root).
bool MirrorTimes(int upper, const std::string& lower, const std::string& rel) {
  struct stat st;
  if (stat(InLower(lower, rel).c_str(), &st) < 0) return false;
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  return utimensat(upper, rel.empty() ? "." : rel.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0;
}

// Absolute paths from an array of strings, as paths relative to "/" (no "..", no trailing
// "/"); false (with a JS exception pending) on a bad one.
bool RelativePaths(Napi::Env env, Napi::Value v, const char* what, std::vector<std::string>* out) {
  if (v.IsUndefined()) return true;
  if (!v.IsArray()) {
    Napi::TypeError::New(env, std::string("overlay root: ") + what + " must be an array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Array list = v.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value e = list.Get(i);
    std::string p = e.IsString() ? e.As<Napi::String>().Utf8Value() : "";
    if (p.size() < 2 || p[0] != '/' || p.find("/..") != std::string::npos || p.back() == '/') {
      Napi::Error::New(env, std::string("overlay root: bad ") + what + " path " + p).ThrowAsJavaScriptException();
      return false;
    }
    out->push_back(p.substr(1));
  }
  return true;
}

}  // namespace

// The kernel's own account of a failed fs_context (fsopen(2): read the fd for messages).
std::string FsError(int fc) {
  char msg[512];
  std::string out;
  for (;;) {
    ssize_t n = read(fc, msg, sizeof msg - 1);
    if (n <= 0) break;
    msg[n] = 0;
    if (!out.empty()) out += "; ";
    out += msg;
  }
  return out;
}

// Throws "<what>: <step>: <e's message> (<the kernel's account>)" with code ESETUP, for a
// mount made through an fs_context (fc, or -1 before fsopen succeeded).
Napi::Value ThrowMountError(Napi::Env env, const std::string& what, const std::string& step, int e, int fc) {
  std::string msg = what + ": " + step + ": " + strerror(e);
  if (fc >= 0) {
    std::string k = FsError(fc);
    if (!k.empty()) msg += " (" + k + ")";
  }
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, "ESETUP"));
  err.ThrowAsJavaScriptException();
  return env.Undefined();
}

// overlayRoot({size, whiteouts, dir?, files?, lower?}) -> fd of a detached overlay mount
// (nosuid, nodev; close-on-exec) of lower (default "/": the host's root filesystem). The upper layer is a tmpfs of `size` (size=, "256m", "10%"), or the
// existing directory `dir` (its upper/ and work/, made when missing: the changes stay there
// after the sandbox). whiteouts: absolute paths made absent. files: absolute paths made as
// empty files (mount points for the policy's synthetic files the host lacks). Throws with
// the kernel's message on failure.
Napi::Value OverlayRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "overlayRoot({size: string, whiteouts: string[], dir?: string, files?: string[], lower?: string})";
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  std::string size = o.Get("size").IsString() ? o.Get("size").As<Napi::String>().Utf8Value() : "";
  std::string lower = o.Get("lower").IsString() ? o.Get("lower").As<Napi::String>().Utf8Value() : "/";
  if (lower.empty() || lower[0] != '/' || lower.find_first_of(",:") != std::string::npos) {
    Napi::Error::New(env, "overlay root: the lower layer must be an absolute path without ',' or ':', got " + lower).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<std::string> whiteouts, files;
  if (!RelativePaths(env, o.Get("whiteouts"), "whiteout", &whiteouts) || !RelativePaths(env, o.Get("files"), "file", &files))
    return env.Undefined();
  auto fail = [&](const std::string& what, int e, int fc) { return ThrowMountError(env, "overlay root", what, e, fc); };

  // The upper layer: a tmpfs of its own, never attached anywhere, or the directory given.
  Closer tfc, tmnt, upper;
  if (o.Get("dir").IsString()) {
    std::string dir = o.Get("dir").As<Napi::String>();
    tmnt.fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (tmnt.fd < 0) return fail("upper directory " + dir, errno, -1);
  } else {
    tfc.fd = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (tfc.fd < 0) return fail("fsopen tmpfs", errno, -1);
    if (FsConfig(tfc.fd, FSCONFIG_SET_STRING, "size", size.c_str()) < 0 ||
        FsConfig(tfc.fd, FSCONFIG_SET_STRING, "mode", "0755") < 0 ||
        FsConfig(tfc.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr) < 0)
      return fail("tmpfs size=" + size, errno, tfc.fd);
    tmnt.fd = (int)syscall(SYS_fsmount, tfc.fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (tmnt.fd < 0) return fail("fsmount tmpfs", errno, tfc.fd);
  }
  if ((mkdirat(tmnt.fd, "upper", 0755) < 0 && errno != EEXIST) || (mkdirat(tmnt.fd, "work", 0700) < 0 && errno != EEXIST))
    return fail("mkdir upper", errno, -1);
  upper.fd = openat(tmnt.fd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (upper.fd < 0) return fail("open upper", errno, -1);
  // The upper root stands for the lower root: its owner and mode.
  struct stat root;
  if (stat(lower.c_str(), &root) < 0 || fchownat(upper.fd, "", root.st_uid, root.st_gid, AT_EMPTY_PATH) < 0 ||
      fchmodat(tmnt.fd, "upper", root.st_mode & 07777, 0) < 0)
    return fail("upper root", errno, -1);
  // Each entry made in the upper layer gets its parent directories as the host has them.
  std::vector<std::string> made = {""};
  std::string err;
  auto parents = [&](const std::string& rel) {
    size_t slash = rel.rfind('/');
    return slash == std::string::npos || MirrorDirs(upper.fd, lower, rel.substr(0, slash), &made, &err);
  };
  auto failMirror = [&]() {
    Napi::Error e = Napi::Error::New(env, "overlay root: " + err);
    e.Set("code", Napi::String::New(env, "ESETUP"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  };
  for (const std::string& w : whiteouts) {
    if (!parents(w)) return failMirror();
    // An overlayfs whiteout: a character device 0/0 (Documentation/filesystems/overlayfs.rst).
    if (mknodat(upper.fd, w.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0 && errno != EEXIST)
      return fail("whiteout /" + w, errno, -1);
  }
  for (const std::string& f : files) {
    if (!parents(f)) return failMirror();
    int fd = openat(upper.fd, f.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return fail("mount point /" + f, errno, -1);
    if (fd >= 0) close(fd);
  }
  for (const std::string& d : made)
    if (!MirrorTimes(upper.fd, lower, d)) return fail("times of /" + d, errno, -1);

  Closer ofc;
  ofc.fd = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (ofc.fd < 0) return fail("fsopen overlay", errno, -1);
  std::string base = "/proc/self/fd/" + std::to_string(tmnt.fd);
  if (FsConfig(ofc.fd, FSCONFIG_SET_STRING, "source", "runsc-ts-overlay") < 0 ||
      FsConfig(ofc.fd, FSCONFIG_SET_STRING, "lowerdir", lower.c_str()) < 0 ||
      FsConfig(ofc.fd, FSCONFIG_SET_STRING, "upperdir", (base + "/upper").c_str()) < 0 ||
      FsConfig(ofc.fd, FSCONFIG_SET_STRING, "workdir", (base + "/work").c_str()) < 0 ||
      FsConfig(ofc.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr) < 0)
    return fail("overlay lowerdir=" + lower, errno, ofc.fd);
  int mnt = (int)syscall(SYS_fsmount, ofc.fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  if (mnt < 0) return fail("fsmount overlay", errno, ofc.fd);
  return Napi::Number::New(env, mnt);
}

// fuseMount(fuseFd, source) -> fd of a detached FUSE mount served through fuseFd (an open
// /dev/fuse): read-only, nosuid, nodev, noexec, any process may use it (the sandbox's run as
// other uids), its root a directory. The virtual /proc files are bound from it.
Napi::Value FuseMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    ThrowUsage(env, "fuseMount(fuseFd, source)");
    return env.Undefined();
  }
  std::string fd = std::to_string(info[0].As<Napi::Number>().Int32Value());
  std::string source = info[1].As<Napi::String>();
  Closer fc;
  fc.fd = (int)syscall(SYS_fsopen, "fuse", FSOPEN_CLOEXEC);
  auto fail = [&](const std::string& step) { return ThrowMountError(env, "fuse mount", step, errno, fc.fd); };
  if (fc.fd < 0) return fail("fsopen fuse");
  if (FsConfig(fc.fd, FSCONFIG_SET_STRING, "source", source.c_str()) < 0 ||
      FsConfig(fc.fd, FSCONFIG_SET_STRING, "fd", fd.c_str()) < 0 ||
      FsConfig(fc.fd, FSCONFIG_SET_STRING, "rootmode", "40555") < 0 ||
      FsConfig(fc.fd, FSCONFIG_SET_STRING, "user_id", "0") < 0 ||
      FsConfig(fc.fd, FSCONFIG_SET_STRING, "group_id", "0") < 0 ||
      FsConfig(fc.fd, FSCONFIG_SET_FLAG, "allow_other", nullptr) < 0 ||
      FsConfig(fc.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr) < 0)
    return fail("configure");
  int mnt = (int)syscall(SYS_fsmount, fc.fd, FSMOUNT_CLOEXEC,
                         MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (mnt < 0) return fail("fsmount");
  return Napi::Number::New(env, mnt);
}

// hostFilesystem(type) -> fd: a detached mqueue or proc mount of this process's IPC or PID
// namespace (the host's), made by host root for a container on the host's namespace, whose
// root may not mount it (the namespace belongs to the host's user namespace). nosuid,
// nodev, noexec.
Napi::Value HostFilesystem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowUsage(env, "hostFilesystem(type)");
    return env.Undefined();
  }
  std::string type = info[0].As<Napi::String>();
  if (type != "mqueue" && type != "proc") {
    ThrowUsage(env, "hostFilesystem(\"mqueue\" | \"proc\")");
    return env.Undefined();
  }
  Closer fc;
  fc.fd = (int)syscall(SYS_fsopen, type.c_str(), FSOPEN_CLOEXEC);
  auto fail = [&](const std::string& step) { return ThrowMountError(env, type + " mount", step, errno, fc.fd); };
  if (fc.fd < 0) return fail("fsopen");
  if (FsConfig(fc.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr) < 0) return fail("create");
  int mnt = (int)syscall(SYS_fsmount, fc.fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (mnt < 0) return fail("fsmount");
  return Napi::Number::New(env, mnt);
}

}  // namespace runsc
