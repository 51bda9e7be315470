/*
 * One core's f32 FMA peak: 12 independent chains of 512-bit fused multiply-adds (enough to cover the latency of two
 * FMA pipes), best of five timed loops. The ceiling for any GEMM on this core: ONNX Runtime's batch-64 MLP
 * (42.8 M multiply-adds) at 0.42 ms is 102 G/s, 88-95 % of the 108-114 G/s this measures on the Zen 5 VM.
 *
 *   gcc -O2 -mavx512f -o fma_peak benchmarks/native/fma_peak.c
 *   ./fma_peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(void) {
  enum { Chains = 12 };
  __m512 acc[Chains];
  const __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (int i = 0; i < Chains; i++) acc[i] = _mm512_set1_ps((float)i);
  const long fmas = 200000000;
  double best = 1e30;
  for (int r = 0; r < 5; r++) {
    double t0 = now();
    for (long i = 0; i < fmas / Chains; i++) {
#pragma GCC unroll 12
      for (int j = 0; j < Chains; j++) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
    }
    double t = now() - t0;
    if (t < best) best = t;
  }
  float sum = 0; // keeps the chains live
  for (int i = 0; i < Chains; i++) sum += _mm512_reduce_add_ps(acc[i]);
  printf("%.1f G zmm FMAs/s = %.1f G f32 multiply-adds/s (checksum %g)\n", fmas / best / 1e9, fmas * 16.0 / best / 1e9, sum);
  return 0;
}
