// runsc-ts-init's parts (init.c: the steps and main; tree.c: the mount tree's records;
// hooks.c: the OCI hooks init runs; workload.c: the workload's process) and what they share.
#pragma once
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <poll.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inroot.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

enum { CTL_FD = 3, LISTENER_FD = 4 };

// Record tags and control bytes: native/helper/protocol.json, as the build generates them.
#include "protocol.h"

// Reports a setup failure to the runtime (CTL_FAILED and the message) and exits 125.
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

struct reader {
  const uint8_t *p, *end;
};

static inline uint32_t rd_u32(struct reader *r) {
  if (r->end - r->p < 4) fail("config: truncated record");
  uint32_t v;
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static inline const char *rd_str(struct reader *r) {
  const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!nul) fail("config: unterminated string");
  const char *s = (const char *)r->p;
  r->p = nul + 1;
  return s;
}

static inline uint64_t rd_u64(struct reader *r) {
  uint64_t lo = rd_u32(r);
  return lo | (uint64_t)rd_u32(r) << 32;
}

// process.user and process.capabilities, applied just before exec.
struct creds {
  int set;
  uint32_t uid, gid, ngroups;
  gid_t groups[64];
  int caps_set;
  uint64_t bounding, effective, permitted, inheritable, ambient;
};

struct rlimit_rec {
  int resource;
  struct rlimit limit;
};

// What the configuration's records leave for the steps after them: the workload's process
// and the filter. (The tree records act at once, as they are read.)
struct config {
  char *argv[1024];
  char *envp[4096];
  int argc, envc;
  const char *cwd;
  int cwd_fallback;
  const char *mask_source;
  struct rlimit_rec rlimits[16];
  int nrlimits;
  const struct sock_filter *filter;
  unsigned filter_len, filter_flags;
  int hold, keep_privs, umask_set, exec_in_place;
  mode_t new_umask;
  struct creds creds;
  // Descriptors received with the records, by index (TAG_ATTACH, TAG_PRESERVE); -1 once used.
  int passed[64], npassed;
};
extern struct config cfg;

// tree.c
int sys_mount_setattr(const char *path, unsigned set, unsigned clr, int recursive);
void loopback_up(void);
void record_mount(struct reader *f);
void record_writefile(struct reader *f);
void record_sysctl(struct reader *f);
void record_hide(struct reader *f);
void record_attach(struct reader *f);
void record_pivot(struct reader *f);

// hooks.c: the container's state the runtime sent with CTL_CREATE_HOOKS or CTL_START.
extern char state_msg[1 << 18];
extern size_t state_len;
extern int nhooks[2];
void rd_hook(struct reader *f);
int run_hooks(int phase, char *msg, size_t msglen);

// workload.c
extern int preserve_src[64], preserve_dst[64], npreserve;
// init, the workload's parent: the workload dies with it (start_workload). 0: the workload
// is init itself (execInPlace).
extern pid_t workload_parent;
int findable(const char *file, char *const envp[]);
void start_workload(char **argv, char **envp, const char *cwd, int cwd_fallback, const struct rlimit_rec *rlimits, int nrlimits, int umask_set, mode_t new_umask, const struct creds *creds) __attribute__((noreturn));

// binder.c: the confined sentry's binder (runsc-ts-init exec'd as "runsc-ts-binder").
int binder_main(void);
