// A sandbox's exec and exit events (--record-events), written by the thread that verified
// the exec (execstop.cc) as JSON lines on the sandbox's events file, and its exits by one
// watcher thread per process over the pidfds of what was exec'd.
//
// At the exec stop none of the new image's code has run: its executable (/proc/PID/exe),
// command line (/proc/PID/cmdline: what the kernel copied from execve's argv) and ids are
// exactly what the exec made. The exit status comes from the pidfd (PIDFD_GET_INFO with
// PIDFD_INFO_EXIT, Linux 6.15: kept after the parent reaped it), not from a wait: the
// process is the sandbox's, not ours.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "native.h"

namespace runsc {
namespace {

// include/uapi/linux/pidfd.h (Linux 6.13; EXIT 6.15)
struct PidfdInfo {
  uint64_t mask;
  uint64_t cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
};
constexpr uint64_t kPidfdInfoExit = 1ull << 3;
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);

// An events file stops growing here: a workload must not fill the host's disk through it.
constexpr off_t kMaxEventsBytes = 16 << 20;
// Exited processes watched at once per sentry process; beyond, an exit is not recorded.
constexpr size_t kMaxWatched = 65536;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += (char)c;  // UTF-8 passes; invalid bytes are the reader's to replace
        }
    }
  }
  return out + "\"";
}

std::string Now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char b[64];
  snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  return b;
}

std::string ReadProc(int proc_fd, pid_t pid, const char* file, size_t max) {
  char path[64];
  snprintf(path, sizeof path, "%d/%s", (int)pid, file);
  int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  while (out.size() < max) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, (size_t)n);
  }
  close(fd);
  if (out.size() > max) out.resize(max);
  return out;
}

// The last number of a /proc/PID/status line ("NSpid:\t900\t7" -> 7), or the first with first.
long StatusNumber(const std::string& status, const char* name, bool first) {
  size_t at = status.find(std::string("\n") + name);
  if (at == std::string::npos) return -1;
  size_t end = status.find('\n', at + 1);
  std::string line = status.substr(at + 1 + strlen(name), end == std::string::npos ? std::string::npos : end - at - 1 - strlen(name));
  long v = -1;
  for (char* p = line.data(); *p != 0;) {
    char* e;
    long x = strtol(p, &e, 10);
    if (e == p) {
      p++;
      continue;
    }
    v = x;
    if (first) break;
    p = e;
  }
  return v;
}

// A host id mapped by /proc/PID/uid_map into the sandbox; -1 when unmapped.
long InsideId(const std::string& map, long host) {
  long inside, outside, count;
  const char* p = map.c_str();
  int used;
  while (sscanf(p, " %ld %ld %ld%n", &inside, &outside, &count, &used) == 3) {
    if (host >= outside && host < outside + count) return inside + (host - outside);
    p += used;
  }
  return map.empty() ? host : -1;
}

// Appends one line to the events file, unless it has reached its bound.
void Append(int fd, const std::string& line) {
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size >= kMaxEventsBytes) return;
  std::string l = line + "\n";
  (void)!write(fd, l.data(), l.size());
}

struct Watched {
  int events_fd;  // ours (a duplicate)
  pid_t host_pid;
  long pid;
  std::string exe;
};

std::mutex g_mu;
int g_epoll = -1;
std::map<int, Watched> g_watched;  // by pidfd
std::map<pid_t, int> g_pidfd_of;   // the same, by host PID

// The exit, once the kernel holds it for the pidfd (when the process is reaped); false while
// it does not yet.
bool RecordExit(int pidfd, const Watched& w, bool last_try) {
  PidfdInfo info;
  memset(&info, 0, sizeof info);
  info.mask = kPidfdInfoExit;
  bool known = ioctl(pidfd, kPidfdGetInfo, &info) == 0 && (info.mask & kPidfdInfoExit) != 0;
  if (!known && !last_try) return false;
  std::string status = "null";
  std::string signal = "null";
  if (known) {
    int code = info.exit_code;
    if (WIFEXITED(code)) status = std::to_string(WEXITSTATUS(code));
    else if (WIFSIGNALED(code)) signal = Quote(sigabbrev_np(WTERMSIG(code)) != nullptr ? std::string("SIG") + sigabbrev_np(WTERMSIG(code)) : std::to_string(WTERMSIG(code)));
  }
  Append(w.events_fd, "{\"type\":\"exit\",\"time\":\"" + Now() + "\",\"pid\":" + std::to_string(w.pid) + ",\"hostPid\":" + std::to_string(w.host_pid) + ",\"exe\":" + Quote(w.exe) + ",\"status\":" + status + ",\"signal\":" + signal + "}");
  return true;
}

