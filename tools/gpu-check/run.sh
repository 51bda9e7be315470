#!/usr/bin/env bash
# The one command for the GPU machine, from the repository root:  bash tools/gpu-check/run.sh
# Needs the bundle made here by tools/gpu-check/prepare.sh: tools/gpu-check/bundle.tar.xz carried along (unpacked
# to /tmp first), or the folder tools/gpu-check/bundle/.
# Prints the GPU, runs kernels.py (registers, spills, the largest block of each kernel as the driver compiled it),
# check.py (correctness) then bench.py (timings); logs go to $OUT when set.
#   BUNDLE=dir  CHECK_ARGS='...'  BENCH_ARGS='...' (e.g. --no-compile, --filter mlp)  SKIP_BENCH=1  SKIP_KERNELS=1
# Exit code: check.py's (1 when a case failed), or bench.py's when that failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # JAX and torch share the GPU
bundle="${BUNDLE:-$here/bundle}"
if [ ! -f "$bundle/manifest.json" ] && [ -f "$bundle.tar.xz" ]; then
  rm -rf /tmp/gpu-check/bundle && mkdir -p /tmp/gpu-check && python3 -c '
import sys, tarfile
t = tarfile.open(sys.argv[1])
# The data filter (Python 3.12, 3.11.4) refuses links and paths out of the folder; the archive is prepare.py'"'"'s own.
t.extractall(sys.argv[2], filter="data") if hasattr(tarfile, "data_filter") else t.extractall(sys.argv[2])' "$bundle.tar.xz" /tmp/gpu-check \
    && bundle=/tmp/gpu-check/bundle
fi
out="${OUT:-}"
log() { if [ -n "$out" ]; then tee -a "$out/$1"; else cat; fi; }
[ -n "$out" ] && mkdir -p "$out"
[ -f "$bundle/manifest.json" ] || { echo "no bundle at $bundle: run tools/gpu-check/prepare.sh first" >&2; exit 2; }

{ nvidia-smi -L 2>/dev/null || echo "nvidia-smi not found"; python3 --version; } | log run.log
start=$(date +%s)
# First, so the driver's compile cache is warm for the others; what it finds is a report, not the run's exit code.
if [ -z "${SKIP_KERNELS:-}" ]; then
  echo "== kernels.py" | log kernels.log
  timeout 90 python3 "$here/kernels.py" --bundle "$bundle" --budget 60 2>&1 | log kernels.log
  echo "== kernels.py exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s" | log kernels.log
fi
echo "== check.py" | log check.log
timeout 270 python3 "$here/check.py" --bundle "$bundle" --budget 240 ${CHECK_ARGS:-} 2>&1 | log check.log
check_rc=${PIPESTATUS[0]}
echo "== check.py exit $check_rc after $(( $(date +%s) - start )) s" | log check.log
bench_rc=0
if [ -z "${SKIP_BENCH:-}" ]; then
  echo "== bench.py" | log bench.log
  timeout 270 python3 "$here/bench.py" --bundle "$bundle" ${BENCH_ARGS:-} 2>&1 | log bench.log
  bench_rc=${PIPESTATUS[0]}
  echo "== bench.py exit $bench_rc after $(( $(date +%s) - start )) s" | log bench.log
fi
[ "$check_rc" -ne 0 ] && exit "$check_rc"
exit "$bench_rc"
