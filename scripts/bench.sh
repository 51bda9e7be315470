#!/usr/bin/env bash
# Runs the benchmarks (benchmarks/GraphCompiler.Benchmarks, Release) with BenchmarkDotNet; every argument
# goes to BenchmarkDotNet. With no arguments, all benchmarks run. Examples (docs/performance.md):
#   bash scripts/bench.sh --filter '*Gemm*'
#   GC_BENCH_SHAPES=256 bash scripts/bench.sh --filter '*Gemm*' --job dry     # a quick check of the harness
#   GC_BENCH_MODELS=mlp_b1,cnn bash scripts/bench.sh --filter '*Onnx*' --job short
# Ends by printing where the reports (markdown, CSV, HTML) are.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's OpenBLAS 0.3.21 does not recognise every AVX-512 CPU model (a VM reporting a generic "Intel
# Xeon Processor" gets its SSE3 "Prescott" kernels, a quarter of the speed): use its AVX-512 kernels there,
# so that the baseline is the best OpenBLAS has. An explicit OPENBLAS_CORETYPE wins.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}"; fi

project=benchmarks/GraphCompiler.Benchmarks
artifacts="$PWD/benchmarks/BenchmarkDotNet.Artifacts"
dotnet build "$project" -c Release -nologo -v q
[ $# -eq 0 ] && set -- --filter '*'
dotnet "$project/bin/Release/net10.0/GraphCompiler.Benchmarks.dll" --artifacts "$artifacts" "$@"
echo "BenchmarkDotNet reports: $artifacts/results"
ls -1 "$artifacts/results" 2>/dev/null | sed 's/^/  /' || true
