/*
 * A/B of two AOT libraries of one model (gcc-cli compile MODEL -o DIR, twice, from two builds) in one process:
 * blocks of calls alternate between them, so both see the same machine, and the medians are comparable even on a
 * VM whose speed drifts. The libraries must be named `model` (their entry points model_run, model_arena_size) and
 * take one input and one result.
 *
 *   gcc -O2 -o ab benchmarks/native/ab.c -ldl
 *   ./ab OLD/libmodel.so NEW/libmodel.so INPUT_BYTES RESULT_BYTES ROUNDS BLOCK THREADS
 *
 * The input is spread over [-1, 1), as `compare` feeds both runtimes: timings depend on it (Inception v2 on Zen 5:
 * 19.0 ms with inputs in [0, 1), 24.1 in [-1, 1); flushing denormals changed neither).
 *
 * INPUT_BYTES and RESULT_BYTES are in the generated model.h (MODEL_ARG_*_BYTES, MODEL_RESULT_*_BYTES). Profile one
 * library with `perf record` around the same program: the kernels keep their symbols in the .so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <time.h>
#include <stdint.h>
typedef int32_t (*run_fn)(void *const *, void *const *, void *, int32_t);
typedef int64_t (*size_fn)(void);
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  // ab LIB_A LIB_B IN_BYTES OUT_BYTES ROUNDS BLOCK THREADS
  long in = atol(argv[3]), out = atol(argv[4]); int rounds = atoi(argv[5]), block = atoi(argv[6]), threads = atoi(argv[7]);
  run_fn run[2]; void *arena[2];
  for (int l = 0; l < 2; l++) {
    void *h = dlopen(argv[1 + l], RTLD_NOW | RTLD_LOCAL); if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    run[l] = (run_fn)dlsym(h, "model_run"); size_fn sz = (size_fn)dlsym(h, "model_arena_size");
    arena[l] = aligned_alloc(64, (sz() + 63) / 64 * 64);
  }
  float *x = aligned_alloc(64, (in + 63) / 64 * 64); for (long i = 0; i < in / 4; i++) x[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
  void *y = aligned_alloc(64, (out + 63) / 64 * 64); void *args[1] = {x}; void *res[1] = {y};
  double *t[2]; for (int l = 0; l < 2; l++) t[l] = malloc(sizeof(double) * rounds * block);
  for (int l = 0; l < 2; l++) for (int i = 0; i < 5; i++) run[l](args, res, arena[l], threads);
  for (int r = 0; r < rounds; r++) for (int l = 0; l < 2; l++) for (int i = 0; i < block; i++) {
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a); run[l](args, res, arena[l], threads); clock_gettime(CLOCK_MONOTONIC, &b);
    t[l][r * block + i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6; }
  int n = rounds * block;
  for (int l = 0; l < 2; l++) { qsort(t[l], n, sizeof(double), cmp); printf("%s: p10 %.3f p50 %.3f p90 %.3f ms\n", l ? "B" : "A", t[l][n / 10], t[l][n / 2], t[l][n * 9 / 10]); }
  return 0;
}
