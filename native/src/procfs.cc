// The FUSE side of the virtual /proc files (filesystem.proc.virtualize): a read-only
// filesystem of one directory whose files' texts come from TypeScript
// (runsc/sandbox/procfs.ts, sentry/proc/files.ts) when they are opened.
//
// The protocol runs on a thread of its own, which answers everything that needs no text
// (init, lookup, getattr, readdir, statfs...) by itself: the sandbox's init looks the files
// up while the caller's thread is still blocked in spawn(). An open asks the caller's
// event loop for the text (a threadsafe-function call, once per open) and keeps it for the
// reads of that open, which are served with direct I/O (the files' size is 0, as /proc's).
#include <errno.h>
#include <linux/fuse.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "native.h"

namespace runsc {
namespace {

constexpr uint32_t kMaxWrite = 128 * 1024;
constexpr uint64_t kValidSeconds = 3600;  // nothing here changes but the texts

struct Ask {
  std::string name;
  std::string text;
  bool ok = false;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
};

// A serving thread's stop request and its acknowledgement (procServe's returned function).
struct Stop {
  std::mutex mu;
  std::condition_variable cv;
  bool asked = false;
  bool done = false;
};

class ProcServer {
 public:
  ProcServer(int fd, std::vector<std::string> names, Napi::ThreadSafeFunction text, std::shared_ptr<Stop> stop)
      : fd_(fd), names_(std::move(names)), text_(text), stop_(std::move(stop)), started_(time(nullptr)) {}

  void Run() {
    std::vector<char> buf(kMaxWrite + 4096);
    for (;;) {
      // Between requests, a stop (another process takes over serving) ends the thread.
      struct pollfd p = {fd_, POLLIN, 0};
      int r = poll(&p, 1, 50);
      {
        std::lock_guard<std::mutex> lock(stop_->mu);
        if (stop_->asked) break;
      }
      if (r < 0 && errno != EINTR) break;
      if (r <= 0) continue;
      if (p.revents & (POLLERR | POLLNVAL)) break;
      ssize_t n = read(fd_, buf.data(), buf.size());
      if (n < 0) {
        // An interrupted request (ENOENT) or a signal: the next one. ENODEV: unmounted.
        if (errno == ENOENT || errno == EINTR || errno == EAGAIN) continue;
        break;
      }
      if ((size_t)n < sizeof(fuse_in_header)) break;
      Handle(buf.data(), (size_t)n);
    }
    text_.Release();
    std::lock_guard<std::mutex> lock(stop_->mu);
    stop_->done = true;
    stop_->cv.notify_all();
  }

 private:
  void Reply(uint64_t unique, int error, const void* body = nullptr, size_t len = 0) {
    fuse_out_header h;
    h.len = (uint32_t)(sizeof h + len);
    h.error = error;
    h.unique = unique;
    struct iovec iov[2] = {{&h, sizeof h}, {(void*)body, len}};
    // ENOENT: the request was interrupted meanwhile; nobody waits for the answer.
    (void)!writev(fd_, iov, len > 0 ? 2 : 1);
  }

  // The directory is node 1; file i is node i + 2.
  const std::string* File(uint64_t node) const {
    return node >= 2 && node - 2 < names_.size() ? &names_[node - 2] : nullptr;
  }

  void Attr(uint64_t node, fuse_attr* a) const {
    memset(a, 0, sizeof *a);
    a->ino = node;
    a->atime = a->mtime = a->ctime = (uint64_t)started_;
    a->mode = node == FUSE_ROOT_ID ? (S_IFDIR | 0555) : (S_IFREG | 0444);
    a->nlink = node == FUSE_ROOT_ID ? 2 : 1;
    a->blksize = 4096;
  }

