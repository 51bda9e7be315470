/*
 * Cold start of an AOT library (gcc-cli compile MODEL -o DIR): the time from dlopen to the end of the first
 * model_run (loading, relocation, first-touch of the weights and the arena, the thread pool's start), minus a
 * warm call, and the process's peak RSS. One input, one result, as in ab.c. Run it on a cold page cache for the
 * worst case (echo 3 > /proc/sys/vm/drop_caches) or twice for the warm-cache case.
 *
 *   gcc -O2 -o coldstart benchmarks/native/coldstart.c -ldl
 *   ./coldstart DIR/libmodel.so INPUT_BYTES RESULT_BYTES THREADS
 */
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <time.h>
#include <stdint.h>
#include <sys/resource.h>
typedef int32_t (*run_fn)(void *const *, void *const *, void *, int32_t);
typedef int64_t (*size_fn)(void);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec * 1e-6; }
int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: coldstart LIB INPUT_BYTES RESULT_BYTES THREADS\n"); return 2; }
  long in = atol(argv[2]), out = atol(argv[3]); int threads = atoi(argv[4]);
  float *x = aligned_alloc(64, (in + 63) / 64 * 64), *y = aligned_alloc(64, (out + 63) / 64 * 64);
  for (long i = 0; i < in / 4; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
  double t0 = now();
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  run_fn run = (run_fn)dlsym(h, "model_run"); size_fn size = (size_fn)dlsym(h, "model_arena_size");
  void *arena = aligned_alloc(64, (size() + 63) / 64 * 64);
  double t1 = now();
  void *args[1] = { x }, *res[1] = { y };
  if (run(args, res, arena, threads) != 0) { fprintf(stderr, "model_run failed\n"); return 1; }
  double t2 = now();
  double warm = 1e30;
  for (int i = 0; i < 5; i++) { double a = now(); run(args, res, arena, threads); double b = now(); if (b - a < warm) warm = b - a; }
  struct rusage u; getrusage(RUSAGE_SELF, &u);
  printf("load %.1f ms, first call %.1f ms, warm call %.1f ms, cold start (load + first - warm) %.1f ms, peak RSS %.0f MB\n",
         t1 - t0, t2 - t1, warm, t2 - t0 - warm, u.ru_maxrss / 1024.0);
  return 0;
}
