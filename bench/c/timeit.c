// Wall-clock timer for one run of a command, for the workload benchmarks: a fork of a
// large Node process would add milliseconds to every sample, a posix_spawn from this tiny
// process adds microseconds, so native /bin/true and runsc-ts startup are comparable.
//
//   timeit [--cpu N] -- CMD [ARGS...]
//
// Run inside runsc-ts it times the workload alone, without the sandbox's start and exit:
// the clock starts after a connect(-1, NULL, 0), which fails with EBADF natively but under
// runsc-ts's network-none policy is trapped and returns only once the sentry serves, so
// the sentry's own start-up does not compete with the workload for the CPUs.
//
// CMD's stdout goes to /dev/null, its stderr is inherited. One line on stdout:
// "wall_ns=... cpu_ns=... status=..." (cpu_ns: user+system time of CMD and everything it
// waited for, from wait4(2); status: exit code, or 128+N for a death by signal N).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
  int i = 1;
  int cpu = -1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
      cpu = atoi(argv[++i]);
    } else {
      break;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "usage: timeit [--cpu N] -- CMD [ARGS...]\n");
    return 125;
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
      fprintf(stderr, "timeit: sched_setaffinity: %s\n", strerror(errno));
      return 125;
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  syscall(SYS_connect, -1, NULL, 0);
  pid_t pid;
  uint64_t t0 = now_ns();
  int err = posix_spawnp(&pid, argv[i], &fa, NULL, argv + i, environ);
  if (err != 0) {
    fprintf(stderr, "timeit: %s: %s\n", argv[i], strerror(err));
    return 127;
  }
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "timeit: wait4: %s\n", strerror(errno));
      return 125;
    }
  }
  uint64_t wall = now_ns() - t0;
  uint64_t cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
                    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
  int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  printf("wall_ns=%llu cpu_ns=%llu status=%d\n", (unsigned long long)wall, (unsigned long long)cpu_ns, status);
  return 0;
}