  // Asks the caller's event loop for name's text; false when it could not answer.
  bool Text(const std::string& name, std::string* out) {
    Ask ask;
    ask.name = name;
    napi_status s = text_.BlockingCall(&ask, [](Napi::Env env, Napi::Function cb, Ask* a) {
      Napi::Value v = cb.Call({Napi::String::New(env, a->name)});
      std::string text;
      bool ok = false;
      if (env.IsExceptionPending()) {
        env.GetAndClearPendingException();
      } else if (v.IsString()) {
        text = v.As<Napi::String>().Utf8Value();
        ok = true;
      }
      std::lock_guard<std::mutex> lock(a->mu);
      a->text = std::move(text);
      a->ok = ok;
      a->done = true;
      a->cv.notify_one();
    });
    if (s != napi_ok) return false;
    std::unique_lock<std::mutex> lock(ask.mu);
    ask.cv.wait(lock, [&] { return ask.done; });
    *out = std::move(ask.text);
    return ask.ok;
  }

  void Handle(const char* req, size_t n) {
    fuse_in_header h;
    memcpy(&h, req, sizeof h);
    const char* body = req + sizeof h;
    size_t blen = std::min((size_t)h.len, n) - sizeof h;
    switch (h.opcode) {
      case FUSE_INIT: {
        fuse_init_in in;
        memset(&in, 0, sizeof in);
        memcpy(&in, body, std::min(blen, sizeof in));
        fuse_init_out out;
        memset(&out, 0, sizeof out);
        out.major = FUSE_KERNEL_VERSION;
        out.minor = std::min(in.minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
        out.max_readahead = in.max_readahead;
        out.max_background = 16;
        out.congestion_threshold = 12;
        out.max_write = kMaxWrite;
        out.time_gran = 1;
        return Reply(h.unique, 0, &out, sizeof out);
      }
      case FUSE_LOOKUP: {
        if (h.nodeid != FUSE_ROOT_ID) return Reply(h.unique, -ENOTDIR);
        std::string name(body, strnlen(body, blen));
        for (size_t i = 0; i < names_.size(); i++) {
          if (names_[i] != name) continue;
          fuse_entry_out out;
          memset(&out, 0, sizeof out);
          out.nodeid = i + 2;
          out.entry_valid = out.attr_valid = kValidSeconds;
          Attr(out.nodeid, &out.attr);
          return Reply(h.unique, 0, &out, sizeof out);
        }
        return Reply(h.unique, -ENOENT);
      }
      case FUSE_GETATTR: {
        if (h.nodeid != FUSE_ROOT_ID && File(h.nodeid) == nullptr) return Reply(h.unique, -ENOENT);
        fuse_attr_out out;
        memset(&out, 0, sizeof out);
        out.attr_valid = kValidSeconds;
        Attr(h.nodeid, &out.attr);
        return Reply(h.unique, 0, &out, sizeof out);
      }
      case FUSE_OPEN: {
        const std::string* name = File(h.nodeid);
        if (name == nullptr) return Reply(h.unique, -ENOENT);
        fuse_open_in in;
        memcpy(&in, body, std::min(blen, sizeof in));
        if ((in.flags & 3) != 0) return Reply(h.unique, -EACCES);
        std::string text;
        if (!Text(*name, &text)) return Reply(h.unique, -EIO);
        fuse_open_out out;
        memset(&out, 0, sizeof out);
        out.fh = next_fh_++;
        out.open_flags = FOPEN_DIRECT_IO;
        open_[out.fh] = std::move(text);
        return Reply(h.unique, 0, &out, sizeof out);
      }
      case FUSE_READ: {
        fuse_read_in in;
        memcpy(&in, body, std::min(blen, sizeof in));
        auto it = open_.find(in.fh);
        if (it == open_.end()) return Reply(h.unique, -EIO);
        const std::string& t = it->second;
        size_t off = std::min((size_t)in.offset, t.size());
        return Reply(h.unique, 0, t.data() + off, std::min((size_t)in.size, t.size() - off));
      }
      case FUSE_RELEASE: {
        fuse_release_in in;
        memcpy(&in, body, std::min(blen, sizeof in));
        open_.erase(in.fh);
        return Reply(h.unique, 0);
      }
      case FUSE_OPENDIR: {
        if (h.nodeid != FUSE_ROOT_ID) return Reply(h.unique, -ENOTDIR);
        fuse_open_out out;
        memset(&out, 0, sizeof out);
        return Reply(h.unique, 0, &out, sizeof out);
      }
      case FUSE_READDIR: {
        fuse_read_in in;
        memcpy(&in, body, std::min(blen, sizeof in));
        std::string out;
        std::vector<std::pair<std::string, uint64_t>> entries = {{".", FUSE_ROOT_ID}, {"..", FUSE_ROOT_ID}};
        for (size_t i = 0; i < names_.size(); i++) entries.push_back({names_[i], i + 2});
        for (size_t i = in.offset; i < entries.size(); i++) {
          const std::string& name = entries[i].first;
          size_t len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + name.size());
          if (out.size() + len > in.size) break;
          std::string rec(len, '\0');
          fuse_dirent* d = (fuse_dirent*)rec.data();
          d->ino = entries[i].second;
          d->off = i + 1;
          d->namelen = (uint32_t)name.size();
          d->type = entries[i].second == FUSE_ROOT_ID ? 4 /* DT_DIR */ : 8 /* DT_REG */;
          memcpy(rec.data() + FUSE_NAME_OFFSET, name.data(), name.size());
          out += rec;
        }
        return Reply(h.unique, 0, out.data(), out.size());
      }
      case FUSE_STATFS: {
        fuse_statfs_out out;
        memset(&out, 0, sizeof out);
        out.st.bsize = out.st.frsize = 4096;
        out.st.namelen = 255;
        return Reply(h.unique, 0, &out, sizeof out);
      }
      case FUSE_ACCESS: {
        fuse_access_in in;
        memcpy(&in, body, std::min(blen, sizeof in));
        return Reply(h.unique, (in.mask & 2 /* W_OK */) ? -EROFS : 0);
      }
      case FUSE_RELEASEDIR:
      case FUSE_FLUSH:
      case FUSE_DESTROY:
        return Reply(h.unique, 0);
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
      case FUSE_INTERRUPT:
        return;  // no reply
      case FUSE_SETATTR:
      case FUSE_SYMLINK:
      case FUSE_MKNOD:
      case FUSE_MKDIR:
      case FUSE_UNLINK:
      case FUSE_RMDIR:
      case FUSE_RENAME:
      case FUSE_RENAME2:
      case FUSE_LINK:
      case FUSE_WRITE:
      case FUSE_CREATE:
      case FUSE_SETXATTR:
      case FUSE_REMOVEXATTR:
      case FUSE_FALLOCATE:
        return Reply(h.unique, -EROFS);
      default:
        return Reply(h.unique, -ENOSYS);
    }
  }

