// Syscall cost probe: N iterations of one syscall, timed inside the process so that the
// startup of whatever runs it (a sandbox, a supervisor) is excluded.
//
//   loop [-p] getpid|getppid N     syscall(2) of that number, N times
//   loop [-p] openat N PATH        openat(AT_FDCWD, PATH, O_RDONLY|O_CLOEXEC) + close, N times
//   loop [-p] openw N PATH         openat(AT_FDCWD, PATH, O_WRONLY|O_CLOEXEC) + close, N times
//
// The same binary runs natively, under runsc-ts and under bench/c/supervisor.c. One line
// on stdout, e.g. "op=getppid n=20000 mean_ns=4521.3 bmed_ns=4460.2 p50_ns=4390 p99_ns=6630
// errors=0". The timed pass runs the N calls in BATCHES batches, with one clock read
// between batches: mean_ns is the mean over the whole pass, bmed_ns the median of the
// batch means, which a few preemptions by other load on the machine do not move. With -p
// a second pass of N calls times each call (clock_gettime around it: the vDSO clock adds
// tens of ns, negligible next to a trapped call) for p50_ns/p99_ns; without it they print
// as 0. A warm-up of N/10 iterations runs first.
//
// Before anything is timed the loop calls connect(-1, NULL, 0): EBADF everywhere, but under
// runsc-ts's network-none policy connect is trapped, so the call returns only once the
// sentry serves, and the sentry's own start-up no longer competes for the CPUs while the
// loop is timed (startup is measured on its own).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BATCHES 200

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static int cmp_u32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

enum op { OP_GETPID, OP_GETPPID, OP_OPENAT, OP_OPENW };

// One iteration; returns 0, or -1 when the syscall failed.
static inline int once(enum op op, const char* path) {
  switch (op) {
    case OP_GETPID:
      return syscall(SYS_getpid) < 0 ? -1 : 0;
    case OP_GETPPID:
      return syscall(SYS_getppid) < 0 ? -1 : 0;
    case OP_OPENAT:
    case OP_OPENW: {
      long fd = syscall(SYS_openat, AT_FDCWD, path, (op == OP_OPENW ? O_WRONLY : O_RDONLY) | O_CLOEXEC, 0);
      if (fd < 0) return -1;
      syscall(SYS_close, fd);
      return 0;
    }
  }
  return -1;
}

int main(int argc, char** argv) {
  int percall = argc > 1 && strcmp(argv[1], "-p") == 0;
  if (percall) argc--, argv++;
  if (argc < 3) {
    fprintf(stderr, "usage: loop [-p] getpid|getppid N | loop [-p] openat|openw N PATH\n");
    return 2;
  }
  enum op op;
  const char* path = NULL;
  if (strcmp(argv[1], "getpid") == 0) op = OP_GETPID;
  else if (strcmp(argv[1], "getppid") == 0) op = OP_GETPPID;
  else if (strcmp(argv[1], "openat") == 0 && argc >= 4) op = OP_OPENAT, path = argv[3];
  else if (strcmp(argv[1], "openw") == 0 && argc >= 4) op = OP_OPENW, path = argv[3];
  else {
    fprintf(stderr, "loop: unknown operation %s\n", argv[1]);
    return 2;
  }
  long n = strtol(argv[2], NULL, 10);
  if (n <= 0) {
    fprintf(stderr, "loop: N must be positive\n");
    return 2;
  }
  uint32_t* lat = NULL;
  if (percall) {
    lat = malloc((size_t)n * sizeof *lat);
    if (lat == NULL) {
      perror("loop: malloc");
      return 1;
    }
    memset(lat, 0, (size_t)n * sizeof *lat);  // fault the pages in before timing
  }

  syscall(SYS_connect, -1, NULL, 0);

  long errors = 0;
  for (long i = 0; i < n / 10 + 1; i++) errors += once(op, path) != 0;
  if (errors > 0) {
    fprintf(stderr, "loop: %s fails: %s\n", argv[1], strerror(errno));
    return 1;
  }

  // Batches: one clock read between batches, no per-call overhead.
  long batches = n < BATCHES ? n : BATCHES;
  long per = n / batches;
  n = per * batches;
  uint64_t batch[BATCHES];
  uint64_t t0 = now_ns(), prev = t0;
  for (long b = 0; b < batches; b++) {
    for (long i = 0; i < per; i++) errors += once(op, path) != 0;
    uint64_t t = now_ns();
    batch[b] = t - prev;
    prev = t;
  }
  uint64_t total = prev - t0;
  qsort(batch, (size_t)batches, sizeof batch[0], cmp_u64);
  double bmed = (batches % 2 ? (double)batch[batches / 2] : (batch[batches / 2 - 1] + batch[batches / 2]) / 2.0) / (double)per;

  uint32_t p50 = 0, p99 = 0;
  if (percall) {
    for (long i = 0; i < n; i++) {
      uint64_t a = now_ns();
      errors += once(op, path) != 0;
      uint64_t d = now_ns() - a;
      lat[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_u32);
    p50 = lat[n / 2];
    p99 = lat[(n * 99) / 100];
    free(lat);
  }
  printf("op=%s n=%ld mean_ns=%.1f bmed_ns=%.1f p50_ns=%u p99_ns=%u errors=%ld\n", argv[1], n, (double)total / (double)n,
         bmed, p50, p99, errors);
  return errors > 0 ? 1 : 0;
}
