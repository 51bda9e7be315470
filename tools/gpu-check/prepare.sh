#!/usr/bin/env bash
# Builds gcc-cli and the GPU-check bundle (tools/gpu-check/bundle/) on the development machine.
#   TARGET=cuda (default) or host (CPU libraries, to test the harness without a GPU)
#   PLACE='.*=gpu' by default for cuda (every op the GPU supports goes there), empty for other targets
#   BUNDLE=dir, FILTER=regex (conformance case names), ONLY=examples,kernels,cnns,conformance,bench, JOBS=2,
#   CNNS=name,... (default: every network generate-cnns writes)
# Writes BUNDLE and BUNDLE.tar.xz (what travels to the GPU machine).
# Extra arguments go to prepare.py (see --help).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
TARGET="${TARGET:-cuda}"
if [ -z "${PLACE+x}" ]; then
  if [ "$TARGET" = cuda ]; then PLACE='.*=gpu'; else PLACE=''; fi
fi
PY="${PY:-/usr/bin/python3}"
cd "$root"
echo "== building gcc-cli"
if ! dotnet build tools/gcc-cli -c Release 2>&1 | grep -E " error |rror\(s\)"; then :; fi
cli_dll="$root/tools/gcc-cli/bin/Release/net10.0/gcc-cli.dll"
[ -f "$cli_dll" ] || { echo "gcc-cli did not build" >&2; exit 1; }
ONLY="${ONLY:-examples,kernels,cnns,conformance,bench}"
bench_dll="$root/benchmarks/GraphCompiler.Benchmarks/bin/Release/net10.0/GraphCompiler.Benchmarks.dll"
if [[ ",$ONLY," == *,cnns,* || ",$ONLY," == *,bench,* ]]; then
  echo "== building the benchmarks program (generate-cnns)"
  if ! dotnet build benchmarks/GraphCompiler.Benchmarks -c Release 2>&1 | grep -E " error |rror\(s\)"; then :; fi
  [ -f "$bench_dll" ] || { echo "the benchmarks program did not build" >&2; exit 1; }
fi
echo "== building the bundle (target $TARGET, place '${PLACE}')"
exec "$PY" "$here/prepare.py" --cli "dotnet $cli_dll" --target "$TARGET" --place "$PLACE" \
  --bundle "${BUNDLE:-$here/bundle}" --filter "${FILTER:-}" --bench-cli "dotnet $bench_dll" --cnns "${CNNS:-}" \
  --only "$ONLY" --jobs "${JOBS:-2}" "$@"