// A process ended and not yet reaped: its status is asked for again, for up to kReapWaitMs.
constexpr int kReapWaitMs = 5000;
constexpr int kReapPollMs = 5;

void WatchLoop() {
  std::map<int, std::pair<Watched, int>> ended;  // pidfd -> (what, ms waited)
  for (;;) {
    struct epoll_event ev[16];
    int n = epoll_wait(g_epoll, ev, 16, ended.empty() ? -1 : kReapPollMs);
    for (int i = 0; i < n; i++) {
      int pidfd = ev[i].data.fd;
      std::lock_guard<std::mutex> lock(g_mu);
      auto it = g_watched.find(pidfd);
      if (it == g_watched.end()) continue;
      epoll_ctl(g_epoll, EPOLL_CTL_DEL, pidfd, nullptr);
      ended[pidfd] = {it->second, 0};
      g_pidfd_of.erase(it->second.host_pid);
      g_watched.erase(it);
    }
    for (auto it = ended.begin(); it != ended.end();) {
      if (RecordExit(it->first, it->second.first, it->second.second >= kReapWaitMs)) {
        close(it->first);
        close(it->second.first.events_fd);
        it = ended.erase(it);
      } else {
        it->second.second += kReapPollMs;
        ++it;
      }
    }
  }
}

// Watches pid's exit, to record it on events_fd (duplicated); one entry per process: a
// second exec of the same process updates its executable.
void WatchExitOf(int events_fd, pid_t host_pid, long pid, const std::string& exe) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto known = g_pidfd_of.find(host_pid);
  if (known != g_pidfd_of.end()) {
    g_watched[known->second].exe = exe;
    return;
  }
  if (g_watched.size() >= kMaxWatched) return;
  if (g_epoll < 0) {
    g_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (g_epoll < 0) return;
    try {
      std::thread(WatchLoop).detach();
    } catch (...) {
      close(g_epoll);
      g_epoll = -1;
      return;
    }
  }
  int pidfd = (int)syscall(SYS_pidfd_open, host_pid, 0);
  if (pidfd < 0) return;
  int dup = fcntl(events_fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) {
    close(pidfd);
    return;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  if (epoll_ctl(g_epoll, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
    close(pidfd);
    close(dup);
    return;
  }
  g_watched[pidfd] = Watched{dup, host_pid, pid, exe};
  g_pidfd_of[host_pid] = pidfd;
}

}  // namespace

void RecordExec(int events_fd, int proc_fd, pid_t pid, bool allowed) {
  if (events_fd < 0) return;
  std::string status = ReadProc(proc_fd, pid, "status", 16384);
  status.insert(0, "\n");
  long inside = StatusNumber(status, "NSpid:", false);
  long host_uid = StatusNumber(status, "Uid:", true);
  long uid = InsideId(ReadProc(proc_fd, pid, "uid_map", 4096), host_uid);
  char path[64];
  snprintf(path, sizeof path, "%d/exe", (int)pid);
  char exe[4096];
  ssize_t n = readlinkat(proc_fd, path, exe, sizeof exe - 1);
  std::string exe_path = n > 0 ? std::string(exe, (size_t)n) : "";
  std::string cmdline = ReadProc(proc_fd, pid, "cmdline", 64 << 10);
  std::string argv = "[";
  size_t start = 0;
  while (start < cmdline.size()) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    if (argv.size() > 1) argv += ",";
    argv += Quote(cmdline.substr(start, end - start));
    start = end + 1;
  }
  argv += "]";
  Append(events_fd, "{\"type\":\"exec\",\"time\":\"" + Now() + "\",\"pid\":" + std::to_string(inside) + ",\"hostPid\":" + std::to_string(pid) + ",\"uid\":" + std::to_string(uid) + ",\"hostUid\":" + std::to_string(host_uid) +
                        ",\"exe\":" + Quote(exe_path) + ",\"argv\":" + argv + ",\"verdict\":\"" + (allowed ? "allowed" : "killed: not the file the check allowed") + "\"}");
  if (allowed) WatchExitOf(events_fd, pid, inside, exe_path);
}

}  // namespace runsc
