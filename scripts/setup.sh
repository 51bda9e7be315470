#!/usr/bin/env bash
# Fresh-machine set-up: installs the Debian packages GraphCompiler needs, restores and builds the
# solution, and runs the bundled example (softmax regression) through the reference interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

# libllvm19 + lld-19: the LLVM C API and linker for the CPU backend; graphviz: `gcc-cli graph`;
# python3-numpy: the tests check that NumPy reads our .npy files; libopenblas0: benchmark baseline;
# gcc + libc6-dev: the AOT tests build a C program against a compiled model's header (gcc-cli compile).
packages=(libllvm19 lld-19 graphviz python3-numpy libopenblas0 gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v dotnet >/dev/null; then
  echo "error: the .NET 10 SDK (dotnet) is required and not on PATH" >&2
  exit 2
fi

dotnet build GraphCompiler.sln -c Release -nologo -v quiet
echo
echo "== examples/softmax_regression.ir through the reference interpreter =="
dotnet run --no-build -c Release --project tools/gcc-cli -- \
  run examples/softmax_regression.ir --input x=examples/softmax_regression.x.npy --output-dir out/softmax_regression
