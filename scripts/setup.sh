#!/usr/bin/env bash
# Fresh-machine set-up: installs the Debian packages GraphCompiler needs, restores and builds the
# solution, packs the NuGet packages into artifacts/packages (a local feed, git-ignored), installs the
# gcc-cli .NET tool from there, and runs the bundled example (softmax regression) through the
# reference interpreter with the installed gcc-cli.
set -euo pipefail
cd "$(dirname "$0")/.."

# libllvm19 + lld-19: the LLVM C API and linker for the CPU backend; graphviz: `gcc-cli graph`;
# python3-numpy: the tests check that NumPy reads our .npy files; libopenblas0: benchmark baseline;
# gcc + libc6-dev: the AOT tests build a C program against a compiled model's header (gcc-cli compile), and the CUDA tests build their driver emulator (tests/cuda-emulator);
# python3-sklearn: its 1,797 handwritten 8x8 digits are the training examples' dataset (gcc-cli train);
# openmpi-bin + libopenmpi-dev: Open MPI 4 (mpirun, libmpi.so.40), the transport compiled collectives
# load at run time (docs/distributed.md), and the multi-process tests' launcher.
packages=(libllvm19 lld-19 graphviz python3-numpy libopenblas0 gcc libc6-dev python3-sklearn openmpi-bin libopenmpi-dev)
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

# The library packages (GraphCompiler and the seven it depends on) and the gcc-cli tool package.
feed=artifacts/packages
rm -rf "$feed"
dotnet pack GraphCompiler.sln -c Release --no-build -nologo -v quiet -o "$feed"
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
# Their one third-party dependency joins the feed (from the restore above), so that
# `dotnet add package GraphCompiler --source artifacts/packages` needs no other source (docs/api.md).
protobuf=$(sed -n 's:.*Include="Google.Protobuf" Version="\([^"]*\)".*:\1:p' Directory.Packages.props)
global_packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
cp "${global_packages%/}/google.protobuf/$protobuf/google.protobuf.$protobuf.nupkg" "$feed/"

# Reinstall rather than update: a rebuilt tool of the same version must replace the old one. --source
# alone: the tool package carries its dependencies, so nothing else is looked up.
if dotnet tool list --global | grep -qi '^graphcompiler\.cli '; then
  dotnet tool uninstall --global GraphCompiler.Cli >/dev/null
fi
dotnet tool install --global --source "$feed" --version "$version" GraphCompiler.Cli >/dev/null
tools_dir="${DOTNET_CLI_HOME:-$HOME}/.dotnet/tools"
gcc_cli="$tools_dir/gcc-cli"
echo "gcc-cli $version installed as $gcc_cli (the library packages are in $feed)"
case ":$PATH:" in
  *":$tools_dir:"*) ;;
  *) echo "hint: $tools_dir is not on PATH; add it to run gcc-cli by name: export PATH=\"\$PATH:$tools_dir\"" ;;
esac

echo
echo "== examples/softmax_regression.ir through the reference interpreter (gcc-cli run) =="
"$gcc_cli" run examples/softmax_regression.ir --input x=examples/softmax_regression.x.npy --output-dir out/softmax_regression