  int fd_;
  std::vector<std::string> names_;
  Napi::ThreadSafeFunction text_;
  std::shared_ptr<Stop> stop_;
  time_t started_;
  std::map<uint64_t, std::string> open_;
  uint64_t next_fh_ = 1;
};

}  // namespace

// procServe(fuseFd, names: string[], text: (name) => string) -> stop(): serves the
// filesystem of fuseMount() on a thread of its own until it is unmounted, or until stop()
// (which returns once the thread has ended, between two requests, or after a second). Does not keep the
// caller's event loop alive.
Napi::Value ProcServe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsFunction()) {
    ThrowUsage(env, "procServe(fuseFd, names, text)");
    return env.Undefined();
  }
  std::vector<std::string> names;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) names.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  Napi::ThreadSafeFunction fn =
      Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "runsc-ts proc", 0, 1);
  fn.Unref(env);
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto stop = std::make_shared<Stop>();
  std::thread([fd, names, fn, stop]() mutable {
    ProcServer server(fd, std::move(names), fn, stop);
    server.Run();
  }).detach();
  return Napi::Function::New(env, [stop](const Napi::CallbackInfo& ci) {
    std::unique_lock<std::mutex> lock(stop->mu);
    stop->asked = true;
    // Bounded: a thread inside an open waits for this very thread's event loop.
    stop->cv.wait_for(lock, std::chrono::seconds(1), [&] { return stop->done; });
    return ci.Env().Undefined();
  });
}

}  // namespace runsc
